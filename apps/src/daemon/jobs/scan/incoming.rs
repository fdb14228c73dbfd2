//! Reading a received packet (raw IPv4 or IPv6 bytes, as a raw socket hands them over) into
//! the few facts the scanner matches against its probes. Everything goes through ustack's own
//! checked parsers — IP header checksum, TCP/UDP/ICMP checksums — so a corrupt packet is no
//! answer at all. Nothing here allocates.

use std::net::IpAddr;
use ustack::wire::icmp::{self, IcmpMessage};
use ustack::wire::icmpv6::{self, Icmpv6Message};
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::ipv6::{next, Ipv6Packet};
use ustack::wire::proto;
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;

/// A received packet, as far as the scanner cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Its source.
    pub src: IpAddr,
    /// Its destination.
    pub dst: IpAddr,
    /// Its TTL (IPv6: hop limit).
    pub ttl: u8,
    /// What it is.
    pub what: What,
}

/// The kinds of packets that can answer a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// A TCP segment.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// SEG.SEQ.
        seq: u32,
        /// SEG.ACK if the ACK flag is set.
        ack: Option<u32>,
        /// SYN set.
        syn: bool,
        /// RST set.
        rst: bool,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An ICMP or ICMPv6 echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Destination unreachable (ICMPv4 type 3, ICMPv6 type 1) quoting a TCP or UDP packet.
    Unreach {
        /// ICMPv6 (its codes differ).
        v6: bool,
        /// The code.
        code: u8,
        /// The quoted packet.
        quote: Quote,
    },
}

/// The start of the packet an ICMP error quotes: at least its IP header and the first eight
/// bytes of its transport header (RFC 792; RFC 4443 §3.1 quotes more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Its source (ours, if it was our probe).
    pub src: IpAddr,
    /// Its destination (the target).
    pub dst: IpAddr,
    /// Its transport protocol.
    pub protocol: u8,
    /// Its source port.
    pub sport: u16,
    /// Its destination port.
    pub dport: u16,
    /// TCP: its sequence number (bytes 4..8 of the header).
    pub seq: Option<u32>,
}

/// Reads `bytes`; None for anything malformed or of no interest.
pub fn read(bytes: &[u8]) -> Option<Incoming> {
    match bytes.first()? >> 4 {
        4 => read4(bytes),
        6 => read6(bytes),
        _ => None,
    }
}

fn read4(bytes: &[u8]) -> Option<Incoming> {
    let p = Ipv4Packet::parse(bytes).ok()?;
    // A fragment cannot be read whole here; the stack reassembles before raw copies are taken,
    // and a non-initial fragment has no transport header.
    if p.is_fragment() {
        return None;
    }
    let (src, dst) = (IpAddr::V4(p.src()), IpAddr::V4(p.dst()));
    let what = match p.protocol() {
        proto::TCP => tcp(src, dst, p.payload())?,
        proto::UDP => udp(src, dst, p.payload())?,
        proto::ICMP => match IcmpMessage::parse(p.payload()).ok()? {
            IcmpMessage::EchoReply { ident, seq, .. } => What::EchoReply { ident, seq },
            IcmpMessage::Error {
                icmp_type: icmp::types::DEST_UNREACHABLE,
                code,
                quote,
                ..
            } => What::Unreach {
                v6: false,
                code,
                quote: quote4(quote)?,
            },
            _ => return None,
        },
        _ => return None,
    };
    Some(Incoming {
        src,
        dst,
        ttl: p.ttl(),
        what,
    })
}

fn read6(bytes: &[u8]) -> Option<Incoming> {
    let p = Ipv6Packet::parse(bytes).ok()?;
    let (src, dst) = (IpAddr::V6(p.src()), IpAddr::V6(p.dst()));
    // Answers to probes come without extension headers; one that has them is not read.
    let what = match p.next_header() {
        proto::TCP => tcp(src, dst, p.payload())?,
        proto::UDP => udp(src, dst, p.payload())?,
        next::ICMPV6 => match Icmpv6Message::parse(p.src(), p.dst(), p.payload()).ok()? {
            Icmpv6Message::EchoReply { ident, seq, .. } => What::EchoReply { ident, seq },
            Icmpv6Message::Error {
                icmp_type: icmpv6::types::DEST_UNREACHABLE,
                code,
                quote,
                ..
            } => What::Unreach {
                v6: true,
                code,
                quote: quote6(quote)?,
            },
            _ => return None,
        },
        _ => return None,
    };
    Some(Incoming {
        src,
        dst,
        ttl: p.hop_limit(),
        what,
    })
}

fn tcp(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Option<What> {
    let s = TcpSegment::parse(src, dst, payload).ok()?;
    Some(What::Tcp {
        sport: s.src_port,
        dport: s.dst_port,
        seq: s.seq.0,
        ack: s.ack.map(|a| a.0),
        syn: s.syn(),
        rst: s.rst(),
    })
}

fn udp(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Option<What> {
    let u = UdpPacket::parse(src, dst, payload).ok()?;
    Some(What::Udp {
        sport: u.src_port,
        dport: u.dst_port,
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The transport facts of a quoted header at `t` (RFC 792: at least 8 bytes are quoted).
fn transport(quote: &[u8], t: usize, protocol: u8) -> Option<(u16, u16, Option<u32>)> {
    let sport = be16(quote, t)?;
    let dport = be16(quote, t + 2)?;
    let seq = match protocol {
        proto::TCP => Some(be32(quote, t + 4)?),
        proto::UDP => None,
        _ => return None,
    };
    Some((sport, dport, seq))
}

/// An ICMPv4 error's quote: the invoking IPv4 header (its checksum is not checked: routers may
/// have changed the TTL in it, RFC 1812 §4.3.2.3) and 8 bytes after it.
fn quote4(quote: &[u8]) -> Option<Quote> {
    if quote.first()? >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(quote[0] & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let protocol = *quote.get(9)?;
    let addr = |at: usize| -> Option<IpAddr> {
        let o: [u8; 4] = quote.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::from(o))
    };
    let (sport, dport, seq) = transport(quote, ihl, protocol)?;
    Some(Quote {
        src: addr(12)?,
        dst: addr(16)?,
        protocol,
        sport,
        dport,
        seq,
    })
}

/// An ICMPv6 error's quote: the invoking IPv6 header (no extension headers: our probes have
/// none) and its transport header.
fn quote6(quote: &[u8]) -> Option<Quote> {
    if quote.first()? >> 4 != 6 {
        return None;
    }
    let protocol = *quote.get(6)?;
    let addr = |at: usize| -> Option<IpAddr> {
        let o: [u8; 16] = quote.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::from(o))
    };
    let (sport, dport, seq) = transport(quote, 40, protocol)?;
    Some(Quote {
        src: addr(8)?,
        dst: addr(24)?,
        protocol,
        sport,
        dport,
        seq,
    })
}
