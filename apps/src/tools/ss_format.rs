//! How `ustack ss` prints: ss's columns, its state names, its `-i` fields and `-s` summary.

use crate::daemon::proto::{SocketsReply, StatsReply, TcpSocket};
use crate::tools::ss::{Selection, SsArgs};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Port names from /etc/services (unless `-n`).
#[derive(Debug, Default)]
pub struct Services {
    names: HashMap<(u16, &'static str), String>,
}

impl Services {
    /// Port names from /etc/services, as ss prints them without `-n`; none with `numeric`
    /// (or without the file).
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

    /// The port a service name stands for (`http` → 80), TCP's first, for filters.
    pub fn port_of(&self, name: &str) -> Option<u16> {
        let mut found: Vec<_> = self
            .names
            .iter()
            .filter(|(_, n)| n.as_str() == name)
            .map(|((port, proto), _)| (*proto != "tcp", *port))
            .collect();
        found.sort();
        found.first().map(|(_, p)| *p)
    }

    fn addr(&self, a: SocketAddr, proto: &'static str) -> String {
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
    users: Option<String>,
    info: Option<String>,
}

/// ss's `-p` column: `users:(("NAME",pid=PID))`; the name is the service or job holding the
/// socket inside `ustack up`, the pid that process's (there is no file descriptor to show).
pub fn users(owner: Option<&str>, pid: Option<u32>) -> Option<String> {
    let owner = owner?;
    Some(match pid {
        Some(p) => format!("users:((\"{owner}\",pid={p}))"),
        None => format!("users:((\"{owner}\"))"),
    })
}

/// Prints the table (and `-i` lines, and `-p` users).
pub fn print_sockets(r: &SocketsReply, sel: &Selection, args: &SsArgs, names: &Services) {
    let info = args.info;
    let who = |o: &Option<String>| {
        if args.processes {
            users(o.as_deref(), r.pid)
        } else {
            None
        }
    };
    let mut rows = Vec::new();
    for l in &r.listeners {
        rows.push(Row {
            netid: "tcp",
            state: "LISTEN".into(),
            recv_q: l.queued,
            send_q: l.backlog,
            local: names.addr(l.local, "tcp"),
            peer: "0.0.0.0:*".into(),
            users: who(&l.owner),
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
            users: who(&t.owner),
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
            users: who(&u.owner),
            info: None,
        });
    }
    print!("{}", table(&rows, sel.tcp && sel.udp, args.processes));
}

fn table(rows: &[Row], netid: bool, process: bool) -> String {
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
    let _ = write!(
        out,
        "{:<ws$} {:<wr$} {:<wsq$} {:>wl$} {:<wp$}",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    out.push_str(if process { " Process\n" } else { "\n" });
    for r in rows {
        if netid {
            let _ = write!(out, "{:<5} ", r.netid);
        }
        let _ = write!(
            out,
            "{:<ws$} {:<wr$} {:<wsq$} {:>wl$} {:<wp$}",
            r.state, r.recv_q, r.send_q, r.local, r.peer
        );
        match &r.users {
            Some(u) => {
                let _ = writeln!(out, " {u}");
            }
            None => out.push('\n'),
        }
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

/// TCP connections by state, for `-s --json`.
pub fn tcp_counts(r: &SocketsReply) -> serde_json::Value {
    let mut by: std::collections::BTreeMap<&str, u64> = Default::default();
    for t in &r.tcp {
        *by.entry(t.state.as_str()).or_default() += 1;
    }
    serde_json::json!({ "total": r.tcp.len() + r.listeners.len(), "by_state": by })
}

/// `ss -s` in the kernel's layout (iproute2's `print_summary`), from the stack's tables; the
/// kernel's numbers are mapped so:
/// - `Total`: TCP sockets other than TIME-WAIT (the kernel's `sockets: used` holds no
///   TIME-WAIT) plus the stack's datagram sockets (UDP, ping, raw).
/// - `TCP: N`: connections, listeners and TIME-WAIT entries (`alloc + tw`); `estab`:
///   ESTABLISHED and CLOSE-WAIT (RFC 1213 tcpCurrEstab, the kernel's `CurrEstab`); `closed`:
///   `alloc − (inuse − tw)` as ss computes it, so TIME-WAIT counts there too (every stack
///   socket is hashed); `orphaned`: connections their app closed, still in the table.
/// - The Transport table: RAW 0 (raw sockets are not listed), UDP and TCP (without
///   TIME-WAIT) in the IP or IPv6 column by the connection's family (listeners and UDP
///   sockets, which take both families, in IP's); FRAG: datagrams being reassembled.
pub fn summary_text(r: &SocketsReply, stats: &StatsReply) -> String {
    let count = |f: &dyn Fn(&str) -> bool| r.tcp.iter().filter(|t| f(&t.state)).count();
    let tw = count(&|s| s == "time-wait");
    let hashed = r.listeners.len() + r.tcp.len() - tw;
    let alloc = hashed;
    let estab = count(&|s| s == "established" || s == "close-wait");
    let orphaned = r.tcp.iter().filter(|t| t.orphaned).count();
    let udp = r.udp.len();
    let mem = |k: &str| stats.memory.get(k).copied().unwrap_or(0) as usize;
    let datagram = mem("sockets").max(udp);
    let frag = mem("reassembly_datagrams");
    let mut o = String::new();
    let _ = writeln!(o, "Total: {}", alloc + datagram);
    let _ = writeln!(
        o,
        "TCP:   {} (estab {estab}, closed {}, orphaned {orphaned}, timewait {tw})",
        alloc + tw,
        alloc + tw - hashed,
    );
    o.push('\n');
    o.push_str("Transport Total     IP        IPv6\n");
    let row = |o: &mut String, name: &str, (v4, v6): (usize, usize)| {
        let _ = writeln!(o, "{name}\t  {:<9} {v4:<9} {v6:<9}", v4 + v6);
    };
    // Connections count in their family's column; listeners and UDP sockets (one per port,
    // for both families, listed with the IPv4 address) in IP's.
    let tcp6 = r
        .tcp
        .iter()
        .filter(|t| t.state != "time-wait" && t.local.is_ipv6())
        .count();
    row(&mut o, "RAW", (0, 0));
    row(&mut o, "UDP", (udp, 0));
    row(&mut o, "TCP", (hashed - tcp6, tcp6));
    row(&mut o, "INET", (udp + hashed - tcp6, tcp6));
    row(&mut o, "FRAG", (frag, 0));
    o.push('\n');
    o
}

/// `ss -s`.
pub fn print_summary(r: &SocketsReply, stats: &StatsReply) {
    print!("{}", summary_text(r, stats));
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

    fn tcp(state: &str, orphaned: bool) -> serde_json::Value {
        serde_json::json!({"state": state, "local": "198.18.0.2:80", "peer": "198.18.0.1:40000",
            "recv_q": 0, "send_q": 0, "rto_ms": 200.0, "rtt_ms": null, "rttvar_ms": null,
            "mss": 1448, "rcv_mss": 536, "cwnd": 10, "ssthresh": null, "unacked_bytes": 0,
            "snd_wnd": 0, "rcv_wnd": 0, "bytes_acked": 0, "bytes_received": 0, "segs_out": 0,
            "segs_in": 0, "retrans": 0, "fast_retrans": 0, "timeouts": 0, "out_of_order": 0,
            "lastsnd_ms": null, "lastrcv_ms": null, "delivery_rate_bps": null,
            "send_rate_bps": null, "congestion": "newreno", "wscale": [7, 7], "ts": true,
            "sack": true, "in_recovery": false, "orphaned": orphaned})
    }

    #[test]
    fn summary_in_the_kernels_layout() {
        let r: SocketsReply = serde_json::from_value(serde_json::json!({
            "tcp": [tcp("established", false), tcp("close-wait", false),
                    tcp("fin-wait-1", true), tcp("time-wait", false)],
            "listeners": [{"local": "198.18.0.2:80", "queued": 0, "backlog": 128}],
            "udp": [{"local": "198.18.0.2:7", "recv_q": 0, "recv_datagrams": 0}],
        }))
        .unwrap();
        let stats: StatsReply = serde_json::from_value(serde_json::json!({
            "counters": {}, "drops_total": 0, "drops": [], "tcp_connections": 4,
            "tcp_half_open": 0, "memory": {"sockets": 2, "reassembly_datagrams": 1},
        }))
        .unwrap();
        let want = "Total: 6\n\
                    TCP:   5 (estab 2, closed 1, orphaned 1, timewait 1)\n\
                    \n\
                    Transport Total     IP        IPv6\n\
                    RAW\t  0         0         0        \n\
                    UDP\t  1         1         0        \n\
                    TCP\t  4         4         0        \n\
                    INET\t  5         5         0        \n\
                    FRAG\t  1         1         0        \n\
                    \n";
        assert_eq!(summary_text(&r, &stats), want);
    }
}
