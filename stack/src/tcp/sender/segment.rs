//! Segmentation: new data within the peer window and cwnd, cut to the MSS, with Nagle
//! (RFC 9293 §3.7.4) and sender SWS avoidance (§3.8.6.2.1); the resend after a timeout that
//! skips SACKed data (RFC 6675 §5.1); and the retransmissions of fast recovery.

use super::super::connection::Connection;
use super::super::output::{IpOut, Out};
use super::super::state::State;
use super::super::timers::Timer;
use crate::time::Instant;
use crate::wire::tcp::{Control, SeqNumber, TcpOptions};
use log::{debug, trace};

impl Connection {
    /// Most payload one segment may carry with `options`, given the MSS and the buffer.
    pub(in crate::tcp) fn max_payload(&self, options: &TcpOptions, buf_len: usize) -> usize {
        let opts = options.emitted_len();
        // RFC 6691: the MSS counts data only; options come out of it.
        let by_mss = self.snd.mss.saturating_sub(opts).max(1);
        let by_buf = buf_len.saturating_sub(crate::wire::ipv4::HEADER_LEN + 20 + opts);
        let by_mtu = self
            .snd
            .mtu
            .saturating_sub(crate::wire::ipv4::HEADER_LEN + 20 + opts);
        by_mss.min(by_buf).min(by_mtu)
    }

    /// The payload of a full-sized segment: the MSS, within the path MTU, less the options every
    /// segment carries — the timestamps (RFC 7323 §3), not SACK blocks, which come and go
    /// (RFC 6691: options come out of the MSS). What Linux reports as `tcpi_snd_mss`: 1448 for
    /// an MSS of 1460 with timestamps.
    pub(crate) fn effective_mss(&self) -> usize {
        let every = TcpOptions {
            timestamps: self.ts.ok.then_some((0, 0)),
            ..TcpOptions::default()
        };
        let by_mtu = self
            .snd
            .mtu
            .saturating_sub(crate::wire::ipv4::HEADER_LEN + 20);
        self.snd
            .mss
            .min(by_mtu)
            .saturating_sub(every.emitted_len())
            .max(1)
    }

    /// Retransmissions during fast recovery: the next SACK hole, or SND.UNA without SACK.
    pub(in crate::tcp) fn poll_recovery(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        let rack = self.rec.loss.rack_on(self.sack_ok);
        if self.rec.episode.is_none() && !(rack && self.rec.rtx_budget > 0) {
            return None;
        }
        // RFC 6937: PRR's sndcnt paces recovery; without it, one retransmission per ACK (and
        // outside an episode, one per segment RACK found lost).
        let allowed = match self.rec.loss.prr {
            Some(_) if self.rec.episode.is_some() => self.rec.loss.prr_allows(),
            _ => self.rec.rtx_budget > 0,
        };
        if !allowed {
            return None;
        }
        let base = self.data_start();
        let options = self.segment_options(now);
        let room = self.max_payload(&options, buf.len());
        let (seq, len) = if rack {
            // RFC 8985 §6.2: retransmit what RACK marked lost, lowest first.
            let Some((s, e)) = self.rec.loss.log.next_lost(self.snd.una.max(base)) else {
                self.rec.rtx_budget = 0;
                return None;
            };
            let off = s.distance(base) as usize;
            let data = (e.distance(s) as usize).min(self.snd.buf.len().saturating_sub(off));
            (s, data.min(room))
        } else if self.sack_ok && !self.rec.scoreboard.is_empty() {
            let from = if self.rec.rtx_mark.gt(base) {
                self.rec.rtx_mark.distance(base) as usize
            } else {
                0
            };
            match self.rec.scoreboard.next_hole(from) {
                Some((s, e)) => (base.add(s), (e - s).min(room)),
                None => {
                    self.rec.rtx_budget = 0;
                    return None;
                }
            }
        } else if self.rec.rtx_mark == self.snd.una {
            let off = self.snd.una.distance(base) as usize;
            (
                self.snd.una,
                self.snd.buf.len().saturating_sub(off).min(room),
            )
        } else {
            self.rec.rtx_budget = 0;
            return None;
        };
        self.rec.rtx_budget = self.rec.rtx_budget.saturating_sub(1);
        self.stats.retransmits += 1;
        self.rec.rtt_probe = None;
        let n = self.emit_range(now, buf, ip, seq, len, options);
        self.rec.rtx_mark = seq.add(len.max(1));
        trace!(
            "tcp {} -> {}: retransmit {} len {}",
            self.local,
            self.remote,
            seq,
            len
        );
        Some(n)
    }

    /// Emits `[seq, seq + len)` of the send buffer, with FIN if it reaches our FIN, and records
    /// the transmission for RACK, TLP, PRR and undo.
    pub(in crate::tcp) fn emit_range(
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
        let end_of_data = off + len == self.snd.buf.len();
        let with_fin = end_of_data && self.our_fin_seq().is_some_and(|fin| seq.add(len) == fin);
        let out = Out {
            control: if with_fin {
                Control::Fin
            } else {
                Control::None
            },
            psh: len > 0 && end_of_data,
            payload: (len > 0).then_some((off, len)),
            ..Out::pure_ack(seq, options)
        };
        let tsval = options.timestamps.map(|t| t.0);
        let n = self.write(now, buf, ip, out);
        let end = seq.add(len + usize::from(with_fin));
        let rtx = seq.lt(self.snd.max);
        self.rec.loss.on_transmit(seq, end, now, rtx, tsval);
        if end != seq {
            self.snd.data_sent_at = Some(now);
        }
        n
    }

    /// New data, or the resend from SND.NXT after a timeout (skipping SACKed ranges).
    pub(in crate::tcp) fn poll_data(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
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
        let (off, limit) = self.next_range();
        let fin = self.our_fin_seq();
        let fin_due = fin.is_some_and(|f| self.snd.nxt.le(f));
        let avail = limit.saturating_sub(off);
        if avail == 0 && !fin_due {
            return None;
        }
        self.restart_after_idle(now);
        let options = self.segment_options(now);
        let flight = self.flight_size();
        let cwnd = self.rec.cc.cwnd();
        let peer_room = {
            let right = self.snd.una.add(self.snd.wnd);
            if right.gt(self.snd.nxt) {
                right.distance(self.snd.nxt) as usize
            } else {
                0
            }
        };
        let probe = self.rec.loss.probe == Some(crate::tcp::recovery::engine::Probe::NewData);
        let usable = if probe {
            // RFC 8985 §7.3: a new-data probe goes out whatever cwnd says.
            self.snd.mss
        } else if self.rec.episode.is_some() && self.rec.loss.prr.is_some() {
            // RFC 6937: during recovery PRR, not cwnd, decides.
            if self.rec.loss.prr_allows() {
                self.snd.mss
            } else {
                0
            }
        } else {
            cwnd.min(self.snd.wnd).saturating_sub(flight)
        };
        let mut len = avail
            .min(self.max_payload(&options, buf.len()))
            .min(usable)
            .min(peer_room);
        let new_data = self.snd.nxt == self.snd.max;
        if len < avail || (avail > 0 && len == 0) {
            // Could not send everything that is queued.
            if len == 0 {
                if self.snd.wnd == 0 && flight == 0 && !self.timers.is_set(Timer::Persist) {
                    self.arm_persist(now);
                }
                return None;
            }
            // Sender SWS avoidance (§3.8.6.2.1): a partial segment only if it is at least half
            // the largest window the peer offered, or nothing is in flight.
            let full = self.max_payload(&options, buf.len()).min(self.snd.mss);
            if len < full && len < self.snd.max_wnd / 2 && flight > 0 {
                return None;
            }
        }
        // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
        let full = self.max_payload(&options, buf.len());
        if new_data
            && !self.snd.nodelay
            && len > 0
            && len < full
            && self.snd.una != self.snd.max
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
        let seq = self.snd.nxt;
        let retransmission = seq.lt(self.snd.max);
        let n = self.emit_range(now, buf, ip, seq, len, options);
        let fin_sent = fin.is_some_and(|f| seq.add(len) == f) && off + len == self.snd.buf.len();
        self.data_sent(now, seq, len, fin_sent, retransmission, probe);
        Some(n)
    }

    /// RFC 5681 §4.1: "a TCP SHOULD set cwnd to no more than RW before beginning transmission
    /// if the TCP has not sent data in an interval exceeding the retransmission timeout" — with
    /// nothing in flight, as Linux's `tcp_slow_start_after_idle_check`; RW = min(IW, cwnd)
    /// (`CongestionControl::on_idle_restart`). Once per idle period.
    fn restart_after_idle(&mut self, now: Instant) {
        if self.snd.una != self.snd.max {
            return;
        }
        let Some(at) = self.snd.data_sent_at else {
            return;
        };
        if now.saturating_since(at) > self.rec.rtt.rto() {
            debug!(
                "tcp {} -> {}: idle for {}, cwnd {} restarts",
                self.local,
                self.remote,
                now.saturating_since(at),
                self.rec.cc.cwnd()
            );
            self.rec.cc.on_idle_restart();
            self.snd.data_sent_at = None;
        }
    }

    /// The send-buffer range `(offset, limit)` to send from: from SND.NXT, or, resending after
    /// a timeout, the next hole the receiver does not hold (RFC 6675 §5.1), SND.NXT moved there.
    fn next_range(&mut self) -> (usize, usize) {
        let base = self.data_start();
        let mut off = self.data_sent_offset();
        let mut limit = self.snd.buf.len();
        if self.sack_ok && !self.rec.scoreboard.is_empty() && self.snd.nxt.lt(self.snd.max) {
            if let Some(high) = self.rec.scoreboard.highest() {
                if off < high {
                    match self.rec.scoreboard.next_hole(off) {
                        Some((s, e)) => {
                            off = s;
                            limit = e;
                        }
                        None => off = high,
                    }
                }
            }
            self.snd.nxt = base.add(off);
        }
        (off, limit)
    }

    /// After `[seq, seq + len)` (and our FIN, if `fin_sent`) went out: advance SND.NXT/SND.MAX,
    /// count a retransmission or time the segment (Karn), arm the RTO or probe timeout (or note
    /// the tail loss probe, if `probe`), and leave ESTABLISHED or CLOSE-WAIT once the FIN is sent.
    fn data_sent(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        len: usize,
        fin_sent: bool,
        retransmission: bool,
        probe: bool,
    ) {
        self.snd.nxt = seq.add(len + usize::from(fin_sent));
        if self.snd.max.lt(self.snd.nxt) {
            self.snd.max = self.snd.nxt;
        }
        if retransmission {
            debug!(
                "tcp {} -> {}: retransmit {} len {}",
                self.local, self.remote, seq, len
            );
            self.stats.retransmits += 1;
            self.rec.rtt_probe = None;
        } else if self.rec.rtt_probe.is_none() && !self.ts.ok && len > 0 {
            self.rec.rtt_probe = Some((seq, now));
        }
        if probe {
            self.rec.loss.on_probe_sent(self.snd.max, retransmission);
        } else {
            // RFC 6298 §5.1 / RFC 8985 §7.2: start the RTO, or move the probe timeout.
            self.arm_loss_timer(now, false);
        }
        if fin_sent {
            match self.state {
                State::Established => self.set_state(State::FinWait1),
                State::CloseWait => self.set_state(State::LastAck),
                _ => {}
            }
        }
    }
}
