//! `raw`: a raw socket over the control socket — packets sent as given, copies of arriving
//! packets back, ports claimed (the stack's rules: `ustack::socket::raw`).

use serde::{Deserialize, Serialize};

/// Parameters of `raw`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RawRequest {
    /// Whole IPv4/IPv6 packets to send, as hex, exactly as given (each to a destination the
    /// target rule allows).
    #[serde(default)]
    pub send: Vec<String>,
    /// Receive copies only of this protocol (IPv4 Protocol / IPv6 upper-layer header).
    #[serde(default)]
    pub protocol: Option<u8>,
    /// Receive copies only of what this filter (tcpdump syntax) matches.
    #[serde(default)]
    pub filter: Option<String>,
    /// Local ports to claim first: their packets reach this socket alone (port 0 picks one).
    #[serde(default)]
    pub claim: Vec<RawClaim>,
    /// Stop after this many copies; none: until `timeout_ms` or the client half-closes.
    #[serde(default)]
    pub count: Option<u64>,
    /// Stop this long after the last packet was sent, ms; none: 1000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Send to destinations outside the stack's prefix and the lab ranges (the user owns
    /// that network).
    #[serde(default)]
    pub i_own_the_network: bool,
}

/// A port to claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawClaim {
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// The local port; 0 picks a free ephemeral one.
    pub port: u16,
}

/// `raw`: the socket is open, its claims made and its packets sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawOpen {
    /// The ports claimed (with the ones picked for port 0).
    pub claims: Vec<RawClaim>,
    /// Packets sent.
    pub sent: u64,
}

/// `raw`: the socket's counters, just before `end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawDone {
    /// Copies received.
    pub received: u64,
    /// Copies the socket's full queue dropped.
    pub dropped: u64,
    /// Packets sent.
    pub sent: u64,
}

/// Bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case) as bytes; `None` for an odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
