//! How `ustack ss` prints: ss's columns, its state names, its `-i` fields and `-s` summary.

use crate::daemon::proto::{SocketsReply, StatsReply, TcpSocket};
use crate::tools::ss::Selection;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddrV4;

/// Port names from /etc/services (unless `-n`).
#[derive(Debug, Default)]
pub struct Services {
    names: HashMap<(u16, &'static str), String>,
}

impl Services {
    pub fn load(numeric: bool) -> Services {
        let mut s = Services::default();
        if numeric {
            return s;
        }
        let Ok(text) = std::fs::read_to_string("/etc/services") else {
            return s;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut it = line.split_whitespace();
            let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let proto = match proto {
                "tcp" => "tcp",
                "udp" => "udp",
                _ => continue,
            };
            if let Ok(port) = port.parse() {
                s.names
                    .entry((port, proto))
                    .or_insert_with(|| name.to_string());
            }
        }
        s
    }

    fn addr(&self, a: SocketAddrV4, proto: &'static str) -> String {
        match self.names.get(&(a.port(), proto)) {
            Some(n) => format!("{}:{n}", a.ip()),
            None => a.to_string(),
        }
    }
}

/// ss's column spelling of a state.
pub fn display_state(s: &str) -> String {
    match s {
        "established" => "ESTAB".into(),
        "close" => "UNCONN".into(),
        other => other.to_ascii_uppercase(),
    }
}

struct Row {
    netid: &'static str,
    state: String,
    recv_q: u64,
    send_q: u64,
    local: String,
    peer: String,
    info: Option<String>,
}

/// Prints the table (and `-i` lines).
pub fn print_sockets(r: &SocketsReply, sel: &Selection, info: bool, names: &Services) {
    let mut rows = Vec::new();
    for l in &r.listeners {
        rows.push(Row {
            netid: "tcp",
            state: "LISTEN".into(),
            recv_q: l.queued,
            send_q: l.backlog,
            local: names.addr(l.local, "tcp"),
            peer: "0.0.0.0:*".into(),
            info: None,
        });
    }
    for t in &r.tcp {
        rows.push(Row {
            netid: "tcp",
            state: display_state(&t.state),
            recv_q: t.recv_q,
            send_q: t.send_q,
            local: names.addr(t.local, "tcp"),
            peer: names.addr(t.peer, "tcp"),
            info: (info && t.state != "time-wait").then(|| info_line(t)),
        });
    }
    for u in &r.udp {
        rows.push(Row {
            netid: "udp",
            state: "UNCONN".into(),
            recv_q: u.recv_q,
            send_q: 0,
            local: names.addr(u.local, "udp"),
            peer: "0.0.0.0:*".into(),
            info: None,
        });
    }
    print!("{}", table(&rows, sel.tcp && sel.udp));
}

fn table(rows: &[Row], netid: bool) -> String {
    let w = |f: &dyn Fn(&Row) -> usize, head: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(head.len())
    };
    let ws = w(&|r| r.state.len(), "State");
    let wr = w(&|r| r.recv_q.to_string().len(), "Recv-Q");
    let wsq = w(&|r| r.send_q.to_string().len(), "Send-Q");
    let wl = w(&|r| r.local.len(), "Local Address:Port");
    let wp = w(&|r| r.peer.len(), "Peer Address:Port");
    let mut out = String::new();
    if netid {
        out.push_str("Netid ");
    }
    let _ = writeln!(
        out,
        "{:<ws$} {:<wr$} {:<wsq$} {:>wl$} {:<wp$}",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for r in rows {
        if netid {
            let _ = write!(out, "{:<5} ", r.netid);
        }
        let _ = writeln!(
            out,
            "{:<ws$} {:<wr$} {:<wsq$} {:>wl$} {:<wp$}",
            r.state, r.recv_q, r.send_q, r.local, r.peer
        );
        if let Some(i) = &r.info {
            let _ = writeln!(out, "\t {i}");
        }
    }
    out
}

/// `%g`-like milliseconds, as ss prints rtt: at most three decimals, no trailing zeros.
fn ms(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// ss's bandwidth spelling.
pub fn rate(bps: u64) -> String {
    let b = bps as f64;
    if b >= 1e9 {
        format!("{:.1}Gbps", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1}Mbps", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1}Kbps", b / 1e3)
    } else {
        format!("{bps}bps")
    }
}

/// The `-i` line, with the fields `ss -ti` users read, in ss's order.
pub fn info_line(t: &TcpSocket) -> String {
    let mut f: Vec<String> = Vec::new();
    if t.ts {
        f.push("ts".into());
    }
    if t.sack {
        f.push("sack".into());
    }
    f.push(t.congestion.clone());
    f.push(format!("wscale:{},{}", t.wscale.0, t.wscale.1));
    f.push(format!("rto:{}", ms(t.rto_ms)));
    if let (Some(rtt), Some(var)) = (t.rtt_ms, t.rttvar_ms) {
        f.push(format!("rtt:{}/{}", ms(rtt), ms(var)));
    }
    f.push(format!("mss:{}", t.mss));
    f.push(format!("rcvmss:{}", t.rcv_mss));
    f.push(format!("cwnd:{}", t.cwnd));
    if let Some(s) = t.ssthresh {
        f.push(format!("ssthresh:{s}"));
    }
    f.push(format!("bytes_acked:{}", t.bytes_acked));
    f.push(format!("bytes_received:{}", t.bytes_received));
    f.push(format!("segs_out:{}", t.segs_out));
    f.push(format!("segs_in:{}", t.segs_in));
    if let Some(r) = t.send_rate_bps {
        f.push(format!("send {}", rate(r)));
    }
    if let Some(l) = t.lastsnd_ms {
        f.push(format!("lastsnd:{l}"));
    }
    if let Some(l) = t.lastrcv_ms {
        f.push(format!("lastrcv:{l}"));
    }
    if let Some(r) = t.delivery_rate_bps {
        f.push(format!("delivery_rate {}", rate(r)));
    }
    f.push(format!("retrans:0/{}", t.retrans));
    if t.unacked_bytes > 0 {
        f.push(format!("unacked_bytes:{}", t.unacked_bytes));
    }
    f.push(format!("snd_wnd:{}", t.snd_wnd));
    f.push(format!("rcv_wnd:{}", t.rcv_wnd));
    if t.in_recovery {
        f.push("recovery".into());
    }
    f.join(" ")
}

/// TCP connections by state, for `-s`.
pub fn tcp_counts(r: &SocketsReply) -> serde_json::Value {
    let mut by: std::collections::BTreeMap<&str, u64> = Default::default();
    for t in &r.tcp {
        *by.entry(t.state.as_str()).or_default() += 1;
    }
    serde_json::json!({ "total": r.tcp.len() + r.listeners.len(), "by_state": by })
}

/// `ss -s`.
pub fn print_summary(r: &SocketsReply, stats: &StatsReply) {
    let count = |s: &str| r.tcp.iter().filter(|t| t.state == s).count();
    let tcp = r.tcp.len() + r.listeners.len();
    let udp = r.udp.len();
    println!("Total: {}", tcp + udp);
    println!(
        "TCP:   {tcp} (estab {}, closed {}, orphaned 0, timewait {}, synrecv {}, listen {})",
        count("established"),
        count("close"),
        count("time-wait"),
        stats.tcp_half_open,
        r.listeners.len()
    );
    println!();
    println!("Transport Total     IP        IPv6");
    println!("UDP       {udp:<9} {udp:<9} 0");
    println!("TCP       {tcp:<9} {tcp:<9} 0");
    println!("INET      {:<9} {:<9} 0", tcp + udp, tcp + udp);
    let c = |k: &str| stats.counters.get(k).copied().unwrap_or(0);
    println!();
    println!(
        "Stack: {} packets in, {} out, {} dropped; {} bytes of TCP buffers",
        c("ip_rx_packets"),
        c("ip_tx_packets"),
        stats.drops_total,
        stats.memory.get("tcp_buffer_bytes").copied().unwrap_or(0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_match_ss() {
        assert_eq!(display_state("established"), "ESTAB");
        assert_eq!(display_state("time-wait"), "TIME-WAIT");
        assert_eq!(display_state("close"), "UNCONN");
        assert_eq!(ms(0.127), "0.127");
        assert_eq!(ms(204.0), "204");
        assert_eq!(ms(0.5), "0.5");
        assert_eq!(rate(912_000_000), "912.0Mbps");
        assert_eq!(rate(2_300_000_000), "2.3Gbps");
        assert_eq!(rate(999), "999bps");
    }
}
