//! HyStart++ (RFC 9406): leaving slow start before it overshoots.
//!
//! Slow start doubles the window every round trip until a loss, which on a deep-buffered path
//! means a burst of losses. HyStart++ watches the round trip time: when a round's minimum RTT
//! exceeds the previous round's by a threshold (the queue is building), it switches to
//! Conservative Slow Start (growth divided by 4). If the RTT falls back, it was a false alarm and
//! slow start resumes; after 5 CSS rounds it sets ssthresh to cwnd and hands over to congestion
//! avoidance.
//!
//! Rounds: RFC 9406 §4.2 ends a round when SND.UNA passes the SND.NXT of its start. The
//! controller sees bytes, not sequence numbers, so a round here ends when a window's worth of
//! bytes (cwnd at the round's start) has been acknowledged — the same thing for a sender that
//! keeps its window full, as slow start does.

use crate::time::Duration;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
/// CSS growth is divided by this.
pub const CSS_GROWTH_DIVISOR: usize = 4;
const CSS_ROUNDS: u32 = 5;

/// What this ACK's slow-start growth should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Growth {
    /// Standard slow start.
    SlowStart,
    /// Conservative slow start: divide the increase by [`CSS_GROWTH_DIVISOR`].
    Conservative,
    /// Leave slow start: ssthresh = cwnd (RFC 9406 §4.2, after CSS_ROUNDS).
    Exit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    SlowStart,
    Css { baseline: Duration, rounds: u32 },
}

/// HyStart++ state.
#[derive(Clone, Debug)]
pub struct HyStart {
    enabled: bool,
    phase: Phase,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    samples: u32,
    /// Bytes still to be acknowledged before the current round ends.
    round_left: usize,
}

impl HyStart {
    /// HyStart++ state, on or off.
    pub fn new(enabled: bool) -> HyStart {
        HyStart {
            enabled,
            phase: Phase::SlowStart,
            last_round_min: None,
            current_round_min: None,
            samples: 0,
            round_left: 0,
        }
    }

    /// Whether it is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Turns it on or off.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    /// Whether it is in Conservative Slow Start.
    pub fn in_css(&self) -> bool {
        matches!(self.phase, Phase::Css { .. })
    }

    /// An ACK of `bytes_acked` in slow start, with the latest RTT sample, at window `cwnd`.
    pub fn on_ack(&mut self, bytes_acked: usize, rtt: Option<Duration>, cwnd: usize) -> Growth {
        if !self.enabled {
            return Growth::SlowStart;
        }
        let mut round_ended = false;
        if bytes_acked >= self.round_left {
            // RFC 9406 §4.2: a new round: remember the last round's minimum.
            round_ended = true;
            self.last_round_min = self.current_round_min;
            self.current_round_min = None;
            self.samples = 0;
            self.round_left = cwnd;
        } else {
            self.round_left -= bytes_acked;
        }
        if let Some(r) = rtt {
            self.current_round_min = Some(self.current_round_min.map_or(r, |m| m.min(r)));
            self.samples += 1;
        }
        let enough = self.samples >= N_RTT_SAMPLE;
        match self.phase {
            Phase::SlowStart => {
                if let (true, Some(last), Some(cur)) =
                    (enough, self.last_round_min, self.current_round_min)
                {
                    let thresh = Duration::from_micros(
                        (last.total_micros() / MIN_RTT_DIVISOR)
                            .clamp(MIN_RTT_THRESH.total_micros(), MAX_RTT_THRESH.total_micros()),
                    );
                    if cur >= last + thresh {
                        log::debug!("hystart++: RTT {cur} over {last} + {thresh}: CSS");
                        self.phase = Phase::Css {
                            baseline: cur,
                            rounds: 0,
                        };
                        return Growth::Conservative;
                    }
                }
                Growth::SlowStart
            }
            Phase::Css { baseline, rounds } => {
                if enough && self.current_round_min.is_some_and(|c| c < baseline) {
                    // RFC 9406 §4.2: the RTT fell back: the increase was spurious.
                    log::debug!("hystart++: RTT back below {baseline}: slow start");
                    self.phase = Phase::SlowStart;
                    return Growth::SlowStart;
                }
                let rounds = rounds + u32::from(round_ended);
                if rounds >= CSS_ROUNDS {
                    log::debug!("hystart++: {CSS_ROUNDS} CSS rounds: congestion avoidance");
                    self.phase = Phase::SlowStart;
                    return Growth::Exit;
                }
                self.phase = Phase::Css { baseline, rounds };
                Growth::Conservative
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds one round of `acks` ACKs of 1000 bytes with `rtt`, at cwnd = acks * 1000.
    fn round(h: &mut HyStart, acks: usize, rtt: Duration) -> Vec<Growth> {
        (0..acks)
            .map(|_| h.on_ack(1000, Some(rtt), acks * 1000))
            .collect()
    }

    #[test]
    fn off_is_plain_slow_start() {
        let mut h = HyStart::new(false);
        assert!(!h.enabled());
        round(&mut h, 10, ms(10));
        assert!(round(&mut h, 10, ms(100))
            .iter()
            .all(|g| *g == Growth::SlowStart));
    }

    #[test]
    fn rising_rtt_enters_css_then_exits_after_five_rounds() {
        let mut h = HyStart::new(true);
        assert!(round(&mut h, 10, ms(40))
            .iter()
            .all(|g| *g == Growth::SlowStart));
        // Threshold: clamp(40/8, 4, 16) = 5 ms. 44 ms is not enough.
        assert!(round(&mut h, 10, ms(44))
            .iter()
            .all(|g| *g == Growth::SlowStart));
        // 50 ms >= 44 + 5.5 → CSS after the 8th sample.
        let g = round(&mut h, 10, ms(50));
        assert_eq!(g[6], Growth::SlowStart);
        assert_eq!(g[7], Growth::Conservative);
        assert!(h.in_css());
        let mut exit = false;
        for _ in 0..6 {
            exit |= round(&mut h, 10, ms(60)).contains(&Growth::Exit);
        }
        assert!(exit);
        assert!(!h.in_css());
    }

    #[test]
    fn rtt_falling_back_resumes_slow_start() {
        let mut h = HyStart::new(true);
        round(&mut h, 10, ms(20));
        round(&mut h, 10, ms(30));
        assert!(h.in_css());
        let g = round(&mut h, 10, ms(25));
        assert!(g.contains(&Growth::SlowStart));
        assert!(!h.in_css());
    }

    #[test]
    fn without_rtt_samples_nothing_changes() {
        let mut h = HyStart::new(true);
        for _ in 0..100 {
            assert_eq!(h.on_ack(1000, None, 10_000), Growth::SlowStart);
        }
    }
}
