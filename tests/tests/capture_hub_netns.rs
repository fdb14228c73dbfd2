//! The capture hub on a real TUN, against tcpdump on the kernel side of the same device: a
//! ping and an HTTP fetch from the kernel are seen packet for packet, byte for byte, by both;
//! and a subscriber that never reads does not slow the stack (a 4 MiB download still completes,
//! SHA-256 checked) while its packets are counted as dropped.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tun_bridge::{aio, Bridge, BridgeConfig, Direction};
use ustack::filter::Filter;
use ustack_apps::daemon::capture::{CaptureHub, Subscription};
use ustack_apps::daemon::pcap::read_packets;
use ustack_tests::e2e::{kernel_tcpdump, pseudo_random};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

const STACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const TUN: &str = "ucap0";
const FILTER: [&str; 5] = ["icmp", "or", "tcp", "port", "80"];

/// A bridge with the hub's tap and a one-shot HTTP/1.0 server on port 80 serving `body`.
fn bridge(hub: &CaptureHub, body: Vec<u8>) -> Bridge {
    let mut c = BridgeConfig {
        tun_name: TUN.into(),
        ..BridgeConfig::default()
    };
    c.stack.addr = STACK;
    let b = Bridge::start(c, vec![hub.tap()]).expect("bridge starts");
    let (ready, bound) = std::sync::mpsc::channel();
    b.spawn(move |net| async move {
        let l = aio::TcpListener::bind(&net, 80, 16).unwrap();
        ready.send(()).unwrap();
        let body = std::rc::Rc::new(body);
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let body = body.clone();
            tokio::task::spawn_local(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    })
    .unwrap();
    bound.recv_timeout(Duration::from_secs(10)).unwrap();
    b
}

/// GET / from the kernel side; returns the body.
fn fetch() -> Vec<u8> {
    let addr = SocketAddrV4::new(STACK, 80);
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    all.split_off(at)
}

/// The packets of a pcap file so far.
fn records(file: &Path) -> Vec<Vec<u8>> {
    read_packets(file)
        .map(|r| r.into_iter().map(|r| r.data).collect())
        .unwrap_or_default()
}

fn drain(sub: &mut Subscription) -> Vec<(Direction, Vec<u8>)> {
    std::iter::from_fn(|| sub.try_recv())
        .map(|p| (p.dir, p.data))
        .collect()
}

#[test]
fn hub_sees_what_tcpdump_sees_on_the_kernel_side() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("cap-same");
    let dir = std::env::temp_dir().join(format!("ustack-cap-{}", ns.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let kfile = dir.join("k.pcap");
    let hub = CaptureHub::new();
    let b = {
        let hub = hub.clone();
        ns.run(move || bridge(&hub, pseudo_random(20_000, 7)))
    };
    let mut sub = hub
        .subscribe(Filter::parse(&FILTER.join(" ")).unwrap(), 100_000)
        .unwrap();
    let mut dump = kernel_tcpdump(&ns, TUN, &kfile, &FILTER);
    let ping = ns
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2"])
        .arg(STACK.to_string())
        .output()
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
    let body = ns.run(fetch);
    assert_eq!(sha256_hex(&body), sha256_hex(&pseudo_random(20_000, 7)));
    std::thread::sleep(Duration::from_millis(300)); // the last ACKs and FINs
    let ours = drain(&mut sub);
    // tcpdump may lag on a busy machine: give it until it has as many packets (or 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    while records(&kfile).len() < ours.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    dump.terminate(Duration::from_secs(5));
    drop(b);
    let theirs = records(&kfile);
    let _ = std::fs::remove_dir_all(&dir);
    // 3 echo requests + 3 replies, and a whole TCP connection.
    assert!(ours.len() >= 6 + 10, "{} packets", ours.len());
    let show = |v: &[&Vec<u8>]| {
        v.iter()
            .map(|p| ustack::wire::PacketSummary(p).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        ours.len(),
        theirs.len(),
        "hub:\n{}\ntcpdump:\n{}",
        show(&ours.iter().map(|(_, d)| d).collect::<Vec<_>>()),
        show(&theirs.iter().collect::<Vec<_>>())
    );
    let mut a: Vec<&Vec<u8>> = ours.iter().map(|(_, d)| d).collect();
    let mut k: Vec<&Vec<u8>> = theirs.iter().collect();
    a.sort();
    k.sort();
    assert!(a == k, "the hub and tcpdump saw different bytes");
    assert_eq!(sub.dropped(), 0);
    assert!(ours.iter().any(|(d, _)| *d == Direction::In));
    assert!(ours.iter().any(|(d, _)| *d == Direction::Out));
}

#[test]
fn a_subscriber_that_never_reads_costs_drops_not_throughput() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("cap-stall");
    let hub = CaptureHub::new();
    let size = 4 << 20;
    let b = {
        let hub = hub.clone();
        ns.run(move || bridge(&hub, pseudo_random(size, 11)))
    };
    let stalled = hub.subscribe(Filter::parse("tcp").unwrap(), 8).unwrap();
    let body = ns.run(fetch);
    assert_eq!(sha256_hex(&body), sha256_hex(&pseudo_random(size, 11)));
    drop(b);
    // 4 MiB is thousands of segments; 8 fit in the queue, the rest were dropped for this client.
    assert!(stalled.matched() > 1000, "{} matched", stalled.matched());
    assert_eq!(stalled.dropped(), stalled.matched() - 8);
}
