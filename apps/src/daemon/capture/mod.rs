//! Packet capture on a running stack: the filter language ([`filter`]), the hub that hands
//! packets to capture clients ([`hub`]), and the tcpdump-style lines they print ([`format`]).

pub mod dump;
pub mod format;
pub mod frames;
pub mod hub;
pub mod seq;
pub(crate) mod wire;

pub use hub::{CaptureHub, CapturedPacket, SharedPacket, Subscription};
pub use ustack::filter::{Filter, FilterError};
