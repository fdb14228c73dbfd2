//! The names the rule language knows: TCP flags, conntrack states, services, ICMP types and
//! reject codes (nft's words).

use super::conntrack::CtState;

pub(super) fn flag_named(w: &str) -> Option<u8> {
    use crate::wire::tcp::flags::*;
    Some(match w {
        "fin" => FIN,
        "syn" => SYN,
        "rst" => RST,
        "psh" => PSH,
        "ack" => ACK,
        "urg" => URG,
        "ecn" | "ece" => ECE,
        "cwr" => CWR,
        _ => return None,
    })
}

pub(super) fn ct_state(w: &str) -> Option<u8> {
    let s = match w {
        "new" => CtState::New,
        "established" => CtState::Established,
        "related" => CtState::Related,
        "invalid" => CtState::Invalid,
        "untracked" => CtState::Untracked,
        _ => return None,
    };
    Some(s.bit())
}

pub(super) fn service_port(w: &str) -> Option<u16> {
    Some(match w {
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "http" => 80,
        "https" => 443,
        "echo" => 7,
        "discard" => 9,
        "chargen" => 19,
        "tftp" => 69,
        "mqtt" => 1883,
        _ => return None,
    })
}

pub(super) fn icmp_type(w: &str, v6: bool) -> Option<u8> {
    Some(match (w, v6) {
        ("echo-reply", false) => 0,
        ("destination-unreachable", false) => 3,
        ("source-quench", false) => 4,
        ("redirect", false) => 5,
        ("echo-request", false) => 8,
        ("router-advertisement", false) => 9,
        ("router-solicitation", false) => 10,
        ("time-exceeded", false) => 11,
        ("parameter-problem", false) => 12,
        ("timestamp-request", false) => 13,
        ("timestamp-reply", false) => 14,
        ("destination-unreachable", true) => 1,
        ("packet-too-big", true) => 2,
        ("time-exceeded", true) => 3,
        ("parameter-problem", true) => 4,
        ("echo-request", true) => 128,
        ("echo-reply", true) => 129,
        ("nd-router-solicit", true) => 133,
        ("nd-router-advert", true) => 134,
        ("nd-neighbor-solicit", true) => 135,
        ("nd-neighbor-advert", true) => 136,
        _ => return None,
    })
}

pub(super) fn reject_code(w: &str, v6: bool) -> Option<u8> {
    Some(match (w, v6) {
        ("net-unreachable", false) => 0,
        ("host-unreachable", false) => 1,
        ("prot-unreachable", false) => 2,
        ("port-unreachable", false) => 3,
        ("net-prohibited", false) => 9,
        ("host-prohibited", false) => 10,
        ("admin-prohibited", false) => 13,
        ("no-route", true) => 0,
        ("admin-prohibited", true) => 1,
        ("addr-unreachable", true) => 3,
        ("port-unreachable", true) => 4,
        _ => return None,
    })
}
