//! `connect`: its parameters, the `listening` and `connected` replies, and the framing of
//! datagrams on the relay.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Transport of `connect`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP: raw bytes both ways after `connected`; the client's half-close is a FIN.
    #[default]
    Tcp,
    /// UDP: after `connected`, datagrams framed as a 2-byte big-endian length and the bytes.
    Udp,
}

/// Parameters of `connect`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// TCP or UDP.
    #[serde(default)]
    pub transport: Transport,
    /// Where to connect; with `listen`, its port is the stack-side port to listen on and its
    /// address must be 0.0.0.0 or the stack's.
    pub addr: SocketAddr,
    /// Listen on the stack (`nc -l`) instead of connecting: the first peer is relayed.
    #[serde(default)]
    pub listen: bool,
    /// Only see whether the port answers (`nc -z`): `connected` (or an error), then `end`.
    #[serde(default)]
    pub probe: bool,
    /// How long the handshake (or, listening, the first peer) may take, ms.
    #[serde(default = "default_connect_timeout")]
    pub timeout_ms: u64,
}

fn default_connect_timeout() -> u64 {
    10_000
}

/// `connect -l` is listening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listening {
    /// Where.
    pub local: SocketAddr,
}

/// `connect` is connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    /// The stack-side address.
    pub local: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
}

/// The length value that marks an ICMP error report on a UDP relay instead of a datagram (no
/// UDP payload over IPv4 comes near it: 65,507 bytes is the most). It is followed by two bytes,
/// the ICMP type and code, in place of a payload.
pub const ICMP_ERROR_MARK: u16 = u16::MAX;

/// A datagram as the relay frames it: 2-byte big-endian length, then the bytes (at most
/// 65,534: the length 65,535 is [`ICMP_ERROR_MARK`]).
pub fn frame(d: &[u8]) -> Vec<u8> {
    let n = d.len().min(usize::from(ICMP_ERROR_MARK - 1));
    let mut v = Vec::with_capacity(2 + n);
    v.extend_from_slice(&(n as u16).to_be_bytes());
    v.extend_from_slice(&d[..n]);
    v
}

/// The report, on a UDP relay (daemon → client), of an ICMP error about what the relay sent
/// (`nc -u` sees a port unreachable as ECONNREFUSED): [`ICMP_ERROR_MARK`], type, code.
pub fn error_frame(icmp_type: u8, code: u8) -> Vec<u8> {
    let mut v = ICMP_ERROR_MARK.to_be_bytes().to_vec();
    v.extend_from_slice(&[icmp_type, code]);
    v
}

/// One frame of a UDP relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A datagram.
    Datagram(&'a [u8]),
    /// An ICMP error about what the relay sent.
    IcmpError {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
}

/// The first complete frame of `buf` and what follows it.
pub fn unframe(buf: &[u8]) -> Option<(Framed<'_>, &[u8])> {
    let len = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
    let rest = buf.get(2..)?;
    if len == ICMP_ERROR_MARK {
        let (&[icmp_type, code], rest) = rest.split_first_chunk::<2>()?;
        return Some((Framed::IcmpError { icmp_type, code }, rest));
    }
    let len = usize::from(len);
    (rest.len() >= len).then(|| {
        let (d, rest) = rest.split_at(len);
        (Framed::Datagram(d), rest)
    })
}
