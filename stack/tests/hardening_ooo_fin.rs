//! Hardening of the receiver (issue 8, finding 10): a FIN recorded out of order is not sticky.
//! A later segment that carries data across it, or the real FIN, decides where the stream ends
//! (RFC 9293 §3.10.7.4, eighth step: a FIN takes effect once everything before it arrived).

mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, FIN, PSH};

/// A FIN seen ahead of RCV.NXT, then a segment spanning its position, then the real FIN: the
/// stream ends at the real FIN, which is acknowledged.
#[test]
fn data_spanning_an_out_of_order_fin_overrides_it() {
    let mut x = passive_full(config(), 2048);
    let base = x.p.seq;
    // Out of order: 4 bytes at +4 with FIN (claims the stream ends at +8).
    let s = x.p.seg(ACK | FIN).seq(base + 4).data(b"bbbb");
    let outs = x.p.send(s);
    assert_eq!(outs.len(), 1, "duplicate ACK for the gap: {outs:?}");
    assert_eq!(outs[0].ack, base);
    // In order: 12 bytes from +0 spanning the FIN position.
    let s = x.p.seg(ACK | PSH).seq(base).data(b"aaaabbbbcccc");
    x.p.send(s);
    assert_eq!(x.p.read_all(x.h), b"aaaabbbbcccc");
    assert_eq!(x.p.state(x.h), Some(State::Established));
    // The real FIN at +12 ends the stream and is acknowledged.
    let s = x.p.seg(ACK | FIN).seq(base + 12);
    let outs = x.p.send(s);
    assert_eq!(x.p.state(x.h), Some(State::CloseWait));
    let acked = outs
        .iter()
        .chain(x.p.tick(ms(50)).iter())
        .map(|o| o.ack)
        .max();
    assert_eq!(acked, Some(base + 13), "the real FIN is ACKed: {outs:?}");
    let mut buf = [0u8; 8];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut buf), Ok(0), "end of stream");
}

/// A forged FIN far ahead of RCV.NXT, then the real FIN right after the in-order data: the real
/// one ends the stream.
#[test]
fn the_real_fin_replaces_an_earlier_out_of_order_one() {
    let mut x = passive_full(config(), 2048);
    let base = x.p.seq;
    let s = x.p.seg(ACK | FIN).seq(base + 99).data(b"z");
    x.p.send(s);
    let s = x.p.seg(ACK | PSH | FIN).seq(base).data(b"abc");
    let outs = x.p.send(s);
    assert_eq!(x.p.read_all(x.h), b"abc");
    assert_eq!(x.p.state(x.h), Some(State::CloseWait));
    assert!(
        outs.iter().any(|o| o.ack == base + 4),
        "FIN at +3 acknowledged at once: {outs:?}"
    );
}
