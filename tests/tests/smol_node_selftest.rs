//! Self-test of the smoltcp peer: two `SmolNode`s wired back to back by a tiny loop (1 ms each
//! way, no loss), independent of the simulator's `World`.

mod common;

use common::smol_node::SmolNode;
use ustack_tests::integrity::sha256_hex;
use ustack_tests::sim::{fill_stream, Duration, Family, Instant, Node, Progress, Role};

const DELAY: Duration = Duration::from_millis(1);

/// Runs `a` and `b` until both are done (or virtual `limit` passes); returns the virtual end time.
fn run(a: &mut SmolNode, b: &mut SmolNode, limit: Duration) -> Instant {
    let mut now = Instant::ZERO;
    // (delivery time, to b?, packet), in send order.
    let mut wire: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..10_000_000u64 {
        // Deliver what is due, in order.
        let (due, later): (Vec<_>, Vec<_>) = wire.drain(..).partition(|(t, _, _)| *t <= now);
        wire = later;
        for (_, to_b, packet) in due {
            if to_b {
                b.receive(now, &packet);
            } else {
                a.receive(now, &packet);
            }
        }
        for (node, to_b) in [(&mut *a, true), (&mut *b, false)] {
            if node.poll_at(now).is_some_and(|t| t <= now) {
                node.poll(now, &mut out);
                for packet in out.drain(..) {
                    wire.push((now + DELAY, to_b, packet));
                }
            }
        }
        let (pa, pb) = (a.progress(), b.progress());
        assert!(pa.error.is_none(), "{}: {:?}", a.name(), pa.error);
        assert!(pb.error.is_none(), "{}: {:?}", b.name(), pb.error);
        if pa.done && pb.done {
            return now;
        }
        let next = [a.poll_at(now), b.poll_at(now)]
            .into_iter()
            .flatten()
            .chain(wire.iter().map(|(t, _, _)| *t))
            .min()
            .expect("both nodes idle and nothing on the wire: stalled");
        now = now.max(next);
        assert!(
            now <= Instant::ZERO + limit,
            "not done by {now}: {pa:?} {pb:?}"
        );
    }
    panic!("too many steps");
}

/// A smoltcp node at the `family`'s client (`a`) or server address.
fn node(family: Family, a: bool, name: &str, mtu: usize, role: Role, seed: u64) -> SmolNode {
    let addr = if a { family.client() } else { family.server() };
    SmolNode::new(
        name,
        addr,
        family.prefix_len(),
        mtu,
        role,
        Instant::ZERO,
        seed,
    )
}

fn expected_sha(seed: u64, len: u64) -> String {
    let mut buf = vec![0u8; len as usize];
    fill_stream(seed, 0, &mut buf);
    sha256_hex(&buf)
}

fn check_tcp(p: &Progress, len: u64, seed: u64) {
    assert!(p.received_ok && p.eof && p.done, "{p:?}");
    assert_eq!(p.sent, len);
    assert_eq!(p.received, len);
    assert_eq!(p.received_sha256, expected_sha(seed, len));
}

/// 1 MiB each way at once over `family`, at each MTU.
fn tcp_one_mib_each_way_in(family: Family, mtus: &[usize]) {
    const LEN: u64 = 1 << 20;
    for &mtu in mtus {
        let mut server = node(
            family,
            false,
            "smoltcp-server",
            mtu,
            Role::TcpServer {
                port: 5001,
                send_len: LEN,
                send_seed: 2,
                expect_len: LEN,
                expect_seed: 1,
            },
            2,
        );
        let mut client = node(
            family,
            true,
            "smoltcp-client",
            mtu,
            Role::TcpClient {
                remote: family.server(),
                port: 5001,
                send_len: LEN,
                send_seed: 1,
                expect_len: LEN,
                expect_seed: 2,
            },
            1,
        );
        let end = run(&mut client, &mut server, Duration::from_secs(120));
        check_tcp(&client.progress(), LEN, 2);
        check_tcp(&server.progress(), LEN, 1);
        eprintln!("{family:?} mtu {mtu}: 1 MiB each way done at virtual {end}");
    }
}

#[test]
fn tcp_one_mib_each_way() {
    tcp_one_mib_each_way_in(Family::V4, &[1500, 576, 9000]);
}

#[test]
fn tcp_one_mib_each_way_v6() {
    tcp_one_mib_each_way_in(Family::V6, &[1500, 1280, 9000]);
}

fn ping(size: usize, count: u32, interval: Duration, mtu: usize) {
    ping_in(Family::V4, size, count, interval, mtu);
}

fn ping_in(family: Family, size: usize, count: u32, interval: Duration, mtu: usize) {
    let role = Role::Ping {
        remote: family.server(),
        count,
        size,
        interval,
    };
    let mut pinger = node(family, true, "smoltcp-ping", mtu, role, 3);
    let echo_role = Role::Echo { udp_port: 7 };
    let mut echo = node(family, false, "smoltcp-echo", mtu, echo_role, 4);
    run(&mut pinger, &mut echo, Duration::from_secs(60));
    let p = pinger.progress();
    assert!(p.received_ok && p.done, "{p:?}");
    assert_eq!(p.datagrams, count as u64, "size {size} mtu {mtu}: {p:?}");
    assert_eq!(p.sent, (size * count as usize) as u64);
    assert_eq!(p.received, p.sent);
}

#[test]
fn ping_small_and_fragmented() {
    ping(56, 4, Duration::from_millis(100), 1500);
    ping(4000, 4, Duration::from_millis(100), 1500);
    ping(4000, 4, Duration::from_millis(100), 576);
    // All at once: replies that need fragmenting must not overwrite each other.
    ping(4000, 10, Duration::ZERO, 1500);
    ping(60000, 3, Duration::ZERO, 1500);
}

fn udp_echo(size: usize, count: u32, interval: Duration, mtu: usize) {
    udp_echo_in(Family::V4, size, count, interval, mtu);
}

fn udp_echo_in(family: Family, size: usize, count: u32, interval: Duration, mtu: usize) {
    let role = Role::UdpClient {
        remote: family.server(),
        port: 7,
        count,
        size,
        interval,
    };
    let mut client = node(family, true, "smoltcp-udp", mtu, role, 5);
    let echo_role = Role::Echo { udp_port: 7 };
    let mut echo = node(family, false, "smoltcp-echo", mtu, echo_role, 6);
    run(&mut client, &mut echo, Duration::from_secs(60));
    let p = client.progress();
    assert!(p.received_ok && p.done, "{p:?}");
    assert_eq!(p.datagrams, count as u64, "size {size} mtu {mtu}: {p:?}");
    assert_eq!(p.received, (size * count as usize) as u64);
    let e = echo.progress();
    assert_eq!(e.datagrams, count as u64, "{e:?}");
}

#[test]
fn udp_echo_small_and_fragmented() {
    udp_echo(1000, 5, Duration::from_millis(100), 1500);
    udp_echo(3000, 5, Duration::from_millis(100), 1500);
    udp_echo(3000, 5, Duration::from_millis(100), 576);
    udp_echo(3000, 20, Duration::ZERO, 1500);
}

/// smoltcp 0.14 over IPv6 on `Medium::Ip`: echo and UDP up to what one packet holds (it has no
/// IPv6 fragmentation there; docs/INTEROP.md).
#[test]
fn ping_and_udp_echo_v6() {
    ping_in(Family::V6, 56, 4, Duration::from_millis(100), 1500);
    ping_in(Family::V6, 1452, 4, Duration::from_millis(100), 1500);
    ping_in(Family::V6, 1232, 10, Duration::ZERO, 1280);
    udp_echo_in(Family::V6, 1000, 5, Duration::from_millis(100), 1500);
    udp_echo_in(Family::V6, 1452, 20, Duration::ZERO, 1500);
}
