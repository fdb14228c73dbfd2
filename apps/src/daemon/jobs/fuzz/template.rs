//! The template language: a scapy-like expression parsed into a [`Packet`] —
//! `ip(dst=198.18.0.1,ttl=3)/tcp(dport=80,flags=S)/raw(len=20)` — or a packet's bytes (from a
//! pcap file) parsed back into layers so that its fields can be located and fuzzed.
//!
//! Layers: `ip` (`ipv4`), `ip6` (`ipv6`), `tcp`, `udp`, `icmp`, `icmp6` (`icmpv6`), `raw`;
//! `()` may be left out. Every field of [`super::fields::FIELDS`] is settable by name, plus
//! `src` and `dst` on `ip`/`ip6`, and on `raw` `len=N` (N zero bytes), `load=HEX` or
//! `text=WORD`. Numbers are decimal or `0x` hex; `tcp.flags` takes letters too (`SA`, `FPU`,
//! scapy's); `df`, `mf` and `reserved_bit` take 0/1/true/false; `ip.frag_offset` is in bytes (a
//! multiple of 8), as the builder takes it. An error names the column (1-based) where the
//! problem is.

use super::fields::{self, Kind};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use ustack::wire::build::{tcp_flags, Ipv4, Ipv6, Layer, Packet, Raw, Tcp, TcpOpt, Udp};

/// Longest `raw(len=N)`.
pub const MAX_RAW: usize = 65_535;

/// Why a template could not be parsed: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Column (1-based, in characters) of the offending text.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for TemplateError {}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        column,
        message: message.into(),
    })
}

/// A cursor over the expression (byte positions; columns are counted in characters).
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn column(&self, pos: usize) -> usize {
        self.text[..pos.min(self.text.len())].chars().count() + 1
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.text[self.pos..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// A run of characters up to one of `stops` (trimmed), and where it started.
    fn until(&mut self, stops: &[char]) -> (usize, &'a str) {
        self.skip_ws();
        let start = self.pos;
        let text: &'a str = self.text;
        let rest = &text[start..];
        let len = rest.find(|c| stops.contains(&c)).unwrap_or(rest.len());
        self.pos += len;
        (start, rest[..len].trim_end())
    }
}

/// Parses a template expression into a packet (see the module docs).
pub fn parse(text: &str) -> Result<Packet, TemplateError> {
    let mut c = Cursor { text, pos: 0 };
    let mut packet = Packet::new();
    loop {
        let (at, mut name) = c.until(&['(', '/', ')', ',']);
        if let Some(i) = name.find(char::is_whitespace) {
            // `ip tcp`: the layer is `ip`; the next word is where a `/` was wanted.
            name = &name[..i];
            c.pos = at + i;
        }
        if name.is_empty() {
            return err(
                c.column(at),
                "expected a layer (ip, ip6, tcp, udp, icmp, icmp6, raw)",
            );
        }
        let Some(kind) = Kind::parse(name) else {
            return err(
                c.column(at),
                format!("unknown layer `{name}` (ip, ip6, tcp, udp, icmp, icmp6, raw)"),
            );
        };
        let mut layer = kind.layer();
        if c.eat('(') && !c.eat(')') {
            loop {
                arg(&mut c, kind, &mut layer)?;
                if c.eat(')') {
                    break;
                }
                if !c.eat(',') {
                    return err(c.column(c.pos), "expected `,` or `)`");
                }
            }
        }
        packet = packet.push(layer);
        c.skip_ws();
        if c.pos == text.len() {
            return Ok(packet);
        }
        if !c.eat('/') {
            return err(c.column(c.pos), "expected `/` between layers");
        }
    }
}

/// One `name=value` of a layer.
fn arg(c: &mut Cursor<'_>, kind: Kind, layer: &mut Layer) -> Result<(), TemplateError> {
    let (at, name) = c.until(&['=', ',', ')', '/']);
    let name = name.to_string();
    if !c.eat('=') {
        return err(c.column(c.pos), format!("expected `=` after `{name}`"));
    }
    let (vat, value) = c.until(&[',', ')']);
    let col = c.column(vat);
    if value.is_empty() {
        return err(col, format!("`{name}` has no value"));
    }
    if let Some(new) = special(layer, &name, value).map_err(|m| TemplateError {
        column: col,
        message: m,
    })? {
        *layer = new;
        return Ok(());
    }
    let Some(field) = fields::find(kind, &name) else {
        return err(
            c.column(at),
            format!(
                "unknown field `{name}` of {} (fields: {})",
                kind.name(),
                fields::names(kind)
            ),
        );
    };
    let v = if (kind, field.name) == (Kind::Tcp, "flags") && !value.starts_with(char::is_numeric) {
        u64::from(tcp_flags(value).map_err(|e| TemplateError {
            column: col,
            message: e.reason,
        })?)
    } else {
        number(value).ok_or_else(|| TemplateError {
            column: col,
            message: format!("`{value}` is not a number"),
        })?
    };
    let v = if field.name == "frag_offset" {
        if !v.is_multiple_of(8) {
            return err(col, format!("frag_offset {v} is not a multiple of 8 bytes"));
        }
        v / 8
    } else {
        v
    };
    if field.bits < 64 && v >> field.bits != 0 {
        return err(
            col,
            format!(
                "{value} does not fit in {}.{} ({} bits)",
                kind.name(),
                name,
                field.bits
            ),
        );
    }
    fields::set(layer, field, v);
    Ok(())
}

/// The arguments that are not numbers: addresses and raw payloads. `Ok(None)`: not one of them.
fn special(layer: &Layer, name: &str, value: &str) -> Result<Option<Layer>, String> {
    let bad = |what: &str| format!("`{value}` is not {what}");
    Ok(Some(match (layer, name) {
        (Layer::Ipv4(ip), "src" | "dst") => {
            let a: Ipv4Addr = value.parse().map_err(|_| bad("an IPv4 address"))?;
            let ip = ip.clone();
            Layer::Ipv4(if name == "src" { ip.src(a) } else { ip.dst(a) })
        }
        (Layer::Ipv6(ip), "src" | "dst") => {
            let a: Ipv6Addr = value.parse().map_err(|_| bad("an IPv6 address"))?;
            let ip = ip.clone();
            Layer::Ipv6(if name == "src" { ip.src(a) } else { ip.dst(a) })
        }
        (Layer::Raw(_), "len") => {
            let n = number(value)
                .filter(|n| *n as usize <= MAX_RAW)
                .ok_or_else(|| bad(&format!("a length up to {MAX_RAW}")))?;
            Layer::Raw(Raw(vec![0; n as usize]))
        }
        (Layer::Raw(_), "load") => {
            let b = crate::daemon::proto::from_hex(value).ok_or_else(|| bad("hex bytes"))?;
            Layer::Raw(Raw(b))
        }
        (Layer::Raw(_), "text") => Layer::Raw(Raw(value.as_bytes().to_vec())),
        _ => return Ok(None),
    }))
}

/// Decimal or `0x` hex; `true`/`false` as 1/0.
fn number(s: &str) -> Option<u64> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(1),
        "false" => Some(0),
        l => match l.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => l.parse().ok(),
        },
    }
}

/// A packet's bytes as layers: the IPv4 or IPv6 header with every field as captured except
/// the computed ones (lengths, checksums, the protocol), which the builder recomputes; then
/// TCP, UDP, ICMP or ICMPv6 (an unfragmented first fragment only) the same way; what is left,
/// IPv4 options, TCP options and anything not parsed are carried as bytes. A first nibble other
/// than 6 is read as IPv4 with that version (a fuzzed packet's); `None` for fewer bytes than
/// the fixed header.
pub fn from_bytes(p: &[u8]) -> Option<Packet> {
    let (ip, proto, rest) = match p.first()? >> 4 {
        6 => {
            let (ip, proto, rest) = ipv6(p)?;
            (Layer::Ipv6(ip), proto, rest)
        }
        // Another version (a fuzzed packet's): read as IPv4, its version kept.
        _ => {
            let (ip, proto, rest) = ipv4(p)?;
            (Layer::Ipv4(ip), proto, rest)
        }
    };
    let mut packet = Packet::from(ip);
    let rest = match (proto, rest.len()) {
        (Some(6), n) if n >= 20 => {
            let off = usize::from(rest[12] >> 4) * 4;
            let off = off.clamp(20, n);
            let w = |i: usize| u16::from_be_bytes([rest[i], rest[i + 1]]);
            let d = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
            let mut t = Tcp::new()
                .sport(w(0))
                .dport(w(2))
                .seq(d(4))
                .ack(d(8))
                .reserved(rest[12] & 0x0f)
                .flags(rest[13])
                .window(w(14))
                .urg_ptr(w(18));
            if off > 20 {
                t = t.options([TcpOpt::Bytes(rest[20..off].to_vec())]);
            }
            packet = packet.push(t);
            &rest[off..]
        }
        (Some(17), n) if n >= 8 => {
            let w = |i: usize| u16::from_be_bytes([rest[i], rest[i + 1]]);
            packet = packet.push(Udp::new().sport(w(0)).dport(w(2)));
            &rest[8..]
        }
        (Some(1), n) if n >= 8 => {
            let mut r = [0; 4];
            r.copy_from_slice(&rest[4..8]);
            let i = ustack::wire::build::Icmp::new()
                .icmp_type(rest[0])
                .code(rest[1])
                .rest(r);
            packet = packet.push(i);
            &rest[8..]
        }
        (Some(58), n) if n >= 8 => {
            let mut r = [0; 4];
            r.copy_from_slice(&rest[4..8]);
            let i = ustack::wire::build::Icmpv6::new()
                .icmp_type(rest[0])
                .code(rest[1])
                .rest(r);
            packet = packet.push(i);
            &rest[8..]
        }
        _ => rest,
    };
    if !rest.is_empty() {
        packet = packet.push(Raw(rest.to_vec()));
    }
    Some(packet)
}

/// The IPv4 header of `p` as a builder, the transport protocol when this is a first (or only)
/// fragment, and the bytes after the header up to Total Length.
fn ipv4(p: &[u8]) -> Option<(Ipv4, Option<u8>, &[u8])> {
    if p.len() < 20 {
        return None;
    }
    let ihl = (usize::from(p[0] & 0x0f) * 4).clamp(20, p.len());
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
    let frag = u16::from_be_bytes([p[6], p[7]]);
    let offset = usize::from(frag & 0x1fff) * 8;
    let mf = frag & 0x2000 != 0;
    let mut ip = Ipv4::new()
        .version(p[0] >> 4)
        .tos(p[1])
        .ident(u16::from_be_bytes([p[4], p[5]]))
        .reserved_bit(frag & 0x8000 != 0)
        .df(frag & 0x4000 != 0)
        .mf(mf)
        .frag_offset(offset)
        .ttl(p[8])
        .src(Ipv4Addr::new(p[12], p[13], p[14], p[15]))
        .dst(Ipv4Addr::new(p[16], p[17], p[18], p[19]));
    if ihl > 20 {
        ip = ip.options(p[20..ihl].to_vec());
    }
    let whole = offset == 0 && !mf;
    let proto = if whole { Some(p[9]) } else { None };
    if proto.is_none() {
        ip = ip.protocol(p[9]);
    }
    Some((ip, proto, &p[ihl..total]))
}

/// The IPv6 fixed header of `p` as a builder, its Next Header and the payload.
fn ipv6(p: &[u8]) -> Option<(Ipv6, Option<u8>, &[u8])> {
    if p.len() < 40 {
        return None;
    }
    let mut src = [0; 16];
    src.copy_from_slice(&p[8..24]);
    let mut dst = [0; 16];
    dst.copy_from_slice(&p[24..40]);
    let flow = u32::from_be_bytes([0, p[1] & 0x0f, p[2], p[3]]);
    let len = usize::from(u16::from_be_bytes([p[4], p[5]])).min(p.len() - 40);
    let ip = Ipv6::new()
        .version(p[0] >> 4)
        .traffic_class((p[0] << 4) | (p[1] >> 4))
        .flow_label(flow)
        .hop_limit(p[7])
        .src(Ipv6Addr::from(src))
        .dst(Ipv6Addr::from(dst));
    let next = p[6];
    let ip = if matches!(next, 6 | 17 | 58) {
        ip
    } else {
        ip.next_header(next)
    };
    Some((ip, Some(next), &p[40..40 + len]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ustack::wire::build::Icmp;

    #[test]
    fn expressions_build_what_the_builder_builds() {
        let p = parse("ip(dst=198.18.0.1,ttl=3)/tcp(dport=80,flags=S)/raw(len=20)").unwrap();
        let want = Ipv4::new().dst([198, 18, 0, 1]).ttl(3)
            / Tcp::new().dport(80).flags(0x02)
            / Raw(vec![0; 20]);
        assert_eq!(p, want);
        let p = parse(" IP ( ttl = 0x10 ) / udp / raw(text=hi)").unwrap();
        assert_eq!(p, Ipv4::new().ttl(16) / Udp::new() / Raw(b"hi".to_vec()));
        let p = parse("ip(df=true,mf=1,frag_offset=16)/icmp(type=8,id=7,seq=1)").unwrap();
        assert_eq!(
            p,
            Ipv4::new().df(true).mf(true).frag_offset(16) / Icmp::echo_request(7, 1)
        );
        let p = parse("ip6(dst=2001:2::1,hop_limit=9)/icmp6()").unwrap();
        assert_eq!(
            p.destination(),
            Some("2001:2::1".parse::<std::net::IpAddr>().unwrap())
        );
        p.build().unwrap();
        assert_eq!(
            parse("tcp(flags=SA)").unwrap(),
            Packet::from(Tcp::new().flags(0x12))
        );
        assert_eq!(
            parse("tcp(flags=18)").unwrap(),
            Packet::from(Tcp::new().flags(0x12))
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = |t: &str| parse(t).unwrap_err();
        assert_eq!(e("ip(tll=3)").column, 4);
        assert!(e("ip(tll=3)").message.contains("unknown field `tll` of ip"));
        assert_eq!(e("ip/tcq").column, 4);
        assert_eq!(e("ip(ttl=300)").column, 8);
        assert!(
            e("ip(ttl=300)").message.contains("8 bits"),
            "{}",
            e("ip(ttl=300)")
        );
        assert_eq!(e("ip(dst=1.2.3)").column, 8);
        assert_eq!(e("ip(ttl=3 tcp").column, 8);
        assert_eq!(e("ip tcp").column, 4);
        assert_eq!(e("ip(ttl)").column, 7);
        assert_eq!(e("tcp(flags=Q)").column, 11);
        assert_eq!(e("").column, 1);
        assert_eq!(e("ip/").column, 4);
        assert_eq!(e("ip(frag_offset=3)").column, 16);
        assert!(e("raw(len=70000)").message.contains("65535"));
    }

    #[test]
    fn bytes_parse_back_into_the_same_packet() {
        let packets = [
            Ipv4::new()
                .src([198, 18, 0, 2])
                .dst([198, 18, 0, 1])
                .ttl(9)
                .ident(77)
                .df(true)
                / Tcp::new()
                    .sport(1234)
                    .dport(80)
                    .seq(5)
                    .ack(6)
                    .flags(0x18)
                    .window(99)
                / Raw(b"data".to_vec()),
            Ipv4::new().src([1, 2, 3, 4]).dst([5, 6, 7, 8]) / Udp::new().dport(7) / "x",
            Ipv4::new().src([1, 2, 3, 4]).dst([5, 6, 7, 8]) / Icmp::echo_request(3, 4),
            Ipv4::new().src([1, 2, 3, 4]).dst([5, 6, 7, 8]).mf(true) / Raw(vec![1; 16]),
            Ipv6::new()
                .src([0x2001, 2, 0, 0, 0, 0, 0, 2])
                .dst([0x2001, 2, 0, 0, 0, 0, 0, 1])
                / ustack::wire::build::Icmpv6::echo_request(1, 2)
                / "p",
        ];
        for p in packets {
            let bytes = p.build().unwrap();
            let back = from_bytes(&bytes).unwrap();
            assert_eq!(back.build().unwrap(), bytes, "{p}");
        }
        // A fuzzed version is kept: the packet comes back byte for byte.
        let odd = (Ipv4::new().version(5).src([1, 2, 3, 4]) / Udp::new())
            .build()
            .unwrap();
        assert_eq!(from_bytes(&odd).unwrap().build().unwrap(), odd);
        assert!(from_bytes(&[0x45; 10]).is_none());
        assert!(from_bytes(&[0x65; 30]).is_none());
    }
}
