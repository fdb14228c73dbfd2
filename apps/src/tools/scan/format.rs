//! `ustack scan`'s output: nmap's normal output (`Starting …`, `… scan report for X`, `Host is
//! up (0.00031s latency).`, `Not shown: 997 closed tcp ports (reset)`, the `PORT STATE
//! SERVICE [REASON]` table, the closing `… done: 1 IP address (1 host up) scanned in 0.12
//! seconds`), or the wire events as JSON lines.

use crate::daemon::jobs::scan::ports::service;
use crate::daemon::proto::{ExtraPorts, PortResult, Reason, ScanEvent};
use std::fmt::Write;
use std::net::IpAddr;

/// How events are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// nmap's normal output.
    Nmap {
        /// `--reason`: a REASON column and the host's reason.
        reason: bool,
    },
    /// One JSON object per event.
    Json,
}

/// Turns events into text.
#[derive(Debug)]
pub struct Formatter {
    style: Style,
}

impl Formatter {
    /// A formatter of `style`.
    pub fn new(style: Style) -> Formatter {
        Formatter { style }
    }

    /// The text of one event (whole lines).
    pub fn event(&self, ev: &ScanEvent) -> String {
        let reason = match self.style {
            Style::Json => {
                let mut line = serde_json::to_string(ev).unwrap_or_default();
                line.push('\n');
                return line;
            }
            Style::Nmap { reason } => reason,
        };
        match ev {
            ScanEvent::Start {
                scan, unix_time, ..
            } => format!(
                "Starting ustack scan {} ( {} {} ) at {}\n",
                env!("CARGO_PKG_VERSION"),
                scan.flag(),
                scan.name(),
                utc_minute(*unix_time)
            ),
            ScanEvent::Host {
                addr,
                up,
                reason: why,
                latency_s,
                ports,
                extra,
            } => host(*addr, *up, *why, *latency_s, ports, extra, reason),
            ScanEvent::Done {
                hosts,
                up,
                elapsed_s,
                ..
            } => format!(
                "ustack scan done: {hosts} IP address{} ({up} host{} up) scanned in {elapsed_s:.2} \
                 seconds\n",
                if *hosts == 1 { "" } else { "es" },
                if *up == 1 { "" } else { "s" },
            ),
        }
    }
}

/// nmap's latency: two significant digits, trailing zeros kept (`0.00031s`, `0.0010s`,
/// `0.12s`).
pub fn latency(s: f64) -> String {
    if !(s.is_finite() && s > 0.0) {
        return "0.0s".into();
    }
    let decimals = (1 - s.log10().floor() as i32).clamp(0, 9) as usize;
    format!("{s:.decimals$}s")
}

fn host(
    addr: IpAddr,
    up: bool,
    why: Option<Reason>,
    latency_s: Option<f64>,
    ports: &[PortResult],
    extra: &[ExtraPorts],
    reason: bool,
) -> String {
    let mut out = format!("ustack scan report for {addr}\n");
    let lat = latency_s.map(|l| format!(" ({} latency)", latency(l)));
    match (up, why) {
        (true, Some(r)) if reason => {
            let _ = writeln!(out, "Host is up, received {r}{}.", lat.unwrap_or_default());
        }
        (true, _) => {
            let _ = writeln!(out, "Host is up{}.", lat.unwrap_or_default());
        }
        (false, _) => {
            out.push_str("Host seems down: nothing answered (scanned anyway, as nmap -Pn).\n");
        }
    }
    let total: usize = ports.len() + extra.iter().map(|e| e.count).sum::<usize>();
    if total == 0 {
        return out;
    }
    if ports.is_empty() {
        let _ = writeln!(
            out,
            "All {total} scanned ports on {addr} are in ignored states."
        );
    }
    if !extra.is_empty() {
        let parts: Vec<String> = extra.iter().map(not_shown).collect();
        let _ = writeln!(out, "Not shown: {}", parts.join(", "));
    }
    if !ports.is_empty() {
        out.push_str(&table(ports, reason));
    }
    out.push('\n');
    out
}

/// `997 closed tcp ports (reset)`; several reasons: `(995 no-response, 2 admin-prohibited)`.
fn not_shown(e: &ExtraPorts) -> String {
    let why = match e.reasons.as_slice() {
        [(r, _)] => r.to_string(),
        rs => rs
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!("{} {} {} ports ({why})", e.count, e.state, e.proto)
}

/// The port table, columns as wide as their longest cell plus one space (nmap's layout).
fn table(ports: &[PortResult], reason: bool) -> String {
    let rows: Vec<[String; 4]> = ports
        .iter()
        .map(|p| {
            let why = match p.reason_ttl {
                Some(ttl) => format!("{} ttl {ttl}", p.reason),
                None => p.reason.to_string(),
            };
            [
                format!("{}/{}", p.port, p.proto),
                p.state.to_string(),
                service(p.port, p.proto).to_string(),
                why,
            ]
        })
        .collect();
    let head = ["PORT", "STATE", "SERVICE", "REASON"];
    let cols = if reason { 4 } else { 3 };
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].len())
            .chain([head[c].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let line = |cells: [&str; 4]| {
        let mut l = String::new();
        for c in 0..cols {
            if c + 1 == cols {
                l.push_str(cells[c]);
            } else {
                let _ = write!(l, "{:<w$} ", cells[c], w = widths[c]);
            }
        }
        l.push('\n');
        l
    };
    let mut out = line(head);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3]]));
    }
    out
}

/// `2026-12-07 18:05 UTC` from Unix seconds (Howard Hinnant's days-to-civil).
pub fn utc_minute(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::proto::{PortState, Proto, ScanType};

    fn port(port: u16, state: PortState, reason: Reason, ttl: Option<u8>) -> PortResult {
        PortResult {
            port,
            proto: Proto::Tcp,
            state,
            reason,
            reason_ttl: ttl,
        }
    }

    fn report() -> ScanEvent {
        ScanEvent::Host {
            addr: "198.18.0.1".parse().unwrap(),
            up: true,
            reason: Some(Reason::SynAck),
            latency_s: Some(0.000_31),
            ports: vec![
                port(22, PortState::Open, Reason::SynAck, Some(64)),
                port(443, PortState::Filtered, Reason::AdminProhibited, Some(64)),
            ],
            extra: vec![ExtraPorts {
                proto: Proto::Tcp,
                state: PortState::Closed,
                count: 997,
                reasons: vec![(Reason::Reset, 997)],
            }],
        }
    }

    #[test]
    fn nmaps_layout() {
        let f = Formatter::new(Style::Nmap { reason: false });
        assert_eq!(
            f.event(&report()),
            "ustack scan report for 198.18.0.1\n\
             Host is up (0.00031s latency).\n\
             Not shown: 997 closed tcp ports (reset)\n\
             PORT    STATE    SERVICE\n\
             22/tcp  open     ssh\n\
             443/tcp filtered https\n\n"
        );
        let f = Formatter::new(Style::Nmap { reason: true });
        let text = f.event(&report());
        assert!(
            text.contains("Host is up, received syn-ack (0.00031s latency).\n"),
            "{text}"
        );
        assert!(text.contains("PORT    STATE    SERVICE REASON\n"), "{text}");
        assert!(
            text.contains("22/tcp  open     ssh     syn-ack ttl 64\n"),
            "{text}"
        );
        let done = ScanEvent::Done {
            hosts: 1,
            up: 1,
            elapsed_s: 0.123,
            probes: 1000,
        };
        assert_eq!(
            f.event(&done),
            "ustack scan done: 1 IP address (1 host up) scanned in 0.12 seconds\n"
        );
        let start = ScanEvent::Start {
            scan: ScanType::Syn,
            hosts: 1,
            ports: 1000,
            from: vec![],
            unix_time: 1_796_666_700,
        };
        let line = f.event(&start);
        assert!(line.starts_with("Starting ustack scan "), "{line}");
        assert!(
            line.ends_with("( -sS SYN Stealth Scan ) at 2026-12-07 18:05 UTC\n"),
            "{line}"
        );
    }

    #[test]
    fn all_ignored_and_json() {
        let ev = ScanEvent::Host {
            addr: "2001:2::1".parse().unwrap(),
            up: false,
            reason: None,
            latency_s: None,
            ports: vec![],
            extra: vec![ExtraPorts {
                proto: Proto::Udp,
                state: PortState::OpenFiltered,
                count: 100,
                reasons: vec![(Reason::NoResponse, 98), (Reason::AdminProhibited, 2)],
            }],
        };
        let text = Formatter::new(Style::Nmap { reason: false }).event(&ev);
        assert!(text.contains("Host seems down"), "{text}");
        assert!(text.contains("All 100 scanned ports on 2001:2::1 are in ignored states.\n"));
        assert!(text.contains(
            "Not shown: 100 open|filtered udp ports (98 no-response, 2 admin-prohibited)\n"
        ));
        let json = Formatter::new(Style::Json).event(&ev);
        let back: ScanEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
        assert!(json.contains("\"state\":\"open|filtered\""), "{json}");
    }

    #[test]
    fn latency_has_two_significant_digits() {
        assert_eq!(latency(0.000_31), "0.00031s");
        assert_eq!(latency(0.001), "0.0010s");
        assert_eq!(latency(0.123), "0.12s");
        assert_eq!(latency(1.5), "1.5s");
        assert_eq!(latency(12.0), "12s");
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
    }
}
