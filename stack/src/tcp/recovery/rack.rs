//! RACK: time-based loss detection (RFC 8985 §6).
//!
//! A segment is lost when a segment sent *after* it has been delivered and more than
//! `RACK.rtt + RACK.reo_wnd` has passed since it was sent. The reordering window starts at a
//! quarter of the minimum RTT (zero while no reordering was seen and the sender is already in
//! recovery), grows by that step for every round trip that brings D-SACKs (a retransmission
//! was spurious: the network reorders more than assumed), and falls back after 16 recoveries
//! without one.

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

    /// `seg` was just delivered (cumulatively or selectively); `echo_sent_at` when the segment
    /// whose timestamp the ACK echoes was sent (millisecond resolution), if timestamps are on.
    /// RFC 8985 §6.2 steps 2 and 3.
    pub fn on_delivered(&mut self, seg: &Sent, now: Instant, echo_sent_at: Option<Instant>) {
        // Step 3: delivering something below the highest delivered, never retransmitted,
        // means the network reordered it.
        match self.fack {
            Some(f) if seg.end.gt(f) => self.fack = Some(seg.end),
            Some(f) if seg.end.lt(f) && !seg.retransmitted => self.reordering_seen = true,
            None => self.fack = Some(seg.end),
            _ => {}
        }
        let rtt = now.saturating_since(seg.sent_at);
        if seg.retransmitted {
            // Step 2: ambiguous — the ACK may be for the original transmission.
            let sent_ms = Instant::from_millis(seg.sent_at.total_millis());
            if echo_sent_at.is_some_and(|e| e < sent_ms) {
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
        log.on_sack(seq(i * 100), seq(i * 100 + 100), |s| got.push(*s));
        for s in &got {
            rack.on_delivered(s, now, None);
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
        r.on_delivered(&got[0], t(32), None);
        assert_eq!(r.rtt, ms(20));
        // With timestamps: the echo predates the retransmission.
        let mut log = flight(1);
        log.on_transmit(seq(0), seq(100), t(50));
        let mut got = Vec::new();
        log.on_cumulative_ack(seq(100), |s| got.push(*s));
        r.on_delivered(&got[0], t(80), Some(t(0)));
        assert_eq!(r.rtt, ms(20));
        r.on_delivered(&got[0], t(80), Some(t(50)));
        assert_eq!(r.rtt, ms(30));
    }
}
