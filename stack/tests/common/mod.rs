//! Hand-built packets and output helpers shared by the integration tests.
//!
//! Every packet the tests feed the stack is built here, by hand: an IPv4 header builder with a
//! knob for each field (so one field can be broken while the rest, checksum included, stays
//! right), ICMP and UDP payloads, and fragments. On the way out, [`drain`] collects what the stack
//! transmits and [`reassemble`] puts emitted fragments back together, checking that they are
//! well-formed as it goes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

use ustack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ustack::wire::{checksum, icmp, udp};
use ustack::{Config, Instant, Stack};

/// The stack's address under `Config::default()`.
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The peer on the link.
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The directed broadcast address of 198.18.0.0/24.
pub const BCAST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 255);
/// Where the clock starts in every test.
pub const T0: Instant = Instant::from_millis(1_000);

/// Protocol numbers.
pub const ICMP: u8 = 1;
/// TCP.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;

/// A stack with the default configuration, its clock at [`T0`].
pub fn stack() -> Stack {
    Stack::new(Config::default(), T0).expect("default config is valid")
}

/// A stack with `config`, its clock at [`T0`].
pub fn stack_with(config: Config) -> Stack {
    Stack::new(config, T0).expect("config is valid")
}

/// An IPv4 header to build, with every field settable — including to wrong values.
#[derive(Clone, Debug)]
pub struct Ip {
    /// Version nibble (4).
    pub version: u8,
    /// IHL nibble override; `None` derives it from the options' length.
    pub ihl: Option<u8>,
    /// Total length override; `None` is header + payload.
    pub total_len: Option<u16>,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub df: bool,
    /// More Fragments.
    pub mf: bool,
    /// Fragment offset in bytes (written as `offset / 8`).
    pub frag_offset: usize,
    /// Time to live.
    pub ttl: u8,
    /// Protocol.
    pub protocol: u8,
    /// Flip a bit of the correct header checksum.
    pub bad_checksum: bool,
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// Option bytes after the fixed 20 (should be a multiple of 4).
    pub options: Vec<u8>,
}

impl Ip {
    /// A correct header from [`PEER`] to [`US`], TTL 64.
    pub fn new(protocol: u8) -> Ip {
        Ip {
            version: 4,
            ihl: None,
            total_len: None,
            ident: 0x4242,
            df: false,
            mf: false,
            frag_offset: 0,
            ttl: 64,
            protocol,
            bad_checksum: false,
            src: PEER,
            dst: US,
            options: Vec::new(),
        }
    }

    pub fn src(mut self, a: Ipv4Addr) -> Ip {
        self.src = a;
        self
    }
    pub fn dst(mut self, a: Ipv4Addr) -> Ip {
        self.dst = a;
        self
    }
    pub fn ttl(mut self, t: u8) -> Ip {
        self.ttl = t;
        self
    }
    pub fn ident(mut self, i: u16) -> Ip {
        self.ident = i;
        self
    }
    pub fn version(mut self, v: u8) -> Ip {
        self.version = v;
        self
    }
    pub fn ihl(mut self, words: u8) -> Ip {
        self.ihl = Some(words);
        self
    }
    pub fn total_len(mut self, n: u16) -> Ip {
        self.total_len = Some(n);
        self
    }
    pub fn bad_checksum(mut self) -> Ip {
        self.bad_checksum = true;
        self
    }
    pub fn options(mut self, o: &[u8]) -> Ip {
        self.options = o.to_vec();
        self
    }
    pub fn df(mut self) -> Ip {
        self.df = true;
        self
    }
    /// Sets the fragment offset (bytes) and MF.
    pub fn frag(mut self, offset: usize, mf: bool) -> Ip {
        self.frag_offset = offset;
        self.mf = mf;
        self
    }

    /// The header length this header will have on the wire.
    pub fn header_len(&self) -> usize {
        20 + self.options.len()
    }

    /// Header followed by `payload`. The checksum is computed last, over the header as written
    /// (so a broken IHL or length still carries a correct checksum unless `bad_checksum`).
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let hlen = self.header_len();
        let mut b = vec![0u8; hlen + payload.len()];
        let ihl = self.ihl.unwrap_or((hlen / 4) as u8);
        b[0] = (self.version << 4) | (ihl & 0x0f);
        let total = self
            .total_len
            .unwrap_or((hlen + payload.len()).min(0xffff) as u16);
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut ff = ((self.frag_offset / 8) as u16) & 0x1fff;
        if self.df {
            ff |= 0x4000;
        }
        if self.mf {
            ff |= 0x2000;
        }
        b[6..8].copy_from_slice(&ff.to_be_bytes());
        b[8] = self.ttl;
        b[9] = self.protocol;
        b[12..16].copy_from_slice(&self.src.octets());
        b[16..20].copy_from_slice(&self.dst.octets());
        b[20..hlen].copy_from_slice(&self.options);
        let mut c = checksum::internet(&b[..hlen]);
        if self.bad_checksum {
            c ^= 0x0100;
        }
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b[hlen..].copy_from_slice(payload);
        b
    }
}

/// An ICMP echo request message (header + data).
pub fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; icmp::HEADER_LEN + data.len()];
    icmp::emit_echo(&mut b, false, ident, seq, data);
    b
}

/// An ICMP echo reply message.
pub fn echo_reply(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; icmp::HEADER_LEN + data.len()];
    icmp::emit_echo(&mut b, true, ident, seq, data);
    b
}

/// Any ICMP message, checksum included.
pub fn icmp_msg(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; icmp::HEADER_LEN + body.len()];
    icmp::emit(&mut b, icmp_type, code, rest, body);
    b
}

/// The TCP segment an ICMP error quotes: its addresses, sequence number, and the IP total length
/// it had.
#[derive(Clone, Copy, Debug)]
pub struct QuotedTcp {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    pub total_len: usize,
}

/// An ICMP error (`icmp_type`/`code`, next-hop MTU in the second word) from `from`, quoting the
/// IP header (DF set) and the first 8 bytes of `q`.
pub fn icmp_quoting_tcp(
    from: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    next_mtu: u16,
    q: QuotedTcp,
) -> Vec<u8> {
    let mut quote = vec![0u8; 28];
    Ipv4Repr {
        src: *q.src.ip(),
        dst: *q.dst.ip(),
        protocol: TCP,
        ttl: 64,
        ident: 1,
        dont_fragment: true,
        more_fragments: false,
        frag_offset: 0,
        payload_len: q.total_len - 20,
    }
    .emit(&mut quote);
    quote[20..22].copy_from_slice(&q.src.port().to_be_bytes());
    quote[22..24].copy_from_slice(&q.dst.port().to_be_bytes());
    quote[24..28].copy_from_slice(&q.seq.to_be_bytes());
    let m = next_mtu.to_be_bytes();
    let msg = icmp_msg(icmp_type, code, [0, 0, m[0], m[1]], &quote);
    Ip::new(ICMP).src(from).build(&msg)
}

/// A UDP datagram (header + payload) from `src` to `dst` with a correct checksum.
pub fn udp_dgram(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; udp::HEADER_LEN + payload.len()];
    udp::emit(&mut b, src, dst, sport, dport, payload);
    b
}

/// A UDP datagram with the checksum field zero ("no checksum").
pub fn udp_dgram_no_checksum(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = udp_dgram(PEER, US, sport, dport, payload);
    b[6] = 0;
    b[7] = 0;
    b
}

/// A whole echo request packet from [`PEER`] to [`US`].
pub fn ping(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    Ip::new(ICMP).build(&echo_request(ident, seq, data))
}

/// A whole UDP packet from `PEER:sport` to `US:dport`.
pub fn udp_packet(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    Ip::new(UDP).build(&udp_dgram(PEER, US, sport, dport, payload))
}

/// One fragment: `payload[offset..offset + len]` under `ip` with the given offset and MF.
pub fn fragment(ip: &Ip, payload: &[u8], offset: usize, len: usize, mf: bool) -> Vec<u8> {
    ip.clone()
        .frag(offset, mf)
        .build(&payload[offset..offset + len])
}

/// `payload` (a whole IP payload) cut into fragments of at most `max` bytes (a multiple of 8),
/// in offset order. A payload that fits is still sent as one unfragmented packet.
pub fn fragments(ip: &Ip, payload: &[u8], max: usize) -> Vec<Vec<u8>> {
    assert!(max.is_multiple_of(8) && max > 0);
    if payload.len() <= max {
        return vec![ip.build(payload)];
    }
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let len = max.min(payload.len() - off);
        let mf = off + len < payload.len();
        out.push(fragment(ip, payload, off, len, mf));
        off += len;
    }
    out
}

/// A seeded generator for deterministic shuffles and payloads: `rand`'s xoshiro256++, one of its
/// named portable generators, so a seed gives the same sequence on every platform and `rand` 0.10
/// release. Shuffle with `rand::seq::SliceRandom::shuffle`.
pub fn seeded(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// `len` random bytes from `rng`.
pub fn random_bytes(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    rng.fill_bytes(&mut v);
    v
}

/// Everything the stack has to transmit at `now`, one packet per entry. Asserts that each packet
/// fits the configured MTU.
pub fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mtu = usize::from(s.config().mtu);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        assert!(n <= mtu, "emitted packet of {n} bytes exceeds MTU {mtu}");
        out.push(buf[..n].to_vec());
        assert!(out.len() < 1_000_000, "poll_transmit never returns None");
    }
    out
}

/// A datagram put back together from what the stack emitted.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
    pub ttl: u8,
    pub df: bool,
    /// How many packets carried it (1 if not fragmented).
    pub packets: usize,
    pub payload: Vec<u8>,
}

/// Groups emitted packets into datagrams by (src, dst, protocol, ident), checking each one:
/// header valid (checksum included), no options, at most `mtu` bytes, fragments contiguous from
/// offset 0, MF on all but the last, non-last fragment payloads a multiple of 8, and no DF on a
/// fragment. Returns the datagrams in order of their first packet.
pub fn reassemble(packets: &[Vec<u8>], mtu: usize) -> Vec<Datagram> {
    type Key = (Ipv4Addr, Ipv4Addr, u8, u16);
    /// Offset, MF, payload, TTL, DF of one packet.
    type Frag = (usize, bool, Vec<u8>, u8, bool);
    let mut order: Vec<Key> = Vec::new();
    let mut groups: BTreeMap<Key, Vec<Frag>> = BTreeMap::new();
    for p in packets {
        assert!(p.len() <= mtu, "packet of {} bytes > MTU {mtu}", p.len());
        let ip = Ipv4Packet::parse(p).expect("stack emitted an invalid IPv4 header");
        assert_eq!(ip.header_bytes().len(), 20, "stack emits no options");
        assert_eq!(
            ip.payload().len() + 20,
            p.len(),
            "total length matches bytes"
        );
        let key = (ip.src(), ip.dst(), ip.protocol(), ip.ident());
        if !groups.contains_key(&key) {
            order.push(key);
        }
        groups.entry(key).or_default().push((
            ip.frag_offset(),
            ip.more_fragments(),
            ip.payload().to_vec(),
            ip.ttl(),
            ip.dont_fragment(),
        ));
    }
    order
        .into_iter()
        .map(|key| {
            let mut frags = groups.remove(&key).unwrap();
            frags.sort_by_key(|f| f.0);
            let n = frags.len();
            let mut payload = Vec::new();
            for (i, (off, mf, data, _, df)) in frags.iter().enumerate() {
                assert_eq!(*off, payload.len(), "fragments of {key:?} not contiguous");
                let last = i + 1 == n;
                assert_eq!(*mf, !last, "MF wrong on fragment {i}/{n} of {key:?}");
                if !last {
                    assert!(
                        data.len().is_multiple_of(8) && !data.is_empty(),
                        "non-last fragment payload {} not a positive multiple of 8",
                        data.len()
                    );
                }
                if n > 1 {
                    assert!(!df, "a fragment carries DF");
                }
                payload.extend_from_slice(data);
            }
            Datagram {
                src: key.0,
                dst: key.1,
                protocol: key.2,
                ident: key.3,
                ttl: frags[0].3,
                df: frags[0].4,
                packets: n,
                payload,
            }
        })
        .collect()
}

/// The IHL of a packet in bytes.
pub fn ihl(p: &[u8]) -> usize {
    usize::from(p[0] & 0x0f) * 4
}
