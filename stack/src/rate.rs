//! The token bucket every rate limit of the stack uses: ICMP errors (RFC 1812 §4.3.2.8) and each
//! connection's challenge-ACK budget (RFC 5961 §7).

use crate::time::Instant;

/// A token bucket: `rate` tokens per second, at most `burst` stored.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Stored tokens, in millionths (one token = 1_000_000), so refill needs no division.
    micro_tokens: u64,
    rate: u64,
    capacity: u64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate_per_sec: u32, burst: u32, now: Instant) -> Self {
        let capacity = u64::from(burst) * 1_000_000;
        TokenBucket {
            micro_tokens: capacity,
            rate: u64::from(rate_per_sec),
            capacity,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last).total_micros();
        self.last = self.last.max(now);
        self.micro_tokens = self
            .micro_tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity);
        if self.micro_tokens >= 1_000_000 {
            self.micro_tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::from_millis(1000);
        let mut b = TokenBucket::new(10, 3, t0);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(50)));
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(100);
        assert!(b.take(later) && b.take(later) && b.take(later) && !b.take(later));
    }
}
