//! How trace events look to people: iputils/`traceroute`-style lines (hop, address, one RTT
//! per probe, `*` for no answer, `!H`-style markers), `tracepath`-style lines for `--pmtu`, and
//! one JSON object per event for `--json`. Each event turns into text to print at once, so a
//! slow hop shows its probes as they come.

use super::job::{Method, Outcome, TraceEvent};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// Which look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `traceroute`: one line per hop.
    Traceroute,
    /// `tracepath`: one line per answer, with `pmtu N` where it changes.
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
    last_from: Option<Ipv4Addr>,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Formatter {
    /// `numeric`: addresses only (traceroute's `-n`); otherwise `addr (addr)`, as traceroute
    /// shows an address it has no name for (the stack has no resolver).
    pub fn new(style: Style, numeric: bool) -> Formatter {
        Formatter {
            style,
            numeric,
            last_from: None,
        }
    }

    /// The text for one event (may be empty, or part of a line).
    pub fn event(&mut self, e: &TraceEvent) -> String {
        match self.style {
            Style::Traceroute => self.traceroute(e),
            Style::Tracepath => tracepath(e),
            Style::Json => json(e) + "\n",
        }
    }

    fn name(&self, a: Ipv4Addr) -> String {
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
                outcome,
            } => {
                if probe == 0 {
                    let _ = write!(out, "{ttl:>2} ");
                    self.last_from = None;
                }
                match outcome {
                    Outcome::Timeout => out.push_str(" *"),
                    Outcome::Reply {
                        from, rtt, marker, ..
                    } => {
                        if self.last_from != Some(from) {
                            let _ = write!(out, " {}", self.name(from));
                            self.last_from = Some(from);
                        }
                        let _ = write!(out, "  {:.3} ms", ms(rtt));
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

fn tracepath(e: &TraceEvent) -> String {
    match *e {
        TraceEvent::Start { pmtu, .. } => match pmtu {
            Some(m) => format!(" 1?: [LOCALHOST]{:22}pmtu {m}\n", ""),
            None => String::new(),
        },
        TraceEvent::Probe { ttl, outcome, .. } => match outcome {
            Outcome::Timeout => format!("{ttl:>2}:  no reply\n"),
            Outcome::Reply {
                from,
                rtt,
                marker,
                reached,
            } => {
                let mut line = format!("{ttl:>2}:  {:<48}{:.3}ms", from.to_string(), ms(rtt));
                if let Some(m) = marker {
                    let _ = write!(line, " {m}");
                }
                if reached {
                    line.push_str(" reached");
                }
                line + "\n"
            }
        },
        TraceEvent::Pmtu { ttl, from, mtu } => {
            format!("{ttl:>2}:  {:<48}pmtu {mtu}\n", from.to_string())
        }
        TraceEvent::HopDone { .. } => String::new(),
        TraceEvent::Done {
            reached,
            hops,
            pmtu,
        } => {
            let pmtu = pmtu.map(|m| format!("pmtu {m} ")).unwrap_or_default();
            if reached {
                format!("     Resume: {pmtu}hops {hops}\n")
            } else {
                format!("     Too many hops: {pmtu}\n     Resume: {pmtu}\n")
            }
        }
    }
}

fn method(m: Method) -> &'static str {
    m.name()
}

/// One event as a JSON object (hand-written: flat, fixed keys).
pub fn json(e: &TraceEvent) -> String {
    match *e {
        TraceEvent::Start {
            dst,
            max_hops,
            packet_len,
            method: m,
            pmtu,
        } => format!(
            r#"{{"event":"start","dst":"{dst}","max_hops":{max_hops},"packet_len":{packet_len},"method":"{}","pmtu":{}}}"#,
            method(m),
            opt(pmtu)
        ),
        TraceEvent::Probe {
            ttl,
            probe,
            outcome,
        } => match outcome {
            Outcome::Timeout => {
                format!(r#"{{"event":"probe","ttl":{ttl},"probe":{probe},"timeout":true}}"#)
            }
            Outcome::Reply {
                from,
                rtt,
                marker,
                reached,
            } => format!(
                r#"{{"event":"probe","ttl":{ttl},"probe":{probe},"timeout":false,"from":"{from}","rtt_ms":{:.3},"marker":{},"reached":{reached}}}"#,
                ms(rtt),
                marker.map_or("null".to_string(), |m| format!("\"{m}\""))
            ),
        },
        TraceEvent::Pmtu { ttl, from, mtu } => {
            format!(r#"{{"event":"pmtu","ttl":{ttl},"from":"{from}","mtu":{mtu}}}"#)
        }
        TraceEvent::HopDone { ttl } => format!(r#"{{"event":"hop_done","ttl":{ttl}}}"#),
        TraceEvent::Done {
            reached,
            hops,
            pmtu,
        } => format!(
            r#"{{"event":"done","reached":{reached},"hops":{hops},"pmtu":{}}}"#,
            opt(pmtu)
        ),
    }
}

fn opt(v: Option<u16>) -> String {
    v.map_or("null".to_string(), |m| m.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::job::Marker;
    use super::*;
    use std::time::Duration;

    const DST: Ipv4Addr = Ipv4Addr::new(198, 19, 3, 2);
    const R1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const R2: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);

    fn reply(from: Ipv4Addr, us: u64, marker: Option<Marker>, reached: bool) -> Outcome {
        Outcome::Reply {
            from,
            rtt: Duration::from_micros(us),
            marker,
            reached,
        }
    }

    fn hop(ttl: u8, outcomes: &[Outcome]) -> Vec<TraceEvent> {
        let mut v: Vec<TraceEvent> = outcomes
            .iter()
            .enumerate()
            .map(|(probe, &outcome)| TraceEvent::Probe {
                ttl,
                probe,
                outcome,
            })
            .collect();
        v.push(TraceEvent::HopDone { ttl });
        v
    }

    fn run(style: Style, numeric: bool, events: &[TraceEvent]) -> String {
        let mut f = Formatter::new(style, numeric);
        events.iter().map(|e| f.event(e)).collect()
    }

    fn sample() -> Vec<TraceEvent> {
        let mut ev = vec![TraceEvent::Start {
            dst: DST,
            max_hops: 30,
            packet_len: 60,
            method: Method::Udp,
            pmtu: None,
        }];
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
                Outcome::Timeout,
                reply(R2, 1500, None, false),
                reply(R1, 2000, None, false),
            ],
        ));
        ev.extend(hop(3, &[Outcome::Timeout; 3]));
        ev.extend(hop(4, &[reply(DST, 800, Some(Marker::Host), false)]));
        ev.push(TraceEvent::Done {
            reached: false,
            hops: 4,
            pmtu: None,
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
        let ev = vec![
            TraceEvent::Start {
                dst: DST,
                max_hops: 30,
                packet_len: 1500,
                method: Method::Udp,
                pmtu: Some(1500),
            },
            TraceEvent::Pmtu {
                ttl: 2,
                from: R2,
                mtu: 1400,
            },
            TraceEvent::Probe {
                ttl: 2,
                probe: 0,
                outcome: reply(R2, 500, None, false),
            },
            TraceEvent::Probe {
                ttl: 3,
                probe: 0,
                outcome: Outcome::Timeout,
            },
            TraceEvent::Probe {
                ttl: 4,
                probe: 0,
                outcome: reply(DST, 700, None, true),
            },
            TraceEvent::Done {
                reached: true,
                hops: 4,
                pmtu: Some(1280),
            },
        ];
        let text = run(Style::Tracepath, true, &ev);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], " 1?: [LOCALHOST]                      pmtu 1500");
        assert!(lines[1].starts_with(" 2:  198.19.1.2 ") && lines[1].ends_with("pmtu 1400"));
        assert!(lines[2].ends_with("0.500ms"), "{}", lines[2]);
        assert_eq!(lines[3], " 3:  no reply");
        assert!(lines[4].ends_with("0.700ms reached"));
        assert_eq!(lines[5], "     Resume: pmtu 1280 hops 4");
    }

    #[test]
    fn json_lines_parse_as_objects() {
        for line in run(Style::Json, true, &sample()).lines() {
            assert!(
                line.starts_with("{\"event\":\"") && line.ends_with('}'),
                "{line}"
            );
            assert_eq!(line.matches('{').count(), line.matches('}').count());
        }
        let probe = json(&TraceEvent::Probe {
            ttl: 4,
            probe: 0,
            outcome: reply(DST, 800, Some(Marker::Host), false),
        });
        assert_eq!(
            probe,
            r#"{"event":"probe","ttl":4,"probe":0,"timeout":false,"from":"198.19.3.2","rtt_ms":0.800,"marker":"!H","reached":false}"#
        );
    }
}
