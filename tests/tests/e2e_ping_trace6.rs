//! `ustack ping` and `ustack trace` over IPv6 (issue 17, item 6), checked against iputils
//! `ping -6` and `tracepath -6` on the same targets. On one link: the stack pings the kernel
//! side (2001:2::1) while iputils pings the stack (2001:2::2), and the outputs must have the
//! same lines, times aside — ping6's header (`PING a(a) 56 data bytes`), replies, summary,
//! fragmented requests, `-M do`'s local error, `-I`'s header — and `-4`/`-6`, a name, our own
//! address and a foreign `-I` are refused (exit 2). Through a lab (links of MTU 1500, 1400,
//! 1300): `ustack ping` from the stack and iputils `ping -6` from the host's kernel, one hop
//! nearer, print the same error lines — hop limit exceeded at the same router, Packet Too Big
//! with the same MTU, far's study prefixes' no route and prohibited, the blackhole's silence;
//! `ustack trace --pmtu` prints what `tracepath -6 -n` prints (the same layout, pmtu lines from
//! the same routers one hop later, the same Resume but for the hop), the same markers toward
//! the study prefixes, and the traceroute layout lists every hop with UDP, ICMPv6 and TCP
//! probes. Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability
//! fails.

use std::process::Output;
use std::time::Duration;
use ustack_tests::e2e::{ping_summary, run_in, ustack_bin, wait_host_addr6, Up};
use ustack_tests::lab::{path_lines, resume, Lab};
use ustack_tests::netns::{tun_available, NetNs};

const LIMIT: Duration = Duration::from_secs(60);
const FAR: &str = "2001:2:0:3::2";
/// The routers between the stack and far: the host's kernel, r1, r2.
const HOPS: [&str; 3] = ["2001:2::1", "2001:2:0:1::2", "2001:2:0:2::2"];

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ustack ping ARGS` inside `ns` (attached to the stack running there).
fn ustack_ping(ns: &NetNs, args: &[&str]) -> Output {
    let bin = ustack_bin();
    let mut all = vec!["--log-level", "warn", "ping"];
    all.extend_from_slice(args);
    run_in(ns, bin.to_str().unwrap(), &all, LIMIT)
}

/// A ping output with `addr` written `A` (and `src`, `S`), each number after `time=`/`time `
/// and the rtt line's numbers masked: what stays is the layout.
fn layout(text: &str, addr: &str, src: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace(addr, "A").replace(src, "S");
            if l.starts_with("rtt ") {
                return "rtt …".to_string();
            }
            let mut out = String::new();
            let mut rest = l.as_str();
            while let Some(i) = rest.find("time") {
                let (head, tail) = rest.split_at(i + 4);
                out.push_str(head);
                let sep = tail.chars().next().unwrap_or(' ');
                let digits = tail[1..]
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .map_or(tail.len(), |e| e + 1);
                out.push(sep);
                out.push('T');
                rest = &tail[digits..];
            }
            out + rest
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ping6_prints_what_iputils_ping6_prints_on_one_link() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ping6");
    let up = Up::start(&ns, &["--ipv6"]);
    wait_host_addr6(&ns);
    let compare = |ours_args: &[&str], theirs_args: &[&str]| {
        let ours = ustack_ping(&ns, &[ours_args, &["2001:2::1"]].concat());
        let mut args = vec!["-6", "-n"];
        args.extend_from_slice(theirs_args);
        args.push("2001:2::2");
        let theirs = run_in(&ns, "ping", &args, LIMIT);
        let (o, t) = (stdout(&ours), stdout(&theirs));
        let both = format!(
            "ustack {ours_args:?}:\n{o}{}\niputils:\n{t}{}",
            stderr(&ours),
            stderr(&theirs)
        );
        assert_eq!(
            layout(&o, "2001:2::1", "2001:2::2"),
            layout(&t, "2001:2::2", "2001:2::1"),
            "{both}"
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{both}");
        (ours, theirs, both)
    };
    // Replies and the summary; requests fragmented by the source (RFC 8200 §4.5) both ways.
    let (ours, _, both) = compare(&["-c", "3", "-i", "0.2"], &["-c", "3", "-i", "0.2"]);
    let o = stdout(&ours);
    assert!(
        o.starts_with("PING 2001:2::1(2001:2::1) 56 data bytes\n"),
        "{both}"
    );
    assert!(
        o.contains("64 bytes from 2001:2::1: icmp_seq=3 ttl=64 time="),
        "{both}"
    );
    assert_eq!(ping_summary(&o), Some((3, 3)), "{both}");
    let (ours, _, both) = compare(
        &["-c", "2", "-i", "0.2", "-s", "3000"],
        &["-c", "2", "-i", "0.2", "-s", "3000"],
    );
    assert!(
        stdout(&ours).contains("3008 bytes from 2001:2::1: icmp_seq=2"),
        "{both}"
    );
    // -M do above the link MTU: iputils' local error, in ping6's words, counted as an error.
    let mdo = ["-M", "do", "-s", "1500", "-c", "1"];
    let (ours, theirs, both) = compare(&mdo, &mdo);
    assert_eq!(
        stderr(&ours),
        "ping: local error: message too long, mtu: 1500\n",
        "{both}"
    );
    assert_eq!(stderr(&ours), stderr(&theirs), "{both}");
    assert!(
        stdout(&ours).contains("1 packets transmitted, 0 received, +1 errors"),
        "{both}"
    );
    // -I with our own address: `from SRC : ` in the header.
    let (ours, _, both) = compare(
        &["-c", "1", "-I", "2001:2::2"],
        &["-c", "1", "-I", "2001:2::1"],
    );
    assert!(
        stdout(&ours).starts_with("PING 2001:2::1(2001:2::1) from 2001:2::2 : 56 data bytes"),
        "{both}"
    );
    // -p fills the payload as ping -6's does (and prints PATTERN first).
    compare(&["-c", "1", "-p", "ab12"], &["-c", "1", "-p", "ab12"]);

    // Refusals: exit 2, nothing sent. iputils' words for the wrong family.
    let theirs = run_in(&ns, "ping", &["-4", "-c", "1", "2001:2::2"], LIMIT);
    let ours = ustack_ping(&ns, &["-4", "-c", "1", "2001:2::1"]);
    assert_eq!(
        (ours.status.code(), theirs.status.code()),
        (Some(2), Some(2))
    );
    let words = "Address family for hostname not supported";
    assert!(
        stderr(&theirs).contains(words) && stderr(&ours).contains(words),
        "{}",
        stderr(&ours)
    );
    let ours = ustack_ping(&ns, &["-6", "-c", "1", "198.18.0.1"]);
    assert_eq!(ours.status.code(), Some(2));
    assert!(stderr(&ours).contains(words), "{}", stderr(&ours));
    for (args, says) in [
        (
            &["-6", "-c", "1", "kernel.example"][..],
            "resolves no names",
        ),
        (&["-c", "1", "2001:2::2"][..], "no loopback"),
        (
            &["-c", "1", "-I", "2001:2::9", "2001:2::1"][..],
            "Cannot assign requested address",
        ),
    ] {
        let out = ustack_ping(&ns, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let stopped = up.stop();
    assert!(stopped.contains("icmpv6_echo_replied"), "{stopped}");
}

/// The first line after the header of a ping's output.
fn second_line(out: &Output) -> String {
    stdout(out).lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn ping6_through_a_lab_reports_what_iputils_reports() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400,1300", &["--up", "--no-server"]);
    let ours = |args: &str| {
        let bin = ustack_bin();
        lab.at_host(&format!(
            "ip -6 route flush cache; {} --log-level warn ping {args}",
            bin.display()
        ))
    };
    let theirs = |args: &str| lab.at_host(&format!("ip -6 route flush cache; ping -6 -n {args}"));
    // Packet Too Big from r1, which cannot put 1500 bytes on the 1400 link: the same line.
    // (Linux then keeps the path MTU and fails the next request locally; ustack keeps none for
    // echo, so r1 answers each of its requests: one request each.)
    let (o, t) = (
        ours(&format!("-M do -s 1452 -c 1 {FAR}")),
        theirs(&format!("-M do -s 1452 -c 1 {FAR}")),
    );
    let both = format!("ustack:\n{}\niputils:\n{}", stdout(&o), stdout(&t));
    assert_eq!(
        second_line(&o),
        "From 2001:2:0:1::2 icmp_seq=1 Packet too big: mtu=1400",
        "{both}"
    );
    assert_eq!(second_line(&o), second_line(&t), "{both}");
    assert_eq!(
        (o.status.code(), t.status.code()),
        (Some(1), Some(1)),
        "{both}"
    );
    // The hop limit runs out at r1: hop 2 from the stack, hop 1 from the host's kernel.
    let (o, t) = (
        ours(&format!("-c 1 -t 2 {FAR}")),
        theirs(&format!("-c 1 -t 1 {FAR}")),
    );
    let both = format!("ustack:\n{}\niputils:\n{}", stdout(&o), stdout(&t));
    assert_eq!(
        second_line(&o),
        "From 2001:2:0:1::2 icmp_seq=1 Time exceeded: Hop limit",
        "{both}"
    );
    assert_eq!(second_line(&o), second_line(&t), "{both}");
    // far answers, one hop further from the stack than from the host.
    let (o, t) = (ours(&format!("-c 1 {FAR}")), theirs(&format!("-c 1 {FAR}")));
    let both = format!("ustack:\n{}\niputils:\n{}", stdout(&o), stdout(&t));
    assert!(
        second_line(&o).starts_with(&format!("64 bytes from {FAR}: icmp_seq=1 ttl=61 ")),
        "{both}"
    );
    assert!(
        second_line(&t).starts_with(&format!("64 bytes from {FAR}: icmp_seq=1 ttl=62 ")),
        "{both}"
    );
    // far's study prefixes: no route, prohibited, and the blackhole's silence.
    for (id, says) in [
        ("fb", "Destination unreachable: No route"),
        ("fc", "Destination unreachable: Administratively prohibited"),
    ] {
        let dst = format!("2001:2:0:{id}::1");
        let (o, t) = (ours(&format!("-c 1 {dst}")), theirs(&format!("-c 1 {dst}")));
        let both = format!("ustack:\n{}\niputils:\n{}", stdout(&o), stdout(&t));
        assert_eq!(
            second_line(&o),
            format!("From {FAR} icmp_seq=1 {says}"),
            "{both}"
        );
        assert_eq!(
            layout(&stdout(&o), &dst, &dst),
            layout(&stdout(&t), &dst, &dst),
            "{both}"
        );
    }
    let (o, t) = (
        ours("-c 1 -W 1 2001:2:0:fa::1"),
        theirs("-c 1 -W 1 2001:2:0:fa::1"),
    );
    let both = format!("ustack:\n{}\niputils:\n{}", stdout(&o), stdout(&t));
    assert_eq!(
        layout(&stdout(&o), FAR, FAR),
        layout(&stdout(&t), FAR, FAR),
        "{both}"
    );
    assert_eq!(ping_summary(&stdout(&o)), Some((1, 0)), "{both}");
    lab.stop();
}

/// tracepath's answer rows as (hop, who, what follows the RTT), consecutive repeats folded
/// (tracepath sends its first probe twice).
fn rows(text: &str) -> Vec<(u8, String, String)> {
    let mut rows: Vec<(u8, String, String)> = path_lines(text)
        .into_iter()
        .map(|l| (l.ttl, l.host, l.tail))
        .collect();
    rows.dedup();
    rows
}

#[test]
fn trace6_prints_what_tracepath6_prints() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400,1300", &["--up", "--no-server"]);
    // The host's kernel remembers Packet Too Big for what it forwards too: each walk starts
    // from a flushed cache.
    let ours = |args: &str| {
        let bin = ustack_bin();
        stdout(&lab.at_host(&format!(
            "ip -6 route flush cache; {} --log-level warn trace {args}",
            bin.display()
        )))
    };
    let theirs = |dst: &str| {
        stdout(&lab.at_host(&format!("ip -6 route flush cache; tracepath -6 -n {dst}")))
    };
    let (o, t) = (ours(&format!("-n --pmtu {FAR}")), theirs(FAR));
    let both = format!("ustack:\n{o}\ntracepath -6:\n{t}");
    // The first line, the time of the local refusal aside.
    let first = |s: &str| {
        let l = s.lines().next().unwrap_or_default().to_string();
        let ms = l.find("ms ").unwrap_or(0);
        (l[..ms.saturating_sub(5)].to_string(), l[ms..].to_string())
    };
    assert_eq!(first(&o), first(&t), "{both}");
    assert_eq!(first(&o).1, "ms pmtu 1500", "{both}");
    // Every line's RTT column as tracepath's.
    let col = path_lines(&t)[0].ms_col;
    assert!(path_lines(&o).iter().all(|l| l.ms_col == col), "{both}");
    // The same rows one hop later (the stack sits behind the host's kernel), which answers
    // hop 1 itself.
    let shifted: Vec<(u8, String, String)> = rows(&t)
        .into_iter()
        .map(|(h, w, x)| (h + 1, w, x))
        .collect();
    let ours_rows = rows(&o);
    assert_eq!(
        ours_rows[0],
        (1, HOPS[0].to_string(), String::new()),
        "{both}"
    );
    assert_eq!(ours_rows[1..], shifted[..], "{both}");
    assert!(
        shifted.contains(&(3, HOPS[1].into(), "pmtu 1400".into()))
            && shifted.contains(&(4, HOPS[2].into(), "pmtu 1300".into()))
            && shifted.last() == Some(&(4, FAR.into(), "reached".into())),
        "{both}"
    );
    assert_eq!(resume(&t).0, [1300, 3, 3], "{both}");
    assert_eq!(resume(&o).0, [1300, 4, 4], "{both}");
    assert_eq!(resume(&o).1.replace('4', "3"), resume(&t).1, "{both}");
    // far's study prefixes: tracepath -6's markers (the kernel's errno: !N, !A) and Resume.
    for (id, marker) in [("fb", "!N"), ("fc", "!A")] {
        let dst = format!("2001:2:0:{id}::1");
        let (o, t) = (ours(&format!("-n --pmtu {dst}")), theirs(&dst));
        let both = format!("ustack:\n{o}\ntracepath -6:\n{t}");
        let last = |s: &str| rows(s).last().cloned();
        assert_eq!(last(&o), Some((4, FAR.into(), marker.into())), "{both}");
        assert_eq!(last(&t), Some((3, FAR.into(), marker.into())), "{both}");
        assert_eq!(resume(&o).1, resume(&t).1, "{both}");
    }
    // The traceroute layout: every hop, each probe answered, with each probe kind.
    for kind in [&[][..], &["-I"], &["-T", "-p", "7"]] {
        let args = format!("-n -q 2 -w 2 {} {FAR}", kind.join(" "));
        let o = ours(&args);
        let mut lines = o.lines();
        assert_eq!(
            lines.next(),
            Some(format!("traceroute to {FAR} ({FAR}), 30 hops max, 80 byte packets").as_str()),
            "{o}"
        );
        let hops: Vec<&str> = lines.collect();
        let want: Vec<&str> = HOPS.iter().copied().chain([FAR]).collect();
        assert_eq!(hops.len(), want.len(), "{kind:?}:\n{o}");
        for (i, (line, who)) in hops.iter().zip(want).enumerate() {
            assert!(
                line.starts_with(&format!("{:>2}  {who}  ", i + 1)),
                "{kind:?}:\n{o}"
            );
            assert_eq!(line.matches(" ms").count(), 2, "{kind:?}:\n{o}");
            assert!(!line.contains('*') && !line.contains('!'), "{kind:?}:\n{o}");
        }
    }
    // traceroute's markers for the study prefixes: !N for no route, !X for prohibited.
    for (id, marker) in [("fb", "!N"), ("fc", "!X")] {
        let o = ours(&format!("-n -q 1 -w 2 2001:2:0:{id}::1"));
        let last = o.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(" 4  {FAR}  ")) && last.ends_with(&format!(" ms {marker}")),
            "{o}"
        );
    }
    lab.stop();
}
