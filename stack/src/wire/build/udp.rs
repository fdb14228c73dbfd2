//! The UDP header (RFC 768).

use super::ip::setter;
use super::{BuildError, Ctx};
use crate::wire::proto;
use crate::wire::udp::HEADER_LEN;

/// A UDP header. Unset: ports 53 → 53; the length from what is emitted, the checksum computed
/// under the pseudo-header of the IP layer below (a computed zero is sent as 0xFFFF, RFC 768).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Udp {
    sport: u16,
    dport: u16,
    len: Option<u16>,
    checksum: Option<u16>,
}

impl Default for Udp {
    fn default() -> Udp {
        Udp {
            sport: 53,
            dport: 53,
            len: None,
            checksum: None,
        }
    }
}

impl Udp {
    /// A header with every field at its default.
    pub fn new() -> Udp {
        Udp::default()
    }

    setter! {
        /// Source port.
        sport: u16 => sport;
        /// Destination port.
        dport: u16 => dport;
        /// The length field instead of the emitted length.
        len: u16 => len = Some;
        /// The checksum instead of the computed one; 0 sends none (RFC 768, allowed over IPv4
        /// only: RFC 8200 §8.1 makes it mandatory over IPv6, where receivers drop it).
        checksum: u16 => checksum = Some;
    }

    pub(super) fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        let total = HEADER_LEN + upper.len();
        // RFC 768: the length field is 16 bits.
        let len = match self.len {
            Some(l) => l,
            None => u16::try_from(total).map_err(|_| {
                BuildError::new(
                    "udp.len",
                    format!("datagram of {total} bytes exceeds 65535"),
                )
            })?,
        };
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.sport.to_be_bytes());
        out.extend_from_slice(&self.dport.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&upper);
        let sum = match self.checksum {
            Some(c) => c,
            // RFC 768: a computed zero is transmitted as all ones (zero means "none").
            None => match ctx.transport_sum("udp.checksum", proto::UDP, &out)? {
                0 => 0xffff,
                c => c,
            },
        };
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}
