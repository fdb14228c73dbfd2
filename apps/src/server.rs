//! The plumbing every TCP service of `ustack up` shares: an accept loop on its own thread, one
//! thread per connection, and [`Conn`], a stream whose blocking reads and writes give up when the
//! server is stopping or the peer has been silent too long.
//!
//! Everything here uses only the blocking socket API of `tun-bridge` (`TcpListener`,
//! `TcpStream`), like an app written against `std::net` would.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_bridge::{Bridge, TcpListener, TcpStream};

/// How often blocked calls wake up to look at the stop flag.
pub const TICK: Duration = Duration::from_millis(200);

/// Accept queue length of every service.
const BACKLOG: usize = 64;

/// A connection handler: runs on the connection's own thread until the connection is done.
pub type Handler = Arc<dyn Fn(Conn) + Send + Sync>;

/// Listens on `port` and runs `handler` on a new thread for every connection, until `stop` is
/// set. The returned thread joins every connection thread before it ends.
pub fn spawn(
    bridge: &Bridge,
    name: &'static str,
    port: u16,
    stop: Arc<AtomicBool>,
    idle: Option<Duration>,
    handler: Handler,
) -> io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(bridge, port, BACKLOG)
        .map_err(|e| io::Error::new(e.kind(), format!("{name}: listening on port {port}: {e}")))?;
    std::thread::Builder::new()
        .name(format!("{name}-accept"))
        .spawn(move || accept_loop(&listener, name, &stop, idle, &handler))
}

fn accept_loop(
    listener: &TcpListener,
    name: &'static str,
    stop: &Arc<AtomicBool>,
    idle: Option<Duration>,
    handler: &Handler,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // Reap the threads of finished connections so the list stays as long as the table.
        workers.retain(|w| !w.is_finished());
        let (stream, peer) = match listener.accept_timeout(Some(TICK)) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == ErrorKind::BrokenPipe => break, // the stack stopped
            Err(e) => {
                log::warn!("{name}: accept: {e}");
                std::thread::sleep(TICK);
                continue;
            }
        };
        log::debug!("{name}: connection from {peer}");
        let conn = match Conn::new(stream, peer, stop.clone(), idle) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("{name}: {peer}: {e}");
                continue;
            }
        };
        let handler = handler.clone();
        match std::thread::Builder::new()
            .name(format!("{name}-{peer}"))
            .spawn(move || handler(conn))
        {
            Ok(w) => workers.push(w),
            // The connection (moved into the failed closure) has been dropped: closed.
            Err(e) => log::warn!("{name}: no thread for {peer}: {e}"),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// A served connection. `Read` and `Write` block like a plain stream but fail with
/// `ConnectionAborted` once the server is stopping, and with `TimedOut` when the peer made no
/// progress for the idle timeout (or an absolute deadline set with [`Conn::set_deadline`]
/// passed).
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddrV4,
    stop: Arc<AtomicBool>,
    idle: Option<Duration>,
    deadline: Option<Instant>,
}

// The HTTP service (its only user of these) moved onto the loop; the rest follow.
#[allow(dead_code)]
impl Conn {
    fn new(
        mut stream: TcpStream,
        peer: SocketAddrV4,
        stop: Arc<AtomicBool>,
        idle: Option<Duration>,
    ) -> io::Result<Conn> {
        stream.set_read_timeout(Some(TICK))?;
        stream.set_write_timeout(Some(TICK))?;
        Ok(Conn {
            stream,
            peer,
            stop,
            idle,
            deadline: None,
        })
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddrV4 {
        self.peer
    }

    /// The underlying stream (for `info()`, `set_keepalive`, ...).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// An absolute deadline for reads and writes (None: only the idle timeout applies).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends FIN after the queued data; reading goes on.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Reads whatever is there without blocking: `Ok(None)` if nothing is.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.stream.set_read_timeout(Some(Duration::ZERO))?;
        let r = self.stream.read(buf);
        self.stream.set_read_timeout(Some(TICK))?;
        match r {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Half-closes, then reads and discards what the peer still sends (at most `limit` bytes,
    /// for at most `time`) so that closing does not turn into a reset that could destroy the
    /// response in flight (the "lingering close" of RFC 9112 §9.6).
    pub fn linger_close(mut self, limit: usize, time: Duration) {
        let _ = self.shutdown_write();
        self.idle = Some(time);
        self.deadline = Some(Instant::now() + time);
        let mut buf = [0u8; 4096];
        let mut left = limit;
        while left > 0 {
            match self.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    }

    /// Runs `op` until it stops saying WouldBlock, checking the stop flag and timeouts.
    fn retry<T>(&mut self, mut op: impl FnMut(&mut TcpStream) -> io::Result<T>) -> io::Result<T> {
        let idle_deadline = self.idle.map(|d| Instant::now() + d);
        loop {
            match op(&mut self.stream) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => return other,
            }
            if self.stopping() {
                return Err(io::Error::new(
                    ErrorKind::ConnectionAborted,
                    "server stopping",
                ));
            }
            let now = Instant::now();
            if idle_deadline.is_some_and(|d| now >= d) || self.deadline.is_some_and(|d| now >= d) {
                return Err(io::Error::new(ErrorKind::TimedOut, "peer too slow"));
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.retry(|s| s.read(buf))
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.retry(|s| s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
