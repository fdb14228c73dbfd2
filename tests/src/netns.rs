//! Harness for end-to-end tests against the real Linux kernel: a network namespace per test, a
//! thread that runs code inside it, and child processes that cannot outlive the test.
//!
//! Everything a test creates lives in its own namespace and is removed on drop, also while the
//! test is panicking. Declare [`ChildGuard`]s (and TUN devices) *after* the [`NetNs`] they use,
//! so that they are dropped first.
//!
//! These tests need root (for `ip netns` and `/dev/net/tun`). [`tun_available`] decides whether
//! to run them: with `USTACK_REQUIRE_TUN=1` a missing capability fails the test instead of
//! skipping it.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Numbers the namespaces and capture files of this process, keeping their names unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The first part of every namespace name: `$USTACK_NETNS_PREFIX` (its name-safe characters,
/// at most 8), else `ustk` — so that people sharing a machine can tell their namespaces apart.
fn netns_prefix() -> String {
    let p = std::env::var("USTACK_NETNS_PREFIX").unwrap_or_default();
    let p = sanitize(&p, 8);
    if p.is_empty() {
        "ustk".into()
    } else {
        p
    }
}

/// Whether `USTACK_REQUIRE_TUN=1`, i.e. missing capabilities are failures, not skips.
fn tun_required() -> bool {
    std::env::var("USTACK_REQUIRE_TUN").as_deref() == Ok("1")
}

/// Checks the environment can run TUN/netns tests: running as root (euid 0), /dev/net/tun
/// exists, `ip netns add` works (a probe namespace is created and deleted).
///
/// Returns true if usable. If not: with `USTACK_REQUIRE_TUN=1` this panics with the reason;
/// otherwise it prints `skipping: <reason>` and returns false. The probe runs once per process.
pub fn tun_available() -> bool {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    match RESULT.get_or_init(probe_environment) {
        Ok(()) => true,
        Err(reason) if tun_required() => {
            panic!("USTACK_REQUIRE_TUN=1 but TUN/netns tests cannot run: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping: {reason}");
            record_skip(reason);
            false
        }
    }
}

/// Appends the skipped test's name to `$USTACK_SKIP_LOG` (one line per skip), so that
/// scripts/test.sh can report skips separately instead of counting them as passes.
fn record_skip(reason: &str) {
    let Some(path) = std::env::var_os("USTACK_SKIP_LOG") else {
        return;
    };
    let test = thread::current().name().unwrap_or("?").to_string();
    let line = format!("{test}: {reason}\n");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "could not record the skip in {}: {e}",
            path.to_string_lossy()
        );
    }
}

fn probe_environment() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(format!("not running as root (euid {euid})"));
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => {}
        Err(e) => return Err(format!("cannot open /dev/net/tun: {e}")),
    }
    let probe = format!(
        "{}-{}-{}-probe",
        netns_prefix(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    run_ip(&["netns", "add", &probe])?;
    run_ip(&["netns", "delete", &probe])
}

/// Runs `ip ARGS...`; the error names the command and carries its stderr.
fn run_ip(args: &[&str]) -> Result<(), String> {
    let shown = format!("ip {}", args.join(" "));
    let output = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            "the `ip` command (iproute2) is needed".to_string()
        } else {
            format!("running `{shown}`: {e}")
        }
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Keeps the characters of `tag` that are safe in a namespace or file name, at most `max`.
fn sanitize(tag: &str, max: usize) -> String {
    tag.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(max)
        .collect()
}

/// A namespace name nobody uses yet, as [`NetNs::new`] gives them (`ustk-<pid>-<counter>-<tag>`,
/// or `$USTACK_NETNS_PREFIX` first): for a test whose program creates the namespace itself.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tag = sanitize(tag, 16);
    let (pid, prefix) = (std::process::id(), netns_prefix());
    if tag.is_empty() {
        format!("{prefix}-{pid}-{n}")
    } else {
        format!("{prefix}-{pid}-{n}-{tag}")
    }
}

/// A network namespace created for one test, deleted on drop (also while panicking).
///
/// Its name is `ustk-<pid>-<counter>-<tag>` (`ustk` or `$USTACK_NETNS_PREFIX`); `lo` is up
/// inside it.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace and brings up its loopback interface. Panics with the failing
    /// command and its stderr if that is impossible.
    pub fn new(tag: &str) -> NetNs {
        let name = unique_name(tag);
        if let Err(e) = run_ip(&["netns", "add", &name]) {
            panic!("creating network namespace {name}: {e}");
        }
        // From here on, dropping `ns` (also by the panic below) deletes the namespace.
        let ns = NetNs { name };
        if let Err(e) = run_ip(&["-n", &ns.name, "link", "set", "dev", "lo", "up"]) {
            panic!("bringing up lo in network namespace {}: {e}", ns.name);
        }
        ns
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A Command that runs `program` (add arguments to it) inside the namespace, via
    /// `ip netns exec NAME program`. iproute2 execs the program, so the child's pid is its own.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `f` on a fresh thread that has joined this namespace with setns(2) (network
    /// namespaces are per thread), returning its result. Sockets and TUN devices created there
    /// stay in the namespace; processes spawned there start in it. A panic in `f` is resumed
    /// on the calling thread.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        let ns_file =
            File::open(&path).unwrap_or_else(|e| panic!("opening namespace file {path}: {e}"));
        let name = self.name.clone();
        let handle = thread::Builder::new()
            .name(format!("netns {}", self.name))
            .spawn(move || {
                // SAFETY: `ns_file` is an open namespace file; setns only changes this
                // thread's network namespace and touches no memory of ours.
                let rc = unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    panic!(
                        "setns into network namespace {name}: {}",
                        io::Error::last_os_error()
                    );
                }
                drop(ns_file);
                f()
            })
            .unwrap_or_else(|e| panic!("spawning a thread for namespace {}: {e}", self.name));
        match handle.join() {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Waits up to `timeout` until `ip -n NAME addr show dev IFNAME` shows `addr` (the device
    /// got configured). Returns whether it did.
    pub fn wait_for_addr(&self, ifname: &str, addr: Ipv4Addr, timeout: Duration) -> bool {
        let needle = format!("inet {addr}/");
        let deadline = Instant::now() + timeout;
        loop {
            let shown = Command::new("ip")
                .args(["-n", &self.name, "-4", "addr", "show", "dev", ifname])
                .stderr(Stdio::null())
                .output();
            if let Ok(out) = shown {
                if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&needle) {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "delete", &self.name]) {
            eprintln!("warning: deleting network namespace {}: {e}", self.name);
        }
    }
}

/// A child process that is terminated (SIGTERM, then SIGKILL after 3 s) and reaped on drop.
///
/// Its stdout and stderr go to temporary files, readable while it runs; if the test is
/// panicking when the guard drops, both are printed to help diagnose the failure.
#[derive(Debug)]
pub struct ChildGuard {
    label: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin from /dev/null and outputs captured. Panics with a clear message
    /// if it cannot be started.
    pub fn spawn(mut cmd: Command, label: &str) -> ChildGuard {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let stem = format!("ustk-{}-{n}-{}", std::process::id(), sanitize(label, 32));
        let dir = std::env::temp_dir();
        let stdout_path = dir.join(format!("{stem}.stdout"));
        let stderr_path = dir.join(format!("{stem}.stderr"));
        let create = |path: &PathBuf| {
            File::create(path)
                .unwrap_or_else(|e| panic!("creating {} for {label}: {e}", path.display()))
        };
        let (out, err) = (create(&stdout_path), create(&stderr_path));
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_file(&stdout_path);
                let _ = std::fs::remove_file(&stderr_path);
                panic!("spawning {label} ({cmd:?}): {e}");
            }
        };
        ChildGuard {
            label: label.to_string(),
            child,
            status: None,
            stdout_path,
            stderr_path,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `timeout` for the child to exit. Returns its exit status,
    /// or None if it had to be killed with SIGKILL. If it already exited, returns that status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return self.kill();
        };
        // SAFETY: kill takes no pointers. The child has not been reaped (try_wait returned
        // None), so `pid` still names our child, at worst as a zombie, never another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        if rc != 0 {
            eprintln!(
                "warning: SIGTERM to {} (pid {pid}): {}",
                self.label,
                io::Error::last_os_error()
            );
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return self.kill();
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILLs and reaps the child; always None (the exit status is then kept for try_wait).
    fn kill(&mut self) -> Option<ExitStatus> {
        if let Err(e) = self.child.kill() {
            eprintln!("warning: SIGKILL to {}: {e}", self.label);
        }
        match self.child.wait() {
            Ok(status) => self.status = Some(status),
            Err(e) => eprintln!("warning: reaping {}: {e}", self.label),
        }
        None
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_capture(&self.stdout_path)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_capture(&self.stderr_path)
    }

    /// The exit status if the child has exited (it is reaped then), without blocking.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.child.try_wait() {
                Ok(status) => self.status = status,
                Err(e) => eprintln!("warning: waiting for {}: {e}", self.label),
            }
        }
        self.status
    }
}

fn read_capture(path: &PathBuf) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.terminate(Duration::from_secs(3));
        }
        if thread::panicking() {
            eprintln!(
                "--- {} (pid {}) exited with {:?} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.label,
                self.child.id(),
                self.status,
                self.stdout(),
                self.stderr()
            );
        }
        let _ = std::fs::remove_file(&self.stdout_path);
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}
