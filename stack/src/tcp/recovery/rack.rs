//! RACK: time-based loss detection (RFC 8985 §6).
//!
//! A segment is lost when a segment sent *after* it has been delivered and more than
//! `RACK.rtt + RACK.reo_wnd` has passed since it was sent. The reordering window starts at a
//! quarter of the minimum RTT (zero while no reordering was seen and the sender is already in
//! recovery), grows by that step for every round trip that brings D-SACKs (a retransmission
//! was spurious: the network reorders more than assumed), and falls back after 16 recoveries
//! without one. When reordering is observed directly — an original delivered below what an
//! earlier ACK had delivered, or (timestamps) a retransmitted segment whose original filled the
//! hole — the window is widened at once to the extent seen, in the same steps (as Linux raises
//! its reordering degree to the distance seen, not by one).

use super::sent::{Sent, SentLog};
use crate::time::{Duration, Instant};
use crate::wire::tcp::SeqNumber;

/// RFC 8985 §6.2: DupThresh, for "enough SACKed segments" to skip the reordering window.
const DUP_THRESH: usize = 3;
/// RFC 8985 §6.2 step 4: recoveries a grown reordering window persists without D-SACKs.
const REO_WND_PERSIST: u32 = 16;
/// Largest reordering-window multiplier (the window is also capped at SRTT, so this only
/// bounds the counter a peer's D-SACKs can drive).
const MAX_REO_WND_MULT: u32 = 64;

/// RACK's state (RFC 8985 §5.2 "per-connection state").
#[derive(Clone, Debug)]
pub struct Rack {
    /// `RACK.xmit_ts` and the transmission order (in place of `RACK.end_seq`): the most
    /// recently sent segment delivered.
    latest: Option<(Instant, u64)>,
    /// `RACK.rtt`: the RTT of that segment.
    rtt: Duration,
    /// `RACK.min_RTT`: the smallest RTT RACK has seen.
    min_rtt: Option<Duration>,
    /// `RACK.fack`: the highest sequence delivered.
    fack: Option<SeqNumber>,
    /// `RACK.fack` before the ACK being processed: what "delivered out of order" is judged
    /// against (Linux's `prior_fack`).
    prior_fack: Option<SeqNumber>,
    /// `RACK.reordering_seen`.
    reordering_seen: bool,
    /// `RACK.reo_wnd_mult`.
    reo_wnd_mult: u32,
    /// `RACK.reo_wnd_persist`.
    reo_wnd_persist: u32,
    /// `RACK.dsack_round`: the window grows at most once per round trip.
    dsack_round: Option<SeqNumber>,
    /// Segments SACKed (not yet cumulatively acknowledged), for the DupThresh test.
    segs_sacked: usize,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            latest: None,
            rtt: Duration::ZERO,
            min_rtt: None,
            fack: None,
            prior_fack: None,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: REO_WND_PERSIST,
            dsack_round: None,
            segs_sacked: 0,
        }
    }
}

/// RFC 8985 §6.2 `RACK_sent_after(t1, seq1, t2, seq2)`, ties broken by transmission order.
fn sent_after(t1: Instant, order1: u64, t2: Instant, order2: u64) -> bool {
    t1 > t2 || (t1 == t2 && order1 > order2)
}

impl Rack {
    /// The reordering-window multiplier (for logs and tests).
    pub fn reo_wnd_mult(&self) -> u32 {
        self.reo_wnd_mult
    }

    /// Whether reordering was observed on this connection.
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// An ACK is about to report deliveries (before the first [`on_delivered`](Self::on_delivered)).
    pub fn start_ack(&mut self) {
        self.prior_fack = self.fack;
    }

    /// `seg` was just delivered (`cumulative`ly or selectively); `echo_sent_at` when the segment
    /// whose timestamp the ACK echoes was sent (millisecond resolution), if timestamps are on.
    /// RFC 8985 §6.2 steps 2 and 3.
    pub fn on_delivered(
        &mut self,
        seg: &Sent,
        now: Instant,
        echo_sent_at: Option<Instant>,
        cumulative: bool,
    ) {
        // Step 3: delivering something below the highest delivered, never retransmitted,
        // means the network reordered it. "Highest delivered" as of the previous ACK: the RFC
        // takes one ACK's segments in the order they were sent, so a cumulative ACK of a
        // segment together with a SACK of a later one is no reordering (Linux compares with
        // `prior_fack` the same way).
        let below_fack = self.prior_fack.is_some_and(|f| seg.end.lt(f));
        match self.fack {
            Some(f) if seg.end.gt(f) => self.fack = Some(seg.end),
            None => self.fack = Some(seg.end),
            _ => {}
        }
        if below_fack && !seg.retransmitted {
            self.on_reordering(now.saturating_since(seg.sent_at));
        }
        let rtt = now.saturating_since(seg.sent_at);
        if seg.retransmitted {
            // Step 2: ambiguous — the ACK may be for the original transmission.
            let sent_ms = Instant::from_millis(seg.sent_at.total_millis());
            if let Some(orig) = echo_sent_at.filter(|&e| e < sent_ms) {
                // A cumulative ACK echoes the segment that filled the hole (RFC 7323 §4.3):
                // here the original, which arrived late and out of order — the retransmission
                // was spurious (Eifel, RFC 3522). Linux counts this as reordering too
                // (tcp_try_undo_partial → tcp_check_sack_reordering, "TCPTSReorder"). A SACK
                // echoes an older in-order segment instead, so proves nothing.
                if below_fack && cumulative {
                    self.on_reordering(now.saturating_since(orig));
                }
                return;
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        }
        self.rtt = rtt;
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        let newer = self
            .latest
            .is_none_or(|(t, o)| sent_after(seg.sent_at, seg.order, t, o));
        if newer {
            self.latest = Some((seg.sent_at, seg.order));
        }
    }

    /// Step 3's reordering, of a segment that took `its_rtt` to be delivered: sets
    /// `RACK.reordering_seen`, and widens the window at once to the extent observed — the time
    /// the segment needed beyond `RACK.rtt`, which is what `reo_wnd` must exceed for it not to be
    /// marked lost — rounded up to whole steps of `min_RTT / 4`. RFC 8985 §6.2 grows the window
    /// only by one step per round trip with D-SACKs, after each spurious retransmission; Linux
    /// sizes its reordering degree (`tp->reordering`, tcp_check_sack_reordering) to the observed
    /// distance in one go. The SRTT cap and the decay after 16 recoveries still apply.
    fn on_reordering(&mut self, its_rtt: Duration) {
        self.reordering_seen = true;
        let Some(step) = self
            .min_rtt
            .map(|m| m.total_micros() / 4)
            .filter(|&s| s > 0)
        else {
            return;
        };
        let extent = its_rtt
            .total_micros()
            .saturating_sub(self.rtt.total_micros());
        let need = u32::try_from(extent.div_ceil(step)).unwrap_or(u32::MAX);
        if need > self.reo_wnd_mult {
            self.reo_wnd_mult = need.min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// Counts a newly SACKed segment (and `n` cumulatively acknowledged ones that had been).
    pub fn on_sacked(&mut self, newly: usize, cum_acked_sacked: usize) {
        self.segs_sacked = (self.segs_sacked + newly).saturating_sub(cum_acked_sacked);
    }

    /// RFC 8985 §6.2 step 4, on every ACK: `dsack` whether it carried a valid D-SACK block.
    pub fn on_ack_dsack(&mut self, dsack: bool, snd_una: SeqNumber, snd_nxt: SeqNumber) {
        if self.dsack_round.is_some_and(|r| snd_una.ge(r)) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// RFC 8985 §6.2 step 4: a recovery episode ended.
    pub fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// RFC 8985 §6.2 step 4 `RACK_update_reo_wnd()`: the reordering window now.
    pub fn reo_wnd(&self, in_recovery: bool, srtt: Duration) -> Duration {
        if !self.reordering_seen && (in_recovery || self.segs_sacked >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let min_rtt = self.min_rtt.unwrap_or(srtt).total_micros();
        let w = u64::from(self.reo_wnd_mult).saturating_mul(min_rtt) / 4;
        Duration::from_micros(w.min(srtt.total_micros()))
    }

    /// RFC 8985 §6.2 step 5 `RACK_detect_loss()`: marks lost every un-SACKed segment sent
    /// before the latest delivered one whose time is up. Returns (newly lost, when the
    /// reordering timer should fire for the ones not yet due).
    pub fn detect_loss(
        &self,
        log: &mut SentLog,
        now: Instant,
        reo_wnd: Duration,
    ) -> (usize, Option<Instant>) {
        let Some((xmit_ts, order)) = self.latest else {
            return (0, None);
        };
        let mut timer: Option<Instant> = None;
        let lost = log.mark_lost(|s| {
            if !sent_after(xmit_ts, order, s.sent_at, s.order) {
                return false;
            }
            let deadline = s.sent_at + self.rtt + reo_wnd;
            if deadline <= now {
                return true;
            }
            timer = Some(timer.map_or(deadline, |t| t.max(deadline)));
            false
        });
        (lost, timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn seq(n: u32) -> SeqNumber {
        SeqNumber(5000 + n)
    }

    /// Segments of 100 bytes sent 1 ms apart from t = 0.
    fn flight(n: u32) -> SentLog {
        let mut l = SentLog::default();
        for i in 0..n {
            l.on_transmit(seq(i * 100), seq(i * 100 + 100), t(u64::from(i)));
        }
        l
    }

    fn sack(rack: &mut Rack, log: &mut SentLog, i: u32, now: Instant) {
        let mut got = Vec::new();
        rack.start_ack();
        log.on_sack(seq(i * 100), seq(i * 100 + 100), |s| got.push(*s));
        for s in &got {
            rack.on_delivered(s, now, None, false);
        }
        rack.on_sacked(got.len(), 0);
    }

    #[test]
    fn segment_sent_before_a_delivered_one_is_lost_after_rtt_plus_window() {
        let mut log = flight(5);
        let mut r = Rack::default();
        // Segment 4 (sent at 4 ms) is SACKed at 24 ms: RACK.rtt = 20 ms, min_RTT 20 ms.
        sack(&mut r, &mut log, 4, t(24));
        let wnd = r.reo_wnd(false, ms(20));
        assert_eq!(wnd, ms(5), "min_RTT / 4");
        // Segment 0 was sent at 0: lost once 0 + 20 + 5 <= now. At 24 ms nothing is due yet,
        // and the timer is set for the last of them (segment 3 at 3 + 25 = 28 ms).
        let (n, timer) = r.detect_loss(&mut log, t(24), wnd);
        assert_eq!(n, 0);
        assert_eq!(timer, Some(t(28)));
        let (n, timer) = r.detect_loss(&mut log, t(26), wnd);
        assert_eq!(n, 2, "segments 0 and 1 (deadlines 25, 26)");
        assert_eq!(timer, Some(t(28)));
        assert_eq!(log.next_lost(seq(0)), Some((seq(0), seq(100))));
    }

    #[test]
    fn nothing_is_lost_before_anything_is_delivered() {
        let mut log = flight(3);
        let r = Rack::default();
        assert_eq!(r.detect_loss(&mut log, t(1000), ms(0)), (0, None));
    }

    #[test]
    fn reordering_is_seen_and_zero_window_applies_only_without_it() {
        let mut log = flight(6);
        let mut r = Rack::default();
        sack(&mut r, &mut log, 3, t(23));
        sack(&mut r, &mut log, 4, t(24));
        sack(&mut r, &mut log, 5, t(25));
        // Three segments SACKed and no reordering: the window is zero (RFC 8985 §6.2 step 4).
        assert_eq!(r.reo_wnd(false, ms(20)), ms(0));
        assert!(!r.reordering_seen());
        // Segment 1 arrives late (below fack, never retransmitted): reordering.
        sack(&mut r, &mut log, 1, t(26));
        assert!(r.reordering_seen());
        assert_eq!(r.reo_wnd(true, ms(20)), ms(5));
    }

    #[test]
    fn observed_reordering_sizes_the_window_in_one_go() {
        let mut log = flight(6);
        let mut r = Rack::default();
        // Segment 2 (sent at 2 ms) SACKed at 22 ms: RACK.rtt = min_RTT = 20 ms, step 5 ms.
        sack(&mut r, &mut log, 2, t(22));
        assert_eq!(r.reo_wnd(false, ms(40)), ms(5));
        // Segment 0 (sent at 0, never retransmitted) arrives at 31 ms, 11 ms beyond RACK.rtt:
        // the window becomes 3 steps (15 ms), not 2 after a D-SACK round.
        sack(&mut r, &mut log, 0, t(31));
        assert!(r.reordering_seen());
        assert_eq!(r.reo_wnd_mult(), 3);
        assert_eq!(r.reo_wnd(true, ms(40)), ms(15));
        // A smaller extent later never shrinks it; the SRTT cap holds.
        sack(&mut r, &mut log, 1, t(32));
        assert_eq!(r.reo_wnd_mult(), 3);
        assert_eq!(r.reo_wnd(true, ms(12)), ms(12));
        // It decays like a D-SACK-grown window (RFC 8985 §6.2 step 4).
        for _ in 0..16 {
            r.on_recovery_exit();
        }
        assert_eq!(r.reo_wnd_mult(), 1);
    }

    #[test]
    fn segments_of_one_ack_are_not_reordered_among_themselves() {
        let mut log = flight(4);
        let mut r = Rack::default();
        // One ACK SACKs segment 3 and then cumulatively acknowledges 0: no reordering.
        r.start_ack();
        let mut got = Vec::new();
        log.on_sack(seq(300), seq(400), |s| got.push(*s));
        log.on_cumulative_ack(seq(100), |s| got.push(*s));
        for s in &got {
            r.on_delivered(s, t(25), None, false);
        }
        assert!(!r.reordering_seen());
        // The next ACK delivering segment 1, below what the previous one SACKed, is.
        r.start_ack();
        log.on_cumulative_ack(seq(200), |s| r.on_delivered(s, t(30), None, true));
        assert!(r.reordering_seen());
    }

    #[test]
    fn dsack_grows_the_window_once_per_round_and_it_decays() {
        let mut r = Rack::default();
        let mut log = flight(2);
        sack(&mut r, &mut log, 1, t(41));
        assert_eq!(r.reo_wnd(false, ms(100)), ms(10));
        r.on_ack_dsack(true, seq(0), seq(200));
        assert_eq!(r.reo_wnd_mult(), 2);
        // Another D-SACK in the same round: no further growth.
        r.on_ack_dsack(true, seq(100), seq(300));
        assert_eq!(r.reo_wnd_mult(), 2);
        // Next round.
        r.on_ack_dsack(true, seq(200), seq(400));
        assert_eq!(r.reo_wnd_mult(), 3);
        assert_eq!(r.reo_wnd(false, ms(100)), ms(30));
        // Capped at SRTT.
        assert_eq!(r.reo_wnd(false, ms(20)), ms(20));
        for _ in 0..16 {
            r.on_recovery_exit();
        }
        assert_eq!(r.reo_wnd_mult(), 1);
    }

    #[test]
    fn oscillating_dsacks_cannot_grow_the_multiplier_without_bound() {
        let mut r = Rack::default();
        for i in 0..10_000u32 {
            r.on_ack_dsack(true, seq(i * 2), seq(i * 2 + 1));
        }
        assert_eq!(r.reo_wnd_mult(), MAX_REO_WND_MULT);
    }

    #[test]
    fn ambiguous_retransmission_does_not_update_rtt() {
        let mut log = flight(2);
        let mut r = Rack::default();
        sack(&mut r, &mut log, 1, t(21)); // rtt 20 ms
        log.on_transmit(seq(0), seq(100), t(30));
        // An ACK 2 ms after the retransmission: shorter than min_RTT, so for the original.
        let mut got = Vec::new();
        log.on_cumulative_ack(seq(200), |s| got.push(*s));
        r.on_delivered(&got[0], t(32), None, true);
        assert_eq!(r.rtt, ms(20));
        // With timestamps: the echo predates the retransmission.
        let mut log = flight(1);
        log.on_transmit(seq(0), seq(100), t(50));
        let mut got = Vec::new();
        log.on_cumulative_ack(seq(100), |s| got.push(*s));
        r.on_delivered(&got[0], t(80), Some(t(0)), true);
        assert_eq!(r.rtt, ms(20));
        r.on_delivered(&got[0], t(80), Some(t(50)), true);
        assert_eq!(r.rtt, ms(30));
    }
}
