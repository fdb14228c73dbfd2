//! Async sockets for tasks on the loop thread (tokio-compatible): [`TcpListener`],
//! [`TcpStream`] (`AsyncRead + AsyncWrite`, so `tokio::io::copy`, `tokio_util::codec` and hyper
//! run on it unchanged), [`UdpSocket`], [`PingSocket`] and [`RawSocket`]. Each call borrows the stack on the
//! loop thread — no lock — and waits on that socket's own wakeup when it would block.
//!
//! They are `!Send`: create them from a [`Net`] inside a task on the loop (see
//! [`crate::Bridge::spawn`]). Other threads use [`crate::blocking`].

use crate::core::Key;
use crate::errors::{bind_error, io_error, send_error};
use crate::handle::{Net, SocketId};
use crate::ops;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU8;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ustack::tcp::{ConnHandle, ListenHandle, TcpError, TcpInfo};
use ustack::{EchoEvent, RawInfo, RawIpv4, RawOptions, SocketHandle};

/// A listening TCP socket; one listener accepts any number of connections.
#[derive(Debug)]
pub struct TcpListener {
    net: Net,
    handle: ListenHandle,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` of the stack's address with an accept queue of `backlog`.
    pub fn bind(net: &Net, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let handle = net
            .core
            .with(|s| s.tcp_listen(port, backlog))
            .map_err(io_error)?;
        net.claim(Key::Listener(handle), SocketId::Listener { port });
        Ok(TcpListener {
            net: net.clone(),
            handle,
            port,
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Polls for the next connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let h = std::task::ready!(ops::tcp_accept(&self.net.core, self.handle, cx))?;
        let stream = TcpStream::from_handle(&self.net, h)?;
        let peer = stream.peer;
        Poll::Ready(Ok((stream, peer)))
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.net.core.forget(Key::Listener(self.handle));
        self.net.core.op(|s| s.tcp_close_listener(self.handle));
    }
}

/// A TCP connection in the stack.
#[derive(Debug)]
pub struct TcpStream {
    net: Net,
    handle: ConnHandle,
    local: SocketAddr,
    peer: SocketAddr,
    shut: bool,
}

impl TcpStream {
    fn from_handle(net: &Net, handle: ConnHandle) -> io::Result<TcpStream> {
        let info = net
            .core
            .with(|s| s.tcp_info(handle))
            .ok_or_else(|| io_error(TcpError::InvalidHandle))?;
        let id = SocketId::Tcp {
            local: info.local,
            remote: info.remote,
        };
        net.claim(Key::Tcp(handle), id);
        Ok(TcpStream {
            net: net.clone(),
            handle,
            local: info.local,
            peer: info.remote,
            shut: false,
        })
    }

    /// Connects to `remote` and waits for the handshake (the stack's SYN retries bound it;
    /// wrap in `tokio::time::timeout` for a shorter bound).
    pub async fn connect(net: &Net, remote: impl Into<SocketAddr>) -> io::Result<TcpStream> {
        let remote: SocketAddr = remote.into();
        let handle = net.core.op(|s| s.tcp_connect(remote)).map_err(io_error)?;
        // Owned from here: dropping the future (a timeout) aborts the attempt.
        let stream = TcpStream::from_handle(net, handle)?;
        poll_fn(|cx| ops::tcp_connected(&net.core, handle, cx)).await?;
        Ok(stream)
    }

    /// [`TcpStream::connect`] with the connection's own TTL on every segment, the SYN first
    /// (`None`: the stack's). A TCP traceroute probe: a router where the TTL runs out ends the
    /// connect with `HostUnreachable`, and [`crate::icmp_error_of`] names the router.
    pub async fn connect_with_ttl(
        net: &Net,
        remote: impl Into<SocketAddr>,
        ttl: Option<NonZeroU8>,
    ) -> io::Result<TcpStream> {
        let remote: SocketAddr = remote.into();
        // The SYN is written when the loop next transmits, after this call has set the TTL.
        let handle = net
            .core
            .op(|s| {
                let h = s.tcp_connect(remote)?;
                s.tcp_set_ttl(h, ttl).inspect_err(|_| {
                    let _ = s.tcp_abort(h);
                })?;
                Ok(h)
            })
            .map_err(io_error)?;
        let stream = TcpStream::from_handle(net, handle)?;
        poll_fn(|cx| ops::tcp_connected(&net.core, handle, cx)).await?;
        Ok(stream)
    }

    /// The stack's handle of this connection.
    pub fn handle(&self) -> ConnHandle {
        self.handle
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// A snapshot of the connection (state, RTT, RTO, cwnd, counters).
    pub fn info(&self) -> io::Result<TcpInfo> {
        self.net
            .core
            .with(|s| s.tcp_info(self.handle))
            .ok_or_else(|| io_error(TcpError::InvalidHandle))
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.net
            .core
            .op(|s| s.tcp_set_nodelay(self.handle, nodelay))
            .map_err(io_error)
    }

    /// Enables keepalive after `idle` (None disables).
    pub fn set_keepalive(&self, idle: Option<std::time::Duration>) -> io::Result<()> {
        self.net
            .core
            .op(|s| s.tcp_set_keepalive(self.handle, idle.map(Into::into)))
            .map_err(io_error)
    }

    /// Reads what has arrived into `buf` without waiting: `Ok(None)` if nothing has.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.net.core.op(|s| s.tcp_recv(self.handle, buf)) {
            Ok(n) => Ok(Some(n)),
            Err(TcpError::WouldBlock) => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Aborts the connection with RST.
    pub fn abort(self) -> io::Result<()> {
        self.net
            .core
            .op(|s| s.tcp_abort(self.handle))
            .map_err(io_error)
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        if unfilled.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let n = std::task::ready!(ops::tcp_recv(&self.net.core, self.handle, cx, unfilled))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ops::tcp_send(&self.net.core, self.handle, cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Data handed to the stack is already on its way; the stack's buffer is the socket's.
        Poll::Ready(Ok(()))
    }

    /// Sends FIN after the queued data (a half-close: reads go on).
    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        self.shut = true;
        let h = self.handle;
        Poll::Ready(self.net.core.op(|s| s.tcp_shutdown(h)).map_err(io_error))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.net.core.forget(Key::Tcp(self.handle));
        // At a stop this FIN never finishes: the loop resets every remaining connection
        // (`Stack::tcp_abort_all`) before it exits.
        let _ = self.net.core.op(|s| s.tcp_close(self.handle));
    }
}

/// A UDP socket bound in the stack.
#[derive(Debug)]
pub struct UdpSocket {
    net: Net,
    handle: SocketHandle,
}

impl UdpSocket {
    /// Binds `port` on the stack's address (0 picks an ephemeral port).
    pub fn bind(net: &Net, port: u16) -> io::Result<UdpSocket> {
        let (handle, port) = net
            .core
            .with(|s| {
                let h = s.udp_bind(port)?;
                Ok((h, s.udp_local_port(h).unwrap_or(port)))
            })
            .map_err(bind_error)?;
        net.claim(Key::Datagram(handle), SocketId::Udp { port });
        Ok(UdpSocket {
            net: net.clone(),
            handle,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.net.core.with(|s| {
            let port = s
                .udp_local_port(self.handle)
                .ok_or_else(|| send_error(ustack::SendError::InvalidHandle))?;
            Ok(SocketAddr::new(s.config().addr.into(), port))
        })
    }

    /// Sends one datagram, waiting while the transmit queue is full.
    pub async fn send_to(&self, buf: &[u8], dst: impl Into<SocketAddr>) -> io::Result<usize> {
        let dst: SocketAddr = dst.into();
        poll_fn(|cx| ops::udp_send(&self.net.core, self.handle, cx, buf, dst)).await
    }

    /// Receives one datagram (truncated to `buf`): the bytes copied and the source. A pending
    /// ICMP error is reported first (port unreachable as `ConnectionRefused`).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| ops::udp_recv(&self.net.core, self.handle, cx, buf)).await
    }

    /// Sets DF on outgoing datagrams (then larger-than-MTU sends fail instead of fragmenting).
    pub fn set_dont_fragment(&self, df: bool) -> io::Result<()> {
        set_dont_fragment(&self.net, self.handle, df)
    }

    /// Sets the TTL of outgoing datagrams (`None`: the stack's), like `IP_TTL`.
    pub fn set_ttl(&self, ttl: Option<NonZeroU8>) -> io::Result<()> {
        set_ttl(&self.net, self.handle, ttl)
    }

    /// Reports every ICMP error about this socket's datagrams, in order, from `recv_from`
    /// (true) instead of only the latest unread one (like `IP_RECVERR`); read each with
    /// [`crate::icmp_error_of`].
    pub fn set_recv_errors(&self, on: bool) -> io::Result<()> {
        self.net
            .core
            .with(|s| s.udp_set_recv_errors(self.handle, on))
            .map_err(send_error)
    }
}

fn set_dont_fragment(net: &Net, h: SocketHandle, df: bool) -> io::Result<()> {
    net.core
        .with(|s| s.set_dont_fragment(h, df))
        .map_err(send_error)
}

fn set_ttl(net: &Net, h: SocketHandle, ttl: Option<NonZeroU8>) -> io::Result<()> {
    net.core.with(|s| s.set_ttl(h, ttl)).map_err(send_error)
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.net.core.forget(Key::Datagram(self.handle));
        self.net.core.with(|s| s.close(self.handle));
    }
}

/// An ICMP echo socket: sends requests, receives replies (with TTL) and errors.
#[derive(Debug)]
pub struct PingSocket {
    net: Net,
    handle: SocketHandle,
}

impl PingSocket {
    /// Opens an echo socket with a free identifier (or `ident`).
    pub fn open(net: &Net, ident: Option<u16>) -> io::Result<PingSocket> {
        let handle = net.core.with(|s| s.echo_open(ident)).map_err(bind_error)?;
        Ok(PingSocket {
            net: net.clone(),
            handle,
        })
    }

    /// The identifier carried by this socket's requests.
    pub fn ident(&self) -> u16 {
        self.net
            .core
            .with(|s| s.echo_ident(self.handle))
            .unwrap_or(0)
    }

    /// Sends an echo request, waiting while the transmit queue is full.
    pub async fn send(&self, dst: impl Into<IpAddr>, seq: u16, data: &[u8]) -> io::Result<()> {
        let dst: IpAddr = dst.into();
        poll_fn(|cx| ops::echo_send(&self.net.core, self.handle, cx, dst, seq, data)).await
    }

    /// Waits for the next reply (its data copied into `buf`) or ICMP error.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<EchoEvent> {
        poll_fn(|cx| ops::echo_recv(&self.net.core, self.handle, cx, buf)).await
    }

    /// Sets DF on outgoing requests (then larger-than-MTU sends fail instead of fragmenting).
    pub fn set_dont_fragment(&self, df: bool) -> io::Result<()> {
        set_dont_fragment(&self.net, self.handle, df)
    }

    /// Sets the TTL of outgoing requests (`None`: the stack's), like `IP_TTL`.
    pub fn set_ttl(&self, ttl: Option<NonZeroU8>) -> io::Result<()> {
        set_ttl(&self.net, self.handle, ttl)
    }
}

impl Drop for PingSocket {
    fn drop(&mut self) {
        self.net.core.forget(Key::Datagram(self.handle));
        self.net.core.with(|s| s.close(self.handle));
    }
}

/// A raw socket: sends whole IPv4/IPv6 packets as given (header included — any field, wrong
/// ones too) and receives copies of the arriving packets its [`RawOptions`] select; it can
/// claim local TCP/UDP ports so that their packets reach it alone and the stack answers them
/// with no RST or port unreachable of its own (the rules: `ustack::socket::raw`).
#[derive(Debug)]
pub struct RawSocket {
    net: Net,
    handle: SocketHandle,
}

impl RawSocket {
    /// Opens a raw socket receiving what `options` selects.
    pub fn open(net: &Net, options: RawOptions) -> io::Result<RawSocket> {
        let handle = net.core.with(|s| s.raw_open(options)).map_err(bind_error)?;
        Ok(RawSocket {
            net: net.clone(),
            handle,
        })
    }

    /// Claims local `port` of `protocol` (6 TCP or 17 UDP; 0 picks a free ephemeral port);
    /// returns the port.
    pub fn claim(&self, protocol: u8, port: u16) -> io::Result<u16> {
        self.net
            .core
            .with(|s| s.raw_claim(self.handle, protocol, port))
            .map_err(bind_error)
    }

    /// Sends one whole packet as given, waiting while the transmit queue is full.
    pub async fn send(&self, packet: &[u8]) -> io::Result<()> {
        poll_fn(|cx| ops::raw_send(&self.net.core, self.handle, cx, packet)).await
    }

    /// Sends `payload` behind an IPv4 header the stack writes from `fields` (filling what is
    /// left `None`), waiting while the transmit queue is full.
    pub async fn send_ipv4(&self, fields: RawIpv4, payload: &[u8]) -> io::Result<()> {
        poll_fn(|cx| ops::raw_send_ipv4(&self.net.core, self.handle, cx, fields, payload)).await
    }

    /// Waits for the next packet copy (truncated to `buf`); returns the packet's length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| ops::raw_recv(&self.net.core, self.handle, cx, buf)).await
    }

    /// The next packet copy if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.net.core.with(|s| s.raw_recv(self.handle, buf)) {
            Ok(n) => Ok(Some(n)),
            Err(ustack::RecvError::WouldBlock) => Ok(None),
            Err(e) => Err(crate::errors::recv_error(e)),
        }
    }

    /// Counters (received, dropped for a full queue, sent) and claims.
    pub fn info(&self) -> io::Result<RawInfo> {
        self.net
            .core
            .with(|s| s.raw_info(self.handle))
            .ok_or_else(|| send_error(ustack::SendError::InvalidHandle))
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        self.net.core.forget(Key::Datagram(self.handle));
        self.net.core.with(|s| s.close(self.handle));
    }
}
