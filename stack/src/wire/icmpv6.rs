//! ICMPv6 messages (RFC 4443): a checked parse into the kinds the stack tells apart, and the
//! emitters of echo replies and errors.
//!
//! The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3), so parsing needs the addresses.
//! Neighbor Discovery (RFC 4861) and MLD (RFC 2710, RFC 3810) are recognized by type only: on a
//! point-to-point TUN there are no link-layer addresses to resolve and no multicast listeners
//! to report, so the stack counts them and answers nothing.

use super::checksum;
use super::ipv6::MIN_MTU;
use crate::stats::DropReason;
use std::net::Ipv6Addr;

/// ICMPv6 header length (type, code, checksum, four type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// ICMPv6 type numbers (RFC 4443 §2.1, RFC 4861 §4, RFC 2710 §3, RFC 3810 §5).
pub mod types {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// MLD query.
    pub const MLD_QUERY: u8 = 130;
    /// MLDv1 report.
    pub const MLD_REPORT: u8 = 131;
    /// MLDv1 done.
    pub const MLD_DONE: u8 = 132;
    /// Router solicitation.
    pub const ROUTER_SOLICITATION: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICITATION: u8 = 135;
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
    /// MLDv2 report.
    pub const MLD2_REPORT: u8 = 143;
}

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod unreach {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited.
    pub const PROHIBITED: u8 = 1;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// Whether `icmp_type` is an error message: types below 128 (RFC 4443 §2.1), never answered
/// with an error (§2.4 (e.1)).
pub fn is_error(icmp_type: u8) -> bool {
    icmp_type < 128
}

/// A parsed, checksum-verified ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6Message<'a> {
    /// Echo request (RFC 4443 §4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data, echoed back whole.
        data: &'a [u8],
    },
    /// Echo reply (§4.2).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: &'a [u8],
    },
    /// An error (types 1–4, and unknown types below 128, which §2.4 (d) says to pass up).
    Error {
        /// Its type.
        icmp_type: u8,
        /// Its code.
        code: u8,
        /// The type-specific word: the MTU of a Packet Too Big, the pointer of a Parameter
        /// Problem, unused otherwise.
        param: u32,
        /// As much of the invoking packet as fits (its IPv6 header first).
        quote: &'a [u8],
    },
    /// Neighbor Discovery or MLD: on a point-to-point TUN, counted and not answered.
    LinkLocal {
        /// Its type.
        icmp_type: u8,
    },
    /// Any other informational message (§2.4 (b): silently discarded).
    Other {
        /// Its type.
        icmp_type: u8,
        /// Its code.
        code: u8,
    },
}

impl<'a> Icmpv6Message<'a> {
    /// Checks the checksum of `bytes` (an ICMPv6 message from `src` to `dst`) and reads it.
    pub fn parse(src: Ipv6Addr, dst: Ipv6Addr, bytes: &'a [u8]) -> Result<Self, DropReason> {
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::Icmpv6TooShort);
        }
        if checksum::pseudo6(src, dst, super::ipv6::next::ICMPV6, bytes) != 0 {
            return Err(DropReason::Icmpv6BadChecksum);
        }
        let (icmp_type, code) = (bytes[0], bytes[1]);
        let word = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let (ident, seq) = ((word >> 16) as u16, word as u16);
        let rest = &bytes[HEADER_LEN..];
        Ok(match icmp_type {
            types::ECHO_REQUEST => Icmpv6Message::EchoRequest {
                ident,
                seq,
                data: rest,
            },
            types::ECHO_REPLY => Icmpv6Message::EchoReply {
                ident,
                seq,
                data: rest,
            },
            t if is_error(t) => Icmpv6Message::Error {
                icmp_type,
                code,
                param: word,
                quote: rest,
            },
            types::MLD_QUERY..=types::REDIRECT | types::MLD2_REPORT => {
                Icmpv6Message::LinkLocal { icmp_type }
            }
            _ => Icmpv6Message::Other { icmp_type, code },
        })
    }
}

/// Writes an echo reply to `request`'s ident, seq and data into `buf` (at least
/// `HEADER_LEN + data.len()` bytes), checksummed for `src` → `dst`; returns its length.
pub fn emit_echo_reply(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> usize {
    emit_echo(buf, (src, dst), types::ECHO_REPLY, (ident, seq), data)
}

/// Writes an echo request or reply (`echo_type`, RFC 4443 §4.1/§4.2) with `(ident, seq)` and
/// `data` from `addrs.0` to `addrs.1`; returns its length.
pub fn emit_echo(
    buf: &mut [u8],
    addrs: (Ipv6Addr, Ipv6Addr),
    echo_type: u8,
    id_seq: (u16, u16),
    data: &[u8],
) -> usize {
    let word = (u32::from(id_seq.0) << 16) | u32::from(id_seq.1);
    emit(buf, addrs.0, addrs.1, (echo_type, 0, word), data)
}

/// Writes an error of `(type, code, param)` quoting as much of `invoking` as keeps the whole
/// error packet within the minimum MTU (RFC 4443 §2.4 (c)); returns its length.
pub fn emit_error(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: (u8, u8, u32),
    invoking: &[u8],
) -> usize {
    let room = MIN_MTU - super::ipv6::HEADER_LEN - HEADER_LEN;
    emit(buf, src, dst, kind, &invoking[..invoking.len().min(room)])
}

fn emit(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    (icmp_type, code, word): (u8, u8, u32),
    body: &[u8],
) -> usize {
    let len = HEADER_LEN + body.len();
    let m = &mut buf[..len];
    m[0] = icmp_type;
    m[1] = code;
    m[2..4].fill(0);
    m[4..8].copy_from_slice(&word.to_be_bytes());
    m[HEADER_LEN..].copy_from_slice(body);
    let sum = checksum::pseudo6(src, dst, super::ipv6::next::ICMPV6, m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    #[test]
    fn echo_round_trips_and_the_checksum_is_checked() {
        let mut buf = [0u8; 64];
        let n = emit_echo_reply(&mut buf, A, B, 7, 9, b"hello");
        assert_eq!(
            Icmpv6Message::parse(A, B, &buf[..n]),
            Ok(Icmpv6Message::EchoReply {
                ident: 7,
                seq: 9,
                data: b"hello"
            })
        );
        // The pseudo-header counts: the same bytes from another source do not verify.
        let c = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 3);
        assert_eq!(
            Icmpv6Message::parse(c, B, &buf[..n])
                .map(|_| ())
                .unwrap_err(),
            DropReason::Icmpv6BadChecksum
        );
        assert_eq!(
            Icmpv6Message::parse(A, B, &buf[..7]).unwrap_err(),
            DropReason::Icmpv6TooShort
        );
    }

    #[test]
    fn errors_quote_within_the_minimum_mtu_and_link_local_types_are_told_apart() {
        let mut buf = vec![0u8; 2000];
        let invoking = vec![0x60u8; 1500];
        let n = emit_error(&mut buf, A, B, (types::PACKET_TOO_BIG, 0, 1280), &invoking);
        assert_eq!(n + 40, MIN_MTU);
        let Ok(Icmpv6Message::Error {
            icmp_type: 2,
            param: 1280,
            quote,
            ..
        }) = Icmpv6Message::parse(A, B, &buf[..n])
        else {
            panic!()
        };
        assert_eq!(quote.len(), MIN_MTU - 48);
        for t in [133, 135, 143, 130] {
            let n = emit(&mut buf, A, B, (t, 0, 0), &[]);
            assert_eq!(
                Icmpv6Message::parse(A, B, &buf[..n]),
                Ok(Icmpv6Message::LinkLocal { icmp_type: t })
            );
        }
        let n = emit(&mut buf, A, B, (200, 1, 0), &[]);
        assert!(matches!(
            Icmpv6Message::parse(A, B, &buf[..n]),
            Ok(Icmpv6Message::Other {
                icmp_type: 200,
                code: 1
            })
        ));
    }
}
