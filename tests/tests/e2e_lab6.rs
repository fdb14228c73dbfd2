//! End to end against the Linux kernel: `ustack lab` with IPv6 on every link (issue 17, item 6).
//! A lab is dual-stack unless `--no-ipv6`: link i carries 2001:2:0:i::/64 next to
//! 198.19.i.0/24, every node forwards IPv6, and far holds IPv6 study prefixes. Checked with the
//! real tools on the kernel side: iputils `ping -6` from far is answered by the stack
//! (2001:2::2) through three kernel routers; `tracepath -6` sees the same hops and the same
//! Packet Too Big MTUs as `tracepath` does over IPv4; the study prefixes answer as Linux's route
//! types do (tcpdump's words for the ICMPv6 codes); a stack started without IPv6 is said to have
//! none and the host answers "no route"; a link below 1280 is refused unless `--no-ipv6`; a
//! failed `lab up` leaves nothing.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::process::{Command, Output};
use std::time::{Duration, Instant};
use ustack_tests::e2e::{ping_summary, run_limited, ustack_bin};
use ustack_tests::lab::{lab_cmd, lab_name, lab_namespaces, path_lines, resume, Lab};
use ustack_tests::netns::{tun_available, ChildGuard};

const STACK6: &str = "2001:2::2";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// tracepath's answers as (hop, who, what follows the RTT), consecutive repeats folded (its
/// first probe is sent twice).
fn rows(stdout: &str) -> Vec<(u8, String, String)> {
    let mut rows: Vec<(u8, String, String)> = path_lines(stdout)
        .into_iter()
        .map(|l| (l.ttl, l.host, l.tail))
        .collect();
    rows.dedup();
    rows
}

/// Every link end of a lab of `mtus.len()` links: its IPv6 address without DAD (usable at
/// once, not tentative), IPv6 on, forwarding, and the link's MTU for IPv6 too.
fn assert_link_ends(lab: &Lab, mtus: &[u32]) {
    let l = mtus.len();
    let role = |i: usize| match i {
        0 => "host".to_string(),
        i if i == l => "far".to_string(),
        i => format!("r{i}"),
    };
    for (i, mtu) in (1..).zip(mtus) {
        for (role, dev, end) in [(role(i - 1), "fwd", 1), (role(i), "back", 2)] {
            let out = lab.at(
                &role,
                &format!(
                    "ip -6 -o addr show dev {dev} scope global; \
                     sysctl -n net.ipv6.conf.{dev}.mtu net.ipv6.conf.{dev}.forwarding \
                     net.ipv6.conf.{dev}.disable_ipv6"
                ),
            );
            let t = text(&out);
            let lines: Vec<&str> = t.lines().collect();
            assert!(
                lines[0].contains(&format!(" inet6 2001:2:0:{i}::{end}/64 scope global nodad")),
                "{role} {dev}:\n{t}"
            );
            assert!(!t.contains("tentative"), "{role} {dev}:\n{t}");
            assert_eq!(lines[1..], [mtu.to_string().as_str(), "1", "0"], "{t}");
        }
    }
}

#[test]
fn the_stack_answers_ping6_through_the_routers_and_tracepath6_sees_every_hop() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400,1300", &["--up", "--no-server"]);
    let map = lab.printed();
    let (r1, r2) = (lab.ns("r1"), lab.ns("r2"));
    for want in [
        "stack 198.18.0.2 2001:2::2 ⇄ TUN".to_string(),
        format!("link 2: {r1} 198.19.2.1 2001:2:0:2::1 ⇄ 198.19.2.2 2001:2:0:2::2 {r2}, mtu 1400"),
        "2001:2:0:fb::1: ICMPv6 no route to destination, code 0 (!N)".into(),
    ] {
        assert!(map.contains(&want), "{want:?} in:\n{map}");
    }
    assert_link_ends(&lab, &[1500, 1400, 1300]);
    // iputils ping -6 from far: the stack answers through r2, r1 and the host (hop limit
    // 64 − 3); the host's kernel, one hop nearer, with 64 − 2.
    let ping = lab.at_far(&format!("ping -6 -n -c 3 -i 0.2 -W 2 {STACK6}"));
    let out = text(&ping);
    assert!(ping.status.success(), "{out}");
    assert_eq!(ping_summary(&out), Some((3, 3)), "{out}");
    assert_eq!(
        out.matches(&format!("bytes from {STACK6}: icmp_seq="))
            .count(),
        3,
        "{out}"
    );
    assert!(out.contains("ttl=61 "), "{out}");
    let kernel = text(&lab.at_far("ping -6 -n -c 1 -W 2 2001:2:0:1::1"));
    assert!(kernel.contains("ttl=62 "), "{kernel}");
    // tracepath -6 from far toward the stack: every router in order, far's own link MTU. The
    // host's time exceeded at hop 3 shows it routes 2001:2::/64 on (to the TUN): without a
    // route it would answer "no route" (the next test).
    let out = text(&lab.at_far(&format!("tracepath -6 -n -m 3 {STACK6}")));
    assert!(
        out.lines().next().is_some_and(|l| l.ends_with("pmtu 1300")),
        "{out}"
    );
    let hops = ["2001:2:0:3::1", "2001:2:0:2::1", "2001:2:0:1::1"];
    let want: Vec<(u8, String, String)> = (1..)
        .zip(hops)
        .map(|(t, h)| (t, h.to_string(), String::new()))
        .collect();
    assert_eq!(rows(&out), want, "{out}");
    assert!(out.contains("Too many hops: pmtu 1300"), "{out}");
    // tracepath -6 from the host's kernel toward far against tracepath over IPv4 on the same
    // path: the same hops, the same Packet Too Big MTUs from the same routers, the same Resume.
    let six = text(&lab.at_host("tracepath -6 -n 2001:2:0:3::2"));
    let four = text(&lab.at_host("tracepath -n 198.19.3.2"));
    let both = format!("tracepath -6:\n{six}\ntracepath:\n{four}");
    let as_v6 = |h: &str| match h.strip_prefix("198.19.") {
        Some(rest) => rest
            .split_once('.')
            .map_or(h.to_string(), |(n, e)| format!("2001:2:0:{n}::{e}")),
        None => h.to_string(),
    };
    let mapped: Vec<(u8, String, String)> = rows(&four)
        .into_iter()
        .map(|(t, h, tail)| (t, as_v6(&h), tail))
        .collect();
    assert_eq!(rows(&six), mapped, "{both}");
    assert!(
        mapped.contains(&(2, "2001:2:0:1::2".into(), "pmtu 1400".into()))
            && mapped.contains(&(3, "2001:2:0:2::2".into(), "pmtu 1300".into()))
            && mapped.last() == Some(&(3, "2001:2:0:3::2".into(), "reached".into())),
        "{both}"
    );
    assert_eq!(resume(&six).0, [1300, 3, 3], "{both}");
    assert_eq!(resume(&six).1, resume(&four).1, "{both}");
    let stopped = lab.stop();
    assert!(stopped.contains("icmpv6_echo_replied"), "{stopped}");
}

/// Far's IPv6 study prefixes answer as Linux's route types do (net/ipv6/route.c): `blackhole`
/// drops silently, `unreachable` sends Destination Unreachable code 0 "no route to destination"
/// (`ip6_pkt_discard`), `prohibit` code 1 "administratively prohibited" (`ip6_pkt_prohibit`) —
/// read in tcpdump's words on the wire, in iputils ping's and in tracepath's markers.
#[test]
fn the_ipv6_study_prefixes_answer_as_linux_route_types_do() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400,1300", &["--no-server"]);
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &lab.host(),
        "tcpdump",
        "-n",
        "-l",
        "-i",
        "fwd",
    ])
    .args(["icmp6 and ip6[40] == 1"]);
    let mut dump = ChildGuard::spawn(cmd, "tcpdump");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dump.stderr().contains("listening on") {
        assert!(Instant::now() < deadline, "tcpdump: {}", dump.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let ping = |id: &str| text(&lab.at_host(&format!("ping -6 -n -c 1 -W 1 2001:2:0:{id}::1")));
    let silent = ping("fa");
    assert_eq!(ping_summary(&silent), Some((1, 0)), "{silent}");
    assert!(!silent.contains("From "), "{silent}");
    let unreachable = ping("fb");
    assert!(
        unreachable.contains("From 2001:2:0:3::2 icmp_seq=1 Destination unreachable: No route"),
        "{unreachable}"
    );
    let prohibited = ping("fc");
    assert!(
        prohibited.contains(
            "From 2001:2:0:3::2 icmp_seq=1 Destination unreachable: Administratively prohibited"
        ),
        "{prohibited}"
    );
    // tracepath: the routers, then far's marker — `!N` for code 0 (ENETUNREACH), `!A` for
    // code 1 (EACCES) — or nothing at all from the blackhole.
    let last = |id: &str| {
        let out = text(&lab.at_host(&format!("tracepath -6 -n -m 4 2001:2:0:{id}::1")));
        (rows(&out).last().cloned(), out)
    };
    let far = "2001:2:0:3::2".to_string();
    let (row, out) = last("fb");
    assert_eq!(row, Some((3, far.clone(), "!N".into())), "{out}");
    let (row, out) = last("fc");
    assert_eq!(row, Some((3, far, "!A".into())), "{out}");
    let (row, out) = last("fa");
    assert_eq!(
        row,
        Some((3, "2001:2:0:2::2".into(), "pmtu 1300".into())),
        "{out}"
    );
    assert!(out.contains(" 3:  no reply"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    dump.terminate(Duration::from_secs(3));
    let wire = dump.stdout();
    let from_far = "IP6 2001:2:0:3::2 > 2001:2:0:1::1: ICMP6, destination unreachable,";
    let lines: Vec<&str> = wire.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().all(|l| l.contains(from_far)),
        "only far's errors:\n{wire:?}"
    );
    // ping once and tracepath once each.
    let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("unreachable route 2001:2:0:fb::1"), 2, "{wire}");
    assert_eq!(count("unreachable prohibited 2001:2:0:fc::1"), 2, "{wire}");
    assert!(!wire.contains("2001:2:0:fa::1"), "{wire}");
    lab.stop();
}

/// `ustack up --no-ipv6` started by hand: the lab's IPv6 still runs between its
/// namespaces, `lab list` says the stack has none, and the host answers IPv6 toward the stack
/// with "no route" (it holds no 2001:2::/64 to route into the TUN) while IPv4 reaches it.
#[test]
fn a_stack_without_ipv6_is_said_to_have_none_and_the_host_has_no_route_to_it() {
    if !tun_available() {
        return;
    }
    let lab = Lab::start_with("1500,1400", &["--no-server"]);
    let map = lab.printed();
    assert!(
        map.contains(&format!("ip netns exec {} ustack up --ipv6", lab.host())),
        "{map}"
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.host()])
        .arg(ustack_bin())
        .args(["up", "--no-ipv6"]);
    let mut up = ChildGuard::spawn(cmd, "ustack-up");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&lab.at_host("ip -4 -o addr show dev ustack0")).contains("198.18.0.1/") {
        assert!(Instant::now() < deadline, "ustack up: {}", up.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let listed = text(&lab_cmd(&["list"]));
    assert!(
        listed.contains("stack: ustack0 198.18.0.1/24, no IPv6 (ustack up ran with --no-ipv6)"),
        "{listed}"
    );
    let v4 = lab.at_far("ping -n -c 1 -W 2 198.18.0.2");
    assert!(v4.status.success(), "{}", text(&v4));
    let link = lab.at_far("ping -6 -n -c 1 -W 2 2001:2:0:1::1");
    assert!(link.status.success(), "{}", text(&link));
    let v6 = lab.at_far(&format!("ping -6 -n -c 1 -W 2 {STACK6}"));
    let out = text(&v6);
    assert_eq!(v6.status.code(), Some(1), "{out}");
    assert!(
        out.contains("From 2001:2:0:1::1 icmp_seq=1 Destination unreachable: No route"),
        "{out}"
    );
    assert!(up.terminate(Duration::from_secs(5)).is_some());
    lab.stop();
}

/// RFC 8200 §5: a link below 1280 carries no IPv6. A dual-stack lab with one is refused before
/// anything is made (exit 2, naming the link and the way out); with `--no-ipv6` it is built,
/// IPv4 only, and the narrow link works for IPv4.
#[test]
fn a_link_below_1280_needs_no_ipv6() {
    if !tun_available() {
        return;
    }
    let name = lab_name();
    let refused = lab_cmd(&["up", "--name", &name, "--mtu-path", "1500,1000"]);
    let err = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("link 2 has MTU 1000") && err.contains("RFC 8200 §5"),
        "{err}"
    );
    assert!(err.contains("--no-ipv6"), "{err}");
    assert_eq!(lab_namespaces(&name), Vec::<String>::new());
    assert!(!std::path::Path::new(&format!("/run/ustack/lab/{name}")).exists());

    let lab = Lab::start_with("1500,1000", &["--no-ipv6", "--no-server"]);
    let map = lab.printed();
    assert!(map.contains("IPv4 only (--no-ipv6)"), "{map}");
    assert!(!map.contains("2001:2:"), "{map}");
    let v6 = text(&lab.at_host("ip -6 -o addr show scope global; ip -6 route show"));
    assert!(!v6.contains("2001:2:"), "no IPv6 of the plan:\n{v6}");
    let big = lab.at_host("ping -n -M do -s 1200 -c 1 -W 2 198.19.2.2");
    assert!(
        text(&big).contains("From 198.19.1.2 icmp_seq=1 Frag needed and DF set (mtu = 1000)"),
        "{}",
        text(&big)
    );
    lab.stop();
}

/// A `lab up` that fails after its dual-stack links are made (here its `ustack up` cannot
/// start) removes everything it made, and says why.
#[test]
fn a_failed_lab_up_removes_its_dual_stack_links() {
    if !tun_available() {
        return;
    }
    let name = lab_name();
    let mut cmd = Command::new(ustack_bin());
    cmd.args(["lab", "up", "--name", &name, "--mtu-path", "1500,1400"])
        .args(["--up", "--tun", "waytoolongtunname123"]);
    let out = run_limited(cmd, "lab-up", Duration::from_secs(30));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("did not come up"), "{t}");
    assert_eq!(lab_namespaces(&name), Vec::<String>::new());
    assert!(!std::path::Path::new(&format!("/run/ustack/lab/{name}")).exists());
}
