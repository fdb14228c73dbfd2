//! The three-way handshake (RFC 9293 §3.5, §3.10.7.2-§3.10.7.4): SYN options, the passive
//! open from a SYN or a SYN cookie, SYN-SENT, and ONE handshake completion shared by the four
//! ways a connection becomes ESTABLISHED (SYN-ACK in SYN-SENT, SYN-ACK after a simultaneous
//! open, the final ACK in SYN-RECEIVED, a valid SYN-cookie ACK).

use super::connection::Connection;
use super::input::Verdict;
use super::paws::TsRecent;
use super::state::State;
use super::timers::Timer;
use super::TcpError;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpOptions, TcpSegment, TsVal};
use log::debug;

/// When our SYN (or SYN-ACK) went out, for the handshake's RTT sample: Karn's rule (RFC 6298
/// §3) times only a segment sent once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SynTiming {
    /// Not sent yet.
    #[default]
    Unsent,
    /// Sent once, at this time.
    Once(Instant),
    /// Sent again (a retransmission, or the answer to a retransmitted SYN): an ACK cannot be
    /// matched to one send.
    Ambiguous,
}

impl SynTiming {
    /// One more SYN (or SYN-ACK) sent at `now`.
    pub(crate) fn sent(self, now: Instant) -> SynTiming {
        match self {
            SynTiming::Unsent => SynTiming::Once(now),
            _ => SynTiming::Ambiguous,
        }
    }
}

impl Connection {
    /// Applies the options of the peer's SYN (or SYN-ACK): MSS, window scale, SACK, timestamps
    /// are used only if both sides offered them (RFC 7323 §2.2 / §3.2, RFC 2018 §2).
    fn take_syn_options(&mut self, seg: &TcpSegment<'_>, now: Instant, we_offered: TcpOptions) {
        let o = &seg.options;
        self.snd.mss = self.clamp_mss(o.mss);
        // Nothing has been sent yet: start the controller afresh so the initial window is the
        // RFC 6928 one for the negotiated MSS, not for the 536-byte default.
        self.rec.new_controller(self.snd.mss);
        match (o.window_scale, we_offered.window_scale) {
            // RFC 7323 §2.3: a shift above 14 is treated as 14.
            (Some(theirs), Some(_)) => self.snd.shift = theirs.min(14),
            _ => {
                self.snd.shift = 0;
                self.rcv.shift = 0;
            }
        }
        self.sack_ok = self.sack_ok && o.sack_permitted && we_offered.sack_permitted;
        match (o.timestamps, we_offered.timestamps) {
            (Some((tsval, _)), Some(_)) if self.ts.ok => {
                self.ts.recent = TsRecent::new(TsVal(tsval), now);
            }
            _ => self.ts.ok = false,
        }
    }

    /// The options we put on our SYN or SYN-ACK.
    pub(super) fn syn_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(self.rcv.mss.min(65535) as u16),
            ..TcpOptions::default()
        };
        let answering = self.state == State::SynReceived;
        let peer = &self.peer_syn_options;
        // A SYN-ACK carries an option only if the SYN did (RFC 7323 §1.3, RFC 2018 §2).
        if !answering || peer.window_scale.is_some() {
            o.window_scale = Some(self.rcv.shift).filter(|_| self.rcv.shift > 0 || answering);
            if !answering && self.rcv.shift == 0 {
                o.window_scale = None;
            }
        }
        if self.sack_ok && (!answering || peer.sack_permitted) {
            o.sack_permitted = true;
        }
        if self.ts.ok && (!answering || peer.timestamps.is_some()) {
            let echo = if answering { self.ts.recent.val.0 } else { 0 };
            o.timestamps = Some((self.ts_now(now).0, echo));
        }
        o
    }

    /// A SYN arrived for a listener and created this connection (RFC 9293 §3.10.7.2).
    pub(super) fn accept_syn(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        self.passive = true;
        self.peer_syn_options = seg.options;
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seg.seq.add(1);
        self.snd.wnd = usize::from(seg.window); // never scaled in a SYN (RFC 7323 §2.2)
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = self.snd.iss;
        let offered = TcpOptions {
            window_scale: Some(self.rcv.shift),
            sack_permitted: self.sack_ok,
            timestamps: self.ts.ok.then_some((0, 0)),
            ..TcpOptions::default()
        };
        self.take_syn_options(seg, now, offered);
        if seg.options.window_scale.is_none() {
            self.rcv.shift = 0;
        }
        self.rcv.adv = self.rcv.nxt;
        self.set_state(State::SynReceived);
        self.syn_pending = true;
        self.last_recv = now;
        self.timers.set(Timer::Retransmit, now + self.rec.rtt.rto());
    }

    /// Builds an established connection from a valid SYN-cookie ACK (RFC 4987 §3.6): the
    /// handshake state lives in the cookie, options other than MSS are not used. The steps
    /// every handshake completion shares are [`establish`](Self::establish)'s.
    pub(super) fn accept_cookie(
        &mut self,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
        mss: u16,
        now: Instant,
    ) {
        self.passive = true;
        // The SYN-ACK this ACK answers was never held: its numbers come from the ACK.
        self.rcv.irs = seg.seq.sub(1);
        self.rcv.nxt = seg.seq;
        self.snd.iss = ack.sub(1);
        self.snd.nxt = ack;
        self.snd.max = ack;
        self.rec.recover = ack;
        self.rec.rtx_mark = ack;
        self.snd.shift = 0;
        self.rcv.shift = 0;
        self.ts.ok = false;
        self.sack_ok = false;
        self.snd.mss = self.clamp_mss(Some(mss));
        self.rec.new_controller(self.snd.mss);
        // Without window scaling we can only ever advertise 64 KiB.
        self.rcv.adv = self.rcv.nxt.add(self.rcv.buf.window().min(65535));
        // No RTT sample: the SYN-ACK's send time is not known (the cookie does not keep it).
        self.establish(seg, ack, now, usize::from(seg.window));
        // A fresh connection holds no out-of-order ranges: nothing can be refused.
        let _ = self.process_text_and_fin(seg, now);
    }

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    pub(super) fn on_segment_syn_sent(&mut self, seg: &TcpSegment<'_>, now: Instant) -> Verdict {
        // A SYN+FIN would open a connection that is already closing (RFC 9293 leaves it
        // undefined); like the listener, drop it.
        if seg.syn() && seg.fin() {
            return Verdict::Drop(DropReason::TcpSynFin);
        }
        // First: the ACK bit. An ACK for something we never sent is answered with RST.
        if let Some(ack) = seg.ack.filter(|a| a.le(self.snd.iss) || a.gt(self.snd.max)) {
            if !seg.rst() {
                self.rst_pending = Some((ack, None));
            }
            return Verdict::Drop(DropReason::TcpBadAck);
        }
        let ack_ok = seg.ack;
        // Second: RST. Only with an acceptable ACK does it refuse the connection (RFC 5961 §3.2
        // keeps this rule for SYN-SENT).
        if seg.rst() {
            if ack_ok.is_some() {
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
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seg.seq.add(1);
        self.take_syn_options(seg, now, offered);
        self.last_recv = now;
        if let Some(ack) = ack_ok {
            // RFC 9293 §3.10.7.3: window from the SYN-ACK, unscaled (RFC 7323 §2.2).
            self.complete_handshake(seg, ack, now, usize::from(seg.window));
            self.rcv.adv = self.rcv.nxt;
            self.rcv.ack_now = true;
            // Data on a SYN-ACK is legal, if rare.
            // A fresh connection holds no out-of-order ranges: nothing can be refused.
            let _ = self.process_text_and_fin(seg, now);
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 8): answer with SYN-ACK. Text on the
            // SYN waits for ESTABLISHED (§3.10.7.3: "queue them for processing after the
            // ESTABLISHED state has been reached"), unacknowledged until then.
            let keep = seg
                .payload
                .len()
                .min(self.rcv.mss)
                .min(self.rcv.buf.window());
            self.rcv.syn_text = seg.payload[..keep].to_vec();
            self.peer_syn_options = seg.options;
            self.snd.wnd = usize::from(seg.window);
            self.snd.max_wnd = self.snd.wnd;
            self.snd.wl1 = seg.seq;
            self.set_state(State::SynReceived);
            self.syn_pending = true;
            self.rcv.adv = self.rcv.nxt;
        }
        Verdict::Ok
    }

    /// The handshake is complete: `seg` acknowledges our SYN (RFC 9293 §3.10.7.3 and
    /// §3.10.7.4 fifth step, SYN-RECEIVED): the SYN is timed, then [`establish`](Self::establish).
    /// `window` is the peer's window in bytes (unscaled in a SYN-ACK, RFC 7323 §2.2; scaled in
    /// the final ACK).
    pub(super) fn complete_handshake(
        &mut self,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
        now: Instant,
        window: usize,
    ) {
        self.rtt_sample_for_syn(seg, now);
        self.rec.rtt.reset_backoff();
        self.establish(seg, ack, now, window);
    }

    /// The steps every handshake completion shares — the SYN-ACK in SYN-SENT, the final ACK in
    /// SYN-RECEIVED, a valid SYN-cookie ACK (RFC 4987 §3.6): `ack` acknowledges our SYN, the
    /// peer's window (`window` bytes) is taken from `seg`, and the connection is ESTABLISHED —
    /// the one place a handshake makes it so.
    fn establish(&mut self, seg: &TcpSegment<'_>, ack: SeqNumber, now: Instant, window: usize) {
        self.snd.una = ack;
        self.snd.syn_acked = true;
        self.syn_pending = false;
        self.timers.stop(Timer::Retransmit);
        self.snd.wnd = window;
        self.snd.max_wnd = window;
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = ack;
        self.last_recv = now;
        self.set_state(State::Established);
        if let Some(k) = self.keepalive {
            self.timers.set(Timer::Keepalive, now + k);
        }
        // Text queued from a simultaneous-open SYN (§3.10.7.3) is in order now.
        if !self.rcv.syn_text.is_empty() {
            let text = std::mem::take(&mut self.rcv.syn_text);
            let advanced = self.rcv.buf.write_at(0, &text);
            self.rcv.nxt = self.rcv.nxt.add(advanced);
            self.stats.bytes_received += advanced as u64;
            if advanced > 0 {
                self.schedule_ack(now, advanced);
            }
        }
    }

    /// SYN-RECEIVED, before the window check: the peer's SYN again (our SYN-ACK was lost), or,
    /// after a simultaneous open, its SYN-ACK (RFC 9293 §3.5 figure 8). Both sit at
    /// RCV.NXT − 1, so they would fail the window check; None for any other segment.
    pub(super) fn syn_received_syn(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
    ) -> Option<Verdict> {
        if self.state != State::SynReceived || !seg.syn() || seg.rst() || seg.seq != self.rcv.irs {
            return None;
        }
        if seg.ack == Some(self.snd.iss.add(1)) && !self.passive {
            self.complete_handshake(seg, self.snd.iss.add(1), now, usize::from(seg.window));
            self.rcv.ack_now = true;
            return Some(Verdict::Ok);
        }
        self.syn_pending = true;
        Some(Verdict::Ok)
    }

    /// SYN-RECEIVED, fifth step (RFC 9293 §3.10.7.4): an ACK of our SYN completes the
    /// handshake; any other is answered with <SEQ=SEG.ACK><CTL=RST>.
    pub(super) fn syn_received_ack(
        &mut self,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
        now: Instant,
    ) -> Option<Verdict> {
        if ack.gt(self.snd.una) && ack.le(self.snd.max) {
            let window = usize::from(seg.window) << self.snd.shift;
            self.complete_handshake(seg, ack, now, window);
            None
        } else {
            self.rst_pending = Some((ack, None));
            Some(Verdict::Drop(DropReason::TcpBadAck))
        }
    }

    /// The handshake's RTT sample, RFC 6298 §2.2's first measurement (for a passive open, SYN-ACK
    /// sent → its ACK received, as Linux's `tcp_synack_rtt_meas`): from the send time, in
    /// microseconds, when the SYN went out once; else (Karn, RFC 6298 §3) only from a timestamp
    /// echo (RFC 7323 §4.1), whose millisecond clock reads a sub-millisecond path as 0.
    fn rtt_sample_for_syn(&mut self, seg: &TcpSegment<'_>, now: Instant) {
        if let SynTiming::Once(at) = self.syn_sent {
            self.rec.rtt.sample(now.saturating_since(at));
        } else if let (true, Some((_, ecr))) = (self.ts.ok, seg.options.timestamps) {
            if ecr != 0 {
                let ms = self.ts_now(now).since(TsVal(ecr));
                if ms < 60_000 {
                    self.rec.rtt.sample(Duration::from_millis(u64::from(ms)));
                }
            }
        }
    }
}
