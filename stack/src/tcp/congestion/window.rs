//! The window every controller keeps, and the steps of RFC 5681 / RFC 6582 that NewReno and
//! CUBIC share: slow start with RFC 3465 byte counting, the fast-recovery inflation and
//! deflation, the exit, the loss window after a timeout, the idle restart. Written once here;
//! each algorithm adds only its own congestion avoidance and its own ssthresh reduction.

use super::hystart::{Growth, HyStart, CSS_GROWTH_DIVISOR};
use super::{initial_window, INITIAL_SSTHRESH};
use crate::time::Duration;

/// cwnd and ssthresh in bytes, with the sender's MSS.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Sender maximum segment size (SMSS), bytes; never zero.
    pub(crate) mss: usize,
    /// Congestion window, bytes; never below one SMSS.
    pub(crate) cwnd: usize,
    /// Slow-start threshold, bytes.
    pub(crate) ssthresh: usize,
    /// A retransmission timeout happened and no new data has been acknowledged since, so a further
    /// timeout is for a segment the timer already retransmitted (RFC 5681 §3.1, see `on_rto`).
    timed_out: bool,
    /// HyStart++ (RFC 9406) for the initial slow start.
    pub(crate) hystart: HyStart,
}

impl Window {
    /// The RFC 6928 initial window and an "arbitrarily high" ssthresh (RFC 5681 §3.1). An `mss`
    /// of 0 is treated as 1.
    pub(crate) fn new(mss: usize) -> Window {
        let mss = mss.max(1);
        Window {
            mss,
            // RFC 5681 §3.1 / RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
            cwnd: initial_window(mss),
            // RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high (e.g.,
            // to the size of the largest possible advertised window)". Half of usize::MAX keeps
            // every addition below overflow.
            ssthresh: INITIAL_SSTHRESH,
            timed_out: false,
            hystart: HyStart::new(true),
        }
    }

    /// New data was acknowledged outside recovery: slow start while cwnd < ssthresh (RFC 5681
    /// §3.1 with RFC 3465 §2.2, L = 2*SMSS: cwnd += min(N, L)), with HyStart++ (RFC 9406) during
    /// the initial slow start (ssthresh still "arbitrarily high"). `rtt` is the latest RTT sample.
    /// Returns the bytes left for congestion avoidance: all of them at or above ssthresh (at
    /// equality either may be used, and we use congestion avoidance), none while slow start
    /// absorbs them, and what the ACK covered beyond ssthresh when slow start reaches it (as Linux
    /// does, rather than overshooting). None: nothing was acknowledged.
    pub(crate) fn slow_start(
        &mut self,
        bytes_acked: usize,
        rtt: Option<Duration>,
    ) -> Option<usize> {
        if bytes_acked == 0 {
            return None;
        }
        // New data was acknowledged: a later timeout is for a segment not yet timed out.
        self.timed_out = false;
        if self.cwnd >= self.ssthresh {
            return Some(bytes_acked);
        }
        let growth = if self.ssthresh == INITIAL_SSTHRESH {
            self.hystart.on_ack(bytes_acked, rtt, self.cwnd)
        } else {
            Growth::SlowStart
        };
        if growth == Growth::Exit {
            // RFC 9406 §4.2: after CSS_ROUNDS, ssthresh = cwnd; the rest is congestion avoidance.
            self.ssthresh = self.cwnd;
            return Some(bytes_acked);
        }
        let mut increase = bytes_acked.min(self.mss.saturating_mul(2));
        if growth == Growth::Conservative {
            // RFC 9406 §4.2: CSS grows by bytes_acked / CSS_GROWTH_DIVISOR.
            increase = (increase / CSS_GROWTH_DIVISOR).max(1);
        }
        let room = self.ssthresh - self.cwnd;
        if increase <= room {
            self.cwnd += increase;
            return Some(0);
        }
        self.cwnd = self.ssthresh;
        Some(bytes_acked - room)
    }

    /// Entering fast recovery with the algorithm's reduced `ssthresh` (RFC 5681 §3.2 step 2,
    /// RFC 6582 §3.2 step 2); RFC 5681 §3.2 step 3: cwnd = ssthresh + 3*SMSS, inflated by the
    /// three segments that left the network and triggered the duplicate ACKs.
    pub(crate) fn enter_recovery(&mut self, ssthresh: usize) {
        self.ssthresh = ssthresh;
        self.cwnd = self.ssthresh.saturating_add(self.mss.saturating_mul(3));
        self.timed_out = false;
    }

    /// RFC 5681 §3.2 step 4: cwnd += SMSS for each additional duplicate ACK.
    pub(crate) fn dup_ack_in_recovery(&mut self) {
        self.cwnd = self.cwnd.saturating_add(self.mss);
    }

    /// RFC 6582 §3.2 step 5: "deflate the congestion window by the amount of new data
    /// acknowledged by the Cumulative Acknowledgment field. If the partial ACK acknowledges at
    /// least one SMSS of new data, then add back SMSS bytes to the congestion window."
    pub(crate) fn partial_ack(&mut self, bytes_acked: usize) {
        let mut cwnd = self.cwnd.saturating_sub(bytes_acked);
        if bytes_acked >= self.mss {
            cwnd = cwnd.saturating_add(self.mss);
        }
        // Never below one segment, or the retransmission step 5 requires could not be sent.
        self.cwnd = cwnd.max(self.mss);
    }

    /// RFC 6582 §3.2 step 6, option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS),
    /// which avoids a burst when little data is outstanding.
    pub(crate) fn exit_recovery(&mut self, flight_size: usize) {
        let cwnd = self
            .ssthresh
            .min(flight_size.max(self.mss).saturating_add(self.mss));
        self.cwnd = cwnd.max(self.mss);
    }

    /// Retransmission timeout, with the algorithm's reduced `ssthresh`.
    ///
    /// RFC 5681 §3.1: if the segment that timed out "has already been retransmitted by way of the
    /// retransmission timer at least once, the value of ssthresh is held constant". That shows as
    /// a second timeout with no new data acknowledged in between, so repeated timeouts (after
    /// which FlightSize may be tiny) do not keep shrinking ssthresh. Then cwnd = the loss window,
    /// LW = 1 full-sized segment. Returns whether ssthresh was set (a first timeout).
    pub(crate) fn on_rto(&mut self, ssthresh: usize) -> bool {
        let first = !self.timed_out;
        if first {
            self.ssthresh = ssthresh;
        }
        self.cwnd = self.mss;
        self.timed_out = true;
        first
    }

    /// The sender's MSS changed: cwnd stays in bytes, but the sender must always be able to send
    /// one full segment; RFC 5681 §3.1 eq. (4) never lets ssthresh fall below 2*SMSS.
    pub(crate) fn set_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
        self.cwnd = self.cwnd.max(self.mss);
        self.ssthresh = self.ssthresh.max(self.mss.saturating_mul(2));
    }

    /// RFC 5681 §4.1: after an idle period longer than an RTO, cwnd = RW = min(IW, cwnd), with IW
    /// from RFC 6928 §2 for the current SMSS.
    pub(crate) fn idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.mss)).max(self.mss);
    }
}
