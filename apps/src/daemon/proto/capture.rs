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
    /// `"binary"`: the packets come as binary frames after the `capturing` reply
    /// (`daemon::capture::frames`), not as `packet` lines; absent or `"json"`: lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<String>,
    /// Most bytes kept of each packet (binary framing; default and most 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
}

/// `capture` is attached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capturing {
    /// The filter, as given.
    pub filter: String,
    /// Packets queued for this client at most.
    pub queue: usize,
    /// The framing the packets come in (`binary`), absent for `packet` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<String>,
    /// The snap length in force (binary framing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
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
