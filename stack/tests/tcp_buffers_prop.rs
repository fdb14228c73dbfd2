//! Property tests of the TCP receive buffer (out-of-order reassembly), the send buffer and the
//! SACK scoreboard, each against a simple model.
//!
//! Streams, cut points, overlapping extra segments and duplicates are proptest strategies, so a
//! failure shrinks towards a short stream in few pieces. The redelivery rounds (a fresh order and
//! random reads each round, as many rounds as it takes) are not known in advance: they draw from
//! `rand`'s portable xoshiro256++, seeded by proptest.

use std::collections::VecDeque;

use proptest::prelude::*;
use proptest::sample::Index;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use ustack::test_support::RecvBuffer;
use ustack::test_support::{Scoreboard, SendBuffer, MAX_SACK_RANGES};

/// Maximal runs of `true` in `bits[from..to]`, as absolute `[start, end)`.
fn runs(bits: &[bool], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let to = to.min(bits.len());
    let mut i = from;
    while i < to {
        if bits[i] {
            let s = i;
            while i < to && bits[i] {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// The receiver under test plus a model of which absolute stream positions it holds.
struct Receiver {
    buf: RecvBuffer,
    /// Absolute stream offset of the in-order end (RCV.NXT).
    nxt: usize,
    /// Bytes read by the app so far.
    out: Vec<u8>,
    /// Model: positions held (in order or out of order).
    held: Vec<bool>,
}

impl Receiver {
    /// Delivers stream bytes `[s, e)`, trimming what is already in order as a connection would
    /// (but not trimming to the window: the buffer must cope).
    fn deliver(&mut self, stream: &[u8], s: usize, e: usize) -> Result<(), TestCaseError> {
        if e <= self.nxt {
            return Ok(());
        }
        let s = s.max(self.nxt);
        let window = self.buf.window();
        prop_assert_eq!(window + self.buf.readable(), self.buf.capacity());
        let accepted_end = e.min(self.nxt + window);
        for b in &mut self.held[s..accepted_end.max(s)] {
            *b = true;
        }
        let mut expect = 0;
        while self.nxt + expect < self.held.len() && self.held[self.nxt + expect] {
            expect += 1;
        }
        let adv = self.buf.write_at(s - self.nxt, &stream[s..e]);
        prop_assert_eq!(adv, expect);
        self.nxt += adv;
        prop_assert!(self.buf.readable() <= self.buf.capacity());

        // The out-of-order ranges and SACK blocks match the model exactly.
        // Nothing is ever held at or beyond the window.
        let model = runs(&self.held, self.nxt, self.nxt + self.buf.capacity());
        prop_assert_eq!(self.buf.out_of_order_ranges(), model.len());
        prop_assert_eq!(self.buf.has_out_of_order(), !model.is_empty());
        let mut blocks = [(0, 0); 4];
        let n = self.buf.sack_blocks(&mut blocks);
        prop_assert_eq!(n, model.len().min(4));
        for (i, &(bs, be)) in blocks[..n].iter().enumerate() {
            prop_assert!(model.contains(&(bs + self.nxt, be + self.nxt)));
            prop_assert!(!blocks[..i].contains(&(bs, be)));
        }
        // RFC 2018 §4: the first block contains the segment just received, if it was held out
        // of order.
        if adv == 0 && accepted_end > s {
            let first = blocks[0];
            prop_assert!(first.0 + self.nxt <= s && accepted_end <= first.1 + self.nxt);
        }
        Ok(())
    }

    fn read(&mut self, max: usize) -> Result<(), TestCaseError> {
        let before = self.buf.readable();
        let mut tmp = vec![0; max];
        let mut peeked = vec![0; max];
        let p = self.buf.peek(&mut peeked);
        let n = self.buf.read(&mut tmp);
        prop_assert_eq!(n, max.min(before));
        prop_assert_eq!(p, n);
        prop_assert_eq!(&peeked[..p], &tmp[..n]);
        self.out.extend_from_slice(&tmp[..n]);
        prop_assert_eq!(self.buf.readable(), before - n);
        Ok(())
    }
}

/// One receive-buffer case: the buffer's capacity, the stream, and its segments — the pieces
/// between sorted cut points, extra segments spanning cut points (a start and a length), and
/// copies of segments — plus the seed for the redelivery rounds.
#[derive(Debug, Clone)]
struct RecvCase {
    cap: usize,
    stream: Vec<u8>,
    cuts: Vec<usize>,
    extras: Vec<(Index, Index)>,
    dups: Vec<Index>,
    rounds_seed: u64,
}

fn recv_case() -> impl Strategy<Value = RecvCase> {
    (1usize..400)
        // Up to several windows' worth, so the window closes and wraps the ring many times.
        .prop_flat_map(|cap| (Just(cap), prop::collection::vec(any::<u8>(), 1..=cap * 8)))
        .prop_flat_map(|(cap, stream)| {
            let len = stream.len();
            (
                Just(cap),
                Just(stream),
                prop::collection::vec(0..=len, 0..len / 4 + 2),
                prop::collection::vec(any::<(Index, Index)>(), 0..len / 4 + 3),
                prop::collection::vec(any::<Index>(), 0..len / 4 + 3),
                any::<u64>(),
            )
        })
        .prop_map(|(cap, stream, cuts, extras, dups, rounds_seed)| RecvCase {
            cap,
            stream,
            cuts,
            extras,
            dups,
            rounds_seed,
        })
}

fn recv_roundtrip(case: RecvCase) -> Result<(), TestCaseError> {
    let RecvCase {
        cap,
        stream,
        mut cuts,
        mut extras,
        mut dups,
        rounds_seed,
    } = case;
    let len = stream.len();

    // Cut into segments, then add overlapping segments spanning cut points and duplicate some.
    cuts.extend([0, len]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut segs: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    extras.truncate(segs.len());
    for (start, span) in extras {
        let s = start.index(len);
        let e = s + 1 + span.index((len - s).min(cap + 8));
        segs.push((s, e));
    }
    dups.truncate(segs.len() / 2);
    for i in dups {
        segs.push(*i.get(&segs));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(rounds_seed);

    let mut r = Receiver {
        buf: RecvBuffer::new(cap),
        nxt: 0,
        out: Vec::with_capacity(len),
        held: vec![false; len],
    };
    // Rounds of (re)transmission until everything arrived: in each round every segment is
    // delivered once, in a fresh random order, with reads of random sizes at random times. Each
    // round makes progress, so at most `len` rounds are needed.
    let mut rounds = 0;
    while r.out.len() < len {
        rounds += 1;
        prop_assert!(rounds <= len + 1, "no progress");
        segs.shuffle(&mut rng);
        for &(s, e) in &segs {
            if rng.random_ratio(1, 3) {
                let max = rng.random_range(0..cap + 2);
                r.read(max)?;
            }
            r.deliver(&stream, s, e)?;
        }
        let all = r.buf.readable();
        r.read(all)?;
    }
    prop_assert_eq!(r.nxt, len);
    prop_assert!(!r.buf.has_out_of_order());
    prop_assert_eq!(&r.out, &stream);
    Ok(())
}

#[derive(Debug, Clone)]
enum SendOp {
    Push(Vec<u8>),
    Ack(usize),
    ReadAt(usize, usize),
}

fn send_op() -> impl Strategy<Value = SendOp> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80).prop_map(SendOp::Push),
        (0usize..80).prop_map(SendOp::Ack),
        (0usize..80, 0usize..80).prop_map(|(o, l)| SendOp::ReadAt(o, l)),
    ]
}

#[derive(Debug, Clone)]
enum BoardOp {
    Add(usize, usize),
    Advance(usize),
    Clear,
}

const BOARD_SPAN: usize = 400;

fn tiny_board_op() -> impl Strategy<Value = BoardOp> {
    prop_oneof![
        30 => (0usize..BOARD_SPAN).prop_map(|s| BoardOp::Add(s, s + 1)),
        1 => (0usize..10).prop_map(BoardOp::Advance),
    ]
}

fn board_op() -> impl Strategy<Value = BoardOp> {
    prop_oneof![
        16 => (0usize..BOARD_SPAN, 0usize..4).prop_map(|(s, l)| BoardOp::Add(s, (s + l).min(BOARD_SPAN))),
        2 => (0usize..BOARD_SPAN, 0usize..BOARD_SPAN).prop_map(|(s, e)| BoardOp::Add(s, e)),
        2 => (0usize..40).prop_map(BoardOp::Advance),
        1 => Just(BoardOp::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn recv_buffer_reassembles_any_order(case in recv_case()) {
        recv_roundtrip(case)?;
    }

    #[test]
    fn send_buffer_matches_vecdeque(
        cap in 0usize..64,
        ops in prop::collection::vec(send_op(), 0..200),
    ) {
        let mut b = SendBuffer::new(cap);
        let mut model: VecDeque<u8> = VecDeque::new();
        prop_assert_eq!(b.capacity(), cap);
        for op in ops {
            match op {
                SendOp::Push(data) => {
                    let n = data.len();
                    let pushed = b.push(&data);
                    prop_assert_eq!(pushed, n.min(cap - model.len()));
                    model.extend(&data[..pushed]);
                }
                SendOp::Ack(n) => {
                    let n = n.min(model.len());
                    b.ack(n);
                    model.drain(..n);
                }
                SendOp::ReadAt(offset, l) => {
                    let mut out = vec![0xAA; l];
                    let got = b.read_at(offset, &mut out);
                    let expect: Vec<u8> = model.iter().skip(offset).take(l).copied().collect();
                    prop_assert_eq!(&out[..got], &expect[..]);
                    prop_assert!(out[got..].iter().all(|&x| x == 0xAA));
                }
            }
            prop_assert_eq!(b.len(), model.len());
            prop_assert_eq!(b.is_empty(), model.is_empty());
            prop_assert_eq!(b.free(), cap - model.len());
        }
    }

    #[test]
    fn scoreboard_matches_bitmap(ops in prop::collection::vec(board_op(), 0..300)) {
        check_board(ops)?;
    }

    /// Many tiny scattered blocks: exercises the MAX_SACK_RANGES bound.
    #[test]
    fn scoreboard_bound_matches_bitmap(ops in prop::collection::vec(tiny_board_op(), 100..300)) {
        check_board(ops)?;
    }
}

/// Runs `ops` on a scoreboard and a bitmap model, checking every query after each op.
fn check_board(ops: Vec<BoardOp>) -> Result<(), TestCaseError> {
    let mut sb = Scoreboard::default();
    let mut model = vec![false; BOARD_SPAN];
    for op in ops {
        match op {
            BoardOp::Add(s, e) => {
                let old = model.clone();
                for b in &mut model[s..e.max(s)] {
                    *b = true;
                }
                // The bound: a new range above all others is refused; otherwise the
                // highest goes.
                let mut r = runs(&model, 0, BOARD_SPAN);
                if r.len() > MAX_SACK_RANGES {
                    let top = r.pop().unwrap();
                    if top == (s, e) {
                        model = old.clone();
                    } else {
                        for b in &mut model[top.0..top.1] {
                            *b = false;
                        }
                    }
                }
                let fresh = (s..e.max(s)).filter(|&i| model[i] && !old[i]).count();
                prop_assert_eq!(sb.add(s, e), fresh);
            }
            BoardOp::Advance(n) => {
                sb.advance(n);
                model.drain(..n);
                model.resize(BOARD_SPAN, false);
            }
            BoardOp::Clear => {
                sb.clear();
                model.iter_mut().for_each(|b| *b = false);
            }
        }
        let r = runs(&model, 0, BOARD_SPAN);
        prop_assert!(r.len() <= MAX_SACK_RANGES);
        prop_assert_eq!(sb.sacked_bytes(), model.iter().filter(|&&b| b).count());
        prop_assert_eq!(sb.is_empty(), r.is_empty());
        let highest = r.last().map(|x| x.1);
        prop_assert_eq!(sb.highest(), highest);
        for (i, &bit) in model.iter().enumerate() {
            prop_assert_eq!(sb.is_sacked(i), bit, "offset {}", i);
        }
        for from in (0..BOARD_SPAN + 2).step_by(7) {
            let h = highest.unwrap_or(0);
            let expect = (from..h).find(|&i| !model[i]).map(|s| {
                let e = (s..h).find(|&i| model[i]).unwrap_or(h);
                (s, e)
            });
            prop_assert_eq!(sb.next_hole(from), expect, "from {}", from);
            let above = model.iter().skip(from + 1).filter(|&&b| b).count();
            prop_assert_eq!(sb.sacked_above(from), above);
        }
    }
    Ok(())
}
