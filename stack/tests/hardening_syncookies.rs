//! Hardening of listeners (issue 8, finding 3): SYN cookies are believed only while the
//! half-open queue has recently overflowed.

mod tcp_common;

use std::net::SocketAddrV4;

use tcp_common::*;
use ustack::tcp::TcpError;
use ustack::test_support::syncookie;
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::wire::tcp::{SeqNumber, TcpOptions};
use ustack::{Config, DropReason, Duration};

fn mss_opts() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    }
}

/// A valid cookie for a SYN from `PEER:port` with ISN `isn`, made at the peer's `now`.
fn cookie(p: &Peer, cfg: &Config, port: u16, isn: u32) -> u32 {
    syncookie::encode(
        &syncookie::key(&cfg.secret),
        p.now,
        std::net::SocketAddr::V4(SocketAddrV4::new(US, PORT)),
        std::net::SocketAddr::V4(SocketAddrV4::new(PEER, port)),
        SeqNumber(isn),
        1460,
    )
    .0
}

/// Finding 3: without a recent overflow of the half-open queue, an ACK carrying a correct cookie
/// is an ACK to LISTEN like any other: RST, no connection (Linux's `tcp_synq_no_recent_overflow`).
#[test]
fn cookie_ack_without_a_recent_overflow_is_refused() {
    let cfg = config();
    let mut p = Peer::new(cfg.clone());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let c = cookie(&p, &cfg, 12_345, 7_000);
    let outs = p.send(Seg::new(12_345, PORT, 7_001, c.wrapping_add(1), ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, c.wrapping_add(1)));
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));
    assert_eq!(p.stack.tcp_counts(), (0, 0));
    assert_eq!(p.stack.stats().drops(DropReason::TcpNoConnection), 1);
    assert_eq!(p.stack.stats().tcp_syncookies_accepted, 0);
}

/// Finding 3: cookies are accepted while the overflow is recent, and refused again once
/// `tcp_syncookie_window` has passed since the last overflow.
#[test]
fn cookie_acks_are_accepted_only_within_the_window_after_an_overflow() {
    let cfg = Config {
        tcp_syn_backlog: 1,
        ..config()
    };
    let window = cfg.tcp_syncookie_window;
    let mut p = Peer::new(cfg.clone());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    // Fill the half-open queue, then overflow it once.
    for (port, isn) in [(20_000u16, 100u32), (20_001, 200)] {
        let outs = p.send(Seg::new(port, PORT, isn, 0, SYN).opts(mss_opts()));
        assert_eq!(outs.len(), 1);
    }
    assert_eq!(p.stack.tcp_counts(), (1, 1));
    // Within the window: a cookie made now completes.
    p.now += Duration::from_secs(5);
    let c = cookie(&p, &cfg, 20_002, 300);
    let outs = p.send(Seg::new(20_002, PORT, 301, c.wrapping_add(1), ACK));
    assert!(outs.is_empty(), "{outs:?}");
    assert!(
        p.stack.tcp_accept(l).is_ok(),
        "cookie accepted after overflow"
    );
    // After the window: even a fresh, correct cookie is refused.
    p.now += window;
    let c = cookie(&p, &cfg, 20_003, 400);
    let outs = p.send(Seg::new(20_003, PORT, 401, c.wrapping_add(1), ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), RST);
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));
    assert_eq!(p.stack.stats().tcp_syncookies_accepted, 1);
}
