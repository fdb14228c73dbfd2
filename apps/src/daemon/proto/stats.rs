//! `stats`: the counters, drops by reason and memory by table.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One drop reason's count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DropCount {
    /// The `DropReason` variant's name.
    pub reason: String,
    /// What it means.
    pub description: String,
    /// Packets dropped for it.
    pub count: u64,
}

/// Answer to `stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReply {
    /// Every counter by name (as in the table `ustack up` prints at exit).
    pub counters: BTreeMap<String, u64>,
    /// Total drops.
    pub drops_total: u64,
    /// Non-zero drops by reason.
    pub drops: Vec<DropCount>,
    /// What each table holds now (`Stack::memory`).
    pub memory: BTreeMap<String, u64>,
    /// TCP connections in the table (TIME-WAIT included) and half-open ones.
    pub tcp_connections: u64,
    /// Half-open (SYN-RECEIVED) connections.
    pub tcp_half_open: u64,
    /// The control server's own counters (absent where no server answers, e.g. in what
    /// `ustack up --json` prints at exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlStats>,
}

/// The control server's counters: clients, and every client or request it refused or dropped,
/// by reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlStats {
    /// Clients connected now.
    pub clients: u64,
    /// Clients accepted since the daemon started.
    pub accepted: u64,
    /// Clients (or their requests) refused or dropped, by reason: `too_many_clients`,
    /// `permission_denied`, `not_reading` (bytes waited and it took none for 10 s),
    /// `line_too_long`, `timeout`, `too_many_captures`.
    pub refused: BTreeMap<String, u64>,
    /// Capture packets that matched a client's filter and were dropped for it, by reason
    /// (`queue_full`: its queue in the daemon was full), summed over finished captures.
    pub capture_dropped: BTreeMap<String, u64>,
}
