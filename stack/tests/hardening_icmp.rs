//! Issue 8, findings 8 and 9: ICMP errors about TCP.
//!
//! 8. An error is believed only if it quotes a sequence number in flight, SND.UNA =< SEG.SEQ <
//!    SND.NXT, in SYN-SENT too (RFC 5927 §4.1); errors that match no connection or no sequence
//!    are counted with a reason. In SYN-SENT, hard and soft errors both fail the connect (RFC
//!    5461, as Linux); in synchronized states neither aborts (RFC 1122 §4.2.3.9, RFC 5927 §4.2).
//! 9. Fragmentation needed lowers the path MTU only downwards, to the RFC 1191 §7 plateau below
//!    the quoted datagram when the router reports 0, and never below `Config::min_pmtu`.

mod common;
mod tcp_common;

use std::net::{Ipv4Addr, SocketAddrV4};

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, SYN};
use ustack::{Config, ConfigError, DropReason};

const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

/// An ICMP error from `from` quoting our segment `US:us_port → PEER:peer_port` with `seq`, whose
/// IP total length was `quoted_len`.
#[allow(clippy::too_many_arguments)]
fn icmp_about(
    from: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    next_mtu: u16,
    us_port: u16,
    peer_port: u16,
    seq: u32,
    quoted_len: usize,
) -> Vec<u8> {
    let q = common::QuotedTcp {
        src: SocketAddrV4::new(US, us_port),
        dst: SocketAddrV4::new(PEER, peer_port),
        seq,
        total_len: quoted_len,
    };
    common::icmp_quoting_tcp(from, icmp_type, code, next_mtu, q)
}

/// Frag-needed from the router about segment `seq` of the passive connection.
fn frag_needed(x: &mut Passive, next_mtu: u16, seq: u32) -> Vec<Out> {
    let pkt = icmp_about(ROUTER, 3, 4, next_mtu, PORT, PEER_PORT, seq, 1500);
    x.p.send_raw(&pkt)
}

/// An established connection with ten full segments in flight; their sequence numbers.
fn in_flight(cfg: Config) -> (Passive, Vec<u32>) {
    let mut x = passive_full(cfg, 2048);
    let warm = pattern(40 * SEG, 99);
    assert_eq!(x.p.stack.tcp_send(x.h, &warm), Ok(warm.len()));
    let mut outs = x.p.drain();
    for _ in 0..100 {
        let Some(top) = outs.last().map(|o| o.end()) else {
            break;
        };
        outs = x.p.send_ack(top);
    }
    let data = pattern(10 * SEG, 10);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10);
    let seqs = outs.iter().map(|o| o.seq).collect();
    (x, seqs)
}

fn drops(p: &Peer, r: DropReason) -> u64 {
    p.stack.stats().drops(r)
}

// ---- finding 8 ------------------------------------------------------------------------------

#[test]
fn syn_sent_ignores_an_unreachable_that_does_not_quote_the_syn() {
    let (mut p, h, syn) = active_syn(config());
    for (i, seq) in [
        syn.seq.wrapping_add(1),
        syn.seq.wrapping_sub(1),
        syn.seq ^ 0x8000_0000,
    ]
    .into_iter()
    .enumerate()
    {
        for (t, code) in [(3, 3), (3, 1), (3, 13), (11, 0)] {
            p.send_raw(&icmp_about(PEER, t, code, 0, p.us_port, PORT, seq, 60));
        }
        assert_eq!(p.state(h), Some(State::SynSent), "seq {seq:#x}");
        assert_eq!(
            drops(&p, DropReason::IcmpTcpSeqNotInFlight),
            4 * (i as u64 + 1)
        );
    }
    // The real answer still completes the handshake.
    p.seq = PEER_ISN;
    let outs = p.send(p.seg(SYN | ACK).ack(syn.seq.wrapping_add(1)));
    assert!(outs.iter().any(|o| o.ctl() == ACK));
    assert_eq!(p.state(h), Some(State::Established));
}

#[test]
fn syn_sent_fails_on_soft_and_hard_errors_quoting_the_syn() {
    // RFC 5461: soft errors (net/host unreachable, time exceeded) reject a pending connect, as
    // hard ones do (RFC 1122 §4.2.3.9) — Linux's behaviour.
    for (t, code) in [(3u8, 0u8), (3, 1), (3, 2), (3, 3), (3, 13), (11, 0)] {
        let (mut p, h, syn) = active_syn(config());
        p.send_raw(&icmp_about(
            ROUTER, t, code, 0, p.us_port, PORT, syn.seq, 60,
        ));
        assert_eq!(p.state(h), Some(State::Closed), "type {t} code {code}");
        match p.stack.tcp_error(h) {
            Some(TcpError::Unreachable(e)) => assert_eq!((e.icmp_type, e.code), (t, code)),
            other => panic!("type {t} code {code}: {other:?}"),
        }
    }
}

#[test]
fn errors_for_no_connection_are_counted() {
    let (mut p, h, syn) = active_syn(config());
    let before = drops(&p, DropReason::IcmpNoSocket);
    // Another local port, another remote port.
    p.send_raw(&icmp_about(PEER, 3, 3, 0, p.us_port ^ 1, PORT, syn.seq, 60));
    p.send_raw(&icmp_about(PEER, 3, 3, 0, p.us_port, PORT + 1, syn.seq, 60));
    assert_eq!(drops(&p, DropReason::IcmpNoSocket), before + 2);
    assert_eq!(p.state(h), Some(State::SynSent));
}

#[test]
fn hard_errors_do_not_abort_a_synchronized_connection() {
    let (mut x, s) = in_flight(config());
    // RFC 5927 §4.2: hard errors are treated as soft in synchronized states.
    for code in [2u8, 3, 13] {
        let pkt = icmp_about(ROUTER, 3, code, 0, PORT, PEER_PORT, s[2], 1500);
        x.p.send_raw(&pkt);
        assert_eq!(x.p.state(x.h), Some(State::Established), "code {code}");
        assert_eq!(x.p.stack.tcp_error(x.h), None);
    }
}

#[test]
fn an_established_error_outside_the_window_is_counted() {
    let (mut x, s) = in_flight(config());
    let end = s[9].wrapping_add(SEG as u32);
    for seq in [s[0].wrapping_sub(1), end] {
        frag_needed(&mut x, 600, seq);
    }
    assert_eq!(drops(&x.p, DropReason::IcmpTcpSeqNotInFlight), 2);
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1460);
}

// ---- finding 9 ------------------------------------------------------------------------------

#[test]
fn next_hop_mtu_zero_uses_the_rfc1191_plateau_below_the_quoted_length() {
    let (mut x, s) = in_flight(config());
    let outs = frag_needed(&mut x, 0, s[0]);
    // RFC 1191 §7: the quoted datagram was 1500 bytes; the next plateau below is 1492.
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1492 - 40);
    assert!(outs.iter().all(|o| o.ip_len <= 1492));
    assert!(!outs.is_empty(), "resent at the new size");
}

#[test]
fn a_tiny_next_hop_mtu_is_clamped_to_the_configured_floor() {
    let (mut x, s) = in_flight(config());
    frag_needed(&mut x, 68, s[0]);
    // Linux's min_pmtu: 552 bytes, MSS 512. Before: 28.
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 552 - 40);
    let (mut x, s) = in_flight(Config {
        min_pmtu: 1000,
        ..config()
    });
    frag_needed(&mut x, 600, s[0]);
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 960);
    // At the floor already: a smaller report changes nothing and is counted.
    let before = drops(&x.p, DropReason::IcmpFragNeededNotSmaller);
    let outs = frag_needed(&mut x, 576, s[1]);
    assert!(outs.is_empty());
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 960);
    assert_eq!(
        drops(&x.p, DropReason::IcmpFragNeededNotSmaller),
        before + 1
    );
}

#[test]
fn frag_needed_at_or_above_the_current_path_mtu_is_ignored() {
    let (mut x, s) = in_flight(config());
    for mtu in [1500u16, 1501, 9000, 65535] {
        let outs = frag_needed(&mut x, mtu, s[0]);
        assert!(outs.is_empty(), "mtu {mtu}: {outs:?}");
    }
    assert_eq!(drops(&x.p, DropReason::IcmpFragNeededNotSmaller), 4);
    // Lowered once, the path MTU never rises from ICMP, and the same value is not news.
    frag_needed(&mut x, 1200, s[0]);
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1160);
    frag_needed(&mut x, 1200, s[0]);
    frag_needed(&mut x, 1400, s[0]);
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1160);
    assert_eq!(drops(&x.p, DropReason::IcmpFragNeededNotSmaller), 6);
}

#[test]
fn min_pmtu_is_validated() {
    let bad = Config {
        min_pmtu: 67,
        ..Config::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::OutOfRange {
            field: "min_pmtu",
            ..
        })
    ));
    let bad = Config {
        min_pmtu: 1501,
        ..Config::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::Misordered {
            low: "min_pmtu",
            high: "mtu"
        })
    ));
    assert_eq!(Config::default().min_pmtu, 552);
}

#[test]
fn frag_needed_in_syn_sent_lowers_the_mss_and_the_handshake_completes() {
    let (mut p, h, syn) = active_syn(config());
    p.send_raw(&icmp_about(ROUTER, 3, 4, 560, p.us_port, PORT, syn.seq, 60));
    assert_eq!(p.state(h), Some(State::SynSent));
    p.seq = PEER_ISN;
    let outs = p.send(
        p.seg(SYN | ACK)
            .ack(syn.seq.wrapping_add(1))
            .opts(Peer::full_syn_options()),
    );
    assert_eq!(p.state(h), Some(State::Established), "{outs:?}");
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.smss, 560 - 40, "{info:?}");
    // Data goes out at the new size.
    p.seq = PEER_ISN + 1;
    p.ack = syn.seq.wrapping_add(1);
    assert_eq!(p.stack.tcp_send(h, &pattern(3000, 1)), Ok(3000));
    let outs = p.drain();
    assert!(!outs.is_empty());
    assert!(outs.iter().all(|o| o.ip_len <= 560), "{outs:?}");
}
