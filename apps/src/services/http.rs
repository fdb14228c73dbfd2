//! HTTP/1.1 server (RFC 9110, RFC 9112) on the stack: hyper's HTTP/1 connection over the
//! async [`tun_bridge::aio::TcpStream`], one `spawn_local` task per connection on the loop
//! thread — no thread, no lock. GET and HEAD, persistent connections, the built-in home page
//! and `/stats`, and files from `--http-root` with single `Range` requests.
//!
//! Routes: `/stats` (text/plain) and `/stats.json` always (without peer addresses unless
//! [`Options::public_stats`], at most [`pages::MAX_ROWS`] rows, each rendered at most once per
//! [`cache::STATS_PERIOD`] and the same bytes served to all in between); `/` is `DIR/index.html` when the
//! root has one, else the built-in page; every other path is a file under the root (a
//! directory serves its `index.html`, `/dir` redirects to `/dir/`; there are no listings).
//! Files are streamed in 64 KiB chunks read on the blocking pool through [`disk`] (never whole,
//! never on the loop thread); each request gets an access-log line ([`access`]).
//!
//! | status | when | by |
//! |---|---|---|
//! | 206 | a satisfiable single `Range: bytes=a-b`, `a-` or `-n` on GET of a file (with Content-Range) | us |
//! | 301 | a directory without its trailing slash (Location: `path/`) | us |
//! | 400 | a malformed request line or field, bad framing (hyper); missing or repeated Host in 1.1, a path with `..`/`/`/NUL in a segment or bad percent-encoding (us) | both |
//! | 404 | no such route or regular file, or a symlink out of the root | us |
//! | 405 | a known method other than GET and HEAD (with `Allow: GET, HEAD`) | us |
//! | 408 | a request body not sent within 30 s | us |
//! | 413 | a request body above 64 KiB | us |
//! | 414 | a request target above 8 KiB | us (hyper only above 64 KiB, which the head limit prevents) |
//! | 416 | a range beyond the file (with `Content-Range: bytes */len`) | us |
//! | 431 | a request head (request line and fields) above 24 KiB, or more than 100 fields | hyper |
//! | 501 | a method the server does not recognise | us |
//!
//! What hyper changed: it parses the head, and its parse errors become its own bare 400, 414
//! or 431 with `Connection: close` (no body). An HTTP version other than 1.0/1.1 (`HTTP/2.0`,
//! `HTTP/1.7`) is now a 400 from hyper where it used to be 505; `Transfer-Encoding: chunked`
//! request bodies are decoded by hyper (and drained by us) where they used to be a 501, so
//! 501 now means an unrecognised method. Obsolete line folding and bare CR are hyper's 400s.
//!
//! Every response has Content-Length. After a 4xx about the request's syntax or size the
//! connection closes, after a lingering drain (RFC 9112 §9.6) so the answer is not lost to a
//! reset. Time limits: the head of each request within 30 s of the server starting to wait for
//! it ([`HEADER_TIMEOUT`], hyper's `header_read_timeout`; keep-alive idle time included), at
//! most 15 s of silence on an idle connection, and the slow-reader bounds of [`guard`].

pub mod access;
pub mod body;
pub mod cache;
pub mod disk;
pub mod files;
pub mod pages;
pub mod range;
pub mod route;
#[cfg(test)]
mod tests;

use crate::services::guard::{self, Guarded, Limits, Shared, Transport};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tun_bridge::aio::{TcpListener, TcpStream};

/// Time a client has to send a whole request head, counted from when the server starts
/// waiting for it (so idle keep-alive time counts too).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (request line and header fields); larger gives 431 from hyper.
pub const MAX_HEAD: usize = 24 << 10;
/// Most header fields in a request; more gives 431 from hyper.
pub const MAX_FIELDS: usize = 100;
/// hyper's read and write buffer limit per connection (bounds memory per connection).
pub const MAX_BUF: usize = 64 << 10;
/// How long (and how much) a closing connection drains what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;
/// Pause after an accept error that is not the loop stopping (so it cannot spin), doubling
/// up to the maximum while errors repeat.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How `ustack up` configures the HTTP service.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--http-root`: serve the files under this directory.
    pub root: Option<PathBuf>,
    /// `--public-stats`: `/stats` and `/stats.json` name every connection's peer (address and
    /// port); without it they show counters and our side only.
    pub public_stats: bool,
}

/// The `/stats` pages: what they show, the clock that dates them, and their caches.
struct StatsPages {
    view: pages::View,
    clock: Box<dyn Fn() -> Instant>,
    text: cache::Cached,
    json: cache::Cached,
}

/// What the server serves besides the connection: the root, the stack's address, and where
/// the `/stats` snapshot comes from.
pub struct Site {
    /// Canonical `--http-root`, if any.
    root: Option<PathBuf>,
    /// The stack's address (for the home page).
    addr: IpAddr,
    /// Takes a snapshot of the connection table and counters.
    snapshot: Box<dyn Fn() -> pages::Snapshot>,
    /// `/stats` and `/stats.json`, rendered at most once per period.
    stats: StatsPages,
    /// The slow-reader and idle bounds.
    limits: Limits,
    /// The gate to the blocking pool for file system work.
    disk: disk::Disk,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("root", &self.root)
            .field("addr", &self.addr)
            .field("stats_view", &self.stats.view)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Which `/stats` page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFormat {
    /// `/stats`, text/plain.
    Text,
    /// `/stats.json`.
    Json,
}

impl Site {
    /// A site serving `opts.root` (checked: it must be a directory), with `/stats` read from the
    /// stack behind `net` (on the loop thread, so the snapshot is consistent).
    pub fn new(opts: &Options, addr: IpAddr, net: tun_bridge::Net) -> io::Result<Site> {
        let site = Site::with_snapshot(
            opts.root.as_deref(),
            addr,
            Box::new(move || {
                net.with_stack(|s| pages::Snapshot {
                    addr,
                    connections: s.tcp_connections().collect(),
                    counts: s.tcp_counts(),
                    stats: s.stats().clone(),
                })
            }),
        )?;
        Ok(site.public_stats(opts.public_stats))
    }

    /// A site whose `/stats` comes from `snapshot` (peer addresses hidden, the real clock).
    pub fn with_snapshot(
        root: Option<&Path>,
        addr: IpAddr,
        snapshot: Box<dyn Fn() -> pages::Snapshot>,
    ) -> io::Result<Site> {
        let root = root.map(files::canonical_root).transpose()?;
        Ok(Site {
            root,
            addr,
            snapshot,
            stats: StatsPages {
                view: pages::View::PRIVATE,
                clock: Box::new(Instant::now),
                text: cache::Cached::new(cache::STATS_PERIOD),
                json: cache::Cached::new(cache::STATS_PERIOD),
            },
            limits: Limits::default(),
            disk: disk::Disk::default(),
        })
    }

    /// Whether `/stats` names the peers (`--public-stats`).
    pub fn public_stats(mut self, yes: bool) -> Site {
        self.stats.view = if yes {
            pages::View::PUBLIC
        } else {
            pages::View::PRIVATE
        };
        self
    }

    /// Dates the `/stats` pages by `clock` instead of the real one (for tests).
    pub fn with_clock(mut self, clock: Box<dyn Fn() -> Instant>) -> Site {
        self.stats.clock = clock;
        self
    }

    /// The `/stats` page in `format`: the cached one if it is younger than the period, else
    /// a fresh snapshot rendered (and cached).
    pub fn stats_page(&self, format: StatsFormat) -> bytes::Bytes {
        let (now, view) = ((self.stats.clock)(), self.stats.view);
        match format {
            StatsFormat::Text => self
                .stats
                .text
                .get(now, || pages::stats_text(&(self.snapshot)(), view)),
            StatsFormat::Json => self
                .stats
                .json
                .get(now, || pages::stats_json(&(self.snapshot)(), view)),
        }
    }

    /// How many times the `/stats` pages were rendered (both formats).
    pub fn stats_renders(&self) -> u64 {
        self.stats.text.renders() + self.stats.json.renders()
    }
}

/// Accepts connections on `listener` until the loop stops, serving each on its own task.
/// A failed connection or accept never ends the loop.
pub async fn run(listener: TcpListener, site: Rc<Site>) {
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF;
                log::debug!("http: connection from {peer}");
                tokio::task::spawn_local(serve(stream, peer, site.clone()));
            }
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return, // the loop stopped
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                // That one connection went away before it was accepted.
                log::debug!("http: accept: {e}");
            }
            Err(e) => {
                // Something wrong with the listener itself: wait, longer each time.
                log::warn!("http: accept: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// hyper's HTTP/1 settings for every connection.
fn builder() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEAD)
        .max_headers(MAX_FIELDS)
        .max_buf_size(MAX_BUF)
        .keep_alive(true)
        // A client may half-close after its request and still read the answer.
        .half_close(true)
        // `Content-Length`, not `content-length`: what the old server sent, and tools grep.
        .title_case_headers(true);
    b
}

/// Serves one connection to its end; a slow reader is aborted (RST), any other end is a
/// lingering close.
async fn serve(stream: TcpStream, peer: SocketAddr, site: Rc<Site>) {
    // Responses are written whole; do not hold their last segment back.
    let _ = stream.set_nodelay(true);
    let limits = site.limits;
    let (io, shared) = Guarded::new(stream, peer, limits, "http");
    serve_io(io, peer, site).await;
    let Ok(Shared { io, cut }) = Rc::try_unwrap(shared) else {
        return; // cannot happen: hyper dropped its half
    };
    let stream = io.into_inner();
    if let Some(c) = cut.get().filter(|&c| c != guard::Cut::Idle) {
        log::info!("http: {peer}: {}: aborting the response", c.describe());
        let _ = stream.abort();
    } else {
        linger(stream).await;
    }
}

/// Runs hyper's HTTP/1 connection over `io` until it ends.
async fn serve_io<T: Transport + 'static>(io: Guarded<T>, peer: SocketAddr, site: Rc<Site>) {
    let svc = hyper::service::service_fn(move |req| {
        let site = site.clone();
        async move { Ok::<_, std::convert::Infallible>(route::respond(req, &site, peer.ip()).await) }
    });
    if let Err(e) = builder().serve_connection(TokioIo::new(io), svc).await {
        log::debug!("http: {peer}: {e}");
    }
}

/// Half-closes, then reads and drops what the peer still sends (at most [`LINGER_BYTES`], for
/// at most [`LINGER_TIME`]) so that closing does not turn into a reset that could destroy the
/// response in flight (RFC 9112 §9.6).
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}
