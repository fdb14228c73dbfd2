//! The receive side of a connection (RFC 9293 §3.10.7.4 first, seventh and eighth steps):
//! segment acceptability, placing segment text in the receive buffer (with its out-of-order
//! assembler), the FIN, and when to acknowledge.

use super::assembler::RecvBuffer;
use super::connection::scale_for;
use super::connection::Connection;
use super::state::State;
use super::timers::Timer;
use crate::config::Config;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::tcp::{SeqNumber, TcpSegment};

/// Receive sequence variables (RFC 9293 §3.3.1), the receive buffer, and the acknowledgments
/// this side owes.
#[derive(Debug)]
pub(crate) struct RecvState {
    /// IRS: the peer's initial sequence number.
    pub(crate) irs: SeqNumber,
    /// RCV.NXT: next sequence number expected.
    pub(crate) nxt: SeqNumber,
    /// Shift we apply to the windows we advertise.
    pub(crate) shift: u8,
    /// Right edge of the window last advertised (RCV.NXT + RCV.WND at that time).
    pub(crate) adv: SeqNumber,
    pub(crate) buf: RecvBuffer,
    /// The MSS we announced (what we expect full-sized segments to be).
    pub(crate) mss: usize,
    /// Largest segment payload seen from the peer: what "full-sized" means for delayed ACKs
    /// (options such as timestamps make full segments smaller than the MSS, RFC 6691).
    pub(crate) mss_est: usize,
    /// Sequence number of the peer's FIN, once a FIN was seen (it may be out of order).
    pub(crate) fin_seq: Option<SeqNumber>,
    /// The peer's FIN is in order and acknowledged: no more data will arrive.
    pub(crate) fin_received: bool,
    /// An ACK must go out now.
    pub(crate) ack_now: bool,
    /// A duplicate segment's range to report first in the next ACK (RFC 2883 §4, D-SACK).
    pub(crate) dsack: Option<(SeqNumber, SeqNumber)>,
    /// Text that came on the peer's SYN in SYN-SENT (simultaneous open), held until the
    /// connection is established (RFC 9293 §3.10.7.3); at most one MSS.
    pub(crate) syn_text: Vec<u8>,
    /// ACKs owed beyond `ack_now`: one per out-of-order segment (RFC 5681 §4.2 — each must
    /// produce a duplicate ACK so the sender can count them) and one per two full segments, even
    /// when several arrive before the next `poll_transmit`.
    pub(crate) acks_owed: u8,
    /// Full-sized segments received since the last ACK we sent (RFC 9293 §3.8.6.3: ACK every
    /// second one).
    pub(crate) unacked_segments: u32,
}

impl RecvState {
    pub(crate) fn new(cfg: &Config, mss: usize, mem: &super::ring::MemBudget) -> RecvState {
        // RFC 7323 §2.2: without window scaling the window, and so the buffer, stops at 64 KiB.
        let (shift, rx) = match cfg.tcp_window_scaling {
            true => (scale_for(cfg.tcp_rx_buffer), cfg.tcp_rx_buffer),
            false => (0, cfg.tcp_rx_buffer.min(65535)),
        };
        RecvState {
            irs: SeqNumber(0),
            nxt: SeqNumber(0),
            shift,
            adv: SeqNumber(0),
            buf: RecvBuffer::with_budget(rx, mem.clone()),
            mss,
            // Until the peer shows its full-sized segments: our MSS less the largest options block.
            mss_est: mss.saturating_sub(40).max(1),
            fin_seq: None,
            fin_received: false,
            ack_now: false,
            dsack: None,
            syn_text: Vec::new(),
            acks_owed: 0,
            unacked_segments: 0,
        }
    }
}

impl Connection {
    /// The receive window used for acceptability: what we can hold.
    pub(super) fn acceptance_window(&self) -> usize {
        let advertised = self.rcv.adv.distance(self.rcv.nxt) as usize;
        let advertised = if self.rcv.adv.lt(self.rcv.nxt) {
            0
        } else {
            advertised
        };
        advertised.max(self.rcv.buf.offer().min(1 << 30))
    }

    /// RFC 9293 §3.10.7.4 first check, the acceptability table.
    pub(super) fn acceptable(&self, seg: &TcpSegment<'_>) -> bool {
        let wnd = self.acceptance_window() as u32;
        let len = seg.seg_len() as u32;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv.nxt,
            (0, _) => seg.seq.in_window(self.rcv.nxt, wnd),
            (_, 0) => false,
            (_, _) => {
                seg.seq.in_window(self.rcv.nxt, wnd)
                    || seg.seq.add(len as usize - 1).in_window(self.rcv.nxt, wnd)
            }
        }
    }

    /// RFC 9293 §3.10.7.4 seventh and eighth steps: segment text and FIN.
    /// Returns the reason when the text was refused (the segment is then acknowledged but its
    /// FIN, if any, not noted).
    pub(super) fn process_text_and_fin(
        &mut self,
        seg: &TcpSegment<'_>,
        now: Instant,
    ) -> Result<(), DropReason> {
        self.process_text(seg, now)?;
        self.note_fin(seg);
        // Eighth: FIN, once everything before it has arrived.
        if let Some(fin) = self.rcv.fin_seq {
            if !self.rcv.fin_received && fin == self.rcv.nxt && self.state.is_synchronized() {
                self.rcv.nxt = self.rcv.nxt.add(1);
                self.rcv.fin_received = true;
                self.rcv.ack_now = true;
                match self.state {
                    State::Established => self.set_state(State::CloseWait),
                    State::FinWait1 if self.snd.fin_acked => self.enter_time_wait(now),
                    State::FinWait1 => self.set_state(State::Closing),
                    State::FinWait2 => self.enter_time_wait(now),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// RFC 9293 §3.10.7.4 seventh step: the segment text, trimmed to the window, into the
    /// receive buffer (in order, or held out of order within `tcp_ooo_max_ranges`).
    fn process_text(&mut self, seg: &TcpSegment<'_>, now: Instant) -> Result<(), DropReason> {
        if !seg.payload.is_empty() && self.state.can_receive() && !self.rcv.fin_received {
            let mut data = seg.payload;
            let mut start = seg.seq.add(usize::from(seg.syn()));
            if self.sack_ok {
                self.rcv.dsack = self.dsack_range(start, data.len());
            }
            if start.lt(self.rcv.nxt) {
                let skip = (self.rcv.nxt.distance(start) as usize).min(data.len());
                data = &data[skip..];
                start = self.rcv.nxt;
            }
            let offset = start.distance(self.rcv.nxt) as usize;
            let room = self.acceptance_window().saturating_sub(offset);
            let data = &data[..data.len().min(room)];
            if !data.is_empty() {
                let had_gap = self.rcv.buf.has_out_of_order();
                let Some(advanced) = self.rcv.buf.try_write_at(offset, data) else {
                    // Too many holes already: refuse it, but still send the duplicate ACK the
                    // sender counts (RFC 5681 §4.2); it will retransmit.
                    self.owe_ack();
                    return Err(DropReason::TcpOooLimit);
                };
                self.rcv.nxt = self.rcv.nxt.add(advanced);
                self.stats.bytes_received += advanced as u64;
                if advanced > 0 {
                    // The cumulative ACK moved: duplicate ACKs still owed for the old RCV.NXT
                    // would now only look like new duplicates to the sender.
                    self.rcv.acks_owed = 0;
                }
                if offset > 0 {
                    // RFC 5681 §4.2: one immediate duplicate ACK per out-of-order segment.
                    self.stats.out_of_order += 1;
                    self.owe_ack();
                } else if had_gap {
                    // Filling a gap: ACK at once.
                    self.rcv.ack_now = true;
                } else if self.rcv.dsack.is_some() {
                    // RFC 2883 §4: part of it was a duplicate; the D-SACK block tells the
                    // sender now that it resent data needlessly, not a delayed ACK later.
                    self.rcv.ack_now = true;
                } else {
                    self.schedule_ack(now, seg.payload.len());
                }
            } else {
                // Old duplicate, beyond the window, or a probe of our zero window: tell the peer
                // where we are and what the window is (RFC 9293 §3.8.6.1).
                self.rcv.ack_now = true;
            }
        }
        Ok(())
    }

    /// Records where the peer's stream ends, once the segment's text is in.
    ///
    /// RFC 9293 §3.10.7.4 eighth step: a FIN takes effect only once everything before it has
    /// arrived, so one seen out of order is provisional. It is not sticky: the latest FIN the
    /// window can hold replaces it, and data carried past it proves it was not the end (it is
    /// forgotten). A FIN beyond what the window can hold is ignored like the bytes before it.
    fn note_fin(&mut self, seg: &TcpSegment<'_>) {
        if self.rcv.fin_received {
            return;
        }
        let start = seg.seq.add(usize::from(seg.syn()));
        let data_end = start.add(seg.payload.len());
        if let Some(f) = self.rcv.fin_seq {
            if data_end.gt(f) {
                self.rcv.fin_seq = None;
            }
        }
        if seg.fin() {
            // The FIN fits if it is at most one past the last byte the window can hold (one
            // behind RCV.NXT is stale: data already went past it).
            let fits = data_end.ge(self.rcv.nxt)
                && data_end.distance(self.rcv.nxt) as usize <= self.rcv.buf.window();
            if fits {
                self.rcv.fin_seq = Some(data_end);
                // RFC 5681 §4.2: a FIN beyond a gap is an out-of-order segment too and gets an
                // immediate duplicate ACK, even with no data on it.
                if seg.payload.is_empty() && data_end.gt(self.rcv.nxt) {
                    self.rcv.ack_now = true;
                }
            }
        }
    }

    /// Delayed ACK (RFC 9293 §3.8.6.3): ACK at least every second full-sized segment, and
    /// within `delayed_ack` otherwise.
    pub(super) fn schedule_ack(&mut self, now: Instant, len: usize) {
        self.rcv.mss_est = self.rcv.mss_est.max(len.min(self.rcv.mss));
        if len >= self.rcv.mss_est {
            self.rcv.unacked_segments += 1;
        }
        if self.rcv.unacked_segments >= 2 {
            self.rcv.unacked_segments = 0;
            self.rcv.ack_now = true;
        } else if !self.timers.is_set(Timer::DelayedAck) {
            self.timers
                .set(Timer::DelayedAck, now + self.limits.delayed_ack);
        }
    }

    /// Owes one more immediate duplicate ACK (bounded: a burst cannot make us owe unboundedly
    /// many), so that several out-of-order segments arriving before the next `poll_transmit`
    /// still produce one duplicate ACK each for the sender to count.
    fn owe_ack(&mut self) {
        if self.rcv.ack_now {
            self.rcv.acks_owed = self.rcv.acks_owed.saturating_add(1).min(32);
        }
        self.rcv.ack_now = true;
    }
}
