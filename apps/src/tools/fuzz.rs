//! `ustack fuzz TEMPLATE`: scapy-`fuzz()`-like packets from a template, sent from the stack at
//! a target in the lab (or fed into the stack itself with `--inject`), at a bounded rate, with
//! a liveness check between rounds; a hang is reported with the seed, the packet indices that
//! replay it and (with `-w`) the round's packets as a pcap file. It attaches to the stack
//! running on `--tun` (the job runs in that daemon) or brings up its own when none runs.

use crate::daemon::jobs::fuzz::template;
use crate::daemon::jobs::guard::OWN_FLAG;
use crate::daemon::pcap::{read_packets, PcapWriter};
use crate::daemon::proto::{from_hex, to_hex, Body, FuzzEvent, FuzzMemory, FuzzRequest, Request};
use crate::tools::net::NetArgs;
use clap::Args;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Options of `ustack fuzz`.
#[derive(Debug, Args)]
#[command(after_help = format!(
    "Template: LAYER(FIELD=VALUE,...)/LAYER(...) with layers ip, ip6, tcp, udp, icmp, icmp6, \
     raw, e.g. 'ip(dst=198.18.0.1,ttl=3)/tcp(dport=80,flags=S)/raw(len=20)'. Targets outside \
     the stack's prefix and 198.18.0.0/15, 2001:2::/48 are refused unless {OWN_FLAG}."
))]
pub struct FuzzArgs {
    /// The template expression (see below); or -r.
    #[arg(value_name = "TEMPLATE", required_unless_present = "read")]
    template: Option<String>,
    /// Take the template from packet --index of this pcap file, as tcpdump -r reads it (sent
    /// as captured; its fields are located by parsing the headers, the computed ones
    /// recomputed).
    #[arg(short = 'r', value_name = "FILE", conflicts_with = "template")]
    read: Option<PathBuf>,
    /// Which packet of -r (from 0).
    #[arg(long, default_value_t = 0, requires = "read")]
    index: usize,
    /// Destination when the template sets none (with --inject: the stack's own address).
    #[arg(long, value_name = "ADDR")]
    target: Option<IpAddr>,
    /// Packets to send.
    #[arg(short = 'c', long = "count", default_value_t = 1000)]
    count: u64,
    /// Packets per second (at most 1,000,000).
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Seed: packet N of a seed is always the same packet (default: one from the clock,
    /// printed so the run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Index of the first packet (with --seed, replays part of a run).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Fuzz only these fields (`ip.ttl,tcp.flags`; `tcp.*`: all of a layer's); default: every
    /// field not computed.
    #[arg(long, value_delimiter = ',', value_name = "LAYER.FIELD,...")]
    fields: Vec<String>,
    /// Fuzz the computed fields (lengths, checksums, the protocol) too.
    #[arg(long)]
    fuzz_computed: bool,
    /// Packets per round; the liveness check runs after each.
    #[arg(long, default_value_t = 1000)]
    round: u64,
    /// Liveness checks after each round: ping, tcp:PORT, none (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "ping")]
    check: Vec<String>,
    /// Seconds one check try waits (3 tries).
    #[arg(long, default_value_t = 1.0)]
    check_timeout: f64,
    /// Write the packets of the round that preceded a hang to this pcap file.
    #[arg(short = 'w', value_name = "FILE")]
    write: Option<PathBuf>,
    /// Feed the packets into the stack's own receive path (the stack itself is the target;
    /// checks go to the kernel side, through it).
    #[arg(long)]
    inject: bool,
    /// One JSON object per event (start, round, hang, summary).
    #[arg(long)]
    json: bool,
    /// Send to targets outside the stack's prefix and the lab ranges: only on a network you
    /// own.
    #[arg(long = "i-own-the-network")]
    i_own_the_network: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

impl FuzzArgs {
    /// The request these options ask for (the daemon checks the bounds).
    pub fn request(&self) -> io::Result<FuzzRequest> {
        let packet = match &self.read {
            Some(path) => {
                let records = read_packets(path).map_err(|e| invalid(e.to_string()))?;
                let r = records.get(self.index).ok_or_else(|| {
                    invalid(format!(
                        "--index {}: {} holds {} packets",
                        self.index,
                        path.display(),
                        records.len()
                    ))
                })?;
                Some(to_hex(&r.data))
            }
            None => None,
        };
        if let Some(t) = &self.template {
            // Refused here, with the column, before anything starts.
            template::parse(t).map_err(|e| invalid(format!("template: {e}")))?;
        }
        let (mut ping, mut tcp) = (false, None);
        for c in &self.check {
            match c.as_str() {
                "ping" => ping = true,
                "none" => {}
                t => {
                    let port = t.strip_prefix("tcp:").and_then(|p| p.parse().ok());
                    tcp =
                        Some(port.ok_or_else(|| {
                            invalid(format!("--check {t}: ping, tcp:PORT or none"))
                        })?);
                }
            }
        }
        let t = self.check_timeout;
        if !(t.is_finite() && t > 0.0 && t <= 10.0) {
            return Err(invalid("--check-timeout: more than 0, at most 10 seconds"));
        }
        let seed = self.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        Ok(FuzzRequest {
            template: self.template.clone(),
            packet,
            target: self.target,
            count: self.count,
            rate: self.rate,
            seed,
            from: self.from,
            fields: self.fields.clone(),
            fuzz_computed: self.fuzz_computed,
            round: self.round,
            check_ping: ping,
            check_tcp: tcp,
            check_timeout_ms: (t * 1000.0).round() as u64,
            inject: self.inject,
            i_own_the_network: self.i_own_the_network,
        })
    }
}

/// `ustack fuzz`: exit code 0 when the target stayed alive (or the run was stopped), 1 after a
/// hang, 2 when refused.
pub fn run(args: FuzzArgs) -> io::Result<ExitCode> {
    let req = args.request()?;
    let mut session = args.net.attach_or_start()?;
    // Ctrl-C half-closes the control connection: the job stops at once and sends its summary.
    let closer = session.client.closer()?;
    ctrlc::set_handler(move || {
        let _ = closer.shutdown(std::net::Shutdown::Write);
    })
    .map_err(io::Error::other)?;
    let id = session.client.send(&Request::Fuzz(req))?;
    let mut code = ExitCode::from(2);
    while let Some(reply) = session.client.next_reply()? {
        if reply.id != id && reply.id != 0 {
            continue;
        }
        match reply.body {
            Body::Fuzz(ev) => {
                if let FuzzEvent::Hang { packets, .. } = &ev {
                    if let Some(path) = &args.write {
                        write_pcap(path, packets)?;
                    }
                }
                if let FuzzEvent::Summary { hangs, .. } = &ev {
                    code = ExitCode::from(u8::from(*hangs > 0));
                }
                let mut o = io::stdout().lock();
                if args.json {
                    let line = serde_json::to_string(&ev).map_err(io::Error::other)?;
                    writeln!(o, "{line}")?;
                } else {
                    o.write_all(line(&ev, args.write.as_deref()).as_bytes())?;
                }
                o.flush()?;
            }
            Body::Error(e) => {
                eprintln!("ustack fuzz: {}", e.message);
                break;
            }
            Body::Lost(l) => eprintln!("ustack fuzz: {} events lost (output too slow)", l.count),
            Body::End(_) => break,
            _ => {}
        }
    }
    session.close()?;
    Ok(code)
}

/// The round's packets, oldest first, as a pcap file (spaced 1 µs apart).
fn write_pcap(path: &std::path::Path, packets: &[(u64, String)]) -> io::Result<()> {
    let mut w = PcapWriter::create(path)?;
    let t0 = SystemTime::now();
    for (i, (_, hex)) in packets.iter().enumerate() {
        let bytes = from_hex(hex).unwrap_or_default();
        w.write_packet(t0 + Duration::from_micros(i as u64), &bytes)?;
    }
    w.flush()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn memory(m: &FuzzMemory) -> String {
    format!(
        "{} (stack holds {} B, {} connections, {} in reassembly)",
        mib(m.rss_kib),
        m.held_bytes,
        m.tcp_connections,
        m.reassembly_datagrams
    )
}

/// One event as text.
pub fn line(ev: &FuzzEvent, pcap: Option<&std::path::Path>) -> String {
    match ev {
        FuzzEvent::Start {
            mode,
            target,
            template,
            fields,
            seed,
            from,
            count,
            rate,
            round,
            check,
            memory: m,
        } => format!(
            "fuzz {target} ({mode}): {template}\n  fields {}\n  seed {seed}, packets {from}..{}, \
             {rate}/s, rounds of {round}, check {check}; memory {}\n",
            fields.join(","),
            from.saturating_add(*count),
            memory(m)
        ),
        FuzzEvent::Round {
            round,
            sent,
            skipped,
            alive,
            rtt_ms,
            ..
        } => {
            let skipped = if *skipped > 0 {
                format!(", {skipped} skipped")
            } else {
                String::new()
            };
            let state = match (alive, rtt_ms) {
                (true, Some(ms)) => format!("target alive (rtt {ms:.1} ms)"),
                (true, None) => "not checked".into(),
                (false, _) => "TARGET DOWN".into(),
            };
            format!("round {round}: {sent} sent{skipped}, {state}\n")
        }
        FuzzEvent::Hang {
            round,
            first,
            last,
            seed,
            check,
            packets,
        } => {
            let saved = match pcap {
                Some(p) => format!(
                    "; its last {} packets are in {}",
                    packets.len(),
                    p.display()
                ),
                None => String::new(),
            };
            format!(
                "HANG after round {round}: {check}\n  replay: --seed {seed} --from {first} -c {} \
                 (the last packet before the check was #{last}){saved}\n",
                last - first + 1
            )
        }
        FuzzEvent::Summary {
            sent,
            skipped,
            hangs,
            seed,
            next,
            elapsed_ms,
            memory_before,
            memory_after,
            reason,
            ..
        } => {
            let secs = *elapsed_ms as f64 / 1000.0;
            let mut s = format!(
                "{sent} packets, seed {seed}, {hangs} hangs, memory {} → {} ({reason}, {secs:.1} \
                 s, next --from {next})\n  before: {}\n  after:  {}\n",
                mib(memory_before.rss_kib),
                mib(memory_after.rss_kib),
                memory(memory_before),
                memory(memory_after)
            );
            for (why, n) in skipped {
                s.push_str(&format!("  skipped {n}: {why}\n"));
            }
            s
        }
    }
}
