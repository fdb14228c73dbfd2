//! The first IPv6 ustack speaks (issue 17, docs/IPV6.md), against the kernel in a namespace:
//! `ustack up --ipv6` puts 2001:2::1/64 on the kernel side and 2001:2::2 on the stack, and
//! iputils `ping -6` gets every reply — also of 3000 bytes, fragmented both ways — the same
//! bytes `tcpdump` sees on the TUN and `ustack capture` writes; a protocol the stack does not speak gets a Parameter Problem (tcpdump's
//! words); the kernel's own router solicitations and MLD reports are counted as ignored; IPv6
//! options that cannot work are refused with exit code 2 before anything starts.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::process::Command;
use std::time::Duration;
use ustack_apps::daemon::pcap::read_packets;
use ustack_tests::e2e::{
    counter, kernel_tcpdump, run_in, ustack_bin, wait_host_addr6, wait_stderr, Scratch, Up,
};
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

const STACK6: &str = "2001:2::2";

#[test]
fn ping6_is_answered_and_captured_as_tcpdump_sees_it() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("ipv6", "ping");
    let ns = NetNs::new("ipv6-ping");
    let up = Up::start(&ns, &["--ipv6"]);
    wait_host_addr6(&ns);
    let (kernel_file, ours_file) = (scratch.path("k.pcap"), scratch.path("u.pcap"));
    let mut dump = kernel_tcpdump(&ns, "ustack0", &kernel_file, &["icmp6"]);
    let mut cmd = ns.command(ustack_bin());
    cmd.args(["capture", "-w"]).arg(&ours_file);
    let mut cap = ChildGuard::spawn(cmd, "capture");
    wait_stderr(&cap, "listening on", "capture");
    let ping = run_in(
        &ns,
        "ping",
        &["-6", "-c", "5", "-i", "0.2", STACK6],
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "{text}");
    assert!(
        text.contains("5 packets transmitted, 5 received, 0% packet loss"),
        "{text}"
    );
    // Fragmented both ways: the kernel cuts 3000 bytes, the stack reassembles them and cuts
    // its reply.
    let big = run_in(
        &ns,
        "ping",
        &["-6", "-c", "2", "-i", "0.2", "-s", "3000", STACK6],
        Duration::from_secs(20),
    );
    let big_text = String::from_utf8_lossy(&big.stdout);
    assert!(big.status.success(), "{big_text}");
    assert!(big_text.contains("3008 bytes from 2001:2::2"), "{big_text}");
    // A protocol the stack does not speak: a Parameter Problem, code 1, at the Next Header.
    let raw = "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 200); \
               s.sendto(b'ustack!!', ('2001:2::2', 0))";
    let sent = run_in(&ns, "python3", &["-c", raw], Duration::from_secs(10));
    assert!(sent.status.success(), "{sent:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(cap
        .terminate(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    dump.terminate(Duration::from_secs(5));
    // The echo packets: the same bytes on both sides of the TUN.
    let echo = |f: &std::path::Path| {
        let mut v: Vec<Vec<u8>> = read_packets(f)
            .unwrap()
            .into_iter()
            .map(|r| r.data)
            .filter(|d| d.len() > 40 && d[6] == 58 && matches!(d[40], 128 | 129))
            .collect();
        v.sort();
        v
    };
    let (theirs, ours) = (echo(&kernel_file), echo(&ours_file));
    // The 5 small requests and replies (the big ones went as fragments).
    assert_eq!(theirs.len(), 10, "{}", theirs.len());
    assert_eq!(ours, theirs);
    let lines = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&kernel_file)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&lines.stdout);
    assert!(
        lines.contains("2001:2::2 > 2001:2::1: ICMP6, parameter problem, next header - octet 6"),
        "{lines}"
    );
    let out = up.stop();
    assert_eq!(counter(&out, "icmpv6_echo_replied"), 7, "{out}");
    assert_eq!(counter(&out, "ip_reassembled"), 2, "{out}");
    assert_eq!(counter(&out, "Ipv6UnknownNextHeader"), 1, "{out}");
    assert_eq!(
        counter(&out, "drops_total"),
        counter(&out, "Ipv6Disabled")
            + counter(&out, "Icmpv6LinkLocalIgnored")
            + counter(&out, "Ipv6UnknownNextHeader"),
        "{out}"
    );
}

#[test]
fn ipv6_options_that_cannot_work_are_refused() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ipv6-bad");
    for (args, says) in [
        (vec!["--addr6", "2001:3::2"], "outside 2001:2::1/64"),
        (vec!["--addr6", "ff02::1"], "not a unicast IPv6 address"),
        (vec!["--addr6", "2001:2::1"], "must differ"),
        (
            vec!["--ipv6", "--mtu", "1000"],
            "below IPv6's minimum of 1280",
        ),
    ] {
        let mut cmd = ns.command(ustack_bin());
        cmd.arg("up").args(&args);
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        let links = Command::new("ip")
            .args(["netns", "exec", ns.name(), "ip", "link", "show", "ustack0"])
            .output()
            .unwrap();
        assert!(!links.status.success(), "{args:?} left a TUN behind");
    }
}
