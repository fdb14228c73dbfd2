//! Hardening of the out-of-order assembler (issue 8, finding 2): the ranges held beyond RCV.NXT
//! are bounded per connection (`tcp_ooo_max_ranges`) and over all connections
//! (`tcp_ooo_max_ranges_total`); a segment that would open a range beyond the bound is dropped
//! with `DropReason::TcpOooLimit` (and still acknowledged), so per-segment cost stays bounded.

mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, PSH, SYN};
use ustack::{Config, DropReason};

/// One-byte segments at every other offset from `base + 1`: `n` of them, to peer port `port`.
fn holes(p: &mut Peer, port: u16, base: u32, n: u32) -> usize {
    let mut acks = 0;
    for i in 0..n {
        let s = Seg::new(port, PORT, base + 1 + 2 * i, p.ack, ACK | PSH).data(b"x");
        acks += p.send(s).len();
    }
    acks
}

#[test]
fn ranges_per_connection_are_bounded_and_the_rest_is_dropped() {
    let cfg = Config {
        tcp_timestamps: false,
        ..config()
    };
    let max = cfg.tcp_ooo_max_ranges;
    let mut x = passive_plain(cfg, 65535);
    let base = x.p.seq;
    let n = 2000u32;
    let acks = holes(&mut x.p, PEER_PORT, base, n);
    assert_eq!(
        acks, n as usize,
        "every out-of-order segment is acknowledged"
    );
    assert_eq!(
        x.p.stack.stats().drops(DropReason::TcpOooLimit),
        u64::from(n) - max as u64
    );
    // Filling from RCV.NXT delivers what was held: up to the end of the last range kept.
    let fill = vec![b'f'; 2 * max];
    x.p.send(x.p.seg(ACK | PSH).data(&fill));
    let got = x.p.read_all(x.h);
    assert_eq!(got.len(), 2 * max, "held ranges joined the stream");
}

#[test]
fn ranges_over_all_connections_are_bounded() {
    let cfg = Config {
        tcp_timestamps: false,
        tcp_ooo_max_ranges: 128,
        tcp_ooo_max_ranges_total: 200,
        ..config()
    };
    let mut x = passive_plain(cfg, 65535);
    let base = x.p.seq;
    holes(&mut x.p, PEER_PORT, base, 500);
    let first = x.p.stack.stats().drops(DropReason::TcpOooLimit);
    assert_eq!(first, 500 - 128);
    // A second connection gets only what is left of the total.
    let isn = 90_000u32;
    let outs = x.p.send(Seg::new(41_000, PORT, isn, 0, SYN));
    let ack = outs[0].seq.wrapping_add(1);
    x.p.send(Seg::new(41_000, PORT, isn + 1, ack, ACK));
    let saved = x.p.ack;
    x.p.ack = ack;
    holes(&mut x.p, 41_000, isn + 1, 500);
    x.p.ack = saved;
    let second = x.p.stack.stats().drops(DropReason::TcpOooLimit) - first;
    assert_eq!(second, 500 - (200 - 128));
    // Freeing the first connection returns its ranges to the pool: a third one gets 128.
    x.p.stack.tcp_abort(x.h).unwrap();
    x.p.stack.tcp_close(x.h).unwrap();
    x.p.drain();
    assert_eq!(x.p.stack.tcp_counts(), (1, 0));
    let isn = 190_000u32;
    let outs = x.p.send(Seg::new(42_000, PORT, isn, 0, SYN));
    let ack = outs[0].seq.wrapping_add(1);
    x.p.send(Seg::new(42_000, PORT, isn + 1, ack, ACK));
    x.p.ack = ack;
    let before = x.p.stack.stats().drops(DropReason::TcpOooLimit);
    holes(&mut x.p, 42_000, isn + 1, 500);
    let third = x.p.stack.stats().drops(DropReason::TcpOooLimit) - before;
    assert_eq!(third, 500 - 128);
}
