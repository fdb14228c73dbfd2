//! Issue 16, finding 3: memory a remote client can pin. 1,000 chargen connections that never
//! read held 256 KiB of send buffer each (RSS 6 → 293 MB) and nothing bounded the total. Now all
//! TCP buffers together draw on `Config::tcp_mem_max`: at the cap no buffer grows (each keeps a
//! page), above half of it an emptied buffer gives its storage back, and refusals are counted.

mod tcp_common;

use std::net::Ipv4Addr;
use tcp_common::*;
use ustack::tcp::ConnHandle;
use ustack::wire::tcp::flags::{ACK, SYN};
use ustack::Config;

const PAGE: usize = 4096;
const TX: usize = 64 << 10;
const CAP: usize = 256 << 10;

fn cfg(cap: usize) -> Config {
    Config {
        tcp_mem_max: cap,
        tcp_tx_buffer: TX,
        tcp_rx_buffer: TX,
        ..config()
    }
}

/// `n` established connections from distinct ports of the peer.
fn open(p: &mut Peer, n: u16) -> Vec<ConnHandle> {
    let l = p.stack.tcp_listen(PORT, 1024).unwrap();
    (0..n)
        .map(|i| connect_from(p, l, PEER, 10_000 + i))
        .collect()
}

/// Writes as much as each connection takes (the peer acknowledges nothing); returns the total.
fn fill(p: &mut Peer, hs: &[ConnHandle]) -> usize {
    let data = vec![b'x'; TX];
    let mut total = 0;
    for &h in hs {
        total += p.stack.tcp_send(h, &data).unwrap_or(0);
        p.drain();
    }
    total
}

/// Old main: 32 connections × 64 KiB = 2 MiB buffered, whatever the budget.
#[test]
fn never_acknowledging_peers_cannot_pin_more_than_the_budget() {
    let mut p = Peer::new(cfg(CAP));
    let hs = open(&mut p, 32);
    let taken = fill(&mut p, &hs);
    let held = p.stack.memory().tcp_buffer_bytes;
    // The cap, one buffer's last growth, and the page every connection keeps.
    let bound = CAP + TX + hs.len() * PAGE;
    assert!(held <= bound, "{held} bytes held, bound {bound}");
    assert!(taken <= bound, "the app queued {taken} bytes");
    assert!(taken < hs.len() * TX, "nothing was held back: {taken}");
    assert!(p.stack.stats().tcp_mem_denied > 0);
    // Every connection still got at least its page: none is starved outright.
    for &h in &hs {
        let queued = p.stack.tcp_info(h).unwrap().send_queue;
        assert!(queued >= PAGE.min(TX), "a connection got {queued} bytes");
    }
}

/// Under pressure (above half the cap), a buffer the peer has emptied is given back, until the
/// total is under half the cap again; without pressure the storage is kept for the next burst.
#[test]
fn emptied_buffers_are_released_under_pressure_only() {
    for (cap, released) in [(CAP, true), (64 << 20, false)] {
        let mut p = Peer::new(cfg(cap));
        let hs = open(&mut p, 8);
        let data = vec![b'y'; 32 << 10];
        for &h in &hs {
            assert_eq!(p.stack.tcp_send(h, &data), Ok(data.len()));
        }
        // The peer acknowledges everything each connection sends, round after round.
        let mut sent: Vec<Out> = p.drain();
        for _ in 0..50 {
            let mut next = Vec::new();
            for o in sent.iter().filter(|o| !o.payload.is_empty()) {
                let port = o.dst_port;
                let ack = Seg::new(port, PORT, 5_001 + u32::from(port), o.end(), ACK);
                next.extend(p.send(ack));
            }
            sent = next;
        }
        for &h in &hs {
            assert_eq!(p.stack.tcp_info(h).unwrap().send_queue, 0);
        }
        let held = p.stack.memory().tcp_buffer_bytes;
        if released {
            assert!(held <= cap / 2, "cap {cap}: emptied buffers kept: {held}");
        } else {
            assert!(held >= 8 * (32 << 10), "cap {cap}: {held}");
        }
    }
}

/// With the budget spent, a new connection is offered a window of one page, not its whole
/// receive buffer (old main: 65535 in the SYN-ACK).
#[test]
fn a_new_connection_is_offered_a_small_window_when_the_budget_is_spent() {
    let mut p = Peer::new(cfg(CAP));
    let hs = open(&mut p, 32);
    fill(&mut p, &hs);
    let outs = syn_from(&mut p, Ipv4Addr::new(198, 18, 0, 9), 33_000, 1);
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert_eq!(usize::from(outs[0].window), PAGE);
    // Once the others are gone the budget is back: a new connection gets its full window.
    for h in hs {
        p.stack.tcp_abort(h).unwrap();
    }
    p.drain();
    assert_eq!(p.stack.memory().tcp_buffer_bytes, 0);
    let outs = syn_from(&mut p, Ipv4Addr::new(198, 18, 0, 9), 33_001, 1);
    assert_eq!(usize::from(outs[0].window), TX.min(65535));
}
