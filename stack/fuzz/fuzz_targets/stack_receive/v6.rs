//! The IPv6 half of `stack_receive`: the stack has `Config::addr6` = [`US6`]; records whose op
//! has bit 4 set (`op / 10` odd, e.g. 11, 12, 13, 15, 16) send and receive over IPv6.

use std::net::Ipv6Addr;
use ustack::wire::checksum;
use ustack::wire::icmpv6::Icmpv6Message;
use ustack::wire::ipv6::{self, Ipv6Packet, Ipv6Repr, Walk};
use ustack::wire::tcp::TcpSegment;
use ustack::wire::udp::UdpPacket;

/// The peer's IPv6 address.
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// Ours.
pub const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// A source for a received packet: mostly the peer, sometimes one that cannot send.
pub fn src6(sel: u8) -> Ipv6Addr {
    match sel % 8 {
        1 => US6,
        2 => Ipv6Addr::UNSPECIFIED,
        3 => Ipv6Addr::LOCALHOST,
        4 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        5 => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        _ => PEER6,
    }
}

/// A destination for a received packet: mostly us, sometimes all-nodes or elsewhere.
pub fn dst6(sel: u8) -> Ipv6Addr {
    match sel % 8 {
        1 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        2 => Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x99),
        _ => US6,
    }
}

/// Destinations the harness sends to: unicast, never us.
pub fn send_dst6(sel: u8) -> Ipv6Addr {
    match sel % 3 {
        0 => PEER6,
        1 => Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x77),
        _ => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9),
    }
}

/// Upper-layer protocol of a wrapping record: ICMPv6, UDP, TCP, or any.
pub fn protocol6(p: u8) -> u8 {
    match p % 4 {
        0 => 58,
        1 => 17,
        2 => 6,
        _ => p >> 2,
    }
}

/// An IPv6 packet from `src` to `dst` with `next_header` and `payload` (cut to fit).
pub fn packet6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let payload = &payload[..payload.len().min(65535)];
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    Ipv6Repr {
        src,
        dst,
        next_header,
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
        payload_len: payload.len(),
    }
    .emit(&mut p);
    p.extend_from_slice(payload);
    p
}

/// Makes the upper-layer checksum (and UDP length) right under the IPv6 pseudo-header.
pub fn fix_transport6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, payload: &mut [u8]) {
    let at = match protocol {
        58 if payload.len() >= 4 => 2,
        17 if payload.len() >= 8 => {
            let len = payload.len() as u16;
            payload[4..6].copy_from_slice(&len.to_be_bytes());
            6
        }
        6 if payload.len() >= 20 => 16,
        _ => return,
    };
    payload[at..at + 2].fill(0);
    let c = checksum::pseudo6(src, dst, protocol, payload);
    let c = if c == 0 && protocol == 17 { 0xffff } else { c };
    payload[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// `payload` (an upper-layer message of `protocol`) cut into fragments of `unit` bytes behind
/// Fragment headers with identification `ident` (RFC 8200 §4.5).
pub fn fragments6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    protocol: u8,
    ident: u32,
    unit: usize,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let mut frags = Vec::new();
    let mut off = 0;
    loop {
        let end = (off + unit).min(payload.len());
        let more = end < payload.len();
        let mut body = vec![protocol, 0];
        body.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
        body.extend_from_slice(&ident.to_be_bytes());
        body.extend_from_slice(&payload[off..end]);
        frags.push(packet6(src, dst, 44, 64, &body));
        off = end;
        if !more {
            return frags;
        }
    }
}

/// Outbound checks of an IPv6 packet the stack emitted: within the MTU, parses, total length
/// = bytes written, from our address to a unicast address not ours; a non-final fragment
/// carries a multiple of 8 bytes; a whole datagram's TCP, UDP (non-zero checksum, RFC 8200
/// §8.1) or ICMPv6 parses, and an ICMPv6 error fits the minimum MTU (RFC 4443 §2.4 (c)).
pub fn check_packet6(pkt: &[u8], mtu: u16, us: Ipv6Addr) {
    assert!(pkt.len() <= usize::from(mtu), "IPv6 packet over MTU");
    let ip =
        Ipv6Packet::parse(pkt).unwrap_or_else(|e| panic!("emitted IPv6 does not parse: {e:?}"));
    assert_eq!(
        ipv6::HEADER_LEN + ip.payload().len(),
        pkt.len(),
        "payload length != bytes written"
    );
    assert_eq!(ip.src(), us, "source is not our IPv6 address");
    let dst = ip.dst();
    assert!(
        !(dst.is_unspecified() || dst.is_multicast() || dst.is_loopback() || dst == us),
        "IPv6 packet sent to {dst}"
    );
    let walk = ipv6::walk(&ip).unwrap_or_else(|r| panic!("own IPv6 packet refused: {r:?}"));
    let (protocol, at, fragment) = match walk {
        Walk::Upper {
            protocol,
            at,
            fragment,
            ..
        } => (protocol, at, fragment),
        Walk::LaterFragment { fragment, at } => {
            if fragment.more {
                assert_eq!(
                    (pkt.len() - at) % 8,
                    0,
                    "non-final fragment not a multiple of 8"
                );
            }
            return;
        }
        Walk::Nothing => panic!("emitted IPv6 with no next header"),
    };
    if let Some(f) = fragment.filter(|f| !f.is_atomic()) {
        assert!(f.more && (pkt.len() - at) % 8 == 0, "first fragment: {f:?}");
        return; // its upper layer is not whole here
    }
    let (src, body) = (ip.src(), &pkt[at..]);
    match protocol {
        58 => match Icmpv6Message::parse(src, dst, body) {
            Ok(Icmpv6Message::Error { .. }) => assert!(pkt.len() <= 1280, "ICMPv6 error over 1280"),
            Ok(_) => {}
            Err(e) => panic!("emitted ICMPv6 does not parse: {e:?}"),
        },
        17 => {
            assert!(
                body.len() >= 8 && body[6..8] != [0, 0],
                "UDP over IPv6 without checksum"
            );
            if let Err(e) = UdpPacket::parse(src, dst, body) {
                panic!("emitted UDP does not parse: {e:?}");
            }
        }
        6 => {
            if let Err(e) = TcpSegment::parse(src, dst, body) {
                panic!("emitted TCP does not parse: {e:?}");
            }
        }
        p => panic!("emitted IPv6 next header {p}"),
    }
}
