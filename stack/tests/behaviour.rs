//! Scenario tests of correct behaviour through the public API: hand-built packets in, emitted
//! packets parsed (and reassembled) back out.

mod common;

use common::*;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::udp::{self, UdpPacket};
use ustack::{Config, DropReason, Duration, EchoEvent, RecvError, SendError, Stack};

const MTU: usize = 1500;

fn assert_no_drops(s: &Stack) {
    let drops: Vec<_> = s.stats().nonzero_drops().collect();
    assert!(drops.is_empty(), "unexpected drops: {drops:?}");
}

/// The one datagram the stack emitted, reassembled and checked.
fn one_datagram(s: &mut Stack) -> Datagram {
    let sent = drain(s, T0);
    let mut d = reassemble(&sent, MTU);
    assert_eq!(d.len(), 1, "expected one datagram, got {}", d.len());
    d.pop().unwrap()
}

fn expected_packets(ip_payload: usize) -> usize {
    if ip_payload + 20 <= MTU {
        1
    } else {
        ip_payload.div_ceil(1480)
    }
}

#[test]
fn echo_reply_carries_the_whole_payload() {
    for (i, size) in [0usize, 1, 1472, 1473, 4000, 65507].into_iter().enumerate() {
        let mut s = stack();
        let mut rng = seeded(size as u64 + 17);
        let data = random_bytes(&mut rng, size);
        let seq = 100 + i as u16;
        let msg = echo_request(0x5150, seq, &data);
        let mut frags = fragments(&Ip::new(ICMP).ident(1000 + i as u16), &msg, 1480);
        assert_eq!(frags.len(), expected_packets(msg.len()));
        frags.shuffle(&mut rng);
        for f in &frags {
            assert!(f.len() <= MTU);
            s.receive(T0, f);
        }
        let d = one_datagram(&mut s);
        assert_eq!((d.src, d.dst, d.protocol), (US, PEER, ICMP), "size {size}");
        assert_eq!(d.ttl, 64);
        assert_eq!(d.packets, expected_packets(msg.len()), "size {size}");
        match IcmpMessage::parse(&d.payload) {
            Ok(IcmpMessage::EchoReply {
                ident,
                seq: got_seq,
                data: got,
            }) => {
                assert_eq!((ident, got_seq), (0x5150, seq), "size {size}");
                assert!(got == &data[..], "size {size}: reply data differs");
            }
            other => panic!("size {size}: expected echo reply, got {other:?}"),
        }
        assert_no_drops(&s);
        assert_eq!(s.stats().icmp_echo_replied, 1);
        assert_eq!(s.reassembly_in_progress(), 0);
        assert_eq!(s.reassembly_bytes(), 0);
    }
}

#[test]
fn many_datagrams_reassemble_at_once() {
    let mut s = stack();
    let mut rng = seeded(50);
    let mut payloads = HashMap::new();
    let mut lists = Vec::new();
    for i in 0..50u16 {
        let data = random_bytes(&mut rng, 3000 + usize::from(i) * 7);
        let msg = echo_request(0x0e0e, i, &data);
        lists.push(fragments(&Ip::new(ICMP).ident(7000 + i), &msg, 1480));
        payloads.insert(i, data);
    }
    // Round-robin: every datagram's first fragment, then every second fragment, ...; the lists
    // are walked in reverse on odd rounds so arrival order differs from datagram order.
    let rounds = lists.iter().map(Vec::len).max().unwrap();
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..lists.len()).collect()
        } else {
            (0..lists.len()).rev().collect()
        };
        for i in order {
            if let Some(f) = lists[i].get(round) {
                s.receive(T0, f);
            }
        }
    }
    let sent = drain(&mut s, T0);
    let replies = reassemble(&sent, MTU);
    assert_eq!(replies.len(), 50);
    let mut seen = std::collections::BTreeSet::new();
    for d in &replies {
        match IcmpMessage::parse(&d.payload) {
            Ok(IcmpMessage::EchoReply { ident, seq, data }) => {
                assert_eq!(ident, 0x0e0e);
                assert!(data == &payloads[&seq][..], "reply {seq} data differs");
                assert!(seen.insert(seq), "two replies for seq {seq}");
            }
            other => panic!("expected echo reply, got {other:?}"),
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(s.stats().ip_reassembled, 50);
    assert_no_drops(&s);
    assert_eq!(s.reassembly_bytes(), 0);
}

#[test]
fn reassembly_timeout_sends_time_exceeded_only_with_the_first_fragment() {
    let mut s = stack();
    let ud = udp_dgram(PEER, US, 5555, 9, &[0x33; 3000]);

    // First fragment only.
    let ip = Ip::new(UDP).ident(0xaaaa);
    let first = fragment(&ip, &ud, 0, 1480, true);
    s.receive(T0, &first);
    assert!(drain(&mut s, T0).is_empty());
    assert!(s.reassembly_bytes() > 0);
    let deadline = s.poll_at().expect("reassembly timer armed");
    assert_eq!(deadline, T0 + Duration::from_secs(30));

    let early = T0 + Duration::from_secs(29);
    s.handle_timeout(early);
    assert!(drain(&mut s, early).is_empty(), "fired early");
    assert_eq!(s.reassembly_in_progress(), 1);

    s.handle_timeout(deadline);
    let sent = drain(&mut s, deadline);
    assert_eq!(sent.len(), 1, "one time exceeded");
    let out = Ipv4Packet::parse(&sent[0]).unwrap();
    assert_eq!((out.src(), out.dst(), out.protocol()), (US, PEER, ICMP));
    match IcmpMessage::parse(out.payload()) {
        Ok(IcmpMessage::Error {
            icmp_type: 11,
            code: 1,
            quote,
            ..
        }) => {
            assert!(
                quote.starts_with(&first[..28]),
                "quote must start with the first fragment's header and 8 payload bytes"
            );
            assert!(
                first.starts_with(quote),
                "quote is a prefix of the fragment"
            );
        }
        other => panic!("expected time exceeded code 1, got {other:?}"),
    }
    assert_eq!(s.stats().drops(DropReason::FragTimeout), 1);
    assert_eq!(s.reassembly_bytes(), 0);
    assert_eq!(s.poll_at(), None);

    // A non-first fragment only: times out silently.
    let t1 = deadline + Duration::from_secs(1);
    let ip = Ip::new(UDP).ident(0xbbbb);
    s.receive(t1, &fragment(&ip, &ud, 1480, 1480, true));
    assert!(drain(&mut s, t1).is_empty());
    let deadline = s.poll_at().expect("timer armed");
    assert_eq!(deadline, t1 + Duration::from_secs(30));
    s.handle_timeout(deadline);
    assert!(
        drain(&mut s, deadline).is_empty(),
        "no error without the first fragment"
    );
    assert_eq!(s.stats().drops(DropReason::FragTimeout), 2);
    assert_eq!(s.reassembly_bytes(), 0);
    assert_eq!(s.reassembly_in_progress(), 0);
    assert_eq!(s.stats().icmp_errors_sent, 1);
}

#[test]
fn fragment_flood_keeps_memory_bounded_and_pings_answered() {
    let mut s = stack();
    let max = s.config().reassembly_max_bytes;
    const N: u32 = 20_000;
    let body = vec![0xcd; 1480];
    let mut pings = 0u16;
    for i in 0..N {
        let now = T0 + Duration::from_micros(u64::from(i) * 50);
        let frag = Ip::new(UDP).ident(i as u16).frag(0, true).build(&body);
        s.receive(now, &frag);
        assert!(
            s.reassembly_bytes() <= max,
            "after datagram {i}: {} bytes held > {max}",
            s.reassembly_bytes()
        );
        if i % 100 == 99 {
            pings += 1;
            s.receive(now, &ping(0x9999, pings, b"are you there?"));
            assert!(s.reassembly_bytes() <= max);
            let sent = drain(&mut s, now);
            assert_eq!(sent.len(), 1, "ping {pings} not answered");
            let ip = Ipv4Packet::parse(&sent[0]).unwrap();
            assert!(matches!(
                IcmpMessage::parse(ip.payload()),
                Ok(IcmpMessage::EchoReply { ident: 0x9999, seq, data: b"are you there?" }) if seq == pings
            ));
        }
    }
    assert_eq!(u32::from(pings), N / 100);
    let evicted = s.stats().drops(DropReason::FragEvicted);
    assert!(evicted > 0, "nothing evicted");
    let held = s.reassembly_in_progress() as u64;
    assert!(held <= s.config().reassembly_max_datagrams as u64);
    assert_eq!(
        evicted + held,
        u64::from(N),
        "every datagram is either held or evicted"
    );
    assert_eq!(s.stats().drops(DropReason::FragNoMemory), 0);
    assert_eq!(s.stats().icmp_echo_replied, u64::from(pings));

    // They all time out together: time exceeded is sent for each (first fragments came), but
    // only as many as the rate limiter's burst allows.
    let later = T0 + Duration::from_secs(40);
    s.handle_timeout(later);
    let sent = drain(&mut s, later);
    let burst = u64::from(s.config().icmp_error_burst);
    assert_eq!(sent.len() as u64, burst.min(held));
    assert_eq!(s.stats().icmp_errors_rate_limited, held - burst.min(held));
    assert_eq!(s.stats().drops(DropReason::FragTimeout), held);
    assert_eq!(s.reassembly_bytes(), 0);
}

#[test]
fn udp_echo_round_trips_every_size() {
    for (i, size) in [0usize, 1, 1472, 1473, 65507].into_iter().enumerate() {
        let mut s = stack();
        let h = s.udp_bind(7).unwrap();
        let mut rng = seeded(size as u64 * 3 + 1);
        let data = random_bytes(&mut rng, size);
        let dgram = udp_dgram(PEER, US, 4000, 7, &data);
        let mut frags = fragments(&Ip::new(UDP).ident(300 + i as u16), &dgram, 1480);
        frags.shuffle(&mut rng);
        for f in &frags {
            s.receive(T0, f);
        }
        assert_no_drops(&s);
        let mut buf = vec![0u8; 70_000];
        let (n, from) = s.udp_recv_from(h, &mut buf).expect("datagram delivered");
        assert_eq!(n, size);
        assert_eq!(
            from,
            std::net::SocketAddr::V4(SocketAddrV4::new(PEER, 4000))
        );
        assert!(buf[..n] == data[..], "size {size}: received data differs");
        assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));

        s.udp_send_to(h, &buf[..n], from).expect("send");
        let d = one_datagram(&mut s);
        assert_eq!((d.src, d.dst, d.protocol), (US, PEER, UDP));
        assert_eq!(d.packets, expected_packets(size + 8), "size {size}");
        assert_ne!(&d.payload[6..8], &[0, 0], "checksum must be computed");
        let u = UdpPacket::parse(US, PEER, &d.payload).expect("checksum verifies");
        assert_eq!((u.src_port, u.dst_port), (7, 4000));
        assert!(u.payload == &data[..], "size {size}: echoed data differs");
        assert_eq!(s.stats().udp_tx_datagrams, 1);
    }
}

#[test]
fn udp_checksum_computing_to_zero_is_sent_as_ffff() {
    let mut s = stack();
    let h = s.udp_bind(7).unwrap();
    // Payload word p makes the one's-complement sum 0xffff when p is the checksum of the same
    // datagram with p = 0; the checksum then computes to 0 and must go out as 0xffff.
    let probe = udp_dgram(US, PEER, 7, 4000, &[0, 0]);
    let payload = [probe[6], probe[7]];
    s.udp_send_to(h, &payload, SocketAddrV4::new(PEER, 4000))
        .unwrap();
    let d = one_datagram(&mut s);
    assert_eq!(&d.payload[6..8], &[0xff, 0xff]);
    let u = UdpPacket::parse(US, PEER, &d.payload).expect("0xffff verifies");
    assert_eq!(u.payload, &payload[..]);

    // And the same case inbound: a datagram carrying 0xffff for a zero sum is accepted.
    let probe = udp_dgram(PEER, US, 4000, 7, &[0, 0]);
    let payload = [probe[6], probe[7]];
    let dgram = udp_dgram(PEER, US, 4000, 7, &payload);
    assert_eq!(&dgram[6..8], &[0xff, 0xff]);
    s.receive(T0, &Ip::new(UDP).build(&dgram));
    let mut buf = [0u8; 16];
    assert_eq!(
        s.udp_recv_from(h, &mut buf),
        Ok((2, SocketAddrV4::new(PEER, 4000).into()))
    );
    assert_eq!(&buf[..2], &payload);
    assert_no_drops(&s);
}

#[test]
fn dont_fragment_refuses_oversized_datagrams() {
    let mut s = stack();
    let h = s.udp_bind(5000).unwrap();
    s.set_dont_fragment(h, true).unwrap();
    let dst = SocketAddrV4::new(PEER, 9);
    assert_eq!(
        s.udp_send_to(h, &[1; 2000], dst),
        Err(SendError::NeedsFragmentation { mtu: 1500 })
    );
    assert_eq!(
        s.udp_send_to(h, &[1; 1473], dst),
        Err(SendError::NeedsFragmentation { mtu: 1500 })
    );
    assert!(drain(&mut s, T0).is_empty());
    s.udp_send_to(h, &[1; 1472], dst).unwrap();
    let sent = drain(&mut s, T0);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].len(), 1500);
    let ip = Ipv4Packet::parse(&sent[0]).unwrap();
    assert!(ip.dont_fragment(), "DF must be set");
    assert!(!ip.is_fragment());

    // Cleared again, the big datagram is fragmented.
    s.set_dont_fragment(h, false).unwrap();
    s.udp_send_to(h, &[2; 2000], dst).unwrap();
    let d = one_datagram(&mut s);
    assert_eq!(d.packets, 2);
    assert!(!d.df);
    assert_eq!(
        s.udp_send_to(h, &[0; Stack::MAX_UDP_PAYLOAD + 1], dst),
        Err(SendError::MessageTooLong)
    );
}

#[test]
fn socket_receive_queue_is_bounded() {
    let mut s = stack_with(Config {
        socket_rx_queue_datagrams: 4,
        ..Config::default()
    });
    let h = s.udp_bind(9).unwrap();
    for i in 0..10u8 {
        s.receive(T0, &udp_packet(4000, 9, &[i; 10]));
    }
    assert!(drain(&mut s, T0).is_empty(), "a full queue sends no ICMP");
    assert_eq!(s.stats().drops(DropReason::UdpQueueFull), 6);
    assert_eq!(s.stats().udp_rx_datagrams, 4);
    let mut buf = [0u8; 64];
    for i in 0..4u8 {
        let (n, _) = s.udp_recv_from(h, &mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 10], "oldest first");
    }
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));
    // Room again.
    s.receive(T0, &udp_packet(4000, 9, b"again"));
    assert_eq!(s.udp_recv_from(h, &mut buf).unwrap().0, 5);
}

#[test]
fn ping_socket_gets_replies_and_errors() {
    let mut s = stack();
    let h = s.echo_open(None).unwrap();
    let ident = s.echo_ident(h).unwrap();
    s.echo_send(h, PEER, 5, b"ping data").unwrap();
    let sent = drain(&mut s, T0);
    assert_eq!(sent.len(), 1);
    let request = sent[0].clone();
    let ip = Ipv4Packet::parse(&request).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (US, PEER, ICMP));
    assert_eq!(
        IcmpMessage::parse(ip.payload()),
        Ok(IcmpMessage::EchoRequest {
            code: 0,
            ident,
            seq: 5,
            data: b"ping data"
        })
    );

    // A reply for another identifier is not ours.
    s.receive(
        T0,
        &Ip::new(ICMP).build(&echo_reply(ident.wrapping_add(1), 5, b"ping data")),
    );
    assert_eq!(s.stats().drops(DropReason::IcmpNoSocket), 1);
    let mut buf = [0u8; 64];
    assert_eq!(s.echo_recv(h, &mut buf), Err(RecvError::WouldBlock));

    s.receive(
        T0,
        &Ip::new(ICMP)
            .ttl(61)
            .build(&echo_reply(ident, 5, b"ping data")),
    );
    assert_eq!(
        s.echo_recv(h, &mut buf),
        Ok(EchoEvent::Reply {
            from: std::net::IpAddr::V4(PEER),
            seq: 5,
            ttl: 61,
            len: 9
        })
    );
    assert_eq!(&buf[..9], b"ping data");
    assert_eq!(s.stats().icmp_echo_replies_received, 1);

    // An error quoting our request (header + 8 bytes), from a router on the way.
    let router = std::net::Ipv4Addr::new(198, 18, 0, 1);
    s.receive(
        T0,
        &Ip::new(ICMP)
            .src(router)
            .build(&icmp_msg(3, 1, [0; 4], &request[..28])),
    );
    match s.echo_recv(h, &mut buf) {
        Ok(EchoEvent::Error { error, seq }) => {
            assert_eq!(seq, 5);
            assert_eq!(
                (error.icmp_type, error.code, error.from),
                (3, 1, router.into())
            );
        }
        other => panic!("expected an echo error, got {other:?}"),
    }
    assert!(
        drain(&mut s, T0).is_empty(),
        "never an error about an error"
    );
    assert_eq!(s.stats().icmp_errors_delivered, 1);
    assert_eq!(s.echo_recv(h, &mut buf), Err(RecvError::WouldBlock));
}

#[test]
fn port_unreachable_reaches_the_udp_socket() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    let port = s.udp_local_port(h).unwrap();
    let (lo, hi) = s.config().ephemeral_ports;
    assert!((lo..=hi).contains(&port));
    let dst = SocketAddrV4::new(PEER, 9);
    s.udp_send_to(h, b"anyone?", dst).unwrap();
    let sent = drain(&mut s, T0);
    assert_eq!(sent.len(), 1);
    let datagram = &sent[0];
    assert_eq!(&datagram[20..22], &port.to_be_bytes());

    s.receive(T0, &Ip::new(ICMP).build(&icmp_msg(3, 3, [0; 4], datagram)));
    assert!(drain(&mut s, T0).is_empty());
    let mut buf = [0u8; 64];
    match s.udp_recv_from(h, &mut buf) {
        Err(RecvError::Icmp(e)) => {
            assert!(e.is_port_unreachable(), "{e}");
            assert_eq!(e.from, PEER);
            assert_eq!(e.original_dst, std::net::SocketAddr::V4(dst));
        }
        other => panic!("expected an ICMP error, got {other:?}"),
    }
    // Reported once.
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));
    assert_eq!(s.stats().icmp_errors_delivered, 1);
    assert_no_drops(&s);
}

#[test]
fn ip_identification_differs_between_datagrams() {
    let mut s = stack();
    let u = s.udp_bind(5000).unwrap();
    let e = s.echo_open(Some(1)).unwrap();
    let dst = SocketAddrV4::new(PEER, 9);
    s.udp_send_to(u, b"a", dst).unwrap();
    s.udp_send_to(u, &[0; 3000], dst).unwrap();
    s.echo_send(e, PEER, 1, b"b").unwrap();
    s.udp_send_to(u, b"c", dst).unwrap();
    s.receive(T0, &ping(9, 9, b"reply too"));
    let sent = drain(&mut s, T0);
    let datagrams = reassemble(&sent, MTU);
    assert_eq!(
        datagrams.len(),
        5,
        "fragments of one datagram share one ident"
    );
    let ids: Vec<u16> = datagrams.iter().map(|d| d.ident).collect();
    for w in ids.windows(2) {
        assert_ne!(w[0], w[1], "consecutive datagrams share ident: {ids:?}");
    }
    let mut uniq = ids.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), ids.len(), "idents repeat: {ids:?}");
}

#[test]
fn udp_payload_checksum_helper_agrees_with_stack() {
    // The test helper and the stack's emitter agree (guards the builders everything else uses).
    let mut a = vec![0u8; 13];
    udp::emit(&mut a, PEER, US, 1, 2, b"hello");
    assert_eq!(a, udp_dgram(PEER, US, 1, 2, b"hello"));
    let p = udp_packet(1, 2, b"hello");
    let ip = Ipv4Packet::parse(&p).unwrap();
    assert_eq!(ip.payload(), &a[..]);
}
