//! UDP (RFC 768): checked parse under the pseudo-header checksum, and emit.

use super::{checksum, proto};
use crate::stats::DropReason;
use std::net::IpAddr;

/// UDP header length.
pub const HEADER_LEN: usize = 8;

/// Fields of a UDP header read in place (for displays such as tcpdump -v's checksum note).
pub mod raw {
    /// The checksum field (0: the sender computed none); 0 on a slice too short for it.
    pub fn checksum(d: &[u8]) -> u16 {
        d.get(6..8).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// A validated UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload, trimmed to the UDP length field.
    pub payload: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    /// Validates `bytes` (the IP payload) as a UDP datagram from `src` to `dst`.
    ///
    /// Over IPv6 the checksum is mandatory (RFC 8200 §8.1): a zero field is refused
    /// ([`DropReason::UdpNoChecksum6`]).
    pub fn parse(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        bytes: &'a [u8],
    ) -> Result<Self, DropReason> {
        let (src, dst) = (src.into(), dst.into());
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::UdpTooShort);
        }
        // RFC 768: the length field counts header and data. More than the IP payload is a lie;
        // less is accepted and the rest ignored (RFC 1122 §4.1.3.4 is silent; Linux trims).
        let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if len < HEADER_LEN || len > bytes.len() {
            return Err(DropReason::UdpBadLength);
        }
        let bytes = &bytes[..len];
        // RFC 768 / RFC 1122 §4.1.3.4: an all-zero checksum field means the sender computed none.
        let field = raw::checksum(bytes);
        if field == 0 && src.is_ipv6() {
            return Err(DropReason::UdpNoChecksum6);
        }
        if field != 0 && checksum::transport(src, dst, proto::UDP, bytes) != 0 {
            return Err(DropReason::UdpBadChecksum);
        }
        Ok(UdpPacket {
            src_port: u16::from_be_bytes([bytes[0], bytes[1]]),
            dst_port: u16::from_be_bytes([bytes[2], bytes[3]]),
            payload: &bytes[HEADER_LEN..],
        })
    }
}

/// Writes a UDP datagram with its checksum into `buf[..8 + payload.len()]`; returns the length.
/// A computed checksum of zero is sent as 0xFFFF (RFC 768: zero means "no checksum").
pub fn emit(
    buf: &mut [u8],
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> usize {
    let len = HEADER_LEN + payload.len();
    let d = &mut buf[..len];
    d[0..2].copy_from_slice(&src_port.to_be_bytes());
    d[2..4].copy_from_slice(&dst_port.to_be_bytes());
    d[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    d[6..8].copy_from_slice(&[0, 0]);
    d[8..].copy_from_slice(payload);
    let mut c = checksum::transport(src.into(), dst.into(), proto::UDP, d);
    if c == 0 {
        c = 0xffff;
    }
    d[6..8].copy_from_slice(&c.to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn round_trip_and_etherparse_agrees() {
        let mut buf = [0u8; 32];
        let n = emit(&mut buf, A, B, 1234, 7, b"ping");
        let p = UdpPacket::parse(A, B, &buf[..n]).unwrap();
        assert_eq!((p.src_port, p.dst_port, p.payload), (1234, 7, &b"ping"[..]));
        let (h, _) = etherparse::UdpHeader::from_slice(&buf[..n]).unwrap();
        let expect = h
            .calc_checksum_ipv4_raw(A.octets(), B.octets(), b"ping")
            .unwrap();
        assert_eq!(h.checksum, expect);
    }

    #[test]
    fn zero_checksum_is_accepted_and_computed_zero_is_sent_as_ffff() {
        let mut buf = [0u8; 32];
        let n = emit(&mut buf, A, B, 1, 2, b"xy");
        buf[6] = 0;
        buf[7] = 0;
        assert!(UdpPacket::parse(A, B, &buf[..n]).is_ok());
        // Find a payload whose checksum computes to zero: adjust two bytes so the sum is 0xffff.
        let mut payload = [0u8; 2];
        let n = emit(&mut buf, A, B, 1, 2, &payload);
        let c = u16::from_be_bytes([buf[6], buf[7]]);
        // Adding (c) into the payload word turns the complemented sum into 0.
        payload.copy_from_slice(&c.to_be_bytes());
        let n2 = emit(&mut buf, A, B, 1, 2, &payload);
        assert_eq!(n, n2);
        assert_eq!(&buf[6..8], &[0xff, 0xff]);
        assert!(UdpPacket::parse(A, B, &buf[..n2]).is_ok());
    }

    #[test]
    fn bad_input() {
        let mut buf = [0u8; 32];
        assert_eq!(
            UdpPacket::parse(A, B, &buf[..7]).unwrap_err(),
            DropReason::UdpTooShort
        );
        let n = emit(&mut buf, A, B, 1, 2, b"abcd");
        let mut b = buf;
        b[5] = 40;
        assert_eq!(
            UdpPacket::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::UdpBadLength
        );
        b[5] = 4;
        assert_eq!(
            UdpPacket::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::UdpBadLength
        );
        let mut b = buf;
        b[9] ^= 1;
        assert_eq!(
            UdpPacket::parse(A, B, &b[..n]).unwrap_err(),
            DropReason::UdpBadChecksum
        );
    }
}
