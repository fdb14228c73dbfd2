//! CUBIC (RFC 9438): a cubic window-growth function of the time since the last congestion event,
//! with a Reno-friendly region, multiplicative decrease by β = 0.7 and fast convergence.
//!
//! Slow start and the fast-recovery inflation/deflation steps are those of RFC 5681 / RFC 6582,
//! as RFC 9438 §4.10 and §4.6 allow; HyStart++ (RFC 9406) runs in the initial slow start. The cubic function is evaluated
//! in floating point, in segments, as RFC 9438 writes it; cwnd itself stays in whole bytes with the
//! fractional growth carried between ACKs.

use super::window::Window;
use super::CongestionControl;
use crate::time::{Duration, Instant};

/// RFC 9438 §5.1: C = 0.4 (segments / s³).
const C: f64 = 0.4;
/// RFC 9438 §4.6: β_cubic = 0.7.
const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3 (1 - β) / (1 + β), the Reno-friendly additive increase.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// The CUBIC congestion controller (RFC 9438).
#[derive(Clone, Debug)]
pub(crate) struct Cubic {
    /// cwnd, ssthresh and the RFC 5681 / RFC 6582 steps CUBIC shares with NewReno.
    w: Window,
    /// Fractional bytes of growth not yet added to `cwnd`.
    cwnd_carry: f64,
    /// RFC 9438 §4.2 W_max: cwnd just before the last reduction (after §4.7), bytes.
    w_max: f64,
    /// RFC 9438 §4.6 cwnd_prior: cwnd when ssthresh was last set, bytes.
    cwnd_prior: f64,
    /// RFC 9438 §4.3 W_est, the Reno-equivalent window, bytes.
    w_est: f64,
    /// RFC 9438 §4.2 K, seconds.
    k: f64,
    /// When the current congestion-avoidance stage began; `None` until its first ACK.
    epoch_start: Option<Instant>,
    /// The last RTT sample, used for W_cubic(t + RTT) (RFC 9438 §4.2).
    rtt: Duration,
    /// The next congestion-avoidance stage follows a timeout (RFC 9438 §4.8: K = 0, W_max = cwnd).
    after_timeout: bool,
}

impl Cubic {
    /// A controller for `mss` (SMSS), starting with the RFC 6928 initial window and an
    /// "arbitrarily high" ssthresh (RFC 5681 §3.1, RFC 9438 §4.10). An `mss` of 0 is treated as 1.
    pub(crate) fn new(mss: usize) -> Self {
        let w = Window::new(mss);
        let cwnd = w.cwnd;
        Cubic {
            w,
            cwnd_carry: 0.0,
            w_max: 0.0,
            cwnd_prior: cwnd as f64,
            w_est: cwnd as f64,
            k: 0.0,
            epoch_start: None,
            rtt: Duration::ZERO,
            after_timeout: false,
        }
    }

    /// RFC 9438 §4.6: ssthresh = max(FlightSize * β_cubic, 2 SMSS).
    fn reduced_ssthresh(&self, flight_size: usize) -> usize {
        ((flight_size as f64 * BETA) as usize).max(self.w.mss.saturating_mul(2))
    }

    /// Records a congestion event for the cubic function (RFC 9438 §4.6, §4.7).
    fn congestion_event(&mut self) {
        let cwnd = self.w.cwnd as f64;
        // RFC 9438 §4.7 fast convergence: if this W_max is below the previous one, the flow is
        // losing share to a newcomer; release some by remembering a lower W_max.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        self.epoch_start = None;
        self.cwnd_carry = 0.0;
    }

    /// W_cubic(t) of RFC 9438 §4.2 eq. (1), in bytes.
    fn w_cubic(&self, t: f64) -> f64 {
        let mss = self.w.mss as f64;
        (C * (t - self.k).powi(3) + self.w_max / mss) * mss
    }

    /// Adds `bytes` (possibly fractional) to cwnd.
    fn grow(&mut self, bytes: f64) {
        if bytes.is_nan() || bytes <= 0.0 {
            return;
        }
        self.cwnd_carry += bytes;
        let whole = self.cwnd_carry.floor();
        self.cwnd_carry -= whole;
        if !self.cwnd_carry.is_finite() {
            // Only reachable with absurd inputs (an infinite target); `as` saturates below.
            self.cwnd_carry = 0.0;
        }
        self.w.cwnd = self.w.cwnd.saturating_add(whole as usize);
    }

    /// Congestion avoidance (RFC 9438 §4.2-§4.5).
    fn congestion_avoidance(&mut self, now: Instant, bytes_acked: usize) {
        let mss = self.w.mss as f64;
        let epoch_start = match self.epoch_start {
            Some(t) => t,
            None => {
                // A new congestion-avoidance stage begins.
                let cwnd = self.w.cwnd as f64;
                if self.after_timeout {
                    // RFC 9438 §4.8: after a timeout, K = 0 and W_max = cwnd at the start of the
                    // stage.
                    self.w_max = cwnd;
                    self.k = 0.0;
                    self.after_timeout = false;
                } else {
                    // RFC 9438 §4.2 eq. (2): K = cbrt((W_max - cwnd_epoch) / C), in segments;
                    // zero if cwnd already exceeds W_max.
                    self.k = ((self.w_max - cwnd).max(0.0) / mss / C).cbrt();
                }
                // RFC 9438 §4.3: W_est starts at cwnd_epoch.
                self.w_est = cwnd;
                self.epoch_start = Some(now);
                now
            }
        };
        let cwnd = self.w.cwnd as f64;
        let acked = bytes_acked as f64;
        let t = (now - epoch_start).total_micros() as f64 / 1e6;
        // RFC 9438 §4.3: W_est += α_cubic * segments_acked / cwnd, with α_cubic = 1 once W_est
        // has reached cwnd_prior.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        self.w_est += alpha * acked * mss / cwnd;
        if self.w_cubic(t) < self.w_est {
            // RFC 9438 §4.3: Reno-friendly region, cwnd = W_est.
            self.grow(self.w_est - cwnd);
            return;
        }
        // RFC 9438 §4.2: target = W_cubic(t + RTT), bounded to [cwnd, 1.5 cwnd]; §4.4/§4.5: cwnd
        // grows by (target - cwnd) / cwnd per acknowledged segment (concave or convex region).
        let rtt = self.rtt.total_micros() as f64 / 1e6;
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        self.grow((target - cwnd) * acked / cwnd);
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn window(&self) -> &Window {
        &self.w
    }

    fn window_mut(&mut self) -> &mut Window {
        &mut self.w
    }

    fn on_ack(&mut self, now: Instant, bytes_acked: usize, rtt: Option<Duration>) {
        if let Some(rtt) = rtt {
            self.rtt = rtt;
        }
        // RFC 9438 §4.10 / RFC 5681 §3.1: slow start below ssthresh, with RFC 3465 L = 2*SMSS
        // (and HyStart++, RFC 9438 §4.10).
        match self.w.slow_start(bytes_acked, rtt) {
            Some(rest) if rest > 0 => self.congestion_avoidance(now, rest),
            _ => {}
        }
    }

    fn on_enter_recovery(&mut self, _now: Instant, flight_size: usize) {
        self.congestion_event();
        // RFC 9438 §4.6: ssthresh = max(FlightSize * β_cubic, 2 SMSS); RFC 5681 §3.2 step 3
        // inflation, as the connection runs RFC 6582 fast recovery.
        self.w.enter_recovery(self.reduced_ssthresh(flight_size));
        self.after_timeout = false;
        log::debug!(
            "fast recovery: flight {flight_size} ssthresh {} cwnd {} w_max {:.0}",
            self.w.ssthresh,
            self.w.cwnd,
            self.w_max
        );
    }

    fn on_exit_recovery(&mut self, flight_size: usize) {
        self.w.exit_recovery(flight_size);
        self.cwnd_carry = 0.0;
        self.epoch_start = None;
    }

    fn on_rto(&mut self, _now: Instant, flight_size: usize) {
        // RFC 9438 §4.8: ssthresh is set with β_cubic as in §4.6 (held on a repeated timeout,
        // RFC 5681 §3.1); cwnd = loss window = 1 SMSS.
        let prior = self.w.cwnd as f64;
        if self.w.on_rto(self.reduced_ssthresh(flight_size)) {
            self.cwnd_prior = prior;
        }
        self.cwnd_carry = 0.0;
        self.epoch_start = None;
        self.after_timeout = true;
        log::debug!(
            "retransmission timeout: flight {flight_size} ssthresh {} cwnd {}",
            self.w.ssthresh,
            self.w.cwnd
        );
    }

    fn set_mss(&mut self, mss: usize) {
        self.w.set_mss(mss);
        // K depends on the segment size; recompute it at the next ACK.
        self.epoch_start = None;
    }

    fn on_idle_restart(&mut self) {
        self.w.idle_restart();
        self.cwnd_carry = 0.0;
        // RFC 9438 §5.8: the idle time must not count as growth time; start a new epoch.
        self.epoch_start = None;
    }

    fn boxed_clone(&self) -> Box<dyn CongestionControl> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;

    /// Acknowledges one full window, one segment per ACK, over one RTT starting at `*now`.
    fn round(cc: &mut Cubic, now: &mut Instant, rtt: Duration) {
        let window = cc.cwnd();
        let mut acked = 0;
        while acked < window {
            let n = MSS.min(window - acked);
            cc.on_ack(*now, n, Some(rtt));
            acked += n;
        }
        *now += rtt;
    }

    #[test]
    fn slow_start_matches_reno() {
        let mut cc = Cubic::new(MSS);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cc.cwnd(), 14_600);
        cc.on_ack(Instant::ZERO, 10_000, None);
        assert_eq!(cc.cwnd(), 14_600 + 2 * MSS);
    }

    #[test]
    fn multiplicative_decrease_and_fast_convergence() {
        let mut cc = Cubic::new(MSS);
        cc.w.cwnd = 100 * MSS;
        cc.on_enter_recovery(Instant::ZERO, 100 * MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        assert_eq!(cc.cwnd(), 73 * MSS);
        assert_eq!(cc.w_max, (100 * MSS) as f64);
        cc.on_exit_recovery(100 * MSS);
        assert_eq!(cc.cwnd(), 70 * MSS);
        // A second loss below the previous W_max: W_max = 70 * (1 + 0.7) / 2 = 59.5 segments.
        cc.on_enter_recovery(Instant::ZERO, 70 * MSS);
        assert!((cc.w_max - 59.5 * MSS as f64).abs() < 1.0);
        assert_eq!(cc.ssthresh(), 49 * MSS);
    }

    #[test]
    fn cubic_growth_plateaus_at_w_max_then_probes() {
        let mut cc = Cubic::new(MSS);
        cc.w.cwnd = 100 * MSS;
        cc.on_enter_recovery(Instant::ZERO, 100 * MSS);
        cc.on_exit_recovery(100 * MSS);
        // Long RTT so that the cubic function, not the Reno-friendly one, governs.
        let rtt = Duration::from_millis(100);
        let mut now = Instant::ZERO;
        round(&mut cc, &mut now, rtt);
        // K = cbrt(30 / 0.4) ≈ 4.22 s.
        assert!((cc.k - 75f64.cbrt()).abs() < 1e-9);
        // Concave: fast at first, then slowing near W_max.
        let mut prev = cc.cwnd();
        let mut first_gain = 0;
        for i in 0..40 {
            round(&mut cc, &mut now, rtt);
            let gain = cc.cwnd() - prev;
            if i == 0 {
                first_gain = gain;
            }
            prev = cc.cwnd();
        }
        let at_k = cc.cwnd();
        assert!(
            (97 * MSS..=101 * MSS).contains(&at_k),
            "cwnd near K: {} segments",
            at_k / MSS
        );
        assert!(first_gain > MSS, "first gain {first_gain}");
        // Convex: past K the window probes beyond W_max, faster and faster.
        for _ in 0..30 {
            round(&mut cc, &mut now, rtt);
        }
        assert!(cc.cwnd() > 110 * MSS, "cwnd {}", cc.cwnd() / MSS);
    }

    #[test]
    fn reno_friendly_region_with_short_rtt() {
        let mut cc = Cubic::new(MSS);
        cc.w.cwnd = 20 * MSS;
        cc.on_enter_recovery(Instant::ZERO, 20 * MSS);
        cc.on_exit_recovery(20 * MSS);
        assert_eq!(cc.cwnd(), 14 * MSS);
        // 1 ms RTT: in 100 RTTs the cubic function barely moves (0.1 s), while W_est grows by
        // α_cubic ≈ 0.53 segment per RTT.
        let rtt = Duration::from_millis(1);
        let mut now = Instant::ZERO;
        for _ in 0..100 {
            round(&mut cc, &mut now, rtt);
        }
        assert!(cc.cwnd() > 25 * MSS, "cwnd {}", cc.cwnd() / MSS);
    }

    #[test]
    fn timeout_then_k_zero() {
        let mut cc = Cubic::new(MSS);
        cc.w.cwnd = 100 * MSS;
        cc.on_rto(Instant::ZERO, 100 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        // Repeated timeout of the same segment keeps ssthresh.
        cc.on_rto(Instant::ZERO, MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        let rtt = Duration::from_millis(100);
        let mut now = Instant::ZERO;
        while cc.cwnd() < cc.ssthresh() {
            round(&mut cc, &mut now, rtt);
        }
        round(&mut cc, &mut now, rtt);
        assert_eq!(cc.k, 0.0);
        assert_eq!(cc.w_max, (70 * MSS) as f64);
        let before = cc.cwnd();
        for _ in 0..10 {
            round(&mut cc, &mut now, rtt);
        }
        assert!(cc.cwnd() > before);
    }

    #[test]
    fn idle_restart_and_set_mss() {
        let mut cc = Cubic::new(MSS);
        cc.w.cwnd = 50 * MSS;
        cc.on_idle_restart();
        assert_eq!(cc.cwnd(), 14_600);
        cc.on_rto(Instant::ZERO, 4 * MSS);
        cc.set_mss(9_000);
        assert_eq!(cc.cwnd(), 9_000);
        assert_eq!(cc.ssthresh(), 18_000);
    }

    #[test]
    fn never_overflows_or_panics() {
        let mut cc = Cubic::new(usize::MAX);
        let now = Instant::from_micros(u64::MAX);
        cc.on_ack(
            Instant::ZERO,
            usize::MAX,
            Some(Duration::from_micros(u64::MAX)),
        );
        cc.on_ack(now, usize::MAX, None);
        cc.on_enter_recovery(now, usize::MAX);
        cc.on_dup_ack_in_recovery();
        cc.on_partial_ack(usize::MAX);
        cc.on_exit_recovery(usize::MAX);
        cc.on_ack(now, usize::MAX, None);
        cc.on_rto(now, usize::MAX);
        cc.on_idle_restart();
        assert!(cc.cwnd() >= 1);
    }
}
