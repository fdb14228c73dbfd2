//! Helpers of the capture tests: a live `ustack capture` in a namespace, its closing counts,
//! and a file printed by both `tcpdump -r` and `ustack capture -r`, compared line for line.

use crate::e2e::{ustack_bin, wait_stderr};
use crate::netns::{ChildGuard, NetNs};
use std::path::Path;
use std::process::Command;

/// Starts `ustack capture ARGS` in `ns`; returns once the daemon has subscribed it.
pub fn start(ns: &NetNs, args: &[&str], label: &str) -> ChildGuard {
    let mut cmd = ns.command(ustack_bin());
    cmd.arg("capture").args(args);
    let child = ChildGuard::spawn(cmd, label);
    // It says so on stderr once the daemon has compiled the filter and subscribed.
    wait_stderr(&child, "listening on", label);
    child
}

/// "N packets captured" / "N packets dropped" from a capture's closing lines.
pub fn summary(stderr: &str, what: &str) -> Option<u64> {
    stderr
        .lines()
        .find(|l| l.ends_with(&format!("packets {what}")))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn read_with(program: &Path, args: &[&str], flags: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .env("TZ", "UTC")
        .args(args)
        .args(flags)
        .arg("-r")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {flags:?} -r {}: {out:?}",
        program.display(),
        file.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `tcpdump -n FLAGS -r FILE` prints (UTC times); panics if it fails.
pub fn tcpdump_r(flags: &[&str], file: &Path) -> String {
    read_with(Path::new("tcpdump"), &["-n"], flags, file)
}

/// What `ustack capture FLAGS -r FILE` prints; panics if it fails.
pub fn ustack_r(flags: &[&str], file: &Path) -> String {
    read_with(&ustack_bin(), &["capture"], flags, file)
}

/// Asserts that `ours` and `theirs` are the same lines, naming the first that differs.
pub fn assert_same_lines(ours: &str, theirs: &str, what: &str) {
    for (n, (o, t)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(o, t, "line {n} of {what}");
    }
    assert_eq!(ours.lines().count(), theirs.lines().count(), "{what}");
}
