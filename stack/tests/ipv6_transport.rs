//! UDP and TCP over IPv6 inside one process (issue 17): UDP's mandatory checksum and ICMPv6
//! port unreachable; Packet Too Big from a router between two stacks lowering the sender's
//! segments to the reported MTU, never below 1280 (RFC 8201 §4); errors quoting what we did
//! not send refused; the flow label one per flow.

use std::net::{Ipv6Addr, SocketAddr};
use ustack::wire::icmpv6::{self, types, Icmpv6Message};
use ustack::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN};
use ustack::wire::{proto, udp};
use ustack::{Config, DropReason, Duration, Instant, Stack};

const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);

fn stack(addr6: Ipv6Addr, seed: u64) -> Stack {
    let config = Config {
        addr: [198, 18, 0, (seed % 200) as u8 + 2].into(),
        addr6: Some(addr6),
        seed,
        ..Config::default()
    };
    Stack::new(config, Instant::ZERO).unwrap()
}

/// An IPv6 packet from `src` to `dst` carrying `payload` of `next_header`.
fn packet6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER_LEN + payload.len()];
    Ipv6Repr {
        src,
        dst,
        next_header,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: payload.len(),
    }
    .emit(&mut p);
    p[HEADER_LEN..].copy_from_slice(payload);
    p
}

/// A Packet Too Big from `ROUTER` to the sender of `invoking`, reporting `mtu`.
fn too_big(invoking: &[u8], mtu: u32) -> Vec<u8> {
    let to = Ipv6Packet::read(invoking).unwrap().src();
    let mut m = vec![0u8; 1280];
    let n = icmpv6::emit_error(
        &mut m,
        ROUTER,
        to,
        (types::PACKET_TOO_BIG, 0, mtu),
        invoking,
    );
    packet6(ROUTER, to, proto::ICMPV6, &m[..n])
}

fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1500];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn udp_over_ipv6_needs_its_checksum_and_closed_ports_get_port_unreachable() {
    let mut s = stack(A6, 1);
    let h = s.udp_bind(5000).unwrap();
    let mut d = vec![0u8; udp::HEADER_LEN + 5];
    udp::emit(&mut d, B6, A6, 4000, 5000, b"hello");
    s.receive(Instant::ZERO, &packet6(B6, A6, proto::UDP, &d));
    let mut buf = [0u8; 16];
    let (n, from) = s.udp_recv_from(h, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"hello"[..], SocketAddr::from((B6, 4000)))
    );
    // RFC 8200 §8.1: no checksum is no datagram over IPv6.
    d[6..8].copy_from_slice(&[0, 0]);
    s.receive(Instant::ZERO, &packet6(B6, A6, proto::UDP, &d));
    assert_eq!(s.stats().drops(DropReason::UdpNoChecksum6), 1);
    assert!(s.udp_recv_from(h, &mut buf).is_err());
    // A closed port: ICMPv6 destination unreachable, code 4, quoting the datagram.
    let mut d = vec![0u8; udp::HEADER_LEN + 2];
    udp::emit(&mut d, B6, A6, 4000, 5001, b"hi");
    let sent = packet6(B6, A6, proto::UDP, &d);
    s.receive(Instant::ZERO, &sent);
    let out = drain(&mut s, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let p = Ipv6Packet::parse(&out[0]).unwrap();
    assert_eq!((p.src(), p.dst()), (A6, B6));
    match Icmpv6Message::parse(A6, B6, p.payload()).unwrap() {
        Icmpv6Message::Error {
            icmp_type,
            code,
            quote,
            ..
        } => {
            assert_eq!((icmp_type, code), (types::DEST_UNREACHABLE, 4));
            assert_eq!(quote, &sent[..]);
        }
        m => panic!("{m:?}"),
    }
    // Sending to IPv6 goes out as IPv6 with our address, a flow label per flow.
    s.udp_send_to(h, b"x", SocketAddr::from((B6, 4000)))
        .unwrap();
    s.udp_send_to(h, b"y", SocketAddr::from((B6, 4000)))
        .unwrap();
    s.udp_send_to(h, b"z", SocketAddr::from((B6, 4001)))
        .unwrap();
    let out = drain(&mut s, Instant::ZERO);
    let labels: Vec<u32> = out
        .iter()
        .map(|b| Ipv6Packet::parse(b).unwrap().flow_label())
        .collect();
    assert_eq!(labels[0], labels[1]);
    assert_ne!(labels[0], labels[2]);
    assert!(labels.iter().all(|&l| l != 0));
}

/// A connection from B to A's port 80 through a "router" with a link of `mtu` on the way
/// from A to B: A's packets larger than `mtu` are dropped and answered with a Packet Too Big
/// reporting `report`. Returns the largest packet of A's that got through after the first
/// report, and the bytes B received.
fn through_a_narrow_link(mtu: usize, report: u32) -> (usize, usize, Stack) {
    let (mut a, mut b) = (stack(A6, 3), stack(B6, 4));
    let l = a.tcp_listen(80, 4).unwrap();
    let hb = b.tcp_connect(SocketAddr::from((A6, 80))).unwrap();
    let mut now = Instant::ZERO;
    let data = vec![7u8; 200_000];
    let (mut sent, mut got, mut ha) = (0, 0, None);
    let (mut reported, mut largest_after) = (false, 0);
    let mut buf = [0u8; 65536];
    for _ in 0..20_000 {
        for p in drain(&mut b, now) {
            a.receive(now, &p);
        }
        if ha.is_none() && a.tcp_can_accept(l) {
            ha = Some(a.tcp_accept(l).unwrap());
        }
        if let Some(h) = ha {
            if sent < data.len() {
                sent += a.tcp_send(h, &data[sent..]).unwrap_or(0);
            }
        }
        for p in drain(&mut a, now) {
            if p.len() > mtu {
                reported = true;
                a.receive(now, &too_big(&p, report));
                continue;
            }
            if reported {
                largest_after = largest_after.max(p.len());
            }
            b.receive(now, &p);
        }
        while let Ok(n) = b.tcp_recv(hb, &mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == data.len() {
            break;
        }
        now += Duration::from_millis(1);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert!(reported, "nothing was too big");
    (largest_after, got, a)
}

#[test]
fn packet_too_big_lowers_the_segments_to_the_path_mtu() {
    let (largest, got, a) = through_a_narrow_link(1400, 1400);
    assert_eq!(got, 200_000);
    assert!(largest <= 1400 && largest > 1300, "{largest}");
    assert!(a.stats().icmp_errors_delivered >= 1);
}

#[test]
fn packet_too_big_below_1280_counts_as_1280() {
    // RFC 8201 §4: the path MTU never goes below IPv6's minimum, whatever the report says.
    let (largest, got, _) = through_a_narrow_link(1280, 600);
    assert_eq!(got, 200_000);
    assert_eq!(largest, 1280);
}

#[test]
fn errors_quoting_what_we_did_not_send_are_refused() {
    let mut s = stack(A6, 5);
    // A Packet Too Big quoting a packet from someone else.
    let mut seg = vec![0u8; 20];
    seg[12] = 5 << 4;
    let foreign = packet6(B6, ROUTER, proto::TCP, &seg);
    let mut m = vec![0u8; 1280];
    let n = icmpv6::emit_error(
        &mut m,
        ROUTER,
        A6,
        (types::PACKET_TOO_BIG, 0, 1280),
        &foreign,
    );
    s.receive(Instant::ZERO, &packet6(ROUTER, A6, proto::ICMPV6, &m[..n]));
    assert_eq!(s.stats().drops(DropReason::IcmpBadQuote), 1);
    // One quoting our address but no connection of ours.
    let ours = packet6(A6, B6, proto::TCP, &seg);
    let n = icmpv6::emit_error(&mut m, ROUTER, A6, (types::PACKET_TOO_BIG, 0, 1280), &ours);
    s.receive(Instant::ZERO, &packet6(ROUTER, A6, proto::ICMPV6, &m[..n]));
    assert_eq!(s.stats().drops(DropReason::IcmpNoSocket), 1);
    assert!(drain(&mut s, Instant::ZERO).is_empty());
}

#[test]
fn packet_too_big_about_echo_or_udp_shrinks_what_goes_to_that_destination() {
    // RFC 8201 §4: the source MUST send smaller packets on the path (routers never fragment).
    let mut s = stack(A6, 6);
    let h = s.echo_open(None).unwrap();
    let far = Ipv6Addr::new(0x2001, 2, 0, 3, 0, 0, 0, 2);
    s.echo_send(h, far, 1, &[0u8; 1452]).unwrap();
    let first = drain(&mut s, Instant::ZERO);
    assert_eq!(first.iter().map(Vec::len).collect::<Vec<_>>(), vec![1500]);
    s.receive(Instant::ZERO, &too_big(&first[0], 1400));
    s.echo_send(h, far, 2, &[0u8; 1452]).unwrap();
    let second = drain(&mut s, Instant::ZERO);
    assert!(
        second.len() == 2 && second.iter().all(|p| p.len() <= 1400),
        "{second:?}"
    );
    // Below 1280 is 1280; another destination keeps the link's MTU.
    s.receive(Instant::ZERO, &too_big(&second[0], 600));
    s.echo_send(h, far, 3, &[0u8; 1452]).unwrap();
    let third = drain(&mut s, Instant::ZERO);
    assert_eq!(third.iter().map(Vec::len).max(), Some(1280));
    s.echo_send(h, B6, 4, &[0u8; 1452]).unwrap();
    assert_eq!(drain(&mut s, Instant::ZERO)[0].len(), 1500);
    // A socket that must not fragment is told the path's MTU (iputils' -M do).
    let u = s.udp_bind(0).unwrap();
    s.set_dont_fragment(u, true).unwrap();
    assert_eq!(
        s.udp_send_to(u, &[0u8; 1300], SocketAddr::from((far, 9))),
        Err(ustack::SendError::NeedsFragmentation { mtu: 1280 })
    );
    // The path MTU is forgotten after ten minutes (RFC 8201 §4).
    let later = Instant::ZERO + Duration::from_secs(601);
    s.handle_timeout(later);
    s.echo_send(h, far, 5, &[0u8; 1452]).unwrap();
    assert_eq!(drain(&mut s, later)[0].len(), 1500);
}
