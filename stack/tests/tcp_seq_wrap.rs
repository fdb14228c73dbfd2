//! TCP scenario tests for sequence numbers wrapping past 2^32 (RFC 9293 §3.4).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use std::net::SocketAddrV4;

use tcp_common::*;
use ustack::test_support::IsnGenerator;
use ustack::wire::tcp::flags::{ACK, SYN};
use ustack::{Config, Instant};

// ============================================================================================
// Sequence numbers wrapping past 2^32 (RFC 9293 §3.4)
// ============================================================================================

/// The instant at which the stack's ISN for `PEER:peer_port → US:80` is `target`.
fn time_for_isn(cfg: &Config, peer_port: u16, target: u32) -> Instant {
    let g = IsnGenerator::new(cfg.secret);
    let f = g
        .isn(
            Instant::ZERO,
            std::net::SocketAddr::V4(SocketAddrV4::new(US, PORT)),
            std::net::SocketAddr::V4(SocketAddrV4::new(PEER, peer_port)),
        )
        .0;
    let ticks = u64::from(target.wrapping_sub(f));
    let mut t = ticks * 4;
    while t < T0.total_micros() {
        t += 4 << 32;
    }
    Instant::from_micros(t)
}

#[test]
fn sequence_numbers_wrap_both_ways() {
    let cfg = config();
    let peer_isn = 0xFFFF_FF00u32;
    let our_isn = 0xFFFF_8000u32;
    let mut p = Peer::new(cfg.clone());
    p.now = time_for_isn(&cfg, PEER_PORT, our_isn);
    let l = p.stack.tcp_listen(PORT, 4).unwrap();
    let outs = p.send(Seg::new(PEER_PORT, PORT, peer_isn, 0, SYN).opts(Peer::full_syn_options()));
    assert_eq!(outs[0].seq, our_isn, "chose the time to get this ISN");
    assert_eq!(outs[0].ack, peer_isn.wrapping_add(1));
    p.iss = our_isn;
    p.seq = peer_isn.wrapping_add(1);
    p.ack = our_isn.wrapping_add(1);
    p.tsval = Some(PEER_TS);
    p.wnd = 2048;
    assert!(p.send(p.seg(ACK)).is_empty());
    let h = p.stack.tcp_accept(l).unwrap();

    // Peer → us: 64 KiB across the wrap.
    let data = pattern(64 << 10, 13);
    for c in data.chunks(SEG) {
        p.send_data(c);
    }
    let outs = p.run_until(p.now + ms(100));
    assert_eq!(
        outs.last().unwrap().ack,
        peer_isn.wrapping_add(1 + (64 << 10))
    );
    assert_eq!(p.seq, 0x0000_FF01);
    assert_eq!(p.read_all(h), data);

    // Us → peer: 64 KiB across the wrap.
    let data = pattern(64 << 10, 14);
    assert_eq!(p.stack.tcp_send(h, &data), Ok(data.len()));
    let mut got = Vec::new();
    let mut next = our_isn.wrapping_add(1);
    let mut outs = p.drain();
    let mut rounds = 0;
    while got.len() < data.len() {
        rounds += 1;
        assert!(rounds < 50, "stalled at {}", got.len());
        assert!(!outs.is_empty(), "{:?}", p.stack.tcp_info(h));
        for o in &outs {
            assert_eq!(o.seq, next);
            got.extend_from_slice(&o.payload);
            next = o.end();
        }
        outs = p.send_ack(next);
    }
    assert_eq!(got, data);
    assert_eq!(next, our_isn.wrapping_add(1 + (64 << 10)));
    assert!(next < our_isn, "wrapped");
    assert_eq!(p.stack.tcp_info(h).unwrap().bytes_in_flight, 0);
}
