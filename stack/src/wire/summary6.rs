//! IPv6 packets as `tcpdump -n` prints them (print-ip6.c, print-icmp6.c): `IP6 src.port >
//! dst.port: …` for TCP and UDP right after the fixed header; with extension headers, the
//! addresses alone, the headers named (`HBH`, `DSTOPT`, `RT6 (…)`, `frag (offset|length)`) and
//! the ports after them; ICMPv6 messages in tcpdump's words, its quirks included (a test prints
//! the same packets with both).

use super::ipv6::{next, Ipv6Packet, HEADER_LEN, MAX_EXT_HEADERS};
use super::summary::{ports, write_tcp, SeqBase};
use super::{checksum, proto};
use crate::DropReason;
use core::fmt;
use std::net::Ipv6Addr;

fn addr(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default())
}

/// Writes the line of IPv6 packet `bytes` (TCP numbers relative to `base`, the TCP checksum
/// judged with `checksum`).
pub(super) fn write(
    f: &mut fmt::Formatter<'_>,
    bytes: &[u8],
    base: SeqBase,
    checksum: bool,
) -> fmt::Result {
    let p = match Ipv6Packet::read(bytes) {
        Ok(p) => p,
        Err(DropReason::Ipv6Truncated) => {
            // tcpdump says how much is missing, then prints what is there.
            let declared = HEADER_LEN + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
            write!(
                f,
                "IP6 truncated-ip6 - {} bytes missing!",
                declared - bytes.len()
            )?;
            let mut whole = bytes.to_vec();
            whole.resize(declared, 0);
            let mut line = String::new();
            // The zeros stand for the missing bytes only in lengths: a header among them
            // reads as zeros, as a cut capture does (`Summary::captured`).
            let _ = fmt::write(&mut line, format_args!("{}", Line(&whole, base, checksum)));
            return f.write_str(line.strip_prefix("IP6 ").unwrap_or(&line));
        }
        Err(r) => {
            return write!(
                f,
                "IP6 [malformed: {}] length {}",
                r.description(),
                bytes.len()
            )
        }
    };
    let (src, dst, b) = (p.src(), p.dst(), p.bytes());
    let (mut nh, mut at) = (p.next_header(), HEADER_LEN);
    let mut prefix = String::new();
    for _ in 0..MAX_EXT_HEADERS {
        let len = b.get(at + 1).map(|&l| (usize::from(l) + 1) * 8);
        match nh {
            next::HOP_BY_HOP | next::DEST_OPTS | next::ROUTING => {
                let Some(len) = len.filter(|l| at + l <= b.len()) else {
                    return write!(f, "IP6 {src} > {dst}: {prefix}[|ip6]");
                };
                match nh {
                    next::HOP_BY_HOP => prefix.push_str("HBH "),
                    next::DEST_OPTS => prefix.push_str("DSTOPT "),
                    _ => routing(&mut prefix, &b[at..at + len]),
                }
                (nh, at) = (b[at], at + len);
            }
            next::FRAGMENT => {
                let Some(h) = b.get(at..at + 8) else {
                    return write!(f, "IP6 {src} > {dst}: {prefix}[|frag]");
                };
                let off = u16::from_be_bytes([h[2], h[3]]) & 0xfff8;
                prefix.push_str(&format!("frag ({off}|{}) ", b.len() - at - 8));
                if off != 0 {
                    return write!(f, "IP6 {src} > {dst}: {}", prefix.trim_end());
                }
                (nh, at) = (h[0], at + 8);
            }
            _ => break,
        }
    }
    let seg = &b[at..];
    let ext = !prefix.is_empty();
    match nh {
        proto::TCP | proto::UDP if seg.len() >= if nh == proto::TCP { 20 } else { 8 } => {
            let (sp, dp) = ports(seg);
            if ext {
                write!(f, "IP6 {src} > {dst}: {prefix}{sp} > {dp}: ")?;
            } else {
                write!(f, "IP6 {src}.{sp} > {dst}.{dp}: ")?;
            }
            if nh == proto::UDP {
                let len = u16::from_be_bytes([seg[4], seg[5]]).saturating_sub(8);
                return write!(f, "UDP, length {len}");
            }
            let sum = checksum.then(|| checksum::pseudo6(src, dst, proto::TCP, seg));
            write_tcp(f, seg, base, sum, true)
        }
        next::ICMPV6 => {
            write!(f, "IP6 {src} > {dst}: {prefix}ICMP6, ")?;
            icmp6(f, seg)
        }
        next::NONE => write!(f, "IP6 {src} > {dst}: {prefix}no next header"),
        n => write!(f, "IP6 {src} > {dst}: {prefix} ip-proto-{n} {}", seg.len()),
    }
}

/// A whole IPv6 packet's line, for the truncated case.
struct Line<'a>(&'a [u8], SeqBase, bool);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0, self.1, self.2)
    }
}

/// `RT6 (len=2, type=0 [Deprecated], segleft=1, [0]2001:2::2) `.
fn routing(out: &mut String, h: &[u8]) {
    let (t, left) = (h[2], h[3]);
    out.push_str(&format!("RT6 (len={}, type={t}", h[1]));
    if t == 0 {
        out.push_str(" [Deprecated]");
    }
    out.push_str(&format!(", segleft={left}"));
    if t == 0 {
        for (i, a) in h[8..].chunks_exact(16).enumerate() {
            out.push_str(&format!(", [{i}]{}", addr(a)));
        }
    }
    out.push_str(") ");
}

/// The ICMPv6 message `m` after `ICMP6, `.
fn icmp6(f: &mut fmt::Formatter<'_>, m: &[u8]) -> fmt::Result {
    let len = m.len();
    if len < 8 {
        return write!(f, "[|icmp6]");
    }
    let (t, code) = (m[0], m[1]);
    let w16 = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]);
    let word = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
    let at = |i: usize| m.get(i..i + 16).map(addr);
    // The quoted packet's destination (and source), behind the error's 8 bytes.
    let quoted_dst = || at(8 + 24).map_or("[|icmp6]".to_string(), |a| a.to_string());
    match t {
        128 | 129 => {
            let what = if t == 128 { "request" } else { "reply" };
            write!(f, "echo {what}, id {}, seq {}", w16(4), w16(6))?;
        }
        133 => f.write_str("router solicitation")?,
        134 => f.write_str("router advertisement")?,
        135 | 136 => {
            let target = at(8).map_or("[|icmp6]".to_string(), |a| a.to_string());
            if t == 135 {
                write!(f, "neighbor solicitation, who has {target}")?;
            } else {
                write!(f, "neighbor advertisement, tgt is {target}")?;
            }
        }
        137 => {
            let (target, dest) = (at(8), at(24));
            match (target, dest) {
                (Some(t), Some(d)) => write!(f, "redirect, {d} to {t}")?,
                _ => f.write_str("redirect")?,
            }
        }
        143 => write!(
            f,
            "multicast listener report v2, {} group record(s)",
            w16(6)
        )?,
        130..=132 if len == 24 => {
            let what = ["query", "report", "done"][usize::from(t - 130)];
            let group = at(8).map_or(String::new(), |a| a.to_string());
            write!(
                f,
                "multicast listener {what}max resp delay: {} addr: {group}",
                w16(4)
            )?;
        }
        2 => write!(f, "packet too big, mtu {word}")?,
        1 => {
            f.write_str("destination unreachable, ")?;
            let q = &m[8..];
            match code {
                0 => write!(f, "unreachable route {}", quoted_dst())?,
                1 => write!(f, " unreachable prohibited {}", quoted_dst())?,
                2 => {
                    let src = at(8 + 8).map_or(String::new(), |a| a.to_string());
                    write!(f, "beyond scope {}, source address {src}", quoted_dst())?;
                }
                3 => write!(f, "unreachable address {}", quoted_dst())?,
                4 => {
                    write!(f, "unreachable port, {}", quoted_dst())?;
                    let (nh, l4) = (q.get(6).copied(), q.get(HEADER_LEN..HEADER_LEN + 4));
                    if let (Some(nh @ (proto::TCP | proto::UDP)), Some(l4)) = (nh, l4) {
                        let name = if nh == proto::TCP { "tcp" } else { "udp" };
                        write!(f, " {name} port {}", ports(l4).1)?;
                    }
                }
                c => return write!(f, "unknown unreach code ({c})"),
            }
        }
        3 => match code {
            0 => write!(f, "time exceeded in-transit for {}", quoted_dst())?,
            1 => f.write_str("time exceeded in-transit (reassembly)")?,
            c => write!(f, "time exceeded in-transit, unknown code ({c})")?,
        },
        4 => {
            f.write_str("parameter problem, ")?;
            match code {
                0 => write!(f, "erroneous - octet {word}")?,
                1 => write!(f, "next header - octet {word}")?,
                2 => write!(f, "option - octet {word}")?,
                3 => write!(f, "incomplete header chain - octet {word}")?,
                c => write!(f, "code-#{c}")?,
            }
        }
        200 => f.write_str("mtrace response")?,
        201 => f.write_str("mtrace")?,
        t => write!(f, "unknown icmp6 type ({t})")?,
    }
    write!(f, ", length {len}")
}
