//! Issue 8, finding 7: IPv4 identification is not one global counter (RFC 6864, RFC 7739).
//! An off-path observer who pings the stack must not learn how many datagrams it sent to
//! someone else (the idle scan), and the ids towards different destinations are unrelated.

mod common;
mod tcp_common;

use std::net::Ipv4Addr;

use common::{echo_request, Ip, ICMP, T0};
use tcp_common::Seg;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::flags::SYN;
use ustack::{Config, Stack};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const VICTIM: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

fn stack() -> Stack {
    Stack::new(Config::default(), T0).unwrap()
}

/// Everything the stack sends now, as (destination, ident).
fn sent(s: &mut Stack) -> Vec<(Ipv4Addr, u16)> {
    common::drain(s, T0)
        .iter()
        .map(|p| {
            let ip = Ipv4Packet::parse(p).unwrap();
            (ip.dst(), ip.ident())
        })
        .collect()
}

/// The ident of the stack's echo reply to a ping from `from`.
fn ping_ident(s: &mut Stack, from: Ipv4Addr, seq: u16) -> u16 {
    s.receive(
        T0,
        &Ip::new(ICMP).src(from).build(&echo_request(7, seq, b"x")),
    );
    let out = sent(s);
    assert_eq!(out.len(), 1, "one echo reply");
    assert_eq!(out[0].0, from);
    out[0].1
}

#[test]
fn the_ident_does_not_reveal_traffic_to_others() {
    let mut s = stack();
    let before = ping_ident(&mut s, ATTACKER, 1);
    // The victim's SYNs to a closed port: the stack answers each with an RST (TCP) ...
    for i in 0..10u16 {
        let syn = Seg::new(40_000 + i, 9, 1, 0, SYN);
        let mut syn = syn;
        syn.src = VICTIM;
        s.receive(T0, &syn.build());
    }
    // ... and its pings with replies (ICMP).
    for i in 0..10u16 {
        s.receive(
            T0,
            &Ip::new(ICMP).src(VICTIM).build(&echo_request(9, i, b"y")),
        );
    }
    let to_victim = sent(&mut s);
    assert_eq!(to_victim.len(), 20);
    assert!(to_victim.iter().all(|&(d, _)| d == VICTIM));
    let after = ping_ident(&mut s, ATTACKER, 2);
    // RFC 7739 §5.3 / RFC 6864 §4: the attacker's counter moved by its own datagram only.
    assert_eq!(
        after,
        before.wrapping_add(1),
        "the ident towards the attacker counted the 20 datagrams sent to someone else"
    );
}

#[test]
fn idents_towards_different_destinations_are_unrelated() {
    let mut s = stack();
    let firsts: Vec<u16> = (1..=32u8)
        .map(|i| ping_ident(&mut s, Ipv4Addr::new(203, 0, 113, i), 1))
        .collect();
    let consecutive = firsts
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) < 16)
        .count();
    assert!(
        consecutive <= 2,
        "ids to successive destinations follow each other: {firsts:?}"
    );
}

#[test]
fn the_ident_sequence_depends_on_the_secret() {
    // Two stacks with the same seed but different secrets choose unrelated ids.
    let a = Config::default();
    let b = Config {
        secret: *b"another secret!!",
        ..Config::default()
    };
    let mut sa = Stack::new(a, T0).unwrap();
    let mut sb = Stack::new(b, T0).unwrap();
    let ia: Vec<u16> = (0..8).map(|i| ping_ident(&mut sa, ATTACKER, i)).collect();
    let ib: Vec<u16> = (0..8).map(|i| ping_ident(&mut sb, ATTACKER, i)).collect();
    assert_ne!(ia[0], ib[0], "{ia:?} {ib:?}");
}

#[test]
fn a_fragmented_datagram_shares_one_ident_and_the_next_gets_another() {
    let mut s = stack();
    let h = s.udp_bind(5000).unwrap();
    let dst = std::net::SocketAddrV4::new(VICTIM, 7);
    s.udp_send_to(h, &[0u8; 3000], dst).unwrap();
    s.udp_send_to(h, &[0u8; 3000], dst).unwrap();
    let out = sent(&mut s);
    assert_eq!(out.len(), 6, "two datagrams of three fragments");
    assert!(out[..3].iter().all(|&(_, id)| id == out[0].1));
    assert!(out[3..].iter().all(|&(_, id)| id == out[3].1));
    assert_ne!(
        out[0].1, out[3].1,
        "RFC 6864 §4: unique per (src, dst, protocol)"
    );
}
