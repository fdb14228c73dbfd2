//! One control client's connection, as the request modules see it: a line reader with a length cap
//! and timeouts, and a bounded outgoing queue drained by a writer task of its own
//! ([`super::writer`]).
//!
//! Nothing here can stall the loop: reads and writes are awaited by this client's tasks only.
//! One-shot replies wait for room in the queue — while they wait, the client's next request is
//! not read (back-pressure: a pipelining client gets every reply once it reads). Stream
//! messages are queued with `try_send` (a full queue counts the message lost). A client that
//! has bytes waiting and takes none of them for `writer::STALL_TIMEOUT` is dropped by its
//! writer, which also wakes this client's reader and stream job so the slot is freed at once.

use super::proto::{self, Body, ErrorCode, ErrorReply, Lost};
use super::server::ControlCounters;
use super::writer::{self, Frame, Gone};
use crate::daemon::capture::hub::SharedPacket;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

/// Most reply lines (or relay chunks) queued for one client.
pub(crate) const QUEUE_FRAMES: usize = 256;
/// A request line must be complete this long after its first byte.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that sends nothing for this long between requests is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long, and how much, a client's input is drained before closing it on an error.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 4 << 20;
/// Bytes read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// What reading the next request gave.
#[derive(Debug)]
pub(crate) enum Next {
    /// A line (without its newline).
    Line(Vec<u8>),
    /// The client closed (or half-closed) its side.
    Eof,
    /// The line exceeds `proto::MAX_LINE`.
    TooLong,
    /// No complete line in time.
    Timeout,
    /// The writer dropped the client (it does not read its replies).
    Gone,
}

/// Reads newline-terminated requests, never buffering more than one line's cap.
#[derive(Debug)]
pub(crate) struct LineReader {
    rd: OwnedReadHalf,
    gone: Rc<Gone>,
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    max_line: usize,
}

impl LineReader {
    pub(crate) fn new(rd: OwnedReadHalf, gone: Rc<Gone>) -> LineReader {
        LineReader {
            rd,
            gone,
            buf: Vec::new(),
            scanned: 0,
            max_line: proto::MAX_LINE,
        }
    }

    /// The next line, with the request and idle timeouts.
    pub(crate) async fn next(&mut self) -> Next {
        let mut deadline = Instant::now() + IDLE_TIMEOUT;
        if !self.buf.is_empty() {
            deadline = Instant::now() + REQUEST_TIMEOUT;
        }
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                self.scanned = 0;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Next::Line(line);
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.max_line {
                return Next::TooLong;
            }
            let was_empty = self.buf.is_empty();
            let gone = self.gone.clone();
            let read = tokio::select! {
                r = timeout_at(deadline, self.read_some()) => r,
                () = gone.wait() => return Next::Gone,
            };
            match read {
                Err(_) => return Next::Timeout,
                Ok(0) => return Next::Eof,
                Ok(_) => {
                    if was_empty {
                        // The first byte of a request starts its own clock.
                        deadline = Instant::now() + REQUEST_TIMEOUT;
                    }
                }
            }
        }
    }

    /// Reads what is there into `buf` (at most one chunk); 0 at end of stream or on error.
    async fn read_some(&mut self) -> usize {
        let room = READ_CHUNK.min(self.max_line + 1 - self.buf.len().min(self.max_line));
        let mut chunk = [0u8; READ_CHUNK];
        match self.rd.read(&mut chunk[..room.max(1)]).await {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(_) => 0,
        }
    }

    /// Waits until the client closes (or half-closes) its side, discarding what it sends, or
    /// until its writer dropped it for not reading: how a stream learns that its client is done
    /// (a stream job selects on this, so a dropped client frees its slot at once, whatever the
    /// job is waiting for).
    pub(crate) async fn until_eof(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        let gone = self.gone.clone();
        let read = async {
            let mut chunk = [0u8; READ_CHUNK];
            while let Ok(n) = self.rd.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
            }
        };
        tokio::select! {
            () = read => {}
            () = gone.wait() => {}
        }
    }

    /// Before closing on an error: reads and discards what the client still sends (up to
    /// `LINGER_BYTES`, for at most `LINGER`), so the error reply reaches it — a Unix socket
    /// closed with unread input resets its peer, which may then never read the reply.
    pub(crate) async fn linger(&mut self) {
        self.buf = Vec::new();
        self.scanned = 0;
        let deadline = Instant::now() + LINGER;
        let mut chunk = [0u8; READ_CHUNK];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match timeout_at(deadline, self.rd.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    }

    /// Bytes read past the last line (the first bytes of a relay), the read half, and the
    /// writer's stop signal.
    pub(crate) fn into_parts(self) -> (Vec<u8>, OwnedReadHalf, Rc<Gone>) {
        (self.buf, self.rd, self.gone)
    }
}

/// The client's outgoing queue (its writer task drains it).
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Frame>,
    /// Stream messages lost since the last `lost` message, and in all.
    lost: Cell<u64>,
    lost_total: Cell<u64>,
}

/// A connection's two halves around `stream`: its reader, and its queue with the writer task
/// spawned on the loop thread.
pub(crate) fn split(
    stream: tokio::net::UnixStream,
    counters: Rc<ControlCounters>,
) -> (LineReader, Outbox) {
    let (rd, wr) = stream.into_split();
    let gone = Rc::new(Gone::default());
    (
        LineReader::new(rd, gone.clone()),
        Outbox::spawn(wr, gone, counters),
    )
}

impl Outbox {
    /// Spawns the writer task for `wr` on the loop thread.
    pub(crate) fn spawn(
        wr: OwnedWriteHalf,
        gone: Rc<Gone>,
        counters: Rc<ControlCounters>,
    ) -> Outbox {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        writer::spawn(wr, rx, gone, counters);
        Outbox {
            tx,
            lost: Cell::new(0),
            lost_total: Cell::new(0),
        }
    }

    /// Queues a reply the client must get, waiting for room (back-pressure: the caller reads
    /// no further request meanwhile). False once the writer is gone (the client closed, or was
    /// dropped for not reading).
    pub(crate) async fn reply(&self, id: u64, body: Body) -> bool {
        self.tx
            .send(Frame::Bytes(proto::reply_line(id, body)))
            .await
            .is_ok()
    }

    /// Queues an error reply (waiting for room, as `reply`).
    pub(crate) async fn error(&self, id: u64, code: ErrorCode, message: impl Into<String>) -> bool {
        let message = message.into();
        self.reply(id, Body::Error(ErrorReply { code, message }))
            .await
    }

    /// Queues a capture's `packet` reply, its line shared with every other client that gets
    /// the packet; waits for room (a capture's losses happen earlier, in the hub, before
    /// anything is formatted). False once the writer is gone.
    pub(crate) async fn packet(&self, id: u64, packet: Arc<SharedPacket>) -> bool {
        self.tx.send(Frame::Packet { id, packet }).await.is_ok()
    }

    /// Waits until `n` messages fit in the queue: a stream that would rather slow down than
    /// lose messages (a ping flood paces itself by its client's reading, as iputils is paced by
    /// its terminal). False once the writer is gone.
    pub(crate) async fn room_for(&self, n: usize) -> bool {
        // The permits go at once: this only waits for the room.
        self.tx.reserve_many(n).await.is_ok()
    }

    /// Queues a stream message; if the queue is full it is counted lost (reported by a `lost`
    /// message once there is room again). False once the writer is gone (client closed).
    pub(crate) fn event(&self, id: u64, body: Body) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        let lost = self.lost.get();
        if lost > 0 {
            let note = proto::reply_line(id, Body::Lost(Lost { count: lost }));
            if self.tx.try_send(Frame::Bytes(note)).is_err() {
                self.count_lost();
                return true;
            }
            self.lost.set(0);
        }
        if self
            .tx
            .try_send(Frame::Bytes(proto::reply_line(id, body)))
            .is_err()
        {
            self.count_lost();
        }
        true
    }

    fn count_lost(&self) {
        self.lost.set(self.lost.get() + 1);
        self.lost_total.set(self.lost_total.get() + 1);
    }

    /// Counts `n` messages lost before they reached this queue (a capture's hub drops) once
    /// the stream has reported them.
    pub(crate) fn add_lost(&self, n: u64) {
        self.lost_total.set(self.lost_total.get() + n);
    }

    /// Stream messages lost in all.
    pub(crate) fn lost_total(&self) -> u64 {
        self.lost_total.get()
    }

    /// Queues the last messages of a stream (its summary, `end`): waits for room rather than
    /// lose them (bounded by the writer's stall timeout). False once the writer is gone.
    pub(crate) async fn last(&self, id: u64, body: Body) -> bool {
        self.reply(id, body).await
    }

    /// Waits until everything queued has gone to the writer (false once the writer is gone).
    pub(crate) async fn drained(&self) -> bool {
        // All of the queue's permits free means nothing waits in it.
        self.tx.reserve_many(QUEUE_FRAMES).await.is_ok()
    }

    /// Queues raw relay bytes, waiting for room (back-pressure, not loss). False once the
    /// writer is gone.
    pub(crate) async fn raw(&self, bytes: Vec<u8>) -> bool {
        self.tx.send(Frame::Bytes(bytes)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    fn run<F: std::future::Future<Output = ()>>(f: F) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f);
    }

    #[test]
    fn lines_crlf_and_what_follows_them() {
        run(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (rd, _wr) = a.into_split();
            let mut lines = LineReader::new(rd, Rc::new(Gone::default()));
            b.write_all(b"one\r\ntw").await.unwrap();
            b.write_all(b"o\nrest").await.unwrap();
            assert!(matches!(lines.next().await, Next::Line(l) if l == b"one"));
            assert!(matches!(lines.next().await, Next::Line(l) if l == b"two"));
            // Give the reader the tail, then end the stream.
            drop(b);
            assert!(matches!(lines.next().await, Next::Eof));
            let (rest, _, _) = lines.into_parts();
            assert_eq!(rest, b"rest");
        });
    }

    #[test]
    fn a_line_over_the_cap_is_refused_without_buffering_it_all() {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (rd, wr) = a.into_split();
            let mut lines = LineReader::new(rd, Rc::new(Gone::default()));
            let writer = tokio::task::spawn_local(async move {
                let mut b = b;
                let _ = b.write_all(&vec![b'x'; 4 * proto::MAX_LINE]).await;
            });
            assert!(matches!(lines.next().await, Next::TooLong));
            assert!(
                lines.buf.len() <= proto::MAX_LINE + 1,
                "{}",
                lines.buf.len()
            );
            // Closing our end fails the writer's blocked write.
            drop((lines, wr));
            let _ = writer.await;
        });
    }

    fn counters() -> Rc<ControlCounters> {
        Rc::new(ControlCounters::default())
    }

    #[test]
    fn a_peer_that_never_reads_fills_the_queue_and_streams_count_losses() {
        run(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let (_rd, wr) = a.into_split();
            let out = Outbox::spawn(wr, Rc::new(Gone::default()), counters());
            let body = || Body::Lost(Lost { count: 0 });
            // The writer task gets no turn here: exactly QUEUE_FRAMES messages fit, the rest
            // of a stream's are counted lost, never fatal.
            for _ in 0..QUEUE_FRAMES + 2 {
                assert!(out.event(1, body()));
            }
            assert_eq!(out.lost_total(), 2);
        });
    }

    #[test]
    fn one_shot_replies_wait_for_room_instead_of_dropping_the_client() {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (_rd, wr) = a.into_split();
            let out = Outbox::spawn(wr, Rc::new(Gone::default()), counters());
            let n = 4 * QUEUE_FRAMES;
            let reader = tokio::task::spawn_local(async move {
                // Start reading only once the queue has been full for a while.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut all = Vec::new();
                let mut b = b;
                b.read_to_end(&mut all).await.unwrap();
                all.iter().filter(|&&c| c == b'\n').count()
            });
            for _ in 0..n {
                assert!(out.reply(1, Body::Lost(Lost { count: 0 })).await);
            }
            drop(out);
            assert_eq!(reader.await.unwrap(), n);
        });
    }

    #[test]
    fn a_peer_that_never_reads_is_dropped_by_the_timer_and_wakes_its_reader() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let (a, _b) = UnixStream::pair().unwrap();
            let (c, shared) = (counters(), Rc::new(Gone::default()));
            let (rd, wr) = a.into_split();
            let mut lines = LineReader::new(rd, shared.clone());
            let out = Outbox::spawn(wr, shared.clone(), c.clone());
            // One line waits unread; nothing more is ever sent.
            assert!(out.reply(1, Body::Lost(Lost { count: 0 })).await);
            let t0 = Instant::now();
            lines.until_eof().await;
            let waited = t0.elapsed();
            assert!(waited >= writer::STALL_TIMEOUT, "{waited:?}");
            assert!(
                waited < writer::STALL_TIMEOUT + Duration::from_secs(1),
                "{waited:?}"
            );
            assert_eq!(shared.why(), Some(writer::Stopped::NotReading));
            assert_eq!(c.get(super::super::server::ClientDrop::NotReading), 1);
            assert!(!out.reply(1, Body::Lost(Lost { count: 0 })).await);
        });
    }
}
