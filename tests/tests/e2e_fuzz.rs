//! End to end: `ustack fuzz` (issue 18). (a) A second `ustack up` (B, on ustack1 at
//! 198.18.1.2) in the same namespace, reached through the kernel, which forwards what is
//! IP-valid: 100,000 fuzzed TCP, UDP and ICMP packets from stack A, checked by ping and a TCP
//! handshake to B's echo port between rounds; B must still answer curl and ping afterwards,
//! hold no stuck connection, its memory back near its baseline, and exit 0 on SIGTERM (no
//! panic). (b) Inject mode: 100,000 packets with fuzzed IPv4 header fields fed into A's own
//! receive path (garbage the kernel would never forward), and fragment fields on their own:
//! A survives, memory back to baseline and reassembly within its bounds. (c) The Linux kernel
//! (198.18.0.1) as the target, a short run checked by ping; and the target rule's refusal, for
//! the template and for a packet whose fuzzed version makes it IPv6. (d) A hang: reported with
//! the round's packets (pcap, equal to the seed's), replayed by `--from`, a pcap packet as the
//! next template. (e) SIGTERM / Ctrl-C stops a long run at once, with its summary.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use ustack_tests::control::control_path;
use ustack_tests::e2e::{curl, output_text, rss_anon_kib, run_in, ustack_bin, Scratch, Up};
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

/// Starts B: `ustack up --tun ustack1 --addr 198.18.1.2 --host-addr 198.18.1.1` in `ns`,
/// waiting for its banner.
fn start_b(ns: &NetNs) -> ChildGuard {
    let mut cmd = ns.command(ustack_bin());
    cmd.args([
        "up",
        "--tun",
        "ustack1",
        "--addr",
        "198.18.1.2",
        "--host-addr",
        "198.18.1.1",
        "--no-ipv6",
    ]);
    let mut child = ChildGuard::spawn(cmd, "ustack-up-b");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child.stdout().contains("Ctrl-C to stop.") {
        if let Some(s) = child.try_wait() {
            panic!("B exited early with {s}:\n{}", child.stderr());
        }
        assert!(Instant::now() < deadline, "B printed no banner in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `ustack fuzz --json ARGS` in `ns` (attached to A on ustack0): its events, and its exit code.
fn fuzz(ns: &NetNs, args: &[&str]) -> (Vec<Value>, i32) {
    let mut all = vec!["fuzz", "--json"];
    all.extend_from_slice(args);
    let bin = ustack_bin();
    let out = run_in(ns, bin.to_str().unwrap(), &all, Duration::from_secs(60));
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!("ustack fuzz {args:?} exited {code}:\n{}", output_text(&out));
    }
    (events, code)
}

/// The summary event of a run.
fn summary(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {events:?}"))
}

/// A `stats` reply from the daemon on `tun` in `ns`.
fn stats(ns: &NetNs, tun: &str) -> Value {
    let mut s = UnixStream::connect(control_path(ns, tun)).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"{\"v\":1,\"id\":1,\"req\":\"stats\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats["counters"][name].as_u64().unwrap_or(0)
}

fn memory(stats: &Value, name: &str) -> u64 {
    stats["memory"][name].as_u64().unwrap_or(0)
}

/// Waits (up to 15 s) until the stack on `tun` holds no more TCP connections than `base`,
/// nothing in reassembly or its transmit queue; returns its last stats.
fn settled(ns: &NetNs, tun: &str, base: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = stats(ns, tun);
        let quiet = memory(&s, "tcp_connections") <= base
            && memory(&s, "reassembly_bytes") == 0
            && memory(&s, "tx_queue_bytes") == 0;
        if quiet || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_second_stack_survives_fuzzed_tcp_udp_and_icmp_through_the_kernel() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fz");
    let fwd = run_in(
        &ns,
        "sysctl",
        &["-qw", "net.ipv4.ip_forward=1"],
        Duration::from_secs(5),
    );
    assert!(fwd.status.success(), "{}", output_text(&fwd));
    let a = Up::start(&ns, &[]);
    let mut b = start_b(&ns);
    let base = stats(&ns, "ustack1");
    let rss0 = rss_anon_kib(b.pid());
    let runs = [
        (
            "ip(dst=198.18.1.2)/tcp(dport=80)/raw(len=16)",
            "tcp.*,raw.load,ip.tos,ip.ident,ip.df",
            40_000,
        ),
        (
            "ip(dst=198.18.1.2)/udp(dport=7)/raw(len=16)",
            "udp.*,raw.load,ip.tos,ip.ident",
            30_000,
        ),
        (
            "ip(dst=198.18.1.2)/icmp/raw(len=16)",
            "icmp.*,raw.load,ip.tos",
            30_000,
        ),
    ];
    let mut sent = 0;
    for (i, (template, fields, count)) in runs.iter().enumerate() {
        let count = count.to_string();
        let seed = (40 + i).to_string();
        let (events, code) = fuzz(
            &ns,
            &[
                template,
                "--fields",
                fields,
                "-c",
                &count,
                "--rate",
                "50000",
                "--round",
                "10000",
                "--seed",
                &seed,
                "--check",
                "ping,tcp:7",
            ],
        );
        let s = summary(&events);
        assert_eq!(code, 0, "{events:?}");
        assert_eq!(
            (s["reason"].as_str(), s["hangs"].as_u64()),
            (Some("done"), Some(0)),
            "{s}"
        );
        assert_eq!(s["sent"].to_string(), count, "{s}");
        let rounds: Vec<&Value> = events.iter().filter(|e| e["event"] == "round").collect();
        assert_eq!(rounds.len() as u64, s["sent"].as_u64().unwrap() / 10_000);
        assert!(rounds.iter().all(|r| r["alive"] == true), "{rounds:?}");
        sent += s["sent"].as_u64().unwrap();
    }
    assert_eq!(sent, 100_000);
    // The kernel forwarded them (all are IP-valid): B received nearly all (a burst may
    // overflow the TUN's queue towards B: that loss is the kernel's, counted on ustack1).
    let after = settled(&ns, "ustack1", memory(&base, "tcp_connections"));
    let got = counter(&after, "ip_rx_packets") - counter(&base, "ip_rx_packets");
    assert!(got >= 90_000, "B received {got} of 100000: {after}");
    // No stuck connection, nothing held, and the process's heap back near its baseline.
    assert_eq!(
        memory(&after, "tcp_connections"),
        memory(&base, "tcp_connections"),
        "{after}"
    );
    assert_eq!(
        memory(&after, "tcp_buffer_bytes"),
        memory(&base, "tcp_buffer_bytes")
    );
    let rss1 = rss_anon_kib(b.pid());
    assert!(
        rss1 <= rss0 + 16 * 1024,
        "B's RssAnon {rss0} KiB → {rss1} KiB"
    );
    // B still serves: HTTP and ping.
    let (page, _) = curl(&ns, 5, &["http://198.18.1.2/"]);
    assert!(!page.is_empty());
    let ping = run_in(
        &ns,
        "ping",
        &["-c", "2", "-W", "2", "198.18.1.2"],
        Duration::from_secs(10),
    );
    assert!(ping.status.success(), "{}", output_text(&ping));
    // And it stops cleanly: no panic on the way.
    let status = b.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "B: {status:?}\n{}",
        b.stderr()
    );
    assert!(!b.stderr().contains("panicked"), "{}", b.stderr());
    a.stop();
}

#[test]
fn injected_ip_garbage_leaves_the_stack_alive_and_its_memory_at_baseline() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fzi");
    let a = Up::start(&ns, &[]);
    let base = stats(&ns, "ustack0");
    let rss0 = rss_anon_kib(a.child.pid());
    let header = "ip.version,ip.ihl,ip.tos,ip.total_len,ip.ident,ip.reserved_bit,ip.df,ip.ttl,\
                  ip.protocol,tcp.flags,tcp.seq,tcp.ack";
    let (events, code) = fuzz(
        &ns,
        &[
            "ip/tcp(dport=80)/raw(len=24)",
            "--inject",
            "--fields",
            header,
            "-c",
            "100000",
            "--rate",
            "1000000",
            "--round",
            "20000",
            "--seed",
            "5",
        ],
    );
    let s = summary(&events);
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(
        (s["sent"].as_u64(), s["hangs"].as_u64()),
        (Some(100_000), Some(0)),
        "{s}"
    );
    let start = events.iter().find(|e| e["event"] == "start").unwrap();
    assert_eq!(start["mode"], "inject");
    let after = settled(&ns, "ustack0", memory(&base, "tcp_connections"));
    let got = counter(&after, "ip_rx_packets") - counter(&base, "ip_rx_packets");
    assert!(got >= 100_000, "{got}: {after}");
    // Most were refused, each with its reason counted.
    let drops = after["drops_total"].as_u64().unwrap() - base["drops_total"].as_u64().unwrap();
    assert!(drops > 50_000, "{after}");
    assert_eq!(
        memory(&after, "tcp_connections"),
        memory(&base, "tcp_connections"),
        "{after}"
    );
    assert_eq!(memory(&after, "reassembly_bytes"), 0, "{after}");
    // Fragment fields: whatever is held stays inside reassembly's bounds (1024 datagrams,
    // 4 MiB; they expire after 30 s).
    let (events, code) = fuzz(
        &ns,
        &[
            "ip/udp(dport=7)/raw(len=64)",
            "--inject",
            "--fields",
            "ip.mf,ip.frag_offset,ip.ident",
            "-c",
            "20000",
            "--rate",
            "1000000",
            "--round",
            "10000",
            "--seed",
            "6",
        ],
    );
    assert_eq!(code, 0, "{events:?}");
    let frag = stats(&ns, "ustack0");
    assert!(memory(&frag, "reassembly_datagrams") <= 1024, "{frag}");
    assert!(memory(&frag, "reassembly_bytes") <= 4 << 20, "{frag}");
    let rss1 = rss_anon_kib(a.child.pid());
    assert!(
        rss1 <= rss0 + 16 * 1024,
        "A's RssAnon {rss0} KiB → {rss1} KiB"
    );
    let (page, _) = curl(&ns, 5, &["http://198.18.0.2/"]);
    assert!(!page.is_empty());
    let out = a.stop();
    assert!(!out.contains("panicked"));
}

#[test]
fn the_kernel_survives_a_short_run_and_other_networks_are_refused() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fzk");
    let a = Up::start(&ns, &[]);
    let (events, code) = fuzz(
        &ns,
        &[
            "ip(dst=198.18.0.1)/tcp/raw(len=8)",
            "-c",
            "5000",
            "--rate",
            "50000",
            "--round",
            "1000",
            "--seed",
            "11",
        ],
    );
    let s = summary(&events);
    assert_eq!(code, 0, "{events:?}");
    // Every field is fuzzed, the version too: the ~1/16 with version 6 would go to an IPv6
    // destination read from the TCP header, outside the rule, and are skipped.
    let skipped: u64 = s["skipped"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        s["skipped"].as_object().unwrap().len(),
        usize::from(skipped > 0),
        "{s}"
    );
    assert_eq!(
        (s["sent"].as_u64().unwrap() + skipped, s["rounds"].as_u64()),
        (5000, Some(5)),
        "{s}"
    );
    assert!(skipped < 600, "{s}");
    assert_eq!(s["hangs"], 0);
    // The same seed and indices give the same packets: a run reproduces.
    let again = fuzz(
        &ns,
        &[
            "ip(dst=198.18.0.1)/tcp/raw(len=8)",
            "-c",
            "1",
            "--seed",
            "11",
            "--from",
            "4999",
            "--check",
            "none",
        ],
    )
    .0;
    assert_eq!(summary(&again)["next"], 5000);
    // A target outside the prefix and the lab ranges: refused, nothing sent.
    let bin = ustack_bin();
    let out = run_in(
        &ns,
        bin.to_str().unwrap(),
        &["fuzz", "ip(dst=192.0.2.1)/udp"],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("--i-own-the-network"),
        "{}",
        output_text(&out)
    );
    // A fuzzed version 6 makes the kernel read an IPv6 destination out of the UDP header and
    // payload (here 14:…, outside every allowed range): such packets are skipped, counted.
    let (events, code) = fuzz(
        &ns,
        &[
            "ip(dst=198.18.0.1)/udp(dport=9)/raw(len=12)",
            "--fields",
            "ip.version",
            "-c",
            "1600",
            "--rate",
            "100000",
            "--round",
            "1600",
            "--check",
            "none",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, 0, "{events:?}");
    let s = summary(&events);
    let refused = s["skipped"]["target rule (fuzzed version: another destination)"]
        .as_u64()
        .unwrap_or(0);
    assert!((50..=160).contains(&refused), "{s}");
    assert_eq!(s["sent"].as_u64().unwrap() + refused, 1600, "{s}");
    a.stop();
}

#[test]
fn a_hang_is_reported_with_the_packets_that_replay_it() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fzh");
    let a = Up::start(&ns, &[]);
    // A hang: a lab address nobody answers. The round's packets are written as pcap, the
    // last of them is packet `last` of the seed (a run reproduces), and a pcap packet serves
    // as a template in turn.
    let dir = Scratch::new("fuzz", "hang");
    let pcap = dir.path("hang.pcap");
    let (events, code) = fuzz(
        &ns,
        &[
            "ip(dst=198.18.9.9)/udp(dport=9)/raw(len=4)",
            "-c",
            "300",
            "--round",
            "100",
            "--seed",
            "12",
            "--check-timeout",
            "0.2",
            "-w",
            pcap.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{events:?}");
    let hang = events
        .iter()
        .find(|e| e["event"] == "hang")
        .expect("a hang event");
    assert_eq!(
        (
            hang["round"].as_u64(),
            hang["first"].as_u64(),
            hang["last"].as_u64()
        ),
        (Some(1), Some(0), Some(99))
    );
    assert!(hang["check"]
        .as_str()
        .unwrap()
        .contains("no echo reply from 198.18.9.9"));
    let s = summary(&events);
    assert_eq!(
        (s["reason"].as_str(), s["sent"].as_u64(), s["next"].as_u64()),
        (Some("hang"), Some(100), Some(100))
    );
    let records = ustack_apps::daemon::pcap::read_packets(&pcap).unwrap();
    assert_eq!(records.len(), 100);
    let last = hang["packets"][99][1].as_str().unwrap();
    let hex: String = records[99]
        .data
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, last);
    let (replay, _) = fuzz(
        &ns,
        &[
            "ip(dst=198.18.9.9)/udp(dport=9)/raw(len=4)",
            "-c",
            "1",
            "--from",
            "99",
            "--seed",
            "12",
            "--check",
            "none",
        ],
    );
    assert_eq!(summary(&replay)["sent"], 1);
    let (from_pcap, code) = fuzz(
        &ns,
        &[
            "-r",
            pcap.to_str().unwrap(),
            "--index",
            "99",
            "--fields",
            "ip.ttl",
            "-c",
            "10",
            "--check",
            "none",
        ],
    );
    assert_eq!(code, 0, "{from_pcap:?}");
    let start = from_pcap.iter().find(|e| e["event"] == "start").unwrap();
    assert_eq!(start["target"], "198.18.9.9");
    assert_eq!(start["fields"], serde_json::json!(["ip.ttl"]));
    a.stop();
}

#[test]
fn ctrl_c_stops_a_long_run_at_once_with_its_summary() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fzc");
    let a = Up::start(&ns, &[]);
    // Ctrl-C (SIGTERM is handled alike) stops a long run at once, with its summary.
    let mut cmd = ns.command(ustack_bin());
    cmd.args([
        "fuzz",
        "--json",
        "ip(dst=198.18.0.1)/udp(dport=9)",
        "-c",
        "10000000",
    ]);
    cmd.args(["--rate", "1000", "--round", "100", "--check", "none"]);
    let mut child = ChildGuard::spawn(cmd, "fuzz-stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child.stdout().contains("\"round\"") {
        assert!(
            Instant::now() < deadline,
            "no round in 10 s: {}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    let status = child.terminate(Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?} {}",
        child.stderr()
    );
    let out = child.stdout();
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["reason"].as_str()),
        (Some("summary"), Some("stopped")),
        "{out}"
    );
    a.stop();
}
