//! Cutting built packets into fragments: IPv4 (RFC 791 §3.2, "An Example Fragmentation
//! Procedure") and IPv6 with a Fragment header (RFC 8200 §4.5), each also with overlapping
//! fragments for teardrop-style study of reassemblers (RFC 5722 makes IPv6 receivers drop them;
//! ustack drops overlapping IPv4 fragments too).

use super::ip::MAX_FRAG_OFFSET;
use super::BuildError;
use crate::wire::checksum;
use crate::wire::ipv4::{self, HEADER_LEN};
use crate::wire::ipv6::{self, next, MAX_EXT_HEADERS};

/// The byte ranges of the fragments of `len` bytes of data: `size` bytes each (rounded down to
/// a multiple of 8), every fragment after the first starting `overlap` bytes early.
fn pieces(len: usize, size: usize, overlap: usize) -> Result<Vec<(usize, usize)>, BuildError> {
    let size = size / 8 * 8;
    if size == 0 {
        return Err(BuildError::new(
            "frag_size",
            "less than the 8 bytes of data every fragment but the last carries",
        ));
    }
    // Offsets count 8-byte units, so a fragment can only start on one.
    if !overlap.is_multiple_of(8) || overlap >= size {
        return Err(BuildError::new(
            "overlap",
            format!("{overlap} is not a multiple of 8 below the fragment size {size}"),
        ));
    }
    let mut out = Vec::with_capacity(len / size + 1);
    let mut start = 0;
    loop {
        let end = (start + size).min(len);
        out.push((start.saturating_sub(overlap), end));
        if end >= len {
            return Ok(out);
        }
        start = end;
    }
}

/// The options a later fragment carries: those whose copied flag is set (RFC 791 §3.1,
/// "Options"), padded with End of Option List to a multiple of 4.
fn copied_options(area: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = area;
    while let Some((&kind, after)) = rest.split_first() {
        match kind {
            0 => break,
            1 => rest = after,
            _ => {
                let len = after.first().map_or(0, |&l| usize::from(l));
                // A length that cannot be right leaves no way to find the next option.
                if len < 2 || len > rest.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&rest[..len]);
                }
                rest = &rest[len..];
            }
        }
    }
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

fn bad_packet(reason: &str) -> BuildError {
    BuildError::new("packet", reason)
}

/// Cuts the IPv4 packet `packet` into fragments of `frag_size` bytes of data (rounded down to
/// a multiple of 8): MF on all but the last (which keeps the packet's own MF), offsets added to
/// the packet's own, Total Length and the checksum recomputed; later fragments carry only the
/// options marked copied. A packet whose data fits in one fragment is returned as it is.
///
/// ```
/// use ustack::wire::build::{fragment_v4, Ipv4, Udp};
///
/// let p = (Ipv4::new().dst([198, 18, 0, 2]) / Udp::new() / vec![7u8; 100]).build().unwrap();
/// let frags = fragment_v4(&p, 64).unwrap();
/// assert_eq!(frags.len(), 2); // 108 bytes of UDP: 64 + 44
/// ```
pub fn fragment_v4(packet: &[u8], frag_size: usize) -> Result<Vec<Vec<u8>>, BuildError> {
    fragment_v4_overlapping(packet, frag_size, 0)
}

/// [`fragment_v4`] with every fragment after the first starting `overlap` bytes (a multiple of
/// 8 below the fragment size) before the previous one ends, carrying the packet's own bytes
/// there: a reassembler that takes either copy rebuilds the packet; RFC-minded ones drop it.
pub fn fragment_v4_overlapping(
    packet: &[u8],
    frag_size: usize,
    overlap: usize,
) -> Result<Vec<Vec<u8>>, BuildError> {
    if packet.len() < HEADER_LEN || packet[0] >> 4 != 4 {
        return Err(bad_packet("not an IPv4 packet"));
    }
    let header_len = ipv4::raw::header_len(packet);
    let total = usize::from(ipv4::raw::total_len(packet)).min(packet.len());
    if header_len < HEADER_LEN || header_len > total {
        return Err(bad_packet("IHL and Total Length do not frame a header"));
    }
    let (header, data) = (&packet[..header_len], &packet[header_len..total]);
    let ranges = pieces(data.len(), frag_size, overlap)?;
    if ranges.len() == 1 {
        return Ok(vec![packet[..total].to_vec()]);
    }
    let base = ipv4::raw::frag_offset(packet);
    let last_mf = ipv4::raw::more_fragments(packet);
    let later_options = copied_options(&header[HEADER_LEN..]);
    let count = ranges.len();
    let mut out = Vec::with_capacity(count);
    for (i, (start, end)) in ranges.into_iter().enumerate() {
        let offset = base + start;
        if offset > MAX_FRAG_OFFSET {
            return Err(BuildError::new(
                "ip.frag_offset",
                format!("fragment offset {offset} exceeds {MAX_FRAG_OFFSET}"),
            ));
        }
        let mut f = header[..HEADER_LEN].to_vec();
        f.extend_from_slice(if i == 0 {
            &header[HEADER_LEN..]
        } else {
            &later_options
        });
        let hl = f.len();
        f.extend_from_slice(&data[start..end]);
        f[0] = 0x40 | (hl / 4) as u8;
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        // RFC 791 §3.1: flags (reserved and DF kept) and the offset in 8-byte units.
        let mf = if i + 1 < count { true } else { last_mf };
        let word = (u16::from(f[6]) << 8 & 0xc000) | u16::from(mf) << 13 | (offset / 8) as u16;
        f[6..8].copy_from_slice(&word.to_be_bytes());
        f[10..12].fill(0);
        let sum = checksum::internet(&f[..hl]);
        f[10..12].copy_from_slice(&sum.to_be_bytes());
        out.push(f);
    }
    Ok(out)
}

/// Cuts the IPv6 packet `packet` into fragments with a Fragment header of identification
/// `ident` (RFC 8200 §4.5): the per-fragment part (the fixed header and the extension headers
/// up to the Routing header, else the Hop-by-Hop header) is repeated; the rest is cut into
/// `frag_size` bytes of data (rounded down to a multiple of 8). A packet whose rest fits in one
/// fragment becomes an atomic fragment (RFC 6946).
///
/// ```
/// use ustack::wire::build::{fragment_v6, Icmpv6, Ipv6};
///
/// let p = (Ipv6::new().dst([0x2001, 2, 0, 0, 0, 0, 0, 2]) / Icmpv6::new() / vec![0u8; 1500])
///     .build()
///     .unwrap();
/// let frags = fragment_v6(&p, 1232, 7).unwrap();
/// assert_eq!(frags.len(), 2);
/// assert!(frags.iter().all(|f| f.len() <= 1280));
/// ```
pub fn fragment_v6(
    packet: &[u8],
    frag_size: usize,
    ident: u32,
) -> Result<Vec<Vec<u8>>, BuildError> {
    fragment_v6_overlapping(packet, frag_size, ident, 0)
}

/// [`fragment_v6`] with every fragment after the first starting `overlap` bytes (a multiple of
/// 8 below the fragment size) early, as [`fragment_v4_overlapping`] does.
pub fn fragment_v6_overlapping(
    packet: &[u8],
    frag_size: usize,
    ident: u32,
    overlap: usize,
) -> Result<Vec<Vec<u8>>, BuildError> {
    use ipv6::HEADER_LEN;
    if packet.len() < HEADER_LEN || packet[0] >> 4 != 6 {
        return Err(bad_packet("not an IPv6 packet"));
    }
    let declared = HEADER_LEN + usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let p = &packet[..declared.min(packet.len())];
    let (split, named_at) = per_fragment_part(p)?;
    let (unfrag, data) = (&p[..split], &p[split..]);
    let mut out = Vec::new();
    for (start, end) in pieces(data.len(), frag_size, overlap)? {
        if start > MAX_FRAG_OFFSET {
            return Err(BuildError::new(
                "frag.offset",
                format!("fragment offset {start} exceeds {MAX_FRAG_OFFSET}"),
            ));
        }
        let more = end < data.len();
        let payload_len = split - HEADER_LEN + 8 + (end - start);
        let payload_len = u16::try_from(payload_len).map_err(|_| {
            BuildError::new(
                "ipv6.payload_len",
                format!("fragment payload of {payload_len} bytes exceeds 65535"),
            )
        })?;
        let mut f = unfrag.to_vec();
        f[4..6].copy_from_slice(&payload_len.to_be_bytes());
        f[named_at] = next::FRAGMENT;
        // RFC 8200 §4.5: Next Header of the first fragmentable header, reserved, offset in
        // 8-byte units with M, Identification.
        f.extend_from_slice(&[p[named_at], 0]);
        f.extend_from_slice(&(start as u16 | u16::from(more)).to_be_bytes());
        f.extend_from_slice(&ident.to_be_bytes());
        f.extend_from_slice(&data[start..end]);
        out.push(f);
    }
    Ok(out)
}

/// Where the per-fragment part of IPv6 packet `p` ends, and where the Next Header byte that
/// names what follows it is (RFC 8200 §4.5: the headers up to and including the Routing
/// header, else the Hop-by-Hop Options header).
fn per_fragment_part(p: &[u8]) -> Result<(usize, usize), BuildError> {
    let (mut nh, mut at) = (p[6], ipv6::HEADER_LEN);
    let mut split = (at, 6);
    for _ in 0..MAX_EXT_HEADERS {
        if !matches!(nh, next::HOP_BY_HOP | next::DEST_OPTS | next::ROUTING) {
            break;
        }
        let len = match p.get(at + 1) {
            Some(&l) if at + (usize::from(l) + 1) * 8 <= p.len() => (usize::from(l) + 1) * 8,
            _ => return Err(bad_packet("an extension header runs past the packet")),
        };
        if nh != next::DEST_OPTS {
            split = (at + len, at);
        }
        (nh, at) = (p[at], at + len);
    }
    Ok(split)
}
