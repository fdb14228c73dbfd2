//! Segment arrival: RFC 9293 §3.10.7 step by step, with RFC 5961 (RST and SYN handling, ACK
//! validation), RFC 7323 (timestamps, PAWS), RFC 2018 (SACK), RFC 5681/6582 (duplicate ACKs and
//! NewReno fast recovery), RFC 6298 (RTT samples).

use super::connection::Connection;
use super::state::State;
use super::timers::Timer;
use super::TcpError;
use crate::icmp::TokenBucket;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpOptions, TcpSegment};
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
    fn clamp_mss(&self, announced: Option<u16>) -> usize {
        let mss = announced.map_or(536, usize::from);
        mss.clamp(64, self.mtu.saturating_sub(40).min(self.max_mss).max(64))
    }

    /// Applies the options of the peer's SYN (or SYN-ACK): MSS, window scale, SACK, timestamps
    /// are used only if both sides offered them (RFC 7323 §2.2 / §3.2, RFC 2018 §2).
    fn take_syn_options(&mut self, seg: &TcpSegment<'_>, now: Instant, we_offered: TcpOptions) {
        let o = &seg.options;
        self.smss = self.clamp_mss(o.mss);
        // Nothing has been sent yet: start the controller afresh so the initial window is the
        // RFC 6928 one for the negotiated MSS, not for the 536-byte default.
        self.cc = super::congestion::new_controller(self.cc_algorithm, self.smss);
        match (o.window_scale, we_offered.window_scale) {
            // RFC 7323 §2.3: a shift above 14 is treated as 14.
            (Some(theirs), Some(_)) => self.snd_shift = theirs.min(14),
            _ => {
                self.snd_shift = 0;
                self.rcv_shift = 0;
            }
        }
        self.sack_ok = self.sack_ok && o.sack_permitted && we_offered.sack_permitted;
        match (o.timestamps, we_offered.timestamps) {
            (Some((tsval, _)), Some(_)) if self.ts_ok => {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
            _ => self.ts_ok = false,
        }
    }

    /// The options we put on our SYN or SYN-ACK.
    pub(super) fn syn_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(self.rmss.min(65535) as u16),
            ..TcpOptions::default()
        };
        let answering = self.state == State::SynReceived;
        let peer = &self.peer_syn_options;
        // A SYN-ACK carries an option only if the SYN did (RFC 7323 §1.3, RFC 2018 §2).
        if !answering || peer.window_scale.is_some() {
            o.window_scale = Some(self.rcv_shift).filter(|_| self.rcv_shift > 0 || answering);
            if !answering && self.rcv_shift == 0 {
                o.window_scale = None;
            }
        }
        if self.sack_ok && (!answering || peer.sack_permitted) {
            o.sack_permitted = true;
        }
        if self.ts_ok && (!answering || peer.timestamps.is_some()) {
            let echo = if answering { self.ts_recent } else { 0 };
            o.timestamps = Some((self.ts_now(now), echo));
        }
        o
    }

    /// A SYN arrived for a listener and created this connection (RFC 9293 §3.10.7.2).
    pub(super) fn accept_syn(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        self.passive = true;
        self.peer_syn_options = seg.options;
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.add(1);
        self.snd_wnd = usize::from(seg.window); // never scaled in a SYN (RFC 7323 §2.2)
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = self.iss;
        let offered = TcpOptions {
            window_scale: Some(self.rcv_shift),
            sack_permitted: self.sack_ok,
            timestamps: self.ts_ok.then_some((0, 0)),
            ..TcpOptions::default()
        };
        self.take_syn_options(seg, now, offered);
        if seg.options.window_scale.is_none() {
            self.rcv_shift = 0;
        }
        self.rcv_adv = self.rcv_nxt;
        self.set_state(State::SynReceived);
        self.syn_pending = true;
        self.last_recv = now;
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    /// Builds an established connection from a valid SYN-cookie ACK (RFC 4987 §3.6): the
    /// handshake state lives in the cookie, options other than MSS are not used.
    pub(super) fn accept_cookie(&mut self, seg: &TcpSegment<'_>, mss: u16, now: Instant) {
        self.passive = true;
        self.irs = seg.seq.sub(1);
        self.rcv_nxt = seg.seq;
        self.iss = seg.ack.sub(1);
        self.snd_una = seg.ack;
        self.snd_nxt = seg.ack;
        self.snd_max = seg.ack;
        self.recover = seg.ack;
        self.rtx_mark = seg.ack;
        self.syn_acked = true;
        self.snd_shift = 0;
        self.rcv_shift = 0;
        self.ts_ok = false;
        self.sack_ok = false;
        self.smss = self.clamp_mss(Some(mss));
        self.cc = super::congestion::new_controller(self.cc_algorithm, self.smss);
        self.snd_wnd = usize::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        // Without window scaling we can only ever advertise 64 KiB.
        self.rcv_adv = self.rcv_nxt.add(self.recv_buf.window().min(65535));
        self.last_recv = now;
        self.set_state(State::Established);
        self.process_text_and_fin(seg, now);
    }

    /// Handles one segment addressed to this connection.
    pub(crate) fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut TokenBucket,
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

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    fn on_segment_syn_sent(&mut self, seg: &TcpSegment<'_>, now: Instant) -> Verdict {
        // A SYN+FIN would open a connection that is already closing (RFC 9293 leaves it
        // undefined); like the listener, drop it.
        if seg.syn() && seg.fin() {
            return Verdict::Drop(DropReason::TcpSynFin);
        }
        // First: the ACK bit. An ACK for something we never sent is answered with RST.
        if seg.ack() && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_max)) {
            if !seg.rst() {
                self.rst_pending = Some((seg.ack, None));
            }
            return Verdict::Drop(DropReason::TcpBadAck);
        }
        let ack_ok = seg.ack();
        // Second: RST. Only with an acceptable ACK does it refuse the connection (RFC 5961 §3.2
        // keeps this rule for SYN-SENT).
        if seg.rst() {
            if ack_ok {
                debug!("tcp {} -> {}: connection refused", self.local, self.remote);
                self.close_now(Some(TcpError::Refused));
                return Verdict::Ok;
            }
            return Verdict::Drop(DropReason::TcpUnexpected);
        }
        // Fourth: SYN.
        if !seg.syn() {
            return Verdict::Drop(DropReason::TcpUnexpected);
        }
        let offered = self.syn_options(now);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.add(1);
        self.take_syn_options(seg, now, offered);
        self.last_recv = now;
        if ack_ok {
            self.snd_una = seg.ack;
            self.syn_acked = true;
            // RFC 9293 §3.10.7.3: window from the SYN-ACK, unscaled.
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.timers.stop(Timer::Retransmit);
            self.rtt_sample_for_syn(seg, now);
            self.rtt.reset_backoff();
            self.syn_pending = false;
            self.set_state(State::Established);
            self.rcv_adv = self.rcv_nxt;
            self.ack_now = true;
            if let Some(k) = self.keepalive {
                self.timers.set(Timer::Keepalive, now + k);
            }
            // Data on a SYN-ACK is legal, if rare.
            self.process_text_and_fin(seg, now);
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 8): answer with SYN-ACK. Text on the
            // SYN waits for ESTABLISHED (§3.10.7.3: "queue them for processing after the
            // ESTABLISHED state has been reached"), unacknowledged until then.
            let keep = seg.payload.len().min(self.rmss).min(self.recv_buf.window());
            self.syn_text = seg.payload[..keep].to_vec();
            self.peer_syn_options = seg.options;
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.set_state(State::SynReceived);
            self.syn_pending = true;
            self.rcv_adv = self.rcv_nxt;
        }
        Verdict::Ok
    }

    fn rtt_sample_for_syn(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        // Karn: only a SYN sent once may be timed (unless timestamps echo it).
        if let (true, Some((_, ecr))) = (self.ts_ok, seg.options.timestamps) {
            if ecr != 0 {
                let ms = self.ts_now(now).wrapping_sub(ecr);
                if ms < 60_000 {
                    self.rtt.sample(Duration::from_millis(u64::from(ms)));
                }
            }
        } else if self.syn_retries == 0 {
            self.rtt.sample(now.saturating_since(self.last_send));
        }
    }

    /// The receive window used for acceptability: what we can hold.
    fn acceptance_window(&self) -> usize {
        let advertised = self.rcv_adv.distance(self.rcv_nxt) as usize;
        let advertised = if self.rcv_adv.lt(self.rcv_nxt) {
            0
        } else {
            advertised
        };
        advertised.max(self.recv_buf.window().min(1 << 30))
    }

    /// RFC 9293 §3.10.7.4 first check, the acceptability table.
    fn acceptable(&self, seg: &TcpSegment<'_>) -> bool {
        let wnd = self.acceptance_window() as u32;
        let len = seg.seg_len() as u32;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_window(self.rcv_nxt, wnd),
            (_, 0) => false,
            (_, _) => {
                seg.seq.in_window(self.rcv_nxt, wnd)
                    || seg.seq.add(len as usize - 1).in_window(self.rcv_nxt, wnd)
            }
        }
    }

    fn challenge_ack(&mut self, now: Instant, challenge: &mut TokenBucket) {
        // RFC 5961 §7: challenge ACKs are rate-limited so they cannot be used as an amplifier.
        if challenge.take(now) {
            self.ack_now = true;
        }
    }

    /// RFC 9293 §3.10.7.4, every state from SYN-RECEIVED on.
    fn on_segment_synchronized(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut TokenBucket,
    ) -> Verdict {
        // SYN-RECEIVED: the peer's SYN again (our SYN-ACK was lost), or, after a simultaneous
        // open, its SYN-ACK (RFC 9293 §3.5 figure 8). Both sit at RCV.NXT − 1, so they would fail
        // the window check below; handle them first.
        if self.state == State::SynReceived && seg.syn() && !seg.rst() && seg.seq == self.irs {
            if seg.ack() && seg.ack == self.iss.add(1) && !self.passive {
                self.snd_una = seg.ack;
                self.syn_acked = true;
                self.syn_pending = false;
                self.timers.stop(Timer::Retransmit);
                self.rtt.reset_backoff();
                self.snd_wnd = usize::from(seg.window);
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.set_state(State::Established);
                self.ack_now = true;
                self.last_recv = now;
                return Verdict::Ok;
            }
            self.syn_pending = true;
            return Verdict::Ok;
        }
        // TIME-WAIT: a retransmitted FIN (the peer lost our ACK) is acknowledged and restarts
        // the 2×MSL wait (RFC 9293 §3.10.7.4, eighth step).
        if self.state == State::TimeWait && seg.fin() && !seg.rst() {
            let fin = seg.seq.add(seg.payload.len());
            if fin.add(1) == self.rcv_nxt {
                self.ack_now = true;
                self.enter_time_wait(now);
                return Verdict::Ok;
            }
        }
        // RFC 7323 §5.3 R1: PAWS before the sequence check.
        if self.ts_ok && !seg.rst() {
            if let Some((tsval, _)) = seg.options.timestamps {
                let older = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                if older && now.saturating_since(self.ts_recent_at) < PAWS_IDLE {
                    self.ack_now = true;
                    return Verdict::Drop(DropReason::TcpPaws);
                }
            }
        }
        // First: sequence number.
        if !self.acceptable(seg) {
            // RFC 9293: an unacceptable segment gets an ACK (unless it is an RST) and is dropped.
            // With a zero window, an in-sequence ACK is still processed below (§3.10.7.4 note).
            let zero_window_ack = seg.seq == self.rcv_nxt && seg.ack();
            if !zero_window_ack {
                if !seg.rst() {
                    self.ack_now = true;
                    // RFC 2883 §4: data wholly below RCV.NXT is a duplicate: report it.
                    if self.sack_ok && !seg.payload.is_empty() && seg.seq.lt(self.rcv_nxt) {
                        self.dsack = self.duplicate_range(seg.seq, seg.payload.len());
                    }
                }
                return Verdict::Drop(DropReason::TcpNotAcceptable);
            }
        }
        // RFC 7323 §4.3: remember the timestamp to echo.
        if let (true, Some((tsval, _))) = (self.ts_ok, seg.options.timestamps) {
            if seg.seq.le(self.rcv_nxt) && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
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
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
                self.snd_una = seg.ack;
                self.syn_acked = true;
                self.syn_pending = false;
                self.timers.stop(Timer::Retransmit);
                self.rtt_sample_for_syn(seg, now);
                self.rtt.reset_backoff();
                self.snd_wnd = usize::from(seg.window) << self.snd_shift;
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.set_state(State::Established);
                if let Some(k) = self.keepalive {
                    self.timers.set(Timer::Keepalive, now + k);
                }
                // Text queued from a simultaneous-open SYN (§3.10.7.3) is in order now.
                let text = std::mem::take(&mut self.syn_text);
                let advanced = self.recv_buf.write_at(0, &text);
                self.rcv_nxt = self.rcv_nxt.add(advanced);
                self.stats.bytes_received += advanced as u64;
                if advanced > 0 {
                    self.schedule_ack(now, advanced);
                }
            } else {
                // RFC 9293 §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>.
                self.rst_pending = Some((seg.ack, None));
                return Verdict::Drop(DropReason::TcpBadAck);
            }
        }
        if let Some(v) = self.process_ack(seg, now, challenge) {
            return v;
        }
        if self.state == State::Closed {
            return Verdict::Ok;
        }
        self.process_text_and_fin(seg, now);
        Verdict::Ok
    }

    /// RFC 9293 §3.10.7.4 fifth step for ESTABLISHED and later, with RFC 5961 §5.2.
    fn process_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
        challenge: &mut TokenBucket,
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
                    self.enter_time_wait(now);
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

    /// RFC 9293 §3.10.7.4 seventh and eighth steps: segment text and FIN.
    fn process_text_and_fin(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        if seg.fin() {
            let fin = seg.seq.add(seg.payload.len() + usize::from(seg.syn()));
            self.fin_seq.get_or_insert(fin);
            // RFC 5681 §4.2: a FIN beyond a gap is an out-of-order segment too and gets an
            // immediate duplicate ACK, even with no data on it.
            if seg.payload.is_empty() && fin.gt(self.rcv_nxt) {
                self.ack_now = true;
            }
        }
        if !seg.payload.is_empty() && self.state.can_receive() && !self.fin_received {
            let mut data = seg.payload;
            let mut start = seg.seq.add(usize::from(seg.syn()));
            if self.sack_ok {
                self.dsack = self.duplicate_range(start, data.len());
            }
            if start.lt(self.rcv_nxt) {
                let skip = (self.rcv_nxt.distance(start) as usize).min(data.len());
                data = &data[skip..];
                start = self.rcv_nxt;
            }
            let offset = start.distance(self.rcv_nxt) as usize;
            let room = self.recv_buf.window().saturating_sub(offset);
            let data = &data[..data.len().min(room)];
            if !data.is_empty() {
                let had_gap = self.recv_buf.has_out_of_order();
                let advanced = self.recv_buf.write_at(offset, data);
                self.rcv_nxt = self.rcv_nxt.add(advanced);
                self.stats.bytes_received += advanced as u64;
                if advanced > 0 {
                    // The cumulative ACK moved: duplicate ACKs still owed for the old RCV.NXT
                    // would now only look like new duplicates to the sender.
                    self.acks_owed = 0;
                }
                if offset > 0 {
                    // RFC 5681 §4.2: one immediate duplicate ACK per out-of-order segment.
                    self.stats.out_of_order += 1;
                    self.owe_ack();
                } else if had_gap {
                    // Filling a gap: ACK at once.
                    self.ack_now = true;
                } else if self.dsack.is_some() {
                    // RFC 2883 §4: part of it was a duplicate; the D-SACK block tells the
                    // sender now that it resent data needlessly, not a delayed ACK later.
                    self.ack_now = true;
                } else {
                    self.schedule_ack(now, seg.payload.len());
                }
            } else {
                // Old duplicate, beyond the window, or a probe of our zero window: tell the peer
                // where we are and what the window is (RFC 9293 §3.8.6.1).
                self.ack_now = true;
            }
        }
        // Eighth: FIN, once everything before it has arrived.
        if let Some(fin) = self.fin_seq {
            if !self.fin_received && fin == self.rcv_nxt && self.state.is_synchronized() {
                self.rcv_nxt = self.rcv_nxt.add(1);
                self.fin_received = true;
                self.ack_now = true;
                match self.state {
                    State::Established => self.set_state(State::CloseWait),
                    State::FinWait1 if self.fin_acked => self.enter_time_wait(now),
                    State::FinWait1 => self.set_state(State::Closing),
                    State::FinWait2 => self.enter_time_wait(now),
                    _ => {}
                }
            }
        }
    }

    /// Delayed ACK (RFC 9293 §3.8.6.3): ACK at least every second full-sized segment, and
    /// within `delayed_ack` otherwise.
    fn schedule_ack(&mut self, now: Instant, len: usize) {
        self.rcv_mss_est = self.rcv_mss_est.max(len.min(self.rmss));
        if len >= self.rcv_mss_est {
            self.unacked_segments += 1;
        }
        if self.unacked_segments >= 2 {
            self.unacked_segments = 0;
            self.ack_now = true;
        } else if !self.timers.is_set(Timer::DelayedAck) {
            self.timers.set(Timer::DelayedAck, now + self.delayed_ack);
        }
    }

    /// Owes one more immediate duplicate ACK (bounded: a burst cannot make us owe unboundedly
    /// many), so that several out-of-order segments arriving before the next `poll_transmit`
    /// still produce one duplicate ACK each for the sender to count.
    fn owe_ack(&mut self) {
        if self.ack_now {
            self.acks_owed = self.acks_owed.saturating_add(1).min(32);
        }
        self.ack_now = true;
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.clear();
        let two_msl = Duration::from_micros(self.msl.total_micros().saturating_mul(2));
        self.timers.set(Timer::TimeWait, now + two_msl);
    }

    /// An ICMP error about a segment of ours whose sequence number was `seq` (RFC 5927 §4.1:
    /// ignored unless it quotes unacknowledged data; RFC 1122 §4.2.3.9 soft vs hard errors).
    pub(crate) fn on_icmp_error(
        &mut self,
        error: crate::socket::IcmpError,
        seq: SeqNumber,
        next_mtu: u16,
    ) {
        if !(seq.ge(self.snd_una) && seq.lt(self.snd_max)) && self.state != State::SynSent {
            return;
        }
        use crate::wire::icmp::{types, unreach};
        if error.icmp_type == types::DEST_UNREACHABLE && error.code == unreach::FRAG_NEEDED {
            // RFC 1191 §6: lower the MSS to fit the next-hop MTU (never below 68 − 40).
            let mtu = usize::from(next_mtu).max(68);
            let mss = mtu.saturating_sub(40).max(28);
            if mss < self.smss {
                debug!(
                    "tcp {} -> {}: path MTU {mtu}, MSS {mss}",
                    self.local, self.remote
                );
                self.smss = mss;
                self.cc.set_mss(mss);
                // Resend what was lost at the old size.
                self.snd_nxt = self.snd_una;
            }
            return;
        }
        let hard = error.icmp_type == types::DEST_UNREACHABLE
            && matches!(error.code, unreach::PROTOCOL | unreach::PORT);
        if self.state == State::SynSent && (hard || error.icmp_type == types::DEST_UNREACHABLE) {
            // RFC 1122 §4.2.3.9 lets a connect fail on a hard error; ustack also fails it on
            // host/net unreachable while still in SYN-SENT, as Linux does after retries.
            self.close_now(Some(TcpError::Unreachable(error)));
        }
        // Soft errors never abort an established connection (RFC 5461).
    }
}
