//! [`TcpLayer`], every connection and listener of a stack, and its connection table:
//! generation-checked slots (a `ConnHandle` is an index and a
//! generation), the 4-tuple map, and the bookkeeping after anything touched a connection —
//! queue it for output, reschedule its timer in the deadline heap, hand it to its listener,
//! move it to the TIME-WAIT table (`time_wait.rs`) once the app has closed it, and free it
//! when finished.

use super::challenge::ChallengeCap;
use super::connection::Connection;
use super::input::Verdict;
use super::isn::IsnGenerator;
use super::listener::Listener;
use super::output::{write_packet, SegmentIp};
use super::recovery::LossTotals;
use super::time_wait::{TimeWaitTable, TwOutcome};
use super::{syncookie, ConnHandle, IcmpReport, IpOut, ListenHandle, State, TcpError, TcpInfo};
use crate::config::Config;
use crate::slab::GenSlab;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::tcp::{Control, SeqNumber, TcpOptions, TcpRepr, TcpSegment};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// One entry of the connection table (its generation is the slab's).
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) conn: Option<Connection>,
    /// Queued in `ready` (has something to send, maybe).
    pub(super) ready: bool,
    /// Deadline last pushed to the heap.
    pub(super) scheduled: Option<Instant>,
    /// The listener whose accept queue this connection will join when established.
    pub(super) listener: Option<u16>,
    /// What the app could observe at the last touch (for readiness events).
    pub(super) seen: super::events::Seen,
    /// Readiness bits of the queued event.
    pub(super) pending: crate::socket::Readiness,
    /// In `TcpLayer::events`. Survives the slot's reuse, so a slot is queued at most once.
    pub(super) event_queued: bool,
    /// A passive connection, counted in `TcpLayer::per_source` (`admission.rs`).
    pub(super) passive: bool,
}

impl TcpLayer {
    pub(super) fn conn(&self, h: ConnHandle) -> Option<&Connection> {
        self.slots.get(h.index, h.generation)?.conn.as_ref()
    }

    pub(super) fn conn_mut(&mut self, h: ConnHandle) -> Option<&mut Connection> {
        self.slots.get_mut(h.index, h.generation)?.conn.as_mut()
    }

    pub(super) fn insert(&mut self, conn: Connection, listener: Option<u16>) -> u32 {
        let key = (conn.local.port(), conn.remote);
        let seen = super::events::Seen::of(&conn);
        let index = self.slots.alloc(|| Slot {
            conn: None,
            ready: false,
            scheduled: None,
            listener: None,
            seen,
            pending: crate::socket::Readiness::EMPTY,
            event_queued: false,
            passive: false,
        });
        let slot = &mut self.slots[index as usize];
        slot.conn = Some(conn);
        slot.listener = listener;
        slot.scheduled = None;
        slot.ready = false;
        slot.seen = seen;
        slot.pending = crate::socket::Readiness::EMPTY;
        slot.passive = false;
        self.by_tuple.insert(key, index);
        self.open += 1;
        index
    }

    pub(super) fn handle_of(&self, index: u32) -> ConnHandle {
        ConnHandle {
            index,
            generation: self.slots.generation(index),
        }
    }

    /// After anything touched connection `index`: queue it for output, reschedule its timer,
    /// hand it to its listener when established, and free it when finished.
    pub(super) fn touched(&mut self, index: u32) {
        self.note_changes(index);
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_ref() else {
            return;
        };
        if let Some(port) = slot.listener {
            if conn.state != State::SynReceived {
                slot.listener = None;
                self.half_open = self.half_open.saturating_sub(1);
                let established = conn.state.is_synchronized() || conn.state == State::CloseWait;
                let handle = self.handle_of(index);
                if !(established && self.join_accept_queue(port, handle)) {
                    // The listener went away, or the handshake failed: nobody will accept it.
                    if let Some(c) = self.slots[index as usize].conn.as_mut() {
                        c.detached = true;
                        if established {
                            c.abort();
                        }
                    }
                }
            }
        }
        let slot = &mut self.slots[index as usize];
        if slot.conn.is_none() {
            return;
        }
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(index);
        }
        self.reschedule(index);
    }

    /// Pushes the connection's new earliest deadline to the heap if it changed, and frees the
    /// connection if it is finished. Returns whether it was freed.
    pub(super) fn reschedule(&mut self, index: u32) -> bool {
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_mut() else {
            return false;
        };
        conn.arm_fin_wait2();
        if conn.is_orphan_in_time_wait() {
            self.move_to_time_wait(index);
            return true;
        }
        let next = conn.next_deadline();
        if next != slot.scheduled {
            slot.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, index)));
            }
        }
        if conn.is_finished() {
            self.free_slot(index);
            return true;
        }
        false
    }

    pub(super) fn free_slot(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if let Some(conn) = slot.conn.take() {
            // Its loss counters join the freed connections' total (`loss_totals`).
            self.freed_loss.add(&conn.loss_totals());
            self.by_tuple.remove(&(conn.local.port(), conn.remote));
            self.ooo_ranges = self
                .ooo_ranges
                .saturating_sub(conn.rcv.buf.out_of_order_ranges());
            if slot.listener.take().is_some() {
                self.half_open = self.half_open.saturating_sub(1);
            }
            let passive = std::mem::take(&mut slot.passive);
            slot.scheduled = None;
            slot.pending = crate::socket::Readiness::EMPTY;
            self.slots.release(index);
            self.open -= 1;
            if passive {
                self.source_closed(conn.remote.ip());
            }
        }
    }

    /// Drops stale heap entries from the top, and compacts the heap if mostly stale.
    pub(super) fn clean_heap(&mut self) {
        while let Some(Reverse((at, index))) = self.heap.peek().copied() {
            let live = self
                .slots
                .at(index)
                .is_some_and(|s| s.scheduled == Some(at));
            if live {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 64 && self.heap.len() > 4 * self.open.max(1) {
            let slots = &self.slots;
            self.heap
                .retain(|Reverse((at, i))| slots[*i as usize].scheduled == Some(*at));
        }
    }

    /// After a segment was sent from the front of the ready queue: it stays at the front (it may
    /// have more to send) unless it is finished.
    pub(super) fn touched_after_send(&mut self, index: u32) {
        if self.reschedule(index) {
            self.ready.pop_front();
            self.slots[index as usize].ready = false;
        }
    }

    /// Whether a connection, or one in TIME-WAIT, has the 4-tuple.
    pub(super) fn tuple_in_use(&self, local_port: u16, remote: SocketAddr) -> bool {
        let key = (local_port, remote);
        self.by_tuple.contains_key(&key) || self.time_wait.contains(&key)
    }

    /// The state of a connection, TIME-WAIT table included (the app's handle of a connection
    /// it closed still reads TIME-WAIT until the wait is over).
    pub(crate) fn state(&self, h: ConnHandle) -> Option<State> {
        match self.conn(h) {
            Some(c) => Some(c.state),
            None => self.time_wait.holds(h).then_some(State::TimeWait),
        }
    }

    /// Runs `f` on the connection, then does the bookkeeping.
    pub(crate) fn with_conn<R>(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&mut Connection) -> R,
    ) -> Result<R, TcpError> {
        let c = self.conn_mut(h).ok_or(TcpError::InvalidHandle)?;
        let r = f(c);
        self.touched(h.index);
        Ok(r)
    }

    /// Read-only access.
    pub(crate) fn get(&self, h: ConnHandle) -> Option<&Connection> {
        self.conn(h)
    }

    /// Every connection's info (for `/stats`).
    pub fn connections(&self) -> impl Iterator<Item = TcpInfo> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.info()))
            .chain(self.time_wait.infos(self.addr))
    }

    /// Retransmissions, timeouts and loss-recovery counters of every connection the layer ever
    /// held (`Stats::tcp_loss`): the live connections' own counters summed, plus the total
    /// folded in as each was freed. O(connections), for when stats are read — never per packet.
    pub(crate) fn loss_totals(&self) -> LossTotals {
        let mut total = self.freed_loss;
        for c in self.slots.iter().filter_map(|s| s.conn.as_ref()) {
            total.add(&c.loss_totals());
        }
        total
    }

    /// Connections: open ones and those in the TIME-WAIT table.
    pub fn connection_count(&self) -> usize {
        self.open + self.time_wait.len()
    }

    /// Half-open (SYN-RECEIVED) connections.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Resets every connection and forgets TIME-WAIT (see `Stack::tcp_abort_all`).
    pub(crate) fn abort_all(&mut self) -> usize {
        let mut n = 0;
        for index in 0..self.slots.len() as u32 {
            let Some(c) = self.slots[index as usize].conn.as_mut() else {
                continue;
            };
            c.detached = true;
            c.abort();
            n += 1;
            self.touched(index);
        }
        self.time_wait.clear();
        n
    }
}

/// The stack's addresses: a connection's local address is the one of its peer's family.
#[derive(Clone, Copy, Debug)]
pub(super) struct LocalAddrs {
    pub(super) v4: std::net::Ipv4Addr,
    pub(super) v6: Option<std::net::Ipv6Addr>,
}

impl LocalAddrs {
    /// Our address towards `remote` (IPv6 peers reach us only when we have an IPv6 address;
    /// without one this is `::`, never used for a segment).
    pub(super) fn local_for(&self, remote: IpAddr) -> IpAddr {
        match remote {
            IpAddr::V4(_) => IpAddr::V4(self.v4),
            IpAddr::V6(_) => IpAddr::V6(self.v6.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)),
        }
    }
}

/// A stateless reply: RST for segments that belong to nobody, SYN-ACK carrying a cookie.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reply {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) repr: TcpRepr,
}

/// Every TCP connection and listener of a stack.
#[derive(Debug)]
pub(crate) struct TcpLayer {
    pub(super) addr: LocalAddrs,
    pub(super) slots: GenSlab<Slot>,
    pub(super) by_tuple: HashMap<(u16, SocketAddr), u32>,
    pub(super) listeners: HashMap<u16, Listener>,
    pub(super) listener_generation: u32,
    pub(super) ready: VecDeque<u32>,
    pub(super) heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Connections with an event queued (each at most once).
    pub(super) events: VecDeque<u32>,
    /// Listeners with an `ACCEPTABLE` event queued (each at most once).
    pub(super) listen_events: VecDeque<u16>,
    pub(super) listen_events_pending: std::collections::HashSet<u16>,
    pub(super) replies: VecDeque<Reply>,
    pub(super) isn: IsnGenerator,
    pub(super) secret: [u8; 16],
    pub(super) challenge: ChallengeCap,
    pub(super) half_open: usize,
    pub(super) open: usize,
    /// Passive connections in the table per remote address (`Config::tcp_max_per_source`);
    /// an address leaves the map when its count drops to zero.
    pub(super) per_source: HashMap<IpAddr, u32>,
    /// What every connection's buffers hold together, against `Config::tcp_mem_max`.
    pub(crate) mem: super::ring::MemBudget,
    /// When the half-open queue last overflowed (SYN cookies are accepted only soon after).
    pub(super) last_overflow: Option<Instant>,
    /// Out-of-order ranges held by all connections together.
    pub(super) ooo_ranges: usize,
    /// Connections the app closed, waiting out TIME-WAIT without a slot.
    pub(super) time_wait: TimeWaitTable,
    /// Layer-level counters, copied into the stack's `Stats`.
    pub(crate) counters: LayerCounters,
    /// The loss counters of every connection freed so far (live ones are summed on read).
    pub(super) freed_loss: LossTotals,
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
}

/// Most stateless replies waiting to be sent; more are dropped (they are answers to floods).
pub(super) const MAX_REPLIES: usize = 1024;

impl TcpLayer {
    pub(crate) fn new(cfg: &Config, _now: Instant) -> Self {
        TcpLayer {
            addr: LocalAddrs {
                v4: cfg.addr,
                v6: cfg.addr6,
            },
            slots: GenSlab::default(),
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
            per_source: HashMap::new(),
            mem: super::ring::MemBudget::new(cfg.tcp_mem_max),
            last_overflow: None,
            ooo_ranges: 0,
            time_wait: TimeWaitTable::new(cfg),
            counters: LayerCounters::default(),
            freed_loss: LossTotals::default(),
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
                conn.on_timeout(now);
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
            let seg = SegmentIp {
                src: r.local.ip(),
                dst: r.remote.ip(),
                ports: super::output::ports(r.local, r.remote),
                ttl: None,
            };
            return Some(write_packet(buf, seg, &r.repr, 0, ip));
        }
        while let Some(&index) = self.ready.front() {
            let slot = &mut self.slots[index as usize];
            let out = slot
                .conn
                .as_mut()
                .and_then(|c| c.poll_segment(now, buf, ip));
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

    pub(super) fn queue_reply(&mut self, reply: Reply) {
        if self.replies.len() < MAX_REPLIES {
            self.replies.push_back(reply);
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets an RST (unless it is one).
    pub(super) fn reset_for(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpSegment<'_>,
    ) {
        if seg.rst() {
            return;
        }
        // <SEQ=SEG.ACK><CTL=RST>, or <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> without an ACK.
        let (seq, ack) = match seg.ack {
            Some(ack) => (ack, None),
            None => (SeqNumber(0), Some(seg.seq.add(seg.seg_len()))),
        };
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq,
            ack,
            control: Control::Rst,
            ..TcpRepr::default()
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
        src: IpAddr,
        seg: &TcpSegment<'_>,
    ) -> Result<(), DropReason> {
        let local = SocketAddr::new(self.addr.local_for(src), seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
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
            let verdict = conn.on_segment(seg, now, &mut self.challenge);
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
        remote: SocketAddr,
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
        remote: SocketAddr,
        local_port: u16,
    ) -> Result<ConnHandle, TcpError> {
        if self.open >= cfg.tcp_max_connections {
            return Err(TcpError::NoResources);
        }
        if self.tuple_in_use(local_port, remote) {
            return Err(TcpError::AddrInUse);
        }
        // An IPv6 peer needs an IPv6 address of ours (`Config::addr6`).
        if remote.is_ipv6() && self.addr.v6.is_none() {
            return Err(TcpError::AddrNotAvailable);
        }
        let local = SocketAddr::new(self.addr.local_for(remote.ip()), local_port);
        let iss = self.isn.isn(now, local, remote);
        let mut conn = Connection::new(cfg, now, local, remote, iss, &self.mem);
        conn.connect(now);
        self.counters.active_opens += 1;
        let index = self.insert(conn, None);
        self.touched(index);
        Ok(self.handle_of(index))
    }

    /// Whether the 4-tuple is free (for ephemeral port selection).
    /// Whether a listener or any connection uses local `port` (O(connections): for a raw
    /// socket's claim, never on the packet path).
    pub(crate) fn port_in_use(&self, port: u16) -> bool {
        self.listeners.contains_key(&port) || self.by_tuple.keys().any(|(p, _)| *p == port)
    }

    pub(crate) fn tuple_free(&self, local_port: u16, remote: SocketAddr) -> bool {
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
}

/// Options offered on a cookie SYN-ACK: only MSS survives in the cookie.
pub(super) fn cookie_options(mss: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    }
}
