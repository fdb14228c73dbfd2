//! One TCP connection: its control block (RFC 9293 §3.3.1), the app-facing operations, and its
//! timers. Segment arrival is in `input.rs`, segment emission in `output.rs`.

use super::assembler::RecvBuffer;
use super::congestion::{new_controller, CongestionControl};
use super::rtt::RttEstimator;
use super::send_buffer::{Scoreboard, SendBuffer};
use super::state::State;
use super::timers::{Timer, Timers};
use super::{TcpError, TcpInfo};
use crate::config::Config;
use crate::icmp::TokenBucket;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpOptions};
use log::debug;
use std::net::SocketAddrV4;

/// Counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments received for this connection.
    pub segs_in: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Payload bytes the app handed over and the peer acknowledged.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments retransmitted (any reason).
    pub retransmits: u64,
    /// Fast retransmits (entering recovery on duplicate ACKs).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Out-of-order segments received.
    pub out_of_order: u64,
}

/// A TCP connection control block.
#[derive(Debug)]
pub struct Connection {
    pub(crate) state: State,
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,

    // --- send side (RFC 9293 §3.3.1 "Send Sequence Variables") ---
    pub(crate) iss: SeqNumber,
    pub(crate) snd_una: SeqNumber,
    /// Next sequence number to send; rewound to SND.UNA after a retransmission timeout.
    pub(crate) snd_nxt: SeqNumber,
    /// Highest sequence number sent so far, plus one.
    pub(crate) snd_max: SeqNumber,
    /// The peer's window, scaled, in bytes.
    pub(crate) snd_wnd: usize,
    pub(crate) max_snd_wnd: usize,
    pub(crate) snd_wl1: SeqNumber,
    pub(crate) snd_wl2: SeqNumber,
    /// Shift applied to windows the peer advertises (its window-scale option; 0 if none).
    pub(crate) snd_shift: u8,
    pub(crate) send_buf: SendBuffer,
    /// The app shut down its sending side: a FIN follows the buffered data.
    pub(crate) fin_queued: bool,
    pub(crate) syn_acked: bool,
    pub(crate) fin_acked: bool,
    /// The MSS we send with (the peer's MSS option clamped; lowered by ICMP frag-needed).
    pub(crate) smss: usize,

    // --- receive side ---
    pub(crate) irs: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// Shift we apply to the windows we advertise.
    pub(crate) rcv_shift: u8,
    /// Right edge of the window last advertised (RCV.NXT + RCV.WND at that time).
    pub(crate) rcv_adv: SeqNumber,
    pub(crate) recv_buf: RecvBuffer,
    /// The MSS we announced (what we expect full-sized segments to be).
    pub(crate) rmss: usize,
    /// Sequence number of the peer's FIN, once a FIN was seen (it may be out of order).
    pub(crate) fin_seq: Option<SeqNumber>,
    /// The peer's FIN is in order and acknowledged: no more data will arrive.
    pub(crate) fin_received: bool,

    // --- options (RFC 7323, RFC 2018) ---
    pub(crate) ts_ok: bool,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_at: Instant,
    pub(crate) ts_offset: u32,
    pub(crate) sack_ok: bool,
    /// Options of the SYN we received (passive open), echoed in the SYN-ACK.
    pub(crate) peer_syn_options: TcpOptions,

    // --- loss recovery and congestion control ---
    pub(crate) rtt: RttEstimator,
    /// A segment being timed without timestamps (Karn: cleared on retransmission).
    pub(crate) rtt_probe: Option<(SeqNumber, Instant)>,
    pub(crate) cc: Box<dyn CongestionControl>,
    pub(crate) cc_algorithm: super::congestion::Algorithm,
    /// Largest segment payload seen from the peer: what "full-sized" means for delayed ACKs
    /// (options such as timestamps make full segments smaller than the MSS, RFC 6691).
    pub(crate) rcv_mss_est: usize,
    pub(crate) dup_acks: u32,
    /// Fast recovery in progress until this sequence number is acknowledged (RFC 6582 "recover").
    pub(crate) recovery: Option<SeqNumber>,
    /// Highest sequence the RFC 6582 check compares against after recovery (initialised to ISS).
    pub(crate) recover: SeqNumber,
    pub(crate) scoreboard: Scoreboard,
    /// Retransmissions allowed now in recovery (one per ACK: packet conservation).
    pub(crate) rtx_budget: u32,
    /// Everything below this was already retransmitted in the current recovery episode.
    pub(crate) rtx_mark: SeqNumber,

    // --- acknowledgments and windows ---
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
    /// A SYN or SYN-ACK must be (re)sent.
    pub(crate) syn_pending: bool,
    /// A window probe or keepalive (SEQ = SND.UNA − 1) must be sent.
    pub(crate) probe_pending: bool,
    /// An RST to send before anything else (e.g. an unacceptable ACK in SYN-RECEIVED).
    pub(crate) rst_pending: Option<(SeqNumber, Option<SeqNumber>)>,

    // --- timers ---
    pub(crate) timers: Timers,
    pub(crate) syn_retries: u32,
    /// When the oldest unacknowledged data was first retransmitted by timeout (user timeout).
    pub(crate) stalled_since: Option<Instant>,
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent since the window last opened.
    pub(crate) persist_probes: u32,
    /// Most of them an orphan may send (`Config::tcp_orphan_persist_probes`).
    pub(crate) orphan_probe_limit: u32,
    pub(crate) last_recv: Instant,
    pub(crate) last_send: Instant,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) keepalive_probes: u32,
    pub(crate) nodelay: bool,

    // --- outcome ---
    pub(crate) error: Option<TcpError>,
    /// The app closed or never owned this connection: it is freed once CLOSED.
    pub(crate) detached: bool,
    /// Created by a listener (passive open).
    pub(crate) passive: bool,
    pub(crate) stats: ConnStats,
    /// Largest MSS the config allows.
    pub(crate) max_mss: usize,
    pub(crate) mtu: usize,
    pub(crate) delayed_ack: Duration,
    pub(crate) msl: Duration,
    pub(crate) user_timeout: Duration,
    pub(crate) syn_retry_limit: u32,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_limit: u32,
    /// Least time between ACKs for invalid segments (`Config::tcp_invalid_ack_interval`).
    pub(crate) invalid_ack_interval: Duration,
    /// When the last such ACK was allowed.
    pub(crate) last_invalid_ack: Option<Instant>,
    /// This connection's own challenge-ACK budget (RFC 5961 §7).
    pub(crate) challenge: TokenBucket,
    /// Times a retransmitted FIN restarted TIME-WAIT, and the most allowed.
    pub(crate) time_wait_restarts: u32,
    pub(crate) time_wait_restart_limit: u32,
}

/// The window-scale shift that lets a window of `buffer` bytes be advertised (RFC 7323 §2.3,
/// capped at 14).
pub(crate) fn scale_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 65535 {
        shift += 1;
    }
    shift
}

impl Connection {
    /// A connection in CLOSED with buffers and parameters from `cfg`.
    pub(crate) fn new(
        cfg: &Config,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
    ) -> Connection {
        let mtu = usize::from(cfg.mtu);
        let rmss = mtu
            .saturating_sub(40)
            .clamp(1, usize::from(cfg.tcp_max_mss));
        // RFC 9293 §3.7.1: without an MSS option the peer's MSS is 536.
        let smss = 536.min(rmss);
        // RFC 7323 §2.2: without window scaling the window, and so the buffer, stops at 64 KiB.
        let (rcv_shift, rx) = match cfg.tcp_window_scaling {
            true => (scale_for(cfg.tcp_rx_buffer), cfg.tcp_rx_buffer),
            false => (0, cfg.tcp_rx_buffer.min(65535)),
        };
        let recv_buf = RecvBuffer::new(rx);
        Connection {
            state: State::Closed,
            local,
            remote,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            snd_shift: 0,
            send_buf: SendBuffer::new(cfg.tcp_tx_buffer),
            fin_queued: false,
            syn_acked: false,
            fin_acked: false,
            smss,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_shift,
            rcv_adv: SeqNumber(0),
            recv_buf,
            rmss,
            fin_seq: None,
            fin_received: false,
            ts_ok: cfg.tcp_timestamps,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset: crate::rand::ts_offset(&cfg.secret, *local.ip(), *remote.ip()),
            sack_ok: cfg.tcp_sack,
            peer_syn_options: TcpOptions::default(),
            rtt: RttEstimator::new(cfg.tcp_initial_rto, cfg.tcp_min_rto, cfg.tcp_max_rto),
            rtt_probe: None,
            cc: new_controller(cfg.tcp_congestion, smss),
            cc_algorithm: cfg.tcp_congestion,
            // Until the peer shows its full-sized segments: our MSS less the largest options block.
            rcv_mss_est: rmss.saturating_sub(40).max(1),
            dup_acks: 0,
            recovery: None,
            recover: iss,
            scoreboard: Scoreboard::default(),
            rtx_budget: 0,
            rtx_mark: iss,
            ack_now: false,
            dsack: None,
            syn_text: Vec::new(),
            acks_owed: 0,
            unacked_segments: 0,
            syn_pending: false,
            probe_pending: false,
            rst_pending: None,
            timers: Timers::default(),
            syn_retries: 0,
            stalled_since: None,
            persist_backoff: 0,
            persist_probes: 0,
            orphan_probe_limit: cfg.tcp_orphan_persist_probes,
            last_recv: now,
            last_send: now,
            keepalive: cfg.tcp_keepalive,
            keepalive_probes: 0,
            nodelay: false,
            error: None,
            detached: false,
            passive: false,
            stats: ConnStats::default(),
            max_mss: usize::from(cfg.tcp_max_mss),
            mtu,
            delayed_ack: cfg.tcp_delayed_ack,
            msl: cfg.tcp_msl,
            user_timeout: cfg.tcp_user_timeout,
            syn_retry_limit: cfg.tcp_syn_retries,
            keepalive_interval: cfg.tcp_keepalive_interval,
            keepalive_limit: cfg.tcp_keepalive_probes,
            invalid_ack_interval: cfg.tcp_invalid_ack_interval,
            last_invalid_ack: None,
            challenge: TokenBucket::new(
                cfg.tcp_challenge_ack_conn_rate,
                cfg.tcp_challenge_ack_conn_burst,
                now,
            ),
            time_wait_restarts: 0,
            time_wait_restart_limit: cfg.tcp_time_wait_max_restarts,
        }
    }

    /// Starts an active open: SYN-SENT, a SYN to send (RFC 9293 §3.10.1).
    pub(crate) fn connect(&mut self, now: Instant) {
        self.snd_nxt = self.iss;
        self.snd_max = self.iss;
        self.set_state(State::SynSent);
        self.syn_pending = true;
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    pub(crate) fn set_state(&mut self, next: State) {
        if self.state != next {
            debug!(
                "tcp {} -> {}: {} -> {}",
                self.local, self.remote, self.state, next
            );
            self.state = next;
        }
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Sequence number of the first data byte held in the send buffer.
    pub(crate) fn data_start(&self) -> SeqNumber {
        if self.syn_acked {
            self.snd_una
        } else {
            self.iss.add(1)
        }
    }

    /// Offset into the send buffer of SND.NXT (0 before the SYN is acknowledged).
    pub(crate) fn data_sent_offset(&self) -> usize {
        let start = self.data_start();
        if self.snd_nxt.le(start) {
            0
        } else {
            (self.snd_nxt.distance(start) as usize).min(self.send_buf.len())
        }
    }

    /// Sequence number our FIN occupies, once the app shut down writing.
    pub(crate) fn our_fin_seq(&self) -> Option<SeqNumber> {
        if !self.fin_queued {
            return None;
        }
        if self.fin_acked {
            return Some(self.snd_una.sub(1));
        }
        Some(self.data_start().add(self.send_buf.len()))
    }

    /// Bytes sent and not yet acknowledged (sequence space, SYN and FIN included).
    pub(crate) fn flight_size(&self) -> usize {
        self.snd_nxt.distance(self.snd_una) as usize
    }

    /// Our timestamp clock: milliseconds, offset per connection (RFC 7323 §5.4 allows any
    /// monotonic clock with 1 ms – 1 s ticks).
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// The RFC 5961-style ACK window the peer may cite: SND.UNA − MAX.SND.WND ..= SND.MAX.
    pub(crate) fn ack_is_plausible(&self, ack: SeqNumber) -> bool {
        let oldest = self.snd_una.sub(self.max_snd_wnd.max(1));
        ack.ge(oldest) && ack.le(self.snd_max)
    }

    // ----------------------------------------------------------------------------------------
    // App operations
    // ----------------------------------------------------------------------------------------

    /// Queues `data` for sending; returns how much fit.
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued || !self.state.can_send() {
            return Err(TcpError::Closed);
        }
        let n = self.send_buf.push(data);
        if n == 0 && !data.is_empty() {
            return Err(TcpError::WouldBlock);
        }
        Ok(n)
    }

    /// Zero-copy send: `f` fills the send buffer in place (see `SendBuffer::write_with`).
    pub(crate) fn send_with(
        &mut self,
        max: usize,
        f: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued || !self.state.can_send() {
            return Err(TcpError::Closed);
        }
        match self.send_buf.write_with(max, f) {
            0 if max > 0 && self.send_buf.free() == 0 => Err(TcpError::WouldBlock),
            n => Ok(n),
        }
    }

    /// Zero-copy receive: `f` sees in-order data in place and returns how much it consumed.
    /// Ok(0) with nothing consumed at end of stream, like `recv`.
    pub(crate) fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, TcpError> {
        if self.recv_buf.readable() > 0 {
            let before = self.recv_buf.window();
            let n = self.recv_buf.read_with(f);
            self.window_opened(before);
            return Ok(n);
        }
        let mut none = [0u8; 0];
        self.recv(&mut none)
    }

    /// Reads in-order data; Ok(0) is end of stream.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        if self.recv_buf.readable() > 0 {
            let before = self.recv_buf.window();
            let n = self.recv_buf.read(buf);
            self.window_opened(before);
            return Ok(n);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_received {
            return Ok(0);
        }
        match self.state {
            State::Closed | State::Listen => Err(TcpError::NotConnected),
            _ => Err(TcpError::WouldBlock),
        }
    }

    /// After the app read, decide whether to tell the peer the window opened (receiver-side
    /// SWS avoidance, RFC 9293 §3.8.6.2.2: only when it opens by min(RCV.BUFF/2, MSS)).
    fn window_opened(&mut self, before: usize) {
        let now_avail = self.recv_buf.window();
        let threshold = (self.recv_buf.capacity() / 2).min(self.rmss);
        if now_avail >= before + threshold && self.state.is_synchronized() && !self.fin_received {
            self.ack_now = true;
        }
    }

    /// Shuts down the sending side: a FIN after the buffered data (RFC 9293 §3.10.4).
    pub(crate) fn shutdown(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                // Nothing was ever sent: just go away.
                self.set_state(State::Closed);
                self.timers.clear();
            }
            State::SynReceived | State::Established | State::CloseWait => {
                self.fin_queued = true;
            }
            _ => {}
        }
    }

    /// Aborts with RST (RFC 9293 §3.10.5 ABORT).
    pub(crate) fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) {
            self.rst_pending = Some((self.snd_nxt, None));
        }
        self.close_now(None);
    }

    /// Moves to CLOSED, recording `error` for the app.
    pub(crate) fn close_now(&mut self, error: Option<TcpError>) {
        if self.error.is_none() {
            self.error = error;
        }
        self.set_state(State::Closed);
        self.timers.clear();
        self.syn_pending = false;
        self.probe_pending = false;
        self.ack_now = false;
    }

    /// Enables keepalive after `idle` without traffic (None disables).
    pub(crate) fn set_keepalive(&mut self, now: Instant, idle: Option<Duration>) {
        self.keepalive = idle;
        self.keepalive_probes = 0;
        match idle {
            Some(d) if self.state.is_synchronized() => self.timers.set(Timer::Keepalive, now + d),
            _ => self.timers.stop(Timer::Keepalive),
        }
    }

    /// A snapshot for `/stats` and the app.
    pub(crate) fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            local: self.local,
            remote: self.remote,
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            bytes_in_flight: self.flight_size(),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.recv_buf.window(),
            smss: self.smss,
            in_recovery: self.recovery.is_some(),
            send_queue: self.send_buf.len(),
            recv_queue: self.recv_buf.readable(),
            stats: self.stats,
            congestion: self.cc.name(),
            last_send: Some(self.last_send),
            last_recv: Some(self.last_recv),
            rcv_mss: self.rmss,
            snd_wscale: self.snd_shift,
            rcv_wscale: self.rcv_shift,
            timestamps: self.ts_ok,
            sack: self.sack_ok,
        }
    }

    /// The part of a segment `[start, start + len)` this side already has, for a D-SACK block
    /// (RFC 2883 §4): what lies below RCV.NXT, else the first part already held out of order.
    pub(crate) fn duplicate_range(
        &self,
        start: SeqNumber,
        len: usize,
    ) -> Option<(SeqNumber, SeqNumber)> {
        let end = start.add(len);
        if start.lt(self.rcv_nxt) {
            let top = if end.lt(self.rcv_nxt) {
                end
            } else {
                self.rcv_nxt
            };
            return Some((start, top));
        }
        let offset = start.distance(self.rcv_nxt) as usize;
        let (a, b) = self.recv_buf.held_overlap(offset, len)?;
        Some((self.rcv_nxt.add(a), self.rcv_nxt.add(b)))
    }

    /// Whether the app could read now (data, EOF or an error).
    pub(crate) fn readable(&self) -> bool {
        self.recv_buf.readable() > 0
            || self.fin_received
            || self.error.is_some()
            || self.state == State::Closed
    }

    /// Whether the app could write now.
    pub(crate) fn writable(&self) -> bool {
        self.error.is_some()
            || (self.state.can_send() && !self.fin_queued && self.send_buf.free() > 0)
            || !self.state.can_send()
    }

    /// Whether the connection has a control segment (RST, SYN, probe, ACK) still to send.
    pub(crate) fn control_pending(&self) -> bool {
        self.rst_pending.is_some()
            || self.syn_pending
            || self.probe_pending
            || self.ack_now
            || self.acks_owed > 0
    }

    /// Whether the app has closed it and it only waits out TIME-WAIT: it can move to the
    /// compact TIME-WAIT table.
    pub(crate) fn is_orphan_in_time_wait(&self) -> bool {
        self.state == State::TimeWait && self.detached && !self.control_pending()
    }

    /// Whether the connection is done and can be freed.
    pub(crate) fn is_finished(&self) -> bool {
        self.state == State::Closed && self.detached && self.rst_pending.is_none()
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    /// When `on_timeout` should next run.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        let due: Vec<Timer> = self.timers.expired(now).collect();
        for t in due {
            match t {
                Timer::Retransmit => self.on_rto(now),
                Timer::DelayedAck => self.ack_now = true,
                Timer::Persist => self.on_persist(now),
                Timer::Keepalive => self.on_keepalive(now),
                Timer::TimeWait => {
                    debug!("tcp {} -> {}: TIME-WAIT over", self.local, self.remote);
                    self.close_now(None);
                }
            }
        }
    }

    fn on_rto(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                self.syn_retries += 1;
                if self.syn_retries > self.syn_retry_limit {
                    debug!("tcp {} -> {}: handshake timed out", self.local, self.remote);
                    let e = if self.state == State::SynSent {
                        TcpError::TimedOut
                    } else {
                        TcpError::Reset
                    };
                    self.close_now(Some(e));
                    return;
                }
                self.rtt.backoff();
                self.stats.timeouts += 1;
                self.stats.retransmits += 1;
                self.syn_pending = true;
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
            _ if self.snd_max != self.snd_una => {
                // RFC 5482 §2: the user timeout bounds how long sent data stays
                // unacknowledged, so it runs from when the timer that just expired was armed
                // (the send), not from this first expiry.
                let armed = now
                    .total_micros()
                    .saturating_sub(self.rtt.rto().total_micros());
                let since = *self
                    .stalled_since
                    .get_or_insert(Instant::from_micros(armed));
                if now.saturating_since(since) >= self.user_timeout {
                    debug!(
                        "tcp {} -> {}: user timeout, aborting",
                        self.local, self.remote
                    );
                    self.rst_pending = Some((self.snd_nxt, None));
                    self.close_now(Some(TcpError::TimedOut));
                    return;
                }
                debug!(
                    "tcp {} -> {}: RTO {} fired, retransmitting from {}",
                    self.local,
                    self.remote,
                    self.rtt.rto(),
                    self.snd_una
                );
                // RFC 6298 §5.4-5.6 and RFC 5681 §3.1: collapse the window, back off, and
                // resend from SND.UNA; SACKed data is skipped on the way (output.rs).
                self.cc.on_rto(now, self.flight_size());
                self.rtt.backoff();
                self.stats.timeouts += 1;
                self.snd_nxt = self.snd_una;
                self.recovery = None;
                self.recover = self.snd_max;
                self.dup_acks = 0;
                self.rtx_budget = 0;
                self.rtt_probe = None;
                // Fire no later than the user timeout, so the abort comes on time rather than
                // up to one (backed-off) RTO late.
                let next = (now + self.rtt.rto()).min(since + self.user_timeout);
                self.timers.set(Timer::Retransmit, next);
            }
            _ => {}
        }
    }

    fn on_persist(&mut self, now: Instant) {
        // RFC 9293 §3.8.6.1: probe a zero window, backing off, for as long as the peer answers.
        if self.snd_wnd == 0 && self.has_unsent_data() {
            // A peer that stopped answering the probes: they count towards the user timeout
            // (RFC 5482; Linux counts probes against TCP_USER_TIMEOUT the same way).
            if now.saturating_since(self.last_recv) >= self.user_timeout {
                debug!(
                    "tcp {} -> {}: zero-window probes unanswered, aborting",
                    self.local, self.remote
                );
                self.rst_pending = Some((self.snd_nxt, None));
                self.close_now(Some(TcpError::TimedOut));
                return;
            }
            // RFC 6429: a connection the app closed may be let go even while the peer answers
            // (Linux: tcp_orphan_retries); otherwise it would pin its slot and buffers forever.
            if self.detached && self.persist_probes >= self.orphan_probe_limit {
                debug!(
                    "tcp {} -> {}: orphan behind a zero window, aborting",
                    self.local, self.remote
                );
                self.rst_pending = Some((self.snd_nxt, None));
                self.close_now(Some(TcpError::TimedOut));
                return;
            }
            self.persist_probes = self.persist_probes.saturating_add(1);
            self.probe_pending = true;
            self.persist_backoff = (self.persist_backoff + 1).min(16);
            self.arm_persist(now);
        }
    }

    pub(crate) fn arm_persist(&mut self, now: Instant) {
        let base = self.rtt.rto().total_micros();
        let wait = base
            .saturating_mul(1 << self.persist_backoff.min(6))
            .min(60_000_000);
        self.timers
            .set(Timer::Persist, now + Duration::from_micros(wait));
    }

    fn on_keepalive(&mut self, now: Instant) {
        let Some(idle) = self.keepalive else { return };
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        if now.saturating_since(self.last_recv) < idle {
            self.timers.set(Timer::Keepalive, self.last_recv + idle);
            return;
        }
        if self.keepalive_probes >= self.keepalive_limit {
            debug!(
                "tcp {} -> {}: keepalive: peer is gone",
                self.local, self.remote
            );
            self.rst_pending = Some((self.snd_nxt, None));
            self.close_now(Some(TcpError::TimedOut));
            return;
        }
        // RFC 1122 §4.2.3.6: a segment with SEG.SEQ = SND.NXT − 1 elicits an ACK.
        self.keepalive_probes += 1;
        self.probe_pending = true;
        self.timers
            .set(Timer::Keepalive, now + self.keepalive_interval);
    }

    /// Bytes in the send buffer not yet sent (beyond SND.NXT), plus a pending FIN.
    pub(crate) fn has_unsent_data(&self) -> bool {
        self.send_buf.len() > self.data_sent_offset()
            || (self.fin_queued && self.our_fin_seq().is_some_and(|f| self.snd_nxt.le(f)))
    }
}
