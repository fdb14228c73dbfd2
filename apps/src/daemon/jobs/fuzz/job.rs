//! The fuzz job on the loop thread: packets from the [`Fuzzer`] sent through a raw socket (or
//! fed into the stack's own receive path) at the request's rate, rounds with a liveness check
//! after each, and the memory of the stack before and after. The request module
//! (`requests::fuzz`) checks the request and streams what this reports.

use super::Fuzzer;
use crate::daemon::jobs::guard;
use crate::daemon::proto::{to_hex, FuzzMemory};
use crate::daemon::requests::raw::destination;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use tokio::time::{sleep_until, timeout, Duration, Instant};
use tun_bridge::aio::{PingSocket, RawSocket, TcpStream};
use tun_bridge::Net;
use ustack::EchoEvent;

/// Most packets of a round kept for the hang report (and the pcap that reproduces it).
pub const KEEP: usize = 1000;

/// The timer's resolution: pacing sleeps only when this far ahead.
const TICK: Duration = Duration::from_millis(1);

/// Most bytes of a round kept for the hang report (at least the last packet is kept).
pub const KEEP_BYTES: usize = 1 << 20;

/// Where the packets go.
#[derive(Debug)]
pub enum Sink {
    /// Out through a raw socket, as built; each packet's destination as the kernel will read
    /// it is checked against the target rule with the stack's config and the user's
    /// `--i-own-the-network`.
    Send(RawSocket, Box<ustack::Config>, bool),
    /// Into `Stack::receive`, as if read from the TUN.
    Inject,
}

/// The liveness checks after each round.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// Whom to check.
    pub target: IpAddr,
    /// An ICMP echo.
    pub ping: bool,
    /// A TCP handshake to this port.
    pub tcp: Option<u16>,
    /// How long one try waits.
    pub timeout: Duration,
}

/// What the job did so far (kept outside its future, so a stopped job still reports).
#[derive(Debug, Default)]
pub struct Progress {
    /// Packets sent or injected.
    pub sent: u64,
    /// Skipped packets by the field that could not be built.
    pub skipped: BTreeMap<String, u64>,
    /// Rounds checked.
    pub rounds: u64,
    /// Failed checks.
    pub hangs: u64,
    /// The next index to send.
    pub next: u64,
}

/// What the job reports as it goes.
#[derive(Debug)]
pub enum Report {
    /// A round passed or failed its check.
    Round {
        /// Round number (from 1).
        round: u64,
        /// First index.
        first: u64,
        /// Sent in it.
        sent: u64,
        /// Skipped in it.
        skipped: u64,
        /// The check's result: the RTT, or why it failed.
        check: Result<Option<f64>, String>,
        /// The last packets sent in it (at most [`KEEP`] and [`KEEP_BYTES`]), oldest first,
        /// with their indices.
        recent: VecDeque<(u64, Vec<u8>)>,
    },
}

/// Sends `count` packets from index `from` in rounds of `round` at `rate` a second, checking
/// after each round; stops at the first failed check. Updates `progress` as it goes.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    net: &Net,
    fuzzer: &Fuzzer,
    sink: &Sink,
    checks: Checks,
    (from, count, round, rate): (u64, u64, u64, u32),
    progress: &RefCell<Progress>,
    mut report: impl FnMut(Report),
) {
    let start = Instant::now();
    let per_packet = 1.0 / f64::from(rate.max(1));
    let ping = if checks.ping {
        PingSocket::open(net, None).ok()
    } else {
        None
    };
    let end = from.saturating_add(count);
    let mut first = from;
    let mut number = 0;
    let mut done = 0u64;
    while first < end {
        number += 1;
        let stop = first.saturating_add(round).min(end);
        let (mut sent, mut skipped) = (0, 0);
        let mut recent = VecDeque::with_capacity(KEEP.min(round as usize));
        let mut kept = 0usize;
        for n in first..stop {
            // Pacing: packet k of the run is due at start + k / rate (checked every 64, so a
            // clock read is not a per-packet cost). Sleep only when more than a timer tick
            // ahead: a sleep overshoots to the next millisecond, and the packets after it
            // catch up unpaced, so the average is the rate and a burst at most ~2 ms of it.
            if done.is_multiple_of(64) {
                let due = start + Duration::from_secs_f64(done as f64 * per_packet);
                if due > Instant::now() + TICK {
                    sleep_until(due).await;
                } else if matches!(sink, Sink::Inject) {
                    // Let the loop turn: transmit what the injected packets queued.
                    tokio::task::yield_now().await;
                }
            }
            done += 1;
            let bytes = match emit(net, fuzzer, sink, n).await {
                Ok(b) => b,
                Err(why) => {
                    skipped += 1;
                    let mut p = progress.borrow_mut();
                    *p.skipped.entry(why).or_default() += 1;
                    p.next = n + 1;
                    continue;
                }
            };
            sent += 1;
            {
                let mut p = progress.borrow_mut();
                p.sent += 1;
                p.next = n + 1;
            }
            kept += bytes.len();
            recent.push_back((n, bytes));
            while recent.len() > KEEP || (kept > KEEP_BYTES && recent.len() > 1) {
                if let Some((_, b)) = recent.pop_front() {
                    kept -= b.len();
                }
            }
        }
        let check = check(net, ping.as_ref(), checks, number).await;
        let failed = check.is_err();
        {
            let mut p = progress.borrow_mut();
            p.rounds += 1;
            p.hangs += u64::from(failed);
        }
        report(Report::Round {
            round: number,
            first,
            sent,
            skipped,
            check,
            recent,
        });
        if failed {
            return;
        }
        first = stop;
    }
}

/// Builds packet `n` and sends (or injects) it; the packet, or why it was skipped.
async fn emit(net: &Net, fuzzer: &Fuzzer, sink: &Sink, n: u64) -> Result<Vec<u8>, String> {
    let bytes = fuzzer.bytes(n).map_err(|e| e.field.to_string())?;
    match sink {
        Sink::Send(raw, config, owned) => {
            // A fuzzed version nibble makes the kernel read another header: an IPv4 packet
            // with version 6 has an IPv6 destination made of its payload. Every packet's
            // destination, as the kernel will read it, passes the rule.
            if destination(&bytes).is_some_and(|d| guard::check_target(d, config, *owned).is_err())
            {
                return Err("target rule (fuzzed version: another destination)".into());
            }
            // Refused by the stack (longer than the MTU …): counted as a skip.
            raw.send(&bytes)
                .await
                .map_err(|e| format!("send: {}", e.kind()))?;
        }
        Sink::Inject => {
            let now = net.now();
            net.with_stack(|s| s.receive(now, &bytes));
        }
    }
    Ok(bytes)
}

/// The checks after round `number`: each gets three tries; the RTT of the first that passes.
async fn check(
    net: &Net,
    ping: Option<&PingSocket>,
    checks: Checks,
    number: u64,
) -> Result<Option<f64>, String> {
    let mut rtt = None;
    if let Some(sock) = ping {
        let mut ok = None;
        for attempt in 0..3u64 {
            let seq = ((number * 3 + attempt) & 0xffff) as u16;
            if let Some(ms) = echo(sock, checks.target, seq, checks.timeout).await {
                ok = Some(ms);
                break;
            }
        }
        match ok {
            Some(ms) => rtt = Some(ms),
            None => {
                return Err(format!(
                    "ping: no echo reply from {} in 3 tries of {} ms",
                    checks.target,
                    checks.timeout.as_millis()
                ))
            }
        }
    }
    if let Some(port) = checks.tcp {
        let to = SocketAddr::new(checks.target, port);
        let mut last = String::new();
        let mut ok = None;
        for _ in 0..3 {
            let t0 = Instant::now();
            match timeout(checks.timeout, TcpStream::connect(net, to)).await {
                Ok(Ok(stream)) => {
                    ok = Some(t0.elapsed().as_secs_f64() * 1000.0);
                    drop(stream);
                    break;
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "timed out".into(),
            }
        }
        match ok {
            Some(ms) => rtt = rtt.or(Some(ms)),
            None => return Err(format!("tcp: no handshake with {to} in 3 tries: {last}")),
        }
    }
    Ok(rtt)
}

/// One echo request and its reply's RTT, ms (None: no reply in `wait`).
async fn echo(sock: &PingSocket, target: IpAddr, seq: u16, wait: Duration) -> Option<f64> {
    let t0 = Instant::now();
    sock.send(target, seq, b"ustack fuzz liveness").await.ok()?;
    let deadline = t0 + wait;
    let mut buf = [0u8; 64];
    loop {
        match timeout_at(deadline, sock.recv(&mut buf)).await? {
            Ok(EchoEvent::Reply { seq: s, .. }) if s == seq => {
                return Some(t0.elapsed().as_secs_f64() * 1000.0)
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

async fn timeout_at<F: std::future::Future>(deadline: Instant, f: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline, f).await.ok()
}

/// What the stack and this process hold now.
pub fn memory(net: &Net) -> FuzzMemory {
    let m = net.with_stack(|s| s.memory());
    FuzzMemory {
        rss_kib: rss_anon_kib(),
        held_bytes: (m.tx_queue_bytes + m.reassembly_bytes + m.tcp_buffer_bytes) as u64,
        tcp_connections: m.tcp_connections as u64,
        reassembly_datagrams: m.reassembly_datagrams as u64,
    }
}

/// This process's `RssAnon` (the heap and stacks), KiB; 0 where /proc cannot tell.
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The hex of a packet, for the hang report.
pub fn hex(p: &[u8]) -> String {
    to_hex(p)
}
