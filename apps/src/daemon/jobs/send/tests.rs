//! The engine against packets built by hand: probes parse with the stack's own parsers (so
//! their checksums verify), replies and ICMP errors match the probes hping3 would match.

use super::*;
use crate::daemon::proto::{Fragmenting, SendIcmpError, SendRequest};
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;

const US: &str = "198.18.0.2";
const TARGET: &str = "198.18.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn req(mode: SendMode) -> SendRequest {
    let mut r = SendRequest::new(ip(TARGET));
    r.mode = mode;
    r.count = Some(3);
    r
}

fn engine(r: &SendRequest) -> Engine {
    let spec = Spec::new(r).unwrap();
    let src = if r.dst.is_ipv6() {
        ip("2001:2::2")
    } else {
        ip(US)
    };
    Engine::new(spec, src, 24, Rng::new(7))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A TCP segment from the target's `sport` to our `dport` with `flags`, built by the probe
/// builder itself with the roles swapped.
fn tcp_reply(from: &str, to: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut r = SendRequest::new(ip(to));
    r.tcp_flags = flags;
    r.tcp_win = 64240;
    let spec = Spec::new(&r).unwrap();
    let p = Probe {
        no: 0,
        src_port: sport,
        dst_port: dport,
        tcp_seq: 1000,
        tcp_ack: 2000,
        ip_id: 0,
        icmp_id: 0,
        icmp_seq: 0,
    };
    probe_packet(&spec, &p, ip(from)).unwrap()
}

/// An ICMP error from `from` quoting the start of `probe` (RFC 792: header + 8 bytes).
fn icmp_error(from: &str, icmp_type: u8, code: u8, probe: &[u8]) -> Vec<u8> {
    let quote = &probe[..28.min(probe.len())];
    let mut msg = vec![0u8; 8 + quote.len()];
    let n = ustack::wire::icmp::emit(&mut msg, icmp_type, code, [0; 4], quote);
    let IpAddr::V4(src) = ip(from) else { panic!() };
    let repr = Ipv4Repr {
        src,
        dst: US.parse().unwrap(),
        protocol: 1,
        ttl: 63,
        ident: 9,
        dont_fragment: false,
        more_fragments: false,
        frag_offset: 0,
        payload_len: n,
    };
    let mut pkt = vec![0u8; 20 + n];
    repr.emit(&mut pkt);
    pkt[20..].copy_from_slice(&msg[..n]);
    pkt
}

#[test]
fn syn_probe_is_a_valid_segment_with_every_field_asked() {
    let mut r = req(SendMode::Tcp);
    r.tcp_flags = 0x02;
    r.dst_port = 80;
    r.src_port = Some(5000);
    r.tcp_seq = Some(77);
    r.ttl = 9;
    r.tos = 0x10;
    r.ip_id = Some(4242);
    r.dont_fragment = true;
    let mut e = engine(&r);
    let (p, pkts) = e.next_probe(ms(0)).unwrap();
    assert_eq!((p.src_port, p.dst_port, pkts.len()), (5000, 80, 1));
    let ipp = Ipv4Packet::parse(&pkts[0]).unwrap();
    assert_eq!(
        (ipp.ttl(), ipp.ident(), ipp.dont_fragment()),
        (9, 4242, true)
    );
    assert_eq!(pkts[0][1], 0x10, "tos");
    let s = TcpSegment::parse(ipp.src(), ipp.dst(), ipp.payload()).unwrap();
    assert_eq!((s.src_port, s.dst_port, s.seq.0), (5000, 80, 77));
    assert!(s.syn() && !s.fin() && s.ack.is_none());
    assert_eq!(s.window, 512, "hping3's default window");
    // The next probe comes from the next source port (hping3 without -k).
    let (p2, _) = e.next_probe(ms(1000)).unwrap();
    assert_eq!(p2.src_port, 5001);
}

#[test]
fn bad_checksum_fails_the_parsers() {
    for mode in [SendMode::Tcp, SendMode::Udp, SendMode::Icmp] {
        let mut r = req(mode);
        r.bad_checksum = true;
        let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
        let ipp = Ipv4Packet::parse(&pkts[0]).expect("the IP header stays good");
        let l4 = ipp.payload();
        let bad = match mode {
            SendMode::Tcp => TcpSegment::parse(ipp.src(), ipp.dst(), l4).is_err(),
            SendMode::Udp => UdpPacket::parse(ipp.src(), ipp.dst(), l4).is_err(),
            _ => IcmpMessage::parse(l4).is_err(),
        };
        assert!(bad, "{mode:?}");
    }
    let mut r = req(SendMode::RawIp);
    r.bad_checksum = true;
    let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    assert!(
        Ipv4Packet::parse(&pkts[0]).is_err(),
        "raw IP: the IP checksum"
    );
}

#[test]
fn udp_and_icmp_probes_parse() {
    let mut r = req(SendMode::Udp);
    r.dst_port = 53;
    r.data_size = Some(5);
    let (p, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    let ipp = Ipv4Packet::parse(&pkts[0]).unwrap();
    let u = UdpPacket::parse(ipp.src(), ipp.dst(), ipp.payload()).unwrap();
    assert_eq!(
        (u.src_port, u.dst_port, u.payload),
        (p.src_port, 53, &b"XXXXX"[..])
    );
    let mut r = req(SendMode::Icmp);
    r.data_hex = Some("ab cd".into());
    r.data_size = Some(5);
    let (p, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    let ipp = Ipv4Packet::parse(&pkts[0]).unwrap();
    match IcmpMessage::parse(ipp.payload()).unwrap() {
        IcmpMessage::EchoRequest {
            ident, seq, data, ..
        } => assert_eq!(
            (ident, seq, data),
            (p.icmp_id, 0, &[0xab, 0xcd, 0xab, 0xcd, 0xab][..])
        ),
        m => panic!("{m:?}"),
    }
}

#[test]
fn refusals_name_the_field() {
    let field = |f: &dyn Fn(&mut SendRequest)| {
        let mut r = req(SendMode::Tcp);
        f(&mut r);
        Spec::new(&r).err().map(|e| e.field)
    };
    assert_eq!(field(&|_| {}), None);
    // 20 + 20 + 65495 = 65535: the largest; one more is refused.
    assert_eq!(field(&|r| r.data_size = Some(65495)), None);
    assert_eq!(field(&|r| r.data_size = Some(65496)), Some("-d"));
    assert_eq!(
        field(&|r| r.tcp_options = Some("01".repeat(41))),
        Some("--tcp-options")
    );
    assert_eq!(field(&|r| r.tcp_options = Some("01".repeat(40))), None);
    assert_eq!(
        field(&|r| {
            r.tcp_options = Some("01".repeat(44));
            r.raw = true
        }),
        None
    );
    assert_eq!(
        field(&|r| r.tcp_options = Some("zz".into())),
        Some("--tcp-options")
    );
    assert_eq!(field(&|r| r.ttl = 0), Some("--ttl"));
    assert_eq!(field(&|r| r.count = Some(0)), Some("-c"));
    assert_eq!(field(&|r| r.interval_us = 0), Some("-i"));
    assert_eq!(field(&|r| r.rate = Some(1_000_000)), Some("--rate"));
    assert_eq!(
        field(&|r| r.dst = ip("255.255.255.255")),
        Some("destination")
    );
    assert_eq!(
        field(&|r| r.fragment = Some(Fragmenting {
            size: 12,
            overlap: false
        })),
        Some("--frag-size")
    );
    assert_eq!(
        field(&|r| {
            r.dst = ip("2001:2::1");
            r.dont_fragment = true
        }),
        Some("-x/-y")
    );
    let e = Spec::new(&SendRequest {
        data_size: Some(70000),
        ..req(SendMode::Udp)
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("-d: "), "{e}");
}

#[test]
fn options_are_padded_and_raw_ones_clamp_the_offset() {
    let mut r = req(SendMode::Tcp);
    r.tcp_options = Some("020405b4 01".into());
    let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    let ipp = Ipv4Packet::parse(&pkts[0]).unwrap();
    let s = TcpSegment::parse(ipp.src(), ipp.dst(), ipp.payload()).unwrap();
    assert_eq!(ipp.payload()[12] >> 4, 7, "20 + 8 bytes of options");
    assert_eq!(s.options.mss, Some(1460));
    r.tcp_options = Some("01".repeat(48));
    r.raw = true;
    let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    assert_eq!(pkts[0][20 + 12] >> 4, 15);
    assert_eq!(pkts[0].len(), 20 + 20 + 48);
}

#[test]
fn fragments_cover_the_datagram_and_overlap_on_request() {
    let mut r = req(SendMode::Icmp);
    r.data_size = Some(40);
    r.ip_id = Some(99);
    r.fragment = Some(Fragmenting {
        size: 16,
        overlap: false,
    });
    let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    // 8 + 40 = 48 bytes of ICMP: 16 + 16 + 16.
    let got: Vec<(usize, bool, usize)> = pkts
        .iter()
        .map(|f| {
            let p = Ipv4Packet::parse(f).unwrap();
            assert_eq!(p.ident(), 99);
            (p.frag_offset(), p.more_fragments(), p.payload().len())
        })
        .collect();
    assert_eq!(got, [(0, true, 16), (16, true, 16), (32, false, 16)]);
    r.fragment = Some(Fragmenting {
        size: 16,
        overlap: true,
    });
    let (_, pkts) = engine(&r).next_probe(ms(0)).unwrap();
    let offs: Vec<(usize, usize)> = pkts
        .iter()
        .map(|f| {
            let p = Ipv4Packet::parse(f).unwrap();
            (p.frag_offset(), p.payload().len())
        })
        .collect();
    assert_eq!(
        offs,
        [(0, 16), (8, 24), (24, 24)],
        "each starts 8 bytes early"
    );
    // IPv6: a Fragment header (44) carrying the identification.
    let mut r6 = r.clone();
    r6.dst = ip("2001:2::1");
    r6.fragment = Some(Fragmenting {
        size: 16,
        overlap: false,
    });
    let (_, pkts) = engine(&r6).next_probe(ms(0)).unwrap();
    assert_eq!(pkts.len(), 3);
    assert_eq!(pkts[1][6], 44);
    assert_eq!(pkts[1][40], 58, "the fragment header names ICMPv6");
    assert_eq!(
        u16::from_be_bytes([pkts[1][42], pkts[1][43]]),
        (16 / 8) << 3 | 1
    );
    assert_eq!(&pkts[1][44..48], &99u32.to_be_bytes());
}

#[test]
fn tcp_replies_match_by_port_with_rtt_and_dup() {
    let mut r = req(SendMode::Tcp);
    r.tcp_flags = 0x02;
    r.dst_port = 80;
    r.src_port = Some(3000);
    r.count = Some(2);
    let mut e = engine(&r);
    e.next_probe(ms(0)).unwrap();
    e.next_probe(ms(1000)).unwrap();
    // The SYN-ACK to the second probe (port 3001), 2.5 ms after it.
    let sa = tcp_reply(TARGET, US, 80, 3001, 0x12);
    let Some(SendEvent::Reply(rep)) = e.on_packet(Duration::from_micros(1_002_500), &sa) else {
        panic!()
    };
    assert_eq!((rep.seq, rep.dup, rep.len, rep.ttl), (1, false, 40, 64));
    assert!((rep.rtt_ms - 2.5).abs() < 1e-6);
    assert!(matches!(
        rep.kind,
        ReplyKind::Tcp {
            sport: 80,
            flags: 0x12,
            win: 64240,
            ..
        }
    ));
    assert!(!e.all_answered(), "probe 0 is not answered yet");
    let Some(SendEvent::Reply(again)) = e.on_packet(ms(1003), &sa) else {
        panic!()
    };
    assert!(again.dup);
    assert!(!e.all_answered(), "a duplicate answers no other probe");
    // Another port, another source, or a port no probe used: nothing.
    assert!(e
        .on_packet(ms(1004), &tcp_reply(TARGET, US, 81, 3001, 0x14))
        .is_none());
    assert!(e
        .on_packet(ms(1004), &tcp_reply("198.18.0.9", US, 80, 3001, 0x14))
        .is_none());
    assert!(e
        .on_packet(ms(1004), &tcp_reply(TARGET, US, 80, 3999, 0x14))
        .is_none());
    let s = e.summary();
    assert_eq!((s.transmitted, s.received), (2, 2));
    let [min, avg, max] = s.rtt.unwrap();
    assert!((min - 2.5).abs() < 1e-6 && (max - 3.0).abs() < 1e-6 && (avg - 2.75).abs() < 1e-6);
}

#[test]
fn dst_port_steps_per_probe_or_per_reply() {
    let mut r = req(SendMode::Tcp);
    r.dst_port = 8080;
    r.port_step = PortStep::PerProbe;
    let mut e = engine(&r);
    let ports: Vec<u16> = (0..3)
        .map(|i| e.next_probe(ms(i)).unwrap().0.dst_port)
        .collect();
    assert_eq!(ports, [8080, 8081, 8082]);
    r.port_step = PortStep::PerReply;
    r.src_port = Some(2000);
    let mut e = engine(&r);
    assert_eq!(e.next_probe(ms(0)).unwrap().0.dst_port, 8080);
    assert_eq!(
        e.next_probe(ms(1)).unwrap().0.dst_port,
        8080,
        "no reply yet"
    );
    e.on_packet(ms(2), &tcp_reply(TARGET, US, 8080, 2000, 0x14))
        .unwrap();
    assert_eq!(e.next_probe(ms(3)).unwrap().0.dst_port, 8081);
}

#[test]
fn icmp_errors_match_the_quoted_probe() {
    let mut r = req(SendMode::Udp);
    r.dst_port = 53;
    let mut e = engine(&r);
    let (p, pkts) = e.next_probe(ms(0)).unwrap();
    let err = icmp_error(TARGET, 3, 3, &pkts[0]);
    let Some(SendEvent::IcmpError(x)) = e.on_packet(ms(1), &err) else {
        panic!()
    };
    assert_eq!(
        (x.icmp_type, x.icmp_code, x.seq, x.port),
        (3, 3, Some(0), Some(p.src_port))
    );
    assert!(x.quoted_udp && !x.dup && x.rtt_ms.is_some());
    // A TTL-exceeded from a router quoting a TCP probe.
    let mut r = req(SendMode::Tcp);
    r.ttl = 1;
    let mut e = engine(&r);
    let (_, pkts) = e.next_probe(ms(0)).unwrap();
    let Some(SendEvent::IcmpError(x)) =
        e.on_packet(ms(1), &icmp_error("198.18.5.1", 11, 0, &pkts[0]))
    else {
        panic!()
    };
    assert_eq!(
        (x.from, x.icmp_type, x.seq),
        (ip("198.18.5.1"), 11, Some(0))
    );
    assert!(!x.quoted_udp);
    // Quoting another destination: not ours.
    let mut other = pkts[0].clone();
    other[19] = 77;
    assert!(e
        .on_packet(ms(1), &icmp_error(TARGET, 3, 3, &other))
        .is_none());
}

#[test]
fn echo_replies_match_identifier_and_sequence() {
    let r = req(SendMode::Icmp);
    let mut e = engine(&r);
    let (p0, _) = e.next_probe(ms(0)).unwrap();
    let (p1, _) = e.next_probe(ms(1000)).unwrap();
    assert_eq!((p0.icmp_seq, p1.icmp_seq), (0, 1));
    let reply = |ident: u16, seq: u16| {
        let mut msg = [0u8; 8];
        ustack::wire::icmp::emit_echo(&mut msg, true, ident, seq, &[]);
        let repr = Ipv4Repr {
            src: TARGET.parse().unwrap(),
            dst: US.parse().unwrap(),
            protocol: 1,
            ttl: 64,
            ident: 1,
            dont_fragment: false,
            more_fragments: false,
            frag_offset: 0,
            payload_len: 8,
        };
        let mut pkt = vec![0u8; 28];
        repr.emit(&mut pkt);
        pkt[20..].copy_from_slice(&msg);
        pkt
    };
    let Some(SendEvent::Reply(rep)) = e.on_packet(ms(1001), &reply(p1.icmp_id, 1)) else {
        panic!()
    };
    assert_eq!((rep.seq, rep.len, rep.ip_id), (1, 28, Some(1)));
    assert!(e
        .on_packet(ms(1001), &reply(p1.icmp_id.wrapping_add(1), 0))
        .is_none());
}

#[test]
fn rand_source_stays_in_the_prefix_and_replies_to_it_match() {
    let mut r = req(SendMode::Tcp);
    r.rand_source = true;
    r.count = Some(50);
    let mut e = engine(&r);
    let mut seen = std::collections::HashSet::new();
    for i in 0..50 {
        let (_, pkts) = e.next_probe(ms(i)).unwrap();
        let p = Ipv4Packet::parse(&pkts[0]).unwrap();
        let o = p.src().octets();
        assert_eq!(&o[..3], &[198, 18, 0]);
        assert!(o[3] != 0 && o[3] != 255);
        seen.insert(p.src());
    }
    assert!(seen.len() > 10, "random: {seen:?}");
}

#[test]
fn ipv6_probes_and_echo() {
    let mut r = req(SendMode::Icmp);
    r.dst = ip("2001:2::1");
    let mut e = engine(&r);
    let (p, pkts) = e.next_probe(ms(0)).unwrap();
    let pk = ustack::wire::ipv6::Ipv6Packet::parse(&pkts[0]).unwrap();
    assert_eq!((pk.next_header(), pk.hop_limit()), (58, 64));
    let body = pk.payload();
    assert_eq!(body[0], 128, "echo request");
    assert_eq!(
        ustack::wire::checksum::transport(pk.src().into(), pk.dst().into(), 58, body),
        0
    );
    // Its reply: the probe with the roles swapped and type 129.
    let mut reply = pkts[0].clone();
    reply[8..24].copy_from_slice(&pkts[0][24..40]);
    reply[24..40].copy_from_slice(&pkts[0][8..24]);
    reply[40] = 129;
    reply[42] = 0;
    reply[43] = 0;
    let c = ustack::wire::checksum::transport(ip("2001:2::1"), ip("2001:2::2"), 58, &reply[40..]);
    reply[42..44].copy_from_slice(&c.to_be_bytes());
    let Some(SendEvent::Reply(rep)) = e.on_packet(ms(2), &reply) else {
        panic!()
    };
    assert_eq!(
        (rep.seq, rep.ip_id, rep.df),
        (u32::from(p.icmp_seq), None, false)
    );
    assert!(matches!(rep.kind, ReplyKind::Icmp { icmp_type: 129, .. }));
}

#[test]
fn floods_are_bounded() {
    let mut r = req(SendMode::Tcp);
    r.flood = true;
    r.count = None;
    let s = Spec::new(&r).unwrap();
    assert_eq!(s.count, Some(spec::DEFAULT_FLOOD_COUNT));
    assert_eq!(
        s.interval_us,
        1_000_000 / u64::from(spec::DEFAULT_FLOOD_RATE)
    );
    r.rate = Some(spec::MAX_RATE);
    assert_eq!(Spec::new(&r).unwrap().interval_us, 10);
}

#[test]
fn raw_ip_probes_match_protocol_unreachable_by_identification() {
    let mut r = req(SendMode::RawIp);
    r.ip_proto = 99;
    let mut e = engine(&r);
    let (_, pkts) = e.next_probe(ms(0)).unwrap();
    assert_eq!(pkts[0].len(), 20, "no data: the header alone");
    assert_eq!(pkts[0][9], 99);
    // Linux quotes the header alone (there is nothing after it).
    let Some(SendEvent::IcmpError(x)) = e.on_packet(ms(1), &icmp_error(TARGET, 3, 2, &pkts[0]))
    else {
        panic!()
    };
    assert_eq!((x.icmp_code, x.seq, x.port), (2, Some(0), None));
    // The same quote with another identification: the probe is not known, nothing counted.
    let mut other = pkts[0].clone();
    other[4] ^= 0xff;
    let ev = e.on_packet(ms(1), &icmp_error(TARGET, 3, 2, &other));
    assert!(matches!(
        ev,
        Some(SendEvent::IcmpError(SendIcmpError { seq: None, .. }))
    ));
    assert_eq!(e.summary().received, 1);
}
