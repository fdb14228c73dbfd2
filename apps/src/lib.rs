//! # ustack-apps — the workbench around the stack
//!
//! Three rooms, each using only the public APIs of `ustack` (the protocol library) and
//! `tun-bridge` (the runtime: device, event loop, sockets, taps, faults):
//!
//! - [`daemon`]: what `ustack up` runs beside the stack for the tools — the control server and
//!   its protocol (one file per request), the module behind each request, the jobs (ping,
//!   connect, trace) and packet capture (the hub it installs as a tap, the formatter, pcap).
//! - [`services`]: what the stack serves — echo, discard, chargen, UDP echo, HTTP — each an
//!   async task on the loop written against `tun_bridge::aio`.
//! - [`tools`]: the `ustack` command's subcommands — thin clients of the control protocol
//!   (`ping`, `ss`, `capture`, `trace`, `connect`, `events`), `up` itself, and `lab`.
//!
//! The binary (`src/main.rs`) only calls [`tools::cli::main`]; tests import services and helpers
//! from here. How to add a request or a tool: docs/CONTROL.md.
//!
//! ## Your own app on ustack, seen by the tools
//!
//! A complete program: a TCP echo server on the stack's address that `ustack ss`, `ustack
//! capture`, `ustack ping` … attach to as they attach to `ustack up` — choosing the addresses,
//! attaching the control socket ([`daemon::start_with_control`]), keeping `main` alive, and
//! stopping cleanly on Ctrl-C. Run it as root inside a network namespace of your own
//! (`ip netns add lab && ip netns exec lab ./echo`), the clients there too (`ip netns exec lab
//! nc 198.18.0.2 7`, `ip netns exec lab ustack ss`). More in the repository's `examples/`.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use tun_bridge::{aio::TcpListener, BridgeConfig};
//!
//! fn main() -> std::io::Result<()> {
//!     // 1. Where the stack lives: its TUN device, the kernel side's address and its own (in
//!     //    198.18.0.0/15, set aside for benchmarks by RFC 2544: no real network uses it).
//!     let defaults = BridgeConfig::default();
//!     let config = BridgeConfig {
//!         tun_name: "ustack0".into(),
//!         host_addr: Ipv4Addr::new(198, 18, 0, 1),
//!         stack: ustack::Config {
//!             addr: Ipv4Addr::new(198, 18, 0, 2),
//!             prefix_len: 24,
//!             ..defaults.stack.clone()
//!         },
//!         ..defaults
//!     };
//!     // 2. The stack, with the capture hub and the control socket the tools attach to by the
//!     //    TUN's name (without them: `tun_bridge::Bridge::start(config, Vec::new())`).
//!     let (bridge, control) = ustack_apps::daemon::start_with_control(config, Vec::new())?;
//!     // 3. The app: a task on the stack's event loop thread (tokio's I/O helpers work on it).
//!     bridge.spawn(|net| async move {
//!         let listener = match TcpListener::bind(&net, 7, 128) {
//!             Ok(l) => l,
//!             Err(e) => return eprintln!("port 7: {e}"),
//!         };
//!         while let Ok((stream, _peer)) = listener.accept().await {
//!             tokio::task::spawn_local(async move {
//!                 let (mut rx, mut tx) = tokio::io::split(stream);
//!                 let _ = tokio::io::copy(&mut rx, &mut tx).await;
//!             });
//!         }
//!     })?;
//!     // 4. Keep main alive (the loop runs on its own thread) until Ctrl-C or SIGTERM, or until
//!     //    the loop ends on its own (a device error).
//!     let (stop, stopped) = mpsc::channel();
//!     ctrlc::set_handler(move || drop(stop.send(()))).map_err(std::io::Error::other)?;
//!     while bridge.is_running() && stopped.recv_timeout(Duration::from_millis(200)).is_err() {}
//!     // 5. Stop: the control socket goes first, then every connection is closed (FIN/RST go
//!     //    out) and the TUN device removed.
//!     drop(control);
//!     bridge.shutdown()
//! }
//! ```

#![warn(missing_docs)]

pub mod daemon;
pub mod services;
pub mod tools;
