//! The lines a capture prints: tcpdump's `-n` one-liner (the stack's [`Summary`]) behind a
//! `HH:MM:SS.uuuuuu` timestamp and an `in`/`out` marker — TCP numbers relative to each
//! conversation's first ones ([`SeqTracker`], `-S` absolute), options shown, an HTTP hint on
//! port 80 —; with `-v` the IPv4 header fields (tos, ttl, id, offset, flags, proto, length,
//! header checksum) and the TCP/UDP checksums, as `tcpdump -v` shows them; `-X`/`-A` dumps
//! ([`dump`](super::dump)); and a JSON object per packet for `--json`.

use super::dump;
use super::seq::SeqTracker;
use serde::Serialize;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};
use tun_bridge::tap::{time_of_day, Direction};
use ustack::wire::ipv4::{self, raw as ip};
use ustack::wire::{checksum, proto, tcp, udp, PacketSummary, SeqBase, Summary};

fn arrow(dir: Option<Direction>) -> &'static str {
    match dir {
        Some(Direction::In) => "in  ",
        Some(Direction::Out) => "out ",
        None => "",
    }
}

/// How packets print: tcpdump's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineOptions {
    /// `-v`: the IP header fields and the checksums.
    pub verbose: bool,
    /// `-S`: absolute TCP sequence numbers.
    pub absolute: bool,
    /// `-X` (and `-XX`: a TUN has no link-layer header, so both dump from the IP header): hex
    /// and ASCII.
    pub hex: bool,
    /// `-A`: ASCII.
    pub ascii: bool,
}

/// Prints packets as tcpdump does, keeping what relative sequence numbers need.
#[derive(Debug, Default)]
pub struct Printer {
    opts: LineOptions,
    seqs: SeqTracker,
}

impl Printer {
    /// A printer with these options.
    pub fn new(opts: LineOptions) -> Printer {
        Printer {
            opts,
            seqs: SeqTracker::new(),
        }
    }

    /// One packet of `orig_len` bytes (`bytes` may be its first part only, cut by a snap
    /// length) as its line — two with `verbose`, and the dumps —, without the last newline.
    pub fn line(
        &mut self,
        ts: SystemTime,
        dir: Option<Direction>,
        bytes: &[u8],
        orig_len: usize,
    ) -> String {
        let base = if self.opts.absolute {
            SeqBase::default()
        } else {
            self.seqs.base(bytes)
        };
        let cut = orig_len > bytes.len() && orig_len <= 65_535;
        let repaired = repair(bytes, orig_len);
        let full = repaired.as_deref().unwrap_or(bytes);
        let verbose = self.opts.verbose;
        let summary = Summary::new(full)
            .relative(base)
            .checksum(verbose && !cut)
            .captured(bytes.len())
            .to_string();
        let mut out = format!("{} {}", time_of_day(ts), arrow(dir));
        match verbose.then(|| ip_details(bytes)).flatten() {
            Some(details) => {
                let rest = summary.strip_prefix("IP ").unwrap_or(&summary);
                let rest = match udp_sum(full).filter(|_| !cut) {
                    Some(note) => rest.replacen(": UDP", &format!(": {note} UDP"), 1),
                    None => rest.to_string(),
                };
                let _ = write!(out, "IP ({details})\n    {rest}");
            }
            None => out.push_str(&summary),
        }
        if let Some((payload, wire)) = http_payload(bytes, orig_len) {
            dump::http(&mut out, payload, wire, verbose);
        }
        if self.opts.hex {
            dump::hex_ascii(&mut out, bytes);
        } else if self.opts.ascii {
            dump::ascii(&mut out, bytes);
        }
        out
    }
}

/// What the line is read from when `bytes` alone would not parse as tcpdump reads it: a packet
/// cut by the snap length, padded with zeros to its real length (its headers print with their
/// real lengths, no checksum is judged), or one whose IPv4 header checksum is wrong, with the
/// checksum put right (tcpdump prints the rest as usual; `-v` shows `bad cksum`).
fn repair(bytes: &[u8], orig_len: usize) -> Option<Vec<u8>> {
    let cut = orig_len > bytes.len() && orig_len <= 65_535;
    let hlen = ip::header_len(bytes.get(..ipv4::HEADER_LEN)?);
    let bad_sum = bytes[0] >> 4 == 4
        && hlen >= ipv4::HEADER_LEN
        && bytes.len() >= hlen
        && checksum::internet(&bytes[..hlen]) != 0;
    if !cut && !bad_sum {
        return None;
    }
    let mut v = bytes.to_vec();
    if cut {
        v.resize(orig_len, 0);
    }
    if bad_sum {
        v[10..12].fill(0);
        let c = checksum::internet(&v[..hlen]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
    }
    Some(v)
}

/// The captured payload of a first-fragment TCP segment to or from an HTTP port, if it has any,
/// and its length on the wire (the packet is `orig_len` bytes long).
fn http_payload(b: &[u8], orig_len: usize) -> Option<(&[u8], usize)> {
    let (hlen, total) = super::seq::tcp_at(b)?;
    let seg = b.get(hlen..total.min(b.len()))?;
    if seg.len() < tcp::HEADER_LEN {
        return None;
    }
    let (sp, dp) = (
        u16::from_be_bytes([seg[0], seg[1]]),
        u16::from_be_bytes([seg[2], seg[3]]),
    );
    if !dump::HTTP_PORTS.iter().any(|&p| p == sp || p == dp) {
        return None;
    }
    let thlen = tcp::raw::header_len(seg);
    let data = seg.get(thlen..)?;
    // (A segment whose payload was cut off entirely still gets `: HTTP`.)
    let wire = total
        .min(orig_len.max(b.len()))
        .saturating_sub(hlen + thlen);
    (wire > 0).then_some((data, wire))
}

/// One packet as a line, statelessly (absolute numbers; two lines with `verbose`), without the
/// newline.
pub fn line(ts: SystemTime, dir: Option<Direction>, bytes: &[u8], verbose: bool) -> String {
    let opts = LineOptions {
        verbose,
        absolute: true,
        ..LineOptions::default()
    };
    Printer::new(opts).line(ts, dir, bytes, bytes.len())
}

/// tcpdump -v's IPv4 header line: `tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6),
/// length 60` (and `bad cksum` when the header checksum is wrong). The fields are read in place
/// through `wire::ipv4::raw`, so a header that fails the stack's checks still shows them.
fn ip_details(b: &[u8]) -> Option<String> {
    if b.len() < ipv4::HEADER_LEN || b[0] >> 4 != 4 {
        return None;
    }
    let hlen = ip::header_len(b);
    let flags = match (ip::dont_fragment(b), ip::more_fragments(b)) {
        (true, true) => "DF+",
        (true, false) => "DF",
        (false, true) => "+",
        (false, false) => "none",
    };
    let protocol = match ip::protocol(b) {
        proto::ICMP => "ICMP",
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        132 => "SCTP",
        _ => "unknown",
    };
    let mut s = format!(
        "tos 0x{:x}, ttl {}, id {}, offset {}, flags [{flags}], proto {protocol} ({}), length {}",
        ip::tos(b),
        ip::ttl(b),
        ip::ident(b),
        ip::frag_offset(b),
        ip::protocol(b),
        ip::total_len(b),
    );
    if hlen >= ipv4::HEADER_LEN && b.len() >= hlen {
        if hlen > ipv4::HEADER_LEN {
            let _ = write!(s, ", options ({} bytes)", hlen - ipv4::HEADER_LEN);
        }
        if checksum::internet(&b[..hlen]) != 0 {
            let _ = write!(s, ", bad cksum {:x}", ip::checksum(b));
        }
    }
    Some(s)
}

/// The addresses and transport bytes of a whole, unfragmented datagram of `protocol` that
/// arrived complete with at least `min_len` transport bytes (read in place: a bad header
/// checksum, shown already, does not hide them).
fn whole_transport(b: &[u8], protocol: u8, min_len: usize) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    let (hlen, total) = (ip::header_len(b), usize::from(ip::total_len(b)));
    let whole = !ip::more_fragments(b) && ip::frag_offset(b) == 0;
    if ip::protocol(b) != protocol
        || !whole
        || hlen < ipv4::HEADER_LEN
        || b.len() < total
        || total < hlen + min_len
    {
        return None;
    }
    let (src, dst) = ip::addrs(b);
    Some((src, dst, &b[hlen..total]))
}

/// tcpdump -v's UDP checksum note for a whole, unfragmented datagram: `[udp sum ok]`,
/// `[bad udp cksum 0x1234 -> 0x5678!]`, or `[no cksum]` for 0 (RFC 768: none computed).
fn udp_sum(b: &[u8]) -> Option<String> {
    let (src, dst, dgram) = whole_transport(b, proto::UDP, udp::HEADER_LEN)?;
    let sum = udp::raw::checksum(dgram);
    if sum == 0 {
        return Some("[no cksum]".into());
    }
    if checksum::pseudo(src, dst, proto::UDP, dgram) == 0 {
        return Some("[udp sum ok]".into());
    }
    let mut zeroed = dgram.to_vec();
    zeroed[6..8].fill(0);
    let want = checksum::pseudo(src, dst, proto::UDP, &zeroed);
    Some(format!("[bad udp cksum 0x{sum:04x} -> 0x{want:04x}!]"))
}

/// One packet as `--json` prints it.
#[derive(Serialize)]
struct PacketJson {
    /// Seconds since the epoch, to the microsecond.
    time: f64,
    dir: Option<&'static str>,
    len: usize,
    summary: String,
    hex: String,
}

/// One packet as a JSON object: time (seconds since the epoch), direction, length, the summary
/// line and the bytes in hex.
pub fn json(ts: SystemTime, dir: Option<Direction>, bytes: &[u8]) -> String {
    let t = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Whole microseconds (< 2^53 for another 285 years) divided once: the nearest double to
    // `secs.micros`, which serde_json prints as that decimal (trailing zeros dropped).
    let micros = t.as_secs() * 1_000_000 + u64::from(t.subsec_micros());
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    let packet = PacketJson {
        time: micros as f64 / 1e6,
        dir: dir.map(|d| match d {
            Direction::In => "in",
            Direction::Out => "out",
        }),
        len: bytes.len(),
        summary: PacketSummary(bytes).to_string(),
        hex,
    };
    // Cannot fail: a struct of numbers and strings.
    serde_json::to_string(&packet).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn syn() -> Vec<u8> {
        let mut t = vec![0u8; 40];
        t[0..2].copy_from_slice(&47930u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&1000u32.to_be_bytes());
        t[12] = 0xa0;
        t[13] = 0x02;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..40].copy_from_slice(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let mut p = vec![
            0x45, 0, 0, 60, 0, 7, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        let c = checksum::internet(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let c = checksum::pseudo(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            6,
            &t,
        );
        t[16..18].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&t);
        p
    }

    #[test]
    fn plain_and_verbose_lines() {
        let ts = UNIX_EPOCH + Duration::from_micros(3_723_000_042);
        assert_eq!(
            line(ts, Some(Direction::In), &syn(), false),
            "01:02:03.000042 in  IP 198.18.0.1.47930 > 198.18.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
        );
        let v = line(ts, None, &syn(), true);
        assert!(
            v.starts_with("01:02:03.000042 IP (tos 0x0, ttl 64, id 7, offset 0, flags [DF], proto TCP (6), length 60)\n    198.18.0.1.47930 > 198.18.0.2.80: Flags [S]"),
            "{v}"
        );
        assert!(
            v.ends_with("(correct), seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"),
            "{v}"
        );
        let mut bad = syn();
        bad[10] ^= 1;
        bad[37] ^= 1;
        let v = line(ts, None, &bad, true);
        assert!(
            v.contains("bad cksum") && v.contains("(incorrect -> 0x"),
            "{v}"
        );
    }

    #[test]
    fn a_printer_keeps_relative_numbers_and_dumps() {
        let mut p = Printer::new(LineOptions {
            ascii: true,
            ..LineOptions::default()
        });
        let mut synack = syn();
        synack[33] = 0x12; // SYN|ACK, ack 1 (checksum not judged without -v)
        synack[28..32].copy_from_slice(&1u32.to_be_bytes());
        let first = p.line(UNIX_EPOCH, None, &synack, 60);
        assert!(first.contains("seq 1000, ack 1, win"), "{first}");
        let mut ack = syn();
        ack[33] = 0x10;
        ack[24..28].copy_from_slice(&1001u32.to_be_bytes());
        ack[28..32].copy_from_slice(&1u32.to_be_bytes());
        let second = p.line(UNIX_EPOCH, None, &ack, 60);
        assert!(second.contains("Flags [.], ack 1, win 64240"), "{second}");
        assert!(!second.contains("seq"), "{second}");
        // -A: the whole packet as text after the line.
        assert!(second.contains("length 0\nE..<"), "{second}");
        // Cut by a snap length: the line still has the real lengths.
        let cut = p.line(UNIX_EPOCH, None, &ack[..40], 60);
        assert!(
            cut.contains("Flags [.], ack 1, win 64240, length 0"),
            "{cut}"
        );
    }

    #[test]
    fn udp_checksum_note() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let mut u = vec![0x14, 0xe9, 0, 7, 0, 10, 0, 0, b'h', b'i'];
        let c = checksum::pseudo(src, dst, 17, &u);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        let mut p = vec![
            0x45, 0, 0, 30, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        let c = checksum::internet(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&u);
        let v = line(UNIX_EPOCH, None, &p, true);
        assert!(
            v.ends_with("198.18.0.1.5353 > 198.18.0.2.7: [udp sum ok] UDP, length 2"),
            "{v}"
        );
        p[27] ^= 0xff;
        let v = line(UNIX_EPOCH, None, &p, true);
        assert!(v.contains("[bad udp cksum"), "{v}");
    }

    #[test]
    fn json_object() {
        let ts = UNIX_EPOCH + Duration::from_micros(1_500_000);
        let j = json(ts, Some(Direction::Out), &[0x45, 0]);
        assert!(
            j.starts_with("{\"time\":1.5,\"dir\":\"out\",\"len\":2,\"summary\":\"IP [malformed"),
            "{j}"
        );
        assert!(j.ends_with("\"hex\":\"4500\"}"), "{j}");
        // Today's times keep every microsecond.
        let ts = UNIX_EPOCH + Duration::from_micros(1_764_634_393_693_388);
        let j = json(ts, None, &[]);
        assert!(
            j.starts_with("{\"time\":1764634393.693388,\"dir\":null,\"len\":0,"),
            "{j}"
        );
        let ts = UNIX_EPOCH + Duration::from_micros(1_764_634_393_000_001);
        assert!(json(ts, None, &[]).contains("\"time\":1764634393.000001,"));
    }
}
