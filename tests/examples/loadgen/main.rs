//! The kernel-side load client of `scripts/bench-tun.sh`: drives a stack behind a TUN (ustack's
//! `ustack up` or `smoltcp_tun_server`) through the Linux kernel's own sockets, so both stacks are
//! measured by the same client on the same services (echo 7, discard 9, chargen 19, ping).
//!
//! Every mode bounds itself (a duration or a count, and a timeout on every socket operation),
//! checks what it got back (echoed bytes, the chargen stream, ICMP payloads, the server's FIN),
//! prints a summary, and exits 1 with the reason if the run failed. `--record FILE --stack NAME`
//! appends the numbers (or `fail`) to a records file that `loadgen report FILE` turns into the
//! side-by-side table (see `ustack_tests::bench`).
//!
//! Run it only inside the benchmark's network namespace (`ip netns exec ustack-bench-… loadgen
//! …`): the stack's 198.18.0.0/24 exists only there, and outside it the traffic would follow the
//! real default route.

mod conn;
mod icmp;
mod stream;

use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;
use ustack_tests::bench::{self, Better, Metric, Record};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Kernel-side load client for the TUN benchmarks (run inside the benchmark namespace)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

/// Options every measuring mode takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Address of the stack under test.
    #[arg(long, default_value = "198.18.0.2")]
    pub addr: Ipv4Addr,
    /// How long the measurement runs, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Longest wait for any one socket operation (connect, read, write), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Append the numbers (or `fail`) to this records file, for `loadgen report`.
    #[arg(long, requires = "stack")]
    pub record: Option<PathBuf>,
    /// Name of the stack under test, written with --record (e.g. ustack, smoltcp).
    #[arg(long)]
    pub stack: Option<String>,
    /// PID of the server process: adds its CPU time per unit of work (and, in idle, its RSS).
    #[arg(long)]
    pub server_pid: Option<u32>,
}

impl Common {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.max(0.0))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.001))
    }
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Bulk kernel → stack into discard: writes for --duration, half-closes, and waits for the
    /// server's FIN (every byte reached the app). Gbit/s.
    Push {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 9)]
        port: u16,
        /// Stop earlier after this many GiB.
        #[arg(long, default_value_t = 64)]
        max_gib: u64,
    },
    /// Bulk stack → kernel from chargen: reads for --duration, checks every byte against the
    /// RFC 864 stream, then resets. Gbit/s.
    Pull {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 19)]
        port: u16,
        #[arg(long, default_value_t = 64)]
        max_gib: u64,
        /// Count the bytes but do not compare them with the chargen stream.
        #[arg(long)]
        no_verify: bool,
    },
    /// Request/response on one echo connection (TCP_NODELAY): send --size bytes, wait for them
    /// back, repeat for --duration. Rate and p50/p99 latency.
    Rr {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 7)]
        port: u16,
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Connection rate against one listener: --threads clients each loop connect, 1 B echo,
    /// close (RST via SO_LINGER 0, or FIN and wait for the server's FIN). Connections/s and
    /// failed connections. With FIN close the client's TIME-WAIT bounds the rate unless
    /// net.ipv4.tcp_max_tw_buckets is lowered in the namespace (the script sets it to 0).
    Conn {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 7)]
        port: u16,
        #[arg(long, default_value_t = 4)]
        threads: usize,
        #[arg(long, value_enum, default_value_t = conn::Close::Rst)]
        close: conn::Close,
    },
    /// Opens --count idle echo connections (each answers a 1 B echo), then checks they all still
    /// answer and resets them. Time to open and, with --server-pid, the server's RSS per
    /// connection (VmRSS from /proc/PID/status before and after).
    Idle {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 7)]
        port: u16,
        #[arg(long, default_value_t = 2000)]
        count: usize,
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// Pause between the last connection and the second RSS reading, milliseconds.
        #[arg(long, default_value_t = 500)]
        settle_ms: u64,
        /// Give up if opening them all takes longer, seconds.
        #[arg(long, default_value_t = 300.0)]
        open_timeout: f64,
    },
    /// ICMP echo RTT: --count pings (raw socket), one at a time, --interval-ms apart. p50/p99.
    Ping {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
        /// ICMP payload bytes.
        #[arg(long, default_value_t = 56)]
        size: usize,
    },
    /// Flood ping for --duration: a new echo request as soon as a reply comes back (like
    /// `ping -f`), --window requests outstanding. Replies/s.
    Flood {
        #[command(flatten)]
        c: Common,
        #[arg(long, default_value_t = 1)]
        window: usize,
        #[arg(long, default_value_t = 56)]
        size: usize,
    },
    /// Waits until a TCP connection to --port succeeds (the server is up), within --timeout.
    Wait {
        #[arg(long, default_value = "198.18.0.2")]
        addr: Ipv4Addr,
        #[arg(long, default_value_t = 9)]
        port: u16,
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Prints the side-by-side table (medians, ratio) and every run from a records file.
    Report {
        file: PathBuf,
        /// The stack in the denominator of the ratio.
        #[arg(long, default_value = "smoltcp")]
        base: String,
        #[arg(long, default_value = "ustack")]
        other: String,
    },
}

/// What a measuring mode gives back: one value per metric, in the order of its metric list, a
/// line for people, and how much work was done (the unit of the server-CPU metric: GB moved,
/// round trips, connections, replies).
#[derive(Debug)]
pub struct Done {
    pub values: Vec<f64>,
    pub detail: String,
    pub work: f64,
}

pub type Outcome = Result<Done, String>;

/// A mode ready to run: its metrics, its server-CPU metric (with the factor from CPU seconds per
/// unit of work to the metric's unit), and the run itself.
struct Plan {
    name: &'static str,
    c: Common,
    metrics: Vec<Metric>,
    cpu: Option<(Metric, f64)>,
    run: Box<dyn FnOnce(&Common) -> Outcome>,
}

impl Plan {
    fn new(
        name: &'static str,
        c: Common,
        metrics: Vec<Metric>,
        cpu: Option<(Metric, f64)>,
        run: Box<dyn FnOnce(&Common) -> Outcome>,
    ) -> Plan {
        Plan {
            name,
            c,
            metrics,
            cpu,
            run,
        }
    }
}

fn cpu(key: &str, label: &str, scale: f64) -> Option<(Metric, f64)> {
    Some((Metric::new(key, label, Better::Lower), scale))
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.mode {
        Mode::Wait {
            addr,
            port,
            timeout,
        } => stream::wait(addr, port, Duration::from_secs_f64(timeout)),
        Mode::Report { file, base, other } => report(&file, &base, &other),
        mode => measure(mode),
    };
    match code {
        Ok(()) => {}
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}

fn plan(mode: Mode) -> Plan {
    let p = Plan::new;
    match mode {
        Mode::Push { c, port, max_gib } => p(
            "push",
            c,
            stream::push_metrics(),
            cpu("push_cpu", "server CPU per GB pushed, ms", 1e3),
            Box::new(move |c| stream::push(c, port, max_gib << 30)),
        ),
        Mode::Pull {
            c,
            port,
            max_gib,
            no_verify,
        } => p(
            "pull",
            c,
            stream::pull_metrics(),
            cpu("pull_cpu", "server CPU per GB pulled, ms", 1e3),
            Box::new(move |c| stream::pull(c, port, max_gib << 30, !no_verify)),
        ),
        Mode::Rr { c, port, size } => p(
            "rr",
            c,
            stream::rr_metrics(size),
            cpu("rr_cpu", "server CPU per round trip, µs", 1e6),
            Box::new(move |c| stream::rr(c, port, size)),
        ),
        Mode::Conn {
            c,
            port,
            threads,
            close,
        } => {
            let (key, label) = match close {
                conn::Close::Rst => ("conn_rst_cpu", "server CPU per connection (RST close), µs"),
                conn::Close::Fin => ("conn_fin_cpu", "server CPU per connection (FIN close), µs"),
            };
            p(
                "conn",
                c,
                conn::conn_metrics(threads, close),
                cpu(key, label, 1e6),
                Box::new(move |c| conn::conn(c, port, threads, close)),
            )
        }
        Mode::Idle {
            c,
            port,
            count,
            threads,
            settle_ms,
            open_timeout,
        } => {
            let params = conn::IdleParams {
                port,
                count,
                threads,
                server_pid: c.server_pid,
                settle: Duration::from_millis(settle_ms),
                open_timeout: Duration::from_secs_f64(open_timeout),
            };
            p(
                "idle",
                c.clone(),
                conn::idle_metrics(count, c.server_pid.is_some()),
                cpu("idle_cpu", "server CPU per idle connection opened, µs", 1e6),
                Box::new(move |c| conn::idle(c, &params)),
            )
        }
        Mode::Ping {
            c,
            count,
            interval_ms,
            size,
        } => {
            let interval = Duration::from_millis(interval_ms);
            p(
                "ping",
                c,
                icmp::ping_metrics(size, interval),
                None,
                Box::new(move |c| icmp::ping(c, count, interval, size)),
            )
        }
        Mode::Flood { c, window, size } => p(
            "flood",
            c,
            icmp::flood_metrics(window, size),
            cpu("flood_cpu", "server CPU per ping reply, µs", 1e6),
            Box::new(move |c| icmp::flood(c, window, size)),
        ),
        Mode::Wait { .. } | Mode::Report { .. } => unreachable!("handled in main"),
    }
}

/// Runs a mode; with --server-pid also the server's CPU time (user + system, dead threads
/// included) per unit of work, which the other stacks' load on a shared machine disturbs far
/// less than rates do.
fn measure(mode: Mode) -> Result<(), String> {
    let Plan {
        name,
        c,
        mut metrics,
        cpu,
        run,
    } = plan(mode);
    let cpu = cpu.filter(|_| c.server_pid.is_some());
    let cpu_before = match (&cpu, c.server_pid) {
        (Some(_), Some(pid)) => Some(cpu_seconds(pid)?),
        _ => None,
    };
    let mut outcome = run(&c);
    if let Ok(done) = &outcome {
        assert_eq!(
            done.values.len(),
            metrics.len(),
            "{name}: one value per metric"
        );
    }
    if let (Some((m, scale)), Some(before), Some(pid)) = (cpu, cpu_before, c.server_pid) {
        metrics.push(m);
        if let Ok(done) = &mut outcome {
            let used = cpu_seconds(pid)? - before;
            done.values
                .push(used * scale / done.work.max(f64::MIN_POSITIVE));
            done.detail.push_str(&format!("; server CPU {used:.2} s"));
        }
    }
    if let Some(path) = &c.record {
        record(path, c.stack.as_deref().unwrap_or("?"), &metrics, &outcome)?;
    }
    print_outcome(name, &c, &metrics, &outcome);
    outcome.map(|_| ()).map_err(|e| format!("{name}: {e}"))
}

/// User + system CPU time of a process and all its threads, dead ones included
/// (/proc/PID/stat fields 14 and 15).
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after it start at the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        return Err(format!("{path}: no utime/stime"));
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((utime + stime) as f64 / hz)
}

fn record(
    path: &PathBuf,
    stack: &str,
    metrics: &[Metric],
    outcome: &Outcome,
) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("records file {}: {e}", path.display()))?;
    for (i, m) in metrics.iter().enumerate() {
        let r = Record {
            stack: stack.into(),
            metric: m.clone(),
            value: outcome.as_ref().ok().map(|d| d.values[i]),
        };
        writeln!(f, "{}", r.to_line())
            .map_err(|e| format!("records file {}: {e}", path.display()))?;
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn print_outcome(name: &str, c: &Common, metrics: &[Metric], outcome: &Outcome) {
    let stack = c.stack.as_deref().map_or("null".into(), json_string);
    match (outcome, c.json) {
        (Ok(Done { values, detail, .. }), false) => {
            println!("{name}: {detail}");
            for (m, v) in metrics.iter().zip(values) {
                println!("  {}: {}", m.label, bench::format_number(*v));
            }
        }
        (Ok(Done { values, detail, .. }), true) => {
            let results: Vec<String> = metrics
                .iter()
                .zip(values)
                .map(|(m, v)| format!("{}:{v}", json_string(&m.key)))
                .collect();
            println!(
                "{{\"mode\":{},\"stack\":{stack},\"ok\":true,\"detail\":{},\"results\":{{{}}}}}",
                json_string(name),
                json_string(detail),
                results.join(",")
            );
        }
        (Err(_), false) => {} // main prints the error on stderr
        (Err(e), true) => println!(
            "{{\"mode\":{},\"stack\":{stack},\"ok\":false,\"error\":{}}}",
            json_string(name),
            json_string(e)
        ),
    }
}

fn report(file: &PathBuf, base: &str, other: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let records = bench::parse_records(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    print!("{}", bench::table(&records, base, other));
    println!();
    println!("every run:");
    print!("{}", bench::runs_listing(&records));
    Ok(())
}
