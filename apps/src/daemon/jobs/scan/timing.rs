//! How fast a scan goes: nmap's timing templates (`-T0` … `-T5`), its round-trip estimator
//! and its congestion window of outstanding probes, written after nmap's own description
//! (Nmap Network Scanning, ch. 6, "Timing Templates", table 6.3, and "Scan Code and
//! Algorithms": the RTT estimate after RFC 6298, a window that grows by one per answer in slow
//! start and by 1/cwnd after, halved when a retransmission is answered — evidence that the
//! first try was dropped).

use std::time::{Duration, Instant};

/// The timing parameters of one template, as nmap's table gives them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// The template's number (0 paranoid … 5 insane).
    pub level: u8,
    /// `--initial-rtt-timeout`: a probe's timeout before any round trip was measured.
    pub initial_rtt_timeout: Duration,
    /// `--min-rtt-timeout`.
    pub min_rtt_timeout: Duration,
    /// `--max-rtt-timeout`.
    pub max_rtt_timeout: Duration,
    /// `--max-retries`: retransmissions of an unanswered probe at most.
    pub max_retries: u8,
    /// `--scan-delay`: least time between two probes.
    pub scan_delay: Duration,
    /// `--max-scan-delay` for TCP scans: how far the delay may grow when probes are dropped.
    pub max_tcp_scan_delay: Duration,
    /// The same for UDP scans (rate-limited ICMP errors are what it is for).
    pub max_udp_scan_delay: Duration,
    /// `--max-parallelism`: most probes outstanding (None: the window decides).
    pub max_parallelism: Option<usize>,
    /// `--max-rate`, probes per second (None: no cap).
    pub max_rate: Option<f64>,
}

impl Timing {
    /// Template `-T<level>` (levels above 5 are 5). Table 6.3 of Nmap Network Scanning:
    ///
    /// | | T0 | T1 | T2 | T3 | T4 | T5 |
    /// |---|---|---|---|---|---|---|
    /// | initial RTT timeout | 5 min | 15 s | 1 s | 1 s | 500 ms | 250 ms |
    /// | min RTT timeout | 100 ms | 100 ms | 100 ms | 100 ms | 100 ms | 50 ms |
    /// | max RTT timeout | 5 min | 15 s | 10 s | 10 s | 1250 ms | 300 ms |
    /// | max retries | 10 | 10 | 10 | 10 | 6 | 2 |
    /// | scan delay | 5 min | 15 s | 400 ms | 0 | 0 | 0 |
    /// | max TCP scan delay | 5 min | 15 s | 1 s | 1 s | 10 ms | 5 ms |
    /// | max UDP scan delay | 5 min | 15 s | 1 s | 1 s | 1 s | 1 s |
    /// | max parallelism | 1 | 1 | dynamic | dynamic | dynamic | dynamic |
    pub fn template(level: u8) -> Timing {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let (init, min, max, retries, delay, par) = match level {
            0 => (s(300), ms(100), s(300), 10, s(300), Some(1)),
            1 => (s(15), ms(100), s(15), 10, s(15), Some(1)),
            2 => (s(1), ms(100), s(10), 10, ms(400), None),
            3 => (s(1), ms(100), s(10), 10, ms(0), None),
            4 => (ms(500), ms(100), ms(1250), 6, ms(0), None),
            _ => (ms(250), ms(50), ms(300), 2, ms(0), None),
        };
        let (max_tcp, max_udp) = match level {
            0 => (s(300), s(300)),
            1 => (s(15), s(15)),
            2 | 3 => (s(1), s(1)),
            4 => (ms(10), s(1)),
            _ => (ms(5), s(1)),
        };
        Timing {
            level: level.min(5),
            initial_rtt_timeout: init,
            min_rtt_timeout: min,
            max_rtt_timeout: max,
            max_retries: retries,
            scan_delay: delay,
            max_tcp_scan_delay: max_tcp,
            max_udp_scan_delay: max_udp,
            max_parallelism: par,
            max_rate: None,
        }
    }

    /// The least time between two probes: the scan delay, or one over `--max-rate`.
    pub fn interval(&self) -> Duration {
        let rate = self
            .max_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64((1.0 / r).min(3600.0)))
            .unwrap_or_default();
        self.scan_delay.max(rate)
    }
}

/// The round-trip estimate and the timeout it gives (nmap's `timing.cc`, RFC 6298's shape).
#[derive(Clone, Copy, Debug)]
pub struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    min: Duration,
    max: Duration,
    initial: Duration,
}

impl Rtt {
    /// Before any sample: the template's initial timeout.
    pub fn new(t: &Timing) -> Rtt {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            min: t.min_rtt_timeout,
            max: t.max_rtt_timeout.max(t.min_rtt_timeout),
            initial: t.initial_rtt_timeout,
        }
    }

    /// Takes one measured round trip (only of an answer that names its try: Karn's rule).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            // RFC 6298 §2.2, with nmap's floor of 5 ms on the first variance and a ceiling of
            // 2 s, so one fast first answer does not make the timeout tiny.
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt.clamp(Duration::from_millis(5), Duration::from_secs(2));
            }
            // RFC 6298 §2.3: alpha 1/8, beta 1/4.
            Some(srtt) => {
                let delta = rtt.abs_diff(srtt);
                let srtt = srtt - srtt / 8 + rtt / 8;
                self.rttvar = self.rttvar - self.rttvar / 4 + delta / 4;
                self.srtt = Some(srtt);
            }
        }
    }

    /// The smoothed round trip, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// How long a probe waits for its answer: srtt + 4·rttvar within the template's bounds;
    /// the initial timeout before any sample.
    pub fn timeout(&self) -> Duration {
        match self.srtt {
            None => self.initial.clamp(self.min, self.max),
            Some(s) => (s + self.rttvar * 4).clamp(self.min, self.max),
        }
    }
}

/// nmap's default largest window (`max_cwnd`), and the bound of the pending-probe table.
pub const MAX_WINDOW: usize = 300;

/// The window of outstanding probes (nmap's `ultra_timing_vals`).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    cwnd: f64,
    ssthresh: f64,
    low: f64,
    high: f64,
}

impl Window {
    /// nmap's start: a window of 10 (within the parallelism bounds), slow start up to 75.
    pub fn new(t: &Timing) -> Window {
        let high = t.max_parallelism.unwrap_or(MAX_WINDOW).clamp(1, MAX_WINDOW) as f64;
        Window {
            cwnd: 10f64.min(high),
            ssthresh: 75.0,
            low: 1.0,
            high,
        }
    }

    /// Probes that may be outstanding now.
    pub fn allowed(&self) -> usize {
        (self.cwnd.floor() as usize).max(1)
    }

    /// An answer came: grow by one in slow start, by 1/cwnd in congestion avoidance.
    pub fn on_answer(&mut self) {
        let inc = if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = (self.cwnd + inc).min(self.high);
    }

    /// A probe was dropped (a retransmission was answered): halve what was in flight.
    pub fn on_drop(&mut self, in_flight: usize) {
        let half = in_flight as f64 / 2.0;
        self.cwnd = half.max(self.low).min(self.high);
        self.ssthresh = half.max(2.0);
    }
}

/// When the next probe may leave, given the last one and the least interval.
pub fn next_send(last: Option<Instant>, interval: Duration) -> Option<Instant> {
    last.filter(|_| !interval.is_zero()).map(|l| l + interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_nmaps_table() {
        let t4 = Timing::template(4);
        assert_eq!(t4.max_rtt_timeout, Duration::from_millis(1250));
        assert_eq!(t4.min_rtt_timeout, Duration::from_millis(100));
        assert_eq!(t4.initial_rtt_timeout, Duration::from_millis(500));
        assert_eq!(t4.max_retries, 6);
        let t5 = Timing::template(5);
        assert_eq!((t5.max_retries, t5.max_rtt_timeout.as_millis()), (2, 300));
        let t0 = Timing::template(0);
        assert_eq!(t0.scan_delay, Duration::from_secs(300));
        assert_eq!(t0.max_parallelism, Some(1));
        assert_eq!(Timing::template(2).scan_delay, Duration::from_millis(400));
        assert_eq!(t4.max_tcp_scan_delay, Duration::from_millis(10));
        assert_eq!(t4.max_udp_scan_delay, Duration::from_secs(1));
        assert_eq!(
            Timing::template(3).initial_rtt_timeout,
            Duration::from_secs(1)
        );
        assert_eq!(Timing::template(9).level, 5);
    }

    #[test]
    fn rtt_timeout_follows_samples_within_bounds() {
        let t = Timing::template(4);
        let mut r = Rtt::new(&t);
        assert_eq!(r.timeout(), Duration::from_millis(500));
        r.sample(Duration::from_micros(300));
        // srtt 0.3 ms, rttvar floored at 5 ms → 20.3 ms, below the 100 ms floor.
        assert_eq!(r.timeout(), Duration::from_millis(100));
        for _ in 0..50 {
            r.sample(Duration::from_secs(2));
        }
        assert_eq!(r.timeout(), Duration::from_millis(1250));
        assert!(r.srtt().unwrap() > Duration::from_millis(1900));
    }

    #[test]
    fn window_grows_on_answers_and_halves_on_drops() {
        let t = Timing::template(3);
        let mut w = Window::new(&t);
        assert_eq!(w.allowed(), 10);
        for _ in 0..5 {
            w.on_answer();
        }
        assert_eq!(w.allowed(), 15);
        w.on_drop(14);
        assert_eq!(w.allowed(), 7);
        for _ in 0..100_000 {
            w.on_answer();
        }
        assert_eq!(w.allowed(), MAX_WINDOW);
        let serial = Window::new(&Timing::template(1));
        assert_eq!(serial.allowed(), 1);
    }

    #[test]
    fn rate_and_delay_space_probes() {
        let mut t = Timing::template(4);
        assert_eq!(t.interval(), Duration::ZERO);
        t.max_rate = Some(100.0);
        assert_eq!(t.interval(), Duration::from_millis(10));
        t.max_rate = Some(f64::NAN);
        assert_eq!(t.interval(), Duration::ZERO);
        let now = Instant::now();
        assert_eq!(next_send(Some(now), Duration::ZERO), None);
        assert_eq!(
            next_send(Some(now), Duration::from_millis(5)),
            Some(now + Duration::from_millis(5))
        );
    }
}
