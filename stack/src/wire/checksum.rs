//! The Internet checksum (RFC 1071), over etherparse's 16-bit word summer.

use etherparse::checksum::Sum16BitWords;
use std::net::Ipv4Addr;

/// The one's-complement checksum of `data` (0 when `data` with its checksum field verifies).
pub fn internet(data: &[u8]) -> u16 {
    Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
        .to_be()
}

/// The checksum of a transport segment under the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1).
/// Returns 0 when `segment` (checksum field included) verifies.
pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    // RFC 768: the pseudo-header length is 16 bits; IPv4 payloads never exceed 65515 bytes.
    let len = segment.len() as u16;
    Sum16BitWords::new()
        .add_4bytes(src.octets())
        .add_4bytes(dst.octets())
        .add_2bytes([0, protocol])
        .add_2bytes(len.to_be_bytes())
        .add_slice(segment)
        .ones_complement()
        .to_be()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2, checksum is its complement 220d.
        assert_eq!(
            internet(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn verifies_to_zero() {
        let mut data = vec![
            0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = internet(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(internet(&data), 0);
    }
}
