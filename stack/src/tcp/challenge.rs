//! Limits on RFC 5961 challenge ACKs (§7: they MUST be rate-limited).
//!
//! One budget shared by every connection is a side channel (CVE-2016-5696): an off-path attacker
//! counts the challenge ACKs on its own connection and learns whether its spoofed probes hit
//! another. As Linux does, each connection has its own budget (a token bucket in the connection,
//! `Config::tcp_challenge_ack_conn_burst` / `_conn_rate`), and the host-wide cap here is
//! randomized every second in [rate/2, 3·rate/2) so that even its exhaustion cannot be timed.

use crate::config::Config;
use crate::rand::Rng;
use crate::time::Instant;

/// The host-wide, per-second, randomized cap on challenge ACKs.
#[derive(Debug)]
pub(crate) struct ChallengeCap {
    rate: u32,
    second: Option<u64>,
    left: u32,
    rng: Rng,
}

impl ChallengeCap {
    pub(crate) fn new(cfg: &Config) -> Self {
        ChallengeCap {
            rate: cfg.tcp_challenge_ack_rate,
            second: None,
            left: 0,
            // A stream of its own, so the draws say nothing about other random choices.
            rng: Rng::new(&cfg.secret, cfg.seed ^ 0x6368_616c_6c65_6e67),
        }
    }

    /// Takes one challenge ACK from this second's allowance, if any is left.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let second = now.total_micros() / 1_000_000;
        if self.second != Some(second) {
            self.second = Some(second);
            // Linux's tcp_send_challenge_ack: uniform in [half, half + rate − 1].
            let half = self.rate.div_ceil(2);
            let spread = u64::from(self.rate.max(1));
            self.left = if self.rate == 0 {
                0
            } else {
                // Saturating: a rate near u32::MAX ("no cap") must not overflow.
                half.saturating_add((self.rng.next_u64() % spread) as u32)
            };
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_is_within_half_and_one_and_a_half_rate() {
        let cfg = Config {
            tcp_challenge_ack_rate: 100,
            ..Config::default()
        };
        let mut cap = ChallengeCap::new(&cfg);
        let mut seen = Vec::new();
        for s in 0..20u64 {
            let t = Instant::from_millis(s * 1000);
            let n = (0..1000).take_while(|_| cap.take(t)).count();
            assert!((50..150).contains(&n), "second {s}: {n}");
            seen.push(n);
        }
        seen.dedup();
        assert!(seen.len() > 1);
    }

    #[test]
    fn zero_rate_allows_nothing() {
        let cfg = Config {
            tcp_challenge_ack_rate: 0,
            ..Config::default()
        };
        assert!(!ChallengeCap::new(&cfg).take(Instant::from_millis(0)));
    }
}
