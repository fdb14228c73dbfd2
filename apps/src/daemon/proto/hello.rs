//! `hello`: who is serving.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Answer to `hello`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version.
    pub version: u32,
    /// The TUN device.
    pub tun: String,
    /// The stack's address.
    pub addr: Ipv4Addr,
    /// The kernel side's address.
    pub host_addr: Ipv4Addr,
    /// Prefix length of the link.
    pub prefix_len: u8,
    /// MTU.
    pub mtu: u16,
    /// Process id of the daemon.
    pub pid: u32,
    /// Milliseconds since the daemon's stack started.
    pub uptime_ms: u64,
    /// Requests this daemon knows.
    pub requests: Vec<String>,
}
