//! Blocking socket handles for apps, shaped like `std::net`: a UDP socket and a ping socket.
//! Each call locks the stack briefly; blocking waits sleep on the bridge's condition variable,
//! which the loop signals after every iteration.

use crate::runtime::{Bridge, Shared};
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use ustack::{BindError, EchoEvent, RecvError, SendError, SocketHandle};

fn bind_error(e: BindError) -> io::Error {
    match e {
        BindError::AddrInUse => io::Error::new(ErrorKind::AddrInUse, "address in use"),
        BindError::TooManySockets => io::Error::other("too many sockets open in the stack"),
        BindError::NoFreePort => io::Error::new(ErrorKind::AddrNotAvailable, "no free port"),
    }
}

fn send_error(e: SendError) -> io::Error {
    match e {
        SendError::InvalidHandle => io::Error::new(ErrorKind::NotConnected, "socket is closed"),
        SendError::MessageTooLong => io::Error::new(ErrorKind::InvalidInput, "message too long"),
        SendError::NeedsFragmentation { mtu } => io::Error::new(
            ErrorKind::InvalidInput,
            format!("message too long for MTU {mtu} with DF set"),
        ),
        SendError::QueueFull => io::Error::new(ErrorKind::WouldBlock, "transmit queue full"),
        SendError::BadDestination => io::Error::new(ErrorKind::InvalidInput, "bad destination"),
    }
}

fn recv_error(e: RecvError) -> io::Error {
    match e {
        RecvError::InvalidHandle => io::Error::new(ErrorKind::NotConnected, "socket is closed"),
        RecvError::WouldBlock => io::Error::new(ErrorKind::WouldBlock, "no data"),
        RecvError::Icmp(e) if e.is_port_unreachable() => {
            io::Error::new(ErrorKind::ConnectionRefused, e.to_string())
        }
        RecvError::Icmp(e) => io::Error::other(e.to_string()),
    }
}

/// Waits on the bridge until `attempt` stops returning WouldBlock, or `timeout` (TimedOut).
fn block_on<T>(
    shared: &Shared,
    timeout: Option<Duration>,
    attempt: impl FnMut(&mut ustack::Stack) -> io::Result<T>,
) -> io::Result<T> {
    shared.block_on(timeout, ErrorKind::TimedOut, attempt)
}

/// A UDP socket bound in the stack.
#[derive(Debug)]
pub struct UdpSocket {
    shared: Arc<Shared>,
    handle: SocketHandle,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl UdpSocket {
    /// Binds `port` on the stack's address (0 picks an ephemeral port).
    pub fn bind(bridge: &Bridge, port: u16) -> io::Result<UdpSocket> {
        let handle = bridge
            .with_stack(|s| s.udp_bind(port))
            .map_err(bind_error)?;
        Ok(UdpSocket {
            shared: bridge.shared.clone(),
            handle,
            read_timeout: None,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        let s = self.shared.lock();
        let port = s
            .udp_local_port(self.handle)
            .ok_or_else(|| recv_error(RecvError::InvalidHandle))?;
        Ok(SocketAddrV4::new(s.config().addr, port))
    }

    /// Sends one datagram, waiting while the transmit queue is full.
    pub fn send_to(&self, buf: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        block_on(&self.shared, Some(Duration::from_secs(5)), |s| {
            s.udp_send_to(self.handle, buf, dst).map_err(send_error)
        })?;
        Ok(buf.len())
    }

    /// Receives one datagram (truncated to `buf`), blocking up to the read timeout.
    /// Returns the bytes copied and the source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        block_on(&self.shared, self.read_timeout, |s| {
            s.udp_recv_from(self.handle, buf)
                .map(|(n, from)| (n.min(buf.len()), from))
                .map_err(recv_error)
        })
    }

    /// Sets how long `recv_from` blocks (None: forever). A timeout gives `ErrorKind::TimedOut`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.read_timeout = t;
    }

    /// Sets DF on outgoing datagrams (then larger-than-MTU sends fail instead of fragmenting).
    pub fn set_dont_fragment(&self, df: bool) -> io::Result<()> {
        self.shared
            .lock()
            .set_dont_fragment(self.handle, df)
            .map_err(send_error)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.shared.lock().close(self.handle);
    }
}

/// An ICMP echo socket: sends requests, receives replies (with TTL) and errors.
#[derive(Debug)]
pub struct PingSocket {
    shared: Arc<Shared>,
    handle: SocketHandle,
}

impl PingSocket {
    /// Opens an echo socket with a free identifier (or `ident`).
    pub fn open(bridge: &Bridge, ident: Option<u16>) -> io::Result<PingSocket> {
        let handle = bridge
            .with_stack(|s| s.echo_open(ident))
            .map_err(bind_error)?;
        Ok(PingSocket {
            shared: bridge.shared.clone(),
            handle,
        })
    }

    /// The identifier carried by this socket's requests.
    pub fn ident(&self) -> u16 {
        self.shared.lock().echo_ident(self.handle).unwrap_or(0)
    }

    /// Sends an echo request.
    pub fn send(&self, dst: Ipv4Addr, seq: u16, data: &[u8]) -> io::Result<()> {
        block_on(&self.shared, Some(Duration::from_secs(5)), |s| {
            s.echo_send(self.handle, dst, seq, data).map_err(send_error)
        })
    }

    /// Waits up to `timeout` for a reply or error; `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<EchoEvent>> {
        match block_on(&self.shared, Some(timeout), |s| {
            s.echo_recv(self.handle, buf).map_err(recv_error)
        }) {
            Ok(ev) => Ok(Some(ev)),
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for PingSocket {
    fn drop(&mut self) {
        self.shared.lock().close(self.handle);
    }
}
