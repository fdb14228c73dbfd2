//! Congestion control: the window arithmetic of RFC 5681 behind a trait, and its algorithms.
//!
//! The connection owns loss detection, duplicate-ACK counting and the fast-recovery state machine
//! (RFC 6582 `recover`); it calls the hooks of `CongestionControl` at each event. A controller
//! only keeps `cwnd` and `ssthresh`, in bytes.

mod cubic;
pub mod hystart;
mod newreno;
mod window;

pub(crate) use cubic::Cubic;
pub(crate) use newreno::NewReno;
use window::Window;

use crate::time::{Duration, Instant};

/// Window arithmetic of a congestion controller (RFC 5681).
///
/// The connection owns loss detection and the fast-recovery state machine (RFC 6582); it calls
/// these hooks. All sizes are in bytes. The steps every algorithm shares are [`Window`]'s; the
/// provided methods here are those no algorithm changes.
pub(crate) trait CongestionControl: core::fmt::Debug + Send {
    /// A short name for logs and statistics, e.g. `"newreno"`.
    fn name(&self) -> &'static str;

    /// The shared window state.
    fn window(&self) -> &Window;

    /// The shared window state, to change.
    fn window_mut(&mut self) -> &mut Window;

    /// The congestion window, in bytes.
    fn cwnd(&self) -> usize {
        self.window().cwnd
    }

    /// The slow-start threshold, in bytes.
    fn ssthresh(&self) -> usize {
        self.window().ssthresh
    }

    /// `bytes_acked` new bytes were cumulatively acknowledged outside fast recovery.
    ///
    /// Slow start: `cwnd += min(bytes_acked, 2*SMSS)` (RFC 5681 §3.1 with RFC 3465 L = 2).
    /// Congestion avoidance: cwnd grows by about one SMSS per RTT. `rtt` is the latest RTT sample,
    /// if any (time-based algorithms such as CUBIC need it).
    fn on_ack(&mut self, now: Instant, bytes_acked: usize, rtt: Option<Duration>);

    /// Entering fast recovery on the third duplicate ACK (RFC 5681 §3.2 steps 2-3, RFC 6582 §3.2
    /// step 2): `ssthresh = max(flight_size/2, 2*SMSS)`, `cwnd = ssthresh + 3*SMSS`.
    fn on_enter_recovery(&mut self, now: Instant, flight_size: usize);

    /// Another duplicate ACK during recovery: `cwnd += SMSS` (RFC 5681 §3.2 step 4).
    fn on_dup_ack_in_recovery(&mut self) {
        self.window_mut().dup_ack_in_recovery();
    }

    /// A partial ACK during recovery (RFC 6582 §3.2 step 5): deflate cwnd by `bytes_acked`, then
    /// add back SMSS if `bytes_acked >= SMSS`.
    fn on_partial_ack(&mut self, bytes_acked: usize) {
        self.window_mut().partial_ack(bytes_acked);
    }

    /// Recovery ends with a full ACK (RFC 6582 §3.2 step 6):
    /// `cwnd = min(ssthresh, max(flight_size, SMSS) + SMSS)`.
    fn on_exit_recovery(&mut self, flight_size: usize);

    /// Retransmission timeout (RFC 5681 §3.1 eq. 4 and the "loss window"):
    /// `ssthresh = max(flight_size/2, 2*SMSS)`, `cwnd = 1*SMSS`.
    fn on_rto(&mut self, now: Instant, flight_size: usize);

    /// The sender's MSS changed (e.g. path MTU discovery). cwnd stays in bytes but never falls
    /// below one SMSS.
    fn set_mss(&mut self, mss: usize);

    /// The connection was idle for longer than an RTO (RFC 5681 §4.1): the restart window is
    /// `min(IW, cwnd)`. Called by the sender before it sends again (`restart_after_idle`).
    fn on_idle_restart(&mut self);

    /// Turns HyStart++ (RFC 9406) on or off for the initial slow start.
    fn set_hystart(&mut self, on: bool) {
        self.window_mut().hystart.set_enabled(on);
    }

    /// A copy of the controller's whole state: what an undo restores (RFC 4015 §3.2).
    fn boxed_clone(&self) -> Box<dyn CongestionControl>;
}

/// RFC 5681 §3.1: the initial ssthresh, "arbitrarily high"; half of usize::MAX keeps every
/// addition below overflow.
pub(crate) const INITIAL_SSTHRESH: usize = usize::MAX / 2;

/// Which congestion-control algorithm a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// NewReno: RFC 5681 slow start and congestion avoidance with RFC 6582 fast recovery.
    #[default]
    NewReno,
    /// CUBIC (RFC 9438), with RFC 5681 slow start and RFC 6582 fast recovery.
    Cubic,
}

/// Builds a controller for `mss` whose initial window is [`initial_window`]`(mss)`.
pub(crate) fn new_controller(algorithm: Algorithm, mss: usize) -> Box<dyn CongestionControl> {
    match algorithm {
        Algorithm::NewReno => Box::new(NewReno::new(mss)),
        Algorithm::Cubic => Box::new(Cubic::new(mss)),
    }
}

/// The initial window in bytes, RFC 6928 §2: `min(10*MSS, max(2*MSS, 14600))`.
///
/// RFC 6928 §2 also requires falling back to one segment if the SYN or SYN/ACK was lost; the
/// connection does that (a handshake retransmission timeout reaches `CongestionControl::on_rto`,
/// which sets cwnd to one SMSS).
pub(crate) fn initial_window(mss: usize) -> usize {
    let mss = mss.max(1);
    mss.saturating_mul(10)
        .min(mss.saturating_mul(2).max(14_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6928_initial_window() {
        // 1460-byte MSS: min(14600, max(2920, 14600)) = 14600 (10 segments).
        assert_eq!(initial_window(1460), 14_600);
        // Small MSS: 10 segments.
        assert_eq!(initial_window(536), 5_360);
        // Jumbo MSS: max(2*MSS, 14600) = 2 segments.
        assert_eq!(initial_window(8960), 17_920);
        // In between: 14600 bytes, not a whole number of segments.
        assert_eq!(initial_window(4000), 14_600);
    }

    #[test]
    fn new_controller_builds_newreno() {
        let cc = new_controller(Algorithm::default(), 1460);
        assert_eq!(cc.name(), "newreno");
        assert_eq!(cc.cwnd(), 14_600);
        assert!(cc.ssthresh() >= usize::MAX / 4);
        let cc = new_controller(Algorithm::Cubic, 1460);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cc.cwnd(), 14_600);
    }
}
