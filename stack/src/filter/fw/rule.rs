//! A rule: matches, then statements (counter, log, limit), then a verdict.

use super::conntrack::CtState;
use super::sets::{AddrSet, PortSet};
use super::view::{Frag, View};
use crate::rate::TokenBucket;
use crate::time::Instant;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Source or destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `saddr` / `sport`.
    Src,
    /// `daddr` / `dport`.
    Dst,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `==` (or no operator).
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
}

impl Cmp {
    fn holds(self, a: u32, b: u32) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Gt => a > b,
            Cmp::Le => a <= b,
            Cmp::Ge => a >= b,
        }
    }
}

/// An address set: inline or a named set's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addrs {
    /// `{ 198.18.0.0/24, 2001:2::1 }` or one prefix.
    Inline(AddrSet),
    /// `@NAME`.
    Named(usize),
}

/// A port set: inline or a named set's index.
#[derive(Clone, Debug, PartialEq)]
pub enum Ports {
    /// `{ 22, 80-90 }` or one port or range.
    Inline(PortSet),
    /// `@NAME`.
    Named(usize),
}

/// One match of a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Match {
    /// `ip` / `ip6`: the family alone (implied by `ip saddr`, `ip6 daddr`, …).
    Family {
        /// IPv6.
        v6: bool,
    },
    /// `ip saddr`, `ip6 daddr`, …
    Addr {
        /// Which address.
        side: Side,
        /// The addresses.
        addrs: Addrs,
        /// `!=`.
        negate: bool,
    },
    /// `meta l4proto tcp`, `ip protocol { tcp, udp }`, and implied by `tcp dport`, …
    Proto {
        /// Protocol numbers.
        protos: Vec<u8>,
        /// `!=`.
        negate: bool,
    },
    /// `tcp dport 80`, `udp sport { 53, 123 }`, `th dport 1-1023`.
    Port {
        /// Which port.
        side: Side,
        /// The ports.
        ports: Ports,
        /// `!=`.
        negate: bool,
    },
    /// `tcp flags syn` (the flag is set), `tcp flags & (syn|ack) == syn`.
    TcpFlags {
        /// Bits looked at.
        mask: u8,
        /// Their value.
        value: u8,
    },
    /// `icmp type echo-request`, `icmpv6 type { 1, 2 }`.
    IcmpType {
        /// The types.
        types: Vec<u8>,
    },
    /// `icmp code 3`.
    IcmpCode {
        /// The code compared.
        cmp: Cmp,
        /// With this value.
        value: u8,
    },
    /// `meta length > 1000` (IP total length).
    Length {
        /// Comparison.
        cmp: Cmp,
        /// Bytes.
        value: u16,
    },
    /// `ip ttl < 5`, `ip6 hoplimit 1`.
    Ttl {
        /// Comparison.
        cmp: Cmp,
        /// Value.
        value: u8,
    },
    /// `ip frag` (any fragment) / `ip frag first|later|none`.
    Fragment {
        /// Which kinds of packet match.
        kinds: u8,
    },
    /// `ct state established,related`.
    CtState {
        /// State bits ([`CtState::bit`]).
        states: u8,
    },
}

/// Bits of [`Match::Fragment`]'s kinds.
pub const FRAG_WHOLE: u8 = 1;
/// The first fragment.
pub const FRAG_FIRST: u8 = 2;
/// A later fragment.
pub const FRAG_LATER: u8 = 4;

/// What `reject` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectWith {
    /// TCP: an RST; others: ICMP port unreachable / ICMPv6 port unreachable (nft's default).
    Default,
    /// `with tcp reset`.
    TcpReset,
    /// `with icmp type CODE` / `with icmpv6 type CODE`: destination unreachable with this code.
    Unreachable(u8),
}

/// The end of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Stop and let the packet through.
    Accept,
    /// Stop and drop it.
    Drop,
    /// Stop, drop it and answer.
    Reject(RejectWith),
}

/// A rate limit (`limit rate [over] N/second [burst B packets] [per saddr]`).
#[derive(Debug)]
pub struct Limit {
    /// Packets per second.
    pub rate: u32,
    /// Burst.
    pub burst: u32,
    /// Matches when over the rate (else while under).
    pub over: bool,
    /// One bucket per source address (bounded table) instead of one for the rule.
    pub per_source: bool,
    bucket: Option<TokenBucket>,
    sources: HashMap<IpAddr, TokenBucket>,
    order: VecDeque<IpAddr>,
    /// Per-source buckets evicted because the table was full.
    pub evicted: u64,
}

/// Most per-source buckets a limit keeps (the oldest is evicted first).
pub const MAX_SOURCES: usize = 4096;

impl Clone for Limit {
    fn clone(&self) -> Self {
        Limit::new(self.rate, self.burst, self.over, self.per_source)
    }
}

impl PartialEq for Limit {
    fn eq(&self, o: &Self) -> bool {
        (self.rate, self.burst, self.over, self.per_source)
            == (o.rate, o.burst, o.over, o.per_source)
    }
}

impl Limit {
    /// A limit of `rate` packets per second with `burst`.
    pub fn new(rate: u32, burst: u32, over: bool, per_source: bool) -> Limit {
        Limit {
            rate,
            burst,
            over,
            per_source,
            bucket: None,
            sources: HashMap::new(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Whether the limit statement matches this packet (and takes a token).
    fn matches(&mut self, now: Instant, src: IpAddr) -> bool {
        let (rate, burst) = (self.rate, self.burst.max(1));
        let allowed = if self.per_source {
            if !self.sources.contains_key(&src) {
                if self.sources.len() >= MAX_SOURCES {
                    if let Some(old) = self.order.pop_front() {
                        self.sources.remove(&old);
                        self.evicted += 1;
                    }
                }
                self.sources.insert(src, TokenBucket::new(rate, burst, now));
                self.order.push_back(src);
            }
            self.sources.get_mut(&src).is_some_and(|b| b.take(now))
        } else {
            self.bucket
                .get_or_insert_with(|| TokenBucket::new(rate, burst, now))
                .take(now)
        };
        allowed != self.over
    }
}

/// A statement before the verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `counter` (every rule counts anyway; this is for nft's syntax).
    Counter,
    /// `log [prefix "TEXT"]`.
    Log(String),
    /// A rate limit: the rule goes on only while it matches.
    Limit(Limit),
}

/// A rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Its handle (stable while it exists; `ustack filter delete ID`).
    pub id: u32,
    /// The text it was parsed from.
    pub text: String,
    /// Matches, all of which must hold.
    pub matches: Vec<Match>,
    /// Statements, in order.
    pub stmts: Vec<Stmt>,
    /// Verdict; none: go on to the next rule.
    pub verdict: Option<Verdict>,
    /// Packets that reached the verdict (or the end of the rule).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What a rule needs from its surroundings to match.
pub(crate) struct Ctx<'a> {
    pub(crate) addr_sets: &'a [AddrSet],
    pub(crate) port_sets: &'a [PortSet],
    pub(crate) ct: CtState,
    pub(crate) now: Instant,
}

impl Match {
    fn holds(&self, v: &View, c: &Ctx<'_>) -> bool {
        match self {
            Match::Family { v6 } => v.is_v6() == *v6,
            Match::Addr {
                side,
                addrs,
                negate,
            } => {
                let a = if *side == Side::Src { v.src } else { v.dst };
                let set = match addrs {
                    Addrs::Inline(s) => s,
                    Addrs::Named(i) => &c.addr_sets[*i],
                };
                set.contains(a) != *negate
            }
            Match::Proto { protos, negate } => protos.contains(&v.proto) != *negate,
            Match::Port {
                side,
                ports,
                negate,
            } => {
                // Ports are only in a whole datagram or a first fragment.
                let Some((s, d)) = v.ports else {
                    return false;
                };
                let p = if *side == Side::Src { s } else { d };
                let set = match ports {
                    Ports::Inline(s) => s,
                    Ports::Named(i) => &c.port_sets[*i],
                };
                set.contains(p) != *negate
            }
            Match::TcpFlags { mask, value } => v.tcp_flags.is_some_and(|f| f & mask == *value),
            Match::IcmpType { types } => v.icmp.is_some_and(|(t, _)| types.contains(&t)),
            Match::IcmpCode { cmp, value } => v
                .icmp
                .is_some_and(|(_, code)| cmp.holds(code.into(), (*value).into())),
            Match::Length { cmp, value } => cmp.holds(v.len.into(), (*value).into()),
            Match::Ttl { cmp, value } => cmp.holds(v.ttl.into(), (*value).into()),
            Match::Fragment { kinds } => {
                let bit = match v.frag {
                    Frag::Whole => FRAG_WHOLE,
                    Frag::First => FRAG_FIRST,
                    Frag::Later => FRAG_LATER,
                };
                kinds & bit != 0
            }
            Match::CtState { states } => states & c.ct.bit() != 0,
        }
    }
}

impl Rule {
    /// Whether every match holds and every limit lets the packet on; counts it if so.
    pub(crate) fn applies(&mut self, v: &View, c: &Ctx<'_>) -> bool {
        if !self.matches.iter().all(|m| m.holds(v, c)) {
            return false;
        }
        for s in &mut self.stmts {
            match s {
                Stmt::Limit(l) => {
                    if !l.matches(c.now, v.src) {
                        return false;
                    }
                }
                Stmt::Log(prefix) => {
                    log::debug!(target: "ustack::firewall", "{prefix}rule {}: {} > {} proto {}", self.id, v.src, v.dst, v.proto)
                }
                Stmt::Counter => {}
            }
        }
        self.packets += 1;
        self.bytes += u64::from(v.len);
        true
    }

    /// Whether the rule reads the transport header (ports, flags, ICMP type or code).
    pub fn needs_transport(&self) -> bool {
        self.matches.iter().any(|m| {
            matches!(
                m,
                Match::Port { .. }
                    | Match::TcpFlags { .. }
                    | Match::IcmpType { .. }
                    | Match::IcmpCode { .. }
            )
        })
    }
}
