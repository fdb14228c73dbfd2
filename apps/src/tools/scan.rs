//! `ustack scan TARGET…`: an nmap-like port scanner from inside the stack — `-sS` (default),
//! `-sT`, `-sU`, `-sF`, `-sN`, `-sX`, `-sA`, and host discovery `-sn` over a prefix; `-p`,
//! `--top-ports`, `-T0`…`-T5`, `--max-retries`, `--max-rate`, `--reason`, `--json`. It attaches
//! to the stack running on `--tun` (the scan job runs in that daemon,
//! `apps/src/daemon/jobs/scan/`) or brings up its own only when none runs; the job and the
//! output are the same either way. Targets outside the stack's prefix and the lab ranges
//! (198.18.0.0/15, 2001:2::/48) are refused unless `--i-own-the-network`.

mod format;

pub use format::{latency, utc_minute, Formatter, Style};

use crate::daemon::proto::{Body, Request, ScanRequest, ScanType};
use crate::tools::family::Family;
use crate::tools::net::NetArgs;
use clap::Args;
use std::io::{self, Write};
use std::process::ExitCode;

/// Options of `ustack scan` (nmap's spelling).
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Addresses or prefixes to scan (198.18.0.1, 198.18.0.0/24, 2001:2::/120), IPv4 and IPv6
    /// alike; ustack has no resolver, so a name is refused.
    #[arg(value_name = "TARGET", required = true)]
    targets: Vec<String>,
    /// Scan technique, nmap's letters: -sS SYN (half-open; the default), -sT connect, -sU UDP,
    /// -sF FIN, -sN NULL, -sX Xmas, -sA ACK, -sn host discovery only (ICMP echo, SYN to 443,
    /// ACK to 80).
    #[arg(short = 's', value_name = "TYPE", value_parser = ["S", "T", "U", "F", "N", "X", "A", "n"])]
    technique: Option<String>,
    /// Ports: 22,80,1000-2000, -1024, 60000-, `-` for 1-65535; T:/U: prefixes pick a part
    /// for TCP or UDP.
    #[arg(short = 'p', value_name = "PORTS", allow_hyphen_values = true)]
    ports: Option<String>,
    /// The N most common ports of the scan's transport, in nmap's frequency order (the table
    /// holds 100 TCP and 50 UDP ports). Default: the top 100 (nmap's -F).
    #[arg(long, value_name = "N", conflicts_with = "ports")]
    top_ports: Option<usize>,
    /// Timing template, nmap's: 0 paranoid, 1 sneaky, 2 polite, 3 normal (default),
    /// 4 aggressive, 5 insane.
    #[arg(short = 'T', value_name = "0-5", value_parser = clap::value_parser!(u8).range(0..=5))]
    timing: Option<u8>,
    /// Retransmissions of an unanswered probe at most (the template's otherwise: 10, -T4 6,
    /// -T5 2).
    #[arg(long, value_name = "N")]
    max_retries: Option<u8>,
    /// Probes per second at most.
    #[arg(long, value_name = "N")]
    max_rate: Option<f64>,
    /// Why each port (and host) has its state: a REASON column (`syn-ack ttl 64`, `reset`,
    /// `no-response`, `port-unreach`, `admin-prohibited` …).
    #[arg(long)]
    reason: bool,
    /// One JSON object per event (start, host, done), one per line.
    #[arg(long)]
    json: bool,
    /// nmap's -Pn (no host discovery first): accepted for habit — ustack always scans every
    /// target given, reporting a silent one as seeming down.
    #[arg(short = 'P', value_name = "n", value_parser = ["n"], hide = true)]
    no_ping: Option<String>,
    /// nmap's -n (no DNS resolution): accepted for habit; ustack resolves nothing.
    #[arg(short = 'n', hide = true)]
    numeric: bool,
    /// `-4`, `-6`: only targets of that family.
    #[command(flatten)]
    family: Family,
    /// Scan targets outside the stack's prefix and the lab ranges too: say so only for a
    /// network you own.
    #[arg(long = "i-own-the-network")]
    i_own_the_network: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

impl ScanArgs {
    /// The scan these options ask for (the job checks the rest).
    pub fn request(&self) -> io::Result<ScanRequest> {
        let scan = match self.technique.as_deref() {
            None | Some("S") => ScanType::Syn,
            Some("T") => ScanType::Connect,
            Some("U") => ScanType::Udp,
            Some("F") => ScanType::Fin,
            Some("N") => ScanType::Null,
            Some("X") => ScanType::Xmas,
            Some("A") => ScanType::Ack,
            Some("n") => ScanType::Ping,
            Some(t) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("-s{t}: not a scan type ustack knows"),
                ))
            }
        };
        for t in &self.targets {
            let addr = t.split('/').next().unwrap_or(t);
            self.family.destination(addr)?;
        }
        Ok(ScanRequest {
            targets: self.targets.clone(),
            scan,
            ports: self.ports.clone(),
            top_ports: self.top_ports,
            timing: self.timing.unwrap_or(3),
            max_retries: self.max_retries,
            max_rate: self.max_rate,
            i_own_the_network: self.i_own_the_network,
        })
    }

    fn style(&self) -> Style {
        if self.json {
            Style::Json
        } else {
            Style::Nmap {
                reason: self.reason,
            }
        }
    }
}

/// `ustack scan`: exit code 0 once the scan is done, 2 when it is refused or fails.
pub fn run(args: ScanArgs) -> io::Result<ExitCode> {
    let req = args.request()?;
    let out = Formatter::new(args.style());
    let session = args.net.attach_or_start()?;
    session.follow("scan", &Request::Scan(req), |body| {
        if let Body::Scan(ev) = body {
            let mut o = io::stdout().lock();
            o.write_all(out.event(&ev).as_bytes())?;
            o.flush()?;
        }
        Ok(())
    })
}
