//! Reading what came back: an incoming IP packet as a reply to a probe, or an ICMP error
//! quoting one — parsed with the stack's own wire parsers, checksums verified.

use std::net::IpAddr;
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::ipv6::Ipv6Packet;
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;
use ustack::wire::{checksum, proto};

/// The IP header's facts hping3 prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFacts {
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Whole packet length.
    pub len: usize,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4: any flag or offset bit (hping3 prints `DF` for a non-zero field).
    pub df: bool,
    /// IPv4 identification.
    pub id: Option<u16>,
}

/// What a packet is, for the matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A TCP segment.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flag byte.
        flags: u8,
        /// Window.
        win: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment field.
        ack: u32,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An ICMP/ICMPv6 informational reply (echo, timestamp, address mask).
    IcmpReply {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// An ICMP/ICMPv6 error and the start of the packet it quotes.
    IcmpError {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
        /// Next-hop MTU (fragmentation needed, packet too big).
        mtu: u32,
        /// What it quotes.
        quote: Quote,
    },
}

/// The quoted packet of an ICMP error: addresses, protocol and its first 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Quoted source.
    pub src: IpAddr,
    /// Quoted destination.
    pub dst: IpAddr,
    /// Quoted protocol (IPv6: the header after a Fragment header).
    pub protocol: u8,
    /// IPv4 identification (0 over IPv6).
    pub ip_id: u16,
    /// TCP/UDP ports, or the echo identifier and sequence.
    pub first: [u16; 2],
    /// The ICMP type of a quoted ICMP message.
    pub icmp_type: u8,
    /// Bytes of the quoted transport header present.
    pub transport_len: usize,
}

/// Parses `bytes` as one IP packet and its transport; None for what no probe could provoke or
/// what fails its checks (bad checksums, truncation).
pub fn parse(bytes: &[u8]) -> Option<(IpFacts, Incoming)> {
    match bytes.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::parse(bytes).ok()?;
            // A fragment's transport header is incomplete or absent: hping3 reads none either.
            if p.is_fragment() {
                return None;
            }
            let h = p.header_bytes();
            let facts = IpFacts {
                src: p.src().into(),
                dst: p.dst().into(),
                len: h.len() + p.payload().len(),
                ttl: p.ttl(),
                df: u16::from_be_bytes([h[6], h[7]]) != 0,
                id: Some(p.ident()),
            };
            let inc = transport(facts.src, facts.dst, p.protocol(), p.payload())?;
            Some((facts, inc))
        }
        6 => {
            let p = Ipv6Packet::read(bytes).ok()?;
            let facts = IpFacts {
                src: p.src().into(),
                dst: p.dst().into(),
                len: p.bytes().len(),
                ttl: p.hop_limit(),
                df: false,
                id: None,
            };
            let inc = transport(facts.src, facts.dst, p.next_header(), p.payload())?;
            Some((facts, inc))
        }
        _ => None,
    }
}

fn transport(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Option<Incoming> {
    match (protocol, src) {
        (proto::TCP, _) => {
            let s = TcpSegment::parse(src, dst, payload).ok()?;
            Some(Incoming::Tcp {
                sport: s.src_port,
                dport: s.dst_port,
                flags: s.flags.0,
                win: s.window,
                seq: s.seq.0,
                ack: u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]),
            })
        }
        (proto::UDP, _) => {
            let u = UdpPacket::parse(src, dst, payload).ok()?;
            Some(Incoming::Udp {
                sport: u.src_port,
                dport: u.dst_port,
            })
        }
        (proto::ICMP, IpAddr::V4(_)) => icmp4(payload),
        (proto::ICMPV6, IpAddr::V6(_)) => {
            // RFC 4443 §2.3: the checksum covers the pseudo-header.
            if payload.len() < 8 || checksum::transport(src, dst, proto::ICMPV6, payload) != 0 {
                return None;
            }
            icmp6(payload)
        }
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn icmp4(payload: &[u8]) -> Option<Incoming> {
    match IcmpMessage::parse(payload).ok()? {
        IcmpMessage::EchoReply { ident, seq, .. } => Some(Incoming::IcmpReply {
            icmp_type: 0,
            code: 0,
            ident,
            seq,
        }),
        IcmpMessage::Error {
            icmp_type,
            code,
            rest,
            quote,
        } => Some(Incoming::IcmpError {
            icmp_type,
            code,
            mtu: u32::from(u16::from_be_bytes([rest[2], rest[3]])),
            quote: quote4(quote)?,
        }),
        // Timestamp (RFC 792) and address mask (RFC 950) replies carry id and sequence too.
        IcmpMessage::Other { icmp_type, code } if matches!(icmp_type, 14 | 18) => {
            Some(Incoming::IcmpReply {
                icmp_type,
                code,
                ident: be16(payload, 4),
                seq: be16(payload, 6),
            })
        }
        _ => None,
    }
}

/// RFC 792: an error quotes the internet header and 64 bits of the datagram's data (a probe
/// with no data — raw IP — is quoted by its header alone).
fn quote4(q: &[u8]) -> Option<Quote> {
    let ihl = usize::from(q.first()? & 0x0f) * 4;
    if q.first()? >> 4 != 4 || ihl < 20 || q.len() < ihl {
        return None;
    }
    let t = &q[ihl..];
    let src: [u8; 4] = q[12..16].try_into().ok()?;
    let dst: [u8; 4] = q[16..20].try_into().ok()?;
    let mut quote = Quote {
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        protocol: q[9],
        ip_id: be16(q, 4),
        first: [0, 0],
        icmp_type: t.first().copied().unwrap_or(0),
        transport_len: t.len(),
    };
    if quote.protocol == proto::ICMP && t.len() >= 8 {
        quote.first = [be16(t, 4), be16(t, 6)];
    } else if t.len() >= 4 {
        quote.first = [be16(t, 0), be16(t, 2)];
    }
    Some(quote)
}

fn icmp6(payload: &[u8]) -> Option<Incoming> {
    let (icmp_type, code) = (payload[0], payload[1]);
    match icmp_type {
        129 => Some(Incoming::IcmpReply {
            icmp_type,
            code,
            ident: be16(payload, 4),
            seq: be16(payload, 6),
        }),
        // RFC 4443 §3: destination unreachable, packet too big, time exceeded, parameter
        // problem — each quotes as much of the invoking packet as fits.
        1..=4 => {
            let mtu = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
            Some(Incoming::IcmpError {
                icmp_type,
                code,
                mtu,
                quote: quote6(&payload[8..])?,
            })
        }
        _ => None,
    }
}

fn quote6(q: &[u8]) -> Option<Quote> {
    if q.len() < 44 || q[0] >> 4 != 6 {
        return None;
    }
    let mut next = q[6];
    let mut at = 40;
    // A fragmented probe is quoted with its Fragment header (RFC 8200 §4.5): step over it.
    if next == 44 && q.len() >= at + 12 {
        next = q[at];
        at += 8;
    }
    let t = q.get(at..at + 4)?;
    let src: [u8; 16] = q[8..24].try_into().ok()?;
    let dst: [u8; 16] = q[24..40].try_into().ok()?;
    let mut quote = Quote {
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        protocol: next,
        ip_id: 0,
        first: [be16(t, 0), be16(t, 2)],
        icmp_type: t[0],
        transport_len: q.len() - at,
    };
    if next == proto::ICMPV6 {
        let t = q.get(at..at + 8)?;
        quote.first = [be16(t, 4), be16(t, 6)];
    }
    Some(quote)
}
