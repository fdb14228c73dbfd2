//! `ping`: its parameters (iputils' options), the `ping` events of its job and their summary.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Parameters of `ping` (iputils' options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingRequest {
    /// Destination.
    pub dst: Ipv4Addr,
    /// Requests to send; none: until the client half-closes or `deadline_ms`.
    #[serde(default)]
    pub count: Option<u32>,
    /// ICMP payload bytes (`-s`), at most 65507.
    #[serde(default = "default_ping_size")]
    pub size: usize,
    /// Time between requests, ms (`-i`); 0 with `flood` sends as soon as a reply comes.
    #[serde(default = "default_ping_interval")]
    pub interval_ms: u64,
    /// How long to wait for the last replies after the last request, ms (`-W`).
    #[serde(default = "default_ping_timeout")]
    pub timeout_ms: u64,
    /// Stop after this long whatever the count, ms (`-w`).
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// IP TTL of the requests (`-t`); none: the stack's.
    #[serde(default)]
    pub ttl: Option<u8>,
    /// Flood (`-f`): the next request as soon as the reply to the previous one came, at most
    /// `interval_ms` apart (iputils: 10 ms unless `-i` is given).
    #[serde(default)]
    pub flood: bool,
}

fn default_ping_size() -> usize {
    56
}

fn default_ping_interval() -> u64 {
    1000
}

fn default_ping_timeout() -> u64 {
    2000
}

/// One event of a `ping` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PingEvent {
    /// The job started (the `PING ...` header).
    Start {
        /// Destination.
        dst: Ipv4Addr,
        /// Payload bytes.
        size: usize,
    },
    /// A reply.
    Reply {
        /// Its sequence number.
        seq: u16,
        /// Who answered.
        from: Ipv4Addr,
        /// Its TTL.
        ttl: u8,
        /// ICMP bytes (header + data).
        bytes: usize,
        /// Round-trip time, ms.
        time_ms: f64,
        /// A second reply to the same request.
        dup: bool,
        /// Its data differs from what was sent.
        bad_data: bool,
    },
    /// An ICMP error quoting one of our requests (printed once per request).
    Error {
        /// The request's sequence number.
        seq: u16,
        /// Who sent the error.
        from: Ipv4Addr,
        /// What it says, e.g. "Destination Net Unreachable".
        message: String,
    },
    /// A request went out (flood mode only: iputils prints a dot for each).
    Sent {
        /// Its sequence number.
        seq: u16,
    },
    /// A request could not be sent.
    SendFailed {
        /// Its sequence number.
        seq: u16,
        /// Why.
        message: String,
    },
    /// The summary (the last event).
    Summary(PingSummary),
}

/// Totals of a ping job, as iputils prints them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingSummary {
    /// Destination.
    pub dst: Option<Ipv4Addr>,
    /// Requests sent.
    pub transmitted: u32,
    /// Distinct replies.
    pub received: u32,
    /// Duplicate replies.
    pub duplicates: u32,
    /// Requests answered by an ICMP error.
    pub errors: u32,
    /// From the first request to the last one (iputils' `time`, the final wait excluded), ms.
    pub time_ms: u64,
    /// RTT min/avg/max/mdev, ms, if any reply came.
    pub rtt: Option<[f64; 4]>,
}
