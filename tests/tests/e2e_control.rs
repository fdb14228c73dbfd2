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
    assert_eq!(first["mss"], 1460, "{first}");
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
    assert!(later["delivery_rate_bps"].as_u64().unwrap() > 0, "{later}");
    // The text form, as ss -ti prints it.
    let text = ss(&ns, &["-tni"]);
    let row = text
        .lines()
        .position(|l| l.starts_with("ESTAB") && l.contains(&format!("{STACK_ADDR}:80 ")))
        .unwrap_or_else(|| panic!("no ESTAB row for :80 in\n{text}"));
    let info = text.lines().nth(row + 1).unwrap();
    for field in [
        "rto:",
        "mss:1460",
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
