//! One direction of a simulated link: a seeded sequence of misbehaviours applied to every packet.
//!
//! [`Link::send`] decides each packet's fate the moment it is offered, in this order:
//!
//! 1. **MTU**: a packet longer than [`Profile::mtu`] is dropped (`dropped_mtu`).
//! 2. **Queue and rate**: with [`Profile::rate_bps`] set, packets are serialized one after the
//!    other; a packet that would push the bytes waiting for the wire above
//!    [`Profile::queue_bytes`] is dropped at the tail (`dropped_queue`). Without a rate the link
//!    has infinite bandwidth and no queue.
//! 3. **Loss**: independent with [`Profile::loss`], or Gilbert-Elliott with [`Profile::burst`]
//!    (`loss` then applies in the good state, the third number in the bad one) (`dropped_loss`).
//!    A lost packet still used its share of the wire.
//! 4. **Corruption**: with [`Profile::corrupt`], 1–3 bit flips anywhere in the packet (IP
//!    header, transport header, payload) (`corrupted`). All flips of one packet go the same way
//!    (all 0→1 or all 1→0): the Internet checksum (RFC 1071) cannot see two opposite flips of the
//!    same bit weight, and a corruption no checksum can detect would test nothing about a stack.
//!    Same-direction flips of up to 3 bits always change a ones'-complement sum, so every
//!    corrupted packet is detectable and a stack must drop it.
//! 5. **Delay**: [`Profile::delay`] plus a uniform `0..=jitter`. Jitter alone never reorders:
//!    the link stays FIFO (a packet is never delivered before one sent earlier, except a
//!    reordered one).
//! 6. **Reordering**: with [`Profile::reorder`], a packet is held back an extra
//!    [`Profile::reorder_delay`], so packets sent after it overtake it (`reordered`). It does not
//!    hold back the packets behind it.
//! 7. **Duplication**: with [`Profile::duplicate`], a second copy is delivered right after the
//!    first, at the same time (`duplicated`).
//! 8. **Tail loss**: with [`Profile::tail`], the last data packets of each burst are lost the
//!    first time they are sent (`dropped_tail`; see [`super::tail`]).
//!
//! Every random draw comes from the link's own seeded xoshiro256++ generator (`rand`), so a seed
//! reproduces the link's behaviour exactly given the same packets at the same times.

use super::tail::{TailDropper, TailLoss};
use super::{Duration, Instant};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How one direction of a link misbehaves.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// A short name for reports ("loss 1%").
    pub name: &'static str,
    /// Independent drop probability per packet (in the good state when `burst` is set).
    pub loss: f64,
    /// Gilbert-Elliott bursty loss: (p good→bad, p bad→good, loss probability in the bad state),
    /// transitions drawn once per packet before its loss draw.
    pub burst: Option<(f64, f64, f64)>,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back by an extra `reorder_delay`.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Probability a packet gets 1–3 bit flips (always detectable by the checksums).
    pub corrupt: f64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Uniform extra delay in `0..=jitter`; never reorders by itself (the link stays FIFO).
    pub jitter: Duration,
    /// Serialization rate in bits per second; None = infinitely fast, no queue.
    pub rate_bps: Option<u64>,
    /// Bytes the rate limiter's queue holds (drop-tail beyond); ignored without a rate.
    pub queue_bytes: usize,
    /// Packets longer than this are dropped.
    pub mtu: usize,
    /// Drop the last segments of each burst (first transmissions only).
    pub tail: Option<TailLoss>,
}

impl Profile {
    /// No misbehaviour: 5 ms one way, 100 Mbit/s with a 4 MiB queue (never full for a single
    /// connection with default buffers), MTU 1500.
    pub fn clean() -> Profile {
        Profile {
            name: "clean",
            loss: 0.0,
            burst: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            corrupt: 0.0,
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
            rate_bps: Some(100_000_000),
            queue_bytes: 4 << 20,
            mtu: 1500,
            tail: None,
        }
    }

    /// Clean, with an independent loss probability `p` (0.0..=1.0).
    pub fn with_loss(mut self, p: f64) -> Profile {
        self.loss = p;
        self
    }

    /// Clean, with a different name.
    pub fn named(mut self, name: &'static str) -> Profile {
        self.name = name;
        self
    }

    /// Independent loss of `pct` percent (e.g. `loss(1.0)` = 1%), 1 ms of jitter.
    pub fn loss(pct: f64) -> Profile {
        Profile {
            name: "loss",
            loss: pct / 100.0,
            jitter: Duration::from_millis(1),
            ..Profile::clean()
        }
    }

    /// Bursty loss (Gilbert-Elliott): bursts start on 0.5% of packets, last 4 packets on
    /// average, and lose 50% of packets inside them; 0.1% loss outside. About 1% overall.
    pub fn bursty() -> Profile {
        Profile {
            name: "bursty",
            loss: 0.001,
            burst: Some((0.005, 0.25, 0.5)),
            jitter: Duration::from_millis(1),
            ..Profile::clean()
        }
    }

    /// 3% of packets held back 8 ms (beyond the 3-duplicate-ACK threshold at 100 Mbit/s),
    /// 2 ms of jitter.
    pub fn reordering() -> Profile {
        Profile {
            name: "reordering",
            reorder: 0.03,
            reorder_delay: Duration::from_millis(8),
            jitter: Duration::from_millis(2),
            ..Profile::clean()
        }
    }

    /// `pct` percent of packets delivered twice.
    pub fn duplication(pct: f64) -> Profile {
        Profile {
            name: "duplication",
            duplicate: pct / 100.0,
            ..Profile::clean()
        }
    }

    /// `pct` percent of packets corrupted (1–3 detectable bit flips).
    pub fn corruption(pct: f64) -> Profile {
        Profile {
            name: "corruption",
            corrupt: pct / 100.0,
            ..Profile::clean()
        }
    }

    /// Everything at once: 1% loss, 1% duplication, 2% reordering by 6 ms, 0.5% corruption,
    /// 20 ms ± 2 ms delay, 20 Mbit/s with a 64 KiB queue (so congestion drops happen too).
    pub fn combined() -> Profile {
        Profile {
            name: "combined",
            loss: 0.01,
            burst: None,
            duplicate: 0.01,
            reorder: 0.02,
            reorder_delay: Duration::from_millis(6),
            corrupt: 0.005,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(2),
            rate_bps: Some(20_000_000),
            queue_bytes: 64 << 10,
            mtu: 1500,
            tail: None,
        }
    }

    /// Tail loss: the last 2 data segments of a quarter of the bursts (1 ms of silence ends
    /// one) are lost the first time they are sent; 1 ms of jitter.
    pub fn tail_loss() -> Profile {
        Profile {
            name: "tail loss",
            jitter: Duration::from_millis(1),
            tail: Some(TailLoss {
                gap: Duration::from_millis(1),
                segments: 2,
                min_len: 200,
                probability: 0.25,
            }),
            ..Profile::clean()
        }
    }

    /// Heavy reordering: 25% of packets held back one RTT (10 ms), 1 ms of jitter.
    pub fn heavy_reordering() -> Profile {
        Profile {
            name: "heavy reordering",
            reorder: 0.25,
            reorder_delay: Duration::from_millis(10),
            jitter: Duration::from_millis(1),
            ..Profile::clean()
        }
    }

    /// A long fat path: `pct` percent loss, 100 ms RTT (50 ms each way), 100 Mbit/s, 4 MiB queue.
    pub fn long_fat(pct: f64) -> Profile {
        Profile {
            name: "long fat",
            loss: pct / 100.0,
            delay: Duration::from_millis(50),
            ..Profile::clean()
        }
    }

    /// Clean with an MTU of `n` bytes (set the stacks' MTU to match).
    pub fn mtu(n: usize) -> Profile {
        Profile {
            name: "mtu",
            mtu: n,
            ..Profile::clean()
        }
    }

    /// Every packet lost: a run over it can only stall or time out.
    pub fn blackhole() -> Profile {
        Profile {
            name: "blackhole",
            loss: 1.0,
            ..Profile::clean()
        }
    }
}

/// What a link did to the packets offered to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered by the sending node.
    pub offered: u64,
    /// Packets handed to the receiving node (duplicates included).
    pub delivered: u64,
    /// Dropped by random (independent or bursty) loss.
    pub dropped_loss: u64,
    /// Dropped at the tail of the full rate-limiter queue.
    pub dropped_queue: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
    /// Packets held back to be overtaken.
    pub reordered: u64,
    /// Packets with bits flipped.
    pub corrupted: u64,
    /// Dropped as the tail of a burst.
    pub dropped_tail: u64,
}

/// True with probability `p` — no draw at all when `p <= 0`, so a clean profile's sequence does
/// not depend on how many packets went by.
fn chance(rng: &mut Xoshiro256PlusPlus, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.min(1.0))
}

/// One direction of a link.
#[derive(Debug)]
pub struct Link {
    profile: Profile,
    /// `rand`'s xoshiro256++ seeded with `seed_from_u64`: one of rand's named portable generators,
    /// value-stable across platforms and `rand` 0.10 releases (unlike `SmallRng`, whose algorithm
    /// may change), so a seed reproduces a run — and the comparison snapshot — anywhere.
    rng: Xoshiro256PlusPlus,
    stats: LinkStats,
    /// Gilbert-Elliott state: in a burst.
    bad: bool,
    /// When the wire finishes serializing everything queued so far.
    wire_free_at: Instant,
    /// The latest delivery time of an in-order packet (FIFO floor for jitter).
    last_delivery: Instant,
    /// Scheduled deliveries: (time, sequence for stable ties, packet).
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    next_seq: u64,
    /// Burst tails held back (with `Profile::tail`).
    tail: TailDropper,
    /// Scratch for packets the tail dropper releases.
    released: Vec<(Instant, Vec<u8>)>,
}

impl Link {
    /// A link behaving as `profile`, its random choices drawn from `seed`.
    pub fn new(profile: Profile, seed: u64) -> Link {
        Link {
            profile,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            stats: LinkStats::default(),
            bad: false,
            wire_free_at: Instant::ZERO,
            last_delivery: Instant::ZERO,
            queue: BinaryHeap::new(),
            next_seq: 0,
            tail: TailDropper::default(),
            released: Vec::new(),
        }
    }

    /// The profile in force.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Offers `packet` at `now`: applies the profile and schedules its delivery (if any).
    pub fn send(&mut self, now: Instant, mut packet: Vec<u8>) {
        self.stats.offered += 1;
        if packet.len() > self.profile.mtu {
            self.stats.dropped_mtu += 1;
            return;
        }
        // Serialization: the packet leaves the sender when the wire is free and its last bit
        // has gone out `len * 8 / rate` later.
        let mut depart = now;
        if let Some(rate) = self.profile.rate_bps.filter(|&r| r > 0) {
            let start = self.wire_free_at.max(now);
            let backlog_us = start.saturating_since(now).total_micros();
            let backlog_bytes = (backlog_us as u128 * rate as u128 / 8_000_000) as usize;
            if backlog_bytes + packet.len() > self.profile.queue_bytes {
                self.stats.dropped_queue += 1;
                return;
            }
            let tx_us = (packet.len() as u128 * 8_000_000).div_ceil(rate as u128) as u64;
            self.wire_free_at = start + Duration::from_micros(tx_us);
            depart = self.wire_free_at;
        }
        let lost = match self.profile.burst {
            Some((to_bad, to_good, bad_loss)) => {
                if self.bad {
                    if chance(&mut self.rng, to_good) {
                        self.bad = false;
                    }
                } else if chance(&mut self.rng, to_bad) {
                    self.bad = true;
                }
                let p = if self.bad {
                    bad_loss
                } else {
                    self.profile.loss
                };
                chance(&mut self.rng, p)
            }
            None => chance(&mut self.rng, self.profile.loss),
        };
        if lost {
            self.stats.dropped_loss += 1;
            return;
        }
        if !packet.is_empty() && chance(&mut self.rng, self.profile.corrupt) {
            self.corrupt(&mut packet);
            self.stats.corrupted += 1;
        }
        let jitter = self.profile.jitter.total_micros();
        let extra = if jitter > 0 {
            self.rng.random_range(0..=jitter)
        } else {
            0
        };
        let mut at = depart + self.profile.delay + Duration::from_micros(extra);
        if chance(&mut self.rng, self.profile.reorder) {
            // Held back: later packets overtake it; it does not move the FIFO floor.
            at += self.profile.reorder_delay;
            self.stats.reordered += 1;
        } else {
            at = at.max(self.last_delivery);
            self.last_delivery = at;
        }
        if chance(&mut self.rng, self.profile.duplicate) {
            self.stats.duplicated += 1;
            self.schedule(at, packet.clone());
        }
        match self.profile.tail {
            Some(t) => {
                let mut out = std::mem::take(&mut self.released);
                let lose = self.tail.due(&t, now) && chance(&mut self.rng, t.probability);
                self.stats.dropped_tail += self.tail.offer(&t, now, at, packet, lose, &mut out);
                self.schedule_all(&mut out);
                self.released = out;
            }
            None => self.schedule(at, packet),
        }
    }

    fn schedule_all(&mut self, out: &mut Vec<(Instant, Vec<u8>)>) {
        for (at, p) in out.drain(..) {
            self.schedule(at, p);
        }
    }

    /// Decides held burst tails whose gap has passed by `now`.
    fn settle_tail(&mut self, now: Instant) {
        if let Some(t) = self.profile.tail {
            let mut out = std::mem::take(&mut self.released);
            let lose = self.tail.due(&t, now) && chance(&mut self.rng, t.probability);
            self.stats.dropped_tail += self.tail.settle(&t, now, lose, &mut out);
            self.schedule_all(&mut out);
            self.released = out;
        }
    }

    fn schedule(&mut self, at: Instant, packet: Vec<u8>) {
        self.queue.push(Reverse((at, self.next_seq, packet)));
        self.next_seq += 1;
    }

    /// Flips 1–3 bits, all in the same direction (see the module docs): the first bit is any
    /// bit, the others must currently hold the same value as it did.
    fn corrupt(&mut self, packet: &mut [u8]) {
        let flips = self.rng.random_range(1..=3);
        let bits = packet.len() as u64 * 8;
        let mut was_set = None;
        let mut done = 0;
        // Bounded random probing: a packet with too few bits of the right value gets fewer flips.
        for _ in 0..64 * flips {
            if done == flips {
                break;
            }
            let bit = self.rng.random_range(0..bits);
            let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
            let is_set = packet[byte] & mask != 0;
            if *was_set.get_or_insert(is_set) == is_set {
                packet[byte] ^= mask;
                done += 1;
            }
        }
    }

    /// When the next packet is due, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        let next = self.queue.peek().map(|Reverse((at, _, _))| *at);
        let tail = self.profile.tail.and_then(|t| self.tail.deadline(&t));
        match (next, tail) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Appends every packet due at or before `now` to `out`, in delivery-time order (ties in
    /// the order they were scheduled).
    pub fn deliver(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.settle_tail(now);
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, p))) = self.queue.pop() else {
                break;
            };
            self.stats.delivered += 1;
            out.push(p);
        }
    }

    /// What the link has done so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Packets scheduled and not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(l: &mut Link) -> Vec<(Instant, Vec<u8>)> {
        let mut all = Vec::new();
        while let Some(t) = l.next_delivery() {
            let mut out = Vec::new();
            l.deliver(t, &mut out);
            all.extend(out.into_iter().map(|p| (t, p)));
        }
        all
    }

    #[test]
    fn clean_link_is_fifo_and_rate_limited() {
        let mut l = Link::new(Profile::clean(), 1);
        for i in 0..10u8 {
            l.send(Instant::ZERO, vec![i; 1250]); // 100 µs each at 100 Mbit/s
        }
        let got = drain(&mut l);
        assert_eq!(got.len(), 10);
        for (i, (t, p)) in got.iter().enumerate() {
            assert_eq!(p[0], i as u8);
            assert_eq!(t.total_micros(), 5_000 + 100 * (i as u64 + 1));
        }
        assert_eq!(l.stats().delivered, 10);
    }

    #[test]
    fn queue_overflow_drops_tail() {
        let p = Profile {
            queue_bytes: 5000,
            ..Profile::clean()
        };
        let mut l = Link::new(p, 1);
        for _ in 0..10 {
            l.send(Instant::ZERO, vec![0; 1000]);
        }
        assert_eq!(l.stats().dropped_queue, 5);
        assert_eq!(l.in_flight(), 5);
    }

    #[test]
    fn mtu_and_loss() {
        let mut l = Link::new(Profile::mtu(576), 1);
        l.send(Instant::ZERO, vec![0; 577]);
        l.send(Instant::ZERO, vec![0; 576]);
        assert_eq!((l.stats().dropped_mtu, l.in_flight()), (1, 1));
        let mut l = Link::new(Profile::loss(10.0), 7);
        for _ in 0..10_000 {
            l.send(Instant::from_millis(1000), vec![0; 40]);
        }
        let lost = l.stats().dropped_loss;
        assert!((800..1200).contains(&lost), "{lost}");
    }

    #[test]
    fn jitter_keeps_order_reorder_breaks_it() {
        let p = Profile {
            jitter: Duration::from_millis(3),
            rate_bps: None,
            ..Profile::clean()
        };
        let mut l = Link::new(p, 3);
        for i in 0..200u32 {
            l.send(
                Instant::from_micros(u64::from(i) * 10),
                i.to_be_bytes().to_vec(),
            );
        }
        let got: Vec<u32> = drain(&mut l)
            .into_iter()
            .map(|(_, p)| u32::from_be_bytes(p.try_into().unwrap()))
            .collect();
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        let mut l = Link::new(Profile::reordering(), 3);
        for i in 0..500u32 {
            l.send(
                Instant::from_micros(u64::from(i) * 100),
                i.to_be_bytes().to_vec(),
            );
        }
        let got: Vec<u32> = drain(&mut l)
            .into_iter()
            .map(|(_, p)| u32::from_be_bytes(p.try_into().unwrap()))
            .collect();
        assert_eq!(got.len(), 500);
        assert!(got.windows(2).any(|w| w[0] > w[1]));
        assert!(l.stats().reordered > 0);
    }

    /// A data segment (IPv4 + TCP, valid checksums) with sequence number `seq`.
    fn data_packet(seq: u32) -> Vec<u8> {
        use ustack::wire::tcp::{Control, SeqNumber, TcpRepr};
        let (src, dst) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNumber(seq),
            ack: Some(SeqNumber(0)),
            control: Control::None,
            psh: false,
            window: 1000,
            options: Default::default(),
        };
        let mut ip = vec![0u8; 20 + repr.header_len() + 500];
        let n = repr.emit(&mut ip[20..], src, dst, 500);
        ustack::wire::ipv4::Ipv4Repr {
            src,
            dst,
            protocol: 6,
            ttl: 64,
            ident: 1,
            dont_fragment: true,
            more_fragments: false,
            frag_offset: 0,
            payload_len: n,
        }
        .emit(&mut ip);
        ip
    }

    #[test]
    fn tail_loss_drops_the_last_segments_of_a_burst_once() {
        let mut p = Profile::tail_loss();
        if let Some(t) = p.tail.as_mut() {
            t.probability = 1.0;
        }
        let mut l = Link::new(p, 1);
        for i in 0..5u32 {
            l.send(
                Instant::from_micros(u64::from(i) * 100),
                data_packet(i * 500),
            );
        }
        let got = drain(&mut l);
        assert_eq!(got.len(), 3, "segments 3 and 4 were the tail");
        assert_eq!(l.stats().dropped_tail, 2);
        // Retransmitted, the same tail passes.
        l.send(Instant::from_millis(100), data_packet(1500));
        l.send(Instant::from_millis(100), data_packet(2000));
        assert_eq!(drain(&mut l).len(), 2);
        assert_eq!(l.stats().dropped_tail, 2);
        // Small packets never count.
        l.send(Instant::from_millis(200), vec![0; 40]);
        assert_eq!(drain(&mut l).len(), 1);
    }

    #[test]
    fn corruption_flips_bits_one_way() {
        let p = Profile {
            corrupt: 1.0,
            ..Profile::clean()
        };
        let mut l = Link::new(p, 9);
        let orig: Vec<u8> = (0..200u32).map(|i| (i * 37) as u8).collect();
        for _ in 0..100 {
            l.send(Instant::ZERO, orig.clone());
        }
        for (_, p) in drain(&mut l) {
            let diff: u32 = p.iter().zip(&orig).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert!((1..=3).contains(&diff));
            let ones = |v: &[u8]| v.iter().map(|b| b.count_ones()).sum::<u32>();
            assert_eq!(ones(&p).abs_diff(ones(&orig)), diff);
        }
    }

    #[test]
    fn duplication_and_determinism() {
        let run = |seed| {
            let mut l = Link::new(Profile::combined(), seed);
            for i in 0..2000u64 {
                l.send(Instant::from_micros(i * 300), vec![i as u8; 600]);
            }
            (drain(&mut l), l.stats())
        };
        let (a, sa) = run(5);
        let (b, sb) = run(5);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert!(sa.duplicated > 0 && sa.corrupted > 0 && sa.dropped_loss > 0);
        assert_eq!(
            sa.delivered,
            sa.offered + sa.duplicated
                - sa.dropped_loss
                - sa.dropped_queue
                - sa.dropped_mtu
                - sa.dropped_tail
        );
        let (c, _) = run(6);
        assert_ne!(a, c);
    }
}
