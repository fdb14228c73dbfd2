//! The one place outgoing IPv4 headers are written (RFC 791 §3.1): identification (per hashed
//! flow, [`super::ident`]), TTL, DF, the fragment fields and the checksum. UDP, ICMP and
//! stateless TCP replies go through the transmit queue ([`super::fragment::TxQueue`], which cuts
//! them to the MTU and writes each fragment's header here); TCP segments, written by the TCP
//! layer straight into the caller's buffer, get their header from [`IpOut`]. No transport writes
//! an IPv4 header or chooses an identification itself.

use super::fragment::OutHeader;
use super::ident::IdentGenerator;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A TCP connection as its segments name it: our port and the remote end.
pub(crate) type TcpTuple = (u16, SocketAddrV4);

/// Header policy for every datagram the stack originates.
#[derive(Clone, Debug)]
pub(crate) struct Egress {
    idents: IdentGenerator,
    ttl: u8,
    /// Per-connection TTLs (`Stack::tcp_set_ttl`), found from the ports of the segment being
    /// sent; empty (and never looked up) unless an app asked for one.
    tcp_ttl: HashMap<TcpTuple, u8>,
}

impl Egress {
    /// Datagrams get `ttl` (`Config::ttl`) and ids from `idents`.
    pub(crate) fn new(idents: IdentGenerator, ttl: u8) -> Self {
        Egress {
            idents,
            ttl,
            tcp_ttl: HashMap::new(),
        }
    }

    /// Sets (`Some`) or clears the TTL of the segments of the connection `t`.
    pub(crate) fn set_tcp_ttl(&mut self, t: TcpTuple, ttl: Option<u8>) {
        match ttl {
            Some(v) => self.tcp_ttl.insert(t, v),
            None => self.tcp_ttl.remove(&t),
        };
    }

    /// The header of a new datagram: RFC 6864 §4 / RFC 7739 §5.3 identification, our TTL.
    pub(crate) fn header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        dont_fragment: bool,
    ) -> OutHeader {
        OutHeader {
            src,
            dst,
            protocol,
            ttl: self.ttl,
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

/// What the TCP layer is handed to put an IPv4 header in front of a segment it wrote at
/// `buf[20..]`: TCP never sees ids or TTLs. TCP always sets DF (RFC 1191 §3, path MTU
/// discovery) and never fragments.
#[derive(Debug)]
pub(crate) struct IpOut<'a>(pub(crate) &'a mut Egress);

impl IpOut<'_> {
    /// Writes the IPv4 header for a TCP segment of `tcp_len` bytes already at `buf[20..]`;
    /// returns the packet length.
    pub(crate) fn write_tcp_header(
        &mut self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tcp_len: usize,
    ) -> usize {
        let mut h = self.0.header(src, dst, crate::wire::proto::TCP, true);
        if !self.0.tcp_ttl.is_empty() && buf.len() >= HEADER_LEN + 4 {
            let port = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
            let key = (
                port(HEADER_LEN),
                SocketAddrV4::new(dst, port(HEADER_LEN + 2)),
            );
            if let Some(&t) = self.0.tcp_ttl.get(&key) {
                h.ttl = t;
            }
        }
        write_header(buf, &h, 0, false, tcp_len);
        HEADER_LEN + tcp_len
    }
}
