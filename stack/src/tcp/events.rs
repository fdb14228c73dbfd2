//! TCP readiness events (see [`crate::socket::Readiness`] for the edge-triggered contract).
//!
//! Every path that touches a connection — a segment, a timer, an ICMP error, an app call — ends
//! in `TcpLayer::touched`, which compares what the app could observe now with what it could
//! observe after the previous touch ([`Seen`]) and queues the difference. One comparison per
//! touch, O(1); a connection has at most one event queued, so the queue is bounded by the table.

use super::connection::Connection;
use super::state::State;
use super::{ListenHandle, TcpLayer};
use crate::socket::{Readiness, SocketEvent};

/// What the app could observe of a connection at its last touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seen {
    readable: usize,
    fin: bool,
    space: usize,
    state: State,
    error: bool,
}

impl Seen {
    pub(super) fn of(c: &Connection) -> Seen {
        Seen {
            readable: c.rcv.buf.readable(),
            fin: c.rcv.fin_received,
            space: if c.state.can_send() && !c.snd.fin_queued {
                c.snd.buf.free()
            } else {
                0
            },
            state: c.state,
            error: c.error.is_some(),
        }
    }

    /// What changed from `self` to `now`, as readiness bits.
    pub(super) fn changes(&self, now: &Seen) -> Readiness {
        let mut r = Readiness::EMPTY;
        if now.readable > self.readable || (now.fin && !self.fin) {
            r |= Readiness::READABLE;
        }
        if now.space > self.space {
            r |= Readiness::WRITABLE;
        }
        let was_open = self.state.is_synchronized() || self.state == State::CloseWait;
        let is_open = now.state.is_synchronized() || now.state == State::CloseWait;
        if is_open && !was_open && now.state != State::TimeWait {
            r |= Readiness::CONNECTED | Readiness::WRITABLE;
        }
        if now.error && !self.error {
            r |= Readiness::ERROR | Readiness::READABLE | Readiness::WRITABLE;
        }
        if now.state == State::Closed && self.state != State::Closed {
            r |= Readiness::CLOSED | Readiness::READABLE | Readiness::WRITABLE;
        }
        r
    }
}

impl TcpLayer {
    /// Records what changed on connection `index` since its last touch, and queues an event if
    /// anything did. Connections the app has let go of (closed handles) report nothing.
    pub(super) fn note_changes(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_ref() else {
            return;
        };
        let now = Seen::of(conn);
        let changed = slot.seen.changes(&now);
        slot.seen = now;
        if changed.is_empty() || conn.detached {
            return;
        }
        if !slot.event_queued {
            slot.event_queued = true;
            self.events.push_back(index);
        }
        slot.pending |= changed;
    }

    /// A listener's accept queue gained a connection.
    pub(super) fn note_acceptable(&mut self, port: u16) {
        if self.listen_events_pending.insert(port) {
            self.listen_events.push_back(port);
        }
    }

    /// The next TCP event: connections first, then listeners.
    pub(crate) fn poll_event(&mut self) -> Option<SocketEvent> {
        while let Some(index) = self.events.pop_front() {
            let slot = &mut self.slots[index as usize];
            slot.event_queued = false;
            let ready = std::mem::take(&mut slot.pending);
            if slot.conn.is_none() || ready.is_empty() {
                continue;
            }
            let handle = self.handle_of(index);
            return Some(SocketEvent::Tcp { handle, ready });
        }
        while let Some(port) = self.listen_events.pop_front() {
            self.listen_events_pending.remove(&port);
            if let Some(l) = self.listeners.get(&port) {
                let handle = ListenHandle {
                    port,
                    generation: l.generation,
                };
                return Some(SocketEvent::Listener {
                    handle,
                    ready: Readiness::ACCEPTABLE,
                });
            }
        }
        None
    }
}
