//! IPv4 headers (RFC 791): a checked parse that maps every malformation to a [`DropReason`], and a
//! `Repr` that emits a header with its checksum.

use super::checksum;
use crate::stats::DropReason;
use etherparse::Ipv4HeaderSlice;
use std::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Largest IPv4 datagram, header included (the total length field is 16 bits).
pub const MAX_DATAGRAM: usize = 65535;

/// Field accessors on raw header bytes already known to hold at least [`HEADER_LEN`] bytes (a
/// header the stack parsed before, or one quoted in an ICMP error, RFC 792): the one place that
/// knows the offsets. Each returns 0 / does nothing on a shorter slice rather than panic.
pub mod raw {
    use super::HEADER_LEN;

    /// Header length from the IHL nibble, bytes.
    pub fn header_len(h: &[u8]) -> usize {
        h.first().map_or(0, |b| usize::from(b & 0x0f) * 4)
    }

    /// The Total Length field.
    pub fn total_len(h: &[u8]) -> u16 {
        be16(h, 2)
    }

    /// The fragment offset, bytes.
    pub fn frag_offset(h: &[u8]) -> usize {
        usize::from(flags_and_offset(h) & 0x1fff) * 8
    }

    fn be16(h: &[u8], at: usize) -> u16 {
        h.get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn flags_and_offset(h: &[u8]) -> u16 {
        be16(h, 6)
    }

    /// The Type of Service octet (DSCP and ECN).
    pub fn tos(h: &[u8]) -> u8 {
        h.get(1).copied().unwrap_or(0)
    }

    /// The Identification field.
    pub fn ident(h: &[u8]) -> u16 {
        be16(h, 4)
    }

    /// The Don't Fragment flag.
    pub fn dont_fragment(h: &[u8]) -> bool {
        flags_and_offset(h) & 0x4000 != 0
    }

    /// The More Fragments flag.
    pub fn more_fragments(h: &[u8]) -> bool {
        flags_and_offset(h) & 0x2000 != 0
    }

    /// Time to live.
    pub fn ttl(h: &[u8]) -> u8 {
        h.get(8).copied().unwrap_or(0)
    }

    /// The Protocol field.
    pub fn protocol(h: &[u8]) -> u8 {
        h.get(9).copied().unwrap_or(0)
    }

    /// The header checksum field.
    pub fn checksum(h: &[u8]) -> u16 {
        be16(h, 10)
    }

    /// Source and destination addresses.
    pub fn addrs(h: &[u8]) -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
        let a = |at: usize| {
            h.get(at..at + 4)
                .map_or(std::net::Ipv4Addr::UNSPECIFIED, |b| {
                    std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])
                })
        };
        (a(12), a(16))
    }

    /// Makes the first fragment's header the header of the whole reassembled datagram: MF and
    /// offset cleared (DF and the reserved bit kept), Total Length set, checksum recomputed.
    pub fn rewrite_as_whole(h: &mut [u8], total: u16) {
        if h.len() < HEADER_LEN {
            return;
        }
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6] &= !0x20 & !0x1f;
        h[7] = 0;
        h[10..12].copy_from_slice(&[0, 0]);
        let c = super::checksum::internet(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

/// A validated IPv4 packet: header checked, checksum verified, link padding trimmed.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    header: Ipv4HeaderSlice<'a>,
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validates `bytes` as one IPv4 packet (RFC 791 §3.1, RFC 1122 §3.2.1).
    ///
    /// Bytes beyond the total length are link padding and are trimmed; fewer bytes than the total
    /// length is a truncated packet.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::Ipv4TooShort);
        }
        // RFC 1122 §3.2.1.1: a datagram whose version number is not 4 MUST be silently discarded.
        if bytes[0] >> 4 != 4 {
            return Err(DropReason::Ipv4BadVersion);
        }
        let header_len = usize::from(bytes[0] & 0x0f) * 4;
        if header_len < HEADER_LEN || header_len > bytes.len() {
            return Err(DropReason::Ipv4BadHeaderLength);
        }
        let total_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if total_len < header_len {
            return Err(DropReason::Ipv4BadTotalLength);
        }
        if total_len > bytes.len() {
            return Err(DropReason::Ipv4Truncated);
        }
        // RFC 1122 §3.2.1.2: a datagram with a bad header checksum MUST be silently discarded.
        if checksum::internet(&bytes[..header_len]) != 0 {
            return Err(DropReason::Ipv4BadChecksum);
        }
        let bytes = &bytes[..total_len];
        let header =
            Ipv4HeaderSlice::from_slice(bytes).map_err(|_| DropReason::Ipv4BadHeaderLength)?;
        Ok(Ipv4Packet {
            header,
            payload: &bytes[header_len..],
        })
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        self.header.source_addr()
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        self.header.destination_addr()
    }
    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.header.protocol().0
    }
    /// Time to live as it arrived.
    pub fn ttl(&self) -> u8 {
        self.header.ttl()
    }
    /// Identification field.
    pub fn ident(&self) -> u16 {
        self.header.identification()
    }
    /// Don't Fragment flag.
    pub fn dont_fragment(&self) -> bool {
        self.header.dont_fragment()
    }
    /// More Fragments flag.
    pub fn more_fragments(&self) -> bool {
        self.header.more_fragments()
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        usize::from(self.header.fragments_offset().value()) * 8
    }
    /// Whether this packet is a fragment (offset non-zero or MF set).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }
    /// The header bytes, options included.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header.slice()
    }
    /// The payload, trimmed to the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// The fields of an IPv4 header ustack emits (never with options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_fragment: bool,
    /// More Fragments.
    pub more_fragments: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: usize,
    /// Payload length in bytes (of this packet, not the whole datagram).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Writes the 20-byte header with its checksum into `buf[..20]`.
    ///
    /// # Panics
    /// If `buf` is shorter than 20 bytes, the offset is not a multiple of 8 or the total length
    /// exceeds 65535: all are bugs in the caller, never a consequence of input.
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(
            self.frag_offset.is_multiple_of(8) && self.frag_offset / 8 < 8192,
            "bad fragment offset"
        );
        let total = HEADER_LEN + self.payload_len;
        assert!(total <= MAX_DATAGRAM, "IPv4 datagram too large");
        let h = &mut buf[..HEADER_LEN];
        h[0] = 0x45;
        h[1] = 0;
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut flags_frag = (self.frag_offset / 8) as u16;
        if self.dont_fragment {
            flags_frag |= 0x4000;
        }
        if self.more_fragments {
            flags_frag |= 0x2000;
        }
        h[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::internet(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload_len: usize) -> Vec<u8> {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: 17,
            ttl: 64,
            ident: 0x1234,
            dont_fragment: true,
            more_fragments: false,
            frag_offset: 0,
            payload_len,
        };
        let mut buf = vec![0xab; HEADER_LEN + payload_len];
        repr.emit(&mut buf);
        buf
    }

    #[test]
    fn emit_then_parse_round_trips() {
        let buf = packet(10);
        let p = Ipv4Packet::parse(&buf).unwrap();
        assert_eq!(p.src(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!((p.protocol(), p.ttl(), p.ident()), (17, 64, 0x1234));
        assert!(p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.payload().len(), 10);
        // etherparse agrees, checksum included.
        let h = etherparse::Ipv4HeaderSlice::from_slice(&buf).unwrap();
        assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
    }

    #[test]
    fn malformed_headers_map_to_reasons() {
        let good = packet(4);
        assert_eq!(
            Ipv4Packet::parse(&good[..19]).unwrap_err(),
            DropReason::Ipv4TooShort
        );
        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::parse(&b).unwrap_err(),
            DropReason::Ipv4BadVersion
        );
        let mut b = good.clone();
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::parse(&b).unwrap_err(),
            DropReason::Ipv4BadHeaderLength
        );
        let mut b = good.clone();
        b[0] = 0x4f; // 60-byte header in a 24-byte packet
        assert_eq!(
            Ipv4Packet::parse(&b).unwrap_err(),
            DropReason::Ipv4BadHeaderLength
        );
        let mut b = good.clone();
        b[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::parse(&b).unwrap_err(),
            DropReason::Ipv4BadTotalLength
        );
        assert_eq!(
            Ipv4Packet::parse(&good[..22]).unwrap_err(),
            DropReason::Ipv4Truncated
        );
        let mut b = good.clone();
        b[8] ^= 1;
        assert_eq!(
            Ipv4Packet::parse(&b).unwrap_err(),
            DropReason::Ipv4BadChecksum
        );
    }

    #[test]
    fn link_padding_is_trimmed() {
        let mut b = packet(4);
        b.extend_from_slice(&[0; 6]);
        assert_eq!(Ipv4Packet::parse(&b).unwrap().payload().len(), 4);
    }
}
