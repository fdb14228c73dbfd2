//! `ping`: its parameters (iputils' options), the `ping` events of its job and their summary.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Parameters of `ping` (iputils' options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingRequest {
    /// Destination.
    pub dst: IpAddr,
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
    /// Requests sent at once before pacing starts (`-l`, iputils' preload): with `flood`, how
    /// many may be unanswered at a time; otherwise a first burst. None: 1.
    #[serde(default)]
    pub preload: Option<u32>,
    /// Hex digits filling the payload (`-p`, at most 16 bytes, repeated), iputils' pattern.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Path MTU discovery for the requests (`-M do|dont|want`); none: `dont`.
    #[serde(default)]
    pub pmtudisc: Option<PmtuDisc>,
    /// Source address (`-I`): must be the stack's own; none: the stack's.
    #[serde(default)]
    pub source: Option<IpAddr>,
}

/// `-M`: whether requests carry DF (Linux's `IP_MTU_DISCOVER` values as iputils names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PmtuDisc {
    /// DF on every request; a request larger than the link MTU fails locally
    /// ("message too long, mtu=N"), a smaller one a router cannot forward comes back as
    /// "Frag needed and DF set".
    Do,
    /// DF never: larger requests are fragmented (the stack's default).
    Dont,
    /// DF on requests that fit the link MTU, larger ones fragmented without it.
    Want,
}

/// Most pattern bytes `-p` takes (iputils: 16).
pub const MAX_PATTERN: usize = 16;

/// iputils' `-p`: hex digits read two at a time (a last odd digit is a byte of its own), at
/// most [`MAX_PATTERN`] bytes; digits beyond are ignored, as iputils ignores them.
pub fn parse_pattern(hex: &str) -> Result<Vec<u8>, String> {
    if let Some(bad) = hex.find(|c: char| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "patterns must be specified as hex digits: {}",
            &hex[bad..]
        ));
    }
    if hex.is_empty() {
        return Err("patterns must be specified as hex digits: (empty)".into());
    }
    Ok(hex
        .as_bytes()
        .chunks(2)
        .take(MAX_PATTERN)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).unwrap_or("0");
            u8::from_str_radix(digits, 16).unwrap_or(0)
        })
        .collect())
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
        dst: IpAddr,
        /// Payload bytes.
        size: usize,
        /// The address the requests go from (the stack's, of the destination's family).
        #[serde(default)]
        from: Option<IpAddr>,
    },
    /// A reply.
    Reply {
        /// Its sequence number.
        seq: u16,
        /// Who answered.
        from: IpAddr,
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
        from: IpAddr,
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
        /// A local error iputils counts in `+N errors` ("message too long, mtu=N" with
        /// `-M do`), printed as `ping: local error: ...`; false: a transient failure
        /// (`ping: sendmsg: ...`).
        #[serde(default)]
        local_error: bool,
    },
    /// The summary (the last event).
    Summary(PingSummary),
}

/// Totals of a ping job, as iputils prints them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingSummary {
    /// Destination.
    pub dst: Option<IpAddr>,
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
    /// iputils' `ipg/ewma`, ms: the mean gap between requests and the moving average of the
    /// RTT (weight 1/8); present where iputils prints it (flood or interval 0, a reply, more
    /// than one request).
    #[serde(default)]
    pub ipg_ewma: Option<[f64; 2]>,
    /// iputils' `pipe N`: the most requests that were out when a reply came (printed if > 1).
    #[serde(default)]
    pub pipe: u32,
}
