//! The event loop that drives a `ustack::Stack` from a TUN device and the real clock.
//!
//! One thread owns the `Stack`. It runs a tokio current-thread runtime: the loop task waits (in
//! one `select!`) on the TUN fd (`AsyncFd`, non-blocking), the stack's next deadline, kicks from
//! app tasks that queued output, and commands from other threads. Each turn it reads a bounded
//! batch of packets (reading the clock once), runs due timers, drains `poll_transmit` to the
//! device, then drains `poll_event` and wakes exactly the tasks whose sockets changed. App tasks
//! run on the same thread between turns (see [`crate::Net`]), so a service costs no thread and
//! no lock; other threads reach it through a [`crate::Handle`].
//!
//! Why tokio's current-thread runtime: it is the runtime the ecosystem's crates (hyper,
//! tokio-util) are written for, `AsyncFd` gives epoll readiness on the TUN fd without a thread,
//! and a `LocalSet` lets tasks share the stack through `Rc` instead of a mutex.

use crate::core::Core;
use crate::entropy::Entropy;
use crate::fault::FaultInjector;
use crate::handle::{Command, Handle, Net};
use crate::tap::{Direction, Tap};
use crate::tun::Tun;
use std::io;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::SystemTime;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use ustack::{Config, Instant, Stack};

/// How to bring a bridge up.
///
/// Safe by default: [`Bridge::start`] draws the stack's secret (the RFC 6528 ISN key, from which
/// the SYN-cookie, IP-id and ephemeral-port keys are derived) and its seed from the OS
/// (getrandom), replacing whatever `stack.secret` and `stack.seed` hold — `Config::default()`'s
/// secret is a published test value. To keep them as given, for tests and reproducible runs,
/// say so by name: `entropy: Entropy::Pinned`.
///
/// ```no_run
/// use tun_bridge::{Bridge, BridgeConfig, Entropy};
/// // Fresh secrets from the OS:
/// let bridge = Bridge::start(BridgeConfig::default(), Vec::new())?;
/// # drop(bridge);
/// // The same ISNs, ports and IP ids on every run (never on a network you do not control):
/// let mut config = BridgeConfig { entropy: Entropy::Pinned, ..BridgeConfig::default() };
/// config.stack.secret = *b"my-lab-secret-16";
/// let bridge = Bridge::start(config, Vec::new())?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// TUN device name (created if absent).
    pub tun_name: String,
    /// Address of the kernel side of the TUN; the stack's own address is `stack.addr`.
    pub host_addr: Ipv4Addr,
    /// IPv6 address of the kernel side (its /64 routed into the TUN), when the stack has one
    /// (`stack.addr6`); none by default.
    pub host_addr6: Option<std::net::Ipv6Addr>,
    /// Whether to configure the kernel side (address, MTU, up) with iproute2.
    pub configure_host: bool,
    /// The stack's configuration; `stack.mtu` is also set on the device. Its `secret` and
    /// `seed` are replaced from the OS at start unless `entropy` is [`Entropy::Pinned`]. The
    /// default's `tcp_mem_max` is 1/16 of the machine's memory ([`crate::host::tcp_mem_default`]).
    pub stack: Config,
    /// Where the stack's secret and seed come from: the OS (default, [`Entropy::FromOs`]) or
    /// `stack` as given ([`Entropy::Pinned`]).
    pub entropy: Entropy,
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
            host_addr6: None,
            configure_host: true,
            stack: Config {
                tcp_mem_max: crate::host::tcp_mem_default(),
                ..Config::default()
            },
            entropy: Entropy::FromOs,
            faults: crate::fault::FaultConfig::default(),
            faults_in: crate::fault::FaultConfig::default(),
        }
    }
}

/// A running bridge: a TUN device with a `Stack` behind it, driven by the loop thread.
/// Dropping it stops the loop and closes the device (a non-persistent TUN then disappears).
#[derive(Debug)]
pub struct Bridge {
    handle: Handle,
    thread: Option<JoinHandle<io::Result<()>>>,
    tun_name: String,
}

/// The loop's packet plumbing: device, taps, fault injectors, buffers.
struct Io {
    taps: Vec<Box<dyn Tap>>,
    faults: Option<FaultInjector>,
    faults_in: Option<FaultInjector>,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Bridge {
    /// Seeds the stack's secret and seed (see [`BridgeConfig::entropy`]), opens the TUN,
    /// configures the host side, and starts the loop thread. Refuses to start if the OS has no
    /// entropy to give (the error names the cause) — there is no fallback to a guessable secret.
    pub fn start(config: BridgeConfig, taps: Vec<Box<dyn Tap>>) -> io::Result<Bridge> {
        let mut stack_config = config.stack.clone();
        config.entropy.apply(&mut stack_config)?;
        let stack = Stack::new(stack_config, Instant::ZERO)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let tun = Tun::open(&config.tun_name)?;
        if config.configure_host {
            crate::host::configure(
                tun.name(),
                config.host_addr,
                config.stack.prefix_len,
                config.stack.mtu,
            )?;
            if let (Some(host6), Some(_)) = (config.host_addr6, config.stack.addr6) {
                crate::host::configure6(tun.name(), host6, config.stack.mtu)?;
            }
        }
        let tun_name = tun.name().to_string();
        let mtu = usize::from(config.stack.mtu).max(68);
        let io = Io {
            taps,
            faults: config
                .faults
                .is_active()
                .then(|| FaultInjector::new(config.faults)),
            faults_in: config
                .faults_in
                .is_active()
                .then(|| FaultInjector::new(config.faults_in)),
            rx: vec![0u8; 65536],
            tx: vec![0u8; mtu],
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Handle { tx };
        let loop_handle = handle.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("ustack-loop".into())
            .spawn(move || thread_main(stack, tun, io, rx, loop_handle, ready_tx))?;
        // The runtime is built on the loop thread; report its failure here, not later.
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("the event loop thread died at start")),
        }
        Ok(Bridge {
            handle,
            thread: Some(thread),
            tun_name,
        })
    }

    /// The TUN device's name.
    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    /// The `Send` handle of the loop (spawn tasks on it, call into the stack, block on results).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Spawns the future that `make` builds as a task on the loop thread.
    pub fn spawn<F, Fut>(&self, make: F) -> io::Result<()>
    where
        F: FnOnce(Net) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        self.handle.spawn(make)
    }

    /// Runs `f` on the stack (on the loop thread) and returns its result.
    pub fn with_stack<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Stack) -> R + Send + 'static,
    ) -> io::Result<R> {
        self.handle.with_stack(f)
    }

    /// A snapshot of the stack's counters (default counters if the loop has stopped).
    pub fn stats(&self) -> ustack::Stats {
        self.with_stack(|s| s.stats().clone()).unwrap_or_default()
    }

    /// Whether the loop thread is still running (it ends on a device error or a stop).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the loop (every task on it is dropped, so its connections are closed and the
    /// resulting FIN/RST go out) and closes the device; returns the loop's error, if it failed.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> io::Result<()> {
        self.handle.stop();
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

fn thread_main(
    stack: Stack,
    tun: Tun,
    mut io: Io,
    mut commands: mpsc::UnboundedReceiver<Command>,
    handle: Handle,
    ready: std::sync::mpsc::SyncSender<io::Result<()>>,
) -> io::Result<()> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
    };
    // The loop's clock starts now (`Core::refresh_now`); tell the stack what time that is, for
    // ICMP timestamp replies (RFC 792: milliseconds since midnight UT).
    let mut stack = stack;
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    stack.set_wall_clock(ustack::Instant::ZERO, unix_ms);
    let core = Rc::new(Core::new(stack, std::time::Instant::now()));
    let net = Net::new(core.clone(), handle);
    let local = tokio::task::LocalSet::new();
    let (result, tun) = local.block_on(&rt, async {
        // SAFETY: `Tun` owns its descriptor for its whole life and `as_raw_fd` always returns
        // that same descriptor; it is closed only when the `Tun` is dropped, after
        // `into_inner` below has taken it back from the reactor.
        let registered = unsafe { AsyncFd::register_with_interest(tun, Interest::READABLE) };
        let tun = match registered {
            Ok(t) => t,
            Err(e) => {
                let e = io::Error::from(e);
                let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
                return (Err(e), None);
            }
        };
        let _ = ready.send(Ok(()));
        let r = run_loop(&core, &tun, &mut io, &mut commands, &net).await;
        (r, Some(tun.into_inner()))
    });
    // Every task is dropped with the LocalSet: their sockets close (FIN, or RST for unread
    // data), waiting tasks see the stop, and blocked threads get `BrokenPipe`.
    core.stop();
    drop(commands);
    {
        let _guard = rt.enter();
        drop(local);
        drop(net);
    }
    if let Some(tun) = tun {
        // Whatever is left — connections of other threads' blocking handles, orphans still
        // closing — is reset: nothing will answer their peers once the loop is gone.
        let reset = core.with(|s| s.tcp_abort_all());
        if reset > 0 {
            log::info!("stop: reset {reset} remaining TCP connections");
        }
        core.refresh_now();
        transmit(&core, &tun, &mut io);
    }
    for t in io.taps.iter_mut() {
        t.flush();
    }
    if let Err(e) = &result {
        log::error!("TUN event loop stopped: {e}");
    }
    result
}

/// Most packets read from the device per turn before timers, output and the app tasks get
/// their turn.
const READ_BATCH: usize = 64;
/// Packets read between two transmit passes within a batch (a small fraction of the receive
/// window, so a stretch ACK never leaves the sender waiting for window).
const TRANSMIT_EVERY: usize = 16;
/// Most commands from other threads handled per turn.
const COMMAND_BATCH: usize = 64;
/// Longest sleep when no timer is armed.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

async fn run_loop(
    core: &Core,
    tun: &AsyncFd<Tun>,
    io: &mut Io,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    net: &Net,
) -> io::Result<()> {
    let sleep = tokio::time::sleep(IDLE_WAIT);
    tokio::pin!(sleep);
    let mut trimmer = crate::trim::Trimmer::default();
    loop {
        let now = core.refresh_now();
        if core.with(|s| s.poll_at().is_some_and(|at| at <= now)) {
            core.with(|s| s.handle_timeout(now));
        }
        transmit(core, tun.get_ref(), io);
        trimmer.observe(core.with(|s| s.tcp_buffer_bytes()), now);
        if core.dispatch_events() > 0 {
            // Let the tasks just woken run before the next batch. Otherwise the loop task's
            // turns go on back to back (until tokio's coop budget runs out) while, e.g., a
            // burst of handshakes fills a listener's accept queue its accept task never got to
            // drain, and further SYNs are dropped (TcpAcceptQueueFull).
            tokio::task::yield_now().await;
        }
        let mut wake_at = match core.with(|s| s.poll_at()) {
            Some(at) => core.deadline(at),
            None => tokio::time::Instant::now() + IDLE_WAIT,
        };
        if let Some(at) = trimmer.due() {
            wake_at = wake_at.min(core.deadline(at));
        }
        if sleep.deadline() != wake_at {
            sleep.as_mut().reset(wake_at);
        }
        tokio::select! {
            biased;
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Ok(()) };
                if !run_commands(cmd, commands, net) {
                    return Ok(());
                }
            }
            guard = tun.readable() => {
                let mut guard = guard?;
                let full = read_batch(core, tun.get_ref(), io)?;
                if !full {
                    guard.clear_ready();
                } else {
                    drop(guard);
                    // A full batch: let the app tasks run before the next one.
                    tokio::task::yield_now().await;
                }
            }
            () = &mut sleep => {}
            () = core.kicked() => {}
        }
    }
}

/// Runs `first` and whatever else is queued (bounded); false on a stop request.
fn run_commands(
    first: Command,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    net: &Net,
) -> bool {
    let mut next = Some(first);
    let mut n = 0;
    while let Some(cmd) = next.take() {
        match cmd {
            Command::Stop => return false,
            Command::Run(f) => f(net),
        }
        n += 1;
        if n < COMMAND_BATCH {
            next = commands.try_recv().ok();
        }
    }
    true
}

/// Reads up to a batch of packets into the stack, answering as it goes. Returns whether the
/// batch was full (more may be waiting).
fn read_batch(core: &Core, tun: &Tun, io: &mut Io) -> io::Result<bool> {
    let now = core.refresh_now();
    let mut reads = 0;
    while reads < READ_BATCH {
        let Some(n) = tun.recv(&mut io.rx)? else {
            break;
        };
        if io.taps.iter().any(|t| t.wants_packets()) {
            let ts = SystemTime::now();
            for t in io.taps.iter_mut() {
                t.packet(Direction::In, ts, &io.rx[..n]);
            }
        }
        core.with(|stack| match io.faults_in.as_mut() {
            Some(f) => f.process(&io.rx[..n], &mut |p| stack.receive(now, p)),
            None => stack.receive(now, &io.rx[..n]),
        });
        reads += 1;
        // Answer every few packets, not after each: the stack then sends one ACK for the
        // segments read since (a stretch ACK, like Linux after GRO), and a burst of requests
        // still gets its replies before the batch ends.
        if reads % TRANSMIT_EVERY == 0 {
            transmit(core, tun, io);
        }
    }
    if let Some(f) = io.faults_in.as_mut() {
        core.with(|stack| f.flush(&mut |p| stack.receive(now, p)));
    }
    if reads < READ_BATCH {
        for t in io.taps.iter_mut() {
            t.flush();
        }
    }
    Ok(reads == READ_BATCH)
}

/// Drains `poll_transmit` to the device.
fn transmit(core: &Core, tun: &Tun, io: &mut Io) {
    let now = core.now();
    core.with(|stack| {
        while let Some(n) = stack.poll_transmit(now, &mut io.tx) {
            if io.taps.iter().any(|t| t.wants_packets()) {
                let ts = SystemTime::now();
                for t in io.taps.iter_mut() {
                    t.packet(Direction::Out, ts, &io.tx[..n]);
                }
            }
            match io.faults.as_mut() {
                Some(f) => f.process(&io.tx[..n], &mut |p| send(tun, p)),
                None => send(tun, &io.tx[..n]),
            }
        }
    });
    if let Some(f) = io.faults.as_mut() {
        f.flush(&mut |p| send(tun, p));
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
