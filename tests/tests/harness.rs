//! Tests of the end-to-end harness itself: namespaces, threads inside them, child processes.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

/// The namespaces `ip netns list` shows, by name.
fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(out.status.success(), "ip netns list: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

fn current_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn netns_is_created_joined_and_deleted() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("harness");
    let name = ns.name().to_string();
    // `ustk-`, or the prefix this run chose (`USTACK_NETNS_PREFIX`).
    let prefix = std::env::var("USTACK_NETNS_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ustk".into());
    assert!(name.starts_with(&format!("{prefix}-")), "{name}");
    assert!(
        netns_list().contains(&name),
        "{name} missing from ip netns list"
    );

    let out = Command::new("ip")
        .args(["-n", &name, "link", "show", "lo"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("UP"),
        "lo not up: {out:?}"
    );

    let outside = current_netns();
    let inside = ns.run(current_netns);
    assert_ne!(inside, outside, "run() did not switch namespace");
    assert_eq!(
        ns.run(current_netns),
        inside,
        "run() joined a different namespace"
    );
    assert_eq!(
        current_netns(),
        outside,
        "the calling thread must stay where it was"
    );

    // A process spawned from a thread inside the namespace starts in the namespace too.
    let child_ns = ns.run(|| {
        let out = Command::new("readlink")
            .arg("/proc/self/ns/net")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    });
    assert_eq!(child_ns, inside);

    // So does one started with command().
    let out = ns
        .command("readlink")
        .arg("/proc/self/ns/net")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), inside);

    drop(ns);
    assert!(
        !netns_list().contains(&name),
        "{name} still listed after drop"
    );
}

#[test]
fn netns_names_are_unique() {
    if !tun_available() {
        return;
    }
    let a = NetNs::new("same");
    let b = NetNs::new("same");
    assert_ne!(a.name(), b.name());
}

#[test]
fn run_propagates_panics_and_drop_still_deletes() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("panic");
    let name = ns.name().to_string();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.run(|| panic!("boom inside the namespace"));
    }));
    let payload = result.expect_err("the panic must reach the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom inside the namespace")
    );

    // A test that panics while holding the namespace still removes it.
    let result = std::panic::catch_unwind(move || {
        let _held = ns;
        panic!("test failure while the namespace exists");
    });
    assert!(result.is_err());
    assert!(
        !netns_list().contains(&name),
        "{name} leaked by a panicking test"
    );
}

#[test]
fn wait_for_addr_sees_configuration() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("addr");
    let addr = Ipv4Addr::new(198, 18, 0, 1);
    assert!(!ns.wait_for_addr("lo", addr, Duration::from_millis(100)));
    assert!(!ns.wait_for_addr("nonesuch0", addr, Duration::ZERO));
    let status = Command::new("ip")
        .args(["-n", ns.name(), "addr", "add", "198.18.0.1/24", "dev", "lo"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(ns.wait_for_addr("lo", addr, Duration::from_secs(2)));
    // 198.18.0.1/24 must not count as 198.18.0.10.
    assert!(!ns.wait_for_addr("lo", Ipv4Addr::new(198, 18, 0, 10), Duration::ZERO));
}

#[test]
fn ping_inside_namespace_reaches_its_own_address() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ping");
    let mut ping = ns.command("ping");
    ping.args(["-n", "-c", "1", "-W", "2", "127.0.0.1"]);
    let mut guard = ChildGuard::spawn(ping, "ping");
    let deadline = Instant::now() + Duration::from_secs(5);
    while guard.try_wait().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = guard.terminate(Duration::ZERO);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}\n{}",
        guard.stdout(),
        guard.stderr()
    );
    assert!(guard.stdout().contains("1 received"), "{}", guard.stdout());
}

#[test]
fn child_guard_terminates_and_captures() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; exec sleep 30"]);
    let mut child = ChildGuard::spawn(cmd, "sleeper");
    assert!(child.pid() > 0);
    assert_eq!(child.try_wait(), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !child.stderr().contains("err") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(child.stdout(), "out\n");
    assert_eq!(child.stderr(), "err\n");
    let start = Instant::now();
    let status = child
        .terminate(Duration::from_secs(3))
        .expect("sleep obeys SIGTERM");
    assert!(start.elapsed() < Duration::from_secs(3));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Terminating again just reports the same status.
    assert_eq!(child.terminate(Duration::ZERO), Some(status));
    assert_eq!(child.try_wait(), Some(status));
}

#[test]
fn child_guard_kills_a_process_that_ignores_sigterm() {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    let mut child = ChildGuard::spawn(cmd, "stubborn");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !child.stdout().contains("ready") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(child.terminate(Duration::from_millis(200)), None);
    // It is reaped: the status is known and the pid is gone.
    let status = child.try_wait().expect("reaped after SIGKILL");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn child_guard_drop_reaps() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let child = ChildGuard::spawn(cmd, "dropped");
    let pid = child.pid();
    drop(child);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| !c.starts_with("sleep\0")),
        "pid {pid} still running after drop"
    );
}

#[test]
#[should_panic(expected = "spawning missing")]
fn child_guard_spawn_failure_is_clear() {
    ChildGuard::spawn(
        Command::new("/nonexistent/ustack-no-such-program"),
        "missing",
    );
}

#[test]
fn sha256_hex_matches_known_digest() {
    assert_eq!(
        sha256_hex(b"The quick brown fox jumps over the lazy dog"),
        "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
    );
}
