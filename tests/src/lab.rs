//! `ustack lab` for the end-to-end tests: a lab brought up in the foreground under a unique
//! name (`$USTACK_NETNS_PREFIX`-…-lab, so every namespace of it carries the prefix), commands run
//! inside its namespaces, and `lab down`. Dropping a [`Lab`] stops it and removes leftovers.

use crate::e2e::{run_limited, ustack_bin};
use crate::netns::{unique_name, ChildGuard};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Longest a command run inside a lab may take (traces wait at most 2 s per hop, a handful of
/// hops).
pub const LIMIT: Duration = Duration::from_secs(40);

/// A unique lab name (it prefixes the lab's namespaces).
pub fn lab_name() -> String {
    unique_name("lab")
}

/// The namespaces of lab `name` that exist now.
pub fn lab_namespaces(name: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let prefix = format!("{name}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// `ustack lab ARGS`, to completion.
pub fn lab_cmd(args: &[&str]) -> Output {
    let mut cmd = Command::new(ustack_bin());
    cmd.arg("lab").args(args);
    run_limited(cmd, "ustack-lab", LIMIT)
}

/// `ustack lab down --name NAME` (no time limit: it bounds its own waits, and runs on drop).
pub fn lab_down(name: &str) -> Output {
    Command::new(ustack_bin())
        .args(["lab", "down", "--name", name])
        .output()
        .expect("lab down")
}

/// `lab down`, which must succeed.
pub fn lab_down_ok(name: &str) {
    let down = lab_down(name);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

/// A running `ustack lab up`; dropping it stops the lab and removes leftovers.
#[derive(Debug)]
pub struct Lab {
    /// The lab's name.
    pub name: String,
    /// `lab up`, running in the foreground (taken by tests that end it themselves).
    pub child: Option<ChildGuard>,
}

impl Lab {
    /// `lab up --mtu-path MTU_PATH`, waited for until it prints `lab NAME ready`.
    pub fn start(mtu_path: &str) -> Lab {
        Lab::start_with(mtu_path, &[])
    }

    /// `lab up --mtu-path MTU_PATH EXTRA…`, waited for until it prints `lab NAME ready`.
    pub fn start_with(mtu_path: &str, extra: &[&str]) -> Lab {
        let name = lab_name();
        let mut cmd = Command::new(ustack_bin());
        cmd.args(["lab", "up", "--name", &name, "--mtu-path", mtu_path])
            .args(extra);
        let mut child = ChildGuard::spawn(cmd, "ustack-lab");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !child.stdout().contains(&format!("lab {name} ready")) {
            if let Some(status) = child.try_wait() {
                panic!(
                    "ustack lab up exited early with {status}:\n{}\n{}",
                    child.stdout(),
                    child.stderr()
                );
            }
            assert!(Instant::now() < deadline, "lab {name} not ready in 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Lab {
            name,
            child: Some(child),
        }
    }

    /// The namespace of node `role` (`host`, `r1`, …, `far`).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }

    /// The host namespace (the TUN's, one hop before the stack).
    pub fn host(&self) -> String {
        self.ns("host")
    }

    /// What `lab up` printed so far.
    pub fn printed(&self) -> String {
        self.child
            .as_ref()
            .map(ChildGuard::stdout)
            .unwrap_or_default()
    }

    /// `sh -c SCRIPT` inside node `role`, within [`LIMIT`].
    pub fn at(&self, role: &str, script: &str) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(role), "sh", "-c", script]);
        run_limited(cmd, &format!("at-{role}"), LIMIT)
    }

    /// `sh -c SCRIPT` inside the lab's host namespace (its kernel, one hop before the stack).
    pub fn at_host(&self, script: &str) -> Output {
        self.at("host", script)
    }

    /// `sh -c SCRIPT` inside the lab's far namespace.
    pub fn at_far(&self, script: &str) -> Output {
        self.at("far", script)
    }

    /// `ustack trace ARGS` from the stack inside the lab's host namespace.
    pub fn trace(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.host()])
            .arg(ustack_bin())
            .arg("trace")
            .args(args);
        run_limited(cmd, "ustack-trace", LIMIT)
    }

    /// Stops `lab up` with SIGTERM; it must exit cleanly having removed its namespaces.
    /// Returns what it printed.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let status = child.terminate(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "lab up did not exit cleanly ({status:?}):\n{}\n{}",
            child.stdout(),
            child.stderr()
        );
        assert_eq!(lab_namespaces(&self.name), Vec::<String>::new());
        child.stdout()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.child.take());
        // Whatever happened, leave nothing behind.
        let _ = lab_down(&self.name);
    }
}

/// One answer or `pmtu` line of tracepath's layout: hop, address, the column where the RTT
/// ends (`ms`), and what follows it (`pmtu 1400`, `reached`, `!H`, or nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct PathLine {
    /// The hop.
    pub ttl: u8,
    /// Who answered.
    pub host: String,
    /// The column where the RTT ends.
    pub ms_col: usize,
    /// What follows the RTT.
    pub tail: String,
}

/// The answer and `pmtu` lines of tracepath's output (`no reply` lines are left out).
pub fn path_lines(stdout: &str) -> Vec<PathLine> {
    stdout
        .lines()
        .filter_map(|l| {
            let (ttl, rest) = l.trim_start().split_once(":  ")?;
            let (host, after) = rest.split_once(' ')?;
            let ms_col = l
                .find("ms ")
                .or_else(|| l.strip_suffix("ms").map(str::len))?;
            Some(PathLine {
                ttl: ttl.parse().ok()?,
                host: host.to_string(),
                ms_col,
                tail: after
                    .trim_start()
                    .split_once("ms")
                    .map_or("", |t| t.1)
                    .trim()
                    .into(),
            })
        })
        .collect()
}

/// `Resume: pmtu N [hops N back N]` as its numbers, and the raw line.
pub fn resume(stdout: &str) -> (Vec<u32>, String) {
    let line = stdout.lines().last().unwrap_or_default().to_string();
    let nums = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums, line)
}
