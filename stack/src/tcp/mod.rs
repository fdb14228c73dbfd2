//! TCP (RFC 9293): connections, listeners with a real backlog and SYN cookies, and the pieces
//! they are built from.
//!
//! [`TcpLayer`] owns every connection and listener. It demultiplexes arriving segments in O(1)
//! (a hash map on the 4-tuple), answers segments for nobody with RST (RFC 9293 §3.10.7.1),
//! keeps a deadline heap so `poll_at` is cheap with thousands of connections, and a queue of
//! connections with something to send so `poll_transmit` never scans the table.

pub mod assembler;
mod challenge;
pub mod congestion;
pub mod connection;
mod events;
mod handshake;
mod icmp_error;
mod input;
pub mod isn;
mod listener;
mod memory;
mod output;
mod receiver;
pub mod recovery;
mod ring;
pub mod rtt;
pub mod send_buffer;
mod sender;
pub mod state;
pub mod syncookie;
mod table;
mod time_wait;
pub mod timers;

pub use connection::ConnStats;
pub use listener::ListenerInfo;
pub use state::State;

use crate::config::Config;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{flags, SeqNumber, TcpOptions, TcpRepr, TcpSegment};
use challenge::ChallengeCap;
use connection::Connection;
pub(crate) use icmp_error::IcmpReport;
use input::Verdict;
use isn::IsnGenerator;
use listener::Listener;
pub(crate) use output::IpOut;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use table::Slot;
use time_wait::{TimeWaitTable, TwOutcome};

/// What went wrong on a TCP socket, as the app sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// Nothing to read or no room to write right now.
    WouldBlock,
    /// The handle is closed or stale.
    InvalidHandle,
    /// Not connected (yet or any more).
    NotConnected,
    /// The peer reset the connection (ECONNRESET).
    Reset,
    /// The peer refused the connection: RST in reply to our SYN (ECONNREFUSED).
    Refused,
    /// The handshake, the user timeout or keepalive gave up (ETIMEDOUT).
    TimedOut,
    /// A hard ICMP error while connecting (EHOSTUNREACH and friends).
    Unreachable(crate::socket::IcmpError),
    /// Writing after `shutdown` or `close` (EPIPE).
    Closed,
    /// No free port, or the connection table is full.
    NoResources,
    /// The port is in use.
    AddrInUse,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TcpError::WouldBlock => f.write_str("operation would block"),
            TcpError::InvalidHandle => f.write_str("invalid TCP handle"),
            TcpError::NotConnected => f.write_str("not connected"),
            TcpError::Reset => f.write_str("connection reset by peer"),
            TcpError::Refused => f.write_str("connection refused"),
            TcpError::TimedOut => f.write_str("connection timed out"),
            TcpError::Unreachable(e) => write!(f, "unreachable: {e}"),
            TcpError::Closed => f.write_str("broken pipe (sending side closed)"),
            TcpError::NoResources => f.write_str("no free port or connection slot"),
            TcpError::AddrInUse => f.write_str("address in use"),
        }
    }
}

impl std::error::Error for TcpError {}

/// A snapshot of one connection (like Linux's `tcp_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// State.
    pub state: State,
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
    /// Smoothed RTT (RFC 6298), once measured.
    pub srtt: Option<Duration>,
    /// RTT variation, once measured.
    pub rttvar: Option<Duration>,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes.
    pub ssthresh: usize,
    /// Sent and unacknowledged, bytes.
    pub bytes_in_flight: usize,
    /// The peer's advertised window, bytes.
    pub snd_wnd: usize,
    /// Our receive window, bytes.
    pub rcv_wnd: usize,
    /// MSS we send with.
    pub smss: usize,
    /// In fast recovery.
    pub in_recovery: bool,
    /// Bytes in the send buffer.
    pub send_queue: usize,
    /// Bytes waiting for the app to read.
    pub recv_queue: usize,
    /// Counters.
    pub stats: ConnStats,
    /// Congestion-control algorithm.
    pub congestion: &'static str,
    /// When a segment was last sent (None in the compact TIME-WAIT table).
    pub last_send: Option<Instant>,
    /// When a segment was last received (None in the compact TIME-WAIT table).
    pub last_recv: Option<Instant>,
    /// The MSS we announced (what full-sized segments from the peer carry at most).
    pub rcv_mss: usize,
    /// Window-scale shift applied to the peer's windows (RFC 7323 §2.3; 0 if not negotiated).
    pub snd_wscale: u8,
    /// Window-scale shift we apply to the windows we advertise (0 if not negotiated).
    pub rcv_wscale: u8,
    /// Timestamps negotiated (RFC 7323 §3).
    pub timestamps: bool,
    /// SACK permitted (RFC 2018).
    pub sack: bool,
}

/// A TCP connection handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle {
    index: u32,
    generation: u32,
}

/// A TCP listener handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenHandle {
    port: u16,
    generation: u32,
}

/// Writes the TCP header for `repr` in front of a payload already at
/// `buf[20 + repr.header_len()..]`, and has `ip` (ip::egress) write the IPv4 header; returns the
/// packet length.
pub(crate) fn write_packet(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: &TcpRepr,
    payload_len: usize,
    ip: &mut IpOut<'_>,
) -> usize {
    use crate::wire::ipv4::HEADER_LEN;
    let tcp_len = repr.emit(&mut buf[HEADER_LEN..], src, dst, payload_len);
    ip.write_tcp_header(buf, src, dst, tcp_len)
}

/// A stateless reply: RST for segments that belong to nobody, SYN-ACK carrying a cookie.
#[derive(Debug, Clone, Copy)]
struct Reply {
    local: SocketAddrV4,
    remote: SocketAddrV4,
    repr: TcpRepr,
}

/// Every TCP connection and listener of a stack.
#[derive(Debug)]
pub struct TcpLayer {
    addr: Ipv4Addr,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_tuple: HashMap<(u16, SocketAddrV4), u32>,
    listeners: HashMap<u16, Listener>,
    listener_generation: u32,
    ready: VecDeque<u32>,
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Connections with an event queued (each at most once).
    events: VecDeque<u32>,
    /// Listeners with an `ACCEPTABLE` event queued (each at most once).
    listen_events: VecDeque<u16>,
    listen_events_pending: std::collections::HashSet<u16>,
    replies: VecDeque<Reply>,
    isn: IsnGenerator,
    secret: [u8; 16],
    challenge: ChallengeCap,
    half_open: usize,
    open: usize,
    /// When the half-open queue last overflowed (SYN cookies are accepted only soon after).
    last_overflow: Option<Instant>,
    /// Out-of-order ranges held by all connections together.
    ooo_ranges: usize,
    /// Connections the app closed, waiting out TIME-WAIT without a slot.
    time_wait: TimeWaitTable,
    /// Layer-level counters, copied into the stack's `Stats`.
    pub(crate) counters: LayerCounters,
}

/// Counters the TCP layer keeps for the stack's `Stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LayerCounters {
    pub(crate) active_opens: u64,
    pub(crate) passive_opens: u64,
    pub(crate) resets_sent: u64,
    pub(crate) cookies_sent: u64,
    pub(crate) cookies_accepted: u64,
    pub(crate) time_wait_recycled: u64,
    pub(crate) time_wait_reused: u64,
    /// Retransmissions, timeouts and loss-recovery counters of every connection.
    pub(crate) loss: recovery::LossTotals,
}

/// Most stateless replies waiting to be sent; more are dropped (they are answers to floods).
const MAX_REPLIES: usize = 1024;

impl TcpLayer {
    pub(crate) fn new(cfg: &Config, _now: Instant) -> Self {
        TcpLayer {
            addr: cfg.addr,
            slots: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::new(),
            listeners: HashMap::new(),
            listener_generation: 0,
            ready: VecDeque::new(),
            heap: BinaryHeap::new(),
            events: VecDeque::new(),
            listen_events: VecDeque::new(),
            listen_events_pending: std::collections::HashSet::new(),
            replies: VecDeque::new(),
            isn: IsnGenerator::new(cfg.secret),
            // A key of its own for cookies (issue 8 #13); ISNs keep `cfg.secret` (RFC 6528 §3).
            secret: syncookie::key(&cfg.secret),
            challenge: ChallengeCap::new(cfg),
            half_open: 0,
            open: 0,
            last_overflow: None,
            ooo_ranges: 0,
            time_wait: TimeWaitTable::new(cfg),
            counters: LayerCounters::default(),
        }
    }

    /// Earliest timer of any connection.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        // The top may be stale only if something changed since the last clean; then it is
        // earlier than the real deadline, which at worst causes one early wakeup.
        let conn = self.heap.peek().map(|Reverse((at, _))| *at);
        match (conn, self.time_wait.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs every connection timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, index))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let slot = &mut self.slots[index as usize];
            if slot.scheduled != Some(at) {
                continue;
            }
            slot.scheduled = None;
            if let Some(conn) = slot.conn.as_mut() {
                let before = conn.loss_totals();
                conn.on_timeout(now);
                self.counters.loss.add_delta(&before, &conn.loss_totals());
            }
            self.touched(index);
        }
        self.time_wait.expire(now);
        self.clean_heap();
    }

    /// Whether any connection or stateless reply may have something to send.
    pub(crate) fn has_transmit(&self) -> bool {
        !self.ready.is_empty() || !self.replies.is_empty()
    }

    /// Emits the next TCP packet, if any.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        if let Some(r) = self.replies.pop_front() {
            return Some(write_packet(
                buf,
                *r.local.ip(),
                *r.remote.ip(),
                &r.repr,
                0,
                ip,
            ));
        }
        while let Some(&index) = self.ready.front() {
            let slot = &mut self.slots[index as usize];
            let counters = &mut self.counters.loss;
            let out = slot.conn.as_mut().and_then(|c| {
                let before = c.loss_totals();
                let n = c.poll_segment(now, buf, ip);
                counters.add_delta(&before, &c.loss_totals());
                n
            });
            match out {
                Some(n) => {
                    // Keep it at the front: it may have more; timers may have moved.
                    self.touched_after_send(index);
                    return Some(n);
                }
                None => {
                    self.ready.pop_front();
                    self.slots[index as usize].ready = false;
                    self.reschedule(index);
                }
            }
        }
        self.clean_heap();
        None
    }

    fn queue_reply(&mut self, reply: Reply) {
        if self.replies.len() < MAX_REPLIES {
            self.replies.push_back(reply);
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets an RST (unless it is one).
    fn reset_for(&mut self, local: SocketAddrV4, remote: SocketAddrV4, seg: &TcpSegment<'_>) {
        if seg.rst() {
            return;
        }
        let repr = if seg.ack() {
            TcpRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                seq: seg.ack,
                flags: flags::RST,
                ..TcpRepr::default()
            }
        } else {
            TcpRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                seq: SeqNumber(0),
                ack: seg.seq.add(seg.seg_len()),
                flags: flags::RST | flags::ACK,
                ..TcpRepr::default()
            }
        };
        self.queue_reply(Reply {
            local,
            remote,
            repr,
        });
        self.counters.resets_sent += 1;
    }

    /// Handles one arriving segment (already checksum-verified, addressed to our unicast address).
    pub(crate) fn input(
        &mut self,
        cfg: &Config,
        now: Instant,
        src: Ipv4Addr,
        seg: &TcpSegment<'_>,
    ) -> Result<(), DropReason> {
        let local = SocketAddrV4::new(self.addr, seg.dst_port);
        let remote = SocketAddrV4::new(src, seg.src_port);
        let mut iss_floor = None;
        match self.time_wait_input(now, (seg.dst_port, remote), seg) {
            Some(TwOutcome::Done(r)) => return r,
            Some(TwOutcome::Reuse(floor)) => iss_floor = Some(floor),
            None => {}
        }
        if let Some(&index) = self.by_tuple.get(&(seg.dst_port, remote)) {
            let Some(conn) = self.slots[index as usize].conn.as_mut() else {
                return Err(DropReason::TcpNoConnection);
            };
            // Out-of-order ranges: this connection's share is the per-connection limit, or
            // what the total leaves it (Config::tcp_ooo_max_ranges{,_total}).
            let before = conn.rcv.buf.out_of_order_ranges();
            let others = self.ooo_ranges.saturating_sub(before);
            let room = cfg.tcp_ooo_max_ranges_total.saturating_sub(others);
            conn.rcv
                .buf
                .set_max_ranges(cfg.tcp_ooo_max_ranges.min(room));
            let before = conn.loss_totals();
            let verdict = conn.on_segment(seg, now, &mut self.challenge);
            self.counters.loss.add_delta(&before, &conn.loss_totals());
            self.ooo_ranges = others + conn.rcv.buf.out_of_order_ranges();
            self.touched(index);
            return match verdict {
                Verdict::Ok => Ok(()),
                Verdict::Drop(r) => Err(r),
            };
        }
        if self.listeners.contains_key(&seg.dst_port) {
            return self.listener_input(cfg, now, local, remote, seg, iss_floor);
        }
        self.reset_for(local, remote, seg);
        Err(DropReason::TcpNoConnection)
    }

    /// An ICMP error quoting one of our segments from `local_port` to `remote`. `Err` names why
    /// it was ignored (no such connection, or not about a segment in flight).
    pub(crate) fn icmp_error(
        &mut self,
        local_port: u16,
        remote: SocketAddrV4,
        report: IcmpReport,
    ) -> Result<(), DropReason> {
        let Some(&index) = self.by_tuple.get(&(local_port, remote)) else {
            return Err(DropReason::IcmpNoSocket);
        };
        let Some(conn) = self.slots[index as usize].conn.as_mut() else {
            return Err(DropReason::IcmpNoSocket);
        };
        let r = conn.on_icmp_error(report);
        self.touched(index);
        r
    }

    // ----------------------------------------------------------------------------------------
    // App operations
    // ----------------------------------------------------------------------------------------

    /// Listens on `port` with an accept queue of `backlog` connections.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenHandle, TcpError> {
        if port == 0 || self.listeners.contains_key(&port) {
            return Err(TcpError::AddrInUse);
        }
        self.listener_generation = self.listener_generation.wrapping_add(1);
        let generation = self.listener_generation;
        self.listeners
            .insert(port, Listener::new(backlog.max(1), generation));
        Ok(ListenHandle { port, generation })
    }

    fn listener_mut(&mut self, l: ListenHandle) -> Option<&mut Listener> {
        self.listeners
            .get_mut(&l.port)
            .filter(|x| x.generation == l.generation)
    }

    /// Takes an established connection from the accept queue.
    pub fn accept(&mut self, l: ListenHandle) -> Result<ConnHandle, TcpError> {
        loop {
            let listener = self.listener_mut(l).ok_or(TcpError::InvalidHandle)?;
            let h = listener
                .accept_queue
                .pop_front()
                .ok_or(TcpError::WouldBlock)?;
            // A connection reset before it was accepted is still handed out: the app sees the
            // error on first use, as with Linux. One already freed is skipped.
            if self.conn(h).is_some() {
                return Ok(h);
            }
        }
    }

    /// Whether `accept` would return a connection.
    pub fn can_accept(&self, l: ListenHandle) -> bool {
        self.listeners
            .get(&l.port)
            .filter(|x| x.generation == l.generation)
            .is_some_and(|x| !x.accept_queue.is_empty())
    }

    /// Stops listening; connections not yet accepted are reset.
    pub fn close_listener(&mut self, l: ListenHandle) -> bool {
        if self.listener_mut(l).is_none() {
            return false;
        }
        let Some(listener) = self.listeners.remove(&l.port) else {
            return false;
        };
        for h in listener.accept_queue {
            if let Some(c) = self.conn_mut(h) {
                c.detached = true;
                c.abort();
                self.touched(h.index);
            }
        }
        true
    }

    /// Opens a connection to `remote` from an ephemeral port chosen by `pick`.
    pub(crate) fn connect(
        &mut self,
        cfg: &Config,
        now: Instant,
        remote: SocketAddrV4,
        local_port: u16,
    ) -> Result<ConnHandle, TcpError> {
        if self.open >= cfg.tcp_max_connections {
            return Err(TcpError::NoResources);
        }
        if self.tuple_in_use(local_port, remote) {
            return Err(TcpError::AddrInUse);
        }
        let local = SocketAddrV4::new(self.addr, local_port);
        let iss = self.isn.isn(now, local, remote);
        let mut conn = Connection::new(cfg, now, local, remote, iss);
        conn.connect(now);
        self.counters.active_opens += 1;
        let index = self.insert(conn, None);
        self.touched(index);
        Ok(self.handle_of(index))
    }

    /// Whether the 4-tuple is free (for ephemeral port selection).
    pub(crate) fn tuple_free(&self, local_port: u16, remote: SocketAddrV4) -> bool {
        !self.tuple_in_use(local_port, remote) && !self.listeners.contains_key(&local_port)
    }

    /// Closes the app's side: FIN after the data, or RST if received data was never read
    /// (RFC 9293 §3.10.4 and RFC 2525 §2.17, as Linux does). The connection lingers until done.
    pub(crate) fn close(&mut self, h: ConnHandle) -> Result<(), TcpError> {
        self.with_conn(h, |c| {
            c.detached = true;
            if c.rcv.buf.readable() > 0 && c.state.is_synchronized() {
                c.abort();
            } else if c.state == State::SynSent || c.state == State::Closed {
                c.close_now(None);
            } else {
                c.shutdown();
            }
        })
    }

    /// Ports listened on.
    pub fn listener_count(&self) -> usize {
        self.listeners.len()
    }
}

/// Options offered on a cookie SYN-ACK: only MSS survives in the cookie.
fn cookie_options(mss: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    }
}
