//! One control client's connection, as the request modules see it: a line reader with a length cap
//! and timeouts, and a bounded outgoing queue drained by a writer task of its own.
//!
//! Nothing here can stall the loop: reads and writes are awaited by this client's tasks only,
//! replies are queued with `try_send` (a full queue means the client does not read: it is
//! dropped, or a stream counts the message lost), and the writer gives up on a client that
//! accepts nothing for `WRITE_TIMEOUT`.

use super::proto::{self, Body, ErrorCode, ErrorReply, Lost};
use std::cell::Cell;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

/// Most reply lines (or relay chunks) queued for one client.
pub(crate) const QUEUE_FRAMES: usize = 256;
/// A request line must be complete this long after its first byte.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that sends nothing for this long between requests is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A client that takes no bytes at all for this long is dropped.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
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
}

/// Reads newline-terminated requests, never buffering more than one line's cap.
#[derive(Debug)]
pub(crate) struct LineReader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    max_line: usize,
}

impl LineReader {
    pub(crate) fn new(rd: OwnedReadHalf) -> LineReader {
        LineReader {
            rd,
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
            match timeout_at(deadline, self.read_some()).await {
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

    /// Waits until the client closes (or half-closes) its side, discarding what it sends: how a
    /// stream learns that its client is done.
    pub(crate) async fn until_eof(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        let mut chunk = [0u8; READ_CHUNK];
        while let Ok(n) = self.rd.read(&mut chunk).await {
            if n == 0 {
                return;
            }
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

    /// Bytes read past the last line (the first bytes of a relay), and the read half.
    pub(crate) fn into_parts(self) -> (Vec<u8>, OwnedReadHalf) {
        (self.buf, self.rd)
    }
}

/// The client's outgoing queue (its writer task drains it).
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
    /// Stream messages lost since the last `lost` message, and in all.
    lost: Cell<u64>,
    lost_total: Cell<u64>,
}

impl Outbox {
    /// Spawns the writer task for `wr` on the loop thread.
    pub(crate) fn spawn(wr: OwnedWriteHalf) -> Outbox {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        tokio::task::spawn_local(writer(wr, rx));
        Outbox {
            tx,
            lost: Cell::new(0),
            lost_total: Cell::new(0),
        }
    }

    /// Queues a reply the client must get. False if the queue is full (the client is not
    /// reading: drop it) or the writer is gone.
    pub(crate) fn reply(&self, id: u64, body: Body) -> bool {
        self.tx.try_send(proto::reply_line(id, body)).is_ok()
    }

    /// Queues an error reply.
    pub(crate) fn error(&self, id: u64, code: ErrorCode, message: impl Into<String>) -> bool {
        let message = message.into();
        self.reply(id, Body::Error(ErrorReply { code, message }))
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
            if self.tx.try_send(note).is_err() {
                self.count_lost();
                return true;
            }
            self.lost.set(0);
        }
        if self.tx.try_send(proto::reply_line(id, body)).is_err() {
            self.count_lost();
        }
        true
    }

    fn count_lost(&self) {
        self.lost.set(self.lost.get() + 1);
        self.lost_total.set(self.lost_total.get() + 1);
    }

    /// Stream messages lost in all.
    pub(crate) fn lost_total(&self) -> u64 {
        self.lost_total.get()
    }

    /// Queues the last messages of a stream (its summary, `end`): waits for room rather than
    /// lose them (bounded by the writer's own timeout). False once the writer is gone.
    pub(crate) async fn last(&self, id: u64, body: Body) -> bool {
        self.tx.send(proto::reply_line(id, body)).await.is_ok()
    }

    /// Queues raw relay bytes, waiting for room (back-pressure, not loss). False once the
    /// writer is gone.
    pub(crate) async fn raw(&self, bytes: Vec<u8>) -> bool {
        self.tx.send(bytes).await.is_ok()
    }
}

/// Writes queued frames; gives up on a client that takes nothing for `WRITE_TIMEOUT`.
async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        match timeout_at(deadline, wr.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::debug!("control client gone: {e}");
                return;
            }
            Err(_) => {
                log::info!("control client dropped: it read nothing for {WRITE_TIMEOUT:?}");
                return;
            }
        }
    }
    let _ = timeout_at(Instant::now() + WRITE_TIMEOUT, wr.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let mut lines = LineReader::new(rd);
            b.write_all(b"one\r\ntw").await.unwrap();
            b.write_all(b"o\nrest").await.unwrap();
            assert!(matches!(lines.next().await, Next::Line(l) if l == b"one"));
            assert!(matches!(lines.next().await, Next::Line(l) if l == b"two"));
            // Give the reader the tail, then end the stream.
            drop(b);
            assert!(matches!(lines.next().await, Next::Eof));
            let (rest, _) = lines.into_parts();
            assert_eq!(rest, b"rest");
        });
    }

    #[test]
    fn a_line_over_the_cap_is_refused_without_buffering_it_all() {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (rd, wr) = a.into_split();
            let mut lines = LineReader::new(rd);
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

    #[test]
    fn a_peer_that_never_reads_fills_the_queue_and_streams_count_losses() {
        run(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let (_rd, wr) = a.into_split();
            let out = Outbox::spawn(wr);
            let body = || Body::Lost(Lost { count: 0 });
            // The writer task gets no turn here: exactly QUEUE_FRAMES replies fit.
            let fitted = (0..2 * QUEUE_FRAMES)
                .take_while(|_| out.reply(1, body()))
                .count();
            assert_eq!(fitted, QUEUE_FRAMES);
            assert!(out.event(1, body()), "a stream message is lost, not fatal");
            assert!(out.event(1, body()));
            assert_eq!(out.lost_total(), 2);
        });
    }
}
