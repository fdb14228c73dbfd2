//! The IPv6 half of the corpus: what libpcap's IPv6 tests look at — the version nibble, the
//! fixed header's Next Header (and a Fragment header's, at 40), the addresses word by word, the
//! ports at 40 — with the packets that tell its rules apart: a transport header behind a
//! hop-by-hop or destination options header (not TCP/UDP to libpcap), first and later
//! fragments, and every truncation around those offsets.

use super::{icmp, tcp, udp, Rng};

const ADDRS: [u128; 10] = [
    0x2001_0002_0000_0000_0000_0000_0000_0001, // 2001:2::1
    0x2001_0002_0000_0000_0000_0000_0000_0002, // 2001:2::2
    0x2001_0002_0000_0001_0000_0000_0000_0005, // 2001:2:0:1::5
    0x2001_0002_8000_0000_0000_0000_0000_0001, // 2001:2:8000::1 (outside /33)
    0x2001_0db8_0000_0000_0000_0000_0000_0001, // 2001:db8::1
    0xfe80_0000_0000_0000_0000_0000_0000_0001, // fe80::1
    0xff02_0000_0000_0000_0000_0000_0000_0001, // ff02::1
    0xff02_0000_0000_0000_0000_0000_0000_0016, // ff02::16
    1,                                         // ::1
    0x0000_0000_0000_0000_0000_ffff_0102_0304, // ::ffff:1.2.3.4
];

const PORTS: [u16; 8] = [80, 443, 22, 53, 1023, 1024, 8080, 0];

/// Next Header values.
const HOP_BY_HOP: u8 = 0;
const DEST_OPTS: u8 = 60;
const FRAGMENT: u8 = 44;
const ICMPV6: u8 = 58;

/// An IPv6 packet: fixed header (traffic class `tc`), then `payload`.
pub fn ipv6(src: u128, dst: u128, next: u8, tc: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60 | (tc >> 4);
    p[1] = tc << 4;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.to_be_bytes());
    p[24..40].copy_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A hop-by-hop or destination options header (8 bytes: a PadN option), then `rest`.
fn options(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![next, 0, 1, 4, 0, 0, 0, 0];
    h.extend_from_slice(rest);
    h
}

/// A Fragment header (offset in 8-byte units, More Fragments), then `rest`.
fn fragment(next: u8, offset: u16, more: bool, rest: &[u8]) -> Vec<u8> {
    let field = (offset << 3) | u16::from(more);
    let mut h = vec![next, 0];
    h.extend_from_slice(&field.to_be_bytes());
    h.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    h.extend_from_slice(rest);
    h
}

fn icmpv6(kind: u8, code: u8) -> Vec<u8> {
    icmp(kind, code, &[0x22; 24])
}

/// The body of upper-layer protocol `next`.
fn body(rng: &mut Rng, next: u8) -> Vec<u8> {
    match next {
        6 => tcp(
            rng.pick(&PORTS),
            rng.pick(&PORTS),
            rng.next() as u8,
            0,
            &[0xaa; 4],
        ),
        17 | 132 => udp(rng.pick(&PORTS), rng.pick(&PORTS), &[0x55; 8]),
        ICMPV6 => icmpv6(rng.pick(&[128, 129, 1, 135]), 0),
        _ => vec![0x00, 0x50, 0x00, 0x35, 1, 2, 3, 4],
    }
}

pub fn corpus(rng: &mut Rng, out: &mut Vec<Vec<u8>>) {
    let addrs = |rng: &mut Rng| (rng.pick(&ADDRS), rng.pick(&ADDRS), rng.pick(&[0, 0, 0xb8]));
    // Plain TCP, UDP, SCTP over IPv6, and every address pair kind.
    for _ in 0..40 {
        let (s, d, tc) = addrs(rng);
        let flags = rng.next() as u8;
        let seg = tcp(rng.pick(&PORTS), rng.pick(&PORTS), flags, 0, &[]);
        out.push(ipv6(s, d, 6, tc, &seg));
    }
    for _ in 0..24 {
        let (s, d, tc) = addrs(rng);
        out.push(ipv6(s, d, 17, tc, &body(rng, 17)));
    }
    for _ in 0..4 {
        let (s, d, tc) = addrs(rng);
        out.push(ipv6(s, d, 132, tc, &body(rng, 132)));
    }
    // ICMPv6: errors, echo, neighbour discovery, MLD.
    for kind in [1u8, 2, 3, 4, 128, 129, 130, 133, 134, 135, 136, 143] {
        for code in [0u8, 1] {
            let (s, d, tc) = addrs(rng);
            out.push(ipv6(s, d, ICMPV6, tc, &icmpv6(kind, code)));
        }
    }
    // Other next headers: IPv4's ICMP number, no next header, routing, IPv6-in-IPv6, ...
    for next in [1u8, 2, 41, 43, 47, 50, 59, 255] {
        let (s, d, tc) = addrs(rng);
        out.push(ipv6(s, d, next, tc, &body(rng, next)));
    }
    // Behind a hop-by-hop or destination options header.
    for ext in [HOP_BY_HOP, DEST_OPTS] {
        for next in [6u8, 17, ICMPV6, 132] {
            let (s, d, tc) = addrs(rng);
            let b = body(rng, next);
            out.push(ipv6(s, d, ext, tc, &options(next, &b)));
        }
    }
    // Fragments: first (offset 0, M), later (offset > 0), atomic (offset 0, no M), and one
    // behind a hop-by-hop header.
    for next in [6u8, 17, ICMPV6, 132, DEST_OPTS] {
        for (offset, more) in [
            (0u16, true),
            (0, false),
            (1, true),
            (185, false),
            (8191, true),
        ] {
            let (s, d, tc) = addrs(rng);
            let b = body(rng, next);
            out.push(ipv6(s, d, FRAGMENT, tc, &fragment(next, offset, more, &b)));
        }
        let (s, d, tc) = addrs(rng);
        let b = body(rng, next);
        let frag = fragment(next, 0, true, &b);
        out.push(ipv6(s, d, HOP_BY_HOP, tc, &options(FRAGMENT, &frag)));
    }
    truncations(out);
}

/// Typical IPv6 packets cut around every offset a filter reads.
fn truncations(out: &mut Vec<Vec<u8>>) {
    let (a, b) = (ADDRS[0], ADDRS[1]);
    let syn = ipv6(a, b, 6, 0, &tcp(47930, 80, 0x02, 0, &[]));
    let dns = ipv6(b, a, 17, 0, &udp(5353, 53, b"abcd"));
    let ping = ipv6(a, b, ICMPV6, 0, &icmpv6(128, 0));
    let first = ipv6(
        a,
        b,
        FRAGMENT,
        0,
        &fragment(17, 0, true, &udp(53, 80, &[0; 8])),
    );
    let hbh = ipv6(
        a,
        ADDRS[6],
        HOP_BY_HOP,
        0,
        &options(ICMPV6, &icmpv6(143, 0)),
    );
    for p in [&syn, &dns, &ping, &first, &hbh] {
        for cut in [
            1, 4, 6, 7, 8, 11, 12, 20, 24, 25, 28, 32, 36, 39, 40, 41, 42, 43, 44, 47, 48,
        ] {
            if cut < p.len() {
                out.push(p[..cut].to_vec());
            }
        }
    }
}
