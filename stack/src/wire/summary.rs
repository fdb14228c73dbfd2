//! One line per packet, printed the way `tcpdump -n` prints it.

use super::icmp::{self, IcmpMessage};
use super::ipv4::Ipv4Packet;
use super::proto;
use super::udp::UdpPacket;
use core::fmt;

/// Displays raw IPv4 bytes as a tcpdump-style line, e.g.
/// `IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 64`, TCP with its
/// options as `tcpdump -n -S` prints them (absolute sequence numbers; [`Summary`] prints them
/// relative, and the checksum). Malformed packets print what is wrong with them instead.
#[derive(Clone, Copy, Debug)]
pub struct PacketSummary<'a>(pub &'a [u8]);

impl fmt::Display for PacketSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Summary::new(self.0).fmt(f)
    }
}

/// What a TCP segment's numbers are printed relative to: the conversation's initial sequence
/// numbers as tcpdump keeps them (`seq` for the sequence number, `ack` for the acknowledgment
/// number and SACK blocks); zero for absolute numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqBase {
    /// Subtracted from the sequence number.
    pub seq: u32,
    /// Subtracted from the acknowledgment number and the SACK blocks' edges.
    pub ack: u32,
}

/// [`PacketSummary`] with choices: TCP numbers relative to a [`SeqBase`] (tcpdump's default),
/// and the TCP checksum checked (`cksum 0x1c46 (correct)`, as `tcpdump -v` shows it).
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    bytes: &'a [u8],
    base: SeqBase,
    checksum: bool,
    captured: usize,
}

impl<'a> Summary<'a> {
    /// Absolute numbers, no checksum: what [`PacketSummary`] prints.
    pub fn new(bytes: &'a [u8]) -> Summary<'a> {
        Summary {
            bytes,
            base: SeqBase::default(),
            checksum: false,
            captured: bytes.len(),
        }
    }

    /// Only the first `n` bytes are real (a capture's snap length cut the rest, which reads as
    /// zeros): TCP options past them are not printed.
    pub fn captured(self, n: usize) -> Summary<'a> {
        Summary {
            captured: n,
            ..self
        }
    }

    /// TCP numbers relative to `base`.
    pub fn relative(self, base: SeqBase) -> Summary<'a> {
        Summary { base, ..self }
    }

    /// With the TCP checksum and whether it is right.
    pub fn checksum(self, on: bool) -> Summary<'a> {
        Summary {
            checksum: on,
            ..self
        }
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = match Ipv4Packet::parse(self.bytes) {
            Ok(ip) => ip,
            Err(_) if self.bytes.first().is_some_and(|b| b >> 4 == 6) => {
                return super::summary6::write(f, self.bytes, self.base, self.checksum);
            }
            Err(reason) => {
                return write!(
                    f,
                    "IP [malformed: {}] length {}",
                    reason.description(),
                    self.bytes.len()
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
            proto::TCP if payload.len() >= 20 => {
                let sum = (self.checksum && !ip.more_fragments())
                    .then(|| super::checksum::pseudo(src, dst, proto::TCP, payload));
                // Options are printed if the capture holds all of them.
                let opts_end = ip.header_bytes().len() + usize::from(payload[12] >> 4) * 4;
                let (sp, dp) = ports(payload);
                write!(f, "IP {src}.{sp} > {dst}.{dp}: ")?;
                write_tcp(f, payload, self.base, sum, opts_end <= self.captured)?;
                f.write_str(&frag)
            }
            p => write!(f, "IP {src} > {dst}: ip-proto-{p} {}{frag}", payload.len()),
        }
    }
}

/// A transport header's source and destination ports (`seg` holds at least 4 bytes).
pub(super) fn ports(seg: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([seg[0], seg[1]]),
        u16::from_be_bytes([seg[2], seg[3]]),
    )
}

/// The tcpdump line of a TCP segment from its `Flags [...]` on (`payload` holds at least the
/// 20-byte header), as print-tcp.c lays it out: the sequence numbers only on segments that
/// carry data or SYN/FIN/RST, the ack only with ACK, options at default verbosity; `sum` is the
/// checksum over the pseudo-header and segment (0 when right), when it is to be shown.
pub(super) fn write_tcp(
    f: &mut fmt::Formatter<'_>,
    payload: &[u8],
    base: SeqBase,
    sum: Option<u16>,
    show_options: bool,
) -> fmt::Result {
    let be16 = |i: usize| u16::from_be_bytes([payload[i], payload[i + 1]]);
    let be32 =
        |i: usize| u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]]);
    let (win, urg) = (be16(14), be16(18));
    let seq = be32(4).wrapping_sub(base.seq);
    let ack = be32(8).wrapping_sub(base.ack);
    let off = usize::from(payload[12] >> 4) * 4;
    let flags = payload[13];
    let mut fl = String::new();
    for (bit, c) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if flags & bit != 0 {
            fl.push(c);
        }
    }
    if flags & 0x10 != 0 {
        fl.push('.');
    }
    let dlen = payload.len().saturating_sub(off);
    write!(f, "Flags [{fl}]")?;
    if let Some(sum) = sum {
        let got = be16(16);
        if sum == 0 {
            write!(f, ", cksum 0x{got:04x} (correct)")?;
        } else {
            // The right value: the field's complement taken back out of the sum (RFC 1071
            // one's-complement arithmetic, end-around carry).
            let s = u32::from(!sum) + u32::from(!got);
            let want = !(((s & 0xffff) + (s >> 16)) as u16);
            write!(f, ", cksum 0x{got:04x} (incorrect -> 0x{want:04x})")?;
        }
    }
    if dlen > 0 || flags & 0x07 != 0 {
        write!(f, ", seq {seq}")?;
        if dlen > 0 {
            write!(f, ":{}", seq.wrapping_add(dlen as u32))?;
        }
    }
    if flags & 0x10 != 0 {
        write!(f, ", ack {ack}")?;
    }
    write!(f, ", win {win}")?;
    if flags & 0x20 != 0 {
        write!(f, ", urg {urg}")?;
    }
    if show_options && off > super::tcp::HEADER_LEN && payload.len() >= off {
        write_options(f, &payload[super::tcp::HEADER_LEN..off], base.ack)?;
    }
    write!(f, ", length {dlen}")
}

/// `, options [mss 1460,sackOK,...]`, SACK edges relative to `ack_base` as tcpdump prints them.
fn write_options(f: &mut fmt::Formatter<'_>, area: &[u8], ack_base: u32) -> fmt::Result {
    f.write_str(", options [")?;
    for (i, o) in super::tcp::options(area).enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        match o {
            super::tcp::TcpOption::Sack(b) if ack_base != 0 => {
                write!(f, "sack {} ", b.len() / 8)?;
                for e in b.chunks_exact(8) {
                    let s = u32::from_be_bytes([e[0], e[1], e[2], e[3]]).wrapping_sub(ack_base);
                    let t = u32::from_be_bytes([e[4], e[5], e[6], e[7]]).wrapping_sub(ack_base);
                    write!(f, "{{{s}:{t}}}")?;
                }
            }
            o => write!(f, "{o}")?,
        }
    }
    f.write_str("]")
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

    fn tcp(seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> Vec<u8> {
        let off = 20 + opts.len();
        let mut t = vec![0u8; off];
        t[0..2].copy_from_slice(&47930u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = ((off / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&502u16.to_be_bytes());
        t[20..].copy_from_slice(opts);
        t.extend_from_slice(data);
        let c = crate::wire::checksum::pseudo(A, B, 6, &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        ip(6, &t, false, 0)
    }

    #[test]
    fn tcp_lines_as_tcpdump_lays_them_out() {
        let syn = tcp(1000, 0, 0x02, &[2, 4, 5, 0xb4, 4, 2, 1, 1], b"");
        assert_eq!(
            PacketSummary(&syn).to_string(),
            "IP 198.18.0.1.47930 > 198.18.0.2.80: Flags [S], seq 1000, win 502, options [mss 1460,sackOK,nop,nop], length 0"
        );
        // Data, relative to the handshake; SACK edges relative to the ack base.
        let sack = [1, 1, 5, 10, 0, 0, 0x0b, 0xb8, 0, 0, 0x0f, 0xa0];
        let data = tcp(1001, 5001, 0x18, &sack, b"GET / HTTP/1.1\r\n");
        let base = SeqBase {
            seq: 1000,
            ack: 2000,
        };
        assert_eq!(
            Summary::new(&data).relative(base).to_string(),
            "IP 198.18.0.1.47930 > 198.18.0.2.80: Flags [P.], seq 1:17, ack 3001, win 502, options [nop,nop,sack 1 {1000:2000}], length 16"
        );
        // A pure ACK has no seq; -v shows the checksum.
        let ack = tcp(1017, 5001, 0x10, &[], b"");
        assert_eq!(
            Summary::new(&ack).relative(base).checksum(true).to_string(),
            "IP 198.18.0.1.47930 > 198.18.0.2.80: Flags [.], cksum 0x4eaa (correct), ack 3001, win 502, length 0"
        );
        let mut bad = ack.clone();
        bad[36] ^= 0xff;
        let line = Summary::new(&bad).checksum(true).to_string();
        assert!(
            line.contains("cksum 0xb1aa (incorrect -> 0x4eaa)"),
            "{line}"
        );
    }
}
