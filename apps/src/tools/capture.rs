//! `ustack capture`: a sniffer on the stack, tcpdump-style. Live, it attaches to the running
//! `ustack up` on `--tun` through its control socket (the filter runs in the daemon, so a busy
//! stack only ships matching packets); with `-r` it reads a pcap file instead. Lines are
//! tcpdump's `-n` format with an `in`/`out` marker (`-v` adds the IP header fields, TCP
//! options and checksums; `--json` one object per packet); `-w` writes a LINKTYPE_RAW pcap file
//! instead of printing; `-c N` stops after N packets.

use crate::daemon::capture::format;
use crate::daemon::pcap::{PcapReader, PcapWriter};
use clap::Args;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use tun_bridge::Direction;
use ustack::filter::Filter;

/// Options of `ustack capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// TUN device of the running stack to attach to.
    #[arg(
        short = 'i',
        long = "tun",
        default_value = "ustack0",
        value_name = "NAME"
    )]
    pub tun: String,
    /// Stop after this many packets.
    #[arg(short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Write the packets to this pcap file (LINKTYPE_RAW) instead of printing them.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Read packets from this pcap file instead of a running stack.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// More fields: IP header (tos, ttl, id, offset, flags, length), TCP options, checksums.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Numeric output (accepted for tcpdump's sake: ustack never resolves names).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// One JSON object per packet.
    #[arg(long)]
    pub json: bool,
    /// Packets the daemon queues for this capture before it counts them as dropped.
    #[arg(long, default_value_t = crate::daemon::capture::hub::DEFAULT_QUEUE, value_name = "N")]
    pub buffer: usize,
    /// The filter, in tcpdump's syntax (e.g. `icmp or tcp port 80`); several words are joined.
    #[arg(
        value_name = "EXPR",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub expr: Vec<String>,
}

/// Where captured packets go: printed (plain, verbose or JSON) or written to a pcap file.
pub(crate) struct Sink {
    pcap: Option<PcapWriter<BufWriter<File>>>,
    out: BufWriter<io::Stdout>,
    verbose: bool,
    json: bool,
    limit: Option<u64>,
    /// Packets taken so far.
    pub(crate) captured: u64,
}

impl Sink {
    pub(crate) fn new(args: &CaptureArgs) -> io::Result<Sink> {
        let pcap = match &args.write {
            Some(p) => Some(PcapWriter::create(p)?),
            None => None,
        };
        Ok(Sink {
            pcap,
            out: BufWriter::new(io::stdout()),
            verbose: args.verbose,
            json: args.json,
            limit: args.count,
            captured: 0,
        })
    }

    /// Whether `-c` is reached.
    pub(crate) fn done(&self) -> bool {
        self.limit.is_some_and(|n| self.captured >= n)
    }

    /// Takes one packet; returns whether more are wanted.
    pub(crate) fn packet(
        &mut self,
        ts: SystemTime,
        dir: Option<Direction>,
        data: &[u8],
    ) -> io::Result<bool> {
        if self.done() {
            return Ok(false);
        }
        self.captured += 1;
        match &mut self.pcap {
            Some(w) => w.write_packet(ts, data)?,
            None if self.json => writeln!(self.out, "{}", format::json(ts, dir, data))?,
            None => writeln!(self.out, "{}", format::line(ts, dir, data, self.verbose))?,
        }
        Ok(!self.done())
    }

    /// Flushes what is buffered (the file and stdout), e.g. when the capture goes idle.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(w) = &mut self.pcap {
            w.flush()?;
        }
        self.out.flush()
    }
}

/// The filter of the command line, or a message pointing at the error.
pub(crate) fn filter(args: &CaptureArgs) -> Result<Filter, String> {
    let text = args.expr.join(" ");
    Filter::parse(&text).map_err(|e| {
        let caret = " ".repeat(e.column().saturating_sub(1).min(text.len()));
        format!("{e}\n  {text}\n  {caret}^")
    })
}

/// `ustack capture`: prints (or writes to a pcap file) the packets the filter selects, from
/// the stack on `--tun` or from one of its own; exit code 2 for a filter that does not parse.
pub fn run(args: CaptureArgs) -> io::Result<ExitCode> {
    let filter = match filter(&args) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("ustack capture: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    match args.read.clone() {
        Some(path) => read_file(&args, &path, &filter),
        None => {
            // Parsed here for the error's position; the daemon compiles it again and runs it.
            drop(filter);
            crate::tools::capture_live::run(&args, args.expr.join(" "))
        }
    }
}

/// `-r FILE`: print (or `-w` copy) the packets of a file that match.
fn read_file(args: &CaptureArgs, path: &PathBuf, filter: &Filter) -> io::Result<ExitCode> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut reader = match PcapReader::new(io::BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ustack capture: {}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
    };
    eprintln!(
        "reading from file {}, link-type RAW (Raw IP)",
        path.display()
    );
    let mut sink = Sink::new(args)?;
    let (mut read, mut result) = (0u64, Ok(()));
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                read += 1;
                if filter.matches(&rec.data) && !sink.packet(rec.ts, None, &rec.data)? {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    sink.flush()?;
    eprintln!("{read} packets read, {} matched", sink.captured);
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ustack capture: {}: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}
