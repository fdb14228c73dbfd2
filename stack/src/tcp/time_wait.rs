//! TIME-WAIT (RFC 9293 §3.6.1) without the connection: once the app has closed a connection
//! and it reaches TIME-WAIT, only what is needed to answer the peer for 2×MSL is kept — the
//! sequence numbers, the window, the timestamp state — in a compact, capped table of its own
//! (as Linux's `inet_timewait_sock`). The slot and its buffers go back at once, so closed
//! connections can never fill `Config::tcp_max_connections`.
//!
//! Beyond `Config::tcp_max_time_wait` the oldest entry is recycled (Linux's
//! `tcp_max_tw_buckets`). A SYN that is clearly a new incarnation takes the tuple over
//! (RFC 6191 with timestamps, RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.13 by sequence number
//! without), and the new connection's ISS is placed above the old SND.NXT. A retransmitted FIN
//! is acknowledged and restarts the wait at most `Config::tcp_time_wait_max_restarts` times.

use super::connection::Connection;
use super::paws::{self, AckLimiter, TsRecent};
use super::table::Reply;
use super::timers::Timer;
use super::{ConnHandle, ConnStats, State, TcpInfo, TcpLayer};
use crate::config::Config;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{Control, SeqNumber, TcpOptions, TcpRepr, TcpSegment, TsVal};
use log::debug;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

type Key = (u16, SocketAddr);

/// The timestamp state of a connection in TIME-WAIT (RFC 7323).
#[derive(Clone, Copy, Debug)]
struct TwTimestamps {
    recent: TsRecent,
    offset: u32,
}

/// One connection in TIME-WAIT.
#[derive(Clone, Copy, Debug)]
struct TwEntry {
    /// What our ACKs carry as SEQ (everything we sent, FIN included, is acknowledged).
    snd_nxt: SeqNumber,
    /// Past the peer's FIN.
    rcv_nxt: SeqNumber,
    /// The window field our ACKs carry.
    window: u16,
    ts: Option<TwTimestamps>,
    expires: Instant,
    restarts: u32,
    /// The rate limit on ACKs for stray segments, carried over from the connection.
    acks: AckLimiter,
    /// The handle the app had, so its state still reads TIME-WAIT.
    origin: ConnHandle,
}

/// What a segment to a TIME-WAIT tuple leads to.
pub(super) enum TwOutcome {
    /// Handled (maybe answered), with the drop to count if any.
    Done(Result<(), DropReason>),
    /// A new incarnation: the entry is gone; hand the SYN to the listener with this ISS floor.
    Reuse(SeqNumber),
}

/// Every connection in TIME-WAIT.
#[derive(Debug)]
pub(super) struct TimeWaitTable {
    entries: HashMap<Key, TwEntry>,
    /// By expiry, oldest first: timers and recycling in O(log n).
    order: BTreeSet<(Instant, Key)>,
    by_handle: HashMap<ConnHandle, Key>,
    cap: usize,
    max_restarts: u32,
    two_msl: Duration,
    ack_interval: Duration,
}

impl TimeWaitTable {
    pub(super) fn new(cfg: &Config) -> Self {
        TimeWaitTable {
            entries: HashMap::new(),
            order: BTreeSet::new(),
            by_handle: HashMap::new(),
            cap: cfg.tcp_max_time_wait.max(1),
            max_restarts: cfg.tcp_time_wait_max_restarts,
            two_msl: Duration::from_micros(cfg.tcp_msl.total_micros().saturating_mul(2)),
            ack_interval: cfg.tcp_invalid_ack_interval,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn contains(&self, key: &Key) -> bool {
        self.entries.contains_key(key)
    }

    /// Whether the app's old handle `h` is now in TIME-WAIT here.
    pub(super) fn holds(&self, h: ConnHandle) -> bool {
        self.by_handle.contains_key(&h)
    }

    /// The earliest expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    fn remove(&mut self, key: &Key) -> Option<TwEntry> {
        let e = self.entries.remove(key)?;
        self.order.remove(&(e.expires, *key));
        self.by_handle.remove(&e.origin);
        Some(e)
    }

    /// Adds an entry; returns whether the oldest had to be recycled to make room.
    fn insert(&mut self, key: Key, e: TwEntry) -> bool {
        self.remove(&key);
        let mut recycled = false;
        if self.entries.len() >= self.cap {
            if let Some(&(_, oldest)) = self.order.first() {
                debug!("tcp: TIME-WAIT table full, recycling {oldest:?}");
                self.remove(&oldest);
                recycled = true;
            }
        }
        self.order.insert((e.expires, key));
        self.by_handle.insert(e.origin, key);
        self.entries.insert(key, e);
        recycled
    }

    /// Forgets every entry (the host is going away).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.by_handle.clear();
    }

    /// Frees every entry whose 2×MSL is over.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.first() {
            if at > now {
                break;
            }
            self.remove(&key);
        }
    }

    /// Snapshots for the connection table.
    pub(super) fn infos(
        &self,
        addr: super::table::LocalAddrs,
    ) -> impl Iterator<Item = TcpInfo> + '_ {
        self.entries
            .iter()
            .map(move |(&(port, remote), e)| TcpInfo {
                state: State::TimeWait,
                local: SocketAddr::new(addr.local_for(remote.ip()), port),
                remote,
                srtt: None,
                rttvar: None,
                rto: Duration::from_micros(0),
                cwnd: 0,
                ssthresh: 0,
                bytes_in_flight: 0,
                snd_wnd: 0,
                rcv_wnd: usize::from(e.window),
                smss: 0,
                snd_mss: 0,
                in_recovery: false,
                send_queue: 0,
                recv_queue: 0,
                stats: ConnStats::default(),
                congestion: "",
                last_send: None,
                last_recv: None,
                rcv_mss: 0,
                snd_wscale: 0,
                rcv_wscale: 0,
                timestamps: e.ts.is_some(),
                sack: false,
                orphaned: false,
            })
    }
}

impl TwEntry {
    /// The ACK this entry answers with: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    fn ack(&self, now: Instant, key: Key) -> TcpRepr {
        let options = TcpOptions {
            timestamps: self.ts.map(|t| {
                let val = (now.total_millis() as u32).wrapping_add(t.offset);
                (val, t.recent.val.0)
            }),
            ..TcpOptions::default()
        };
        TcpRepr {
            src_port: key.0,
            dst_port: key.1.port(),
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            control: Control::None,
            psh: false,
            window: self.window,
            options,
        }
    }

    /// RFC 6191 §2 / RFC 9293 §3.10.7.4: whether a SYN is a new incarnation — its TSval is
    /// newer than TS.Recent, or, without timestamps on either side, its sequence number is
    /// above RCV.NXT.
    fn syn_is_new_incarnation(&self, seg: &TcpSegment<'_>) -> bool {
        match (self.ts, seg.options.timestamps) {
            (Some(t), Some((tsval, _))) => TsVal(tsval).gt(t.recent.val),
            _ => seg.seq.gt(self.rcv_nxt),
        }
    }
}

impl TcpLayer {
    /// Moves a connection the app has closed, in TIME-WAIT with nothing left to send, into the
    /// TIME-WAIT table, and frees its slot.
    pub(super) fn move_to_time_wait(&mut self, index: u32) {
        let handle = self.handle_of(index);
        let Some(conn) = self.slots[index as usize].conn.as_ref() else {
            return;
        };
        let key = (conn.local.port(), conn.remote);
        let e = entry_from(conn, handle, self.time_wait.two_msl);
        self.free_slot(index);
        if self.time_wait.insert(key, e) {
            self.counters.time_wait_recycled += 1;
        }
    }

    fn tw_reply(&mut self, key: Key, repr: TcpRepr) {
        let local = SocketAddr::new(self.addr.local_for(key.1.ip()), key.0);
        self.queue_reply(Reply {
            local,
            remote: key.1,
            repr,
        });
    }

    /// A segment for a tuple in TIME-WAIT (RFC 9293 §3.10.7.4 for that state), or None if the
    /// tuple is not in TIME-WAIT.
    pub(super) fn time_wait_input(
        &mut self,
        now: Instant,
        key: Key,
        seg: &TcpSegment<'_>,
    ) -> Option<TwOutcome> {
        let e = *self.time_wait.entries.get(&key)?;
        let ack_interval = self.time_wait.ack_interval;
        // A rate-limited ACK (the connection's `invalid_ack` rule, `paws::AckLimiter`).
        let limited_ack = |layer: &mut TcpLayer| {
            let Some(x) = layer.time_wait.entries.get_mut(&key) else {
                return;
            };
            if x.acks.allow(now, ack_interval) {
                layer.tw_reply(key, e.ack(now, key));
            }
        };
        if seg.rst() {
            // RFC 9293 §3.10.7.4 second step: an RST at RCV.NXT ends TIME-WAIT; one elsewhere in
            // the window gets a challenge ACK (RFC 5961 §3.2); outside it, nothing.
            if seg.seq == e.rcv_nxt {
                self.time_wait.remove(&key);
                return Some(TwOutcome::Done(Ok(())));
            }
            if seg.seq.in_window(e.rcv_nxt, u32::from(e.window).max(1)) && self.challenge.take(now)
            {
                self.tw_reply(key, e.ack(now, key));
            }
            return Some(TwOutcome::Done(Err(DropReason::TcpRstNotExact)));
        }
        if seg.syn() && seg.ack.is_none() {
            if e.syn_is_new_incarnation(seg) && self.listeners.contains_key(&key.0) {
                debug!("tcp {key:?}: new SYN reuses a TIME-WAIT tuple");
                self.time_wait.remove(&key);
                self.counters.time_wait_reused += 1;
                // RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.13: the new ISS must be above the old
                // connection's sequence space (Linux: tw_snd_nxt + 65535 + 2).
                return Some(TwOutcome::Reuse(e.snd_nxt.add(65537)));
            }
            limited_ack(self);
            return Some(TwOutcome::Done(Err(DropReason::TcpTimeWait)));
        }
        // RFC 7323 §5.3 R1 (PAWS).
        if e.ts.is_some_and(|t| t.recent.rejects(seg, now)) {
            limited_ack(self);
            return Some(TwOutcome::Done(Err(DropReason::TcpPaws)));
        }
        if paws::is_retransmitted_fin(seg, e.rcv_nxt) {
            // Eighth step: a retransmitted FIN (our ACK was lost): acknowledge it and restart
            // the 2×MSL wait — a bounded number of times.
            self.retransmitted_fin(now, key, seg);
            return Some(TwOutcome::Done(Ok(())));
        }
        // Anything else is a duplicate or out of window: ACK it unless it is a bare ACK at
        // RCV.NXT (that needs no answer), and drop it.
        if seg.seg_len() > 0 || seg.seq != e.rcv_nxt {
            limited_ack(self);
        }
        Some(TwOutcome::Done(Err(DropReason::TcpTimeWait)))
    }

    fn retransmitted_fin(&mut self, now: Instant, key: Key, seg: &TcpSegment<'_>) {
        let t = &mut self.time_wait;
        let Some(mut e) = t.entries.get(&key).copied() else {
            return;
        };
        if let Some(ts) = e.ts.as_mut() {
            // RFC 7323 §4.3: it passed the checks; remember its timestamp.
            ts.recent.advance(seg, e.rcv_nxt, now);
        }
        if paws::may_restart_time_wait(&mut e.restarts, t.max_restarts) {
            t.order.remove(&(e.expires, key));
            e.expires = now + t.two_msl;
            t.order.insert((e.expires, key));
        }
        t.entries.insert(key, e);
        self.tw_reply(key, e.ack(now, key));
    }
}

/// The TIME-WAIT entry for `conn`.
fn entry_from(conn: &Connection, origin: ConnHandle, two_msl: Duration) -> TwEntry {
    let window = (conn.rcv.buf.window() >> conn.rcv.shift).min(65535) as u16;
    TwEntry {
        snd_nxt: conn.snd.max,
        rcv_nxt: conn.rcv.nxt,
        window,
        ts: conn.ts.ok.then_some(TwTimestamps {
            recent: conn.ts.recent,
            offset: conn.ts.offset,
        }),
        expires: conn
            .timers
            .get(Timer::TimeWait)
            .unwrap_or(conn.last_recv + two_msl),
        restarts: conn.time_wait_restarts,
        acks: conn.invalid_acks,
        origin,
    }
}
