//! ICMP policy: when the stack may send an error (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7; the
//! token bucket that rate-limits them is `crate::rate`), and reading the datagram an incoming
//! error quotes.

use crate::ip::ingress::{is_unicast_source, DstKind};
use crate::wire::{icmp, proto};
use std::net::Ipv4Addr;

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

/// What an incoming error quotes, enough to find the socket it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quoted {
    /// A UDP datagram we sent from `src_port` to `dst`.
    Udp {
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
    },
    /// A TCP segment we sent from `src_port` to `dst`, with its sequence number.
    Tcp {
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        seq: u32,
    },
    /// An echo request we sent to `dst`.
    Echo { ident: u16, seq: u16, dst: Ipv4Addr },
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
    let l4 = &quote[ihl..];
    let be = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
    Some(match quote[9] {
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
        proto::ICMP if l4[0] == icmp::types::ECHO_REQUEST => Quoted::Echo {
            ident: be(4),
            seq: be(6),
            dst,
        },
        p => Quoted::Other { protocol: p },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
                dst: Ipv4Addr::new(198, 18, 0, 1),
                dst_port: 9
            })
        );
        assert_eq!(parse_quote(&q[..27], us), None);
        assert_eq!(parse_quote(&q, Ipv4Addr::new(1, 2, 3, 4)), None);
    }
}
