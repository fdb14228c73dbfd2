//! ICMP policy: when the stack may send an error (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7; the
//! token bucket that rate-limits them is `crate::rate`), and reading the datagram an incoming
//! error quotes.

use crate::ip::ingress::{is_unicast_source, DstKind};
use crate::ip::reassembly::Expired;
use crate::wire::ipv4::raw;
use crate::wire::{icmp, proto};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most bytes of the offending datagram an error quotes: the error as a whole stays within 576
/// bytes (RFC 1812 §4.3.2.3), 576 − 20 (IP) − 8 (ICMP).
pub(crate) const MAX_QUOTE: usize = 548;

/// Whether the stack may answer the datagram (`header` + `payload`) with an ICMP error.
///
/// RFC 1122 §3.2.2: an ICMP error MUST NOT be sent in response to an ICMP error, a datagram
/// destined to a broadcast or multicast address, a non-initial fragment, or a datagram whose source
/// does not define a single host (zero, broadcast, multicast, class E, loopback).
pub(crate) fn may_send_error(
    dst_kind: DstKind,
    src: Ipv4Addr,
    protocol: u8,
    frag_offset: usize,
    payload: &[u8],
) -> bool {
    if dst_kind != DstKind::Local {
        return false;
    }
    if frag_offset != 0 {
        return false;
    }
    if !is_unicast_source(src) {
        return false;
    }
    if protocol == proto::ICMP {
        // An unparseable ICMP message might be an error: err on the side of silence.
        match payload.first() {
            Some(&t) if !icmp::is_error(t) => {}
            _ => return false,
        }
    }
    true
}

/// An ICMP error about a datagram the stack received, ready to send once allowed and
/// rate-limited: to the datagram's source, quoting its header and first payload bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorMessage<'a> {
    /// The offending datagram's source: the error goes back to it.
    pub(crate) to: Ipv4Addr,
    pub(crate) icmp_type: u8,
    pub(crate) code: u8,
    /// The second word of the ICMP header (unused by most errors; RFC 1191 §4's next-hop MTU).
    pub(crate) rest: [u8; 4],
    /// The offending datagram's IPv4 header as received.
    pub(crate) header: &'a [u8],
    /// Its payload (the part that fits is quoted).
    pub(crate) payload: &'a [u8],
}

impl ErrorMessage<'_> {
    /// The quoted header and payload, cut so the error stays within 576 bytes (`MAX_QUOTE`).
    fn quote(&self) -> (&[u8], &[u8]) {
        let header = &self.header[..self.header.len().min(MAX_QUOTE)];
        let payload = &self.payload[..self.payload.len().min(MAX_QUOTE - header.len())];
        (header, payload)
    }

    /// Length of the ICMP message.
    pub(crate) fn len(&self) -> usize {
        let (header, payload) = self.quote();
        icmp::HEADER_LEN + header.len() + payload.len()
    }

    /// Writes the ICMP message into `buf` (`len()` bytes, zeroed).
    pub(crate) fn emit(&self, buf: &mut [u8]) {
        let (header, payload) = self.quote();
        let body = &mut buf[icmp::HEADER_LEN..];
        body[..header.len()].copy_from_slice(header);
        body[header.len()..header.len() + payload.len()].copy_from_slice(payload);
        icmp::finish(buf, self.icmp_type, self.code, self.rest);
    }
}

/// The error about a datagram whose reassembly timed out (`e`; `dst_kind` of its destination):
/// time exceeded, code 1, "fragment reassembly time exceeded" (RFC 792), sent only if its first
/// fragment had arrived (RFC 1122 §3.3.2) and only where RFC 1122 §3.2.2 allows an error.
pub(crate) fn reassembly_time_exceeded(
    e: &Expired,
    dst_kind: Option<DstKind>,
) -> Option<ErrorMessage<'_>> {
    let first = e.quote.as_deref()?;
    let (header, payload) = first.split_at(raw::header_len(first).min(first.len()));
    let (src, protocol) = (e.key.src, e.key.protocol);
    if !may_send_error(dst_kind?, src, protocol, 0, payload) {
        return None;
    }
    Some(ErrorMessage {
        to: src,
        icmp_type: icmp::types::TIME_EXCEEDED,
        code: REASSEMBLY_TIME_EXCEEDED,
        rest: [0; 4],
        header,
        payload,
    })
}

/// Time exceeded code 1: fragment reassembly time exceeded (RFC 792).
const REASSEMBLY_TIME_EXCEEDED: u8 = 1;

/// What an incoming error quotes, enough to find the socket it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quoted {
    /// A UDP datagram we sent from `src_port` to `dst`.
    Udp {
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
    },
    /// A TCP segment we sent from `src_port` to `dst`, with its sequence number.
    Tcp {
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
        seq: u32,
    },
    /// An echo request we sent to `dst`.
    Echo { ident: u16, seq: u16, dst: IpAddr },
    /// Something else (TCP, or a protocol we do not track).
    Other { protocol: u8 },
}

/// Reads the quoted header of an ICMP error: the quote must start with an IPv4 header sent by
/// `our_addr` and include at least 8 bytes of its payload (RFC 792).
pub(crate) fn parse_quote(quote: &[u8], our_addr: Ipv4Addr) -> Option<Quoted> {
    if quote.len() < 20 || quote[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(quote[0] & 0x0f) * 4;
    if ihl < 20 || quote.len() < ihl + 8 {
        return None;
    }
    let src = Ipv4Addr::new(quote[12], quote[13], quote[14], quote[15]);
    if src != our_addr {
        return None;
    }
    let dst = Ipv4Addr::new(quote[16], quote[17], quote[18], quote[19]);
    quoted_transport(quote[9], IpAddr::V4(dst), &quote[ihl..])
}

/// What the quoted transport header (at least 8 bytes, `l4`) of `protocol` to `dst` names.
fn quoted_transport(protocol: u8, dst: IpAddr, l4: &[u8]) -> Option<Quoted> {
    if l4.len() < 8 {
        return None;
    }
    let be = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
    let echo_request = match dst {
        IpAddr::V4(_) => (proto::ICMP, icmp::types::ECHO_REQUEST),
        IpAddr::V6(_) => (proto::ICMPV6, crate::wire::icmpv6::types::ECHO_REQUEST),
    };
    Some(match protocol {
        proto::UDP => Quoted::Udp {
            src_port: be(0),
            dst,
            dst_port: be(2),
        },
        // RFC 792 guarantees the first 8 bytes: ports and sequence number.
        proto::TCP => Quoted::Tcp {
            src_port: be(0),
            dst,
            dst_port: be(2),
            seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
        },
        p if (p, l4[0]) == echo_request => Quoted::Echo {
            ident: be(4),
            seq: be(6),
            dst,
        },
        p => Quoted::Other { protocol: p },
    })
}

/// Reads the quoted packet of an ICMPv6 error (RFC 4443 §2.4 (c): as much of it as fits):
/// an IPv6 header from `our_addr`, then — skipping the extension headers we could have sent
/// (hop-by-hop, routing, destination options, a first fragment), within the quote and at most
/// `ipv6::MAX_EXT_HEADERS` — at least 8 bytes of the transport header. `None` for anything
/// else: an error about a packet we did not send is not believed (RFC 5927 §4.1 in spirit).
pub(crate) fn parse_quote6(quote: &[u8], our_addr: Ipv6Addr) -> Option<Quoted> {
    use crate::wire::ipv6::{self, next};
    if quote.len() < ipv6::HEADER_LEN || quote[0] >> 4 != 6 {
        return None;
    }
    let addr = |at: usize| -> Ipv6Addr {
        let mut b = [0u8; 16];
        b.copy_from_slice(&quote[at..at + 16]);
        Ipv6Addr::from(b)
    };
    if addr(8) != our_addr {
        return None;
    }
    let dst = IpAddr::V6(addr(24));
    let (mut nh, mut at) = (quote[6], ipv6::HEADER_LEN);
    for _ in 0..ipv6::MAX_EXT_HEADERS {
        let h = quote.get(at..at + 8)?;
        match nh {
            next::HOP_BY_HOP | next::ROUTING | next::DEST_OPTS => {
                nh = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            // Only a first fragment quotes the transport header.
            next::FRAGMENT if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 == 0 => {
                nh = h[0];
                at += 8;
            }
            next::FRAGMENT => return None,
            _ => return quoted_transport(nh, dst, quote.get(at..)?),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn error_eligibility() {
        let h = Ipv4Addr::new(198, 18, 0, 1);
        assert!(may_send_error(DstKind::Local, h, 17, 0, &[]));
        assert!(!may_send_error(DstKind::Broadcast, h, 17, 0, &[]));
        assert!(!may_send_error(DstKind::Multicast, h, 17, 0, &[]));
        assert!(!may_send_error(DstKind::Local, h, 17, 1480, &[]));
        assert!(!may_send_error(
            DstKind::Local,
            Ipv4Addr::UNSPECIFIED,
            17,
            0,
            &[]
        ));
        assert!(!may_send_error(DstKind::Local, h, 1, 0, &[3, 3]));
        assert!(may_send_error(DstKind::Local, h, 1, 0, &[8, 0]));
        assert!(!may_send_error(DstKind::Local, h, 1, 0, &[]));
    }

    fn expired(protocol: u8, dst: Ipv4Addr, quote: Option<Vec<u8>>) -> Expired {
        use crate::ip::reassembly::FragmentKey;
        let key = FragmentKey {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst,
            protocol,
            ident: 7,
        };
        Expired { key, quote }
    }

    #[test]
    fn reassembly_time_exceeded_needs_the_first_fragment_and_eligibility() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let mut first = vec![0u8; 28];
        first[0] = 0x45;
        first[20] = 0xab;
        let e = expired(17, us, Some(first.clone()));
        let m = reassembly_time_exceeded(&e, Some(DstKind::Local)).expect("an error");
        assert_eq!((m.to, m.icmp_type, m.code), (e.key.src, 11, 1));
        assert_eq!((m.header.len(), m.payload), (20, &first[20..]));
        let mut buf = vec![0u8; m.len()];
        m.emit(&mut buf);
        assert_eq!(buf.len(), 8 + 28);
        assert_eq!((buf[0], buf[1]), (11, 1));
        assert_eq!(&buf[8..], &first[..]);
        // Not without the first fragment, not to a broadcast, not about an ICMP error.
        assert!(reassembly_time_exceeded(&expired(17, us, None), Some(DstKind::Local)).is_none());
        assert!(reassembly_time_exceeded(&e, Some(DstKind::Broadcast)).is_none());
        assert!(reassembly_time_exceeded(&e, None).is_none());
        first[20] = 3;
        let e = expired(1, us, Some(first.clone()));
        assert!(reassembly_time_exceeded(&e, Some(DstKind::Local)).is_none());
        first[20] = 8;
        let e = expired(1, us, Some(first));
        assert!(reassembly_time_exceeded(&e, Some(DstKind::Local)).is_some());
    }

    #[test]
    fn error_quotes_are_cut_to_576_bytes() {
        let header = [0x45u8; 20];
        let payload = [0u8; 1000];
        let m = ErrorMessage {
            to: Ipv4Addr::new(198, 18, 0, 1),
            icmp_type: 3,
            code: 3,
            rest: [0; 4],
            header: &header,
            payload: &payload,
        };
        assert_eq!(m.len(), 8 + MAX_QUOTE);
        let mut buf = vec![0u8; m.len()];
        m.emit(&mut buf);
        assert_eq!(crate::wire::checksum::internet(&buf), 0);
    }

    #[test]
    fn quotes() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let mut q = [0u8; 28];
        q[0] = 0x45;
        q[9] = 17;
        q[12..16].copy_from_slice(&us.octets());
        q[16..20].copy_from_slice(&[198, 18, 0, 1]);
        q[20..24].copy_from_slice(&[0x13, 0x88, 0, 9]);
        assert_eq!(
            parse_quote(&q, us),
            Some(Quoted::Udp {
                src_port: 5000,
                dst: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
                dst_port: 9
            })
        );
        assert_eq!(parse_quote(&q[..27], us), None);
        assert_eq!(parse_quote(&q, Ipv4Addr::new(1, 2, 3, 4)), None);
    }
}
