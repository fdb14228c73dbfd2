//! `ustack`: bring up a userspace IPv4 stack behind a TUN device, and tools that use it.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod net;
mod ping;
mod udp_echo;
mod up;

/// ustack — a userspace IPv4/ICMP/UDP stack behind a Linux TUN device.
///
/// `ustack up` creates a TUN interface (kernel side 198.18.0.1/24), puts the stack at 198.18.0.2
/// behind it, and serves ping and UDP echo (port 7) until Ctrl-C. `ustack ping` brings up its own
/// interface the same way and pings the kernel side from inside the stack. Both need root (or
/// CAP_NET_ADMIN) to create the TUN device.
#[derive(Debug, Parser)]
#[command(name = "ustack", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the TUN interface and run the stack: answers ping, UDP echo on port 7.
    Up(up::UpArgs),
    /// Ping an address from inside the stack (iputils-like output).
    Ping(ping::PingArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_micros()
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Ping(args) => ping::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ustack: {e}");
            ExitCode::from(2)
        }
    }
}
