//! Helpers for end-to-end tests: find the `ustack` binary, start `ustack up` inside a test's
//! namespace, run kernel tools there, read the counters it prints when it stops.

use crate::netns::{ChildGuard, NetNs};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

/// The stack's address in every test namespace.
pub const STACK_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The kernel side of the TUN in every test namespace.
pub const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// The `ustack` binary: `$USTACK_BIN`, else `ustack` next to this test's target directory
/// (`target/<profile>/ustack`, built by `cargo build -p ustack-apps`, which `scripts/test.sh`
/// runs before the tests).
pub fn ustack_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("USTACK_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary location");
    let bin = profile_dir.join("ustack");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p ustack-apps` (scripts/test.sh does), \
         or set USTACK_BIN",
        bin.display()
    );
    bin
}

/// The example program `name` of the `ustack-examples` crate (examples/): next to [`ustack_bin`]
/// in `target/<profile>/examples/`, built by `cargo build -p ustack-examples --examples`
/// (scripts/test.sh does; `cargo test --workspace` builds every example too).
pub fn example_bin(name: &str) -> PathBuf {
    let bin = ustack_bin()
        .parent()
        .expect("the ustack binary's directory")
        .join("examples")
        .join(name);
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p ustack-examples --examples`",
        bin.display()
    );
    bin
}

/// A running `ustack up` inside a namespace.
#[derive(Debug)]
pub struct Up {
    /// The process; terminate it to read its counters.
    pub child: ChildGuard,
}

impl Up {
    /// Starts `ustack up` with `extra` arguments in `ns` and waits until the kernel side has its
    /// address and the banner is complete (every service listening). Panics (printing the child's output) if it does not come up in 10 s.
    pub fn start(ns: &NetNs, extra: &[&str]) -> Up {
        let mut cmd = ns.command(ustack_bin());
        cmd.arg("up").args(extra);
        let mut child = ChildGuard::spawn(cmd, "ustack-up");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ns.wait_for_addr("ustack0", HOST_ADDR, Duration::from_millis(100)) {
            if let Some(status) = child.try_wait() {
                panic!(
                    "ustack up exited early with {status}:\n{}\n{}",
                    child.stdout(),
                    child.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "ustack up did not configure ustack0 in 10 s"
            );
        }
        // The banner ends once every service is listening.
        while !child.stdout().contains("Ctrl-C to stop.") {
            if let Some(status) = child.try_wait() {
                panic!(
                    "ustack up exited early with {status}:\n{}\n{}",
                    child.stdout(),
                    child.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "ustack up printed no banner in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Up { child }
    }

    /// Stops it with SIGTERM (as Ctrl-C would) and returns everything it printed to stdout,
    /// which ends with its counters. Panics if it does not exit cleanly.
    pub fn stop(mut self) -> String {
        let status = self.child.terminate(Duration::from_secs(10));
        let out = self.child.stdout();
        assert!(
            status.is_some_and(|s| s.success()),
            "ustack up did not exit cleanly ({status:?}):\n{out}\n{}",
            self.child.stderr()
        );
        out
    }
}

/// Waits up to 10 s until the kernel side of `ustack up --ipv6` has its IPv6 address
/// (configured right after the IPv4 one that [`Up::start`] waits for); panics otherwise.
pub fn wait_host_addr6(ns: &NetNs) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run_in(
            ns,
            "ip",
            &["-6", "-o", "addr", "show", "dev", "ustack0"],
            Duration::from_secs(5),
        );
        if String::from_utf8_lossy(&out.stdout).contains("2001:2::1/64") {
            return;
        }
        assert!(Instant::now() < deadline, "no 2001:2::1 on ustack0");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of counter `name` in the table `ustack up` prints when it stops (0 if absent).
pub fn counter(output: &str, name: &str) -> u64 {
    output
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (k, v) = (it.next()?, it.next()?);
            let k = if k == "drop" { (v, it.next()?) } else { (k, v) };
            Some(k)
        })
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `program args` inside `ns` to completion, with a time limit; panics if it cannot run.
pub fn run_in(ns: &NetNs, program: &str, args: &[&str], limit: Duration) -> Output {
    let mut cmd = ns.command(program);
    cmd.args(args);
    run_limited(cmd, program, limit)
}

/// Runs `cmd` to completion within `limit`, capturing its output; panics (with what it
/// printed) if it does not finish in time or cannot run.
pub fn run_limited(cmd: std::process::Command, label: &str, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = ChildGuard::spawn(cmd, label);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            child.terminate(Duration::from_secs(2));
            panic!("{shown} did not finish in {limit:?}:\n{}", child.stdout());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: child.stdout().into_bytes(),
        stderr: child.stderr().into_bytes(),
    }
}

/// Parses iputils ping's summary: (transmitted, received).
pub fn ping_summary(stdout: &str) -> Option<(u64, u64)> {
    let line = stdout.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let tx = nums.next()?.parse().ok()?;
    let rx = nums.next()?.parse().ok()?;
    Some((tx, rx))
}

/// A raw `IPPROTO_RAW` socket (we write whole IPv4 headers). Create it on a thread inside the
/// test's namespace (`NetNs::run`) so the packets stay there.
pub fn raw_socket() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a freshly opened descriptor nobody else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Sends one whole IPv4 packet on a raw socket to `dst`.
pub fn raw_send(fd: &std::os::fd::OwnedFd, dst: Ipv4Addr, packet: &[u8]) {
    use std::os::fd::AsRawFd;
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
    // SAFETY: `packet` and `sa` are valid for the lengths given for the duration of the call.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert!(
        rc == packet.len() as isize,
        "sendto: {}",
        std::io::Error::last_os_error()
    );
}

/// Resident memory of process `pid` in KiB (0 if unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Anonymous resident memory of `pid`, KiB (`RssAnon`: the heap and stacks, not the binary's
/// code pages, which a run touches more of without holding anything; 0 if unreadable).
pub fn rss_anon_kib(pid: u32) -> u64 {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Deterministic pseudo-random bytes for integrity checks: `rand`'s xoshiro256++ seeded with
/// `seed` (a named portable generator: the same bytes on every platform and `rand` 0.10 release).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut data = vec![0; len];
    rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_and_ping_summaries() {
        let out = "ip_rx_packets                5103\nicmp_echo_replied 7\ndrops_total 3\n  drop FragEvicted          12  (fragment: ...)\n";
        assert_eq!(counter(out, "ip_rx_packets"), 5103);
        assert_eq!(counter(out, "FragEvicted"), 12);
        assert_eq!(counter(out, "nope"), 0);
        let ping = "5000 packets transmitted, 4998 received, 0.04% packet loss, time 73ms";
        assert_eq!(ping_summary(ping), Some((5000, 4998)));
        assert_ne!(pseudo_random(64, 1), pseudo_random(64, 2));
    }
}

/// A process's status, stdout and stderr, for failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `curl -sS --max-time SECS ARGS` in `ns` and asserts it succeeded; returns (stdout, the
/// whole output for messages).
pub fn curl(ns: &NetNs, max_time_secs: u64, args: &[&str]) -> (String, String) {
    let secs = max_time_secs.to_string();
    let mut all = vec!["-sS", "--max-time", secs.as_str()];
    all.extend_from_slice(args);
    let out = run_in(ns, "curl", &all, Duration::from_secs(max_time_secs + 10));
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        output_text(&out)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        output_text(&out),
    )
}

/// A scratch directory for one test (`$TMPDIR/ustack-e2e-<prefix>-<pid>-<tag>`), removed on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates it afresh.
    pub fn new(prefix: &str, tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ustack-e2e-{prefix}-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits up to 10 s until `child` printed `what` on stderr; panics with its output otherwise.
pub fn wait_stderr(child: &ChildGuard, what: &str, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child.stderr().contains(what) {
        assert!(
            Instant::now() < deadline,
            "{label} did not print {what:?}:\n{}\n{}",
            child.stdout(),
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `tcpdump` on `dev` in `ns` writing what `filter` matches to `file`, each packet as it
/// comes (`--immediate-mode -U`) and with a 32 MiB buffer so that a busy machine drops none;
/// returns once it listens.
pub fn kernel_tcpdump(
    ns: &NetNs,
    dev: &str,
    file: &std::path::Path,
    filter: &[&str],
) -> ChildGuard {
    let mut cmd = ns.command("tcpdump");
    cmd.args([
        "--immediate-mode",
        "-B",
        "32768",
        "-i",
        dev,
        "-n",
        "-U",
        "-w",
    ])
    .arg(file)
    .args(filter);
    let dump = ChildGuard::spawn(cmd, "tcpdump");
    wait_stderr(&dump, "listening on", "tcpdump");
    dump
}
