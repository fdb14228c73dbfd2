//! The event loop that drives a `ustack::Stack` from a TUN device and the real clock.
//!
//! One thread owns the device. It sleeps in `poll(2)` on the TUN and a waker until a packet
//! arrives, an app queues something, or `Stack::poll_at` comes due; then it feeds every ready
//! packet to `receive`, runs `handle_timeout`, drains `poll_transmit` to the device and wakes
//! any app blocked on a socket. The `Stack` sits behind a mutex shared with the app handles.

use crate::fault::FaultInjector;
use crate::tap::{Direction, Tap};
use crate::tun::{wait_readable, Tun, Waker};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use ustack::{Config, Instant, Stack};

/// How to bring a bridge up.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// TUN device name (created if absent).
    pub tun_name: String,
    /// Address of the kernel side of the TUN; the stack's own address is `stack.addr`.
    pub host_addr: Ipv4Addr,
    /// Whether to configure the kernel side (address, MTU, up) with iproute2.
    pub configure_host: bool,
    /// The stack's configuration; `stack.mtu` is also set on the device.
    pub stack: Config,
    /// Faults to inject on outgoing packets, stack → kernel (off by default).
    pub faults: crate::fault::FaultConfig,
    /// Faults to inject on incoming packets, kernel → stack, before the stack sees them (off by
    /// default): the same effect as `tc netem` on the TUN, for kernels built without netem.
    pub faults_in: crate::fault::FaultConfig,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            tun_name: "ustack0".into(),
            host_addr: Ipv4Addr::new(198, 18, 0, 1),
            configure_host: true,
            stack: Config::default(),
            faults: crate::fault::FaultConfig::default(),
            faults_in: crate::fault::FaultConfig::default(),
        }
    }
}

/// State shared by the loop thread and the app handles.
pub(crate) struct Shared {
    stack: Mutex<Stack>,
    /// Signalled after every loop iteration, so blocked handles re-check their sockets.
    pub(crate) changed: Condvar,
    waker: Waker,
    stop: AtomicBool,
    origin: std::time::Instant,
}

impl Shared {
    /// The stack's notion of now: microseconds since the bridge started.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Stack> {
        // A panic on another thread while holding the lock must not wedge every app: the stack's
        // state is still consistent between calls, so recover it.
        self.stack.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the loop to run an iteration now (after an app queued something to send).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}

/// A running bridge: a TUN device with a `Stack` behind it. Dropping it stops the loop and
/// closes the device (a non-persistent TUN then disappears).
pub struct Bridge {
    pub(crate) shared: Arc<Shared>,
    thread: Option<JoinHandle<io::Result<()>>>,
    tun_name: String,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("tun", &self.tun_name)
            .finish()
    }
}

impl Bridge {
    /// Opens the TUN, configures the host side, and starts the loop thread.
    pub fn start(config: BridgeConfig, taps: Vec<Box<dyn Tap>>) -> io::Result<Bridge> {
        let now0 = Instant::ZERO;
        let stack = Stack::new(config.stack.clone(), now0)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let tun = Tun::open(&config.tun_name)?;
        if config.configure_host {
            crate::host::configure(
                tun.name(),
                config.host_addr,
                config.stack.prefix_len,
                config.stack.mtu,
            )?;
        }
        let shared = Arc::new(Shared {
            stack: Mutex::new(stack),
            changed: Condvar::new(),
            waker: Waker::new()?,
            stop: AtomicBool::new(false),
            origin: std::time::Instant::now(),
        });
        let tun_name = tun.name().to_string();
        let loop_shared = shared.clone();
        let mtu = usize::from(config.stack.mtu);
        let faults = config
            .faults
            .is_active()
            .then(|| FaultInjector::new(config.faults));
        let faults_in = config
            .faults_in
            .is_active()
            .then(|| FaultInjector::new(config.faults_in));
        let thread = std::thread::Builder::new()
            .name("ustack-loop".into())
            .spawn(move || run_loop(&loop_shared, &tun, taps, faults, faults_in, mtu))?;
        Ok(Bridge {
            shared,
            thread: Some(thread),
            tun_name,
        })
    }

    /// The TUN device's name.
    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    /// Runs `f` with the stack locked (for stats, or calls the handles do not cover). Call
    /// [`Bridge::wake`] afterwards if `f` queued packets.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        f(&mut self.shared.lock())
    }

    /// Makes the loop drain `poll_transmit` now.
    pub fn wake(&self) {
        self.shared.wake();
    }

    /// A snapshot of the stack's counters.
    pub fn stats(&self) -> ustack::Stats {
        self.shared.lock().stats().clone()
    }

    /// Whether the loop thread is still running (it ends on a device error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the loop and closes the device; returns the loop's error, if it failed.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        self.shared.changed.notify_all();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("event loop panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Err(e) = self.stop_thread() {
            log::warn!("event loop ended with an error: {e}");
        }
    }
}

/// Most packets read from the device per iteration before timers and output get their turn.
const READ_BATCH: usize = 256;
/// Longest sleep when no timer is armed, so a stop request is noticed even without a wake.
const IDLE_WAIT: Duration = Duration::from_secs(1);

fn run_loop(
    shared: &Shared,
    tun: &Tun,
    mut taps: Vec<Box<dyn Tap>>,
    mut faults: Option<FaultInjector>,
    mut faults_in: Option<FaultInjector>,
    mtu: usize,
) -> io::Result<()> {
    let fds = [tun.as_raw_fd(), shared.waker.as_raw_fd()];
    let mut rx = vec![0u8; 65536];
    let mut tx = vec![0u8; mtu.max(68)];
    let mut backlog = false;
    let result = loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let timeout = if backlog {
            Duration::ZERO
        } else {
            let at = shared.lock().poll_at();
            match at {
                Some(at) => (at - shared.now()).into(),
                None => IDLE_WAIT,
            }
            .min(IDLE_WAIT)
        };
        if !backlog {
            for t in taps.iter_mut() {
                t.flush();
            }
        }
        if let Err(e) = wait_readable(&fds, Some(timeout)) {
            break Err(e);
        }
        shared.waker.drain();
        let mut stack = shared.lock();
        let mut reads = 0;
        let mut failed = None;
        while reads < READ_BATCH {
            match tun.recv(&mut rx) {
                Ok(Some(n)) => {
                    let ts = SystemTime::now();
                    for t in taps.iter_mut() {
                        t.packet(Direction::In, ts, &rx[..n]);
                    }
                    let now = shared.now();
                    match faults_in.as_mut() {
                        Some(f) => f.process(&rx[..n], &mut |p| stack.receive(now, p)),
                        None => stack.receive(now, &rx[..n]),
                    }
                    reads += 1;
                    // Answer as we go so a burst of requests does not pile up replies.
                    transmit(&mut stack, shared, tun, &mut taps, &mut faults, &mut tx);
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        backlog = reads == READ_BATCH;
        if let Some(f) = faults_in.as_mut() {
            let now = shared.now();
            f.flush(&mut |p| stack.receive(now, p));
        }
        let now = shared.now();
        if stack.poll_at().is_some_and(|at| at <= now) {
            stack.handle_timeout(now);
        }
        transmit(&mut stack, shared, tun, &mut taps, &mut faults, &mut tx);
        // Events are level-triggered for the blocking handles: drain them and broadcast.
        while stack.poll_event().is_some() {}
        drop(stack);
        shared.changed.notify_all();
    };
    for t in taps.iter_mut() {
        t.flush();
    }
    shared.stop.store(true, Ordering::SeqCst);
    shared.changed.notify_all();
    if let Err(e) = &result {
        log::error!("TUN event loop stopped: {e}");
    }
    result
}

fn transmit(
    stack: &mut Stack,
    shared: &Shared,
    tun: &Tun,
    taps: &mut [Box<dyn Tap>],
    faults: &mut Option<FaultInjector>,
    tx: &mut [u8],
) {
    while let Some(n) = stack.poll_transmit(shared.now(), tx) {
        let ts = SystemTime::now();
        for t in taps.iter_mut() {
            t.packet(Direction::Out, ts, &tx[..n]);
        }
        match faults {
            Some(f) => f.process(&tx[..n], &mut |p| send(tun, p)),
            None => send(tun, &tx[..n]),
        }
    }
    if let Some(f) = faults {
        f.flush(&mut |p| send(tun, p));
    }
}

impl Shared {
    /// Runs `attempt` with the stack locked until it returns something other than an error of
    /// kind `WouldBlock`, sleeping on the condition variable between tries (the loop signals it
    /// after every iteration). After `timeout` the error has kind `expired` (std gives
    /// `WouldBlock` for read/write timeouts and `TimedOut` for connect); a stopped loop gives
    /// `BrokenPipe`. Wakes the loop afterwards so anything queued goes out.
    pub(crate) fn block_on<T>(
        &self,
        timeout: Option<std::time::Duration>,
        expired: io::ErrorKind,
        mut attempt: impl FnMut(&mut Stack) -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut stack = self.lock();
        loop {
            match attempt(&mut stack) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    drop(stack);
                    self.wake();
                    return other;
                }
            }
            if self.stopped() {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the stack's event loop has stopped",
                ));
            }
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(expired, "timed out"));
                    }
                    left
                }
                None => Duration::from_secs(1),
            };
            stack = self
                .changed
                .wait_timeout(stack, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Whether the loop has stopped (handles then fail instead of blocking forever).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn send(tun: &Tun, packet: &[u8]) {
    match tun.send(packet) {
        Ok(true) => {}
        Ok(false) => log::debug!("TUN queue full: dropped an outgoing packet"),
        // The device is still ours; a write can fail while the host side is down. Like a NIC
        // with no carrier, drop the packet and carry on.
        Err(e) => log::debug!("TUN write failed, packet dropped: {e}"),
    }
}
