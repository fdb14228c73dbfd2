//! `ustack`: bring up a userspace IPv4 stack behind a TUN device, and tools that use it.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod capture;
mod capture_live;
mod connect;
mod events;
mod http;
mod lab;
mod net;
mod ping;
mod serve;
mod services;
mod ss;
mod ss_format;
mod trace;
mod udp_echo;
mod up;

/// ustack — a userspace IPv4/ICMP/UDP/TCP stack behind a Linux TUN device.
///
/// `ustack up` creates a TUN interface (kernel side 198.18.0.1/24), puts the stack at 198.18.0.2
/// behind it, and serves ping, UDP echo (port 7) and the TCP services echo (7), discard (9),
/// chargen (19) and HTTP (80) until Ctrl-C. `ustack ping` and `ustack connect` bring up their own
/// interface the same way and ping, or open a TCP connection to, the kernel side from inside the
/// stack. All need root (or CAP_NET_ADMIN) to create the TUN device.
#[derive(Debug, Parser)]
#[command(name = "ustack", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the TUN interface and run the stack: answers ping, UDP echo on port 7, TCP echo
    /// (7), discard (9), chargen (19) and HTTP (80).
    Up(up::UpArgs),
    /// Ping an address from inside the stack (iputils-like output).
    Ping(ping::PingArgs),
    /// Open a TCP connection from inside the stack, netcat-like: stdin to it, it to stdout.
    Connect(connect::ConnectArgs),
    /// The running stack's sockets, like `ss -tuai` (through its control socket).
    Ss(ss::SsArgs),
    /// Watch the running stack: connections opening, changing state, closing; drops.
    Events(events::EventsArgs),
    /// Sniff the running stack (or read a pcap file), tcpdump-style, with a tcpdump filter.
    Capture(capture::CaptureArgs),
    /// Traceroute from inside the stack: UDP (default), ICMP echo (-I) or TCP SYN (-T) probes
    /// with increasing TTL; --pmtu finds the path MTU like tracepath.
    Trace(trace::TraceArgs),
    /// A multi-hop network of namespaces to study (routers, per-link MTU, a far-end server).
    Lab(lab::LabArgs),
}

impl Command {
    /// The network options of the commands that bring up a stack.
    fn net(&self) -> Option<&net::NetArgs> {
        match self {
            Command::Up(a) => Some(&a.net),
            Command::Ping(a) => Some(&a.net),
            Command::Connect(a) => Some(&a.net),
            Command::Trace(a) => Some(&a.net),
            Command::Ss(_) | Command::Events(_) | Command::Capture(_) | Command::Lab(_) => None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // --trace also shows every TCP state transition, RTO and retransmission (debug level of
    // the stack's tcp modules), whatever RUST_LOG says about the rest.
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if cli.command.net().is_some_and(|n| n.trace) {
        logger.filter_module("ustack::tcp", log::LevelFilter::Debug);
    }
    logger.format_timestamp_micros().init();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Ping(args) => ping::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Ss(args) => ss::run(args),
        Command::Events(args) => events::run(args),
        Command::Capture(args) => capture::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Lab(args) => lab::run(args),
    };
    match result {
        Ok(code) => code,
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
