//! Blocking TCP handles shaped like `std::net::TcpListener` / `TcpStream`, over the bridge's
//! stack: `std::io::Read`/`Write`, `shutdown`, read/write timeouts, `peer_addr`.

use crate::runtime::{Bridge, Shared};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use ustack::tcp::{ConnHandle, ListenHandle, State, TcpError, TcpInfo};

/// Maps a stack TCP error to the `io::Error` a `std::net` socket would give.
pub fn io_error(e: TcpError) -> io::Error {
    let kind = match e {
        TcpError::WouldBlock => ErrorKind::WouldBlock,
        TcpError::InvalidHandle | TcpError::NotConnected => ErrorKind::NotConnected,
        TcpError::Reset => ErrorKind::ConnectionReset,
        TcpError::Refused => ErrorKind::ConnectionRefused,
        TcpError::TimedOut => ErrorKind::TimedOut,
        TcpError::Unreachable(_) => ErrorKind::HostUnreachable,
        TcpError::Closed => ErrorKind::BrokenPipe,
        TcpError::NoResources => ErrorKind::AddrNotAvailable,
        TcpError::AddrInUse => ErrorKind::AddrInUse,
    };
    io::Error::new(kind, e.to_string())
}

/// Blocks on the bridge until `attempt` stops returning WouldBlock, or `timeout` passes (then
/// an error of kind `expired`).
fn wait<T>(
    shared: &Shared,
    timeout: Option<Duration>,
    expired: ErrorKind,
    mut attempt: impl FnMut(&mut ustack::Stack) -> Result<T, TcpError>,
) -> io::Result<T> {
    shared.block_on(timeout, expired, |s| attempt(s).map_err(io_error))
}

/// A listening TCP socket in the stack; one listener accepts any number of connections.
#[derive(Debug)]
pub struct TcpListener {
    shared: Arc<Shared>,
    handle: ListenHandle,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` with an accept queue of `backlog`.
    pub fn bind(bridge: &Bridge, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let handle = bridge
            .with_stack(|s| s.tcp_listen(port, backlog))
            .map_err(io_error)?;
        Ok(TcpListener {
            shared: bridge.shared.clone(),
            handle,
            port,
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        self.accept_timeout(None)
    }

    /// Waits up to `timeout` (None: forever) for the next connection; `TimedOut` otherwise.
    pub fn accept_timeout(
        &self,
        timeout: Option<Duration>,
    ) -> io::Result<(TcpStream, SocketAddrV4)> {
        let h = wait(&self.shared, timeout, ErrorKind::TimedOut, |s| {
            s.tcp_accept(self.handle)
        })?;
        let stream = TcpStream::from_handle(self.shared.clone(), h);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.shared.lock().tcp_close_listener(self.handle);
        self.shared.wake();
    }
}

/// A TCP connection in the stack.
#[derive(Debug)]
pub struct TcpStream {
    shared: Arc<Shared>,
    handle: ConnHandle,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl TcpStream {
    fn from_handle(shared: Arc<Shared>, handle: ConnHandle) -> TcpStream {
        TcpStream {
            shared,
            handle,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Connects to `remote`, waiting for the handshake (up to `timeout`, None: the stack's SYN
    /// retries decide).
    pub fn connect(
        bridge: &Bridge,
        remote: SocketAddrV4,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let handle = bridge
            .with_stack(|s| s.tcp_connect(remote))
            .map_err(io_error)?;
        bridge.wake();
        let stream = TcpStream::from_handle(bridge.shared.clone(), handle);
        let r = wait(&stream.shared, timeout, ErrorKind::TimedOut, |s| {
            match s.tcp_state(handle) {
                Some(State::SynSent) | Some(State::SynReceived) => Err(TcpError::WouldBlock),
                Some(State::Closed) | None => {
                    Err(s.tcp_error(handle).unwrap_or(TcpError::NotConnected))
                }
                Some(_) => Ok(()),
            }
        });
        match r {
            Ok(()) => Ok(stream),
            Err(e) => {
                let _ = stream.shared.lock().tcp_abort(handle);
                Err(e)
            }
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.info().map(|i| i.remote)
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.info().map(|i| i.local)
    }

    /// A snapshot of the connection (state, RTT, RTO, cwnd, counters).
    pub fn info(&self) -> io::Result<TcpInfo> {
        self.shared
            .lock()
            .tcp_info(self.handle)
            .ok_or_else(|| io_error(TcpError::InvalidHandle))
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.shared
            .lock()
            .tcp_set_nodelay(self.handle, nodelay)
            .map_err(io_error)?;
        self.shared.wake();
        Ok(())
    }

    /// Enables keepalive after `idle` (None disables).
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        self.shared
            .lock()
            .tcp_set_keepalive(self.handle, idle.map(Into::into))
            .map_err(io_error)
    }

    /// How long `read` blocks (None: forever); a timeout gives `WouldBlock`, like std on Unix.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout = t;
        Ok(())
    }

    /// How long `write` blocks (None: forever).
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout = t;
        Ok(())
    }

    /// Shuts down writing (`Write`: FIN after queued data), reading (`Read`: nothing to do in
    /// TCP; later reads still drain what arrives), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.shared
                .lock()
                .tcp_shutdown(self.handle)
                .map_err(io_error)?;
            self.shared.wake();
        }
        Ok(())
    }

    /// Aborts the connection with RST.
    pub fn abort(self) -> io::Result<()> {
        let r = self.shared.lock().tcp_abort(self.handle).map_err(io_error);
        self.shared.wake();
        r
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
        let h = self.handle;
        wait(
            &self.shared,
            self.read_timeout,
            ErrorKind::WouldBlock,
            |s| s.tcp_recv(h, buf),
        )
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let h = self.handle;
        wait(
            &self.shared,
            self.write_timeout,
            ErrorKind::WouldBlock,
            |s| s.tcp_send(h, buf),
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let _ = self.shared.lock().tcp_close(self.handle);
        self.shared.wake();
    }
}
