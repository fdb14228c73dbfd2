//! The built-in pages: the home page and the live connection table and counters (`/stats` as
//! text, `/stats.json`).
//!
//! Anyone who can reach the service reads `/stats`, so by default it names no peer: rows show
//! the state, our own address and port and the connection's numbers, never the remote address
//! or port (`ustack up --public-stats` adds them; root sees everything with `ustack ss`). The
//! page has a per-state summary and at most [`MAX_ROWS`] rows, saying how many were left out,
//! so its size is bounded whatever the table holds.

use serde::Serialize;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use ustack::tcp::{State, TcpInfo};

/// Most connection rows a `/stats` page lists; the rest are counted, not listed.
pub const MAX_ROWS: usize = 100;

/// What a `/stats` page shows of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Whether rows name the remote address and port (`--public-stats`).
    pub peers: bool,
    /// Most rows listed.
    pub max_rows: usize,
}

impl View {
    /// Without peer addresses, at most [`MAX_ROWS`] rows.
    pub const PRIVATE: View = View {
        peers: false,
        max_rows: MAX_ROWS,
    };
    /// With peer addresses, at most [`MAX_ROWS`] rows.
    pub const PUBLIC: View = View {
        peers: true,
        max_rows: MAX_ROWS,
    };
}

/// The states in the order the summary lists them (RFC 9293 §3.3.2).
const STATES: [State; 11] = [
    State::Listen,
    State::SynSent,
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
    State::Closed,
];

/// How many connections are in each state (states with none left out), in [`STATES`] order.
fn by_state(conns: &[TcpInfo]) -> Vec<(&'static str, usize)> {
    let mut n = [0usize; STATES.len()];
    for c in conns {
        if let Some(i) = STATES.iter().position(|&s| s == c.state) {
            n[i] += 1;
        }
    }
    STATES
        .iter()
        .zip(n)
        .filter(|&(_, k)| k > 0)
        .map(|(s, k)| (s.name(), k))
        .collect()
}

/// The rows a page lists: sorted by local port, then peer, at most `view.max_rows`.
fn rows(s: &Snapshot, view: View) -> Vec<&TcpInfo> {
    let mut conns: Vec<&TcpInfo> = s.connections.iter().collect();
    conns.sort_by_key(|c| (c.local.port(), c.remote.ip(), c.remote.port()));
    conns.truncate(view.max_rows);
    conns
}

/// What `/stats` shows: taken under the stack's lock in one go, so it is consistent.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stack's address.
    pub addr: IpAddr,
    /// Every connection in the table.
    pub connections: Vec<TcpInfo>,
    /// Connections in the table and half-open ones (SYN-RECEIVED, SYN cookies aside).
    pub counts: (usize, usize),
    /// The stack's counters.
    pub stats: ustack::Stats,
}

/// The home page.
pub fn index_html(addr: IpAddr) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ustack</title>
<style>
body {{ font-family: sans-serif; max-width: 46em; margin: 2em auto; line-height: 1.45; padding: 0 1em; }}
code, pre {{ background: #f2f2f2; padding: 0 .2em; }}
</style>
</head>
<body>
<h1>ustack</h1>
<p>This page was served by <b>ustack</b>, a userspace IPv4 / ICMP / UDP / TCP stack written in
Rust, running behind a Linux TUN device at <code>{addr}</code>. The Linux kernel only moved the
packets: the TCP handshake, the sequence numbers, retransmissions and congestion control of this
very connection were done by ustack itself.</p>
<ul>
<li><a href="/stats">/stats</a> &mdash; the live TCP connection table (state, RTT, RTO, cwnd,
retransmissions) and the stack's counters; <a href="/stats.json">/stats.json</a> as JSON.</li>
</ul>
<h2>Other services on {addr}</h2>
<ul>
<li>ICMP echo: <code>ping {addr}</code></li>
<li>TCP and UDP echo (port 7): <code>nc {addr} 7</code>, <code>nc -u {addr} 7</code></li>
<li>TCP discard (port 9): <code>nc -N {addr} 9 &lt; file</code></li>
<li>TCP chargen (port 19): <code>nc {addr} 19 | head</code></li>
</ul>
<p>Run <code>ustack up --trace</code> to watch every packet, TCP state transition and
retransmission, or <code>--pcap FILE</code> to open them in Wireshark.</p>
</body>
</html>
"#
    )
}

fn opt_ms(d: Option<ustack::Duration>) -> String {
    d.map_or_else(|| "-".into(), ms)
}

fn ms(d: ustack::Duration) -> String {
    format!("{:.1}ms", d.total_micros() as f64 / 1000.0)
}

/// An effectively infinite ssthresh (before the first loss) shows as "inf".
fn window(w: usize) -> String {
    if w >= (u32::MAX as usize) {
        "inf".into()
    } else {
        w.to_string()
    }
}

/// `/stats` as text.
pub fn stats_text(s: &Snapshot, view: View) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ustack {}: {} TCP connections ({} half-open)",
        s.addr, s.counts.0, s.counts.1
    );
    let states: Vec<String> = by_state(&s.connections)
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let _ = writeln!(out, "by state: {}", states.join(", "));
    if !view.peers {
        let _ = writeln!(
            out,
            "peer addresses hidden (ustack up --public-stats shows them; root: ustack ss)"
        );
    }
    let _ = writeln!(out);
    let remote = |r: &str| {
        if view.peers {
            format!(" {r:<21}")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "{:<12} {:<21}{} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10}",
        "STATE",
        "LOCAL",
        remote("REMOTE"),
        "SRTT",
        "RTO",
        "CWND",
        "SSTHRESH",
        "INFLIGHT",
        "RETRANS",
        "BYTES_OUT",
        "BYTES_IN"
    );
    let shown = rows(s, view);
    for c in &shown {
        let _ = writeln!(
            out,
            "{:<12} {:<21}{} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10}",
            c.state.name(),
            c.local.to_string(),
            remote(&c.remote.to_string()),
            opt_ms(c.srtt),
            ms(c.rto),
            c.cwnd,
            window(c.ssthresh),
            c.bytes_in_flight,
            c.stats.retransmits,
            c.stats.bytes_acked,
            c.stats.bytes_received,
        );
    }
    let left_out = s.connections.len() - shown.len();
    if left_out > 0 {
        let _ = writeln!(
            out,
            "... and {left_out} more not listed (at most {} rows)",
            view.max_rows
        );
    }
    let _ = writeln!(out, "\ncounters:\n{}", s.stats);
    out
}

/// Names and values serialized as one JSON object, in their order (the counters; a connection's
/// loss-recovery counters flattened into its row).
struct Named(Vec<(String, u64)>);

impl Serialize for Named {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// One connection row of `/stats.json`.
#[derive(Serialize)]
struct ConnRow {
    state: &'static str,
    local: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<SocketAddr>,
    srtt_us: Option<u64>,
    rto_us: u64,
    cwnd: usize,
    ssthresh: usize,
    bytes_in_flight: usize,
    snd_wnd: usize,
    rcv_wnd: usize,
    retransmits: u64,
    timeouts: u64,
    fast_retransmits: u64,
    bytes_acked: u64,
    bytes_received: u64,
    congestion: &'static str,
    #[serde(flatten)]
    recovery: Named,
}

impl ConnRow {
    fn of(c: &TcpInfo, view: View) -> Self {
        ConnRow {
            state: c.state.name(),
            local: c.local,
            remote: view.peers.then_some(c.remote),
            srtt_us: c.srtt.map(|d| d.total_micros()),
            rto_us: c.rto.total_micros(),
            cwnd: c.cwnd,
            ssthresh: c.ssthresh,
            bytes_in_flight: c.bytes_in_flight,
            snd_wnd: c.snd_wnd,
            rcv_wnd: c.rcv_wnd,
            retransmits: c.stats.retransmits,
            timeouts: c.stats.timeouts,
            fast_retransmits: c.stats.fast_retransmits,
            bytes_acked: c.stats.bytes_acked,
            bytes_received: c.stats.bytes_received,
            congestion: c.congestion,
            recovery: Named(named(c.stats.recovery.named())),
        }
    }
}

fn named<const N: usize>(pairs: [(&'static str, u64); N]) -> Vec<(String, u64)> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// `/stats.json` as a whole.
#[derive(Serialize)]
struct StatsJson {
    addr: IpAddr,
    tcp_connections: usize,
    tcp_half_open: usize,
    states: Named,
    peer_addresses: bool,
    connections_not_listed: usize,
    connections: Vec<ConnRow>,
    counters: Named,
}

/// `/stats.json`: the same as `/stats`; the per-state summary as `states` (name → count), the
/// rows without `remote` unless `view.peers`, `connections_not_listed` beyond the rows; the
/// counters as an object of name → value (`Stats::counters()`, then `drops_total` and each
/// non-zero drop by reason).
pub fn stats_json(s: &Snapshot, view: View) -> String {
    let mut counters = named(s.stats.counters());
    counters.push(("drops_total".into(), s.stats.total_drops()));
    counters.extend(s.stats.nonzero_drops().map(|(r, n)| (format!("{r:?}"), n)));
    let shown = rows(s, view);
    let doc = StatsJson {
        addr: s.addr,
        tcp_connections: s.counts.0,
        tcp_half_open: s.counts.1,
        states: Named(
            by_state(&s.connections)
                .into_iter()
                .map(|(k, n)| (k.to_string(), n as u64))
                .collect(),
        ),
        peer_addresses: view.peers,
        connections_not_listed: s.connections.len() - shown.len(),
        connections: shown.iter().map(|c| ConnRow::of(c, view)).collect(),
        counters: Named(counters),
    };
    // Serializing these types cannot fail: string keys, no fallible `Serialize`.
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn empty_snapshot_renders() {
        let s = Snapshot {
            addr: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            connections: Vec::new(),
            counts: (0, 0),
            stats: ustack::Stats::default(),
        };
        let t = stats_text(&s, View::PRIVATE);
        assert!(t.contains("STATE"), "{t}");
        assert!(t.contains("ip_rx_packets"), "{t}");
        let j = stats_json(&s, View::PRIVATE);
        assert!(j.contains("\"connections\": [],"), "{j}");
        assert!(j.contains("\"ip_rx_packets\": 0"), "{j}");
        // The loss-recovery totals are among the counters.
        assert!(j.contains("\"tcp_undos\": 0"), "{j}");
        assert!(j.contains("\"tcp_tlp_probes\": 0"), "{j}");
        // The shape: the counters in `Stats::counters()` order, then `drops_total`.
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["addr"], "198.18.0.2");
        assert_eq!(
            (v["tcp_connections"].as_u64(), v["tcp_half_open"].as_u64()),
            (Some(0), Some(0))
        );
        let names: Vec<&str> = s.stats.counters().iter().map(|&(k, _)| k).collect();
        let keys: Vec<&str> = j
            .lines()
            .skip_while(|l| !l.contains("\"counters\""))
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(keys[..names.len()], names[..], "{j}");
        assert_eq!(keys[names.len()..], ["drops_total"], "{j}");
        assert!(index_html(s.addr).contains("href=\"/stats\""));
    }
}
