//! The `ustack` command line: one subcommand per tool, dispatched to its module.

use super::{
    capture, connect, docs, events, filter, fuzz, lab, net, ping, scan, send, ss, trace, up,
};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ustack — a userspace IPv4/ICMP/UDP/TCP stack behind a Linux TUN device.
///
/// `ustack up` creates a TUN interface (kernel side 198.18.0.1/24), puts the stack at 198.18.0.2
/// behind it, serves ping, UDP echo (port 7) and the TCP services echo (7), discard (9),
/// chargen (19) and HTTP (80) until Ctrl-C, and a control socket for the other tools.
/// `ustack ping`, `ustack connect`, `ustack ss` and `ustack events` attach to the stack running
/// on `--tun` (default ustack0); ping and connect bring up their own only when none runs. All
/// need root (or CAP_NET_ADMIN).
#[derive(Debug, Parser)]
#[command(name = "ustack", version, about, long_about)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less log output: warnings and errors only.
    #[arg(short = 'q', conflicts_with = "verbose")]
    quiet: bool,
    /// Log level (off, error, warn, info, debug, trace), or a RUST_LOG-style filter such as
    /// `info,ustack::tcp=debug`; overrides -v / -q and RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the TUN interface and run the stack: answers ping, UDP echo on port 7, TCP echo
    /// (7), discard (9), chargen (19) and HTTP (80); serves the control socket.
    Up(up::UpArgs),
    /// Ping an IPv4 or IPv6 address from inside the stack (iputils-like output, ping -6's over
    /// IPv6).
    Ping(ping::PingArgs),
    /// Netcat from inside the stack: connect (or listen with -l) over TCP or UDP (-u).
    Connect(connect::ConnectArgs),
    /// The running stack's sockets, like `ss -tuai` (through its control socket).
    Ss(ss::SsArgs),
    /// Watch the running stack: connections opening, changing state, closing; drops.
    Events(events::EventsArgs),
    /// Sniff the running stack (or read a pcap file), tcpdump-style, with a tcpdump filter.
    Capture(capture::CaptureArgs),
    /// Traceroute from inside the stack, over IPv4 or IPv6: UDP (default), ICMP echo (-I) or TCP
    /// SYN (-T) probes with increasing TTL (hop limit); --pmtu finds the path MTU like
    /// tracepath.
    Trace(trace::TraceArgs),
    /// The running stack's firewall: list with counters, add, insert, delete, flush, replace
    /// a rule set atomically, check a file (docs/FIREWALL.md).
    Filter(filter::FilterArgs),
    /// Port scan from inside the stack, nmap-like: -sS (default), -sT, -sU, -sF, -sN, -sX, -sA,
    /// and host discovery -sn over a prefix; -p, --top-ports, -T0..-T5, --reason, --json.
    Scan(scan::ScanArgs),
    /// hping3 from inside the stack: crafted TCP (any flags), UDP, ICMP or raw IP probes, over
    /// IPv4 or IPv6, replies printed in hping3's lines.
    Send(send::SendArgs),
    /// scapy's fuzz(): packets from a template with random fields, sent at a target in the
    /// lab (or fed into the stack itself, --inject) at a bounded rate, checking between rounds
    /// that the target still answers; a hang is reported with the seed that replays it.
    Fuzz(fuzz::FuzzArgs),
    /// A multi-hop network of namespaces to study (routers, per-link MTU, a far-end server).
    Lab(lab::LabArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Write man pages: ustack.1 and one per subcommand.
    Man(docs::ManArgs),
}

impl Command {
    /// The network options of commands that may bring up a stack.
    fn net(&self) -> Option<&net::NetArgs> {
        match self {
            Command::Up(a) => Some(&a.net),
            Command::Ping(a) => Some(&a.net),
            Command::Connect(a) => Some(&a.net),
            Command::Trace(a) => Some(&a.net),
            Command::Scan(a) => Some(&a.net),
            Command::Send(a) => Some(&a.net),
            Command::Fuzz(a) => Some(&a.net),
            _ => None,
        }
    }
}

/// The logger: `--log-level` > `-v`/`-q` > `RUST_LOG` > info. `--trace` also shows every TCP
/// state transition, RTO and retransmission (debug level of the stack's tcp modules).
fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => Some("warn"),
        (false, 0) => None,
        (false, 1) => Some("debug"),
        (false, _) => Some("trace"),
    };
    let mut logger = match (&cli.log_level, default) {
        (Some(filter), _) => {
            let mut b = env_logger::Builder::new();
            b.parse_filters(filter);
            b
        }
        (None, Some(level)) => {
            let mut b = env_logger::Builder::new();
            b.parse_filters(level);
            b
        }
        (None, None) => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        }
    };
    if cli.command.net().is_some_and(|n| n.trace) {
        logger.filter_module("ustack::tcp", log::LevelFilter::Debug);
    }
    logger.format_timestamp_micros().init();
}

/// Parses the command line and runs the tool it names: the whole of `ustack`'s `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Ping(args) => ping::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Ss(args) => ss::run(args),
        Command::Events(args) => events::run(args),
        Command::Capture(args) => capture::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Send(args) => send::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Lab(args) => lab::run(args),
        Command::Filter(args) => filter::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(code) => code,
        // stdout closed under us (`ustack ping ... | head -2`): end quietly, with the status a
        // shell gives a program SIGPIPE ended, as iputils ping would have been.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            eprintln!("ustack: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
