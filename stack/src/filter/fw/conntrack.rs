//! Connection tracking with nftables' states — new, established, related, invalid,
//! untracked — for TCP, UDP and ICMP/ICMPv6 echo, in a table bounded in entries (the oldest
//! entry is evicted first, and evictions are counted: an attacker can churn the table, never
//! grow it).
//!
//! A flow is named by its original direction's addresses, protocol and ports (the echo
//! identifier for ICMP). The first packet makes an entry (`new`); a packet in the reply
//! direction makes it `established` (for TCP, as Linux's conntrack: the SYN-ACK answering a
//! SYN); an ICMP error quoting a tracked flow is `related`; a TCP segment other than a SYN with
//! no entry, and an ICMP error quoting nothing tracked, are `invalid`; other protocols and
//! later fragments are `untracked`. Entries expire: TCP 1 h once established (2 min after a
//! FIN from both sides or an RST, 1 min before), UDP 30 s (3 min once both sides spoke), ICMP
//! 30 s.

use super::view::{Frag, View};
use crate::time::{Duration, Instant};
use crate::wire::{icmp, icmpv6, proto, tcp::flags};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// A connection-tracking state (nftables' `ct state` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtState {
    /// The first packet of a flow.
    New,
    /// A flow that has seen packets both ways.
    Established,
    /// An ICMP error about a tracked flow.
    Related,
    /// Matches no flow and cannot start one.
    Invalid,
    /// Not tracked (other protocols, later fragments).
    Untracked,
}

impl CtState {
    /// The bit of this state in a state set.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// nftables' word for it.
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
            CtState::Untracked => "untracked",
        }
    }
}

/// A flow's name: (protocol, source, source port or echo id, destination, destination port).
pub type FlowKey = (u8, IpAddr, u16, IpAddr, u16);

#[derive(Clone, Copy, Debug)]
struct Entry {
    replied: bool,
    closing: bool,
    expires: Instant,
}

/// The tracker.
#[derive(Debug)]
pub struct Conntrack {
    flows: HashMap<FlowKey, Entry>,
    order: VecDeque<FlowKey>,
    max: usize,
    /// Entries evicted because the table was full.
    pub evicted: u64,
}

const TCP_SYN: Duration = Duration::from_secs(60);
const TCP_ESTABLISHED: Duration = Duration::from_secs(3600);
const TCP_CLOSING: Duration = Duration::from_secs(120);
const UDP_ONE_WAY: Duration = Duration::from_secs(30);
const UDP_STREAM: Duration = Duration::from_secs(180);
const ICMP: Duration = Duration::from_secs(30);

impl Conntrack {
    /// A tracker of at most `max` flows.
    pub fn new(max: usize) -> Conntrack {
        Conntrack {
            flows: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            evicted: 0,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The key of `v`'s flow in its own direction, if its protocol is tracked.
    fn key(v: &View, packet: &[u8]) -> Option<FlowKey> {
        match v.proto {
            proto::TCP | proto::UDP => {
                let (sp, dp) = v.ports?;
                Some((v.proto, v.src, sp, v.dst, dp))
            }
            proto::ICMP | proto::ICMPV6 => {
                let (t, _) = v.icmp?;
                let echo = matches!(
                    (v.proto, t),
                    (
                        proto::ICMP,
                        icmp::types::ECHO_REQUEST | icmp::types::ECHO_REPLY
                    ) | (
                        proto::ICMPV6,
                        icmpv6::types::ECHO_REQUEST | icmpv6::types::ECHO_REPLY
                    )
                );
                if !echo {
                    return None;
                }
                let id = packet.get(v.l4_at + 4..v.l4_at + 6)?;
                let id = u16::from_be_bytes([id[0], id[1]]);
                Some((v.proto, v.src, id, v.dst, 0))
            }
            _ => None,
        }
    }

    fn is_icmp_error(v: &View) -> bool {
        match (v.proto, v.icmp) {
            (proto::ICMP, Some((t, _))) => icmp::is_error(t),
            (proto::ICMPV6, Some((t, _))) => icmpv6::is_error(t),
            _ => false,
        }
    }

    /// The state of `v` (of `packet`), updating the table: call once per packet, in either
    /// direction.
    pub fn track(&mut self, now: Instant, v: &View, packet: &[u8]) -> CtState {
        if v.frag == Frag::Later {
            return CtState::Untracked;
        }
        if Self::is_icmp_error(v) {
            return self.related(now, v, packet);
        }
        let Some(key) = Self::key(v, packet) else {
            return CtState::Untracked;
        };
        let reverse = (key.0, key.3, key.4, key.1, key.2);
        let tcp = v.tcp_flags.unwrap_or(0);
        let ends = tcp & (flags::FIN | flags::RST) != 0;
        if let Some(e) = self.live(now, &key) {
            let state = if e.replied {
                CtState::Established
            } else {
                CtState::New
            };
            e.closing |= ends;
            e.expires = now
                + if e.closing {
                    TCP_CLOSING
                } else {
                    timeout(v, e.replied)
                };
            return state;
        }
        if let Some(e) = self.live(now, &reverse) {
            e.replied = true;
            e.closing |= ends;
            e.expires = now
                + if e.closing {
                    TCP_CLOSING
                } else {
                    timeout(v, true)
                };
            return CtState::Established;
        }
        // RFC 9293 §3.10.7: only a SYN (without ACK) opens a TCP flow.
        if v.proto == proto::TCP && tcp & (flags::SYN | flags::ACK | flags::RST) != flags::SYN {
            return CtState::Invalid;
        }
        self.insert(now, key, timeout(v, false));
        CtState::New
    }

    /// An ICMP error: related if it quotes a flow we track (either direction).
    fn related(&mut self, now: Instant, v: &View, packet: &[u8]) -> CtState {
        let quote = packet.get(v.l4_at + 8..).unwrap_or(&[]);
        let Some(q) = View::parse(quote) else {
            return CtState::Invalid;
        };
        let key = match (q.proto, q.ports) {
            (proto::TCP | proto::UDP, Some((sp, dp))) => (q.proto, q.src, sp, q.dst, dp),
            _ => match Self::key(&q, quote) {
                Some(k) => k,
                None => return CtState::Invalid,
            },
        };
        let reverse = (key.0, key.3, key.4, key.1, key.2);
        if self.live(now, &key).is_some() || self.live(now, &reverse).is_some() {
            CtState::Related
        } else {
            CtState::Invalid
        }
    }

    fn live(&mut self, now: Instant, key: &FlowKey) -> Option<&mut Entry> {
        let expired = self.flows.get(key).is_some_and(|e| e.expires <= now);
        if expired {
            self.flows.remove(key);
            return None;
        }
        self.flows.get_mut(key)
    }

    fn insert(&mut self, now: Instant, key: FlowKey, ttl: Duration) {
        while self.flows.len() >= self.max {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if self.flows.remove(&old).is_some() {
                self.evicted += 1;
            }
        }
        // Keys of flows that expired or were evicted may linger in `order`: it is trimmed
        // to twice the table whenever it grows past that.
        if self.order.len() >= 2 * self.max {
            let flows = &self.flows;
            self.order.retain(|k| flows.contains_key(k));
        }
        self.flows.insert(
            key,
            Entry {
                replied: false,
                closing: false,
                expires: now + ttl,
            },
        );
        self.order.push_back(key);
    }
}

fn timeout(v: &View, replied: bool) -> Duration {
    match (v.proto, replied) {
        (proto::TCP, false) => TCP_SYN,
        (proto::TCP, true) => TCP_ESTABLISHED,
        (proto::UDP, false) => UDP_ONE_WAY,
        (proto::UDP, true) => UDP_STREAM,
        _ => ICMP,
    }
}
