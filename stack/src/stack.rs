//! `Stack`: the one place that crosses layers. Demultiplexes what arrives, owns every table, and
//! hands out what must leave.
//!
//! Call order, as in quinn-proto: feed input with [`Stack::receive`] and [`Stack::handle_timeout`]
//! (when `now` reaches [`Stack::poll_at`]), then drain [`Stack::poll_transmit`] until it returns
//! `None`, then [`Stack::poll_event`] for sockets that became readable. App calls (`udp_send_to`,
//! `echo_send`, ...) may come at any time; drain `poll_transmit` after them too.

use crate::config::{Config, ConfigError};
use crate::filter::fw::Hook;
use crate::icmp as policy;
use crate::ip::egress::Egress;
use crate::ip::fragment::{BufferPool, QueueError, TxQueue};
use crate::ip::ident::IdentGenerator;
use crate::ip::ingress::{self, DstKind};
use crate::ip::reassembly::{
    FragDrop, Fragment, FragmentKey, FragmentKey6, Outcome, Reassembler, ReassemblyLimits,
};
use crate::rand::{derive_key, label, Rng};
use crate::rate::TokenBucket;
use crate::socket::{Queued, SendError, SocketEvent, SocketHandle, SocketSet};
use crate::stats::{DropReason, Stats};
use crate::tcp::{IpOut, TcpLayer};
use crate::time::Instant;
use crate::wire::icmp;
use crate::wire::ipv4::{Ipv4Packet, MAX_DATAGRAM};
use crate::wire::tcp::TcpSegment;
use crate::wire::{proto, PacketSummary};
use firewall_api::Answer;
use log::{debug, trace};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU8;

/// What the receive path knows about a datagram once its IP header is accepted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival<'a> {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) dst_kind: DstKind,
    pub(crate) protocol: u8,
    pub(crate) ttl: u8,
    /// The (first fragment's) header as received, for ICMP quotes.
    pub(crate) header: &'a [u8],
}

/// A sans-IO IPv4 / ICMP / UDP / TCP stack. See the module docs for the call order.
#[derive(Debug)]
pub struct Stack {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    rng: Rng,
    egress: Egress,
    reassembly: Reassembler,
    /// IPv6 reassembly, with the same limits as IPv4's (its own budget of them).
    reassembly6: Reassembler<FragmentKey6>,
    /// IPv6 path MTUs lowered by Packet Too Big, for echo and UDP (RFC 8201 §4).
    pmtu6: crate::ip::pmtu::PathMtus,
    icmp_errors: TokenBucket,
    pub(crate) sockets: SocketSet,
    tx: TxQueue,
    pub(crate) pool: BufferPool,
    pub(crate) tcp: TcpLayer,
    now: Instant,
    /// The rule set in force (`set_firewall`); none: every packet passes at no cost.
    firewall: Option<Box<crate::filter::fw::Firewall>>,
    /// Milliseconds since the Unix epoch at `Instant::ZERO`, if the runtime said
    /// (`set_wall_clock`): for ICMP timestamps.
    wall_ms_at_zero: Option<u64>,
}

mod echo_api;
mod firewall_api;
mod icmp_input;
mod ipv6_input;
mod memory;
mod raw_api;
mod table_api;
mod tcp_api;

pub use memory::MemoryUsage;

impl Stack {
    /// A stack with `config`, its clock starting at `now`.
    pub fn new(config: Config, now: Instant) -> Result<Stack, ConfigError> {
        config.validate()?;
        // Separate keys per use, all derived from the secret (issue 8 #13; RFC 6528 §3).
        let rng = Rng::new(&config.secret, config.seed);
        let ident_key = derive_key(&config.secret, label::IP_IDENT, config.seed);
        Ok(Stack {
            stats: Stats::new(),
            egress: Egress::new(
                IdentGenerator::new(ident_key, config.ip_ident_buckets),
                config.ttl,
                derive_key(&config.secret, label::FLOW_LABEL, config.seed),
            ),
            rng,
            reassembly: Reassembler::new(ReassemblyLimits {
                max_datagram_size: MAX_DATAGRAM,
                max_bytes: config.reassembly_max_bytes,
                max_datagrams: config.reassembly_max_datagrams,
                timeout: config.reassembly_timeout,
            }),
            // The header kept is the fixed header and the Fragment header (48 bytes); the
            // payload may reach 65535 bytes (RFC 8200 §4.5, no jumbograms).
            // RFC 5722 §4: a datagram dropped for an overlap stays dropped.
            reassembly6: Reassembler::new(ReassemblyLimits {
                max_datagram_size: 48 + MAX_DATAGRAM,
                max_bytes: config.reassembly_max_bytes,
                max_datagrams: config.reassembly_max_datagrams,
                timeout: config.reassembly_timeout,
            })
            .remembering_overlaps(),
            pmtu6: crate::ip::pmtu::PathMtus::default(),
            icmp_errors: TokenBucket::new(config.icmp_error_rate, config.icmp_error_burst, now),
            sockets: SocketSet::new(
                config.max_sockets,
                config.socket_rx_queue_datagrams,
                config.socket_rx_queue_bytes,
            ),
            tx: TxQueue::new(config.tx_queue_datagrams, config.tx_queue_bytes),
            pool: BufferPool::default(),
            tcp: TcpLayer::new(&config, now),
            now,
            wall_ms_at_zero: None,
            firewall: None,
            config,
        })
    }

    /// Tells the stack the wall-clock time: `unix_ms` milliseconds since the Unix epoch at its
    /// instant `at`. The stack reads no clock itself; only ICMP timestamp replies use this.
    pub fn set_wall_clock(&mut self, at: Instant, unix_ms: u64) {
        self.wall_ms_at_zero = Some(unix_ms.saturating_sub(at.total_millis()));
    }

    /// An RFC 792 timestamp for now: milliseconds since midnight UT, or — without a wall
    /// clock — the stack's milliseconds with the high-order bit set (RFC 792's non-standard
    /// mark).
    pub(crate) fn icmp_timestamp(&self) -> u32 {
        const DAY_MS: u64 = 86_400_000;
        let ms = self.now.total_millis();
        match self.wall_ms_at_zero {
            Some(base) => ((base + ms) % DAY_MS) as u32,
            None => (ms as u32) | 0x8000_0000,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The stack's clock: the latest `now` it was given (by `new`, `receive` or
    /// `handle_timeout`); calls that take no `now`, such as `tcp_connect`, act at this time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Counters since `new`: a snapshot, read now. The TCP loss counters (`Stats::tcp_loss`)
    /// are summed over the live connections here, plus what freed connections left (so a
    /// read costs O(connections); the packet path never sums them).
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.tcp_loss = self.tcp.loss_totals();
        stats.tcp_mem_denied = self.tcp.mem.denied();
        stats
    }

    /// Copies the TCP layer's counters into `stats` (called after every input and timer).
    fn sync_tcp_counters(&mut self) {
        let c = self.tcp.counters;
        self.stats.tcp_active_opens = c.active_opens;
        self.stats.tcp_passive_opens = c.passive_opens;
        self.stats.tcp_resets_sent = c.resets_sent;
        self.stats.tcp_syncookies_sent = c.cookies_sent;
        self.stats.tcp_syncookies_accepted = c.cookies_accepted;
        self.stats.tcp_time_wait_recycled = c.time_wait_recycled;
        self.stats.tcp_time_wait_reused = c.time_wait_reused;
    }

    /// Bytes currently held by IP reassembly (IPv4's and IPv6's, each never above
    /// `Config::reassembly_max_bytes`).
    pub fn reassembly_bytes(&self) -> usize {
        self.reassembly.bytes_held() + self.reassembly6.bytes_held()
    }

    /// Datagrams currently in reassembly.
    pub fn reassembly_in_progress(&self) -> usize {
        self.reassembly.in_progress() + self.reassembly6.in_progress()
    }

    /// Datagrams waiting for `poll_transmit`.
    pub fn tx_queue_len(&self) -> usize {
        self.tx.len()
    }

    /// Open sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    fn advance(&mut self, now: Instant) {
        // Monotonic by contract; tolerate a caller's stray earlier `now` by ignoring it.
        self.now = self.now.max(now);
    }

    pub(crate) fn drop_packet(&mut self, reason: DropReason) {
        debug!("drop: {}", reason.description());
        self.stats.count_drop(reason);
    }

    // ----------------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------------

    /// Handles one IPv4 packet as read from the device.
    pub fn receive(&mut self, now: Instant, bytes: &[u8]) {
        self.advance(now);
        self.stats.ip_rx_packets += 1;
        self.stats.ip_rx_bytes += bytes.len() as u64;
        trace!("in  {}", PacketSummary(bytes));
        if bytes.first().is_some_and(|b| b >> 4 == 6) {
            return self.receive_v6(bytes, false);
        }
        let ip = match Ipv4Packet::parse(bytes) {
            Ok(ip) => ip,
            Err(reason) => return self.drop_packet(reason),
        };
        let (src, dst) = (ip.src(), ip.dst());
        let dst_kind = match ingress::classify(&self.config, src, dst) {
            Ok(k) => k,
            Err(reason) => return self.drop_packet(reason),
        };
        let whole = &bytes[..ip.header_bytes().len() + ip.payload().len()];
        // RFC 1122 §3.2.1.7: a host accepts any TTL, including 0 and 1; TTL matters only to routers.
        let arrival = Arrival {
            src,
            dst,
            dst_kind,
            protocol: ip.protocol(),
            ttl: ip.ttl(),
            header: ip.header_bytes(),
        };
        // The firewall's fragments chain sees every packet, then raw sockets get a copy, before
        // reassembly (filter::fw, socket::raw).
        let answer = || Answer::V4(arrival, ip.payload());
        if self.firewall_stops(Hook::Fragments, whole, answer()) {
            return;
        }
        self.raw_copy(Some(ip.protocol()), whole);
        if !ip.is_fragment() {
            if self.firewall_stops(Hook::Input, whole, answer()) {
                return;
            }
            return self.deliver(arrival, ip.payload());
        }
        self.stats.ip_rx_fragments += 1;
        let frag = Fragment {
            key: FragmentKey {
                src,
                dst,
                protocol: ip.protocol(),
                ident: ip.ident(),
            },
            offset: ip.frag_offset(),
            more_fragments: ip.more_fragments(),
            header: ip.header_bytes(),
            payload: ip.payload(),
        };
        let evicted_before = self.reassembly.stats().evicted;
        let outcome = self.reassembly.insert(self.now, frag);
        self.count_evicted(evicted_before, self.reassembly.stats().evicted);
        match outcome {
            Outcome::Incomplete => {}
            Outcome::Duplicate => self.drop_packet(DropReason::FragDuplicate),
            Outcome::Dropped { reason, .. } => self.drop_packet(frag_drop_reason(reason)),
            Outcome::Complete(mut datagram) => {
                self.stats.ip_reassembled += 1;
                // The datagram as a whole, as Linux presents it: the first fragment's header with
                // MF cleared and the total length of the reassembled datagram. ICMP errors quote it.
                let total = datagram.header.len() + datagram.payload.len();
                ingress::rewrite_reassembled_header(&mut datagram.header, total);
                let arrival = Arrival {
                    header: &datagram.header,
                    ..arrival
                };
                // The input chain sees the whole datagram: its header and the start of its
                // payload are all a rule reads.
                if self.firewall.is_some() {
                    let mut head = datagram.header.clone();
                    let n = datagram.payload.len().min(128);
                    head.extend_from_slice(&datagram.payload[..n]);
                    let answer = Answer::V4(arrival, &datagram.payload);
                    if self.firewall_stops(Hook::Input, &head, answer) {
                        return;
                    }
                }
                self.deliver(arrival, &datagram.payload);
            }
        }
    }

    /// Counts the datagrams a reassembler's `insert` evicted (its `evicted` count before and after).
    fn count_evicted(&mut self, evicted_before: u64, evicted_now: u64) {
        for _ in evicted_before..evicted_now {
            self.stats.count_drop(DropReason::FragEvicted);
        }
    }

    fn deliver(&mut self, a: Arrival<'_>, payload: &[u8]) {
        match a.protocol {
            proto::ICMP => self.icmp_input(a, payload),
            proto::UDP => self.udp_input(a, payload),
            proto::TCP => self.tcp_input(a, payload),
            _ => {
                // RFC 1122 §3.2.2.1: a host SHOULD send protocol unreachable for a transport it
                // does not implement.
                self.drop_packet(DropReason::UnknownProtocol);
                self.send_icmp_error(
                    a,
                    payload,
                    icmp::types::DEST_UNREACHABLE,
                    icmp::unreach::PROTOCOL,
                    [0; 4],
                );
            }
        }
    }

    fn tcp_input(&mut self, a: Arrival<'_>, payload: &[u8]) {
        // RFC 9293 §3.9.2.3 / RFC 1122 §4.2.3.10: TCP is unicast only; no RST to a broadcast.
        if a.dst_kind != DstKind::Local {
            // (A checksum failure is the first reason, as before the unicast check.)
            if let Err(r) = TcpSegment::parse(a.src, a.dst, payload) {
                return self.drop_packet(r);
            }
            return self.drop_packet(DropReason::TcpNotUnicast);
        }
        self.tcp_deliver(a.src.into(), a.dst.into(), payload);
    }

    /// Checks a TCP segment to our unicast address (IPv4 or IPv6) and hands it to the TCP
    /// layer: one state machine for both families, a connection's local address being ours of
    /// its peer's family.
    pub(crate) fn tcp_deliver(&mut self, src: IpAddr, dst: IpAddr, payload: &[u8]) {
        let seg = match TcpSegment::parse(src, dst, payload) {
            Ok(s) => s,
            Err(r) => return self.drop_packet(r),
        };
        // A port a raw socket claimed: its packets are the socket's alone (socket::raw).
        if self.raw_claims(proto::TCP, seg.dst_port) {
            return;
        }
        let r = self.tcp.input(&self.config, self.now, src, &seg);
        self.sync_tcp_counters();
        if let Err(r) = r {
            self.drop_packet(r);
        }
    }

    pub(crate) fn refuse(&mut self, item: Queued, reason: DropReason) {
        if let Queued::Udp { data, .. } | Queued::Echo { data, .. } = item {
            self.pool.give(data);
        }
        self.drop_packet(reason);
    }

    // ----------------------------------------------------------------------------------------
    // Timers and output
    // ----------------------------------------------------------------------------------------

    /// When `handle_timeout` should next be called, if any timer is armed.
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.reassembly.poll_at(),
            self.reassembly6.poll_at(),
            self.tcp.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer due at `now`: reassembly timeouts (ICMP time exceeded, code 1, is sent
    /// only if the first fragment had arrived — RFC 792, RFC 1122 §3.3.2).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.tcp.handle_timeout(self.now);
        self.sync_tcp_counters();
        let mut expired = Vec::new();
        self.reassembly.expire(self.now, |e| expired.push(e));
        for e in expired {
            self.drop_packet(DropReason::FragTimeout);
            let dst_kind = ingress::dst_kind(&self.config, e.key.dst);
            if let Some(error) = policy::reassembly_time_exceeded(&e, dst_kind) {
                self.send_error(error);
            }
        }
        self.expire_reassembly6();
    }

    /// Writes the next packet to send into `buf` and returns its length; `None` when there is
    /// nothing to send. `buf` should hold at least `Config::mtu` bytes; a smaller buffer gets
    /// smaller fragments.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            let n = self.poll_transmit_one(now, buf)?;
            // The firewall's output chain (filter::fw): a packet it stops was built, not sent.
            if !self.firewall_blocks_output(&buf[..n]) {
                return Some(n);
            }
            self.stats.ip_tx_packets -= 1;
            self.stats.ip_tx_bytes -= n as u64;
        }
    }

    fn poll_transmit_one(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        let Some(e) = self.tx.emit(self.config.mtu, buf, &mut self.pool) else {
            self.sockets.tx_drained();
            let mut ip = IpOut(&mut self.egress);
            let n = self.tcp.poll_transmit(self.now, buf, &mut ip)?;
            // Sending may move a closed connection into the TIME-WAIT table (and recycle one).
            self.sync_tcp_counters();
            self.stats.ip_tx_packets += 1;
            self.stats.ip_tx_bytes += n as u64;
            trace!("out {}", PacketSummary(&buf[..n]));
            return Some(n);
        };
        self.stats.ip_tx_packets += 1;
        self.stats.ip_tx_bytes += e.len as u64;
        if e.fragment {
            self.stats.ip_tx_fragments += 1;
            if e.last {
                self.stats.ip_tx_fragmented += 1;
            }
        }
        trace!("out {}", PacketSummary(&buf[..e.len]));
        Some(e.len)
    }

    /// Whether `poll_transmit` has something to send.
    pub fn has_transmit(&self) -> bool {
        !self.tx.is_empty() || self.tcp.has_transmit()
    }

    /// The next readiness event, if any: call until `None` after each round of input, timers
    /// and output. Events are edge-triggered and coalesced per socket (see
    /// [`crate::socket::Readiness`]): every kind reports — TCP connections (`READABLE`,
    /// `WRITABLE`, `CONNECTED`, `CLOSED`, `ERROR`), listeners (`ACCEPTABLE`), UDP and echo
    /// sockets (`READABLE`, `ERROR`, `WRITABLE` after a refused send). The queue holds at most
    /// one event per socket, so an app that never polls costs no memory beyond its sockets.
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.tcp.poll_event().or_else(|| self.sockets.poll_event())
    }

    pub(crate) fn queue(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        dont_fragment: bool,
        data: Vec<u8>,
    ) -> Result<(), QueueError> {
        self.queue_with_ttl(src, dst, protocol, dont_fragment, None, data)
    }

    /// [`Stack::queue`] with a socket's own TTL (`None`: `Config::ttl`).
    pub(crate) fn queue_with_ttl(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        dont_fragment: bool,
        ttl: Option<u8>,
        data: Vec<u8>,
    ) -> Result<(), QueueError> {
        // ip::egress: RFC 6864 §4 / RFC 7739 §5.3 identification, our TTL or the socket's.
        let h = self.egress.header(src, dst, protocol, dont_fragment, ttl);
        match self.tx.push(h, data, self.config.mtu) {
            Ok(()) => Ok(()),
            Err((e, data)) => {
                self.pool.give(data);
                debug!("not sent to {dst}: {e:?}");
                Err(e)
            }
        }
    }

    /// Queues a datagram a socket sends to `dst` (from our address of its family), with the
    /// socket's own TTL or hop limit and DF (IPv4) or don't-fragment (IPv6) choice; `ports`
    /// name its flow for the IPv6 flow label. `Err(BadDestination)` for an IPv6 destination
    /// while the stack has no IPv6 address.
    pub(crate) fn queue_from_socket(
        &mut self,
        dst: IpAddr,
        protocol: u8,
        opts: (bool, Option<u8>),
        ports: u32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        let (df, ttl) = opts;
        let r = match dst {
            IpAddr::V4(dst) => self.queue_with_ttl(self.config.addr, dst, protocol, df, ttl, data),
            IpAddr::V6(dst) => match self.config.addr6 {
                Some(me) => self.queue6(me, dst, protocol, (ttl, ports), data),
                None => {
                    self.pool.give(data);
                    return Err(SendError::BadDestination);
                }
            },
        };
        r.map_err(|_| SendError::QueueFull)
    }

    // ----------------------------------------------------------------------------------------
    // Sockets
    // ----------------------------------------------------------------------------------------

    /// The one ephemeral port (or echo identifier) picker: RFC 6056 §3.3.1 (algorithm 1), a
    /// random start in `Config::ephemeral_ports` from the keyed generator, then a linear search
    /// for a value `free` accepts. O(range) only when the range is nearly exhausted.
    pub(crate) fn ephemeral_port(&mut self, free: impl Fn(&Stack, u16) -> bool) -> Option<u16> {
        let (lo, hi) = self.config.ephemeral_ports;
        let span = u32::from(hi - lo) + 1;
        let start = self.rng.range_u16(lo, hi);
        (0..span)
            .map(|i| lo + ((u32::from(start - lo) + i) % span) as u16)
            .find(|&p| free(self, p))
    }

    /// Sets or clears DF on datagrams this socket sends. With DF set, a datagram larger than
    /// the MTU is refused with `SendError::NeedsFragmentation` instead of fragmented.
    pub fn set_dont_fragment(&mut self, h: SocketHandle, df: bool) -> Result<(), SendError> {
        self.sockets
            .get_mut(h)
            .ok_or(SendError::InvalidHandle)?
            .dont_fragment = df;
        Ok(())
    }

    /// Sets the TTL of the datagrams a UDP or echo socket sends (`None`: `Config::ttl`), like
    /// Linux's `IP_TTL`. A traceroute sends probes with TTL 1, 2, 3… and reads the routers'
    /// time-exceeded errors (RFC 1812 §5.3.1) from the socket. RFC 1122 §3.2.1.7: a host never
    /// sends TTL 0, which the type rules out.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: Option<NonZeroU8>) -> Result<(), SendError> {
        self.sockets.get_mut(h).ok_or(SendError::InvalidHandle)?.ttl = ttl.map(NonZeroU8::get);
        Ok(())
    }

    /// A send refused for a full transmit queue makes the socket `WRITABLE` once it drains.
    pub(crate) fn note_refused(&mut self, h: SocketHandle, e: &SendError) {
        if *e == SendError::QueueFull {
            self.sockets.send_blocked(h);
        }
    }

    /// Our address towards `dst`: `Config::addr` for IPv4, `Config::addr6` (if any) for IPv6.
    pub(crate) fn local_ip(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V4(_) => Some(IpAddr::V4(self.config.addr)),
            IpAddr::V6(_) => self.config.addr6.map(IpAddr::V6),
        }
    }

    /// Whether the transmit queue takes a datagram of `len` payload bytes to `dst` now.
    pub(crate) fn check_queue(&self, dst: IpAddr, len: usize, df: bool) -> Result<(), SendError> {
        self.tx
            .check(len, df, self.path_mtu(dst), dst.is_ipv6())
            .map_err(|e| match e {
                QueueError::Full => SendError::QueueFull,
                QueueError::TooBig => SendError::MessageTooLong,
                QueueError::NeedsFragmentation => SendError::NeedsFragmentation {
                    mtu: self.path_mtu(dst),
                },
            })
    }

    /// Whether a receive on `h` would return something (data or an error).
    pub fn can_recv(&self, h: SocketHandle) -> bool {
        self.sockets.has_data(h)
    }

    /// Whether `h` names an open socket.
    pub fn is_open(&self, h: SocketHandle) -> bool {
        self.sockets.get(h).is_some()
    }

    /// Closes a socket of any kind, discarding what it had queued. Returns false for a stale handle.
    pub fn close(&mut self, h: SocketHandle) -> bool {
        match self.sockets.close(h) {
            Some(bufs) => {
                for b in bufs {
                    self.pool.give(b);
                }
                true
            }
            None => false,
        }
    }
}

/// The drop reason of a fragment the reassembler refused (IPv4 and IPv6 alike).
pub(crate) fn frag_drop_reason(reason: FragDrop) -> DropReason {
    match reason {
        FragDrop::Overlap => DropReason::FragOverlap,
        FragDrop::TooBig => DropReason::FragTooBig,
        FragDrop::BadLength => DropReason::FragBadLength,
        FragDrop::NoMemory => DropReason::FragNoMemory,
        FragDrop::AfterOverlap => DropReason::FragAfterOverlap,
    }
}
