//! A TCP connection's own TTL (`Stack::tcp_set_ttl`, Linux's `IP_TTL`) over its life: every
//! segment carries it while the app holds the handle; the FIN after `tcp_close` and the RST of
//! `tcp_abort` go out with `Config::ttl`; `None` restores it. (The SYN probes of a TCP
//! traceroute are tested in `trace_probes.rs`.)

mod tcp_common;

use std::num::NonZeroU8;
use tcp_common::*;
use ustack::tcp::{ConnHandle, TcpError};
use ustack::wire::tcp::flags::{FIN, RST};
use ustack::Stack;

/// Everything the stack sends now, as raw IPv4 packets.
fn raw_drain(x: &mut Passive) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(n) = x.p.stack.poll_transmit(x.p.now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// The TTLs of `packets` (IPv4 header byte 8).
fn ttls(packets: &[Vec<u8>]) -> Vec<u8> {
    packets.iter().map(|p| p[8]).collect()
}

/// Whether `packet` is a TCP segment with `flag` set (20-byte IPv4 header).
fn has(packet: &[u8], flag: u8) -> bool {
    packet[33] & flag != 0
}

/// An established connection with TTL 9 that has sent "hello" and had it acknowledged.
fn with_ttl_nine() -> Passive {
    let mut x = passive_full(config(), 2048);
    x.p.stack.tcp_set_ttl(x.h, NonZeroU8::new(9)).unwrap();
    assert_eq!(x.p.stack.tcp_send(x.h, b"hello"), Ok(5));
    let sent = raw_drain(&mut x);
    assert_eq!(
        ttls(&sent),
        [9],
        "the data segment carries the connection's TTL"
    );
    let acked = x.p.ack.wrapping_add(5);
    assert!(x.p.send_ack(acked).is_empty());
    x
}

/// Ends the app's hold on the TTL-9 connection with `end` and checks the one segment that
/// follows has `flag` and `Config::ttl`.
fn ends_with_the_configured_ttl(end: fn(&mut Stack, ConnHandle) -> Result<(), TcpError>, flag: u8) {
    let mut x = with_ttl_nine();
    end(&mut x.p.stack, x.h).unwrap();
    let last = raw_drain(&mut x);
    assert_eq!(last.len(), 1);
    assert!(has(&last[0], flag));
    assert_eq!(ttls(&last), [x.p.stack.config().ttl]);
}

#[test]
fn the_fin_after_close_goes_out_with_the_configured_ttl() {
    ends_with_the_configured_ttl(Stack::tcp_close, FIN);
}

#[test]
fn the_rst_of_abort_goes_out_with_the_configured_ttl() {
    ends_with_the_configured_ttl(Stack::tcp_abort, RST);
}

#[test]
fn none_restores_the_configured_ttl() {
    let mut x = with_ttl_nine();
    x.p.stack.tcp_set_ttl(x.h, None).unwrap();
    assert_eq!(x.p.stack.tcp_send(x.h, b"again"), Ok(5));
    let sent = raw_drain(&mut x);
    assert_eq!(ttls(&sent), [x.p.stack.config().ttl]);
}
