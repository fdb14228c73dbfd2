//! Timers of the send side: the retransmission timeout (RFC 6298 §5, RFC 5681 §3.1), the user
//! timeout (RFC 5482) and the persist timer that probes a zero window (RFC 9293 §3.8.6.1).

use super::super::connection::Connection;
use super::super::state::State;
use super::super::timers::Timer;
use super::super::TcpError;
use crate::time::{Duration, Instant};
use log::debug;

impl Connection {
    pub(in crate::tcp) fn on_rto(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                self.syn_retries += 1;
                if self.syn_retries > self.limits.syn_retry_limit {
                    debug!("tcp {} -> {}: handshake timed out", self.local, self.remote);
                    let e = if self.state == State::SynSent {
                        TcpError::TimedOut
                    } else {
                        TcpError::Reset
                    };
                    self.close_now(Some(e));
                    return;
                }
                self.rec.rtt.backoff();
                self.stats.timeouts += 1;
                self.stats.retransmits += 1;
                self.syn_pending = true;
                self.timers.set(Timer::Retransmit, now + self.rec.rtt.rto());
            }
            _ if self.snd.max != self.snd.una => {
                // RFC 5482 §2: the user timeout bounds how long sent data stays
                // unacknowledged, so it runs from when the timer that just expired was armed
                // (the send), not from this first expiry.
                let armed = now
                    .total_micros()
                    .saturating_sub(self.rec.rtt.rto().total_micros());
                let since = *self
                    .rec
                    .stalled_since
                    .get_or_insert(Instant::from_micros(armed));
                if now.saturating_since(since) >= self.limits.user_timeout {
                    debug!(
                        "tcp {} -> {}: user timeout, aborting",
                        self.local, self.remote
                    );
                    self.rst_pending = Some((self.snd.nxt, None));
                    self.close_now(Some(TcpError::TimedOut));
                    return;
                }
                debug!(
                    "tcp {} -> {}: RTO {} fired, retransmitting from {}",
                    self.local,
                    self.remote,
                    self.rec.rtt.rto(),
                    self.snd.una
                );
                // RFC 6298 §5.4-5.6 and RFC 5681 §3.1: collapse the window, back off, and
                // resend from SND.UNA; SACKed data is skipped on the way (output.rs).
                let prior = self.rec.cc.boxed_clone();
                let flight = self.flight_size();
                self.rec.cc.on_rto(now, flight);
                self.rec.loss.start_episode(
                    crate::tcp::recovery::undo::Episode::Timeout,
                    prior,
                    self.snd.una,
                    self.snd.max,
                    flight,
                    self.rec.cc.ssthresh(),
                );
                self.rec.loss.on_rto();
                self.rec.rtt.backoff();
                self.stats.timeouts += 1;
                self.snd.nxt = self.snd.una;
                self.rec.episode = None;
                self.rec.recover = self.snd.max;
                self.rec.dup_acks = 0;
                self.rec.rtx_budget = 0;
                self.rec.rtt_probe = None;
                // Fire no later than the user timeout, so the abort comes on time rather than
                // up to one (backed-off) RTO late.
                let next = (now + self.rec.rtt.rto()).min(since + self.limits.user_timeout);
                self.rec.loss.timer = crate::tcp::recovery::engine::LossTimer::Rto;
                self.timers.set(Timer::Retransmit, next);
            }
            _ => {}
        }
    }

    pub(in crate::tcp) fn on_persist(&mut self, now: Instant) {
        // RFC 9293 §3.8.6.1: probe a zero window, backing off, for as long as the peer answers.
        if self.snd.wnd == 0 && self.has_unsent_data() {
            // A peer that stopped answering the probes: they count towards the user timeout
            // (RFC 5482; Linux counts probes against TCP_USER_TIMEOUT the same way).
            if now.saturating_since(self.last_recv) >= self.limits.user_timeout {
                debug!(
                    "tcp {} -> {}: zero-window probes unanswered, aborting",
                    self.local, self.remote
                );
                self.rst_pending = Some((self.snd.nxt, None));
                self.close_now(Some(TcpError::TimedOut));
                return;
            }
            // RFC 6429: a connection the app closed may be let go even while the peer answers
            // (Linux: tcp_orphan_retries); otherwise it would pin its slot and buffers forever.
            if self.detached && self.snd.persist_probes >= self.limits.orphan_probe_limit {
                debug!(
                    "tcp {} -> {}: orphan behind a zero window, aborting",
                    self.local, self.remote
                );
                self.rst_pending = Some((self.snd.nxt, None));
                self.close_now(Some(TcpError::TimedOut));
                return;
            }
            self.snd.persist_probes = self.snd.persist_probes.saturating_add(1);
            self.probe_pending = true;
            self.snd.persist_backoff = (self.snd.persist_backoff + 1).min(16);
            self.arm_persist(now);
        }
    }

    pub(in crate::tcp) fn arm_persist(&mut self, now: Instant) {
        let base = self.rec.rtt.rto().total_micros();
        let wait = base
            .saturating_mul(1 << self.snd.persist_backoff.min(6))
            .min(60_000_000);
        self.timers
            .set(Timer::Persist, now + Duration::from_micros(wait));
    }
}
