//! `ustack trace HOST`: traceroute from inside the stack. UDP probes by default, ICMP echo with
//! `-I`, TCP SYNs with `-T -p PORT`; each hop's probes carry a per-socket TTL, and the routers'
//! ICMP errors come back to the probing socket. `--pmtu` discovers the path MTU like
//! `tracepath`. Without a running `ustack up` it brings up its own TUN, as `ustack ping` does.

mod format;
pub mod job;

use crate::net::NetArgs;
use clap::Args;
use format::{Formatter, Style};
use job::{Method, TraceOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `ustack trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Address to trace the path to.
    destination: Ipv4Addr,
    /// Bytes of each probe, IP header included (traceroute's packetlen; default 60).
    packet_len: Option<usize>,
    /// Probe with ICMP echo requests.
    #[arg(short = 'I', long = "icmp")]
    icmp: bool,
    /// Probe with TCP SYNs (to -p, default 80).
    #[arg(short = 'T', long = "tcp", conflicts_with = "icmp")]
    tcp: bool,
    /// UDP: the first destination port (+1 per probe, default 33434); TCP: the port (80).
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Largest TTL to probe.
    #[arg(short = 'm', long = "max-hops", default_value_t = 30)]
    max_hops: u8,
    /// TTL to start from.
    #[arg(short = 'f', long = "first", default_value_t = 1)]
    first: u8,
    /// Probes per hop.
    #[arg(short = 'q', long = "queries", default_value_t = 3)]
    queries: usize,
    /// Seconds to wait for each hop's answers.
    #[arg(short = 'w', long = "wait", default_value_t = 5.0)]
    wait: f64,
    /// Discover the path MTU as tracepath does (DF probes as large as the path allows) and
    /// print tracepath-style lines.
    #[arg(long)]
    pmtu: bool,
    /// Print addresses only.
    #[arg(short = 'n')]
    numeric: bool,
    /// One JSON object per event (start, probe, pmtu, hop_done, done), one per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

impl TraceArgs {
    /// The trace these options ask for (checked by `job::validate`).
    pub fn options(&self) -> io::Result<TraceOptions> {
        if !(self.wait.is_finite() && self.wait > 0.0 && self.wait <= 60.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "wait (-w) must be more than 0 and at most 60 seconds",
            ));
        }
        let method = if self.icmp {
            Method::Icmp
        } else if self.tcp {
            Method::Tcp
        } else {
            Method::Udp
        };
        let default_port = if method == Method::Tcp { 80 } else { 33434 };
        let o = TraceOptions {
            dst: self.destination,
            method,
            first_ttl: self.first,
            max_hops: self.max_hops,
            nqueries: self.queries,
            wait: Duration::from_secs_f64(self.wait),
            port: self.port.unwrap_or(default_port),
            packet_len: self.packet_len.unwrap_or(60),
            pmtu: self.pmtu,
        };
        job::validate(&o)?;
        Ok(o)
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

pub fn run(args: TraceArgs) -> io::Result<ExitCode> {
    let opts = args.options()?;
    let (style, numeric) = (args.style(), args.numeric);
    let bridge = args.net.start()?;
    let handle = bridge.handle();
    // Ctrl-C stops the loop: the trace ends where it is, and the TUN goes away.
    let stopper = handle.clone();
    ctrlc::set_handler(move || stopper.stop()).map_err(io::Error::other)?;
    let result = handle.block_on(move |net| async move {
        let mut f = Formatter::new(style, numeric);
        job::trace(&net, opts, |e| {
            let mut out = io::stdout().lock();
            let _ = out.write_all(f.event(&e).as_bytes());
            let _ = out.flush();
        })
        .await
    });
    let _ = bridge.shutdown();
    match result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) | Err(e) => {
            eprintln!("ustack trace: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
