//! Parsing and emitting of IPv4, ICMPv4, UDP and TCP headers, and their tcpdump-style display.
//!
//! Parsing is done over etherparse's zero-copy slices after ustack's own checks, so that every
//! malformed input maps to one [`crate::DropReason`]. Emitting writes fixed headers into caller
//! buffers. [`PacketSummary`] prints any IPv4 packet the way tcpdump would. [`build`] crafts
//! whole packets layer by layer, scapy's `IP()/TCP()` way, for the tools that send them.

pub mod build;
pub mod checksum;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
mod summary;
mod summary6;
pub mod tcp;
pub mod udp;

pub use summary::{PacketSummary, SeqBase, Summary};

/// IP protocol numbers the stack knows by name (IANA "Assigned Internet Protocol Numbers").
pub mod proto {
    /// ICMP (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768).
    pub const UDP: u8 = 17;
    /// ICMPv6 (RFC 4443), IPv6's Next Header value.
    pub const ICMPV6: u8 = 58;
}
