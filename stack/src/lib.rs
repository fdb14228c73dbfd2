//! # ustack — a sans-IO userspace IPv4 / ICMP / UDP / TCP stack
//!
//! ustack does no I/O of its own: it is handed packets and the time, and hands back packets and
//! deadlines. The `tun-bridge` crate drives it from a Linux TUN device and a real clock.
//!
//! ```text
//!   device ──► Stack::receive(now, bytes)
//!                 │  wire::ipv4 parse + validate ─────────── drop (Stats, DropReason)
//!                 │  ip::ingress: martian source, not for us ┘
//!                 │  ip::reassembly (bounded, many datagrams at once)
//!                 ├─► ICMP (icmp.rs): echo reply · error → the socket or connection it quotes
//!                 │        (TCP: only if it quotes a sequence in flight, RFC 5927)
//!                 ├─► UDP  (udp.rs): socket queue · else port unreachable (rate-limited)
//!                 ├─► TCP  (tcp/): 4-tuple → connection → receive buffer → app
//!                 │        else listener (backlog, SYN cookies) · else RST
//!                 └─► other protocol → ICMP protocol unreachable
//!   app ──► udp_send_to / echo_send ──► ip::fragment::TxQueue (cut to MTU, DF honoured) ─┐
//!   app ──► tcp_send ──► TCP sender (window, cwnd, MSS, Nagle, RTO / SACK recovery) ─────┤
//!                                       ip::egress: the IPv4 header (ident, TTL, DF) ◄────┘
//!   device ◄── Stack::poll_transmit(now, buf)  (call until None)
//!   timers: sleep until Stack::poll_at(), then Stack::handle_timeout(now)
//!   events: Stack::poll_event() for sockets that became readable
//! ```
//!
//! Every limit is a field of [`Config`] (checked by [`Config::validate`]); every refused packet is
//! counted in [`Stats`] under a [`DropReason`]; [`Stack::memory`] reports what every table holds.
//! Randomness comes from `Config::secret` and `Config::seed` through keyed SipHash, never from the
//! environment. The crate never reads a clock, sleeps, spawns or prints.
//!
//! Inside `tcp/`: the table demultiplexes to a connection; `input.rs` walks RFC 9293 §3.10.7,
//! handing the SYN to `handshake.rs`, the ACK field to `sender/` (ACK processing, recovery,
//! segmentation, RTO) and the text and FIN to `receiver.rs`; `output.rs` writes what the
//! connection sends next. With the `test-support` feature, `test_support` re-exports internals
//! for the crate's tests, the conformance shim and the fuzz targets.
//!
//! An app on a real TUN does not drive the stack by hand: `tun-bridge` runs it on an event loop
//! with async and blocking sockets (its front page has a complete program), and `ustack-apps`
//! adds the control socket the workbench's tools attach to (`daemon::start_with_control`); the
//! repository's `examples/` has programs to copy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod filter;
mod icmp;
pub(crate) mod ip;
mod rand;
mod rate;
mod slab;
pub mod socket;
mod stack;
pub mod stats;
pub mod tcp;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod time;
mod udp;
pub mod wire;

pub use config::{Config, ConfigError};
pub use socket::{
    BindError, EchoEvent, IcmpError, RawInfo, RawIpv4, RawOptions, Readiness, RecvError, SendError,
    SocketEvent, SocketHandle, UdpSocketInfo,
};
pub use stack::{MemoryUsage, Stack};
pub use stats::{DropReason, Stats};
pub use time::{Duration, Instant};
