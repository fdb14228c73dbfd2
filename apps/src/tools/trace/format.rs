//! How trace events look to people: iputils/`traceroute`-style lines (hop, address, one RTT
//! per probe, `*` for no answer, `!H`-style markers), `tracepath`-style lines for `--pmtu`, and
//! one JSON object per event for `--json`. Each event turns into text to print at once, so a
//! slow hop shows its probes as they come.

use crate::daemon::proto::TraceEvent;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Which look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `traceroute`: one line per hop.
    Traceroute,
    /// `tracepath`: one line per hop, with `pmtu N` where it changes.
    Tracepath,
    /// One JSON object per event, one per line.
    Json,
}

/// Turns events into text, keeping what one line needs.
#[derive(Debug)]
pub struct Formatter {
    style: Style,
    numeric: bool,
    /// The address last shown on the current traceroute line.
    last_from: Option<IpAddr>,
    /// tracepath: an answer with a marker (`!H`) ended the trace, not the hop limit.
    ended_by_marker: bool,
}

impl Formatter {
    /// `numeric`: addresses only (traceroute's `-n`); otherwise `addr (addr)`, as traceroute
    /// shows an address it has no name for (the stack has no resolver).
    pub fn new(style: Style, numeric: bool) -> Formatter {
        Formatter {
            style,
            numeric,
            last_from: None,
            ended_by_marker: false,
        }
    }

    /// The text for one event (may be empty, or part of a line).
    pub fn event(&mut self, e: &TraceEvent) -> String {
        match self.style {
            Style::Traceroute => self.traceroute(e),
            Style::Tracepath => self.tracepath(e),
            Style::Json => serde_json::to_string(e).unwrap_or_default() + "\n",
        }
    }

    fn name(&self, a: IpAddr) -> String {
        if self.numeric {
            a.to_string()
        } else {
            format!("{a} ({a})")
        }
    }

    fn traceroute(&mut self, e: &TraceEvent) -> String {
        let mut out = String::new();
        match *e {
            TraceEvent::Start {
                dst,
                max_hops,
                packet_len,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "traceroute to {dst} ({dst}), {max_hops} hops max, {packet_len} byte packets"
                );
            }
            TraceEvent::Probe {
                ttl,
                probe,
                from,
                rtt_ms,
                ref marker,
                ..
            } => {
                if probe == 0 {
                    let _ = write!(out, "{ttl:>2} ");
                    self.last_from = None;
                }
                match from {
                    None => out.push_str(" *"),
                    Some(from) => {
                        if self.last_from != Some(from) {
                            let _ = write!(out, " {}", self.name(from));
                            self.last_from = Some(from);
                        }
                        let _ = write!(out, "  {:.3} ms", rtt_ms.unwrap_or(0.0));
                        if let Some(m) = marker {
                            let _ = write!(out, " {m}");
                        }
                    }
                }
            }
            TraceEvent::Pmtu { .. } | TraceEvent::Done { .. } => {}
            TraceEvent::HopDone { .. } => out.push('\n'),
        }
        out
    }
}

/// tracepath's host column: the address padded to 52 characters (at least one space after).
const HOST_COLUMN: usize = 52;

/// tracepath's `%3d.%03dms `: whole milliseconds right-aligned in three, then microseconds.
fn tracepath_ms(ms: f64) -> String {
    let us = (ms * 1000.0).round().max(0.0) as u64;
    format!("{:>3}.{:03}ms ", us / 1000, us % 1000)
}

/// The start of a tracepath answer line: hop, address padded to the host column, RTT.
fn tracepath_host(ttl: u8, from: IpAddr, rtt_ms: Option<f64>) -> String {
    let host = from.to_string();
    let pad = HOST_COLUMN.saturating_sub(host.len()).max(1);
    let rtt = rtt_ms.map(tracepath_ms).unwrap_or_default();
    format!("{ttl:>2}:  {host}{:pad$}{rtt}", "")
}

impl Formatter {
    /// tracepath's lines: one per hop (its answer, or `no reply`), one per MTU change with
    /// `pmtu N`, `asymm N` where a router's answer came back over another number of hops than
    /// the probe went, and `Resume: pmtu N hops N back N`. Trailing spaces as tracepath's.
    fn tracepath(&mut self, e: &TraceEvent) -> String {
        match *e {
            // tracepath -6 shows the time its first probe took to fail locally; over IPv4
            // it shows none.
            TraceEvent::Start {
                pmtu, local_rtt_ms, ..
            } => match pmtu {
                Some(m) => {
                    let rtt = local_rtt_ms.map(tracepath_ms).unwrap_or_default();
                    format!(" 1?: [LOCALHOST]{:22}{rtt}pmtu {m}\n", "")
                }
                None => String::new(),
            },
            TraceEvent::Probe {
                ttl,
                from,
                rtt_ms,
                ref marker,
                reached,
                back,
                ..
            } => match from {
                None => format!("{ttl:>2}:  no reply\n"),
                Some(from) => {
                    let mut line = tracepath_host(ttl, from, rtt_ms);
                    if reached {
                        line.push_str("reached");
                    } else if let Some(m) = marker {
                        self.ended_by_marker = true;
                        line.push_str(m);
                    } else if let Some(b) = back.filter(|&b| b != ttl) {
                        let _ = write!(line, "asymm {b:>2} ");
                    }
                    line + "\n"
                }
            },
            TraceEvent::Pmtu {
                ttl,
                from,
                mtu,
                rtt_ms,
            } => format!("{}pmtu {mtu}\n", tracepath_host(ttl, from, rtt_ms)),
            TraceEvent::HopDone { .. } => String::new(),
            TraceEvent::Done {
                reached,
                hops,
                pmtu,
                back,
            } => {
                let pmtu = pmtu.map(|m| format!("pmtu {m} ")).unwrap_or_default();
                let mut out = String::new();
                if !reached && !self.ended_by_marker {
                    let _ = writeln!(out, "     Too many hops: {}", pmtu.trim_end());
                }
                let _ = write!(out, "     Resume: {pmtu}");
                if reached {
                    let _ = write!(out, "hops {hops} ");
                    if let Some(b) = back {
                        let _ = write!(out, "back {b} ");
                    }
                }
                out + "\n"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::proto::TraceMethod;
    use std::net::Ipv4Addr;

    const DST: Ipv4Addr = Ipv4Addr::new(198, 19, 3, 2);
    const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const R2: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);

    /// A probe's outcome: (who, µs, marker, reached); `None`: no answer.
    type Outcome = Option<(Ipv4Addr, u64, Option<&'static str>, bool)>;

    fn reply(from: Ipv4Addr, us: u64, marker: Option<&'static str>, reached: bool) -> Outcome {
        Some((from, us, marker, reached))
    }

    fn probe(ttl: u8, probe: usize, o: Outcome) -> TraceEvent {
        TraceEvent::Probe {
            ttl,
            probe,
            from: o.map(|r| r.0.into()),
            rtt_ms: o.map(|r| r.1 as f64 / 1000.0),
            marker: o.and_then(|r| r.2).map(str::to_string),
            reached: o.is_some_and(|r| r.3),
            back: o.map(|_| ttl),
        }
    }

    fn hop(ttl: u8, outcomes: &[Outcome]) -> Vec<TraceEvent> {
        let mut v: Vec<TraceEvent> = outcomes
            .iter()
            .enumerate()
            .map(|(i, &o)| probe(ttl, i, o))
            .collect();
        v.push(TraceEvent::HopDone { ttl });
        v
    }

    fn run(style: Style, numeric: bool, events: &[TraceEvent]) -> String {
        let mut f = Formatter::new(style, numeric);
        events.iter().map(|e| f.event(e)).collect()
    }

    fn start(packet_len: usize, pmtu: Option<u16>) -> TraceEvent {
        TraceEvent::Start {
            dst: std::net::IpAddr::V4(DST),
            max_hops: 30,
            packet_len,
            method: TraceMethod::Udp,
            pmtu,
            local_rtt_ms: None,
        }
    }

    fn sample() -> Vec<TraceEvent> {
        let mut ev = vec![start(60, None)];
        ev.extend(hop(
            1,
            &[
                reply(R1, 412, None, false),
                reply(R1, 301, None, false),
                reply(R1, 298, None, false),
            ],
        ));
        ev.extend(hop(
            2,
            &[
                None,
                reply(R2, 1500, None, false),
                reply(R1, 2000, None, false),
            ],
        ));
        ev.extend(hop(3, &[None, None, None]));
        ev.extend(hop(4, &[reply(DST, 800, Some("!H"), false)]));
        ev.push(TraceEvent::Done {
            reached: false,
            hops: 4,
            pmtu: None,
            back: None,
        });
        ev
    }

    #[test]
    fn traceroute_lines() {
        let text = run(Style::Traceroute, true, &sample());
        let expected = "traceroute to 198.19.3.2 (198.19.3.2), 30 hops max, 60 byte packets\n\
             \x201  198.18.0.1  0.412 ms  0.301 ms  0.298 ms\n\
             \x202  * 198.19.1.2  1.500 ms 198.18.0.1  2.000 ms\n\
             \x203  * * *\n\
             \x204  198.19.3.2  0.800 ms !H\n";
        assert_eq!(text, expected);
        let named = run(Style::Traceroute, false, &sample());
        assert!(
            named.contains(" 1  198.18.0.1 (198.18.0.1)  0.412 ms"),
            "{named}"
        );
    }

    #[test]
    fn tracepath_lines_show_pmtu_changes() {
        let mut asymm = probe(3, 0, reply(R2, 90, None, false));
        if let TraceEvent::Probe { back, .. } = &mut asymm {
            *back = Some(5);
        }
        let ev = vec![
            start(1500, Some(1500)),
            TraceEvent::Pmtu {
                ttl: 2,
                from: std::net::IpAddr::V4(R2),
                mtu: 1400,
                rtt_ms: Some(0.019),
            },
            probe(2, 0, reply(R2, 500, None, false)),
            asymm,
            probe(3, 0, None),
            probe(4, 0, reply(DST, 12345, None, true)),
            TraceEvent::Done {
                reached: true,
                hops: 4,
                pmtu: Some(1280),
                back: Some(4),
            },
        ];
        let text = run(Style::Tracepath, true, &ev);
        let lines: Vec<&str> = text.lines().collect();
        // As tracepath prints them (iputils 20221126, `tracepath -n`), trailing spaces too.
        let pad = |host: &str| " ".repeat(52 - host.len());
        assert_eq!(lines[0], " 1?: [LOCALHOST]                      pmtu 1500");
        assert_eq!(
            lines[1],
            format!(" 2:  198.19.1.2{}  0.019ms pmtu 1400", pad("198.19.1.2"))
        );
        assert_eq!(
            lines[2],
            format!(" 2:  198.19.1.2{}  0.500ms ", pad("198.19.1.2"))
        );
        assert_eq!(
            lines[3],
            format!(" 3:  198.19.1.2{}  0.090ms asymm  5 ", pad("198.19.1.2"))
        );
        assert_eq!(lines[4], " 3:  no reply");
        assert_eq!(
            lines[5],
            format!(" 4:  198.19.3.2{} 12.345ms reached", pad("198.19.3.2"))
        );
        assert_eq!(lines[6], "     Resume: pmtu 1280 hops 4 back 4 ");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn tracepath6_lines() {
        let far: std::net::IpAddr = "2001:2:0:3::2".parse().unwrap();
        let r1: std::net::IpAddr = "2001:2:0:1::2".parse().unwrap();
        let ev = vec![
            TraceEvent::Start {
                dst: far,
                max_hops: 30,
                packet_len: 1500,
                method: TraceMethod::Udp,
                pmtu: Some(1500),
                local_rtt_ms: Some(0.021),
            },
            TraceEvent::Pmtu {
                ttl: 3,
                from: r1,
                mtu: 1400,
                rtt_ms: Some(0.02),
            },
            TraceEvent::Probe {
                ttl: 5,
                probe: 0,
                from: Some(far),
                rtt_ms: Some(0.024),
                marker: Some("!A".into()),
                reached: false,
                back: Some(5),
            },
            TraceEvent::Done {
                reached: false,
                hops: 5,
                pmtu: Some(1400),
                back: None,
            },
        ];
        let text = run(Style::Tracepath, true, &ev);
        let lines: Vec<&str> = text.lines().collect();
        // As tracepath -6 -n prints them (iputils 20221126), trailing spaces too.
        let pad = |host: &str| " ".repeat(52 - host.len());
        assert_eq!(
            lines,
            [
                " 1?: [LOCALHOST]                        0.021ms pmtu 1500".to_string(),
                format!(
                    " 3:  2001:2:0:1::2{}  0.020ms pmtu 1400",
                    pad("2001:2:0:1::2")
                ),
                format!(" 5:  2001:2:0:3::2{}  0.024ms !A", pad("2001:2:0:3::2")),
                "     Resume: pmtu 1400 ".to_string(),
            ]
        );
        let route = run(Style::Traceroute, true, &ev[..1]);
        assert_eq!(
            route,
            "traceroute to 2001:2:0:3::2 (2001:2:0:3::2), 30 hops max, 1500 byte packets\n"
        );
    }

    #[test]
    fn tracepath_endings() {
        let marker = vec![
            start(1500, Some(1500)),
            probe(1, 0, reply(DST, 100, Some("!H"), false)),
            TraceEvent::Done {
                reached: false,
                hops: 1,
                pmtu: Some(1500),
                back: None,
            },
        ];
        let text = run(Style::Tracepath, true, &marker);
        assert!(
            text.lines().nth(1).unwrap().ends_with("0.100ms !H"),
            "{text}"
        );
        assert_eq!(text.lines().last(), Some("     Resume: pmtu 1500 "));
        let limit = vec![
            start(1500, Some(1500)),
            probe(1, 0, None),
            TraceEvent::Done {
                reached: false,
                hops: 1,
                pmtu: Some(1500),
                back: None,
            },
        ];
        let text = run(Style::Tracepath, true, &limit);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2..],
            ["     Too many hops: pmtu 1500", "     Resume: pmtu 1500 "]
        );
    }

    #[test]
    fn json_lines_are_the_wire_events() {
        let text = run(Style::Json, true, &sample());
        let back: Vec<TraceEvent> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(back, sample());
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.starts_with(r#"{"event":"probe","ttl":1,"probe":0,"from":"198.18.0.1""#),
            "{line}"
        );
    }
}
