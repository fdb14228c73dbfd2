//! What an answer (or its absence) says about a port, per scan type — nmap's tables (Nmap
//! Network Scanning, ch. 5: "TCP SYN (Stealth) Scan", "UDP Scan", "TCP FIN, NULL, and Xmas
//! Scans", "TCP ACK Scan", each with its "how Nmap interprets responses" table).

use crate::daemon::proto::{PortState, Reason, ScanType};

/// An answer that matched an outstanding probe exactly (the engine checked addresses, ports and
/// sequence numbers before it gets here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// SYN and ACK (`-sT`: the stack's connect succeeded).
    SynAck,
    /// RST (`-sT`: the connect was refused).
    Rst,
    /// A UDP datagram from the probed port.
    Udp,
    /// An ICMP (v6) echo reply.
    EchoReply,
    /// ICMP destination unreachable quoting the probe: its reason (nmap's word for the code),
    /// and whether the target itself sent it (rather than a router on the way).
    Unreach {
        /// The code, as nmap names it.
        reason: Reason,
        /// The error came from the probed address.
        from_target: bool,
    },
}

/// The reason word of ICMPv4 destination unreachable `code` (RFC 792, RFC 1812 §5.2.7.1), for
/// the codes nmap takes as an answer; other codes (fragmentation needed, source route failed,
/// unknown network …) say nothing about the port and are ignored.
pub fn unreach4(code: u8) -> Option<Reason> {
    Some(match code {
        0 => Reason::NetUnreach,
        1 => Reason::HostUnreach,
        2 => Reason::ProtoUnreach,
        3 => Reason::PortUnreach,
        9 => Reason::NetProhibited,
        10 => Reason::HostProhibited,
        13 => Reason::AdminProhibited,
        _ => return None,
    })
}

/// The same for ICMPv6 destination unreachable (RFC 4443 §3.1): 0 no route, 1 administratively
/// prohibited, 3 address unreachable, 4 port unreachable, 5 source address failed
/// ingress/egress policy, 6 reject route to destination (5 and 6 are prohibitions too, §3.1).
pub fn unreach6(code: u8) -> Option<Reason> {
    Some(match code {
        0 => Reason::NetUnreach,
        1 | 5 | 6 => Reason::AdminProhibited,
        3 => Reason::HostUnreach,
        4 => Reason::PortUnreach,
        _ => return None,
    })
}

/// The port's state after `answer` to a probe of scan `scan`; None: the answer means nothing
/// for this scan type (a SYN-ACK to a FIN probe, a UDP datagram to a TCP one) and is ignored.
pub fn classify(scan: ScanType, answer: Answer) -> Option<(PortState, Reason)> {
    use PortState::*;
    match (scan, answer) {
        // SYN scan: SYN-ACK → open, RST → closed, ICMP unreachable 3/{0,1,2,3,9,10,13} →
        // filtered.
        (ScanType::Syn, Answer::SynAck) => Some((Open, Reason::SynAck)),
        (ScanType::Syn, Answer::Rst) => Some((Closed, Reason::Reset)),
        // Connect scan: the same through connect(2)'s outcome.
        (ScanType::Connect, Answer::SynAck) => Some((Open, Reason::SynAck)),
        (ScanType::Connect, Answer::Rst) => Some((Closed, Reason::ConnRefused)),
        // UDP scan: any UDP answer → open; port unreachable from the target → closed; other
        // unreachables (and port unreachable from a router) → filtered.
        (ScanType::Udp, Answer::Udp) => Some((Open, Reason::UdpResponse)),
        (
            ScanType::Udp,
            Answer::Unreach {
                reason: Reason::PortUnreach,
                from_target: true,
            },
        ) => Some((Closed, Reason::PortUnreach)),
        // FIN, NULL, Xmas: RST → closed (RFC 9293 §3.10.7.1: a closed port answers anything
        // but a RST with a RST; an open one drops a segment without SYN, RST or ACK).
        (ScanType::Fin | ScanType::Null | ScanType::Xmas, Answer::Rst) => {
            Some((Closed, Reason::Reset))
        }
        // ACK scan: RST → unfiltered (open and closed ports both reset an unexpected ACK).
        (ScanType::Ack, Answer::Rst) => Some((Unfiltered, Reason::Reset)),
        // Every port scan: an ICMP unreachable nmap counts → filtered.
        (
            ScanType::Syn
            | ScanType::Connect
            | ScanType::Udp
            | ScanType::Fin
            | ScanType::Null
            | ScanType::Xmas
            | ScanType::Ack,
            Answer::Unreach { reason, .. },
        ) => Some((Filtered, reason)),
        _ => None,
    }
}

/// A port that never answered, after every try: filtered where an open port would have
/// answered (SYN, connect, ACK), open|filtered where it would stay silent (UDP, FIN, NULL,
/// Xmas).
pub fn silent(scan: ScanType) -> PortState {
    match scan {
        ScanType::Udp | ScanType::Fin | ScanType::Null | ScanType::Xmas => PortState::OpenFiltered,
        _ => PortState::Filtered,
    }
}

/// Host discovery (`-sn`): an answer from the target itself says it is up, whatever it is; an
/// error from someone else (a router's host unreachable) does not.
pub fn host_up(answer: Answer) -> Option<Reason> {
    match answer {
        Answer::SynAck => Some(Reason::SynAck),
        Answer::Rst => Some(Reason::Reset),
        Answer::Udp => Some(Reason::UdpResponse),
        Answer::EchoReply => Some(Reason::EchoReply),
        Answer::Unreach {
            reason,
            from_target: true,
        } => Some(reason),
        Answer::Unreach { .. } => None,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
