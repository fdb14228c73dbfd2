//! Loss recovery in ESTABLISHED with fixed sequence numbers: RACK (RFC 8985 §6), tail loss
//! probes (§7), D-SACK spurious-retransmission detection and undo (RFC 2883, RFC 3708), Eifel
//! after a timeout (RFC 3522), and bad input — forged SACK / D-SACK blocks and oscillating
//! reordering (the sender ignores and counts them, never retransmits without bound).
//!
//! The peer answers after a 20 ms round trip (the warm-up teaches the stack SRTT = min RTT =
//! 20 ms), so the times below are RTT 20, reordering window min_RTT/4 = 5 ms, PTO 2·SRTT = 40 ms.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::recovery::RecoveryConfig;
use ustack::wire::tcp::flags::ACK;
use ustack::Config;

const RTT: u64 = 20;

/// [`config`] with one loss-recovery switch changed by `set`.
fn without(set: fn(&mut RecoveryConfig)) -> Config {
    let mut cfg = config();
    set(&mut cfg.tcp_recovery);
    cfg
}

/// An established connection with every option, its first RTT sample 20 ms.
fn established(cfg: Config) -> Passive {
    passive_after(cfg, Peer::full_syn_options(), 2048, ms(RTT))
}

/// An established connection whose RTT estimate is 20 ms and whose cwnd has room for ten
/// more segments; then ten segments sent at once. Returns their sequence numbers.
fn ten_after_warmup(x: &mut Passive) -> Vec<u32> {
    x.send_acked_in_rounds(&pattern(40 * SEG, 7), ms(RTT));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.send_queue, 0, "{info:?}");
    assert_eq!(info.srtt, Some(ms(RTT)), "{info:?}");
    let data = pattern(10 * SEG, 8);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10, "{outs:?}");
    outs.iter().map(|o| o.seq).collect()
}

fn seg_end(s: u32) -> u32 {
    s + SEG as u32
}

#[test]
fn rack_waits_for_the_reordering_window_and_a_late_segment_costs_nothing() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    // After one RTT: segment 0 acknowledged, segment 1 late, 2 SACKed (one SACKed segment,
    // below DupThresh: the 5 ms window applies).
    x.p.now += ms(RTT);
    x.p.ack = s[1];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[2], seg_end(s[2]))]));
    assert!(
        outs.is_empty(),
        "nothing retransmitted within the window: {outs:?}"
    );
    // Segment 1 arrives 2 ms later: everything up to 3 is acknowledged.
    x.p.now += ms(2);
    assert!(x.p.send_ack(s[3]).is_empty());
    let end = seg_end(s[9]);
    assert!(x.p.send_ack(end).is_empty());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.retransmits, 0, "{info:?}");
    assert_eq!(info.stats.recovery.rack_losses, 0);
    assert!(!info.in_recovery);
}

#[test]
fn rack_retransmits_a_real_hole_when_the_reordering_timer_fires() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    let t0 = x.p.now;
    x.p.now += ms(RTT);
    x.p.ack = s[1];
    assert!(x
        .p
        .send(x.p.seg(ACK).sack(&[(s[2], seg_end(s[3]))]))
        .is_empty());
    // Segment 1 (sent at t0) is lost at t0 + RACK.rtt (20) + reo_wnd (5) = t0 + 25 ms.
    let (t, outs) = x.p.next_output(t0 + ms(1000)).unwrap();
    assert_eq!(t, t0 + ms(25));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].seq, outs[0].payload.len()), (s[1], SEG));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.rack_losses, 1);
    assert_eq!(info.stats.recovery.rack_timeouts, 1);
    assert_eq!(info.stats.recovery.recovery_episodes, 1);
    assert_eq!(info.stats.timeouts, 0);
    assert!(info.in_recovery);
}

/// A peer without SACK (so RACK cannot run and duplicate ACKs decide, RFC 5681 §3.2): ten
/// segments in flight after the warm-up and, one RTT later, the peer acknowledging the first.
fn ten_in_flight_without_sack() -> (Passive, Vec<u32>) {
    let mut opts = Peer::full_syn_options();
    opts.sack_permitted = false;
    let mut x = passive_after(config(), opts, 2048, ms(RTT));
    let s = ten_after_warmup(&mut x);
    x.p.now += ms(RTT);
    x.p.ack = s[1];
    (x, s)
}

#[test]
fn classic_three_duplicate_acks_for_a_peer_without_sack() {
    let (mut x, s) = ten_in_flight_without_sack();
    assert!(x.p.send(x.p.seg(ACK)).is_empty());
    // RFC 5681 §3.2: without SACK, RACK cannot run; the third duplicate ACK retransmits.
    assert!(x.p.send(x.p.seg(ACK)).is_empty());
    assert!(x.p.send(x.p.seg(ACK)).is_empty());
    let outs = x.p.send(x.p.seg(ACK));
    assert!(
        outs.iter().any(|o| o.seq == s[1] && !o.payload.is_empty()),
        "{outs:?}"
    );
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.fast_retransmits, 1);
    assert_eq!(info.stats.recovery.rack_losses, 0);
}

#[test]
fn acks_that_are_not_duplicates_never_count_towards_fast_retransmit() {
    let (mut x, s) = ten_in_flight_without_sack();
    let retransmits_s1 = |outs: &[Out]| outs.iter().any(|o| o.seq == s[1] && !o.payload.is_empty());
    let wnd = x.p.wnd;
    // RFC 5681 §2 (e): an ACK that changes the advertised window is not a duplicate.
    for i in 0..4 {
        let w = if i % 2 == 0 { wnd - 1 } else { wnd };
        let outs = x.p.send(x.p.seg(ACK).win(w));
        assert!(!retransmits_s1(&outs), "window change {i}: {outs:?}");
    }
    // RFC 5681 §2 (b): nor is one that carries data.
    for i in 0..4 {
        let outs = x.p.send_data(b"data");
        assert!(!retransmits_s1(&outs), "data {i}: {outs:?}");
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.fast_retransmits, 0);
    // Three real duplicates (same ACK, same window, no data) still start fast retransmit.
    assert!(!retransmits_s1(&x.p.send(x.p.seg(ACK))));
    assert!(!retransmits_s1(&x.p.send(x.p.seg(ACK))));
    let outs = x.p.send(x.p.seg(ACK));
    assert!(retransmits_s1(&outs), "{outs:?}");
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().stats.fast_retransmits, 1);
}

#[test]
fn tail_loss_probe_recovers_a_lost_tail_without_the_rto() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    // Segments 8 and 9 are lost; 0..8 acknowledged after one RTT.
    x.p.now += ms(RTT);
    let acked_at = x.p.now;
    assert!(x.p.send_ack(s[8]).is_empty());
    // RFC 8985 §7.2: PTO = 2·SRTT = 40 ms after the ACK; no new data, so the last segment
    // goes again (§7.3).
    let (t, outs) = x.p.next_output(acked_at + ms(1000)).unwrap();
    assert_eq!(t, acked_at + ms(2 * RTT));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].seq, s[9]);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.tlp_probes, 1);
    // The probe's ACK SACKs segment 9: RACK finds 8 lost and retransmits it at once.
    x.p.now += ms(RTT);
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[9], seg_end(s[9]))]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].seq, s[8]);
    x.p.now += ms(RTT);
    assert!(x.p.send_ack(seg_end(s[9])).is_empty());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.timeouts, 0, "{info:?}");
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(info.stats.recovery.rack_losses, 1);
}

#[test]
fn without_tlp_the_tail_waits_for_the_rto() {
    let mut x = established(without(|r| r.tlp = false));
    let s = ten_after_warmup(&mut x);
    x.p.now += ms(RTT);
    let acked_at = x.p.now;
    assert!(x.p.send_ack(s[8]).is_empty());
    let (t, outs) = x.p.next_output(acked_at + ms(5000)).unwrap();
    assert!(
        t >= acked_at + ms(200),
        "RTO, not a probe: {}",
        t - acked_at
    );
    assert_eq!(outs[0].seq, s[8]);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(
        (info.stats.timeouts, info.stats.recovery.tlp_probes),
        (1, 0)
    );
}

/// Segment 0 "lost" by RACK (three SACKed above it, no reordering seen: zero window) and
/// retransmitted; returns cwnd before the reduction.
fn spurious_fast_retransmit(x: &mut Passive, s: &[u32]) -> usize {
    let cwnd = x.p.stack.tcp_info(x.h).unwrap().cwnd;
    x.p.now += ms(RTT);
    x.p.ack = s[0];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[1], seg_end(s[3]))]));
    assert!(outs.iter().any(|o| o.seq == s[0]), "{outs:?}");
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert!(info.in_recovery && info.cwnd < cwnd, "{info:?}");
    cwnd
}

#[test]
fn dsack_of_the_retransmission_undoes_the_reduction() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    let cwnd = spurious_fast_retransmit(&mut x, &s);
    // The original was only late: it fills the hole; then the retransmission arrives and the
    // peer reports it as a duplicate (RFC 2883 §4: a D-SACK below SEG.ACK).
    x.p.now += ms(2);
    x.p.send_ack(s[5]);
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[0], seg_end(s[0]))]));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.dsacks_received, 1, "{info:?}");
    assert_eq!(info.stats.recovery.spurious_retransmits, 1);
    assert_eq!(info.stats.recovery.undos, 1);
    assert!(!info.in_recovery);
    assert!(
        info.cwnd >= cwnd,
        "cwnd {} restored to >= {cwnd}",
        info.cwnd
    );
    assert!(outs.iter().all(|o| o.seq != s[0]), "{outs:?}");
}

#[test]
fn without_undo_the_reduction_stays() {
    let mut x = established(without(|r| r.undo = false));
    let s = ten_after_warmup(&mut x);
    let cwnd = spurious_fast_retransmit(&mut x, &s);
    x.p.now += ms(2);
    x.p.send_ack(s[5]);
    x.p.send(x.p.seg(ACK).sack(&[(s[0], seg_end(s[0]))]));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.spurious_retransmits, 1, "{info:?}");
    assert_eq!(info.stats.recovery.undos, 0);
    assert!(info.cwnd < cwnd);
}

#[test]
fn eifel_undoes_a_spurious_timeout() {
    let mut x = established(without(|r| r.tlp = false));
    let s = ten_after_warmup(&mut x);
    let before = x.p.stack.tcp_info(x.h).unwrap();
    let original_ts = x.p.ts_recent;
    let (_, outs) = x.p.next_output(x.p.now + ms(5000)).unwrap();
    assert_eq!(outs[0].seq, s[0]);
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().cwnd, SEG + 12);
    // The ACK for everything echoes the originals' timestamp: they were only delayed
    // (RFC 3522 §3.2).
    x.p.ack = seg_end(s[9]);
    let tsval = x.p.tsval.unwrap() + 500;
    let outs = x.p.send(x.p.seg(ACK).ts(tsval, original_ts));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.spurious_rtos, 1, "{info:?}");
    assert_eq!(info.stats.recovery.undos, 1);
    assert!(info.cwnd >= before.cwnd, "{} < {}", info.cwnd, before.cwnd);
    assert!(outs.is_empty(), "{outs:?}");
}

#[test]
fn forged_sack_and_dsack_blocks_are_ignored_and_counted() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    let before = x.p.stack.tcp_info(x.h).unwrap();
    let end = seg_end(s[9]);
    x.p.now += ms(RTT);
    x.p.ack = s[0];
    // A D-SACK far below anything sent, a block beyond SND.NXT, an inverted one (three blocks
    // fit next to timestamps); then a block straddling SND.UNA behind a valid one.
    let blocks = [
        (s[0].wrapping_sub(10_000_000), s[0].wrapping_sub(9_999_000)),
        (end + 1000, end + 5000),
        (s[5], s[3]),
    ];
    for i in 0..1000 {
        let seg = if i % 2 == 0 {
            x.p.seg(ACK).sack(&blocks)
        } else {
            x.p.seg(ACK)
                .sack(&[(s[9], end + 10), (s[0].wrapping_sub(100), s[1]), blocks[1]])
        };
        let outs = x.p.send(seg);
        assert!(outs.iter().all(|o| o.payload.is_empty()), "{outs:?}");
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.sack_blocks_ignored, 3000, "{info:?}");
    assert_eq!(info.stats.recovery.dsacks_received, 0);
    assert_eq!(info.stats.retransmits, 0);
    assert!(!info.in_recovery);
    assert_eq!(info.cwnd, before.cwnd, "no window collapse without loss");
    // Well-formed D-SACKs for data never retransmitted explain nothing: no undo.
    for _ in 0..100 {
        x.p.send(x.p.seg(ACK).sack(&[(s[0].wrapping_sub(SEG as u32), s[0])]));
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.dsacks_received, 100);
    assert_eq!(
        (
            info.stats.recovery.undos,
            info.stats.recovery.spurious_retransmits
        ),
        (0, 0)
    );
}

#[test]
fn oscillating_reordering_cannot_make_it_retransmit_without_bound() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    x.p.now += ms(RTT);
    x.p.ack = s[0];
    // SACK blocks that come and go (a peer "reneging" and re-SACKing), for 200 ACKs a
    // millisecond apart.
    let mut data_out = 0;
    for i in 0..200 {
        x.p.now += ms(1);
        let seg = if i % 2 == 0 {
            x.p.seg(ACK).sack(&[(s[2], seg_end(s[4]))])
        } else {
            x.p.seg(ACK).sack(&[(s[6], seg_end(s[8]))])
        };
        data_out +=
            x.p.send(seg)
                .iter()
                .filter(|o| !o.payload.is_empty())
                .count();
        data_out += x.p.tick(ms(0)).len();
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    // Every segment at most once per loss detection, and the RTO (~220 ms) fires once.
    assert!(data_out <= 20, "{data_out} segments sent: {info:?}");
    assert!(info.cwnd >= SEG, "{info:?}");
}

#[test]
fn tail_loss_probe_without_timestamps() {
    let mut opts = Peer::full_syn_options();
    opts.timestamps = None;
    let mut x = passive_after(config(), opts, 2048, ms(RTT));
    let data = pattern(3 * 1460, 8);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 3, "{outs:?}");
    let s: Vec<u32> = outs.iter().map(|o| o.seq).collect();
    x.p.now += ms(RTT);
    assert!(x.p.send_ack(s[1]).is_empty());
    let (_, outs) = x.p.next_output(x.p.now + ms(1000)).unwrap();
    assert_eq!(outs[0].seq, s[2], "probe: {outs:?}");
    x.p.now += ms(RTT);
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[2], outs[0].end())]));
    assert_eq!(outs.len(), 1, "{outs:?} {:?}", x.p.stack.tcp_info(x.h));
    assert_eq!(outs[0].seq, s[1]);
}

#[test]
fn a_cumulative_ack_with_a_sack_above_it_is_not_reordering() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    // One ACK delivers segment 0 cumulatively and SACKs 2..5: segment 0 was not overtaken
    // (RFC 8985 §6.2 takes one ACK's segments in sending order; Linux compares with
    // prior_fack). No reordering seen and three SACKed: the window is zero and segment 1 goes
    // at once.
    x.p.now += ms(RTT);
    x.p.ack = s[1];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[2], seg_end(s[4]))]));
    let data: Vec<u32> = outs
        .iter()
        .filter(|o| !o.payload.is_empty())
        .map(|o| o.seq)
        .collect();
    assert_eq!(data.first(), Some(&s[1]), "{outs:?}");
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.recovery.rack_losses, 1, "{info:?}");
    assert!(info.in_recovery);
}

/// Ten new segments sent at once on `x` (after everything before was acknowledged).
fn ten_more(x: &mut Passive, seed: u32) -> Vec<u32> {
    let data = pattern(10 * SEG, seed);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10, "{outs:?}");
    outs.iter().map(|o| o.seq).collect()
}

#[test]
fn reordering_seen_once_widens_the_window_to_its_extent() {
    let mut x = established(config());
    let s = ten_after_warmup(&mut x);
    let t0 = x.p.now;
    let original_ts = x.p.ts_recent;
    // Segment 0 is held back 12 ms. The SACK of 1..4 at t0 + 20 finds it "lost" (no
    // reordering seen yet, three SACKed: zero window, RFC 8985 §6.2) and it is retransmitted.
    spurious_fast_retransmit(&mut x, &s);
    // The original fills the hole at t0 + 32: the ACK echoes its timestamp (RFC 7323 §4.3), so
    // it was delivered 12 ms later than RACK.rtt (20 ms) allowed — reordering of 12 ms.
    x.p.now = t0 + ms(32);
    x.p.ack = seg_end(s[9]);
    x.p.tsval = x.p.tsval.map(|v| v + 32);
    x.p.ts_recent = original_ts;
    x.p.send(x.p.seg(ACK));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert!(!info.in_recovery, "{info:?}");
    let rtx = info.stats.retransmits;
    // The same reordering again. The window is now 3 steps of min_RTT/4 = 15 ms (12 ms rounded
    // up); growing one step per round with D-SACKs it would still be 5 ms and segment 1 would
    // be retransmitted at t1 + 25.
    let n = ten_more(&mut x, 9);
    let t1 = x.p.now;
    x.p.now = t1 + ms(RTT);
    x.p.ack = n[1];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(n[2], seg_end(n[4]))]));
    assert!(outs.iter().all(|o| o.payload.is_empty()), "{outs:?}");
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().bytes_in_flight, 9 * SEG);
    assert!(
        x.p.next_output(t1 + ms(32)).is_none(),
        "nothing due before the late segment arrives"
    );
    x.p.now = t1 + ms(32);
    assert!(x.p.send_ack(seg_end(n[9])).is_empty());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.retransmits, rtx, "{info:?}");
    assert_eq!(info.bytes_in_flight, 0);
}
