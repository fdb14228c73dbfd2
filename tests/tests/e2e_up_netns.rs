//! `ustack up --netns NAME` (issue 24 item 8): run from the machine's own namespace, it creates
//! NAME, makes its TUN and control socket inside, prints client lines that work as printed
//! (ping, curl and `ustack ss` run through `ip netns exec NAME`), and deletes NAME at exit; a
//! namespace that already existed is used and kept; a bad name or a caller that is not root is
//! refused with exit code 2 and nothing created.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use ustack_tests::e2e::{output_text, run_limited, ustack_bin, Scratch, HOST_ADDR, STACK_ADDR};
use ustack_tests::netns::{tun_available, unique_name, ChildGuard, NetNs};

const LIMIT: Duration = Duration::from_secs(20);

/// Deletes namespace NAME on drop if it is still there (a failed test's leftovers).
struct Leftover(String);

impl Drop for Leftover {
    fn drop(&mut self) {
        if ns_exists(&self.0) {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.0])
                .status();
        }
    }
}

fn ns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// `ustack up --netns NAME ARGS` started from this (the machine's) namespace; returns once its
/// banner is complete.
fn up_in(name: &str, extra: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(ustack_bin());
    cmd.args(["up", "--netns", name]).args(extra);
    let mut child = ChildGuard::spawn(cmd, "ustack-up-netns");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child.stdout().contains("Ctrl-C to stop.") {
        if let Some(status) = child.try_wait() {
            panic!("exited early with {status}:\n{}", child.stderr());
        }
        assert!(Instant::now() < deadline, "no banner in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Runs a client line from the banner (words, no shell) and returns its output.
fn run_line(line: &str) -> std::process::Output {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut cmd = Command::new(words[0]);
    cmd.args(&words[1..]);
    run_limited(cmd, words[0], LIMIT)
}

/// The banner's line that starts with `start` (trimmed, up to a `#` comment).
fn banner_line(banner: &str, start: &str) -> String {
    let line = banner
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?} in:\n{banner}"));
    line.split('#').next().unwrap().trim().to_string()
}

fn stop(child: &mut ChildGuard) {
    let status = child.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}:\n{}",
        child.stderr()
    );
}

#[test]
fn up_netns_creates_the_namespace_serves_inside_and_deletes_it() {
    if !tun_available() {
        return;
    }
    let name = unique_name("upnetns");
    let _leftover = Leftover(name.clone());
    assert!(!ns_exists(&name));
    let mut up = up_in(&name, &["--services", "echo,http"]);
    let banner = up.stdout();
    assert!(
        banner.contains(&format!("netns        {name} (created; deleted at exit)")),
        "{banner}"
    );
    // The TUN is inside, with the kernel side's address.
    let dev = run_line(&format!("ip -n {name} -4 addr show dev ustack0"));
    assert!(
        String::from_utf8_lossy(&dev.stdout).contains(&format!("inet {HOST_ADDR}/24")),
        "{}",
        output_text(&dev)
    );
    // The client lines work as printed.
    let x = format!("ip netns exec {name} ");
    let ping = banner_line(&banner, &format!("{x}ping {STACK_ADDR}"));
    let ping = run_line(&ping.replace(" ping ", " ping -c 2 -i 0.2 -W 2 "));
    assert!(ping.status.success(), "{}", output_text(&ping));
    assert!(String::from_utf8_lossy(&ping.stdout).contains("2 received"));
    let curl = banner_line(&banner, &format!("{x}curl http://{STACK_ADDR}:80/"));
    let curl = curl.split("  and  ").next().unwrap();
    let page = run_line(&curl.replace(" curl ", " curl -sS --max-time 10 "));
    assert!(page.status.success(), "{}", output_text(&page));
    assert!(String::from_utf8_lossy(&page.stdout).contains("<html"));
    // `ustack ss` inside attaches to it (as printed, with the binary's full path).
    let ss = banner_line(&banner, &format!("{x}ustack ss"));
    let ss = ss.replace(" ustack ss", &format!(" {} ss -ln", ustack_bin().display()));
    let ss = run_line(&ss);
    assert!(ss.status.success(), "{}", output_text(&ss));
    assert!(
        String::from_utf8_lossy(&ss.stdout).contains(&format!("{STACK_ADDR}:80")),
        "{}",
        output_text(&ss)
    );
    stop(&mut up);
    assert!(!ns_exists(&name), "{name} is still there after exit");
}

#[test]
fn up_netns_uses_an_existing_namespace_and_keeps_it() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("upkeep");
    let mut up = up_in(ns.name(), &["--services", "echo"]);
    assert!(
        up.stdout()
            .contains(&format!("{} (existing; kept at exit)", ns.name())),
        "{}",
        up.stdout()
    );
    let mut cmd = ns.command("sh");
    cmd.args(["-c", &format!("echo kept | nc -N -w5 {STACK_ADDR} 7")]);
    let echo = run_limited(cmd, "nc", LIMIT);
    assert_eq!(String::from_utf8_lossy(&echo.stdout), "kept\n");
    stop(&mut up);
    assert!(ns_exists(ns.name()), "the existing namespace was deleted");
    // And the stack's device went with the stack.
    let mut cmd = ns.command("ip");
    cmd.args(["link", "show", "ustack0"]);
    assert!(!run_limited(cmd, "ip", LIMIT).status.success());
}

#[test]
fn up_netns_refuses_a_bad_name_and_a_caller_not_root() {
    if !tun_available() {
        return;
    }
    let out = run_limited(
        {
            let mut c = Command::new(ustack_bin());
            c.args(["up", "--netns", "../etc"]);
            c
        },
        "ustack-up",
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(output_text(&out).contains("namespace name"));

    let name = unique_name("upnoroot");
    let _leftover = Leftover(name.clone());
    // A copy of the binary user 65534 can run wherever the checkout is (e.g. under /root).
    let scratch = Scratch::new("upnetns", "noroot");
    let bin = scratch.path("ustack");
    std::fs::copy(ustack_bin(), &bin).unwrap();
    for p in [scratch.path(""), bin.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["up", "--netns", &name]);
    let out = run_limited(cmd, "setpriv", LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("needs root"),
        "{}",
        output_text(&out)
    );
    assert!(!ns_exists(&name), "created {name} although refusing");
}
