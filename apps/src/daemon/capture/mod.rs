//! Packet capture on a running stack: the filter language ([`filter`]), the hub that hands
//! packets to capture clients ([`hub`]), and the tcpdump-style lines they print ([`format`]).

pub mod format;
pub mod hub;
pub(crate) mod wire;

pub use hub::{CaptureHub, CapturedPacket, SharedPacket, Subscription};
pub use ustack::filter::{Filter, FilterError};
