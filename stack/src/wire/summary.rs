//! One line per packet, printed the way `tcpdump -n` prints it.

use super::icmp::{self, IcmpMessage};
use super::ipv4::Ipv4Packet;
use super::proto;
use super::udp::UdpPacket;
use core::fmt;

/// Displays raw IPv4 bytes as a tcpdump-style line, e.g.
/// `IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 64`.
/// Malformed packets print what is wrong with them instead.
#[derive(Clone, Copy, Debug)]
pub struct PacketSummary<'a>(pub &'a [u8]);

impl fmt::Display for PacketSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = match Ipv4Packet::parse(self.0) {
            Ok(ip) => ip,
            Err(_) if self.0.first().is_some_and(|b| b >> 4 == 6) => {
                return write!(f, "IP6 (not handled by ustack), length {}", self.0.len());
            }
            Err(reason) => {
                return write!(
                    f,
                    "IP [malformed: {}] length {}",
                    reason.description(),
                    self.0.len()
                )
            }
        };
        let (src, dst, payload) = (ip.src(), ip.dst(), ip.payload());
        let frag = if ip.is_fragment() {
            format!(
                " (frag {}:{}@{}{})",
                ip.ident(),
                payload.len(),
                ip.frag_offset(),
                if ip.more_fragments() { "+" } else { "" }
            )
        } else {
            String::new()
        };
        if ip.frag_offset() != 0 {
            // tcpdump cannot decode a non-initial fragment either.
            return write!(f, "IP {src} > {dst}: ip-proto-{}{frag}", ip.protocol());
        }
        match ip.protocol() {
            proto::ICMP if !ip.more_fragments() => match IcmpMessage::parse(payload) {
                Ok(m) => write!(
                    f,
                    "IP {src} > {dst}: ICMP {}{frag}",
                    IcmpText(m, payload.len())
                ),
                Err(r) => write!(f, "IP {src} > {dst}: ICMP [{}]{frag}", r.description()),
            },
            proto::ICMP => {
                // A first fragment: the checksum cannot be verified yet, but the header can be read.
                match (payload.first(), payload.get(4..8)) {
                    (Some(&t @ (icmp::types::ECHO_REQUEST | icmp::types::ECHO_REPLY)), Some(r)) => {
                        let what = if t == icmp::types::ECHO_REQUEST {
                            "request"
                        } else {
                            "reply"
                        };
                        let ident = u16::from_be_bytes([r[0], r[1]]);
                        let seq = u16::from_be_bytes([r[2], r[3]]);
                        write!(
                            f,
                            "IP {src} > {dst}: ICMP echo {what}, id {ident}, seq {seq}{frag}"
                        )
                    }
                    (Some(t), _) => write!(f, "IP {src} > {dst}: ICMP type {t}{frag}"),
                    (None, _) => write!(f, "IP {src} > {dst}: ICMP{frag}"),
                }
            }
            proto::UDP if payload.len() >= 8 => {
                let sp = u16::from_be_bytes([payload[0], payload[1]]);
                let dp = u16::from_be_bytes([payload[2], payload[3]]);
                let len = u16::from_be_bytes([payload[4], payload[5]]).saturating_sub(8);
                let bad = if !ip.more_fragments() && UdpPacket::parse(src, dst, payload).is_err() {
                    " [bad udp]"
                } else {
                    ""
                };
                write!(
                    f,
                    "IP {src}.{sp} > {dst}.{dp}: UDP, length {len}{bad}{frag}"
                )
            }
            proto::TCP if payload.len() >= 20 => write_tcp(f, src, dst, payload, &frag),
            p => write!(f, "IP {src} > {dst}: ip-proto-{p} {}{frag}", payload.len()),
        }
    }
}

/// The tcpdump line of a TCP segment (`payload` holds at least the 20-byte header).
fn write_tcp(
    f: &mut fmt::Formatter<'_>,
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    payload: &[u8],
    frag: &str,
) -> fmt::Result {
    let sp = u16::from_be_bytes([payload[0], payload[1]]);
    let dp = u16::from_be_bytes([payload[2], payload[3]]);
    let seq = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
    let ack = u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]);
    let off = usize::from(payload[12] >> 4) * 4;
    let flags = payload[13];
    let win = u16::from_be_bytes([payload[14], payload[15]]);
    let mut fl = String::new();
    for (bit, c) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x20, 'U'),
    ] {
        if flags & bit != 0 {
            fl.push(c);
        }
    }
    if flags & 0x10 != 0 {
        fl.push('.');
    }
    let dlen = payload.len().saturating_sub(off);
    write!(f, "IP {src}.{sp} > {dst}.{dp}: Flags [{fl}], seq {seq}")?;
    if dlen > 0 {
        write!(f, ":{}", seq.wrapping_add(dlen as u32))?;
    }
    if flags & 0x10 != 0 {
        write!(f, ", ack {ack}")?;
    }
    write!(f, ", win {win}, length {dlen}{frag}")
}

struct IcmpText<'a>(IcmpMessage<'a>, usize);

impl fmt::Display for IcmpText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.1;
        match self.0 {
            IcmpMessage::EchoRequest { ident, seq, .. } => {
                write!(f, "echo request, id {ident}, seq {seq}, length {len}")
            }
            IcmpMessage::EchoReply { ident, seq, .. } => {
                write!(f, "echo reply, id {ident}, seq {seq}, length {len}")
            }
            IcmpMessage::TimestampRequest { ident, seq, .. } => {
                write!(f, "time stamp query id {ident} seq {seq}, length {len}")
            }
            IcmpMessage::Error {
                icmp_type,
                code,
                quote,
                ..
            } => {
                let what = match (icmp_type, code) {
                    (icmp::types::DEST_UNREACHABLE, icmp::unreach::PROTOCOL) => {
                        "protocol unreachable"
                    }
                    (icmp::types::DEST_UNREACHABLE, icmp::unreach::PORT) => "port unreachable",
                    (icmp::types::DEST_UNREACHABLE, icmp::unreach::FRAG_NEEDED) => {
                        "unreachable - need to frag"
                    }
                    (icmp::types::DEST_UNREACHABLE, _) => "unreachable",
                    (icmp::types::TIME_EXCEEDED, 0) => "time exceeded in-transit",
                    (icmp::types::TIME_EXCEEDED, _) => "ip reassembly time exceeded",
                    (icmp::types::PARAMETER_PROBLEM, _) => "parameter problem",
                    (icmp::types::REDIRECT, _) => "redirect",
                    _ => "source quench",
                };
                write!(
                    f,
                    "{what} (type {icmp_type} code {code}), quoting {} bytes, length {len}",
                    quote.len()
                )
            }
            IcmpMessage::Other { icmp_type, code } => {
                write!(f, "type {icmp_type}, code {code}, length {len}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN};
    use crate::wire::{icmp, udp};
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn ip(protocol: u8, body: &[u8], mf: bool, off: usize) -> Vec<u8> {
        let mut buf = vec![0; HEADER_LEN + body.len()];
        buf[HEADER_LEN..].copy_from_slice(body);
        Ipv4Repr {
            src: A,
            dst: B,
            protocol,
            ttl: 64,
            ident: 99,
            dont_fragment: false,
            more_fragments: mf,
            frag_offset: off,
            payload_len: body.len(),
        }
        .emit(&mut buf);
        buf
    }

    #[test]
    fn prints_like_tcpdump() {
        let mut m = [0u8; 72];
        let n = icmp::emit_echo(&mut m, false, 7, 1, &[0; 56]);
        assert_eq!(
            PacketSummary(&ip(1, &m[..n], false, 0)).to_string(),
            "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 64"
        );
        let n = udp::emit(&mut m, A, B, 5353, 7, b"hi");
        assert_eq!(
            PacketSummary(&ip(17, &m[..n], false, 0)).to_string(),
            "IP 198.18.0.1.5353 > 198.18.0.2.7: UDP, length 2"
        );
        assert_eq!(
            PacketSummary(&ip(17, &[0; 16], true, 1480)).to_string(),
            "IP 198.18.0.1 > 198.18.0.2: ip-proto-17 (frag 99:16@1480+)"
        );
        assert!(PacketSummary(&[0x45, 0]).to_string().contains("malformed"));
    }
}
