//! Raw sockets: the types and the table. A raw socket sends packets the stack did not build
//! and receives copies of the packets that arrive; the methods are on [`crate::Stack`]
//! (`raw_open`, `raw_send`, `raw_send_ipv4`, `raw_recv`, `raw_claim`).
//!
//! **What a raw socket receives.** A copy of every packet that passed IP validation (IPv4: the
//! header checks of RFC 791 / RFC 1122 §3.2.1 and the martian rules; IPv6: the fixed header,
//! the extension-header walk and the source rules), *before* reassembly — fragments arrive as
//! fragments — and whatever its destination (ours, broadcast, multicast), that matches the
//! socket's protocol (IPv4's Protocol field; IPv6's upper-layer header after the extension
//! headers, or the Fragment header's Next Header for a later fragment) and its compiled
//! filter (the capture filter language, [`crate::filter`]). Copies never change what the stack
//! does with the packet. Each socket's queue is bounded by `Config::socket_rx_queue_datagrams`
//! and `socket_rx_queue_bytes`; a copy that does not fit is dropped and counted
//! ([`RawInfo::dropped`], `Stats::raw_copies_dropped`): a reader that stalls never blocks the
//! loop.
//!
//! **The claim rule.** A copy is all a raw socket gets — the stack still answers the packet —
//! except for the local TCP and UDP ports the socket *claimed* (`Stack::raw_claim`). A claimed
//! port is reserved: it is claimable only while no TCP listener, TCP connection or UDP socket
//! uses it, and while claimed no listener, bind or ephemeral pick can take it. A TCP segment or
//! UDP datagram to a claimed port, and an ICMP error quoting one we sent from it, reaches the
//! claiming socket and the stack does nothing more with it (no RST, no port unreachable;
//! counted as `Stats::raw_claimed`). So a SYN scan's SYN-ACK reaches the scanner without the
//! stack's RST, and an ordinary connection's packets are never stolen: they belong to a port
//! a raw socket cannot claim. Closing the socket releases its claims.

use crate::filter::Filter;
use crate::socket::SocketHandle;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// What a raw socket receives (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct RawOptions {
    /// Only packets of this protocol (IPv4 Protocol / IPv6 upper-layer Next Header); `None`:
    /// every protocol.
    pub protocol: Option<u8>,
    /// Only packets this filter matches; `None`: all.
    pub filter: Option<Filter>,
    /// Receive nothing (a socket that only sends, or only claims ports).
    pub send_only: bool,
}

impl RawOptions {
    /// Whether a packet of `protocol` (None: not known, e.g. a later IPv6 fragment behind
    /// other headers) goes to a socket with these options.
    pub(crate) fn wants(&self, protocol: Option<u8>, packet: &[u8]) -> bool {
        if self.send_only {
            return false;
        }
        if let Some(p) = self.protocol {
            if protocol != Some(p) {
                return false;
            }
        }
        self.filter.as_ref().is_none_or(|f| f.matches(packet))
    }
}

/// A raw socket's counters and claims, as [`crate::Stack::raw_info`] reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawInfo {
    /// Packet copies queued for the reader.
    pub received: u64,
    /// Copies dropped because the socket's queue was full.
    pub dropped: u64,
    /// Packets the socket sent.
    pub sent: u64,
    /// The `(protocol, port)` pairs it claimed.
    pub claims: Vec<(u8, u16)>,
}

/// The IPv4 header fields of [`crate::Stack::raw_send_ipv4`]: the stack writes the header
/// around the payload, filling a field only where it is `None` (the length, the checksum, the
/// identification from the stack's generator, the TTL from `Config::ttl`, the source from
/// `Config::addr`). Every field can be wrong on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawIpv4 {
    /// Destination.
    pub dst: Ipv4Addr,
    /// Source; `None`: the stack's address.
    pub src: Option<Ipv4Addr>,
    /// Protocol field.
    pub protocol: u8,
    /// Type of service / DSCP+ECN byte.
    pub tos: u8,
    /// TTL; `None`: `Config::ttl`.
    pub ttl: Option<u8>,
    /// Identification; `None`: the stack's per-destination generator (RFC 7739).
    pub ident: Option<u16>,
    /// Don't Fragment.
    pub dont_fragment: bool,
    /// More Fragments.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (13 bits; higher bits are cut).
    pub frag_offset: u16,
    /// Total Length; `None`: header + payload.
    pub total_len: Option<u16>,
    /// Header checksum; `None`: computed.
    pub checksum: Option<u16>,
}

impl RawIpv4 {
    /// Defaults for a datagram of `protocol` to `dst`: every computed field computed, no flags.
    pub fn new(dst: Ipv4Addr, protocol: u8) -> RawIpv4 {
        RawIpv4 {
            dst,
            src: None,
            protocol,
            tos: 0,
            ttl: None,
            ident: None,
            dont_fragment: false,
            more_fragments: false,
            frag_offset: 0,
            total_len: None,
            checksum: None,
        }
    }
}

/// A raw socket's state beside its receive queue.
#[derive(Debug, Default)]
pub(crate) struct RawState {
    pub(crate) options: RawOptions,
    pub(crate) received: u64,
    pub(crate) dropped: u64,
    pub(crate) sent: u64,
    pub(crate) claims: Vec<(u8, u16)>,
}

/// The open raw sockets and the ports they claimed.
#[derive(Debug, Default)]
pub(crate) struct RawTable {
    /// Every open raw socket, in opening order: a packet is copied to each that wants it.
    members: Vec<SocketHandle>,
    /// `(protocol, port)` → the socket that claimed it: O(1) per packet.
    claims: HashMap<(u8, u16), SocketHandle>,
}

impl RawTable {
    pub(crate) fn add(&mut self, h: SocketHandle) {
        self.members.push(h);
    }

    pub(crate) fn remove(&mut self, h: SocketHandle) {
        self.members.retain(|m| *m != h);
        self.claims.retain(|_, m| *m != h);
    }

    /// Whether any raw socket is open (the receive path skips all of this when none is).
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn members(&self) -> &[SocketHandle] {
        &self.members
    }

    pub(crate) fn claimed(&self, protocol: u8, port: u16) -> Option<SocketHandle> {
        if self.claims.is_empty() {
            return None;
        }
        self.claims.get(&(protocol, port)).copied()
    }

    pub(crate) fn claim(&mut self, protocol: u8, port: u16, h: SocketHandle) {
        self.claims.insert((protocol, port), h);
    }
}
