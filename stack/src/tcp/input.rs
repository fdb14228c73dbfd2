//! Segment arrival: RFC 9293 §3.10.7 step by step, with RFC 5961 (RST and SYN handling),
//! RFC 7323 (timestamps, PAWS). The ACK field (fifth step) is the sender's (`sender/ack.rs`);
//! segment text and FIN are the receiver's (`receiver.rs`); SYN handling is `handshake.rs`.

use super::challenge::ChallengeCap;
use super::connection::Connection;
use super::paws;
use super::state::State;
use super::timers::Timer;
use super::TcpError;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpSegment};
use log::debug;

/// What the connection wants done after a segment, besides what it queued itself.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Processed.
    Ok,
    /// Refused, with the reason to count (the connection may have queued an ACK or RST).
    Drop(DropReason),
}

impl Connection {
    /// Clamps a peer's MSS option to what our MTU and config allow (RFC 9293 §3.7.1, RFC 6691).
    pub(super) fn clamp_mss(&self, announced: Option<u16>) -> usize {
        let mss = announced.map_or(536, usize::from);
        mss.clamp(
            64,
            self.snd
                .mtu
                .saturating_sub(super::output::mss_overhead(self.remote.ip()))
                .min(self.limits.max_mss)
                .max(64),
        )
    }

    /// Handles one segment addressed to this connection.
    pub(crate) fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut ChallengeCap,
    ) -> Verdict {
        self.stats.segs_in += 1;
        match self.state {
            State::Closed | State::Listen => {
                // RFC 9293 §3.10.7.1: a connection that no longer exists (the app still holds
                // its handle) answers like any closed port — RST, unless the segment is an RST —
                // so a peer retransmitting its FIN after our TIME-WAIT learns the connection is
                // gone.
                if !seg.rst() {
                    self.rst_pending = Some(match seg.ack {
                        Some(ack) => (ack, None),
                        None => (SeqNumber(0), Some(seg.seq.add(seg.seg_len()))),
                    });
                }
                Verdict::Drop(DropReason::TcpNoConnection)
            }
            State::SynSent => self.on_segment_syn_sent(seg, now),
            _ => self.on_segment_synchronized(seg, now, challenge),
        }
    }

    /// RFC 7323 §4.3 (2) and §5.3 R3: remember the timestamp to echo — called only for a
    /// segment that passed the sequence, RST, SYN and ACK checks, so a segment dropped later
    /// cannot move TS.Recent (and make PAWS drop every real segment after it).
    pub(super) fn update_ts_recent(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        if self.ts.ok {
            self.ts.recent.advance(seg, self.rcv.nxt, now);
        }
    }

    /// An ACK in reply to an invalid segment (PAWS reject, out of window without data), at most
    /// one per `invalid_ack_interval` per connection (like Linux's `tcp_oow_rate_limited`).
    fn invalid_ack(&mut self, now: Instant) {
        if self
            .invalid_acks
            .allow(now, self.limits.invalid_ack_interval)
        {
            self.rcv.ack_now = true;
        }
    }

    pub(super) fn challenge_ack(&mut self, now: Instant, challenge: &mut ChallengeCap) {
        // RFC 5961 §7: challenge ACKs are rate-limited so they cannot be used as an amplifier;
        // first by this connection's own budget, then by the randomized host-wide cap (the
        // order Linux uses), so no connection can read another's activity in its own count.
        if self.challenge.take(now) && challenge.take(now) {
            self.rcv.ack_now = true;
        }
    }

    /// RFC 9293 §3.10.7.4, every state from SYN-RECEIVED on.
    fn on_segment_synchronized(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut ChallengeCap,
    ) -> Verdict {
        if let Some(v) = self.syn_received_syn(seg, now) {
            return v;
        }
        // TIME-WAIT: a retransmitted FIN (the peer lost our ACK) is acknowledged and restarts
        // the 2×MSL wait (RFC 9293 §3.10.7.4, eighth step).
        if self.state == State::TimeWait && paws::is_retransmitted_fin(seg, self.rcv.nxt) {
            self.time_wait_fin(now);
            return Verdict::Ok;
        }
        if let Some(v) = self.check_sequence(seg, now) {
            return v;
        }
        // Second: RST (RFC 5961 §3.2): only an RST exactly at RCV.NXT resets; any other
        // in-window RST gets a challenge ACK.
        if seg.rst() {
            if seg.seq != self.rcv.nxt {
                self.challenge_ack(now, challenge);
                return Verdict::Drop(DropReason::TcpRstNotExact);
            }
            let error = match self.state {
                // A passive open that never completed quietly goes away (§3.10.7.4).
                State::SynReceived if self.passive => None,
                State::SynReceived => Some(TcpError::Refused),
                State::Closing | State::LastAck | State::TimeWait => None,
                _ => Some(TcpError::Reset),
            };
            debug!("tcp {} -> {}: reset by peer", self.local, self.remote);
            self.close_now(error);
            return Verdict::Ok;
        }
        // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, never reset.
        if seg.syn() {
            if self.state == State::SynReceived && seg.seq == self.rcv.irs {
                // A retransmitted SYN: our SYN-ACK was lost.
                self.syn_pending = true;
                return Verdict::Ok;
            }
            self.challenge_ack(now, challenge);
            return Verdict::Drop(DropReason::TcpSynInSync);
        }
        // Fifth: the ACK field. Without ACK the segment is dropped.
        let Some(ack) = seg.ack else {
            return Verdict::Drop(DropReason::TcpUnexpected);
        };
        self.last_recv = now;
        self.keepalive_probes = 0;
        if let Some(k) = self.keepalive {
            self.timers.set(Timer::Keepalive, now + k);
        }
        if self.state == State::SynReceived {
            if let Some(v) = self.syn_received_ack(seg, ack, now) {
                return v;
            }
        }
        if let Some(v) = self.process_ack(seg, ack, now, challenge) {
            return v;
        }
        if self.state == State::Closed {
            return Verdict::Ok;
        }
        match self.process_text_and_fin(seg, now) {
            Ok(()) => Verdict::Ok,
            Err(r) => Verdict::Drop(r),
        }
    }

    /// RFC 7323 §5.3 R1 (PAWS) and RFC 9293 §3.10.7.4 first step (sequence number): None if
    /// the segment may go on to the RST, SYN and ACK checks.
    fn check_sequence(&mut self, seg: &TcpSegment<'_>, now: Instant) -> Option<Verdict> {
        // RFC 7323 §5.3 R1: PAWS before the sequence check.
        if self.ts.ok && !seg.rst() && self.ts.recent.rejects(seg, now) {
            if self.sack_ok && !seg.payload.is_empty() && seg.seq.lt(self.rcv.nxt) {
                // An old duplicate of data we have (a late original after its
                // retransmission): R1's ACK, with a D-SACK block so the sender can tell its
                // retransmission was spurious (RFC 2883 §4; Linux's tcp_send_dupack does the
                // same). Data is never part of an ACK loop.
                self.rcv.dsack = self.dsack_range(seg.seq, seg.payload.len());
                self.rcv.ack_now = true;
            } else {
                // R1 asks for an ACK; rate-limited (Config::tcp_invalid_ack_interval).
                self.invalid_ack(now);
            }
            return Some(Verdict::Drop(DropReason::TcpPaws));
        }
        // First: sequence number.
        if !self.acceptable(seg) {
            // RFC 9293: an unacceptable segment gets an ACK (unless it is an RST) and is dropped.
            // With a zero window, an in-sequence ACK is still processed below (§3.10.7.4 note).
            let zero_window_ack = seg.seq == self.rcv.nxt && seg.ack.is_some();
            if !zero_window_ack {
                if !seg.rst() && seg.seg_len() > 0 && !seg.syn() {
                    // Data or a FIN (a retransmission, a window probe) is always answered: it
                    // cannot be part of an ACK loop (Linux's tcp_oow_rate_limited exempts it).
                    self.rcv.ack_now = true;
                    // RFC 2883 §4: data wholly below RCV.NXT is a duplicate: report it.
                    if self.sack_ok && seg.seq.lt(self.rcv.nxt) {
                        self.rcv.dsack = self.dsack_range(seg.seq, seg.payload.len());
                    }
                } else if !seg.rst() {
                    self.invalid_ack(now);
                }
                return Some(Verdict::Drop(DropReason::TcpNotAcceptable));
            }
        }
        None
    }

    /// RFC 9293 §3.10.7.4 eighth step in TIME-WAIT: a FIN (retransmitted: the peer lost our
    /// ACK) is acknowledged and restarts the 2×MSL wait — a bounded number of times
    /// (`paws::may_restart_time_wait`).
    pub(super) fn time_wait_fin(&mut self, now: Instant) {
        self.rcv.ack_now = true;
        let limit = self.limits.time_wait_restart_limit;
        if paws::may_restart_time_wait(&mut self.time_wait_restarts, limit) {
            self.enter_time_wait(now);
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.clear();
        let two_msl = Duration::from_micros(self.limits.msl.total_micros().saturating_mul(2));
        self.timers.set(Timer::TimeWait, now + two_msl);
    }
}
