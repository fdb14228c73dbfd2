//! Issue 24, item 6: ICMP queries as Linux answers them. An echo request with a non-zero code is
//! answered with the code copied (RFC 792 defines only 0; Linux copies whatever came, and
//! scanners' OS probes send code 9); timestamp requests (RFC 792 type 13) are answered unless
//! `Config::icmp_timestamps` is off; both are counted.

mod common;

use common::*;
use ustack::wire::icmp::{self, types};
use ustack::wire::ipv4::Ipv4Packet;
use ustack::{Config, DropReason, Instant};

/// The ICMP messages the stack sent back: (type, code, rest, body).
fn answers(s: &mut Stack2) -> Vec<(u8, u8, [u8; 4], Vec<u8>)> {
    drain(&mut s.0, s.1)
        .iter()
        .map(|p| {
            let ip = Ipv4Packet::parse(p).expect("valid IPv4");
            assert_eq!((ip.protocol(), ip.src(), ip.dst()), (ICMP, US, PEER));
            let m = ip.payload();
            assert_eq!(ustack::wire::checksum::internet(m), 0, "ICMP checksum");
            (m[0], m[1], [m[4], m[5], m[6], m[7]], m[8..].to_vec())
        })
        .collect()
}

struct Stack2(ustack::Stack, Instant);

fn send(s: &mut Stack2, msg: &[u8]) {
    let pkt = Ip::new(ICMP).build(msg);
    s.0.receive(s.1, &pkt);
}

fn timestamp_request(ident: u16, seq: u16, originate: u32) -> Vec<u8> {
    let mut body = [0u8; 12];
    body[..4].copy_from_slice(&originate.to_be_bytes());
    icmp_msg(types::TIMESTAMP, 0, icmp::id_seq(ident, seq), &body)
}

#[test]
fn an_echo_request_with_any_code_is_answered_with_the_code_copied() {
    let mut s = Stack2(stack(), T0);
    for code in [0u8, 9, 255] {
        send(
            &mut s,
            &icmp_msg(types::ECHO_REQUEST, code, icmp::id_seq(7, 3), b"probe"),
        );
        let a = answers(&mut s);
        assert_eq!(a.len(), 1, "code {code}");
        assert_eq!(
            a[0],
            (
                types::ECHO_REPLY,
                code,
                icmp::id_seq(7, 3),
                b"probe".to_vec()
            )
        );
    }
    assert_eq!(s.0.stats().icmp_echo_replied, 3);
}

#[test]
fn a_timestamp_request_is_answered_in_milliseconds_since_midnight() {
    let mut stack = stack();
    // The runtime says the stack's T0 is 2026-12-07 05:00:00.250 UT.
    let unix_ms = 1_796_619_600_250u64;
    stack.set_wall_clock(T0, unix_ms);
    let mut s = Stack2(stack, T0 + ustack::Duration::from_millis(1_500));
    send(&mut s, &timestamp_request(0x1234, 9, 0xdead_beef));
    let a = answers(&mut s);
    assert_eq!(a.len(), 1);
    let (t, code, rest, body) = &a[0];
    assert_eq!(
        (*t, *code, *rest),
        (types::TIMESTAMP_REPLY, 0, icmp::id_seq(0x1234, 9))
    );
    assert_eq!(body.len(), 12);
    let word = |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    assert_eq!(word(0), 0xdead_beef, "originate copied");
    let expect = ((unix_ms + 1_500) % 86_400_000) as u32;
    assert_eq!((word(4), word(8)), (expect, expect), "receive and transmit");
    assert_eq!(s.0.stats().icmp_timestamps_replied, 1);
}

#[test]
fn without_a_wall_clock_the_timestamp_carries_the_non_standard_bit() {
    let mut s = Stack2(stack(), T0);
    send(&mut s, &timestamp_request(1, 1, 0));
    let a = answers(&mut s);
    let body = &a[0].3;
    let receive = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
    assert_eq!(receive, 0x8000_0000 | T0.total_millis() as u32);
}

#[test]
fn timestamps_switched_off_short_ones_and_broadcast_ones_are_counted_not_answered() {
    let mut s = Stack2(
        stack_with(Config {
            icmp_timestamps: false,
            ..Config::default()
        }),
        T0,
    );
    send(&mut s, &timestamp_request(1, 1, 0));
    assert!(answers(&mut s).is_empty());
    assert_eq!(s.0.stats().drops(DropReason::IcmpTimestampOff), 1);

    let mut s = Stack2(stack(), T0);
    // Shorter than RFC 792's 12-byte body: not a timestamp request the stack can answer.
    send(
        &mut s,
        &icmp_msg(types::TIMESTAMP, 0, icmp::id_seq(1, 1), &[0; 8]),
    );
    assert!(answers(&mut s).is_empty());
    assert_eq!(s.0.stats().drops(DropReason::IcmpUnhandledType), 1);
    let pkt = Ip::new(ICMP).dst(BCAST).build(&timestamp_request(1, 1, 0));
    s.0.receive(s.1, &pkt);
    assert!(answers(&mut s).is_empty());
    assert_eq!(s.0.stats().drops(DropReason::IcmpTimestampBroadcast), 1);
    assert_eq!(s.0.stats().icmp_timestamps_replied, 0);
}
