//! End to end against the Linux kernel: `ustack up` at scale and under bad input (issue 7,
//! item 7 and "Bad input"). 10,000 concurrent idle connections that cost no thread each (RSS per
//! connection recorded), a 4-thread connection-rate client with RST and with FIN close, a client
//! that stops reading, a burst of 10,000 spoofed SYNs, half-open connections, connections reset
//! mid-stream: none stalls the loop or the other connections.
//!
//! Figures are printed, never asserted as timings; the bounds asserted are functional (a hang or
//! a leak is the bug). Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing
//! capability fails.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ustack_tests::e2e::{counter, rss_kib, Up, STACK_ADDR};
use ustack_tests::kclient::{cpu_time, raise_nofile, set_linger_zero, signal, thread_count};
use ustack_tests::netns::{tun_available, NetNs};

/// Most threads `ustack up` may have whatever its connection count (main, loop, HTTP's accept
/// thread, signal handling, and a little slack).
const MAX_THREADS: u64 = 8;
/// How long `ustack up` may take to exit after SIGTERM with 10,000 connections open. Issue 7
/// asks for 1 s (the stop tests in e2e_runtime.rs hold it); here the stop also resets 10,000
/// connections through the kernel and frees their buffers (about 80 ms of CPU, 0.4 s typical),
/// which on a machine shared with other builds has taken up to 3 s of wall time. So this bound
/// catches a hang, not a slow stop: the figure is printed.
const STOP_BOUND_10K: Duration = Duration::from_secs(5);

fn echo_addr(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(STACK_ADDR, port)
}

/// One echo round trip of `msg` on `s`.
fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    s.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back)?;
    if back == msg {
        Ok(())
    } else {
        Err(std::io::Error::other("echo returned other bytes"))
    }
}

/// A new connection to echo and a 1-byte round trip on it, each step bounded by `timeout`.
fn fresh_round_trip(timeout: Duration) -> std::io::Result<Duration> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&echo_addr(7).into(), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    round_trip(&mut s, b"x")?;
    Ok(t0.elapsed())
}

/// Sends SIGTERM to `ustack up` and waits (at most 10 s) for it to exit; returns how long it
/// took, its status and stdout.
fn stop_timed(up: &mut Up) -> (Duration, ExitStatus, String) {
    let sent = Instant::now();
    signal(up.child.pid(), libc::SIGTERM);
    loop {
        if let Some(status) = up.child.try_wait() {
            return (sent.elapsed(), status, up.child.stdout());
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "ustack up still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Opens `n` connections to `port` from `threads` threads; returns them, the errors, and how
/// long each quarter of them took to open (so a cost growing with the count shows).
fn open_many(n: usize, threads: usize, port: u16) -> (Vec<TcpStream>, Vec<String>, Vec<Duration>) {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let count = n / threads + usize::from(t < n % threads);
            std::thread::spawn(move || {
                let mut ok = Vec::with_capacity(count);
                let mut errors = Vec::new();
                let mut marks = Vec::new();
                for i in 0..count {
                    if i > 0 && i % (count / 4).max(1) == 0 {
                        marks.push(start.elapsed());
                    }
                    match TcpStream::connect_timeout(
                        &echo_addr(port).into(),
                        Duration::from_secs(10),
                    ) {
                        Ok(s) => ok.push(s),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                marks.push(start.elapsed());
                (ok, errors, marks)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let mut quarters = Vec::new();
    for (t, w) in workers.into_iter().enumerate() {
        let (ok, err, marks) = w.join().unwrap();
        all.extend(ok);
        errors.extend(err);
        if t == 0 {
            let mut last = Duration::ZERO;
            for m in marks {
                quarters.push(m - last);
                last = m;
            }
        }
    }
    (all, errors, quarters)
}

#[test]
fn ten_thousand_idle_connections_cost_no_thread_each() {
    if !tun_available() {
        return;
    }
    const N: usize = 10_000;
    let ns = NetNs::new("idle10k");
    let mut up = Up::start(
        &ns,
        &["--max-connections", "12000", "--max-per-source", "12000"],
    );
    let pid = up.child.pid();
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, threads_before) = (rss_kib(pid), thread_count(pid));
    let limit = raise_nofile(N as u64 + 1000);
    assert!(
        limit >= N as u64 + 100,
        "RLIMIT_NOFILE is {limit}: too low for {N} connections"
    );
    let (t0, cpu0) = (Instant::now(), cpu_time(pid));
    let (mut conns, errors, quarters) = ns.run(|| open_many(N, 4, 7));
    let (opened_in, cpu) = (t0.elapsed(), cpu_time(pid).saturating_sub(cpu0));
    assert!(
        errors.is_empty(),
        "{} of {N} connections failed, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    // Every one established and still answering: a round trip on every 100th, oldest first.
    let mut failed = Vec::new();
    for (i, s) in conns.iter_mut().enumerate().step_by(100) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if let Err(e) = round_trip(s, &[i as u8, (i >> 8) as u8]) {
            failed.push(format!("connection {i}: {e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "idle connections did not echo: {failed:?}"
    );
    let (rss_after, threads_after) = (rss_kib(pid), thread_count(pid));
    let per_conn = (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / N as f64;
    println!(
        "{N} idle connections: opened in {opened_in:.2?} ({:.0}/s); ustack RSS {rss_before} KiB \
         before, {rss_after} KiB after = {per_conn:.0} bytes ({:.1} KiB) per connection; \
         threads {threads_before} before, {threads_after} after; ustack used {cpu:.2?} of \
         CPU opening them; each quarter took {quarters:.2?}",
        N as f64 / opened_in.as_secs_f64(),
        per_conn / 1024.0
    );
    assert!(
        threads_after <= MAX_THREADS,
        "ustack up has {threads_after} threads with {N} connections (bound {MAX_THREADS})"
    );
    assert!(
        per_conn < 256.0 * 1024.0,
        "{per_conn:.0} bytes of RSS per idle connection: a leak?"
    );
    // Stopping with all of them open is still prompt.
    let (took, status, out) = stop_timed(&mut up);
    println!("stop with {N} connections open: {took:?}");
    print_drops(&out);
    assert!(status.success(), "ustack up exited with {status}:\n{out}");
    assert!(
        took <= STOP_BOUND_10K,
        "ustack up took {took:?} to stop with {N} connections open"
    );
    assert!(counter(&out, "tcp_passive_opens") >= N as u64, "{out}");
    drop(conns);
}

/// Prints the drop lines of the counters `ustack up` printed when it stopped.
fn print_drops(out: &str) {
    for l in out.lines().filter(|l| l.trim_start().starts_with("drop")) {
        println!("  stack {}", l.trim());
    }
}

/// What a connection-rate run did.
#[derive(Debug, Default)]
struct Rate {
    ok: u64,
    refused: u64,
    timed_out: u64,
    other: u64,
    /// Attempts not made because the run hit its guard time.
    skipped: u64,
    examples: Vec<String>,
    elapsed: Duration,
    /// How long each quarter of one thread's connections took (a cost growing as TIME-WAIT
    /// sockets pile up shows here).
    quarters: Vec<Duration>,
}

impl Rate {
    fn add(&mut self, other: Rate) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.timed_out += other.timed_out;
        self.other += other.other;
        self.skipped += other.skipped;
        self.examples.extend(other.examples.into_iter().take(3));
        if self.quarters.is_empty() {
            self.quarters = other.quarters;
        }
    }

    fn failed(&mut self, step: &str, e: &std::io::Error) {
        match e.kind() {
            ErrorKind::ConnectionRefused => self.refused += 1,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => self.timed_out += 1,
            _ => self.other += 1,
        }
        if self.examples.len() < 3 {
            self.examples.push(format!("{step}: {e}"));
        }
    }
}

/// One connection: connect, a 1-byte echo round trip, close (RST with SO_LINGER 0, else FIN).
fn one_connection(rst: bool, r: &mut Rate) {
    let timeout = Duration::from_secs(5);
    let mut s = match TcpStream::connect_timeout(&echo_addr(7).into(), timeout) {
        Ok(s) => s,
        Err(e) => return r.failed("connect", &e),
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(timeout));
    if let Err(e) = round_trip(&mut s, b"r") {
        return r.failed("round trip", &e);
    }
    if rst {
        if let Err(e) = set_linger_zero(&s) {
            return r.failed("SO_LINGER", &e);
        }
    }
    r.ok += 1;
}

/// `threads` clients each making `per_thread` connections to echo, one after another; new
/// attempts stop after `guard` (so a stalled stack cannot hang the test).
fn connection_rate(threads: usize, per_thread: usize, rst: bool, guard: Duration) -> Rate {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut r = Rate::default();
                let mut mark = Instant::now();
                for i in 0..per_thread {
                    if stop.load(Ordering::Relaxed) || start.elapsed() > guard {
                        stop.store(true, Ordering::Relaxed);
                        r.skipped = (per_thread - i) as u64;
                        break;
                    }
                    if i > 0 && i % (per_thread / 4).max(1) == 0 {
                        r.quarters.push(mark.elapsed());
                        mark = Instant::now();
                    }
                    one_connection(rst, &mut r);
                }
                r.quarters.push(mark.elapsed());
                r
            })
        })
        .collect();
    let mut total = Rate::default();
    for w in workers {
        total.add(w.join().unwrap());
    }
    total.elapsed = start.elapsed();
    total
}

/// Runs the 4 × 5,000 connection-rate client against a fresh `ustack up`, prints what happened,
/// checks the stack still answers afterwards, and returns the run and the stop counters.
fn rate_run(tag: &str, rst: bool) -> (Rate, String) {
    let ns = NetNs::new(tag);
    let up = Up::start(&ns, &[]);
    let (r, after) = ns.run(move || {
        let r = connection_rate(4, 5_000, rst, Duration::from_secs(60));
        (r, fresh_round_trip(Duration::from_secs(5)))
    });
    let close = if rst { "RST" } else { "FIN" };
    let attempted = r.ok + r.refused + r.timed_out + r.other;
    println!(
        "connection rate, {close} close, 4 threads: {} ok, {} refused, {} timed out, {} other, \
         {} not attempted, in {:.2?} = {:.0} connections/s (quarters of one thread: {:.2?}); \
         e.g. {:?}",
        r.ok,
        r.refused,
        r.timed_out,
        r.other,
        r.skipped,
        r.elapsed,
        attempted as f64 / r.elapsed.as_secs_f64(),
        r.quarters,
        r.examples
    );
    let after = after.unwrap_or_else(|e| panic!("echo after the {close}-close run: {e}"));
    println!("  a fresh echo round trip afterwards: {after:?}");
    let out = up.stop();
    println!(
        "  stack: {} passive opens, {} resets sent, connection table full {}, accept queue \
         full {}, syncookies {}",
        counter(&out, "tcp_passive_opens"),
        counter(&out, "tcp_resets_sent"),
        counter(&out, "TcpTooManyConnections"),
        counter(&out, "TcpAcceptQueueFull"),
        counter(&out, "tcp_syncookies_sent")
    );
    print_drops(&out);
    (r, out)
}

#[test]
fn connection_rate_with_rst_close_has_no_refusals() {
    if !tun_available() {
        return;
    }
    let (r, out) = rate_run("rateRST", true);
    assert_eq!(r.skipped, 0, "the run stalled: {r:?}");
    assert_eq!(
        (r.refused, r.timed_out, r.other),
        (0, 0, 0),
        "connection-rate client with RST close: {r:?}\n{out}"
    );
    assert_eq!(r.ok, 20_000);
    assert!(counter(&out, "tcp_passive_opens") >= 20_000, "{out}");
}

/// With FIN close the kernel client holds TIME-WAIT, the stack LAST-ACK until the final ACK;
/// the rate is bounded by the TIME-WAIT policy (another issue), so only a hang fails here.
#[test]
fn connection_rate_with_fin_close_does_not_hang() {
    if !tun_available() {
        return;
    }
    let (r, out) = rate_run("rateFIN", false);
    assert_eq!(r.skipped, 0, "the run stalled: {r:?}\n{out}");
    assert_eq!(r.ok + r.refused + r.timed_out + r.other, 20_000, "{r:?}");
    assert!(r.ok > 0, "no connection succeeded: {r:?}\n{out}");
}

/// Runs a fresh echo round trip every `every` for `span`; panics on the first failure. Returns
/// the slowest.
fn round_trips_for(span: Duration, every: Duration, what: &str) -> Duration {
    let end = Instant::now() + span;
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while Instant::now() < end {
        let took = fresh_round_trip(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("echo round trip {n} while {what}: {e}"));
        slowest = slowest.max(took);
        n += 1;
        std::thread::sleep(every);
    }
    assert!(n > 0);
    slowest
}

#[test]
fn clients_that_stop_reading_do_not_stall_others() {
    use ustack_tests::kclient::connect_with_rcvbuf;
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("stalled");
    let up = Up::start(&ns, &[]);
    let pid = up.child.pid();
    let (slowest, cpu, wall, resumed) = ns.run(move || {
        // A chargen client with a tiny receive buffer that reads nothing: the stack's send
        // buffer fills, the window closes, the chargen task must wait without spinning.
        let mut chargen = connect_with_rcvbuf(echo_addr(19), 2048, Duration::from_secs(5))
            .expect("connect to chargen");
        // An echo client that writes without ever reading: echo's task blocks in its write,
        // so it stops reading too; our writes block once both directions are full.
        let echo = TcpStream::connect_timeout(&echo_addr(7).into(), Duration::from_secs(5))
            .expect("connect to echo");
        echo.set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut w = echo.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'e'; 64 << 10];
            let mut sent = 0usize;
            while sent < 32 << 20 && w.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            sent
        });
        std::thread::sleep(Duration::from_secs(1));
        let (t0, cpu0) = (Instant::now(), cpu_time(pid));
        let slowest = round_trips_for(
            Duration::from_secs(2),
            Duration::from_millis(100),
            "two clients sit stalled",
        );
        let (wall, cpu) = (t0.elapsed(), cpu_time(pid).saturating_sub(cpu0));
        let stuck_after = writer.join().unwrap();
        assert!(
            stuck_after < 32 << 20,
            "the echo writer was never blocked ({stuck_after} bytes): not a stalled peer"
        );
        // The stalled chargen reader resumes: the stream goes on (window updates work).
        chargen
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let mut resumed = 0usize;
        while resumed < 1 << 20 {
            match chargen.read(&mut buf) {
                Ok(0) => panic!("chargen closed after {resumed} bytes of resuming"),
                Ok(n) => resumed += n,
                Err(e) => panic!("chargen after the stall, {resumed} bytes in: {e}"),
            }
        }
        drop(echo);
        (slowest, cpu, wall, resumed)
    });
    println!(
        "with a chargen and an echo client stalled: slowest echo round trip {slowest:.2?}; \
         ustack used {cpu:.2?} of CPU in {wall:.2?}; chargen resumed ({resumed} bytes)"
    );
    assert!(
        cpu < wall / 2,
        "ustack burned {cpu:?} of CPU in {wall:?} while two clients sat stalled: spinning?"
    );
    let out = up.stop();
    assert!(counter(&out, "tcp_passive_opens") >= 3, "{out}");
}

#[test]
fn connections_reset_mid_stream_end_only_their_own_tasks() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("resets");
    let up = Up::start(&ns, &[]);
    ns.run(|| {
        // Echo tasks blocked in a write and chargen tasks mid-stream get an error when their
        // client resets; each ends alone, the accept loops go on.
        for i in 0..20u32 {
            let port = if i % 2 == 0 { 7 } else { 19 };
            let mut s = TcpStream::connect_timeout(&echo_addr(port).into(), Duration::from_secs(5))
                .expect("connect");
            s.set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if port == 7 {
                let chunk = vec![b'r'; 64 << 10];
                for _ in 0..16 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            } else {
                let mut buf = vec![0u8; 64 << 10];
                s.read_exact(&mut buf).expect("chargen");
            }
            set_linger_zero(&s).unwrap();
        }
        round_trips_for(
            Duration::from_secs(1),
            Duration::from_millis(20),
            "after 20 resets mid-stream",
        );
    });
    let out = up.stop();
    assert!(counter(&out, "tcp_passive_opens") >= 21, "{out}");
}

/// Sends `n` SYNs to echo from `n` spoofed (address, port) pairs in 198.18.0.100–199 (nobody
/// owns them, so the SYN-ACKs go nowhere), as fast as the device takes them; counts the sent.
fn spoofed_syns(n: u32, first_host: u8, sent: &std::sync::atomic::AtomicU64) {
    use ustack_tests::e2e::raw_socket;
    use ustack_tests::kclient::{link_addr, syn_packet, try_raw_send};
    let fd = raw_socket();
    for i in 0..n {
        let src = SocketAddrV4::new(
            link_addr(first_host + (i % 100) as u8),
            1024 + (i / 100) as u16,
        );
        let pkt = syn_packet(src, echo_addr(7), i.wrapping_mul(2_654_435_761), i as u16);
        // ENOBUFS: the device queue is full; wait for the stack to drain it.
        for _ in 0..100 {
            match try_raw_send(&fd, STACK_ADDR, &pkt) {
                Ok(()) => {
                    sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

#[test]
fn a_burst_of_ten_thousand_spoofed_syns_does_not_stall_the_loop() {
    use std::sync::atomic::AtomicU64;
    if !tun_available() {
        return;
    }
    const SYNS: u32 = 10_000;
    let ns = NetNs::new("synburst");
    let up = Up::start(&ns, &[]);
    let pid = up.child.pid();
    // Room for the whole burst in the device queue (the default is 500 packets and the rest
    // would be dropped by the kernel before the stack sees them): the loop meets all 10,000.
    let txq = ustack_tests::e2e::run_in(
        &ns,
        "ip",
        &["link", "set", "dev", "ustack0", "txqueuelen", "20000"],
        Duration::from_secs(5),
    );
    assert!(txq.status.success(), "{txq:?}");
    let rss_before = rss_kib(pid);
    let sent = Arc::new(AtomicU64::new(0));
    let (s, progress) = (sent.clone(), sent.clone());
    let (during, flood_running, after, flood_took) = ns.run(move || {
        let t0 = Instant::now();
        let flood = std::thread::spawn(move || spoofed_syns(SYNS, 100, &s));
        while progress.load(Ordering::Relaxed) < 2_000 && !flood.is_finished() {
            std::thread::yield_now();
        }
        let during = fresh_round_trip(Duration::from_secs(5));
        let running = !flood.is_finished();
        flood.join().unwrap();
        let flood_took = t0.elapsed();
        (
            during,
            running,
            fresh_round_trip(Duration::from_secs(5)),
            flood_took,
        )
    });
    let rss_after = rss_kib(pid);
    let sent = sent.load(Ordering::Relaxed);
    let during = during.unwrap_or_else(|e| panic!("echo during the SYN burst: {e}"));
    let after = after.unwrap_or_else(|e| panic!("echo after the SYN burst: {e}"));
    println!(
        "{sent} spoofed SYNs sent in {flood_took:.2?}; an echo connection + round trip took \
         {during:.2?} during the burst (burst still running: {flood_running}), {after:.2?} \
         after; RSS {rss_before} → {rss_after} KiB"
    );
    assert!(
        sent >= u64::from(SYNS) * 9 / 10,
        "only {sent} SYNs could be sent"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB under the SYN burst"
    );
    let out = up.stop();
    let rx = counter(&out, "ip_rx_packets");
    let cookies = counter(&out, "tcp_syncookies_sent");
    let dropped = counter(&out, "drops_total");
    println!("  stack: {rx} packets in, {cookies} SYN cookies sent, {dropped} dropped");
    print_drops(&out);
    // Each SYN that reached the stack took a half-open slot (at most the backlog, 256), got
    // a cookie, or was dropped with a reason: none vanished uncounted.
    let syns_in = rx.saturating_sub(50);
    assert!(
        rx >= u64::from(SYNS),
        "only {rx} packets reached the stack of {sent} SYNs sent"
    );
    assert!(
        cookies + dropped + 256 >= syns_in,
        "{syns_in} SYNs in but only {cookies} cookies and {dropped} drops:\n{out}"
    );
    assert!(
        cookies > 0,
        "a burst beyond the half-open table got no cookies:\n{out}"
    );
}

#[test]
fn half_open_connections_do_not_stall_others() {
    use std::sync::atomic::AtomicU64;
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("halfopen");
    let up = Up::start(&ns, &[]);
    let slowest = ns.run(|| {
        // 200 SYNs then silence: they fit the half-open table (256), so each holds state and
        // its SYN-ACK is retransmitted while the others connect.
        let sent = AtomicU64::new(0);
        spoofed_syns(200, 150, &sent);
        assert_eq!(sent.load(Ordering::Relaxed), 200);
        round_trips_for(
            Duration::from_secs(3),
            Duration::from_millis(100),
            "200 connections sit half-open",
        )
    });
    println!("with 200 half-open connections: slowest echo round trip {slowest:.2?}");
    let out = up.stop();
    assert_eq!(
        counter(&out, "tcp_syncookies_sent"),
        0,
        "the half-open SYNs got cookies, not state:\n{out}"
    );
    assert!(counter(&out, "tcp_passive_opens") >= 10, "{out}");
}
