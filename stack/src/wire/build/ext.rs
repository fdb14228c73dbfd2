//! IPv6 extension headers (RFC 8200 §4): Hop-by-Hop and Destination Options with their TLV
//! options (§4.2), Routing (§4.4) and Fragment (§4.5).

use super::ip::{frag_offset, setter};
use super::{BuildError, Ctx, Layer};
use crate::wire::ipv6::next;
use std::net::Ipv6Addr;

/// Largest Hop-by-Hop, Destination Options or Routing header: Hdr Ext Len is 8 bits of 8-byte
/// units not counting the first 8 bytes (RFC 8200 §4.3).
const MAX_EXT_LEN: usize = 256 * 8;

/// The `layer` part of an extension header's field names.
pub(super) fn name(l: &Layer) -> &'static str {
    match l {
        Layer::HopByHop(_) => "hbh",
        Layer::DestOpts(_) => "dstopts",
        Layer::Routing(_) => "routing",
        _ => "frag",
    }
}

/// One option of a Hop-by-Hop or Destination Options header (RFC 8200 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipv6Opt {
    /// Pad1 (type 0): one zero byte.
    Pad1,
    /// PadN (type 1) with this many zero data bytes (the option takes 2 more).
    PadN(u8),
    /// Router Alert (type 5, RFC 2711) with its value (0: MLD).
    RouterAlert(u16),
    /// Any type: its length octet is the data's length (data beyond 255 bytes is refused).
    Tlv {
        /// Option type; its two high bits are the action when it is unknown (§4.2).
        kind: u8,
        /// Option data.
        data: Vec<u8>,
    },
    /// Bytes emitted as they are (a malformed option, say).
    Bytes(Vec<u8>),
}

impl Ipv6Opt {
    fn emit(&self, out: &mut Vec<u8>, field: &'static str) -> Result<(), BuildError> {
        match self {
            Ipv6Opt::Pad1 => out.push(0),
            Ipv6Opt::PadN(n) => {
                out.extend_from_slice(&[1, *n]);
                out.resize(out.len() + usize::from(*n), 0);
            }
            Ipv6Opt::RouterAlert(v) => {
                out.extend_from_slice(&[5, 2]);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Ipv6Opt::Tlv { kind, data } => {
                let len = u8::try_from(data.len()).map_err(|_| {
                    BuildError::new(
                        field,
                        format!("option {kind} data of {} bytes exceeds 255", data.len()),
                    )
                })?;
                out.extend_from_slice(&[*kind, len]);
                out.extend_from_slice(data);
            }
            Ipv6Opt::Bytes(b) => out.extend_from_slice(b),
        }
        Ok(())
    }
}

/// Fills in the two leading bytes (Next Header, Hdr Ext Len) of an extension header whose body
/// is `body` (a multiple of 8 bytes with the two), and appends the layers above.
fn finish(
    field: &'static str,
    mut head: Vec<u8>,
    next_header: u8,
    hdr_ext_len: Option<u8>,
    upper: &[u8],
) -> Result<Vec<u8>, BuildError> {
    if head.len() > MAX_EXT_LEN {
        return Err(BuildError::new(
            field,
            format!(
                "header of {} bytes exceeds {MAX_EXT_LEN} (Hdr Ext Len is 8 bits)",
                head.len()
            ),
        ));
    }
    head[0] = next_header;
    // RFC 8200 §4.3: in 8-octet units, not including the first 8 octets.
    head[1] = hdr_ext_len.unwrap_or((head.len() / 8 - 1) as u8);
    head.extend_from_slice(upper);
    Ok(head)
}

/// The options area of a Hop-by-Hop or Destination Options header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OptionsHeader {
    options: Vec<Ipv6Opt>,
    next_header: Option<u8>,
    hdr_ext_len: Option<u8>,
}

impl OptionsHeader {
    fn emit(&self, field: &'static str, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        let mut head = vec![0, 0];
        for o in &self.options {
            o.emit(&mut head, field)?;
        }
        // RFC 8200 §4.2: Pad1 for one byte of padding, PadN for more, to a multiple of 8.
        match head.len().next_multiple_of(8) - head.len() {
            0 => {}
            1 => head.push(0),
            n => Ipv6Opt::PadN((n - 2) as u8).emit(&mut head, field)?,
        }
        let nh = self.next_header.or(ctx.next).unwrap_or(next::NONE);
        finish(field, head, nh, self.hdr_ext_len, &upper)
    }
}

macro_rules! options_header {
    ($(#[$doc:meta])* $t:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $t(OptionsHeader);

        impl $t {
            /// No options: the header is padded to 8 bytes with a PadN.
            pub fn new() -> $t {
                $t::default()
            }

            /// Appends `opt` to the options (RFC 8200 §4.2); padding to a multiple of 8 bytes
            /// (Pad1 or PadN) is added after the last.
            #[must_use]
            pub fn option(mut self, opt: Ipv6Opt) -> $t {
                self.0.options.push(opt);
                self
            }

            /// The Next Header field instead of the layer above's number.
            #[must_use]
            pub fn next_header(mut self, v: u8) -> $t {
                self.0.next_header = Some(v);
                self
            }

            /// The Hdr Ext Len field instead of the emitted header's length.
            #[must_use]
            pub fn hdr_ext_len(mut self, v: u8) -> $t {
                self.0.hdr_ext_len = Some(v);
                self
            }

            pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
                self.0.emit($field, ctx, upper)
            }
        }
    };
}

options_header!(
    /// A Hop-by-Hop Options header (RFC 8200 §4.3), e.g. with a Router Alert.
    HopByHop,
    "hbh.options"
);
options_header!(
    /// A Destination Options header (RFC 8200 §4.6).
    DestOpts,
    "dstopts.options"
);

/// A Routing header (RFC 8200 §4.4). Unset: type 0 (RFC 5095 deprecates it: useful to see it
/// refused), Segments Left the number of addresses, the type-specific data 4 reserved zero
/// bytes then the addresses (the layout of types 0 and 2), padded with zeros to 8 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    routing_type: u8,
    segments_left: Option<u8>,
    addresses: Vec<Ipv6Addr>,
    data: Option<Vec<u8>>,
    next_header: Option<u8>,
    hdr_ext_len: Option<u8>,
}

impl Routing {
    /// A type 0 header with no addresses.
    pub fn new() -> Routing {
        Routing::default()
    }

    setter! {
        /// Routing Type.
        routing_type: u8 => routing_type;
        /// Segments Left instead of the number of addresses.
        segments_left: u8 => segments_left = Some;
        /// The Next Header field instead of the layer above's number.
        next_header: u8 => next_header = Some;
        /// The Hdr Ext Len field instead of the emitted header's length.
        hdr_ext_len: u8 => hdr_ext_len = Some;
    }

    /// Appends an address to the list.
    #[must_use]
    pub fn address(mut self, a: impl Into<Ipv6Addr>) -> Routing {
        self.addresses.push(a.into());
        self
    }

    /// Everything after Segments Left as given (instead of reserved bytes and addresses),
    /// padded with zeros to a multiple of 8 bytes.
    #[must_use]
    pub fn data(mut self, bytes: impl Into<Vec<u8>>) -> Routing {
        self.data = Some(bytes.into());
        self
    }

    /// The packet's final destination when this header still has segments to visit: the last
    /// address listed (RFC 8200 §8.1: the upper-layer checksum uses it).
    pub(super) fn final_destination(&self) -> Option<Ipv6Addr> {
        let left = self
            .segments_left
            .unwrap_or(self.addresses.len().min(255) as u8);
        if self.data.is_some() || left == 0 {
            return None;
        }
        self.addresses.last().copied()
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        let left = match self.segments_left {
            Some(v) => v,
            None => u8::try_from(self.addresses.len())
                .map_err(|_| BuildError::new("routing.segments_left", "more than 255 addresses"))?,
        };
        let mut head = vec![0, 0, self.routing_type, left];
        match &self.data {
            Some(d) => head.extend_from_slice(d),
            None => {
                head.extend_from_slice(&[0; 4]);
                for a in &self.addresses {
                    head.extend_from_slice(&a.octets());
                }
            }
        }
        head.resize(head.len().next_multiple_of(8), 0);
        let nh = self.next_header.or(ctx.next).unwrap_or(next::NONE);
        finish("routing.data", head, nh, self.hdr_ext_len, &upper)
    }
}

/// A Fragment header (RFC 8200 §4.5). Unset: offset 0, M clear, ident 0 (an atomic fragment,
/// RFC 6946), reserved fields 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    offset: usize,
    more: bool,
    ident: u32,
    reserved: u8,
    res: u8,
    next_header: Option<u8>,
}

impl Fragment {
    /// An atomic fragment header.
    pub fn new() -> Fragment {
        Fragment::default()
    }

    setter! {
        /// The M flag: more fragments follow.
        more: bool => more;
        /// Identification.
        ident: u32 => ident;
        /// The reserved octet after Next Header.
        reserved: u8 => reserved;
        /// The two reserved bits before M (values above 3 are refused).
        res: u8 => res;
        /// The Next Header field instead of the layer above's number.
        next_header: u8 => next_header = Some;
    }

    /// Fragment Offset in bytes: a multiple of 8 up to 65,528 (else refused, `frag.offset`).
    #[must_use]
    pub fn offset(mut self, bytes: usize) -> Fragment {
        self.offset = bytes;
        self
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        frag_offset("frag.offset", self.offset)?;
        if self.res > 3 {
            return Err(BuildError::new(
                "frag.res",
                format!("{} does not fit in 2 bits", self.res),
            ));
        }
        let nh = self.next_header.or(ctx.next).unwrap_or(next::NONE);
        // RFC 8200 §4.5: offset in 8-octet units in the high 13 bits, 2 reserved bits, M.
        let word = self.offset as u16 | (u16::from(self.res) << 1) | u16::from(self.more);
        let mut out = vec![nh, self.reserved];
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&self.ident.to_be_bytes());
        out.extend_from_slice(&upper);
        Ok(out)
    }
}
