//! End to end against the Linux kernel: `ustack up` on a TUN inside a namespace made for each
//! test, exercised with iputils `ping`, kernel UDP sockets, raw sockets and `tcpdump`.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::ErrorKind;
use std::net::{SocketAddrV4, UdpSocket};
use std::time::Duration;
use ustack_tests::e2e::{
    counter, ping_summary, pseudo_random, raw_send, raw_socket, rss_kib, run_in, Up, HOST_ADDR,
    STACK_ADDR,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

const STACK: &str = "198.18.0.2";

fn ping(ns: &NetNs, args: &[&str], limit_secs: u64) -> (u64, u64, String) {
    let out = run_in(ns, "ping", args, Duration::from_secs(limit_secs));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (tx, rx) = ping_summary(&text).unwrap_or_else(|| {
        panic!(
            "no ping summary in:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (tx, rx, text)
}

#[test]
fn ping_twenty_without_loss() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ping20");
    let up = Up::start(&ns, &[]);
    let (tx, rx, text) = ping(&ns, &["-c", "20", "-i", "0.05", "-W", "2", STACK], 30);
    assert_eq!((tx, rx), (20, 20), "{text}");
    assert!(text.contains("0% packet loss"), "{text}");
    assert!(text.contains("ttl=64"), "{text}");
    let counters = up.stop();
    assert_eq!(counter(&counters, "icmp_echo_replied"), 20, "{counters}");
}

#[test]
fn ping_sizes_that_fragment_both_ways() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingsize");
    let up = Up::start(&ns, &["--ttl", "42"]);
    for size in ["1472", "1473", "4000", "65507"] {
        let (tx, rx, text) = ping(
            &ns,
            &["-c", "3", "-i", "0.2", "-W", "3", "-s", size, STACK],
            30,
        );
        assert_eq!((tx, rx), (3, 3), "ping -s {size}:\n{text}");
        // iputils checks the echoed data itself and flags "wrong data byte" otherwise.
        assert!(!text.contains("wrong data"), "{text}");
        assert!(text.contains("ttl=42"), "--ttl not honoured:\n{text}");
        let want = format!("{} bytes from", size.parse::<usize>().unwrap() + 8);
        assert!(text.contains(&want), "ping -s {size}:\n{text}");
    }
    let counters = up.stop();
    // 1473, 4000 and 65507 arrive fragmented (9 datagrams) and leave fragmented.
    assert!(counter(&counters, "ip_reassembled") >= 9, "{counters}");
    assert!(counter(&counters, "ip_tx_fragmented") >= 9, "{counters}");
}

#[test]
fn flood_ping_loses_at_most_one_in_a_thousand() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("flood");
    let up = Up::start(&ns, &[]);
    let (tx, rx, text) = ping(&ns, &["-f", "-c", "5000", "-W", "1", STACK], 120);
    assert_eq!(tx, 5000, "{text}");
    assert!(
        rx * 1000 >= tx * 999,
        "flood ping lost too much: {rx}/{tx}\n{text}"
    );
    up.stop();
}

/// Sizes for the UDP echo test: every size to 64, both sides of each fragment boundary, powers
/// of two, the maximum, and pseudo-random sizes in between.
fn udp_sizes() -> Vec<usize> {
    let mut sizes: Vec<usize> = (1..=64).collect();
    for k in 1..=44 {
        // 1472 bytes of UDP payload fill one 1500-byte packet; each further fragment adds 1480.
        let edge = 1472 + (k - 1) * 1480;
        sizes.extend([edge - 1, edge, edge + 1]);
    }
    sizes.extend([
        128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65506, 65507,
    ]);
    let r = pseudo_random(80, 0xfeed);
    sizes.extend(
        r.chunks(2)
            .map(|c| 1 + (usize::from(c[0]) << 8 | usize::from(c[1])) % 65507),
    );
    sizes.retain(|&s| s <= 65507);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

#[test]
fn udp_echo_returns_identical_bytes_for_sizes_1_to_65507() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("udpecho");
    let up = Up::start(&ns, &[]);
    let sizes = udp_sizes();
    let checked = ns.run(move || {
        let sock = UdpSocket::bind(SocketAddrV4::new(HOST_ADDR, 0)).expect("bind");
        sock.connect(SocketAddrV4::new(STACK_ADDR, 7))
            .expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = vec![0u8; 65536];
        for (i, &size) in sizes.iter().enumerate() {
            let sent = pseudo_random(size, i as u64 + 1);
            sock.send(&sent)
                .unwrap_or_else(|e| panic!("send {size}: {e}"));
            let n = sock
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no echo for {size} bytes: {e}"));
            assert_eq!(n, size, "echo of {size} bytes came back as {n}");
            assert_eq!(
                sha256_hex(&buf[..n]),
                sha256_hex(&sent),
                "echo of {size} bytes differs"
            );
        }
        sizes.len()
    });
    assert!(checked > 200, "only {checked} sizes checked");
    let counters = up.stop();
    assert_eq!(
        counter(&counters, "udp_rx_datagrams") as usize,
        checked,
        "{counters}"
    );
    // The only drops: what the kernel sends into the TUN on its own (router solicitations,
    // MLD reports: counted and ignored; anything else IPv6: not handled yet).
    assert_eq!(
        counter(&counters, "drops_total"),
        counter(&counters, "Ipv6Disabled") + counter(&counters, "Icmpv6LinkLocalIgnored"),
        "{counters}"
    );
}

#[test]
fn udp_to_closed_port_is_refused() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("refused");
    let up = Up::start(&ns, &[]);
    let kind = ns.run(|| {
        let sock = UdpSocket::bind(SocketAddrV4::new(HOST_ADDR, 0)).expect("bind");
        sock.connect(SocketAddrV4::new(STACK_ADDR, 9999))
            .expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        sock.send(b"anyone there?").unwrap();
        let mut buf = [0u8; 64];
        sock.recv(&mut buf).map(|_| ()).unwrap_err().kind()
    });
    assert_eq!(kind, ErrorKind::ConnectionRefused);
    let counters = up.stop();
    assert_eq!(counter(&counters, "UdpNoSocket"), 1, "{counters}");
    assert_eq!(counter(&counters, "icmp_errors_sent"), 1, "{counters}");
}

#[test]
fn ustack_ping_gets_replies_from_the_kernel() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("uping");
    let bin = ustack_tests::e2e::ustack_bin();
    let bin = bin.to_str().unwrap();
    let out = run_in(
        &ns,
        bin,
        &["ping", "-c", "5", "-i", "0.2", "-s", "3000", "198.18.0.1"],
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ping_summary(&text), Some((5, 5)), "{text}");
    assert!(
        text.contains("3008 bytes from 198.18.0.1: icmp_seq=1 ttl=64 time="),
        "{text}"
    );
    assert!(text.contains("rtt min/avg/max/mdev = "), "{text}");
    assert!(!text.contains("BAD DATA"), "{text}");
}

#[test]
fn pcap_and_trace_show_every_packet() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pcap");
    let dir = std::env::temp_dir().join(format!("ustk-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("capture.pcap");
    let up = Up::start(&ns, &["--trace", "--pcap", pcap.to_str().unwrap()]);
    let (_, rx, text) = ping(&ns, &["-c", "2", "-i", "0.2", "-s", "2000", STACK], 20);
    assert_eq!(rx, 2, "{text}");
    let trace = up.stop();
    assert!(
        trace.contains(" in  IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id "),
        "{trace}"
    );
    assert!(
        trace.contains(" in  IP 198.18.0.1 > 198.18.0.2: ip-proto-1 (frag "),
        "{trace}"
    );
    assert!(
        trace.contains(" out IP 198.18.0.2 > 198.18.0.1: ICMP echo reply, id "),
        "{trace}"
    );
    let out = std::process::Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(&pcap)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.expect("tcpdump must be installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump -r failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2 requests and 2 replies of 2 fragments each.
    assert!(text.matches("ICMP echo request").count() == 2, "{text}");
    assert!(text.matches("ICMP echo reply").count() == 2, "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains("198.18.0.2 > 198.18.0.1"))
            .count()
            >= 4,
        "{text}"
    );
}

#[test]
fn fragment_flood_keeps_memory_bounded_and_pings_answered() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fragflood");
    let up = Up::start(&ns, &[]);
    let pid = up.child.pid();
    let rss_before = rss_kib(pid);
    // 20,000 first fragments of datagrams that never complete, each 1480 bytes (29 MB offered;
    // the default cap is 4 MiB), sent while a normal ping runs.
    ns.run(|| {
        let fd = raw_socket();
        let mut pkt = vec![0u8; 1500];
        for ident in 0..20_000u32 {
            ustack::wire::ipv4::Ipv4Repr {
                src: HOST_ADDR,
                dst: STACK_ADDR,
                protocol: 17,
                ttl: 64,
                ident: ident as u16 ^ 0x5a5a,
                dont_fragment: false,
                more_fragments: true,
                frag_offset: 0,
                payload_len: 1480,
            }
            .emit(&mut pkt);
            raw_send(&fd, STACK_ADDR, &pkt);
            if ident % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let (tx, rx, text) = ping(&ns, &["-c", "10", "-i", "0.05", "-W", "2", STACK], 30);
    assert_eq!((tx, rx), (10, 10), "{text}");
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 32 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB under a fragment flood"
    );
    let counters = up.stop();
    assert!(
        counter(&counters, "ip_rx_fragments") >= 19_000,
        "{counters}"
    );
    assert!(counter(&counters, "FragEvicted") > 10_000, "{counters}");
    assert_eq!(counter(&counters, "icmp_echo_replied"), 10, "{counters}");
}
