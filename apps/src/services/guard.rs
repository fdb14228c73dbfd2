//! Bounds on slow and silent clients (issue 8 finding 15; issue 16 finding 3 for the classic
//! services), as a wrapper around the connection a service reads and writes — hyper's for
//! HTTP, the service's own loop for echo, discard and chargen ([`run`]).
//!
//! While the server owes the client data — response bytes in the stack's send buffer that the
//! client has not acknowledged — the client must
//! * acknowledge something at least every [`SEND_STALL`] (30 s), and
//! * after a grace of [`RATE_GRACE`] (10 s), keep the average at or above [`MIN_RATE`]
//!   (1 KiB/s): by `t` seconds into the send, at least `1024 × (t − 10)` bytes acknowledged.
//!
//! Otherwise the connection is aborted (RST). The clock runs from the moment data is first
//! owed and restarts whenever everything sent has been acknowledged, so an idle keep-alive
//! connection is not "slow", and progress is measured on what the peer acknowledged (the stack's
//! counters), not on what the server buffered — a client that opens its window one byte every
//! 29 s is caught by the rate, one that stops reading by the stall.
//!
//! While nothing is owed and the server waits for a request, a connection on which no byte has
//! moved either way for [`KEEPALIVE_IDLE`] (15 s) is closed; hyper's `header_read_timeout`
//! separately bounds the time to send a whole request head.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Longest time data may be owed without the client acknowledging any of it.
pub const SEND_STALL: Duration = Duration::from_secs(30);
/// Lowest average rate, bytes per second of owed time after the grace, a client must take.
pub const MIN_RATE: u64 = 1024;
/// How long a send may run before the rate is checked.
pub const RATE_GRACE: Duration = Duration::from_secs(10);
/// Longest silence (no byte either way, nothing owed) before an idle connection is closed.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);

/// The limits a [`Guarded`] connection enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// See [`SEND_STALL`].
    pub stall: Duration,
    /// See [`MIN_RATE`].
    pub min_rate: u64,
    /// See [`RATE_GRACE`].
    pub grace: Duration,
    /// See [`KEEPALIVE_IDLE`].
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stall: SEND_STALL,
            min_rate: MIN_RATE,
            grace: RATE_GRACE,
            idle: KEEPALIVE_IDLE,
        }
    }
}

/// How far the client has taken what was sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes in the send buffer (sent and unacknowledged, or not sent yet).
    pub queued: usize,
    /// Bytes the client acknowledged since the connection began.
    pub acked: u64,
}

/// A connection whose send progress can be observed.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// The send progress, or None if unknown (then only the idle bound applies).
    fn progress(&self) -> Option<Progress>;
}

impl Transport for tun_bridge::aio::TcpStream {
    fn progress(&self) -> Option<Progress> {
        self.info().ok().map(|i| Progress {
            queued: i.send_queue,
            acked: i.stats.bytes_acked,
        })
    }
}

/// Why a connection was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Data owed and nothing acknowledged for `stall`.
    Stalled,
    /// Below `min_rate` on average after the grace.
    TooSlow,
    /// Nothing owed, nothing moved for `idle`.
    Idle,
}

/// How many connections a service's limits cut, by cause (printed when `ustack up` stops).
#[derive(Debug, Default)]
pub struct CutCounters {
    /// Aborted (RST): data owed and nothing acknowledged for the stall time.
    pub stalled: AtomicU64,
    /// Aborted (RST): below the minimum rate after the grace.
    pub too_slow: AtomicU64,
    /// Closed: nothing moved for the idle time.
    pub idle: AtomicU64,
}

impl CutCounters {
    /// Counts one cut.
    pub fn count(&self, cut: Cut) {
        let c = match cut {
            Cut::Stalled => &self.stalled,
            Cut::TooSlow => &self.too_slow,
            Cut::Idle => &self.idle,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (stalled, too slow, idle).
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.stalled.load(Ordering::Relaxed),
            self.too_slow.load(Ordering::Relaxed),
            self.idle.load(Ordering::Relaxed),
        )
    }
}

impl Cut {
    /// Why, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Cut::Stalled => "the client acknowledged nothing for too long",
            Cut::TooSlow => "the client reads below the minimum rate",
            Cut::Idle => "idle keep-alive connection",
        }
    }
}

/// A send in progress: data owed since `since`.
#[derive(Debug, Clone, Copy)]
struct Owed {
    since: Instant,
    acked_base: u64,
    last_acked: u64,
    last_progress: Instant,
}

/// The state machine behind [`Guarded`]: fed the time and the progress, it says when to look
/// again or that the connection must be cut. Pure, so it is tested without a clock.
#[derive(Debug)]
pub struct Pace {
    limits: Limits,
    owed: Option<Owed>,
    last_activity: Instant,
}

impl Pace {
    /// A fresh connection at `now`.
    pub fn new(limits: Limits, now: Instant) -> Pace {
        Pace {
            limits,
            owed: None,
            last_activity: now,
        }
    }

    /// A byte moved (read or written) at `now`.
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// Checks the limits at `now`. `waiting_to_read`: the server is blocked waiting for the
    /// client's bytes (only then does the idle bound apply). Ok: when to check again (None: no
    /// need until something happens).
    pub fn check(
        &mut self,
        now: Instant,
        progress: Option<Progress>,
        waiting_to_read: bool,
    ) -> Result<Option<Instant>, Cut> {
        let l = self.limits;
        match progress {
            Some(p) if p.queued > 0 => {
                let w = self.owed.get_or_insert(Owed {
                    since: now,
                    acked_base: p.acked,
                    last_acked: p.acked,
                    last_progress: now,
                });
                if p.acked != w.last_acked {
                    w.last_acked = p.acked;
                    w.last_progress = now;
                    self.last_activity = now;
                }
                if now.saturating_duration_since(w.last_progress) >= l.stall {
                    return Err(Cut::Stalled);
                }
                let taken = w.last_acked.saturating_sub(w.acked_base);
                let elapsed = now.saturating_duration_since(w.since);
                let rated = elapsed.saturating_sub(l.grace);
                let need = (l.min_rate as u128 * rated.as_millis() / 1000) as u64;
                if !rated.is_zero() && taken < need {
                    return Err(Cut::TooSlow);
                }
                // The first millisecond at which `taken` is no longer enough (rounded up, so the
                // check then fails rather than waking again at the same instant).
                let rate = u128::from(l.min_rate.max(1));
                let rate_ms = ((u128::from(taken) + 1) * 1000).div_ceil(rate);
                // (At most a day ahead: the next check comes sooner anyway.)
                let rate_ms = rate_ms.min(86_400_000) as u64;
                let rate_at = w.since + l.grace + Duration::from_millis(rate_ms);
                Ok(Some(rate_at.min(w.last_progress + l.stall)))
            }
            _ => {
                // Everything sent was acknowledged (or progress is unknown): not owed.
                if progress.is_some() {
                    self.owed = None;
                }
                if !waiting_to_read {
                    return Ok(None);
                }
                let at = self.last_activity + l.idle;
                if now >= at {
                    return Err(Cut::Idle);
                }
                Ok(Some(at))
            }
        }
    }
}

/// What [`Guarded`] shares with the task that owns the connection: the transport (so the task
/// can abort or linger on it once hyper is done) and why it was cut, if it was.
#[derive(Debug)]
pub struct Shared<T> {
    /// The transport.
    pub io: RefCell<T>,
    /// Set when the limits cut the connection.
    pub cut: Cell<Option<Cut>>,
}

/// A transport that enforces [`Limits`]: reads and writes fail with `TimedOut` once a limit is
/// crossed (the owner then aborts the connection).
pub struct Guarded<T> {
    shared: Rc<Shared<T>>,
    pace: Pace,
    sleep: Pin<Box<Sleep>>,
    peer: SocketAddr,
    service: &'static str,
    /// Bytes moved since the last check (recorded as activity at the next one).
    moved: bool,
}

impl<T> std::fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("pace", &self.pace)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Guarded<T> {
    /// Wraps `io` (from a client at `peer` of `service`, named in the log); returns the wrapper
    /// and what it shares.
    pub fn new(
        io: T,
        peer: SocketAddr,
        limits: Limits,
        service: &'static str,
    ) -> (Guarded<T>, Rc<Shared<T>>) {
        let shared = Rc::new(Shared {
            io: RefCell::new(io),
            cut: Cell::new(None),
        });
        let now = Instant::now();
        let g = Guarded {
            shared: shared.clone(),
            pace: Pace::new(limits, now),
            sleep: Box::pin(tokio::time::sleep_until(now + limits.idle)),
            peer,
            service,
            moved: false,
        };
        (g, shared)
    }

    fn cut_error(cut: Cut) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, cut.describe())
    }

    /// After an I/O attempt: records progress, checks the limits and, if the attempt is
    /// pending, arms the timer that wakes the task for the next check.
    fn after(
        &mut self,
        cx: &mut Context<'_>,
        moved: bool,
        pending: bool,
        read: bool,
    ) -> io::Result<()> {
        // Only a call that must wait can be over a limit: while reads and writes complete,
        // the client is taking and sending. So a call that completes costs a flag, not a
        // clock read and a look at the connection (chargen's pull lost 12% to that).
        self.moved |= moved;
        if !pending {
            return Ok(());
        }
        let now = Instant::now();
        if std::mem::take(&mut self.moved) {
            self.pace.activity(now);
        }
        let progress = self.shared.io.borrow().progress();
        match self.pace.check(now, progress, pending && read) {
            Ok(Some(at)) if pending => {
                // A timer already armed earlier stays: it wakes the task early once, and that
                // check arms the right time. Re-arming on every wait cost echo's request/
                // response a quarter of its rate (a timer-wheel move per round trip).
                if self.sleep.is_elapsed() || self.sleep.deadline() > at {
                    self.sleep.as_mut().reset(at);
                }
                if self.sleep.as_mut().poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(cut) => {
                // The owner says it where it should be seen (HTTP beside its access log);
                // the classic services count cuts (`CutCounters`), so a flood of clients
                // cannot flood the log.
                log::debug!("{}: {}: {}", self.service, self.peer, cut.describe());
                self.shared.cut.set(Some(cut));
                Err(Self::cut_error(cut))
            }
        }
    }

    fn failed(&self) -> Option<io::Error> {
        self.shared.cut.get().map(Self::cut_error)
    }

    /// The transport, for calls the wrapper does not make (a non-blocking `try_read`).
    pub fn io(&self) -> std::cell::Ref<'_, T> {
        self.shared.io.borrow()
    }
}

/// Runs a service's connection handler `f` on `stream` under `limits`, then ends it as they
/// say: a client cut for stalling or slowness gets an RST, an idle one a FIN; each cut is
/// counted in `counters`.
pub async fn run<F, Fut>(
    stream: tun_bridge::aio::TcpStream,
    service: &'static str,
    limits: Limits,
    counters: &CutCounters,
    f: F,
) -> io::Result<u64>
where
    F: FnOnce(Guarded<tun_bridge::aio::TcpStream>) -> Fut,
    Fut: Future<Output = io::Result<u64>>,
{
    let peer = stream.peer_addr()?;
    let (g, shared) = Guarded::new(stream, peer, limits, service);
    let r = f(g).await;
    let Ok(Shared { io, cut }) = Rc::try_unwrap(shared) else {
        return r; // cannot happen: `f` consumed its wrapper
    };
    if let Some(c) = cut.get() {
        counters.count(c);
        let mut stream = io.into_inner();
        if c == Cut::Idle {
            use tokio::io::AsyncWriteExt;
            let _ = stream.shutdown().await;
        } else {
            let _ = stream.abort();
        }
    }
    r
}

impl<T: Transport> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.failed() {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut *this.shared.io.borrow_mut()).poll_read(cx, buf);
        let moved = buf.filled().len() > before;
        this.after(cx, moved, r.is_pending(), true)?;
        r
    }
}

impl<T: Transport> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.failed() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut *this.shared.io.borrow_mut()).poll_write(cx, data);
        let moved = matches!(r, Poll::Ready(Ok(n)) if n > 0);
        this.after(cx, moved, r.is_pending(), false)?;
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.failed() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut *this.shared.io.borrow_mut()).poll_flush(cx);
        this.after(cx, false, r.is_pending(), false)?;
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        Pin::new(&mut *this.shared.io.borrow_mut()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    const S: Duration = Duration::from_secs(1);

    fn owed(queued: usize, acked: u64) -> Option<Progress> {
        Some(Progress { queued, acked })
    }

    #[test]
    fn idle_applies_only_while_waiting_for_the_client_with_nothing_owed() {
        let t0 = Instant::now();
        let mut p = Pace::new(Limits::default(), t0);
        assert_eq!(p.check(t0 + 20 * S, owed(0, 0), false), Ok(None));
        assert_eq!(p.check(t0 + 5 * S, owed(0, 0), true), Ok(Some(t0 + 15 * S)));
        p.activity(t0 + 10 * S);
        assert_eq!(
            p.check(t0 + 20 * S, owed(0, 0), true),
            Ok(Some(t0 + 25 * S))
        );
        assert_eq!(p.check(t0 + 25 * S, owed(0, 0), true), Err(Cut::Idle));
        // Unknown progress (not a stack socket): the idle bound still holds.
        assert_eq!(p.check(t0 + 30 * S, None, true), Err(Cut::Idle));
    }

    #[test]
    fn a_client_that_stops_reading_is_cut() {
        let t0 = Instant::now();
        let mut p = Pace::new(Limits::default(), t0);
        // It took 100 KiB at once, then nothing: the stall bound (the rate would allow 110 s).
        assert!(p.check(t0, owed(50_000, 0), false).is_ok());
        assert_eq!(
            p.check(t0 + S, owed(50_000, 100 << 10), false),
            Ok(Some(t0 + 31 * S))
        );
        assert!(p.check(t0 + 30 * S, owed(50_000, 100 << 10), true).is_ok());
        assert_eq!(
            p.check(t0 + 31 * S, owed(50_000, 100 << 10), true),
            Err(Cut::Stalled)
        );
        // Owed data is never "idle": the send bounds apply instead.
        let mut p = Pace::new(Limits::default(), t0);
        assert!(p.check(t0 + 9 * S, owed(10, 0), true).is_ok());
    }

    #[test]
    fn one_byte_every_29_seconds_is_below_the_rate() {
        // Finding 15: the window opened one byte every 29 s; the stall bound alone never fires.
        let t0 = Instant::now();
        let mut p = Pace::new(Limits::default(), t0);
        assert!(p.check(t0, owed(300_000, 1000), false).is_ok());
        // Only a few KiB taken in the first window (its receive buffer), then a byte at a time.
        let next = p.check(t0 + S, owed(300_000, 1000 + 4096), false).unwrap();
        // Cut once 4096 bytes no longer cover 1 KiB/s past the 10 s grace: at t0 + 14 s.
        assert_eq!(next, Some(t0 + 14 * S + Duration::from_millis(1)));
        assert!(p
            .check(t0 + 14 * S, owed(300_000, 1000 + 4097), false)
            .is_ok());
        assert_eq!(
            p.check(t0 + 15 * S, owed(300_000, 1000 + 4098), false),
            Err(Cut::TooSlow)
        );
    }

    #[test]
    fn a_steady_client_is_never_cut_and_the_clock_restarts_when_all_is_taken() {
        let t0 = Instant::now();
        let mut p = Pace::new(Limits::default(), t0);
        // 2 KiB/s for ten minutes: above the floor throughout.
        for s in 0..600u64 {
            let now = t0 + Duration::from_secs(s);
            assert!(p.check(now, owed(1 << 20, s * 2048), false).is_ok(), "{s}");
        }
        // Everything acknowledged: not owed, so the next send starts a fresh clock even though
        // the connection is old; it gets its own grace.
        let t1 = t0 + 700 * S;
        assert!(p.check(t1, owed(0, 600 * 2048), false).is_ok());
        assert!(p.check(t1 + S, owed(5000, 600 * 2048), false).is_ok());
        assert!(p.check(t1 + 10 * S, owed(5000, 600 * 2048), false).is_ok());
        assert_eq!(
            p.check(t1 + 12 * S, owed(5000, 600 * 2048), false),
            Err(Cut::TooSlow)
        );
    }

    /// A transport that never moves a byte and reports fixed progress.
    struct Stuck(Progress);

    impl AsyncRead for Stuck {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Stuck {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Transport for Stuck {
        fn progress(&self) -> Option<Progress> {
            Some(self.0)
        }
    }

    fn peer() -> SocketAddrV4 {
        SocketAddrV4::new(std::net::Ipv4Addr::new(198, 18, 0, 1), 40000)
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_fires_without_any_io() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A write that never completes, with data owed and nothing acknowledged: the rate
        // bound cuts it just after the grace.
        let t0 = Instant::now();
        let (mut g, shared) = Guarded::new(
            Stuck(Progress {
                queued: 10,
                acked: 0,
            }),
            std::net::SocketAddr::V4(peer()),
            Limits::default(),
            "test",
        );
        let e = g.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(shared.cut.get(), Some(Cut::TooSlow));
        let waited = t0.elapsed();
        assert!(
            waited >= RATE_GRACE && waited < RATE_GRACE + S,
            "{waited:?}"
        );
        // Every later call fails the same way.
        assert!(g.write(b"y").await.is_err());
        // A silent idle connection is closed after KEEPALIVE_IDLE.
        let t0 = Instant::now();
        let (mut g, shared) = Guarded::new(
            Stuck(Progress {
                queued: 0,
                acked: 0,
            }),
            std::net::SocketAddr::V4(peer()),
            Limits::default(),
            "test",
        );
        let mut buf = [0u8; 8];
        assert!(g.read(&mut buf).await.is_err());
        assert_eq!(shared.cut.get(), Some(Cut::Idle));
        assert_eq!(t0.elapsed().as_secs(), KEEPALIVE_IDLE.as_secs());
    }
}
