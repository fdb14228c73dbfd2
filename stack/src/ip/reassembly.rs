//! IPv4 fragment reassembly, bounded in memory, in count and in time.
//!
//! The procedure follows RFC 791 §3.2 ("Fragmentation and Reassembly") with the hole bookkeeping of
//! RFC 815 replaced by an ordered map of the ranges actually held: a datagram is complete when the
//! last fragment (MF = 0) has fixed its length and the held ranges cover `[0, length)` without a gap.
//!
//! Policy, in one place:
//! - Fragments of one datagram are identified by (source, destination, protocol, identification)
//!   (RFC 791 §3.2), see [`FragmentKey`]; many datagrams may be in progress at once.
//! - An exact duplicate (same offset, same length, same bytes) is ignored. Any other overlap with
//!   bytes already held drops the whole datagram: overlapping fragments are the classic tool for
//!   evading inspection (teardrop and its kin), and this follows the spirit of RFC 5722 (written for
//!   IPv6) and what Linux does for IPv4.
//! - A datagram that would exceed `max_datagram_size` (65535, the Total Length limit of RFC 791
//!   §3.1) is dropped whole.
//! - Inconsistent lengths (a second last fragment that disagrees about the end, data beyond a known
//!   end) drop the whole datagram; a malformed non-last fragment (empty, or not a multiple of 8
//!   octets) is dropped on its own.
//! - The reassembly timer is set when the first fragment arrives and is not extended by later ones
//!   (RFC 1122 §3.3.2 allows a fixed timer; RFC 791's per-fragment TTL refresh would let a trickle
//!   of fragments pin memory forever).
//! - Memory is bounded by [`ReassemblyLimits::max_bytes`] and the number of datagrams by
//!   [`ReassemblyLimits::max_datagrams`]; when either would be exceeded the oldest datagrams are
//!   evicted first.
//!
//! The structure is sans-IO: time is a parameter, expired datagrams are handed to a callback so the
//! caller can send ICMP Time Exceeded (code 1) when the first fragment had arrived (RFC 1122 §3.3.2,
//! RFC 792).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};

/// Limits, filled by the stack from its `Config`.
#[derive(Clone, Copy, Debug)]
pub struct ReassemblyLimits {
    /// The whole reassembled datagram, IP header included, may not exceed this (65535, RFC 791 §3.1).
    pub max_datagram_size: usize,
    /// Total memory held by all datagrams in progress: payload buffers, header copies and the
    /// per-datagram / per-fragment bookkeeping estimates [`DATAGRAM_OVERHEAD`] and
    /// [`FRAGMENT_OVERHEAD`].
    pub max_bytes: usize,
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Reassembly timeout, fixed when the first fragment arrives. RFC 1122 §3.3.2 suggests 60 to 120
    /// seconds; Linux uses 30.
    pub timeout: Duration,
}

impl ReassemblyLimits {
    /// 65535-byte datagrams, 4 MiB, 1024 datagrams, 30 s. The stack takes its values from `Config`;
    /// this is for tests and tools.
    pub const DEFAULT: ReassemblyLimits = ReassemblyLimits {
        max_datagram_size: 65535,
        max_bytes: 4 * 1024 * 1024,
        max_datagrams: 1024,
        timeout: Duration::from_secs(30),
    };
}

/// What identifies the fragments of one datagram (RFC 791 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The Protocol field.
    pub protocol: u8,
    /// The Identification field.
    pub ident: u16,
}

/// One received fragment, already validated as an IPv4 header by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Which datagram this fragment belongs to.
    pub key: FragmentKey,
    /// Fragment offset in bytes (the header field times 8).
    pub offset: usize,
    /// The MF flag: set on every fragment but the last.
    pub more_fragments: bool,
    /// This fragment's IP header bytes (options included); kept only for the offset-0 fragment.
    pub header: &'a [u8],
    /// The fragment's data.
    pub payload: &'a [u8],
}

/// What [`Reassembler::insert`] did with a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored; the datagram still has holes.
    Incomplete,
    /// Every byte is present: the datagram is removed from the table and handed over.
    Complete(Reassembled),
    /// An exact duplicate of a fragment already held (same offset, same length, same bytes): ignored.
    Duplicate,
    /// This fragment was refused; `dropped_datagram` says whether the whole datagram in progress was
    /// discarded too.
    Dropped {
        /// Why the fragment was refused.
        reason: FragDrop,
        /// Whether a datagram in progress under the same key was discarded with it.
        dropped_datagram: bool,
    },
}

/// Why a fragment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragDrop {
    /// Overlaps bytes already held without being an exact duplicate -> whole datagram dropped.
    Overlap,
    /// Would make the datagram exceed max_datagram_size (header + offset + len > 65535) -> whole
    /// datagram dropped.
    TooBig,
    /// Not the last fragment (MF set) but payload length is 0 or not a multiple of 8 (this fragment
    /// only); or a second "last fragment" that disagrees about the total length, or data beyond an
    /// already-known end (whole datagram dropped).
    BadLength,
    /// Could not be held within max_bytes even after evicting every other datagram.
    NoMemory,
}

/// A reassembled datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// The offset-0 fragment's header bytes as received.
    pub header: Vec<u8>,
    /// The whole reassembled payload.
    pub payload: Vec<u8>,
}

/// A datagram that timed out.
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    /// Which datagram timed out.
    pub key: FragmentKey,
    /// Present only if the offset-0 fragment had arrived: its header bytes followed by the first
    /// min(held, 64) payload bytes starting at offset 0 — what an ICMP time exceeded quotes (RFC 792).
    pub quote: Option<Vec<u8>>,
}

/// Counters of what the reassembler did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Datagrams handed over whole (unfragmented ones passed in included).
    pub completed: u64,
    /// Datagrams discarded by `expire`.
    pub timed_out: u64,
    /// Datagrams discarded, oldest first, to make room for others.
    pub evicted: u64,
    /// Fragments refused with [`FragDrop::Overlap`].
    pub overlaps: u64,
    /// Exact duplicates ignored.
    pub duplicates: u64,
    /// Fragments refused with [`FragDrop::TooBig`].
    pub too_big: u64,
    /// Fragments refused with [`FragDrop::BadLength`].
    pub bad_length: u64,
    /// Fragments refused with [`FragDrop::NoMemory`].
    pub no_memory: u64,
}

/// Payload bytes quoted after the header in [`Expired::quote`]: RFC 792 asks for 64 bits; we quote
/// up to 64 bytes, as RFC 1812 §4.3.2.3 encourages.
const QUOTE_PAYLOAD: usize = 64;

/// Bytes charged for each datagram in progress besides its payload and header copy: the table
/// entry (with the hash map's spare capacity), its entries in the age queue and the empty map of
/// fragments. An estimate, deliberately on the high side.
pub const DATAGRAM_OVERHEAD: usize = 3 * core::mem::size_of::<(FragmentKey, Datagram)>()
    + 4 * core::mem::size_of::<QueueEntry>()
    + 64;

/// Bytes charged for each fragment held besides its payload: its slot in the ordered map
/// (B-tree nodes are at least about half full, so a slot costs at most about twice its size).
pub const FRAGMENT_OVERHEAD: usize = 80;

/// One datagram in progress.
#[derive(Debug)]
struct Datagram {
    /// The offset-0 fragment's header, once it arrived.
    header: Option<Box<[u8]>>,
    /// Held fragments by start offset. Invariant: disjoint, and within `[0, total)` once `total`
    /// is known. Each payload is a boxed slice, so it holds exactly its length.
    pieces: BTreeMap<usize, Box<[u8]>>,
    /// The payload length, known once the last fragment (MF = 0) arrived.
    total: Option<usize>,
    /// Payload bytes held (sum of piece lengths).
    held: usize,
    /// What this datagram is charged in `Reassembler::bytes`.
    cost: usize,
    /// Tells this datagram's entry in the age queue from stale ones left by an earlier datagram
    /// with the same key.
    generation: u64,
}

impl Datagram {
    /// One past the highest payload byte held, or 0.
    fn held_end(&self) -> usize {
        self.pieces
            .last_key_value()
            .map_or(0, |(start, data)| start.saturating_add(data.len()))
    }

    /// The furthest extent this datagram is known to have.
    fn extent(&self) -> usize {
        self.held_end().max(self.total.unwrap_or(0))
    }

    fn is_complete(&self) -> bool {
        // The pieces are disjoint and lie in [0, total), so holding `total` bytes means no hole
        // is left (RFC 815's hole list is empty).
        self.header.is_some() && self.total == Some(self.held)
    }

    /// Where `[start, end)` with `bytes` would go.
    fn place(&self, start: usize, end: usize, bytes: &[u8]) -> Placement {
        if start == end {
            return Placement::Empty;
        }
        // Pieces are disjoint and sorted, so of those starting before `end` only the last one can
        // reach past `start`.
        match self.pieces.range(..end).next_back() {
            Some((&s, data)) if s.saturating_add(data.len()) > start => {
                // RFC 5722 spirit: only an exact duplicate is harmless.
                if s == start && data.len() == bytes.len() && **data == *bytes {
                    Placement::Duplicate
                } else {
                    Placement::Overlap
                }
            }
            _ => Placement::New,
        }
    }

    /// The header followed by the first held payload bytes from offset 0, up to 64 of them.
    fn quote(&self) -> Option<Vec<u8>> {
        let header = self.header.as_ref()?;
        let mut out = Vec::with_capacity(header.len() + QUOTE_PAYLOAD);
        out.extend_from_slice(header);
        let mut next = 0usize;
        for (&start, data) in &self.pieces {
            let want = QUOTE_PAYLOAD - (out.len() - header.len());
            if start != next || want == 0 {
                break;
            }
            out.extend_from_slice(&data[..data.len().min(want)]);
            next = start.saturating_add(data.len());
        }
        Some(out)
    }

    fn into_reassembled(self) -> Reassembled {
        let header = self.header.map(Vec::from).unwrap_or_default();
        let payload = if self.pieces.len() == 1 {
            self.pieces
                .into_values()
                .next()
                .map(Vec::from)
                .unwrap_or_default()
        } else {
            let mut payload = Vec::with_capacity(self.held);
            for data in self.pieces.into_values() {
                payload.extend_from_slice(&data);
            }
            payload
        };
        Reassembled { header, payload }
    }
}

enum Placement {
    New,
    Empty,
    Duplicate,
    Overlap,
}

/// An entry of the age queue; stale once the datagram it names is gone (generation mismatch).
#[derive(Clone, Copy, Debug)]
struct QueueEntry {
    deadline: Instant,
    key: FragmentKey,
    generation: u64,
}

/// Reassembles IPv4 datagrams from fragments. See the module docs for the policy.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    table: HashMap<FragmentKey, Datagram>,
    /// Datagrams oldest first. Deadlines are creation time plus a fixed timeout, so this is also
    /// deadline order. Removal from the table leaves a stale entry behind (lazy deletion).
    /// Invariants: the front entry, if any, is live; the queue is compacted when it holds more
    /// than twice as many entries as the table (plus a little slack).
    queue: VecDeque<QueueEntry>,
    next_generation: u64,
    bytes: usize,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            table: HashMap::new(),
            queue: VecDeque::new(),
            next_generation: 0,
            bytes: 0,
            stats: ReassemblyStats::default(),
        }
    }

    /// The limits this reassembler was built with.
    pub fn limits(&self) -> ReassemblyLimits {
        self.limits
    }

    /// Adds a fragment.
    ///
    /// A new datagram when `max_datagrams` are in progress evicts the oldest datagram (counted in
    /// `stats.evicted`); likewise memory beyond `max_bytes` evicts oldest-first (never the datagram
    /// being added) until it fits, else `Dropped { NoMemory }`. The deadline of a datagram is set
    /// when its first fragment arrives (`now + timeout`) and is not extended.
    ///
    /// A fragment of a datagram in progress that cannot fit even then drops that datagram as well:
    /// it could never complete.
    pub fn insert(&mut self, now: Instant, frag: Fragment<'_>) -> Outcome {
        let key = frag.key;
        let len = frag.payload.len();

        // RFC 791 §3.2: fragment offsets count 8-octet blocks, so every fragment but the last
        // carries a non-zero multiple of 8 octets of data.
        if frag.more_fragments && (len == 0 || !len.is_multiple_of(8)) {
            return self.refuse(key, FragDrop::BadLength, false);
        }

        let existing = self.table.get(&key);

        // RFC 791 §3.1: Total Length is 16 bits, so header + payload may not exceed 65535 (our
        // `max_datagram_size`). The final header is the offset-0 fragment's; until it arrives,
        // this fragment's header stands in for it.
        let header_len = match existing.and_then(|d| d.header.as_ref()) {
            Some(h) if frag.offset != 0 => h.len(),
            _ => frag.header.len(),
        };
        let held_extent = existing.map_or(0, Datagram::extent);
        let end = match frag.offset.checked_add(len) {
            Some(end)
                if header_len
                    .checked_add(end.max(held_extent))
                    .is_some_and(|size| size <= self.limits.max_datagram_size) =>
            {
                end
            }
            _ => return self.refuse(key, FragDrop::TooBig, true),
        };

        let Some(dgram) = existing else {
            if frag.offset == 0 && !frag.more_fragments {
                // Not fragmented at all (the caller normally filters these): complete at once,
                // without holding anything.
                self.stats.completed += 1;
                return Outcome::Complete(Reassembled {
                    header: frag.header.to_vec(),
                    payload: frag.payload.to_vec(),
                });
            }
            return self.insert_new(now, frag, end);
        };

        // RFC 791 §3.2 / RFC 815: the last fragment (MF = 0) fixes the payload length. A second
        // one that disagrees, or data beyond the known end, means the fragments are not of one
        // consistent datagram: drop it whole (as Linux does).
        let inconsistent = if frag.more_fragments {
            dgram.total.is_some_and(|total| end > total)
        } else {
            dgram.total.is_some_and(|total| total != end) || dgram.held_end() > end
        };
        if inconsistent {
            return self.refuse(key, FragDrop::BadLength, true);
        }

        match dgram.place(frag.offset, end, frag.payload) {
            Placement::Overlap => self.refuse(key, FragDrop::Overlap, true),
            Placement::Duplicate | Placement::Empty
                if frag.more_fragments || dgram.total.is_some() =>
            {
                // Nothing new. (An empty fragment with MF set was refused above, so an `Empty`
                // here repeats the already-known end.)
                self.stats.duplicates += 1;
                log::debug!(
                    "fragment {key:?} offset {} len {len}: duplicate, ignored",
                    frag.offset
                );
                Outcome::Duplicate
            }
            Placement::Duplicate => {
                // Bytes we hold, now marked as the last fragment: learn the end, nothing to store.
                self.stats.duplicates += 1;
                self.finish(key, Some(end)).unwrap_or(Outcome::Duplicate)
            }
            Placement::Empty => {
                // An empty last fragment: it only fixes the end.
                self.finish(key, Some(end)).unwrap_or(Outcome::Incomplete)
            }
            Placement::New => {
                let header = frag.offset == 0;
                let cost = Self::fragment_cost(len, header.then_some(frag.header));
                if !self.make_room(key, cost, false) {
                    return self.refuse(key, FragDrop::NoMemory, true);
                }
                if let Some(d) = self.table.get_mut(&key) {
                    d.pieces.insert(frag.offset, Box::from(frag.payload));
                    d.held += len;
                    d.cost += cost;
                    if header {
                        d.header = Some(Box::from(frag.header));
                    }
                }
                self.bytes += cost;
                let total = (!frag.more_fragments).then_some(end);
                self.finish(key, total).unwrap_or(Outcome::Incomplete)
            }
        }
    }

    /// Starts a datagram with its first fragment (not a whole unfragmented one).
    fn insert_new(&mut self, now: Instant, frag: Fragment<'_>, end: usize) -> Outcome {
        let key = frag.key;
        let len = frag.payload.len();
        let header = frag.offset == 0;
        let cost = DATAGRAM_OVERHEAD
            .saturating_add(Self::fragment_cost(len, header.then_some(frag.header)));
        if self.limits.max_datagrams == 0 || !self.make_room(key, cost, true) {
            return self.refuse(key, FragDrop::NoMemory, false);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let deadline = now + self.limits.timeout;
        let mut pieces = BTreeMap::new();
        if len > 0 {
            pieces.insert(frag.offset, Box::from(frag.payload));
        }
        self.table.insert(
            key,
            Datagram {
                header: header.then(|| Box::from(frag.header)),
                pieces,
                total: (!frag.more_fragments).then_some(end),
                held: len,
                cost,
                generation,
            },
        );
        self.queue.push_back(QueueEntry {
            deadline,
            key,
            generation,
        });
        self.bytes += cost;
        Outcome::Incomplete
    }

    /// What holding a fragment of `len` bytes (and a header copy, for the first one) costs.
    fn fragment_cost(len: usize, header: Option<&[u8]>) -> usize {
        let piece = if len == 0 {
            0
        } else {
            len.saturating_add(FRAGMENT_OVERHEAD)
        };
        piece.saturating_add(header.map_or(0, <[u8]>::len))
    }

    /// Evicts other datagrams, oldest first, until one more `cost` bytes (and, for a new datagram,
    /// one more table slot) fit. Returns false, evicting nothing, if it can never fit.
    fn make_room(&mut self, key: FragmentKey, cost: usize, new: bool) -> bool {
        let own = self.table.get(&key).map_or(0, |d| d.cost);
        if own
            .checked_add(cost)
            .is_none_or(|c| c > self.limits.max_bytes)
        {
            return false;
        }
        let mut own_entry = None;
        while self.bytes.saturating_add(cost) > self.limits.max_bytes
            || (new && self.table.len() >= self.limits.max_datagrams)
        {
            let Some(entry) = self.queue.pop_front() else {
                break;
            };
            if !self.is_live(&entry) {
                continue;
            }
            if entry.key == key {
                // Never evict the datagram being added to; set its entry aside (it is the oldest,
                // so it goes back to the front).
                own_entry = Some(entry);
                continue;
            }
            if let Some(d) = self.table.remove(&entry.key) {
                self.bytes -= d.cost;
                self.stats.evicted += 1;
                log::debug!("fragments {:?}: evicted (oldest) to make room", entry.key);
            }
        }
        if let Some(entry) = own_entry {
            self.queue.push_front(entry);
        }
        self.tidy_queue();
        true
    }

    /// After a fragment was accepted: records a newly learnt end, and hands the datagram over if it
    /// is complete.
    fn finish(&mut self, key: FragmentKey, total: Option<usize>) -> Option<Outcome> {
        let d = self.table.get_mut(&key)?;
        if total.is_some() {
            d.total = total;
        }
        if !d.is_complete() {
            return None;
        }
        let d = self.remove(key)?;
        self.stats.completed += 1;
        Some(Outcome::Complete(d.into_reassembled()))
    }

    /// Refuses a fragment, dropping its whole datagram too if `whole` is set.
    fn refuse(&mut self, key: FragmentKey, reason: FragDrop, whole: bool) -> Outcome {
        match reason {
            FragDrop::Overlap => self.stats.overlaps += 1,
            FragDrop::TooBig => self.stats.too_big += 1,
            FragDrop::BadLength => self.stats.bad_length += 1,
            FragDrop::NoMemory => self.stats.no_memory += 1,
        }
        let dropped_datagram = whole && self.remove(key).is_some();
        log::debug!(
            "fragment {key:?} dropped: {reason:?} (whole datagram dropped: {dropped_datagram})"
        );
        Outcome::Dropped {
            reason,
            dropped_datagram,
        }
    }

    /// Removes a datagram from the table, keeping the accounting and the queue invariants.
    fn remove(&mut self, key: FragmentKey) -> Option<Datagram> {
        let d = self.table.remove(&key)?;
        self.bytes -= d.cost;
        self.tidy_queue();
        Some(d)
    }

    fn is_live(&self, entry: &QueueEntry) -> bool {
        self.table
            .get(&entry.key)
            .is_some_and(|d| d.generation == entry.generation)
    }

    /// Restores the queue invariants: a live front, and no more than about twice as many entries
    /// as datagrams in progress (amortised O(1) per removal).
    fn tidy_queue(&mut self) {
        while self.queue.front().is_some_and(|e| !self.is_live(e)) {
            self.queue.pop_front();
        }
        if self.queue.len() > 2 * self.table.len() + 16 {
            let table = &self.table;
            self.queue.retain(|e| {
                table
                    .get(&e.key)
                    .is_some_and(|d| d.generation == e.generation)
            });
        }
    }

    /// Earliest deadline of any datagram in progress.
    pub fn poll_at(&self) -> Option<Instant> {
        // The front of the queue is live and the oldest, hence the earliest deadline.
        self.queue.front().map(|e| e.deadline)
    }

    /// Removes every datagram whose deadline is <= now, calling `f` for each.
    ///
    /// RFC 1122 §3.3.2 / RFC 792: the caller sends ICMP Time Exceeded (fragment reassembly time
    /// exceeded) only when [`Expired::quote`] is present, i.e. the first fragment had arrived.
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(Expired)) {
        while let Some(&entry) = self.queue.front() {
            if entry.deadline > now {
                break;
            }
            self.queue.pop_front();
            if !self.is_live(&entry) {
                continue;
            }
            if let Some(d) = self.table.remove(&entry.key) {
                self.bytes -= d.cost;
                self.stats.timed_out += 1;
                log::debug!("fragments {:?}: reassembly timed out", entry.key);
                f(Expired {
                    key: entry.key,
                    quote: d.quote(),
                });
            }
        }
        self.tidy_queue();
    }

    /// Bytes charged to datagrams in progress; never above `max_bytes` between calls.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.table.len()
    }

    /// Counters.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 20] = [0x45; 20];

    fn key(ident: u16) -> FragmentKey {
        FragmentKey {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: 17,
            ident,
        }
    }

    fn frag(ident: u16, offset: usize, mf: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            key: key(ident),
            offset,
            more_fragments: mf,
            header: &HDR,
            payload,
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Feeds the 8-byte-aligned pieces `(start, end)` of `payload` in the given order.
    fn feed(
        r: &mut Reassembler,
        ident: u16,
        payload: &[u8],
        order: &[(usize, usize)],
    ) -> Vec<Outcome> {
        order
            .iter()
            .map(|&(s, e)| r.insert(t(0), frag(ident, s, e < payload.len(), &payload[s..e])))
            .collect()
    }

    fn assert_complete(outcome: Outcome, payload: &[u8]) {
        assert_eq!(
            outcome,
            Outcome::Complete(Reassembled {
                header: HDR.to_vec(),
                payload: payload.to_vec()
            })
        );
    }

    fn dropped(reason: FragDrop, whole: bool) -> Outcome {
        Outcome::Dropped {
            reason,
            dropped_datagram: whole,
        }
    }

    #[test]
    fn in_order_reverse_and_out_of_order() {
        let p = data(100);
        for order in [
            [(0, 32), (32, 64), (64, 100)],
            [(64, 100), (32, 64), (0, 32)],
            [(32, 64), (64, 100), (0, 32)],
            [(64, 100), (0, 32), (32, 64)],
        ] {
            let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
            let mut out = feed(&mut r, 1, &p, &order);
            assert_complete(out.pop().unwrap(), &p);
            assert_eq!(out, [Outcome::Incomplete, Outcome::Incomplete]);
            assert_eq!((r.bytes_held(), r.in_progress(), r.poll_at()), (0, 0, None));
            assert_eq!(r.stats().completed, 1);
        }
    }

    #[test]
    fn unfragmented_passes_through() {
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_complete(r.insert(t(0), frag(1, 0, false, b"hello")), b"hello");
        assert_eq!((r.bytes_held(), r.in_progress()), (0, 0));
    }

    #[test]
    fn duplicate_ignored() {
        let p = data(40);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &p[8..16])),
            Outcome::Incomplete
        );
        let held = r.bytes_held();
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &p[8..16])),
            Outcome::Duplicate
        );
        assert_eq!(r.bytes_held(), held);
        assert_eq!(
            r.insert(t(0), frag(1, 16, false, &p[16..])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 16, false, &p[16..])),
            Outcome::Duplicate
        );
        // An empty last fragment repeating the known end is a duplicate too.
        assert_eq!(r.insert(t(0), frag(1, 40, false, &[])), Outcome::Duplicate);
        assert_complete(r.insert(t(0), frag(1, 0, true, &p[..8])), &p);
        assert_eq!(r.stats().duplicates, 3);
    }

    #[test]
    fn duplicate_marked_last_learns_the_end() {
        let p = data(16);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &p[..8])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &p[8..])),
            Outcome::Incomplete
        );
        assert_complete(r.insert(t(0), frag(1, 8, false, &p[8..])), &p);
    }

    #[test]
    fn empty_last_fragment_fixes_end() {
        let p = data(16);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_eq!(r.insert(t(0), frag(1, 16, false, &[])), Outcome::Incomplete);
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &p[..8])),
            Outcome::Incomplete
        );
        assert_complete(r.insert(t(0), frag(1, 8, true, &p[8..])), &p);
    }

    #[test]
    fn overlaps_drop_whole_datagram() {
        let p = data(64);
        let mut alt = p.clone();
        alt[20] ^= 0xff;
        // Held: [16, 32). Each case is one offending fragment.
        let cases: [(usize, usize, &[u8]); 6] = [
            (16, 32, &alt[16..32]), // same range, different bytes
            (16, 24, &p[16..24]),   // same start, shorter
            (16, 40, &p[16..40]),   // same start, longer
            (8, 24, &p[8..24]),     // partial, from below
            (24, 40, &p[24..40]),   // partial, from above
            (0, 64, &p[..]),        // covering
        ];
        for (s, e, bytes) in cases {
            let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
            assert_eq!(
                r.insert(t(0), frag(1, 16, true, &p[16..32])),
                Outcome::Incomplete
            );
            let mf = e < 64;
            assert_eq!(
                r.insert(t(0), frag(1, s, mf, bytes)),
                dropped(FragDrop::Overlap, true),
                "{s}..{e}"
            );
            assert_eq!((r.bytes_held(), r.in_progress(), r.poll_at()), (0, 0, None));
            assert_eq!(r.stats().overlaps, 1);
        }
        // Wholly inside a held fragment.
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &p[..32])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &p[8..16])),
            dropped(FragDrop::Overlap, true)
        );
        // A fragment of a dropped datagram starts afresh.
        assert_eq!(
            r.insert(t(0), frag(1, 32, false, &p[32..])),
            Outcome::Incomplete
        );
        assert_eq!(r.in_progress(), 1);
    }

    #[test]
    fn too_big_drops() {
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        // 20 + 65512 + 8 = 65540 > 65535.
        assert_eq!(
            r.insert(t(0), frag(1, 65512, false, &[0; 8])),
            dropped(FragDrop::TooBig, false)
        );
        // 20 + 65512 + 3 = 65535: fits.
        assert_eq!(
            r.insert(t(0), frag(1, 65512, false, &[0; 3])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 65504, true, &[0; 16])),
            dropped(FragDrop::TooBig, true)
        );
        assert_eq!(r.in_progress(), 0);
        // Offsets far beyond 65535 and near usize::MAX never panic.
        assert_eq!(
            r.insert(t(0), frag(1, usize::MAX - 3, true, &[0; 8])),
            dropped(FragDrop::TooBig, false)
        );
        assert_eq!(
            r.insert(t(0), frag(1, 1 << 40, false, &[])),
            dropped(FragDrop::TooBig, false)
        );
        // A long first header arriving later makes it too big as well.
        assert_eq!(
            r.insert(t(0), frag(2, 65480, false, &[0; 35])),
            Outcome::Incomplete
        );
        let long = [0x4f; 60];
        let first = Fragment {
            header: &long,
            ..frag(2, 0, true, &[0; 8])
        };
        assert_eq!(r.insert(t(0), first), dropped(FragDrop::TooBig, true));
        assert_eq!(r.stats().too_big, 5);
        assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn bad_lengths() {
        let p = data(64);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        // RFC 791: non-last fragments carry a non-zero multiple of 8 bytes.
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &p[..7])),
            dropped(FragDrop::BadLength, false)
        );
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &[])),
            dropped(FragDrop::BadLength, false)
        );
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &p[..8])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 8, true, &p[8..15])),
            dropped(FragDrop::BadLength, false)
        );
        assert_eq!(r.in_progress(), 1);
        // Two last fragments that disagree.
        assert_eq!(
            r.insert(t(0), frag(1, 32, false, &p[32..40])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(1, 40, false, &p[40..48])),
            dropped(FragDrop::BadLength, true)
        );
        // Data beyond a known end.
        assert_eq!(
            r.insert(t(0), frag(2, 32, false, &p[32..40])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(2, 40, true, &p[40..48])),
            dropped(FragDrop::BadLength, true)
        );
        // A last fragment ending before data already held.
        assert_eq!(
            r.insert(t(0), frag(3, 32, true, &p[32..40])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(0), frag(3, 16, false, &p[16..24])),
            dropped(FragDrop::BadLength, true)
        );
        assert_eq!(r.stats().bad_length, 6);
        assert_eq!((r.in_progress(), r.bytes_held()), (0, 0));
    }

    #[test]
    fn timeout_with_first_fragment_quotes_it() {
        let p = data(200);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        assert_eq!(
            r.insert(t(1000), frag(1, 0, true, &p[..40])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(2000), frag(1, 40, true, &p[40..80])),
            Outcome::Incomplete
        );
        assert_eq!(
            r.insert(t(3000), frag(1, 120, false, &p[120..])),
            Outcome::Incomplete
        );
        // The deadline is fixed by the first fragment, not extended.
        assert_eq!(r.poll_at(), Some(t(31_000)));
        let mut got = Vec::new();
        r.expire(t(30_999), |e| got.push(e));
        assert!(got.is_empty());
        r.expire(t(31_000), |e| got.push(e));
        let mut quote = HDR.to_vec();
        quote.extend_from_slice(&p[..64]);
        assert_eq!(
            got,
            [Expired {
                key: key(1),
                quote: Some(quote)
            }]
        );
        assert_eq!((r.in_progress(), r.bytes_held(), r.poll_at()), (0, 0, None));
        assert_eq!(r.stats().timed_out, 1);
    }

    #[test]
    fn timeout_quote_is_contiguous_prefix_only() {
        let p = data(200);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        r.insert(t(0), frag(1, 0, true, &p[..16]));
        r.insert(t(0), frag(1, 24, true, &p[24..48]));
        let mut got = Vec::new();
        r.expire(t(30_000), |e| got.push(e));
        let mut quote = HDR.to_vec();
        quote.extend_from_slice(&p[..16]);
        assert_eq!(
            got,
            [Expired {
                key: key(1),
                quote: Some(quote)
            }]
        );
    }

    #[test]
    fn timeout_without_first_fragment_has_no_quote() {
        let p = data(64);
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        r.insert(t(0), frag(1, 8, true, &p[8..16]));
        r.insert(t(5000), frag(2, 0, true, &p[..8]));
        assert_eq!(r.poll_at(), Some(t(30_000)));
        let mut got = Vec::new();
        r.expire(t(30_000), |e| got.push(e));
        assert_eq!(
            got,
            [Expired {
                key: key(1),
                quote: None
            }]
        );
        assert_eq!(r.poll_at(), Some(t(35_000)));
        r.expire(t(40_000), |e| got.push(e));
        assert_eq!(got.len(), 2);
        assert!(got[1].quote.is_some());
        assert_eq!(r.stats().timed_out, 2);
    }

    #[test]
    fn evicts_oldest_when_count_reached() {
        let limits = ReassemblyLimits {
            max_datagrams: 2,
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        let p = data(16);
        r.insert(t(0), frag(1, 0, true, &p[..8]));
        r.insert(t(1), frag(2, 0, true, &p[..8]));
        // Adding to an existing datagram evicts nothing.
        r.insert(t(2), frag(1, 8, true, &p[8..16]));
        assert_eq!(r.stats().evicted, 0);
        r.insert(t(3), frag(3, 0, true, &p[..8]));
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(r.in_progress(), 2);
        // Datagram 1 was the oldest: it is gone, 2 is still there.
        assert_eq!(r.poll_at(), Some(t(1) + limits.timeout));
        assert_eq!(
            r.insert(t(4), frag(2, 8, false, &p[8..])),
            Outcome::Complete(Reassembled {
                header: HDR.to_vec(),
                payload: p.clone(),
            })
        );
        assert_eq!(r.insert(t(4), frag(1, 16, false, &[])), Outcome::Incomplete);
        assert_eq!(r.stats().evicted, 1);
    }

    #[test]
    fn memory_evicts_others_never_the_current() {
        let per = DATAGRAM_OVERHEAD + HDR.len() + 800 + FRAGMENT_OVERHEAD;
        let limits = ReassemblyLimits {
            max_bytes: 3 * per,
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        let p = data(4000);
        for ident in 0..3 {
            assert_eq!(
                r.insert(t(ident as u64), frag(ident, 0, true, &p[..800])),
                Outcome::Incomplete
            );
        }
        assert_eq!(r.bytes_held(), 3 * per);
        // Growing the oldest datagram evicts the next oldest, not itself.
        assert_eq!(
            r.insert(t(9), frag(0, 800, true, &p[800..1600])),
            Outcome::Incomplete
        );
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(r.in_progress(), 2);
        assert_eq!(r.poll_at(), Some(t(0) + limits.timeout));
        assert!(r.bytes_held() <= limits.max_bytes);
        // A fragment that cannot fit even alone is refused and drops its datagram.
        assert_eq!(
            r.insert(t(9), frag(0, 1600, true, &p[1600..4000])),
            dropped(FragDrop::NoMemory, true)
        );
        assert_eq!(
            r.insert(t(9), frag(7, 0, true, &p[..4000])),
            dropped(FragDrop::NoMemory, false)
        );
        assert_eq!(r.stats().no_memory, 2);
        assert_eq!(r.in_progress(), 1);
        assert_eq!(r.stats().evicted, 1);
    }

    #[test]
    fn flood_stays_within_max_bytes() {
        let limits = ReassemblyLimits {
            max_bytes: 256 * 1024,
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        let p = data(1480);
        for i in 0..10_000u32 {
            let f = Fragment {
                key: FragmentKey {
                    ident: i as u16,
                    src: Ipv4Addr::from(i >> 16),
                    ..key(0)
                },
                ..frag(0, 0, true, &p[..(i as usize % 185 + 1) * 8])
            };
            assert_eq!(r.insert(t(u64::from(i)), f), Outcome::Incomplete);
            assert!(r.bytes_held() <= limits.max_bytes);
            assert!(r.in_progress() <= limits.max_datagrams);
            assert!(r.queue.len() <= 2 * r.table.len() + 16);
        }
        let (s, left) = (r.stats(), r.in_progress());
        assert_eq!(s.evicted + left as u64, 10_000);
        assert!(s.evicted > 0);
        assert_eq!(r.poll_at(), r.queue.front().map(|e| e.deadline));
        let mut n = 0;
        r.expire(t(u64::MAX / 2000), |_| n += 1);
        assert_eq!(n, left);
        assert_eq!((r.bytes_held(), r.in_progress(), r.queue.len()), (0, 0, 0));
    }

    #[test]
    fn lazy_queue_stays_bounded() {
        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        let p = data(16);
        // One long-lived datagram at the front keeps stale entries behind it from being popped.
        r.insert(t(0), frag(0, 0, true, &p[..8]));
        for i in 1..5000u16 {
            r.insert(t(1), frag(i, 8, false, &p[8..]));
            assert!(matches!(
                r.insert(t(1), frag(i, 0, true, &p[..8])),
                Outcome::Complete(_)
            ));
            assert!(r.queue.len() <= 2 * r.table.len() + 16);
        }
        assert_eq!(r.stats().completed, 4999);
        assert_eq!(r.in_progress(), 1);
    }

    #[test]
    fn zero_limits_never_hold() {
        let limits = ReassemblyLimits {
            max_datagrams: 0,
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        assert_eq!(
            r.insert(t(0), frag(1, 0, true, &[0; 8])),
            dropped(FragDrop::NoMemory, false)
        );
        let limits = ReassemblyLimits {
            max_bytes: 0,
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        assert_eq!(
            r.insert(t(0), frag(1, 8, false, &[])),
            dropped(FragDrop::NoMemory, false)
        );
        assert_eq!(r.bytes_held(), 0);
        assert_complete(r.insert(t(0), frag(1, 0, false, b"x")), b"x");
    }
}
