//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! [`RttEstimator`] keeps SRTT and RTTVAR from RTT samples and derives the RTO, with exponential
//! backoff on retransmission timeouts. All arithmetic is integer microseconds.
//!
//! What the estimator does *not* do, because only the connection knows enough:
//! - Karn's algorithm (RFC 6298 §3): never feed a sample taken from a retransmitted segment, unless
//!   it comes from an unambiguous timestamp echo (RFC 7323 §4).
//! - RFC 6298 §5.7: if a SYN timed out and the RTO is below 3 s, re-initialise the RTO to 3 s when
//!   data transfer begins (build a fresh estimator with a 3 s initial RTO).
//!
//! ustack deliberately departs from RFC 6298 §2.4 (a 1 s minimum RTO): the minimum comes from
//! `Config` and defaults to 200 ms, like Linux.

use crate::time::Duration;

/// Clock granularity G of RFC 6298 §2: our clock has microsecond resolution, but timers are not
/// expected to fire more precisely than a millisecond, so 1 ms is the floor of the variance term.
const CLOCK_GRANULARITY_US: u64 = 1_000;

/// K of RFC 6298 §2: the weight of RTTVAR in the RTO.
const K: u64 = 4;

/// The RTT estimator and retransmission timer value of one connection (RFC 6298).
#[derive(Clone, Debug)]
pub struct RttEstimator {
    /// Smoothed round-trip time, µs; `None` before the first sample.
    srtt: Option<u64>,
    /// Round-trip time variation, µs; `None` before the first sample.
    rttvar: Option<u64>,
    /// The RTO before backoff, µs, already clamped to `[min_rto, max_rto]`.
    base_rto: u64,
    /// Lower bound on the RTO, µs.
    min_rto: u64,
    /// Upper bound on the RTO (backoff included), µs.
    max_rto: u64,
    /// How many times the timer has been backed off since the last reset.
    backoff: u32,
}

impl RttEstimator {
    /// An estimator with no samples yet.
    ///
    /// `initial_rto` is normally 1 s (RFC 6298 §2.1). `min_rto` comes from `Config` (ustack's
    /// default is 200 ms like Linux — this deliberately departs from RFC 6298 §2.4's 1 s).
    /// `max_rto` is normally 60 s (RFC 6298 §2.5 allows any maximum of at least 60 s). If
    /// `min_rto > max_rto`, `max_rto` wins.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let max_rto = max_rto.total_micros();
        let min_rto = min_rto.total_micros().min(max_rto);
        RttEstimator {
            srtt: None,
            rttvar: None,
            base_rto: clamp(initial_rto.total_micros(), min_rto, max_rto),
            min_rto,
            max_rto,
            backoff: 0,
        }
    }

    /// Takes a new RTT measurement `rtt`.
    ///
    /// Karn's rule is the caller's job: never sample a retransmitted segment unless the sample
    /// comes from a timestamp echo. A new sample collapses any backoff (RFC 6298 §5, the note
    /// after (5.7)).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.total_micros();
        let (srtt, rttvar) = match (self.srtt, self.rttvar) {
            (Some(srtt), Some(rttvar)) => {
                // RFC 6298 §2.3, with alpha = 1/8 and beta = 1/4, RTTVAR updated before SRTT:
                //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
                //   SRTT   <- (1 - alpha) * SRTT + alpha * R'
                // Computed in u128 so that absurd samples cannot overflow.
                let rttvar = (3 * rttvar as u128 + srtt.abs_diff(r) as u128) / 4;
                let srtt = (7 * srtt as u128 + r as u128) / 8;
                (saturate(srtt), saturate(rttvar))
            }
            // RFC 6298 §2.2: the first measurement R sets SRTT <- R, RTTVAR <- R/2.
            _ => (r, r / 2),
        };
        self.srtt = Some(srtt);
        self.rttvar = Some(rttvar);
        // RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K * RTTVAR).
        let rto = srtt.saturating_add(CLOCK_GRANULARITY_US.max(rttvar.saturating_mul(K)));
        // RFC 6298 §2.4 (with ustack's configurable minimum) and §2.5 (the maximum).
        self.base_rto = clamp(rto, self.min_rto, self.max_rto);
        // RFC 6298 §5, note after (5.7): a new measurement after backing off recomputes the RTO
        // from §2, "collapsing" the backoff.
        self.backoff = 0;
    }

    /// The current RTO including exponential backoff, capped at the maximum RTO.
    pub fn rto(&self) -> Duration {
        // RFC 6298 §5.5: RTO <- RTO * 2 per backoff; §2.5: the maximum bounds the doubling.
        let rto = if self.backoff >= u64::BITS {
            self.max_rto
        } else {
            self.base_rto
                .saturating_mul(1u64 << self.backoff)
                .min(self.max_rto)
        };
        Duration::from_micros(rto)
    }

    /// Backs the timer off after a retransmission timeout: doubles the RTO (RFC 6298 §5.5), up to
    /// the maximum RTO. The count keeps growing past the cap, so callers can use it to give up.
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Forgets the backoff, returning the RTO to the value computed from the estimates.
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// How many times the timer was backed off since the last reset (or sample).
    #[cfg(test)]
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// The smoothed round-trip time (SRTT), if any sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_micros)
    }

    /// The round-trip time variation (RTTVAR), if any sample was taken.
    pub fn rttvar(&self) -> Option<Duration> {
        self.rttvar.map(Duration::from_micros)
    }
}

/// `value` bounded to `[min, max]`; `max` wins if they cross (never panics, unlike `Ord::clamp`).
fn clamp(value: u64, min: u64, max: u64) -> u64 {
    value.max(min).min(max)
}

/// A `u128` brought back to `u64`, saturating.
fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn linux_like() -> RttEstimator {
        RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60))
    }

    #[test]
    fn initial_rto_before_samples() {
        let e = linux_like();
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), None);
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn first_sample() {
        let mut e = linux_like();
        e.sample(ms(100));
        // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4 * 50 = 300 ms.
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn second_sample_follows_section_2_3() {
        let mut e = linux_like();
        e.sample(ms(100));
        e.sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 37.5 + 25 = 62.5 ms (old SRTT used).
        // SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms.
        assert_eq!(e.rttvar(), Some(Duration::from_micros(62_500)));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn converges_on_a_steady_rtt() {
        let mut e = RttEstimator::new(Duration::from_secs(1), ms(1), Duration::from_secs(60));
        e.sample(ms(500));
        for _ in 0..200 {
            e.sample(ms(80));
        }
        let srtt = e.srtt().unwrap().total_micros();
        assert!((79_990..=80_010).contains(&srtt), "srtt {srtt}");
        // RTTVAR decays towards 0, so the clock granularity G = 1 ms takes over.
        assert!(e.rttvar().unwrap() < Duration::from_micros(100));
        let rto = e.rto().total_micros();
        assert!((80_990..=81_500).contains(&rto), "rto {rto}");
    }

    #[test]
    fn min_rto_clamps() {
        let mut e = linux_like();
        for _ in 0..100 {
            e.sample(ms(1));
        }
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn max_rto_clamps() {
        let mut e = linux_like();
        e.sample(Duration::from_secs(50));
        // 50 s + 4 * 25 s = 150 s, capped at 60 s.
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.sample(Duration::from_micros(u64::MAX));
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn initial_rto_is_clamped_too() {
        let e = RttEstimator::new(ms(100), ms(200), Duration::from_secs(60));
        assert_eq!(e.rto(), ms(200));
        let e = RttEstimator::new(Duration::from_secs(90), ms(200), Duration::from_secs(60));
        assert_eq!(e.rto(), Duration::from_secs(60));
        // Crossed bounds: the maximum wins rather than panicking.
        let e = RttEstimator::new(Duration::from_secs(1), ms(900), ms(500));
        assert_eq!(e.rto(), ms(500));
    }

    #[test]
    fn backoff_doubles_and_caps_at_60s() {
        let mut e = linux_like();
        let expected = [1, 2, 4, 8, 16, 32, 60, 60];
        for (i, secs) in expected.iter().enumerate() {
            assert_eq!(e.backoff_count(), i as u32);
            assert_eq!(e.rto(), Duration::from_secs(*secs));
            e.backoff();
        }
        for _ in 0..200 {
            e.backoff();
        }
        assert_eq!(e.backoff_count(), 208);
        assert_eq!(e.rto(), Duration::from_secs(60));
    }

    #[test]
    fn reset_backoff_restores_base() {
        let mut e = linux_like();
        e.sample(ms(100));
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(1200));
        e.reset_backoff();
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn new_sample_collapses_backoff() {
        let mut e = linux_like();
        e.backoff();
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), Duration::from_secs(8));
        e.sample(ms(100));
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn zero_sample_uses_granularity_and_min() {
        let mut e = RttEstimator::new(
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::from_secs(60),
        );
        e.sample(Duration::ZERO);
        // RTO = 0 + max(G, 0) = 1 ms.
        assert_eq!(e.rto(), ms(1));
    }
}
