//! `sockets`: every TCP connection, listener and UDP socket, with what `ss -ti` shows.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Answer to `sockets`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketsReply {
    /// TCP connections, any state.
    pub tcp: Vec<TcpSocket>,
    /// TCP listeners.
    pub listeners: Vec<ListenSocket>,
    /// UDP sockets.
    pub udp: Vec<UdpSocket>,
    /// The daemon's process id, which holds every socket of the stack (`ss -p`'s `pid=`).
    /// Absent from daemons older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// A TCP connection, with what `ss -ti` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpSocket {
    /// State in `ss`'s filter spelling: established, syn-sent, syn-recv, fin-wait-1,
    /// fin-wait-2, time-wait, close, close-wait, last-ack, closing.
    pub state: String,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
    /// Bytes received and not read by the app.
    pub recv_q: u64,
    /// Bytes in the send buffer (unsent and unacknowledged).
    pub send_q: u64,
    /// Retransmission timeout, ms.
    pub rto_ms: f64,
    /// Smoothed RTT, ms (once measured).
    pub rtt_ms: Option<f64>,
    /// RTT variation, ms.
    pub rttvar_ms: Option<f64>,
    /// The effective MSS: a full segment's payload, the MSS less the options every segment
    /// carries (timestamps), as Linux's `tcpi_snd_mss` (1448 for 1460 with timestamps).
    pub mss: u64,
    /// MSS we announced.
    pub rcv_mss: u64,
    /// Congestion window, segments of `mss`.
    pub cwnd: u64,
    /// Slow-start threshold, segments (none while still "infinite").
    pub ssthresh: Option<u64>,
    /// Bytes in flight.
    pub unacked_bytes: u64,
    /// Peer's window, bytes.
    pub snd_wnd: u64,
    /// Our window, bytes.
    pub rcv_wnd: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments retransmitted.
    pub retrans: u64,
    /// Fast retransmits.
    pub fast_retrans: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Out-of-order segments received.
    pub out_of_order: u64,
    /// Milliseconds since a segment was last sent.
    pub lastsnd_ms: Option<u64>,
    /// Milliseconds since a segment was last received.
    pub lastrcv_ms: Option<u64>,
    /// Payload bytes acknowledged per second over the daemon's last sample interval (about a
    /// second), bits per second.
    pub delivery_rate_bps: Option<u64>,
    /// cwnd × mss / srtt, bits per second (what `ss` prints as `send`).
    pub send_rate_bps: Option<u64>,
    /// Congestion-control algorithm.
    pub congestion: String,
    /// Window-scale shifts: the peer's and ours.
    pub wscale: (u8, u8),
    /// Timestamps negotiated.
    pub ts: bool,
    /// SACK permitted.
    pub sack: bool,
    /// In fast recovery.
    pub in_recovery: bool,
    /// Closed by its app while still in the table (what the kernel counts as orphaned).
    #[serde(default)]
    pub orphaned: bool,
    /// The service or job that holds the socket (`http`, `echo`, `connect`, `trace`, ...):
    /// what `ss -p` names. Absent when nobody named holds it — a connection its owner closed
    /// (FIN-WAIT, TIME-WAIT), a half-open one not yet accepted, a socket of an app that did
    /// not name its network (`Net::owned_by`), or a daemon older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A TCP listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenSocket {
    /// Local address (the stack's address, the port).
    pub local: SocketAddr,
    /// Connections waiting for `accept` (Recv-Q of a listener in `ss`).
    pub queued: u64,
    /// The backlog (Send-Q of a listener in `ss`).
    pub backlog: u64,
    /// The service or job that holds the socket (`http`, `echo`, `connect`, `trace`, ...):
    /// what `ss -p` names. Absent when nobody named holds it — a connection its owner closed
    /// (FIN-WAIT, TIME-WAIT), a half-open one not yet accepted, a socket of an app that did
    /// not name its network (`Net::owned_by`), or a daemon older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A UDP socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UdpSocket {
    /// Local address.
    pub local: SocketAddr,
    /// Bytes waiting to be received.
    pub recv_q: u64,
    /// Datagrams waiting to be received.
    pub recv_datagrams: u64,
    /// The service or job that holds the socket (`http`, `echo`, `connect`, `trace`, ...):
    /// what `ss -p` names. Absent when nobody named holds it — a connection its owner closed
    /// (FIN-WAIT, TIME-WAIT), a half-open one not yet accepted, a socket of an app that did
    /// not name its network (`Net::owned_by`), or a daemon older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}
