//! One TCP connection: its control block (RFC 9293 §3.3.1), the app-facing operations, and its
//! timers. Segment arrival is in `input.rs`, segment emission in `output.rs`; the send side
//! (ACK processing, recovery, segmentation, RTO) in `sender.rs`, the receive side in
//! `receiver.rs`, the handshake in `handshake.rs`.

use super::paws::{AckLimiter, TsRecent};
use super::receiver::RecvState;
use super::sender::{Recovery, SendState};
use super::state::State;
use super::timers::{Timer, Timers};
use super::{TcpError, TcpInfo};
use crate::config::Config;
use crate::rate::TokenBucket;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpOptions, TsVal};
use log::debug;
use std::net::SocketAddr;

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
    /// Loss recovery: TLP probes, RACK losses, D-SACKs, spurious retransmissions, undos,
    /// recovery episodes (`tcp/recovery/`).
    pub recovery: crate::tcp::recovery::RecoveryStats,
}

/// A TCP connection control block (RFC 9293 §3.3.1), grouped as gVisor groups it: the send
/// side ([`SendState`]), the receive side ([`RecvState`]), loss recovery and congestion control
/// ([`Recovery`]), and what is left — state, timers, the pending control segments and the outcome.
#[derive(Debug)]
pub struct Connection {
    pub(crate) state: State,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// Send sequence variables, the send buffer and the FIN we send (sender.rs).
    pub(crate) snd: SendState,
    /// Receive sequence variables, the receive buffer and the ACKs we owe (receiver.rs).
    pub(crate) rcv: RecvState,
    /// RTT, RTO, congestion control and fast recovery (sender.rs).
    pub(crate) rec: Recovery,
    /// RFC 7323 timestamps.
    pub(crate) ts: Timestamps,
    /// Per-connection limits taken from `Config` (some adjustable by the app).
    pub(crate) limits: Limits,

    // --- options (RFC 2018) ---
    pub(crate) sack_ok: bool,
    /// Options of the SYN we received (passive open), echoed in the SYN-ACK.
    pub(crate) peer_syn_options: TcpOptions,

    // --- control segments to send ---
    /// A SYN or SYN-ACK must be (re)sent.
    pub(crate) syn_pending: bool,
    /// A window probe or keepalive (SEQ = SND.UNA − 1) must be sent.
    pub(crate) probe_pending: bool,
    /// An RST to send before anything else (e.g. an unacceptable ACK in SYN-RECEIVED).
    pub(crate) rst_pending: Option<(SeqNumber, Option<SeqNumber>)>,

    // --- timers ---
    pub(crate) timers: Timers,
    pub(crate) syn_retries: u32,
    /// When the SYN (or SYN-ACK) went out, for the handshake's RTT sample.
    pub(crate) syn_sent: super::handshake::SynTiming,
    pub(crate) last_recv: Instant,
    pub(crate) last_send: Instant,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) keepalive_probes: u32,

    // --- outcome ---
    pub(crate) error: Option<TcpError>,
    /// The app closed or never owned this connection: it is freed once CLOSED.
    pub(crate) detached: bool,
    /// Created by a listener (passive open).
    pub(crate) passive: bool,
    pub(crate) stats: ConnStats,
    /// ACKs for invalid segments, at most one per `Limits::invalid_ack_interval`.
    pub(crate) invalid_acks: AckLimiter,
    /// This connection's own challenge-ACK budget (RFC 5961 §7).
    pub(crate) challenge: TokenBucket,
    /// Times a retransmitted FIN restarted TIME-WAIT (at most `Limits::time_wait_restart_limit`).
    pub(crate) time_wait_restarts: u32,
}

/// RFC 7323 timestamps of one connection.
#[derive(Debug)]
pub(crate) struct Timestamps {
    /// Both sides sent the option: every segment carries it.
    pub(crate) ok: bool,
    /// TS.Recent: the peer's timestamp to echo (RFC 7323 §4.3), and when it was set.
    pub(crate) recent: TsRecent,
    /// Per-connection offset of our timestamp clock (RFC 7323 §5.4, RFC 9293 §3.4.1).
    pub(crate) offset: u32,
}

/// Per-connection limits, copied from `Config` when the connection is made.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Largest MSS the config allows.
    pub(crate) max_mss: usize,
    pub(crate) delayed_ack: Duration,
    pub(crate) msl: Duration,
    /// RFC 5482 user timeout (`Config::tcp_user_timeout`, or the app's setting).
    pub(crate) user_timeout: Duration,
    pub(crate) syn_retry_limit: u32,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_limit: u32,
    /// Least time between ACKs for invalid segments (`Config::tcp_invalid_ack_interval`).
    pub(crate) invalid_ack_interval: Duration,
    /// Most times a retransmitted FIN may restart TIME-WAIT.
    pub(crate) time_wait_restart_limit: u32,
    /// Most zero-window probes an orphan may send (`Config::tcp_orphan_persist_probes`).
    pub(crate) orphan_probe_limit: u32,
    /// How long an orphan waits in FIN-WAIT-2 (`Config::tcp_fin_timeout`).
    pub(crate) fin_timeout: Duration,
    /// The TTL of this connection's segments while the app holds its handle
    /// (`Stack::tcp_set_ttl`, Linux's `IP_TTL`); `None`: `Config::ttl`.
    pub(crate) ttl: Option<u8>,
}

impl Limits {
    fn new(cfg: &Config) -> Limits {
        Limits {
            max_mss: usize::from(cfg.tcp_max_mss),
            delayed_ack: cfg.tcp_delayed_ack,
            msl: cfg.tcp_msl,
            user_timeout: cfg.tcp_user_timeout,
            syn_retry_limit: cfg.tcp_syn_retries,
            keepalive_interval: cfg.tcp_keepalive_interval,
            keepalive_limit: cfg.tcp_keepalive_probes,
            invalid_ack_interval: cfg.tcp_invalid_ack_interval,
            time_wait_restart_limit: cfg.tcp_time_wait_max_restarts,
            orphan_probe_limit: cfg.tcp_orphan_persist_probes,
            fin_timeout: cfg.tcp_fin_timeout,
            ttl: None,
        }
    }
}

/// The window-scale shift that lets a window of `buffer` bytes be advertised (RFC 7323 §2.3,
/// capped at 14).
pub fn scale_for(buffer: usize) -> u8 {
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
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNumber,
        mem: &super::ring::MemBudget,
    ) -> Connection {
        let mtu = usize::from(cfg.mtu);
        let rmss = mtu
            .saturating_sub(super::output::mss_overhead(remote.ip()))
            .clamp(1, usize::from(cfg.tcp_max_mss));
        // RFC 9293 §3.7.1: without an MSS option the peer's MSS is 536.
        let smss = 536.min(rmss);
        Connection {
            state: State::Closed,
            local,
            remote,
            snd: SendState::new(cfg.tcp_tx_buffer, iss, smss, mtu, mem),
            rcv: RecvState::new(cfg, rmss, mem),
            rec: Recovery::new(cfg, iss, smss),
            ts: Timestamps {
                ok: cfg.tcp_timestamps,
                recent: TsRecent::new(TsVal(0), now),
                offset: crate::rand::ts_offset(&cfg.secret, local.ip(), remote.ip()),
            },
            limits: Limits::new(cfg),
            sack_ok: cfg.tcp_sack,
            peer_syn_options: TcpOptions::default(),
            syn_pending: false,
            probe_pending: false,
            rst_pending: None,
            timers: Timers::default(),
            syn_retries: 0,
            syn_sent: super::handshake::SynTiming::Unsent,
            last_recv: now,
            last_send: now,
            keepalive: cfg.tcp_keepalive,
            keepalive_probes: 0,
            error: None,
            detached: false,
            passive: false,
            stats: ConnStats::default(),
            invalid_acks: AckLimiter::default(),
            challenge: TokenBucket::new(
                cfg.tcp_challenge_ack_conn_rate,
                cfg.tcp_challenge_ack_conn_burst,
                now,
            ),
            time_wait_restarts: 0,
        }
    }

    /// Starts an active open: SYN-SENT, a SYN to send (RFC 9293 §3.10.1).
    pub(crate) fn connect(&mut self, now: Instant) {
        self.snd.nxt = self.snd.iss;
        self.snd.max = self.snd.iss;
        self.set_state(State::SynSent);
        self.syn_pending = true;
        self.timers.set(Timer::Retransmit, now + self.rec.rtt.rto());
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

    /// Our timestamp clock: milliseconds, offset per connection (RFC 7323 §5.4 allows any
    /// monotonic clock with 1 ms – 1 s ticks).
    pub(crate) fn ts_now(&self, now: Instant) -> TsVal {
        TsVal((now.total_millis() as u32).wrapping_add(self.ts.offset))
    }

    // ----------------------------------------------------------------------------------------
    // App operations
    // ----------------------------------------------------------------------------------------

    /// Queues `data` for sending; returns how much fit.
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.snd.fin_queued || !self.state.can_send() {
            return Err(TcpError::Closed);
        }
        let n = self.snd.buf.push(data);
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
        if self.snd.fin_queued || !self.state.can_send() {
            return Err(TcpError::Closed);
        }
        match self.snd.buf.write_with(max, f) {
            0 if max > 0 && self.snd.buf.free() == 0 => Err(TcpError::WouldBlock),
            n => Ok(n),
        }
    }

    /// Zero-copy receive: `f` sees in-order data in place and returns how much it consumed.
    /// Ok(0) with nothing consumed at end of stream, like `recv`.
    pub(crate) fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, TcpError> {
        if self.rcv.buf.readable() > 0 {
            let before = self.rcv.buf.offer();
            let n = self.rcv.buf.read_with(f);
            self.window_opened(before);
            return Ok(n);
        }
        let mut none = [0u8; 0];
        self.recv(&mut none)
    }

    /// Reads in-order data; Ok(0) is end of stream.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        if self.rcv.buf.readable() > 0 {
            let before = self.rcv.buf.offer();
            let n = self.rcv.buf.read(buf);
            self.window_opened(before);
            return Ok(n);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.rcv.fin_received {
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
        let now_avail = self.rcv.buf.offer();
        let threshold = (self.rcv.buf.capacity() / 2).min(self.rcv.mss);
        if now_avail >= before + threshold && self.state.is_synchronized() && !self.rcv.fin_received
        {
            self.rcv.ack_now = true;
        }
    }

    /// Shuts down the sending side: a FIN after the buffered data (RFC 9293 §3.10.4).
    pub(crate) fn shutdown(&mut self) {
        if self.snd.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                // Nothing was ever sent: just go away.
                self.set_state(State::Closed);
                self.timers.clear();
            }
            State::SynReceived | State::Established | State::CloseWait => {
                self.snd.fin_queued = true;
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
            self.rst_pending = Some((self.snd.nxt, None));
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
        self.rcv.ack_now = false;
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
            srtt: self.rec.rtt.srtt(),
            rttvar: self.rec.rtt.rttvar(),
            rto: self.rec.rtt.rto(),
            cwnd: self.rec.cc.cwnd(),
            ssthresh: self.rec.cc.ssthresh(),
            bytes_in_flight: self.flight_size(),
            snd_wnd: self.snd.wnd,
            rcv_wnd: self.rcv.buf.window(),
            smss: self.snd.mss,
            snd_mss: self.effective_mss(),
            in_recovery: self.rec.episode.is_some(),
            send_queue: self.snd.buf.len(),
            recv_queue: self.rcv.buf.readable(),
            stats: ConnStats {
                recovery: self.rec.loss.stats,
                ..self.stats
            },
            congestion: self.rec.cc.name(),
            last_send: Some(self.last_send),
            last_recv: Some(self.last_recv),
            rcv_mss: self.rcv.mss,
            snd_wscale: self.snd.shift,
            rcv_wscale: self.rcv.shift,
            timestamps: self.ts.ok,
            sack: self.sack_ok,
            orphaned: self.detached && !matches!(self.state, State::Closed | State::TimeWait),
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
        if start.lt(self.rcv.nxt) {
            let top = if end.lt(self.rcv.nxt) {
                end
            } else {
                self.rcv.nxt
            };
            return Some((start, top));
        }
        let offset = start.distance(self.rcv.nxt) as usize;
        let (a, b) = self.rcv.buf.held_overlap(offset, len)?;
        Some((self.rcv.nxt.add(a), self.rcv.nxt.add(b)))
    }

    /// Whether the app could read now (data, EOF or an error).
    pub(crate) fn readable(&self) -> bool {
        self.rcv.buf.readable() > 0
            || self.rcv.fin_received
            || self.error.is_some()
            || self.state == State::Closed
    }

    /// Whether the app could write now.
    pub(crate) fn writable(&self) -> bool {
        self.error.is_some()
            || (self.state.can_send() && !self.snd.fin_queued && self.snd.buf.free() > 0)
            || !self.state.can_send()
    }

    /// Whether the connection has a control segment (RST, SYN, probe, ACK) still to send.
    pub(crate) fn control_pending(&self) -> bool {
        self.rst_pending.is_some()
            || self.syn_pending
            || self.probe_pending
            || self.rcv.ack_now
            || self.rcv.acks_owed > 0
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

    /// An orphan in FIN-WAIT-2 gets `fin_timeout` from its last activity to see the peer's
    /// FIN (RFC 9293 sets no bound; without one a peer that never closes pins the connection
    /// and its slot forever) — whether the app closed before our FIN was acknowledged or
    /// after (a half-close, then close). Called after every event (`TcpLayer::reschedule`).
    pub(crate) fn arm_fin_wait2(&mut self) {
        if self.detached && self.state == State::FinWait2 && !self.timers.is_set(Timer::FinWait2) {
            let last = if self.last_recv > self.last_send {
                self.last_recv
            } else {
                self.last_send
            };
            self.timers
                .set(Timer::FinWait2, last + self.limits.fin_timeout);
        }
    }

    /// Runs the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        let due: Vec<Timer> = self.timers.expired(now).collect();
        for t in due {
            match t {
                Timer::Retransmit => self.on_loss_timer(now),
                Timer::DelayedAck => self.rcv.ack_now = true,
                Timer::Persist => self.on_persist(now),
                Timer::Keepalive => self.on_keepalive(now),
                Timer::TimeWait => {
                    debug!("tcp {} -> {}: TIME-WAIT over", self.local, self.remote);
                    self.close_now(None);
                }
                Timer::FinWait2 if self.detached && self.state == State::FinWait2 => {
                    // The peer never closed. Freed silently, as Linux's FIN-WAIT-2 entry
                    // expires after `tcp_fin_timeout`.
                    debug!("tcp {} -> {}: FIN-WAIT-2 timeout", self.local, self.remote);
                    self.close_now(None);
                }
                Timer::FinWait2 => {}
            }
        }
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
        if self.keepalive_probes >= self.limits.keepalive_limit {
            debug!(
                "tcp {} -> {}: keepalive: peer is gone",
                self.local, self.remote
            );
            self.rst_pending = Some((self.snd.nxt, None));
            self.close_now(Some(TcpError::TimedOut));
            return;
        }
        // RFC 1122 §4.2.3.6: a segment with SEG.SEQ = SND.NXT − 1 elicits an ACK.
        self.keepalive_probes += 1;
        self.probe_pending = true;
        self.timers
            .set(Timer::Keepalive, now + self.limits.keepalive_interval);
    }
}
