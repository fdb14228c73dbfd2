//! `ustack trace HOST`: traceroute from inside the stack. UDP probes by default, ICMP echo with
//! `-I`, TCP SYNs with `-T -p PORT`; each hop's probes carry a per-socket TTL, and the routers'
//! ICMP errors come back to the probing socket. `--pmtu` discovers the path MTU like
//! `tracepath`. It attaches to the stack running on `--tun` (the trace job runs in that daemon,
//! `tun-bridge/src/control/handlers/trace_job.rs`) or brings up its own only when none runs;
//! the job and the output are the same either way.

mod format;

use crate::daemon::proto::{Body, Request, TraceMethod, TraceRequest};
use crate::tools::family::Family;
use crate::tools::net::NetArgs;
use clap::Args;
use format::{Formatter, Style};
use std::io::{self, Write};
use std::process::ExitCode;

/// Options of `ustack trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Address to trace the path to: IPv4 or IPv6 (an IPv6 address traces over IPv6, as
    /// `traceroute -6`); ustack has no resolver, so a name is refused.
    #[arg(value_name = "DESTINATION")]
    destination: String,
    /// Bytes of each probe, IP header included (traceroute's packetlen; default 60, over
    /// IPv6 80, as traceroute's).
    packet_len: Option<usize>,
    /// `-4`, `-6`.
    #[command(flatten)]
    family: Family,
    /// Probe with ICMP echo requests.
    #[arg(short = 'I', long = "icmp")]
    icmp: bool,
    /// Probe with TCP SYNs (to -p, default 80).
    #[arg(short = 'T', long = "tcp", conflicts_with = "icmp")]
    tcp: bool,
    /// UDP: the first destination port (+1 per probe, default 33434); TCP: the port (80).
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Largest TTL to probe (over IPv6, hop limit).
    #[arg(short = 'm', long = "max-hops", default_value_t = 30)]
    max_hops: u8,
    /// TTL (over IPv6, hop limit) to start from.
    #[arg(short = 'f', long = "first", default_value_t = 1)]
    first: u8,
    /// Probes per hop.
    #[arg(short = 'q', long = "queries", default_value_t = 3)]
    queries: usize,
    /// Seconds to wait for each hop's answers (default 5; with --pmtu, for each probe: 1, as
    /// tracepath).
    #[arg(short = 'w', long = "wait")]
    wait: Option<f64>,
    /// Discover the path MTU as tracepath does and print its layout: one DF probe at a time,
    /// as large as the path allows (up to -q tries per hop), one line per hop with `pmtu N`
    /// where a router says it is smaller, `asymm N` where an answer came back over another
    /// number of hops, and `Resume: pmtu N hops N back N`.
    #[arg(long)]
    pmtu: bool,
    /// Print addresses only.
    #[arg(short = 'n')]
    numeric: bool,
    /// One JSON object per event (start, probe, pmtu, hop_done, done), one per line.
    #[arg(long)]
    json: bool,
    /// The stack to run on (attached by `--tun`, or one of its own).
    #[command(flatten)]
    pub net: NetArgs,
}

impl TraceArgs {
    /// The trace these options ask for (the job checks the rest).
    pub fn request(&self) -> io::Result<TraceRequest> {
        let wait = self.wait.unwrap_or(if self.pmtu { 1.0 } else { 5.0 });
        if !(wait.is_finite() && wait > 0.0 && wait <= 60.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "wait (-w) must be more than 0 and at most 60 seconds",
            ));
        }
        let method = if self.icmp {
            TraceMethod::Icmp
        } else if self.tcp {
            TraceMethod::Tcp
        } else {
            TraceMethod::Udp
        };
        let dst = self.family.destination(&self.destination)?;
        Ok(TraceRequest {
            dst,
            method,
            first_ttl: self.first,
            max_hops: self.max_hops,
            queries: self.queries,
            wait_ms: (wait * 1000.0).round() as u64,
            port: self.port,
            packet_len: self
                .packet_len
                .unwrap_or(if dst.is_ipv6() { 80 } else { 60 }),
            pmtu: self.pmtu,
        })
    }

    fn style(&self) -> Style {
        if self.json {
            Style::Json
        } else if self.pmtu {
            Style::Tracepath
        } else {
            Style::Traceroute
        }
    }
}

/// `ustack trace`: a traceroute from inside the stack (UDP, ICMP or TCP probes), or with
/// `--pmtu` tracepath's walk; exit code 0 once the walk ends, 2 when it is refused.
pub fn run(args: TraceArgs) -> io::Result<ExitCode> {
    let req = args.request()?;
    let mut out = Formatter::new(args.style(), args.numeric);
    let session = args.net.attach_or_start()?;
    session.follow("trace", &Request::Trace(req), |body| {
        if let Body::Trace(ev) = body {
            let mut o = io::stdout().lock();
            o.write_all(out.event(&ev).as_bytes())?;
            o.flush()?;
        }
        Ok(())
    })
}
