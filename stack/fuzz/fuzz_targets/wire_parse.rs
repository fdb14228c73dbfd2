//! The wire parsers and the tcpdump-style summary must never panic, whatever the bytes.
//!
//! Input: arbitrary bytes. They are tried as a whole IPv4 packet, as an ICMP message, as a UDP
//! datagram and a TCP segment (addresses from the first 8 bytes), and — so the fuzzer reaches the transport
//! parsers and the summary's deeper branches without solving the IPv4 header checksum — as the
//! payload of a valid IPv4 header whose protocol is taken from the first byte. The same for IPv6:
//! the bytes as a whole IPv6 packet (header, extension-header walk, ICMPv6) and as the payload
//! of a valid fixed header whose Next Header is the first byte, so the walk sees any chain.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use ustack::wire::checksum;
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;
use ustack::wire::icmpv6::Icmpv6Message;
use ustack::wire::ipv6::{self, Ipv6Packet, Ipv6Repr, Walk};
use ustack::wire::PacketSummary;

fn summarize(bytes: &[u8]) {
    let mut s = String::new();
    write!(s, "{}", PacketSummary(bytes)).expect("Display must not fail");
    // Display output is one line.
    assert!(!s.contains('\n'), "summary has a newline: {s:?}");
}

fn exercise_ip(bytes: &[u8]) {
    if let Ok(ip) = Ipv4Packet::parse(bytes) {
        let (src, dst) = (ip.src(), ip.dst());
        let _ = (ip.protocol(), ip.ttl(), ip.ident(), ip.dont_fragment());
        let _ = (ip.more_fragments(), ip.frag_offset(), ip.is_fragment());
        let h = ip.header_bytes();
        let p = ip.payload();
        assert!(h.len() >= 20 && h.len() <= 60 && h.len() % 4 == 0);
        assert!(h.len() + p.len() <= bytes.len());
        assert_eq!(h.len() + p.len(), usize::from(u16::from_be_bytes([bytes[2], bytes[3]])));
        if let Ok(m) = IcmpMessage::parse(p) {
            let _ = format!("{m:?}");
        }
        if let Ok(u) = UdpPacket::parse(src, dst, p) {
            assert!(u.payload.len() + 8 <= p.len());
        }
        if let Ok(t) = TcpSegment::parse(src, dst, p) {
            assert!(t.payload.len() + 20 <= p.len());
            let _ = (t.syn(), t.fin(), t.rst(), format!("{t:?}"));
        }
    }
    summarize(bytes);
}

fn exercise_ip6(bytes: &[u8]) {
    if let Ok(p) = Ipv6Packet::read(bytes) {
        assert_eq!(p.bytes().len(), 40 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]])));
        match ipv6::walk(&p) {
            Ok(Walk::Upper { at, named_at, .. }) => {
                assert!(at <= p.bytes().len() && named_at < at);
                let _ = Icmpv6Message::parse(p.src(), p.dst(), &p.bytes()[at..]);
            }
            Ok(Walk::LaterFragment { at, fragment }) => {
                assert!(at <= p.bytes().len() && fragment.offset > 0);
            }
            Ok(Walk::Nothing) => {}
            Err(r) => {
                if let Some((_, pointer)) = r.problem {
                    assert!((pointer as usize) < p.bytes().len().max(1));
                }
            }
        }
    }
    let _ = Ipv6Packet::parse(bytes);
    summarize(bytes);
}

fuzz_target!(|data: &[u8]| {
    exercise_ip6(data);
    exercise_ip(data);

    if let Ok(m) = IcmpMessage::parse(data) {
        let _ = format!("{m:?}");
    }
    if data.len() >= 8 {
        let src = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
        let dst = Ipv4Addr::new(data[4], data[5], data[6], data[7]);
        if let Ok(u) = UdpPacket::parse(src, dst, &data[8..]) {
            assert!(u.payload.len() + 8 <= data.len() - 8);
        }
        let _ = TcpSegment::parse(src, dst, &data[8..]);
    }

    // The same bytes behind a valid 20-byte header (protocol from the first byte).
    if let Some((&proto, payload)) = data.split_first() {
        let payload = &payload[..payload.len().min(65535 - 20)];
        let mut pkt = Vec::with_capacity(20 + payload.len());
        pkt.extend_from_slice(&[0x45, 0]);
        pkt.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        pkt.extend_from_slice(&[0x12, 0x34, 0, 0, 64, proto, 0, 0]);
        pkt.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        let c = checksum::internet(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        pkt.extend_from_slice(payload);
        exercise_ip(&pkt);

        // Behind a valid IPv6 fixed header (Next Header from the first byte).
        let payload = &payload[..payload.len().min(65535)];
        let mut pkt6 = vec![0u8; 40];
        Ipv6Repr {
            src: "2001:2::1".parse().unwrap(),
            dst: "2001:2::2".parse().unwrap(),
            next_header: proto,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: payload.len(),
        }
        .emit(&mut pkt6);
        pkt6.extend_from_slice(payload);
        exercise_ip6(&pkt6);
    }
});
