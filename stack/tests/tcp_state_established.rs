//! TCP scenario tests for ESTABLISHED, receiving data (RFC 9293 §3.10.7.4, RFC 2018, RFC 5681
//! §4.2).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::TcpError;
use ustack::wire::tcp::flags::ACK;
use ustack::wire::tcp::TcpOptions;
use ustack::Duration;

// ============================================================================================
// ESTABLISHED: receiving data (RFC 9293 §3.10.7.4, RFC 2018, RFC 5681 §4.2)
// ============================================================================================

#[test]
fn in_order_data_is_delivered_and_ack_delayed_at_most_40ms() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(100, 2);
    let start = x.p.now;
    assert!(x.p.send_data(&data).is_empty(), "the ACK is delayed");
    let (t, outs) = x.p.next_output(start + Duration::from_secs(1)).unwrap();
    // RFC 9293 §3.8.6.3: delayed by less than 0.5 s; ustack uses 40 ms.
    assert_eq!(t - start, ms(40));
    assert_eq!(outs.len(), 1);
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (x.p.iss + 1, r + 100));
    assert_eq!(x.p.read_all(x.h), data);
}

#[test]
fn every_second_full_sized_segment_is_acked_at_once_with_timestamps() {
    // With timestamps a full-sized segment carries MSS − 12 = 1448 bytes (RFC 7323 §3,
    // RFC 6691); RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized one.
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    assert!(x.p.send_data(&pattern(SEG, 3)).is_empty());
    let outs = x.p.send_data(&pattern(SEG, 4));
    assert_eq!(
        outs.len(),
        1,
        "expected an immediate ACK after the second full-sized (1448-byte + TS) segment"
    );
    assert_eq!(outs[0].ack, r + 2 * SEG as u32);
}

#[test]
fn every_second_full_sized_segment_is_acked_at_once_without_timestamps() {
    let opts = TcpOptions {
        timestamps: None,
        ..Peer::full_syn_options()
    };
    let mut x = passive_with(config(), opts, 2048);
    let r = PEER_ISN + 1;
    assert!(x.p.send_data(&pattern(1460, 3)).is_empty());
    let outs = x.p.send_data(&pattern(1460, 4));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r + 2920);
    // A third one starts the count again: delayed.
    assert!(x.p.send_data(&pattern(1460, 5)).is_empty());
}

#[test]
fn out_of_order_data_gets_duplicate_acks_with_sack_blocks_most_recent_first() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let s = SEG as u32;
    let data = pattern(8 * SEG, 5);
    let chunk = |i: usize| &data[i * SEG..(i + 1) * SEG];
    let send_at = |x: &mut Passive, i: usize| {
        let seg =
            x.p.seg(ACK)
                .seq(r + i as u32 * s)
                .data(&data[i * SEG..(i + 1) * SEG]);
        x.p.send(seg)
    };
    // Segments 1, 3, 5, 7 arrive; 0, 2, 4, 6 are missing.
    let mut expect: Vec<(u32, u32)> = Vec::new();
    for i in [1usize, 3, 5, 7] {
        let outs = send_at(&mut x, i);
        // RFC 5681 §4.2: an out-of-order segment gets an immediate duplicate ACK.
        assert_eq!(outs.len(), 1, "segment {i}: {outs:?}");
        assert!(outs[0].is_pure_ack());
        assert_eq!(outs[0].ack, r);
        // RFC 2018 §4: the first block reports the most recent segment; up to 3 blocks fit
        // next to timestamps.
        expect.insert(0, (r + i as u32 * s, r + (i as u32 + 1) * s));
        expect.truncate(3);
        assert_eq!(outs[0].sack(), expect, "segment {i}");
        assert!(outs[0].options.timestamps.is_some());
    }
    // Filling the holes: an immediate ACK each time (RFC 5681 §4.2), covering all in-order data.
    let fills = [
        (
            0usize,
            r + 2 * s,
            vec![
                (r + 7 * s, r + 8 * s),
                (r + 5 * s, r + 6 * s),
                (r + 3 * s, r + 4 * s),
            ],
        ),
        (
            2,
            r + 4 * s,
            vec![(r + 7 * s, r + 8 * s), (r + 5 * s, r + 6 * s)],
        ),
        (4, r + 6 * s, vec![(r + 7 * s, r + 8 * s)]),
        (6, r + 8 * s, vec![]),
    ];
    for (i, ack, sack) in fills {
        let outs = send_at(&mut x, i);
        assert_eq!(outs.len(), 1, "fill {i}: {outs:?}");
        assert_eq!(outs[0].ack, ack, "fill {i}");
        assert_eq!(outs[0].sack(), sack, "fill {i}");
    }
    let got = x.p.read_all(x.h);
    assert_eq!(got.len(), data.len());
    assert_eq!(&got[..SEG], chunk(0));
    assert_eq!(got, data);
}

#[test]
fn twenty_holes_are_all_held_and_delivered_when_filled() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(4000, 6);
    // 20 disjoint 100-byte pieces at offsets 100, 300, ..., 3900 (smoltcp keeps 4 holes).
    for i in 0..20u32 {
        let off = 200 * i + 100;
        let seg =
            x.p.seg(ACK)
                .seq(r + off)
                .data(&data[off as usize..off as usize + 100]);
        let outs = x.p.send(seg);
        assert_eq!(outs.len(), 1, "piece {i}: {outs:?}");
        assert_eq!(outs[0].ack, r);
        assert_eq!(outs[0].sack()[0], (r + off, r + off + 100), "piece {i}");
    }
    let mut b = [0u8; 16];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Err(TcpError::WouldBlock));
    // Fill holes 19..1 (each still out of order), then hole 0.
    for i in (1..20u32).rev() {
        let off = 200 * i;
        let seg =
            x.p.seg(ACK)
                .seq(r + off)
                .data(&data[off as usize..off as usize + 100]);
        let outs = x.p.send(seg);
        assert_eq!(outs.len(), 1, "hole {i}: {outs:?}");
        assert_eq!(outs[0].ack, r, "hole {i}");
    }
    let outs = x.p.send(x.p.seg(ACK).seq(r).data(&data[..100]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r + 4000);
    assert!(outs[0].sack().is_empty());
    assert_eq!(x.p.read_all(x.h), data);
}

#[test]
fn data_beyond_the_window_is_trimmed_or_refused() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    // Get the full window advertised: 256 KiB (field 32768 << 3).
    x.p.send_data(b"0123456789");
    assert_eq!(x.p.read_all(x.h), b"0123456789");
    let outs = x.p.run_until(x.p.now + ms(50));
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].window, 32768);
    let r = r + 10;
    let wnd = 256u32 << 10;
    // Entirely beyond RCV.NXT + RCV.WND: not acceptable → ACK, drop (RFC 9293 §3.10.7.4).
    let outs = x.p.send(x.p.seg(ACK).seq(r + wnd).data(&[7; 100]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r);
    assert!(
        outs[0].sack().is_empty(),
        "nothing beyond the window was kept"
    );
    // Straddling the right edge: the part inside is kept, the rest trimmed.
    let outs = x.p.send(x.p.seg(ACK).seq(r + wnd - 100).data(&[8; 200]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r);
    assert_eq!(outs[0].sack(), vec![(r + wnd - 100, r + wnd)]);
}

#[test]
fn old_duplicate_segment_is_acked_and_not_delivered_twice() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(100, 7);
    x.p.send_data(&data);
    x.p.run_until(x.p.now + ms(50));
    // The same segment again: entirely old → immediate ACK with RCV.NXT.
    let outs = x.p.send(x.p.seg(ACK).seq(r).data(&data));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r + 100);
    // Half old, half new: the new half is taken (RFC 9293 §3.10.7.4: trim to the window).
    let more = pattern(100, 8);
    let mut overlap = data[50..].to_vec();
    overlap.extend_from_slice(&more[..50]);
    // (With SACK the ACK carries a D-SACK block and goes at once, RFC 2883 §4; it is in
    // `outs` either way.)
    let mut outs = x.p.send(x.p.seg(ACK).seq(r + 50).data(&overlap));
    outs.extend(x.p.run_until(x.p.now + ms(50)));
    assert_eq!(outs.last().unwrap().ack, r + 150);
    let mut want = data.clone();
    want.extend_from_slice(&more[..50]);
    assert_eq!(x.p.read_all(x.h), want);
}
