//! The firewall in the stack (issue 19): the input chain drops, rejects (RST for TCP, ICMP
//! unreachable with the rule's code otherwise) and lets established flows in; the output chain
//! stops what the stack would send; rules change live; every refusal is counted by reason.

mod common;

use common::*;
use ustack::filter::fw::{Firewall, Hook};
use ustack::wire::build::{Ipv4, Tcp, Udp};
use ustack::wire::ipv4::Ipv4Packet;
use ustack::{DropReason, Stack};

fn syn(dport: u16) -> Vec<u8> {
    (Ipv4::new().src(PEER).dst(US) / Tcp::new().sport(40000).dport(dport).seq(100).syn())
        .build()
        .unwrap()
}

fn with_rules(rules: &str) -> Stack {
    let mut s = stack();
    s.set_firewall(Some(Firewall::parse(rules, 1000).unwrap()));
    s
}

/// (protocol, TCP flags or ICMP type/code) of each packet sent.
fn sent(s: &mut Stack) -> Vec<(u8, u8, u8)> {
    drain(s, T0)
        .iter()
        .map(|p| {
            let ip = Ipv4Packet::parse(p).unwrap();
            let l4 = ip.payload();
            match ip.protocol() {
                TCP => (TCP, l4[13], 0),
                _ => (ip.protocol(), l4[0], l4[1]),
            }
        })
        .collect()
}

const RULES: &str = "
chain input {
    policy drop
    ct state established,related accept
    tcp dport 7 accept
    tcp dport 81 reject
    udp dport 53 reject with icmp type admin-prohibited
    icmp type echo-request accept
}
";

#[test]
fn the_input_chain_drops_rejects_and_accepts_as_written() {
    let mut s = with_rules(RULES);
    s.tcp_listen(7, 8).unwrap();
    s.tcp_listen(80, 8).unwrap();
    s.receive(T0, &syn(80));
    assert!(sent(&mut s).is_empty(), "port 80 is dropped silently");
    assert_eq!(s.stats().drops(DropReason::FirewallDrop), 1);
    s.receive(T0, &syn(7));
    assert_eq!(sent(&mut s), vec![(TCP, 0x12, 0)], "SYN-ACK from port 7");
    s.receive(T0, &syn(81));
    assert_eq!(
        sent(&mut s),
        vec![(TCP, 0x14, 0)],
        "RST-ACK for the rejected SYN"
    );
    let dns = (Ipv4::new().src(PEER).dst(US) / Udp::new().dport(53))
        .build()
        .unwrap();
    s.receive(T0, &dns);
    assert_eq!(
        sent(&mut s),
        vec![(ICMP, 3, 13)],
        "administratively prohibited"
    );
    assert_eq!(s.stats().drops(DropReason::FirewallReject), 2);
    s.receive(T0, &ping(1, 1, b"x"));
    assert_eq!(sent(&mut s), vec![(ICMP, 0, 0)]);
    let fw = s.firewall().unwrap();
    let counts: Vec<u64> = fw
        .chain(Hook::Input)
        .rules
        .iter()
        .map(|r| r.packets)
        .collect();
    assert_eq!(counts, vec![0, 1, 1, 1, 1]);
}

#[test]
fn an_active_open_through_a_drop_policy_completes_by_connection_tracking() {
    let mut s = with_rules("chain input {\n policy drop\n ct state established accept\n}\n");
    let c = s.tcp_connect((PEER, 80)).unwrap();
    let out = drain(&mut s, T0);
    let our_syn = Ipv4Packet::parse(&out[0]).unwrap();
    let sport = u16::from_be_bytes([our_syn.payload()[0], our_syn.payload()[1]]);
    let iss = u32::from_be_bytes(our_syn.payload()[4..8].try_into().unwrap());
    let synack = (Ipv4::new().src(PEER).dst(US)
        / Tcp::new()
            .sport(80)
            .dport(sport)
            .seq(5000)
            .ack(iss.wrapping_add(1))
            .flags(0x12)
            .window(65535))
    .build()
    .unwrap();
    s.receive(T0, &synack);
    assert_eq!(s.tcp_state(c), Some(ustack::tcp::State::Established));
    // A SYN-ACK for no connection of ours is invalid: the policy drops it.
    let stray = (Ipv4::new().src(PEER).dst(US) / Tcp::new().sport(80).dport(1234).flags(0x12))
        .build()
        .unwrap();
    s.receive(T0, &stray);
    assert_eq!(s.stats().drops(DropReason::FirewallDrop), 1);
}

#[test]
fn the_output_chain_stops_what_the_stack_would_send_and_rules_change_live() {
    let mut s = with_rules("chain output {\n icmp type echo-reply drop\n}\n");
    s.receive(T0, &ping(1, 1, b"x"));
    assert!(sent(&mut s).is_empty());
    assert_eq!(s.stats().drops(DropReason::FirewallOutput), 1);
    assert_eq!(s.stats().ip_tx_packets, 0, "built, not sent");
    // Live: delete the rule, the next request is answered.
    let id = s.firewall().unwrap().chain(Hook::Output).rules[0].id;
    assert!(s.firewall_mut().delete_rule(id));
    s.receive(T0, &ping(1, 2, b"x"));
    assert_eq!(sent(&mut s), vec![(ICMP, 0, 0)]);
    // Live: add one in front.
    s.firewall_mut()
        .add_rule(
            Hook::Input,
            "ip saddr 198.18.0.1 icmp type echo-request drop",
            Some(0),
        )
        .unwrap();
    s.receive(T0, &ping(1, 3, b"x"));
    assert!(sent(&mut s).is_empty());
    s.set_firewall(None);
    s.receive(T0, &ping(1, 4, b"x"));
    assert_eq!(sent(&mut s).len(), 1);
}
