//! End to end: the control socket of `ustack up` (issue 11) — `ustack ss` against a running
//! stack, and clients that send garbage, huge lines, never read, or never finish a line, none
//! of which disturbs the stack or the other clients.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use ustack_tests::control::{control_path, RawControl};
use ustack_tests::e2e::{output_text, run_in, ustack_bin, Scratch, Up, HOST_ADDR, STACK_ADDR};
use ustack_tests::kclient::signal;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

/// `ustack ss ARGS` in `ns`; its stdout (panics if it fails).
fn ss(ns: &NetNs, args: &[&str]) -> String {
    let bin = ustack_bin();
    let mut all = vec!["ss"];
    all.extend_from_slice(args);
    let out = run_in(ns, bin.to_str().unwrap(), &all, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "ustack ss {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ss_json(ns: &NetNs, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ss(ns, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ss --json output {text:?}: {e}"))
}

/// The TCP connections of `ustack ss -tn --json ...` whose peer is the kernel side and local
/// port `port`.
fn conns_on(v: &serde_json::Value, port: u16) -> Vec<serde_json::Value> {
    let local = format!("{STACK_ADDR}:{port}");
    v["tcp"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["local"] == local.as_str())
        .filter(|c| {
            c["peer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{HOST_ADDR}:"))
        })
        .cloned()
        .collect()
}

#[test]
fn ss_shows_a_curl_download_with_its_state_and_counters() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-ss");
    let root = Scratch::new("ctl", "ss");
    std::fs::write(root.path("big.bin"), vec![7u8; 16 << 20]).unwrap();
    let dir = root.path("");
    let up = Up::start(&ns, &["--http-root", dir.to_str().unwrap()]);

    // Listeners: -l shows the services with their backlog as Send-Q, like ss.
    let listening = ss(&ns, &["-tln"]);
    let http = listening
        .lines()
        .find(|l| l.contains(&format!("{STACK_ADDR}:80 ")))
        .unwrap_or_else(|| panic!("no listener on :80 in\n{listening}"));
    assert!(http.starts_with("LISTEN 0      128"), "{http}");

    // A slow download keeps one connection established while we look.
    let url = format!("http://{STACK_ADDR}/big.bin");
    let mut cmd = ns.command("curl");
    cmd.args(["-sS", "--limit-rate", "400k", "-o", "/dev/null", &url]);
    let mut curl = ChildGuard::spawn(cmd, "curl");
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let v = ss_json(&ns, &["-tni"]);
        let c = conns_on(&v, 80);
        if let Some(c) = c
            .first()
            .filter(|c| c["bytes_acked"].as_u64().unwrap() > 100_000)
        {
            break c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no busy connection on :80 in {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(first["state"], "established", "{first}");
    assert!(first["segs_out"].as_u64().unwrap() > 50, "{first}");
    assert!(first["segs_in"].as_u64().unwrap() > 0, "{first}");
    // The effective MSS: 1460 less the timestamps every segment carries, as the kernel shows it.
    assert_eq!(first["mss"], 1448, "{first}");
    assert!(first["cwnd"].as_u64().unwrap() >= 1, "{first}");
    assert!(first["rtt_ms"].is_number(), "{first}");
    assert!(first["bytes_received"].as_u64().unwrap() > 0, "{first}");
    // The counters move while curl reads.
    std::thread::sleep(Duration::from_millis(1500));
    let v = ss_json(&ns, &["-tni", "state", "established"]);
    let later = conns_on(&v, 80);
    let later = later.first().expect("the connection is still established");
    assert!(
        later["bytes_acked"].as_u64() > first["bytes_acked"].as_u64(),
        "{first}\n{later}"
    );
    // The delivery rate is bytes acknowledged since the daemon's previous look; curl's
    // --limit-rate reads in bursts and the window may be closed over one interval (a rate of 0
    // then, truthfully): some look within a few seconds sees it move.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut rate_seen = later["delivery_rate_bps"].as_u64().unwrap_or(0);
    while rate_seen == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let v = ss_json(&ns, &["-tni", "state", "established"]);
        rate_seen = conns_on(&v, 80)
            .first()
            .and_then(|c| c["delivery_rate_bps"].as_u64())
            .unwrap_or(0);
    }
    assert!(rate_seen > 0, "no delivery rate in 6 s: {later}");
    // The text form, as ss -ti prints it.
    let text = ss(&ns, &["-tni"]);
    let row = text
        .lines()
        .position(|l| l.starts_with("ESTAB") && l.contains(&format!("{STACK_ADDR}:80 ")))
        .unwrap_or_else(|| panic!("no ESTAB row for :80 in\n{text}"));
    let info = text.lines().nth(row + 1).unwrap();
    for field in [
        "rto:",
        "mss:1448",
        "cwnd:",
        "bytes_acked:",
        "segs_out:",
        "lastsnd:",
    ] {
        assert!(info.contains(field), "{field} missing in {info:?}");
    }
    curl.terminate(Duration::from_secs(2));
    up.stop();
}

#[test]
fn ss_filters_time_wait() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-tw");
    let up = Up::start(&ns, &[]);
    // With `Connection: close` the stack's server closes first, so the stack holds TIME-WAIT.
    let url = format!("http://{STACK_ADDR}/");
    let out = run_in(
        &ns,
        "curl",
        &["-sS", "-o", "/dev/null", "-H", "Connection: close", &url],
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tw = conns_on(&ss_json(&ns, &["-tn", "state", "time-wait"]), 80);
        if !tw.is_empty() {
            assert!(tw.iter().all(|c| c["state"] == "time-wait"), "{tw:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no TIME-WAIT entry for :80");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = ss(&ns, &["-tn", "state", "time-wait"]);
    assert!(text.lines().any(|l| l.starts_with("TIME-WAIT")), "{text}");
    let est = conns_on(&ss_json(&ns, &["-tn", "state", "established"]), 80);
    assert!(est.is_empty(), "{est:?}");
    // -s counts it.
    let summary = ss(&ns, &["-s"]);
    assert!(summary.contains("timewait 1"), "{summary}");
    up.stop();
}

/// Pings the stack from the kernel side: the loop still answers.
fn stack_answers(ns: &NetNs) {
    let out = run_in(
        ns,
        "ping",
        &["-c", "1", "-W", "2", &STACK_ADDR.to_string()],
        Duration::from_secs(5),
    );
    assert!(out.status.success(), "{}", output_text(&out));
}

#[test]
fn bad_clients_get_errors_or_are_dropped_and_the_stack_goes_on() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-bad");
    let up = Up::start(&ns, &[]);

    // Garbage, a wrong version, an unknown request, bad parameters: an error each, and the
    // connection goes on.
    let mut c = RawControl::connect(&ns);
    for (line, code) in [
        ("garbage \u{1} \u{ff}", "bad_json"),
        ("[1,2,3]", "bad_json"),
        (r#"{"req":"stats"}"#, "bad_version"),
        (r#"{"v":99,"id":4,"req":"stats"}"#, "bad_version"),
        (r#"{"v":1,"id":5,"req":"format_disk"}"#, "bad_request"),
        (
            r#"{"v":1,"id":6,"req":"ping","dst":"nowhere"}"#,
            "bad_request",
        ),
    ] {
        let r = c.call(line);
        assert_eq!(r["reply"], "error", "{line}: {r}");
        assert_eq!(r["code"], code, "{line}: {r}");
    }
    let r = c.call(r#"{"v":1,"id":7,"req":"stats"}"#);
    assert_eq!(
        (r["reply"].as_str(), r["id"].as_u64()),
        (Some("stats"), Some(7))
    );
    assert!(r["counters"]["ip_rx_packets"].is_u64(), "{r}");

    // A line over 64 KiB: an error, then the connection is closed.
    let mut big = RawControl::connect(&ns);
    big.stream.write_all(&vec![b'x'; 200_000]).unwrap();
    let r = big.reply();
    assert_eq!(r["code"], "line_too_long", "{r}");
    assert!(
        big.line().is_none(),
        "the connection is closed after line_too_long"
    );

    // A client that asks and asks and never reads is dropped; meanwhile others are served.
    let mut silent = UnixStream::connect(control_path(&ns, "ustack0")).unwrap();
    silent
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let flood = std::thread::spawn(move || {
        let req = b"{\"v\":1,\"req\":\"sockets\"}\n".repeat(64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if silent.write_all(&req).is_err() {
                return true; // the daemon closed it
            }
        }
        false
    });
    let t0 = Instant::now();
    let mut other = RawControl::connect(&ns);
    let r = other.call(r#"{"v":1,"id":1,"req":"hello"}"#);
    assert_eq!(r["reply"], "hello", "{r}");
    stack_answers(&ns);
    assert!(t0.elapsed() < Duration::from_secs(5), "others waited");
    assert!(
        flood.join().unwrap(),
        "a client that never reads was not dropped"
    );

    // A line never finished: closed with `timeout` after 10 s.
    let mut slow = RawControl::connect(&ns);
    slow.stream.write_all(br#"{"v":1,"req":"#).unwrap();
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let r = slow.reply();
    assert_eq!(r["code"], "timeout", "{r}");

    // More clients than the cap: the extra ones are refused, the first ones still work.
    let mut held: Vec<RawControl> = (0..64).map(|_| RawControl::connect(&ns)).collect();
    let mut extra = RawControl::connect(&ns);
    let r = extra.reply();
    assert_eq!(r["code"], "too_many_clients", "{r}");
    let r = held[0].call(r#"{"v":1,"id":2,"req":"stats"}"#);
    assert_eq!(r["reply"], "stats");
    drop(held);
    stack_answers(&ns);

    // None of it showed in the stack's own counters as trouble, and it stops cleanly.
    let out = up.stop();
    assert!(out.contains("ustack stopped"), "{out}");
}

#[test]
fn control_socket_is_private_refuses_a_second_daemon_and_is_removed() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-life");
    let path = control_path(&ns, "ustack0");
    let up = Up::start(&ns, &[]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode");
    let dir = path.parent().unwrap();
    let dmode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dmode, 0o700, "directory mode");

    // Another user cannot reach it.
    let bin = ustack_bin();
    let out = run_in(
        &ns,
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin.to_str().unwrap(),
            "ss",
        ],
        Duration::from_secs(10),
    );
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out)
            .to_lowercase()
            .contains("permission denied"),
        "{}",
        output_text(&out)
    );

    // A second daemon on the same TUN is refused, saying why.
    let out = run_in(&ns, bin.to_str().unwrap(), &["up"], Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("already running on ustack0"),
        "{}",
        output_text(&out)
    );

    up.stop();
    assert!(!path.exists(), "the socket outlived the daemon");

    // A daemon killed outright leaves its socket; the next one replaces it.
    let mut killed = Up::start(&ns, &[]);
    signal(killed.child.pid(), libc::SIGKILL);
    let t0 = Instant::now();
    while killed.child.try_wait().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "SIGKILL did not end it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(path.exists(), "a killed daemon cannot remove its socket");
    let again = Up::start(&ns, &[]);
    let mut c = RawControl::connect(&ns);
    let r = c.call(r#"{"v":1,"id":1,"req":"hello"}"#);
    assert_eq!(r["pid"].as_u64(), Some(u64::from(again.child.pid())), "{r}");
    again.stop();
}

// ---- Tools attached to a running `ustack up` (issue 11.2, 11.6, 11.7) ----

/// `ustack ARGS` in `ns` through `sh -c`, so a pipe can feed its stdin.
fn sh(ns: &NetNs, script: &str) -> std::process::Output {
    run_in(ns, "sh", &["-c", script], Duration::from_secs(30))
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The network devices in `ns`.
fn links(ns: &NetNs) -> String {
    text(&run_in(ns, "ip", &["-o", "link"], Duration::from_secs(5))).0
}

#[test]
fn ping_attaches_to_up_and_behaves_like_iputils() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-ping");
    // Every packet from the kernel arrives twice: each reply is followed by a duplicate.
    let up = Up::start(&ns, &["--fault-in-duplicate", "100"]);
    let bin = ustack_bin();
    let b = bin.to_str().unwrap();
    let out = sh(&ns, &format!("{b} ping -c 3 -i 0.2 {HOST_ADDR}"));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    // (The duplicate of the last reply may come after ping is done, as with iputils.)
    let dups = o.matches(" (DUP!)").count();
    assert!(dups >= 2, "{o}");
    let summary = format!("3 packets transmitted, 3 received, +{dups} duplicates, 0% packet loss");
    assert!(o.contains(&summary), "{o}");
    // It ran in the daemon: no TUN of its own, and the daemon counted the requests.
    assert!(!e.contains("opened TUN"), "{e}");
    assert_eq!(links(&ns).lines().count(), 2, "{}", links(&ns));

    // -q: the header and the summary only.
    let (o, _) = text(&sh(&ns, &format!("{b} ping -q -c 2 -i 0.2 {HOST_ADDR}")));
    assert!(o.starts_with("PING ") && !o.contains("bytes from"), "{o}");
    assert!(o.contains("2 packets transmitted"), "{o}");
    // -c 0 is refused.
    let out = sh(&ns, &format!("{b} ping -c 0 {HOST_ADDR}"));
    assert!(!out.status.success());
    // -w ends it on time, however many were asked for.
    let t0 = Instant::now();
    let (o, _) = text(&sh(&ns, &format!("{b} ping -w 1 -i 0.2 {HOST_ADDR}")));
    assert!(t0.elapsed() < Duration::from_secs(4), "{o}");
    let (tx, _) = ustack_tests::e2e::ping_summary(&o).expect("summary");
    assert!((4..=7).contains(&tx), "{o}");
    // -f: dots, at least as fast as the replies come.
    let (o, _) = text(&sh(&ns, &format!("{b} ping -f -c 50 {HOST_ADDR}")));
    assert!(o.contains("50 packets transmitted, 50 received"), "{o}");
    assert!(o.contains('.'), "{o}");

    // No answer at all: the summary's time leaves out the final wait (-W 3).
    let (o, _) = text(&sh(&ns, &format!("{b} ping -c 1 -W 3 198.18.0.77")));
    assert!(
        o.contains("1 packets transmitted, 0 received, 100% packet loss"),
        "{o}"
    );
    let ms: u64 = o
        .split("time ")
        .nth(1)
        .and_then(|t| t.split("ms").next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {o}"));
    assert!(ms < 1000, "the final wait was counted: {o}");

    // With forwarding on and no route, the kernel answers 10.99.0.1 with net unreachable:
    // printed once per request, iputils' words, counted as errors. (No ICMP rate limit in
    // this namespace, so every error comes.)
    for setting in ["net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0"] {
        let out = run_in(&ns, "sysctl", &["-qw", setting], Duration::from_secs(5));
        assert!(out.status.success(), "{setting}: {}", output_text(&out));
    }
    let out = sh(&ns, &format!("{b} ping -c 2 -i 0.2 10.99.0.1"));
    let (o, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    for seq in [1, 2] {
        let line = format!("From {HOST_ADDR} icmp_seq={seq} Destination Net Unreachable");
        assert_eq!(o.matches(&line).count(), 1, "{o}");
    }
    assert!(
        o.contains("2 packets transmitted, 0 received, +2 errors, 100% packet loss"),
        "{o}"
    );
    // -t 1: routed back through the stack, the kernel router drops it with time exceeded.
    let route = [
        "route",
        "add",
        "10.98.0.0/24",
        "via",
        "198.18.0.2",
        "dev",
        "ustack0",
    ];
    assert!(run_in(&ns, "ip", &route, Duration::from_secs(5))
        .status
        .success());
    let (o, _) = text(&sh(&ns, &format!("{b} ping -c 2 -i 0.2 -t 1 10.98.0.7")));
    for seq in [1, 2] {
        let line = format!("From {HOST_ADDR} icmp_seq={seq} Time to live exceeded");
        assert_eq!(o.matches(&line).count(), 1, "{o}");
    }

    let counters = up.stop();
    assert!(
        ustack_tests::e2e::counter(&counters, "icmp_echo_sent") >= 58,
        "{counters}"
    );
}

#[test]
fn connect_attaches_to_up_and_behaves_like_netcat() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-conn");
    let up = Up::start(&ns, &[]);
    let bin = ustack_bin();
    let b = bin.to_str().unwrap();
    // TCP out of the stack to a kernel listener, HOST PORT form; the reply comes back.
    let script = format!(
        "(echo from-kernel | timeout 10 nc -l -p 8080 > {dir}/got) & sleep 0.5; \
         echo from-stack | {b} connect -v {HOST_ADDR} 8080; wait; cat {dir}/got",
        dir = std::env::temp_dir().display()
    );
    let _ = std::fs::remove_file(std::env::temp_dir().join("got"));
    let out = sh(&ns, &script);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(
        o.contains("from-kernel") && o.contains("from-stack"),
        "{o}{e}"
    );
    assert!(
        e.contains("connected to 198.18.0.1:8080 from 198.18.0.2:"),
        "{e}"
    );
    assert!(!e.contains("opened TUN"), "{e}");

    // -l: the stack listens, a kernel client connects (HOST:PORT not needed: PORT alone).
    let script = format!(
        "(sleep 1; echo from-kernel | timeout 10 nc -N {STACK_ADDR} 9000) & \
         echo from-stack | {b} connect -l -v 9000; wait"
    );
    let out = sh(&ns, &script);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(
        o.contains("from-kernel") && o.contains("from-stack"),
        "{o}{e}"
    );
    assert!(e.contains("Connection received on 198.18.0.1"), "{e}");

    // UDP, HOST:PORT form.
    let script = format!(
        "(timeout 3 nc -u -l -p 5353 > {dir}/gotu) & sleep 0.5; \
         echo udp-hello | {b} connect -u {HOST_ADDR}:5353; sleep 0.5; cat {dir}/gotu",
        dir = std::env::temp_dir().display()
    );
    let (o, e) = text(&sh(&ns, &script));
    assert!(o.contains("udp-hello"), "{o}{e}");

    // -z: a closed port is refused, an open one succeeds; nothing is sent. As nc, the refusal
    // is said only with -v.
    let out = sh(&ns, &format!("{b} connect -z {HOST_ADDR} 8081"));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(!e.contains("refused"), "quiet without -v: {e}");
    let out = sh(&ns, &format!("{b} connect -zv {HOST_ADDR} 8081"));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(e.contains("Connection refused"), "{e}");
    let out = sh(
        &ns,
        &format!(
            "(timeout 5 nc -l -p 8082 >/dev/null &) ; sleep 0.5; {b} connect -z {HOST_ADDR} 8082"
        ),
    );
    assert!(out.status.success(), "{}", output_text(&out));

    // Network unreachable is said as such, not as a timeout.
    assert!(run_in(
        &ns,
        "sysctl",
        &["-qw", "net.ipv4.ip_forward=1"],
        Duration::from_secs(5)
    )
    .status
    .success());
    let t0 = Instant::now();
    let out = sh(&ns, &format!("{b} connect -v 10.99.0.1 80"));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("Network is unreachable"), "{e}");
    assert!(!e.to_lowercase().contains("timed out"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    up.stop();
}

#[test]
fn conflicting_setups_are_refused_with_a_reason() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-conf");
    let up = Up::start(&ns, &[]);
    let bin = ustack_bin();
    let b = bin.to_str().unwrap();
    for (args, says) in [
        // No daemon on ustack1, and its addresses are ustack0's: refused, not a silent 100% loss.
        (
            format!("ping --tun ustack1 -c 1 {HOST_ADDR}"),
            "already on ustack0",
        ),
        (
            "ping --tun ustack1 --host-addr 10.9.0.1 --addr 10.8.0.2 -c 1 10.9.0.1".to_string(),
            "outside 10.9.0.1/24",
        ),
        (
            "ping --tun ustack1 --prefix-len 0 -c 1 10.9.0.1".to_string(),
            "--prefix-len 0",
        ),
        (
            format!("connect --tun ustack1 --host-addr 198.18.0.9 {HOST_ADDR} 80"),
            "overlaps 198.18.0.1/24 on ustack0",
        ),
    ] {
        let out = sh(&ns, &format!("{b} {args}"));
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args}: {o}{e}");
        assert!(e.contains(says), "{args}: {e}");
    }
    assert!(!links(&ns).contains("ustack1"), "{}", links(&ns));
    up.stop();
}

#[test]
fn events_stream_connections_and_ends_on_half_close() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-ev");
    let up = Up::start(&ns, &[]);
    let mut c = RawControl::connect(&ns);
    c.send(r#"{"v":1,"id":9,"req":"events","interval_ms":10}"#);
    // A connection to discard that lives half a second, then closes (nc -N: FIN at EOF).
    let client = std::thread::spawn({
        let script = format!("sleep 0.5 | nc -N {STACK_ADDR} 9");
        let ns_name = ns.name().to_string();
        move || {
            std::process::Command::new("ip")
                .args(["netns", "exec", &ns_name, "sh", "-c", &script])
                .status()
                .map(|s| s.success())
        }
    });
    let local = format!("{STACK_ADDR}:9");
    let (mut opened, mut closed, mut counted) = (false, false, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(opened && closed && counted) {
        assert!(
            Instant::now() < deadline,
            "opened {opened} closed {closed} counted {counted}"
        );
        let r = c.reply();
        assert_eq!(
            (r["id"].as_u64(), r["reply"].as_str()),
            (Some(9), Some("event")),
            "{r}"
        );
        match r["event"].as_str() {
            Some("open") if r["local"] == local.as_str() => opened = true,
            Some("close") | Some("state") if r["local"] == local.as_str() => closed = opened,
            Some("counter") if r["name"] == "tcp_passive_opens" => counted = true,
            _ => {}
        }
    }
    assert!(client.join().unwrap().unwrap(), "nc failed");
    // Half-closing ends the stream with `end`.
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    loop {
        let r = c.reply();
        if r["reply"] == "end" {
            assert_eq!(r["reason"], "client finished", "{r}");
            break;
        }
    }
    assert!(c.line().is_none(), "the server closes after end");
    up.stop();
}

#[test]
fn up_takes_tuning_flags_and_prints_its_counters_as_json() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ctl-json");
    let up = Up::start(
        &ns,
        &[
            "--json",
            "--congestion",
            "cubic",
            "--rx-buffer",
            "65536",
            "--syn-cookies",
            "off",
        ],
    );
    // A connection that stays while we look.
    let mut cmd = ns.command("sh");
    cmd.args(["-c", &format!("sleep 3 | nc {STACK_ADDR} 9")]);
    let mut nc = ChildGuard::spawn(cmd, "nc");
    let deadline = Instant::now() + Duration::from_secs(5);
    let c = loop {
        if let Some(c) = conns_on(&ss_json(&ns, &["-tn"]), 9).pop() {
            break c;
        }
        assert!(Instant::now() < deadline, "no connection on :9");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(c["congestion"], "cubic", "{c}");
    assert!(c["rcv_wnd"].as_u64().unwrap() <= 65536, "{c}");
    nc.terminate(Duration::from_secs(2));
    let out = up.stop();
    let last = out.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line {last:?}: {e}"));
    assert!(
        v["stats"]["counters"]["tcp_passive_opens"]
            .as_u64()
            .unwrap()
            >= 1,
        "{v}"
    );
    assert!(v["udp_echo"]["rate_limited"].is_u64(), "{v}");
    assert!(!out.contains("ustack stopped; counters"), "{out}");

    // --log-level warn keeps the info lines off stderr; a bad tuning value is refused.
    let bin = ustack_bin();
    let out = run_in(
        &ns,
        bin.to_str().unwrap(),
        &[
            "--log-level",
            "warn",
            "ping",
            "-c",
            "1",
            &HOST_ADDR.to_string(),
        ],
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("INFO"),
        "{}",
        output_text(&out)
    );
    let out = run_in(
        &ns,
        bin.to_str().unwrap(),
        &["up", "--rx-buffer", "0"],
        Duration::from_secs(10),
    );
    assert!(!out.status.success(), "{}", output_text(&out));
}
