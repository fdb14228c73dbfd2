//! What a firewall rule can see of one packet, read once from its bytes.

use crate::wire::ipv6::{self, Ipv6Packet, Walk};
use crate::wire::proto;
use std::net::{IpAddr, Ipv4Addr};

/// Where a packet stands in fragmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frag {
    /// A whole datagram (never fragmented, or reassembled).
    Whole,
    /// The first fragment (offset 0, more to come): its transport header is there.
    First,
    /// A later fragment: no transport header.
    Later,
}

/// The fields rules match, read from one IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol (IPv4 Protocol; IPv6 upper-layer header after the extension headers).
    pub proto: u8,
    /// IP total length (IPv6: 40 + payload length).
    pub len: u16,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Fragment or whole.
    pub frag: Frag,
    /// Source and destination ports (TCP, UDP) when the transport header is present.
    pub ports: Option<(u16, u16)>,
    /// TCP flag byte.
    pub tcp_flags: Option<u8>,
    /// ICMP / ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// Where the transport header starts in the packet.
    pub l4_at: usize,
}

impl View {
    /// Reads `packet` (already validated by the receive path, or built by the stack); `None`
    /// for bytes that are not a readable IPv4 or IPv6 packet.
    pub fn parse(packet: &[u8]) -> Option<View> {
        match packet.first()? >> 4 {
            4 => Self::parse4(packet),
            6 => Self::parse6(packet),
            _ => None,
        }
    }

    fn parse4(p: &[u8]) -> Option<View> {
        let ihl = usize::from(p.first()? & 0x0f) * 4;
        if ihl < 20 || p.len() < ihl {
            return None;
        }
        let word = u16::from_be_bytes([p[6], p[7]]);
        let (offset, more) = (word & 0x1fff, word & 0x2000 != 0);
        let frag = match (offset, more) {
            (0, false) => Frag::Whole,
            (0, true) => Frag::First,
            _ => Frag::Later,
        };
        let src: [u8; 4] = p[12..16].try_into().ok()?;
        let dst: [u8; 4] = p[16..20].try_into().ok()?;
        let mut v = View {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            proto: p[9],
            len: u16::from_be_bytes([p[2], p[3]]),
            ttl: p[8],
            frag,
            ports: None,
            tcp_flags: None,
            icmp: None,
            l4_at: ihl,
        };
        if frag != Frag::Later {
            v.read_transport(p);
        }
        Some(v)
    }

    fn parse6(p: &[u8]) -> Option<View> {
        let packet = Ipv6Packet::parse(p).ok()?;
        let (proto, at, frag) = match ipv6::walk(&packet).ok()? {
            Walk::Upper {
                protocol,
                at,
                fragment,
                ..
            } => {
                let frag = match fragment {
                    Some(f) if !f.is_atomic() => Frag::First,
                    _ => Frag::Whole,
                };
                (protocol, at, frag)
            }
            Walk::LaterFragment { fragment, at } => {
                let nh = *p.get(fragment.header_at)?;
                (nh, at, Frag::Later)
            }
            Walk::Nothing => (ipv6::next::NONE, p.len(), Frag::Whole),
        };
        let mut v = View {
            src: IpAddr::V6(packet.src()),
            dst: IpAddr::V6(packet.dst()),
            proto,
            len: u16::try_from(p.len()).unwrap_or(u16::MAX),
            ttl: packet.hop_limit(),
            frag,
            ports: None,
            tcp_flags: None,
            icmp: None,
            l4_at: at,
        };
        if frag != Frag::Later {
            v.read_transport(p);
        }
        Some(v)
    }

    fn read_transport(&mut self, p: &[u8]) {
        let t = p.get(self.l4_at..).unwrap_or(&[]);
        match self.proto {
            proto::TCP | proto::UDP if t.len() >= 4 => {
                let sport = u16::from_be_bytes([t[0], t[1]]);
                let dport = u16::from_be_bytes([t[2], t[3]]);
                self.ports = Some((sport, dport));
                if self.proto == proto::TCP {
                    self.tcp_flags = t.get(13).copied();
                }
            }
            proto::ICMP | proto::ICMPV6 if t.len() >= 2 => self.icmp = Some((t[0], t[1])),
            _ => {}
        }
    }

    /// Whether this is IPv6.
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}
