//! Two nodes, two one-way links, one virtual clock.
//!
//! [`World::run`] alternates between moving packets at the current instant and jumping the clock
//! to the next instant anything can happen (a node's `poll_at`, a link's next delivery). Nothing
//! reads a real clock and every random choice comes from the links' seeded generators, so a
//! world built from the same nodes, profiles and seed runs exactly the same way every time.
//!
//! At one instant the loop is: poll `a`, poll `b` (their packets go onto `ab` / `ba`, captured
//! first), deliver everything due on both links (`ab` → `b`, `ba` → `a`); repeat while anything
//! moved. Then, if a node reports an error → [`Outcome::Failed`]; if both report `done` →
//! [`Outcome::Done`]; otherwise jump to the earliest wakeup, or [`Outcome::Stalled`] if there is
//! none, or [`Outcome::DeadlineExceeded`] if it lies beyond the deadline.

use super::link::{Link, LinkStats, Profile};
use super::{Duration, Instant, Node, Progress};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both nodes reported `done`.
    Done {
        /// When.
        at: Instant,
    },
    /// Nothing left to happen (no timers, nothing in flight) and not done.
    Stalled {
        /// When.
        at: Instant,
    },
    /// The next event lies beyond the deadline.
    DeadlineExceeded {
        /// The last instant simulated.
        at: Instant,
    },
    /// A node reported an error (or the world detected a livelock).
    Failed {
        /// When.
        at: Instant,
        /// Which node and what.
        error: String,
    },
}

impl Outcome {
    /// Whether the run completed.
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done { .. })
    }

    /// When the run ended.
    pub fn at(&self) -> Instant {
        match self {
            Outcome::Done { at }
            | Outcome::Stalled { at }
            | Outcome::DeadlineExceeded { at }
            | Outcome::Failed { at, .. } => *at,
        }
    }
}

/// Which node sent a captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Node `a` (sent on link `ab`).
    A,
    /// Node `b` (sent on link `ba`).
    B,
}

/// One captured packet, as its node emitted it (before the link touched it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// When it was sent.
    pub at: Instant,
    /// Who sent it.
    pub from: Side,
    /// The IPv4 packet.
    pub packet: Vec<u8>,
}

/// Bytes of packets a world keeps by default (the most recent ones; older ones are evicted).
pub const DEFAULT_CAPTURE_BYTES: usize = 64 << 20;

#[derive(Debug)]
struct Capture {
    packets: VecDeque<Captured>,
    bytes: usize,
    /// Byte limit; None = keep everything.
    limit: Option<usize>,
    evicted: u64,
}

/// Most loop iterations at one instant before the world declares a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// Two nodes joined by two links in virtual time.
#[derive(Debug)]
pub struct World<A: Node, B: Node> {
    /// The first node; sends on `ab`.
    pub a: A,
    /// The second node; sends on `ba`.
    pub b: B,
    /// Link from `a` to `b`.
    pub ab: Link,
    /// Link from `b` to `a`.
    pub ba: Link,
    /// The virtual clock.
    pub now: Instant,
    seed: u64,
    label: String,
    capture: Option<Capture>,
    out: Vec<Vec<u8>>,
    steps: u64,
}

impl<A: Node, B: Node> World<A, B> {
    /// A world at time zero. Each link draws from its own generator derived from `seed`.
    /// Capture is on, keeping the last [`DEFAULT_CAPTURE_BYTES`] (see [`World::enable_capture`]).
    pub fn new(a: A, b: B, profile_ab: Profile, profile_ba: Profile, seed: u64) -> Self {
        World {
            a,
            b,
            ab: Link::new(profile_ab, seed ^ 0x6162_0000_0000_0001),
            ba: Link::new(profile_ba, seed ^ 0x6261_0000_0000_0002),
            now: Instant::ZERO,
            seed,
            label: String::new(),
            capture: Some(Capture {
                packets: VecDeque::new(),
                bytes: 0,
                limit: Some(DEFAULT_CAPTURE_BYTES),
                evicted: 0,
            }),
            out: Vec::new(),
            steps: 0,
        }
    }

    /// The seed the world was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Names the run in failure reports and in the pcap file name (e.g. "loss5-65535"), so
    /// several runs with one seed do not overwrite each other's pcap.
    pub fn set_label(&mut self, label: &str) {
        self.label = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }

    /// Records every packet either node sends, without limit (for the differential wire check).
    pub fn enable_capture(&mut self) {
        match &mut self.capture {
            Some(c) => c.limit = None,
            None => {
                self.capture = Some(Capture {
                    packets: VecDeque::new(),
                    bytes: 0,
                    limit: None,
                    evicted: 0,
                })
            }
        }
    }

    /// Stops recording packets (and forgets what was recorded).
    pub fn disable_capture(&mut self) {
        self.capture = None;
    }

    /// Every captured packet still held, in the order sent.
    pub fn captured(&self) -> impl Iterator<Item = &Captured> + '_ {
        self.capture.iter().flat_map(|c| c.packets.iter())
    }

    /// Whether the capture holds every packet sent since `new` (nothing evicted, never off).
    pub fn capture_complete(&self) -> bool {
        self.capture.as_ref().is_some_and(|c| c.evicted == 0)
    }

    /// The captured packets node `a` sent, in order.
    pub fn sent_by_a(&self) -> impl Iterator<Item = &Captured> + '_ {
        self.captured().filter(|c| c.from == Side::A)
    }

    /// The captured packets node `b` sent, in order.
    pub fn sent_by_b(&self) -> impl Iterator<Item = &Captured> + '_ {
        self.captured().filter(|c| c.from == Side::B)
    }

    /// Loop iterations so far (a rough measure of simulation work).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn record(capture: &mut Option<Capture>, at: Instant, from: Side, packet: &[u8]) {
        let Some(c) = capture else { return };
        c.bytes += packet.len();
        c.packets.push_back(Captured {
            at,
            from,
            packet: packet.to_vec(),
        });
        if let Some(limit) = c.limit {
            while c.bytes > limit {
                let Some(old) = c.packets.pop_front() else {
                    break;
                };
                c.bytes -= old.packet.len();
                c.evicted += 1;
            }
        }
    }

    /// One pass at `now`: polls both nodes and delivers what is due. Returns whether any packet
    /// moved.
    fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        self.out.clear();
        self.a.poll(now, &mut self.out);
        for p in self.out.drain(..) {
            moved = true;
            Self::record(&mut self.capture, now, Side::A, &p);
            self.ab.send(now, p);
        }
        self.b.poll(now, &mut self.out);
        for p in self.out.drain(..) {
            moved = true;
            Self::record(&mut self.capture, now, Side::B, &p);
            self.ba.send(now, p);
        }
        self.ab.deliver(now, &mut self.out);
        for p in self.out.drain(..) {
            moved = true;
            self.b.receive(now, &p);
        }
        self.ba.deliver(now, &mut self.out);
        for p in self.out.drain(..) {
            moved = true;
            self.a.receive(now, &p);
        }
        moved
    }

    fn status(&self) -> Option<Outcome> {
        let at = self.now;
        let (pa, pb) = (self.a.progress(), self.b.progress());
        if let Some(e) = &pa.error {
            return Some(Outcome::Failed {
                at,
                error: format!("{}: {e}", self.a.name()),
            });
        }
        if let Some(e) = &pb.error {
            return Some(Outcome::Failed {
                at,
                error: format!("{}: {e}", self.b.name()),
            });
        }
        (pa.done && pb.done).then_some(Outcome::Done { at })
    }

    /// Runs until both nodes are done, a node fails, nothing is left to happen, or the virtual
    /// clock would pass `deadline` (measured from time zero of the world).
    pub fn run(&mut self, deadline: Duration) -> Outcome {
        let end = Instant::ZERO + deadline;
        let mut same_instant = 0u32;
        loop {
            self.steps += 1;
            if self.step() {
                same_instant += 1;
                if same_instant > MAX_STEPS_PER_INSTANT {
                    return Outcome::Failed {
                        at: self.now,
                        error: format!(
                            "livelock: {MAX_STEPS_PER_INSTANT} steps at one instant with packets moving"
                        ),
                    };
                }
                continue;
            }
            if let Some(o) = self.status() {
                return o;
            }
            let next = [
                self.a.poll_at(self.now),
                self.b.poll_at(self.now),
                self.ab.next_delivery(),
                self.ba.next_delivery(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else {
                return Outcome::Stalled { at: self.now };
            };
            // A wakeup at or before now after a quiet pass: the node has nothing to do yet;
            // step 1 µs so the loop always makes progress.
            let next = next.max(self.now + Duration::from_micros(1));
            if next > end {
                return Outcome::DeadlineExceeded { at: self.now };
            }
            self.now = next;
            same_instant = 0;
        }
    }

    /// A multi-line account of the world: seed, profiles, progress of both nodes, link stats.
    pub fn describe(&self) -> String {
        format!(
            "seed {seed:#x}{label} at {now}\n  a = {an}: {pa:?}\n  b = {bn}: {pb:?}\n  ab profile {ap:?}\n  ab {asx:?}\n  ba profile {bp:?}\n  ba {bsx:?}",
            seed = self.seed,
            label = if self.label.is_empty() { String::new() } else { format!(" ({})", self.label) },
            now = self.now,
            an = self.a.name(),
            pa = self.a.progress(),
            bn = self.b.name(),
            pb = self.b.progress(),
            ap = self.ab.profile(),
            asx = self.ab.stats(),
            bp = self.ba.profile(),
            bsx = self.ba.stats(),
        )
    }

    /// Where [`World::run_checked`] writes the pcap of a failed run:
    /// `$TMPDIR/ustack-sim-[<label>-]<seed>.pcap`.
    pub fn failure_pcap_path(&self) -> PathBuf {
        let name = if self.label.is_empty() {
            format!("ustack-sim-{:#x}.pcap", self.seed)
        } else {
            format!("ustack-sim-{}-{:#x}.pcap", self.label, self.seed)
        };
        std::env::temp_dir().join(name)
    }

    /// Runs like [`World::run`] and returns the instant both nodes were done; on any other
    /// outcome writes the capture to [`World::failure_pcap_path`] and returns a report: the
    /// outcome, the seed, both profiles, both nodes' progress, the link counters, the pcap path.
    pub fn run_report(&mut self, deadline: Duration) -> Result<Instant, String> {
        let outcome = self.run(deadline);
        if let Outcome::Done { at } = outcome {
            return Ok(at);
        }
        Err(format!(
            "simulation did not finish: {outcome} (deadline {deadline})\n{}\n{}",
            self.describe(),
            self.dump_pcap()
        ))
    }

    /// Writes the capture to [`World::failure_pcap_path`]; returns a line saying where (or why
    /// not), for failure messages.
    pub fn dump_pcap(&self) -> String {
        let path = self.failure_pcap_path();
        match self.write_pcap(&path) {
            Ok(()) => format!(
                "pcap ({} packets{}): {}",
                self.captured().count(),
                if self.capture_complete() {
                    ""
                } else {
                    ", oldest evicted"
                },
                path.display()
            ),
            Err(e) => format!("pcap not written to {}: {e}", path.display()),
        }
    }

    /// Like [`World::run_report`], panicking with the report on failure.
    pub fn run_checked(&mut self, deadline: Duration) -> Instant {
        match self.run_report(deadline) {
            Ok(at) => at,
            Err(report) => panic!("{report}"),
        }
    }

    /// Writes the capture as a classic pcap file (LINKTYPE_RAW: each record is an IPv4 packet),
    /// timestamps from the virtual clock.
    pub fn write_pcap(&self, path: &Path) -> io::Result<()> {
        let mut w = io::BufWriter::new(std::fs::File::create(path)?);
        write_pcap_to(&mut w, self.captured().map(|c| (c.at, &c.packet[..])))?;
        w.flush()
    }

    /// Both nodes' progress.
    pub fn progress(&self) -> (Progress, Progress) {
        (self.a.progress(), self.b.progress())
    }

    /// Both links' counters (`ab`, `ba`).
    pub fn link_stats(&self) -> (LinkStats, LinkStats) {
        (self.ab.stats(), self.ba.stats())
    }
}

/// Writes `packets` as a classic pcap stream (magic a1b2c3d4, version 2.4, snaplen 65535,
/// LINKTYPE_RAW = 101, microsecond timestamps).
pub fn write_pcap_to<'a>(
    w: &mut impl Write,
    packets: impl IntoIterator<Item = (Instant, &'a [u8])>,
) -> io::Result<()> {
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?; // thiszone
    w.write_all(&0u32.to_le_bytes())?; // sigfigs
    w.write_all(&65535u32.to_le_bytes())?; // snaplen
    w.write_all(&101u32.to_le_bytes())?; // LINKTYPE_RAW
    for (at, p) in packets {
        let us = at.total_micros();
        let len = p.len().min(65535);
        w.write_all(&((us / 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&((us % 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&(len as u32).to_le_bytes())?;
        w.write_all(&(p.len() as u32).to_le_bytes())?;
        w.write_all(&p[..len])?;
    }
    Ok(())
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done { at } => write!(f, "done at {at}"),
            Outcome::Stalled { at } => write!(f, "stalled at {at}"),
            Outcome::DeadlineExceeded { at } => write!(f, "deadline exceeded at {at}"),
            Outcome::Failed { at, error } => write!(f, "failed at {at}: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` one-byte packets, one per millisecond; done when it has received `n`.
    struct Counter {
        name: &'static str,
        n: u64,
        sent: u64,
        got: u64,
        next: Instant,
    }

    impl Node for Counter {
        fn name(&self) -> &str {
            self.name
        }
        fn receive(&mut self, _now: Instant, _packet: &[u8]) {
            self.got += 1;
        }
        fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
            while self.sent < self.n && self.next <= now {
                out.push(vec![self.sent as u8]);
                self.sent += 1;
                self.next += Duration::from_millis(1);
            }
        }
        fn poll_at(&self, _now: Instant) -> Option<Instant> {
            (self.sent < self.n).then_some(self.next)
        }
        fn progress(&self) -> Progress {
            Progress {
                sent: self.sent,
                received: self.got,
                done: self.got == self.n,
                ..Progress::default()
            }
        }
    }

    fn counter(name: &'static str, n: u64) -> Counter {
        Counter {
            name,
            n,
            sent: 0,
            got: 0,
            next: Instant::ZERO,
        }
    }

    #[test]
    fn runs_to_done_stalls_and_times_out() {
        let mut w = World::new(
            counter("a", 10),
            counter("b", 10),
            Profile::clean(),
            Profile::clean(),
            1,
        );
        // Last packet sent at 9 ms, 5 ms delay (+ serialization).
        assert_eq!(
            w.run(Duration::from_secs(1)),
            Outcome::Done {
                at: Instant::from_micros(14_001)
            }
        );
        assert_eq!(w.captured().count(), 20);
        assert_eq!(w.sent_by_a().count(), 10);

        let mut w = World::new(
            counter("a", 10),
            counter("b", 10),
            Profile::blackhole(),
            Profile::clean(),
            1,
        );
        assert!(matches!(
            w.run(Duration::from_secs(1)),
            Outcome::Stalled { .. }
        ));
        let mut w = World::new(
            counter("a", 10_000),
            counter("b", 10_000),
            Profile::clean(),
            Profile::clean(),
            1,
        );
        assert!(matches!(
            w.run(Duration::from_secs(1)),
            Outcome::DeadlineExceeded { .. }
        ));
    }

    #[test]
    fn pcap_format() {
        let mut v = Vec::new();
        write_pcap_to(
            &mut v,
            [(Instant::from_micros(1_500_000), &[0x45u8, 0][..])],
        )
        .unwrap();
        assert_eq!(v.len(), 24 + 16 + 2);
        assert_eq!(&v[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&v[20..24], &101u32.to_le_bytes());
        assert_eq!(&v[24..28], &1u32.to_le_bytes());
        assert_eq!(&v[28..32], &500_000u32.to_le_bytes());
    }
}
