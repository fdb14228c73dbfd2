//! End to end against the Linux kernel: `ustack lab` and `ustack trace` (issue 11, items 5, 8
//! and 10). A lab with `--mtu-path 1500,1400,1280` is a chain host ⇄ r1 ⇄ r2 ⇄ far of real
//! kernel routers; `ustack trace` from the stack (its own TUN in `<lab>-host`) must list every
//! hop in order and reach far with UDP, ICMP and TCP probes; `--pmtu` must find 1280 from the
//! routers' real fragmentation-needed errors; a silent or unrouted destination must end cleanly
//! with stars or a marker; and nothing of the lab may be left after it stops or `lab down`.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::process::{Command, Output};
use std::time::{Duration, Instant};
use ustack_tests::control::RawControl;
use ustack_tests::e2e::{ustack_bin, Up};
use ustack_tests::kclient::signal;
use ustack_tests::lab::{lab_down, lab_down_ok, lab_name, lab_namespaces, path_lines, resume, Lab};
use ustack_tests::netns::{tun_available, NetNs};

/// The hops from the stack to far in a three-link lab, in order.
const HOPS: [&str; 4] = ["198.18.0.1", "198.19.1.2", "198.19.2.2", "198.19.3.2"];
const FAR: &str = "198.19.3.2";

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hop lines of traceroute output: (ttl, the rest of the line).
fn hop_lines(stdout: &str) -> Vec<(u8, String)> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (ttl, rest) = l.trim_start().split_once(' ')?;
            Some((ttl.parse().ok()?, rest.trim().to_string()))
        })
        .collect()
}

/// Checks a traceroute output lists every hop of the lab, in order, each probe answered.
fn assert_every_hop(what: &str, out: &Output) {
    let stdout = text(out);
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("traceroute to {FAR} ({FAR}), ")),
        "{what}:\n{stdout}"
    );
    let hops = hop_lines(&stdout);
    assert_eq!(
        hops.len(),
        HOPS.len(),
        "{what}: one line per hop:\n{stdout}"
    );
    for (i, (ttl, rest)) in hops.iter().enumerate() {
        assert_eq!(usize::from(*ttl), i + 1, "{what}:\n{stdout}");
        assert!(
            rest.starts_with(HOPS[i]),
            "{what}: hop {ttl} is {}:\n{stdout}",
            HOPS[i]
        );
        assert_eq!(
            rest.matches(" ms").count(),
            2,
            "{what}: both probes answered:\n{stdout}"
        );
        assert!(
            !rest.contains('*') && !rest.contains('!'),
            "{what}:\n{stdout}"
        );
    }
}

#[test]
fn trace_lists_every_hop_with_udp_icmp_and_tcp_probes() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start("1500,1400,1280");
    for (what, extra) in [
        ("udp", &[][..]),
        ("icmp", &["-I"][..]),
        ("tcp to the far-end server", &["-T", "-p", "80"][..]),
        ("tcp to a closed port (RST)", &["-T", "-p", "81"][..]),
    ] {
        let mut args = vec!["-n", "-q", "2", "-w", "2"];
        args.extend_from_slice(extra);
        args.push(FAR);
        assert_every_hop(what, &lab.trace(&args));
    }
    // The same trace as JSON: one object per event, ending with "reached after 4 hops".
    let out = lab.trace(&["-n", "-q", "1", "-w", "2", "--json", FAR]);
    let events: Vec<serde_json::Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let froms: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "probe")
        .map(|e| e["from"].as_str().unwrap_or("*"))
        .collect();
    assert_eq!(froms, HOPS);
    let done = events.last().expect("events");
    assert_eq!(
        (done["event"].as_str(), done["reached"].as_bool()),
        (Some("done"), Some(true))
    );
    assert_eq!(done["hops"], 4);
    lab.stop();
}

/// `ustack trace --pmtu` against `tracepath -n` (iputils) from the kernel of the lab's host
/// namespace, on the same targets: the same layout, the same MTU reports from the same routers,
/// one hop more (the stack sits one hop behind that kernel), the same `Resume` line. tracepath
/// prints its first hop twice (its first 65535-byte probe fails locally and is sent again);
/// ustack starts from the link MTU and prints it once: consecutive repeats are folded.
#[test]
fn trace_pmtu_prints_what_tracepath_prints() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start("1500,1400,1280");
    let ours = lab.trace(&["-n", "--pmtu", FAR]);
    let theirs = lab.at_host(&format!("tracepath -n {FAR}"));
    let (ours_text, theirs_text) = (text(&ours), text(&theirs));
    let both = format!("ustack:\n{ours_text}\ntracepath:\n{theirs_text}");
    assert!(ours.status.success() && theirs.status.success(), "{both}");
    let first = |t: &str| t.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&ours_text), first(&theirs_text), "{both}");
    assert!(first(&ours_text).ends_with("pmtu 1500"), "{both}");
    let mut theirs_lines = path_lines(&theirs_text);
    theirs_lines.dedup_by(|a, b| (a.ttl, &a.host, &a.tail) == (b.ttl, &b.host, &b.tail));
    let ours_lines = path_lines(&ours_text);
    // The RTT column, and every line's ending, exactly as tracepath's.
    for l in ours_lines.iter().chain(&theirs_lines) {
        assert_eq!(l.ms_col, theirs_lines[0].ms_col, "{l:?}\n{both}");
    }
    let shifted: Vec<(u8, String, String)> = theirs_lines
        .iter()
        .map(|l| (l.ttl + 1, l.host.clone(), l.tail.clone()))
        .collect();
    let ours_rows: Vec<(u8, String, String)> = ours_lines
        .iter()
        .map(|l| (l.ttl, l.host.clone(), l.tail.clone()))
        .collect();
    assert_eq!(
        ours_rows[0],
        (1, HOPS[0].to_string(), String::new()),
        "{both}"
    );
    // r1 (198.19.1.2) cannot forward 1500 bytes onto the 1400 link, r2 not 1400 onto 1280.
    assert_eq!(ours_rows[1..], shifted[..], "{both}");
    assert!(
        shifted.contains(&(3, "198.19.1.2".into(), "pmtu 1400".into()))
            && shifted.contains(&(4, "198.19.2.2".into(), "pmtu 1280".into()))
            && shifted.last() == Some(&(4, FAR.into(), "reached".into())),
        "{both}"
    );
    // Resume: the same pmtu; hops and back (from the answer's TTL) one more than the kernel's.
    let ((ours_resume, ours_line), (theirs_resume, theirs_line)) =
        (resume(&ours_text), resume(&theirs_text));
    assert_eq!(theirs_resume, [1280, 3, 3], "{both}");
    assert_eq!(ours_resume, [1280, 4, 4], "{both}");
    assert_eq!(
        ours_line.replace(['3', '4'], "N"),
        theirs_line.replace(['3', '4'], "N"),
        "{both}"
    );
    // A destination refused with host unreachable: `!H`, and Resume without hops.
    let ours = text(&lab.trace(&["-n", "--pmtu", "198.19.251.1"]));
    let theirs = text(&lab.at_host("tracepath -n 198.19.251.1"));
    let both = format!("ustack:\n{ours}\ntracepath:\n{theirs}");
    let last_tail = |t: &str| path_lines(t).last().map(|l| l.tail.clone());
    assert_eq!(last_tail(&ours), Some("!H".into()), "{both}");
    assert_eq!(last_tail(&ours), last_tail(&theirs), "{both}");
    assert_eq!(resume(&ours).1, resume(&theirs).1, "{both}");
    lab.stop();
}

/// `ustack ping -M do` with requests the path cannot carry whole: r1 answers "fragmentation
/// needed", printed as iputils prints its first one (Linux then remembers the path MTU and
/// fails the next ones locally; ustack keeps no path MTU for echo, so r1 answers each).
#[test]
fn ping_dont_fragment_reports_frag_needed_as_iputils() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start("1500,1400,1280");
    let bin = ustack_bin();
    let ping = "ping -M do -s 1450 -c 2 -i 0.3 198.19.3.2";
    let ours = lab.at_host(&format!("{} --log-level warn {ping}", bin.display()));
    let theirs = lab.at_host(&format!("ip route flush cache; {ping}"));
    let (ours_text, theirs_text) = (text(&ours), text(&theirs));
    let both = format!("ustack:\n{ours_text}\niputils:\n{theirs_text}");
    let frag = "From 198.19.1.2 icmp_seq=1 Frag needed and DF set (mtu = 1400)";
    for t in [&ours_text, &theirs_text] {
        assert_eq!(t.lines().nth(1), Some(frag), "{both}");
        assert!(
            t.contains("2 packets transmitted, 0 received, +2 errors, 100% packet loss"),
            "{both}"
        );
    }
    assert_eq!(
        (ours.status.code(), theirs.status.code()),
        (Some(1), Some(1))
    );
    lab.stop();
}

#[test]
fn silent_and_unrouted_destinations_end_cleanly() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start("1500,1500,1500");
    // 198.19.250.0/24 is blackholed at far: the routers answer, then nothing does.
    let out = lab.trace(&["-n", "-q", "1", "-w", "1", "-m", "6", "198.19.250.1"]);
    let stdout = text(&out);
    assert!(out.status.success(), "{stdout}");
    let hops = hop_lines(&stdout);
    let shown: Vec<(u8, &str)> = hops
        .iter()
        .map(|(t, r)| (*t, r.split_whitespace().next().unwrap_or("")))
        .collect();
    assert_eq!(
        shown,
        [
            (1, HOPS[0]),
            (2, HOPS[1]),
            (3, HOPS[2]),
            (4, "*"),
            (5, "*"),
            (6, "*")
        ],
        "{stdout}"
    );
    // 198.19.99.0/24 is routed nowhere: the host's kernel answers network unreachable at once.
    let out = lab.trace(&["-n", "-q", "2", "-w", "1", "198.19.99.1"]);
    let stdout = text(&out);
    assert!(out.status.success(), "{stdout}");
    let hops = hop_lines(&stdout);
    assert_eq!(hops.len(), 1, "the trace ends at the marker:\n{stdout}");
    assert!(
        hops[0].1.starts_with(HOPS[0]) && hops[0].1.matches("!N").count() == 2,
        "{stdout}"
    );
    lab.stop();
}

#[test]
fn lab_down_removes_what_a_killed_lab_left() {
    if !tun_available() {
        return;
    }
    let mut lab = Lab::start("1500,1400");
    let expected = ["far", "host", "r1"].map(|r| format!("{}-{r}", lab.name));
    let mut found = lab_namespaces(&lab.name);
    found.sort();
    assert_eq!(found, expected);
    // A lab that dies without cleaning up (SIGKILL) leaves its namespaces…
    let mut child = lab.child.take().expect("running");
    signal(child.pid(), libc::SIGKILL);
    let _ = child.terminate(Duration::from_secs(5));
    assert_eq!(lab_namespaces(&lab.name).len(), 3);
    let listed = Command::new(ustack_bin())
        .args(["lab", "list"])
        .output()
        .expect("lab list");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("{}-host", lab.name)));
    // …and `lab down` removes them, the far-end server inside included.
    lab_down_ok(&lab.name);
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
}

/// Issue 24 (item 5): `lab down` while `lab up` still runs in the foreground stops that `lab up`
/// too — it exits cleanly, having stopped and reaped its stack and server — instead of leaving it
/// running over deleted namespaces with defunct children (old main).
#[test]
fn lab_down_ends_a_running_lab_up() {
    if !tun_available() {
        return;
    }
    let mut lab = Lab::start_with("1500,1400", &["--up"]);
    assert_eq!(lab_namespaces(&lab.name).len(), 3);
    lab_down_ok(&lab.name);
    let mut child = lab.child.take().expect("running");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "lab up still running after lab down:\n{}",
            child.stdout()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "lab up: {status}\n{}", child.stderr());
    assert!(child.stdout().contains("removing"), "{}", child.stdout());
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
}

/// Issue 16 (5c): a namespace that only looks like a lab's (no note of `lab up` lists it) is
/// not `lab down`'s to delete, nor are the processes inside it its to signal.
#[test]
fn lab_down_leaves_namespaces_no_lab_made() {
    if !tun_available() {
        return;
    }
    let name = lab_name();
    let ns = format!("{name}-host");
    let added = Command::new("ip").args(["netns", "add", &ns]).status();
    assert!(added.is_ok_and(|s| s.success()), "ip netns add {ns}");
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "30"])
        .spawn()
        .expect("sleep in the namespace");
    let deadline = Instant::now() + Duration::from_secs(5);
    let pids = || {
        let out = Command::new("ip").args(["netns", "pids", &ns]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    while pids().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let down = lab_down(&name);
    let still = lab_namespaces(&name);
    let alive = sleeper.try_wait().expect("try_wait").is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = Command::new("ip").args(["netns", "delete", &ns]).status();
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(!down.status.success(), "lab down refuses: {stderr}");
    assert!(stderr.contains("no note"), "{stderr}");
    assert_eq!(still, [ns], "the look-alike namespace is left alone");
    assert!(alive, "the process inside it is not signalled");
}

#[test]
fn the_far_end_reaches_a_lab_stack_and_its_tcp_finds_the_path_mtu() {
    if !tun_available() {
        return;
    }
    // The middle link is the narrow one: far's kernel advertises MSS 1460 (its own link is
    // 1500), so the stack sends full-size segments until r1 answers fragmentation needed.
    let lab = Lab::start_with("1500,1280,1500", &["--up"]);
    let ping = lab.at_far("ping -c 2 -W 2 198.18.0.2");
    assert!(ping.status.success(), "{}", text(&ping));
    let pulled = lab.at_far("nc -w 5 198.18.0.2 19 | head -c 3000000 | wc -c");
    assert_eq!(
        text(&pulled).trim(),
        "3000000",
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    // The stack's log is in the lab's private directory (issue 16, 5a), and goes with the lab.
    let log = format!("/run/ustack/lab/{}.up.log", lab.name);
    let out = lab.stop();
    assert!(out.contains(&format!("output in {log}")), "{out}");
    assert!(!std::path::Path::new(&log).exists(), "{log} is removed");
    // `lab up --up` shows the stack's counters when it stops: the routers' errors reached TCP.
    let delivered = out
        .lines()
        .find_map(|l| l.strip_prefix("icmp_errors_delivered"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no icmp_errors_delivered in:\n{out}"));
    assert!(delivered >= 1, "{out}");
}

#[test]
fn trace_attaches_to_a_running_stack_and_a_silent_target_leaves_it_serving() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400,1280", &["--up"]);
    // `ustack up` holds ustack0 in the host namespace: a trace that tried to bring up its own
    // stack would fail (device busy); attached, it runs inside the daemon.
    let out = lab.trace(&["-n", "-q", "2", "-w", "2", "-T", "-p", "80", FAR]);
    assert_every_hop("tcp, attached", &out);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("opened TUN"),
        "the trace brought up a stack of its own:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab.trace(&["-n", "-q", "1", "-w", "2", "--pmtu", FAR]);
    assert!(
        text(&out).contains("Resume: pmtu 1280 hops 4"),
        "{}",
        text(&out)
    );
    // A silent target: stars to the end, a clean exit, and the daemon goes on serving.
    let out = lab.trace(&["-n", "-q", "3", "-w", "1", "-m", "5", "198.19.250.1"]);
    assert!(out.status.success(), "{}", text(&out));
    let hops = hop_lines(&text(&out));
    assert_eq!(hops.len(), 5, "{}", text(&out));
    assert_eq!(hops[4].1, "* * *", "{}", text(&out));
    let ping = lab.at_far("ping -c 2 -W 2 198.18.0.2");
    assert!(ping.status.success(), "{}", text(&ping));
    let page = lab.at_far("curl -s -m 5 http://198.18.0.2/stats");
    assert!(text(&page).contains("ustack 198.18.0.2"), "{}", text(&page));
    let out = lab.stop();
    assert!(out.contains("icmp_errors_delivered"), "{out}");
}

/// The `trace` request on the wire (raw JSON lines, so the format is pinned): one `trace` reply
/// per event, then `end`; a bad request gets `bad_request`; a client that half-closes stops a
/// trace to a silent address at once with `end` "client finished".
#[test]
fn trace_request_on_the_control_socket() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("trace-wire");
    let up = Up::start(&ns, &[]);
    let mut c = RawControl::connect(&ns);
    c.send(r#"{"v":1,"id":3,"req":"trace","dst":"198.18.0.1","queries":2,"wait_ms":2000}"#);
    let mut events = Vec::new();
    loop {
        let r = c.reply();
        assert_eq!(r["id"], 3, "{r}");
        if r["reply"] == "end" {
            assert_eq!(r["reason"], "done", "{r}");
            break;
        }
        assert_eq!(r["reply"], "trace", "{r}");
        events.push(r);
    }
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["start", "probe", "probe", "hop_done", "done"]);
    assert_eq!(events[0]["method"], "udp");
    assert_eq!(events[0]["packet_len"], 60);
    for p in &events[1..3] {
        assert_eq!(p["from"], "198.18.0.1", "{p}");
        assert_eq!(
            p["reached"], true,
            "port unreachable from the destination: {p}"
        );
        assert!(p["rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{p}");
    }
    assert_eq!(
        (events[4]["reached"].as_bool(), events[4]["hops"].as_u64()),
        (Some(true), Some(1))
    );

    let mut bad = RawControl::connect(&ns);
    let r = bad.call(r#"{"v":1,"id":4,"req":"trace","dst":"198.18.0.1","first_ttl":0}"#);
    assert_eq!(
        (r["reply"].as_str(), r["code"].as_str()),
        (Some("error"), Some("bad_request")),
        "{r}"
    );

    // 198.18.0.77 is on the TUN's link and nobody: no answer ever. Half-close ends it.
    let mut silent = RawControl::connect(&ns);
    silent.send(r#"{"v":1,"id":5,"req":"trace","dst":"198.18.0.77","wait_ms":60000}"#);
    let r = silent.reply();
    assert_eq!(
        (r["reply"].as_str(), r["event"].as_str()),
        (Some("trace"), Some("start")),
        "{r}"
    );
    silent.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let r = silent.reply();
    assert_eq!(
        (r["reply"].as_str(), r["reason"].as_str()),
        (Some("end"), Some("client finished")),
        "{r}"
    );
    assert!(silent.line().is_none(), "the server closes after end");
    let stats = RawControl::connect(&ns).call(r#"{"v":1,"id":6,"req":"stats"}"#);
    assert_eq!(stats["reply"], "stats", "the daemon goes on: {stats}");
    up.stop();
}
