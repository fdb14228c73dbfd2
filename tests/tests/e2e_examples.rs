//! The programs in examples/ (issue 24 item 7), each run in its own namespace and driven by the
//! real client: the echo server by `nc`, the UDP quote service by `nc -u`, the HTTP client
//! against python's http.server on the kernel side (its body compared with what curl fetches),
//! and the server with the control socket seen by `ustack ss` (the same connection as the
//! kernel's `ss` shows from its side) and `ustack capture`. Each is stopped with SIGINT (Ctrl-C)
//! or SIGTERM and must exit 0 having removed its TUN device.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::time::{Duration, Instant};
use ustack_tests::control::control_path;
use ustack_tests::e2e::{
    example_bin, output_text, run_in, ustack_bin, wait_stderr, Scratch, HOST_ADDR, STACK_ADDR,
};
use ustack_tests::kclient::signal;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

const LIMIT: Duration = Duration::from_secs(20);

/// Starts example `name` with `args` in `ns` and waits (10 s at most) until its stdout says
/// `ready` — each prints its banner once its socket is bound.
fn start_example(ns: &NetNs, name: &str, args: &[&str], ready: &str) -> ChildGuard {
    let mut cmd = ns.command(example_bin(name));
    cmd.args(args);
    let mut child = ChildGuard::spawn(cmd, name);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child.stdout().contains(ready) {
        if let Some(status) = child.try_wait() {
            panic!(
                "{name} exited early with {status}:\n{}\n{}",
                child.stdout(),
                child.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} printed no banner in 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Sends `sig` to the example and checks that it exits 0 within 10 s and removed its TUN
/// device (the bridge's shutdown ran).
fn stop_example(ns: &NetNs, child: &mut ChildGuard, sig: libc::c_int) {
    signal(child.pid(), sig);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit 10 s after signal {sig}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "exit {status} after signal {sig}:\n{}\n{}",
        child.stdout(),
        child.stderr()
    );
    let link = run_in(ns, "ip", &["link", "show", "ustack0"], LIMIT);
    assert!(!link.status.success(), "ustack0 is still there after exit");
}

/// `sh -c SCRIPT` in `ns`: its stdout (panics if it fails).
fn sh(ns: &NetNs, script: &str) -> String {
    let out = run_in(ns, "sh", &["-c", script], LIMIT);
    assert!(out.status.success(), "{script}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn echo_server_echoes_what_nc_sends_and_stops_on_ctrl_c() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ex-echo");
    let mut server = start_example(&ns, "echo_server", &["--port", "7"], "echo server on");
    let line = "hello from nc over TCP";
    let got = sh(&ns, &format!("echo '{line}' | nc -N -w5 {STACK_ADDR} 7"));
    assert_eq!(got, format!("{line}\n"));
    // The server saw the whole connection: every byte, then the client's FIN.
    wait_stderr(
        &server,
        &format!("{} bytes echoed", line.len() + 1),
        "echo_server",
    );
    stop_example(&ns, &mut server, libc::SIGINT);
}

#[test]
fn udp_quote_answers_nc_u_with_the_quotes_in_turn() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ex-qotd");
    let mut server = start_example(&ns, "udp_quote", &[], "quote of the day on udp");
    let ask = format!("echo | nc -u -w1 {STACK_ADDR} 17");
    let first = sh(&ns, &ask);
    let second = sh(&ns, &ask);
    assert!(first.contains("(RFC 793)"), "first answer: {first:?}");
    assert!(
        second.contains("(RFC 1925, truth 1)"),
        "second answer: {second:?}"
    );
    stop_example(&ns, &mut server, libc::SIGTERM);
}

#[test]
fn http_get_fetches_from_the_kernel_side_what_curl_fetches() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ex-http");
    let scratch = Scratch::new("examples", "http");
    let body: String = (0..2000)
        .map(|i| format!("line {i} of the page\n"))
        .collect();
    std::fs::write(scratch.path("page.txt"), &body).unwrap();
    // The server on the kernel side: on every address, so it listens before the TUN exists.
    let mut cmd = ns.command("python3");
    cmd.args(["-u", "-m", "http.server", "8000"])
        .current_dir(scratch.path(""));
    let server = ChildGuard::spawn(cmd, "http.server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stdout().contains("Serving HTTP") {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://{HOST_ADDR}:8000/page.txt");
    let mut cmd = ns.command(example_bin("http_get"));
    cmd.arg(&url);
    let out = ustack_tests::e2e::run_limited(cmd, "http_get", LIMIT);
    assert!(out.status.success(), "http_get: {}", output_text(&out));
    let headers = String::from_utf8_lossy(&out.stderr);
    assert!(headers.starts_with("HTTP/1.0 200"), "{headers}");
    // curl from the kernel side (the TUN is gone now: over loopback) fetches the same body.
    let curl = run_in(
        &ns,
        "curl",
        &["-sS", "--max-time", "10", "http://127.0.0.1:8000/page.txt"],
        LIMIT,
    );
    assert!(curl.status.success(), "curl: {}", output_text(&curl));
    assert_eq!(out.stdout, curl.stdout);
    assert_eq!(out.stdout, body.as_bytes());
    // The request came from the stack's address, with the example's User-Agent line read.
    wait_stderr(
        &server,
        &format!("{STACK_ADDR} - - "),
        "http.server (request from the stack)",
    );
    assert!(server.stderr().contains("\"GET /page.txt HTTP/1.1\" 200"));
}

/// The kernel's own TCP connections to `port` on the stack (`ss -tnH` on the kernel side):
/// the kernel's local port of each.
fn kernel_ports_to(ns: &NetNs, port: u16) -> Vec<u16> {
    let out = run_in(ns, "ss", &["-tnH", "state", "established"], LIMIT);
    let peer = format!("{STACK_ADDR}:{port}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == peer))
        .filter_map(|l| {
            let local = l
                .split_whitespace()
                .find(|w| w.starts_with(&format!("{HOST_ADDR}:")))?;
            local.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn with_control_is_seen_by_ustack_ss_and_ustack_capture() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ex-ctl");
    let mut server = start_example(&ns, "with_control", &[], "control socket");
    let socket = control_path(&ns, "ustack0");
    assert!(
        server.stdout().contains(&socket.display().to_string()),
        "{}",
        server.stdout()
    );
    let ustack = ustack_bin();
    // A session that stays open while `ustack ss` looks.
    let mut cmd = ns.command("sh");
    cmd.args([
        "-c",
        &format!("(echo 'quiet please'; sleep 4) | nc {STACK_ADDR} 4000"),
    ]);
    let session = ChildGuard::spawn(cmd, "nc-session");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session.stdout().contains("QUIET PLEASE") {
        assert!(Instant::now() < deadline, "no answer: {}", session.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let kernel = kernel_ports_to(&ns, 4000);
    assert_eq!(kernel.len(), 1, "kernel ss: {kernel:?}");
    let ss = run_in(&ns, ustack.to_str().unwrap(), &["ss", "-tn"], LIMIT);
    assert!(ss.status.success(), "ustack ss: {}", output_text(&ss));
    let text = String::from_utf8_lossy(&ss.stdout);
    let (local, peer) = (
        format!("{STACK_ADDR}:4000"),
        format!("{HOST_ADDR}:{}", kernel[0]),
    );
    let seen = text.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.first() == Some(&"ESTAB") && w.contains(&local.as_str()) && w.contains(&peer.as_str())
    });
    assert!(seen, "ustack ss does not show {local} <-> {peer}:\n{text}");

    // `ustack capture` attached to the example sees a new connection's handshake and data.
    let mut cmd = ns.command(&ustack);
    cmd.args(["capture", "-n", "-c", "4", "tcp", "port", "4000"]);
    let mut capture = ChildGuard::spawn(cmd, "ustack-capture");
    wait_stderr(&capture, "listening on", "ustack capture");
    let got = sh(&ns, &format!("echo shout | nc -N -w5 {STACK_ADDR} 4000"));
    assert_eq!(got, "SHOUT\n");
    let status = capture.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{}", capture.stderr());
    let lines: Vec<String> = capture.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let to_server = format!("> {STACK_ADDR}.4000: Flags [S]");
    let from_server = format!("IP {STACK_ADDR}.4000 > {HOST_ADDR}.");
    assert!(lines[0].contains(&to_server), "{lines:?}");
    assert!(
        lines[1].contains(&from_server) && lines[1].contains("[S.]"),
        "{lines:?}"
    );
    drop(session);
    stop_example(&ns, &mut server, libc::SIGINT);
    // The control socket went with it.
    assert!(!socket.exists(), "{} is still there", socket.display());
}

#[test]
fn raw_syn_reads_the_kernels_syn_ack_from_an_open_port_and_rst_from_a_closed_one() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ex-raw");
    // On every address, so it listens before the TUN exists.
    let listener = ns.run(|| std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap());
    let open = listener.local_addr().unwrap().port();
    for (port, flags) in [(open, "Flags [S.]"), (open + 1, "Flags [R.]")] {
        let mut cmd = ns.command(example_bin("raw_syn"));
        cmd.args(["--port", &port.to_string()]);
        let out = ustack_tests::e2e::run_limited(cmd, "raw_syn", LIMIT);
        let text = output_text(&out);
        assert!(out.status.success(), "raw_syn: {text}");
        let sent = format!("sent IP {STACK_ADDR}.");
        let got = format!("got  IP {HOST_ADDR}.{port} > {STACK_ADDR}.");
        assert!(
            text.contains(&sent) && text.contains("Flags [S], seq 1000"),
            "{text}"
        );
        assert!(text.contains(&got) && text.contains(flags), "{text}");
        assert!(text.contains("ack 1001"), "{text}");
    }
}
