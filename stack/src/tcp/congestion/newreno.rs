//! NewReno: RFC 5681 slow start and congestion avoidance, with the RFC 6582 fast-recovery window
//! arithmetic and RFC 3465 appropriate byte counting.

use super::window::Window;
use super::CongestionControl;
use crate::time::{Duration, Instant};

/// The NewReno congestion controller (RFC 5681, RFC 6582, RFC 3465).
#[derive(Clone, Debug)]
pub(crate) struct NewReno {
    /// cwnd, ssthresh and the steps NewReno shares with CUBIC.
    w: Window,
    /// RFC 3465 §2.1 `bytes_acked` in congestion avoidance: bytes acknowledged since cwnd last grew.
    ca_acked: usize,
}

impl NewReno {
    /// A controller for `mss` (SMSS), starting with the RFC 6928 initial window and an
    /// "arbitrarily high" ssthresh (RFC 5681 §3.1). An `mss` of 0 is treated as 1.
    pub(crate) fn new(mss: usize) -> Self {
        NewReno {
            w: Window::new(mss),
            ca_acked: 0,
        }
    }

    /// RFC 5681 §3.1 eq. (4) / §3.2 step 2: `ssthresh = max(FlightSize / 2, 2*SMSS)`.
    fn reduced_ssthresh(&self, flight_size: usize) -> usize {
        (flight_size / 2).max(self.w.mss.saturating_mul(2))
    }

    /// Congestion avoidance (RFC 5681 §3.1): grow cwnd by one SMSS per cwnd's worth of
    /// acknowledged bytes, i.e. ~1 SMSS per RTT, using RFC 3465 §2.1 byte counting.
    fn congestion_avoidance(&mut self, bytes_acked: usize) {
        if bytes_acked == 0 {
            return;
        }
        self.ca_acked = self.ca_acked.saturating_add(bytes_acked);
        // RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to the value of the
        // congestion window, bytes_acked is reduced by the value of cwnd. Next, cwnd is
        // incremented by a full-sized segment (SMSS)." RFC 5681 §3.1 allows at most one SMSS per
        // RTT, so a stretch ACK worth several windows still grows cwnd by only one SMSS and only
        // the remainder modulo cwnd is carried.
        if self.ca_acked >= self.w.cwnd {
            self.ca_acked %= self.w.cwnd;
            self.w.cwnd = self.w.cwnd.saturating_add(self.w.mss);
        }
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "newreno"
    }

    fn window(&self) -> &Window {
        &self.w
    }

    fn window_mut(&mut self) -> &mut Window {
        &mut self.w
    }

    fn on_ack(&mut self, _now: Instant, bytes_acked: usize, rtt: Option<Duration>) {
        if let Some(rest) = self.w.slow_start(bytes_acked, rtt) {
            self.congestion_avoidance(rest);
        }
    }

    fn on_enter_recovery(&mut self, _now: Instant, flight_size: usize) {
        self.w.enter_recovery(self.reduced_ssthresh(flight_size));
        // RFC 3465 §2.1: bytes_acked restarts after a loss.
        self.ca_acked = 0;
        log::debug!(
            "fast recovery: flight {flight_size} ssthresh {} cwnd {}",
            self.w.ssthresh,
            self.w.cwnd
        );
    }

    fn on_exit_recovery(&mut self, flight_size: usize) {
        self.w.exit_recovery(flight_size);
        self.ca_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, flight_size: usize) {
        self.w.on_rto(self.reduced_ssthresh(flight_size));
        self.ca_acked = 0;
        log::debug!(
            "retransmission timeout: flight {flight_size} ssthresh {} cwnd {}",
            self.w.ssthresh,
            self.w.cwnd
        );
    }

    fn set_mss(&mut self, mss: usize) {
        self.w.set_mss(mss);
    }

    fn on_idle_restart(&mut self) {
        self.w.idle_restart();
        self.ca_acked = 0;
    }

    fn boxed_clone(&self) -> Box<dyn CongestionControl> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;
    const NOW: Instant = Instant::ZERO;

    fn ack(cc: &mut NewReno, bytes: usize) {
        cc.on_ack(NOW, bytes, Some(Duration::from_millis(50)));
    }

    #[test]
    fn starts_at_initial_window_with_high_ssthresh() {
        let cc = NewReno::new(MSS);
        assert_eq!(cc.name(), "newreno");
        assert_eq!(cc.cwnd(), 14_600);
        assert_eq!(cc.ssthresh(), usize::MAX / 2);
    }

    #[test]
    fn slow_start_with_abc_limit() {
        let mut cc = NewReno::new(MSS);
        ack(&mut cc, MSS);
        assert_eq!(cc.cwnd(), 16_060);
        ack(&mut cc, 2 * MSS);
        assert_eq!(cc.cwnd(), 18_980);
        // A stretch ACK of 10 000 bytes grows cwnd by at most L = 2*SMSS (RFC 3465).
        ack(&mut cc, 10_000);
        assert_eq!(cc.cwnd(), 21_900);
        // Partial-segment ACKs count their bytes.
        ack(&mut cc, 100);
        assert_eq!(cc.cwnd(), 22_000);
        // Zero bytes acked changes nothing.
        ack(&mut cc, 0);
        assert_eq!(cc.cwnd(), 22_000);
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = NewReno::new(MSS);
        // One RTT: every segment of the 10-segment window is acked, one ACK each.
        for _ in 0..10 {
            ack(&mut cc, MSS);
        }
        assert_eq!(cc.cwnd(), 2 * 14_600);
    }

    #[test]
    fn switches_to_congestion_avoidance_at_ssthresh() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 40 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        // Slow start from 1 to 20 segments: 19 ACKs of one segment.
        for _ in 0..19 {
            ack(&mut cc, MSS);
        }
        assert_eq!(cc.cwnd(), 29_200);
        // Now cwnd == ssthresh: congestion avoidance. 19 more ACKs are not yet a full window…
        for _ in 0..19 {
            ack(&mut cc, MSS);
        }
        assert_eq!(cc.cwnd(), 29_200);
        // …the 20th completes one window's worth and adds one SMSS.
        ack(&mut cc, MSS);
        assert_eq!(cc.cwnd(), 30_660);
    }

    #[test]
    fn slow_start_stops_at_ssthresh_and_carries_the_rest() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 50_000);
        assert_eq!(cc.ssthresh(), 25_000);
        for _ in 0..8 {
            ack(&mut cc, 2 * MSS);
        }
        assert_eq!(cc.cwnd(), 24_820);
        // 180 bytes of room left: cwnd stops at ssthresh, 2740 bytes go to CA's counter.
        ack(&mut cc, 2 * MSS);
        assert_eq!(cc.cwnd(), 25_000);
        assert_eq!(cc.ca_acked, 2_740);
        // 25 000 - 2 740 = 22 260 more bytes complete the window.
        ack(&mut cc, 22_259);
        assert_eq!(cc.cwnd(), 25_000);
        ack(&mut cc, 1);
        assert_eq!(cc.cwnd(), 25_000 + MSS);
        assert_eq!(cc.ca_acked, 0);
    }

    #[test]
    fn congestion_avoidance_grows_one_mss_per_rtt() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 20 * MSS);
        for _ in 0..9 {
            ack(&mut cc, MSS);
        }
        assert_eq!(cc.cwnd(), 10 * MSS);
        assert_eq!(cc.cwnd(), cc.ssthresh());
        // Each RTT acks the whole window (here with delayed ACKs, 2 segments each).
        for rtt in 1..=5 {
            let window = cc.cwnd();
            let mut sent = 0;
            while sent < window {
                let n = (2 * MSS).min(window - sent);
                ack(&mut cc, n);
                sent += n;
            }
            assert_eq!(cc.cwnd(), (10 + rtt) * MSS, "after RTT {rtt}");
        }
    }

    #[test]
    fn stretch_ack_in_congestion_avoidance_adds_one_mss() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 20 * MSS);
        for _ in 0..9 {
            ack(&mut cc, MSS);
        }
        // 2.5 windows in one ACK: one SMSS, half a window carried.
        ack(&mut cc, 25 * MSS);
        assert_eq!(cc.cwnd(), 11 * MSS);
        assert_eq!(cc.ca_acked, 5 * MSS);
    }

    #[test]
    fn fast_recovery_window_arithmetic() {
        let mut cc = NewReno::new(MSS);
        // Third duplicate ACK with 10 segments in flight.
        cc.on_enter_recovery(NOW, 14_600);
        assert_eq!(cc.ssthresh(), 7_300);
        assert_eq!(cc.cwnd(), 7_300 + 3 * MSS);
        // Each further duplicate ACK inflates by one SMSS.
        cc.on_dup_ack_in_recovery();
        assert_eq!(cc.cwnd(), 13_140);
        cc.on_dup_ack_in_recovery();
        assert_eq!(cc.cwnd(), 14_600);
        // Partial ACK of two segments: deflate by 2920, add back one SMSS.
        cc.on_partial_ack(2 * MSS);
        assert_eq!(cc.cwnd(), 13_140);
        // Partial ACK of less than one SMSS: deflate only.
        cc.on_partial_ack(500);
        assert_eq!(cc.cwnd(), 12_640);
        // Full ACK with 3 segments still in flight: min(7300, 4380 + 1460) = 5840.
        cc.on_exit_recovery(3 * MSS);
        assert_eq!(cc.cwnd(), 5_840);
        assert_eq!(cc.ssthresh(), 7_300);
    }

    #[test]
    fn exit_recovery_caps_at_ssthresh_and_handles_empty_flight() {
        let mut cc = NewReno::new(MSS);
        cc.on_enter_recovery(NOW, 14_600);
        cc.on_exit_recovery(14_600);
        assert_eq!(cc.cwnd(), 7_300);
        cc.on_enter_recovery(NOW, 14_600);
        // Nothing outstanding: max(0, SMSS) + SMSS.
        cc.on_exit_recovery(0);
        assert_eq!(cc.cwnd(), 2 * MSS);
        // cwnd 2920 < ssthresh 7300: back in slow start.
        ack(&mut cc, MSS);
        assert_eq!(cc.cwnd(), 3 * MSS);
    }

    #[test]
    fn recovery_with_small_flight_uses_two_mss_floor() {
        let mut cc = NewReno::new(MSS);
        cc.on_enter_recovery(NOW, 2_000);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        assert_eq!(cc.cwnd(), 5 * MSS);
    }

    #[test]
    fn partial_ack_never_deflates_below_one_mss() {
        let mut cc = NewReno::new(MSS);
        cc.on_enter_recovery(NOW, 4 * MSS);
        assert_eq!(cc.cwnd(), 5 * MSS);
        cc.on_partial_ack(100 * MSS);
        assert_eq!(cc.cwnd(), MSS);
    }

    #[test]
    fn rto_collapses_to_loss_window() {
        let mut cc = NewReno::new(MSS);
        for _ in 0..10 {
            ack(&mut cc, MSS);
        }
        cc.on_rto(NOW, 20 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        assert_eq!(cc.ssthresh(), 10 * MSS);
        // Small flight: ssthresh floors at 2*SMSS.
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 1_000);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        assert_eq!(cc.cwnd(), MSS);
    }

    #[test]
    fn repeated_rto_holds_ssthresh() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 20 * MSS);
        assert_eq!(cc.ssthresh(), 10 * MSS);
        // The same segment times out again (no ACK in between): ssthresh held (RFC 5681 §3.1).
        cc.on_rto(NOW, MSS);
        assert_eq!(cc.ssthresh(), 10 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        // After new data is acknowledged, a fresh timeout reduces ssthresh again.
        ack(&mut cc, MSS);
        cc.on_rto(NOW, 6 * MSS);
        assert_eq!(cc.ssthresh(), 3 * MSS);
    }

    #[test]
    fn idle_restart_is_min_of_iw_and_cwnd() {
        let mut cc = NewReno::new(MSS);
        for _ in 0..10 {
            ack(&mut cc, MSS);
        }
        assert_eq!(cc.cwnd(), 29_200);
        cc.on_idle_restart();
        assert_eq!(cc.cwnd(), 14_600);
        // A cwnd already below IW stays.
        cc.on_rto(NOW, 14_600);
        ack(&mut cc, MSS);
        assert_eq!(cc.cwnd(), 2 * MSS);
        cc.on_idle_restart();
        assert_eq!(cc.cwnd(), 2 * MSS);
    }

    #[test]
    fn set_mss_keeps_bytes_but_floors_at_one_segment() {
        let mut cc = NewReno::new(MSS);
        cc.on_rto(NOW, 4 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        // Larger MSS: cwnd rises to one segment, ssthresh to 2 segments.
        cc.set_mss(9_000);
        assert_eq!(cc.cwnd(), 9_000);
        assert_eq!(cc.ssthresh(), 18_000);
        // Smaller MSS: cwnd stays in bytes.
        cc.set_mss(536);
        assert_eq!(cc.cwnd(), 9_000);
        // Growth and idle restart now use the new SMSS (IW(536) = 5360).
        ack(&mut cc, 5_000);
        assert_eq!(cc.cwnd(), 9_000 + 2 * 536);
        cc.on_idle_restart();
        assert_eq!(cc.cwnd(), 5_360);
        // A zero MSS is treated as one byte, never leaving a zero window.
        cc.set_mss(0);
        assert!(cc.cwnd() >= 1);
    }

    #[test]
    fn never_overflows() {
        let mut cc = NewReno::new(usize::MAX);
        ack(&mut cc, usize::MAX);
        cc.on_dup_ack_in_recovery();
        cc.on_enter_recovery(NOW, usize::MAX);
        cc.on_dup_ack_in_recovery();
        cc.on_partial_ack(usize::MAX);
        cc.on_exit_recovery(usize::MAX);
        cc.on_rto(NOW, usize::MAX);
        cc.on_idle_restart();
        assert!(cc.cwnd() >= 1);
    }
}
