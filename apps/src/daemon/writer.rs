//! A control client's writer task: drains the client's outgoing queue into its socket, a batch
//! of frames per write, and drops a client that does not read.
//!
//! "Does not read" is judged by what waits for the client, not by whether our next write
//! blocks: the kernel's socket buffer holds hundreds of kilobytes, so a client that never reads
//! a slow stream would otherwise keep its slot until the buffer filled (forever, for a stream
//! with little to say). The writer asks the kernel how much of what it wrote the client has
//! not taken yet (`SIOCOUTQ`: for a Unix stream socket, what sits unread in the peer's receive
//! queue) before each write and on a timer; when bytes wait and that amount has not gone down
//! for [`STALL_TIMEOUT`], the client is dropped — on the timer, without waiting for the next
//! message. A client with nothing waiting for it is never judged.

use super::proto;
use super::server::{ClientDrop, ControlCounters};
use crate::daemon::capture::hub::SharedPacket;
use std::cell::Cell;
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, Instant};

/// A client that has bytes waiting for it and takes none of them for this long is dropped.
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes gathered from queued frames into one write.
const BATCH: usize = 64 * 1024;

/// One queued message.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A whole reply line (or relay bytes), as is.
    Bytes(Vec<u8>),
    /// A `packet` reply of a capture: the packet's line, formatted once for every client that
    /// gets it, behind this client's `{"v":1,"id":N,`.
    Packet { id: u64, packet: Arc<SharedPacket> },
}

impl Frame {
    fn append_to(self, buf: &mut Vec<u8>) {
        match self {
            Frame::Bytes(b) => buf.extend_from_slice(&b),
            Frame::Packet { id, packet } => {
                // Writing to a Vec cannot fail.
                let _ = write!(buf, "{{\"v\":{},\"id\":{id},", proto::VERSION);
                buf.extend_from_slice(packet.wire_tail());
            }
        }
    }
}

/// Why the writer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Everything queued was written and the queue closed.
    Done,
    /// Bytes waited for the client and it took none for `STALL_TIMEOUT`.
    NotReading,
    /// The socket failed (the client closed it).
    Failed,
}

/// Set by the writer when it stops, so the client's reader and stream jobs stop too, at once.
#[derive(Debug, Default)]
pub(crate) struct Gone {
    why: Cell<Option<Stopped>>,
    notify: Notify,
}

impl Gone {
    fn set(&self, why: Stopped) {
        self.why.set(Some(why));
        self.notify.notify_waiters();
    }

    /// Why the writer stopped, once it has.
    pub(crate) fn why(&self) -> Option<Stopped> {
        self.why.get()
    }

    /// Resolves once the writer has stopped for a reason other than `Done`.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if matches!(self.why(), Some(Stopped::NotReading | Stopped::Failed)) {
                return;
            }
            notified.await;
        }
    }
}

/// Bytes written to `fd` that its peer has not read yet (`SIOCOUTQ`); None if the kernel does
/// not say.
fn unread(fd: RawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int through the pointer, which points at `n`;
    // `fd` is the open socket of the write half we hold.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    (rc == 0).then(|| usize::try_from(n).unwrap_or(0))
}

/// Whether the client takes what waits for it.
#[derive(Debug)]
struct Watch {
    fd: RawFd,
    /// Unread bytes at the last look.
    last: usize,
    /// The last time the client was seen taking something (or had nothing waiting).
    progress: Instant,
}

impl Watch {
    fn new(fd: RawFd) -> Watch {
        Watch {
            fd,
            last: 0,
            progress: Instant::now(),
        }
    }

    /// Looks at the socket: only the client lowers the unread amount, so a lower value than at
    /// the last look (or nothing unread) is progress.
    fn look(&mut self) {
        match unread(self.fd) {
            Some(n) => {
                if n == 0 || n < self.last {
                    self.progress = Instant::now();
                }
                self.last = n;
            }
            // Without the kernel's count, fall back to "a write went through".
            None => self.last = 0,
        }
    }

    /// After a write of `n > 0` bytes.
    fn wrote(&mut self) {
        match unread(self.fd) {
            Some(n) => self.last = n,
            None => self.progress = Instant::now(),
        }
    }

    /// Whether bytes are known to wait in the socket for the client.
    fn waiting(&self) -> bool {
        self.last > 0
    }

    fn deadline(&self) -> Instant {
        self.progress + STALL_TIMEOUT
    }

    /// At the deadline: looks again; true if the client still took nothing.
    fn stalled(&mut self) -> bool {
        self.look();
        Instant::now() >= self.deadline()
    }
}

/// Spawns the writer of `wr` on the loop thread, draining `rx`.
pub(crate) fn spawn(
    wr: OwnedWriteHalf,
    rx: mpsc::Receiver<Frame>,
    gone: Rc<Gone>,
    counters: Rc<ControlCounters>,
) {
    tokio::task::spawn_local(async move {
        let why = write_all(&wr, rx).await;
        match why {
            Stopped::Done => {}
            Stopped::NotReading => {
                counters.count(ClientDrop::NotReading);
                log::info!("control client dropped: it read nothing for {STALL_TIMEOUT:?}");
            }
            Stopped::Failed => log::debug!("control client gone"),
        }
        gone.set(why);
        // Dropping `wr` shuts our direction down: the client reads what it was sent, then EOF.
    });
}

/// Writes everything `rx` brings until it closes, or the client stops reading.
async fn write_all(wr: &OwnedWriteHalf, mut rx: mpsc::Receiver<Frame>) -> Stopped {
    let mut watch = Watch::new(wr.as_ref().as_raw_fd());
    let mut buf: Vec<u8> = Vec::new();
    let mut off = 0;
    loop {
        if off == buf.len() {
            buf.clear();
            off = 0;
            let first = if watch.waiting() {
                tokio::select! {
                    f = rx.recv() => f,
                    () = sleep_until(watch.deadline()) => {
                        if watch.stalled() {
                            return Stopped::NotReading;
                        }
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else {
                return Stopped::Done;
            };
            first.append_to(&mut buf);
            while buf.len() < BATCH {
                match rx.try_recv() {
                    Ok(f) => f.append_to(&mut buf),
                    Err(_) => break,
                }
            }
            if buf.capacity() > 4 * BATCH {
                // One huge frame (a relay chunk or a jumbo packet) need not stay allocated.
                buf.shrink_to(BATCH);
            }
        }
        watch.look();
        match wr.try_write(&buf[off..]) {
            Ok(0) => return Stopped::Failed,
            Ok(n) => {
                off += n;
                watch.wrote();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::select! {
                    r = wr.writable() => if r.is_err() {
                        return Stopped::Failed;
                    },
                    () = sleep_until(watch.deadline()) => if watch.stalled() {
                        return Stopped::NotReading;
                    },
                }
            }
            Err(_) => return Stopped::Failed,
        }
    }
}
