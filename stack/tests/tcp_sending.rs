//! TCP scenario tests for sending: initial window, congestion control, fast retransmit, RTO,
//! Nagle, zero-window probes (RFC 6928, RFC 5681, RFC 6582, RFC 6298, RFC 9293 §3.7.4, §3.8.6.1).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out. The loss-recovery tests here use
//! `classic_config()` (RFC 5681 / 6298 / 6675 without RACK-TLP); `tcp_recovery*.rs` test RACK,
//! TLP, D-SACK and undo.

mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::ACK;
use ustack::Duration;

// ============================================================================================
// Sending (RFC 6928, RFC 5681, RFC 6582, RFC 6298, RFC 9293 §3.7.4 / §3.8.6.1)
// ============================================================================================

#[test]
fn bulk_send_respects_mss_and_initial_window_and_acks_open_cwnd() {
    let mut x = passive_full(classic_config(), 2048);
    let data = pattern(100 << 10, 9);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    // RFC 6928: at most IW = 14600 bytes → at most 10 segments (exact count: its own test).
    assert!(!outs.is_empty() && outs.len() <= 10, "{}", outs.len());
    let mut seq = x.p.iss + 1;
    for o in &outs {
        assert_eq!(o.seq, seq);
        // RFC 6691: the MSS limits data; options come out of it.
        assert_eq!(o.payload.len(), SEG);
        assert!(o.ip_len <= 1500);
        seq = o.end();
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.bytes_in_flight, outs.len() * SEG);
    let cwnd0 = info.cwnd;
    // Nothing more until an ACK.
    assert!(x.p.tick(ms(10)).is_empty());
    // ACK of two segments: slow start grows cwnd by 2 segments → 4 new ones (2 replace + 2).
    let outs = x.p.send_ack(x.p.iss + 1 + 2 * SEG as u32);
    assert!(outs.len() >= 2, "{outs:?}");
    assert_eq!(outs[0].seq, seq);
    assert!(x.p.stack.tcp_info(x.h).unwrap().cwnd > cwnd0);
    // Keep acknowledging everything until all data is through.
    let mut got = data[..seq.wrapping_sub(x.p.iss + 1) as usize].to_vec();
    let mut pending = outs;
    let mut rounds = 0;
    while got.len() < data.len() {
        rounds += 1;
        assert!(rounds < 100, "transfer stalled at {}", got.len());
        let mut top = None;
        for o in &pending {
            assert_eq!(o.seq, seq, "in order, no retransmissions");
            assert!(o.payload.len() <= SEG);
            got.extend_from_slice(&o.payload);
            seq = o.end();
            top = Some(seq);
        }
        let Some(top) = top else {
            panic!("nothing sent; {:?}", x.p.stack.tcp_info(x.h))
        };
        pending = x.p.send_ack(top);
    }
    assert_eq!(got, data);
}

#[test]
fn initial_window_is_ten_segments_for_mss_1460() {
    let mut x = passive_full(config(), 2048);
    // RFC 6928 §2 / RFC 5681 §3.1: IW = min(10*SMSS, max(2*SMSS, 14600)) with the SMSS of the
    // connection — 1460 after the peer's MSS option — i.e. 14600 bytes, 10 segments of 1448.
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.smss, 1460);
    assert_eq!(info.cwnd, 14600, "IW computed for SMSS 1460");
    x.p.stack.tcp_send(x.h, &pattern(64 << 10, 3)).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10, "segments in the initial burst");
}

#[test]
fn three_dup_acks_fast_retransmit_only_the_lost_segment() {
    let mut x = passive_full(classic_config(), 2048);
    let s = ten_segments(&mut x);
    let end = s[9] + SEG as u32;
    // Segments 0, 1 arrive; 2 is lost; 3.. arrive.
    x.p.ack = s[2];
    assert!(x.p.send(x.p.seg(ACK)).is_empty());
    let mut retransmitted = Vec::new();
    for i in 3..10 {
        let seg = x.p.seg(ACK).sack(&[(s[3], s[i] + SEG as u32)]);
        let outs = x.p.send(seg);
        for o in &outs {
            assert!(!o.payload.is_empty(), "{o:?}");
            retransmitted.push((i, o.seq, o.payload.len()));
        }
    }
    // RFC 5681 §3.2 / RFC 6675: the third duplicate ACK retransmits the first unSACKed segment,
    // once; nothing else was lost.
    assert_eq!(retransmitted, vec![(5, s[2], SEG)]);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.fast_retransmits, 1);
    assert!(info.in_recovery);
    // The repair is acknowledged: recovery ends.
    let outs = x.p.send_ack(end);
    assert!(outs.is_empty(), "{outs:?}");
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert!(!info.in_recovery);
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(info.stats.timeouts, 0);
}

#[test]
fn rto_retransmits_from_snd_una_with_doubling_timeout() {
    let mut x = passive_full(classic_config(), 2048);
    let t_send = x.p.now;
    let s = ten_segments(&mut x);
    let mut times = Vec::new();
    for _ in 0..3 {
        let (t, outs) = x.p.next_output(t_send + Duration::from_secs(30)).unwrap();
        // RFC 6298 §5.4: retransmit the earliest unacknowledged segment; RFC 5681 §3.1: cwnd
        // is one segment after a timeout.
        assert_eq!(outs.len(), 1, "{outs:?}");
        assert_eq!(outs[0].seq, s[0]);
        assert_eq!(outs[0].payload.len(), SEG);
        times.push(t);
    }
    let d1 = times[0] - t_send;
    let d2 = times[1] - times[0];
    let d3 = times[2] - times[1];
    assert!(
        d1 >= ms(200) && d1 <= Duration::from_secs(1),
        "first RTO {d1}"
    );
    // RFC 6298 §5.5: back off the timer, RTO ← RTO * 2.
    assert_eq!(d2.total_micros(), 2 * d1.total_micros());
    assert_eq!(d3.total_micros(), 4 * d1.total_micros());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.timeouts, 3);
    // The ACK of the first segment: slow start from one segment, go on from SND.UNA.
    let outs = x.p.send_ack(s[1]);
    let seqs: Vec<u32> = outs.iter().map(|o| o.seq).collect();
    assert_eq!(seqs, vec![s[1], s[2]]);
}

#[test]
fn rto_resend_skips_sacked_ranges() {
    let mut x = passive_full(classic_config(), 2048);
    let s = ten_segments(&mut x);
    let seg = SEG as u32;
    // The peer holds 2 and 3 (one duplicate ACK: not enough for fast retransmit).
    let outs = x.p.send(x.p.seg(ACK).ack(s[0]).sack(&[(s[2], s[4])]));
    x.p.ack = s[0];
    assert!(outs.is_empty(), "{outs:?}");
    let (_, outs) = x.p.next_output(x.p.now + Duration::from_secs(5)).unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].seq, s[0]);
    // Segment 0 repaired: cwnd is 2 segments. Segment 1 is resent; 2 and 3 are not
    // (RFC 6675 §5.1 / RFC 2018 §8: the SACKed data need not be resent).
    x.p.ack = s[1];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[2], s[4])]));
    assert!(!outs.is_empty());
    assert_eq!(outs[0].seq, s[1]);
    for o in &outs {
        assert!(
            !(o.seq >= s[2] && o.seq < s[4]),
            "SACKed segment resent: {} (holes {}..{})",
            o.seq,
            s[2],
            s[4]
        );
    }
    // When 1 is acknowledged the peer has everything up to 4: sending resumes there.
    let outs = x.p.send_ack(s[4]);
    assert!(!outs.is_empty());
    assert!(outs.iter().all(|o| o.seq >= s[4] && o.seq < s[9] + seg));
    assert_eq!(outs[0].seq, s[4]);
}

#[test]
fn nagle_holds_small_write_until_ack_and_nodelay_sends_at_once() {
    let mut x = passive_full(config(), 2048);
    let una = x.p.iss + 1;
    x.p.stack.tcp_send(x.h, &[1; 100]).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una, 100));
    // RFC 9293 §3.7.4: with data in flight a small segment waits for the ACK.
    x.p.stack.tcp_send(x.h, &[2; 50]).unwrap();
    assert!(x.p.drain().is_empty());
    assert!(x.p.tick(ms(100)).is_empty(), "held until the ACK");
    let outs = x.p.send_ack(una + 100);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una + 100, 50));
    // TCP_NODELAY: sent at once.
    x.p.stack.tcp_set_nodelay(x.h, true).unwrap();
    x.p.stack.tcp_send(x.h, &[3; 30]).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una + 150, 30));
}

#[test]
fn zero_window_is_probed_with_backoff_and_sending_resumes() {
    let mut x = passive_full(config(), 0);
    let una = x.p.iss + 1;
    let data = pattern(1000, 11);
    x.p.stack.tcp_send(x.h, &data).unwrap();
    assert!(x.p.drain().is_empty(), "the peer's window is zero");
    let mut times = vec![x.p.now];
    for _ in 0..3 {
        let (t, outs) = x.p.next_output(x.p.now + Duration::from_secs(120)).unwrap();
        assert_eq!(outs.len(), 1, "{outs:?}");
        let probe = &outs[0];
        // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a probe the receiver must answer: either one
        // byte of new data, or an old sequence number (SND.UNA − 1) as Linux does.
        let one_byte = probe.seq == una && probe.payload.len() == 1;
        let old_seq = probe.seq == una.wrapping_sub(1) && probe.payload.is_empty();
        assert!(one_byte || old_seq, "{probe:?}");
        times.push(t);
        // The peer answers, still with a zero window.
        assert!(x.p.send(x.p.seg(ACK)).is_empty());
    }
    let d1 = times[1] - times[0];
    let d2 = times[2] - times[1];
    let d3 = times[3] - times[2];
    assert!(d1 >= ms(200), "{d1}");
    assert_eq!(
        d2.total_micros(),
        2 * d1.total_micros(),
        "exponential backoff"
    );
    assert_eq!(
        d3.total_micros(),
        4 * d1.total_micros(),
        "exponential backoff"
    );
    // The window opens: everything goes.
    x.p.wnd = 2048;
    let outs = x.p.send(x.p.seg(ACK));
    let mut got = Vec::new();
    for o in &outs {
        got.extend_from_slice(&o.payload);
    }
    assert_eq!(outs[0].seq, una);
    assert_eq!(got, data);
}
