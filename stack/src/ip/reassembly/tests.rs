//! Unit tests of the reassembler.
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
fn feed(r: &mut Reassembler, ident: u16, payload: &[u8], order: &[(usize, usize)]) -> Vec<Outcome> {
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
fn remembering_overlaps_refuses_the_rest_of_the_datagram_until_the_timeout() {
    let p = data(64);
    let limits = ReassemblyLimits {
        max_datagrams: 2,
        ..ReassemblyLimits::DEFAULT
    };
    let mut r = Reassembler::new(limits).remembering_overlaps();
    assert_eq!(
        r.insert(t(0), frag(1, 0, true, &p[..32])),
        Outcome::Incomplete
    );
    assert_eq!(
        r.insert(t(0), frag(1, 8, true, &p[8..16])),
        dropped(FragDrop::Overlap, true)
    );
    // RFC 5722 §4: its fragments not yet received are discarded too, nothing is held.
    assert_eq!(
        r.insert(t(1), frag(1, 32, false, &p[32..])),
        dropped(FragDrop::AfterOverlap, false)
    );
    assert_eq!(
        r.insert(t(2), frag(1, 0, true, &p[..32])),
        dropped(FragDrop::AfterOverlap, false)
    );
    assert_eq!((r.bytes_held(), r.in_progress(), r.poll_at()), (0, 0, None));
    assert_eq!((r.stats().overlaps, r.stats().after_overlap), (1, 2));
    // Another datagram is untouched; after the timeout the identification is free again.
    assert_eq!(
        r.insert(t(3), frag(2, 32, false, &p[32..])),
        Outcome::Incomplete
    );
    let later = t(0) + limits.timeout;
    assert_eq!(
        r.insert(later, frag(1, 32, false, &p[32..])),
        Outcome::Incomplete
    );
    // At most `max_datagrams` remembered: a third overlap while two are live is not kept.
    for ident in [3, 4, 5] {
        assert_eq!(
            r.insert(t(5), frag(ident, 0, true, &p[..32])),
            Outcome::Incomplete
        );
        let _ = r.insert(t(5), frag(ident, 8, true, &p[8..16]));
    }
    let after = |r: &mut Reassembler, ident| r.insert(t(6), frag(ident, 40, false, &p[40..]));
    assert_eq!(after(&mut r, 3), dropped(FragDrop::AfterOverlap, false));
    assert_eq!(after(&mut r, 4), dropped(FragDrop::AfterOverlap, false));
    assert_ne!(after(&mut r, 5), dropped(FragDrop::AfterOverlap, false));
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
    let per = datagram_overhead::<FragmentKey>() + HDR.len() + 800 + FRAGMENT_OVERHEAD;
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
