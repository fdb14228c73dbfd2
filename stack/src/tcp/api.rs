//! The TCP types an app sees: errors, the `tcp_info` snapshot, and connection / listener handles.

use super::{ConnStats, State};
use crate::time::{Duration, Instant};
use std::net::SocketAddr;

/// What went wrong on a TCP socket, as the app sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// Nothing to read or no room to write right now.
    WouldBlock,
    /// The handle is closed or stale.
    InvalidHandle,
    /// Not connected (yet or any more).
    NotConnected,
    /// The peer reset the connection (ECONNRESET).
    Reset,
    /// The peer refused the connection: RST in reply to our SYN (ECONNREFUSED).
    Refused,
    /// The handshake, the user timeout or keepalive gave up (ETIMEDOUT).
    TimedOut,
    /// A hard ICMP error while connecting (EHOSTUNREACH and friends).
    Unreachable(crate::socket::IcmpError),
    /// Writing after `shutdown` or `close` (EPIPE).
    Closed,
    /// No free port, or the connection table is full.
    NoResources,
    /// The port is in use.
    AddrInUse,
    /// The destination's family has no address of ours: an IPv6 peer while the stack has no
    /// `Config::addr6` (EADDRNOTAVAIL), or an unspecified or multicast destination.
    AddrNotAvailable,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TcpError::WouldBlock => f.write_str("operation would block"),
            TcpError::InvalidHandle => f.write_str("invalid TCP handle"),
            TcpError::NotConnected => f.write_str("not connected"),
            TcpError::Reset => f.write_str("connection reset by peer"),
            TcpError::Refused => f.write_str("connection refused"),
            TcpError::TimedOut => f.write_str("connection timed out"),
            TcpError::Unreachable(e) => write!(f, "unreachable: {e}"),
            TcpError::Closed => f.write_str("broken pipe (sending side closed)"),
            TcpError::NoResources => f.write_str("no free port or connection slot"),
            TcpError::AddrInUse => f.write_str("address in use"),
            TcpError::AddrNotAvailable => f.write_str("cannot assign requested address"),
        }
    }
}

impl std::error::Error for TcpError {}

/// A snapshot of one connection (like Linux's `tcp_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// State.
    pub state: State,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Smoothed RTT (RFC 6298), once measured.
    pub srtt: Option<Duration>,
    /// RTT variation, once measured.
    pub rttvar: Option<Duration>,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes.
    pub ssthresh: usize,
    /// Sent and unacknowledged, bytes.
    pub bytes_in_flight: usize,
    /// The peer's advertised window, bytes.
    pub snd_wnd: usize,
    /// Our receive window, bytes.
    pub rcv_wnd: usize,
    /// MSS we send with (the peer's, clamped; what congestion control counts in).
    pub smss: usize,
    /// The payload of a full-sized segment: `smss` within the path MTU less the options every
    /// segment carries (timestamps) — Linux's `tcpi_snd_mss`, what `ss -i` shows as `mss`.
    pub snd_mss: usize,
    /// In fast recovery.
    pub in_recovery: bool,
    /// Bytes in the send buffer.
    pub send_queue: usize,
    /// Bytes waiting for the app to read.
    pub recv_queue: usize,
    /// Counters.
    pub stats: ConnStats,
    /// Congestion-control algorithm.
    pub congestion: &'static str,
    /// When a segment was last sent (None in the compact TIME-WAIT table).
    pub last_send: Option<Instant>,
    /// When a segment was last received (None in the compact TIME-WAIT table).
    pub last_recv: Option<Instant>,
    /// The MSS we announced (what full-sized segments from the peer carry at most).
    pub rcv_mss: usize,
    /// Window-scale shift applied to the peer's windows (RFC 7323 §2.3; 0 if not negotiated).
    pub snd_wscale: u8,
    /// Window-scale shift we apply to the windows we advertise (0 if not negotiated).
    pub rcv_wscale: u8,
    /// Timestamps negotiated (RFC 7323 §3).
    pub timestamps: bool,
    /// SACK permitted (RFC 2018).
    pub sack: bool,
    /// The app closed its handle (or never had one) while the connection still lives: what
    /// Linux counts as an orphan.
    pub orphaned: bool,
}

/// A TCP connection handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle {
    pub(super) index: u32,
    pub(super) generation: u32,
}

/// A TCP listener handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenHandle {
    pub(super) port: u16,
    pub(super) generation: u32,
}
