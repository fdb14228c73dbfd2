//! TCP scenario tests for options (RFC 9293 §3.1, §3.7.1; RFC 7323 §2.3; RFC 1122 §4.2.2.5).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use std::net::SocketAddrV4;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, SYN};

// ============================================================================================
// Options (RFC 9293 §3.1, §3.7.1; RFC 7323 §2.3; RFC 1122 §4.2.2.5)
// ============================================================================================

/// Handshake with raw SYN options from `port`; returns the SYN-ACK and the TcpInfo.
fn handshake_raw(
    p: &mut Peer,
    l: ustack::tcp::ListenHandle,
    port: u16,
    raw: &[u8],
    final_window: u16,
) -> (Out, ustack::tcp::TcpInfo) {
    p.port = port;
    p.seq = PEER_ISN;
    p.tsval = None;
    let outs = p.send(p.seg(SYN).ack(0).raw_opts(raw));
    assert_eq!(outs.len(), 1, "options {raw:?}: {outs:?}");
    let sa = outs[0].clone();
    assert_eq!(sa.ctl(), SYN | ACK, "options {raw:?}");
    p.seq = PEER_ISN + 1;
    p.ack = sa.seq.wrapping_add(1);
    if sa.options.timestamps.is_some() {
        p.tsval = Some(PEER_TS);
    }
    p.wnd = final_window;
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(l).expect("handshake completes");
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.state, State::Established);
    // And it carries data.
    p.stack.tcp_send(h, &[0x55; 3000]).unwrap();
    let outs = p.drain();
    assert!(!outs.is_empty());
    for o in &outs {
        assert!(
            o.payload.len() + o.options.emitted_len() <= info.smss,
            "{o:?}"
        );
    }
    (sa, info)
}

#[test]
fn malformed_syn_options_are_survived() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // Length 0: parsing stops; nothing usable → 536, no wscale/SACK/TS.
    let (sa, info) = handshake_raw(&mut p, l, 1001, &[2, 0, 5, 180, 3, 3, 7, 0], 100);
    assert_eq!(sa.options.window_scale, None);
    assert_eq!(info.smss, 536);
    // Length 1.
    let (_, info) = handshake_raw(&mut p, l, 1002, &[4, 1, 2, 4, 5, 180], 100);
    assert_eq!(info.smss, 536);
    // MSS, then timestamps whose length overruns the area: MSS kept, timestamps ignored.
    let (sa, info) = handshake_raw(&mut p, l, 1003, &[2, 4, 5, 180, 8, 10, 0, 0], 100);
    assert_eq!(info.smss, 1460);
    assert_eq!(sa.options.timestamps, None);
    // A kind with no length byte at the very end.
    let (_, info) = handshake_raw(&mut p, l, 1004, &[1, 1, 1, 2], 100);
    assert_eq!(info.smss, 536);
    // Unknown kinds are skipped by their length.
    let (sa, info) = handshake_raw(
        &mut p,
        l,
        1005,
        &[30, 6, 1, 2, 3, 4, 2, 4, 5, 180, 1, 3, 3, 7, 99, 2],
        100,
    );
    assert_eq!(info.smss, 1460);
    assert_eq!(sa.options.window_scale, Some(3));
    assert_eq!(info.snd_wnd, 100 << 7);
    // Known kinds with the wrong length are skipped.
    let (_, info) = handshake_raw(&mut p, l, 1006, &[2, 3, 9, 2, 4, 5, 180, 0], 100);
    assert_eq!(info.smss, 1460);
    // 40 bytes of NOPs.
    let (_, info) = handshake_raw(&mut p, l, 1007, &[1; 40], 100);
    assert_eq!(info.smss, 536);
}

#[test]
fn window_scale_above_14_is_capped() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // RFC 7323 §2.3: a shift above 14 is used as 14 (with a window field of 1 → 16384).
    let (sa, info) = handshake_raw(&mut p, l, 2001, &[1, 3, 3, 15, 2, 4, 5, 180], 1);
    assert_eq!(sa.options.window_scale, Some(3));
    assert_eq!(info.snd_wnd, 1 << 14);
    let (_, info) = handshake_raw(&mut p, l, 2002, &[1, 3, 3, 255, 2, 4, 5, 180], 2);
    assert_eq!(info.snd_wnd, 2 << 14);
}

#[test]
fn mss_option_is_clamped() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // MSS 0 cannot be used as is: clamped to ustack's floor of 64.
    let (_, info) = handshake_raw(&mut p, l, 3001, &[2, 4, 0, 0], 1000);
    assert_eq!(info.smss, 64);
    // MSS 65535: clamped to what our MTU allows (1500 − 40).
    let (_, info) = handshake_raw(&mut p, l, 3002, &[2, 4, 0xff, 0xff], 1000);
    assert_eq!(info.smss, 1460);
    let (_, info) = handshake_raw(&mut p, l, 3003, &[2, 4, 0x02, 0x00], 1000);
    assert_eq!(info.smss, 512);
}

#[test]
fn tcp_info_reports_the_connection() {
    let x = passive_full(config(), 2048);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(
        info.local,
        std::net::SocketAddr::V4(SocketAddrV4::new(US, PORT))
    );
    assert_eq!(
        info.remote,
        std::net::SocketAddr::V4(SocketAddrV4::new(PEER, PEER_PORT))
    );
    assert_eq!(info.smss, 1460);
    assert!(info.cwnd >= 2 * info.smss, "{info:?}");
    assert_eq!(info.snd_wnd, 2048 << 7);
    assert_eq!(info.rcv_wnd, 256 << 10);
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(info.send_queue, 0);
    assert_eq!(info.recv_queue, 0);
    assert!(!info.in_recovery);
    assert!(
        info.srtt.is_some(),
        "the handshake's timestamps give an RTT sample"
    );
    assert!(info.rto >= ms(200));
    assert_eq!(info.congestion, "newreno");
}
