//! TCP scenario tests for ICMP errors (RFC 1191, RFC 5927, RFC 1122 §4.2.3.9).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod common;
mod tcp_common;

use std::net::{Ipv4Addr, SocketAddrV4};
use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::Duration;

// ============================================================================================
// ICMP errors for TCP (RFC 1191, RFC 5927, RFC 1122 §4.2.3.9)
// ============================================================================================

/// An ICMP error from `from` quoting a segment of ours: `US:us_port → PEER:peer_port`, `seq`.
fn icmp_about(
    from: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    next_mtu: u16,
    us_port: u16,
    peer_port: u16,
    seq: u32,
) -> Vec<u8> {
    let q = common::QuotedTcp {
        src: SocketAddrV4::new(US, us_port),
        dst: SocketAddrV4::new(PEER, peer_port),
        seq,
        total_len: 1500,
    };
    common::icmp_quoting_tcp(from, icmp_type, code, next_mtu, q)
}

const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

#[test]
fn frag_needed_lowers_mss() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let pkt = icmp_about(ROUTER, 3, 4, 1000, PORT, PEER_PORT, s[3]);
    let outs = x.p.send_raw(&pkt);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    // RFC 1191 §6: MSS = next-hop MTU − 40.
    assert_eq!(info.smss, 960);
    // What is resent and sent from now on fits the new MTU.
    assert!(!outs.is_empty(), "lost data resent at the new size");
    assert_eq!(outs[0].seq, s[0]);
    for o in &outs {
        assert!(o.ip_len <= 1000, "{} bytes", o.ip_len);
        assert!(o.payload.len() <= 960 - 12);
    }
}

#[test]
fn icmp_quoting_sequence_outside_the_window_is_ignored() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let end = s[9] + SEG as u32;
    // RFC 5927 §4.1: only errors quoting SND.UNA =< SEG.SEQ < SND.NXT are believed.
    for seq in [
        s[0].wrapping_sub(1),
        s[0].wrapping_sub(100_000),
        end,
        end + 5000,
    ] {
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, 4, 600, PORT, PEER_PORT, seq));
        assert!(outs.is_empty(), "seq {seq}: {outs:?}");
        assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1460, "seq {seq}");
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, 3, 0, PORT, PEER_PORT, seq));
        assert!(outs.is_empty());
        assert_eq!(x.p.state(x.h), Some(State::Established));
    }
}

#[test]
fn port_unreachable_in_syn_sent_fails_connect() {
    let (mut p, h, syn) = active_syn(config());
    let pkt = icmp_about(PEER, 3, 3, 0, p.us_port, PORT, syn.seq);
    p.send_raw(&pkt);
    assert_eq!(p.state(h), Some(State::Closed));
    let mut b = [0u8; 4];
    match p.stack.tcp_recv(h, &mut b) {
        Err(TcpError::Unreachable(e)) => {
            assert_eq!((e.icmp_type, e.code), (3, 3));
            assert!(e.is_port_unreachable());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // No more SYNs.
    assert!(p.run_until(p.now + Duration::from_secs(10)).is_empty());
}

#[test]
fn soft_icmp_error_in_established_does_not_abort() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    // RFC 1122 §4.2.3.9 / RFC 5461: host unreachable is soft for an established connection.
    for code in [0u8, 1] {
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, code, 0, PORT, PEER_PORT, s[0]));
        assert!(outs.is_empty(), "{outs:?}");
        assert_eq!(x.p.state(x.h), Some(State::Established));
        assert_eq!(x.p.stack.tcp_error(x.h), None);
    }
    assert!(x.p.send_ack(s[9] + SEG as u32).is_empty());
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().bytes_in_flight, 0);
}
