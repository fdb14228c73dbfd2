//! The rules for old and out-of-window segments that a held connection (`input.rs`,
//! `sender/ack.rs`) and the compact TIME-WAIT table (`time_wait.rs`) both apply, written once:
//! PAWS with TS.Recent (RFC 7323 §5), the rate-limited ACK that answers an invalid segment
//! (Linux's `tcp_oow_rate_limited`), and the retransmitted FIN in TIME-WAIT with its bounded
//! restarts of the 2×MSL wait (RFC 9293 §3.10.7.4, eighth step).

use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpSegment, TsVal};

/// RFC 7323 §5.5: timestamps older than 24 days are not trusted for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// TS.Recent, the peer's timestamp to echo (RFC 7323 §4.3), with when it was set (PAWS
/// distrusts it after 24 days idle, §5.5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TsRecent {
    /// The timestamp.
    pub(crate) val: TsVal,
    /// When it was set.
    pub(crate) at: Instant,
}

impl TsRecent {
    pub(crate) fn new(val: TsVal, at: Instant) -> TsRecent {
        TsRecent { val, at }
    }

    /// RFC 7323 §5.3 R1: `seg` carries a TSval older than TS.Recent, and TS.Recent is still
    /// trusted (§5.5): the segment is an old duplicate, to drop.
    pub(crate) fn rejects(&self, seg: &TcpSegment<'_>, now: Instant) -> bool {
        seg.options.timestamps.is_some_and(|(tsval, _)| {
            TsVal(tsval).lt(self.val) && now.saturating_since(self.at) < PAWS_IDLE
        })
    }

    /// RFC 7323 §4.3 (2) and §5.3 R3: remember `seg`'s timestamp if it is not older and the
    /// segment covers RCV.NXT (`seg.seq <= rcv_nxt`). Only for a segment that passed every
    /// check, so a segment dropped later cannot move TS.Recent (and make PAWS drop every real
    /// segment after it).
    pub(crate) fn advance(&mut self, seg: &TcpSegment<'_>, rcv_nxt: SeqNumber, now: Instant) {
        if let Some((tsval, _)) = seg.options.timestamps {
            if seg.seq.le(rcv_nxt) && TsVal(tsval).ge(self.val) {
                self.val = TsVal(tsval);
                self.at = now;
            }
        }
    }
}

/// At most one ACK per interval in reply to invalid segments (a PAWS reject, a bare segment out
/// of window, a stray segment in TIME-WAIT), so two hosts cannot ping-pong ACKs forever (Linux's
/// `tcp_oow_rate_limited`, `Config::tcp_invalid_ack_interval`). Data or a FIN out of window is
/// always answered by the callers: it cannot be part of an ACK loop.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AckLimiter {
    /// When the last ACK was allowed.
    last: Option<Instant>,
}

impl AckLimiter {
    /// Whether an ACK may go out at `now`, `interval` after the last one; takes it if so.
    pub(crate) fn allow(&mut self, now: Instant, interval: Duration) -> bool {
        let allowed = self
            .last
            .is_none_or(|at| now.saturating_since(at) >= interval);
        if allowed {
            self.last = Some(now);
        }
        allowed
    }
}

/// RFC 9293 §3.10.7.4 eighth step, TIME-WAIT: `seg` is the peer's FIN again, ending exactly at
/// RCV.NXT — our ACK of it was lost. It is acknowledged and restarts the 2×MSL wait.
pub(crate) fn is_retransmitted_fin(seg: &TcpSegment<'_>, rcv_nxt: SeqNumber) -> bool {
    seg.fin() && !seg.rst() && seg.seq.add(seg.payload.len()).add(1) == rcv_nxt
}

/// A retransmitted FIN restarts the 2×MSL wait at most `limit` times
/// (`Config::tcp_time_wait_max_restarts`), so a peer cannot hold TIME-WAIT forever. Counts the
/// restart in `restarts` and returns whether it may happen.
pub(crate) fn may_restart_time_wait(restarts: &mut u32, limit: u32) -> bool {
    if *restarts < limit {
        *restarts += 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_one_per_interval() {
        let mut l = AckLimiter::default();
        let iv = Duration::from_millis(500);
        assert!(l.allow(Instant::from_millis(1000), iv));
        assert!(!l.allow(Instant::from_millis(1499), iv));
        assert!(l.allow(Instant::from_millis(1500), iv));
        assert!(!l.allow(Instant::from_millis(1500), iv));
    }

    #[test]
    fn restarts_are_bounded() {
        let mut n = 0;
        assert!(may_restart_time_wait(&mut n, 2));
        assert!(may_restart_time_wait(&mut n, 2));
        assert!(!may_restart_time_wait(&mut n, 2));
        assert_eq!(n, 2);
    }
}
