//! The connection table: generation-checked slots (a `ConnHandle` is an index and a
//! generation), the 4-tuple map, and the bookkeeping after anything touched a connection —
//! queue it for output, reschedule its timer in the deadline heap, hand it to its listener,
//! move it to the TIME-WAIT table (`time_wait.rs`) once the app has closed it, and free it
//! when finished.

use super::connection::Connection;
use super::{ConnHandle, State, TcpError, TcpInfo, TcpLayer};
use crate::time::Instant;
use std::cmp::Reverse;
use std::net::SocketAddrV4;

/// One entry of the connection table (its generation is the slab's).
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) conn: Option<Connection>,
    /// Queued in `ready` (has something to send, maybe).
    pub(super) ready: bool,
    /// Deadline last pushed to the heap.
    pub(super) scheduled: Option<Instant>,
    /// The listener whose accept queue this connection will join when established.
    pub(super) listener: Option<u16>,
    /// What the app could observe at the last touch (for readiness events).
    pub(super) seen: super::events::Seen,
    /// Readiness bits of the queued event.
    pub(super) pending: crate::socket::Readiness,
    /// In `TcpLayer::events`. Survives the slot's reuse, so a slot is queued at most once.
    pub(super) event_queued: bool,
}

impl TcpLayer {
    pub(super) fn conn(&self, h: ConnHandle) -> Option<&Connection> {
        self.slots.get(h.index, h.generation)?.conn.as_ref()
    }

    pub(super) fn conn_mut(&mut self, h: ConnHandle) -> Option<&mut Connection> {
        self.slots.get_mut(h.index, h.generation)?.conn.as_mut()
    }

    pub(super) fn insert(&mut self, conn: Connection, listener: Option<u16>) -> u32 {
        let key = (conn.local.port(), conn.remote);
        let seen = super::events::Seen::of(&conn);
        let index = self.slots.alloc(|| Slot {
            conn: None,
            ready: false,
            scheduled: None,
            listener: None,
            seen,
            pending: crate::socket::Readiness::EMPTY,
            event_queued: false,
        });
        let slot = &mut self.slots[index as usize];
        slot.conn = Some(conn);
        slot.listener = listener;
        slot.scheduled = None;
        slot.ready = false;
        slot.seen = seen;
        slot.pending = crate::socket::Readiness::EMPTY;
        self.by_tuple.insert(key, index);
        self.open += 1;
        index
    }

    pub(super) fn handle_of(&self, index: u32) -> ConnHandle {
        ConnHandle {
            index,
            generation: self.slots.generation(index),
        }
    }

    /// After anything touched connection `index`: queue it for output, reschedule its timer,
    /// hand it to its listener when established, and free it when finished.
    pub(super) fn touched(&mut self, index: u32) {
        self.note_changes(index);
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_ref() else {
            return;
        };
        if let Some(port) = slot.listener {
            if conn.state != State::SynReceived {
                slot.listener = None;
                self.half_open = self.half_open.saturating_sub(1);
                let established = conn.state.is_synchronized() || conn.state == State::CloseWait;
                let handle = ConnHandle {
                    index,
                    generation: self.slots.generation(index),
                };
                let slot = &mut self.slots[index as usize];
                match self.listeners.get_mut(&port) {
                    Some(l) if established => {
                        l.accept_queue.push_back(handle);
                        self.note_acceptable(port);
                    }
                    _ => {
                        // The listener went away, or the handshake failed: nobody will accept it.
                        if let Some(c) = slot.conn.as_mut() {
                            c.detached = true;
                            if established {
                                c.abort();
                            }
                        }
                    }
                }
            }
        }
        let slot = &mut self.slots[index as usize];
        if slot.conn.is_none() {
            return;
        }
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(index);
        }
        self.reschedule(index);
    }

    /// Pushes the connection's new earliest deadline to the heap if it changed, and frees the
    /// connection if it is finished. Returns whether it was freed.
    pub(super) fn reschedule(&mut self, index: u32) -> bool {
        let slot = &mut self.slots[index as usize];
        let Some(conn) = slot.conn.as_ref() else {
            return false;
        };
        if conn.is_orphan_in_time_wait() {
            self.move_to_time_wait(index);
            return true;
        }
        let next = conn.next_deadline();
        if next != slot.scheduled {
            slot.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, index)));
            }
        }
        if conn.is_finished() {
            self.free_slot(index);
            return true;
        }
        false
    }

    pub(super) fn free_slot(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if let Some(conn) = slot.conn.take() {
            self.by_tuple.remove(&(conn.local.port(), conn.remote));
            self.ooo_ranges = self
                .ooo_ranges
                .saturating_sub(conn.rcv.buf.out_of_order_ranges());
            if slot.listener.take().is_some() {
                self.half_open = self.half_open.saturating_sub(1);
            }
            slot.scheduled = None;
            slot.pending = crate::socket::Readiness::EMPTY;
            self.slots.release(index);
            self.open -= 1;
        }
    }

    /// Drops stale heap entries from the top, and compacts the heap if mostly stale.
    pub(super) fn clean_heap(&mut self) {
        while let Some(Reverse((at, index))) = self.heap.peek().copied() {
            let live = self
                .slots
                .at(index)
                .is_some_and(|s| s.scheduled == Some(at));
            if live {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 64 && self.heap.len() > 4 * self.open.max(1) {
            let slots = &self.slots;
            self.heap
                .retain(|Reverse((at, i))| slots[*i as usize].scheduled == Some(*at));
        }
    }

    /// After a segment was sent from the front of the ready queue: it stays at the front (it may
    /// have more to send) unless it is finished.
    pub(super) fn touched_after_send(&mut self, index: u32) {
        if self.reschedule(index) {
            self.ready.pop_front();
            self.slots[index as usize].ready = false;
        }
    }

    /// Whether a connection, or one in TIME-WAIT, has the 4-tuple.
    pub(super) fn tuple_in_use(&self, local_port: u16, remote: SocketAddrV4) -> bool {
        let key = (local_port, remote);
        self.by_tuple.contains_key(&key) || self.time_wait.contains(&key)
    }

    /// The state of a connection, TIME-WAIT table included (the app's handle of a connection
    /// it closed still reads TIME-WAIT until the wait is over).
    pub(crate) fn state(&self, h: ConnHandle) -> Option<State> {
        match self.conn(h) {
            Some(c) => Some(c.state),
            None => self.time_wait.holds(h).then_some(State::TimeWait),
        }
    }

    /// Runs `f` on the connection, then does the bookkeeping.
    pub(crate) fn with_conn<R>(
        &mut self,
        h: ConnHandle,
        f: impl FnOnce(&mut Connection) -> R,
    ) -> Result<R, TcpError> {
        let c = self.conn_mut(h).ok_or(TcpError::InvalidHandle)?;
        let r = f(c);
        self.touched(h.index);
        Ok(r)
    }

    /// Read-only access.
    pub(crate) fn get(&self, h: ConnHandle) -> Option<&Connection> {
        self.conn(h)
    }

    /// Every connection's info (for `/stats`).
    pub fn connections(&self) -> impl Iterator<Item = TcpInfo> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.info()))
            .chain(self.time_wait.infos(self.addr))
    }

    /// Connections: open ones and those in the TIME-WAIT table.
    pub fn connection_count(&self) -> usize {
        self.open + self.time_wait.len()
    }

    /// Half-open (SYN-RECEIVED) connections.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Resets every connection and forgets TIME-WAIT (see `Stack::tcp_abort_all`).
    pub(crate) fn abort_all(&mut self) -> usize {
        let mut n = 0;
        for index in 0..self.slots.len() as u32 {
            let Some(c) = self.slots[index as usize].conn.as_mut() else {
                continue;
            };
            c.detached = true;
            c.abort();
            n += 1;
            self.touched(index);
        }
        self.time_wait.clear();
        n
    }
}
