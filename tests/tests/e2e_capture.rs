//! `ustack capture` against a running `ustack up`, each test in its own namespace: a ping and a
//! curl from the kernel side are captured with the same packets, byte for byte, as tcpdump on
//! the kernel side of the TUN sees them (and `-r` prints them exactly as `tcpdump -r` does, with
//! -S, -v, -X, -XX, -A); `-c` stops on
//! its own; a filter that does not parse is refused with its column while the stack runs on; a
//! capture client that stops reading costs it dropped packets, counted, while an 8 MiB download
//! still completes with the right SHA-256; and the `capture` request on the wire (raw JSON lines).
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::path::Path;
use std::time::{Duration, Instant};
use ustack_apps::daemon::pcap::read_packets;
use ustack_tests::capture::{assert_same_lines, start, summary, tcpdump_r, ustack_r};
use ustack_tests::control::RawControl;
use ustack_tests::e2e::{
    curl, kernel_tcpdump, pseudo_random, run_in, ustack_bin, Scratch, Up, STACK_ADDR,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

const FILTER: [&str; 5] = ["icmp", "or", "tcp", "port", "80"];

/// The packets of a pcap file so far.
fn records(file: &Path) -> Vec<Vec<u8>> {
    read_packets(file)
        .map(|r| r.into_iter().map(|r| r.data).collect())
        .unwrap_or_default()
}

/// Waits until `file` holds at least `n` packets (tcpdump may lag), at most 10 s.
fn wait_records(file: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while records(file).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &ChildGuard, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.pid()).unwrap();
    // SAFETY: kill takes no pointers; the child is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn capture_sees_what_tcpdump_sees_for_a_ping_and_a_curl() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("capture", "same");
    let (ours_file, kernel_file) = (scratch.path("f.pcap"), scratch.path("k.pcap"));
    let ns = NetNs::new("capture-same");
    let up = Up::start(&ns, &[]);
    let mut dump = kernel_tcpdump(&ns, "ustack0", &kernel_file, &FILTER);
    let mut args = vec!["-w", ours_file.to_str().unwrap()];
    args.extend(FILTER);
    let mut all = start(&ns, &args, "capture-w");
    let mut lines = start(&ns, &["-c", "6", "icmp"], "capture-c");
    let stack = STACK_ADDR.to_string();
    let ping = run_in(
        &ns,
        "ping",
        &["-c", "3", "-i", "0.2", &stack],
        Duration::from_secs(20),
    );
    assert!(ping.status.success(), "{ping:?}");
    let (page, _) = curl(&ns, 20, &[&format!("http://{stack}/")]);
    assert!(page.contains("ustack"));
    std::thread::sleep(Duration::from_millis(300)); // the closing ACKs
                                                    // -c 6 ends by itself: three requests and three replies, printed like tcpdump.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines.try_wait().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        lines.try_wait().is_some_and(|s| s.success()),
        "{}",
        lines.stderr()
    );
    let printed = lines.stdout();
    assert_eq!(printed.lines().count(), 6, "{printed}");
    assert_eq!(
        printed
            .matches(" in  IP 198.18.0.1 > 198.18.0.2: ICMP echo request")
            .count(),
        3
    );
    assert_eq!(
        printed
            .matches(" out IP 198.18.0.2 > 198.18.0.1: ICMP echo reply")
            .count(),
        3
    );
    assert_eq!(summary(&lines.stderr(), "captured"), Some(6));
    // Stop the -w capture (as Ctrl-C would); it reports what it took.
    assert!(all
        .terminate(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    let ours = records(&ours_file);
    wait_records(&kernel_file, ours.len());
    dump.terminate(Duration::from_secs(5));
    let theirs = records(&kernel_file);
    assert!(ours.len() >= 6 + 8, "{} packets", ours.len());
    assert_eq!(summary(&all.stderr(), "captured"), Some(ours.len() as u64));
    assert_eq!(summary(&all.stderr(), "dropped"), Some(0));
    let (mut a, mut k) = (ours.clone(), theirs.clone());
    a.sort();
    k.sort();
    assert_eq!(
        a.len(),
        k.len(),
        "ustack {} vs tcpdump {}",
        a.len(),
        k.len()
    );
    assert!(a == k, "capture and tcpdump saw different bytes");
    // -r prints a file as tcpdump -r does, line for line and byte for byte: relative sequence
    // numbers (-S absolute), options, the HTTP hint, -v's header fields and checksums, the
    // -X/-XX/-A dumps — on the file tcpdump wrote and on ours.
    for file in [&kernel_file, &ours_file] {
        for flags in [
            &[][..],
            &["-S"],
            &["-v"],
            &["-X"],
            &["-XX"],
            &["-A"],
            &["-v", "-S"],
        ] {
            let (o, t) = (ustack_r(flags, file), tcpdump_r(flags, file));
            assert_same_lines(&o, &t, &format!("{} with {flags:?}", file.display()));
            if flags.is_empty() {
                assert_eq!(o.lines().count(), ours.len());
                assert!(
                    o.contains("ack 1, win") && o.contains(": HTTP: GET / HTTP/1.1"),
                    "{o}"
                );
            }
        }
    }
    let out = up.stop();
    assert!(out.contains("counters"));
}

#[test]
fn a_bad_filter_is_refused_with_its_column_and_the_stack_runs_on() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("capture-bad");
    let up = Up::start(&ns, &[]);
    let out = run_in(
        &ns,
        ustack_bin().to_str().unwrap(),
        &["capture", "tcp port"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error at column 9: expected a port number"),
        "{err}"
    );
    let ping = run_in(
        &ns,
        "ping",
        &["-c", "2", "-i", "0.2", &STACK_ADDR.to_string()],
        Duration::from_secs(10),
    );
    assert!(ping.status.success());
    up.stop();
}

#[test]
fn a_capture_that_stops_reading_loses_packets_not_the_download() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("capture", "stall");
    let www = scratch.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let big = pseudo_random(8 << 20, 5);
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let ns = NetNs::new("capture-stall");
    let up = Up::start(&ns, &["--http-root", www.to_str().unwrap()]);
    let mut cap = start(&ns, &["--buffer", "16", "tcp"], "capture-stalled");
    signal(&cap, libc::SIGSTOP); // stops reading: its socket and queues fill up
    let got = scratch.path("got.bin");
    curl(
        &ns,
        60,
        &[
            "-o",
            got.to_str().unwrap(),
            &format!("http://{STACK_ADDR}/big.bin"),
        ],
    );
    assert_eq!(sha256_hex(&std::fs::read(&got).unwrap()), sha256_hex(&big));
    signal(&cap, libc::SIGCONT);
    assert!(
        cap.terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "{}",
        cap.stderr()
    );
    let err = cap.stderr();
    let captured = summary(&err, "captured").unwrap_or_else(|| panic!("{err}"));
    let dropped = summary(&err, "dropped").unwrap_or_else(|| panic!("{err}"));
    eprintln!("stopped client: {captured} captured, {dropped} dropped");
    // ~6000 segments each way went by; a stopped client cannot have taken them all.
    assert!(dropped > 0, "{err}");
    assert!(captured > 0, "{err}");
    let out = up.stop();
    assert!(out.contains("counters"));
}

#[test]
fn the_capture_request_on_the_wire() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("capture-wire");
    let up = Up::start(&ns, &[]);
    // A filter that does not parse: bad_request with its column, then the connection closes.
    let mut c = RawControl::connect(&ns);
    let r = c.call(r#"{"v":1,"id":3,"req":"capture","filter":"tcp port"}"#);
    assert_eq!(r["reply"], "error", "{r}");
    assert_eq!(r["code"], "bad_request", "{r}");
    assert_eq!(
        r["message"],
        "filter: error at column 9: expected a port number"
    );
    assert!(c.line().is_none());
    // Two pings' worth, then the counts and the end.
    let mut c = RawControl::connect(&ns);
    let r = c.call(r#"{"v":1,"id":4,"req":"capture","filter":"icmp","count":4,"queue":8}"#);
    assert_eq!(
        (r["reply"].as_str(), r["id"].as_u64()),
        (Some("capturing"), Some(4)),
        "{r}"
    );
    assert_eq!(r["queue"], 8);
    let stack = STACK_ADDR.to_string();
    let ping = run_in(
        &ns,
        "ping",
        &["-c", "2", "-i", "0.2", &stack],
        Duration::from_secs(10),
    );
    assert!(ping.status.success());
    let mut dirs = Vec::new();
    for _ in 0..4 {
        let p = c.reply();
        assert_eq!(p["reply"], "packet", "{p}");
        let hex = p["hex"].as_str().unwrap();
        assert_eq!(hex.len(), 2 * p["len"].as_u64().unwrap() as usize);
        assert!(hex.starts_with("45"), "{p}");
        assert!(p["time_us"].as_u64().unwrap() > 1_600_000_000_000_000);
        dirs.push(p["dir"].as_str().unwrap().to_string());
    }
    assert_eq!(dirs, ["in", "out", "in", "out"]);
    let counts = c.reply();
    assert_eq!(counts["reply"], "captured", "{counts}");
    assert_eq!(
        (counts["sent"].as_u64(), counts["dropped"].as_u64()),
        (Some(4), Some(0))
    );
    let end = c.reply();
    assert_eq!(
        (end["reply"].as_str(), end["reason"].as_str()),
        (Some("end"), Some("count reached"))
    );
    up.stop();
}
