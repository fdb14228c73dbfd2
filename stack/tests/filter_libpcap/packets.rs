//! The packet corpus of the differential test: a few hundred raw IPv4 packets covering TCP with
//! every flag combination, UDP, ICMP types, SCTP, other protocols, IP and TCP options, first and
//! later fragments, odd versions and header lengths, and truncations at every header boundary;
//! and IPv6 packets (`v6.rs`): TCP, UDP, ICMPv6, SCTP and other next headers, behind hop-by-hop
//! and destination options headers, first, later and atomic fragments, and truncations.
//! Checksums are not set: filters do not look at them.

#[path = "v6.rs"]
mod v6;

/// A small deterministic generator (xorshift64*), so the corpus is the same every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const ADDRS: [[u8; 4]; 9] = [
    [198, 18, 0, 1],
    [198, 18, 0, 2],
    [10, 0, 0, 1],
    [10, 1, 2, 3],
    [192, 168, 1, 1],
    [1, 2, 3, 4],
    [224, 0, 0, 1],
    [255, 255, 255, 255],
    [0, 0, 0, 0],
];

const PORTS: [u16; 14] = [
    80, 443, 22, 53, 7, 1023, 1024, 8080, 65535, 0, 123, 20, 9, 19,
];

/// The fields of one IPv4 header.
#[derive(Clone, Copy)]
pub struct Ip {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub ttl: u8,
    pub id: u16,
    /// Flags and fragment offset (in 8-byte units), as the 16-bit field.
    pub frag: u16,
    /// Bytes of IP options (a multiple of 4, at most 40).
    pub options: usize,
}

/// An IPv4 packet around `payload`.
pub fn ipv4(ip: Ip, payload: &[u8]) -> Vec<u8> {
    let hlen = 20 + ip.options;
    let total = hlen + payload.len();
    let mut p = vec![0u8; hlen];
    p[0] = 0x40 | (hlen / 4) as u8;
    p[1] = 0;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&ip.id.to_be_bytes());
    p[6..8].copy_from_slice(&ip.frag.to_be_bytes());
    p[8] = ip.ttl;
    p[9] = ip.proto;
    p[12..16].copy_from_slice(&ip.src);
    p[16..20].copy_from_slice(&ip.dst);
    for (i, b) in p[20..].iter_mut().enumerate() {
        // Record-route-like filler, then end-of-options.
        *b = if i == 0 { 7 } else { i as u8 };
    }
    p.extend_from_slice(payload);
    p
}

pub fn tcp(sport: u16, dport: u16, flags: u8, options: usize, data: &[u8]) -> Vec<u8> {
    let hlen = 20 + options;
    let mut t = vec![0u8; hlen];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    t[8..12].copy_from_slice(&0x9abc_def0u32.to_be_bytes());
    t[12] = ((hlen / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    for b in t[20..].iter_mut() {
        *b = 1; // NOP options
    }
    t.extend_from_slice(data);
    t
}

pub fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(data);
    u
}

pub fn icmp(icmp_type: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![icmp_type, code, 0, 0, 0, 7, 0, 1];
    m.extend_from_slice(rest);
    m
}

fn base(rng: &mut Rng, proto: u8) -> Ip {
    Ip {
        src: rng.pick(&ADDRS),
        dst: rng.pick(&ADDRS),
        proto,
        ttl: rng.pick(&[1, 64, 128, 255]),
        id: rng.next() as u16,
        frag: rng.pick(&[0x4000, 0x0000]),
        options: 0,
    }
}

/// The whole corpus.
pub fn corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(0x5eed_ca97);
    let mut out = Vec::new();
    // TCP with every combination of the eight flags, varied ports and addresses.
    for flags in 0..=255u8 {
        let ip = base(&mut rng, 6);
        let opts = rng.pick(&[0, 0, 4, 12, 20]);
        let data_len = rng.pick(&[0, 0, 1, 10, 100]);
        let seg = tcp(
            rng.pick(&PORTS),
            rng.pick(&PORTS),
            flags,
            opts,
            &vec![0xaa; data_len],
        );
        out.push(ipv4(ip, &seg));
    }
    // UDP, ICMP, SCTP and other protocols.
    for _ in 0..60 {
        let ip = base(&mut rng, 17);
        let data = vec![0x55; rng.pick(&[0, 4, 40, 600])];
        out.push(ipv4(ip, &udp(rng.pick(&PORTS), rng.pick(&PORTS), &data)));
    }
    for t in [0u8, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 17, 18, 42] {
        for code in [0u8, 1, 3, 4] {
            let ip = base(&mut rng, 1);
            out.push(ipv4(ip, &icmp(t, code, &[0x11; 56])));
        }
    }
    for _ in 0..12 {
        let ip = base(&mut rng, 132);
        // SCTP common header: ports, verification tag, checksum.
        let mut s = udp(rng.pick(&PORTS), rng.pick(&PORTS), &[0; 8]);
        s.truncate(12);
        out.push(ipv4(ip, &s));
    }
    for proto in [0u8, 2, 4, 47, 50, 58, 255] {
        let ip = base(&mut rng, proto);
        out.push(ipv4(ip, &[0x00, 0x50, 0x00, 0x50, 1, 2, 3, 4]));
    }
    // IP options (IHL 6..15) under TCP and UDP.
    for opts in [4, 8, 20, 40] {
        let mut ip = base(&mut rng, 6);
        ip.options = opts;
        out.push(ipv4(ip, &tcp(80, 1024, 0x12, 0, &[])));
        let mut ip = base(&mut rng, 17);
        ip.options = opts;
        out.push(ipv4(ip, &udp(53, 1024, b"q")));
    }
    fragments(&mut rng, &mut out);
    oddities(&mut out);
    v6::corpus(&mut rng, &mut out);
    out
}

/// First fragments (MF, offset 0) and later ones (offset > 0) whose payload looks like ports.
fn fragments(rng: &mut Rng, out: &mut Vec<Vec<u8>>) {
    for proto in [6u8, 17, 1, 132] {
        for frag in [0x2000u16, 0x2001, 0x00b9, 0x20b9, 0x1fff, 0x0001] {
            let mut ip = base(rng, proto);
            ip.frag = frag;
            let body = match proto {
                6 => tcp(80, 443, 0x02, 0, &[0; 16]),
                17 => udp(53, 80, &[0; 16]),
                1 => icmp(8, 0, &[0; 16]),
                _ => udp(80, 80, &[0; 4]),
            };
            out.push(ipv4(ip, &body));
        }
    }
}

/// Bad versions and header lengths, and truncations of typical packets at every boundary.
fn oddities(out: &mut Vec<Vec<u8>>) {
    let ip = Ip {
        src: [198, 18, 0, 1],
        dst: [198, 18, 0, 2],
        proto: 6,
        ttl: 64,
        id: 1,
        frag: 0x4000,
        options: 0,
    };
    let syn = ipv4(ip, &tcp(47930, 80, 0x02, 20, &[]));
    let dns = ipv4(Ip { proto: 17, ..ip }, &udp(5353, 53, b"abcd"));
    let ping = ipv4(Ip { proto: 1, ..ip }, &icmp(8, 0, &[0; 8]));
    for p in [&syn, &dns, &ping] {
        for cut in [
            0, 1, 2, 5, 8, 9, 10, 12, 16, 19, 20, 21, 22, 23, 24, 27, 28, 33, 34, 39,
        ] {
            if cut < p.len() {
                out.push(p[..cut].to_vec());
            }
        }
    }
    for version in [0x00u8, 0x50, 0x60, 0xf0] {
        let mut p = syn.clone();
        p[0] = version | (p[0] & 0x0f);
        out.push(p);
    }
    for ihl in [0u8, 1, 4, 15] {
        let mut p = syn.clone();
        p[0] = 0x40 | ihl;
        out.push(p);
    }
}
