//! The stack's error types as the `io::Error`s a `std::net` socket would give.

use std::io::{self, ErrorKind};
use ustack::tcp::TcpError;
use ustack::{BindError, RecvError, SendError};

/// Maps a stack TCP error to the `io::Error` a `std::net` socket would give.
pub fn io_error(e: TcpError) -> io::Error {
    let kind = match e {
        TcpError::WouldBlock => ErrorKind::WouldBlock,
        TcpError::InvalidHandle | TcpError::NotConnected => ErrorKind::NotConnected,
        TcpError::Reset => ErrorKind::ConnectionReset,
        TcpError::Refused => ErrorKind::ConnectionRefused,
        TcpError::TimedOut => ErrorKind::TimedOut,
        // RFC 1122 §3.2.2.1 codes 0 (net) and 6 (net unknown): the network, not the host.
        // ICMPv6 (RFC 4443 §3.1) code 0: no route to the destination.
        TcpError::Unreachable(i) if i.is_v6() && i.is_unreachable() && i.code == 0 => {
            ErrorKind::NetworkUnreachable
        }
        TcpError::Unreachable(i) if !i.is_v6() && i.icmp_type == 3 && matches!(i.code, 0 | 6) => {
            ErrorKind::NetworkUnreachable
        }
        TcpError::Unreachable(_) => ErrorKind::HostUnreachable,
        TcpError::Closed => ErrorKind::BrokenPipe,
        TcpError::NoResources => ErrorKind::AddrNotAvailable,
        TcpError::AddrInUse => ErrorKind::AddrInUse,
        TcpError::AddrNotAvailable => ErrorKind::AddrNotAvailable,
    };
    // The stack's error rides inside, for `icmp_error_of` (its text is the same).
    io::Error::new(kind, e)
}

/// The ICMP error behind an `io::Error` from a socket of the stack, if there is one: a UDP
/// receive that reported an error ([`ustack::RecvError::Icmp`]) or a TCP connection that an
/// ICMP error ended ([`TcpError::Unreachable`]) — who sent it, its type and code, the quoted
/// destination and, for fragmentation needed, the next-hop MTU. What a traceroute reads.
pub fn icmp_error_of(e: &io::Error) -> Option<ustack::IcmpError> {
    let inner = e.get_ref()?;
    if let Some(i) = inner.downcast_ref::<ustack::IcmpError>() {
        return Some(*i);
    }
    match inner.downcast_ref::<TcpError>() {
        Some(TcpError::Unreachable(i)) => Some(*i),
        _ => None,
    }
}

pub(crate) fn bind_error(e: BindError) -> io::Error {
    match e {
        BindError::AddrInUse => io::Error::new(ErrorKind::AddrInUse, "address in use"),
        BindError::TooManySockets => io::Error::other("too many sockets open in the stack"),
        BindError::NoFreePort => io::Error::new(ErrorKind::AddrNotAvailable, "no free port"),
        BindError::Invalid => {
            io::Error::new(ErrorKind::InvalidInput, "not possible on this socket")
        }
    }
}

pub(crate) fn send_error(e: SendError) -> io::Error {
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

pub(crate) fn recv_error(e: RecvError) -> io::Error {
    match e {
        RecvError::InvalidHandle => io::Error::new(ErrorKind::NotConnected, "socket is closed"),
        RecvError::WouldBlock => io::Error::new(ErrorKind::WouldBlock, "no data"),
        RecvError::Icmp(e) if e.is_port_unreachable() => {
            io::Error::new(ErrorKind::ConnectionRefused, e)
        }
        RecvError::Icmp(e) => io::Error::other(e),
    }
}

pub(crate) fn stopped() -> io::Error {
    io::Error::new(ErrorKind::BrokenPipe, "the stack's event loop has stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn icmp() -> ustack::IcmpError {
        ustack::IcmpError {
            from: Ipv4Addr::new(198, 19, 1, 2).into(),
            ttl: 63,
            icmp_type: 11,
            code: 0,
            original_dst: SocketAddrV4::new(Ipv4Addr::new(198, 19, 3, 2), 33434).into(),
            next_hop_mtu: 0,
        }
    }

    #[test]
    fn the_icmp_error_survives_the_io_error() {
        let udp = recv_error(RecvError::Icmp(icmp()));
        assert_eq!(icmp_error_of(&udp), Some(icmp()));
        assert_eq!(udp.to_string(), icmp().to_string());
        let tcp = io_error(TcpError::Unreachable(icmp()));
        assert_eq!(tcp.kind(), ErrorKind::HostUnreachable);
        assert_eq!(icmp_error_of(&tcp), Some(icmp()));
        assert_eq!(icmp_error_of(&io_error(TcpError::Refused)), None);
        assert_eq!(icmp_error_of(&io::Error::other("x")), None);
    }
}
