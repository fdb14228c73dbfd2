//! Traceroute probes: a per-socket TTL on UDP, echo and TCP sockets, and the ICMP errors routers
//! send back (time exceeded, destination unreachable, fragmentation needed with the next-hop
//! MTU) delivered to the socket whose datagram they quote, with who sent them and what they
//! quoted. One concern per test; packets are hand-built, the router is `ROUTER`, the far host
//! `FAR`, several hops beyond the link.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::num::NonZeroU8;
use ustack::tcp::{State, TcpError};
use ustack::{Config, DropReason, EchoEvent, RecvError, Stack};

const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
const FAR: Ipv4Addr = Ipv4Addr::new(10, 77, 3, 2);

fn ttl(n: u8) -> Option<NonZeroU8> {
    NonZeroU8::new(n)
}

/// The one packet the stack has to send now.
fn one_packet(s: &mut Stack) -> Vec<u8> {
    let mut out = drain(s, T0);
    assert_eq!(out.len(), 1, "expected exactly one packet");
    out.remove(0)
}

/// An ICMP error from `from` quoting the first 28 bytes of `sent` (the router's view of it),
/// with `rest` as the second word (the next-hop MTU for fragmentation needed).
fn error_about(from: Ipv4Addr, icmp_type: u8, code: u8, rest: [u8; 4], sent: &[u8]) -> Vec<u8> {
    let quote = &sent[..28.min(sent.len())];
    Ip::new(ICMP)
        .src(from)
        .build(&icmp_msg(icmp_type, code, rest, quote))
}

fn time_exceeded(from: Ipv4Addr, sent: &[u8]) -> Vec<u8> {
    error_about(from, 11, 0, [0; 4], sent)
}

#[test]
fn udp_socket_ttl_is_set_and_reset() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    s.set_ttl(h, ttl(2)).unwrap();
    s.udp_send_to(h, b"probe", SocketAddrV4::new(FAR, 33434))
        .unwrap();
    let p = one_packet(&mut s);
    assert_eq!(p[8], 2, "the probe carries the socket's TTL");
    s.set_ttl(h, None).unwrap();
    s.udp_send_to(h, b"probe", SocketAddrV4::new(FAR, 33435))
        .unwrap();
    assert_eq!(
        one_packet(&mut s)[8],
        s.config().ttl,
        "None restores Config::ttl"
    );
    // Another socket never sees this one's TTL.
    let other = s.udp_bind(0).unwrap();
    s.set_ttl(h, ttl(3)).unwrap();
    s.udp_send_to(other, b"x", SocketAddrV4::new(FAR, 9))
        .unwrap();
    assert_eq!(one_packet(&mut s)[8], s.config().ttl);
}

#[test]
fn echo_socket_ttl_applies_to_requests() {
    let mut s = stack();
    let h = s.echo_open(Some(77)).unwrap();
    s.set_ttl(h, ttl(1)).unwrap();
    s.echo_send(h, FAR, 1, b"abc").unwrap();
    assert_eq!(one_packet(&mut s)[8], 1);
}

#[test]
fn udp_errors_are_queued_in_order_with_sender_and_quoted_port() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    s.udp_set_recv_errors(h, true).unwrap();
    s.set_ttl(h, ttl(1)).unwrap();
    let mut sent = Vec::new();
    for port in 33434..33437 {
        s.udp_send_to(h, b"probe", SocketAddrV4::new(FAR, port))
            .unwrap();
        sent.push(one_packet(&mut s));
    }
    // All three answers arrive before the app reads: none is lost.
    for p in &sent {
        s.receive(T0, &time_exceeded(ROUTER, p));
    }
    let mut buf = [0u8; 64];
    for port in 33434..33437 {
        match s.udp_recv_from(h, &mut buf) {
            Err(RecvError::Icmp(e)) => {
                assert_eq!(e.from, ROUTER);
                assert!(e.is_ttl_exceeded(), "{e}");
                assert_eq!(
                    e.original_dst,
                    std::net::SocketAddr::from(SocketAddrV4::new(FAR, port))
                );
                assert_eq!(e.next_hop_mtu, 0);
            }
            other => panic!("expected the error for port {port}, got {other:?}"),
        }
    }
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));
    assert_eq!(s.stats().icmp_errors_delivered, 3);
}

#[test]
fn without_recv_errors_only_the_latest_error_is_kept() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    let mut sent = Vec::new();
    for port in [33434, 33435] {
        s.udp_send_to(h, b"p", SocketAddrV4::new(FAR, port))
            .unwrap();
        sent.push(one_packet(&mut s));
    }
    for p in &sent {
        s.receive(T0, &time_exceeded(ROUTER, p));
    }
    let mut buf = [0u8; 8];
    match s.udp_recv_from(h, &mut buf) {
        Err(RecvError::Icmp(e)) => assert_eq!(e.original_dst.port(), 33435),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));
}

#[test]
fn queued_errors_are_bounded_and_counted() {
    let config = Config {
        socket_rx_queue_datagrams: 2,
        ..Config::default()
    };
    let mut s = stack_with(config);
    let h = s.udp_bind(0).unwrap();
    s.udp_set_recv_errors(h, true).unwrap();
    s.udp_send_to(h, b"p", SocketAddrV4::new(FAR, 33434))
        .unwrap();
    let p = one_packet(&mut s);
    for _ in 0..5 {
        s.receive(T0, &time_exceeded(ROUTER, &p));
    }
    assert_eq!(s.stats().icmp_errors_delivered, 2);
    assert_eq!(s.stats().drops(DropReason::UdpQueueFull), 3);
}

#[test]
fn frag_needed_carries_the_next_hop_mtu() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    s.udp_set_recv_errors(h, true).unwrap();
    s.set_dont_fragment(h, true).unwrap();
    s.udp_send_to(h, &[0u8; 1400], SocketAddrV4::new(FAR, 33434))
        .unwrap();
    let p = one_packet(&mut s);
    assert_ne!(p[6] & 0x40, 0, "DF set");
    // RFC 1191 §4: next-hop MTU in the low 16 bits of the second word.
    let mtu = 1280u16.to_be_bytes();
    s.receive(T0, &error_about(ROUTER, 3, 4, [0, 0, mtu[0], mtu[1]], &p));
    // The same bits in another error are not an MTU.
    s.receive(T0, &error_about(ROUTER, 3, 1, [0, 0, mtu[0], mtu[1]], &p));
    let mut buf = [0u8; 8];
    let Err(RecvError::Icmp(e)) = s.udp_recv_from(h, &mut buf) else {
        panic!("expected frag needed");
    };
    assert!(e.is_frag_needed());
    assert_eq!(e.next_hop_mtu, 1280);
    assert!(e.to_string().contains("mtu = 1280"), "{e}");
    let Err(RecvError::Icmp(e)) = s.udp_recv_from(h, &mut buf) else {
        panic!("expected host unreachable");
    };
    assert_eq!((e.icmp_type, e.code, e.next_hop_mtu), (3, 1, 0));
}

#[test]
fn echo_error_names_the_router_the_sequence_and_the_destination() {
    let mut s = stack();
    let h = s.echo_open(Some(99)).unwrap();
    s.set_ttl(h, ttl(2)).unwrap();
    s.echo_send(h, FAR, 7, b"data").unwrap();
    let p = one_packet(&mut s);
    s.receive(T0, &time_exceeded(ROUTER, &p));
    let mut buf = [0u8; 16];
    match s.echo_recv(h, &mut buf) {
        Ok(EchoEvent::Error { error, seq }) => {
            assert_eq!(seq, 7);
            assert_eq!(error.from, ROUTER);
            assert_eq!(error.original_dst.ip(), FAR);
            assert!(error.is_ttl_exceeded());
        }
        other => panic!("{other:?}"),
    }
}

/// A connect to FAR:80 with `ttl` on its SYN; returns the handle and the SYN as sent.
fn syn_probe(s: &mut Stack, t: u8) -> (ustack::tcp::ConnHandle, Vec<u8>) {
    let c = s.tcp_connect(SocketAddrV4::new(FAR, 80)).unwrap();
    s.tcp_set_ttl(c, ttl(t)).unwrap();
    let syn = one_packet(s);
    assert_eq!(syn[9], 6, "a TCP segment");
    assert_eq!(syn[33] & 0x02, 0x02, "SYN");
    (c, syn)
}

#[test]
fn tcp_syn_goes_out_with_the_connection_ttl_and_keeps_it_on_retransmission() {
    let mut s = stack();
    let (_c, syn) = syn_probe(&mut s, 3);
    assert_eq!(syn[8], 3);
    let later = s.poll_at().expect("SYN timer armed");
    s.handle_timeout(later);
    let again = drain(&mut s, later);
    assert_eq!(again.len(), 1, "the SYN is retransmitted");
    assert_eq!(again[0][8], 3, "with the same TTL");
}

#[test]
fn time_exceeded_for_the_syn_ends_the_probe_naming_the_router() {
    let mut s = stack();
    let (c, syn) = syn_probe(&mut s, 1);
    s.receive(T0, &time_exceeded(ROUTER, &syn));
    assert_eq!(s.tcp_state(c), Some(State::Closed));
    match s.tcp_error(c) {
        Some(TcpError::Unreachable(e)) => {
            assert_eq!(e.from, ROUTER);
            assert!(e.is_ttl_exceeded());
            assert_eq!(
                e.original_dst,
                std::net::SocketAddr::from(SocketAddrV4::new(FAR, 80))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_exceeded_not_quoting_the_syn_leaves_the_connect_alone() {
    let mut s = stack();
    let (c, mut syn) = syn_probe(&mut s, 1);
    // RFC 5927 §4.1: a quote whose sequence number is not ISS is not about our SYN.
    syn[24] ^= 0x80;
    s.receive(T0, &time_exceeded(ROUTER, &syn));
    assert_eq!(s.tcp_state(c), Some(State::SynSent));
    assert_eq!(s.stats().drops(DropReason::IcmpTcpSeqNotInFlight), 1);
}

#[test]
fn a_new_connection_never_inherits_an_old_ttl() {
    let mut s = stack();
    let (c, _) = syn_probe(&mut s, 2);
    s.tcp_abort(c).unwrap();
    drain(&mut s, T0);
    for _ in 0..3 {
        let d = s.tcp_connect(SocketAddrV4::new(FAR, 80)).unwrap();
        assert_eq!(one_packet(&mut s)[8], s.config().ttl);
        s.tcp_abort(d).unwrap();
        drain(&mut s, T0);
    }
    // And a connection left with a TTL does not lend it to others.
    let (_kept, _) = syn_probe(&mut s, 2);
    let other = s.tcp_connect(SocketAddrV4::new(FAR, 443)).unwrap();
    assert_eq!(one_packet(&mut s)[8], s.config().ttl);
    s.tcp_abort(other).unwrap();
    assert_eq!(
        s.tcp_set_ttl(other, ttl(5)),
        Err(TcpError::InvalidHandle),
        "a closed handle takes no TTL"
    );
}
