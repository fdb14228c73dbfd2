//! ACK processing: RFC 9293 §3.10.7.4 fifth step with RFC 5961 §5.2, SACK (RFC 2018,
//! RFC 6675), duplicate ACKs and NewReno fast recovery (RFC 5681, RFC 6582), RTT samples
//! (RFC 6298, RFC 7323).

use super::super::challenge::ChallengeCap;
use super::super::connection::Connection;
use super::super::input::Verdict;
use super::super::state::State;
use super::super::timers::Timer;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpSegment, TsVal};
use log::debug;

impl Connection {
    /// RFC 9293 §3.10.7.4 fifth step for ESTABLISHED and later, with RFC 5961 §5.2.
    pub(in crate::tcp) fn process_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
        now: Instant,
        challenge: &mut ChallengeCap,
    ) -> Option<Verdict> {
        // RFC 5961 §5.2: an ACK outside [SND.UNA − MAX.SND.WND, SND.NXT] is not believed.
        if !self.ack_is_plausible(ack) {
            if ack.gt(self.snd.max) {
                // An ACK for something not yet sent: ACK and drop (RFC 9293).
                self.rcv.ack_now = true;
            } else {
                self.challenge_ack(now, challenge);
            }
            return Some(Verdict::Drop(DropReason::TcpBadAck));
        }
        // Every check of §3.10.7.4 up to the ACK passed: only now may the timestamp count.
        self.update_ts_recent(seg, now);
        // RACK, TLP and undo see the ACK before SND.UNA moves (sender/loss.rs); SACK blocks
        // outside what was sent are ignored and counted there.
        let (sacks, outcome) = self.loss_on_ack(seg, now);
        let rack = self.rec.loss.rack_on(self.sack_ok);
        if sacks.iter().any(Option::is_some) {
            self.take_sack_blocks(&sacks);
            // RFC 6675 §5 (IsLost): more than (DupThresh − 1) × SMSS SACKed above SND.UNA means
            // the segment at SND.UNA is lost, even if the duplicate ACKs carried data or were
            // too few to count. With RACK (RFC 8985) time decides instead.
            if !rack && ack == self.snd.una && self.rec.scoreboard.sacked_bytes() > 2 * self.snd.mss
            {
                self.enter_recovery(now, "SACK");
            }
        }
        let window = usize::from(seg.window) << self.snd.shift;
        if ack.gt(self.snd.una) {
            self.new_ack(seg, ack, now, outcome.rtt_sent_at);
        } else {
            self.maybe_dup_ack(seg, ack, window, now);
        }
        self.loss_after_ack(&outcome, now);
        // Window update (RFC 9293 §3.10.7.4): from a newer segment, or the same with a newer ACK.
        if self.snd.wl1.lt(seg.seq) || (self.snd.wl1 == seg.seq && self.snd.wl2.le(ack)) {
            let opened = self.snd.wnd == 0 && window > 0;
            self.snd.wnd = window;
            self.snd.max_wnd = self.snd.max_wnd.max(window);
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = ack;
            if opened {
                self.timers.stop(Timer::Persist);
                self.snd.persist_backoff = 0;
                self.snd.persist_probes = 0;
            }
        }
        if self.snd.wnd == 0
            && self.has_unsent_data()
            && !self.timers.is_set(Timer::Retransmit)
            && !self.timers.is_set(Timer::Persist)
        {
            self.arm_persist(now);
        }
        // State transitions driven by the ACK of our FIN.
        let fin_acked = self.snd.fin_acked;
        match self.state {
            // An orphan's wait for the peer's FIN is bounded (`Connection::arm_fin_wait2`).
            State::FinWait1 if fin_acked => self.set_state(State::FinWait2),
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => {
                self.close_now(None);
                return Some(Verdict::Ok);
            }
            State::TimeWait => {
                // A retransmitted FIN: acknowledge it and restart 2×MSL (§3.10.7.4).
                if seg.fin() {
                    self.time_wait_fin(now);
                }
                return Some(Verdict::Ok);
            }
            _ => {}
        }
        None
    }

    fn take_sack_blocks(&mut self, blocks: &crate::tcp::recovery::engine::Blocks) {
        let base = self.data_start();
        for (left, right) in blocks.iter().flatten().copied() {
            // RFC 2018 §4 / RFC 6675: only blocks within what we sent and above SND.UNA count.
            if left.lt(base) || right.gt(self.snd.max) || !left.lt(right) {
                continue;
            }
            let s = left.distance(base) as usize;
            let e = right.distance(base) as usize;
            self.rec.scoreboard.add(s, e.min(self.snd.buf.len()));
        }
    }

    /// SND.UNA advances to `ack`; `sent_at` is when the newest segment it acknowledges was
    /// sent, if Karn's rule allows timing it (`AckOutcome::rtt_sent_at`).
    fn new_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
        now: Instant,
        sent_at: Option<Instant>,
    ) {
        let mut acked = ack.distance(self.snd.una) as usize;
        let total_acked = acked;
        if !self.snd.syn_acked {
            self.snd.syn_acked = true;
            acked -= 1;
        }
        if let Some(fin) = self.our_fin_seq() {
            if !self.snd.fin_acked && ack.gt(fin) {
                self.snd.fin_acked = true;
                acked = acked.saturating_sub(1);
            }
        }
        let data_acked = acked.min(self.snd.buf.len());
        self.snd.buf.ack(data_acked);
        self.rec.scoreboard.advance(data_acked);
        self.stats.bytes_acked += data_acked as u64;
        self.snd.una = ack;
        if self.snd.nxt.lt(ack) {
            self.snd.nxt = ack;
        }
        if self.rec.rtx_mark.lt(ack) {
            self.rec.rtx_mark = ack;
        }
        self.rec.stalled_since = None;
        self.rec.dup_acks = 0;
        // RTT (RFC 6298 §2): from the sent log's µs send time of the newest segment acknowledged
        // that was sent once (Karn, RFC 6298 §3), as Linux from skb timestamps. Without one (a
        // retransmission is acknowledged): the timestamp echo (RFC 7323 §4.1, valid even for
        // retransmissions, with its millisecond clock), or the Karn-safe probe.
        let mut sample = sent_at.map(|at| now.saturating_since(at));
        if let (true, Some((_, ecr))) = (self.ts.ok, seg.options.timestamps) {
            let ms = self.ts_now(now).since(TsVal(ecr));
            if sample.is_none() && ecr != 0 && ms < 60_000 {
                sample = Some(Duration::from_millis(u64::from(ms)));
            }
        } else if let Some((seq, probe_sent)) = self.rec.rtt_probe {
            if ack.gt(seq) {
                sample = sample.or(Some(now.saturating_since(probe_sent)));
                self.rec.rtt_probe = None;
            }
        }
        if let Some(r) = sample {
            self.rec.rtt.sample(r);
        }
        self.rec.rtt.reset_backoff();
        // Congestion control and NewReno recovery (RFC 6582 §3.2 steps 5-6).
        match self.rec.episode {
            Some(recover) if ack.ge(recover) => {
                debug!("tcp {} -> {}: recovery complete", self.local, self.remote);
                self.rec.episode = None;
                self.rec.rtx_budget = 0;
                // RFC 6937 §3: with PRR the window ends at ssthresh (RFC 6582's exit rule,
                // min(ssthresh, FlightSize + SMSS), with the flight taken as unbounded);
                // without, RFC 6582 §3.2 step 6.
                let flight = match self.rec.loss.prr {
                    Some(_) => usize::MAX / 4,
                    None => self.flight_size(),
                };
                self.rec.cc.on_exit_recovery(flight);
                let tsecr = seg.options.timestamps.filter(|_| self.ts.ok).map(|t| t.1);
                if self.rec.loss.end_recovery(tsecr) {
                    // RFC 3522 §3.2: the ACK ending recovery was for an original.
                    self.undo_reduction();
                }
            }
            Some(_) => {
                // Partial ACK: the next hole is lost too; retransmit it now. Under PRR the
                // window arithmetic is PRR's (RFC 6937), not RFC 6582's deflation.
                if self.rec.loss.prr.is_none() {
                    self.rec.cc.on_partial_ack(total_acked);
                }
                self.rec.rtx_budget += 1;
                if !self.sack_ok || self.rec.scoreboard.is_empty() {
                    self.rec.rtx_mark = self.snd.una;
                }
            }
            None => self.rec.cc.on_ack(now, total_acked, sample),
        }
        // RFC 6298 §5.2-5.3: stop the timer when all is acknowledged, else restart it (or the
        // probe / reordering timer, RFC 8985 §8).
        self.arm_loss_timer(now, true);
    }

    /// RFC 5681 §2, "DUPLICATE ACKNOWLEDGMENT": an arriving ACK (`seg`, acknowledging `ack`,
    /// offering `window`) is a duplicate only if all five conditions hold.
    fn is_dup_ack(&self, seg: &TcpSegment<'_>, ack: SeqNumber, window: usize) -> bool {
        // (a) the receiver of the ACK has outstanding data;
        let outstanding = self.snd.max != self.snd.una;
        // (b) the incoming acknowledgment carries no data;
        let no_data = seg.payload.is_empty();
        // (c) the SYN and FIN bits are both off;
        let no_syn_fin = !seg.syn() && !seg.fin();
        // (d) the acknowledgment number equals the greatest one received (SND.UNA);
        let same_ack = ack == self.snd.una;
        // (e) the advertised window equals the one in the last incoming acknowledgment.
        let same_window = window == self.snd.wnd;
        outstanding && no_data && no_syn_fin && same_ack && same_window
    }

    /// RFC 5681 §3.2, RFC 6582 §3.2: duplicate ACKs (`is_dup_ack`) and fast retransmit.
    fn maybe_dup_ack(&mut self, seg: &TcpSegment<'_>, ack: SeqNumber, window: usize, now: Instant) {
        if !self.is_dup_ack(seg, ack, window) {
            return;
        }
        self.rec.dup_acks += 1;
        if self.rec.episode.is_some() {
            // RFC 5681 §3.2 step 4 inflation — unless PRR (RFC 6937) paces the recovery.
            if self.rec.loss.prr.is_none() {
                self.rec.cc.on_dup_ack_in_recovery();
            }
            if self.sack_ok {
                self.rec.rtx_budget += 1;
            }
            return;
        }
        if self.rec.loss.rack_on(self.sack_ok) {
            // RFC 8985 §6: with SACK, RACK's clock decides, not the duplicate-ACK count (which
            // reordering fools).
            return;
        }
        // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new
        // to send, fewer duplicate ACKs can ever arrive, so the threshold drops to
        // outstanding segments − 1.
        let outstanding = self.flight_size().div_ceil(self.snd.mss.max(1));
        let threshold = if outstanding < 4 && !self.has_unsent_data() {
            (outstanding.saturating_sub(1) as u32).max(1)
        } else {
            3
        };
        if self.rec.dup_acks == threshold {
            self.enter_recovery(now, "duplicate ACKs");
        }
    }

    /// Starts fast retransmit / fast recovery (RFC 5681 §3.2, RFC 6582 §3.2), unless the ACK
    /// does not cover more than "recover" (step 1: avoid a false recovery after a timeout).
    pub(in crate::tcp) fn enter_recovery(&mut self, now: Instant, why: &str) {
        if self.rec.episode.is_some() || !self.snd.una.sub(1).ge(self.rec.recover) {
            return;
        }
        debug!(
            "tcp {} -> {}: loss detected at {} ({why}): fast retransmit",
            self.local, self.remote, self.snd.una
        );
        self.rec.episode = Some(self.snd.max);
        self.rec.recover = self.snd.max;
        let prior = self.rec.cc.boxed_clone();
        let flight = self.flight_size();
        self.rec.cc.on_enter_recovery(now, flight);
        self.rec.loss.start_episode(
            crate::tcp::recovery::undo::Episode::Recovery,
            prior,
            self.snd.una,
            self.snd.max,
            flight,
            self.rec.cc.ssthresh(),
        );
        self.stats.fast_retransmits += 1;
        self.rec.rtx_mark = self.snd.una;
        self.rec.rtx_budget = 1;
        self.rec.rtt_probe = None;
    }
}
