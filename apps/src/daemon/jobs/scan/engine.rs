//! The scanner itself, sans IO: it hands out probes ([`Engine::poll_probe`]), takes every
//! received packet ([`Engine::on_packet`]) or connect outcome ([`Engine::on_connect`]), says
//! when it next needs the clock ([`Engine::poll_at`]) and when it is done, and holds each
//! port's state with its reason. The clock is a parameter; the caller owns the sockets.
//!
//! Matching is exact: an answer counts only if it comes to our address and our source port,
//! from a scanned address and port, and — for TCP — acknowledges the sequence number of a try
//! that was sent (SYN-ACK and RST to SYN/FIN/Xmas: ack = seq + 1; to NULL: ack = seq; RST to
//! an ACK probe: seq = our ack, RFC 9293 §3.10.7.1), or for ICMP errors quotes it. Sequence
//! numbers come from a per-scan secret, so a blind forger cannot hit them. An answer that
//! contradicts a port's decided state buys one more probe, and only answers to that probe or
//! later count from then on: no answer can flip a state without a retry.
//!
//! Memory is fixed when the scan starts: one small [`Slot`] per (address, probe) and a
//! pending table bounded by the window ([`MAX_WINDOW`]); a packet costs two hash look-ups and
//! at most `1 + max_retries` comparisons, whatever the target sends.

use super::incoming::{self, Incoming, Quote, What};
use super::probe::{Probe, ProbeKind};
use super::state::{self, Answer};
use super::timing::{next_send, Rtt, Timing, Window, MAX_WINDOW};
use crate::daemon::proto::{PortState, Reason, ScanType};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};
use ustack::wire::proto;

/// Most (address, port) pairs one scan takes: the slots are allocated up front.
pub const MAX_WORK: usize = 1 << 20;

/// What a `-sT` connect came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// Connected (the stack saw SYN-ACK).
    Open,
    /// Refused (RST).
    Refused,
    /// An ICMP destination unreachable: the reason word, and whether the target sent it.
    Unreach(Reason, bool),
}

/// A scan to run.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// The technique.
    pub scan: ScanType,
    /// The addresses, in report order.
    pub hosts: Vec<IpAddr>,
    /// The ports (ignored for host discovery).
    pub ports: Vec<u16>,
    /// Timing.
    pub timing: Timing,
    /// Our IPv4 address (probes to IPv4 targets come from it).
    pub src4: Option<Ipv4Addr>,
    /// Our IPv6 address.
    pub src6: Option<Ipv6Addr>,
    /// Our source port (claimed for the scan), and the echo identifier.
    pub sport: u16,
    /// The per-scan secret sequence numbers and the probe order come from.
    pub secret: u64,
}

/// A decided port (or probe of host discovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The state.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// The TTL of the answer, if an answer decided it.
    pub ttl: Option<u8>,
}

/// The per-(address, probe) record: 8 bytes of state, no clock.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    decided: Option<(PortState, Reason)>,
    ttl: u8,
    /// Tries sent.
    tries: u8,
    /// Answers to tries below this are ignored (raised when a contradiction is re-checked).
    min_try: u8,
    /// A contradiction already bought a re-check.
    rechecked: bool,
    queued: bool,
}

/// A probe in flight.
#[derive(Clone, Copy, Debug)]
struct Pending {
    sent: Instant,
    deadline: Instant,
    try_no: u8,
}

/// Per-host facts for the report.
#[derive(Clone, Copy, Debug, Default)]
struct HostInfo {
    /// The first answer's reason (host discovery's "why up").
    up: Option<Reason>,
    srtt: Option<Duration>,
}

/// The engine. See the module docs.
#[derive(Debug)]
pub struct Engine {
    cfg: ScanConfig,
    items: Vec<ProbeKind>,
    item_ports: Vec<u16>,
    host_index: HashMap<IpAddr, u32>,
    port_index: HashMap<u16, u32>,
    echo_item: Option<u32>,
    slots: Vec<Slot>,
    hosts: Vec<HostInfo>,
    /// The next never-sent work index, and the permutation that spreads it.
    fresh: usize,
    stride: usize,
    offset: usize,
    retry: VecDeque<u32>,
    pending: HashMap<u32, Pending>,
    timers: BTreeSet<(Instant, u32)>,
    rtt: Rtt,
    window: Window,
    last_send: Option<Instant>,
    /// The highest try that ever got an answer (nmap's `max_successful_tryno`).
    best_try: u8,
    probes_sent: u64,
    /// RSTs owed to SYN-ACKs (the half-open scan's second packet), bounded by the window.
    resets: VecDeque<Probe>,
    /// The scan delay drops have pushed up to (nmap's `boostScanDelay`).
    boosted: Duration,
}

impl Engine {
    /// A new scan; refuses one without hosts, with too much work, or without a source address
    /// of a target's family.
    pub fn new(cfg: ScanConfig) -> Result<Engine, String> {
        let (items, item_ports): (Vec<ProbeKind>, Vec<u16>) = match cfg.scan {
            ScanType::Ping => vec![
                (ProbeKind::Echo, 0),
                (ProbeKind::Syn, 443),
                (ProbeKind::Ack, 80),
            ]
            .into_iter()
            .unzip(),
            s => cfg.ports.iter().map(|&p| (kind_of(s), p)).unzip(),
        };
        if cfg.hosts.is_empty() || items.is_empty() {
            return Err("nothing to scan: no addresses or no ports".into());
        }
        let work = cfg.hosts.len().saturating_mul(items.len());
        if work > MAX_WORK {
            return Err(format!(
                "{} addresses × {} ports is more than {MAX_WORK} probes' worth: scan less at once",
                cfg.hosts.len(),
                items.len()
            ));
        }
        if let Some(h) = cfg.hosts.iter().find(|h| match h {
            IpAddr::V4(_) => cfg.src4.is_none(),
            IpAddr::V6(_) => cfg.src6.is_none(),
        }) {
            return Err(format!("{h}: the stack has no address of its family"));
        }
        let host_index = cfg
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i as u32))
            .collect();
        let mut port_index = HashMap::new();
        let mut echo_item = None;
        for (i, (k, p)) in items.iter().zip(&item_ports).enumerate() {
            if *k == ProbeKind::Echo {
                echo_item = Some(i as u32);
            } else {
                port_index.insert(*p, i as u32);
            }
        }
        let stride = coprime_stride(work, cfg.secret);
        let offset = (cfg.secret >> 32) as usize % work;
        Ok(Engine {
            rtt: Rtt::new(&cfg.timing),
            window: Window::new(&cfg.timing),
            hosts: vec![HostInfo::default(); cfg.hosts.len()],
            slots: vec![Slot::default(); work],
            items,
            item_ports,
            host_index,
            port_index,
            echo_item,
            fresh: 0,
            stride,
            offset,
            retry: VecDeque::new(),
            pending: HashMap::new(),
            timers: BTreeSet::new(),
            last_send: None,
            best_try: 0,
            probes_sent: 0,
            resets: VecDeque::new(),
            boosted: Duration::ZERO,
            cfg,
        })
    }

    /// The scan's configuration.
    pub fn config(&self) -> &ScanConfig {
        &self.cfg
    }

    fn nitems(&self) -> usize {
        self.items.len()
    }

    fn split(&self, slot: u32) -> (usize, usize) {
        let s = slot as usize;
        (s / self.nitems(), s % self.nitems())
    }

    /// The sequence number of try `try_no` of `slot` (TCP), from the secret: the tries of one
    /// probe differ in the high 16 bits, so an acknowledgment names its try.
    fn seq_of(&self, slot: u32, try_no: u8) -> u32 {
        let base = mix(self.cfg.secret ^ u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (base as u32).wrapping_add(u32::from(try_no) << 16)
    }

    /// The acknowledgment number of try `try_no` of an ACK probe.
    fn ack_of(&self, slot: u32, try_no: u8) -> u32 {
        let base = mix(!self.cfg.secret ^ u64::from(slot).wrapping_mul(0xD1B5_4A32_D192_ED03));
        (base as u32).wrapping_add(u32::from(try_no) << 16)
    }

    /// The echo sequence number of try `try_no` of host discovery's echo to `slot`.
    fn echo_seq_of(&self, slot: u32, try_no: u8) -> u16 {
        ((self.seq_of(slot, 0) >> 16) as u16).wrapping_add(u16::from(try_no))
    }

    /// Tries a silent probe gets: nmap's rule — one more than the highest try that ever got
    /// an answer (at least two), never more than `1 + max_retries`.
    fn allowed_tries(&self) -> u8 {
        let adaptive = self.best_try.saturating_add(1).max(1);
        self.cfg.timing.max_retries.min(adaptive).saturating_add(1)
    }

    fn host_done(&self, host: usize) -> bool {
        self.cfg.scan == ScanType::Ping && self.hosts[host].up.is_some()
    }

    fn needs_probe(&self, slot: u32) -> bool {
        let s = &self.slots[slot as usize];
        s.decided.is_none() && !self.host_done(self.split(slot).0)
    }

    /// The next probe, if one may leave at `now` (window, scan delay and rate allowing).
    pub fn poll_probe(&mut self, now: Instant) -> Option<Probe> {
        self.expire(now);
        if self.pending.len() >= self.window.allowed().min(MAX_WINDOW) {
            return None;
        }
        if next_send(self.last_send, self.interval()).is_some_and(|t| t > now) {
            return None;
        }
        let slot = self.next_slot()?;
        let s = &mut self.slots[slot as usize];
        let try_no = s.tries;
        s.tries = s.tries.saturating_add(1);
        let deadline = now + self.rtt.timeout();
        self.pending.insert(
            slot,
            Pending {
                sent: now,
                deadline,
                try_no,
            },
        );
        self.timers.insert((deadline, slot));
        self.last_send = Some(now);
        self.probes_sent += 1;
        Some(self.probe(slot, try_no))
    }

    /// Drops retries that are moot (decided, or in flight again) from the queue's front, so
    /// that a non-empty queue means a probe to send.
    fn prune_retry(&mut self) {
        while let Some(&slot) = self.retry.front() {
            if self.needs_probe(slot) && !self.pending.contains_key(&slot) {
                break;
            }
            self.retry.pop_front();
            self.slots[slot as usize].queued = false;
        }
    }

    /// The least time between two probes: the template's delay or `--max-rate`, or the
    /// delay drops pushed up to.
    fn interval(&self) -> Duration {
        self.cfg.timing.interval().max(self.boosted)
    }

    /// A probe was dropped (a retransmission was answered): halve the window and, as nmap
    /// does, double the scan delay (from 5 ms) up to the template's maximum for the scan's
    /// transport — a target that rate-limits its answers (Linux: ICMP errors at one per
    /// second per peer after a burst of six) is then probed as slowly as it answers.
    fn on_drop(&mut self, try_no: u8) {
        self.best_try = self.best_try.max(try_no);
        self.window.on_drop(self.pending.len());
        self.boost();
    }

    fn boost(&mut self) {
        let t = &self.cfg.timing;
        let max = match self.cfg.scan {
            ScanType::Udp => t.max_udp_scan_delay,
            _ => t.max_tcp_scan_delay,
        };
        self.boosted = (self.boosted * 2).max(Duration::from_millis(5)).min(max);
    }

    /// The next RST to send: every exact SYN-ACK — a retransmitted one too — gets one, so the
    /// target drops its half-open connection at once (nmap leaves this to its kernel; here
    /// the scan's claimed port has no connection to answer for it). Not paced: it answers.
    pub fn poll_reset(&mut self) -> Option<Probe> {
        self.resets.pop_front()
    }

    /// Retries first, then fresh work in the scan's spread order.
    fn next_slot(&mut self) -> Option<u32> {
        while let Some(slot) = self.retry.pop_front() {
            self.slots[slot as usize].queued = false;
            if self.needs_probe(slot) && !self.pending.contains_key(&slot) {
                return Some(slot);
            }
        }
        let work = self.slots.len();
        while self.fresh < work {
            let slot = ((self.fresh * self.stride + self.offset) % work) as u32;
            self.fresh += 1;
            if self.needs_probe(slot) {
                return Some(slot);
            }
        }
        None
    }

    fn probe(&self, slot: u32, try_no: u8) -> Probe {
        let (host, item) = self.split(slot);
        let kind = self.items[item];
        Probe {
            dst: self.cfg.hosts[host],
            dport: self.item_ports[item],
            sport: self.cfg.sport,
            kind,
            seq: if kind == ProbeKind::Echo {
                u32::from(self.echo_seq_of(slot, try_no))
            } else {
                self.seq_of(slot, try_no)
            },
            ack: if kind == ProbeKind::Ack {
                self.ack_of(slot, try_no)
            } else {
                0
            },
            try_no,
        }
    }

    /// Gives up on probes whose time ran out: another try, or no response.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, slot)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.timers.pop_first();
            if self.pending.remove(&slot).is_none() || !self.needs_probe(slot) {
                continue;
            }
            // UDP: silence from a host that answers other ports is more likely its ICMP rate
            // limit than an open port. Such a port gets every retry the template allows, and
            // the scan slows down (as nmap's UDP scans do) until the errors come through.
            let (host, _) = self.split(slot);
            let limited = self.cfg.scan == ScanType::Udp && self.hosts[host].up.is_some();
            let allowed = if limited {
                self.boost();
                self.cfg.timing.max_retries.saturating_add(1)
            } else {
                self.allowed_tries_for(slot)
            };
            let s = &mut self.slots[slot as usize];
            if s.tries < allowed {
                if !s.queued {
                    s.queued = true;
                    self.retry.push_back(slot);
                }
            } else {
                s.decided = Some((state::silent(self.cfg.scan), Reason::NoResponse));
            }
        }
        self.prune_retry();
    }

    fn allowed_tries_for(&self, slot: u32) -> u8 {
        // A re-check after a contradiction gets its own full try.
        let s = &self.slots[slot as usize];
        self.allowed_tries().max(s.min_try.saturating_add(1))
    }

    /// When the engine next needs [`Engine::poll_probe`] called (a timeout, the end of a scan
    /// delay, or — an instant already past — now, when an answer queued a probe); None when it
    /// waits for nothing but packets (or is done).
    pub fn poll_at(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(t, _)| t);
        let has_work = !self.retry.is_empty() || self.fresh < self.slots.len();
        let room = self.pending.len() < self.window.allowed().min(MAX_WINDOW);
        // With nothing to wait for, the last send (in the past) says "now".
        let send = (has_work && room)
            .then(|| next_send(self.last_send, self.interval()).or(self.last_send))
            .flatten();
        match (timer, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every port decided (or every host of host discovery up or given up on).
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
            && self.fresh >= self.slots.len()
            && self.retry.iter().all(|&s| !self.needs_probe(s))
    }

    /// Probes sent so far (retries included).
    pub fn probes_sent(&self) -> u64 {
        self.probes_sent
    }

    /// The probe timeout now.
    pub fn timeout(&self) -> Duration {
        self.rtt.timeout()
    }

    /// Takes a received packet (raw IPv4 or IPv6 bytes); anything not answering an
    /// outstanding or earlier probe exactly is ignored. Returns whether it counted.
    pub fn on_packet(&mut self, now: Instant, bytes: &[u8]) -> bool {
        let Some(pkt) = incoming::read(bytes) else {
            return false;
        };
        if !self.is_ours(pkt.dst) {
            return false;
        }
        let Some((slot, try_no, answer)) = self.match_packet(&pkt) else {
            return false;
        };
        if let (Answer::SynAck, What::Tcp { sport, ack, .. }) = (answer, pkt.what) {
            if self.resets.len() < MAX_WINDOW {
                // RFC 9293 §3.10.7.4: a RST is acceptable at exactly RCV.NXT = our ISS + 1.
                self.resets.push_back(Probe {
                    dst: pkt.src,
                    dport: sport,
                    sport: self.cfg.sport,
                    kind: ProbeKind::Rst,
                    seq: ack.unwrap_or_default(),
                    ack: 0,
                    try_no: 0,
                });
            }
        }
        self.answer(now, slot, try_no, answer, pkt.ttl);
        self.prune_retry();
        true
    }

    /// `-sT`: what the connect of `probe` came to (the driver's timeouts are no outcome: the
    /// engine's own timer retries).
    pub fn on_connect(&mut self, now: Instant, probe: &Probe, outcome: ConnectOutcome) -> bool {
        let Some(slot) = self.slot_of(probe.dst, probe.dport, false) else {
            return false;
        };
        if probe.try_no >= self.slots[slot as usize].tries {
            return false;
        }
        let answer = match outcome {
            ConnectOutcome::Open => Answer::SynAck,
            ConnectOutcome::Refused => Answer::Rst,
            ConnectOutcome::Unreach(reason, from_target) => Answer::Unreach {
                reason,
                from_target,
            },
        };
        self.answer(now, slot, Some(probe.try_no), answer, 0);
        self.prune_retry();
        true
    }

    fn is_ours(&self, dst: IpAddr) -> bool {
        match dst {
            IpAddr::V4(a) => self.cfg.src4 == Some(a),
            IpAddr::V6(a) => self.cfg.src6 == Some(a),
        }
    }

    fn slot_of(&self, host: IpAddr, port: u16, echo: bool) -> Option<u32> {
        let h = *self.host_index.get(&host)?;
        let i = if echo {
            self.echo_item?
        } else {
            *self.port_index.get(&port)?
        };
        Some(h * self.nitems() as u32 + i)
    }

    /// The try of `slot` whose value (by `value_of`) is `value`, among those sent and not
    /// superseded by a re-check.
    fn try_with(&self, slot: u32, value: u32, value_of: impl Fn(u8) -> u32) -> Option<u8> {
        let s = &self.slots[slot as usize];
        (s.min_try..s.tries).find(|&t| value_of(t) == value)
    }

    /// The probe a packet answers, its try when the packet names it, and what it says.
    fn match_packet(&self, p: &Incoming) -> Option<(u32, Option<u8>, Answer)> {
        match p.what {
            What::Tcp {
                sport,
                dport,
                seq,
                ack,
                syn,
                rst,
            } => {
                if dport != self.cfg.sport {
                    return None;
                }
                let slot = self.slot_of(p.src, sport, false)?;
                let kind = self.items[self.split(slot).1];
                if !kind.is_tcp() {
                    return None;
                }
                let (try_no, answer) = if syn && !rst {
                    // SYN-ACK: only to a SYN, acknowledging its sequence number + 1.
                    if kind != ProbeKind::Syn {
                        return None;
                    }
                    let ack = ack?;
                    let t = self.try_with(slot, ack, |t| self.seq_of(slot, t).wrapping_add(1))?;
                    (t, Answer::SynAck)
                } else if rst && !syn {
                    let t = if kind == ProbeKind::Ack {
                        // RFC 9293 §3.10.7.1: the RST to an ACK carries SEQ = SEG.ACK.
                        self.try_with(slot, seq, |t| self.ack_of(slot, t))?
                    } else {
                        let len = kind.seg_len();
                        self.try_with(slot, ack?, |t| self.seq_of(slot, t).wrapping_add(len))?
                    };
                    (t, Answer::Rst)
                } else {
                    return None;
                };
                Some((slot, Some(try_no), answer))
            }
            What::Udp { sport, dport } => {
                if dport != self.cfg.sport {
                    return None;
                }
                let slot = self.slot_of(p.src, sport, false)?;
                if self.items[self.split(slot).1] != ProbeKind::Udp
                    || self.slots[slot as usize].tries == 0
                {
                    return None;
                }
                Some((slot, None, Answer::Udp))
            }
            What::EchoReply { ident, seq } => {
                if ident != self.cfg.sport {
                    return None;
                }
                let slot = self.slot_of(p.src, 0, true)?;
                let t = self.try_with(slot, u32::from(seq), |t| {
                    u32::from(self.echo_seq_of(slot, t))
                })?;
                Some((slot, Some(t), Answer::EchoReply))
            }
            What::Unreach { v6, code, quote } => self.match_unreach(p.src, v6, code, &quote),
        }
    }

    fn match_unreach(
        &self,
        from: IpAddr,
        v6: bool,
        code: u8,
        q: &Quote,
    ) -> Option<(u32, Option<u8>, Answer)> {
        let reason = if v6 {
            state::unreach6(code)?
        } else {
            state::unreach4(code)?
        };
        if !self.is_ours(q.src) || q.sport != self.cfg.sport {
            return None;
        }
        let slot = self.slot_of(q.dst, q.dport, false)?;
        let kind = self.items[self.split(slot).1];
        let answer = Answer::Unreach {
            reason,
            from_target: from == q.dst,
        };
        match (kind, q.protocol, q.seq) {
            (ProbeKind::Udp, proto::UDP, _) if self.slots[slot as usize].tries > 0 => {
                Some((slot, None, answer))
            }
            (k, proto::TCP, Some(seq)) if k.is_tcp() => {
                // RFC 5927 §4.1's check: the quoted sequence number must be one we sent.
                let t = self.try_with(slot, seq, |t| self.seq_of(slot, t))?;
                Some((slot, Some(t), answer))
            }
            _ => None,
        }
    }

    /// Records `answer` to try `try_no` (None: the answer does not name its try) of `slot`.
    fn answer(&mut self, now: Instant, slot: u32, try_no: Option<u8>, answer: Answer, ttl: u8) {
        let (host, _) = self.split(slot);
        let pending = self.pending.get(&slot).copied();
        // Karn's rule: a round trip only from an answer to the very try in flight (and for a
        // datagram that cannot name its try, only when there was one try).
        if let Some(p) = pending {
            let tries = self.slots[slot as usize].tries;
            let named = try_no.map_or(tries == 1, |t| t == p.try_no);
            if named {
                let rtt = now.saturating_duration_since(p.sent);
                self.rtt.sample(rtt);
                let h = &mut self.hosts[host];
                h.srtt = Some(match h.srtt {
                    None => rtt,
                    Some(s) => s - s / 8 + rtt / 8,
                });
            }
        }
        // A retransmission was answered: an earlier try was lost somewhere. A datagram names
        // no try; one answering a port probed more than once is taken as the later try's.
        let tries = self.slots[slot as usize].tries;
        let answered = try_no.unwrap_or(tries.saturating_sub(1));
        if answered > 0 {
            self.on_drop(answered);
        }
        self.window.on_answer();
        if self.cfg.scan == ScanType::Ping {
            self.answer_discovery(slot, answer, ttl);
            return;
        }
        let Some(decision) = state::classify(self.cfg.scan, answer) else {
            return;
        };
        if self.hosts[host].up.is_none() {
            self.hosts[host].up = Some(decision.1);
        }
        let s = &mut self.slots[slot as usize];
        match s.decided {
            None => {
                s.decided = Some(decision);
                s.ttl = ttl;
                self.settle(slot);
            }
            Some(d) if d.0 == decision.0 => {}
            // A contradiction: one more probe settles it (once), and only answers to it or
            // later count now.
            Some(_) if !s.rechecked => {
                s.rechecked = true;
                s.decided = None;
                s.min_try = s.tries;
                if !s.queued && !self.pending.contains_key(&slot) {
                    s.queued = true;
                    self.retry.push_back(slot);
                }
            }
            Some(_) => {}
        }
    }

    fn answer_discovery(&mut self, slot: u32, answer: Answer, ttl: u8) {
        let (host, _) = self.split(slot);
        let Some(reason) = state::host_up(answer) else {
            return;
        };
        let s = &mut self.slots[slot as usize];
        if s.decided.is_none() {
            s.decided = Some((PortState::Open, reason));
            s.ttl = ttl;
        }
        if self.hosts[host].up.is_none() {
            self.hosts[host].up = Some(reason);
        }
        // The host is up: its other probes are moot.
        let n = self.nitems();
        for other in host * n..(host + 1) * n {
            self.settle(other as u32);
        }
    }

    /// A decided slot leaves the pending table (its timer entry is dropped lazily).
    fn settle(&mut self, slot: u32) {
        if let Some(p) = self.pending.remove(&slot) {
            self.timers.remove(&(p.deadline, slot));
        }
    }

    /// Host `i`'s answer (why it is up), if it answered at all.
    pub fn host_up(&self, i: usize) -> Option<Reason> {
        self.hosts.get(i).and_then(|h| h.up)
    }

    /// Host `i`'s smoothed round trip.
    pub fn host_latency(&self, i: usize) -> Option<Duration> {
        self.hosts.get(i).and_then(|h| h.srtt)
    }

    /// Host `i`'s ports with their decisions, in the order given (None: not decided yet).
    pub fn host_ports(&self, i: usize) -> impl Iterator<Item = (u16, Option<Decision>)> + '_ {
        let n = self.nitems();
        let base = i * n;
        (0..n).filter_map(move |item| {
            let s = self.slots.get(base + item)?;
            let d = s.decided.map(|(state, reason)| Decision {
                state,
                reason,
                ttl: (reason != Reason::NoResponse && s.ttl != 0).then_some(s.ttl),
            });
            Some((self.item_ports[item], d))
        })
    }

    /// Probes in flight now (never more than [`MAX_WINDOW`]).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

/// The probe kind of a port scan's technique.
fn kind_of(scan: ScanType) -> ProbeKind {
    match scan {
        ScanType::Syn | ScanType::Ping => ProbeKind::Syn,
        ScanType::Connect => ProbeKind::Connect,
        ScanType::Udp => ProbeKind::Udp,
        ScanType::Fin => ProbeKind::Fin,
        ScanType::Null => ProbeKind::Null,
        ScanType::Xmas => ProbeKind::Xmas,
        ScanType::Ack => ProbeKind::Ack,
    }
}

/// splitmix64's finalizer: the secret's bits spread over the whole word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A stride coprime with `n`: `i ↦ (i·stride + offset) mod n` visits every index once, in an
/// order that spreads ports and hosts (nmap randomizes its port order too).
fn coprime_stride(n: usize, secret: u64) -> usize {
    if n <= 2 {
        return 1;
    }
    let mut s = (mix(secret) as usize % (n - 1)) + 1;
    while gcd(s, n) != 1 {
        s = s % (n - 1) + 1;
    }
    s
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
