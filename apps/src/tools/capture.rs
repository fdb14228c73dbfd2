//! `ustack capture`: a sniffer on the stack, tcpdump-style. Live, it attaches to the running
//! `ustack up` on `--tun` through its control socket (the filter runs in the daemon, so a busy
//! stack only ships matching packets, as binary frames); with `-r` it reads a pcap file
//! instead. Lines are tcpdump's `-n` format with an `in`/`out` marker: TCP numbers relative
//! (`-S` absolute), options, an HTTP hint; `-v` adds the IP header fields and checksums, `-X`
//! and `-A` dump the bytes, `--json` prints one object per packet; `-w` writes a LINKTYPE_RAW
//! pcap file instead of printing (`-s` snap length, `-C`/`-G`/`-W` rotation as tcpdump's);
//! `-c N` stops after N packets.

mod rotate;

use crate::daemon::capture::format::{self, LineOptions, Printer};
use crate::daemon::capture::frames::MAX_CAPLEN;
use crate::daemon::pcap::PcapReader;
use clap::{ArgAction, Args};
use rotate::{Rotating, Rotation};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};
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
    /// Keep at most this many bytes of each packet (0: all of it, as tcpdump's -s 0; at most
    /// 65535).
    #[arg(short = 's', value_name = "SNAPLEN", default_value_t = 0)]
    pub snaplen: u32,
    /// With -w: start a new file once the current one holds more than SIZE million bytes
    /// (FILE, FILE1, FILE2 …; with -W a ring FILE0 … FILE{N-1}).
    #[arg(short = 'C', value_name = "SIZE")]
    pub file_size: Option<u64>,
    /// With -w: start a new file every SECONDS; FILE is a strftime pattern (local time), e.g.
    /// `cap-%H%M%S.pcap`.
    #[arg(short = 'G', value_name = "SECONDS")]
    pub rotate_seconds: Option<u64>,
    /// With -C: keep a ring of N files; with -G alone: stop after N files.
    #[arg(short = 'W', value_name = "N")]
    pub file_count: Option<u32>,
    /// More fields: IP header (tos, ttl, id, offset, flags, length), checksums, all the lines
    /// of an HTTP request or response.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Absolute TCP sequence numbers (default: relative to each connection's first, as
    /// tcpdump prints them).
    #[arg(short = 'S')]
    pub absolute: bool,
    /// Dump each packet in hex and ASCII after its line (-XX: the same, a TUN has no
    /// link-layer header).
    #[arg(short = 'X', action = ArgAction::Count)]
    pub hex: u8,
    /// Dump each packet in ASCII after its line.
    #[arg(short = 'A')]
    pub ascii: bool,
    /// Numeric output (accepted for tcpdump's sake: ustack never resolves names).
    #[arg(short = 'n')]
    pub numeric: bool,
    /// One JSON object per packet.
    #[arg(long)]
    pub json: bool,
    /// Packets the daemon queues for this capture before it counts them as dropped.
    #[arg(long, default_value_t = crate::daemon::capture::hub::DEFAULT_QUEUE, value_name = "N")]
    pub buffer: usize,
    /// The filter, in tcpdump's syntax (e.g. `icmp or tcp port 80`, `icmp6 or host 2001:2::1`,
    /// over IPv4 and IPv6); several words are joined.
    #[arg(
        value_name = "EXPR",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub expr: Vec<String>,
}

/// Where captured packets go: printed (lines or JSON) or written to a pcap file.
pub(crate) struct Sink {
    file: Option<Rotating>,
    out: BufWriter<io::Stdout>,
    printer: Printer,
    json: bool,
    snaplen: usize,
    limit: Option<u64>,
    /// Packets taken so far.
    pub(crate) captured: u64,
}

impl Sink {
    pub(crate) fn new(args: &CaptureArgs) -> io::Result<Sink> {
        let snaplen = snaplen(args);
        let file = match &args.write {
            Some(p) => {
                let rotation = Rotation {
                    size: args.file_size.map(|m| m.saturating_mul(1_000_000)),
                    every: args.rotate_seconds.map(Duration::from_secs),
                    files: args.file_count,
                };
                Some(Rotating::create(p, rotation, snaplen as u32)?)
            }
            None => None,
        };
        Ok(Sink {
            file,
            out: BufWriter::with_capacity(64 << 10, io::stdout()),
            printer: Printer::new(LineOptions {
                verbose: args.verbose,
                absolute: args.absolute,
                hex: args.hex > 0,
                ascii: args.ascii,
            }),
            json: args.json,
            snaplen,
            limit: args.count,
            captured: 0,
        })
    }

    /// Whether `-c` is reached.
    pub(crate) fn done(&self) -> bool {
        self.limit.is_some_and(|n| self.captured >= n)
    }

    /// Takes one packet (`data`: its first bytes, of `orig_len`); returns whether more are
    /// wanted.
    pub(crate) fn packet(
        &mut self,
        ts: SystemTime,
        dir: Option<Direction>,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<bool> {
        if self.done() {
            return Ok(false);
        }
        let data = &data[..data.len().min(self.snaplen)];
        let orig = (orig_len as usize).max(data.len());
        match &mut self.file {
            Some(w) => {
                if !w.write(ts, data, orig as u32)? {
                    return Ok(false);
                }
            }
            None if self.json => writeln!(self.out, "{}", format::json(ts, dir, data))?,
            None => writeln!(self.out, "{}", self.printer.line(ts, dir, data, orig))?,
        }
        self.captured += 1;
        Ok(!self.done())
    }

    /// Flushes what is buffered (the file and stdout), e.g. when the capture goes idle.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(w) = &mut self.file {
            w.flush()?;
        }
        self.out.flush()
    }
}

/// The snap length in force: `-s`, 0 meaning the whole packet.
pub(crate) fn snaplen(args: &CaptureArgs) -> usize {
    match args.snaplen {
        0 => MAX_CAPLEN,
        n => (n as usize).min(MAX_CAPLEN),
    }
}

/// Why these options cannot go together (tcpdump's rules), or `None`.
fn check(args: &CaptureArgs) -> Option<String> {
    let rotating = args.file_size.is_some() || args.rotate_seconds.is_some();
    if rotating && args.write.is_none() {
        return Some("-C and -G rotate the file of -w: give -w FILE".into());
    }
    if args.file_count.is_some() && !rotating {
        return Some("-W counts the files of -C or -G: give one of them".into());
    }
    if args.file_size == Some(0) {
        return Some("invalid file size 0 (-C counts millions of bytes, at least 1)".into());
    }
    if args.rotate_seconds == Some(0) {
        return Some("invalid rotation time 0 (-G counts seconds, at least 1)".into());
    }
    if args.file_count == Some(0) {
        return Some("invalid number of output files 0 (-W at least 1)".into());
    }
    if args.write.is_some() && args.read.is_some() && args.write == args.read {
        return Some("-w and -r name the same file".into());
    }
    None
}

/// The filter of the command line, or a message pointing at the error.
pub(crate) fn filter(args: &CaptureArgs) -> Result<Filter, String> {
    let text = args.expr.join(" ");
    Filter::parse(&text).map_err(|e| {
        let caret = " ".repeat(e.column().saturating_sub(1).min(text.len()));
        format!("{e}\n  {text}\n  {caret}^")
    })
}

/// `ustack capture`: prints (or writes to pcap files) the packets the filter selects, from the
/// running stack on `--tun` or from a file; exit code 2 for a filter that does not parse or
/// options that do not go together.
pub fn run(args: CaptureArgs) -> io::Result<ExitCode> {
    if let Some(msg) = check(&args) {
        eprintln!("ustack capture: {msg}");
        return Ok(ExitCode::from(2));
    }
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
        "reading from file {}, link-type RAW (Raw IP), snapshot length {}",
        path.display(),
        reader.snaplen()
    );
    let mut sink = Sink::new(args)?;
    let (mut read, mut result) = (0u64, Ok(()));
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                read += 1;
                if filter.matches(&rec.data)
                    && !sink.packet(rec.ts, None, &rec.data, rec.orig_len)?
                {
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
