//! The sender's side of modern loss recovery: feeding each ACK to RACK, TLP and the undo
//! bookkeeping ([`LossRecovery`](crate::tcp::recovery::engine::LossRecovery)) and acting on what
//! they say — entering recovery on RACK-detected losses, undoing spurious reductions, pacing
//! recovery with PRR, and the one loss timer's three meanings (RTO, probe, reordering).

use super::super::connection::Connection;
use super::super::output::IpOut;
use super::super::timers::Timer;
use crate::tcp::recovery::engine::{AckOutcome, AckView, Block, Blocks, LossTimer, Probe};
use crate::tcp::recovery::undo::Episode;
use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpSegment;
use log::debug;

impl Connection {
    /// This connection's share of the stack-wide loss-recovery totals.
    pub(in crate::tcp) fn loss_totals(&self) -> crate::tcp::recovery::LossTotals {
        crate::tcp::recovery::LossTotals {
            retransmits: self.stats.retransmits,
            fast_retransmits: self.stats.fast_retransmits,
            timeouts: self.stats.timeouts,
            recovery: self.rec.loss.stats,
        }
    }

    /// The ACK's timestamp echo: the echoed value and when we sent the segment carrying it.
    fn echo(&self, seg: &TcpSegment<'_>, now: Instant) -> (Option<u32>, Option<Instant>) {
        let Some((_, ecr)) = seg.options.timestamps.filter(|_| self.ts.ok) else {
            return (None, None);
        };
        let age = self.ts_now(now).wrapping_sub(ecr);
        if ecr == 0 || age >= 60_000 {
            return (None, None);
        }
        let at = now.total_millis().saturating_sub(u64::from(age));
        (Some(ecr), Some(Instant::from_millis(at)))
    }

    /// Runs the loss-recovery engine over an acceptable ACK, before SND.UNA moves. Returns the
    /// SACK blocks to believe (for the scoreboard) and the outcome.
    pub(in crate::tcp) fn loss_on_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
    ) -> (Blocks, AckOutcome) {
        let (tsecr, echo_sent_at) = self.echo(seg, now);
        let v = AckView {
            ack: seg.ack,
            snd_una: self.snd.una,
            snd_nxt: self.snd.nxt,
            snd_max: self.snd.max,
            oldest: self.snd.una.sub(self.snd.max_wnd.max(1)),
            echo_sent_at,
            tsecr,
            srtt: self.rec.rtt.srtt().unwrap_or(Duration::ZERO),
            in_recovery: self.rec.episode.is_some(),
        };
        let (dsack, sacks) = if self.sack_ok {
            self.rec.loss.classify(&seg.options.sack_blocks, &v)
        } else {
            (None, [None; 4])
        };
        let out = self.rec.loss.on_ack(&v, dsack, &sacks, self.sack_ok, now);
        (sacks, out)
    }

    /// Acts on the engine's verdict once the ACK's cumulative part was processed.
    pub(in crate::tcp) fn loss_after_ack(&mut self, out: &AckOutcome, now: Instant) {
        if out.undo {
            self.undo_reduction();
        }
        if out.tlp_loss && self.rec.episode.is_none() {
            // RFC 8985 §7.4.2: the probe repaired a loss: the congestion response of one.
            debug!(
                "tcp {} -> {}: tail loss probe repaired a loss: reducing the window",
                self.local, self.remote
            );
            let flight = self.flight_size();
            self.rec.cc.on_enter_recovery(now, flight);
            self.rec.cc.on_exit_recovery(flight);
        }
        if out.lost > 0 && self.rec.episode.is_none() {
            self.enter_recovery(now, "RACK");
            if self.rec.episode.is_none() {
                // RFC 6582's "recover" check kept the window (a reduction for this flight was
                // already made): the lost segments are still retransmitted.
                self.rec.rtx_budget += out.lost as u32;
            }
        }
        self.prr_update(out.delivered);
        if out.reorder_at.is_some() {
            self.arm_loss_timer(now, true);
        }
    }

    /// RFC 6937 §3 "on every ACK during recovery" (and when the reordering timer starts one):
    /// `delivered` bytes newly delivered, pipe per RFC 6675 — in flight, less what was SACKed
    /// or is lost.
    fn prr_update(&mut self, delivered: usize) {
        if self.rec.episode.is_some() {
            let pipe = self
                .flight_size()
                .saturating_sub(self.rec.scoreboard.sacked_bytes())
                .saturating_sub(self.rec.loss.log.lost_bytes());
            self.rec.loss.prr_ack(delivered, pipe, self.snd.mss);
        }
    }

    /// Restores the congestion state saved when the current reduction began (a D-SACK or
    /// timestamps proved it spurious; RFC 3708, RFC 3522, RFC 4015 §3.2).
    pub(in crate::tcp) fn undo_reduction(&mut self) {
        let Some((prior, kind)) = self.rec.loss.take_undo() else {
            return;
        };
        debug!(
            "tcp {} -> {}: spurious {}: undo, cwnd {} -> {}, ssthresh {} -> {}",
            self.local,
            self.remote,
            if kind == Episode::Timeout {
                "timeout"
            } else {
                "fast retransmit"
            },
            self.rec.cc.cwnd(),
            prior.cwnd().max(self.rec.cc.cwnd()),
            self.rec.cc.ssthresh(),
            prior.ssthresh()
        );
        if prior.cwnd() >= self.rec.cc.cwnd() {
            self.rec.cc = prior;
        }
        self.rec.episode = None;
        self.rec.rtx_budget = 0;
        self.rec.loss.prr = None;
        if kind == Episode::Timeout {
            // RFC 4015 §3.2: carry on with new data rather than resending what arrived.
            self.snd.nxt = self.snd.max;
            self.rec.rtt.reset_backoff();
            self.rec.recover = self.snd.una;
        }
    }

    /// (Re)arms the one loss timer (RFC 8985 §8): the reordering timer, a probe timeout, or
    /// the RTO. `restart` restarts a running RTO (RFC 6298 §5.3: on an ACK of new data);
    /// otherwise a running RTO is left alone and only a probe timeout moves (RFC 8985 §7.2:
    /// rescheduled after each new transmission).
    pub(in crate::tcp) fn arm_loss_timer(&mut self, now: Instant, restart: bool) {
        if self.snd.una == self.snd.max {
            self.timers.stop(Timer::Retransmit);
            return;
        }
        let running = self.timers.is_set(Timer::Retransmit);
        if running && !restart && self.rec.loss.timer == LossTimer::Rto {
            return;
        }
        // RFC 8985 §7.2: probe only with SACK, outside recovery and outside a timeout's resend.
        let probe_ok = self.sack_ok
            && self.rec.episode.is_none()
            && self.snd.nxt == self.snd.max
            && matches!(
                self.state,
                super::super::state::State::Established
                    | super::super::state::State::CloseWait
                    | super::super::state::State::FinWait1
                    | super::super::state::State::Closing
                    | super::super::state::State::LastAck
            );
        let srtt = self.rec.rtt.srtt();
        let one = self.flight_size() <= self.snd.mss;
        let at = self
            .rec
            .loss
            .arm(now, probe_ok, srtt, one, self.rec.rtt.rto());
        self.timers.set(Timer::Retransmit, at);
    }

    /// The loss timer fired: as an RTO, a probe timeout or RACK's reordering timer.
    pub(in crate::tcp) fn on_loss_timer(&mut self, now: Instant) {
        match self.rec.loss.timer {
            LossTimer::Rto => self.on_rto(now),
            LossTimer::Probe => self.on_probe_timeout(now),
            LossTimer::Reorder => {
                let srtt = self.rec.rtt.srtt().unwrap_or(Duration::ZERO);
                let in_recovery = self.rec.episode.is_some();
                let lost = self.rec.loss.on_reorder_timeout(now, in_recovery, srtt);
                debug!(
                    "tcp {} -> {}: RACK reordering timer: {lost} lost",
                    self.local, self.remote
                );
                if lost > 0 {
                    if self.rec.episode.is_none() {
                        self.enter_recovery(now, "RACK timer");
                    }
                    if self.rec.episode.is_none() || self.rec.loss.prr.is_none() {
                        self.rec.rtx_budget += lost as u32;
                    }
                    self.prr_update(0);
                }
                self.rec.loss.timer = LossTimer::Rto;
                self.timers.stop(Timer::Retransmit);
                self.arm_loss_timer(now, true);
            }
        }
    }

    /// RFC 8985 §7.3: the probe timeout: one segment to elicit an ACK.
    fn on_probe_timeout(&mut self, now: Instant) {
        // RFC 5482: the user timeout runs from when this timer was armed, as for the RTO.
        let armed = self.rec.loss.probe_armed_at.take().unwrap_or(now);
        self.rec.stalled_since.get_or_insert(armed);
        let room = self.snd.wnd.saturating_sub(self.flight_size());
        let new_data_ok = self.has_unsent_data() && room >= self.snd.mss.min(self.unsent_len());
        match self.rec.loss.on_probe_timeout(new_data_ok) {
            Some(p) => debug!(
                "tcp {} -> {}: tail loss probe ({p:?})",
                self.local, self.remote
            ),
            None => self.rec.loss.timer = LossTimer::Rto,
        }
        // The RTO runs again from the probe (RFC 8985 §7.3).
        self.rec.loss.timer = LossTimer::Rto;
        self.timers.set(Timer::Retransmit, now + self.rec.rtt.rto());
    }

    /// The D-SACK block to report for a duplicate `[start, start + len)` (RFC 2883 §4), unless
    /// D-SACK is switched off.
    pub(in crate::tcp) fn dsack_range(
        &self,
        start: crate::wire::tcp::SeqNumber,
        len: usize,
    ) -> Option<Block> {
        if !self.rec.loss.cfg.dsack {
            return None;
        }
        self.duplicate_range(start, len)
    }

    /// Bytes queued and not yet sent.
    fn unsent_len(&self) -> usize {
        self.snd.buf.len().saturating_sub(self.data_sent_offset())
    }

    /// Sends a pending retransmission probe (a new-data probe goes through `poll_data`).
    pub(in crate::tcp) fn poll_probe(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        let Some(Probe::Retransmit(start, end)) = self.rec.loss.probe else {
            return None;
        };
        let base = self.data_start();
        if !start.ge(base) {
            self.rec.loss.probe = None;
            return None;
        }
        let off = start.distance(base) as usize;
        let options = self.segment_options(now);
        let len = (end.distance(start) as usize)
            .min(self.snd.buf.len().saturating_sub(off))
            .min(self.max_payload(&options, buf.len()));
        self.stats.retransmits += 1;
        self.rec.rtt_probe = None;
        let n = self.emit_range(now, buf, ip, start, len, options);
        self.rec.loss.on_probe_sent(self.snd.max, true);
        Some(n)
    }
}
