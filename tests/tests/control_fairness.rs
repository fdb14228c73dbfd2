//! End to end: fairness of the control socket (issue 16, finding 6) — clients that do not read
//! lose their slot within the documented bound (docs/CONTROL.md: bytes wait for them and they
//! take none for 10 s), on a timer rather than at the next message, and a client that pipelines
//! many requests gets every reply once it reads (back-pressure, not a drop).
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use ustack_tests::control::{control_path, RawControl};
use ustack_tests::e2e::{Up, STACK_ADDR};
use ustack_tests::netns::{tun_available, NetNs};

/// docs/CONTROL.md: a client with bytes waiting that takes none of them for this long is
/// dropped.
const STALL: Duration = Duration::from_secs(10);
/// What the test allows on top of it (the daemon's timer, a loaded machine).
const SLACK: Duration = Duration::from_secs(5);

/// A raw connection that sends `line` and then never reads.
fn silent(ns: &NetNs, line: &str) -> UnixStream {
    let mut s = UnixStream::connect(control_path(ns, "ustack0")).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    s
}

/// A fresh connection's answer to `line` (its first reply line), or None if it was closed
/// without one. (A refused client may be closed before the request is even written: the
/// refusal is still there to read.)
fn first_reply(ns: &NetNs, line: &str) -> Option<serde_json::Value> {
    let mut s = UnixStream::connect(control_path(ns, "ustack0")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(format!("{line}\n").as_bytes());
    let mut reply = String::new();
    match BufReader::new(s).read_line(&mut reply) {
        Ok(n) if n > 0 => Some(serde_json::from_str(&reply).unwrap()),
        _ => None,
    }
}

/// Polls a fresh connection with `line` until its first reply is of kind `want`; panics if
/// that takes longer than `limit`. Returns how long it took.
fn until_answered(ns: &NetNs, line: &str, want: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let r = first_reply(ns, line);
        if r.as_ref().is_some_and(|r| r["reply"] == want) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "still no `{want}` for {line} after {limit:?}; last answer {r:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The control server's counters (`stats` → `control`).
fn control_stats(ns: &NetNs) -> serde_json::Value {
    let r = first_reply(ns, r#"{"v":1,"id":1,"req":"stats"}"#).expect("a stats reply");
    r["control"].clone()
}

#[test]
fn events_subscribers_that_never_read_lose_their_slots_and_hello_answers_again() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fair-events");
    let up = Up::start(&ns, &[]);
    // A connection in the table: every `events` subscriber is sent an `open` line for it.
    let held = ns.run(|| TcpStream::connect((STACK_ADDR, 9)).unwrap());
    let req = r#"{"v":1,"id":3,"req":"events","interval_ms":1000}"#;
    // One subscriber reads all it is sent, on a thread: it must stay.
    let mut reader = RawControl::connect(&ns);
    reader.send(req);
    let r = reader.reply();
    assert_eq!(
        (r["reply"].as_str(), r["event"].as_str()),
        (Some("event"), Some("open")),
        "{r}"
    );
    let closer = reader.stream.try_clone().unwrap();
    let reading = std::thread::spawn(move || loop {
        match reader.line() {
            Some(l) if l.contains(r#""reply":"end""#) => return Some(l),
            Some(_) => {}
            None => return None,
        }
    });
    let t0 = Instant::now();
    let stalled: Vec<UnixStream> = (0..63).map(|_| silent(&ns, req)).collect();
    // Every slot is taken: `hello` is refused (wait for the daemon to have seen all 64).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = first_reply(&ns, r#"{"v":1,"id":1,"req":"hello"}"#);
        if r.as_ref().is_some_and(|r| r["code"] == "too_many_clients") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slots never filled up: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The non-readers are dropped within the bound, without any further traffic.
    until_answered(
        &ns,
        r#"{"v":1,"id":1,"req":"hello"}"#,
        "hello",
        (STALL + SLACK).saturating_sub(t0.elapsed()),
    );
    let c = control_stats(&ns);
    assert_eq!(c["refused"]["not_reading"], 63, "{c}");
    assert!(
        c["refused"]["too_many_clients"].as_u64().unwrap() >= 1,
        "{c}"
    );
    // The reading subscriber was not dropped: it ends as asked, with `end`.
    closer.shutdown(std::net::Shutdown::Write).unwrap();
    let end = reading
        .join()
        .unwrap()
        .expect("the reader's stream ended without `end`");
    assert!(end.contains(r#""reason":"client finished""#), "{end}");
    drop((stalled, held));
    up.stop();
}

#[test]
fn a_capture_that_never_matches_and_never_reads_frees_its_slot() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fair-capture");
    let up = Up::start(&ns, &[]);
    // Nothing on this link ever goes to or from 203.0.113.99: no packet will come to wake a
    // job that only looks at its client when it has something to send.
    let req = r#"{"v":1,"id":4,"req":"capture","filter":"host 203.0.113.99"}"#;
    let t0 = Instant::now();
    let stalled: Vec<UnixStream> = (0..16).map(|_| silent(&ns, req)).collect();
    // Every capture slot is taken.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = first_reply(&ns, req).expect("an answer");
        if r["reply"] == "error" {
            assert_eq!(r["code"], "failed", "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a 17th capture was attached: {r}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Within the bound a capture can attach again (each non-reader left its unread
    // `capturing` line behind it).
    until_answered(
        &ns,
        req,
        "capturing",
        (STALL + SLACK).saturating_sub(t0.elapsed()),
    );
    let c = control_stats(&ns);
    assert_eq!(c["refused"]["not_reading"], 16, "{c}");
    assert!(
        c["refused"]["too_many_captures"].as_u64().unwrap() >= 1,
        "{c}"
    );
    drop(stalled);
    up.stop();
}

/// Writes `n` `hello` requests (ids 1..=n) without reading, waits, then reads: every reply
/// comes, in order.
fn pipeline(ns: &NetNs, n: u64) {
    let mut c = UnixStream::connect(control_path(ns, "ustack0")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut all = Vec::new();
        for id in 1..=n {
            all.extend_from_slice(
                format!("{{\"v\":1,\"id\":{id},\"req\":\"hello\"}}\n").as_bytes(),
            );
        }
        w.write_all(&all).unwrap();
    });
    // Not reading for a while: the daemon's queue for us fills up meanwhile.
    std::thread::sleep(Duration::from_millis(500));
    let mut rd = BufReader::new(&mut c);
    for id in 1..=n {
        let mut line = String::new();
        let got = rd.read_line(&mut line).unwrap_or(0);
        assert!(got > 0, "reply {id} of {n} never came (connection closed)");
        let r: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (r["reply"].as_str(), r["id"].as_u64()),
            (Some("hello"), Some(id)),
            "{r}"
        );
    }
    writer.join().unwrap();
}

#[test]
fn a_client_pipelining_many_requests_gets_every_reply() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fair-pipeline");
    let up = Up::start(&ns, &[]);
    pipeline(&ns, 300);
    pipeline(&ns, 10_000);
    let c = control_stats(&ns);
    assert_eq!(c["refused"]["not_reading"], 0, "{c}");
    up.stop();
}
