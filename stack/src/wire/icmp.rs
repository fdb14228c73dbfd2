//! ICMPv4 messages (RFC 792): a checked parse into the kinds the stack acts on, and emitters.

use super::checksum;
use crate::stats::DropReason;

/// ICMP header length (type, code, checksum, four type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// ICMP type numbers used by the stack (RFC 792, RFC 1191).
pub mod types {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated by RFC 6633, still an error type).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp request (RFC 792).
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply (RFC 792).
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// Length of a timestamp message's body: originate, receive and transmit times (RFC 792).
pub const TIMESTAMP_BODY_LEN: usize = 12;

/// Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
pub mod unreach {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191: bytes 6..8 carry the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Whether `icmp_type` is an error message (RFC 1122 §3.2.2: never answered with an error).
pub fn is_error(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        types::DEST_UNREACHABLE
            | types::SOURCE_QUENCH
            | types::REDIRECT
            | types::TIME_EXCEEDED
            | types::PARAMETER_PROBLEM
    )
}

/// A parsed, checksum-verified ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpMessage<'a> {
    /// Echo request (type 8), any code (RFC 792 defines only 0; Linux answers any, copying it).
    EchoRequest {
        /// The code, copied into the reply.
        code: u8,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data, echoed back whole.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Timestamp request (type 13, RFC 792) with at least its 12-byte body.
    TimestampRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// The sender's originate timestamp, returned in the reply.
        originate: u32,
    },
    /// An error message (types 3, 4, 5, 11, 12) quoting the datagram that caused it.
    Error {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// The four type-specific bytes (next-hop MTU for frag-needed, pointer for param problem).
        rest: [u8; 4],
        /// The quoted IP header and leading payload bytes.
        quote: &'a [u8],
    },
    /// Any other type: not acted on.
    Other {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
}

impl<'a> IcmpMessage<'a> {
    /// Parses and verifies an ICMP message (RFC 792: the checksum covers the whole message).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        if bytes.len() < HEADER_LEN {
            return Err(DropReason::IcmpTooShort);
        }
        if checksum::internet(bytes) != 0 {
            return Err(DropReason::IcmpBadChecksum);
        }
        // Read the fixed header directly: etherparse's slice insists on the full size of types
        // like timestamp, which we only need to classify and ignore.
        let (icmp_type, code) = (bytes[0], bytes[1]);
        let rest = [bytes[4], bytes[5], bytes[6], bytes[7]];
        let ident = u16::from_be_bytes([rest[0], rest[1]]);
        let seq = u16::from_be_bytes([rest[2], rest[3]]);
        let body = &bytes[HEADER_LEN..];
        Ok(match icmp_type {
            types::ECHO_REQUEST => IcmpMessage::EchoRequest {
                code,
                ident,
                seq,
                data: body,
            },
            types::TIMESTAMP if code == 0 && body.len() >= TIMESTAMP_BODY_LEN => {
                IcmpMessage::TimestampRequest {
                    ident,
                    seq,
                    originate: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                }
            }
            types::ECHO_REPLY if code == 0 => IcmpMessage::EchoReply {
                ident,
                seq,
                data: body,
            },
            t if is_error(t) => IcmpMessage::Error {
                icmp_type: t,
                code,
                rest,
                quote: body,
            },
            _ => IcmpMessage::Other { icmp_type, code },
        })
    }
}

/// Writes an echo request or reply into `buf[..8 + data.len()]`; returns the length.
pub fn emit_echo(buf: &mut [u8], reply: bool, ident: u16, seq: u16, data: &[u8]) -> usize {
    let t = if reply {
        types::ECHO_REPLY
    } else {
        types::ECHO_REQUEST
    };
    emit(buf, t, 0, id_seq(ident, seq), data)
}

/// The identifier and sequence number as the four type-specific bytes of an echo or timestamp
/// message (RFC 792).
pub fn id_seq(ident: u16, seq: u16) -> [u8; 4] {
    let mut rest = [0u8; 4];
    rest[..2].copy_from_slice(&ident.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    rest
}

/// Writes any ICMP message with its checksum into `buf[..8 + body.len()]`; returns the length.
pub fn emit(buf: &mut [u8], icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> usize {
    let len = HEADER_LEN + body.len();
    buf[HEADER_LEN..len].copy_from_slice(body);
    finish(&mut buf[..len], icmp_type, code, rest);
    len
}

/// Fills in the header of an ICMP message whose body is already in `msg[8..]`, checksum
/// included (saves copying a body that was built in place).
pub fn finish(msg: &mut [u8], icmp_type: u8, code: u8, rest: [u8; 4]) {
    msg[0] = icmp_type;
    msg[1] = code;
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..8].copy_from_slice(&rest);
    let c = checksum::internet(msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip_and_etherparse_agrees() {
        let mut buf = [0u8; 64];
        let n = emit_echo(&mut buf, false, 0x77, 3, b"hello");
        assert_eq!(
            IcmpMessage::parse(&buf[..n]).unwrap(),
            IcmpMessage::EchoRequest {
                code: 0,
                ident: 0x77,
                seq: 3,
                data: b"hello"
            }
        );
        let s = etherparse::Icmpv4Slice::from_slice(&buf[..n]).unwrap();
        assert_eq!(
            s.checksum(),
            s.header().icmp_type.calc_checksum(s.payload())
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            IcmpMessage::parse(&[8, 0, 0]).unwrap_err(),
            DropReason::IcmpTooShort
        );
        let mut buf = [0u8; 16];
        let n = emit_echo(&mut buf, true, 1, 1, b"abcdefgh");
        buf[9] ^= 0x40;
        assert_eq!(
            IcmpMessage::parse(&buf[..n]).unwrap_err(),
            DropReason::IcmpBadChecksum
        );
    }

    #[test]
    fn errors_are_classified() {
        let mut buf = [0u8; 36];
        let n = emit(
            &mut buf,
            types::DEST_UNREACHABLE,
            unreach::PORT,
            [0; 4],
            &[0x45; 28],
        );
        assert!(matches!(
            IcmpMessage::parse(&buf[..n]).unwrap(),
            IcmpMessage::Error {
                icmp_type: 3,
                code: 3,
                ..
            }
        ));
        let n = emit(&mut buf, 13, 0, [0; 4], &[]);
        assert_eq!(
            IcmpMessage::parse(&buf[..n]).unwrap(),
            IcmpMessage::Other {
                icmp_type: 13,
                code: 0
            }
        );
        assert!(is_error(11) && !is_error(8) && !is_error(0));
    }
}
