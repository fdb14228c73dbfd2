//! Segment emission: what a connection sends next, written straight into the caller's buffer
//! (IPv4 header, TCP header, payload copied once from the send buffer).
//!
//! Order of business: a pending RST; SYN / SYN-ACK; retransmissions during fast recovery (SACK
//! holes first, RFC 6675 NextSeg-like; one per ACK received, packet conservation); new data (or
//! the resend after a timeout, skipping what the peer SACKed) within min(cwnd, peer window), with
//! Nagle (RFC 9293 §3.7.4) and sender SWS avoidance (§3.8.6.2.1); window / keepalive probes; and
//! finally a pure ACK if one is due.

use super::connection::Connection;
use super::state::State;
use super::timers::Timer;
use super::write_packet;
use crate::time::Instant;
use crate::wire::tcp::{flags, SeqNumber, TcpOptions, TcpRepr};
use log::{debug, trace};

/// Puts the IPv4 header in front of emitted segments (`ip::egress`; TCP writes only its segment).
pub(crate) use crate::ip::egress::IpOut;

impl Connection {
    /// The window to advertise, scaled for the header, never shrinking the right edge already
    /// offered (RFC 9293 §3.8.6.2.2 receiver SWS avoidance; RFC 7323 §2.4 rounding).
    fn advertise(&mut self, syn: bool) -> u16 {
        let space = self.recv_buf.window();
        if syn {
            self.rcv_adv = self.rcv_nxt.add(space.min(65535));
            return space.min(65535) as u16;
        }
        let current = if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.distance(self.rcv_nxt) as usize
        } else {
            0
        };
        let threshold = (self.recv_buf.capacity() / 2).min(self.rmss);
        let mut wnd = if space >= current + threshold {
            space
        } else {
            current.min(space)
        };
        wnd = wnd.min(65535usize << self.rcv_shift);
        let field = wnd >> self.rcv_shift;
        let right = self.rcv_nxt.add(field << self.rcv_shift);
        if right.gt(self.rcv_adv) || self.rcv_adv.lt(self.rcv_nxt) {
            self.rcv_adv = right;
        }
        field as u16
    }

    fn segment_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.ts_ok {
            o.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        // RFC 2883 §4: a duplicate segment's range goes first (a D-SACK block), then the
        // usual blocks.
        let first = usize::from(self.dsack.is_some());
        o.sack_blocks[0] = self.dsack;
        if self.sack_ok && self.recv_buf.has_out_of_order() {
            // RFC 2018 §4: the most recently changed block first, as many as fit.
            let mut blocks = [(0usize, 0usize); 4];
            let n = self.recv_buf.sack_blocks(&mut blocks[..4 - first]);
            for (slot, (s, e)) in o.sack_blocks[first..].iter_mut().zip(blocks[..n].iter()) {
                *slot = Some((self.rcv_nxt.add(*s), self.rcv_nxt.add(*e)));
            }
        }
        o
    }

    /// Writes one segment: `payload_len` bytes from send-buffer offset `payload_off`.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
        seq: SeqNumber,
        flag_bits: u8,
        options: TcpOptions,
        payload: Option<(usize, usize)>,
    ) -> usize {
        let syn = flag_bits & flags::SYN != 0;
        let window = self.advertise(syn);
        // A D-SACK block is reported once (RFC 2883 §4).
        self.dsack = None;
        let with_ack = flag_bits & flags::ACK != 0;
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: if with_ack { self.rcv_nxt } else { SeqNumber(0) },
            flags: flag_bits,
            window,
            options,
        };
        let start = crate::wire::ipv4::HEADER_LEN + repr.header_len();
        let len = match payload {
            Some((off, n)) => self.send_buf.read_at(off, &mut buf[start..start + n]),
            None => 0,
        };
        let n = write_packet(buf, *self.local.ip(), *self.remote.ip(), &repr, len, ip);
        trace!(
            "tcp {} -> {}: out {}",
            self.local,
            self.remote,
            crate::wire::PacketSummary(&buf[..n])
        );
        self.stats.segs_out += 1;
        self.last_send = now;
        if with_ack {
            if self.acks_owed > 0 {
                self.acks_owed -= 1;
            } else {
                self.ack_now = false;
            }
            self.unacked_segments = 0;
            self.timers.stop(Timer::DelayedAck);
        }
        n
    }

    /// Most payload one segment may carry with `options`, given the MSS and the buffer.
    fn max_payload(&self, options: &TcpOptions, buf_len: usize) -> usize {
        let opts = options.emitted_len();
        // RFC 6691: the MSS counts data only; options come out of it.
        let by_mss = self.smss.saturating_sub(opts).max(1);
        let by_buf = buf_len.saturating_sub(crate::wire::ipv4::HEADER_LEN + 20 + opts);
        let by_mtu = self
            .mtu
            .saturating_sub(crate::wire::ipv4::HEADER_LEN + 20 + opts);
        by_mss.min(by_buf).min(by_mtu)
    }

    /// Emits the next segment this connection wants to send, if any.
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        if let Some((seq, ack)) = self.rst_pending.take() {
            let f = if ack.is_some() {
                flags::RST | flags::ACK
            } else {
                flags::RST
            };
            let save = self.rcv_nxt;
            if let Some(a) = ack {
                self.rcv_nxt = a;
            }
            let n = self.write(now, buf, ip, seq, f, TcpOptions::default(), None);
            self.rcv_nxt = save;
            return Some(n);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent => return self.poll_handshake(now, buf, ip),
            State::SynReceived => {
                if let Some(n) = self.poll_handshake(now, buf, ip) {
                    return Some(n);
                }
                // RFC 5961 §3.2 / §4.2: a challenge ACK (or the ACK an unacceptable segment
                // gets, RFC 9293 §3.10.7.4) goes out in SYN-RECEIVED too, not only once
                // the connection is established.
                if self.ack_now {
                    let o = self.segment_options(now);
                    return Some(self.write(now, buf, ip, self.snd_max, flags::ACK, o, None));
                }
                return None;
            }
            _ => {}
        }
        if let Some(n) = self.poll_recovery(now, buf, ip) {
            return Some(n);
        }
        if let Some(n) = self.poll_data(now, buf, ip) {
            return Some(n);
        }
        if self.probe_pending {
            self.probe_pending = false;
            // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.3.6: an old sequence number elicits an ACK
            // carrying the current window.
            let o = self.segment_options(now);
            return Some(self.write(now, buf, ip, self.snd_una.sub(1), flags::ACK, o, None));
        }
        if self.ack_now {
            let o = self.segment_options(now);
            // A pure ACK carries SND.MAX, not SND.NXT (as BSD does): while SND.NXT is rewound for
            // a retransmission it may sit below sequence space the peer has already received
            // (even at our FIN), and the peer would find the ACK unacceptable and answer it with
            // another ACK — an ACK ping-pong that never delivers the acknowledgment.
            return Some(self.write(now, buf, ip, self.snd_max, flags::ACK, o, None));
        }
        None
    }

    fn poll_handshake(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        if !self.syn_pending {
            return None;
        }
        self.syn_pending = false;
        let options = self.syn_options(now);
        let f = if self.state == State::SynSent {
            flags::SYN
        } else {
            flags::SYN | flags::ACK
        };
        let n = self.write(now, buf, ip, self.iss, f, options, None);
        self.snd_nxt = self.iss.add(1);
        if self.snd_max.lt(self.snd_nxt) {
            self.snd_max = self.snd_nxt;
        }
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
        Some(n)
    }

    /// Retransmissions during fast recovery: the next SACK hole, or SND.UNA without SACK.
    fn poll_recovery(&mut self, now: Instant, buf: &mut [u8], ip: &mut IpOut<'_>) -> Option<usize> {
        self.recovery?;
        if self.rtx_budget == 0 {
            return None;
        }
        let base = self.data_start();
        let options = self.segment_options(now);
        let room = self.max_payload(&options, buf.len());
        let (seq, len) = if self.sack_ok && !self.scoreboard.is_empty() {
            let from = if self.rtx_mark.gt(base) {
                self.rtx_mark.distance(base) as usize
            } else {
                0
            };
            match self.scoreboard.next_hole(from) {
                Some((s, e)) => (base.add(s), (e - s).min(room)),
                None => {
                    self.rtx_budget = 0;
                    return None;
                }
            }
        } else if self.rtx_mark == self.snd_una {
            let off = self.snd_una.distance(base) as usize;
            (
                self.snd_una,
                self.send_buf.len().saturating_sub(off).min(room),
            )
        } else {
            self.rtx_budget = 0;
            return None;
        };
        self.rtx_budget -= 1;
        self.stats.retransmits += 1;
        self.rtt_probe = None;
        let n = self.emit_range(now, buf, ip, seq, len, options);
        self.rtx_mark = seq.add(len.max(1));
        trace!(
            "tcp {} -> {}: retransmit {} len {}",
            self.local,
            self.remote,
            seq,
            len
        );
        Some(n)
    }

    /// Emits `[seq, seq + len)` of the send buffer, with FIN if it reaches our FIN.
    fn emit_range(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
        seq: SeqNumber,
        len: usize,
        options: TcpOptions,
    ) -> usize {
        let base = self.data_start();
        let off = seq.distance(base) as usize;
        let end_of_data = off + len == self.send_buf.len();
        let mut f = flags::ACK;
        if len > 0 && end_of_data {
            f |= flags::PSH;
        }
        let with_fin = end_of_data && self.our_fin_seq().is_some_and(|fin| seq.add(len) == fin);
        if with_fin {
            f |= flags::FIN;
        }
        let payload = (len > 0).then_some((off, len));
        self.write(now, buf, ip, seq, f, options, payload)
    }

    /// New data, or the resend from SND.NXT after a timeout (skipping SACKed ranges).
    fn poll_data(&mut self, now: Instant, buf: &mut [u8], ip: &mut IpOut<'_>) -> Option<usize> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            return None;
        }
        let base = self.data_start();
        let mut off = self.data_sent_offset();
        let mut limit = self.send_buf.len();
        if self.sack_ok && !self.scoreboard.is_empty() && self.snd_nxt.lt(self.snd_max) {
            // Resending after a timeout: skip what the receiver already holds (RFC 6675 §5.1).
            if let Some(high) = self.scoreboard.highest() {
                if off < high {
                    match self.scoreboard.next_hole(off) {
                        Some((s, e)) => {
                            off = s;
                            limit = e;
                        }
                        None => off = high,
                    }
                }
            }
            self.snd_nxt = base.add(off);
        }
        let fin = self.our_fin_seq();
        let fin_due = fin.is_some_and(|f| self.snd_nxt.le(f));
        let avail = limit.saturating_sub(off);
        if avail == 0 && !fin_due {
            return None;
        }
        let options = self.segment_options(now);
        let flight = self.flight_size();
        let cwnd = self.cc.cwnd();
        let peer_room = {
            let right = self.snd_una.add(self.snd_wnd);
            if right.gt(self.snd_nxt) {
                right.distance(self.snd_nxt) as usize
            } else {
                0
            }
        };
        let usable = cwnd.min(self.snd_wnd).saturating_sub(flight);
        let mut len = avail
            .min(self.max_payload(&options, buf.len()))
            .min(usable)
            .min(peer_room);
        let new_data = self.snd_nxt == self.snd_max;
        if len < avail || (avail > 0 && len == 0) {
            // Could not send everything that is queued.
            if len == 0 {
                if self.snd_wnd == 0 && flight == 0 && !self.timers.is_set(Timer::Persist) {
                    self.arm_persist(now);
                }
                return None;
            }
            // Sender SWS avoidance (§3.8.6.2.1): a partial segment only if it is at least half
            // the largest window the peer offered, or nothing is in flight.
            let full = self.max_payload(&options, buf.len()).min(self.smss);
            if len < full && len < self.max_snd_wnd / 2 && flight > 0 {
                return None;
            }
        }
        // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
        let full = self.max_payload(&options, buf.len());
        if new_data
            && !self.nodelay
            && len > 0
            && len < full
            && self.snd_una != self.snd_max
            && !(fin_due && len == avail)
        {
            return None;
        }
        if len == 0 && fin_due && cwnd <= flight && flight > 0 {
            return None;
        }
        if avail == 0 {
            len = 0;
        }
        let seq = self.snd_nxt;
        let retransmission = seq.lt(self.snd_max);
        let n = self.emit_range(now, buf, ip, seq, len, options);
        let fin_sent = fin.is_some_and(|f| seq.add(len) == f) && off + len == self.send_buf.len();
        self.snd_nxt = seq.add(len + usize::from(fin_sent));
        if self.snd_max.lt(self.snd_nxt) {
            self.snd_max = self.snd_nxt;
        }
        if retransmission {
            debug!(
                "tcp {} -> {}: retransmit {} len {}",
                self.local, self.remote, seq, len
            );
            self.stats.retransmits += 1;
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() && !self.ts_ok && len > 0 {
            self.rtt_probe = Some((seq, now));
        }
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
        if fin_sent {
            match self.state {
                State::Established => self.set_state(State::FinWait1),
                State::CloseWait => self.set_state(State::LastAck),
                _ => {}
            }
        }
        Some(n)
    }
}
