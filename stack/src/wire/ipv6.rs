//! IPv6 (RFC 8200): the fixed header, parsed and emitted, and the walk along the extension
//! header chain to the upper layer.
//!
//! [`Ipv6Packet::parse`] checks what every packet must satisfy (version, length, source) and
//! trims link padding. [`walk`] then follows the Next Header chain with bounds: at most
//! [`MAX_EXT_HEADERS`] extension headers, each inside the packet; Hop-by-Hop only first
//! (RFC 8200 §4.1); options handled by their action bits (§4.2); a Routing header of any type
//! with segments left is refused (type 0 is deprecated, RFC 5095 §3, and ustack routes nothing:
//! every type is "unrecognized" to it, §4.4); a Fragment header (§4.5) ends the walk of a
//! non-first fragment, and a first fragment must hold the whole chain (RFC 7112 §5). Each
//! refusal is a [`DropReason`], with the ICMPv6 Parameter Problem the RFC asks for when it
//! asks for one.

use crate::DropReason;
use std::net::Ipv6Addr;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 40;
/// The smallest link MTU IPv6 allows (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;
/// Extension headers walked at most before the packet is refused: every header RFC 8200 §4.1
/// lists once, Destination Options twice, and one to spare.
pub const MAX_EXT_HEADERS: usize = 8;

/// Next Header values of the extension headers (IANA "IPv6 Extension Header Types").
pub mod next {
    /// Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// No Next Header (RFC 8200 §4.7).
    pub const NONE: u8 = 59;
    /// Destination Options (RFC 8200 §4.6).
    pub const DEST_OPTS: u8 = 60;
}

/// The option type of the Jumbo Payload option (RFC 2675 §2).
const OPT_JUMBO: u8 = 0xc2;

/// The fixed header's fields, for emitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// What follows the fixed header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label, 20 bits (RFC 6437).
    pub flow_label: u32,
    /// Bytes after the fixed header.
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// Writes the fixed header into `buf[..HEADER_LEN]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let first =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        buf[0..4].copy_from_slice(&first.to_be_bytes());
        buf[4..6].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
        buf[6] = self.next_header;
        buf[7] = self.hop_limit;
        buf[8..24].copy_from_slice(&self.src.octets());
        buf[24..40].copy_from_slice(&self.dst.octets());
    }
}

/// A checked IPv6 packet: version 6, whole, link padding trimmed, a source that can send.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Checks `bytes` as one IPv6 packet: [`Ipv6Packet::read`], and a source that can send.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let p = Self::read(bytes)?;
        let src = p.src();
        // RFC 4291 §2.7: multicast is never a source; ::1 never leaves a host (§2.5.3); the
        // unspecified address is only for Duplicate Address Detection, which a TUN has no use
        // for (RFC 4862 §5.4); IPv4-mapped addresses are not on the wire (RFC 4291 §2.5.5.2).
        if src.is_multicast() {
            return Err(DropReason::Ipv6MulticastSource);
        }
        if src.is_unspecified() && !p.may_come_from_unspecified() {
            return Err(DropReason::Ipv6UnspecifiedSource);
        }
        if src.is_loopback() || src.to_ipv4_mapped().is_some() {
            return Err(DropReason::Ipv6MartianSource);
        }
        Ok(p)
    }

    /// What the stack refuses of a packet that [`Ipv6Packet::parse`] let through, given its own
    /// address `me`: hop limit 0 (no router forwards one, RFC 8200 §3: it was crafted — bad
    /// input by issue 17's rule, though RFC 8200 leaves a destination free to take it) and our
    /// own address as the source (spoofed, or our own packet looped back).
    pub fn refused_on_arrival(&self, me: Option<Ipv6Addr>) -> Option<DropReason> {
        if self.hop_limit() == 0 {
            return Some(DropReason::Ipv6HopLimitZero);
        }
        (me == Some(self.src())).then_some(DropReason::Ipv6OwnSource)
    }

    /// Whether this packet may have the unspecified source: a neighbor solicitation of
    /// Duplicate Address Detection (RFC 4862 §5.4.2) or an MLD report (RFC 3590 §4), behind at
    /// most a Hop-by-Hop header (MLD's Router Alert). Anything else from `::` is refused.
    fn may_come_from_unspecified(&self) -> bool {
        let b = self.bytes;
        let icmp_at = match b[6] {
            next::ICMPV6 => HEADER_LEN,
            next::HOP_BY_HOP => match ext_len(b, HEADER_LEN) {
                Some(len) if b[HEADER_LEN] == next::ICMPV6 => HEADER_LEN + len,
                _ => return false,
            },
            _ => return false,
        };
        // 135: neighbor solicitation; 131 and 143: MLDv1 and MLDv2 reports.
        b.get(icmp_at).is_some_and(|t| matches!(t, 135 | 131 | 143))
    }

    /// Reads `bytes` as one IPv6 packet — version 6, whole, padding trimmed — whatever its
    /// addresses (what a capture prints; the stack takes [`Ipv6Packet::parse`]'s).
    pub fn read(bytes: &'a [u8]) -> Result<Self, DropReason> {
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::Ipv6TooShort);
        }
        if bytes[0] >> 4 != 6 {
            return Err(DropReason::Ipv6BadVersion);
        }
        let payload_len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        // RFC 2675 §3: a payload length of 0 with a Hop-by-Hop header means a Jumbo Payload
        // option follows. No TUN carries one; refused by name (checked again in `walk`).
        if payload_len == 0 && bytes[6] == next::HOP_BY_HOP && bytes.len() > HEADER_LEN {
            return Err(DropReason::Ipv6Jumbogram);
        }
        if HEADER_LEN + payload_len > bytes.len() {
            return Err(DropReason::Ipv6Truncated);
        }
        Ok(Ipv6Packet {
            bytes: &bytes[..HEADER_LEN + payload_len],
        })
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(<[u8; 16]>::try_from(&self.bytes[8..24]).unwrap_or_default())
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(<[u8; 16]>::try_from(&self.bytes[24..40]).unwrap_or_default())
    }

    /// What follows the fixed header.
    pub fn next_header(&self) -> u8 {
        self.bytes[6]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes[7]
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((u16::from_be_bytes([self.bytes[0], self.bytes[1]]) >> 4) & 0xff) as u8
    }

    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes([0, self.bytes[1] & 0x0f, self.bytes[2], self.bytes[3]])
    }

    /// The whole packet, padding trimmed.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Everything after the fixed header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

/// A Fragment header's fields (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Where this fragment's data goes, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
    /// Offset of the Fragment header in the packet.
    pub header_at: usize,
}

impl Fragment {
    /// Offset 0 and no more fragments: an atomic fragment, processed as a whole packet in
    /// isolation from any reassembly (RFC 6946 §4, RFC 8021).
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Where the chain led.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// An upper-layer header (TCP, UDP, ICMPv6, or a protocol the stack may not know).
    Upper {
        /// Its protocol number.
        protocol: u8,
        /// Where it starts in the packet.
        at: usize,
        /// Where the Next Header byte that named it is (a Parameter Problem's pointer).
        named_at: usize,
        /// The Fragment header on the way, if any (a first or an atomic fragment).
        fragment: Option<Fragment>,
    },
    /// A fragment after the first: its data follows the Fragment header.
    LaterFragment {
        /// Its Fragment header.
        fragment: Fragment,
        /// Where its data starts.
        at: usize,
    },
    /// No Next Header (59): nothing to deliver.
    Nothing,
}

/// Why the walk refused the packet, and the ICMPv6 Parameter Problem it is owed (RFC 4443
/// §3.4), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The counted reason.
    pub reason: DropReason,
    /// `(code, pointer)` of the Parameter Problem to send back.
    pub problem: Option<(u8, u32)>,
    /// Whether the problem is sent even to a multicast destination (option action `10`,
    /// RFC 8200 §4.2; RFC 4443 §2.4 (e.3)).
    pub even_multicast: bool,
}

impl Refusal {
    fn drop(reason: DropReason) -> Refusal {
        Refusal {
            reason,
            problem: None,
            even_multicast: false,
        }
    }

    fn problem(reason: DropReason, code: u8, pointer: usize) -> Refusal {
        Refusal {
            reason,
            problem: Some((code, pointer as u32)),
            even_multicast: false,
        }
    }
}

/// Parameter Problem codes (RFC 4443 §3.4, RFC 7112 §6).
pub mod problem {
    /// Erroneous header field.
    pub const FIELD: u8 = 0;
    /// Unrecognized Next Header type.
    pub const NEXT_HEADER: u8 = 1;
    /// Unrecognized IPv6 option.
    pub const OPTION: u8 = 2;
    /// IPv6 first fragment has incomplete header chain.
    pub const INCOMPLETE_CHAIN: u8 = 3;
}

/// Follows `p`'s extension headers to the upper layer.
pub fn walk(p: &Ipv6Packet<'_>) -> Result<Walk, Refusal> {
    let b = p.bytes();
    let (mut nh, mut named_at, mut at) = (p.next_header(), 6usize, HEADER_LEN);
    let mut fragment: Option<Fragment> = None;
    for count in 0..=MAX_EXT_HEADERS {
        // A header past the end: in a first fragment, RFC 7112 §5's incomplete chain (its
        // Parameter Problem points at 0, §6); otherwise a truncated packet.
        let incomplete = || match fragment {
            Some(_) => Refusal::problem(
                DropReason::Ipv6IncompleteChain,
                problem::INCOMPLETE_CHAIN,
                0,
            ),
            None => Refusal::drop(DropReason::Ipv6ExtTruncated),
        };
        match nh {
            next::HOP_BY_HOP | next::DEST_OPTS | next::ROUTING | next::FRAGMENT
                if count == MAX_EXT_HEADERS =>
            {
                return Err(Refusal::drop(DropReason::Ipv6ExtChainTooLong));
            }
            next::HOP_BY_HOP if named_at != 6 => {
                // RFC 8200 §4.3: only right after the fixed header; elsewhere it is an
                // unrecognized Next Header value (§4, the note on Next Header 0).
                return Err(Refusal::problem(
                    DropReason::Ipv6HopByHopNotFirst,
                    problem::NEXT_HEADER,
                    named_at,
                ));
            }
            next::HOP_BY_HOP | next::DEST_OPTS => {
                let len = ext_len(b, at).ok_or_else(incomplete)?;
                options(p, at, len, nh == next::HOP_BY_HOP)?;
                (nh, named_at, at) = (b[at], at, at + len);
            }
            next::ROUTING => {
                let len = ext_len(b, at).ok_or_else(incomplete)?;
                if len < 4 || b[at + 3] != 0 {
                    // RFC 8200 §4.4: an unrecognized Routing Type with Segments Left non-zero
                    // is refused, pointing at the type; RFC 5095 §3 makes type 0 one of them.
                    return Err(Refusal::problem(
                        DropReason::Ipv6RoutingHeader,
                        problem::FIELD,
                        at + 2,
                    ));
                }
                (nh, named_at, at) = (b[at], at, at + len);
            }
            next::FRAGMENT => {
                let h = b.get(at..at + 8).ok_or_else(incomplete)?;
                let word = u16::from_be_bytes([h[2], h[3]]);
                let f = Fragment {
                    offset: usize::from(word & 0xfff8),
                    more: word & 1 != 0,
                    ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    header_at: at,
                };
                // RFC 8200 §4.1: one Fragment header per packet (a fragment of a fragment is
                // nothing a source makes: it fragments only the unfragmented original).
                if fragment.is_some() {
                    return Err(Refusal::drop(DropReason::Ipv6FragmentTwice));
                }
                // RFC 8200 §4.5: a fragment with M set carries a multiple of 8 bytes.
                if f.more && !(b.len() - (at + 8)).is_multiple_of(8) {
                    return Err(Refusal::problem(
                        DropReason::Ipv6FragmentLength,
                        problem::FIELD,
                        4,
                    ));
                }
                if f.offset != 0 {
                    return Ok(Walk::LaterFragment {
                        fragment: f,
                        at: at + 8,
                    });
                }
                fragment = Some(f);
                (nh, named_at, at) = (h[0], at, at + 8);
            }
            next::NONE => return Ok(Walk::Nothing),
            protocol => {
                // RFC 7112 §5 / RFC 8200 §4.5: a first fragment holds the whole chain, the
                // upper-layer header included — not only the byte that names it.
                if fragment.is_some_and(|f| f.more)
                    && at + upper_header_len(b, protocol, at) > b.len()
                {
                    return Err(incomplete());
                }
                return Ok(Walk::Upper {
                    protocol,
                    at,
                    named_at,
                    fragment,
                });
            }
        }
    }
    Err(Refusal::drop(DropReason::Ipv6ExtChainTooLong))
}

/// Whether `p` is an ICMPv6 error message (RFC 4443 §2.4 (e.1): never the subject of another),
/// also behind extension headers and also when [`walk`] refused the chain: the headers are
/// followed by their lengths alone (at most [`MAX_EXT_HEADERS`], a first fragment's only), as
/// Linux's `icmpv6_send` skips them before it looks at the type.
pub fn is_icmpv6_error(p: &Ipv6Packet<'_>) -> bool {
    let b = p.bytes();
    let (mut nh, mut at) = (p.next_header(), HEADER_LEN);
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match nh {
            next::HOP_BY_HOP | next::DEST_OPTS | next::ROUTING => ext_len(b, at),
            next::FRAGMENT => b
                .get(at + 2..at + 4)
                .filter(|w| u16::from_be_bytes([w[0], w[1]]) & 0xfff8 == 0)
                .map(|_| 8),
            next::ICMPV6 => return b.get(at).is_some_and(|&t| crate::wire::icmpv6::is_error(t)),
            _ => return false,
        };
        let Some(len) = len else { return false };
        (nh, at) = (b[at], at + len);
    }
    false
}

/// How many bytes of the upper-layer header of `protocol` at `at` a first fragment must hold
/// (RFC 7112 §5): TCP's whole header, options included (its Data Offset, at least 20 bytes),
/// UDP's 8, ICMPv6's 8 (type, code, checksum and the first word, which names an echo or
/// quotes an MTU); nothing of a protocol whose header the stack does not know (as Linux).
fn upper_header_len(b: &[u8], protocol: u8, at: usize) -> usize {
    match protocol {
        crate::wire::proto::TCP => b
            .get(at + 12)
            .map_or(20, |o| usize::from(o >> 4) * 4)
            .max(20),
        crate::wire::proto::UDP | next::ICMPV6 => 8,
        _ => 0,
    }
}

/// The length in bytes of the Hop-by-Hop, Destination Options or Routing header at `at`
/// (`(Hdr Ext Len + 1) × 8`), if all of it is in the packet.
fn ext_len(b: &[u8], at: usize) -> Option<usize> {
    let len = (usize::from(*b.get(at + 1)?) + 1) * 8;
    (at + len <= b.len()).then_some(len)
}

/// Processes the options of the Hop-by-Hop or Destination Options header at `at` (`len`
/// bytes): padding skipped, a Jumbo Payload refused (RFC 2675), every other option treated as
/// unrecognized by its action bits (RFC 8200 §4.2).
fn options(p: &Ipv6Packet<'_>, at: usize, len: usize, hop_by_hop: bool) -> Result<(), Refusal> {
    let b = p.bytes();
    let mut i = at + 2;
    while i < at + len {
        let kind = b[i];
        if kind == 0 {
            i += 1; // Pad1
            continue;
        }
        let Some(&olen) = b.get(i + 1).filter(|_| i + 1 < at + len) else {
            return Err(Refusal::problem(
                DropReason::Ipv6BadOption,
                problem::FIELD,
                i,
            ));
        };
        let end = i + 2 + usize::from(olen);
        if end > at + len {
            return Err(Refusal::problem(
                DropReason::Ipv6BadOption,
                problem::FIELD,
                i + 1,
            ));
        }
        match kind {
            1 => {} // PadN
            OPT_JUMBO if hop_by_hop => return Err(Refusal::drop(DropReason::Ipv6Jumbogram)),
            _ => match kind >> 6 {
                0 => {}
                1 => return Err(Refusal::drop(DropReason::Ipv6UnknownOption)),
                action => {
                    let mut r = Refusal::problem(DropReason::Ipv6UnknownOption, problem::OPTION, i);
                    r.even_multicast = action == 2;
                    return Err(r);
                }
            },
        }
        i = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    /// A packet whose payload is `chain` (extension headers and an upper layer), first named
    /// by `next_header`.
    fn packet(next_header: u8, chain: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + chain.len()];
        Ipv6Repr {
            src: A,
            dst: B,
            next_header,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x1_2345,
            payload_len: chain.len(),
        }
        .emit(&mut b);
        b[HEADER_LEN..].copy_from_slice(chain);
        b
    }

    fn walked(next_header: u8, chain: &[u8]) -> Result<Walk, Refusal> {
        let b = packet(next_header, chain);
        walk(&Ipv6Packet::parse(&b).unwrap())
    }

    #[test]
    fn the_fixed_header_round_trips_and_padding_is_trimmed() {
        let mut b = packet(next::ICMPV6, &[128, 0, 0, 0, 0, 1, 0, 1]);
        b.extend_from_slice(&[0; 6]);
        let p = Ipv6Packet::parse(&b).unwrap();
        assert_eq!(
            (p.src(), p.dst(), p.next_header(), p.hop_limit()),
            (A, B, 58, 64)
        );
        assert_eq!((p.traffic_class(), p.flow_label()), (0xb8, 0x1_2345));
        assert_eq!(p.payload().len(), 8);
        assert_eq!(
            walk(&p),
            Ok(Walk::Upper {
                protocol: 58,
                at: 40,
                named_at: 6,
                fragment: None
            })
        );
    }

    #[test]
    fn bad_fixed_headers_are_counted_by_name() {
        let good = packet(next::NONE, &[]);
        assert_eq!(
            Ipv6Packet::parse(&good[..39]).unwrap_err(),
            DropReason::Ipv6TooShort
        );
        let mut b = good.clone();
        b[0] = 0x45;
        assert_eq!(
            Ipv6Packet::parse(&b).unwrap_err(),
            DropReason::Ipv6BadVersion
        );
        let mut b = packet(next::NONE, &[0; 8]);
        b.truncate(44);
        assert_eq!(
            Ipv6Packet::parse(&b).unwrap_err(),
            DropReason::Ipv6Truncated
        );
        for (src, why) in [
            ("ff02::1", DropReason::Ipv6MulticastSource),
            ("::1", DropReason::Ipv6MartianSource),
            ("::", DropReason::Ipv6UnspecifiedSource),
            ("::ffff:198.18.0.1", DropReason::Ipv6MartianSource),
        ] {
            let mut b = good.clone();
            b[8..24].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
            assert_eq!(Ipv6Packet::parse(&b).unwrap_err(), why, "{src}");
        }
        // A jumbogram: payload length 0 and a Hop-by-Hop header with the option.
        let mut j = packet(next::HOP_BY_HOP, &[59, 0, 0xc2, 4, 0, 1, 0, 0]);
        j[4..6].fill(0);
        assert_eq!(
            Ipv6Packet::parse(&j).unwrap_err(),
            DropReason::Ipv6Jumbogram
        );
    }

    #[test]
    fn the_unspecified_source_only_for_dad_and_mld_and_arrival_refusals() {
        let from_unspecified = |next_header: u8, chain: &[u8]| {
            let mut b = packet(next_header, chain);
            b[8..24].fill(0);
            Ipv6Packet::parse(&b).map(|_| ())
        };
        // A neighbor solicitation (DAD, RFC 4862 §5.4.2), MLDv2 and MLDv1 reports behind a
        // Router Alert (RFC 3590 §4): let through.
        assert_eq!(from_unspecified(next::ICMPV6, &[135, 0, 0, 0]), Ok(()));
        for mld in [143, 131] {
            let chain = [58, 0, 5, 2, 0, 0, 1, 0, mld, 0, 0, 0];
            assert_eq!(from_unspecified(next::HOP_BY_HOP, &chain), Ok(()));
        }
        // An echo request, a router solicitation, UDP: refused.
        for (nh, chain) in [
            (next::ICMPV6, &[128u8, 0, 0, 0][..]),
            (next::ICMPV6, &[133, 0, 0, 0]),
            (17, &[0; 8]),
            (next::HOP_BY_HOP, &[58, 0, 5, 2, 0, 0, 1, 0, 128, 0, 0, 0]),
        ] {
            assert_eq!(
                from_unspecified(nh, chain),
                Err(DropReason::Ipv6UnspecifiedSource)
            );
        }
        // Hop limit 0 and our own address as source: refused on arrival, by name.
        let mut b = packet(next::NONE, &[]);
        assert_eq!(
            Ipv6Packet::parse(&b).unwrap().refused_on_arrival(Some(B)),
            None
        );
        assert_eq!(
            Ipv6Packet::parse(&b).unwrap().refused_on_arrival(Some(A)),
            Some(DropReason::Ipv6OwnSource)
        );
        b[7] = 0;
        assert_eq!(
            Ipv6Packet::parse(&b).unwrap().refused_on_arrival(None),
            Some(DropReason::Ipv6HopLimitZero)
        );
    }

    #[test]
    fn options_follow_their_action_bits() {
        // Pad1, PadN: fine; then UDP.
        let ok = [17, 0, 0, 1, 2, 0, 0, 0];
        assert!(matches!(
            walked(next::HOP_BY_HOP, &ok),
            Ok(Walk::Upper {
                protocol: 17,
                at: 48,
                named_at: 40,
                ..
            })
        ));
        for (kind, want) in [
            (0x1e, None),                                               // 00: skipped
            (0x5e, Some((DropReason::Ipv6UnknownOption, None, false))), // 01: silent
            (
                0x9e,
                Some((DropReason::Ipv6UnknownOption, Some((2, 42)), true)),
            ), // 10
            (
                0xde,
                Some((DropReason::Ipv6UnknownOption, Some((2, 42)), false)),
            ), // 11
        ] {
            let chain = [17, 0, kind, 2, 0, 0, 1, 0];
            let got = walked(next::DEST_OPTS, &chain);
            match want {
                None => assert!(
                    matches!(got, Ok(Walk::Upper { protocol: 17, .. })),
                    "{kind:x}"
                ),
                Some((reason, problem, even)) => assert_eq!(
                    got,
                    Err(Refusal {
                        reason,
                        problem,
                        even_multicast: even
                    }),
                    "{kind:x}"
                ),
            }
        }
        // An option running past its header.
        let over = [17, 0, 1, 9, 0, 0, 0, 0];
        assert_eq!(
            walked(next::DEST_OPTS, &over).unwrap_err().reason,
            DropReason::Ipv6BadOption
        );
    }

    #[test]
    fn hop_by_hop_only_first_and_routing_with_segments_left_refused() {
        // Destination Options, then Hop-by-Hop: code 1 pointing at the Next Header byte (40).
        let chain = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        let r = walked(next::DEST_OPTS, &chain).unwrap_err();
        assert_eq!(
            (r.reason, r.problem),
            (DropReason::Ipv6HopByHopNotFirst, Some((1, 40)))
        );
        // Routing type 0 with segments left 1: code 0 pointing at the type (42).
        let rh0 = [
            17, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let r = walked(next::ROUTING, &rh0).unwrap_err();
        assert_eq!(
            (r.reason, r.problem),
            (DropReason::Ipv6RoutingHeader, Some((0, 42)))
        );
        // Segments left 0: ignored, on to UDP.
        let mut done = rh0;
        done[3] = 0;
        assert!(matches!(
            walked(next::ROUTING, &done),
            Ok(Walk::Upper {
                protocol: 17,
                at: 64,
                ..
            })
        ));
        // Nine Destination Options headers: too long a chain.
        let mut long = Vec::new();
        for _ in 0..9 {
            long.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(
            walked(next::DEST_OPTS, &long).unwrap_err().reason,
            DropReason::Ipv6ExtChainTooLong
        );
        // A header running past the packet.
        assert_eq!(
            walked(next::DEST_OPTS, &[17, 1, 1, 4, 0, 0, 0, 0])
                .unwrap_err()
                .reason,
            DropReason::Ipv6ExtTruncated
        );
    }

    #[test]
    fn fragments_first_later_atomic_and_incomplete() {
        let frag = |off: u16, more: bool, next: u8| {
            let w = (off & 0xfff8) | u16::from(more);
            let mut h = vec![next, 0];
            h.extend_from_slice(&w.to_be_bytes());
            h.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            h
        };
        // First fragment: on to the upper layer, the fragment noted.
        let mut first = frag(0, true, 17);
        first.extend_from_slice(&[0; 16]);
        let Ok(Walk::Upper {
            protocol: 17,
            at: 48,
            fragment: Some(f),
            ..
        }) = walked(next::FRAGMENT, &first)
        else {
            panic!()
        };
        assert_eq!(
            (f.offset, f.more, f.ident, f.is_atomic()),
            (0, true, 0xdead_beef, false)
        );
        // Atomic: processed whole.
        let mut atomic = frag(0, false, 58);
        atomic.extend_from_slice(&[128, 0, 0, 0, 0, 0, 0, 0]);
        assert!(
            matches!(walked(next::FRAGMENT, &atomic), Ok(Walk::Upper { fragment: Some(f), .. }) if f.is_atomic())
        );
        // A later fragment: its data, unwalked.
        let mut later = frag(1232, false, 17);
        later.extend_from_slice(&[0; 5]);
        assert!(
            matches!(walked(next::FRAGMENT, &later), Ok(Walk::LaterFragment { at: 48, fragment }) if fragment.offset == 1232)
        );
        // M set and a length not a multiple of 8: code 0 at the payload length.
        let mut odd = frag(0, true, 17);
        odd.extend_from_slice(&[0; 5]);
        let r = walked(next::FRAGMENT, &odd).unwrap_err();
        assert_eq!(
            (r.reason, r.problem),
            (DropReason::Ipv6FragmentLength, Some((0, 4)))
        );
        // A second Fragment header, even a non-first one's.
        let mut twice = frag(0, false, 44);
        twice.extend_from_slice(&frag(8, false, 17));
        twice.extend_from_slice(&[0; 8]);
        assert_eq!(
            walked(next::FRAGMENT, &twice).unwrap_err(),
            Refusal::drop(DropReason::Ipv6FragmentTwice)
        );
        // A first fragment cut before or inside its upper-layer header (RFC 7112 §5): none of
        // UDP's 8 bytes; TCP's 24 bytes of a 32-byte header (Data Offset 8). The same bytes in
        // an atomic fragment, a whole packet, are the upper layer's business.
        let mut tcp = [0u8; 24];
        tcp[12] = 8 << 4;
        for (proto, upper) in [(17, &[][..]), (6, &tcp[..])] {
            for more in [true, false] {
                let mut f = frag(0, more, proto);
                f.extend_from_slice(upper);
                let got = walked(next::FRAGMENT, &f);
                if more {
                    assert_eq!(
                        got.unwrap_err().problem,
                        Some((problem::INCOMPLETE_CHAIN, 0)),
                        "{proto}"
                    );
                } else {
                    assert!(matches!(got, Ok(Walk::Upper { .. })), "{proto}");
                }
            }
        }
        // A first fragment whose Destination Options header goes past it (RFC 7112).
        let mut cut = frag(0, true, 60);
        cut.extend_from_slice(&[17, 2, 0, 0, 0, 0, 0, 0]);
        let r = walked(next::FRAGMENT, &cut).unwrap_err();
        assert_eq!(
            (r.reason, r.problem),
            (DropReason::Ipv6IncompleteChain, Some((3, 0)))
        );
    }

    #[test]
    fn icmpv6_errors_are_recognized_behind_extension_headers() {
        let error = [4u8, 0, 0, 0, 0, 0, 0, 6];
        assert!(is_icmpv6_error(
            &Ipv6Packet::parse(&packet(58, &error)).unwrap()
        ));
        // Behind a Destination Options header with an option of action 11, which `walk` refuses.
        let mut chain = vec![58, 0, 0xde, 2, 0, 0, 1, 0];
        chain.extend_from_slice(&error);
        let b = packet(next::DEST_OPTS, &chain);
        let p = Ipv6Packet::parse(&b).unwrap();
        assert!(walk(&p).is_err() && is_icmpv6_error(&p));
        // An echo request is no error; neither is a later fragment's data.
        chain[8] = 128;
        assert!(!is_icmpv6_error(
            &Ipv6Packet::parse(&packet(next::DEST_OPTS, &chain)).unwrap()
        ));
        let later = [58, 0, 0, 8, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0];
        assert!(!is_icmpv6_error(
            &Ipv6Packet::parse(&packet(next::FRAGMENT, &later)).unwrap()
        ));
    }

    #[test]
    fn any_bytes_walk_without_panicking() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 120) as usize;
            let mut chain: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            if let Some(first) = chain.first_mut() {
                *first = [0, 43, 44, 60, 17, 59][(seed % 6) as usize];
            }
            let nh = [0, 43, 44, 60][(seed >> 3) as usize % 4];
            let b = packet(nh, &chain);
            if let Ok(p) = Ipv6Packet::parse(&b) {
                if let Ok(Walk::Upper { at, .. } | Walk::LaterFragment { at, .. }) = walk(&p) {
                    assert!(at <= b.len());
                }
                let _ = is_icmpv6_error(&p);
            }
        }
    }
}
