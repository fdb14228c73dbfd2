//! `ustack ping`: echo requests from inside the stack, printed like iputils ping. It attaches to
//! the stack running on `--tun` (the ping job runs in that daemon), or brings up its own only
//! when none runs; the job and the output are the same either way.

use crate::daemon::proto::{
    parse_pattern, Body, PingEvent, PingRequest, PingSummary, PmtuDisc, Request,
};
use crate::tools::family::Family;
use crate::tools::net::NetArgs;
use clap::Args;
use std::io::{self, Write};
use std::net::IpAddr;
use std::process::ExitCode;

/// Options of `ustack ping` (iputils' letters).
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Address to ping: the kernel side (198.18.0.1, or 2001:2::1 over IPv6) or a host behind
    /// it. An IPv6 address pings over ICMPv6, as `ping -6` does; ustack has no resolver, so a
    /// name is refused.
    #[arg(value_name = "DESTINATION")]
    destination: String,
    /// `-4`, `-6`.
    #[command(flatten)]
    family: Family,
    /// Stop after sending this many requests (with -w: after this many replies).
    #[arg(short = 'c', value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
    /// Data bytes per request (ICMP payload), 0..=65507 (IPv6: 0..=65527).
    #[arg(short = 's', default_value_t = 56, value_parser = clap::value_parser!(u32).range(0..=65527))]
    size: u32,
    /// Seconds between requests (default 1; with -f, 0: as fast as replies come).
    #[arg(short = 'i')]
    interval: Option<f64>,
    /// Seconds to wait for the last replies after the last request.
    #[arg(short = 'W', default_value_t = 2.0)]
    timeout: f64,
    /// Stop after this many seconds, however many requests were sent or answered.
    #[arg(short = 'w')]
    deadline: Option<f64>,
    /// TTL of the requests (over IPv6, their hop limit).
    #[arg(short = 't', id = "request_ttl", value_name = "TTL", value_parser = clap::value_parser!(u8).range(1..))]
    ttl: Option<u8>,
    /// Flood: a dot per request, a backspace per reply; the next request as soon as the reply
    /// to the last one comes, or after 10 ms without one (as iputils: as fast as replies come
    /// back or 100 a second, whichever is more). The summary adds `ipg/ewma`.
    #[arg(short = 'f')]
    flood: bool,
    /// Preload: send this many requests at once; with -f, at most this many unanswered.
    #[arg(short = 'l', value_name = "PRELOAD", value_parser = clap::value_parser!(u32).range(1..=65535))]
    preload: Option<u32>,
    /// Fill the payload with this pattern: up to 16 bytes as hex digits (`-p ff00`), repeated;
    /// printed as `PATTERN: 0x...` before the header, as iputils does.
    #[arg(short = 'p', value_name = "PATTERN", value_parser = pattern_arg)]
    pattern: Option<String>,
    /// Path MTU discovery: `do` sets DF (a request above the link MTU fails with "message too
    /// long, mtu=N", a router's "Frag needed and DF set" is reported), `dont` never sets it,
    /// `want` sets it where the request fits the link MTU. Over IPv6 (where routers never
    /// fragment) `do` means no fragmenting at the source either (Linux's IPV6_DONTFRAG): a
    /// request above the link MTU fails with "message too long, mtu: N".
    #[arg(short = 'M', value_name = "PMTUDISC", value_enum)]
    pmtudisc: Option<PmtuDisc>,
    /// Source address (or the stack's TUN name): ustack has one address per family, so anything
    /// else is refused, as iputils refuses an address the host does not have.
    #[arg(short = 'I', value_name = "ADDR")]
    source: Option<String>,
    /// Quiet: only the first line and the summary.
    #[arg(short = 'q')]
    quiet: bool,
    /// Print the time (Unix seconds and microseconds, as iputils) before each reply or error.
    #[arg(short = 'D', id = "print_time")]
    print_time: bool,
    /// One JSON object per event (start, reply, error, summary) instead of text.
    #[arg(long)]
    json: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

/// `-p`: iputils' pattern rule (hex digits, at most 16 bytes), as the normalized hex string.
fn pattern_arg(s: &str) -> Result<String, String> {
    let bytes = parse_pattern(s)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn seconds_ms(what: &str, v: f64, zero_ok: bool) -> io::Result<u64> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) && v < 1e7 {
        Ok((v * 1000.0).round() as u64)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad {what} value: {v}"),
        ))
    }
}

impl PingArgs {
    fn request(&self) -> io::Result<PingRequest> {
        let interval_ms = match self.interval {
            Some(i) => seconds_ms("-i", i, self.flood)?,
            // iputils: -f without -i paces by replies (at least 100 a second: the daemon's floor).
            None if self.flood => 0,
            None => 1000,
        };
        Ok(PingRequest {
            dst: self.family.destination(&self.destination)?,
            count: self.count,
            size: self.size as usize,
            interval_ms,
            timeout_ms: seconds_ms("-W", self.timeout, false)?,
            deadline_ms: self
                .deadline
                .map(|d| seconds_ms("-w", d, false))
                .transpose()?,
            ttl: self.ttl,
            flood: self.flood,
            preload: self.preload,
            pattern: self.pattern.clone(),
            pmtudisc: self.pmtudisc,
            source: self.source()?,
        })
    }

    /// `-I`: an address (the daemon checks it is the stack's) or the stack's interface name.
    fn source(&self) -> io::Result<Option<IpAddr>> {
        let Some(s) = &self.source else {
            return Ok(None);
        };
        if let Ok(a) = s.parse() {
            return Ok(Some(a));
        }
        if *s == self.net.tun {
            return Ok(None);
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "-I {s}: unknown interface (the stack has one, {}, and one address)",
                self.net.tun
            ),
        ))
    }
}

/// `ustack ping`: echo requests from inside the stack, printed as iputils ping prints them;
/// exit code 0 with replies, 1 without, 2 for bad options (nothing started).
pub fn run(args: PingArgs) -> io::Result<ExitCode> {
    let req = args.request()?;
    // iputils binds to the -I address before sending anything; a stack of our own would have
    // --addr (--addr6 over IPv6), so another address is refused before it starts (an attached
    // daemon checks its own).
    let mut session = args.net.attach_or_start_checked(|| {
        let own = match req.dst {
            IpAddr::V4(_) => Some(IpAddr::V4(args.net.addr)),
            IpAddr::V6(_) => args.net.ipv6_addrs()?.map(|(a, _)| IpAddr::V6(a)),
        };
        match (req.source, own) {
            (Some(src), Some(own)) if src != own => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bind: Cannot assign requested address: {src} is not the stack's \
                     address ({own}), the only one it sends from"
                ),
            )),
            _ => Ok(()),
        }
    })?;
    // Ctrl-C half-closes the control connection: the job stops and still sends its summary.
    let closer = session.client.closer()?;
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(std::net::Shutdown::Write);
    })
    .map_err(io::Error::other)?;
    let id = session.client.send(&Request::Ping(req))?;
    let mut out = Printer {
        pattern: args.pattern.clone(),
        bound: args.source.as_ref().map(|s| {
            if s.parse::<IpAddr>().is_ok() {
                String::new()
            } else {
                s.clone()
            }
        }),
        quiet: args.quiet,
        flood: args.flood,
        timestamps: args.print_time,
        json: args.json,
        summary: None,
    };
    while let Some(reply) = session.client.next_reply()? {
        if reply.id != id && reply.id != 0 {
            continue;
        }
        match reply.body {
            Body::Ping(ev) => {
                out.event(ev)?;
                // One write per batch of replies, not per event: a flood's dots and
                // backspaces would otherwise cost a system call each.
                if !session.client.has_buffered() {
                    io::stdout().flush()?;
                }
            }
            Body::Error(e) => {
                eprintln!("ping: {}", e.message);
                let _ = session.close();
                return Ok(ExitCode::from(2));
            }
            Body::Lost(l) => eprintln!("ping: {} events lost (output too slow)", l.count),
            Body::End(_) => break,
            _ => {}
        }
    }
    session.close()?;
    Ok(match out.summary {
        Some(s) if s.received > 0 => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(1),
        None => ExitCode::from(2),
    })
}

/// Prints events the way iputils does.
struct Printer {
    /// `-p`, normalized hex: printed before the header unless quiet.
    pattern: Option<String>,
    /// `-I`: the interface named (empty for an address), shown in the header as iputils does.
    bound: Option<String>,
    quiet: bool,
    flood: bool,
    timestamps: bool,
    json: bool,
    summary: Option<PingSummary>,
}

impl Printer {
    fn event(&mut self, ev: PingEvent) -> io::Result<()> {
        let mut o = io::stdout().lock();
        if self.json {
            writeln!(
                o,
                "{}",
                serde_json::to_string(&ev).map_err(io::Error::other)?
            )?;
            if let PingEvent::Summary(s) = ev {
                self.summary = Some(s);
            }
            return Ok(());
        }
        match ev {
            PingEvent::Start { dst, size, from } => {
                if let Some(p) = self.pattern.as_ref().filter(|_| !self.quiet) {
                    writeln!(o, "PATTERN: 0x{p}")?;
                }
                writeln!(o, "{}", header(dst, size, from, self.bound.as_deref()))?
            }
            PingEvent::Sent { .. } if self.flood && !self.quiet => write!(o, ".")?,
            PingEvent::Reply { .. } | PingEvent::Error { .. } if self.flood && !self.quiet => {
                let c = if matches!(ev, PingEvent::Error { .. }) {
                    "E"
                } else {
                    // iputils erases the request's dot.
                    "\x08 \x08"
                };
                write!(o, "{c}")?
            }
            // iputils: a local error is an `E` in place of the request's dot.
            PingEvent::SendFailed {
                local_error: true, ..
            } if self.flood && !self.quiet => write!(o, "E")?,
            _ if self.quiet || self.flood => {
                if let PingEvent::Summary(s) = ev {
                    summary(&mut o, &s)?;
                    self.summary = Some(s);
                }
            }
            PingEvent::Reply {
                seq,
                from,
                ttl,
                bytes,
                time_ms,
                dup,
                bad_data,
            } => writeln!(
                o,
                "{}{bytes} bytes from {from}: icmp_seq={seq} ttl={ttl} time={}{}{}",
                self.stamp(),
                format_ms(time_ms),
                if dup { " (DUP!)" } else { "" },
                if bad_data { " (BAD DATA)" } else { "" }
            )?,
            PingEvent::Error { seq, from, message } => {
                writeln!(o, "{}From {from} icmp_seq={seq} {message}", self.stamp())?
            }
            PingEvent::SendFailed {
                message,
                local_error: true,
                ..
            } => eprintln!("ping: local error: {message}"),
            PingEvent::SendFailed { seq, message, .. } => {
                eprintln!("ping: sendmsg: icmp_seq={seq}: {message}")
            }
            PingEvent::Sent { .. } => {}
            PingEvent::Summary(s) => {
                summary(&mut o, &s)?;
                self.summary = Some(s);
            }
        }
        Ok(())
    }
}

impl Printer {
    /// `-D`: `[SECONDS.MICROS] ` as iputils prints it, the time the line is printed.
    fn stamp(&self) -> String {
        if !self.timestamps {
            return String::new();
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("[{}.{:06}] ", now.as_secs(), now.subsec_micros())
    }
}

/// iputils' first line: ping's `PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data.`, ping
/// -6's `PING 2001:2::1(2001:2::1) 56 data bytes` (no space, no total: ping6_common.c); with
/// `-I`, `from SRC IFACE: ` before the sizes (`bound`: the interface, empty for an address).
fn header(dst: IpAddr, size: usize, from: Option<IpAddr>, bound: Option<&str>) -> String {
    let from = match (bound, from) {
        (Some(iface), Some(src)) => format!("from {src} {iface}: "),
        _ => String::new(),
    };
    match dst {
        IpAddr::V4(_) => format!(
            "PING {dst} ({dst}) {from}{size}({}) bytes of data.",
            size + 28
        ),
        IpAddr::V6(_) => format!("PING {dst}({dst}) {from}{size} data bytes"),
    }
}

/// iputils' closing lines.
/// After a flood's dots too, one newline ends the line they were on: no blank line (iputils).
fn summary(o: &mut impl Write, s: &PingSummary) -> io::Result<()> {
    let dst = s.dst.map(|d| d.to_string()).unwrap_or_default();
    writeln!(o, "\n--- {dst} ping statistics ---")?;
    let mut line = format!(
        "{} packets transmitted, {} received",
        s.transmitted, s.received
    );
    if s.duplicates > 0 {
        line += &format!(", +{} duplicates", s.duplicates);
    }
    if s.errors > 0 {
        line += &format!(", +{} errors", s.errors);
    }
    let loss = if s.transmitted == 0 {
        0.0
    } else {
        100.0 * f64::from(s.transmitted.saturating_sub(s.received)) / f64::from(s.transmitted)
    };
    line += &format!(", {}% packet loss, time {}ms", format_loss(loss), s.time_ms);
    writeln!(o, "{line}")?;
    // iputils' last line: rtt, pipe, ipg/ewma as there are, comma-separated; a newline even
    // when there is none of them.
    let mut parts = Vec::new();
    if let Some([min, avg, max, mdev]) = s.rtt {
        parts.push(format!(
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
        ));
    }
    if s.pipe > 1 {
        parts.push(format!("pipe {}", s.pipe));
    }
    if let Some([ipg, ewma]) = s.ipg_ewma {
        parts.push(format!("ipg/ewma {ipg:.3}/{ewma:.3} ms"));
    }
    writeln!(o, "{}", parts.join(", "))
}

fn format_ms(ms: f64) -> String {
    // iputils prints three significant-ish digits: 0.045, 1.23, 12.3, 123.
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn format_loss(loss: f64) -> String {
    if loss.fract() == 0.0 {
        format!("{loss:.0}")
    } else {
        format!("{loss:.3}").trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(format_loss(0.0), "0");
        assert_eq!(format_loss(25.0), "25");
        assert_eq!(format_loss(100.0 / 3.0), "33.333");
        assert_eq!(format_ms(0.0456), "0.046 ms");
        assert_eq!(format_ms(12.34), "12.3 ms");
    }

    #[test]
    fn summary_like_iputils() {
        let s = PingSummary {
            dst: Some("198.18.0.1".parse().unwrap()),
            transmitted: 4,
            received: 3,
            duplicates: 1,
            errors: 1,
            time_ms: 3004,
            rtt: Some([0.045, 0.05, 0.061, 0.007]),
            ipg_ewma: None,
            pipe: 0,
        };
        let mut out = Vec::new();
        summary(&mut out, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "4 packets transmitted, 3 received, +1 duplicates, +1 errors, 25% packet loss, time 3004ms"
            ),
            "{text}"
        );
        assert!(text.contains("rtt min/avg/max/mdev = 0.045/0.050/0.061/0.007 ms\n"));
        let flood = PingSummary {
            ipg_ewma: Some([0.014, 0.012]),
            pipe: 2,
            ..s.clone()
        };
        let mut out = Vec::new();
        summary(&mut out, &flood).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "rtt min/avg/max/mdev = 0.045/0.050/0.061/0.007 ms, pipe 2, ipg/ewma 0.014/0.012 ms\n"
            ),
            "{text}"
        );
        // No reply: iputils still ends with an empty line.
        let lost = PingSummary {
            received: 0,
            rtt: None,
            ..s
        };
        let mut out = Vec::new();
        summary(&mut out, &lost).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("time 3004ms\n\n"));
    }

    #[test]
    fn headers_as_ping_and_ping6_print_them() {
        let v4: IpAddr = "198.18.0.1".parse().unwrap();
        let v6: IpAddr = "2001:2::1".parse().unwrap();
        let (s4, s6) = ("198.18.0.2".parse().ok(), "2001:2::2".parse().ok());
        assert_eq!(
            header(v4, 56, s4, None),
            "PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data."
        );
        assert_eq!(
            header(v4, 56, s4, Some("")),
            "PING 198.18.0.1 (198.18.0.1) from 198.18.0.2 : 56(84) bytes of data."
        );
        assert_eq!(
            header(v6, 56, s6, None),
            "PING 2001:2::1(2001:2::1) 56 data bytes"
        );
        assert_eq!(
            header(v6, 1452, s6, Some("ustack0")),
            "PING 2001:2::1(2001:2::1) from 2001:2::2 ustack0: 1452 data bytes"
        );
    }

    fn parsed(args: &[&str]) -> Result<PingArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            ping: PingArgs,
        }
        Cli::try_parse_from(std::iter::once("ping").chain(args.iter().copied())).map(|c| c.ping)
    }

    #[test]
    fn dash_4_and_dash_6_exclude_each_other() {
        let dst = |args: &[&str]| {
            let a = parsed(args).unwrap();
            a.family.destination(&a.destination)
        };
        assert!(dst(&["-6", "2001:2::1"]).is_ok());
        assert!(dst(&["-4", "2001:2::1"]).is_err());
        assert!(parsed(&["-4", "-6", "2001:2::1"]).is_err());
    }

    #[test]
    fn patterns_as_iputils_reads_them() {
        assert_eq!(pattern_arg("abc").unwrap(), "ab0c");
        assert_eq!(pattern_arg("FF").unwrap(), "ff");
        let long = "00112233445566778899aabbccddeeff1122";
        assert_eq!(pattern_arg(long).unwrap(), &long[..32]);
        let e = pattern_arg("xyz").unwrap_err();
        assert_eq!(e, "patterns must be specified as hex digits: xyz");
        assert!(pattern_arg("12g4").unwrap_err().ends_with(": g4"));
        assert!(pattern_arg("").is_err());
    }
}
