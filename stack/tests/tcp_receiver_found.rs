//! Receiver behaviours found by the FreeBSD rcv-data-segments suite run through packetdrill
//! (tests/conformance): D-SACK (RFC 2883 §4) — a duplicate segment is reported in the first
//! SACK block of the ACK it triggers, once, ahead of the usual blocks, and that ACK is not
//! delayed — and the duplicate ACK an out-of-order FIN gets (RFC 5681 §4.2).

mod common;
mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::ACK;

fn send_range(x: &mut Passive, from: u32, to: u32) -> Vec<Out> {
    let r = PEER_ISN + 1;
    let data = pattern((to - from) as usize, from);
    x.p.send(x.p.seg(ACK).seq(r + from).data(&data))
}

#[test]
fn duplicate_below_rcv_nxt_is_reported_first_and_once() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    assert!(send_range(&mut x, 0, 100).len() <= 1);
    let outs = send_range(&mut x, 200, 300);
    assert_eq!(outs[0].sack(), vec![(r + 200, r + 300)]);
    // Bytes 50..75 again: all below RCV.NXT (100).
    let outs = send_range(&mut x, 50, 75);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r + 100);
    assert_eq!(outs[0].sack(), vec![(r + 50, r + 75), (r + 200, r + 300)]);
    // The next ACK no longer carries it.
    let outs = send_range(&mut x, 400, 500);
    assert_eq!(outs[0].sack(), vec![(r + 400, r + 500), (r + 200, r + 300)]);
}

#[test]
fn duplicate_of_held_out_of_order_data_is_reported() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    assert!(send_range(&mut x, 0, 100).len() <= 1);
    send_range(&mut x, 200, 300);
    // 250..350 overlaps the held 200..300: the overlap first, then the merged block.
    let outs = send_range(&mut x, 250, 350);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].sack(), vec![(r + 250, r + 300), (r + 200, r + 350)]);
    // A segment that fills the hole and repeats bytes below RCV.NXT reports the old part.
    let outs = send_range(&mut x, 0, 400);
    assert_eq!(outs[0].ack, r + 400);
    assert_eq!(outs[0].sack(), vec![(r, r + 100)]);
}

#[test]
fn partly_duplicate_in_order_segment_is_acked_at_once() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    assert!(send_range(&mut x, 0, 100).len() <= 1);
    x.p.drain();
    // 50..150: half old, half new, no gap anywhere: still an immediate ACK with the D-SACK.
    let outs = send_range(&mut x, 50, 150);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r + 150);
    assert_eq!(outs[0].sack(), vec![(r + 50, r + 100)]);
}

#[test]
fn no_dsack_without_sack_permitted() {
    let mut x = passive_plain(config(), 2048);
    assert!(send_range(&mut x, 0, 100).len() <= 1);
    let outs = send_range(&mut x, 0, 100);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].sack().is_empty());
}

#[test]
fn fin_beyond_a_gap_gets_a_duplicate_ack() {
    // (RFC 5681 §4.2; found by FreeBSD's rcv-data-segments/reordering-5F4321.)
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let outs = send_range(&mut x, 100, 200);
    assert_eq!(outs[0].sack(), vec![(r + 100, r + 200)]);
    let outs =
        x.p.send(x.p.seg(ACK | ustack::wire::tcp::flags::FIN).seq(r + 200));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r);
    assert_eq!(outs[0].sack(), vec![(r + 100, r + 200)]);
    // The gap fills: data and FIN are acknowledged together.
    let outs = send_range(&mut x, 0, 100);
    assert_eq!(outs.last().map(|o| o.ack), Some(r + 201));
}
