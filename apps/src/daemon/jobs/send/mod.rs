//! The `send` engine (hping3 from inside the stack), sans IO: [`Engine`] turns a checked
//! request ([`Spec`]) into probe packets one by one and reads every incoming packet as a reply to
//! one of them — or not. Time is a parameter (`now`, from the job's start); the request module
//! (`requests/send.rs`) owns the raw socket and the clock.
//!
//! Matching follows hping3: TCP and UDP replies by the probe's ports (the source port moves one
//! up per probe unless `-k`, so each probe has its own), ICMP replies by echo identifier and
//! sequence, ICMP errors by the quoted probe's ports, echo sequence or (raw IP) IPv4
//! identification. A second answer to a probe is a duplicate (`DUP!`), counted as hping3 counts
//! it. What matches no probe is ignored.

pub mod probe;
pub mod replies;
pub mod spec;

pub use probe::{fragments, probe_packet, Probe};
pub use spec::{BuildError, Spec};

use crate::daemon::proto::{
    PortStep, ReplyKind, SendEvent, SendIcmpError, SendMode, SendReply, SendStart, SendSummary,
};
use replies::{Incoming, IpFacts, Quote};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Probes remembered for matching (hping3 keeps 400); older ones' answers are ignored.
pub const TABLE: usize = 65536;

/// A probe sent, for matching.
#[derive(Clone, Copy, Debug)]
struct Sent {
    no: u32,
    at: Duration,
    answered: bool,
}

/// A small deterministic generator (splitmix64): the seed comes from the caller.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (tests pin it).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from the process's hash keys (random per process, no clock, no pid).
    pub fn from_os() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Rng(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The engine of one `send` job.
#[derive(Debug)]
pub struct Engine {
    spec: Spec,
    src: IpAddr,
    prefix_len: u8,
    rng: Rng,
    next_no: u32,
    init_sport: u16,
    dst_port: u16,
    icmp_id: u16,
    table: HashMap<u32, Sent>,
    order: VecDeque<(u32, u32)>,
    /// `--rand-source`'s addresses so far (at most [`TABLE`]): answers to them are ours.
    sources: HashSet<IpAddr>,
    summary: SendSummary,
    rtt_sum: f64,
    rtt_n: u32,
    answered: u32,
}

impl Engine {
    /// An engine sending from `src` (the stack's address of the destination's family, whose
    /// prefix is `prefix_len` long: `--rand-source` picks inside it).
    pub fn new(spec: Spec, src: IpAddr, prefix_len: u8, mut rng: Rng) -> Engine {
        let init_sport = spec
            .req
            .src_port
            .unwrap_or(1024 + (rng.next_u64() % 2000) as u16);
        let icmp_id = rng.next_u64() as u16;
        Engine {
            dst_port: spec.req.dst_port,
            summary: SendSummary {
                dst: Some(spec.req.dst),
                ..SendSummary::default()
            },
            spec,
            src,
            prefix_len,
            rng,
            next_no: 0,
            init_sport,
            icmp_id,
            table: HashMap::new(),
            order: VecDeque::new(),
            sources: HashSet::new(),
            rtt_sum: 0.0,
            rtt_n: 0,
            answered: 0,
        }
    }

    /// The checked request.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The first event (hping3's `HPING` line); `iface` is the stack's TUN name.
    pub fn start(&self, iface: &str) -> SendEvent {
        SendEvent::Start(SendStart {
            dst: self.spec.req.dst,
            iface: iface.to_string(),
            src: self.src,
            mode: self.spec.req.mode,
            tcp_flags: self.spec.req.tcp_flags,
            headers: self.spec.headers_len(),
            data: self.spec.data.len(),
            flood: self.spec.req.flood,
        })
    }

    /// Whether every probe of `-c` went.
    pub fn all_sent(&self) -> bool {
        self.spec.count.is_some_and(|c| self.next_no >= c)
    }

    /// Whether every probe of `-c` has been answered (hping3 stops when as many answers came
    /// as probes were asked for, duplicates included — before the last probes went, with
    /// duplicates; here only distinct probes count).
    pub fn all_answered(&self) -> bool {
        self.spec.count.is_some_and(|c| self.answered >= c)
    }

    /// When probe `no` is due, from the job's start.
    pub fn due(&self, no: u32) -> Duration {
        Duration::from_micros(self.spec.interval_us.saturating_mul(u64::from(no)))
    }

    /// The number of the next probe.
    pub fn next_no(&self) -> u32 {
        self.next_no
    }

    /// The source ports the probes will use, for claiming (`--no-rst`); None when they move
    /// over the whole range (more than 64 probes) or the probes have none.
    pub fn source_ports(&self) -> Option<Vec<u16>> {
        if !self.spec.by_port() {
            return None;
        }
        if self.spec.req.keep_src_port {
            return Some(vec![self.init_sport]);
        }
        let n = self.spec.count.filter(|&c| c <= 64)?;
        Some((0..n).map(|i| self.sport(i)).collect())
    }

    fn sport(&self, no: u32) -> u16 {
        if self.spec.req.keep_src_port {
            self.init_sport
        } else {
            // hping3: src_port = (sequence + initsport) % 65536.
            self.init_sport.wrapping_add(no as u16)
        }
    }

    /// The next probe's fields, its source and its packets (fragments with `-f`); recorded as
    /// sent at `now`.
    pub fn next_probe(&mut self, now: Duration) -> Result<(Probe, Vec<Vec<u8>>), BuildError> {
        let no = self.next_no;
        let rand_source = self.spec.req.rand_source;
        let src = if rand_source {
            self.random_source()
        } else {
            self.src
        };
        let req = &self.spec.req;
        let probe = Probe {
            no,
            src_port: self.sport(no),
            dst_port: self.dst_port,
            tcp_seq: req.tcp_seq.unwrap_or(self.rng.next_u64() as u32),
            tcp_ack: req.tcp_ack.unwrap_or(self.rng.next_u64() as u32),
            ip_id: req.ip_id.unwrap_or(self.rng.next_u64() as u32),
            icmp_id: self.icmp_id,
            icmp_seq: no as u16,
        };
        let packet = probe_packet(&self.spec, &probe, src)?;
        let packets = match req.fragment {
            Some(f) => fragments(&packet, usize::from(f.size), f.overlap, probe.ip_id)?,
            None => vec![packet],
        };
        self.next_no += 1;
        self.summary.transmitted += 1;
        if self.spec.port_step() == PortStep::PerProbe {
            self.dst_port = self.dst_port.wrapping_add(1);
        }
        if src != self.src && self.sources.len() < TABLE {
            self.sources.insert(src);
        }
        self.remember(self.key_of_probe(&probe), no, now);
        Ok((probe, packets))
    }

    fn key_of_probe(&self, p: &Probe) -> u32 {
        match self.spec.req.mode {
            SendMode::Tcp | SendMode::Udp => u32::from(p.src_port) << 16 | u32::from(p.dst_port),
            SendMode::Icmp => u32::from(p.icmp_seq),
            SendMode::RawIp if self.spec.req.dst.is_ipv6() => 0,
            SendMode::RawIp => p.ip_id & 0xffff,
        }
    }

    fn remember(&mut self, key: u32, no: u32, at: Duration) {
        self.table.insert(
            key,
            Sent {
                no,
                at,
                answered: false,
            },
        );
        self.order.push_back((key, no));
        while self.order.len() > TABLE {
            if let Some((k, n)) = self.order.pop_front() {
                if self.table.get(&k).is_some_and(|s| s.no == n) {
                    self.table.remove(&k);
                }
            }
        }
    }

    /// A random address in the stack's prefix: neither the network nor the broadcast
    /// address (RFC 1122 §3.2.1.3) — over IPv6 in its /64, not the subnet-router anycast.
    fn random_source(&mut self) -> IpAddr {
        let r = self.rng.next_u64();
        match self.src {
            IpAddr::V4(a) if self.prefix_len < 31 => {
                let host_bits = 32 - u32::from(self.prefix_len);
                let mask = if host_bits == 32 {
                    u32::MAX
                } else {
                    (1u32 << host_bits) - 1
                };
                let span = u64::from(mask) - 1; // hosts 1 ..= mask − 1
                let host = 1 + (r % span.max(1)) as u32;
                IpAddr::V4(Ipv4Addr::from((u32::from(a) & !mask) | host))
            }
            IpAddr::V6(a) => {
                let net = u128::from(a) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(net | u128::from(r.max(1))))
            }
            other => other,
        }
    }

    fn ours(&self, a: IpAddr) -> bool {
        a == self.src || self.sources.contains(&a)
    }

    /// Reads `bytes`, an incoming IP packet, at `now`: the event of a reply or error that
    /// answers a probe, None for anything else.
    pub fn on_packet(&mut self, now: Duration, bytes: &[u8]) -> Option<SendEvent> {
        let (ip, inc) = replies::parse(bytes)?;
        if !self.ours(ip.dst) {
            return None;
        }
        if let Incoming::IcmpError {
            icmp_type,
            code,
            mtu,
            quote,
        } = inc
        {
            return self.on_error(now, &ip, (icmp_type, code, mtu), &quote);
        }
        // hping3: anything but an ICMP error must come from the target.
        if ip.src != self.spec.req.dst {
            return None;
        }
        let (key, kind) = match (self.spec.req.mode, inc) {
            (
                SendMode::Tcp,
                Incoming::Tcp {
                    sport,
                    dport,
                    flags,
                    win,
                    seq,
                    ack,
                },
            ) => (
                u32::from(dport) << 16 | u32::from(sport),
                ReplyKind::Tcp {
                    sport,
                    flags,
                    win,
                    tcp_seq: seq,
                    tcp_ack: ack,
                },
            ),
            (SendMode::Udp, Incoming::Udp { sport, dport }) => (
                u32::from(dport) << 16 | u32::from(sport),
                ReplyKind::Udp { sport },
            ),
            (
                SendMode::Icmp,
                Incoming::IcmpReply {
                    icmp_type,
                    code,
                    ident,
                    seq,
                },
            ) if ident == self.icmp_id => (
                u32::from(seq),
                ReplyKind::Icmp {
                    icmp_type,
                    icmp_code: code,
                },
            ),
            _ => return None,
        };
        let (no, rtt, dup) = self.answer(key, now)?;
        if self.spec.port_step() == PortStep::PerReply {
            self.dst_port = self.dst_port.wrapping_add(1);
        }
        Some(SendEvent::Reply(SendReply {
            len: ip.len,
            from: ip.src,
            ttl: ip.ttl,
            df: ip.df,
            ip_id: ip.id,
            dup,
            seq: no,
            rtt_ms: rtt,
            kind,
        }))
    }

    /// Marks the probe under `key` answered: its number, RTT (ms) and whether it already was.
    fn answer(&mut self, key: u32, now: Duration) -> Option<(u32, f64, bool)> {
        let s = self.table.get_mut(&key)?;
        let dup = s.answered;
        s.answered = true;
        if !dup {
            self.answered += 1;
        }
        let rtt = now.saturating_sub(s.at).as_secs_f64() * 1000.0;
        let no = s.no;
        self.summary.received += 1;
        let (min, max) = match self.summary.rtt {
            Some([lo, _, hi]) => (lo.min(rtt), hi.max(rtt)),
            None => (rtt, rtt),
        };
        self.rtt_sum += rtt;
        self.rtt_n += 1;
        self.summary.rtt = Some([min, self.rtt_sum / f64::from(self.rtt_n), max]);
        Some((no, rtt, dup))
    }

    fn on_error(
        &mut self,
        now: Duration,
        ip: &IpFacts,
        (icmp_type, code, mtu): (u8, u8, u32),
        q: &Quote,
    ) -> Option<SendEvent> {
        // hping3: the quoted destination must be the target (and the source ours).
        if q.dst != self.spec.req.dst
            || !self.ours(q.src)
            || q.protocol != probe::protocol(&self.spec)
        {
            return None;
        }
        let key = match self.spec.req.mode {
            // RFC 792 quotes 8 bytes past the header: the ports, or the echo id and sequence.
            SendMode::Tcp | SendMode::Udp if q.transport_len < 4 => return None,
            SendMode::Icmp if q.transport_len < 8 => return None,
            SendMode::Tcp | SendMode::Udp => u32::from(q.first[0]) << 16 | u32::from(q.first[1]),
            SendMode::Icmp if q.first[0] == self.icmp_id => u32::from(q.first[1]),
            SendMode::Icmp => return None,
            SendMode::RawIp if ip.src.is_ipv6() => 0,
            SendMode::RawIp => u32::from(q.ip_id),
        };
        let (seq, rtt, dup) = match self.answer(key, now) {
            Some((n, r, d)) => (Some(n), Some(r), d),
            None => (None, None, false),
        };
        let v6 = ip.src.is_ipv6();
        let mtu = match (v6, icmp_type, code) {
            (false, 3, 4) | (true, 2, _) => Some(mtu),
            _ => None,
        };
        Some(SendEvent::IcmpError(SendIcmpError {
            from: ip.src,
            v6,
            icmp_type,
            icmp_code: code,
            seq,
            port: self.spec.by_port().then_some(q.first[0]),
            rtt_ms: rtt,
            dup,
            quoted_udp: self.spec.req.mode == SendMode::Udp,
            mtu,
        }))
    }

    /// The totals so far.
    pub fn summary(&self) -> SendSummary {
        self.summary.clone()
    }
}

#[cfg(test)]
mod tests;
