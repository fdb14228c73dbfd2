//! `ustack capture -w` writing files as tcpdump does, each test in its own namespace: `-s 96`
//! keeps 96 bytes of each packet with its real length (tcpdump reads the file and prints it as
//! ustack does), `-C 1 -W 3` keeps a ring of three files of a million bytes during a 4 MiB
//! download (the download intact), `-G 1 -W 2` names files by strftime and stops after two; and
//! options that cannot go together are refused with exit code 2 before anything starts.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use ustack_apps::daemon::pcap::{read_packets, PcapReader};
use ustack_tests::capture::{assert_same_lines, start, summary, tcpdump_r, ustack_r};
use ustack_tests::e2e::{
    curl, pseudo_random, run_in, ustack_bin, wait_stderr, Scratch, Up, STACK_ADDR,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

fn stop(child: &mut ChildGuard) -> String {
    assert!(
        child
            .terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "{}",
        child.stderr()
    );
    child.stderr()
}

/// "N packets captured" from a capture's closing lines.
fn captured(stderr: &str) -> u64 {
    summary(stderr, "captured").unwrap_or_else(|| panic!("{stderr}"))
}

#[test]
fn a_snap_length_and_a_ring_of_files() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("capfiles", "ring");
    let www = scratch.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let big = pseudo_random(4 << 20, 11);
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let ns = NetNs::new("capfiles-ring");
    let up = Up::start(&ns, &["--http-root", www.to_str().unwrap()]);
    let (snap, ring) = (scratch.path("snap.pcap"), scratch.path("ring"));
    let mut s = start(
        &ns,
        &["-s", "96", "-w", snap.to_str().unwrap(), "tcp"],
        "snap",
    );
    let ring_args = ["-C", "1", "-W", "3", "--buffer", "65536", "-w"];
    let mut r = start(
        &ns,
        &[&ring_args[..], &[ring.to_str().unwrap(), "tcp"]].concat(),
        "ring",
    );
    let got = scratch.path("got.bin");
    let url = format!("http://{STACK_ADDR}/big.bin");
    curl(&ns, 60, &["-o", got.to_str().unwrap(), &url]);
    assert_eq!(sha256_hex(&std::fs::read(&got).unwrap()), sha256_hex(&big));
    std::thread::sleep(Duration::from_millis(300));
    let (serr, rerr) = (stop(&mut s), stop(&mut r));

    // -s 96: every record holds at most 96 bytes and keeps its real length; the header says 96.
    let recs = read_packets(&snap).unwrap();
    assert_eq!(recs.len() as u64, captured(&serr));
    assert!(recs.iter().all(|r| r.data.len() <= 96));
    assert!(recs
        .iter()
        .any(|r| r.data.len() == 96 && r.orig_len == 1500));
    let header = PcapReader::new(std::fs::File::open(&snap).unwrap()).unwrap();
    assert_eq!(header.snaplen(), 96);
    // tcpdump reads it, and prints the cut packets as ustack does.
    for flags in [&[][..], &["-v"]] {
        let (ours, theirs) = (ustack_r(flags, &snap), tcpdump_r(flags, &snap));
        assert_same_lines(&ours, &theirs, &format!("-s 96 with {flags:?}"));
    }

    // -C 1 -W 3: ring0, ring1, ring2 (padded to one digit), nothing else; each full file is a
    // million bytes and at most one packet more; together they hold fewer packets than the
    // capture took (the ring went round).
    let names: Vec<_> = ["ring0", "ring1", "ring2"]
        .iter()
        .map(|n| scratch.path(n))
        .collect();
    assert!(names.iter().all(|p| p.exists()), "{rerr}");
    assert!(!scratch.path("ring").exists() && !scratch.path("ring3").exists());
    let mut kept = 0;
    for p in &names {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(
            len <= 1_000_000 + 16 + 1500,
            "{} is {len} bytes",
            p.display()
        );
        kept += read_packets(p).unwrap().len() as u64;
        tcpdump_r(&[], p);
    }
    let took = captured(&rerr);
    assert!(took > kept && kept > 1000, "took {took}, kept {kept}");
    up.stop();
}

#[test]
fn time_rotation_names_files_and_stops_after_w() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("capfiles", "time");
    let ns = NetNs::new("capfiles-time");
    let up = Up::start(&ns, &[]);
    let pattern = scratch.path("t-%s.pcap");
    let mut cmd = ns.command(ustack_bin());
    cmd.args(["capture", "-G", "1", "-W", "2", "-w"])
        .arg(&pattern)
        .arg("icmp");
    let mut cap = ChildGuard::spawn(cmd, "capture-G");
    wait_stderr(&cap, "listening on", "capture-G");
    let started = Instant::now();
    let stack = STACK_ADDR.to_string();
    let ping = run_in(
        &ns,
        "ping",
        &["-c", "15", "-i", "0.2", &stack],
        Duration::from_secs(20),
    );
    assert!(ping.status.success());
    // It stopped by itself, at the first packet after 2 s, as tcpdump does.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = cap.try_wait();
    while status.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        status = cap.try_wait();
    }
    assert!(status.is_some_and(|s| s.success()), "{}", cap.stderr());
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(cap.stderr().contains("Maximum file limit reached: 2"));
    let mut files: Vec<_> = std::fs::read_dir(scratch.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let secs = f.strip_prefix("t-").and_then(|f| f.strip_suffix(".pcap"));
        assert!(secs.is_some_and(|s| s.parse::<u64>().is_ok()), "{f}");
        assert!(!read_packets(&scratch.path(f)).unwrap().is_empty());
    }
    up.stop();
}

#[test]
fn options_that_cannot_go_together_are_refused() {
    let scratch = Scratch::new("capfiles", "bad");
    let f = scratch.path("f.pcap");
    let f = f.to_str().unwrap();
    for (args, says) in [
        (vec!["-C", "1"], "-w"),
        (vec!["-G", "5"], "-w"),
        (vec!["-W", "2", "-w", f], "-C or -G"),
        (vec!["-C", "0", "-w", f], "invalid file size 0"),
        (vec!["-G", "0", "-w", f], "invalid rotation time 0"),
        (
            vec!["-C", "1", "-W", "0", "-w", f],
            "invalid number of output files",
        ),
        (vec!["-s", "abc"], "invalid value"),
        (vec!["-s", "-5"], ""),
    ] {
        let out = Command::new(ustack_bin())
            .arg("capture")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!Path::new(f).exists(), "{args:?} created the file");
    }
}
