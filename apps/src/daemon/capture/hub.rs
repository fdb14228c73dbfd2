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
//!
//! A subscriber that asked for binary frames ([`CaptureHub::subscribe_frames`]) has a byte
//! queue instead: the tap appends the packet's frame (`super::frames`: a 20-byte header and at
//! most the snap length of its bytes) to one buffer, and the client's task takes the whole
//! buffer at once — one copy per packet on the loop, one wake-up and one write per batch.

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

/// Bytes a frame queue reserves per packet of its `queue`: a header and a packet of up to
/// this size (longer packets take more room, so fewer fit).
const FRAME_ROOM: usize = 2048;
/// Capacity a taken batch's replacement starts with.
const BATCH_START: usize = 64 * 1024;

/// A binary subscriber's queue: frames the tap appended, taken in one piece.
#[derive(Debug)]
struct FrameQueue {
    buf: Mutex<Vec<u8>>,
    /// Most bytes the buffer holds; a frame that does not fit is dropped (counted).
    cap: usize,
    snaplen: usize,
    /// Notified when the buffer goes from empty to not empty, and when the hub goes away.
    ready: tokio::sync::Notify,
    /// Notified when the buffer passes half its size (a lingering taker takes it at once).
    half: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl FrameQueue {
    /// Appends the packet's frame; false if it does not fit.
    fn push(&self, dir: Direction, ts: SystemTime, data: &[u8]) -> bool {
        let need = super::frames::HEADER_LEN + data.len().min(self.snaplen);
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.len() + need > self.cap {
            return false;
        }
        let before = buf.len();
        super::frames::put_packet(&mut buf, dir, super::frames::micros(ts), data, self.snaplen);
        let after = buf.len();
        drop(buf);
        if before == 0 {
            self.ready.notify_one();
        }
        if before < self.cap / 2 && after >= self.cap / 2 {
            self.half.notify_one();
        }
        true
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }
}

enum Sink {
    /// A packet per queue entry, shared with the other subscribers.
    Packets(Sender<Arc<SharedPacket>>),
    /// Binary frames in one buffer.
    Frames(Arc<FrameQueue>),
}

struct Sub {
    id: u64,
    filter: Filter,
    sink: Sink,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Inner {
    /// Subscribers, read with one atomic load per packet when there are none.
    active: AtomicUsize,
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The stack is gone: binary subscribers waiting for frames learn it now.
        let subs = self.subs.get_mut().unwrap_or_else(|e| e.into_inner());
        for s in subs.iter() {
            if let Sink::Frames(q) = &s.sink {
                q.close();
            }
        }
    }
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
        let (tx, rx) = mpsc::channel(queue.max(1));
        self.attach(filter, Sink::Packets(tx), Some(rx), None)
    }

    /// Attaches a subscriber that receives binary frames (`super::frames`) of the packets
    /// `filter` matches, each cut to `snaplen` bytes, with room for about `queue` packets
    /// (`queue` × (20 + min(`snaplen`, 2048)) bytes). Take them with
    /// [`Subscription::next_frames`].
    pub fn subscribe_frames(
        &self,
        filter: Filter,
        queue: usize,
        snaplen: usize,
    ) -> Result<Subscription, SubscribeError> {
        let snaplen = snaplen.clamp(1, super::frames::MAX_CAPLEN);
        let room = super::frames::HEADER_LEN + snaplen.min(FRAME_ROOM);
        let q = Arc::new(FrameQueue {
            buf: Mutex::new(Vec::new()),
            cap: queue.max(1) * room,
            snaplen,
            ready: tokio::sync::Notify::new(),
            half: tokio::sync::Notify::new(),
            closed: Default::default(),
        });
        self.attach(filter, Sink::Frames(q.clone()), None, Some(q))
    }

    fn attach(
        &self,
        filter: Filter,
        sink: Sink,
        rx: Option<Receiver<Arc<SharedPacket>>>,
        frames: Option<Arc<FrameQueue>>,
    ) -> Result<Subscription, SubscribeError> {
        let mut subs = self.inner.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.len() >= MAX_SUBSCRIBERS {
            return Err(SubscribeError::TooMany);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let counters = Arc::new(Counters::default());
        subs.push(Sub {
            id,
            filter,
            sink,
            counters: counters.clone(),
        });
        self.inner.active.store(subs.len(), Ordering::Relaxed);
        Ok(Subscription {
            id,
            rx,
            frames,
            counters,
            hub: Arc::downgrade(&self.inner),
        })
    }
}

/// A capture client's end: packets in order, and its counters.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    /// A packet subscriber's queue.
    rx: Option<Receiver<Arc<SharedPacket>>>,
    /// A binary subscriber's queue.
    frames: Option<Arc<FrameQueue>>,
    counters: Arc<Counters>,
    hub: Weak<Inner>,
}

impl Subscription {
    /// The next packet (for a task, e.g. on the loop thread); `None` once the stack is gone.
    /// (For a binary subscriber: `None` at once; use [`Subscription::next_frames`].)
    pub async fn recv(&mut self) -> Option<CapturedPacket> {
        self.recv_shared().await.map(|p| p.to_captured())
    }

    /// The next packet as the hub holds it, shared with the other subscribers (no copy); `None`
    /// once the stack is gone.
    pub async fn recv_shared(&mut self) -> Option<Arc<SharedPacket>> {
        self.rx.as_mut()?.recv().await
    }

    /// The next packet, blocking this thread (never call it on the loop thread); `None` once
    /// the stack is gone.
    pub fn blocking_recv(&mut self) -> Option<CapturedPacket> {
        self.rx.as_mut()?.blocking_recv().map(|p| p.to_captured())
    }

    /// A packet already queued, if any.
    pub fn try_recv(&mut self) -> Option<CapturedPacket> {
        self.rx.as_mut()?.try_recv().ok().map(|p| p.to_captured())
    }

    /// A binary subscriber's frames queued now, if any (no waiting): what is left when the
    /// capture ends.
    pub fn try_frames(&mut self) -> Option<Vec<u8>> {
        let q = self.frames.as_ref()?;
        let mut buf = q.buf.lock().unwrap_or_else(|e| e.into_inner());
        (!buf.is_empty()).then(|| std::mem::take(&mut *buf))
    }

    /// A binary subscriber's frames queued so far, all at once: waits for the first, then
    /// lets more gather for up to `linger` (or until half the queue is used) so that a busy
    /// capture is taken in batches, not a packet per loop turn. `None` once the stack is gone
    /// and everything was taken, or for a packet subscriber. Cancel-safe: nothing is taken
    /// before it returns.
    pub async fn next_frames(&mut self, linger: std::time::Duration) -> Option<Vec<u8>> {
        let q = self.frames.as_ref()?;
        loop {
            let used = q.buf.lock().unwrap_or_else(|e| e.into_inner()).len();
            if used > 0 {
                if !linger.is_zero() && used < q.cap / 2 {
                    tokio::select! {
                        () = tokio::time::sleep(linger) => {}
                        () = q.half.notified() => {}
                    }
                }
                let mut buf = q.buf.lock().unwrap_or_else(|e| e.into_inner());
                return Some(std::mem::replace(
                    &mut *buf,
                    Vec::with_capacity(BATCH_START),
                ));
            }
            if q.closed.load(Ordering::Relaxed) || self.hub.strong_count() == 0 {
                return None;
            }
            // A push after the look above left a permit: this returns at once then.
            q.ready.notified().await;
        }
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
            let tx = match &s.sink {
                Sink::Packets(tx) => tx,
                Sink::Frames(q) => {
                    if !q.push(dir, ts, bytes) {
                        s.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            match tx.try_reserve() {
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
        let (ra, rb) = (a.rx.as_mut().unwrap(), b.rx.as_mut().unwrap());
        let _first = ra.try_recv().unwrap();
        let (pa, pb) = (ra.try_recv().unwrap(), rb.try_recv().unwrap());
        assert!(Arc::ptr_eq(&pa, &pb), "one copy for both subscribers");
        assert!(
            std::ptr::eq(pa.wire_tail(), pb.wire_tail()),
            "one line for both"
        );
        assert_eq!(Arc::strong_count(&pa), 2);
    }

    #[test]
    fn binary_subscribers_get_frames_in_batches_cut_to_the_snap_length() {
        use super::super::frames::{self, Frame, HEADER_LEN};
        use std::time::Duration;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hub = CaptureHub::new();
        let mut tap = hub.tap();
        // Room for 2 packets of 24 bytes (snaplen 24): the third is dropped and counted.
        let mut s = hub
            .subscribe_frames(Filter::parse("icmp").unwrap(), 2, 24)
            .unwrap();
        for _ in 0..3 {
            tap.packet(Direction::In, SystemTime::now(), &icmp());
            tap.packet(Direction::Out, SystemTime::now(), &udp());
        }
        assert_eq!((s.matched(), s.dropped()), (3, 1));
        let batch = rt.block_on(s.next_frames(Duration::ZERO)).unwrap();
        assert_eq!(batch.len(), 2 * (HEADER_LEN + 24));
        let (f, n) = frames::parse(&batch).unwrap().unwrap();
        let Frame::Packet {
            dir,
            orig_len,
            data,
            ..
        } = f
        else {
            panic!("{f:?}")
        };
        assert_eq!((dir, orig_len, data), (Direction::In, 28, &icmp()[..24]));
        assert_eq!(n, HEADER_LEN + 24);
        // Taken: room again; the stack going away ends the stream after what is queued.
        tap.packet(Direction::In, SystemTime::now(), &icmp());
        drop(hub);
        drop(tap);
        assert_eq!(
            rt.block_on(s.next_frames(Duration::ZERO)).map(|b| b.len()),
            Some(44)
        );
        assert!(rt.block_on(s.next_frames(Duration::ZERO)).is_none());
        assert!(
            rt.block_on(s.recv()).is_none(),
            "no packets on a binary subscription"
        );
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
