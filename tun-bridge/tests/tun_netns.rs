//! The TUN device against the real kernel, inside a network namespace the test creates.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};
use tun_bridge::host;
use tun_bridge::tun::{wait_readable, Tun, Waker};
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const STACK_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const IFNAME: &str = "ustest0";

/// RFC 1071 Internet checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Reads packets from `tun` until an IPv4 one arrives (the kernel may also send IPv6 router
/// solicitations and the like) or `timeout` passes.
fn next_ipv4_packet(tun: &Tun, timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = wait_readable(&[tun.as_raw_fd()], Some(left)).unwrap();
        if ready[0] {
            while let Some(n) = tun.recv(&mut buf).unwrap() {
                if n > 0 && buf[0] >> 4 == 4 {
                    return Some(buf[..n].to_vec());
                }
            }
        } else if left.is_zero() {
            return None;
        }
    }
}

/// Turns an IPv4 ICMP echo request into the matching echo reply.
fn echo_reply(request: &[u8]) -> Vec<u8> {
    let mut reply = request.to_vec();
    let ihl = (reply[0] & 0x0f) as usize * 4;
    let (src, dst) = (reply[12..16].to_vec(), reply[16..20].to_vec());
    reply[12..16].copy_from_slice(&dst);
    reply[16..20].copy_from_slice(&src);
    reply[10..12].fill(0);
    let c = checksum(&reply[..ihl]);
    reply[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut reply[ihl..];
    icmp[0] = 0; // echo reply
    icmp[2..4].fill(0);
    let c = checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    reply
}

/// Waits up to `timeout` for the child to exit on its own.
fn wait_exit(child: &mut ChildGuard, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn netns_listed(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

#[test]
fn kernel_ping_reaches_the_tun_and_a_reply_gets_back() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("tun");
    let ns_name = ns.name().to_string();
    {
        let tun = ns
            .run(|| Tun::open(IFNAME))
            .expect("opening the TUN device inside the namespace");
        assert_eq!(tun.name(), IFNAME);
        let mut buf = [0u8; 2048];
        assert_eq!(tun.recv(&mut buf).unwrap(), None, "non-blocking and idle");

        // `ip` spawned from a thread that joined the namespace configures the device there.
        ns.run(|| host::configure(IFNAME, HOST_ADDR, 24, 1500))
            .expect("configuring the host side");
        assert!(ns.wait_for_addr(IFNAME, HOST_ADDR, Duration::from_secs(2)));
        let link = Command::new("ip")
            .args(["-n", ns.name(), "link", "show", "dev", IFNAME])
            .output()
            .unwrap();
        let link = String::from_utf8_lossy(&link.stdout);
        assert!(link.contains("mtu 1500") && link.contains(",UP"), "{link}");

        let mut ping = ns.command("ping");
        ping.args(["-n", "-c", "1", "-W", "1"])
            .arg(STACK_ADDR.to_string());
        let mut ping = ChildGuard::spawn(ping, "ping");

        let request = next_ipv4_packet(&tun, Duration::from_secs(3))
            .expect("no IPv4 packet on the TUN within 3 s");
        assert!(request.len() >= 28, "too short: {request:02x?}");
        assert_eq!(request[0] >> 4, 4, "version");
        let ihl = (request[0] & 0x0f) as usize * 4;
        assert!(ihl >= 20);
        assert_eq!(
            u16::from_be_bytes([request[2], request[3]]) as usize,
            request.len(),
            "total length"
        );
        assert_eq!(checksum(&request[..ihl]), 0, "IPv4 header checksum");
        assert_eq!(request[9], 1, "protocol ICMP");
        assert_eq!(request[12..16], HOST_ADDR.octets(), "source");
        assert_eq!(request[16..20], STACK_ADDR.octets(), "destination");
        assert_eq!(request[ihl], 8, "ICMP type echo request");
        assert_eq!(request[ihl + 1], 0, "ICMP code");
        assert_eq!(checksum(&request[ihl..]), 0, "ICMP checksum");

        assert!(tun.send(&echo_reply(&request)).unwrap(), "reply dropped");
        let status = wait_exit(&mut ping, Duration::from_secs(3));
        assert!(
            status.is_some_and(|s| s.success()),
            "ping: {status:?}\n{}\n{}",
            ping.stdout(),
            ping.stderr()
        );
        assert!(ping.stdout().contains("1 received"), "{}", ping.stdout());

        // A waker and the TUN in one poll set: only the woken one is ready.
        let waker = Waker::new().unwrap();
        while tun.recv(&mut buf).unwrap().is_some() {}
        waker.wake();
        let ready = wait_readable(&[tun.as_raw_fd(), waker.as_raw_fd()], None).unwrap();
        assert!(ready[1]);
    }
    drop(ns);
    assert!(!netns_listed(&ns_name), "{ns_name} still exists");
}

#[test]
fn opening_a_non_tun_interface_fails_clearly() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("tunerr");
    let err = ns.run(|| Tun::open("lo")).unwrap_err();
    assert!(err.to_string().contains("'lo'"), "{err}");
}
