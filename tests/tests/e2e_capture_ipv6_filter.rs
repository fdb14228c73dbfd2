//! `ustack capture` with IPv6 filters (issue 17, docs/CAPTURE-FILTER.md) against tcpdump with
//! the same filters on the kernel side of the same TUN: `ustack up --ipv6`, then kernel
//! `ping -6` (also of 3000 bytes, fragmented both ways), UDP over IPv6 (one datagram whole, one
//! fragmented), a packet of a protocol the stack does not speak (answered with a Parameter
//! Problem) and an IPv4 ping. For each filter — `icmp6` (fragments included: libpcap looks at
//! a Fragment header's Next Header), `ip6 and not icmp6`, `udp port 9999` (the fragments have
//! no ports to libpcap) — the lines `ustack capture` prints live are the lines `tcpdump -n`
//! prints for what it saw with that filter, and the packets `ustack capture -w` keeps are the
//! same bytes.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::path::Path;
use std::time::{Duration, Instant};
use ustack_apps::daemon::pcap::read_packets;
use ustack_tests::capture::{start, summary, tcpdump_r};
use ustack_tests::e2e::{kernel_tcpdump, run_in, wait_host_addr6, Scratch, Up, STACK_ADDR};
use ustack_tests::netns::{tun_available, NetNs};

const STACK6: &str = "2001:2::2";

/// The filters compared, as words (tcpdump takes them so, and so does `ustack capture`).
const FILTERS: [&[&str]; 3] = [
    &["icmp6"],
    &["ip6", "and", "not", "icmp6"],
    &["udp", "port", "9999"],
];

fn records(file: &Path) -> Vec<Vec<u8>> {
    read_packets(file)
        .map(|r| r.into_iter().map(|r| r.data).collect())
        .unwrap_or_default()
}

/// A line without its timestamp and, for ustack's live lines, its direction (`in `/`out`).
fn body(line: &str) -> String {
    let rest = line.split_once(' ').map_or(line, |(_, r)| r);
    let rest = rest
        .strip_prefix("in  ")
        .or_else(|| rest.strip_prefix("out "))
        .unwrap_or(rest);
    rest.to_string()
}

fn sorted_bodies(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(body).collect();
    v.sort();
    v
}

/// The kernel's traffic toward the stack: ICMPv6 echo (small and fragmented), UDP over IPv6
/// (whole and fragmented), an unknown next header, and an IPv4 ping.
fn traffic(ns: &NetNs) {
    for args in [
        &["-6", "-c", "3", "-i", "0.2", STACK6][..],
        &["-6", "-c", "1", "-s", "3000", STACK6],
        &["-c", "2", "-i", "0.2", &STACK_ADDR.to_string()],
    ] {
        let ping = run_in(ns, "ping", args, Duration::from_secs(20));
        assert!(ping.status.success(), "ping {args:?}: {ping:?}");
    }
    let py = "import socket\n\
              s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
              s.sendto(b'x' * 10, ('2001:2::2', 9999))\n\
              s.sendto(b'y' * 3000, ('2001:2::2', 9999))\n\
              r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 200)\n\
              r.sendto(b'ustack!!', ('2001:2::2', 0))\n";
    let sent = run_in(ns, "python3", &["-c", py], Duration::from_secs(10));
    assert!(sent.status.success(), "{sent:?}");
}

#[test]
fn ipv6_filters_select_what_tcpdump_selects_on_the_tun() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("cap6", "filter");
    let ns = NetNs::new("cap6-filter");
    // No router solicitations into the window (they come at 4 s intervals after the link is
    // up); the MLD reports of the address's groups are over within the settling pause below.
    let rs = run_in(
        &ns,
        "sysctl",
        &["-qw", "net.ipv6.conf.default.router_solicitations=0"],
        Duration::from_secs(5),
    );
    assert!(rs.status.success(), "{rs:?}");
    let up = Up::start(&ns, &["--ipv6"]);
    wait_host_addr6(&ns);
    std::thread::sleep(Duration::from_millis(2500));
    let kernel_file = |i: usize| scratch.path(&format!("k{i}.pcap"));
    let ours_file = |i: usize| scratch.path(&format!("u{i}.pcap"));
    let mut dumps = Vec::new();
    let mut live = Vec::new();
    let mut written = Vec::new();
    for (i, filter) in FILTERS.iter().enumerate() {
        dumps.push(kernel_tcpdump(&ns, "ustack0", &kernel_file(i), filter));
        live.push(start(&ns, filter, &format!("capture-{i}")));
        let u = ours_file(i);
        let mut args = vec!["-w", u.to_str().unwrap()];
        args.extend_from_slice(filter);
        written.push(start(&ns, &args, &format!("capture-w{i}")));
    }
    traffic(&ns);
    std::thread::sleep(Duration::from_millis(500));
    for (i, filter) in FILTERS.iter().enumerate() {
        let (k, u) = (kernel_file(i), ours_file(i));
        for cap in [&mut live[i], &mut written[i]] {
            assert!(cap
                .terminate(Duration::from_secs(5))
                .is_some_and(|s| s.success()));
        }
        let ours = records(&u);
        let deadline = Instant::now() + Duration::from_secs(10);
        while records(&k).len() < ours.len() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        dumps[i].terminate(Duration::from_secs(5));
        let what = filter.join(" ");
        // The same packets, byte for byte.
        let (mut a, mut b) = (ours.clone(), records(&k));
        a.sort();
        b.sort();
        assert_eq!(
            a, b,
            "{what}: ustack -w and tcpdump -w kept different packets"
        );
        // The same lines: ustack's live output and tcpdump -n on what tcpdump saw.
        let printed = live[i].stdout();
        let theirs = tcpdump_r(&[], &k);
        assert_eq!(
            sorted_bodies(&printed),
            sorted_bodies(&theirs),
            "{what}: ustack capture printed\n{printed}\ntcpdump -n printed\n{theirs}"
        );
        assert_eq!(
            summary(&live[i].stderr(), "captured"),
            Some(theirs.lines().count() as u64)
        );
        check_selection(&what, &theirs);
    }
    up.stop();
}

/// What each filter must have selected from the traffic, so that agreeing on nothing cannot
/// pass.
fn check_selection(what: &str, lines: &str) {
    let count = |s: &str| lines.matches(s).count();
    assert!(
        !lines.lines().any(|l| body(l).starts_with("IP ")),
        "{what} kept IPv4:\n{lines}"
    );
    match what {
        "icmp6" => {
            // 3 small and the fragmented one's first fragment, each way.
            assert!(count("ICMP6, echo request") >= 4, "{lines}");
            assert!(count("ICMP6, echo reply") >= 4, "{lines}");
            // The later fragments of the 3000-byte echo: ICMPv6 to libpcap too.
            assert!(count("frag (") > count("frag (0|") + 1, "{lines}");
            assert!(count("ICMP6, parameter problem") == 1, "{lines}");
        }
        "ip6 and not icmp6" => {
            assert!(count("UDP, length 10") == 1, "{lines}");
            // The 3000-byte datagram: its first fragment and at least one later one.
            assert!(count("frag (0|") == 1, "{lines}");
            assert!(count("frag (") >= 2, "{lines}");
            assert!(count("ip-proto-200") == 1, "{lines}");
            assert_eq!(count("ICMP6"), 0, "{lines}");
        }
        "udp port 9999" => {
            assert_eq!(lines.lines().count(), 1, "{lines}");
            assert!(count("UDP, length 10") == 1, "{lines}");
        }
        _ => unreachable!("{what}"),
    }
}
