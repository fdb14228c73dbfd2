//! The capture hub: a [`Tap`] on the event loop that hands matching packets to any number of
//! capture clients, added and removed while the stack runs.
//!
//! Each subscriber has its compiled [`Filter`] (applied here, on the loop, so a busy stack only
//! copies what someone asked for) and a bounded queue. Per packet and subscriber: the filter,
//! then the room check — when a subscriber's queue is full the packet is counted as dropped *for
//! that subscriber* (a counter increment, nothing else) and the loop goes on: a client that stops
//! reading never blocks the stack or the other clients. A packet some subscriber takes is copied
//! once into a [`SharedPacket`] that every taker's queue holds (an `Arc`), and its wire line is
//! formatted at most once, by the first client's writer that needs it
//! ([`SharedPacket::wire_tail`]). With no subscriber the tap costs one atomic load per packet
//! ([`Tap::wants_packets`]: the loop then skips its clock read too).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;
use tokio::sync::mpsc::{self, error::TrySendError, Receiver, Sender};
use tun_bridge::{Direction, Tap};
use ustack::filter::Filter;

/// Packets a subscriber's queue holds by default before its packets are dropped.
pub const DEFAULT_QUEUE: usize = 1024;
/// Most subscribers at once (each costs a filter run per packet on the loop).
pub const MAX_SUBSCRIBERS: usize = 16;

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Which way it crossed the TUN.
    pub dir: Direction,
    /// When the loop saw it.
    pub ts: SystemTime,
    /// The raw IPv4 bytes.
    pub data: Vec<u8>,
}

/// A captured packet as the hub queues it: one copy for every subscriber that takes it, and its
/// `packet` reply line, formatted on first use.
#[derive(Debug)]
pub struct SharedPacket {
    dir: Direction,
    ts: SystemTime,
    data: Box<[u8]>,
    wire: OnceLock<Box<[u8]>>,
}

impl SharedPacket {
    fn new(dir: Direction, ts: SystemTime, data: &[u8]) -> SharedPacket {
        SharedPacket {
            dir,
            ts,
            data: data.into(),
            wire: OnceLock::new(),
        }
    }

    /// Which way it crossed the TUN.
    pub fn dir(&self) -> Direction {
        self.dir
    }

    /// When the loop saw it.
    pub fn ts(&self) -> SystemTime {
        self.ts
    }

    /// The raw IPv4 bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The `packet` reply after its `{"v":1,"id":N,` — `"reply":"packet",...}` and the newline —
    /// formatted the first time a client needs it, shared by all (see `super::wire`).
    pub fn wire_tail(&self) -> &[u8] {
        self.wire
            .get_or_init(|| super::wire::packet_tail(self.dir, self.ts, &self.data))
    }

    fn to_captured(&self) -> CapturedPacket {
        CapturedPacket {
            dir: self.dir,
            ts: self.ts,
            data: self.data.to_vec(),
        }
    }
}

/// A subscriber's counters, shared between the hub and the subscription.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets that matched the filter.
    pub matched: AtomicU64,
    /// Matching packets dropped because the queue was full.
    pub dropped: AtomicU64,
}

struct Sub {
    id: u64,
    filter: Filter,
    tx: Sender<Arc<SharedPacket>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Inner {
    /// Subscribers, read with one atomic load per packet when there are none.
    active: AtomicUsize,
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
}

/// The hub: hand [`CaptureHub::tap`] to `Bridge::start`, keep the hub to subscribe.
#[derive(Clone, Default)]
pub struct CaptureHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CaptureHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureHub")
            .field("subscribers", &self.subscribers())
            .finish()
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// [`MAX_SUBSCRIBERS`] are already capturing.
    TooMany,
}

impl std::fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{MAX_SUBSCRIBERS} captures are already running")
    }
}

impl std::error::Error for SubscribeError {}

impl CaptureHub {
    /// A hub with no subscriber.
    pub fn new() -> CaptureHub {
        CaptureHub::default()
    }

    /// The tap to give the bridge.
    pub fn tap(&self) -> Box<dyn Tap> {
        Box::new(HubTap {
            inner: self.inner.clone(),
        })
    }

    /// How many subscribers are attached.
    pub fn subscribers(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Attaches a subscriber that receives the packets `filter` matches, queueing at most
    /// `queue` of them (at least 1). Dropping the [`Subscription`] detaches it.
    pub fn subscribe(&self, filter: Filter, queue: usize) -> Result<Subscription, SubscribeError> {
        let mut subs = self.inner.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.len() >= MAX_SUBSCRIBERS {
            return Err(SubscribeError::TooMany);
        }
        let (tx, rx) = mpsc::channel(queue.max(1));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let counters = Arc::new(Counters::default());
        subs.push(Sub {
            id,
            filter,
            tx,
            counters: counters.clone(),
        });
        self.inner.active.store(subs.len(), Ordering::Relaxed);
        Ok(Subscription {
            id,
            rx,
            counters,
            hub: Arc::downgrade(&self.inner),
        })
    }
}

/// A capture client's end: packets in order, and its counters.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    rx: Receiver<Arc<SharedPacket>>,
    counters: Arc<Counters>,
    hub: Weak<Inner>,
}

impl Subscription {
    /// The next packet (for a task, e.g. on the loop thread); `None` once the stack is gone.
    pub async fn recv(&mut self) -> Option<CapturedPacket> {
        self.rx.recv().await.map(|p| p.to_captured())
    }

    /// The next packet as the hub holds it, shared with the other subscribers (no copy); `None`
    /// once the stack is gone.
    pub async fn recv_shared(&mut self) -> Option<Arc<SharedPacket>> {
        self.rx.recv().await
    }

    /// The next packet, blocking this thread (never call it on the loop thread); `None` once
    /// the stack is gone.
    pub fn blocking_recv(&mut self) -> Option<CapturedPacket> {
        self.rx.blocking_recv().map(|p| p.to_captured())
    }

    /// A packet already queued, if any.
    pub fn try_recv(&mut self) -> Option<CapturedPacket> {
        self.rx.try_recv().ok().map(|p| p.to_captured())
    }

    /// Whether the hub (the stack) is gone.
    pub fn closed(&self) -> bool {
        self.hub.strong_count() == 0
    }

    /// Packets that matched so far (delivered or dropped).
    pub fn matched(&self) -> u64 {
        self.counters.matched.load(Ordering::Relaxed)
    }

    /// Matching packets dropped because this subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.hub.upgrade() {
            let mut subs = inner.subs.lock().unwrap_or_else(|e| e.into_inner());
            subs.retain(|s| s.id != self.id);
            inner.active.store(subs.len(), Ordering::Relaxed);
        }
    }
}

struct HubTap {
    inner: Arc<Inner>,
}

impl Tap for HubTap {
    fn wants_packets(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed) > 0
    }

    fn packet(&mut self, dir: Direction, ts: SystemTime, bytes: &[u8]) {
        if self.inner.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let subs = self.inner.subs.lock().unwrap_or_else(|e| e.into_inner());
        let mut shared: Option<Arc<SharedPacket>> = None;
        for s in subs.iter() {
            if !s.filter.matches(bytes) {
                continue;
            }
            s.counters.matched.fetch_add(1, Ordering::Relaxed);
            match s.tx.try_reserve() {
                Ok(permit) => {
                    let p =
                        shared.get_or_insert_with(|| Arc::new(SharedPacket::new(dir, ts, bytes)));
                    permit.send(p.clone());
                }
                // Full: counted for this client, never waited for, nothing copied or formatted.
                Err(TrySendError::Full(())) => {
                    s.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // The client is going away; its Drop removes it.
                Err(TrySendError::Closed(())) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icmp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        p.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        p
    }

    fn udp() -> Vec<u8> {
        let mut p = icmp();
        p[9] = 17;
        p
    }

    #[test]
    fn filters_per_subscriber_and_counts_drops_without_blocking() {
        let hub = CaptureHub::new();
        let mut tap = hub.tap();
        let mut slow = hub.subscribe(Filter::parse("icmp").unwrap(), 2).unwrap();
        let mut all = hub.subscribe(Filter::any(), 100).unwrap();
        assert_eq!(hub.subscribers(), 2);
        for _ in 0..5 {
            tap.packet(Direction::In, SystemTime::now(), &icmp());
            tap.packet(Direction::Out, SystemTime::now(), &udp());
        }
        // The slow client never read: 2 queued, 3 dropped; the other got all 10.
        assert_eq!((slow.matched(), slow.dropped()), (5, 3));
        assert_eq!((all.matched(), all.dropped()), (10, 0));
        let got: Vec<_> = std::iter::from_fn(|| slow.try_recv()).collect();
        assert_eq!(got.len(), 2);
        assert!(got
            .iter()
            .all(|p| p.data == icmp() && p.dir == Direction::In));
        assert_eq!(std::iter::from_fn(|| all.try_recv()).count(), 10);
    }

    #[test]
    fn a_packet_is_copied_and_formatted_once_for_every_taker() {
        let hub = CaptureHub::new();
        let mut tap = hub.tap();
        let mut a = hub.subscribe(Filter::any(), 4).unwrap();
        let mut b = hub.subscribe(Filter::parse("icmp").unwrap(), 4).unwrap();
        let full = hub.subscribe(Filter::any(), 1).unwrap();
        tap.packet(Direction::In, SystemTime::now(), &udp());
        tap.packet(Direction::In, SystemTime::now(), &icmp());
        // `full` took the first packet and dropped the second: counted, nothing else.
        assert_eq!((full.matched(), full.dropped()), (2, 1));
        let _first = a.rx.try_recv().unwrap();
        let (pa, pb) = (a.rx.try_recv().unwrap(), b.rx.try_recv().unwrap());
        assert!(Arc::ptr_eq(&pa, &pb), "one copy for both subscribers");
        assert!(
            std::ptr::eq(pa.wire_tail(), pb.wire_tail()),
            "one line for both"
        );
        assert_eq!(Arc::strong_count(&pa), 2);
    }

    #[test]
    fn subscribers_come_and_go() {
        let hub = CaptureHub::new();
        let mut tap = hub.tap();
        let s = hub.subscribe(Filter::any(), 8).unwrap();
        drop(s);
        assert_eq!(hub.subscribers(), 0);
        tap.packet(Direction::In, SystemTime::now(), &icmp());
        let subs: Vec<_> = (0..MAX_SUBSCRIBERS)
            .map(|_| hub.subscribe(Filter::any(), 1).unwrap())
            .collect();
        assert_eq!(
            hub.subscribe(Filter::any(), 1).unwrap_err(),
            SubscribeError::TooMany
        );
        drop(subs);
        let mut s = hub.subscribe(Filter::any(), 1).unwrap();
        tap.packet(Direction::Out, SystemTime::now(), &udp());
        drop(hub);
        drop(tap);
        assert!(s.closed());
        assert_eq!(s.blocking_recv().map(|p| p.dir), Some(Direction::Out));
        assert!(s.blocking_recv().is_none());
    }
}
