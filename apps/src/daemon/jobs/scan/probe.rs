//! The bytes of a probe: one whole IPv4 or IPv6 packet, header included, checksums right, as
//! a raw socket sends it. The one place probes are built, with the packet builder
//! (`ustack::wire::build`).

use std::net::IpAddr;
use ustack::wire::build::{Icmp, Icmpv6, Ipv4, Ipv6, Layer, Tcp, TcpOpt, Udp};

/// TTL (hop limit) of the probes.
pub const PROBE_TTL: u8 = 64;
/// The window nmap's raw probes advertise.
const WINDOW: u16 = 1024;

/// What a probe is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// TCP SYN (`-sS`, and host discovery's SYN to 443).
    Syn,
    /// TCP FIN.
    Fin,
    /// TCP with no flags.
    Null,
    /// TCP FIN, PSH, URG.
    Xmas,
    /// TCP ACK (`-sA`, and host discovery's ACK to 80).
    Ack,
    /// An empty UDP datagram.
    Udp,
    /// A connect through the stack's TCP (`-sT`): not a packet of ours.
    Connect,
    /// ICMP (v6) echo request (host discovery): ident = `sport`, sequence = `seq`'s low 16 bits.
    Echo,
    /// TCP RST (sequence number `seq`) closing the half-open connection a SYN-ACK answered.
    Rst,
}

impl ProbeKind {
    pub(crate) fn is_tcp(self) -> bool {
        matches!(
            self,
            ProbeKind::Syn
                | ProbeKind::Fin
                | ProbeKind::Null
                | ProbeKind::Xmas
                | ProbeKind::Ack
                | ProbeKind::Rst
        )
    }

    /// How far a RST's acknowledgment lies past the probe's sequence number: SEG.LEN
    /// (RFC 9293 §3.10.7.1: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`).
    pub(crate) fn seg_len(self) -> u32 {
        match self {
            ProbeKind::Syn | ProbeKind::Fin | ProbeKind::Xmas => 1,
            _ => 0,
        }
    }
}

/// One probe to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The target.
    pub dst: IpAddr,
    /// Its port (0 for echo).
    pub dport: u16,
    /// Our port (the echo identifier for echo).
    pub sport: u16,
    /// What to send.
    pub kind: ProbeKind,
    /// TCP: the sequence number; echo: the sequence number in the low 16 bits.
    pub seq: u32,
    /// TCP ACK probes: the acknowledgment number.
    pub ack: u32,
    /// 0 for the first try.
    pub try_no: u8,
}

/// The transport layer of `p` (over `v6` or not); None for a connect probe (the stack sends
/// those).
fn transport(p: &Probe, v6: bool) -> Option<Layer> {
    use ustack::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN, URG};
    let tcp = |flags: u8| {
        Tcp::new()
            .sport(p.sport)
            .dport(p.dport)
            .seq(p.seq)
            .window(WINDOW)
            .flags(flags)
    };
    Some(match p.kind {
        ProbeKind::Connect => return None,
        // nmap's SYN carries MSS 1460 and nothing else.
        ProbeKind::Syn => tcp(SYN).option(TcpOpt::Mss(1460)).into(),
        ProbeKind::Fin => tcp(FIN).into(),
        ProbeKind::Null => tcp(0).into(),
        ProbeKind::Rst => tcp(RST).into(),
        ProbeKind::Ack => tcp(ACK).ack(p.ack).into(),
        ProbeKind::Xmas => tcp(FIN | PSH | URG).into(),
        ProbeKind::Udp => Udp::new().sport(p.sport).dport(p.dport).into(),
        ProbeKind::Echo if v6 => Icmpv6::echo_request(p.sport, p.seq as u16).into(),
        ProbeKind::Echo => Icmp::echo_request(p.sport, p.seq as u16).into(),
    })
}

/// The whole packet of probe `p` from `src` (of the target's family); None for a connect
/// probe, or when `src` is of the other family.
pub fn probe_packet(p: &Probe, src: IpAddr) -> Option<Vec<u8>> {
    let t = transport(p, src.is_ipv6())?;
    let packet = match (src, p.dst) {
        // Any identification will do for an unfragmented datagram (RFC 6864 §4.1).
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ident = (p.seq ^ (p.seq >> 16)) as u16;
            Ipv4::new().src(s).dst(d).ttl(PROBE_TTL).ident(ident) / t
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6::new().src(s).dst(d).hop_limit(PROBE_TTL) / t,
        _ => return None,
    };
    packet.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ustack::wire::ipv4::Ipv4Packet;
    use ustack::wire::ipv6::Ipv6Packet;
    use ustack::wire::tcp::TcpSegment;
    use ustack::wire::udp::UdpPacket;
    use ustack::wire::{icmp, icmpv6, proto};

    fn probe(kind: ProbeKind, dst: &str) -> Probe {
        Probe {
            dst: dst.parse().unwrap(),
            dport: 22,
            sport: 40000,
            kind,
            seq: 0x1234_5678,
            ack: 0x0bad_cafe,
            try_no: 0,
        }
    }

    fn tcp_flags(kind: ProbeKind) -> u8 {
        let src: IpAddr = "198.18.0.2".parse().unwrap();
        let pkt = probe_packet(&probe(kind, "198.18.0.1"), src).unwrap();
        let ip = Ipv4Packet::parse(&pkt).expect("a valid IPv4 header");
        assert_eq!((ip.protocol(), ip.ttl()), (proto::TCP, PROBE_TTL));
        let seg = TcpSegment::parse(ip.src(), ip.dst(), ip.payload()).expect("checksum right");
        assert_eq!((seg.src_port, seg.dst_port), (40000, 22));
        assert_eq!(seg.seq.0, 0x1234_5678);
        if kind == ProbeKind::Ack {
            assert_eq!(seg.ack.map(|a| a.0), Some(0x0bad_cafe));
        }
        if kind == ProbeKind::Syn {
            assert_eq!(seg.options.mss, Some(1460));
        }
        seg.flags.0
    }

    #[test]
    fn tcp_probes_carry_nmaps_flags() {
        // FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20.
        assert_eq!(tcp_flags(ProbeKind::Syn), 0x02);
        assert_eq!(tcp_flags(ProbeKind::Fin), 0x01);
        assert_eq!(tcp_flags(ProbeKind::Null), 0x00);
        assert_eq!(tcp_flags(ProbeKind::Xmas), 0x29);
        assert_eq!(tcp_flags(ProbeKind::Ack), 0x10);
        assert_eq!(tcp_flags(ProbeKind::Rst), 0x04);
    }

    #[test]
    fn udp_and_ipv6_probes_check_out() {
        let src: IpAddr = "2001:2::2".parse().unwrap();
        let pkt = probe_packet(&probe(ProbeKind::Udp, "2001:2::1"), src).unwrap();
        let ip = Ipv6Packet::parse(&pkt).unwrap();
        assert_eq!((ip.next_header(), ip.hop_limit()), (proto::UDP, PROBE_TTL));
        let u = UdpPacket::parse(ip.src(), ip.dst(), ip.payload()).expect("checksum right");
        assert_eq!((u.src_port, u.dst_port, u.payload.len()), (40000, 22, 0));
        let pkt = probe_packet(&probe(ProbeKind::Syn, "2001:2::1"), src).unwrap();
        let ip = Ipv6Packet::parse(&pkt).unwrap();
        assert!(TcpSegment::parse(ip.src(), ip.dst(), ip.payload()).is_ok());
        let echo = probe_packet(&probe(ProbeKind::Echo, "2001:2::1"), src).unwrap();
        let ip = Ipv6Packet::parse(&echo).unwrap();
        let m = icmpv6::Icmpv6Message::parse(ip.src(), ip.dst(), ip.payload()).unwrap();
        assert!(matches!(
            m,
            icmpv6::Icmpv6Message::EchoRequest {
                ident: 40000,
                seq: 0x5678,
                ..
            }
        ));
        // Family mismatch and connect probes build nothing.
        assert!(probe_packet(&probe(ProbeKind::Syn, "198.18.0.1"), src).is_none());
        assert!(probe_packet(&probe(ProbeKind::Connect, "2001:2::1"), src).is_none());
    }

    #[test]
    fn ipv4_echo_probe() {
        let src: IpAddr = "198.18.0.2".parse().unwrap();
        let pkt = probe_packet(&probe(ProbeKind::Echo, "198.18.0.1"), src).unwrap();
        let ip = Ipv4Packet::parse(&pkt).unwrap();
        let m = icmp::IcmpMessage::parse(ip.payload()).unwrap();
        assert!(matches!(
            m,
            icmp::IcmpMessage::EchoRequest {
                ident: 40000,
                seq: 0x5678,
                ..
            }
        ));
    }
}
