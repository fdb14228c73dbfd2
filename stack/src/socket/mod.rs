//! Sockets and the app-facing API types: UDP sockets (bind / send_to / recv_from) and ICMP echo
//! sockets (send a request, receive the reply with its TTL).
//!
//! The socket table lives here; the methods apps call are on [`crate::Stack`], which owns it.
//! Receive queues are bounded by [`crate::Config`]: a full queue drops and counts.

use crate::slab::GenSlab;
use crate::wire::{icmp, icmpv6};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Identifies an open socket. Handles of closed sockets are never reused within a stack's life
/// (they carry a generation), so a stale handle gets `InvalidHandle`, never another socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

mod event;
pub(crate) mod raw;
pub use event::{Readiness, SocketEvent};
pub use raw::{RawInfo, RawIpv4, RawOptions};

/// Why a bind or open failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// Another socket already uses that port (UDP) or identifier (echo).
    AddrInUse,
    /// `Config::max_sockets` are open.
    TooManySockets,
    /// Every ephemeral port is taken.
    NoFreePort,
    /// Not possible for this socket: a raw claim of a protocol other than TCP or UDP, or a
    /// handle that is not a raw socket.
    Invalid,
}

/// Why a send failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The handle is closed, stale, or of the wrong kind.
    InvalidHandle,
    /// The datagram exceeds 65535 bytes with its headers.
    MessageTooLong,
    /// DF is set on the socket and the datagram is larger than the MTU (EMSGSIZE).
    NeedsFragmentation {
        /// The link MTU.
        mtu: u16,
    },
    /// The transmit queue is full; try again after `poll_transmit` drains it.
    QueueFull,
    /// The destination is unspecified, or port 0.
    BadDestination,
}

/// Why a receive returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The handle is closed, stale, or of the wrong kind.
    InvalidHandle,
    /// Nothing queued.
    WouldBlock,
    /// An ICMP error quoting a datagram this socket sent (reported once, like Linux's
    /// `sk_err` on a connected UDP socket).
    Icmp(IcmpError),
}

/// An ICMP error delivered to the socket whose datagram it quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the error.
    pub from: IpAddr,
    /// The IP TTL the error arrived with (Linux's `IP_RECVTTL`): `tracepath` derives from it
    /// how many hops the way back took.
    pub ttl: u8,
    /// ICMP type (3 destination unreachable, 11 time exceeded, 12 parameter problem, ...).
    pub icmp_type: u8,
    /// ICMP code (3 = port unreachable, ...).
    pub code: u8,
    /// The destination of the quoted datagram (for an echo request, port 0).
    pub original_dst: SocketAddr,
    /// The Next-Hop MTU of a "fragmentation needed and DF set" error (RFC 1191 §4); 0 for
    /// every other error, and from routers older than RFC 1191.
    pub next_hop_mtu: u16,
}

impl IcmpError {
    /// Whether this is ICMPv6 (RFC 4443), not ICMP: the family of who sent it.
    pub fn is_v6(&self) -> bool {
        self.from.is_ipv6()
    }

    /// Whether this is "time to live exceeded in transit" (ICMP type 11 code 0; ICMPv6 type 3
    /// code 0, "hop limit exceeded"): what a router on the path says about a datagram whose
    /// TTL ran out — a traceroute hop.
    pub fn is_ttl_exceeded(&self) -> bool {
        self.is_time_exceeded() && self.code == 0
    }

    /// Any time exceeded (in transit, or in reassembly: code 1 in both families).
    pub fn is_time_exceeded(&self) -> bool {
        let t = if self.is_v6() {
            icmpv6::types::TIME_EXCEEDED
        } else {
            icmp::types::TIME_EXCEEDED
        };
        self.icmp_type == t
    }

    /// Any destination unreachable.
    pub fn is_unreachable(&self) -> bool {
        let t = if self.is_v6() {
            icmpv6::types::DEST_UNREACHABLE
        } else {
            icmp::types::DEST_UNREACHABLE
        };
        self.icmp_type == t
    }

    /// Whether this is "fragmentation needed and DF set" (ICMP type 3 code 4, RFC 1191) or
    /// ICMPv6 "packet too big" (type 2, RFC 4443 §3.2): a path MTU report, in `next_hop_mtu`.
    pub fn is_frag_needed(&self) -> bool {
        if self.is_v6() {
            self.icmp_type == icmpv6::types::PACKET_TOO_BIG
        } else {
            self.icmp_type == icmp::types::DEST_UNREACHABLE
                && self.code == icmp::unreach::FRAG_NEEDED
        }
    }

    /// Whether this is "port unreachable" (ICMP 3/3, ICMPv6 1/4) — what a kernel socket
    /// reports as ECONNREFUSED.
    pub fn is_port_unreachable(&self) -> bool {
        let code = if self.is_v6() {
            icmpv6::unreach::PORT
        } else {
            icmp::unreach::PORT
        };
        self.is_unreachable() && self.code == code
    }

    /// Whether a TCP connect fails on this error (RFC 1122 §4.2.3.9, RFC 5461): any
    /// destination unreachable or time exceeded, in either family.
    pub(crate) fn fails_connect(&self) -> bool {
        self.is_unreachable() || self.is_time_exceeded()
    }
}

impl IcmpError {
    /// What the error says, as iputils prints it ("Destination Net Unreachable", ...; for
    /// ICMPv6 as `ping -6` does: "Destination unreachable: Port unreachable", ...).
    pub fn description(&self) -> &'static str {
        if self.is_v6() {
            return describe6(self.icmp_type, self.code);
        }
        use crate::wire::icmp::{types, unreach};
        match (self.icmp_type, self.code) {
            (types::DEST_UNREACHABLE, unreach::NET) => "Destination Net Unreachable",
            (types::DEST_UNREACHABLE, unreach::HOST) => "Destination Host Unreachable",
            (types::DEST_UNREACHABLE, unreach::PROTOCOL) => "Destination Protocol Unreachable",
            (types::DEST_UNREACHABLE, unreach::PORT) => "Destination Port Unreachable",
            (types::DEST_UNREACHABLE, unreach::FRAG_NEEDED) => "Frag needed and DF set",
            (types::DEST_UNREACHABLE, _) => "Destination Unreachable",
            (types::TIME_EXCEEDED, 0) => "Time to live exceeded",
            (types::TIME_EXCEEDED, _) => "Frag reassembly time exceeded",
            (types::PARAMETER_PROBLEM, _) => "Parameter problem",
            // RFC 792: redirect codes 0 network, 1 host (2, 3: for a type of service).
            (types::REDIRECT, 0 | 2) => "Redirect Network",
            (types::REDIRECT, _) => "Redirect Host",
            (types::SOURCE_QUENCH, _) => "Source Quench",
            _ => "ICMP error",
        }
    }
}

/// An ICMPv6 error in iputils' words (ping/ping6_common.c, `print_icmp`; codes of RFC 4443 §3).
fn describe6(icmp_type: u8, code: u8) -> &'static str {
    use crate::wire::icmpv6::types;
    match (icmp_type, code) {
        (types::DEST_UNREACHABLE, 0) => "Destination unreachable: No route",
        (types::DEST_UNREACHABLE, 1) => "Destination unreachable: Administratively prohibited",
        (types::DEST_UNREACHABLE, 2) => "Destination unreachable: Beyond scope",
        (types::DEST_UNREACHABLE, 3) => "Destination unreachable: Address unreachable",
        (types::DEST_UNREACHABLE, 4) => "Destination unreachable: Port unreachable",
        (types::DEST_UNREACHABLE, _) => "Destination unreachable: Unknown code",
        (types::PACKET_TOO_BIG, _) => "Packet too big",
        (types::TIME_EXCEEDED, 0) => "Time exceeded: Hop limit",
        (types::TIME_EXCEEDED, 1) => "Time exceeded: Defragmentation failure",
        (types::TIME_EXCEEDED, _) => "Time exceeded: Unknown code",
        (types::PARAMETER_PROBLEM, 0) => "Parameter problem: Wrong header field",
        (types::PARAMETER_PROBLEM, 1) => "Parameter problem: Unknown header",
        (types::PARAMETER_PROBLEM, 2) => "Parameter problem: Unknown option",
        (types::PARAMETER_PROBLEM, _) => "Parameter problem: Unknown code",
        _ => "ICMPv6 error",
    }
}

impl std::error::Error for IcmpError {}

impl core::fmt::Display for IcmpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "From {}: {} (type {} code {})",
            self.from,
            self.description(),
            self.icmp_type,
            self.code
        )?;
        if self.is_frag_needed() {
            write!(f, " (mtu = {})", self.next_hop_mtu)?;
        }
        Ok(())
    }
}

/// What an echo socket receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoEvent {
    /// An echo reply; its data was copied into the caller's buffer.
    Reply {
        /// Who replied.
        from: IpAddr,
        /// Sequence number.
        seq: u16,
        /// TTL of the reply as it arrived.
        ttl: u8,
        /// Data bytes in the reply (may exceed what fitted the caller's buffer).
        len: usize,
    },
    /// An ICMP error quoting one of our echo requests.
    Error {
        /// The error.
        error: IcmpError,
        /// Sequence number of the request it quotes.
        seq: u16,
    },
}

/// A UDP socket as a socket table lists it (`ss -u`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpSocketInfo {
    /// The bound port.
    pub port: u16,
    /// Datagrams waiting to be received.
    pub queued_datagrams: usize,
    /// Bytes of those datagrams.
    pub queued_bytes: usize,
}

#[derive(Debug)]
pub(crate) enum Queued {
    Udp {
        from: SocketAddr,
        data: Vec<u8>,
    },
    Echo {
        from: IpAddr,
        seq: u16,
        ttl: u8,
        data: Vec<u8>,
    },
    EchoError {
        error: IcmpError,
        seq: u16,
    },
    /// An ICMP error on a UDP socket that asked for every error in order
    /// ([`crate::Stack::udp_set_recv_errors`]).
    UdpError {
        error: IcmpError,
    },
    /// A copy of an arriving packet, for a raw socket.
    Raw {
        data: Vec<u8>,
    },
}

impl Queued {
    fn bytes(&self) -> usize {
        match self {
            Queued::Udp { data, .. } | Queued::Echo { data, .. } | Queued::Raw { data } => {
                data.len()
            }
            Queued::EchoError { .. } | Queued::UdpError { .. } => 0,
        }
    }

    /// The buffer this item holds, for recycling.
    pub(crate) fn into_buffer(self) -> Option<Vec<u8>> {
        match self {
            Queued::Udp { data, .. } | Queued::Echo { data, .. } | Queued::Raw { data } => {
                Some(data)
            }
            Queued::EchoError { .. } | Queued::UdpError { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Udp {
        port: u16,
    },
    Echo {
        ident: u16,
    },
    /// A raw socket ([`raw`]): no port; its options and claims are in `Socket::raw`.
    Raw,
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) kind: Kind,
    pub(crate) dont_fragment: bool,
    /// TTL of the datagrams this socket sends; `None`: `Config::ttl` (Linux's `IP_TTL`).
    pub(crate) ttl: Option<u8>,
    /// Queue every ICMP error in order with the datagrams instead of keeping the latest one
    /// (like Linux's `IP_RECVERR` error queue): what a traceroute needs with several probes out.
    pub(crate) recv_errors: bool,
    rx: VecDeque<Queued>,
    rx_bytes: usize,
    pub(crate) error: Option<IcmpError>,
    /// Bits of the event queued for this socket (empty: none queued).
    pending: Readiness,
    /// A send was refused with `QueueFull`: report `WRITABLE` when the queue drains.
    send_blocked: bool,
    /// A raw socket's options, claims and counters.
    pub(crate) raw: Option<Box<raw::RawState>>,
}

/// A socket-table slot (its generation is the slab's).
#[derive(Debug)]
struct Slot {
    socket: Option<Socket>,
}

/// The socket table: a slab with generations, plus O(1) maps from port / identifier to slot.
#[derive(Debug)]
pub(crate) struct SocketSet {
    slots: GenSlab<Slot>,
    udp_ports: HashMap<u16, u32>,
    echo_idents: HashMap<u16, u32>,
    /// Raw sockets (each receives a copy of every arriving packet it matches) and the ports
    /// they claimed.
    pub(crate) raw: raw::RawTable,
    /// Sockets with an event queued (each at most once: `Socket::pending` is non-empty).
    events: VecDeque<SocketHandle>,
    /// Sockets whose send was refused because the transmit queue was full (each at most once).
    blocked: Vec<SocketHandle>,
    open: usize,
    max_sockets: usize,
    rx_max_datagrams: usize,
    rx_max_bytes: usize,
}

/// Outcome of delivering to a socket.
#[derive(Debug)]
pub(crate) enum Delivery {
    Queued,
    /// No socket; the item is handed back so its buffer can be recycled.
    NoSocket(Queued),
    /// The queue was full; the item is handed back.
    Full(Queued),
}

impl SocketSet {
    pub(crate) fn new(max_sockets: usize, rx_max_datagrams: usize, rx_max_bytes: usize) -> Self {
        SocketSet {
            slots: GenSlab::default(),
            udp_ports: HashMap::new(),
            echo_idents: HashMap::new(),
            raw: raw::RawTable::default(),
            events: VecDeque::new(),
            blocked: Vec::new(),
            open: 0,
            max_sockets,
            rx_max_datagrams,
            rx_max_bytes,
        }
    }

    fn map(&mut self, kind: Kind) -> Option<(&mut HashMap<u16, u32>, u16)> {
        match kind {
            Kind::Udp { port } => Some((&mut self.udp_ports, port)),
            Kind::Echo { ident } => Some((&mut self.echo_idents, ident)),
            Kind::Raw => None,
        }
    }

    /// Whether `kind`'s port or identifier is in use — by a UDP socket, an echo socket, or (for
    /// a UDP port) a raw socket's claim.
    pub(crate) fn is_taken(&self, kind: Kind) -> bool {
        match kind {
            Kind::Udp { port } => {
                self.udp_ports.contains_key(&port)
                    || self.raw.claimed(crate::wire::proto::UDP, port).is_some()
            }
            Kind::Echo { ident } => self.echo_idents.contains_key(&ident),
            Kind::Raw => false,
        }
    }

    pub(crate) fn open(&mut self, kind: Kind) -> Result<SocketHandle, BindError> {
        if self.open >= self.max_sockets {
            return Err(BindError::TooManySockets);
        }
        if self.is_taken(kind) {
            return Err(BindError::AddrInUse);
        }
        let socket = Socket {
            kind,
            dont_fragment: false,
            ttl: None,
            recv_errors: false,
            rx: VecDeque::new(),
            rx_bytes: 0,
            error: None,
            pending: Readiness::EMPTY,
            send_blocked: false,
            raw: None,
        };
        let index = self.slots.alloc(|| Slot { socket: None });
        self.slots[index as usize].socket = Some(socket);
        let handle = self.handle_of(index);
        match self.map(kind) {
            Some((map, key)) => {
                map.insert(key, index);
            }
            None => self.raw.add(handle),
        }
        self.open += 1;
        Ok(handle)
    }

    /// Closes the socket, returning its queued buffers for recycling.
    pub(crate) fn close(&mut self, h: SocketHandle) -> Option<impl Iterator<Item = Vec<u8>>> {
        let slot = self.slots.get_mut(h.index, h.generation)?;
        let socket = slot.socket.take()?;
        self.slots.release(h.index);
        match self.map(socket.kind) {
            Some((map, key)) => {
                map.remove(&key);
            }
            None => self.raw.remove(h),
        }
        self.open -= 1;
        if !socket.pending.is_empty() {
            self.events.retain(|e| *e != h);
        }
        if socket.send_blocked {
            self.blocked.retain(|e| *e != h);
        }
        Some(socket.rx.into_iter().filter_map(Queued::into_buffer))
    }

    /// Every UDP socket (O(sockets), for a socket table).
    pub(crate) fn udp_infos(&self) -> impl Iterator<Item = UdpSocketInfo> + '_ {
        self.udp_ports.iter().filter_map(|(&port, &index)| {
            let s = self.slots.at(index)?.socket.as_ref()?;
            Some(UdpSocketInfo {
                port,
                queued_datagrams: s.rx.len(),
                queued_bytes: s.rx_bytes,
            })
        })
    }

    pub(crate) fn get(&self, h: SocketHandle) -> Option<&Socket> {
        self.slots.get(h.index, h.generation)?.socket.as_ref()
    }

    pub(crate) fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        self.slots.get_mut(h.index, h.generation)?.socket.as_mut()
    }

    fn handle_of(&self, index: u32) -> SocketHandle {
        SocketHandle {
            index,
            generation: self.slots.generation(index),
        }
    }

    fn lookup(&self, kind: Kind) -> Option<u32> {
        match kind {
            Kind::Udp { port } => self.udp_ports.get(&port).copied(),
            Kind::Echo { ident } => self.echo_idents.get(&ident).copied(),
            Kind::Raw => None,
        }
    }

    /// Queues a packet copy on raw socket `h` (bounded like every receive queue).
    pub(crate) fn deliver_raw(&mut self, h: SocketHandle, item: Queued) -> Delivery {
        let (max_d, max_b) = (self.rx_max_datagrams, self.rx_max_bytes);
        let slot = self.slots.get_mut(h.index, h.generation);
        let Some(s) = slot.and_then(|slot| slot.socket.as_mut()) else {
            return Delivery::NoSocket(item);
        };
        if s.rx.len() >= max_d || s.rx_bytes + item.bytes() > max_b {
            if let Some(r) = s.raw.as_mut() {
                r.dropped += 1;
            }
            return Delivery::Full(item);
        }
        if let Some(r) = s.raw.as_mut() {
            r.received += 1;
        }
        s.rx_bytes += item.bytes();
        s.rx.push_back(item);
        Self::notify(&mut self.events, s, h, Readiness::READABLE);
        Delivery::Queued
    }

    /// Queues `item` on the socket bound to `kind`.
    pub(crate) fn deliver(&mut self, kind: Kind, item: Queued) -> Delivery {
        let Some(index) = self.lookup(kind) else {
            return Delivery::NoSocket(item);
        };
        let handle = self.handle_of(index);
        let (max_d, max_b) = (self.rx_max_datagrams, self.rx_max_bytes);
        let Some(s) = self.slots[index as usize].socket.as_mut() else {
            return Delivery::NoSocket(item);
        };
        if s.rx.len() >= max_d || s.rx_bytes + item.bytes() > max_b {
            return Delivery::Full(item);
        }
        s.rx_bytes += item.bytes();
        s.rx.push_back(item);
        Self::notify(&mut self.events, s, handle, Readiness::READABLE);
        Delivery::Queued
    }

    /// Records an ICMP error on the UDP socket bound to `port`: the latest one replaces an unread
    /// one, or, on a socket with `recv_errors`, it is queued in order (bounded like datagrams).
    pub(crate) fn set_error(&mut self, port: u16, error: IcmpError) -> Delivery {
        let item = Queued::UdpError { error };
        let Some(index) = self.udp_ports.get(&port).copied() else {
            return Delivery::NoSocket(item);
        };
        let handle = self.handle_of(index);
        let max_d = self.rx_max_datagrams;
        let Some(s) = self.slots[index as usize].socket.as_mut() else {
            return Delivery::NoSocket(item);
        };
        if !s.recv_errors {
            s.error = Some(error);
        } else if s.rx.len() >= max_d {
            return Delivery::Full(item);
        } else {
            s.rx.push_back(item);
        }
        Self::notify(
            &mut self.events,
            s,
            handle,
            Readiness::READABLE | Readiness::ERROR,
        );
        Delivery::Queued
    }

    fn notify(
        events: &mut VecDeque<SocketHandle>,
        s: &mut Socket,
        h: SocketHandle,
        ready: Readiness,
    ) {
        // One queued event per socket: the queue is bounded by the number of sockets.
        if s.pending.is_empty() {
            events.push_back(h);
        }
        s.pending |= ready;
    }

    /// Notes that a send on `h` was refused because the transmit queue is full.
    pub(crate) fn send_blocked(&mut self, h: SocketHandle) {
        if let Some(s) = self.get_mut(h) {
            if !s.send_blocked {
                s.send_blocked = true;
                self.blocked.push(h);
            }
        }
    }

    /// The transmit queue drained: every socket whose send was refused becomes `WRITABLE`.
    pub(crate) fn tx_drained(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        for h in std::mem::take(&mut self.blocked) {
            let Some(slot) = self.slots.get_mut(h.index, h.generation) else {
                continue;
            };
            if let Some(s) = slot.socket.as_mut() {
                s.send_blocked = false;
                Self::notify(&mut self.events, s, h, Readiness::WRITABLE);
            }
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<SocketEvent> {
        while let Some(handle) = self.events.pop_front() {
            let Some(s) = self.get_mut(handle) else {
                continue;
            };
            let ready = std::mem::take(&mut s.pending);
            return Some(SocketEvent::Datagram { handle, ready });
        }
        None
    }

    pub(crate) fn pop(&mut self, h: SocketHandle) -> Option<Queued> {
        let s = self.get_mut(h)?;
        let item = s.rx.pop_front()?;
        s.rx_bytes -= item.bytes();
        Some(item)
    }

    pub(crate) fn has_data(&self, h: SocketHandle) -> bool {
        self.get(h)
            .is_some_and(|s| !s.rx.is_empty() || s.error.is_some())
    }

    pub(crate) fn len(&self) -> usize {
        self.open
    }

    /// Events waiting for `poll_event` (at most one per open socket).
    pub(crate) fn pending_events(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn stale_handles_do_not_alias() {
        let mut set = SocketSet::new(4, 2, 100);
        let a = set.open(Kind::Udp { port: 7 }).unwrap();
        assert_eq!(set.open(Kind::Udp { port: 7 }), Err(BindError::AddrInUse));
        assert!(set.close(a).is_some());
        let b = set.open(Kind::Udp { port: 8 }).unwrap();
        assert!(set.get(a).is_none());
        assert!(set.get(b).is_some());
        assert!(set.close(a).is_none());
    }

    #[test]
    fn queues_are_bounded_and_events_deduplicated() {
        let mut set = SocketSet::new(4, 2, 100);
        let h = set.open(Kind::Udp { port: 7 }).unwrap();
        let from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let item = |n| Queued::Udp {
            from: std::net::SocketAddr::V4(from),
            data: vec![0; n],
        };
        assert!(matches!(
            set.deliver(Kind::Udp { port: 7 }, item(10)),
            Delivery::Queued
        ));
        assert!(matches!(
            set.deliver(Kind::Udp { port: 7 }, item(95)),
            Delivery::Full(_)
        ));
        assert!(matches!(
            set.deliver(Kind::Udp { port: 7 }, item(10)),
            Delivery::Queued
        ));
        assert!(matches!(
            set.deliver(Kind::Udp { port: 7 }, item(1)),
            Delivery::Full(_)
        ));
        assert!(matches!(
            set.deliver(Kind::Udp { port: 9 }, item(1)),
            Delivery::NoSocket(_)
        ));
        assert_eq!(
            set.poll_event(),
            Some(SocketEvent::Datagram {
                handle: h,
                ready: Readiness::READABLE
            })
        );
        assert_eq!(set.poll_event(), None);
        assert!(set.pop(h).is_some() && set.pop(h).is_some() && set.pop(h).is_none());
    }

    #[test]
    fn socket_limit() {
        let mut set = SocketSet::new(1, 2, 100);
        set.open(Kind::Echo { ident: 1 }).unwrap();
        assert_eq!(
            set.open(Kind::Echo { ident: 2 }),
            Err(BindError::TooManySockets)
        );
    }
}
