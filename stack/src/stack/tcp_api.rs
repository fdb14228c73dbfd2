//! The app-facing TCP operations of [`Stack`]: listen/accept/connect/send/recv/shutdown/close/
//! abort, options, and per-connection statistics. Each forwards to the TCP layer; drain
//! `poll_transmit` afterwards for anything they queued.

use super::Stack;
use crate::tcp::{ConnHandle, ListenHandle, State, TcpError, TcpInfo};
use crate::time::Duration;
use crate::wire::proto;
use std::net::SocketAddr;
use std::num::NonZeroU8;

impl Stack {
    /// Listens on `port`, keeping up to `backlog` established connections for `tcp_accept`.
    /// One listener serves any number of connections.
    pub fn tcp_listen(&mut self, port: u16, backlog: usize) -> Result<ListenHandle, TcpError> {
        if self.sockets.raw.claimed(proto::TCP, port).is_some() {
            return Err(TcpError::AddrInUse);
        }
        self.tcp.listen(port, backlog)
    }

    /// An established connection from the listener's queue, or `WouldBlock`.
    pub fn tcp_accept(&mut self, l: ListenHandle) -> Result<ConnHandle, TcpError> {
        self.tcp.accept(l)
    }

    /// Whether `tcp_accept` would succeed.
    pub fn tcp_can_accept(&self, l: ListenHandle) -> bool {
        self.tcp.can_accept(l)
    }

    /// Stops listening; connections not yet accepted are reset.
    pub fn tcp_close_listener(&mut self, l: ListenHandle) -> bool {
        self.tcp.close_listener(l)
    }

    /// Opens a connection to `remote` from an ephemeral port (RFC 6056 §3.3.1 random start).
    pub fn tcp_connect(&mut self, remote: impl Into<SocketAddr>) -> Result<ConnHandle, TcpError> {
        let remote: SocketAddr = remote.into();
        if remote.ip().is_unspecified() || remote.ip().is_multicast() {
            return Err(TcpError::AddrNotAvailable);
        }
        let port = self
            .ephemeral_port(|s, p| {
                s.tcp.tuple_free(p, remote) && s.sockets.raw.claimed(proto::TCP, p).is_none()
            })
            .ok_or(TcpError::NoResources)?;
        let r = self.tcp.connect(&self.config, self.now, remote, port);
        self.sync_tcp_counters();
        r
    }

    /// Sets the TTL of this connection's segments (`None`: `Config::ttl`), like Linux's
    /// `IP_TTL` on a TCP socket. Set it right after `tcp_connect`, before `poll_transmit`, and
    /// the SYN goes out with it: a TCP traceroute probe. A router where it runs out answers
    /// with time exceeded, which ends the connect with `TcpError::Unreachable` naming the
    /// router (RFC 5461 and Linux in SYN-SENT; the error must quote the SYN, RFC 5927 §4.1).
    /// The TTL holds while the app holds the handle.
    pub fn tcp_set_ttl(&mut self, h: ConnHandle, ttl: Option<NonZeroU8>) -> Result<(), TcpError> {
        self.tcp
            .with_conn(h, |c| c.limits.ttl = ttl.map(NonZeroU8::get))
    }

    /// Queues data to send; returns how much fit (`WouldBlock` if none did).
    pub fn tcp_send(&mut self, h: ConnHandle, data: &[u8]) -> Result<usize, TcpError> {
        self.tcp.with_conn(h, |c| c.send(data))?
    }

    /// Zero-copy send: `f` gets free send-buffer space (at most `max` bytes, up to the ring's
    /// wrap point) to fill in place and returns how many bytes it wrote. `WouldBlock` if full.
    pub fn tcp_send_with(
        &mut self,
        h: ConnHandle,
        max: usize,
        f: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, TcpError> {
        self.tcp.with_conn(h, |c| c.send_with(max, f))?
    }

    /// Zero-copy receive: `f` sees received in-order bytes in place (up to the ring's wrap
    /// point) and returns how many it consumed. `Ok(0)` at end of stream (or if `f` consumed
    /// nothing of what it was shown); `WouldBlock` if nothing has arrived.
    pub fn tcp_recv_with(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, TcpError> {
        self.tcp.with_conn(h, |c| c.recv_with(f))?
    }

    /// Reads received data; `Ok(0)` means the peer closed (end of stream).
    pub fn tcp_recv(&mut self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.tcp.with_conn(h, |c| c.recv(buf))?
    }

    /// Half-close: no more sending, a FIN follows the queued data; receiving goes on.
    pub fn tcp_shutdown(&mut self, h: ConnHandle) -> Result<(), TcpError> {
        self.tcp.with_conn(h, |c| c.shutdown())
    }

    /// Closes the handle: FIN after queued data (or RST if received data was left unread). The
    /// connection finishes in the background; the handle is invalid afterwards.
    pub fn tcp_close(&mut self, h: ConnHandle) -> Result<(), TcpError> {
        // The TTL holds while the app holds the handle: the FIN goes out with `Config::ttl`.
        self.tcp.with_conn(h, |c| c.limits.ttl = None)?;
        self.tcp.close(h)
    }

    /// Aborts with RST and frees the connection.
    pub fn tcp_abort(&mut self, h: ConnHandle) -> Result<(), TcpError> {
        self.tcp.with_conn(h, |c| {
            // The TTL holds while the app holds the handle: the RST goes out with `Config::ttl`.
            c.limits.ttl = None;
            c.detached = true;
            c.abort();
        })
    }

    /// Resets every TCP connection at once — held, orphaned or still closing — and forgets the
    /// TIME-WAIT table: what a host going away does (RFC 9293 §3.10.7: an RST for each
    /// synchronized connection), so no peer is left waiting for a stack that will not answer.
    /// Returns how many connections were reset. The RSTs go out with `poll_transmit`.
    pub fn tcp_abort_all(&mut self) -> usize {
        self.tcp.abort_all()
    }

    /// Disables (true) or enables (false, the default) Nagle's algorithm.
    pub fn tcp_set_nodelay(&mut self, h: ConnHandle, nodelay: bool) -> Result<(), TcpError> {
        self.tcp.with_conn(h, |c| c.snd.nodelay = nodelay)
    }

    /// Enables keepalive probes after `idle` without traffic (None disables).
    pub fn tcp_set_keepalive(
        &mut self,
        h: ConnHandle,
        idle: Option<Duration>,
    ) -> Result<(), TcpError> {
        let now = self.now;
        self.tcp.with_conn(h, |c| c.set_keepalive(now, idle))
    }

    /// Sets the connection's user timeout (RFC 9293 §3.8.3, RFC 5482; Linux's
    /// `TCP_USER_TIMEOUT`): data unacknowledged this long aborts it. `None` restores
    /// `Config::tcp_user_timeout`.
    pub fn tcp_set_user_timeout(
        &mut self,
        h: ConnHandle,
        timeout: Option<Duration>,
    ) -> Result<(), TcpError> {
        let t = timeout.unwrap_or(self.config.tcp_user_timeout);
        self.tcp.with_conn(h, |c| c.limits.user_timeout = t)
    }

    /// The connection's state.
    pub fn tcp_state(&self, h: ConnHandle) -> Option<State> {
        self.tcp.state(h)
    }

    /// A snapshot of the connection: RTT, RTO, cwnd, ssthresh, bytes in flight, counters.
    pub fn tcp_info(&self, h: ConnHandle) -> Option<TcpInfo> {
        self.tcp.get(h).map(|c| c.info())
    }

    /// Whether `tcp_recv` would return at once (data, end of stream, or an error).
    pub fn tcp_readable(&self, h: ConnHandle) -> bool {
        self.tcp.get(h).is_none_or(|c| c.readable())
    }

    /// Whether `tcp_send` would accept data or fail at once.
    pub fn tcp_writable(&self, h: ConnHandle) -> bool {
        self.tcp.get(h).is_none_or(|c| c.writable())
    }

    /// The error that ended the connection, if any.
    pub fn tcp_error(&self, h: ConnHandle) -> Option<TcpError> {
        self.tcp.get(h).and_then(|c| c.error)
    }

    /// Every connection (for a connection table).
    pub fn tcp_connections(&self) -> impl Iterator<Item = TcpInfo> + '_ {
        self.tcp.connections()
    }

    /// Bytes of send and receive buffer storage all TCP connections hold now, against
    /// `Config::tcp_mem_max` (O(1)).
    pub fn tcp_buffer_bytes(&self) -> usize {
        self.tcp.mem.used()
    }

    /// Connections in the table (any state) and half-open ones.
    pub fn tcp_counts(&self) -> (usize, usize) {
        (self.tcp.connection_count(), self.tcp.half_open())
    }
}
