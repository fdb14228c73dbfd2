//! The send buffer of a TCP connection and its SACK scoreboard.
//!
//! RFC 9293 §3.3.1 and §3.10.7.4 (fifth step): the sender keeps every byte from SND.UNA on until
//! it is acknowledged, because any of them may have to be retransmitted. [`SendBuffer`] is that
//! store: one ring of up to `capacity` bytes (storage grown as data arrives), holding the sent-but-unacknowledged
//! bytes followed by the not-yet-sent ones. The app's bytes are copied in once by
//! [`push`](SendBuffer::push); segments are cut from it with [`read_at`](SendBuffer::read_at)
//! straight into the outgoing packet.
//!
//! [`Scoreboard`] records what the peer reported with SACK blocks (RFC 2018) so that loss
//! recovery (RFC 6675) retransmits only the holes.
//!
//! All offsets are byte offsets relative to SND.UNA; the connection maps them to sequence numbers.

/// Bytes the app has written and the peer has not acknowledged: a ring buffer of `capacity`
/// bytes. Offset 0 is SND.UNA.
#[derive(Debug)]
pub struct SendBuffer {
    /// The ring storage, grown on demand up to the capacity.
    ring: super::ring::Ring,
    /// Ring index of the byte at SND.UNA.
    head: usize,
    /// Bytes held.
    len: usize,
}

impl SendBuffer {
    /// Creates an empty buffer of `capacity` bytes (storage is allocated as data arrives),
    /// outside any stack's budget.
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
    pub fn new(capacity: usize) -> Self {
        Self::with_ring(super::ring::Ring::new(capacity))
    }

    /// An empty buffer whose storage draws on the stack's budget (`Config::tcp_mem_max`).
    pub(crate) fn with_budget(capacity: usize, budget: super::ring::MemBudget) -> Self {
        Self::with_ring(super::ring::Ring::with_budget(capacity, budget))
    }

    fn with_ring(ring: super::ring::Ring) -> Self {
        SendBuffer {
            ring,
            head: 0,
            len: 0,
        }
    }

    /// Total size of the buffer in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Bytes held (sent-but-unacknowledged plus not-yet-sent).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are held.
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free space: up to the capacity, or while the stack's buffer budget is spent, up to the
    /// storage held (`Ring::limit`).
    pub fn free(&self) -> usize {
        self.ring.limit().saturating_sub(self.len)
    }

    /// How many of `want` more bytes fit now; a shortfall the capacity alone would not cause
    /// (the stack's buffer budget is spent) is counted.
    fn room_for(&self, want: usize) -> usize {
        let free = self.free();
        if free < want.min(self.capacity() - self.len) {
            self.ring.note_denied();
        }
        want.min(free)
    }

    /// Appends as much of `data` as fits; returns the count.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = self.room_for(data.len());
        if n == 0 {
            return 0;
        }
        self.ring.reserve(&mut self.head, self.len + n);
        let cap = self.ring.len();
        let pos = (self.head + self.len) % cap;
        let first = n.min(cap - pos);
        self.ring[pos..pos + first].copy_from_slice(&data[..first]);
        self.ring[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Zero-copy append: hands `f` the free space up to the ring's wrap point (at most `max`
    /// bytes) to fill in place; `f` returns how many bytes it wrote, which are then queued.
    /// Returns that count (0 when the buffer is full).
    pub fn write_with(&mut self, max: usize, f: impl FnOnce(&mut [u8]) -> usize) -> usize {
        let free = self.room_for(max);
        if free == 0 {
            return 0;
        }
        self.ring.reserve(&mut self.head, self.len + free);
        let cap = self.ring.len();
        let pos = (self.head + self.len) % cap;
        let room = free.min(cap - pos);
        let n = f(&mut self.ring[pos..pos + room]).min(room);
        self.len += n;
        n
    }

    /// Drops `n` acknowledged bytes from the front (RFC 9293 §3.10.7.4: SND.UNA advanced).
    ///
    /// `n` should be at most [`len`](Self::len); a larger `n` is clamped rather than trusted.
    pub fn ack(&mut self, n: usize) {
        debug_assert!(n <= self.len, "acknowledging {n} of {} bytes", self.len);
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = self.ring.wrap(self.head + n);
        self.len -= n;
        if self.len == 0 {
            self.ring.release_if_pressed();
            self.head = 0;
        }
    }

    /// Copies bytes `[offset, offset + out.len())` into `out` (clipped to what is held); returns
    /// the count copied.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = out.len().min(self.len - offset);
        let cap = self.ring.len();
        let pos = (self.head + offset) % cap;
        let first = n.min(cap - pos);
        out[..first].copy_from_slice(&self.ring[pos..pos + first]);
        out[first..n].copy_from_slice(&self.ring[..n - first]);
        n
    }
}

/// Most disjoint ranges a [`Scoreboard`] keeps. A peer reports at most 4 blocks per ACK
/// (RFC 2018 §3), so this only binds against a peer that scatters many tiny blocks; beyond it the
/// highest ranges are forgotten, which only costs retransmissions of data the peer already has.
pub const MAX_SACK_RANGES: usize = 64;

/// What the peer has SACKed (RFC 2018, RFC 6675): disjoint ranges of offsets relative to SND.UNA,
/// sorted.
#[derive(Debug, Default, Clone)]
pub struct Scoreboard {
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges, at most [`MAX_SACK_RANGES`].
    ranges: Vec<(usize, usize)>,
    /// Sum of the range lengths.
    total: usize,
}

impl Scoreboard {
    /// Records a SACK block `[start, end)` (offsets relative to SND.UNA), merging it with what
    /// is already recorded. Returns the number of bytes of this block that were not SACKed
    /// before.
    ///
    /// At most [`MAX_SACK_RANGES`] ranges are kept: a block that would add one more is dropped
    /// if it lies above every range (and 0 is returned), otherwise the highest range is
    /// forgotten to make room — so [`sacked_bytes`](Self::sacked_bytes) can then change by
    /// less than the returned count.
    ///
    /// Empty blocks (`end <= start`, which includes every block ending at or below SND.UNA) are
    /// ignored. The caller converts sequence numbers to offsets, and so is the one that drops
    /// D-SACK blocks below SND.UNA (RFC 2883) and blocks beyond SND.NXT (RFC 2018 §8 leaves
    /// validation to the sender).
    pub fn add(&mut self, start: usize, end: usize) -> usize {
        if end <= start {
            return 0;
        }
        // RFC 6675 §5 (Update): mark every byte the block covers as SACKed; merge touching
        // ranges so the board stays canonical.
        let first = self.ranges.partition_point(|r| r.1 < start);
        let last = self.ranges.partition_point(|r| r.0 <= end);
        if first < last {
            let before = self.total;
            let merged = (
                start.min(self.ranges[first].0),
                end.max(self.ranges[last - 1].1),
            );
            let removed: usize = self.ranges[first..last].iter().map(|r| r.1 - r.0).sum();
            self.total = self.total - removed + (merged.1 - merged.0);
            self.ranges[first] = merged;
            self.ranges.drain(first + 1..last);
            self.total - before
        } else {
            // A new disjoint range. Bound the board by forgetting the highest range: being
            // conservative (treating SACKed bytes as un-SACKed) only causes needless
            // retransmissions, never data loss (RFC 2018 §8: the sender must not discard data
            // because it was SACKed, so forgetting a SACK is always safe).
            if self.ranges.len() >= MAX_SACK_RANGES {
                if first == self.ranges.len() {
                    return 0;
                }
                if let Some((s, e)) = self.ranges.pop() {
                    self.total -= e - s;
                }
            }
            self.ranges.insert(first, (start, end));
            self.total += end - start;
            end - start
        }
    }

    /// SND.UNA advanced by `n`: shifts every range down by `n`, dropping what falls below 0.
    pub fn advance(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // Ranges wholly acknowledged by the cumulative ACK go away (RFC 6675 §5: SACK
        // information below SND.UNA is no longer needed).
        let gone = self.ranges.partition_point(|r| r.1 <= n);
        let removed: usize = self.ranges[..gone].iter().map(|r| r.1 - r.0).sum();
        self.total -= removed;
        self.ranges.drain(..gone);
        for r in &mut self.ranges {
            if r.0 < n {
                self.total -= n - r.0;
                r.0 = n;
            }
            r.0 -= n;
            r.1 -= n;
        }
    }

    /// Whether the byte at `offset` has been SACKed.
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
    pub fn is_sacked(&self, offset: usize) -> bool {
        let i = self.ranges.partition_point(|r| r.1 <= offset);
        self.ranges.get(i).is_some_and(|r| r.0 <= offset)
    }

    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> usize {
        self.total
    }

    /// End of the highest SACKed range (RFC 6675 HighSACK + 1), if any.
    pub fn highest(&self) -> Option<usize> {
        self.ranges.last().map(|r| r.1)
    }

    /// The first hole at or after `from` that lies below [`highest`](Self::highest): the
    /// `[start, end)` of un-SACKed bytes to retransmit next (RFC 6675 §4 NextSeg() rule 1).
    /// `None` if there is no hole before `highest()`.
    pub fn next_hole(&self, from: usize) -> Option<(usize, usize)> {
        // Holes are [0, r0.start), [r0.end, r1.start), ...; skip ranges wholly below `from`.
        let i = self.ranges.partition_point(|r| r.1 <= from);
        let mut prev_end = if i == 0 { 0 } else { self.ranges[i - 1].1 };
        for &(s, e) in &self.ranges[i..] {
            let start = prev_end.max(from);
            if start < s {
                return Some((start, s));
            }
            prev_end = e;
        }
        None
    }

    /// Number of SACKed bytes strictly above `offset`, i.e. at offsets `> offset`.
    ///
    /// RFC 6675 §4 IsLost(SeqNum): a byte is deemed lost when at least DupThresh × SMSS bytes
    /// above it have been SACKed; the connection compares this count with that threshold.
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
    pub fn sacked_above(&self, offset: usize) -> usize {
        let from = offset.saturating_add(1);
        let i = self.ranges.partition_point(|r| r.1 <= from);
        self.ranges[i..].iter().map(|r| r.1 - r.0.max(from)).sum()
    }

    /// Forgets everything (RFC 6675 §5.1: after an RTO the scoreboard is cleared, or at least
    /// must not be trusted).
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.total = 0;
    }

    /// Whether nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_with_fills_in_place_up_to_the_wrap() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.push(b"abcdef"), 6);
        b.ack(4);
        // Free: ring[6..8] then ring[0..4]; the closure sees the part up to the wrap.
        let n = b.write_with(usize::MAX, |room| {
            assert_eq!(room.len(), 2);
            room.copy_from_slice(b"gh");
            2
        });
        assert_eq!(n, 2);
        assert_eq!(
            b.write_with(3, |room| {
                assert_eq!(room.len(), 3);
                room[..1].copy_from_slice(b"i");
                1
            }),
            1
        );
        let mut out = [0u8; 5];
        assert_eq!(b.read_at(0, &mut out), 5);
        assert_eq!(&out, b"efghi");
        assert_eq!(b.write_with(10, |room| room.len()), 3);
        assert_eq!(b.write_with(10, |_| unreachable!("full")), 0);
    }

    #[test]
    fn push_ack_read() {
        let mut b = SendBuffer::new(8);
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 8);
        assert_eq!(b.push(b"abcdef"), 6);
        assert_eq!(b.len(), 6);
        assert_eq!(b.free(), 2);
        assert_eq!(b.push(b"ghijk"), 2);
        assert_eq!(b.free(), 0);
        assert_eq!(b.push(b"z"), 0);
        let mut out = [0; 4];
        assert_eq!(b.read_at(2, &mut out), 4);
        assert_eq!(&out, b"cdef");
        assert_eq!(b.read_at(6, &mut out), 2);
        assert_eq!(&out[..2], b"gh");
        assert_eq!(b.read_at(8, &mut out), 0);
        b.ack(5);
        assert_eq!(b.len(), 3);
        // Wraps around the end of the ring.
        assert_eq!(b.push(b"ijklm"), 5);
        let mut all = [0; 8];
        assert_eq!(b.read_at(0, &mut all), 8);
        assert_eq!(&all, b"fghijklm");
        b.ack(8);
        assert!(b.is_empty());
        assert_eq!(b.read_at(0, &mut all), 0);
    }

    #[test]
    fn zero_capacity_is_inert() {
        let mut b = SendBuffer::new(0);
        assert_eq!(b.push(b"abc"), 0);
        b.ack(0);
        assert_eq!(b.read_at(0, &mut [0; 3]), 0);
    }

    #[test]
    fn scoreboard_add_and_merge() {
        let mut s = Scoreboard::default();
        assert!(s.is_empty());
        assert_eq!(s.highest(), None);
        assert_eq!(s.add(5, 5), 0);
        assert_eq!(s.add(10, 20), 10);
        assert_eq!(s.add(30, 40), 10);
        assert_eq!(s.add(15, 25), 5);
        assert_eq!(s.add(10, 20), 0);
        assert_eq!(s.sacked_bytes(), 25);
        assert_eq!(s.highest(), Some(40));
        assert!(s.is_sacked(10) && s.is_sacked(24) && !s.is_sacked(25) && !s.is_sacked(9));
        // Touching ranges merge; a block spanning several swallows them.
        assert_eq!(s.add(25, 30), 5);
        assert_eq!(s.sacked_bytes(), 30);
        assert_eq!(s.next_hole(0), Some((0, 10)));
        assert_eq!(s.next_hole(12), None);
        assert_eq!(s.add(50, 60), 10);
        assert_eq!(s.next_hole(12), Some((40, 50)));
        assert_eq!(s.next_hole(45), Some((45, 50)));
        assert_eq!(s.next_hole(50), None);
        assert_eq!(s.sacked_above(0), 40);
        assert_eq!(s.sacked_above(39), 10);
        assert_eq!(s.sacked_above(55), 4);
        assert_eq!(s.sacked_above(60), 0);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.sacked_bytes(), 0);
    }

    #[test]
    fn scoreboard_advance() {
        let mut s = Scoreboard::default();
        s.add(10, 20);
        s.add(30, 40);
        s.advance(15);
        assert_eq!(s.sacked_bytes(), 15);
        assert!(s.is_sacked(0) && s.is_sacked(4) && !s.is_sacked(5));
        assert_eq!(s.next_hole(0), Some((5, 15)));
        s.advance(25);
        assert!(s.is_empty());
        assert_eq!(s.sacked_bytes(), 0);
    }

    #[test]
    fn scoreboard_is_bounded() {
        let mut s = Scoreboard::default();
        for i in 0..MAX_SACK_RANGES {
            assert_eq!(s.add(i * 10 + 1, i * 10 + 2), 1);
        }
        // One more range above everything is forgotten at once.
        assert_eq!(s.add(10_000, 10_010), 0);
        assert_eq!(s.sacked_bytes(), MAX_SACK_RANGES);
        // One below pushes out the highest.
        assert_eq!(s.add(0, 0), 0);
        let top = s.highest().unwrap();
        assert_eq!(s.add(1000 - 5, 1000 - 4), 0);
        assert_eq!(s.highest(), Some(top));
        let mut s2 = s.clone();
        assert_eq!(s2.add(3, 5), 2);
        assert_eq!(s2.sacked_bytes(), MAX_SACK_RANGES + 2 - 1);
        assert!(s2.highest().unwrap() < top);
    }
}
