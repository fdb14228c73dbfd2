//! Built packets checked by the stack's own parsers and by etherparse: defaults, overrides,
//! refusals, the tcpdump lines, and random fields that never panic.

use super::*;
use crate::wire::icmp::IcmpMessage;
use crate::wire::icmpv6::Icmpv6Message;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet, Walk};
use crate::wire::tcp::{parse_options, SeqNumber, TcpSegment};
use crate::wire::udp::UdpPacket;
use crate::DropReason;
use etherparse::{PacketBuilder, TcpOptionElement};
use std::net::{Ipv4Addr, Ipv6Addr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const C6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 3);

fn ip() -> Ipv4 {
    Ipv4::new().src(A).dst(B)
}

fn ip6() -> Ipv6 {
    Ipv6::new().src(A6).dst(B6)
}

fn built(p: impl Into<Packet>) -> Vec<u8> {
    p.into().build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_default_syn_has_scapys_defaults_and_parses() {
    let b = built(ip() / Tcp::new());
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!((p.src(), p.dst(), p.protocol()), (A, B, 6));
    assert_eq!((p.ttl(), p.ident(), p.dont_fragment()), (64, 1, false));
    assert!(!p.is_fragment());
    let t = TcpSegment::parse(A, B, p.payload()).unwrap();
    assert_eq!((t.src_port, t.dst_port, t.seq), (20, 80, SeqNumber(0)));
    assert_eq!(
        (t.flags.0, t.ack, t.window, t.urgent),
        (0x02, None, 8192, 0)
    );
    assert!(t.payload.is_empty());
    assert_eq!(b.len(), 40);
}

#[test]
fn udp_and_icmp_defaults_parse() {
    let b = built(ip() / Udp::new() / "query");
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!(p.protocol(), 17);
    let u = UdpPacket::parse(A, B, p.payload()).unwrap();
    assert_eq!((u.src_port, u.dst_port, u.payload), (53, 53, &b"query"[..]));

    let b = built(ip() / Icmp::new() / Raw(b"ab".to_vec()));
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!(p.protocol(), 1);
    assert_eq!(
        IcmpMessage::parse(p.payload()).unwrap(),
        IcmpMessage::EchoRequest {
            code: 0,
            ident: 0,
            seq: 0,
            data: b"ab"
        }
    );

    let b = built(ip6() / Icmpv6::echo_request(7, 9) / "x");
    let p = Ipv6Packet::parse(&b).unwrap();
    assert_eq!((p.next_header(), p.hop_limit()), (58, 64));
    assert_eq!(
        Icmpv6Message::parse(A6, B6, p.payload()).unwrap(),
        Icmpv6Message::EchoRequest {
            ident: 7,
            seq: 9,
            data: b"x"
        }
    );
}

#[test]
fn a_computed_udp_checksum_of_zero_is_sent_as_all_ones() {
    // RFC 768: the payload word that cancels the sum makes the computed checksum 0.
    let first = built(ip() / Udp::new() / vec![0, 0]);
    let cancel = first[26..28].to_vec();
    let b = built(ip() / Udp::new() / cancel);
    assert_eq!(&b[26..28], &[0xff, 0xff]);
    assert!(UdpPacket::parse(A, B, &b[20..]).is_ok());
}

#[test]
fn nothing_or_raw_above_names_no_protocol() {
    let b = built(Packet::from(ip()));
    assert_eq!(
        (b.len(), Ipv4Packet::parse(&b).unwrap().protocol()),
        (20, 0)
    );
    let b = built(ip6() / "data");
    assert_eq!(Ipv6Packet::parse(&b).unwrap().next_header(), 59);
    assert_eq!(&b[40..], b"data");
}

#[test]
fn byte_for_byte_as_etherparse_builds_them() {
    let opts = [
        TcpOptionElement::MaximumSegmentSize(1460),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Timestamp(7, 0),
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(7),
    ];
    let mut want = Vec::new();
    PacketBuilder::ipv4(A.octets(), B.octets(), 64)
        .tcp(47930, 80, 1000, 64240)
        .syn()
        .options(&opts)
        .unwrap()
        .write(&mut want, b"hello")
        .unwrap();
    let ours = ip().ident(0).df(true)
        / Tcp::new().sport(47930).seq(1000).window(64240).options([
            TcpOpt::Mss(1460),
            TcpOpt::SackPermitted,
            TcpOpt::Timestamps { val: 7, ecr: 0 },
            TcpOpt::Nop,
            TcpOpt::WScale(7),
        ])
        / "hello";
    assert_eq!(built(ours), want);

    let mut want = Vec::new();
    PacketBuilder::ipv4(A.octets(), B.octets(), 9)
        .udp(5353, 7)
        .write(&mut want, b"ping")
        .unwrap();
    let ours = ip().ident(0).df(true).ttl(9) / Udp::new().sport(5353).dport(7) / "ping";
    assert_eq!(built(ours), want);

    let mut want = Vec::new();
    PacketBuilder::ipv4(A.octets(), B.octets(), 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut want, &[0x5a; 56])
        .unwrap();
    let ours = ip().ident(0).df(true) / Icmp::echo_request(7, 1) / vec![0x5a; 56];
    assert_eq!(built(ours), want);

    let mut want = Vec::new();
    PacketBuilder::ipv6(A6.octets(), B6.octets(), 64)
        .tcp(20, 80, 5, 8192)
        .syn()
        .ack(99)
        .write(&mut want, b"")
        .unwrap();
    assert_eq!(
        built(ip6() / Tcp::new().seq(5).syn().ack(99).ack_flag()),
        want
    );

    let mut want = Vec::new();
    PacketBuilder::ipv6(A6.octets(), B6.octets(), 1)
        .icmpv6_echo_request(3, 4)
        .write(&mut want, b"abc")
        .unwrap();
    let ours = ip6().hop_limit(1) / Icmpv6::echo_request(3, 4) / "abc";
    assert_eq!(built(ours), want);

    let mut want = Vec::new();
    PacketBuilder::ipv6(A6.octets(), B6.octets(), 64)
        .udp(1, 2)
        .write(&mut want, b"odd")
        .unwrap();
    assert_eq!(built(ip6() / Udp::new().sport(1).dport(2) / "odd"), want);
}

#[test]
fn tcpdump_lines() {
    assert_eq!(
        (ip() / Tcp::new().sport(47930).seq(1000).option(TcpOpt::Mss(1460))).to_string(),
        "IP 198.18.0.1.47930 > 198.18.0.2.80: Flags [S], seq 1000, win 8192, options [mss 1460], length 0"
    );
    assert_eq!(
        (ip() / Udp::new().sport(5353).dport(7) / "hi").to_string(),
        "IP 198.18.0.1.5353 > 198.18.0.2.7: UDP, length 2"
    );
    assert_eq!(
        (ip() / Icmp::echo_request(7, 1) / vec![0; 56]).to_string(),
        "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 64"
    );
    assert_eq!(
        (ip6() / Tcp::new().option(TcpOpt::Mss(1440))).to_string(),
        "IP6 2001:2::1.20 > 2001:2::2.80: Flags [S], seq 0, win 8192, options [mss 1440], length 0"
    );
    assert_eq!(
        (ip6() / HopByHop::new() / Udp::new()).to_string(),
        "IP6 2001:2::1 > 2001:2::2: HBH 53 > 53: UDP, length 0"
    );
    assert_eq!(
        (ip() / Tcp::new().flags(0x29).ack(5)).to_string(),
        "IP 198.18.0.1.20 > 198.18.0.2.80: Flags [FPU], seq 0, win 8192, urg 0, length 0"
    );
    let bad = ip() / Icmpv6::new();
    assert_eq!(
        bad.to_string(),
        "[cannot build: icmpv6: ICMPv6 over IPv4 (Packet::force_family(true) builds it anyway)]"
    );
}

#[test]
fn overrides_are_emitted_as_given() {
    // A wrong TCP checksum stays wrong, and the stack's parser refuses it.
    let b = built(ip() / Tcp::new().checksum(0xdead));
    assert_eq!(&b[36..38], &[0xde, 0xad]);
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!(
        TcpSegment::parse(A, B, p.payload()),
        Err(DropReason::TcpBadChecksum)
    );
    // A wrong IP checksum too.
    let b = built(ip().checksum(0x1234) / Udp::new());
    assert_eq!(&b[10..12], &[0x12, 0x34]);
    assert_eq!(
        Ipv4Packet::parse(&b).unwrap_err(),
        DropReason::Ipv4BadChecksum
    );
    // A lying total length is emitted; the checksum still covers the header as sent.
    let b = built(ip().total_len(9) / Udp::new());
    assert_eq!(&b[2..4], &[0, 9]);
    assert_eq!(
        Ipv4Packet::parse(&b).unwrap_err(),
        DropReason::Ipv4BadTotalLength
    );
    let b = built(ip().total_len(200) / Udp::new());
    assert_eq!(
        Ipv4Packet::parse(&b).unwrap_err(),
        DropReason::Ipv4Truncated
    );
    // IHL and data offset.
    let b = built(ip().ihl(4) / Udp::new());
    assert_eq!(b[0], 0x44);
    assert_eq!(
        Ipv4Packet::parse(&b).unwrap_err(),
        DropReason::Ipv4BadHeaderLength
    );
    let b = built(ip() / Tcp::new().data_offset(4));
    assert_eq!(
        TcpSegment::parse(A, B, &b[20..]),
        Err(DropReason::TcpBadHeaderLength)
    );
    // UDP: a lying length, no checksum over IPv4 (fine) and over IPv6 (refused by receivers).
    let b = built(ip() / Udp::new().len(100) / "x");
    assert_eq!(
        UdpPacket::parse(A, B, &b[20..]),
        Err(DropReason::UdpBadLength)
    );
    let b = built(ip() / Udp::new().checksum(0) / "x");
    assert_eq!(&b[26..28], &[0, 0]);
    assert!(UdpPacket::parse(A, B, &b[20..]).is_ok());
    let b = built(ip6() / Udp::new().checksum(0));
    assert_eq!(
        UdpPacket::parse(A6, B6, &b[40..]),
        Err(DropReason::UdpNoChecksum6)
    );
    // ICMP, protocol, next header, payload length, version.
    let b = built(ip() / Icmp::new().checksum(1));
    assert_eq!(
        IcmpMessage::parse(&b[20..]),
        Err(DropReason::IcmpBadChecksum)
    );
    let b = built(ip().protocol(253) / Tcp::new());
    assert_eq!(Ipv4Packet::parse(&b).unwrap().protocol(), 253);
    let b = built(ip6().next_header(17).payload_len(3).version(7) / Tcp::new());
    assert_eq!((b[0] >> 4, b[6], &b[4..6]), (7, 17, &[0u8, 3][..]));
    // TOS, flags, the evil bit, fragment offset in bytes.
    let b = built(
        ip().tos(0xb8)
            .df(true)
            .mf(true)
            .reserved_bit(true)
            .frag_offset(1480)
            / "z",
    );
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!((b[1], b[6] & 0xe0), (0xb8, 0xe0));
    assert_eq!(p.frag_offset(), 1480);
}

#[test]
fn refusals_name_the_field() {
    let err = |p: Packet| p.build().unwrap_err();
    let e = err(ip() / Raw(vec![0; 69_980]));
    assert_eq!(e.field, "ip.total_len");
    assert_eq!(
        e.to_string(),
        "ip.total_len: datagram of 70000 bytes exceeds 65535"
    );
    assert!((ip() / Raw(vec![0; 65_515])).build().is_ok());
    assert_eq!(
        err(ip() / Tcp::new() / vec![0; 65_500]).field,
        "ip.total_len"
    );
    assert_eq!(err(ip() / Udp::new() / vec![0; 65_530]).field, "udp.len");
    assert_eq!(err(ip6() / vec![0; 65_536]).field, "ipv6.payload_len");
    assert!((ip6() / vec![0; 65_535]).build().is_ok());

    let too_long = vec![TcpOpt::Raw {
        kind: 30,
        data: vec![0; 42],
    }];
    assert_eq!(
        err(ip() / Tcp::new().options(too_long)).field,
        "tcp.options"
    );
    assert_eq!(
        err(ip().options(vec![1; 41]) / Udp::new()).field,
        "ip.options"
    );
    assert_eq!(err(ip().ihl(16) / Udp::new()).field, "ip.ihl");
    assert_eq!(
        err(ip().frag_offset(1001) / Udp::new()).field,
        "ip.frag_offset"
    );
    assert_eq!(
        err(ip().frag_offset(65_536) / Udp::new()).field,
        "ip.frag_offset"
    );
    assert_eq!(
        err(ip6().flow_label(0x10_0000) / Udp::new()).field,
        "ipv6.flow_label"
    );
    assert_eq!(
        err(ip() / Tcp::new().data_offset(16)).field,
        "tcp.data_offset"
    );
    assert_eq!(err(ip() / Tcp::new().reserved(16)).field, "tcp.reserved");
    assert_eq!(err(ip6() / Fragment::new().offset(3)).field, "frag.offset");
    assert_eq!(err(ip6() / Fragment::new().res(4)).field, "frag.res");
    let big = TcpOpt::Raw {
        kind: 99,
        data: vec![0; 254],
    };
    assert_eq!(
        err(ip() / Tcp::new().option(big).raw_options(true)).field,
        "tcp.options"
    );
    let big = Ipv6Opt::Tlv {
        kind: 0x1e,
        data: vec![0; 256],
    };
    assert_eq!(
        err(ip6() / DestOpts::new().option(big)).field,
        "dstopts.options"
    );

    // Families.
    assert_eq!(err(ip() / Icmpv6::new()).field, "icmpv6");
    assert_eq!(err(ip6() / Icmp::new()).field, "icmp");
    assert_eq!(err(ip() / HopByHop::new() / Udp::new()).field, "hbh");
    assert_eq!(err(ip6() / Udp::new() / Routing::new()).field, "routing");
    let forced = (ip() / Icmpv6::new()).force_family(true);
    let b = built(forced);
    assert_eq!(Ipv4Packet::parse(&b).unwrap().protocol(), 58);
    assert_eq!(crate::wire::checksum::pseudo(A, B, 58, &b[20..]), 0);
    let b = built((ip6() / Icmp::new()).force_family(true));
    assert!(IcmpMessage::parse(&b[40..]).is_ok());

    // No IP below to give the pseudo-header.
    assert_eq!(err(Packet::from(Tcp::new())).field, "tcp.checksum");
    assert_eq!(err(Packet::from(Udp::new())).field, "udp.checksum");
    assert_eq!(err(Packet::from(Icmpv6::new())).field, "icmpv6.checksum");
    assert_eq!(built(Packet::from(Tcp::new().checksum(0))).len(), 20);
    assert!(IcmpMessage::parse(&built(Packet::from(Icmp::new()))).is_ok());
}

#[test]
fn tcp_options_and_flags() {
    let t = Tcp::new().options([
        TcpOpt::Mss(536),
        TcpOpt::WScale(14),
        TcpOpt::SackPermitted,
        TcpOpt::Timestamps { val: 1, ecr: 2 },
        TcpOpt::Sack(vec![(10, 20), (30, 40)]),
    ]);
    let b = built(ip() / t);
    let seg = TcpSegment::parse(A, B, &b[20..]).unwrap();
    let o = seg.options;
    assert_eq!(
        (o.mss, o.window_scale, o.sack_permitted),
        (Some(536), Some(14), true)
    );
    assert_eq!(o.timestamps, Some((1, 2)));
    assert_eq!(o.sack_blocks[1], Some((SeqNumber(30), SeqNumber(40))));
    // 4 + 3 + 2 + 10 + 18 = 37 bytes, padded with EOL to 40.
    assert_eq!(b[20 + 12] >> 4, 15);
    assert_eq!(&b[77..80], &[0, 0, 0]);

    // A malformed length is emitted as given, and the parser survives it.
    let bad = TcpOpt::Malformed {
        kind: 2,
        len: 40,
        data: vec![5, 0xb4],
    };
    let b = built(ip() / Tcp::new().option(bad));
    assert_eq!(&b[40..44], &[2, 40, 5, 0xb4]);
    let seg = TcpSegment::parse(A, B, &b[20..]).unwrap();
    assert_eq!(seg.options.mss, None);
    let b = built(ip() / Tcp::new().option(TcpOpt::Bytes(vec![1, 0, 9])));
    assert_eq!(&b[40..44], &[1, 0, 9, 0]);

    // Beyond 40 bytes with raw_options: data offset stays 15; the rest reads as data.
    let t = Tcp::new()
        .option(TcpOpt::Raw {
            kind: 30,
            data: vec![7; 41],
        })
        .raw_options(true);
    let b = built(ip() / t);
    let seg = TcpSegment::parse(A, B, &b[20..]).unwrap();
    assert_eq!((b[32] >> 4, seg.payload.len()), (15, 3));

    // The stack's own layout.
    let so = crate::wire::tcp::TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamps: Some((5, 0)),
        window_scale: Some(7),
        ..Default::default()
    };
    let b = built(ip() / Tcp::new().stack_options(&so));
    assert_eq!(parse_options(&b[40..60]), so);

    // Flags: the first setter replaces the default SYN; ECE/CWR are hping3's X/Y.
    let f = |t: Tcp| built(ip() / t)[33];
    assert_eq!(f(Tcp::new().ack_flag()), 0x10);
    assert_eq!(f(Tcp::new().syn().ack_flag()), 0x12);
    assert_eq!(f(Tcp::new().ece()), 0x40);
    assert_eq!(f(Tcp::new().cwr()), 0x80);
    assert_eq!(f(Tcp::new().fin().psh().urg()), 0x29);
    assert_eq!(f(Tcp::new().rst()), 0x04);
    assert_eq!(f(Tcp::new().flags(0)), 0);
    assert_eq!(tcp_flags("SAFRPUEC").unwrap(), 0xff);
    assert_eq!(tcp_flags("xy").unwrap(), 0xc0);
    assert_eq!(tcp_flags("S.").unwrap(), 0x12);
    assert_eq!(tcp_flags("").unwrap(), 0);
    assert_eq!(tcp_flags("SZ").unwrap_err().field, "tcp.flags");
    let b = built(ip() / Tcp::new().reserved(0x0f));
    assert_eq!(b[32] & 0x0f, 0x0f);
    assert!(TcpSegment::parse(A, B, &b[20..]).is_ok());
}

#[test]
fn ipv4_options_are_padded_unless_raw() {
    let b = built(ip().options(vec![1, 1, 1]) / Udp::new());
    assert_eq!((b[0], &b[20..24]), (0x46, &[1u8, 1, 1, 0][..]));
    let p = Ipv4Packet::parse(&b).unwrap();
    assert_eq!(p.header_bytes().len(), 24);
    assert!(UdpPacket::parse(A, B, p.payload()).is_ok());
    let b = built(ip().options(vec![1; 44]).raw_options(true));
    assert_eq!((b[0] & 0x0f, b.len()), (15, 64));
    // The checksum covers the 60 bytes IHL names, so it verifies.
    assert_eq!(crate::wire::checksum::internet(&b[..60]), 0);
    let b = built(ip().options(vec![1; 3]).raw_options(true));
    assert_eq!((b[0] & 0x0f, b.len()), (6, 23));
}

#[test]
fn sources_are_filled_when_unset() {
    let p = Ipv4::new().dst(B) / Tcp::new();
    assert_eq!(p.source(), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    assert_eq!(p.destination(), Some(IpAddr::V4(B)));
    let filled = p.clone().with_source_if_unset(A.into());
    let b = built(filled);
    let ip4 = Ipv4Packet::parse(&b).unwrap();
    assert_eq!(ip4.src(), A);
    assert!(TcpSegment::parse(A, B, ip4.payload()).is_ok());
    // A source set by hand stays; another family changes nothing.
    let other = Ipv4Addr::new(10, 0, 0, 1);
    let set = (ip() / Tcp::new()).with_source_if_unset(other.into());
    assert_eq!(set.source(), Some(IpAddr::V4(A)));
    assert_eq!(p.clone().with_source_if_unset(A6.into()), p);
    let p6 = (Ipv6::new().dst(B6) / Udp::new()).with_source_if_unset(A6.into());
    let b = built(p6);
    assert!(UdpPacket::parse(A6, B6, &b[40..]).is_ok());
    assert_eq!(Packet::new().source(), None);
}

#[test]
fn extension_headers_walk_to_the_upper_layer() {
    let b = built(
        ip6()
            / HopByHop::new().option(Ipv6Opt::RouterAlert(0))
            / DestOpts::new().option(Ipv6Opt::Tlv {
                kind: 0x1e,
                data: vec![1, 2, 3],
            })
            / Icmpv6::new(),
    );
    let p = Ipv6Packet::parse(&b).unwrap();
    assert_eq!(p.next_header(), 0);
    // HBH: 2 + 4 (router alert) + PadN(0) = 8; DSTOPT: 2 + 5 + Pad1 = 8.
    assert_eq!(&b[40..48], &[60, 0, 5, 2, 0, 0, 1, 0]);
    assert_eq!(&b[48..56], &[58, 0, 0x1e, 3, 1, 2, 3, 0]);
    match ipv6::walk(&p) {
        Ok(Walk::Upper { protocol, at, .. }) => assert_eq!((protocol, at), (58, 56)),
        other => panic!("{other:?}"),
    }
    assert!(Icmpv6Message::parse(A6, B6, &b[56..]).is_ok());

    // The Routing header's last address is the pseudo-header's destination (RFC 8200 §8.1).
    let b = built(ip6() / Routing::new().routing_type(4).address(C6) / Tcp::new());
    assert_eq!(&b[40..44], &[6, 2, 4, 1]);
    assert!(TcpSegment::parse(A6, C6, &b[64..]).is_ok());
    assert_eq!(
        TcpSegment::parse(A6, B6, &b[64..]),
        Err(DropReason::TcpBadChecksum)
    );
    // With no segments left, the destination is the header's own.
    let b = built(ip6() / Routing::new().address(C6).segments_left(0) / Tcp::new());
    assert!(TcpSegment::parse(A6, B6, &b[64..]).is_ok());
    let b = built(ip6() / Routing::new().data(vec![9; 3]) / "x");
    assert_eq!(&b[40..49], &[59, 0, 0, 0, 9, 9, 9, 0, b'x']);

    // An atomic fragment, and one with offset and M.
    let b = built(ip6() / Fragment::new().ident(0xabcd) / Udp::new());
    match ipv6::walk(&Ipv6Packet::parse(&b).unwrap()) {
        Ok(Walk::Upper {
            protocol: 17,
            fragment: Some(f),
            ..
        }) => assert!(f.is_atomic() && f.ident == 0xabcd),
        other => panic!("{other:?}"),
    }
    let b = built(ip6() / Fragment::new().offset(16).more(true) / "12345678");
    match ipv6::walk(&Ipv6Packet::parse(&b).unwrap()) {
        Ok(Walk::LaterFragment { fragment, at }) => {
            assert_eq!((fragment.offset, fragment.more, at), (16, true, 48))
        }
        other => panic!("{other:?}"),
    }
    // Overridden lengths and next headers.
    let b = built(ip6() / HopByHop::new().hdr_ext_len(9).next_header(6));
    assert_eq!(&b[40..42], &[6, 9]);
}

#[test]
fn an_icmp_error_quotes_a_built_packet() {
    let quoted = ip().src(B).dst(A) / Udp::new().sport(4000).dport(33434);
    let b = built(Ipv4::new().src(B).dst(A) / Icmp::error(3, 3) / quoted);
    let p = Ipv4Packet::parse(&b).unwrap();
    match IcmpMessage::parse(p.payload()).unwrap() {
        IcmpMessage::Error {
            icmp_type: 3,
            code: 3,
            quote,
            ..
        } => {
            let inner = Ipv4Packet::parse(quote).unwrap();
            assert_eq!((inner.protocol(), inner.src()), (17, B));
            assert!(UdpPacket::parse(B, A, inner.payload()).is_ok());
        }
        other => panic!("{other:?}"),
    }
    let ptb = ip6() / Icmpv6::packet_too_big(1280) / (ip6() / Udp::new());
    let b = built(ptb);
    assert_eq!(&b[44..48], &1280u32.to_be_bytes());
    assert!(b.ends_with(&built(ip6() / Udp::new())));
}

#[test]
fn layers_compose_every_way() {
    let a = ip() / Tcp::new() / "ab";
    let b = ip() / (Tcp::new() / Raw(b"ab".to_vec()));
    let c = Packet::new().push(ip()).push(Tcp::new()).push(&b"ab"[..]);
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.layers().len(), 3);
    let mut d = a.clone();
    if let Layer::Tcp(t) = &mut d.layers_mut()[1] {
        *t = t.clone().dport(443);
    }
    assert_eq!(&built(d)[22..24], &443u16.to_be_bytes());
    // Raw above raw concatenates; an IP-in-IP packet names protocol 4.
    assert_eq!(&built(ip() / "a" / b"b" / vec![b'c'])[20..], b"abc");
    assert_eq!(
        Ipv4Packet::parse(&built(ip() / ip() / Udp::new()))
            .unwrap()
            .protocol(),
        4
    );
    assert_eq!(built(ip6() / ip() / Udp::new())[6], 4);
    assert_eq!(built(ip() / ip6() / Udp::new())[9], 41);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    fn layer() -> impl Strategy<Value = Layer> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<u8>(),
                any::<u16>(),
                any::<u8>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(a, ihl, off, tos, len, sum)| Layer::Ipv4(
                    Ipv4::new()
                        .dst(a)
                        .ihl(ihl % 20)
                        .frag_offset(usize::from(off))
                        .tos(tos)
                        .total_len(len)
                        .checksum(sum)
                        .options(vec![tos; usize::from(ihl % 48)])
                )),
            (any::<u32>(), any::<u8>(), any::<bool>()).prop_map(|(fl, nh, o)| {
                let ip = Ipv6::new().flow_label(fl % 0x20_0000).hop_limit(nh);
                Layer::Ipv6(if o { ip.next_header(nh) } else { ip })
            }),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(k, d)| {
                Layer::HopByHop(HopByHop::new().option(Ipv6Opt::Tlv { kind: k, data: d }))
            }),
            (any::<u16>(), any::<bool>(), any::<u32>()).prop_map(|(o, m, i)| Layer::Fragment(
                Fragment::new().offset(usize::from(o)).more(m).ident(i)
            )),
            (any::<u8>(), any::<u8>()).prop_map(|(t, l)| Layer::Routing(
                Routing::new().routing_type(t).segments_left(l).address(A6)
            )),
            (
                any::<u8>(),
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 0..60),
                any::<bool>()
            )
                .prop_map(|(f, off, opts, raw)| Layer::Tcp(
                    Tcp::new()
                        .flags(f)
                        .data_offset(off % 20)
                        .raw_options(raw)
                        .option(TcpOpt::Malformed {
                            kind: f,
                            len: off,
                            data: opts.clone()
                        })
                        .option(TcpOpt::Raw {
                            kind: off,
                            data: opts
                        })
                )),
            (any::<u16>(), any::<bool>()).prop_map(|(l, z)| Layer::Udp(if z {
                Udp::new().len(l).checksum(0)
            } else {
                Udp::new().len(l)
            })),
            (any::<u8>(), any::<u8>()).prop_map(|(t, c)| Layer::Icmp(Icmp::error(t, c))),
            (any::<u8>(), any::<u32>())
                .prop_map(|(t, p)| Layer::Icmpv6(Icmpv6::error(t, 0).param(p))),
            proptest::collection::vec(any::<u8>(), 0..100).prop_map(|b| Layer::Raw(Raw(b))),
        ]
    }

    proptest! {
        #[test]
        fn random_fields_never_panic(
            layers in proptest::collection::vec(layer(), 0..6),
            force in any::<bool>(),
            size in 0usize..200,
            overlap in 0usize..64,
        ) {
            let mut p = Packet::new().force_family(force);
            for l in layers {
                p = p.push(l);
            }
            let _ = p.to_string();
            if let Ok(b) = p.build() {
                let _ = fragment_v4_overlapping(&b, size, overlap);
                let _ = fragment_v6_overlapping(&b, size, 1, overlap);
                let _ = crate::wire::PacketSummary(&b).to_string();
            }
        }
    }
}
