//! The `trace` request and its events (docs/CONTROL.md, "trace"): a traceroute from inside the
//! stack, one `trace` reply per event, then `end`. Re-exported from [`super::proto`].

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Which probes a trace sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceMethod {
    /// UDP datagrams to high ports, one port per probe (traceroute's default).
    #[default]
    Udp,
    /// ICMP echo requests (`-I`).
    Icmp,
    /// TCP SYNs to one port (`-T`).
    Tcp,
}

/// Parameters of `trace` (traceroute's options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// Destination.
    pub dst: IpAddr,
    /// Probe kind.
    #[serde(default)]
    pub method: TraceMethod,
    /// TTL (IPv6: hop limit) to start from (`-f`).
    #[serde(default = "default_first_ttl")]
    pub first_ttl: u8,
    /// Largest TTL (`-m`).
    #[serde(default = "default_max_hops")]
    pub max_hops: u8,
    /// Probes per hop (`-q`), 1..=10.
    #[serde(default = "default_queries")]
    pub queries: usize,
    /// How long to wait for a hop's answers, ms (`-w`), at most 60 000.
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
    /// UDP: the first port (+1 per probe, default 33434); TCP: the port (default 80).
    #[serde(default)]
    pub port: Option<u16>,
    /// Bytes of each probe, IP header included (traceroute's packetlen), 28..=65535 (IPv6:
    /// 48..=65535).
    #[serde(default = "default_packet_len")]
    pub packet_len: usize,
    /// Discover the path MTU like tracepath (UDP or ICMP probes with DF).
    #[serde(default)]
    pub pmtu: bool,
}

fn default_first_ttl() -> u8 {
    1
}
fn default_max_hops() -> u8 {
    30
}
fn default_queries() -> usize {
    3
}
fn default_wait() -> u64 {
    5000
}
fn default_packet_len() -> usize {
    60
}

impl TraceRequest {
    /// A trace to `dst` with traceroute's defaults.
    pub fn new(dst: IpAddr) -> TraceRequest {
        TraceRequest {
            dst,
            method: TraceMethod::Udp,
            first_ttl: default_first_ttl(),
            max_hops: default_max_hops(),
            queries: default_queries(),
            wait_ms: default_wait(),
            port: None,
            packet_len: default_packet_len(),
            pmtu: false,
        }
    }

    /// The port probes go to.
    pub fn port(&self) -> u16 {
        match (self.port, self.method) {
            (Some(p), _) => p,
            (None, TraceMethod::Tcp) => 80,
            (None, _) => 33434,
        }
    }
}

/// One event of a `trace` job, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    /// The trace started (traceroute's header line).
    Start {
        /// Destination.
        dst: IpAddr,
        /// Largest TTL.
        max_hops: u8,
        /// Bytes per probe (in `pmtu` mode: the stack's MTU, where the trace starts).
        packet_len: usize,
        /// Probe kind.
        method: TraceMethod,
        /// `pmtu` mode: the MTU the trace starts from (the stack's link).
        pmtu: Option<u16>,
        /// `pmtu` mode over IPv6: how long a probe larger than the link took to be refused at
        /// the source, ms (tracepath -6 shows it on its `[LOCALHOST]` line).
        #[serde(default)]
        local_rtt_ms: Option<f64>,
    },
    /// Probe `probe` (0-based within its hop) at `ttl`; reported in probe order.
    Probe {
        /// Its TTL (over IPv6, its hop limit).
        ttl: u8,
        /// Its number within the hop.
        probe: usize,
        /// Who answered; none: no answer within the wait (`*`).
        from: Option<IpAddr>,
        /// Round-trip time, ms (none with no answer).
        rtt_ms: Option<f64>,
        /// Why the destination cannot be reached, traceroute's annotation (`!H`, `!N`, `!X`,
        /// `!F-1280`, ...); none for time exceeded or the destination's own answer.
        marker: Option<String>,
        /// The destination itself answered.
        reached: bool,
        /// Hops the answer came back over, from its TTL as tracepath guesses them (the
        /// sender's initial TTL taken as 64, 128 or 255); none if unknown.
        #[serde(default)]
        back: Option<u8>,
    },
    /// `from` said "fragmentation needed" with next-hop MTU `mtu`: the probe is sent again
    /// that small (`pmtu` mode).
    Pmtu {
        /// The TTL of the probe.
        ttl: u8,
        /// The router.
        from: IpAddr,
        /// The new path MTU.
        mtu: u16,
        /// Round-trip time of the probe it answered, ms.
        #[serde(default)]
        rtt_ms: Option<f64>,
    },
    /// Every probe of `ttl` is reported.
    HopDone {
        /// The hop.
        ttl: u8,
    },
    /// The last event.
    Done {
        /// The destination answered.
        reached: bool,
        /// The last TTL probed.
        hops: u8,
        /// `pmtu` mode: the path MTU found.
        pmtu: Option<u16>,
        /// Hops back from the destination's answer (tracepath's `back N`), if it answered.
        #[serde(default)]
        back: Option<u8>,
    },
}
