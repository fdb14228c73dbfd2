//! A hand-made TCP SYN from a raw socket, and the answer read back: the first step of a SYN
//! scan, in thirty lines. The SYN is built with `ustack::wire::build` (scapy's `IP()/TCP()`);
//! the source port is *claimed*, so the SYN-ACK reaches this socket alone and the stack sends
//! no RST of its own (the kernel's side keeps its half-open connection until it gives up).
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab cargo run -p ustack-examples --example raw_syn -- --port 22
//! ```
//! With something listening on 198.18.0.1:22 in `mylab` it prints the SYN-ACK, else the RST.

use clap::Parser;
use std::time::Duration;
use tun_bridge::{blocking::RawSocket, Bridge};
use ustack::wire::build::{Ipv4, Tcp};
use ustack::wire::{proto, PacketSummary};
use ustack::{filter::Filter, RawOptions};
use ustack_examples::LinkArgs;

/// Sends one SYN to the kernel side's PORT and prints what comes back.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    link: LinkArgs,
    /// The port to knock on.
    #[arg(long, default_value_t = 22)]
    port: u16,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let bridge = Bridge::start(args.link.config(), Vec::new())?;
    // Copies of TCP from the target port only; the claim makes our port ours alone.
    let filter = Some(Filter::parse(&format!("tcp src port {}", args.port))?);
    let options = RawOptions {
        protocol: Some(proto::TCP),
        filter,
        send_only: false,
    };
    let raw = RawSocket::open(&bridge, options)?;
    let sport = raw.claim(proto::TCP, 0)?;
    let ip = Ipv4::new().src(args.link.addr).dst(args.link.host_addr);
    let syn = ip / Tcp::new().sport(sport).dport(args.port).seq(1000).syn();
    println!("sent {syn}");
    raw.send(&syn.build()?)?;
    let mut buf = [0u8; 2048];
    match raw.recv(&mut buf, Duration::from_secs(3))? {
        Some(n) => println!("got  {}", PacketSummary(&buf[..n.min(buf.len())])),
        None => println!("no answer in 3 s (filtered?)"),
    }
    drop(raw);
    Ok(bridge.shutdown()?)
}
