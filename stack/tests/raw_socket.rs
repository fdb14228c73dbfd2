//! Raw sockets (issue 18): packets sent exactly as given or behind a header the stack fills
//! only where asked; copies of arriving packets by protocol and filter, bounded and counted;
//! the claim rule — a claimed port's packets reach only the raw socket (no RST, no port
//! unreachable), and a port in use by the stack's own sockets cannot be claimed.

mod common;

use common::*;
use std::net::Ipv4Addr;
use ustack::filter::Filter;
use ustack::tcp::TcpError;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::{Control, SeqNumber, TcpRepr};
use ustack::{BindError, Config, RawIpv4, RawOptions, RecvError, SendError, Stack};

fn raw(s: &mut Stack, protocol: Option<u8>, filter: &str) -> ustack::SocketHandle {
    let filter = (!filter.is_empty()).then(|| Filter::parse(filter).unwrap());
    s.raw_open(RawOptions {
        protocol,
        filter,
        send_only: false,
    })
    .unwrap()
}

/// A TCP segment from PEER:sport to US:dport.
fn tcp_packet(sport: u16, dport: u16, control: Control, ack: Option<u32>) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: SeqNumber(1000),
        ack: ack.map(SeqNumber),
        control,
        window: 1000,
        ..TcpRepr::default()
    };
    let mut seg = vec![0u8; repr.header_len()];
    repr.emit(&mut seg, PEER, US, 0);
    Ip::new(TCP).build(&seg)
}

fn recv_all(s: &mut Stack, h: ustack::SocketHandle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = s.raw_recv(h, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn a_packet_is_sent_exactly_as_given_wrong_checksum_included() {
    let mut s = stack();
    let h = raw(&mut s, None, "");
    let mut packet = Ip::new(UDP)
        .src(US)
        .dst(PEER)
        .bad_checksum()
        .build(&[1, 2, 3, 4, 5, 6, 7, 8]);
    packet[6] = 0x3f; // MF set and an odd offset: nothing is checked.
    s.raw_send(h, &packet).unwrap();
    let sent = drain(&mut s, T0);
    assert_eq!(sent, vec![packet]);
    assert_eq!(s.stats().raw_tx_packets, 1);
    assert_eq!(s.raw_info(h).unwrap().sent, 1);
}

#[test]
fn oversized_and_empty_packets_are_refused_by_name() {
    let mut s = stack();
    let h = raw(&mut s, None, "");
    let mtu = s.config().mtu;
    let big = vec![0x45; usize::from(mtu) + 1];
    assert_eq!(
        s.raw_send(h, &big),
        Err(SendError::NeedsFragmentation { mtu })
    );
    assert_eq!(s.raw_send(h, &[]), Err(SendError::MessageTooLong));
    assert_eq!(
        s.raw_send(h, &vec![0x45; 70_000]),
        Err(SendError::MessageTooLong)
    );
    assert!(drain(&mut s, T0).is_empty());
    let udp = s.udp_bind(0).unwrap();
    assert_eq!(s.raw_send(udp, &[0x45; 20]), Err(SendError::InvalidHandle));
}

#[test]
fn the_stack_fills_only_the_header_fields_left_unset() {
    let mut s = stack();
    let h = raw(&mut s, None, "");
    let payload = udp_dgram(US, PEER, 7, 9, b"hello");
    s.raw_send_ipv4(h, RawIpv4::new(PEER, UDP), &payload)
        .unwrap();
    let out = drain(&mut s, T0).remove(0);
    let ip = Ipv4Packet::parse(&out).expect("a correct header");
    assert_eq!((ip.src(), ip.dst(), ip.protocol()), (US, PEER, UDP));
    assert_eq!(ip.ttl(), Config::default().ttl);
    assert_eq!(ip.payload(), &payload[..]);

    // Everything given: a wrong length and checksum, a fragment offset, TOS, TTL, ident.
    let fields = RawIpv4 {
        src: Some(Ipv4Addr::new(198, 18, 0, 77)),
        tos: 0x10,
        ttl: Some(3),
        ident: Some(0xbeef),
        more_fragments: true,
        frag_offset: 5,
        total_len: Some(999),
        checksum: Some(0x1234),
        ..RawIpv4::new(PEER, 200)
    };
    s.raw_send_ipv4(h, fields, b"xyz").unwrap();
    let out = drain(&mut s, T0).remove(0);
    assert_eq!(out.len(), 23);
    assert_eq!(out[1], 0x10);
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 999);
    assert_eq!(u16::from_be_bytes([out[4], out[5]]), 0xbeef);
    assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0x2000 | 5);
    assert_eq!((out[8], out[9]), (3, 200));
    assert_eq!(u16::from_be_bytes([out[10], out[11]]), 0x1234);
    assert_eq!(&out[12..16], &[198, 18, 0, 77]);
    assert!(
        Ipv4Packet::parse(&out).is_err(),
        "the wrong fields stay wrong"
    );
}

#[test]
fn copies_go_to_the_sockets_that_want_them_and_the_stack_still_answers() {
    let mut s = stack();
    let all = raw(&mut s, None, "");
    let tcp_only = raw(&mut s, Some(TCP), "");
    let port9 = raw(&mut s, None, "udp dst port 9");
    let udp = s.udp_bind(9).unwrap();
    s.receive(T0, &udp_packet(5000, 9, b"one"));
    s.receive(T0, &udp_packet(5000, 10, b"two"));
    s.receive(T0, &ping(1, 1, b"abc"));
    assert_eq!(recv_all(&mut s, all).len(), 3);
    assert!(recv_all(&mut s, tcp_only).is_empty());
    let got = recv_all(&mut s, port9);
    assert_eq!(got, vec![udp_packet(5000, 9, b"one")]);
    let mut buf = [0u8; 64];
    assert!(
        s.udp_recv_from(udp, &mut buf).is_ok(),
        "the UDP socket got its datagram"
    );
    let out = drain(&mut s, T0);
    assert_eq!(
        out.len(),
        2,
        "port unreachable for port 10 and the echo reply: {out:?}"
    );
    assert_eq!(s.stats().raw_copies, 4);
}

#[test]
fn a_stalled_reader_drops_and_counts_with_its_memory_bounded() {
    let config = Config {
        socket_rx_queue_datagrams: 8,
        ..Config::default()
    };
    let mut s = stack_with(config);
    let h = raw(&mut s, Some(ICMP), "");
    for seq in 0..100 {
        s.receive(T0, &ping(1, seq, &[0; 100]));
    }
    let info = s.raw_info(h).unwrap();
    assert_eq!((info.received, info.dropped), (8, 92));
    assert_eq!(s.stats().raw_copies_dropped, 92);
    assert_eq!(recv_all(&mut s, h).len(), 8);
    assert_eq!(s.raw_recv(h, &mut [0; 8]), Err(RecvError::WouldBlock));
    // The stack answered every echo request all the same.
    assert_eq!(s.stats().icmp_echo_replied, 100);
}

#[test]
fn a_claimed_port_gets_its_syn_ack_and_the_stack_sends_no_rst() {
    let mut s = stack();
    // Unclaimed: a SYN-ACK to a port nobody uses gets the stack's RST (RFC 9293 §3.10.7.1).
    s.receive(T0, &tcp_packet(80, 40_000, Control::Syn, Some(5)));
    assert_eq!(drain(&mut s, T0).len(), 1);
    let h = raw(&mut s, Some(TCP), "");
    assert_eq!(s.raw_claim(h, TCP, 40_000), Ok(40_000));
    s.receive(T0, &tcp_packet(80, 40_000, Control::Syn, Some(5)));
    assert!(drain(&mut s, T0).is_empty(), "no RST from the stack");
    assert_eq!(recv_all(&mut s, h).len(), 1);
    assert_eq!(s.stats().raw_claimed, 1);
    // Closing the socket releases the claim: the stack answers again.
    assert!(s.close(h));
    s.receive(T0, &tcp_packet(80, 40_000, Control::Syn, Some(5)));
    assert_eq!(drain(&mut s, T0).len(), 1);
}

#[test]
fn a_claimed_udp_port_gets_no_port_unreachable_nor_its_icmp_errors_dropped() {
    let mut s = stack();
    let h = raw(&mut s, None, "");
    let port = s.raw_claim(h, UDP, 0).unwrap();
    let (lo, hi) = Config::default().ephemeral_ports;
    assert!((lo..=hi).contains(&port));
    s.receive(T0, &udp_packet(53, port, b"answer"));
    assert!(drain(&mut s, T0).is_empty(), "no port unreachable");
    // An ICMP port unreachable quoting a datagram sent from the claimed port.
    let quote = Ip::new(UDP)
        .src(US)
        .dst(PEER)
        .build(&udp_dgram(US, PEER, port, 53, b"q"));
    let error = Ip::new(ICMP).build(&icmp_msg(3, 3, [0; 4], &quote[..28]));
    s.receive(T0, &error);
    assert_eq!(recv_all(&mut s, h).len(), 2);
    assert_eq!(s.stats().raw_claimed, 2);
    assert_eq!(s.stats().total_drops(), 0, "{:?}", s.stats());
}

#[test]
fn ports_in_use_cannot_be_claimed_and_claimed_ports_cannot_be_taken() {
    let mut s = stack();
    let h = raw(&mut s, None, "");
    let l = s.tcp_listen(8080, 4).unwrap();
    assert_eq!(s.raw_claim(h, TCP, 8080), Err(BindError::AddrInUse));
    assert!(s.tcp_close_listener(l));
    assert_eq!(s.raw_claim(h, TCP, 8080), Ok(8080));
    assert_eq!(s.tcp_listen(8080, 4).err(), Some(TcpError::AddrInUse));
    let _u = s.udp_bind(5353).unwrap();
    assert_eq!(s.raw_claim(h, UDP, 5353), Err(BindError::AddrInUse));
    assert_eq!(s.raw_claim(h, UDP, 5354), Ok(5354));
    assert_eq!(s.udp_bind(5354).err(), Some(BindError::AddrInUse));
    assert_eq!(s.raw_claim(h, ICMP, 1), Err(BindError::Invalid));
    // A connection's local port cannot be claimed: its packets are never stolen.
    let c = s.tcp_connect((PEER, 80)).unwrap();
    let local = s.tcp_info(c).unwrap().local.port();
    assert_eq!(s.raw_claim(h, TCP, local), Err(BindError::AddrInUse));
    assert_eq!(
        s.raw_info(h).unwrap().claims,
        vec![(TCP, 8080), (UDP, 5354)]
    );
}

#[test]
fn ipv6_packets_are_copied_by_their_upper_layer_protocol() {
    use std::net::Ipv6Addr;
    use ustack::wire::icmpv6;
    use ustack::wire::ipv6::{Ipv6Repr, HEADER_LEN};
    let me = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
    let peer = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    let mut s = stack_with(Config {
        addr6: Some(me),
        ..Config::default()
    });
    let icmp6 = raw(&mut s, Some(58), "");
    let tcp = raw(&mut s, Some(TCP), "");
    let filtered = raw(&mut s, None, "icmp6 and ip6 src 2001:2::1");
    let mut echo = vec![0u8; 8 + 4];
    icmpv6::emit_echo(
        &mut echo,
        (peer, me),
        icmpv6::types::ECHO_REQUEST,
        (1, 1),
        b"abcd",
    );
    let mut p = vec![0u8; HEADER_LEN + echo.len()];
    Ipv6Repr {
        src: peer,
        dst: me,
        next_header: 58,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: echo.len(),
    }
    .emit(&mut p);
    p[HEADER_LEN..].copy_from_slice(&echo);
    s.receive(T0, &p);
    assert_eq!(recv_all(&mut s, icmp6), vec![p.clone()]);
    assert_eq!(recv_all(&mut s, filtered), vec![p]);
    assert!(recv_all(&mut s, tcp).is_empty());
    assert_eq!(s.stats().icmpv6_echo_replied, 1, "the stack still answered");
}

#[test]
fn fragments_are_copied_as_fragments_and_the_whole_datagram_is_not_copied_again() {
    use std::net::Ipv6Addr;
    use ustack::wire::build::{fragment_v4, fragment_v6, Ipv4, Ipv6, Udp};
    let me6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
    let peer6 = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    let mut s = stack_with(Config {
        addr6: Some(me6),
        ..Config::default()
    });
    let h = raw(&mut s, None, "");
    let udp = s.udp_bind(9).unwrap();
    let v4 = (Ipv4::new().src(PEER).dst(US).ident(9) / Udp::new().dport(9) / vec![7u8; 3000])
        .build()
        .unwrap();
    let v6 = (Ipv6::new().src(peer6).dst(me6) / Udp::new().dport(9) / vec![8u8; 3000])
        .build()
        .unwrap();
    let frags4 = fragment_v4(&v4, 1000).unwrap();
    let frags6 = fragment_v6(&v6, 1000, 5).unwrap();
    for f in frags4.iter().chain(&frags6) {
        s.receive(T0, f);
    }
    let copies = recv_all(&mut s, h);
    let expected: Vec<Vec<u8>> = frags4.into_iter().chain(frags6).collect();
    assert_eq!(copies, expected);
    let mut buf = [0u8; 4000];
    assert_eq!(s.udp_recv_from(udp, &mut buf).unwrap().0, 3000);
    assert_eq!(s.udp_recv_from(udp, &mut buf).unwrap().0, 3000);
}
