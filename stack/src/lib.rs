//! # ustack — a sans-IO userspace IPv4 / ICMP / UDP stack
//!
//! ustack does no I/O of its own: it is handed packets and the time, and hands back packets and
//! deadlines. The `tun-bridge` crate drives it from a Linux TUN device and a real clock.
//!
//! ```text
//!   device ──► Stack::receive(now, bytes)
//!                 │  wire::ipv4 parse + validate ── drop (Stats, DropReason)
//!                 │  ip::reassembly (bounded, many datagrams at once)
//!                 ├─► ICMP: echo reply · error → socket it quotes
//!                 ├─► UDP : socket queue · else ICMP port unreachable (rate-limited)
//!                 └─► other protocol → ICMP protocol unreachable
//!   app ──► udp_send_to / echo_send ──► ip::fragment::TxQueue
//!                                          │ cut to MTU (DF honoured)
//!   device ◄── Stack::poll_transmit(now, buf)  (call until None)
//!   timers: sleep until Stack::poll_at(), then Stack::handle_timeout(now)
//! ```
//!
//! Every limit is a field of [`Config`]; every refused packet is counted in [`Stats`] under a
//! [`DropReason`]. The crate never reads a clock, sleeps, spawns or prints.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod icmp;
pub mod ip;
mod rand;
pub mod socket;
mod stack;
pub mod stats;
pub mod tcp;
pub mod time;
mod udp;
pub mod wire;

pub use config::{Config, ConfigError};
pub use socket::{
    BindError, EchoEvent, IcmpError, RecvError, SendError, SocketEvent, SocketHandle,
};
pub use stack::{MemoryUsage, Stack};
pub use stats::{DropReason, Stats};
pub use time::{Duration, Instant};
