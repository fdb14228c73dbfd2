//! `events`: its parameters, and the `event` replies of its stream.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Parameters of `events`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsRequest {
    /// How often to look for changes, ms (default 100, at least 10).
    #[serde(default)]
    pub interval_ms: Option<u64>,
}

/// One event of an `events` stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A connection appeared in the table.
    Open {
        /// Its state when first seen.
        state: String,
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
    },
    /// A connection changed state.
    State {
        /// Old state.
        from: String,
        /// New state.
        to: String,
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
    },
    /// A connection left the table.
    Close {
        /// Its last state seen.
        state: String,
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
    },
    /// A TCP or ICMP-error counter moved (so connections too short-lived to be seen by a
    /// look still show, as `tcp_passive_opens` +1).
    Counter {
        /// The counter's name (as in `stats`).
        name: String,
        /// How much it grew since the last look.
        delta: u64,
    },
    /// Packets were dropped for a reason since the last event of this kind.
    Drop {
        /// The `DropReason` variant's name.
        reason: String,
        /// How many since the last report.
        count: u64,
    },
}
