//! The Internet checksum (RFC 1071). It runs over every byte of every packet twice (emit and
//! verify), so it sums eight bytes at a time: RFC 1071 §2(B) — the one's-complement sum is
//! independent of byte grouping, so 32-bit words can be accumulated in a 64-bit register and
//! folded to 16 bits at the end.

use std::net::{IpAddr, Ipv4Addr};

/// Adds `data` (big-endian 16-bit words, an odd final byte padded with zero) to `acc`.
fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Two 32-bit halves: each addition stays below 2^33, so 2^31 of them cannot overflow.
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    let mut words = chunks.remainder().chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a wide sum to 16 bits and complements it.
fn finish(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The one's-complement checksum of `data` (0 when `data` with its checksum field verifies).
pub fn internet(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// The checksum of a transport segment under the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1).
/// Returns 0 when `segment` (checksum field included) verifies.
pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    // RFC 768: the pseudo-header length is 16 bits; IPv4 payloads never exceed 65515 bytes.
    let len = segment.len() as u16;
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = protocol;
    pseudo[10..].copy_from_slice(&len.to_be_bytes());
    finish(add(add(0, &pseudo), segment))
}

/// The checksum of an upper-layer packet under the IPv6 pseudo-header (RFC 8200 §8.1: source,
/// destination, the upper-layer length as 32 bits, three zero bytes and the Next Header value).
/// Returns 0 when `segment` (checksum field included) verifies.
pub fn pseudo6(
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    next_header: u8,
    segment: &[u8],
) -> u16 {
    let mut pseudo = [0u8; 40];
    pseudo[..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(segment.len() as u32).to_be_bytes());
    pseudo[39] = next_header;
    finish(add(add(0, &pseudo), segment))
}

/// The checksum of a transport segment under the pseudo-header of its addresses' family:
/// IPv4's (RFC 768, RFC 9293 §3.1) or IPv6's (RFC 8200 §8.1). A mixed pair (never built by the
/// stack) is summed as IPv6 with the IPv4 address mapped (RFC 4291 §2.5.5.2).
pub fn transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo(s, d, protocol, segment),
        (s, d) => pseudo6(v6(s), v6(d), protocol, segment),
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
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
    fn agrees_with_etherparse_for_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..3 {
            for end in start..data.len() {
                let d = &data[start..end];
                let want = etherparse::checksum::Sum16BitWords::new()
                    .add_slice(d)
                    .ones_complement()
                    .to_be();
                assert_eq!(internet(d), want, "bytes {start}..{end}");
            }
        }
        let worst = vec![0xffu8; 65535];
        let want = etherparse::checksum::Sum16BitWords::new()
            .add_slice(&worst)
            .ones_complement()
            .to_be();
        assert_eq!(internet(&worst), want);
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
