//! The blocking client tools use: find the daemon of a TUN, send requests, read replies.

use super::path;
use super::proto::{self, Body, ErrorCode, ErrorReply, Reply, Request};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Longest reply line the client accepts (a socket table of many connections is long).
const MAX_REPLY: usize = 512 << 20;

/// A connection to a control server.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

/// Whether a daemon serves TUN `tun` in this namespace: `Ok(None)` if none does (no socket,
/// or a stale one nobody accepts on).
pub fn attach(tun: &str) -> io::Result<Option<Client>> {
    let p = path::socket_path(tun)?;
    match UnixStream::connect(&p) {
        Ok(s) => Client::new(s).map(Some),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            Ok(None)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("control socket {}: {e}", p.display()),
        )),
    }
}

/// Where the daemon of `tun` would listen (for messages).
pub fn socket_path(tun: &str) -> io::Result<PathBuf> {
    path::socket_path(tun)
}

/// A request failed: the server's error as an `io::Error` (its code kept in the message).
pub fn error_of(e: &ErrorReply) -> io::Error {
    let kind = match e.code {
        ErrorCode::ConnectionRefused => ErrorKind::ConnectionRefused,
        ErrorCode::TimedOut | ErrorCode::Timeout => ErrorKind::TimedOut,
        ErrorCode::NetworkUnreachable => ErrorKind::NetworkUnreachable,
        ErrorCode::HostUnreachable => ErrorKind::HostUnreachable,
        ErrorCode::PermissionDenied => ErrorKind::PermissionDenied,
        ErrorCode::BadJson | ErrorCode::BadRequest | ErrorCode::BadVersion => {
            ErrorKind::InvalidInput
        }
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, e.message.clone())
}

impl Client {
    /// Wraps a connected stream (the daemon's socket, or one end of [`super::pair`]).
    pub fn new(stream: UnixStream) -> io::Result<Client> {
        // Large enough that a capture's frames come in a few reads per batch.
        let reader = BufReader::with_capacity(256 << 10, stream.try_clone()?);
        Ok(Client {
            stream,
            reader,
            next_id: 1,
        })
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, req: &Request) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.stream.write_all(&proto::request_line(id, req))?;
        Ok(id)
    }

    /// Whether replies are already read and waiting here (the next `next_reply` will not block):
    /// a stream's printer can leave flushing its output until the batch is drained.
    pub fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// The next reply line; `None` once the server closed.
    pub fn next_reply(&mut self) -> io::Result<Option<Reply>> {
        let mut line = Vec::new();
        let n = Read::by_ref(&mut self.reader)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("bad reply: {e}")))
    }

    /// Sends a one-shot request and waits for its reply; an `error` reply is an `Err`.
    pub fn call(&mut self, req: &Request) -> io::Result<Body> {
        let id = self.send(req)?;
        loop {
            match self.next_reply()? {
                None => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "the daemon closed the control connection",
                    ))
                }
                Some(r) if r.id != id && r.id != 0 => continue,
                Some(Reply {
                    body: Body::Error(e),
                    ..
                }) => return Err(error_of(&e)),
                Some(r) => return Ok(r.body),
            }
        }
    }

    /// Reads exactly `buf.len()` bytes of a binary stream (a capture's frames).
    pub fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.reader.read_exact(buf)
    }

    /// Whether bytes already received wait in the client's buffer (none: the client has
    /// caught up with the daemon — a good moment to flush what it wrote).
    pub fn buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Limits how long `next` waits (None: forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Half-closes our side: a stream request ends gracefully (its summary still comes).
    pub fn finish(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// A handle that can half-close from another thread (e.g. a Ctrl-C handler).
    pub fn closer(&self) -> io::Result<UnixStream> {
        self.stream.try_clone()
    }

    /// After `connected`: the raw stream, and bytes the reader had already buffered.
    pub fn into_raw(self) -> (UnixStream, Vec<u8>) {
        let buffered = self.reader.buffer().to_vec();
        (self.stream, buffered)
    }
}
