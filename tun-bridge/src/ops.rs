//! The socket operations as poll functions over the loop's [`Core`]: each tries the stack call,
//! and on `WouldBlock` registers the task's waker under that socket and direction. The async
//! sockets ([`crate::aio`]) and the blocking handles ([`crate::blocking`]) are both built on
//! these, so both wait on the same per-socket wakeups.

use crate::core::{Core, Dir, Key};
use crate::errors::{io_error, recv_error, send_error, stopped};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use ustack::tcp::{ConnHandle, ListenHandle, State, TcpError};
use ustack::{EchoEvent, SocketHandle, Stack};

/// Tries `f`; on `WouldBlock` waits for `key` in direction `dir`. Output an operation queues
/// is sent on the loop's next turn (a successful call kicks the loop).
fn poll_op<T>(
    core: &Core,
    key: Key,
    dir: Dir,
    cx: &mut Context<'_>,
    f: impl FnOnce(&mut Stack) -> io::Result<T>,
) -> Poll<io::Result<T>> {
    if core.stopped() {
        return Poll::Ready(Err(stopped()));
    }
    match core.with(f) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            core.register(key, dir, cx.waker());
            Poll::Pending
        }
        r => {
            core.kick();
            Poll::Ready(r)
        }
    }
}

pub(crate) fn tcp_recv(
    core: &Core,
    h: ConnHandle,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    poll_op(core, Key::Tcp(h), Dir::Read, cx, |s| {
        s.tcp_recv(h, buf).map_err(io_error)
    })
}

pub(crate) fn tcp_send(
    core: &Core,
    h: ConnHandle,
    cx: &mut Context<'_>,
    data: &[u8],
) -> Poll<io::Result<usize>> {
    poll_op(core, Key::Tcp(h), Dir::Write, cx, |s| {
        s.tcp_send(h, data).map_err(io_error)
    })
}

pub(crate) fn tcp_accept(
    core: &Core,
    l: ListenHandle,
    cx: &mut Context<'_>,
) -> Poll<io::Result<ConnHandle>> {
    poll_op(core, Key::Listener(l), Dir::Read, cx, |s| {
        s.tcp_accept(l).map_err(io_error)
    })
}

/// Ready when the handshake of `h` completed (or failed).
pub(crate) fn tcp_connected(
    core: &Core,
    h: ConnHandle,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    poll_op(core, Key::Tcp(h), Dir::Write, cx, |s| {
        match s.tcp_state(h) {
            Some(State::SynSent) | Some(State::SynReceived) => Err(io_error(TcpError::WouldBlock)),
            Some(State::Closed) | None => {
                Err(io_error(s.tcp_error(h).unwrap_or(TcpError::NotConnected)))
            }
            Some(_) => Ok(()),
        }
    })
}

pub(crate) fn udp_recv(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<(usize, SocketAddr)>> {
    poll_op(core, Key::Datagram(h), Dir::Read, cx, |s| {
        s.udp_recv_from(h, buf)
            .map(|(n, from)| (n.min(buf.len()), from))
            .map_err(recv_error)
    })
}

pub(crate) fn udp_send(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    data: &[u8],
    dst: SocketAddr,
) -> Poll<io::Result<usize>> {
    poll_op(core, Key::Datagram(h), Dir::Write, cx, |s| {
        s.udp_send_to(h, data, dst)
            .map(|()| data.len())
            .map_err(send_error)
    })
}

pub(crate) fn echo_recv(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<EchoEvent>> {
    poll_op(core, Key::Datagram(h), Dir::Read, cx, |s| {
        s.echo_recv(h, buf).map_err(recv_error)
    })
}

pub(crate) fn echo_send(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    dst: IpAddr,
    seq: u16,
    data: &[u8],
) -> Poll<io::Result<()>> {
    poll_op(core, Key::Datagram(h), Dir::Write, cx, |s| {
        s.echo_send(h, dst, seq, data).map_err(send_error)
    })
}

pub(crate) fn raw_recv(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    poll_op(core, Key::Datagram(h), Dir::Read, cx, |s| {
        s.raw_recv(h, buf).map_err(recv_error)
    })
}

pub(crate) fn raw_send(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    packet: &[u8],
) -> Poll<io::Result<()>> {
    poll_op(core, Key::Datagram(h), Dir::Write, cx, |s| {
        s.raw_send(h, packet).map_err(send_error)
    })
}

pub(crate) fn raw_send_ipv4(
    core: &Core,
    h: SocketHandle,
    cx: &mut Context<'_>,
    fields: ustack::RawIpv4,
    payload: &[u8],
) -> Poll<io::Result<()>> {
    poll_op(core, Key::Datagram(h), Dir::Write, cx, |s| {
        s.raw_send_ipv4(h, fields, payload).map_err(send_error)
    })
}
