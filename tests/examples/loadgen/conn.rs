//! Many-connection modes: the connection rate against one listener, and N idle connections with
//! the server's memory per connection.

use crate::stream::{connect, fail, set_linger_zero};
use crate::{Common, Done, Outcome};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use ustack_tests::bench::{percentile, Better, Metric};

/// How a client ends each connection of the rate test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Close {
    /// SO_LINGER 0: RST, no TIME-WAIT anywhere.
    Rst,
    /// shutdown(WR), then wait for the server's FIN.
    Fin,
}

impl Close {
    fn name(self) -> &'static str {
        match self {
            Close::Rst => "rst",
            Close::Fin => "fin",
        }
    }
}

pub fn conn_metrics(threads: usize, close: Close) -> Vec<Metric> {
    let (key, how) = match close {
        Close::Rst => ("conn_rst", "RST close"),
        Close::Fin => ("conn_fin", "FIN close"),
    };
    vec![
        Metric::new(
            &format!("{key}_rate"),
            format!(
                "connections/s (connect, 1 B echo, {how}), one listener, {threads} client threads"
            ),
            Better::Higher,
        ),
        Metric::new(
            &format!("{key}_failed"),
            format!("failed connections per run ({how})"),
            Better::Lower,
        ),
    ]
}

/// One connection of the rate test: connect, a 1-byte echo (the server's app accepted and
/// answered), close.
fn one(addr: SocketAddr, close: Close, timeout: Duration) -> io::Result<()> {
    let mut s = connect(addr, timeout)?;
    s.set_nodelay(true)?;
    s.write_all(b"x")?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    if b != *b"x" {
        return Err(io::Error::other("echo returned a different byte"));
    }
    match close {
        Close::Rst => set_linger_zero(&s),
        Close::Fin => {
            s.shutdown(Shutdown::Write)?;
            match s.read(&mut b)? {
                0 => Ok(()),
                _ => Err(io::Error::other("data after the echo")),
            }
        }
    }
}

/// What one client thread saw.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    latency_us: Vec<f64>,
    refused: u64,
    timed_out: u64,
    reset: u64,
    other: u64,
    first_error: Option<String>,
    stalled: bool,
}

impl Tally {
    fn failed(&self) -> u64 {
        self.refused + self.timed_out + self.reset + self.other
    }

    fn count(&mut self, e: &io::Error) {
        match e.kind() {
            ErrorKind::ConnectionRefused => self.refused += 1,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => self.timed_out += 1,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => self.reset += 1,
            _ => self.other += 1,
        }
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    fn merge(&mut self, t: Tally) {
        self.ok += t.ok;
        self.latency_us.extend(t.latency_us);
        self.refused += t.refused;
        self.timed_out += t.timed_out;
        self.reset += t.reset;
        self.other += t.other;
        self.stalled |= t.stalled;
        if self.first_error.is_none() {
            self.first_error = t.first_error;
        }
    }
}

fn client(addr: SocketAddr, close: Close, until: Instant, timeout: Duration) -> Tally {
    let mut t = Tally::default();
    let mut last_ok = Instant::now();
    while Instant::now() < until {
        let t0 = Instant::now();
        match one(addr, close, timeout) {
            Ok(()) => {
                t.ok += 1;
                t.latency_us.push(t0.elapsed().as_secs_f64() * 1e6);
                last_ok = Instant::now();
            }
            Err(e) => {
                t.count(&e);
                if last_ok.elapsed() > timeout {
                    t.stalled = true; // no success for a whole timeout: stop hammering
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    t
}

pub fn conn(c: &Common, port: u16, threads: usize, close: Close) -> Outcome {
    let addr = SocketAddr::from((c.addr, port));
    let (until, timeout) = (Instant::now() + c.duration(), c.timeout());
    let t0 = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| std::thread::spawn(move || client(addr, close, until, timeout)))
        .collect();
    let mut all = Tally::default();
    for w in workers {
        all.merge(
            w.join()
                .map_err(|_| "a client thread panicked".to_string())?,
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    all.latency_us.sort_by(f64::total_cmp);
    let p = |q| percentile(&all.latency_us, q).unwrap_or(f64::NAN);
    let failures = format!(
        "{} failed (refused {}, timed out {}, reset {}, other {}){}{}",
        all.failed(),
        all.refused,
        all.timed_out,
        all.reset,
        all.other,
        all.first_error
            .as_ref()
            .map_or(String::new(), |e| format!("; first error: {e}")),
        if all.stalled {
            "; a client stalled (no success for a whole timeout)"
        } else {
            ""
        },
    );
    if all.ok == 0 || all.stalled {
        return Err(format!("{} connections completed, {failures}", all.ok));
    }
    let detail = format!(
        "{} connections ({} close) in {secs:.2} s, {failures}; per connection p50 {:.0} µs, p99 {:.0} µs",
        all.ok,
        close.name(),
        p(50.0),
        p(99.0)
    );
    Ok(Done {
        values: vec![all.ok as f64 / secs, all.failed() as f64],
        detail,
        work: all.ok as f64,
    })
}

pub fn idle_metrics(count: usize, rss: bool) -> Vec<Metric> {
    let mut m = vec![Metric::new(
        "idle_open_s",
        format!("{count} idle connections opened (each answers a 1 B echo), s"),
        Better::Lower,
    )];
    if rss {
        m.push(Metric::new(
            "idle_rss_kib",
            format!("server RSS per idle connection ({count} open), KiB"),
            Better::Lower,
        ));
    }
    m
}

/// The parameters of the idle mode.
#[derive(Debug)]
pub struct IdleParams {
    pub port: u16,
    pub count: usize,
    pub threads: usize,
    pub server_pid: Option<u32>,
    pub settle: Duration,
    pub open_timeout: Duration,
}

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path}: no VmRSS line"))
}

/// Raises the soft open-files limit to at least `need` (up to the hard limit).
fn raise_nofile(need: u64) -> Result<(), String> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if r.rlim_cur >= need {
        return Ok(());
    }
    if r.rlim_max < need {
        return Err(format!(
            "{need} descriptors needed, hard limit is {}",
            r.rlim_max
        ));
    }
    r.rlim_cur = need;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(format!("setrlimit: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Opens `n` connections that each answered a 1-byte echo, or says how far it got.
fn open_some(
    addr: SocketAddr,
    n: usize,
    until: Instant,
    timeout: Duration,
) -> Result<Vec<TcpStream>, String> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        if Instant::now() >= until {
            return Err(format!("opened {} of {n} in time", v.len()));
        }
        let open = || -> io::Result<TcpStream> {
            let mut s = connect(addr, timeout)?;
            s.set_nodelay(true)?;
            s.write_all(b"i")?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b)?;
            Ok(s)
        };
        let s = open().map_err(|e| fail(&format!("connection {}", v.len() + 1), &e))?;
        v.push(s);
    }
    Ok(v)
}

/// Each connection echoes one more byte (requests first, then answers).
fn still_served(conns: &mut [TcpStream], timeout: Duration) -> Result<(), String> {
    let mut dead = 0usize;
    let mut first = None;
    let mut alive = vec![true; conns.len()];
    for (i, s) in conns.iter_mut().enumerate() {
        if let Err(e) = s.write_all(b"j") {
            alive[i] = false;
            dead += 1;
            first.get_or_insert_with(|| fail("write", &e));
        }
    }
    // One deadline for all the answers, so that a dead server costs one timeout, not one each.
    let until = Instant::now() + timeout;
    for (i, s) in conns.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        if alive[i] {
            let left = until.saturating_duration_since(Instant::now());
            let r = s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .and_then(|()| s.read_exact(&mut b));
            if let Err(e) = r {
                dead += 1;
                first.get_or_insert_with(|| fail("read", &e));
            }
        }
    }
    match first {
        None => Ok(()),
        Some(e) => Err(format!(
            "{dead} of {} idle connections no longer answered (first: {e})",
            conns.len()
        )),
    }
}

pub fn idle(c: &Common, p: &IdleParams) -> Outcome {
    raise_nofile(p.count as u64 + 64)?;
    let addr = SocketAddr::from((c.addr, p.port));
    let rss0 = p.server_pid.map(rss_kib).transpose()?;
    let threads = p.threads.clamp(1, p.count.max(1));
    let (until, timeout) = (Instant::now() + p.open_timeout, c.timeout());
    let t0 = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let n = p.count / threads + usize::from(i < p.count % threads);
            std::thread::spawn(move || open_some(addr, n, until, timeout))
        })
        .collect();
    let mut conns = Vec::with_capacity(p.count);
    let mut errors = Vec::new();
    for w in workers {
        match w
            .join()
            .map_err(|_| "an opening thread panicked".to_string())?
        {
            Ok(v) => conns.extend(v),
            Err(e) => errors.push(e),
        }
    }
    let open_s = t0.elapsed().as_secs_f64();
    if !errors.is_empty() {
        let held = conns.len();
        drop_with_reset(conns);
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" (and {} more opening threads failed)", n - 1),
        };
        return Err(format!(
            "opening {} idle connections: {}{more}; {held} were open after {open_s:.1} s",
            p.count, errors[0]
        ));
    }
    std::thread::sleep(p.settle);
    let rss1 = p.server_pid.map(rss_kib).transpose()?;
    let check = still_served(&mut conns, timeout);
    drop_with_reset(conns);
    check?;
    let mut values = vec![open_s];
    let mut detail = format!(
        "{} connections opened in {open_s:.2} s by {threads} threads, all still answering",
        p.count
    );
    if let (Some(a), Some(b)) = (rss0, rss1) {
        let per = (b as f64 - a as f64) / p.count.max(1) as f64;
        values.push(per);
        detail.push_str(&format!("; server RSS {a} → {b} KiB"));
    }
    Ok(Done {
        values,
        detail,
        work: p.count as f64,
    })
}

fn drop_with_reset(conns: Vec<TcpStream>) {
    for s in conns {
        let _ = set_linger_zero(&s);
    }
}
