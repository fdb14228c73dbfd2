//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers: type, code, checksum and the four
//! type-specific bytes; the message body is the layers above (an echo's data, an error's quoted
//! packet).

use super::ip::setter;
use super::{BuildError, Ctx};
use crate::wire::{checksum, icmp, icmpv6, proto};

/// Emits the 8-byte header in front of `upper` with the checksum `sum` computes over the whole
/// message (unless `fixed`).
fn emit(
    (icmp_type, code, rest): (u8, u8, [u8; 4]),
    fixed: Option<u16>,
    upper: &[u8],
    sum: impl FnOnce(&[u8]) -> Result<u16, BuildError>,
) -> Result<Vec<u8>, BuildError> {
    let mut out = vec![icmp_type, code, 0, 0];
    out.extend_from_slice(&rest);
    out.extend_from_slice(upper);
    let c = match fixed {
        Some(c) => c,
        None => sum(&out)?,
    };
    out[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(out)
}

macro_rules! icmp_common {
    () => {
        setter! {
            /// Type.
            icmp_type: u8 => icmp_type;
            /// Code.
            code: u8 => code;
            /// The four bytes after the checksum (an echo's id and seq, a Packet Too Big's MTU,
            /// a Parameter Problem's pointer, zeros in most errors).
            rest: [u8; 4] => rest;
            /// The checksum instead of the computed one.
            checksum: u16 => checksum = Some;
        }

        /// Identifier (the first two of the four type-specific bytes).
        #[must_use]
        pub fn id(mut self, id: u16) -> Self {
            self.rest[..2].copy_from_slice(&id.to_be_bytes());
            self
        }

        /// Sequence number (the last two of the four type-specific bytes).
        #[must_use]
        pub fn seq(mut self, seq: u16) -> Self {
            self.rest[2..].copy_from_slice(&seq.to_be_bytes());
            self
        }
    };
}

/// An ICMP (v4) header. Unset: an echo request (type 8, code 0) with id and seq 0; the checksum
/// is computed over the message (RFC 792).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp {
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    checksum: Option<u16>,
}

impl Default for Icmp {
    fn default() -> Icmp {
        Icmp {
            icmp_type: icmp::types::ECHO_REQUEST,
            code: 0,
            rest: [0; 4],
            checksum: None,
        }
    }
}

impl Icmp {
    /// An echo request with id and seq 0.
    pub fn new() -> Icmp {
        Icmp::default()
    }

    /// An echo request (type 8).
    pub fn echo_request(id: u16, seq: u16) -> Icmp {
        Icmp::new().rest(icmp::id_seq(id, seq))
    }

    /// An echo reply (type 0).
    pub fn echo_reply(id: u16, seq: u16) -> Icmp {
        Icmp::echo_request(id, seq).icmp_type(icmp::types::ECHO_REPLY)
    }

    /// An error (`icmp_type` 3, 4, 5, 11 or 12 …) with `code`; the quoted packet goes above it.
    pub fn error(icmp_type: u8, code: u8) -> Icmp {
        Icmp::new().icmp_type(icmp_type).code(code)
    }

    icmp_common!();

    pub(super) fn emit(&self, _ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        emit(
            (self.icmp_type, self.code, self.rest),
            self.checksum,
            &upper,
            |m| Ok(checksum::internet(m)),
        )
    }
}

/// An ICMPv6 header. Unset: an echo request (type 128, code 0) with id and seq 0; the checksum
/// is computed under the IPv6 pseudo-header of the IP layer below (RFC 4443 §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmpv6 {
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    checksum: Option<u16>,
}

impl Default for Icmpv6 {
    fn default() -> Icmpv6 {
        Icmpv6 {
            icmp_type: icmpv6::types::ECHO_REQUEST,
            code: 0,
            rest: [0; 4],
            checksum: None,
        }
    }
}

impl Icmpv6 {
    /// An echo request with id and seq 0.
    pub fn new() -> Icmpv6 {
        Icmpv6::default()
    }

    /// An echo request (type 128).
    pub fn echo_request(id: u16, seq: u16) -> Icmpv6 {
        Icmpv6::new().id(id).seq(seq)
    }

    /// An echo reply (type 129).
    pub fn echo_reply(id: u16, seq: u16) -> Icmpv6 {
        Icmpv6::echo_request(id, seq).icmp_type(icmpv6::types::ECHO_REPLY)
    }

    /// An error (`icmp_type` 1 to 4) with `code`; the quoted packet goes above it.
    pub fn error(icmp_type: u8, code: u8) -> Icmpv6 {
        Icmpv6::new().icmp_type(icmp_type).code(code)
    }

    /// A Packet Too Big message (type 2) with its MTU (RFC 4443 §3.2).
    pub fn packet_too_big(mtu: u32) -> Icmpv6 {
        Icmpv6::error(icmpv6::types::PACKET_TOO_BIG, 0).param(mtu)
    }

    /// The four type-specific bytes as one number (MTU, pointer).
    #[must_use]
    pub fn param(self, v: u32) -> Icmpv6 {
        self.rest(v.to_be_bytes())
    }

    icmp_common!();

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        emit(
            (self.icmp_type, self.code, self.rest),
            self.checksum,
            &upper,
            |m| ctx.transport_sum("icmpv6.checksum", proto::ICMPV6, m),
        )
    }
}
