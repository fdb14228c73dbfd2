//! TCP (RFC 9293): connections, listeners with a real backlog and SYN cookies, and the pieces
//! they are built from.
//!
//! `TcpLayer` (table.rs) owns every connection and listener. It demultiplexes arriving segments in O(1)
//! (a hash map on the 4-tuple), answers segments for nobody with RST (RFC 9293 §3.10.7.1),
//! keeps a deadline heap so `poll_at` is cheap with thousands of connections, and a queue of
//! connections with something to send so `poll_transmit` never scans the table.

mod admission;
mod api;
pub(crate) mod assembler;
mod challenge;
pub mod congestion;
pub(crate) mod connection;
mod events;
mod handshake;
mod icmp_error;
mod input;
pub(crate) mod isn;
mod listener;
mod memory;
mod output;
mod paws;
mod receiver;
pub mod recovery;
mod ring;
pub(crate) mod rtt;
pub(crate) mod send_buffer;
mod sender;
mod state;
pub(crate) mod syncookie;
mod table;
mod time_wait;
pub(crate) mod timers;

pub use api::{ConnHandle, ListenHandle, TcpError, TcpInfo};
pub use connection::ConnStats;
pub(crate) use icmp_error::IcmpReport;
pub use listener::ListenerInfo;
pub(crate) use output::IpOut;
pub use state::State;
pub(crate) use table::TcpLayer;
