//! The differential wire check: a packet ustack emitted (IPv4 or IPv6) must parse, checksums
//! verified, with smoltcp's `wire` module (checked constructors, then `Repr::parse`) and with
//! etherparse, and all three parsers must agree on every field.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire as sw;
use std::net::IpAddr;
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::icmpv6::Icmpv6Message;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::ipv6::Ipv6Packet;
use ustack::wire::tcp::{flags, TcpSegment};
use ustack::wire::udp::UdpPacket;

macro_rules! agree {
    ($what:expr, $ours:expr, $theirs:expr) => {
        if $ours != $theirs {
            return Err(format!("{}: ustack {:?} != {:?}", $what, $ours, $theirs));
        }
    };
}

/// Checks one packet (IPv4 or IPv6); `Err` says which parser disagreed about what.
pub fn check_packet(bytes: &[u8]) -> Result<(), String> {
    let whole = match bytes.first().map(|b| b >> 4) {
        Some(6) => check_ipv6(bytes)?,
        _ => check_ipv4(bytes)?,
    };
    // Transport headers are checked on whole datagrams only.
    match whole {
        Some((src, dst, protocol, payload)) => check_transport(src, dst, protocol, payload),
        None => Ok(()),
    }
}

/// (source, destination, protocol, transport bytes) of a whole datagram; None for a fragment.
type Whole<'a> = Option<(IpAddr, IpAddr, u8, &'a [u8])>;

fn check_ipv4(bytes: &[u8]) -> Result<Whole<'_>, String> {
    let ours =
        Ipv4Packet::parse(bytes).map_err(|r| format!("ustack refuses its own packet: {r:?}"))?;
    // smoltcp
    let sp =
        sw::Ipv4Packet::new_checked(bytes).map_err(|e| format!("smoltcp ipv4 new_checked: {e}"))?;
    if !sp.verify_checksum() {
        return Err("smoltcp: bad IPv4 header checksum".into());
    }
    let caps = ChecksumCapabilities::default();
    let sr =
        sw::Ipv4Repr::parse(&sp, &caps).map_err(|e| format!("smoltcp Ipv4Repr::parse: {e}"))?;
    agree!("src", ours.src(), sr.src_addr);
    agree!("dst", ours.dst(), sr.dst_addr);
    agree!("ttl", ours.ttl(), sr.hop_limit);
    agree!("protocol", ours.protocol(), u8::from(sr.next_header));
    agree!("ident", ours.ident(), sp.ident());
    agree!("DF", ours.dont_fragment(), sp.dont_frag());
    agree!("MF", ours.more_fragments(), sp.more_frags());
    agree!(
        "frag offset",
        ours.frag_offset(),
        usize::from(sp.frag_offset())
    );
    agree!("payload len", ours.payload().len(), sr.payload_len);
    // etherparse
    let eh = etherparse::Ipv4HeaderSlice::from_slice(bytes)
        .map_err(|e| format!("etherparse ipv4: {e}"))?;
    agree!(
        "checksum (etherparse)",
        eh.header_checksum(),
        eh.to_header().calc_header_checksum()
    );
    agree!("src (etherparse)", ours.src(), eh.source_addr());
    agree!("ident (etherparse)", ours.ident(), eh.identification());
    Ok((!ours.is_fragment()).then(|| {
        (
            ours.src().into(),
            ours.dst().into(),
            ours.protocol(),
            ours.payload(),
        )
    }))
}

fn check_ipv6(bytes: &[u8]) -> Result<Whole<'_>, String> {
    let ours =
        Ipv6Packet::parse(bytes).map_err(|r| format!("ustack refuses its own packet: {r:?}"))?;
    // smoltcp
    let sp =
        sw::Ipv6Packet::new_checked(bytes).map_err(|e| format!("smoltcp ipv6 new_checked: {e}"))?;
    let sr = sw::Ipv6Repr::parse(&sp).map_err(|e| format!("smoltcp Ipv6Repr::parse: {e}"))?;
    agree!("src", ours.src(), sr.src_addr);
    agree!("dst", ours.dst(), sr.dst_addr);
    agree!("hop limit", ours.hop_limit(), sr.hop_limit);
    agree!("next header", ours.next_header(), u8::from(sr.next_header));
    agree!("flow label", ours.flow_label(), sp.flow_label());
    agree!("payload len", ours.payload().len(), sr.payload_len);
    // etherparse
    let eh = etherparse::Ipv6HeaderSlice::from_slice(bytes)
        .map_err(|e| format!("etherparse ipv6: {e}"))?;
    agree!("src (etherparse)", ours.src(), eh.source_addr());
    agree!("dst (etherparse)", ours.dst(), eh.destination_addr());
    agree!(
        "flow label (etherparse)",
        ours.flow_label(),
        eh.flow_label().value()
    );
    agree!(
        "payload len (etherparse)",
        ours.payload().len(),
        usize::from(eh.payload_length())
    );
    // A fragment (not an atomic one) has no transport header to check.
    Ok(ustack_tests::sim::transport(bytes))
}

fn check_transport(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Result<(), String> {
    let caps = ChecksumCapabilities::default();
    let (ssrc, sdst) = (sw::IpAddress::from(src), sw::IpAddress::from(dst));
    let (src, dst) = (&ssrc, &sdst);
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    match protocol {
        6 => {
            let t =
                TcpSegment::parse(ssrc, sdst, payload).map_err(|r| format!("ustack tcp: {r:?}"))?;
            let p = sw::TcpPacket::new_checked(payload)
                .map_err(|e| format!("smoltcp tcp new_checked: {e}"))?;
            if !p.verify_checksum(src, dst) {
                return Err("smoltcp: bad TCP checksum".into());
            }
            let r = sw::TcpRepr::parse(&p, src, dst, &caps)
                .map_err(|e| format!("smoltcp TcpRepr::parse: {e}"))?;
            agree!(
                "tcp ports",
                (t.src_port, t.dst_port),
                (r.src_port, r.dst_port)
            );
            agree!("tcp seq", t.seq.0 as i32, r.seq_number.0);
            agree!(
                "tcp ack",
                t.ack.map(|a| a.0 as i32),
                r.ack_number.map(|a| a.0)
            );
            agree!("tcp window", t.window, r.window_len);
            agree!("tcp mss", t.options.mss, r.max_seg_size);
            agree!("tcp wscale", t.options.window_scale, r.window_scale);
            agree!(
                "tcp sack-permitted",
                t.options.sack_permitted,
                r.sack_permitted
            );
            agree!(
                "tcp timestamps",
                t.options.timestamps,
                r.timestamp.map(|ts| (ts.tsval, ts.tsecr))
            );
            agree!("tcp payload", t.payload, r.payload);
            let control = match r.control {
                sw::TcpControl::Syn => flags::SYN,
                sw::TcpControl::Fin => flags::FIN,
                sw::TcpControl::Rst => flags::RST,
                sw::TcpControl::Psh => flags::PSH,
                sw::TcpControl::None => 0,
            };
            let ours_ctl = t.flags.0 & (flags::SYN | flags::FIN | flags::RST);
            if control != flags::PSH && control != ours_ctl {
                return Err(format!(
                    "tcp control: ustack flags {:#x}, smoltcp {:?}",
                    t.flags.0, r.control
                ));
            }
            for (i, block) in r.sack_ranges.iter().enumerate() {
                let mine = t.options.sack_blocks[i].map(|(l, r)| (l.0, r.0));
                agree!("tcp sack block", mine, *block);
            }
            let eh = etherparse::TcpHeaderSlice::from_slice(payload)
                .map_err(|e| format!("etherparse tcp: {e}"))?;
            let want = match (ssrc, sdst) {
                (sw::IpAddress::Ipv4(s), sw::IpAddress::Ipv4(d)) => eh
                    .to_header()
                    .calc_checksum_ipv4_raw(s.octets(), d.octets(), t.payload),
                _ => eh.to_header().calc_checksum_ipv6_raw(
                    octets(ssrc.into()),
                    octets(sdst.into()),
                    t.payload,
                ),
            }
            .map_err(|e| format!("etherparse tcp checksum: {e}"))?;
            agree!("tcp checksum (etherparse)", eh.checksum(), want);
        }
        17 => {
            let u =
                UdpPacket::parse(ssrc, sdst, payload).map_err(|r| format!("ustack udp: {r:?}"))?;
            let p = sw::UdpPacket::new_checked(payload)
                .map_err(|e| format!("smoltcp udp new_checked: {e}"))?;
            if !p.verify_checksum(src, dst) {
                return Err("smoltcp: bad UDP checksum".into());
            }
            agree!(
                "udp ports",
                (u.src_port, u.dst_port),
                (p.src_port(), p.dst_port())
            );
            agree!("udp payload", u.payload, p.payload());
            let (eh, _) = etherparse::UdpHeader::from_slice(payload)
                .map_err(|e| format!("etherparse udp: {e}"))?;
            let want = match (ssrc, sdst) {
                (sw::IpAddress::Ipv4(s), sw::IpAddress::Ipv4(d)) => {
                    eh.calc_checksum_ipv4_raw(s.octets(), d.octets(), u.payload)
                }
                _ => eh.calc_checksum_ipv6_raw(octets(ssrc.into()), octets(sdst.into()), u.payload),
            }
            .map_err(|e| format!("etherparse udp checksum: {e}"))?;
            agree!("udp checksum (etherparse)", eh.checksum, want);
        }
        1 => {
            let m = IcmpMessage::parse(payload).map_err(|r| format!("ustack icmp: {r:?}"))?;
            let p = sw::Icmpv4Packet::new_checked(payload)
                .map_err(|e| format!("smoltcp icmp new_checked: {e}"))?;
            if !p.verify_checksum() {
                return Err("smoltcp: bad ICMP checksum".into());
            }
            let (ty, code) = match m {
                IcmpMessage::EchoRequest { code, .. } => (8, code),
                IcmpMessage::EchoReply { .. } => (0, 0),
                IcmpMessage::TimestampRequest { .. } => (13, 0),
                IcmpMessage::Error {
                    icmp_type, code, ..
                } => (icmp_type, code),
                IcmpMessage::Other { icmp_type, code } => (icmp_type, code),
            };
            agree!(
                "icmp type/code",
                (ty, code),
                (u8::from(p.msg_type()), p.msg_code())
            );
        }
        58 => {
            let (IpAddr::V6(s6), IpAddr::V6(d6)) = (ssrc.into(), sdst.into()) else {
                return Err("ICMPv6 over IPv4".into());
            };
            let m = Icmpv6Message::parse(s6, d6, payload)
                .map_err(|r| format!("ustack icmpv6: {r:?}"))?;
            let p = sw::Icmpv6Packet::new_checked(payload)
                .map_err(|e| format!("smoltcp icmpv6 new_checked: {e}"))?;
            if !p.verify_checksum(&s6, &d6) {
                return Err("smoltcp: bad ICMPv6 checksum".into());
            }
            let ty = match m {
                Icmpv6Message::EchoRequest { .. } => 128,
                Icmpv6Message::EchoReply { .. } => 129,
                Icmpv6Message::Error { icmp_type, .. } => icmp_type,
                Icmpv6Message::LinkLocal { icmp_type } => icmp_type,
                Icmpv6Message::Other { icmp_type, .. } => icmp_type,
            };
            agree!("icmpv6 type", ty, u8::from(p.msg_type()));
        }
        p => return Err(format!("unexpected protocol {p}")),
    }
    Ok(())
}
