//! The built-in pages: the home page and the live connection table and counters (`/stats` as
//! text, `/stats.json`).

use std::fmt::Write;
use std::net::Ipv4Addr;
use ustack::tcp::TcpInfo;

/// What `/stats` shows: taken under the stack's lock in one go, so it is consistent.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stack's address.
    pub addr: Ipv4Addr,
    /// Every connection in the table.
    pub connections: Vec<TcpInfo>,
    /// Connections in the table and half-open ones (SYN-RECEIVED, SYN cookies aside).
    pub counts: (usize, usize),
    /// The stack's counters.
    pub stats: ustack::Stats,
}

/// The home page.
pub fn index_html(addr: Ipv4Addr) -> String {
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
pub fn stats_text(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ustack {}: {} TCP connections ({} half-open)\n",
        s.addr, s.counts.0, s.counts.1
    );
    let _ = writeln!(
        out,
        "{:<12} {:<21} {:<21} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10}",
        "STATE",
        "LOCAL",
        "REMOTE",
        "SRTT",
        "RTO",
        "CWND",
        "SSTHRESH",
        "INFLIGHT",
        "RETRANS",
        "BYTES_OUT",
        "BYTES_IN"
    );
    let mut conns = s.connections.clone();
    conns.sort_by_key(|c| (c.local.port(), *c.remote.ip(), c.remote.port()));
    for c in &conns {
        let _ = writeln!(
            out,
            "{:<12} {:<21} {:<21} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10}",
            c.state.name(),
            c.local.to_string(),
            c.remote.to_string(),
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
    let _ = writeln!(out, "\ncounters:\n{}", s.stats);
    out
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The loss-recovery counters of one connection as JSON members (`, "tlp_probes": 0, ...`).
fn recovery_json(r: &ustack::tcp::recovery::RecoveryStats) -> String {
    let mut out = String::new();
    for (name, v) in r.named() {
        let _ = write!(out, ", \"{name}\": {v}");
    }
    out
}

/// `/stats.json`: the same as `/stats`, the counters as an object of name → value.
pub fn stats_json(s: &Snapshot) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"addr\": {},", json_str(&s.addr.to_string()));
    let _ = writeln!(
        out,
        "  \"tcp_connections\": {},\n  \"tcp_half_open\": {},",
        s.counts.0, s.counts.1
    );
    out.push_str("  \"connections\": [");
    for (i, c) in s.connections.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        let srtt = c
            .srtt
            .map_or_else(|| "null".to_string(), |d| d.total_micros().to_string());
        let _ = write!(
            out,
            "    {{\"state\": {}, \"local\": {}, \"remote\": {}, \"srtt_us\": {srtt}, \
             \"rto_us\": {}, \"cwnd\": {}, \"ssthresh\": {}, \"bytes_in_flight\": {}, \
             \"snd_wnd\": {}, \"rcv_wnd\": {}, \"retransmits\": {}, \"timeouts\": {}, \
             \"fast_retransmits\": {}, \"bytes_acked\": {}, \"bytes_received\": {}, \
             \"congestion\": {}{}}}",
            json_str(c.state.name()),
            json_str(&c.local.to_string()),
            json_str(&c.remote.to_string()),
            c.rto.total_micros(),
            c.cwnd,
            c.ssthresh,
            c.bytes_in_flight,
            c.snd_wnd,
            c.rcv_wnd,
            c.stats.retransmits,
            c.stats.timeouts,
            c.stats.fast_retransmits,
            c.stats.bytes_acked,
            c.stats.bytes_received,
            json_str(c.congestion),
            recovery_json(&c.stats.recovery),
        );
    }
    out.push_str(if s.connections.is_empty() {
        "],\n"
    } else {
        "\n  ],\n"
    });
    // The counters, parsed back from their table: `name value` and `drop Reason value (...)`.
    out.push_str("  \"counters\": {");
    let mut first = true;
    for line in s.stats.to_string().lines() {
        let mut it = line.split_whitespace();
        let (Some(mut name), Some(mut value)) = (it.next(), it.next()) else {
            continue;
        };
        if name == "drop" {
            let Some(v) = it.next() else { continue };
            (name, value) = (value, v);
        }
        if value.parse::<u64>().is_err() {
            continue;
        }
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        let _ = write!(out, "    {}: {value}", json_str(name));
    }
    out.push_str("\n  }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn empty_snapshot_renders() {
        let s = Snapshot {
            addr: Ipv4Addr::new(198, 18, 0, 2),
            connections: Vec::new(),
            counts: (0, 0),
            stats: ustack::Stats::default(),
        };
        let t = stats_text(&s);
        assert!(t.contains("STATE"), "{t}");
        assert!(t.contains("ip_rx_packets"), "{t}");
        let j = stats_json(&s);
        assert!(j.contains("\"connections\": [],"), "{j}");
        assert!(j.contains("\"ip_rx_packets\": 0"), "{j}");
        // The loss-recovery totals are among the counters.
        assert!(j.contains("\"tcp_undos\": 0"), "{j}");
        assert!(j.contains("\"tcp_tlp_probes\": 0"), "{j}");
        assert!(index_html(s.addr).contains("href=\"/stats\""));
    }
}
