//! What the stack holds in memory, table by table (issue 8 #16), so tests and `/stats` can check
//! that nothing grows beyond its `Config` limit under churn.

use super::Stack;

/// Sizes of every queue, pool and table of a [`Stack`] at one moment. Each is bounded by a
/// `Config` field or a fixed constant, named in its doc.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Datagrams waiting for `poll_transmit` (≤ `Config::tx_queue_datagrams`).
    pub tx_queue_datagrams: usize,
    /// Bytes waiting for `poll_transmit` (≤ `Config::tx_queue_bytes`).
    pub tx_queue_bytes: usize,
    /// Spare buffers kept for reuse (≤ 256).
    pub pool_buffers: usize,
    /// Capacity of those buffers, bytes (≤ 256 × 16 KiB).
    pub pool_bytes: usize,
    /// Bytes held by IP reassembly, IPv4 and IPv6 (each ≤ `Config::reassembly_max_bytes`).
    pub reassembly_bytes: usize,
    /// Datagrams being reassembled (bounded like `reassembly_bytes`).
    pub reassembly_datagrams: usize,
    /// Open UDP and echo sockets (≤ `Config::max_sockets`).
    pub sockets: usize,
    /// Socket events not yet taken by `poll_event` (≤ one per open socket).
    pub socket_events: usize,
    /// TCP connections with buffers, any state but the compact TIME-WAIT
    /// (≤ `Config::tcp_max_connections`).
    pub tcp_connections: usize,
    /// Entries of the compact TIME-WAIT table (≤ `Config::tcp_max_time_wait`).
    pub tcp_time_wait: usize,
    /// Connection slots allocated, used or free (≤ the most connections open at once).
    pub tcp_slots: usize,
    /// Send and receive buffer storage allocated by all connections, bytes: it grows with the
    /// data a connection actually buffers, up to `tcp_rx_buffer` + `tcp_tx_buffer` each.
    pub tcp_buffer_bytes: usize,
    /// Entries in the TCP timer heap, stale ones included (≤ max(64, 4 × connections) after
    /// each `poll_transmit` / `handle_timeout`, plus what one call pushes).
    pub tcp_timer_entries: usize,
    /// Stateless replies (RSTs, cookie SYN-ACKs) waiting to be sent (≤ 1024).
    pub tcp_replies: usize,
    /// Connections waiting in accept queues (≤ the listeners' backlogs plus the half-open ones
    /// that may still complete).
    pub tcp_accept_queued: usize,
}

impl Stack {
    /// What the stack holds now. Cost: O(connections + listeners), for diagnostics, not per
    /// packet.
    pub fn memory(&self) -> MemoryUsage {
        let (pool_buffers, pool_bytes) = self.pool.held();
        let tcp = self.tcp.memory();
        MemoryUsage {
            tx_queue_datagrams: self.tx.len(),
            tx_queue_bytes: self.tx.bytes(),
            pool_buffers,
            pool_bytes,
            // IPv4's and IPv6's reassembly alike.
            reassembly_bytes: self.reassembly_bytes(),
            reassembly_datagrams: self.reassembly_in_progress(),
            sockets: self.sockets.len(),
            socket_events: self.sockets.pending_events(),
            tcp_connections: tcp.connections,
            tcp_time_wait: tcp.time_wait,
            tcp_slots: tcp.slots,
            tcp_buffer_bytes: tcp.buffer_bytes,
            tcp_timer_entries: tcp.timer_entries,
            tcp_replies: tcp.replies,
            tcp_accept_queued: tcp.accept_queued,
        }
    }
}
