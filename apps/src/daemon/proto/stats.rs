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
}
