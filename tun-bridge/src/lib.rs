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
