//! The send side of a connection, split as gVisor's `snd.go`: the send sequence variables and
//! buffer ([`SendState`]), loss recovery and congestion control ([`Recovery`]), and the
//! operations on them —
//! - `ack.rs`: ACK processing (RFC 9293 §3.10.7.4 fifth step, RFC 5961 §5.2), SACK
//!   (RFC 2018, RFC 6675), duplicate ACKs and NewReno fast recovery (RFC 5681, RFC 6582),
//!   RTT samples (RFC 6298, RFC 7323);
//! - `segment.rs`: segmentation — what to send next within window, cwnd, MSS, Nagle and SWS
//!   avoidance, and the retransmissions of fast recovery;
//! - `rto.rs`: the retransmission timeout (RFC 6298), the user timeout (RFC 5482) and the
//!   persist timer (RFC 9293 §3.8.6.1).

mod ack;
mod loss;
mod rto;
mod segment;

use super::congestion::{new_controller, Algorithm, CongestionControl};
use super::connection::Connection;
use super::recovery::engine::LossRecovery;
use super::rtt::RttEstimator;
use super::send_buffer::{Scoreboard, SendBuffer};
use crate::config::Config;
use crate::time::Instant;
use crate::wire::tcp::SeqNumber;

/// Send sequence variables (RFC 9293 §3.3.1) and the data they number.
#[derive(Debug)]
pub(crate) struct SendState {
    /// ISS: our initial sequence number.
    pub(crate) iss: SeqNumber,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub(crate) una: SeqNumber,
    /// SND.NXT: next sequence number to send; rewound to SND.UNA after a retransmission timeout.
    pub(crate) nxt: SeqNumber,
    /// Highest sequence number sent so far, plus one.
    pub(crate) max: SeqNumber,
    /// SND.WND: the peer's window, scaled, in bytes.
    pub(crate) wnd: usize,
    /// The largest window the peer offered (RFC 5961 §5.2 MAX.SND.WND, sender SWS avoidance).
    pub(crate) max_wnd: usize,
    /// SND.WL1 / SND.WL2: the segment that last updated the window.
    pub(crate) wl1: SeqNumber,
    pub(crate) wl2: SeqNumber,
    /// Shift applied to windows the peer advertises (its window-scale option; 0 if none).
    pub(crate) shift: u8,
    pub(crate) buf: SendBuffer,
    /// The app shut down its sending side: a FIN follows the buffered data.
    pub(crate) fin_queued: bool,
    pub(crate) syn_acked: bool,
    pub(crate) fin_acked: bool,
    /// SMSS: the MSS we send with (the peer's MSS option clamped; lowered by ICMP frag-needed).
    pub(crate) mss: usize,
    /// The path MTU (the configured MTU, lowered by ICMP frag-needed).
    pub(crate) mtu: usize,
    /// Nagle's algorithm is off (TCP_NODELAY).
    pub(crate) nodelay: bool,
    /// Persist-timer backoff exponent.
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent since the window last opened.
    pub(crate) persist_probes: u32,
    /// When data (or our FIN) last went out; None before the first, and again once a restart
    /// after idle used it (RFC 5681 §4.1, `Connection::restart_after_idle`).
    pub(crate) data_sent_at: Option<Instant>,
}

impl SendState {
    pub(crate) fn new(
        tx_buffer: usize,
        iss: SeqNumber,
        mss: usize,
        mtu: usize,
        mem: &super::ring::MemBudget,
    ) -> SendState {
        SendState {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            shift: 0,
            buf: SendBuffer::with_budget(tx_buffer, mem.clone()),
            fin_queued: false,
            syn_acked: false,
            fin_acked: false,
            mss,
            mtu,
            nodelay: false,
            persist_backoff: 0,
            persist_probes: 0,
            data_sent_at: None,
        }
    }
}

/// Loss recovery and congestion control: RTT and RTO, the controller, the SACK scoreboard and
/// the fast-recovery episode.
#[derive(Debug)]
pub(crate) struct Recovery {
    pub(crate) rtt: RttEstimator,
    /// A segment being timed without timestamps (Karn: cleared on retransmission).
    pub(crate) rtt_probe: Option<(SeqNumber, Instant)>,
    pub(crate) cc: Box<dyn CongestionControl>,
    pub(crate) cc_algorithm: Algorithm,
    pub(crate) dup_acks: u32,
    /// Fast recovery in progress until this sequence number is acknowledged (RFC 6582 "recover").
    pub(crate) episode: Option<SeqNumber>,
    /// Highest sequence the RFC 6582 check compares against after recovery (initialised to ISS).
    pub(crate) recover: SeqNumber,
    pub(crate) scoreboard: Scoreboard,
    /// Retransmissions allowed now in recovery (one per ACK: packet conservation).
    pub(crate) rtx_budget: u32,
    /// Everything below this was already retransmitted in the current recovery episode.
    pub(crate) rtx_mark: SeqNumber,
    /// When the oldest unacknowledged data was first retransmitted by timeout (user timeout).
    pub(crate) stalled_since: Option<Instant>,
    /// RACK-TLP, D-SACK undo and PRR (`tcp/recovery/`).
    pub(crate) loss: LossRecovery,
}

impl Recovery {
    pub(crate) fn new(cfg: &Config, iss: SeqNumber, smss: usize) -> Recovery {
        Recovery {
            rtt: RttEstimator::new(cfg.tcp_initial_rto, cfg.tcp_min_rto, cfg.tcp_max_rto),
            rtt_probe: None,
            cc: controller(cfg.tcp_congestion, smss, cfg.tcp_recovery.hystart),
            cc_algorithm: cfg.tcp_congestion,
            dup_acks: 0,
            episode: None,
            recover: iss,
            scoreboard: Scoreboard::default(),
            rtx_budget: 0,
            rtx_mark: iss,
            stalled_since: None,
            loss: LossRecovery::new(cfg.tcp_recovery),
        }
    }

    /// A fresh controller for `mss` (after the handshake settled the MSS).
    pub(crate) fn new_controller(&mut self, mss: usize) {
        self.cc = controller(self.cc_algorithm, mss, self.loss.cfg.hystart);
    }
}

/// A controller of `algorithm` for `mss`, HyStart++ on or off.
fn controller(algorithm: Algorithm, mss: usize, hystart: bool) -> Box<dyn CongestionControl> {
    let mut cc = new_controller(algorithm, mss);
    cc.set_hystart(hystart);
    cc
}

impl Connection {
    /// Sequence number of the first data byte held in the send buffer.
    pub(crate) fn data_start(&self) -> SeqNumber {
        if self.snd.syn_acked {
            self.snd.una
        } else {
            self.snd.iss.add(1)
        }
    }

    /// Offset into the send buffer of SND.NXT (0 before the SYN is acknowledged).
    pub(crate) fn data_sent_offset(&self) -> usize {
        let start = self.data_start();
        if self.snd.nxt.le(start) {
            0
        } else {
            (self.snd.nxt.distance(start) as usize).min(self.snd.buf.len())
        }
    }

    /// Sequence number our FIN occupies, once the app shut down writing.
    pub(crate) fn our_fin_seq(&self) -> Option<SeqNumber> {
        if !self.snd.fin_queued {
            return None;
        }
        if self.snd.fin_acked {
            return Some(self.snd.una.sub(1));
        }
        Some(self.data_start().add(self.snd.buf.len()))
    }

    /// Bytes sent and not yet acknowledged (sequence space, SYN and FIN included).
    pub(crate) fn flight_size(&self) -> usize {
        self.snd.nxt.distance(self.snd.una) as usize
    }

    /// The RFC 5961-style ACK window the peer may cite: SND.UNA − MAX.SND.WND ..= SND.MAX.
    pub(crate) fn ack_is_plausible(&self, ack: SeqNumber) -> bool {
        let oldest = self.snd.una.sub(self.snd.max_wnd.max(1));
        ack.ge(oldest) && ack.le(self.snd.max)
    }

    /// Bytes in the send buffer not yet sent (beyond SND.NXT), plus a pending FIN.
    pub(crate) fn has_unsent_data(&self) -> bool {
        self.snd.buf.len() > self.data_sent_offset()
            || (self.snd.fin_queued && self.our_fin_seq().is_some_and(|f| self.snd.nxt.le(f)))
    }
}
