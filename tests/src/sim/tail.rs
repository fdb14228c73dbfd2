//! Tail loss for a simulated link: the last segments of a burst are lost the first time they
//! are sent.
//!
//! A "burst" is a run of data packets (at least [`TailLoss::min_len`] bytes) offered less than
//! [`TailLoss::gap`] apart. The link holds the newest [`TailLoss::segments`] of them back; when a
//! newer packet arrives within the gap the oldest held one goes on its way, and when the gap
//! passes with nothing new the held ones were the burst's tail: with probability
//! [`TailLoss::probability`] those carrying a TCP sequence number not seen before on this link
//! are dropped (retransmissions pass, so every run can
//! finish). `gap × (segments + 1)` must stay below the link's delay so that holding a packet
//! never delays it.

use super::{Duration, Instant};
use std::collections::{HashSet, VecDeque};
use ustack::wire::tcp::TcpSegment;

/// How a link drops burst tails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TailLoss {
    /// Silence after which the packets held are a burst's tail.
    pub gap: Duration,
    /// How many of the last packets of a burst are dropped.
    pub segments: usize,
    /// Packets shorter than this (pure ACKs) are not part of bursts.
    pub min_len: usize,
    /// Share of bursts whose tail is lost.
    pub probability: f64,
}

/// A held packet: when it was offered, when it is due, the packet.
type Held = (Instant, Instant, Vec<u8>);

/// The tail-loss state of one link direction.
#[derive(Debug, Default)]
pub struct TailDropper {
    held: VecDeque<Held>,
    /// (ports, sequence number) of every data segment seen.
    seen: HashSet<(u16, u16, u32)>,
}

/// The TCP identity of a data packet: ports and sequence number.
fn tcp_key(packet: &[u8]) -> Option<(u16, u16, u32)> {
    let (src, dst, protocol, bytes) = super::transport(packet)?;
    if protocol != 6 {
        return None;
    }
    let seg = TcpSegment::parse(src, dst, bytes).ok()?;
    (!seg.payload.is_empty()).then_some((seg.src_port, seg.dst_port, seg.seq.0))
}

impl TailDropper {
    /// When the held packets must be decided, if any are held.
    pub fn deadline(&self, t: &TailLoss) -> Option<Instant> {
        self.held.back().map(|h| h.0 + t.gap)
    }

    /// Whether the held packets must be decided at `now` (the gap has passed since the last).
    pub fn due(&self, t: &TailLoss, now: Instant) -> bool {
        self.deadline(t).is_some_and(|d| now >= d)
    }

    /// A packet due at `at` was offered at `now`; `lose` whether a burst tail decided now is
    /// lost. Puts the packets to schedule now (possibly this one) in `out`; returns how many held
    /// ones were dropped as a tail.
    pub fn offer(
        &mut self,
        t: &TailLoss,
        now: Instant,
        at: Instant,
        packet: Vec<u8>,
        lose: bool,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) -> u64 {
        if packet.len() < t.min_len {
            out.push((at, packet));
            return 0;
        }
        let dropped = self.settle(t, now, lose, out);
        self.held.push_back((now, at, packet));
        while self.held.len() > t.segments {
            if let Some((_, at, p)) = self.held.pop_front() {
                self.release(now, at, p, out);
            }
        }
        dropped
    }

    /// Decides the held packets if the gap has passed by `now`, losing the tail if `lose`.
    /// Returns how many were dropped.
    pub fn settle(
        &mut self,
        t: &TailLoss,
        now: Instant,
        lose: bool,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) -> u64 {
        if !self.due(t, now) {
            return 0;
        }
        let mut dropped = 0;
        while let Some((_, at, p)) = self.held.pop_front() {
            match tcp_key(&p) {
                Some(k) if lose && !self.seen.contains(&k) => {
                    self.seen.insert(k);
                    dropped += 1;
                }
                _ => self.release(now, at, p, out),
            }
        }
        dropped
    }

    fn release(
        &mut self,
        now: Instant,
        at: Instant,
        p: Vec<u8>,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) {
        if let Some(k) = tcp_key(&p) {
            self.seen.insert(k);
        }
        out.push((at.max(now), p));
    }
}
