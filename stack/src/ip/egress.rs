//! The one place outgoing IPv4 headers are written (RFC 791 §3.1): identification (per hashed
//! flow, [`super::ident`]), TTL, DF, the fragment fields and the checksum. UDP, ICMP and
//! stateless TCP replies go through the transmit queue ([`super::fragment::TxQueue`], which cuts
//! them to the MTU and writes each fragment's header here); TCP segments, written by the TCP
//! layer straight into the caller's buffer, get their header from [`IpOut`]. No transport writes
//! an IPv4 header or chooses an identification itself.

use super::fragment::OutHeader;
use super::ident::IdentGenerator;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
use std::net::Ipv4Addr;

/// Header policy for every datagram the stack originates.
#[derive(Clone, Debug)]
pub(crate) struct Egress {
    idents: IdentGenerator,
    ttl: u8,
}

impl Egress {
    /// Datagrams get `ttl` (`Config::ttl`) and ids from `idents`.
    pub(crate) fn new(idents: IdentGenerator, ttl: u8) -> Self {
        Egress { idents, ttl }
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

/// The IP fields of one TCP segment that its sender chooses: the addresses and, for a
/// connection with a TTL of its own (`Stack::tcp_set_ttl`), that TTL.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentIp {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    /// `None`: `Config::ttl`.
    pub(crate) ttl: Option<u8>,
}

/// What the TCP layer is handed to put an IPv4 header in front of a segment it wrote at
/// `buf[20..]`: TCP never sees ids, and names a TTL only for a connection with its own. TCP
/// always sets DF (RFC 1191 §3, path MTU discovery) and never fragments.
#[derive(Debug)]
pub(crate) struct IpOut<'a>(pub(crate) &'a mut Egress);

impl IpOut<'_> {
    /// Writes the IPv4 header for a TCP segment of `tcp_len` bytes already at `buf[20..]`;
    /// returns the packet length.
    pub(crate) fn write_tcp_header(
        &mut self,
        buf: &mut [u8],
        seg: SegmentIp,
        tcp_len: usize,
    ) -> usize {
        let h = self
            .0
            .header(seg.src, seg.dst, crate::wire::proto::TCP, true, seg.ttl);
        write_header(buf, &h, 0, false, tcp_len);
        HEADER_LEN + tcp_len
    }
}
