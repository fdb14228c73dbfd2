//! Property tests of IPv4 fragment reassembly through its public API.
//!
//! Lengths, cut points, delivery orders and duplicates are proptest strategies, so a failure
//! shrinks towards fewer, larger fragments delivered in order. The payload bytes only need to be
//! distinct enough to notice a misplaced byte: they come from `rand`'s portable xoshiro256++
//! seeded by proptest, so a 64 KiB datagram costs one `u64` of shrinking state rather than 65535
//! strategies.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use proptest::sample::Index;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use ustack::test_support::reassembly::{
    FragDrop, Fragment, FragmentKey, Outcome, Reassembled, Reassembler, ReassemblyLimits,
};
use ustack::time::{Duration, Instant};

fn key(ident: u16) -> FragmentKey {
    FragmentKey {
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(192, 0, 2, 2),
        protocol: 6,
        ident,
    }
}

/// A datagram to be fragmented: header, payload and the `(start, end)` cuts.
#[derive(Clone)]
struct Datagram {
    ident: u16,
    header: Vec<u8>,
    payload: Vec<u8>,
    cuts: Vec<(usize, usize)>,
}

/// Proptest prints failing inputs: the shape, not 64 KiB of bytes.
impl std::fmt::Debug for Datagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagram")
            .field("ident", &self.ident)
            .field("header_len", &self.header.len())
            .field("payload_len", &self.payload.len())
            .field("cuts", &self.cuts)
            .finish()
    }
}

/// `len` random bytes behind a 20–60-byte header, cut into 8-aligned fragments of
/// 1..=`max_blocks` blocks of 8 bytes.
fn datagram(ident: u16, len: usize, max_blocks: usize) -> impl Strategy<Value = Datagram> {
    (
        0usize..=10,
        prop::collection::vec(1..=max_blocks, len.div_ceil(8)),
        any::<u64>(),
    )
        .prop_map(move |(words, blocks, seed)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut header = vec![0; (20 + 4 * words).min(65535 - len)];
            rng.fill_bytes(&mut header);
            let mut payload = vec![0; len];
            rng.fill_bytes(&mut payload);
            let mut cuts = Vec::new();
            let mut start = 0;
            for b in blocks {
                if start >= len {
                    break;
                }
                let end = (start + 8 * b).min(len);
                cuts.push((start, end));
                start = end;
            }
            Datagram {
                ident,
                header,
                payload,
                cuts,
            }
        })
}

impl Datagram {
    fn fragment(&self, (start, end): (usize, usize)) -> Fragment<'_> {
        Fragment {
            key: key(self.ident),
            offset: start,
            more_fragments: end < self.payload.len(),
            header: &self.header,
            payload: &self.payload[start..end],
        }
    }

    fn reassembled(&self) -> Reassembled {
        Reassembled {
            header: self.header.clone(),
            payload: self.payload.clone(),
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any datagram, cut anyhow, delivered in any order with exact duplicates sprinkled in,
    /// reassembles exactly once to the original bytes and leaves nothing behind.
    #[test]
    fn any_order_with_duplicates_reassembles(
        (d, mut order) in (
            prop_oneof![1usize..=2000, 1usize..=65515, Just(65515usize)],
            prop_oneof![1usize..=4, 1usize..=200],
        )
            .prop_flat_map(|(len, max_blocks)| datagram(7, len, max_blocks))
            .prop_flat_map(|d| {
                let cuts = d.cuts.clone();
                (Just(d), Just(cuts).prop_shuffle())
            }),
        dups in prop::collection::vec(any::<(Index, Index)>(), 0..=20),
    ) {
        // The last fragment in `order` is the one that completes the datagram; duplicates of the
        // others go anywhere before it (a copy after completion would start a new datagram).
        let last = order.pop().unwrap();
        for (copy, at) in dups {
            if order.is_empty() {
                break;
            }
            let copy = *copy.get(&order);
            let at = at.index(order.len() + 1);
            order.insert(at, copy);
        }
        order.push(last);

        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        let mut completed = 0;
        for (i, &cut) in order.iter().enumerate() {
            match r.insert(Instant::from_millis(i as u64), d.fragment(cut)) {
                Outcome::Complete(got) => {
                    completed += 1;
                    prop_assert_eq!(i, order.len() - 1);
                    prop_assert!(got == d.reassembled(), "reassembled bytes differ");
                }
                Outcome::Incomplete | Outcome::Duplicate => {}
                other => prop_assert!(false, "unexpected {:?}", other),
            }
            prop_assert!(r.bytes_held() <= ReassemblyLimits::DEFAULT.max_bytes);
        }
        prop_assert_eq!(completed, 1);
        prop_assert_eq!(r.bytes_held(), 0);
        prop_assert_eq!(r.in_progress(), 0);
        prop_assert_eq!(r.poll_at(), None);
        let s = r.stats();
        prop_assert_eq!(s.completed, 1);
        prop_assert_eq!(s.duplicates as usize, order.len() - d.cuts.len());
    }

    /// Several datagrams interleaved reassemble independently.
    #[test]
    fn interleaved_datagrams_are_independent(
        (dgrams, order) in prop::collection::vec(
            (1usize..=4000, 1usize..=64)
                .prop_flat_map(|(len, max_blocks)| datagram(0, len, max_blocks)),
            2..=6,
        )
        .prop_flat_map(|mut dgrams| {
            for (i, d) in dgrams.iter_mut().enumerate() {
                d.ident = 100 + i as u16;
            }
            let order: Vec<(usize, (usize, usize))> = dgrams
                .iter()
                .enumerate()
                .flat_map(|(i, d)| d.cuts.iter().map(move |&c| (i, c)))
                .collect();
            (Just(dgrams), Just(order).prop_shuffle())
        }),
    ) {
        let count = dgrams.len();

        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        let mut completed = vec![0; count];
        for &(i, cut) in &order {
            match r.insert(Instant::ZERO, dgrams[i].fragment(cut)) {
                Outcome::Complete(got) => {
                    completed[i] += 1;
                    prop_assert!(got == dgrams[i].reassembled(), "datagram {} differs", i);
                }
                Outcome::Incomplete => {}
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(completed, vec![1; count]);
        prop_assert_eq!(r.bytes_held(), 0);
        prop_assert_eq!(r.in_progress(), 0);
    }

    /// One extra fragment that overlaps the datagram's bytes without being an exact duplicate
    /// means the datagram never completes.
    #[test]
    fn overlap_prevents_completion(
        (d, mut order) in (16usize..=9000, 1usize..=64)
            // At least two real fragments (a lone one would be an unfragmented datagram, and so
            // would an extra copy of it).
            .prop_flat_map(|(len, max_blocks)| datagram(9, len, max_blocks.min((len - 1) / 8)))
            .prop_flat_map(|d| {
                let order: Vec<Option<(usize, usize)>> = d.cuts.iter().copied().map(Some).collect();
                (Just(d), Just(order).prop_shuffle())
            }),
        start_block in any::<Index>(),
        blocks in 1usize..=64,
        (flip_at, flip) in (any::<Index>(), 1u8..=255),
        insert_at in any::<Index>(),
    ) {
        let len = d.payload.len();
        // A well-formed extra fragment: 8-aligned start, MF consistent with the true end.
        let start = 8 * start_block.index(len.div_ceil(8));
        let end = (start + 8 * blocks).min(len);
        let mut bytes = d.payload[start..end].to_vec();
        if d.cuts.contains(&(start, end)) {
            // Same range as a real fragment: make the bytes differ, or it would be a duplicate.
            let at = flip_at.index(bytes.len());
            bytes[at] ^= flip;
        }
        let extra = Fragment { payload: &bytes, ..d.fragment((start, end)) };

        // The extra must arrive while bytes it overlaps are held and the datagram is still in
        // progress: after a real fragment it overlaps, before the last real fragment. (Arriving
        // before every real fragment of its range, it would stand in for them: indistinguishable
        // from the genuine article.)
        let overlaps = |c: &Option<(usize, usize)>| c.is_some_and(|(s, e)| s < end && start < e);
        let mut first = order.iter().position(overlaps).unwrap();
        let n = order.len();
        if first == n - 1 {
            order.swap(first, 0);
            first = 0;
        }
        let at = first + 1 + insert_at.index(n - 1 - first);
        order.insert(at, None);

        let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
        for &item in &order {
            let outcome = r.insert(Instant::ZERO, item.map_or(extra, |cut| d.fragment(cut)));
            prop_assert!(!matches!(outcome, Outcome::Complete(_)), "completed despite overlap");
            match (item, outcome) {
                (_, Outcome::Incomplete) => {}
                (None, Outcome::Dropped { reason: FragDrop::Overlap, dropped_datagram: true }) => {}
                (item, other) => prop_assert!(false, "{:?}: unexpected {:?}", item, other),
            }
        }
        prop_assert_eq!(r.stats().overlaps, 1);
        prop_assert_eq!(r.stats().completed, 0);
    }

    /// Garbage never panics and never holds more than the limits allow.
    #[test]
    fn garbage_is_bounded(
        max_bytes in 0usize..=64 * 1024,
        max_datagrams in 0usize..=8,
        frags in prop::collection::vec(
            (
                0u16..6,
                prop_oneof![0usize..=70_000, (0usize..=8200).prop_map(|b| b * 8), Just(usize::MAX - 5)],
                0usize..=3000,
                any::<bool>(),
                0usize..=60,
                any::<u8>(),
                0u64..=5000,
            ),
            1..150,
        ),
    ) {
        let limits = ReassemblyLimits {
            max_bytes,
            max_datagrams,
            timeout: Duration::from_secs(30),
            ..ReassemblyLimits::DEFAULT
        };
        let mut r = Reassembler::new(limits);
        let mut now = Instant::ZERO;
        let header = [0x45u8; 60];
        for (ident, offset, len, mf, hdr, fill, step) in frags {
            now += Duration::from_millis(step * 10);
            let payload = vec![fill; len];
            let f = Fragment { key: key(ident), offset, more_fragments: mf, header: &header[..hdr], payload: &payload };
            if let Outcome::Complete(got) = r.insert(now, f) {
                prop_assert!(got.header.len() + got.payload.len() <= limits.max_datagram_size);
            }
            prop_assert!(r.bytes_held() <= max_bytes);
            prop_assert!(r.in_progress() <= max_datagrams);
            prop_assert_eq!(r.poll_at().is_some(), r.in_progress() > 0);
            if step % 7 == 0 {
                r.expire(now, |e| {
                    assert!(e.quote.as_ref().is_none_or(|q| q.len() <= 60 + 64));
                });
                prop_assert!(r.poll_at().is_none_or(|at| at > now));
                prop_assert!(r.bytes_held() <= max_bytes);
            }
        }
        r.expire(now + limits.timeout, |_| {});
        prop_assert_eq!(r.bytes_held(), 0);
        prop_assert_eq!(r.in_progress(), 0);
        prop_assert_eq!(r.poll_at(), None);
    }
}
