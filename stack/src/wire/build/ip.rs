//! The IPv4 header (RFC 791 §3.1) and the IPv6 fixed header (RFC 8200 §3).

use super::{v4_or_unspecified, v6_or_unspecified, BuildError, Ctx};
use crate::wire::checksum;
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN, MAX_DATAGRAM};
use crate::wire::ipv6::{self, Ipv6Repr};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest IPv4 options area: IHL counts 15 words, 5 of them the fixed header (RFC 791 §3.1).
const MAX_V4_OPTIONS: usize = 40;
/// Largest fragment offset in bytes: 13 bits of 8-byte units (RFC 791 §3.1, RFC 8200 §4.5).
pub(super) const MAX_FRAG_OFFSET: usize = 0x1fff * 8;

/// An IPv4 header. Unset: source (unspecified), destination (`0.0.0.0`), TOS 0, ident 1,
/// TTL 64, no flags, offset 0; the protocol comes from the layer above, IHL and total length
/// from what is emitted, the checksum is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    src: Option<Ipv4Addr>,
    dst: Ipv4Addr,
    version: u8,
    tos: u8,
    ident: u16,
    ttl: u8,
    reserved: bool,
    df: bool,
    mf: bool,
    frag_offset: usize,
    protocol: Option<u8>,
    total_len: Option<u16>,
    ihl: Option<u8>,
    checksum: Option<u16>,
    options: Vec<u8>,
    raw_options: bool,
}

impl Default for Ipv4 {
    fn default() -> Ipv4 {
        Ipv4 {
            src: None,
            dst: Ipv4Addr::UNSPECIFIED,
            version: 4,
            tos: 0,
            ident: 1,
            ttl: 64,
            reserved: false,
            df: false,
            mf: false,
            frag_offset: 0,
            protocol: None,
            total_len: None,
            ihl: None,
            checksum: None,
            options: Vec::new(),
            raw_options: false,
        }
    }
}

macro_rules! setter {
    ($($(#[$doc:meta])* $name:ident: $t:ty => $field:ident $(= $wrap:ident)?;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, v: $t) -> Self {
            self.$field = setter!(@wrap v $($wrap)?);
            self
        }
    )*};
    (@wrap $v:ident) => { $v };
    (@wrap $v:ident Some) => { Some($v) };
}
pub(super) use setter;

impl Ipv4 {
    /// A header with every field at its default.
    pub fn new() -> Ipv4 {
        Ipv4::default()
    }

    setter! {
        /// Time to live.
        ttl: u8 => ttl;
        /// Type of service octet (DSCP and ECN).
        tos: u8 => tos;
        /// Identification.
        ident: u16 => ident;
        /// Don't Fragment.
        df: bool => df;
        /// More Fragments.
        mf: bool => mf;
        /// The reserved flag bit (RFC 791 §3.1: must be zero; RFC 3514's "evil bit").
        reserved_bit: bool => reserved;
        /// The version nibble instead of 4 (values above 15 are refused).
        version: u8 => version;
        /// The protocol field instead of the layer above's number.
        protocol: u8 => protocol = Some;
        /// The total length field instead of the emitted length.
        total_len: u16 => total_len = Some;
        /// The IHL nibble instead of the emitted header's length in words (above 15 refused);
        /// a computed checksum then covers the words IHL names, as a receiver sums them.
        ihl: u8 => ihl = Some;
        /// The header checksum instead of the computed one.
        checksum: u16 => checksum = Some;
        /// Emits options beyond 40 bytes (IHL then stays 15) and without padding them to a
        /// multiple of 4.
        raw_options: bool => raw_options;
    }

    /// Source address.
    #[must_use]
    pub fn src(mut self, a: impl Into<Ipv4Addr>) -> Ipv4 {
        self.src = Some(a.into());
        self
    }

    /// Destination address.
    #[must_use]
    pub fn dst(mut self, a: impl Into<Ipv4Addr>) -> Ipv4 {
        self.dst = a.into();
        self
    }

    /// Fragment offset in bytes: a multiple of 8 up to 65,528 (else refused, `ip.frag_offset`).
    #[must_use]
    pub fn frag_offset(mut self, bytes: usize) -> Ipv4 {
        self.frag_offset = bytes;
        self
    }

    /// The options area as raw bytes (RFC 791 §3.1), padded with End of Option List to a
    /// multiple of 4 unless `raw_options`; more than 40 bytes are refused unless `raw_options`.
    #[must_use]
    pub fn options(mut self, bytes: impl Into<Vec<u8>>) -> Ipv4 {
        self.options = bytes.into();
        self
    }

    pub(super) fn set_src_if_unset(&mut self, a: Ipv4Addr) {
        self.src.get_or_insert(a);
    }

    /// The source address (unspecified when unset).
    pub fn source(&self) -> Ipv4Addr {
        v4_or_unspecified(self.src)
    }

    /// The destination address.
    pub fn destination(&self) -> Ipv4Addr {
        self.dst
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        // RFC 791 §3.1: IHL is 4 bits of 32-bit words, so at most 40 bytes of options.
        if self.options.len() > MAX_V4_OPTIONS && !self.raw_options {
            return Err(BuildError::new(
                "ip.options",
                format!(
                    "{} bytes of options exceed 40 (raw_options(true) sends them anyway)",
                    self.options.len()
                ),
            ));
        }
        let mut options = self.options.clone();
        if !self.raw_options {
            options.resize(options.len().next_multiple_of(4), 0);
        }
        let header_len = HEADER_LEN + options.len();
        let total = header_len + upper.len();
        // RFC 791 §3.1: Total Length is 16 bits.
        if total > MAX_DATAGRAM {
            return Err(BuildError::new(
                "ip.total_len",
                format!("datagram of {total} bytes exceeds {MAX_DATAGRAM}"),
            ));
        }
        nibble("ip.version", self.version)?;
        let ihl = match self.ihl {
            Some(v) => nibble("ip.ihl", v)?,
            None => (header_len.div_ceil(4)).min(15) as u8,
        };
        frag_offset("ip.frag_offset", self.frag_offset)?;
        let mut out = vec![0; HEADER_LEN];
        Ipv4Repr {
            src: self.source(),
            dst: self.dst,
            protocol: self.protocol.or(ctx.next).unwrap_or(0),
            ttl: self.ttl,
            ident: self.ident,
            dont_fragment: self.df,
            more_fragments: self.mf,
            frag_offset: self.frag_offset,
            payload_len: total - HEADER_LEN,
        }
        .emit(&mut out);
        out[0] = (self.version << 4) | ihl;
        out[1] = self.tos;
        if self.reserved {
            out[6] |= 0x80;
        }
        if let Some(len) = self.total_len {
            out[2..4].copy_from_slice(&len.to_be_bytes());
        }
        out.extend_from_slice(&options);
        out.extend_from_slice(&upper);
        // The checksum covers the header a receiver reads: IHL words (RFC 791 §3.1), at least
        // the fixed 20 bytes, at most what there is.
        let sum = self.checksum.unwrap_or_else(|| {
            out[10..12].fill(0);
            let span = (usize::from(ihl) * 4).clamp(HEADER_LEN, out.len());
            checksum::internet(&out[..span])
        });
        out[10..12].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// Refuses a value too wide for a 4-bit field.
pub(super) fn nibble(field: &'static str, v: u8) -> Result<u8, BuildError> {
    if v > 15 {
        return Err(BuildError::new(
            field,
            format!("{v} does not fit in 4 bits"),
        ));
    }
    Ok(v)
}

/// Refuses a fragment offset the 13-bit field in 8-byte units cannot carry.
pub(super) fn frag_offset(field: &'static str, bytes: usize) -> Result<(), BuildError> {
    if !bytes.is_multiple_of(8) || bytes > MAX_FRAG_OFFSET {
        return Err(BuildError::new(
            field,
            format!(
                "offset {bytes} is not a multiple of 8 bytes up to {MAX_FRAG_OFFSET} (the field \
                 counts 8-byte units in 13 bits)"
            ),
        ));
    }
    Ok(())
}

/// An IPv6 fixed header. Unset: source (unspecified), destination (`::`), traffic class 0,
/// flow label 0, hop limit 64; Next Header from the layer above (59, No Next Header, under
/// raw bytes or nothing), the payload length from what is emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    src: Option<Ipv6Addr>,
    dst: Ipv6Addr,
    version: u8,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    next_header: Option<u8>,
    payload_len: Option<u16>,
}

impl Default for Ipv6 {
    fn default() -> Ipv6 {
        Ipv6 {
            src: None,
            dst: Ipv6Addr::UNSPECIFIED,
            version: 6,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            next_header: None,
            payload_len: None,
        }
    }
}

impl Ipv6 {
    /// A header with every field at its default.
    pub fn new() -> Ipv6 {
        Ipv6::default()
    }

    setter! {
        /// Hop limit.
        hop_limit: u8 => hop_limit;
        /// Traffic class (DSCP and ECN).
        traffic_class: u8 => traffic_class;
        /// Flow label (RFC 6437): 20 bits, wider values are refused.
        flow_label: u32 => flow_label;
        /// The version nibble instead of 6 (values above 15 are refused).
        version: u8 => version;
        /// The Next Header field instead of the layer above's number.
        next_header: u8 => next_header = Some;
        /// The Payload Length field instead of the emitted length.
        payload_len: u16 => payload_len = Some;
    }

    /// Source address.
    #[must_use]
    pub fn src(mut self, a: impl Into<Ipv6Addr>) -> Ipv6 {
        self.src = Some(a.into());
        self
    }

    /// Destination address.
    #[must_use]
    pub fn dst(mut self, a: impl Into<Ipv6Addr>) -> Ipv6 {
        self.dst = a.into();
        self
    }

    pub(super) fn set_src_if_unset(&mut self, a: Ipv6Addr) {
        self.src.get_or_insert(a);
    }

    /// The source address (unspecified when unset).
    pub fn source(&self) -> Ipv6Addr {
        v6_or_unspecified(self.src)
    }

    /// The destination address.
    pub fn destination(&self) -> Ipv6Addr {
        self.dst
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        // RFC 8200 §3: Payload Length is 16 bits; larger payloads would need RFC 2675's Jumbo
        // Payload option, which no TUN carries and ustack refuses.
        if upper.len() > usize::from(u16::MAX) {
            return Err(BuildError::new(
                "ipv6.payload_len",
                format!(
                    "payload of {} bytes exceeds 65535 (jumbograms are not built)",
                    upper.len()
                ),
            ));
        }
        // RFC 6437 §2: the flow label is 20 bits.
        if self.flow_label > 0xf_ffff {
            return Err(BuildError::new(
                "ipv6.flow_label",
                format!("{:#x} does not fit in 20 bits", self.flow_label),
            ));
        }
        nibble("ipv6.version", self.version)?;
        let mut out = vec![0; ipv6::HEADER_LEN];
        Ipv6Repr {
            src: self.source(),
            dst: self.dst,
            next_header: self.next_header.or(ctx.next).unwrap_or(ipv6::next::NONE),
            hop_limit: self.hop_limit,
            traffic_class: self.traffic_class,
            flow_label: self.flow_label,
            payload_len: upper.len(),
        }
        .emit(&mut out);
        out[0] = (self.version << 4) | (out[0] & 0x0f);
        if let Some(len) = self.payload_len {
            out[4..6].copy_from_slice(&len.to_be_bytes());
        }
        out.extend_from_slice(&upper);
        Ok(out)
    }
}
