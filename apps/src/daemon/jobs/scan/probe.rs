//! The bytes of a probe: one whole IPv4 or IPv6 packet, header included, checksums right, as
//! a raw socket sends it. The one place probes are built (written with the wire emitters; the
//! packet-builder API can replace its body alone).

use std::net::IpAddr;
use ustack::wire::ipv4::Ipv4Repr;
use ustack::wire::ipv6::Ipv6Repr;
use ustack::wire::seq::SeqNumber;
use ustack::wire::tcp::{Control, TcpOptions, TcpRepr};
use ustack::wire::{checksum, icmp, icmpv6, proto, udp};

/// TTL (hop limit) of the probes.
pub const PROBE_TTL: u8 = 64;
/// The window nmap's raw probes advertise.
const WINDOW: u16 = 1024;
/// TCP's URG flag (RFC 9293 §3.1), which only Xmas probes carry.
const URG: u8 = 0x20;

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

/// The transport part of `p` from `src`; None for a connect probe (the stack sends those).
fn transport(p: &Probe, src: IpAddr) -> Option<(u8, Vec<u8>)> {
    let mut buf = vec![0u8; 64];
    let tcp = |control, ack: Option<u32>, psh, options| TcpRepr {
        src_port: p.sport,
        dst_port: p.dport,
        seq: SeqNumber(p.seq),
        ack: ack.map(SeqNumber),
        control,
        psh,
        window: WINDOW,
        options,
    };
    let (protocol, len) = match p.kind {
        ProbeKind::Connect => return None,
        ProbeKind::Syn => {
            // nmap's SYN carries MSS 1460 and nothing else.
            let opts = TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            };
            let r = tcp(Control::Syn, None, false, opts);
            (proto::TCP, r.emit(&mut buf, src, p.dst, 0))
        }
        ProbeKind::Fin => {
            let r = tcp(Control::Fin, None, false, TcpOptions::default());
            (proto::TCP, r.emit(&mut buf, src, p.dst, 0))
        }
        ProbeKind::Null => {
            let r = tcp(Control::None, None, false, TcpOptions::default());
            (proto::TCP, r.emit(&mut buf, src, p.dst, 0))
        }
        ProbeKind::Rst => {
            let r = tcp(Control::Rst, None, false, TcpOptions::default());
            (proto::TCP, r.emit(&mut buf, src, p.dst, 0))
        }
        ProbeKind::Ack => {
            let r = tcp(Control::None, Some(p.ack), false, TcpOptions::default());
            (proto::TCP, r.emit(&mut buf, src, p.dst, 0))
        }
        ProbeKind::Xmas => {
            // FIN, PSH and URG: TcpRepr cannot say URG (ustack never sends urgent data), so
            // the flag is added and the checksum computed again.
            let r = tcp(Control::Fin, None, true, TcpOptions::default());
            let n = r.emit(&mut buf, src, p.dst, 0);
            buf[13] |= URG;
            buf[16..18].copy_from_slice(&[0, 0]);
            let c = checksum::transport(src, p.dst, proto::TCP, &buf[..n]);
            buf[16..18].copy_from_slice(&c.to_be_bytes());
            (proto::TCP, n)
        }
        ProbeKind::Udp => (
            proto::UDP,
            udp::emit(&mut buf, src, p.dst, p.sport, p.dport, &[]),
        ),
        ProbeKind::Echo => {
            let seq = p.seq as u16;
            match (src, p.dst) {
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let t = icmpv6::types::ECHO_REQUEST;
                    let n = icmpv6::emit_echo(&mut buf, (s, d), t, (p.sport, seq), &[]);
                    (proto::ICMPV6, n)
                }
                _ => (
                    proto::ICMP,
                    icmp::emit_echo(&mut buf, false, p.sport, seq, &[]),
                ),
            }
        }
    };
    buf.truncate(len);
    Some((protocol, buf))
}

/// The whole packet of probe `p` from `src` (of the target's family); None for a connect
/// probe, or when `src` is of the other family.
pub fn probe_packet(p: &Probe, src: IpAddr) -> Option<Vec<u8>> {
    let (protocol, t) = transport(p, src)?;
    match (src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut out = vec![0u8; 20 + t.len()];
            Ipv4Repr {
                src: s,
                dst: d,
                protocol,
                ttl: PROBE_TTL,
                // Any identification will do for an unfragmented datagram (RFC 6864 §4.1).
                ident: (p.seq ^ (p.seq >> 16)) as u16,
                dont_fragment: false,
                more_fragments: false,
                frag_offset: 0,
                payload_len: t.len(),
            }
            .emit(&mut out);
            out[20..].copy_from_slice(&t);
            Some(out)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut out = vec![0u8; 40 + t.len()];
            Ipv6Repr {
                src: s,
                dst: d,
                next_header: protocol,
                hop_limit: PROBE_TTL,
                traffic_class: 0,
                flow_label: 0,
                payload_len: t.len(),
            }
            .emit(&mut out);
            out[40..].copy_from_slice(&t);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ustack::wire::ipv4::Ipv4Packet;
    use ustack::wire::ipv6::Ipv6Packet;
    use ustack::wire::tcp::TcpSegment;
    use ustack::wire::udp::UdpPacket;

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
