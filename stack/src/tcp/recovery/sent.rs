//! The segments in flight, in sequence order, each with when it was last (re)transmitted: what
//! RACK (RFC 8985 §5.2 "per-segment state") and the tail loss probe reason about.
//!
//! Entries cover `[SND.UNA, SND.MAX)` without gaps in the order they were first sent. The log is
//! bounded by [`MAX_SEGMENTS`]: beyond it new sends extend the last entry instead of adding one
//! (coarser timing, never lost data), and a retransmission that would need a split marks the
//! whole entry. Lookups are binary searches; loss detection walks the log once per ACK, which the
//! bound keeps cheap.

use crate::time::Instant;
use crate::wire::tcp::SeqNumber;
use std::collections::VecDeque;

/// Most entries kept (a 256 KiB flight in 64-byte segments).
pub const MAX_SEGMENTS: usize = 4096;

/// One transmitted segment (RFC 8985 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// First sequence number.
    pub start: SeqNumber,
    /// One past the last sequence number.
    pub end: SeqNumber,
    /// When it was last sent (`RACK.segment.xmit_ts`).
    pub sent_at: Instant,
    /// Transmission order: increases with every (re)transmission, so "sent after" is decided
    /// even between segments sent at the same instant (RFC 8985 §6.2 breaks such ties by
    /// sequence number, which gets a retransmission wrong).
    pub order: u64,
    /// It was retransmitted at least once.
    pub retransmitted: bool,
    /// The peer SACKed all of it.
    pub sacked: bool,
    /// Marked lost and not retransmitted since.
    pub lost: bool,
}

/// The segments in flight.
#[derive(Debug, Default, Clone)]
pub struct SentLog {
    segs: VecDeque<Sent>,
    /// The next transmission's `order`.
    next_order: u64,
}

impl SentLog {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// The entries, in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.segs.iter()
    }

    /// The highest entry (the last segment sent), if any.
    pub fn last(&self) -> Option<&Sent> {
        self.segs.back()
    }

    /// Forgets everything (the connection reset its sending state).
    pub fn clear(&mut self) {
        self.segs.clear();
    }

    /// Index of the entry holding `seq`, if any.
    fn find(&self, seq: SeqNumber) -> Option<usize> {
        let i = self.segs.partition_point(|s| s.end.le(seq));
        (i < self.segs.len() && self.segs[i].start.le(seq)).then_some(i)
    }

    /// Splits the entry holding `at` so that one entry starts there (if room remains).
    fn split_at(&mut self, at: SeqNumber) {
        if self.segs.len() >= MAX_SEGMENTS {
            return;
        }
        if let Some(i) = self.find(at) {
            let s = self.segs[i];
            if s.start != at {
                self.segs[i].end = at;
                self.segs.insert(i + 1, Sent { start: at, ..s });
            }
        }
    }

    /// `[start, end)` was transmitted at `now`. New data (at the log's end) gets an entry; data
    /// already in the log is a retransmission: its entries are re-stamped, marked retransmitted
    /// and no longer lost.
    pub fn on_transmit(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if !start.lt(end) {
            return;
        }
        self.next_order += 1;
        let order = self.next_order;
        let top = self.segs.back().map(|s| s.end);
        match top {
            Some(top) if start.lt(top) => {
                self.split_at(start);
                self.split_at(end);
                let from = self.find(start).unwrap_or(self.segs.len());
                for s in self.segs.range_mut(from..) {
                    if !s.start.lt(end) {
                        break;
                    }
                    s.sent_at = now;
                    s.order = order;
                    s.retransmitted = true;
                    s.lost = false;
                }
                if end.gt(top) {
                    self.push_new(top, end, now, order);
                }
            }
            _ => self.push_new(start, end, now, order),
        }
    }

    fn push_new(&mut self, start: SeqNumber, end: SeqNumber, now: Instant, order: u64) {
        if self.segs.len() >= MAX_SEGMENTS {
            if let Some(last) = self.segs.back_mut() {
                if last.end == start {
                    last.end = end;
                    last.sent_at = now;
                    last.order = order;
                    return;
                }
            }
            return;
        }
        self.segs.push_back(Sent {
            start,
            end,
            sent_at: now,
            order,
            retransmitted: false,
            sacked: false,
            lost: false,
        });
    }

    /// SND.UNA moved to `una`: drops (and returns through `f`) what it covers, trims a partly
    /// acknowledged entry. `f` sees each fully or partly acknowledged entry not SACKed before.
    pub fn on_cumulative_ack(&mut self, una: SeqNumber, mut f: impl FnMut(&Sent)) {
        while let Some(front) = self.segs.front_mut() {
            if !front.start.lt(una) {
                break;
            }
            if !front.sacked {
                f(front);
            }
            if front.end.le(una) {
                self.segs.pop_front();
            } else {
                front.start = una;
                break;
            }
        }
    }

    /// A SACK block `[left, right)`: marks the entries it wholly covers as SACKed and hands each
    /// newly SACKed one to `f`. Returns how many were newly SACKed.
    pub fn on_sack(
        &mut self,
        left: SeqNumber,
        right: SeqNumber,
        mut f: impl FnMut(&Sent),
    ) -> usize {
        let from = self.segs.partition_point(|s| s.end.le(left));
        let mut n = 0;
        for s in self.segs.range_mut(from..) {
            if !s.start.lt(right) {
                break;
            }
            if s.start.ge(left) && s.end.le(right) && !s.sacked {
                s.sacked = true;
                s.lost = false;
                n += 1;
                f(s);
            }
        }
        n
    }

    /// Marks the entries for which `lost` holds (walking in sequence order) as lost; returns how
    /// many were newly marked. SACKed entries are never lost.
    pub fn mark_lost(&mut self, mut lost: impl FnMut(&Sent) -> bool) -> usize {
        let mut n = 0;
        for s in self.segs.iter_mut().filter(|s| !s.sacked && !s.lost) {
            if lost(s) {
                s.lost = true;
                n += 1;
            }
        }
        n
    }

    /// Marks every un-SACKed entry lost (after a retransmission timeout, RFC 8985 §6.3).
    pub fn mark_all_lost(&mut self) -> usize {
        self.mark_lost(|_| true)
    }

    /// The first segment marked lost at or above `from`: `[start, end)` to retransmit.
    pub fn next_lost(&self, from: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let i = self.segs.partition_point(|s| s.end.le(from));
        self.segs
            .range(i..)
            .find(|s| s.lost && !s.sacked)
            .map(|s| (s.start.max(from), s.end))
    }

    /// Bytes marked lost and not yet retransmitted (RFC 6675 "pipe" excludes them).
    pub fn lost_bytes(&self) -> usize {
        self.segs
            .iter()
            .filter(|s| s.lost && !s.sacked)
            .map(|s| s.end.distance(s.start) as usize)
            .sum()
    }

    /// Whether the entry holding `seq` was retransmitted.
    pub fn retransmitted(&self, seq: SeqNumber) -> bool {
        self.find(seq).is_some_and(|i| self.segs[i].retransmitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    const S: u32 = 1000;
    fn seq(n: u32) -> SeqNumber {
        SeqNumber(S.wrapping_add(n))
    }

    fn log_of(n: u32, len: u32) -> SentLog {
        let mut l = SentLog::default();
        for i in 0..n {
            l.on_transmit(seq(i * len), seq((i + 1) * len), t(u64::from(i)));
        }
        l
    }

    #[test]
    fn new_data_appends_and_retransmission_restamps() {
        let mut l = log_of(4, 100);
        assert_eq!(l.len(), 4);
        l.on_transmit(seq(100), seq(200), t(50));
        let s = l.iter().nth(1).unwrap();
        assert!(s.retransmitted && s.sent_at == t(50));
        assert!(!l.iter().next().unwrap().retransmitted);
        assert!(l.retransmitted(seq(150)) && !l.retransmitted(seq(250)));
    }

    #[test]
    fn partial_retransmission_splits() {
        let mut l = log_of(2, 100);
        l.on_transmit(seq(20), seq(60), t(9));
        let v: Vec<_> = l
            .iter()
            .map(|s| (s.start, s.end, s.retransmitted))
            .collect();
        assert_eq!(
            v,
            vec![
                (seq(0), seq(20), false),
                (seq(20), seq(60), true),
                (seq(60), seq(100), false),
                (seq(100), seq(200), false)
            ]
        );
    }

    #[test]
    fn cumulative_ack_drops_and_trims() {
        let mut l = log_of(3, 100);
        let mut seen = 0;
        l.on_cumulative_ack(seq(150), |_| seen += 1);
        assert_eq!(seen, 2);
        assert_eq!(l.len(), 2);
        assert_eq!(l.iter().next().unwrap().start, seq(150));
    }

    #[test]
    fn sack_marks_whole_segments_and_lost_ones_are_found() {
        let mut l = log_of(5, 100);
        // A block covering segment 2 and half of 3: only 2 is SACKed.
        assert_eq!(l.on_sack(seq(200), seq(350), |_| {}), 1);
        assert_eq!(l.on_sack(seq(200), seq(300), |_| {}), 0);
        assert_eq!(l.mark_lost(|s| s.start.lt(seq(200))), 2);
        assert_eq!(l.lost_bytes(), 200);
        assert_eq!(l.next_lost(seq(0)), Some((seq(0), seq(100))));
        l.on_transmit(seq(0), seq(100), t(20));
        assert_eq!(l.next_lost(seq(0)), Some((seq(100), seq(200))));
        assert_eq!(l.next_lost(seq(200)), None);
    }

    #[test]
    fn bounded() {
        let mut l = SentLog::default();
        for i in 0..(MAX_SEGMENTS as u32 + 10) {
            l.on_transmit(seq(i), seq(i + 1), t(1));
        }
        assert_eq!(l.len(), MAX_SEGMENTS);
        assert_eq!(l.last().unwrap().end, seq(MAX_SEGMENTS as u32 + 10));
        // A retransmission that would split marks the whole entry instead.
        l.on_transmit(seq(5), seq(6), t(2));
        assert_eq!(l.len(), MAX_SEGMENTS);
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut l = SentLog::default();
        let a = SeqNumber(u32::MAX - 50);
        l.on_transmit(a, a.add(100), t(0));
        l.on_transmit(a.add(100), a.add(200), t(1));
        assert_eq!(l.on_sack(a.add(100), a.add(200), |_| {}), 1);
        l.on_cumulative_ack(a.add(100), |_| {});
        assert_eq!(l.len(), 1);
    }
}
