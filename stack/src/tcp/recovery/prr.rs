//! Proportional Rate Reduction (RFC 6937): how much may be sent on each ACK during recovery.
//!
//! Instead of halving the window at once (a silent half RTT, then a burst) PRR spreads the
//! reduction over the recovery round trip: while the pipe is above ssthresh it sends
//! `ssthresh / RecoverFS` of what was delivered; once the pipe fell below (more losses) it
//! slow-starts back towards ssthresh, bounded by the SSRB rule (§3.1: at most one MSS beyond what
//! was delivered per ACK). At the end of recovery cwnd is ssthresh.

/// PRR state for one recovery episode (RFC 6937 §3).
#[derive(Clone, Copy, Debug, Default)]
pub struct Prr {
    /// `RecoverFS`: the flight when recovery began, bytes.
    recover_fs: usize,
    /// `prr_delivered`: bytes delivered to the receiver since recovery began.
    delivered: usize,
    /// `prr_out`: bytes sent since recovery began.
    out: usize,
    /// The target window (ssthresh of the controller), bytes.
    ssthresh: usize,
    /// `sndcnt` left from the latest ACK, bytes.
    budget: usize,
}

impl Prr {
    /// Recovery begins with `flight` bytes outstanding and the reduced `ssthresh`.
    pub fn start(flight: usize, ssthresh: usize) -> Prr {
        Prr {
            recover_fs: flight.max(1),
            delivered: 0,
            out: 0,
            ssthresh,
            budget: 0,
        }
    }

    /// RFC 6937 §3 "on every ACK during recovery": `delivered` bytes newly acknowledged or
    /// SACKed, `pipe` the bytes still in the network (RFC 6675), `mss` the sender's MSS.
    /// Returns `sndcnt`, the bytes that may be sent now.
    pub fn on_ack(&mut self, delivered: usize, pipe: usize, mss: usize) -> usize {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > self.ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let target =
                (self.delivered as u128 * self.ssthresh as u128).div_ceil(self.recover_fs as u128);
            usize::try_from(target)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.out)
        } else {
            // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS.
            let limit = self
                .delivered
                .saturating_sub(self.out)
                .max(delivered)
                .saturating_add(mss);
            (self.ssthresh - pipe).min(limit)
        };
        // RFC 6937bis: the first ACK of recovery always lets the fast retransmit out.
        self.budget = if self.out == 0 {
            sndcnt.max(mss)
        } else {
            sndcnt
        };
        self.budget
    }

    /// Whether a segment may go out now.
    pub fn may_send(&self) -> bool {
        self.budget > 0
    }

    /// `bytes` were (re)transmitted (RFC 6937 §3 `prr_out += data_sent`).
    pub fn on_sent(&mut self, bytes: usize) {
        self.out = self.out.saturating_add(bytes);
        self.budget = self.budget.saturating_sub(bytes);
    }

    /// The window at the end of recovery (RFC 6937 §3: cwnd = ssthresh).
    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn rfc6937_example_one_loss_halving_spreads_over_the_round() {
        // RFC 6937 §4-style: 20 segments in flight, one lost, ssthresh 10 segments.
        let mut p = Prr::start(20 * MSS, 10 * MSS);
        // First ACK (a SACK of one segment): pipe 18 segments > ssthresh. Proportional share of
        // one delivered segment is half a segment, but the fast retransmit must go out.
        assert_eq!(p.on_ack(MSS, 18 * MSS, MSS), MSS);
        p.on_sent(MSS);
        // Second ACK: delivered 2, target ceil(2 * 10/20) = 1 segment, already sent 1.
        assert_eq!(p.on_ack(MSS, 18 * MSS, MSS), 0);
        assert!(!p.may_send());
        // Third: target ceil(3 * 10/20) = 2 segments: one more half... 1.5 rounds up to 1500.
        assert_eq!(p.on_ack(MSS, 17 * MSS, MSS), 500);
        p.on_sent(500);
        // Over the whole round, half of what was delivered goes out: 10 of 20 segments.
        let mut sent = 1500;
        for _ in 0..17 {
            let n = p.on_ack(MSS, 16 * MSS, MSS);
            p.on_sent(n);
            sent += n;
        }
        assert_eq!(sent, 10 * MSS);
        assert_eq!(p.ssthresh(), 10 * MSS);
    }

    #[test]
    fn ssrb_slow_starts_back_when_the_pipe_fell_below_ssthresh() {
        let mut p = Prr::start(20 * MSS, 10 * MSS);
        p.on_sent(MSS);
        // Many losses: pipe 4 segments. Delivered 1, so limit = max(1 - 1, 1) + 1 = 2 segments.
        assert_eq!(p.on_ack(MSS, 4 * MSS, MSS), 2 * MSS);
        // Never above ssthresh - pipe.
        assert_eq!(p.on_ack(5 * MSS, 9 * MSS, MSS), MSS);
    }

    #[test]
    fn zero_flight_is_safe() {
        let mut p = Prr::start(0, 2 * MSS);
        assert_eq!(p.on_ack(0, 0, MSS), MSS);
        p.on_sent(MSS);
        // Absurd counts saturate instead of overflowing.
        assert_eq!(p.on_ack(usize::MAX, usize::MAX, MSS), usize::MAX - MSS);
        assert_eq!(p.on_ack(usize::MAX, MSS, MSS), MSS);
    }
}
