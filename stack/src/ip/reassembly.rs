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
    /// per-datagram / per-fragment bookkeeping estimates [`datagram_overhead`] and
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
    #[cfg_attr(
        not(feature = "test-support"),
        allow(dead_code, reason = "reached by tests through test_support")
    )]
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

/// What identifies the fragments of one IPv6 datagram (RFC 8200 §4.5: source, destination and
/// the Fragment header's identification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey6 {
    /// Source address.
    pub src: std::net::Ipv6Addr,
    /// Destination address.
    pub dst: std::net::Ipv6Addr,
    /// The Identification field.
    pub ident: u32,
}

/// What a reassembler keys datagrams by: [`FragmentKey`] (IPv4) or [`FragmentKey6`].
pub trait Key: Copy + Eq + std::hash::Hash + core::fmt::Debug {}
impl Key for FragmentKey {}
impl Key for FragmentKey6 {}

/// One received fragment, already validated as an IP header by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a, K = FragmentKey> {
    /// Which datagram this fragment belongs to.
    pub key: K,
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
    /// Belongs to a datagram dropped for an overlap less than a timeout ago (only with
    /// [`Reassembler::remembering_overlaps`], RFC 5722 §4).
    AfterOverlap,
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
pub struct Expired<K = FragmentKey> {
    /// Which datagram timed out.
    pub key: K,
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
    /// Fragments refused with [`FragDrop::AfterOverlap`].
    pub after_overlap: u64,
}

/// Payload bytes quoted after the header in [`Expired::quote`]: RFC 792 asks for 64 bits; we quote
/// up to 64 bytes, as RFC 1812 §4.3.2.3 encourages.
const QUOTE_PAYLOAD: usize = 64;

/// Bytes charged for each datagram in progress besides its payload and header copy: the table
/// entry (with the hash map's spare capacity), its entries in the age queue and the empty map of
/// fragments. An estimate, deliberately on the high side.
/// (For datagrams keyed by `K`: IPv6 keys are larger.)
pub const fn datagram_overhead<K>() -> usize {
    3 * core::mem::size_of::<(K, Datagram)>() + 4 * core::mem::size_of::<QueueEntry<K>>() + 64
}

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
struct QueueEntry<K> {
    deadline: Instant,
    key: K,
    generation: u64,
}

/// Reassembles IPv4 datagrams (or, keyed by [`FragmentKey6`], IPv6 ones) from fragments. See the
/// module docs for the policy.
#[derive(Debug)]
pub struct Reassembler<K: Key = FragmentKey> {
    limits: ReassemblyLimits,
    table: HashMap<K, Datagram>,
    /// Datagrams oldest first. Deadlines are creation time plus a fixed timeout, so this is also
    /// deadline order. Removal from the table leaves a stale entry behind (lazy deletion).
    /// Invariants: the front entry, if any, is live; the queue is compacted when it holds more
    /// than twice as many entries as the table (plus a little slack).
    queue: VecDeque<QueueEntry<K>>,
    next_generation: u64,
    bytes: usize,
    stats: ReassemblyStats,
    /// With [`Reassembler::remembering_overlaps`]: datagrams dropped for an overlap, each until
    /// a timeout after the drop; at most `max_datagrams` of them.
    abandoned: Option<HashMap<K, Instant>>,
}

impl<K: Key> Reassembler<K> {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            table: HashMap::new(),
            queue: VecDeque::new(),
            next_generation: 0,
            bytes: 0,
            stats: ReassemblyStats::default(),
            abandoned: None,
        }
    }

    /// Remembers each datagram dropped for an overlap for a timeout, and refuses its later
    /// fragments ([`FragDrop::AfterOverlap`]): RFC 5722 §4 discards the whole datagram, "including
    /// those [fragments] not yet received". For IPv6, whose 32-bit identifications a source does
    /// not reuse within a timeout (RFC 7739); IPv4's 16-bit ones may legitimately come back.
    pub fn remembering_overlaps(mut self) -> Self {
        self.abandoned = Some(HashMap::new());
        self
    }

    /// Notes `key` as dropped for an overlap (if remembering), within the count limit: expired
    /// entries are forgotten first, and when every slot is still live the new one is not kept.
    fn abandon(&mut self, now: Instant, key: K) {
        let (Some(map), max) = (self.abandoned.as_mut(), self.limits.max_datagrams) else {
            return;
        };
        if map.len() >= max {
            map.retain(|_, until| *until > now);
        }
        if map.len() < max {
            map.insert(key, now + self.limits.timeout);
        }
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
    pub fn insert(&mut self, now: Instant, frag: Fragment<'_, K>) -> Outcome {
        let key = frag.key;
        let len = frag.payload.len();

        if let Some(map) = self.abandoned.as_mut() {
            match map.get(&key) {
                Some(&until) if until > now => {
                    return self.refuse(key, FragDrop::AfterOverlap, false);
                }
                Some(_) => {
                    map.remove(&key);
                }
                None => {}
            }
        }

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
            Placement::Overlap => {
                self.abandon(now, key);
                self.refuse(key, FragDrop::Overlap, true)
            }
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
    fn insert_new(&mut self, now: Instant, frag: Fragment<'_, K>, end: usize) -> Outcome {
        let key = frag.key;
        let len = frag.payload.len();
        let header = frag.offset == 0;
        let cost = datagram_overhead::<K>()
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
    fn make_room(&mut self, key: K, cost: usize, new: bool) -> bool {
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
    fn finish(&mut self, key: K, total: Option<usize>) -> Option<Outcome> {
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
    fn refuse(&mut self, key: K, reason: FragDrop, whole: bool) -> Outcome {
        match reason {
            FragDrop::Overlap => self.stats.overlaps += 1,
            FragDrop::TooBig => self.stats.too_big += 1,
            FragDrop::BadLength => self.stats.bad_length += 1,
            FragDrop::NoMemory => self.stats.no_memory += 1,
            FragDrop::AfterOverlap => self.stats.after_overlap += 1,
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
    fn remove(&mut self, key: K) -> Option<Datagram> {
        let d = self.table.remove(&key)?;
        self.bytes -= d.cost;
        self.tidy_queue();
        Some(d)
    }

    fn is_live(&self, entry: &QueueEntry<K>) -> bool {
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
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(Expired<K>)) {
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
mod tests;
