//! TCP scenario tests for a SYN flood: bounded half-open table, SYN cookies (RFC 4987 §3.6).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::wire::tcp::TcpOptions;
use ustack::{Config, DropReason};

// ============================================================================================
// SYN flood: bounded half-open table, SYN cookies (RFC 4987 §3.6)
// ============================================================================================

#[test]
fn syn_flood_is_bounded_and_cookies_complete() {
    let cfg = Config {
        tcp_syn_backlog: 16,
        ..config()
    };
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 1024).unwrap();
    let mut synacks = Vec::new();
    for i in 0..1000u16 {
        let port = 10_000 + i;
        let s = Seg::new(port, PORT, 5000 + u32::from(i) * 7, 0, SYN).opts(TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        });
        let outs = p.send(s);
        assert_eq!(outs.len(), 1, "SYN {i}: {outs:?}");
        assert_eq!(outs[0].ctl(), SYN | ACK);
        assert_eq!(outs[0].dst_port, port);
        assert_eq!(outs[0].ack, 5000 + u32::from(i) * 7 + 1);
        synacks.push(outs[0].clone());
    }
    let (conns, half_open) = p.stack.tcp_counts();
    assert_eq!(
        half_open, 16,
        "the half-open table is bounded by tcp_syn_backlog"
    );
    assert_eq!(conns, half_open, "cookie SYN-ACKs keep no state");
    // The first 16 got stateful SYN-ACKs; the rest cookies, which carry only MSS
    // (RFC 4987 §3.6: the cookie cannot encode the other options here).
    for (i, sa) in synacks.iter().enumerate().skip(16) {
        assert_eq!(sa.options.window_scale, None, "cookie SYN-ACK {i}");
        assert_eq!(sa.options.timestamps, None, "cookie SYN-ACK {i}");
    }
    // Complete one cookie handshake.
    let i = 500usize;
    let port = 10_000 + i as u16;
    let peer_seq = 5000 + i as u32 * 7 + 1;
    let cookie = synacks[i].seq;
    assert_eq!(synacks[i].options.mss, Some(1460));
    p.port = port;
    p.seq = peer_seq;
    p.ack = cookie.wrapping_add(1);
    p.tsval = None;
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(l).expect("cookie connection accepted");
    assert_eq!(p.state(h), Some(State::Established));
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.remote.port(), port);
    assert_eq!(info.smss, 1460);
    // It carries data both ways.
    p.send_data(b"ping");
    assert_eq!(p.read_all(h), b"ping");
    p.stack.tcp_send(h, b"pong").unwrap();
    let outs = p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(
        (outs[0].seq, outs[0].ack),
        (cookie.wrapping_add(1), peer_seq + 4)
    );
    assert_eq!(outs[0].payload, b"pong");
    // A forged ACK with a wrong cookie: RST <SEQ=SEG.ACK>, counted.
    let j = 600usize;
    let bad = synacks[j].seq.wrapping_add(1) ^ 0x5555;
    let outs = p.send(Seg::new(
        10_000 + j as u16,
        PORT,
        5000 + j as u32 * 7 + 1,
        bad,
        ACK,
    ));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, bad));
    assert_eq!(p.stack.stats().drops(DropReason::TcpBadCookie), 1);
    // No connection was created for it.
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));
    assert_eq!(p.stack.tcp_counts(), (17, 16));
}
