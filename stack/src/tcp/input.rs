//! Segment arrival: RFC 9293 §3.10.7 step by step, with RFC 5961 (RST and SYN handling, ACK
//! validation), RFC 7323 (timestamps, PAWS), RFC 2018 (SACK), RFC 5681/6582 (duplicate ACKs and
//! NewReno fast recovery), RFC 6298 (RTT samples).

use super::challenge::ChallengeCap;
use super::connection::Connection;
use super::state::State;
use super::timers::Timer;
use super::TcpError;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpSegment};
use log::debug;

/// RFC 7323 §5.5: timestamps older than 24 days are not trusted for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

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
        mss.clamp(64, self.mtu.saturating_sub(40).min(self.max_mss).max(64))
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
                    self.rst_pending = Some(if seg.ack() {
                        (seg.ack, None)
                    } else {
                        (SeqNumber(0), Some(seg.seq.add(seg.seg_len())))
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
    fn update_ts_recent(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        if let (true, Some((tsval, _))) = (self.ts_ok, seg.options.timestamps) {
            if seg.seq.le(self.rcv_nxt) && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
    }

    /// An ACK in reply to an invalid segment (PAWS reject, out of window without data), at most
    /// one per `invalid_ack_interval` per connection (like Linux's `tcp_oow_rate_limited`).
    fn invalid_ack(&mut self, now: Instant) {
        let allowed = self
            .last_invalid_ack
            .is_none_or(|at| now.saturating_since(at) >= self.invalid_ack_interval);
        if allowed {
            self.last_invalid_ack = Some(now);
            self.ack_now = true;
        }
    }

    fn challenge_ack(&mut self, now: Instant, challenge: &mut ChallengeCap) {
        // RFC 5961 §7: challenge ACKs are rate-limited so they cannot be used as an amplifier;
        // first by this connection's own budget, then by the randomized host-wide cap (the
        // order Linux uses), so no connection can read another's activity in its own count.
        if self.challenge.take(now) && challenge.take(now) {
            self.ack_now = true;
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
        if self.state == State::TimeWait && seg.fin() && !seg.rst() {
            let fin = seg.seq.add(seg.payload.len());
            if fin.add(1) == self.rcv_nxt {
                self.ack_now = true;
                self.restart_time_wait(now);
                return Verdict::Ok;
            }
        }
        if let Some(v) = self.check_sequence(seg, now) {
            return v;
        }
        // Second: RST (RFC 5961 §3.2): only an RST exactly at RCV.NXT resets; any other
        // in-window RST gets a challenge ACK.
        if seg.rst() {
            if seg.seq != self.rcv_nxt {
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
            if self.state == State::SynReceived && seg.seq == self.irs {
                // A retransmitted SYN: our SYN-ACK was lost.
                self.syn_pending = true;
                return Verdict::Ok;
            }
            self.challenge_ack(now, challenge);
            return Verdict::Drop(DropReason::TcpSynInSync);
        }
        // Fifth: the ACK field. Without ACK the segment is dropped.
        if !seg.ack() {
            return Verdict::Drop(DropReason::TcpUnexpected);
        }
        self.last_recv = now;
        self.keepalive_probes = 0;
        if let Some(k) = self.keepalive {
            self.timers.set(Timer::Keepalive, now + k);
        }
        if self.state == State::SynReceived {
            if let Some(v) = self.syn_received_ack(seg, now) {
                return v;
            }
        }
        if let Some(v) = self.process_ack(seg, now, challenge) {
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
        if self.ts_ok && !seg.rst() {
            if let Some((tsval, _)) = seg.options.timestamps {
                let older = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                if older && now.saturating_since(self.ts_recent_at) < PAWS_IDLE {
                    // R1 asks for an ACK; rate-limited (Config::tcp_invalid_ack_interval).
                    self.invalid_ack(now);
                    return Some(Verdict::Drop(DropReason::TcpPaws));
                }
            }
        }
        // First: sequence number.
        if !self.acceptable(seg) {
            // RFC 9293: an unacceptable segment gets an ACK (unless it is an RST) and is dropped.
            // With a zero window, an in-sequence ACK is still processed below (§3.10.7.4 note).
            let zero_window_ack = seg.seq == self.rcv_nxt && seg.ack();
            if !zero_window_ack {
                if !seg.rst() && seg.seg_len() > 0 && !seg.syn() {
                    // Data or a FIN (a retransmission, a window probe) is always answered: it
                    // cannot be part of an ACK loop (Linux's tcp_oow_rate_limited exempts it).
                    self.ack_now = true;
                    // RFC 2883 §4: data wholly below RCV.NXT is a duplicate: report it.
                    if self.sack_ok && seg.seq.lt(self.rcv_nxt) {
                        self.dsack = self.duplicate_range(seg.seq, seg.payload.len());
                    }
                } else if !seg.rst() {
                    self.invalid_ack(now);
                }
                return Some(Verdict::Drop(DropReason::TcpNotAcceptable));
            }
        }
        None
    }

    /// RFC 9293 §3.10.7.4 fifth step for ESTABLISHED and later, with RFC 5961 §5.2.
    fn process_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut ChallengeCap,
    ) -> Option<Verdict> {
        let ack = seg.ack;
        // RFC 5961 §5.2: an ACK outside [SND.UNA − MAX.SND.WND, SND.NXT] is not believed.
        if !self.ack_is_plausible(ack) {
            if ack.gt(self.snd_max) {
                // An ACK for something not yet sent: ACK and drop (RFC 9293).
                self.ack_now = true;
            } else {
                self.challenge_ack(now, challenge);
            }
            return Some(Verdict::Drop(DropReason::TcpBadAck));
        }
        // Every check of §3.10.7.4 up to the ACK passed: only now may the timestamp count.
        self.update_ts_recent(seg, now);
        if seg.options.sack_blocks[0].is_some() && self.sack_ok {
            self.take_sack_blocks(seg);
            // RFC 6675 §5 (IsLost): more than (DupThresh − 1) × SMSS SACKed above SND.UNA means
            // the segment at SND.UNA is lost, even if the duplicate ACKs carried data or were
            // too few to count.
            if ack == self.snd_una && self.scoreboard.sacked_bytes() > 2 * self.smss {
                self.enter_recovery(now, "SACK");
            }
        }
        let window = usize::from(seg.window) << self.snd_shift;
        if ack.gt(self.snd_una) {
            self.new_ack(seg, now);
        } else if ack == self.snd_una {
            self.maybe_dup_ack(seg, window, now);
        }
        // Window update (RFC 9293 §3.10.7.4): from a newer segment, or the same with a newer ACK.
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(ack)) {
            let opened = self.snd_wnd == 0 && window > 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if opened {
                self.timers.stop(Timer::Persist);
                self.persist_backoff = 0;
                self.persist_probes = 0;
            }
        }
        if self.snd_wnd == 0
            && self.has_unsent_data()
            && !self.timers.is_set(Timer::Retransmit)
            && !self.timers.is_set(Timer::Persist)
        {
            self.arm_persist(now);
        }
        // State transitions driven by the ACK of our FIN.
        let fin_acked = self.fin_acked;
        match self.state {
            State::FinWait1 if fin_acked => {
                self.set_state(State::FinWait2);
                if self.detached {
                    // Nobody will read or close any more: don't wait for the peer's FIN forever
                    // (Linux's tcp_fin_timeout); give it 2×MSL.
                    let two_msl = Duration::from_micros(self.msl.total_micros().saturating_mul(2));
                    self.timers.set(Timer::TimeWait, now + two_msl);
                }
            }
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => {
                self.close_now(None);
                return Some(Verdict::Ok);
            }
            State::TimeWait => {
                // A retransmitted FIN: acknowledge it and restart 2×MSL (§3.10.7.4).
                if seg.fin() {
                    self.ack_now = true;
                    self.restart_time_wait(now);
                }
                return Some(Verdict::Ok);
            }
            _ => {}
        }
        None
    }

    fn take_sack_blocks(&mut self, seg: &TcpSegment<'_>) {
        let base = self.data_start();
        for (left, right) in seg.options.sack_blocks.iter().flatten().copied() {
            // RFC 2018 §4 / RFC 6675: only blocks within what we sent and above SND.UNA count.
            if left.lt(base) || right.gt(self.snd_max) || !left.lt(right) {
                continue;
            }
            let s = left.distance(base) as usize;
            let e = right.distance(base) as usize;
            self.scoreboard.add(s, e.min(self.send_buf.len()));
        }
    }

    fn new_ack(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        let ack = seg.ack;
        let mut acked = ack.distance(self.snd_una) as usize;
        let total_acked = acked;
        if !self.syn_acked {
            self.syn_acked = true;
            acked -= 1;
        }
        if let Some(fin) = self.our_fin_seq() {
            if !self.fin_acked && ack.gt(fin) {
                self.fin_acked = true;
                acked = acked.saturating_sub(1);
            }
        }
        let data_acked = acked.min(self.send_buf.len());
        self.send_buf.ack(data_acked);
        self.scoreboard.advance(data_acked);
        self.stats.bytes_acked += data_acked as u64;
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        if self.rtx_mark.lt(ack) {
            self.rtx_mark = ack;
        }
        self.stalled_since = None;
        self.dup_acks = 0;
        // RTT: timestamps (RFC 7323 §4.1, valid even for retransmissions) or a Karn-safe probe.
        let mut sample = None;
        if let (true, Some((_, ecr))) = (self.ts_ok, seg.options.timestamps) {
            let ms = self.ts_now(now).wrapping_sub(ecr);
            if ecr != 0 && ms < 60_000 {
                sample = Some(Duration::from_millis(u64::from(ms)));
            }
        } else if let Some((seq, sent_at)) = self.rtt_probe {
            if ack.gt(seq) {
                sample = Some(now.saturating_since(sent_at));
                self.rtt_probe = None;
            }
        }
        if let Some(r) = sample {
            self.rtt.sample(r);
        }
        self.rtt.reset_backoff();
        // Congestion control and NewReno recovery (RFC 6582 §3.2 steps 5-6).
        match self.recovery {
            Some(recover) if ack.ge(recover) => {
                debug!("tcp {} -> {}: recovery complete", self.local, self.remote);
                self.recovery = None;
                self.rtx_budget = 0;
                self.cc.on_exit_recovery(self.flight_size());
            }
            Some(_) => {
                // Partial ACK: the next hole is lost too; retransmit it now.
                self.cc.on_partial_ack(total_acked);
                self.rtx_budget += 1;
                if !self.sack_ok || self.scoreboard.is_empty() {
                    self.rtx_mark = self.snd_una;
                }
            }
            None => self.cc.on_ack(now, total_acked, sample),
        }
        // RFC 6298 §5.2-5.3: stop the timer when all is acknowledged, else restart it.
        if self.snd_una == self.snd_max {
            self.timers.stop(Timer::Retransmit);
        } else {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    /// RFC 5681 §2 (definition) and §3.2, RFC 6582 §3.2: duplicate ACKs and fast retransmit.
    fn maybe_dup_ack(&mut self, seg: &TcpSegment<'_>, window: usize, now: Instant) {
        let outstanding = self.snd_max != self.snd_una;
        let is_dup = outstanding
            && seg.payload.is_empty()
            && !seg.syn()
            && !seg.fin()
            && window == self.snd_wnd;
        if !is_dup {
            return;
        }
        self.dup_acks += 1;
        if self.recovery.is_some() {
            self.cc.on_dup_ack_in_recovery();
            if self.sack_ok {
                self.rtx_budget += 1;
            }
            return;
        }
        // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new
        // to send, fewer duplicate ACKs can ever arrive, so the threshold drops to
        // outstanding segments − 1.
        let outstanding = self.flight_size().div_ceil(self.smss.max(1));
        let threshold = if outstanding < 4 && !self.has_unsent_data() {
            (outstanding.saturating_sub(1) as u32).max(1)
        } else {
            3
        };
        if self.dup_acks == threshold {
            self.enter_recovery(now, "duplicate ACKs");
        }
    }

    /// Starts fast retransmit / fast recovery (RFC 5681 §3.2, RFC 6582 §3.2), unless the ACK
    /// does not cover more than "recover" (step 1: avoid a false recovery after a timeout).
    fn enter_recovery(&mut self, now: Instant, why: &str) {
        if self.recovery.is_some() || !self.snd_una.sub(1).ge(self.recover) {
            return;
        }
        debug!(
            "tcp {} -> {}: loss detected at {} ({why}): fast retransmit",
            self.local, self.remote, self.snd_una
        );
        self.recovery = Some(self.snd_max);
        self.recover = self.snd_max;
        self.cc.on_enter_recovery(now, self.flight_size());
        self.stats.fast_retransmits += 1;
        self.rtx_mark = self.snd_una;
        self.rtx_budget = 1;
        self.rtt_probe = None;
    }

    /// RFC 9293 §3.10.7.4 eighth step in TIME-WAIT: a retransmitted FIN restarts the 2×MSL
    /// wait — at most `tcp_time_wait_max_restarts` times, so a peer cannot hold it forever.
    fn restart_time_wait(&mut self, now: Instant) {
        if self.time_wait_restarts < self.time_wait_restart_limit {
            self.time_wait_restarts += 1;
            self.enter_time_wait(now);
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.clear();
        let two_msl = Duration::from_micros(self.msl.total_micros().saturating_mul(2));
        self.timers.set(Timer::TimeWait, now + two_msl);
    }
}
