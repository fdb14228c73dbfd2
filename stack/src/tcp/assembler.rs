//! The receive buffer of a TCP connection, with out-of-order reassembly.
//!
//! RFC 9293 §3.10.7.4 (eighth step, "process the segment text"): once a segment is in the window,
//! its text is delivered to the user's receive buffer and RCV.NXT advances over it. RFC 9293
//! §3.4 and §3.10.7.4 let a receiver keep segments that arrive beyond RCV.NXT but inside RCV.WND
//! ("segments with higher beginning sequence numbers SHOULD be held for later processing"); this
//! module is where they are held, and where they become in-order once the hole before them fills.
//!
//! The whole buffer is one ring of up to `capacity` bytes (storage grown as data arrives, see
//! `tcp::ring`): the in-order bytes the
//! app has not read yet, followed by the window, inside which out-of-order bytes are stored at
//! their final position. Payload is copied exactly once, from the segment into the ring; when a
//! hole fills, nothing moves — only the bookkeeping of ranges changes. The list of out-of-order
//! ranges grows with the number of holes, never per segment, and never beyond a limit
//! ([`RecvBuffer::set_max_ranges`], `Config::tcp_ooo_max_ranges`): a segment that would open
//! one more range is refused, so every operation on the sorted list (binary search, then a move
//! of at most that many entries) has a bounded cost however an attacker spaces its segments.
//!
//! All offsets here are byte offsets relative to the in-order end (offset 0 = RCV.NXT); the
//! connection maps them to sequence numbers.

/// One out-of-order range held beyond the in-order end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OooRange {
    /// First byte, relative to the in-order end.
    start: usize,
    /// One past the last byte, relative to the in-order end.
    end: usize,
    /// When the range was last touched by an arriving segment (larger = more recent), for the
    /// SACK block order of RFC 2018 §4.
    stamp: u64,
}

/// The receive side of a connection: a ring buffer of `capacity` bytes holding in-order data not
/// yet read by the app, plus out-of-order data placed at its offset beyond the in-order end.
///
/// Any number of holes, bounded only by the capacity (not a fixed 4-hole table).
#[derive(Debug)]
pub struct RecvBuffer {
    /// The ring storage, grown on demand up to the capacity.
    ring: super::ring::Ring,
    /// Ring index of the first unread in-order byte.
    head: usize,
    /// Number of in-order bytes not yet read.
    len: usize,
    /// Out-of-order ranges, sorted, disjoint and non-adjacent, all inside `[1, window())`
    /// (a range starting at 0 would be in order).
    ooo: Vec<OooRange>,
    /// Recency counter for `OooRange::stamp`.
    clock: u64,
    /// Most entries `ooo` may hold.
    max_ranges: usize,
}

impl RecvBuffer {
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
        RecvBuffer {
            ring,
            head: 0,
            len: 0,
            ooo: Vec::new(),
            clock: 0,
            max_ranges: usize::MAX,
        }
    }

    /// Limits the number of out-of-order ranges held (no limit by default). Ranges already held
    /// stay; only new ones are refused.
    pub fn set_max_ranges(&mut self, max: usize) {
        self.max_ranges = max;
    }

    /// Total size of the buffer in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// In-order bytes ready for the app.
    pub fn readable(&self) -> usize {
        self.len
    }

    /// Free space after the in-order data: `capacity() - readable()`.
    ///
    /// This is the window the connection may advertise (RFC 9293 §3.8.6.2.2): out-of-order data
    /// lives inside it, so holding it never shrinks the window (RFC 9293 §3.8.6 forbids
    /// shrinking the right edge).
    pub fn window(&self) -> usize {
        self.capacity() - self.len
    }

    /// The window worth offering now: [`window`](Self::window), or while the stack's buffer
    /// budget is spent, only what the storage held can take (`Ring::limit`). A window already
    /// advertised is still honoured (the caller keeps its right edge).
    pub fn offer(&self) -> usize {
        self.ring
            .limit()
            .min(self.capacity())
            .saturating_sub(self.len)
    }

    /// Under memory pressure, gives the storage back once nothing is held.
    fn release_if_empty(&mut self) {
        if self.len == 0 && self.ooo.is_empty() {
            self.ring.release_if_pressed();
            self.head = 0;
        }
    }

    /// Places `data` at `offset` bytes past the in-order end (offset 0 = RCV.NXT).
    ///
    /// Bytes at or beyond `window()` are discarded (the caller trims to RCV.WND first, per
    /// RFC 9293 §3.10.7.4, but this stays safe either way). Overlaps with data already held are
    /// fine: the new bytes overwrite the same positions. Returns how many bytes the in-order end
    /// advanced: 0 when the data was out of order, or more when it filled from offset 0,
    /// including any out-of-order data that became contiguous.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        self.try_write_at(offset, data).unwrap_or(0)
    }

    /// Like [`write_at`](Self::write_at), but returns `None` (and stores nothing) when the data
    /// is out of order and would need a new range beyond the limit of
    /// [`set_max_ranges`](Self::set_max_ranges).
    pub fn try_write_at(&mut self, offset: usize, data: &[u8]) -> Option<usize> {
        let window = self.window();
        if offset >= window || data.is_empty() {
            return Some(0);
        }
        if offset > 0 && self.ooo.len() >= self.max_ranges {
            let n = data.len().min(window - offset);
            let first = self.ooo.partition_point(|r| r.end < offset);
            let last = self.ooo.partition_point(|r| r.start <= offset + n);
            if first == last {
                return None;
            }
        }
        Some(self.write_unchecked(offset, data))
    }

    fn write_unchecked(&mut self, offset: usize, data: &[u8]) -> usize {
        let window = self.window();
        let n = data.len().min(window - offset);
        self.ring.reserve(&mut self.head, self.len + offset + n);
        let cap = self.ring.len();
        // `offset < window <= cap` and `head < cap`, so this sum cannot overflow in practice.
        let pos = (self.head + self.len + offset) % cap;
        copy_into_ring(&mut self.ring, pos, &data[..n]);
        let end = offset + n;

        if offset == 0 {
            // RFC 9293 §3.10.7.4: the segment starts at RCV.NXT; advance over it, then over any
            // held out-of-order ranges it now touches.
            let mut advance = end;
            let absorbed = self.ooo.partition_point(|r| r.start <= advance);
            if let Some(last) = self.ooo[..absorbed].last() {
                advance = advance.max(last.end);
            }
            self.ooo.drain(..absorbed);
            for r in &mut self.ooo {
                r.start -= advance;
                r.end -= advance;
            }
            self.len += advance;
            advance
        } else {
            // Out of order: record [offset, end), merging with ranges it overlaps or touches.
            // The merged range takes the newest stamp (RFC 2018 §4: the first SACK block must
            // be the one containing the most recently received segment).
            self.clock += 1;
            let first = self.ooo.partition_point(|r| r.end < offset);
            let last = self.ooo.partition_point(|r| r.start <= end);
            let mut merged = OooRange {
                start: offset,
                end,
                stamp: self.clock,
            };
            if first < last {
                merged.start = merged.start.min(self.ooo[first].start);
                merged.end = merged.end.max(self.ooo[last - 1].end);
                self.ooo[first] = merged;
                self.ooo.drain(first + 1..last);
            } else {
                // Grows only with the number of holes, which `max_ranges` bounds.
                self.ooo.insert(first, merged);
            }
            0
        }
    }

    /// Copies up to `buf.len()` in-order bytes to `buf` and frees them. Returns the count.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.peek(buf);
        if n > 0 {
            self.head = self.ring.wrap(self.head + n);
            self.len -= n;
            self.release_if_empty();
        }
        n
    }

    /// Zero-copy read: hands `f` the in-order bytes up to the ring's wrap point; `f` returns how
    /// many it consumed, which are freed. Returns that count (0 when nothing is readable).
    pub fn read_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> usize {
        if self.len == 0 {
            return 0;
        }
        let cap = self.ring.len();
        let n = self.len.min(cap - self.head);
        let used = f(&self.ring[self.head..self.head + n]).min(n);
        self.head = self.ring.wrap(self.head + used);
        self.len -= used;
        self.release_if_empty();
        used
    }

    /// Like [`read`](Self::read), without freeing (for apps that peek).
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        if n > 0 {
            copy_from_ring(&self.ring, self.head, &mut buf[..n]);
        }
        n
    }

    /// The first part of `[offset, offset + len)` (relative to the in-order end) that is
    /// already held out of order, if any: a duplicate to report in a D-SACK block (RFC 2883 §4).
    pub fn held_overlap(&self, offset: usize, len: usize) -> Option<(usize, usize)> {
        let end = offset + len;
        let first = self.ooo.partition_point(|r| r.end <= offset);
        let r = self.ooo.get(first).filter(|r| r.start < end)?;
        Some((r.start.max(offset), r.end.min(end)))
    }

    /// Whether out-of-order data is held.
    pub fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Number of disjoint out-of-order ranges held.
    pub fn out_of_order_ranges(&self) -> usize {
        self.ooo.len()
    }

    /// Writes up to `out.len()` SACK blocks as `(start, end)` offsets relative to the in-order
    /// end, and returns how many.
    ///
    /// RFC 2018 §4: the first block is the one containing the most recently received segment,
    /// then the other most recently updated ranges, so that each block is repeated in several
    /// ACKs in case some are lost.
    pub fn sack_blocks(&self, out: &mut [(usize, usize)]) -> usize {
        // Selection by descending stamp without allocating: `out` holds at most a few blocks
        // (4 fit in the option space, 3 with timestamps), so O(out.len() * ranges) is fine.
        // Stamps are unique, so "strictly older than the previous pick" never skips a range.
        let mut below = u64::MAX;
        let mut count = 0;
        for slot in out.iter_mut() {
            let Some(best) = self
                .ooo
                .iter()
                .filter(|r| r.stamp < below)
                .max_by_key(|r| r.stamp)
            else {
                break;
            };
            *slot = (best.start, best.end);
            below = best.stamp;
            count += 1;
        }
        count
    }
}

/// Copies `data` into `ring` starting at index `pos`, wrapping at the end.
/// `data.len() <= ring.len()` and `pos < ring.len()`.
fn copy_into_ring(ring: &mut [u8], pos: usize, data: &[u8]) {
    let first = data.len().min(ring.len() - pos);
    ring[pos..pos + first].copy_from_slice(&data[..first]);
    ring[..data.len() - first].copy_from_slice(&data[first..]);
}

/// Copies `out.len()` bytes from `ring` starting at index `pos` into `out`, wrapping at the end.
/// `out.len() <= ring.len()` and `pos < ring.len()`.
fn copy_from_ring(ring: &[u8], pos: usize, out: &mut [u8]) {
    let first = out.len().min(ring.len() - pos);
    out[..first].copy_from_slice(&ring[pos..pos + first]);
    let rest = out.len() - first;
    out[first..].copy_from_slice(&ring[..rest]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        let n = b.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn read_with_hands_out_in_order_bytes_in_place() {
        let mut r = RecvBuffer::new(8);
        assert_eq!(r.write_at(0, b"abcdef"), 6);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf), 4);
        assert_eq!(r.write_at(0, b"ghij"), 4); // wraps: ring[6..8] + ring[0..2]
        let mut seen = Vec::new();
        assert_eq!(
            r.read_with(|d| {
                seen.extend_from_slice(d);
                d.len()
            }),
            4
        ); // e f g h
        assert_eq!(
            r.read_with(|d| {
                seen.extend_from_slice(&d[..1]);
                1
            }),
            1
        );
        assert_eq!(
            r.read_with(|d| {
                seen.extend_from_slice(d);
                d.len()
            }),
            1
        );
        assert_eq!(seen, b"efghij");
        assert_eq!(r.read_with(|_| unreachable!("empty")), 0);
        assert_eq!(r.window(), 8);
    }

    #[test]
    fn in_order_write_and_read() {
        let mut b = RecvBuffer::new(8);
        assert_eq!(b.capacity(), 8);
        assert_eq!(b.window(), 8);
        assert_eq!(b.write_at(0, b"abc"), 3);
        assert_eq!(b.readable(), 3);
        assert_eq!(b.window(), 5);
        let mut p = [0; 2];
        assert_eq!(b.peek(&mut p), 2);
        assert_eq!(&p, b"ab");
        assert_eq!(b.readable(), 3);
        assert_eq!(read_all(&mut b), b"abc");
        assert_eq!(b.window(), 8);
    }

    #[test]
    fn discards_beyond_window() {
        let mut b = RecvBuffer::new(4);
        assert_eq!(b.write_at(0, b"abcdef"), 4);
        assert_eq!(b.window(), 0);
        assert_eq!(b.write_at(0, b"x"), 0);
        assert_eq!(read_all(&mut b), b"abcd");
        assert_eq!(b.write_at(5, b"zz"), 0);
        assert!(!b.has_out_of_order());
        assert_eq!(b.write_at(3, b"zz"), 0);
        assert_eq!(b.out_of_order_ranges(), 1);
        let mut s = [(0, 0); 4];
        assert_eq!(b.sack_blocks(&mut s), 1);
        assert_eq!(s[0], (3, 4));
    }

    #[test]
    fn wraps_around_the_ring() {
        let mut b = RecvBuffer::new(5);
        assert_eq!(b.write_at(0, b"abc"), 3);
        assert_eq!(read_all(&mut b), b"abc");
        // Next data straddles the end of the ring.
        assert_eq!(b.write_at(2, b"fg"), 0);
        assert_eq!(b.write_at(0, b"de"), 4);
        assert_eq!(read_all(&mut b), b"defg");
    }

    #[test]
    fn holes_fill_and_merge() {
        let mut b = RecvBuffer::new(32);
        assert_eq!(b.write_at(4, b"ef"), 0);
        assert_eq!(b.write_at(10, b"kl"), 0);
        assert_eq!(b.write_at(20, b"uv"), 0);
        assert_eq!(b.out_of_order_ranges(), 3);
        // Touching (adjacent) ranges merge.
        assert_eq!(b.write_at(6, b"ghij"), 0);
        assert_eq!(b.out_of_order_ranges(), 2);
        // Filling from 0 swallows [4, 12) and shifts [20, 22) down to [8, 10).
        assert_eq!(b.write_at(0, b"abcd"), 12);
        assert_eq!(b.out_of_order_ranges(), 1);
        let mut s = [(0, 0); 4];
        assert_eq!(b.sack_blocks(&mut s), 1);
        assert_eq!(s[0], (8, 10));
        assert_eq!(read_all(&mut b), b"abcdefghijkl");
        assert_eq!(b.write_at(0, b"mnopqrst"), 10);
        assert!(!b.has_out_of_order());
        assert_eq!(read_all(&mut b), b"mnopqrstuv");
    }

    #[test]
    fn overlapping_and_duplicate_segments() {
        let mut b = RecvBuffer::new(16);
        assert_eq!(b.write_at(3, b"defg"), 0);
        assert_eq!(b.write_at(3, b"defg"), 0);
        assert_eq!(b.write_at(5, b"fghi"), 0);
        assert_eq!(b.out_of_order_ranges(), 1);
        assert_eq!(b.write_at(0, b"abcde"), 9);
        assert_eq!(read_all(&mut b), b"abcdefghi");
    }

    #[test]
    fn held_overlap_finds_the_duplicate_part() {
        let mut b = RecvBuffer::new(1000);
        b.write_at(100, &[1; 100]); // holds [100, 200)
        b.write_at(400, &[1; 100]); // holds [400, 500)
        assert_eq!(b.held_overlap(150, 100), Some((150, 200)));
        assert_eq!(b.held_overlap(0, 1000), Some((100, 200)));
        assert_eq!(b.held_overlap(200, 200), None);
        assert_eq!(b.held_overlap(450, 10), Some((450, 460)));
    }

    #[test]
    fn sack_blocks_most_recent_first() {
        let mut b = RecvBuffer::new(64);
        b.write_at(10, b"a");
        b.write_at(20, b"b");
        b.write_at(30, b"c");
        b.write_at(40, b"d");
        b.write_at(50, b"e");
        let mut s = [(0, 0); 3];
        assert_eq!(b.sack_blocks(&mut s), 3);
        assert_eq!(s, [(50, 51), (40, 41), (30, 31)]);
        // A duplicate of an old range makes it the first block again (RFC 2018 §4).
        b.write_at(20, b"b");
        assert_eq!(b.sack_blocks(&mut s), 3);
        assert_eq!(s, [(20, 21), (50, 51), (40, 41)]);
        // A merge takes the newest stamp.
        b.write_at(31, b"ccccccccc");
        assert_eq!(b.sack_blocks(&mut s), 3);
        assert_eq!(s, [(30, 41), (20, 21), (50, 51)]);
        let mut none: [(usize, usize); 0] = [];
        assert_eq!(b.sack_blocks(&mut none), 0);
    }

    #[test]
    fn range_limit_refuses_new_ranges_but_merges_and_fills() {
        let mut b = RecvBuffer::new(64);
        b.set_max_ranges(2);
        assert_eq!(b.try_write_at(10, b"a"), Some(0));
        assert_eq!(b.try_write_at(20, b"b"), Some(0));
        assert_eq!(b.try_write_at(30, b"c"), None, "a third range");
        assert_eq!(b.try_write_at(5, b"c"), None, "below, too");
        assert_eq!(b.try_write_at(11, b"a"), Some(0), "extends a range");
        assert_eq!(b.try_write_at(19, b"b"), Some(0), "touches a range");
        assert_eq!(b.out_of_order_ranges(), 2);
        assert_eq!(
            b.try_write_at(0, b"0123456789"),
            Some(12),
            "in order always fits"
        );
        assert_eq!(b.out_of_order_ranges(), 1);
        assert_eq!(b.try_write_at(30, b"c"), Some(0));
    }

    #[test]
    fn zero_capacity_is_inert() {
        let mut b = RecvBuffer::new(0);
        assert_eq!(b.window(), 0);
        assert_eq!(b.write_at(0, b"abc"), 0);
        assert_eq!(b.read(&mut [0; 4]), 0);
        assert_eq!(b.peek(&mut [0; 4]), 0);
    }

    #[test]
    fn empty_write_changes_nothing() {
        let mut b = RecvBuffer::new(8);
        assert_eq!(b.write_at(3, b""), 0);
        assert_eq!(b.write_at(0, b""), 0);
        assert!(!b.has_out_of_order());
    }
}
