//! Command-line options shared by every command that brings up a TUN-backed stack.

use clap::Args;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use tun_bridge::{Bridge, BridgeConfig, LogTap, PcapTap, Tap};

/// Where and how the stack's interface is set up.
#[derive(Debug, Args, Clone)]
pub struct NetArgs {
    /// Name of the TUN device to create.
    #[arg(long = "tun", default_value = "ustack0")]
    pub tun: String,
    /// Address of the kernel (host) side of the TUN.
    #[arg(long, default_value = "198.18.0.1")]
    pub host_addr: Ipv4Addr,
    /// Address of the stack itself.
    #[arg(long, default_value = "198.18.0.2")]
    pub addr: Ipv4Addr,
    /// Prefix length of the link between them.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u8).range(0..=30))]
    pub prefix_len: u8,
    /// MTU of the link (the stack fragments larger datagrams).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(68..))]
    pub mtu: u16,
    /// TTL of the datagrams the stack sends.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl: u8,
    /// Write every packet in and out to this pcap file (open with Wireshark or `tcpdump -r`).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Print one decoded line per packet, in and out.
    #[arg(long)]
    pub trace: bool,
}

/// A seed from the OS for the stack's pseudo-random choices.
fn os_seed() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                ^ u64::from(std::process::id())
        }
    }
}

impl NetArgs {
    /// Creates the TUN, configures the host side and starts the stack.
    pub fn start(&self) -> io::Result<Bridge> {
        if self.addr == self.host_addr {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--addr and --host-addr must differ",
            ));
        }
        let mut taps: Vec<Box<dyn Tap>> = Vec::new();
        if let Some(p) = &self.pcap {
            taps.push(Box::new(PcapTap::create(p)?));
        }
        if self.trace {
            taps.push(Box::new(LogTap::stdout()));
        }
        let config = BridgeConfig {
            tun_name: self.tun.clone(),
            host_addr: self.host_addr,
            configure_host: true,
            stack: ustack::Config {
                addr: self.addr,
                prefix_len: self.prefix_len,
                mtu: self.mtu,
                ttl: self.ttl,
                seed: os_seed(),
                ..ustack::Config::default()
            },
        };
        Bridge::start(config, taps)
    }
}
