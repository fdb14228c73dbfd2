//! The one place outgoing IPv4 headers are written (RFC 791 §3.1): identification (per hashed
//! flow, [`super::ident`]), TTL, DF, the fragment fields and the checksum. UDP, ICMP and
//! stateless TCP replies go through the transmit queue ([`super::fragment::TxQueue`], which cuts
//! them to the MTU and writes each fragment's header here); TCP segments, written by the TCP
//! layer straight into the caller's buffer, get their header from [`IpOut`]. No transport writes
//! an IPv4 header or chooses an identification itself.

use super::fragment::OutHeader;
use super::ident::IdentGenerator;
use crate::rand::siphash24;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
use crate::wire::ipv6::{self, Ipv6Repr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Header policy for every datagram the stack originates.
#[derive(Clone, Debug)]
pub(crate) struct Egress {
    idents: IdentGenerator,
    ttl: u8,
    /// Key of the IPv6 flow-label hash (RFC 6437 §3).
    flow_key: [u8; 16],
}

/// The IP header's length in front of a transport segment to or from `addr`: 20 bytes for
/// IPv4 (the stack sends no options), 40 for IPv6 (no extension headers but Fragment, which
/// TCP never needs).
pub(crate) fn header_len(addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    }
}

impl Egress {
    /// Datagrams get `ttl` (`Config::ttl`, IPv6's hop limit too), ids from `idents` and IPv6
    /// flow labels keyed by `flow_key`.
    pub(crate) fn new(idents: IdentGenerator, ttl: u8, flow_key: [u8; 16]) -> Self {
        Egress {
            idents,
            ttl,
            flow_key,
        }
    }

    /// RFC 6437 §3: a flow's label, from a keyed hash of what names the flow — its addresses,
    /// protocol and (for TCP and UDP) ports — 20 bits, never 0 (0 means "no label"). The same
    /// for every packet of the flow, unpredictable from outside.
    pub(crate) fn flow_label(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        ports: u32,
    ) -> u32 {
        let mut key = [0u8; 37];
        key[..16].copy_from_slice(&src.octets());
        key[16..32].copy_from_slice(&dst.octets());
        key[32] = next_header;
        key[33..].copy_from_slice(&ports.to_be_bytes());
        let h = (siphash24(&self.flow_key, &key) & 0xf_ffff) as u32;
        h.max(1)
    }

    /// The next identification for a datagram from `src` to `dst` (RFC 7739 §5.3).
    pub(crate) fn ident(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        self.idents.next(src, dst, protocol)
    }

    /// The stack's TTL (`Config::ttl`).
    pub(crate) fn default_ttl(&self) -> u8 {
        self.ttl
    }

    /// The hop limit of a datagram: the sender's own (`IPV6_UNICAST_HOPS`) or ours.
    pub(crate) fn hop_limit(&self, own: Option<u8>) -> u8 {
        own.unwrap_or(self.ttl)
    }

    /// The header of a new datagram: RFC 6864 §4 / RFC 7739 §5.3 identification, and the
    /// sender's own TTL (a socket's or a connection's `IP_TTL`) or else ours.
    pub(crate) fn header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        dont_fragment: bool,
        ttl: Option<u8>,
    ) -> OutHeader {
        OutHeader {
            src,
            dst,
            protocol,
            ttl: ttl.unwrap_or(self.ttl),
            ident: self.idents.next(src, dst, protocol),
            dont_fragment,
        }
    }
}

/// Writes the header of `h` (one whole datagram or one fragment of it) into `buf[..20]` for a
/// payload of `payload_len` bytes at `frag_offset`.
pub(crate) fn write_header(
    buf: &mut [u8],
    h: &OutHeader,
    frag_offset: usize,
    more_fragments: bool,
    payload_len: usize,
) {
    Ipv4Repr {
        src: h.src,
        dst: h.dst,
        protocol: h.protocol,
        ttl: h.ttl,
        ident: h.ident,
        dont_fragment: h.dont_fragment,
        more_fragments,
        frag_offset,
        payload_len,
    }
    .emit(buf);
}

/// Writes a raw socket's IPv4 header (`crate::Stack::raw_send_ipv4`) into `buf[..20]` for a
/// payload of `payload_len` bytes: the fields as given, each computed one (`ident`, `ttl`,
/// `src` already resolved by the caller) filled, and the total length and checksum computed
/// unless given — a wrong one is written as given, after the checksum is computed.
pub(crate) fn write_raw_header(
    buf: &mut [u8],
    f: &crate::socket::RawIpv4,
    (src, ident, ttl): (Ipv4Addr, u16, u8),
    payload_len: usize,
) {
    Ipv4Repr {
        src,
        dst: f.dst,
        protocol: f.protocol,
        ttl,
        ident,
        dont_fragment: f.dont_fragment,
        more_fragments: f.more_fragments,
        frag_offset: usize::from(f.frag_offset & 0x1fff) * 8,
        payload_len,
    }
    .emit(buf);
    buf[1] = f.tos;
    if let Some(total) = f.total_len {
        buf[2..4].copy_from_slice(&total.to_be_bytes());
    }
    buf[10..12].copy_from_slice(&[0, 0]);
    let c = f
        .checksum
        .unwrap_or_else(|| crate::wire::checksum::internet(&buf[..HEADER_LEN]));
    buf[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The IP fields of one TCP segment that its sender chooses: the addresses (both IPv4 or
/// both IPv6), the ports (for the IPv6 flow label) and, for a connection with a TTL of its own
/// (`Stack::tcp_set_ttl`), that TTL or hop limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentIp {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// `(source port << 16) | destination port`.
    pub(crate) ports: u32,
    /// `None`: `Config::ttl`.
    pub(crate) ttl: Option<u8>,
}

/// What the TCP layer is handed to put an IP header in front of a segment it wrote at
/// `buf[header_len(dst)..]`: TCP never sees ids or flow labels, and names a TTL only for a
/// connection with its own. Over IPv4 TCP always sets DF (RFC 1191 §3, path MTU discovery);
/// over IPv6 only the source fragments and TCP never does (RFC 8201 §4); TCP never fragments.
#[derive(Debug)]
pub(crate) struct IpOut<'a>(pub(crate) &'a mut Egress);

impl IpOut<'_> {
    /// Writes the IP header for a TCP segment of `tcp_len` bytes already behind it; returns
    /// the packet length.
    pub(crate) fn write_tcp_header(
        &mut self,
        buf: &mut [u8],
        seg: SegmentIp,
        tcp_len: usize,
    ) -> usize {
        const TCP: u8 = crate::wire::proto::TCP;
        match (seg.src, seg.dst) {
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                Ipv6Repr {
                    src,
                    dst,
                    next_header: TCP,
                    hop_limit: self.0.hop_limit(seg.ttl),
                    traffic_class: 0,
                    flow_label: self.0.flow_label(src, dst, TCP, seg.ports),
                    payload_len: tcp_len,
                }
                .emit(buf);
                ipv6::HEADER_LEN + tcp_len
            }
            (src, dst) => {
                let (src, dst) = (v4(src), v4(dst));
                let h = self.0.header(src, dst, TCP, true, seg.ttl);
                write_header(buf, &h, 0, false, tcp_len);
                HEADER_LEN + tcp_len
            }
        }
    }
}

/// An IPv4 address, or the unspecified one for an IPv6 address (a mixed pair the stack never
/// builds: both ends of a connection are of one family).
fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}
