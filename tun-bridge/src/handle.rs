//! Talking to the loop from anywhere: [`Net`] on the loop thread (no lock, `!Send`), and
//! [`Handle`] from any thread (`Send`), which hands closures to the loop over a channel.
//!
//! The loop thread runs a tokio current-thread runtime with a `LocalSet`: tasks spawned there
//! through [`Net::spawn`] or [`Handle::spawn`] share the `Stack` with the loop through an
//! `Rc<Core>`, so an app call is a `RefCell` borrow — no mutex, no context switch.

use crate::core::Core;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use tokio::sync::mpsc;
use ustack::Stack;

/// What other threads ask of the loop.
pub(crate) enum Command {
    /// Run this on the loop thread.
    Run(Box<dyn FnOnce(&Net) + Send>),
    /// Stop the loop.
    Stop,
}

/// The stack's network, as seen from a task on the loop thread. Cheap to clone; not `Send`.
/// Sockets are created from it (`TcpListener::bind(&net, ..)`, `UdpSocket::bind(&net, ..)`).
#[derive(Clone, Debug)]
pub struct Net {
    pub(crate) core: Rc<Core>,
    handle: Handle,
    /// The name sockets created from this `Net` are owned by (see [`Net::owned_by`]).
    owner: Option<Rc<str>>,
}

/// A socket as [`Net::owners`] names it: by its addresses, as `ss` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketId {
    /// A TCP connection.
    Tcp {
        /// Our address and port.
        local: std::net::SocketAddr,
        /// The peer's.
        remote: std::net::SocketAddr,
    },
    /// A TCP listener on this port.
    Listener {
        /// The port.
        port: u16,
    },
    /// A UDP socket bound to this port.
    Udp {
        /// The port.
        port: u16,
    },
}

impl Net {
    pub(crate) fn new(core: Rc<Core>, handle: Handle) -> Net {
        Net {
            core,
            handle,
            owner: None,
        }
    }

    /// This network, with the async sockets created from it (and the connections their
    /// listeners accept) owned by `name` — a service or a job — until they are dropped:
    /// `ustack ss -p` shows it. Sockets from a `Net` without an owner have none.
    pub fn owned_by(&self, name: &str) -> Net {
        Net {
            owner: Some(Rc::from(name)),
            ..self.clone()
        }
    }

    /// The owner given by [`Net::owned_by`], if any.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Every live async socket created from an owned `Net`, and its owner.
    pub fn owners(&self) -> Vec<(SocketId, String)> {
        self.core
            .owners()
            .into_iter()
            .map(|(id, o)| (id, o.to_string()))
            .collect()
    }

    /// Notes the owner of a socket just created from this `Net`.
    pub(crate) fn claim(&self, key: crate::core::Key, id: SocketId) {
        if let Some(o) = &self.owner {
            self.core.own(key, id, o.clone());
        }
    }

    /// Spawns a task on the loop thread (it may hold `!Send` sockets).
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        tokio::task::spawn_local(fut)
    }

    /// Runs `f` on the stack (for counters, the connection table, or calls the sockets do not
    /// cover). Output it queues goes out on the loop's next turn.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        self.core.op(f)
    }

    /// The `Send` handle of this loop, for other threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The stack's clock as of the loop's last clock read (the `Instant` it passes to the
    /// stack), e.g. to age what a task sampled from it.
    pub fn now(&self) -> ustack::Instant {
        self.core.now()
    }

    /// Whether the loop has stopped (sockets then fail with `BrokenPipe`).
    pub fn is_stopped(&self) -> bool {
        self.core.stopped()
    }
}

/// A `Send + Clone` handle on a running loop, for other threads: spawn tasks on it, run code
/// on its stack, and block on results. Every call is one message to the loop thread.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
}

fn stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the stack's event loop has stopped",
    )
}

impl Handle {
    /// Runs `f` on the loop thread, without waiting.
    pub fn run(&self, f: impl FnOnce(&Net) + Send + 'static) -> io::Result<()> {
        self.tx
            .send(Command::Run(Box::new(f)))
            .map_err(|_| stopped())
    }

    /// Spawns the future that `make` builds on the loop thread (it may hold `!Send` sockets).
    pub fn spawn<F, Fut>(&self, make: F) -> io::Result<()>
    where
        F: FnOnce(Net) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.run(move |net| {
            let fut = make(net.clone());
            tokio::task::spawn_local(fut);
        })
    }

    /// Runs `f` on the loop thread and waits for its result.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Net) -> R + Send + 'static,
    ) -> io::Result<R> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.run(move |net| {
            let _ = tx.send(f(net));
        })?;
        rx.recv().map_err(|_| stopped())
    }

    /// Runs the future `make` builds on the loop thread and waits for its output: how blocking
    /// handles wait on per-socket wakeups. If the loop stops first: `BrokenPipe`.
    pub fn block_on<F, Fut, R>(&self, make: F) -> io::Result<R>
    where
        F: FnOnce(Net) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.spawn(move |net| async move {
            let r = make(net).await;
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| stopped())
    }

    /// Runs `f` on the stack and waits for the result.
    pub fn with_stack<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Stack) -> R + Send + 'static,
    ) -> io::Result<R> {
        self.call(move |net| net.with_stack(f))
    }

    /// Asks the loop to stop (idempotent).
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }

    /// Whether the loop is still there to take commands.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }
}
