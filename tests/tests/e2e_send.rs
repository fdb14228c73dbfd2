//! End to end against real hping3 (issue 18, part 3): the same probes sent by hping3 from the
//! kernel side and by `ustack send` from the stack, at the same target — the kernel's own
//! address 198.18.0.1, with a listener on one port — get the same kinds of reply: the same TCP
//! flags, the same ICMP errors, echo replies. hping3 reaches it over loopback, `ustack send`
//! through the TUN; the kernel answers both. The lines are read by one parser, so `ustack
//! send`'s lines must be hping3's. Over IPv6 (which hping3 lacks) `ustack send -6` must get the
//! same kinds from 2001:2::1. Refusals (a target outside the allowed prefixes, a probe longer
//! than 65535 bytes) are checked too. Needs root, /dev/net/tun and hping3 (`.ci/run` installs
//! it); with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::time::{Duration, Instant};
use ustack_tests::control::RawControl;
use ustack_tests::e2e::{run_in, ustack_bin, wait_host_addr6, Up};
use ustack_tests::lab::Lab;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

/// The listener's port on the kernel side, and one nothing listens on.
const OPEN: &str = "8080";
const CLOSED: &str = "81";

/// What hping3 (and so `ustack send`) prints for one answer, reduced to its kind: the TCP flags
/// (`tcp SA`), an echo reply (`echo`), an ICMP error's words (`ICMP Port Unreachable`).
fn kinds(out: &str) -> Vec<String> {
    let mut k: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches("DUP! ");
            if let Some(f) = l.split_whitespace().find_map(|w| w.strip_prefix("flags=")) {
                return Some(format!("tcp {f}"));
            }
            if l.starts_with("len=") && l.contains("icmp_seq=") {
                return Some("echo".into());
            }
            if l.starts_with("len=") && l.contains(" seq=") {
                return Some("udp".into());
            }
            let (words, _) = l.split_once(" from ip=")?;
            // ICMPv6 errors say "ICMPv6 …": compared as the ICMP kind.
            Some(words.replacen("ICMPv6 ", "ICMP ", 1))
        })
        .collect();
    k.sort();
    k.dedup();
    k
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn hping3(ns: &NetNs, probe: &[&str], dst: &str) -> String {
    // -I lo: the kernel answers its own address over loopback, where hping3 must listen.
    let mut args = vec!["-n", "-I", "lo", "-c", "2", "-i", "u100000"];
    args.extend_from_slice(probe);
    args.push(dst);
    text(&run_in(ns, "hping3", &args, Duration::from_secs(10)))
}

fn ustack_send(ns: &NetNs, probe: &[&str], dst: &str) -> std::process::Output {
    let bin = ustack_bin();
    let mut args = vec!["send", "-n", "-c", "2", "-i", "u100000"];
    args.extend_from_slice(probe);
    args.push(dst);
    run_in(
        ns,
        bin.to_str().unwrap_or("ustack"),
        &args,
        Duration::from_secs(10),
    )
}

/// The probes compared, and the kind each must get (from hping3 and from us alike); over IPv6
/// the same but where IPv6 says it otherwise (RFC 4443 §3.4: an unknown Next Header is a
/// parameter problem, not an unreachable protocol).
const PROBES: &[(&[&str], &[&str], Option<&str>)] = &[
    (&["-S", "-p", OPEN], &["tcp SA"], None),
    (&["-S", "-p", CLOSED], &["tcp RA"], None),
    (&["-F", "-P", "-U", "-p", CLOSED], &["tcp RA"], None),
    // RFC 9293 §3.10.7.2: LISTEN drops a segment with neither SYN, ACK nor RST.
    (&["-F", "-P", "-U", "-p", OPEN], &[], None),
    (&["-A", "-p", OPEN], &["tcp R"], None),
    (&["-2", "-p", CLOSED], &["ICMP Port Unreachable"], None),
    (&["-1"], &["echo"], None),
    (&["-1", "-d", "100", "-f"], &["echo"], None),
    (
        &["-2", "-p", CLOSED, "-d", "40", "-f"],
        &["ICMP Port Unreachable"],
        None,
    ),
    (
        &["-0", "-H", "99", "-d", "8"],
        &["ICMP Protocol Unreachable"],
        Some("ICMP Parameter Problem (unrecognized Next Header)"),
    ),
];

#[test]
fn ustack_send_gets_the_replies_hping3_gets() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("send");
    let up = Up::start(&ns, &[]);
    wait_host_addr6(&ns);
    // The kernel side's listener, on both families (dual-stack).
    let listener = ns.run(|| {
        let l = std::net::TcpListener::bind(format!("[::]:{OPEN}")).expect("bind the listener");
        l.set_nonblocking(true).expect("nonblocking");
        l
    });
    let mut report = String::new();
    for (probe, want, want6) in PROBES {
        let theirs = hping3(&ns, probe, "198.18.0.1");
        let ours = ustack_send(&ns, probe, "198.18.0.1");
        let ours_text = text(&ours);
        let ours6 = text(&ustack_send(&ns, probe, "2001:2::1"));
        report += &format!("== {probe:?}\n{theirs}\n{ours_text}\n{ours6}\n");
        assert_eq!(kinds(&theirs), *want, "hping3 {probe:?}:\n{theirs}");
        assert_eq!(kinds(&ours_text), kinds(&theirs), "{probe:?}:\n{report}");
        let theirs6 = want6.map_or_else(|| kinds(&theirs), |k| vec![k.to_string()]);
        assert_eq!(kinds(&ours6), theirs6, "-6 {probe:?}:\n{report}");
        // hping3's statistics and exit code, the same way.
        let stats = if want.is_empty() {
            "2 packets transmitted, 0 packets received, 100% packet loss"
        } else {
            "2 packets transmitted, 2 packets received, 0% packet loss"
        };
        assert!(ours_text.contains(stats), "{ours_text}");
        assert_eq!(ours.status.success(), !want.is_empty(), "{ours_text}");
        assert!(
            ours_text.contains("round-trip min/avg/max = "),
            "{ours_text}"
        );
    }
    println!("{report}");
    the_wire_format(&ns);
    no_rst_leaves_the_handshakes_half_open(&ns);
    overlapping_fragments_are_dropped(&ns);
    drop(listener);
    refusals(&ns);
    ctrl_c_stops_at_once(&ns);
    up.stop();
}

/// The `send` request as raw JSON lines (docs/CONTROL.md, "send"): `start`, a `reply` with
/// the SYN-ACK's fields, the `summary`, `end`; a probe that cannot be built is a `bad_request`
/// naming the field.
fn the_wire_format(ns: &NetNs) {
    let mut c = RawControl::connect(ns);
    let req = format!(
        r#"{{"v":1,"id":4,"req":"send","dst":"198.18.0.1","tcp_flags":2,"dst_port":{OPEN},"count":1}}"#
    );
    c.send(&req);
    let mut replies = Vec::new();
    while let Some(line) = c.line() {
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        let last = v["reply"] == "end" || v["reply"] == "error";
        replies.push(v);
        if last {
            break;
        }
    }
    let events: Vec<&str> = replies
        .iter()
        .map(|r| {
            r["event"]
                .as_str()
                .unwrap_or(r["reply"].as_str().unwrap_or("?"))
        })
        .collect();
    assert_eq!(events, ["start", "reply", "summary", "end"], "{replies:?}");
    assert!(
        replies.iter().all(|r| r["id"] == 4 && r["v"] == 1),
        "{replies:?}"
    );
    let r = &replies[1];
    assert_eq!(r["reply"], "send");
    assert_eq!(
        (r["proto"].as_str(), r["flags"].as_u64()),
        (Some("tcp"), Some(0x12))
    );
    assert_eq!(r["sport"].as_u64(), OPEN.parse().ok());
    assert_eq!(replies[2]["received"], 1);
    let mut c = RawControl::connect(ns);
    let e = c.call(r#"{"v":1,"id":5,"req":"send","dst":"198.18.0.1","data_size":70000}"#);
    assert_eq!(
        (e["reply"].as_str(), e["code"].as_str()),
        (Some("error"), Some("bad_request"))
    );
    assert!(
        e["message"].as_str().unwrap_or("").starts_with("-d: "),
        "{e}"
    );
}

/// The kernel's half-open connections to the listener (SYN-RECV).
fn syn_recv(ns: &NetNs) -> usize {
    let filter = format!("( sport = :{OPEN} )");
    let out = run_in(
        ns,
        "ss",
        &["-Htn", "state", "syn-recv", &filter],
        Duration::from_secs(5),
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// By default the stack RSTs the SYN-ACKs the probes provoke, as the kernel does for hping3: no
/// handshake stays half open. With `--no-rst` the job claims its source ports: the stack stays
/// silent and the kernel keeps both handshakes in SYN-RECV.
fn no_rst_leaves_the_handshakes_half_open(ns: &NetNs) {
    assert_eq!(syn_recv(ns), 0, "the stack RSTs by default");
    let out = ustack_send(ns, &["-S", "-p", OPEN, "--no-rst"], "198.18.0.1");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(kinds(&text(&out)), ["tcp SA"], "{}", text(&out));
    assert_eq!(syn_recv(ns), 2, "{}", text(&out));
}

/// The same echo request cut into overlapping fragments gets no reply from the kernel, over
/// IPv4 (Linux drops a datagram with overlapping fragments, as ustack does) and IPv6 (RFC 5722),
/// where the non-overlapping cut got its reply (PROBES above).
fn overlapping_fragments_are_dropped(ns: &NetNs) {
    for dst in ["198.18.0.1", "2001:2::1"] {
        let out = ustack_send(ns, &["-1", "-d", "100", "--frag-overlap"], dst);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains("2 packets transmitted, 0 packets received, 100% packet loss"),
            "{t}"
        );
    }
}

/// A target outside the stack's prefix and the lab ranges, and a probe too long to build, are
/// refused with the reason named (exit code 2), before anything is sent.
fn refusals(ns: &NetNs) {
    let far = ustack_send(ns, &["-S", "-p", "80"], "192.0.2.1");
    assert_eq!(far.status.code(), Some(2), "{}", text(&far));
    assert!(text(&far).contains("--i-own-the-network"), "{}", text(&far));
    let long = ustack_send(ns, &["-2", "-d", "65508"], "198.18.0.1");
    assert_eq!(long.status.code(), Some(2), "{}", text(&long));
    assert!(text(&long).contains("-d: "), "{}", text(&long));
    let opts = ustack_send(ns, &["--tcp-options", &"01".repeat(41)], "198.18.0.1");
    assert!(
        text(&opts).contains("--tcp-options: 44 bytes"),
        "{}",
        text(&opts)
    );
}

/// A flood without -c (bounded at 100000 probes, 1000 a second) stops at Ctrl-C at once and
/// still prints the statistics.
fn ctrl_c_stops_at_once(ns: &NetNs) {
    let mut cmd = ns.command(ustack_bin());
    cmd.args(["send", "-S", "-p", CLOSED, "--flood", "198.18.0.1"]);
    let mut child = ChildGuard::spawn(cmd, "ustack-send-flood");
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) on our own child's pid; no memory is touched.
    let rc = unsafe { libc::kill(child.pid() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "still flooding after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.stdout() + &child.stderr();
    assert!(status.success(), "{status:?}\n{out}");
    assert!(
        out.contains("hping in flood mode, no replies will be shown"),
        "{out}"
    );
    let counts: Vec<u64> = out
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_default();
    let (sent, answered) = (
        counts.first().copied().unwrap_or(0),
        counts.get(1).copied().unwrap_or(0),
    );
    assert!(answered * 10 >= sent * 9, "the RSTs are counted: {out}");
    assert!((100..5000).contains(&sent), "{out}");
}

/// Through the lab's kernel routers (host ⇄ r1 ⇄ r2 ⇄ far): a TTL-limited probe gets "TTL 0
/// during transit" from the router where its TTL ran out (r2), and a probe to far's closed port
/// its RST — from hping3 in the host namespace and from `ustack send` on a stack of its own
/// behind the host's TUN alike. The stack is one hop further than the host's kernel (which
/// forwards, and so decrements), so its probes carry one more TTL.
#[test]
fn ttl_limited_probes_die_at_the_same_lab_router() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start("1500,1500,1500");
    const FAR: &str = "198.19.3.2";
    // r2, on the link from r1.
    const R2: &str = "198.19.2.2";
    let hping = |ttl: &str, probe: &str| {
        let script = format!("hping3 -n -c 2 -i u100000 --ttl {ttl} {probe} {FAR} 2>&1");
        text(&lab.at_host(&script))
    };
    let send = |ttl: &str, probe: &str| {
        let bin = ustack_bin();
        let script = format!(
            "{} send -n -c 2 -i u100000 --ttl {ttl} {probe} {FAR} 2>&1",
            bin.display()
        );
        text(&lab.at_host(&script))
    };
    let mut report = String::new();
    for probe in ["-S -p 80", "-2 -p 33434", "-1"] {
        let theirs = hping("2", probe);
        let ours = send("3", probe);
        report += &format!("== {probe}\n{theirs}\n{ours}\n");
        assert_eq!(kinds(&theirs), ["TTL 0 during transit"], "{report}");
        assert_eq!(kinds(&ours), kinds(&theirs), "{report}");
        for out in [&theirs, &ours] {
            assert!(
                out.contains(&format!("TTL 0 during transit from ip={R2}")),
                "{report}"
            );
        }
    }
    // Far itself: its kernel RSTs a SYN to a closed port, whoever sends it.
    let theirs = hping("64", "-S -p 81");
    let ours = send("64", "-S -p 81");
    report += &format!("== far\n{theirs}\n{ours}\n");
    assert_eq!(kinds(&theirs), ["tcp RA"], "{report}");
    assert_eq!(kinds(&ours), kinds(&theirs), "{report}");
    assert!(
        ours.contains(&format!("ip={FAR} ttl=61 DF id=0 sport=81 flags=RA")),
        "{report}"
    );
    println!("{report}");
    lab.stop();
}

/// A stack that receives every packet twice (`--fault-in-duplicate 100`) sees every answer
/// twice: the second is printed with hping3's `DUP!` and counted, as hping3 counts it, and the
/// job still sends every probe (a duplicate answers no other probe; hping3, counting answers,
/// would stop after the first probe's two).
#[test]
fn duplicates_are_marked_dup() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("senddup");
    let up = Up::start(&ns, &["--fault-in-duplicate", "100"]);
    let out = ustack_send(&ns, &["-S", "-p", CLOSED, "--wait", "0.3"], "198.18.0.1");
    let t = text(&out);
    up.stop();
    let lines: Vec<&str> = t.lines().filter(|l| l.contains("flags=RA")).collect();
    let of = |seq: u32, dup: bool| {
        lines
            .iter()
            .filter(|l| l.contains(&format!(" seq={seq} ")) && l.starts_with("DUP! ") == dup)
            .count()
    };
    assert_eq!((of(0, false), of(0, true)), (1, 1), "{t}");
    // The job ends once every probe is answered: the last duplicate may come too late.
    assert_eq!(of(1, false), 1, "{t}");
    let received = 2 + of(1, true);
    assert!(
        t.contains(&format!(
            "2 packets transmitted, {} packets received",
            received + 1
        )),
        "{t}"
    );
}
