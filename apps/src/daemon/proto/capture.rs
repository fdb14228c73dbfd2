//! `capture`: its parameters, and the `capturing`, `packet` and `captured` replies.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameters of `capture`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The filter, in tcpdump's syntax (docs/CAPTURE-FILTER.md); empty: every packet.
    #[serde(default)]
    pub filter: String,
    /// Stop after this many packets.
    #[serde(default)]
    pub count: Option<u64>,
    /// Packets the daemon queues for this client before it drops them (default 1024, at most
    /// 65536).
    #[serde(default)]
    pub queue: Option<usize>,
}

/// `capture` is attached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capturing {
    /// The filter, as given.
    pub filter: String,
    /// Packets queued for this client at most.
    pub queue: usize,
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// When the loop saw it, microseconds since the Unix epoch.
    pub time_us: u64,
    /// `in` (kernel → stack) or `out` (stack → kernel).
    pub dir: String,
    /// Its length in bytes.
    pub len: usize,
    /// The raw IPv4 bytes, hex.
    pub hex: String,
}

/// What a `capture` saw, sent before its `end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Captured {
    /// Packets that matched the filter.
    pub matched: u64,
    /// Packets queued to the client.
    pub sent: u64,
    /// Matching packets dropped for the client (all reasons; also `end`'s `lost`).
    pub dropped: u64,
    /// `dropped` by reason: `queue_full` (its queue in the daemon was full: it read more
    /// slowly than packets came). Matching packets neither sent nor dropped were still queued
    /// when the capture ended.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
}
