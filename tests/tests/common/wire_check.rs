//! The differential wire check: a packet ustack emitted must parse, checksums verified, with
//! smoltcp's `wire` module (checked constructors, then `Repr::parse`) and with etherparse, and
//! all three parsers must agree on every field.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire as sw;
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::{flags, TcpSegment};
use ustack::wire::udp::UdpPacket;

macro_rules! agree {
    ($what:expr, $ours:expr, $theirs:expr) => {
        if $ours != $theirs {
            return Err(format!("{}: ustack {:?} != {:?}", $what, $ours, $theirs));
        }
    };
}

/// Checks one packet; `Err` says which parser disagreed about what.
pub fn check_packet(bytes: &[u8]) -> Result<(), String> {
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
    if ours.is_fragment() {
        // Transport headers are checked on whole datagrams only.
        return Ok(());
    }
    let (src, dst) = (
        sw::IpAddress::Ipv4(ours.src()),
        sw::IpAddress::Ipv4(ours.dst()),
    );
    let payload = ours.payload();
    match ours.protocol() {
        6 => {
            let t = TcpSegment::parse(ours.src(), ours.dst(), payload)
                .map_err(|r| format!("ustack tcp: {r:?}"))?;
            let p = sw::TcpPacket::new_checked(payload)
                .map_err(|e| format!("smoltcp tcp new_checked: {e}"))?;
            if !p.verify_checksum(&src, &dst) {
                return Err("smoltcp: bad TCP checksum".into());
            }
            let r = sw::TcpRepr::parse(&p, &src, &dst, &caps)
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
            let want = eh
                .to_header()
                .calc_checksum_ipv4_raw(ours.src().octets(), ours.dst().octets(), t.payload)
                .map_err(|e| format!("etherparse tcp checksum: {e}"))?;
            agree!("tcp checksum (etherparse)", eh.checksum(), want);
        }
        17 => {
            let u = UdpPacket::parse(ours.src(), ours.dst(), payload)
                .map_err(|r| format!("ustack udp: {r:?}"))?;
            let p = sw::UdpPacket::new_checked(payload)
                .map_err(|e| format!("smoltcp udp new_checked: {e}"))?;
            if !p.verify_checksum(&src, &dst) {
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
            let want = eh
                .calc_checksum_ipv4_raw(ours.src().octets(), ours.dst().octets(), u.payload)
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
        p => return Err(format!("unexpected protocol {p}")),
    }
    Ok(())
}
