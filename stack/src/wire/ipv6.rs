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
mod tests;
