//! The state the event loop and the async sockets share on the loop thread: the `Stack` itself
//! (in a `RefCell`: one thread, no lock), the clock, and the per-socket waker registry.
//!
//! A task that gets `WouldBlock` from the stack registers its waker under the socket and the
//! direction it waits for; after every batch the loop drains `Stack::poll_event` and wakes
//! exactly the wakers of the sockets that changed (see [`Core::dispatch_events`]). Nobody else
//! is woken: there is no broadcast.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::task::Waker;
use tokio::sync::Notify;
use ustack::socket::SocketEvent;
use ustack::tcp::{ConnHandle, ListenHandle};
use ustack::{Instant, SocketHandle, Stack};

use crate::handle::SocketId;
use std::rc::Rc;

/// A socket of any kind, as the waker registry knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Datagram(SocketHandle),
    Tcp(ConnHandle),
    Listener(ListenHandle),
}

/// Which way a task waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Read, receive, accept.
    Read,
    /// Write, send, connect.
    Write,
}

#[derive(Debug, Default)]
struct Waiters {
    read: Option<Waker>,
    write: Option<Waker>,
}

/// Shared by the loop task and every async socket of the loop thread (behind an `Rc`).
#[derive(Debug)]
pub(crate) struct Core {
    stack: RefCell<Stack>,
    wakers: RefCell<HashMap<Key, Waiters>>,
    /// Who owns each socket created from a labelled `Net` (see `Net::owned_by`).
    owners: RefCell<HashMap<Key, (SocketId, Rc<str>)>>,
    /// Wakes the loop task after an app call that may have queued output.
    kick: Notify,
    origin: std::time::Instant,
    /// The stack's clock, read once per batch (not per packet).
    now: Cell<Instant>,
    stopped: Cell<bool>,
    /// Reused buffer of wakers to wake after a batch.
    to_wake: RefCell<Vec<Waker>>,
}

impl Core {
    pub(crate) fn new(stack: Stack, origin: std::time::Instant) -> Core {
        Core {
            stack: RefCell::new(stack),
            wakers: RefCell::new(HashMap::new()),
            owners: RefCell::new(HashMap::new()),
            kick: Notify::new(),
            origin,
            now: Cell::new(Instant::ZERO),
            stopped: Cell::new(false),
            to_wake: RefCell::new(Vec::new()),
        }
    }

    /// Reads the clock (once per batch) and returns the stack's notion of now.
    pub(crate) fn refresh_now(&self) -> Instant {
        let now = Instant::from_micros(self.origin.elapsed().as_micros() as u64);
        self.now.set(now);
        now
    }

    /// Now, as of the last clock read.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// Converts a stack instant to a tokio instant (for the loop's sleep).
    pub(crate) fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let at = self.origin + std::time::Duration::from_micros(at.total_micros());
        tokio::time::Instant::from_std(at)
    }

    /// Runs `f` on the stack. Never hold the borrow across an `.await`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        f(&mut self.stack.borrow_mut())
    }

    /// Runs an app operation on the stack and asks the loop to transmit what it queued.
    pub(crate) fn op<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = self.with(f);
        self.kick();
        r
    }

    /// Asks the loop for a turn (to transmit what an app operation queued).
    pub(crate) fn kick(&self) {
        self.kick.notify_one();
    }

    /// Waits for the next kick from an app operation.
    pub(crate) async fn kicked(&self) {
        self.kick.notified().await
    }

    /// Registers `waker` to be woken when `key` changes in direction `dir`.
    pub(crate) fn register(&self, key: Key, dir: Dir, waker: &Waker) {
        let mut map = self.wakers.borrow_mut();
        let w = map.entry(key).or_default();
        let slot = match dir {
            Dir::Read => &mut w.read,
            Dir::Write => &mut w.write,
        };
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Forgets the wakers and the owner of a socket that is going away.
    pub(crate) fn forget(&self, key: Key) {
        self.wakers.borrow_mut().remove(&key);
        self.owners.borrow_mut().remove(&key);
    }

    /// Notes that `owner` holds the socket `key`, known to others as `id`.
    pub(crate) fn own(&self, key: Key, id: SocketId, owner: Rc<str>) {
        self.owners.borrow_mut().insert(key, (id, owner));
    }

    /// Every socket with a known owner.
    pub(crate) fn owners(&self) -> Vec<(SocketId, Rc<str>)> {
        self.owners.borrow().values().cloned().collect()
    }

    /// Drains the stack's events and wakes exactly the tasks waiting on those sockets. Returns
    /// how many events there were.
    pub(crate) fn dispatch_events(&self) -> usize {
        let mut count = 0;
        let mut to_wake = self.to_wake.borrow_mut();
        {
            let mut stack = self.stack.borrow_mut();
            let mut map = self.wakers.borrow_mut();
            while let Some(ev) = stack.poll_event() {
                count += 1;
                let key = match ev {
                    SocketEvent::Datagram { handle, .. } => Key::Datagram(handle),
                    SocketEvent::Tcp { handle, .. } => Key::Tcp(handle),
                    SocketEvent::Listener { handle, .. } => Key::Listener(handle),
                };
                let Some(w) = map.get_mut(&key) else {
                    continue;
                };
                let ready = ev.readiness();
                if ready.wakes_reader() {
                    to_wake.extend(w.read.take());
                }
                if ready.wakes_writer() {
                    to_wake.extend(w.write.take());
                }
            }
        }
        // Woken outside the borrows: a waker may run code that touches the stack.
        for w in to_wake.drain(..) {
            w.wake();
        }
        count
    }

    /// Marks the loop stopped and wakes every waiting task, so each sees the stop and ends.
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        let map = std::mem::take(&mut *self.wakers.borrow_mut());
        for (_, w) in map {
            w.read.into_iter().chain(w.write).for_each(Waker::wake);
        }
    }

    /// Whether the loop has stopped.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.get()
    }
}
