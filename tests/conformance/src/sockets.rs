//! The socket calls packetdrill makes, on [`Shim`], with Linux errno semantics. Each call is
//! non-blocking here: `EAGAIN` from a descriptor without O_NONBLOCK makes the FFI layer wait
//! (for packets or time) and retry, which is how a blocking call behaves.

use crate::shim::{Endpoint, Errno, Shim};
use libc::{EAGAIN, EBADF, EINVAL, ENOTCONN, EOPNOTSUPP};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use ustack::tcp::{State, TcpError};

/// Linux's errno for a TCP error.
pub fn errno_of(e: TcpError) -> Errno {
    match e {
        TcpError::WouldBlock => EAGAIN,
        TcpError::InvalidHandle => EBADF,
        TcpError::NotConnected => ENOTCONN,
        TcpError::Reset => libc::ECONNRESET,
        TcpError::Refused => libc::ECONNREFUSED,
        TcpError::TimedOut => libc::ETIMEDOUT,
        TcpError::Unreachable(_) => libc::EHOSTUNREACH,
        TcpError::Closed => libc::EPIPE,
        TcpError::NoResources => libc::EADDRNOTAVAIL,
        TcpError::AddrInUse => libc::EADDRINUSE,
        TcpError::AddrNotAvailable => libc::EADDRNOTAVAIL,
    }
}

/// `poll` bits for one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ready {
    /// Readable (data, end of stream, error) or a connection to accept.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// An error is pending.
    pub error: bool,
    /// Hung up: the connection is closed.
    pub hangup: bool,
}

/// A socket address as the stack takes it, from one given to a socket of `family`: an
/// `AF_INET6` socket takes IPv6 addresses, an IPv4-mapped one (`::ffff:a.b.c.d`, RFC 4291
/// §2.5.5.2) meaning the IPv4 address, as on Linux without `IPV6_V6ONLY`; an `AF_INET` socket
/// takes IPv4 addresses. The other family is `EAFNOSUPPORT` (Linux's `inet_bind`,
/// `inet6_bind`).
pub fn to_stack(family: i32, a: SocketAddr) -> Result<SocketAddr, Errno> {
    match (family, a) {
        (libc::AF_INET, SocketAddr::V4(_)) => Ok(a),
        (libc::AF_INET6, SocketAddr::V6(v6)) => Ok(match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        }),
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// A stack address as a socket of `family` reports it: an IPv4 peer of an `AF_INET6` socket
/// as its IPv4-mapped address.
pub fn from_stack(family: i32, a: SocketAddr) -> SocketAddr {
    match (family, a) {
        (libc::AF_INET6, SocketAddr::V4(v4)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => a,
    }
}

impl Shim {
    /// `socket(AF_INET or AF_INET6, SOCK_STREAM, 0 | IPPROTO_TCP)`; other kinds are not
    /// supported.
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<i32, Errno> {
        if domain != libc::AF_INET && domain != libc::AF_INET6 {
            return Err(libc::EAFNOSUPPORT);
        }
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        if base != libc::SOCK_STREAM || !(protocol == 0 || protocol == libc::IPPROTO_TCP) {
            return Err(libc::EPROTONOSUPPORT);
        }
        let fd = self.alloc_fd(Endpoint::Fresh { port: None });
        let f = self.fd_mut(fd)?;
        f.nonblock = ty & libc::SOCK_NONBLOCK != 0;
        f.family = domain;
        Ok(fd)
    }

    /// `bind`: only one of the stack's own addresses or the unspecified address (of either
    /// family on an `AF_INET6` socket, which then accepts both, as Linux's dual-stack
    /// sockets do).
    pub fn bind(&mut self, fd: i32, addr: SocketAddr) -> Result<(), Errno> {
        let addr = to_stack(self.fd(fd)?.family, addr)?;
        let own = match addr.ip() {
            IpAddr::V4(a) => a == self.stack.config().addr,
            IpAddr::V6(a) => Some(a) == self.stack.config().addr6,
        };
        if !addr.ip().is_unspecified() && !own {
            return Err(libc::EADDRNOTAVAIL);
        }
        let f = self.fd_mut(fd)?;
        match &mut f.endpoint {
            Endpoint::Fresh { port: p @ None } => {
                *p = Some(addr.port());
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    /// `listen`: Linux queues up to `backlog + 1` established connections.
    pub fn listen(&mut self, fd: i32, backlog: i32) -> Result<(), Errno> {
        let port = match &self.fd(fd)?.endpoint {
            Endpoint::Fresh { port: Some(p) } => *p,
            Endpoint::Listener { .. } => return Ok(()),
            Endpoint::Fresh { port: None } => return Err(EOPNOTSUPP), // autobind: not supported
            Endpoint::Conn(_) => return Err(EINVAL),
        };
        let queue = usize::try_from(backlog).unwrap_or(0) + 1;
        let handle = self.stack.tcp_listen(port, queue).map_err(errno_of)?;
        self.fd_mut(fd)?.endpoint = Endpoint::Listener { handle, port };
        self.drain();
        Ok(())
    }

    /// `accept`: a new descriptor and the peer's address, in the listener's family.
    pub fn accept(&mut self, fd: i32) -> Result<(i32, SocketAddr), Errno> {
        let Endpoint::Listener { handle, .. } = self.fd(fd)?.endpoint else {
            return Err(EINVAL);
        };
        let conn = self.stack.tcp_accept(handle).map_err(errno_of)?;
        let family = self.fd(fd)?.family;
        let remote = self
            .stack
            .tcp_info(conn)
            .map_or(SocketAddr::from(([0u8; 4], 0)), |i| i.remote);
        let remote = from_stack(family, remote);
        // Linux: an accepted socket inherits the listener's options (and family).
        let options = self.fd(fd)?.options.clone();
        let new = self.alloc_fd(Endpoint::Conn(conn));
        let f = self.fd_mut(new)?;
        f.options = options;
        f.family = family;
        self.apply_conn_options(new)?;
        Ok((new, remote))
    }

    /// `connect`: starts the handshake; EINPROGRESS (the FFI layer waits when blocking),
    /// EALREADY while it runs, 0 / EISCONN once established, the error if it failed.
    pub fn connect(&mut self, fd: i32, remote: SocketAddr) -> Result<(), Errno> {
        let remote = to_stack(self.fd(fd)?.family, remote)?;
        match self.fd(fd)?.endpoint {
            Endpoint::Fresh { .. } => {
                let conn = self.stack.tcp_connect(remote).map_err(errno_of)?;
                let f = self.fd_mut(fd)?;
                f.endpoint = Endpoint::Conn(conn);
                f.connecting = true;
                self.apply_conn_options(fd)?;
                self.drain();
                Err(libc::EINPROGRESS)
            }
            Endpoint::Listener { .. } => Err(libc::EISCONN),
            Endpoint::Conn(c) => {
                let connecting = self.fd(fd)?.connecting;
                match self.stack.tcp_state(c) {
                    Some(State::SynSent) | Some(State::SynReceived) => Err(libc::EALREADY),
                    Some(s) if s.is_synchronized() && connecting => {
                        self.fd_mut(fd)?.connecting = false;
                        Ok(())
                    }
                    _ => match self.take_error(fd) {
                        Some(e) => Err(e),
                        None if connecting => Err(libc::ECONNREFUSED),
                        None => Err(libc::EISCONN),
                    },
                }
            }
        }
    }

    /// The connection behind `fd`, or ENOTCONN.
    fn conn(&self, fd: i32) -> Result<ustack::tcp::ConnHandle, Errno> {
        match self.fd(fd)?.endpoint {
            Endpoint::Conn(c) => Ok(c),
            _ => Err(ENOTCONN),
        }
    }

    /// The pending error of `fd`'s connection, reported once (SO_ERROR and failing calls).
    pub fn take_error(&mut self, fd: i32) -> Option<Errno> {
        let c = self.conn(fd).ok()?;
        let e = self.stack.tcp_error(c)?;
        let f = self.fds.get_mut(&fd)?;
        if f.error_reported {
            return None;
        }
        f.error_reported = true;
        Some(errno_of(e))
    }

    /// `recv` (and `read`): `peek` leaves the data queued (MSG_PEEK).
    pub fn recv(&mut self, fd: i32, buf: &mut [u8], peek: bool) -> Result<usize, Errno> {
        let c = self.conn(fd)?;
        let r = if peek {
            let mut copied = 0;
            let r = self.stack.tcp_recv_with(c, |data| {
                copied = data.len().min(buf.len());
                buf[..copied].copy_from_slice(&data[..copied]);
                0
            });
            r.map(|_| copied)
        } else {
            self.stack.tcp_recv(c, buf)
        };
        self.drain();
        match r {
            Ok(n) => Ok(n),
            Err(TcpError::WouldBlock) => Err(EAGAIN),
            Err(TcpError::NotConnected) => Err(ENOTCONN),
            // Linux reports the error once, then end of stream.
            Err(_) => self.take_error(fd).map_or(Ok(0), Err),
        }
    }

    /// `send` (and `write`): how much was queued.
    pub fn send(&mut self, fd: i32, data: &[u8]) -> Result<usize, Errno> {
        let c = self.conn(fd)?;
        if matches!(self.stack.tcp_state(c), Some(State::SynSent)) {
            // Linux waits for the handshake (or EAGAIN when non-blocking).
            return Err(EAGAIN);
        }
        let r = self.stack.tcp_send(c, data);
        self.drain();
        match r {
            Ok(n) => Ok(n),
            Err(TcpError::WouldBlock) => Err(EAGAIN),
            Err(TcpError::Closed) | Err(TcpError::InvalidHandle) => Err(libc::EPIPE),
            Err(e) => Err(self.take_error(fd).unwrap_or(match e {
                TcpError::NotConnected => ENOTCONN,
                _ => libc::EPIPE,
            })),
        }
    }

    /// `close`: FIN after queued data (RST with SO_LINGER 0 or unread data, as Linux).
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let f = self.fds.remove(&fd).ok_or(EBADF)?;
        match f.endpoint {
            Endpoint::Fresh { .. } => {}
            Endpoint::Listener { handle, .. } => {
                self.stack.tcp_close_listener(handle);
            }
            Endpoint::Conn(c) => {
                // A connection the stack already freed (reset, timed out) just goes away.
                let _ = if f.options.linger == Some(0) {
                    self.stack.tcp_abort(c)
                } else {
                    self.stack.tcp_close(c)
                };
            }
        }
        self.drain();
        Ok(())
    }

    /// `shutdown`: SHUT_WR and SHUT_RDWR send a FIN; SHUT_RD only checks the connection.
    pub fn shutdown(&mut self, fd: i32, how: i32) -> Result<(), Errno> {
        if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
            return Err(EINVAL);
        }
        let c = self.conn(fd)?;
        match self.stack.tcp_state(c) {
            None | Some(State::Closed) | Some(State::SynSent) => return Err(ENOTCONN),
            _ => {}
        }
        if how != libc::SHUT_RD {
            self.stack.tcp_shutdown(c).map_err(errno_of)?;
        }
        self.drain();
        Ok(())
    }

    /// `fcntl`: F_GETFL / F_SETFL (O_NONBLOCK); others EINVAL.
    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: i64) -> Result<i32, Errno> {
        let f = self.fd_mut(fd)?;
        match cmd {
            libc::F_GETFL => Ok(libc::O_RDWR | if f.nonblock { libc::O_NONBLOCK } else { 0 }),
            libc::F_SETFL => {
                f.nonblock = arg & i64::from(libc::O_NONBLOCK) != 0;
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }

    /// Readiness of `fd` for `poll`.
    pub fn ready(&self, fd: i32) -> Result<Ready, Errno> {
        let f = self.fd(fd)?;
        Ok(match f.endpoint {
            Endpoint::Fresh { .. } => Ready {
                write: true,
                hangup: true,
                ..Ready::default()
            },
            Endpoint::Listener { handle, .. } => Ready {
                read: self.stack.tcp_can_accept(handle),
                ..Ready::default()
            },
            Endpoint::Conn(c) => {
                let state = self.stack.tcp_state(c).unwrap_or(State::Closed);
                let error = self.stack.tcp_error(c).is_some() && !f.error_reported;
                let opening = matches!(state, State::SynSent | State::SynReceived);
                Ready {
                    read: !opening && self.stack.tcp_readable(c),
                    write: !opening && self.stack.tcp_writable(c),
                    error,
                    hangup: state == State::Closed,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_mean_ipv4_on_an_inet6_socket() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:80".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(to_stack(libc::AF_INET6, mapped), Ok(v4));
        assert_eq!(to_stack(libc::AF_INET6, v6), Ok(v6));
        assert_eq!(to_stack(libc::AF_INET, v4), Ok(v4));
        assert_eq!(to_stack(libc::AF_INET, v6), Err(libc::EAFNOSUPPORT));
        assert_eq!(to_stack(libc::AF_INET6, v4), Err(libc::EAFNOSUPPORT));
        assert_eq!(from_stack(libc::AF_INET6, v4), mapped);
        assert_eq!(from_stack(libc::AF_INET, v4), v4);
        assert_eq!(from_stack(libc::AF_INET6, v6), v6);
    }
}
