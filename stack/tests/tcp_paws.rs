//! TCP scenario tests for PAWS (RFC 7323 §5).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, PSH};
use ustack::DropReason;

// ============================================================================================
// PAWS (RFC 7323 §5)
// ============================================================================================

#[test]
fn paws_drops_segment_with_older_tsval_and_acks() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    x.p.tsval = Some(200);
    assert!(x.p.send_data(b"0123456789").is_empty());
    // Same sequence space continues, but TSval goes back to 150: R1 of §5.3 — drop, send ACK.
    x.p.tsval = Some(150);
    let seg = x.p.seg(ACK | PSH).data(b"old-old-ol");
    let outs = x.p.send(seg.clone());
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(
        outs[0].ack,
        r + 10,
        "the PAWS-rejected data is not acknowledged"
    );
    assert_eq!(
        outs[0].options.timestamps.unwrap().1,
        200,
        "TSecr = TS.Recent"
    );
    assert_eq!(x.p.stack.stats().drops(DropReason::TcpPaws), 1);
    assert_eq!(x.p.read_all(x.h), b"0123456789");
    // With a current TSval the same data is taken.
    let outs = x.p.send(seg.ts(201, x.p.ts_recent));
    assert!(outs.is_empty());
    assert_eq!(x.p.read_all(x.h), b"old-old-ol");
}
