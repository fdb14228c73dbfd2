//! `fuzz`: scapy-`fuzz()`-like packets from a template, sent at a target (or fed into the
//! stack's own receive path) at a bounded rate, with a liveness check between rounds
//! (`crate::daemon::jobs::fuzz`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Parameters of `fuzz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FuzzRequest {
    /// The template expression (`ip(dst=198.18.0.1)/tcp(dport=80)/raw(len=20)`); or `packet`.
    #[serde(default)]
    pub template: Option<String>,
    /// The template as a whole IPv4/IPv6 packet, hex (e.g. one read from a pcap file).
    #[serde(default)]
    pub packet: Option<String>,
    /// The destination when the template leaves it unset (inject: the stack's own address).
    #[serde(default)]
    pub target: Option<IpAddr>,
    /// Packets to send (at most [`MAX_COUNT`]).
    #[serde(default = "default_count")]
    pub count: u64,
    /// Packets per second (1 ..= [`MAX_RATE`]).
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// The seed: packet `n` of a seed is always the same packet.
    #[serde(default)]
    pub seed: u64,
    /// Index of the first packet (to replay part of a run: `--from`).
    #[serde(default)]
    pub from: u64,
    /// Fields to fuzz (`ip.ttl`, `tcp.flags`); empty: every non-computed field.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Fuzz the computed fields (lengths, checksums, the protocol) too.
    #[serde(default)]
    pub fuzz_computed: bool,
    /// Packets per round; the liveness check runs after each (1 ..= [`MAX_ROUND`]).
    #[serde(default = "default_round")]
    pub round: u64,
    /// Check that the target answers an ICMP echo after each round.
    #[serde(default = "yes")]
    pub check_ping: bool,
    /// Check that the target completes a TCP handshake on this port after each round.
    #[serde(default)]
    pub check_tcp: Option<u16>,
    /// How long one check waits for its answer, ms (3 tries; at most 10,000).
    #[serde(default = "default_check_timeout")]
    pub check_timeout_ms: u64,
    /// Feed the packets into the stack's own receive path instead of sending them (then the
    /// checks go to the kernel side, through the stack).
    #[serde(default)]
    pub inject: bool,
    /// Send to destinations outside the stack's prefix and the lab ranges.
    #[serde(default)]
    pub i_own_the_network: bool,
}

/// Most packets one request sends.
pub const MAX_COUNT: u64 = 100_000_000;
/// Highest rate, packets per second.
pub const MAX_RATE: u32 = 1_000_000;
/// Largest round.
pub const MAX_ROUND: u64 = 1_000_000;
/// Longest check timeout, ms.
pub const MAX_CHECK_TIMEOUT_MS: u64 = 10_000;

fn default_count() -> u64 {
    1000
}
fn default_rate() -> u32 {
    10_000
}
fn default_round() -> u64 {
    1000
}
fn default_check_timeout() -> u64 {
    1000
}
fn yes() -> bool {
    true
}

impl Default for FuzzRequest {
    fn default() -> FuzzRequest {
        FuzzRequest {
            template: None,
            packet: None,
            target: None,
            count: default_count(),
            rate: default_rate(),
            seed: 0,
            from: 0,
            fields: Vec::new(),
            fuzz_computed: false,
            round: default_round(),
            check_ping: true,
            check_tcp: None,
            check_timeout_ms: default_check_timeout(),
            inject: false,
            i_own_the_network: false,
        }
    }
}

/// What the stack and its process hold (for "memory back to baseline").
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FuzzMemory {
    /// The process's anonymous resident memory (`RssAnon`), KiB.
    pub rss_kib: u64,
    /// Bytes the stack holds in queues, reassembly and TCP buffers (`Stack::memory`).
    pub held_bytes: u64,
    /// TCP connections with buffers.
    pub tcp_connections: u64,
    /// Datagrams in reassembly.
    pub reassembly_datagrams: u64,
}

/// One event of a `fuzz` job, tagged by `event`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FuzzEvent {
    /// The job started.
    Start {
        /// `send` or `inject`.
        mode: String,
        /// Where the packets go.
        target: IpAddr,
        /// The template's `tcpdump -n` line.
        template: String,
        /// The fields fuzzed, `layer.field`.
        fields: Vec<String>,
        /// The seed.
        seed: u64,
        /// First packet index.
        from: u64,
        /// Packets to send.
        count: u64,
        /// Packets per second.
        rate: u32,
        /// Packets per round.
        round: u64,
        /// The checks, as text (`ping`, `tcp:7`, `none`).
        check: String,
        /// Memory before the first packet.
        memory: FuzzMemory,
    },
    /// A round was sent and checked.
    Round {
        /// Round number, from 1.
        round: u64,
        /// Index of its first packet.
        first: u64,
        /// Packets sent in it.
        sent: u64,
        /// Packets that could not be built (skipped).
        skipped: u64,
        /// Whether the checks passed.
        alive: bool,
        /// Round-trip time of the check that passed, ms.
        rtt_ms: Option<f64>,
    },
    /// The target stopped answering after a round: what reproduces it.
    Hang {
        /// Round number.
        round: u64,
        /// Index of the round's first packet (`--seed S --from FIRST -c N` replays it).
        first: u64,
        /// Index of the last packet sent before the failed check.
        last: u64,
        /// The seed.
        seed: u64,
        /// The check that failed, and how.
        check: String,
        /// The round's last packets (at most 1000), oldest first: index and hex. The last one
        /// preceded the failed check.
        packets: Vec<(u64, String)>,
    },
    /// The job ended.
    Summary {
        /// Packets sent (or injected).
        sent: u64,
        /// Packets skipped, by the field that could not be built.
        skipped: BTreeMap<String, u64>,
        /// Rounds completed.
        rounds: u64,
        /// Failed checks (the job stops at the first).
        hangs: u64,
        /// The seed.
        seed: u64,
        /// First packet index.
        from: u64,
        /// Index of the next packet not sent (`--from` to go on).
        next: u64,
        /// Wall time, ms.
        elapsed_ms: u64,
        /// Memory before the first packet.
        memory_before: FuzzMemory,
        /// Memory at the end.
        memory_after: FuzzMemory,
        /// Why it ended: `done`, `hang`, `stopped`.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::proto::{parse_request, request_line, Request};

    #[test]
    fn defaults_fill_a_minimal_request_and_requests_round_trip() {
        let line = br#"{"v":1,"id":3,"req":"fuzz","template":"ip/udp"}"#;
        let (_, r) = parse_request(line).unwrap();
        let Request::Fuzz(f) = r else { panic!("{r:?}") };
        assert_eq!(
            (f.count, f.rate, f.round, f.check_ping, f.check_timeout_ms),
            (1000, 10_000, 1000, true, 1000)
        );
        assert_eq!(f.template.as_deref(), Some("ip/udp"));
        let req = Request::Fuzz(FuzzRequest {
            fields: vec!["tcp.*".into()],
            check_tcp: Some(7),
            inject: true,
            seed: u64::MAX,
            ..FuzzRequest::default()
        });
        let line = request_line(9, &req);
        assert_eq!(parse_request(&line[..line.len() - 1]).unwrap(), (9, req));
    }
}
