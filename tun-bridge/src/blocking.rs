//! Blocking socket handles for threads other than the loop's, shaped like `std::net`:
//! [`TcpListener`], [`TcpStream`] (`Read`/`Write`, read/write timeouts, `shutdown`,
//! `peer_addr`), [`UdpSocket`], [`PingSocket`] and [`RawSocket`].
//!
//! Each call is one message to the loop thread, which runs the operation as a task on the same
//! per-socket wakeups as the async sockets and sends the result back; the calling thread sleeps
//! on its own channel until then. Nothing is broadcast: a thread is woken only for its socket.
//! Data crosses threads by copy (one extra copy per call); tasks on the loop thread
//! ([`crate::aio`]) avoid it.

use crate::core::Key;
use crate::errors::{bind_error, io_error, send_error};
use crate::handle::{Handle, Net};
use crate::ops;
use crate::runtime::Bridge;
use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;
use ustack::tcp::{ConnHandle, ListenHandle, TcpError, TcpInfo};
use ustack::{EchoEvent, SocketHandle};

/// Anything that leads to a running loop: a [`Bridge`], its [`Handle`], or a [`Net`].
pub trait Loop {
    /// The loop's handle.
    fn loop_handle(&self) -> Handle;
}

impl Loop for Bridge {
    fn loop_handle(&self) -> Handle {
        self.handle()
    }
}

impl Loop for Handle {
    fn loop_handle(&self) -> Handle {
        self.clone()
    }
}

impl Loop for Net {
    fn loop_handle(&self) -> Handle {
        self.handle()
    }
}

/// Most bytes one blocking read or write moves across threads.
const CHUNK: usize = 256 << 10;

/// Awaits `fut`, bounded by `timeout` (then an error of kind `expired`).
async fn bounded<T>(
    timeout: Option<Duration>,
    expired: ErrorKind,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        None => fut.await,
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(expired, "timed out")),
        },
    }
}

/// A listening TCP socket in the stack.
#[derive(Debug)]
pub struct TcpListener {
    handle: Handle,
    listener: ListenHandle,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` with an accept queue of `backlog`.
    pub fn bind(l: &impl Loop, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let handle = l.loop_handle();
        let listener = handle
            .with_stack(move |s| s.tcp_listen(port, backlog))?
            .map_err(io_error)?;
        Ok(TcpListener {
            handle,
            listener,
            port,
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_timeout(None)
    }

    /// Waits up to `timeout` (None: forever) for the next connection; `TimedOut` otherwise.
    pub fn accept_timeout(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        let l = self.listener;
        let (conn, info) = self.handle.block_on(move |net| async move {
            let h = bounded(
                timeout,
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::tcp_accept(&net.core, l, cx)),
            )
            .await?;
            let info = net.core.with(|s| s.tcp_info(h));
            Ok::<_, io::Error>((h, info))
        })??;
        let stream = TcpStream::new(self.handle.clone(), conn);
        let info = info.ok_or_else(|| io_error(TcpError::InvalidHandle))?;
        Ok((stream, info.remote))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let l = self.listener;
        let _ = self.handle.run(move |net| {
            net.core.forget(Key::Listener(l));
            net.core.op(|s| s.tcp_close_listener(l));
        });
    }
}

/// A TCP connection in the stack.
#[derive(Debug)]
pub struct TcpStream {
    handle: Handle,
    conn: ConnHandle,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl TcpStream {
    fn new(handle: Handle, conn: ConnHandle) -> TcpStream {
        TcpStream {
            handle,
            conn,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Connects to `remote`, waiting for the handshake (up to `timeout`, None: the stack's SYN
    /// retries decide).
    pub fn connect(
        l: &impl Loop,
        remote: impl Into<SocketAddr>,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let remote: SocketAddr = remote.into();
        let handle = l.loop_handle();
        let conn = handle
            .with_stack(move |s| s.tcp_connect(remote))?
            .map_err(io_error)?;
        let stream = TcpStream::new(handle, conn);
        stream.handle.block_on(move |net| async move {
            net.core.kick();
            bounded(
                timeout,
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::tcp_connected(&net.core, conn, cx)),
            )
            .await
        })??;
        Ok(stream)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.info().map(|i| i.remote)
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.info().map(|i| i.local)
    }

    /// A snapshot of the connection (state, RTT, RTO, cwnd, counters).
    pub fn info(&self) -> io::Result<TcpInfo> {
        let h = self.conn;
        self.handle
            .with_stack(move |s| s.tcp_info(h))?
            .ok_or_else(|| io_error(TcpError::InvalidHandle))
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let h = self.conn;
        self.handle
            .with_stack(move |s| s.tcp_set_nodelay(h, nodelay))?
            .map_err(io_error)
    }

    /// Enables keepalive after `idle` (None disables).
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let h = self.conn;
        self.handle
            .with_stack(move |s| s.tcp_set_keepalive(h, idle.map(Into::into)))?
            .map_err(io_error)
    }

    /// How long `read` blocks (None: forever); a timeout gives `WouldBlock`, like std on Unix.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout = t;
        Ok(())
    }

    /// How long `write` blocks (None: forever); a timeout gives `WouldBlock`.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout = t;
        Ok(())
    }

    /// Shuts down writing (`Write`: FIN after queued data), reading (`Read`: nothing to do in
    /// TCP; later reads still drain what arrives), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let h = self.conn;
            self.handle
                .with_stack(move |s| s.tcp_shutdown(h))?
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Aborts the connection with RST.
    pub fn abort(self) -> io::Result<()> {
        let h = self.conn;
        self.handle
            .with_stack(move |s| s.tcp_abort(h))?
            .map_err(io_error)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (h, t, len) = (self.conn, self.read_timeout, buf.len().min(CHUNK));
        let data = self.handle.block_on(move |net| async move {
            let mut v = vec![0u8; len];
            let n = bounded(
                t,
                ErrorKind::WouldBlock,
                poll_fn(|cx| ops::tcp_recv(&net.core, h, cx, &mut v)),
            )
            .await?;
            v.truncate(n);
            Ok::<_, io::Error>(v)
        })??;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (h, t) = (self.conn, self.write_timeout);
        let data = buf[..buf.len().min(CHUNK)].to_vec();
        self.handle.block_on(move |net| async move {
            bounded(
                t,
                ErrorKind::WouldBlock,
                poll_fn(|cx| ops::tcp_send(&net.core, h, cx, &data)),
            )
            .await
        })?
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let h = self.conn;
        let _ = self.handle.run(move |net| {
            net.core.forget(Key::Tcp(h));
            let _ = net.core.op(|s| s.tcp_close(h));
        });
    }
}

/// A UDP socket bound in the stack.
#[derive(Debug)]
pub struct UdpSocket {
    handle: Handle,
    socket: SocketHandle,
    read_timeout: Option<Duration>,
}

impl UdpSocket {
    /// Binds `port` on the stack's address (0 picks an ephemeral port).
    pub fn bind(l: &impl Loop, port: u16) -> io::Result<UdpSocket> {
        let handle = l.loop_handle();
        let socket = handle
            .with_stack(move |s| s.udp_bind(port))?
            .map_err(bind_error)?;
        Ok(UdpSocket {
            handle,
            socket,
            read_timeout: None,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let h = self.socket;
        self.handle.with_stack(move |s| {
            let port = s
                .udp_local_port(h)
                .ok_or_else(|| send_error(ustack::SendError::InvalidHandle))?;
            Ok(SocketAddr::new(s.config().addr.into(), port))
        })?
    }

    /// Sends one datagram, waiting (up to 5 s) while the transmit queue is full.
    pub fn send_to(&self, buf: &[u8], dst: impl Into<SocketAddr>) -> io::Result<usize> {
        let dst: SocketAddr = dst.into();
        let h = self.socket;
        let data = buf.to_vec();
        self.handle.block_on(move |net| async move {
            bounded(
                Some(Duration::from_secs(5)),
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::udp_send(&net.core, h, cx, &data, dst)),
            )
            .await
        })?
    }

    /// Receives one datagram (truncated to `buf`), blocking up to the read timeout.
    /// Returns the bytes copied and the source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (h, t, len) = (self.socket, self.read_timeout, buf.len());
        let (data, from) = self.handle.block_on(move |net| async move {
            let mut v = vec![0u8; len];
            let (n, from) = bounded(
                t,
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::udp_recv(&net.core, h, cx, &mut v)),
            )
            .await?;
            v.truncate(n);
            Ok::<_, io::Error>((v, from))
        })??;
        buf[..data.len()].copy_from_slice(&data);
        Ok((data.len(), from))
    }

    /// Sets how long `recv_from` blocks (None: forever). A timeout gives `ErrorKind::TimedOut`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.read_timeout = t;
    }

    /// Sets DF on outgoing datagrams (then larger-than-MTU sends fail instead of fragmenting).
    pub fn set_dont_fragment(&self, df: bool) -> io::Result<()> {
        let h = self.socket;
        self.handle
            .with_stack(move |s| s.set_dont_fragment(h, df))?
            .map_err(send_error)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let h = self.socket;
        let _ = self.handle.run(move |net| {
            net.core.forget(Key::Datagram(h));
            net.core.with(|s| s.close(h));
        });
    }
}

/// An ICMP echo socket: sends requests, receives replies (with TTL) and errors.
#[derive(Debug)]
pub struct PingSocket {
    handle: Handle,
    socket: SocketHandle,
}

impl PingSocket {
    /// Opens an echo socket with a free identifier (or `ident`).
    pub fn open(l: &impl Loop, ident: Option<u16>) -> io::Result<PingSocket> {
        let handle = l.loop_handle();
        let socket = handle
            .with_stack(move |s| s.echo_open(ident))?
            .map_err(bind_error)?;
        Ok(PingSocket { handle, socket })
    }

    /// The identifier carried by this socket's requests.
    pub fn ident(&self) -> u16 {
        let h = self.socket;
        self.handle
            .with_stack(move |s| s.echo_ident(h))
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Sends an echo request (waiting up to 5 s while the transmit queue is full).
    pub fn send(&self, dst: impl Into<IpAddr>, seq: u16, data: &[u8]) -> io::Result<()> {
        let dst: IpAddr = dst.into();
        let h = self.socket;
        let data = data.to_vec();
        self.handle.block_on(move |net| async move {
            bounded(
                Some(Duration::from_secs(5)),
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::echo_send(&net.core, h, cx, dst, seq, &data)),
            )
            .await
        })?
    }

    /// Waits up to `timeout` for a reply or error; `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<EchoEvent>> {
        let (h, len) = (self.socket, buf.len());
        let r = self.handle.block_on(move |net| async move {
            let mut v = vec![0u8; len];
            let ev = bounded(
                Some(timeout),
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::echo_recv(&net.core, h, cx, &mut v)),
            )
            .await?;
            Ok::<_, io::Error>((ev, v))
        })?;
        match r {
            Ok((ev, v)) => {
                let n = v.len().min(buf.len());
                buf[..n].copy_from_slice(&v[..n]);
                Ok(Some(ev))
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for PingSocket {
    fn drop(&mut self) {
        let h = self.socket;
        let _ = self.handle.run(move |net| {
            net.core.forget(Key::Datagram(h));
            net.core.with(|s| s.close(h));
        });
    }
}

/// A raw socket for other threads (see [`crate::aio::RawSocket`]): whole packets out as given,
/// copies of arriving packets in, claimed ports.
#[derive(Debug)]
pub struct RawSocket {
    handle: Handle,
    socket: SocketHandle,
}

impl RawSocket {
    /// Opens a raw socket receiving what `options` selects.
    pub fn open(l: &impl Loop, options: ustack::RawOptions) -> io::Result<RawSocket> {
        let handle = l.loop_handle();
        let socket = handle
            .with_stack(move |s| s.raw_open(options))?
            .map_err(bind_error)?;
        Ok(RawSocket { handle, socket })
    }

    /// Claims local `port` of `protocol` (TCP or UDP; 0 picks one); returns the port.
    pub fn claim(&self, protocol: u8, port: u16) -> io::Result<u16> {
        let h = self.socket;
        self.handle
            .with_stack(move |s| s.raw_claim(h, protocol, port))?
            .map_err(bind_error)
    }

    /// Sends one whole packet as given (waiting up to 5 s while the transmit queue is full).
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let h = self.socket;
        let packet = packet.to_vec();
        self.handle.block_on(move |net| async move {
            bounded(
                Some(Duration::from_secs(5)),
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::raw_send(&net.core, h, cx, &packet)),
            )
            .await
        })?
    }

    /// Waits up to `timeout` for the next packet copy (truncated to `buf`); its length, or
    /// `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let (h, len) = (self.socket, buf.len());
        let r = self.handle.block_on(move |net| async move {
            let mut v = vec![0u8; len];
            let n = bounded(
                Some(timeout),
                ErrorKind::TimedOut,
                poll_fn(|cx| ops::raw_recv(&net.core, h, cx, &mut v)),
            )
            .await?;
            Ok::<_, io::Error>((n, v))
        })?;
        match r {
            Ok((n, v)) => {
                let k = n.min(buf.len());
                buf[..k].copy_from_slice(&v[..k]);
                Ok(Some(n))
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        let h = self.socket;
        let _ = self.handle.run(move |net| {
            net.core.forget(Key::Datagram(h));
            net.core.with(|s| s.close(h));
        });
    }
}
