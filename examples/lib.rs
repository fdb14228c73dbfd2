//! # ustack-examples — programs to copy
//!
//! Each example in this folder is a complete program on ustack: it brings up its own stack
//! on a TUN device, runs its app as tasks on the stack's event loop (`tun_bridge::aio`), and
//! stops cleanly on Ctrl-C or SIGTERM.
//!
//! | example | what it shows |
//! |---|---|
//! | `echo_server.rs` | a TCP server: accept loop, one task per connection, `tokio::io::copy` |
//! | `http_get.rs` | a TCP client: an HTTP/1.1 GET to a server on the kernel side, run with `block_on` |
//! | `udp_quote.rs` | a UDP service: quote of the day (RFC 865) |
//! | `with_control.rs` | a server with the control socket attached, so `ustack ss` and `ustack capture` see it |
//!
//! Run one as root inside a network namespace of your own (every packet stays in it):
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab cargo run -p ustack-examples --example echo_server
//! ip netns exec mylab sh -c 'echo hello | nc -N 198.18.0.2 7'     # in another terminal
//! ip netns del mylab                                              # afterwards
//! ```
//!
//! This library holds the two pieces every example repeats: the address flags ([`LinkArgs`],
//! turned into a [`BridgeConfig`]) and waiting for Ctrl-C ([`wait_for_stop`]). Both are short;
//! copy them with the example.

#![warn(missing_docs)]

use clap::Args;
use std::io;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::Duration;
use tun_bridge::{Bridge, BridgeConfig};

/// Where the stack lives: its TUN device, the kernel side's address and its own (defaults in
/// 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks — no real network uses it).
#[derive(Debug, Args, Clone)]
pub struct LinkArgs {
    /// The TUN device to create.
    #[arg(long, default_value = "ustack0")]
    pub tun: String,
    /// The kernel side's address (the kernel routes the prefix into the TUN).
    #[arg(long, default_value = "198.18.0.1")]
    pub host_addr: Ipv4Addr,
    /// The stack's own address.
    #[arg(long, default_value = "198.18.0.2")]
    pub addr: Ipv4Addr,
    /// Prefix length of the link between them.
    #[arg(long, default_value_t = 24)]
    pub prefix_len: u8,
}

impl LinkArgs {
    /// The bridge configuration for this link: everything else as `BridgeConfig::default()`
    /// (secrets drawn from the OS, the kernel side configured with iproute2).
    pub fn config(&self) -> BridgeConfig {
        let default = BridgeConfig::default();
        BridgeConfig {
            tun_name: self.tun.clone(),
            host_addr: self.host_addr,
            stack: ustack::Config {
                addr: self.addr,
                prefix_len: self.prefix_len,
                ..default.stack.clone()
            },
            ..default
        }
    }
}

/// Keeps `main` alive until Ctrl-C or SIGTERM (or until the event loop ends on its own, e.g.
/// on a device error). The stack runs on its own thread; `main` only has to wait, then call
/// `bridge.shutdown()`, which closes every connection (FIN/RST go out) and removes the device.
pub fn wait_for_stop(bridge: &Bridge) -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    // `ctrlc` with the `termination` feature catches SIGINT, SIGTERM and SIGHUP.
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(io::Error::other)?;
    // Wake up now and then to notice a loop that died.
    while bridge.is_running() {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    Ok(())
}
