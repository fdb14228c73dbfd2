//! End to end against the Linux kernel, issue 16 (hardening II) for the HTTP service of
//! `ustack up`: `/stats` over the network names no peer unless `--public-stats` (finding 7), and
//! SIGTERM stops `up` within a second while its file server is under the FIFO swap race
//! (finding 2). Each test runs in a namespace of its own.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ustack_tests::e2e::{curl, Scratch, Up, HOST_ADDR, STACK_ADDR};
use ustack_tests::netns::{tun_available, NetNs};

const BASE: &str = "http://198.18.0.2";

/// A kernel connection to the stack's echo service (port 7), left open.
fn open_echo(ns: &NetNs) -> TcpStream {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(
            &SocketAddrV4::new(STACK_ADDR, 7).into(),
            Duration::from_secs(5),
        )
        .expect("connect to the echo service");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Round trip once, so the connection is established on both sides.
        s.write_all(b"ping\n").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping\n");
        s
    })
}

/// `/stats` and `/stats.json` as a client on the network gets them, with one kernel
/// connection open; returns (its address:port as the stack sees it, text, json).
fn stats_with_a_peer(tag: &str, extra: &[&str]) -> (String, String, String) {
    let ns = NetNs::new(tag);
    let up = Up::start(&ns, extra);
    let peer = open_echo(&ns);
    let me = peer.local_addr().unwrap().to_string();
    assert!(me.starts_with(&format!("{HOST_ADDR}:")), "{me}");
    let (text, _) = curl(&ns, 30, &[&format!("{BASE}/stats")]);
    let (json, _) = curl(&ns, 30, &[&format!("{BASE}/stats.json")]);
    drop(peer);
    up.stop();
    (me, text, json)
}

#[test]
fn stats_over_the_network_name_no_peer_unless_public_stats() {
    if !tun_available() {
        return;
    }
    let (me, text, json) = stats_with_a_peer("stats-private", &[]);
    // Neither the open connection's address:port nor the kernel's address at all (curl's own
    // connection comes from it too).
    for page in [&text, &json] {
        assert!(!page.contains(&me), "{me} listed:\n{page}");
        assert!(
            !page.contains(&HOST_ADDR.to_string()),
            "a peer listed:\n{page}"
        );
    }
    // The counters, the summary and our side of the rows are still there.
    assert!(text.contains("by state: ESTABLISHED"), "{text}");
    assert!(text.contains("198.18.0.2:7 "), "{text}");
    assert!(text.contains("ip_rx_packets"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peer_addresses"], false, "{json}");
    assert!(v["states"]["ESTABLISHED"].as_u64() >= Some(2), "{json}");
    assert!(v["counters"]["ip_rx_packets"].as_u64() > Some(0), "{json}");
    let rows = v["connections"].as_array().expect("connections");
    assert!(rows.iter().any(|r| r["local"] == "198.18.0.2:7"), "{json}");
    assert!(rows.iter().all(|r| r.get("remote").is_none()), "{json}");

    // Asked for: every peer with its port.
    let (me, text, json) = stats_with_a_peer("stats-public", &["--public-stats"]);
    assert!(text.contains(&me), "{me} not in:\n{text}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peer_addresses"], true, "{json}");
    let rows = v["connections"].as_array().expect("connections");
    assert!(
        rows.iter()
            .any(|r| r["local"] == "198.18.0.2:7" && r["remote"] == me.as_str()),
        "{me} not in:\n{json}"
    );
}

/// Swaps `dir/swap` between a regular file and a FIFO (each put in place by rename, so the
/// name always exists) until `stop`; returns how many swaps it made.
fn swap_file_and_fifo(dir: &Path, stop: &AtomicBool) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let (name, file, fifo) = (dir.join("swap"), dir.join(".file"), dir.join(".fifo"));
    let fifo_c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    let mut swaps = 0;
    while !stop.load(Ordering::Relaxed) {
        std::fs::write(&file, "a regular file\n").unwrap();
        std::fs::rename(&file, &name).unwrap();
        // SAFETY: `fifo_c` is a NUL-terminated path that outlives the call.
        let rc = unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o644) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        std::fs::rename(&fifo, &name).unwrap();
        swaps += 2;
        std::thread::sleep(Duration::from_micros(200));
    }
    swaps
}

/// Answers seen by the clients of the swap race.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    not_found: AtomicU64,
    other: AtomicU64,
}

/// One client of the race (on a thread in the namespace): `GET /swap` on fresh connections
/// until `stop`, counting answers; a request the server never answers times out after 2 s.
fn request_swap_until(stop: &AtomicBool, seen: &Seen) {
    while !stop.load(Ordering::Relaxed) {
        let addr = SocketAddrV4::new(STACK_ADDR, 80).into();
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = b"GET /swap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let mut resp = Vec::new();
        if s.write_all(req).is_err() || s.read_to_end(&mut resp).is_err() {
            continue;
        }
        let counter = if resp.starts_with(b"HTTP/1.1 200 ") {
            &seen.ok
        } else if resp.starts_with(b"HTTP/1.1 404 ") {
            &seen.not_found
        } else {
            &seen.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Finding 2: a FIFO swapped in between the file server's check and its open used to block a
/// disk thread in open(2) for good, and dropping the runtime waited for it, so SIGTERM did not
/// stop `up`. The requirement: the process is gone within 1 s of SIGTERM, race or not.
#[test]
fn sigterm_stops_up_within_a_second_during_the_fifo_swap_race() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("http", "fifo");
    let www = scratch.path("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("swap"), "a regular file\n").unwrap();
    let ns = NetNs::new("http-fifo");
    let mut up = Up::start(&ns, &["--http-root", www.to_str().unwrap()]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let (took, status, swaps) = std::thread::scope(|sc| {
        let swapper = sc.spawn(|| swap_file_and_fifo(&www, &stop));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let clients = sc.spawn(|| {
            ns.run(move || {
                let threads: Vec<_> = (0..6)
                    .map(|_| {
                        let (stop, seen) = (stop2.clone(), seen2.clone());
                        std::thread::spawn(move || request_swap_until(&stop, &seen))
                    })
                    .collect();
                for t in threads {
                    let _ = t.join();
                }
            })
        });
        // Race for a while: until enough answers of both kinds came, or 10 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && (seen.ok.load(Ordering::Relaxed) < 200
                || seen.not_found.load(Ordering::Relaxed) < 200)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        // SIGTERM while the clients and the swapper are still at it.
        let t = Instant::now();
        let status = up.child.terminate(Duration::from_secs(5));
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        clients.join().unwrap();
        (took, status, swaps)
    });
    let (ok, nf, other) = (
        seen.ok.load(Ordering::Relaxed),
        seen.not_found.load(Ordering::Relaxed),
        seen.other.load(Ordering::Relaxed),
    );
    eprintln!("swaps {swaps}; answers: 200 {ok}, 404 {nf}, other {other}; exit after {took:?}");
    // The race ran: the name was served as a file and refused as a FIFO, many times.
    assert!(ok > 0 && nf > 0, "200 {ok}, 404 {nf}, swaps {swaps}");
    assert!(
        status.is_some(),
        "ustack up did not exit within 5 s of SIGTERM (killed):\n{}",
        up.child.stderr()
    );
    assert!(
        took <= Duration::from_secs(1),
        "ustack up took {took:?} to exit after SIGTERM"
    );
}
