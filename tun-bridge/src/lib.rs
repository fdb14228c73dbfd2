//! # tun-bridge — ustack on a real Linux TUN device
//!
//! [`Bridge::start`] opens a TUN device, gives its kernel side an address, and starts the event
//! loop thread that owns a sans-IO [`ustack::Stack`] and drives it with the real clock (see
//! [`runtime`]). Apps are tasks on that thread using the async sockets in [`aio`]
//! (tokio-compatible: `AsyncRead`/`AsyncWrite`), or other threads using the blocking handles in
//! [`blocking`]; both wait on per-socket wakeups. Packet taps ([`tap`]) see every packet in and
//! out; [`fault`] injects loss, reordering and duplication. The runtime knows no tool: the
//! workbench (`ustack-apps`: its daemon, services and tools) installs what it needs — a capture
//! hub, a pcap writer — through taps and tasks.
//!
//! Safe by default: every [`Bridge::start`] draws the stack's ISN / SYN-cookie secret and its
//! seed from the OS ([`entropy`]) unless [`BridgeConfig::entropy`] pins them
//! ([`Entropy::Pinned`], for tests and reproducible runs).
//!
//! ## An app of one's own
//!
//! A UDP echo server on the stack's address, complete: the addresses chosen, the app a task on
//! the loop, `main` kept alive until Ctrl-C (the `ctrlc` crate) or the loop's end, then a clean
//! stop. Run it as root in a network namespace of your own (`ip netns add lab && ip netns exec
//! lab ./app`; from there, `echo hi | nc -u -w1 198.18.0.2 7`). For the workbench's tools to see
//! it (`ustack ss`, `ustack capture`), start it with `ustack_apps::daemon::start_with_control`
//! instead of [`Bridge::start`]; the repository's `examples/` has more.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//! use tun_bridge::{aio::UdpSocket, Bridge, BridgeConfig};
//!
//! fn main() -> std::io::Result<()> {
//!     let defaults = BridgeConfig::default();
//!     let config = BridgeConfig {
//!         tun_name: "ustack0".into(),              // the TUN device to create
//!         host_addr: Ipv4Addr::new(198, 18, 0, 1), // the kernel side's address
//!         stack: ustack::Config {
//!             addr: Ipv4Addr::new(198, 18, 0, 2), // the stack's own
//!             prefix_len: 24,
//!             ..defaults.stack.clone()
//!         },
//!         ..defaults // secrets from the OS, the kernel side set up with iproute2
//!     };
//!     let bridge = Bridge::start(config, Vec::new())?;
//!     bridge.spawn(|net| async move {
//!         let Ok(socket) = UdpSocket::bind(&net, 7) else { return };
//!         let mut buf = [0u8; 2048];
//!         loop {
//!             // An error here is one datagram's (an ICMP error about an earlier answer).
//!             let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
//!             let _ = socket.send_to(&buf[..n], peer).await;
//!         }
//!     })?;
//!     let (stop, stopped) = std::sync::mpsc::channel();
//!     ctrlc::set_handler(move || drop(stop.send(()))).map_err(std::io::Error::other)?;
//!     while bridge.is_running() && stopped.recv_timeout(Duration::from_millis(200)).is_err() {}
//!     bridge.shutdown() // every task dropped, its sockets closed, the TUN removed
//! }
//! ```

#![warn(missing_docs)]

pub mod aio;
pub mod blocking;
mod core;
pub mod entropy;
mod errors;
pub mod fault;
mod handle;
pub mod host;
mod ops;
pub mod runtime;
pub mod tap;
mod trim;
pub mod tun;

pub use blocking::{Loop, PingSocket, TcpListener, TcpStream, UdpSocket};
pub use entropy::Entropy;
pub use errors::{icmp_error_of, io_error};
pub use fault::{FaultConfig, FaultInjector};
pub use handle::{Handle, Net, SocketId};
pub use runtime::{Bridge, BridgeConfig};
pub use tap::{Direction, LogTap, Tap};
