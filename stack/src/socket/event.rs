//! Readiness events: what [`crate::Stack::poll_event`] reports, for every socket kind.
//!
//! Events are **edge-triggered**, like `epoll` with `EPOLLET`: an event says that something
//! *happened* to a socket since the last event for it (data arrived, send space grew, the
//! handshake completed, a connection waits in the accept queue, the connection closed or failed),
//! not that the socket *is* ready. A driver that keeps one waker per socket and direction wakes
//! it on the matching bits and lets the woken task retry its call; a task only waits after a call
//! returned `WouldBlock`, and the next change after that is always reported.
//!
//! Events are coalesced: a socket has at most one event queued at a time (its bits are OR-ed
//! until it is polled), so the queue is bounded by the number of sockets, whatever the traffic.

use crate::socket::SocketHandle;
use crate::tcp::{ConnHandle, ListenHandle};
use core::fmt;
use core::ops::{BitOr, BitOrAssign};

/// A set of readiness bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    /// No bits.
    pub const EMPTY: Readiness = Readiness(0);
    /// Data (or end of stream, or an error) arrived for the reader.
    pub const READABLE: Readiness = Readiness(1);
    /// Room to send grew (TCP: the peer acknowledged data; datagrams: the transmit queue
    /// drained after a send was refused with `QueueFull`).
    pub const WRITABLE: Readiness = Readiness(1 << 1);
    /// A listener's accept queue gained a connection.
    pub const ACCEPTABLE: Readiness = Readiness(1 << 2);
    /// A TCP connection completed its handshake (active or passive open).
    pub const CONNECTED: Readiness = Readiness(1 << 3);
    /// A TCP connection reached CLOSED (orderly, reset or timed out): nothing more will happen.
    pub const CLOSED: Readiness = Readiness(1 << 4);
    /// An error is pending (TCP: reset, refused, timed out, unreachable; UDP/echo: an ICMP error).
    pub const ERROR: Readiness = Readiness(1 << 5);

    const NAMES: [(Readiness, &'static str); 6] = [
        (Readiness::READABLE, "READABLE"),
        (Readiness::WRITABLE, "WRITABLE"),
        (Readiness::ACCEPTABLE, "ACCEPTABLE"),
        (Readiness::CONNECTED, "CONNECTED"),
        (Readiness::CLOSED, "CLOSED"),
        (Readiness::ERROR, "ERROR"),
    ];

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub fn intersects(self, other: Readiness) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a task waiting to read or accept should retry.
    pub fn wakes_reader(self) -> bool {
        self.intersects(
            Readiness::READABLE | Readiness::ACCEPTABLE | Readiness::CLOSED | Readiness::ERROR,
        )
    }

    /// Whether a task waiting to write or to connect should retry.
    pub fn wakes_writer(self) -> bool {
        self.intersects(
            Readiness::WRITABLE | Readiness::CONNECTED | Readiness::CLOSED | Readiness::ERROR,
        )
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 | rhs.0)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, rhs: Readiness) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("EMPTY");
        }
        let mut first = true;
        for (bit, name) in Readiness::NAMES {
            if self.contains(bit) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Something that happened to a socket, reported by [`crate::Stack::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// A UDP or ICMP echo socket: `READABLE` (a datagram or reply arrived), `READABLE | ERROR`
    /// (an ICMP error arrived), `WRITABLE` (the transmit queue drained after a refused send).
    Datagram {
        /// The socket.
        handle: SocketHandle,
        /// What happened.
        ready: Readiness,
    },
    /// A TCP connection: any of `READABLE`, `WRITABLE`, `CONNECTED`, `CLOSED`, `ERROR`.
    Tcp {
        /// The connection.
        handle: ConnHandle,
        /// What happened.
        ready: Readiness,
    },
    /// A TCP listener: `ACCEPTABLE`.
    Listener {
        /// The listener.
        handle: ListenHandle,
        /// What happened.
        ready: Readiness,
    },
}

impl SocketEvent {
    /// The readiness bits of the event.
    pub fn readiness(&self) -> Readiness {
        match *self {
            SocketEvent::Datagram { ready, .. }
            | SocketEvent::Tcp { ready, .. }
            | SocketEvent::Listener { ready, .. } => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_combine_and_name_themselves() {
        let r = Readiness::READABLE | Readiness::ERROR;
        assert!(r.contains(Readiness::READABLE));
        assert!(!r.contains(Readiness::WRITABLE));
        assert!(r.wakes_reader());
        assert!(r.wakes_writer(), "an error wakes writers too");
        assert!(!Readiness::WRITABLE.wakes_reader());
        assert!(!Readiness::READABLE.wakes_writer());
        assert_eq!(format!("{r:?}"), "READABLE | ERROR");
        assert_eq!(format!("{:?}", Readiness::EMPTY), "EMPTY");
    }
}
