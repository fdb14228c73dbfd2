//! Listeners: a real backlog (many connections per listening port, unlike one-socket-one-
//! connection designs), a bounded half-open table, and SYN cookies (RFC 4987 §3.6) when it is
//! full, so legitimate clients still connect during a SYN flood.

use super::connection::Connection;
use super::table::{cookie_options, Reply};
use super::{syncookie, ConnHandle, TcpLayer};
use crate::config::Config;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::tcp::{Control, SeqNumber, TcpRepr, TcpSegment};
use log::debug;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// One listening port.
#[derive(Debug)]
pub(super) struct Listener {
    /// Established connections waiting for `accept`.
    pub(super) accept_queue: VecDeque<ConnHandle>,
    /// Most connections in `accept_queue` (the backlog argument).
    pub(super) backlog: usize,
    pub(super) generation: u32,
}

/// A listening port as a socket table lists it (`ss -l`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// The port.
    pub port: u16,
    /// Most established connections waiting for `accept` (the backlog argument).
    pub backlog: usize,
    /// Established connections waiting for `accept` now.
    pub queued: usize,
}

impl Listener {
    pub(super) fn new(backlog: usize, generation: u32) -> Self {
        Listener {
            accept_queue: VecDeque::new(),
            backlog,
            generation,
        }
    }
}

impl TcpLayer {
    /// Every listener (O(listeners), for a socket table).
    pub(crate) fn listener_infos(&self) -> impl Iterator<Item = ListenerInfo> + '_ {
        self.listeners.iter().map(|(&port, l)| ListenerInfo {
            port,
            backlog: l.backlog,
            queued: l.accept_queue.len(),
        })
    }

    /// Whether the half-open queue overflowed within `tcp_syncookie_window` (so SYN cookies may
    /// be outstanding).
    fn recent_overflow(&self, cfg: &Config, now: Instant) -> bool {
        self.last_overflow
            .is_some_and(|at| now.saturating_since(at) < cfg.tcp_syncookie_window)
    }

    /// RFC 9293 §3.10.7.2, LISTEN.
    pub(super) fn listener_input(
        &mut self,
        cfg: &Config,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpSegment<'_>,
        iss_floor: Option<SeqNumber>,
    ) -> Result<(), DropReason> {
        let port = local.port();
        // First: an RST to a listener is ignored.
        if seg.rst() {
            return Err(DropReason::TcpUnexpected);
        }
        // Second: an ACK. It can only be valid as the end of a SYN-cookie handshake.
        if let Some(ack) = seg.ack {
            return self.listener_ack(cfg, now, local, remote, seg, ack);
        }
        let queue_full = self.accept_queue_full(port);
        // Third: a SYN.
        if !seg.syn() {
            return Err(DropReason::TcpUnexpected);
        }
        // RFC 9293 §3.10.7.2 gives a FIN on a SYN to LISTEN no meaning; it is a scanner's probe
        // (nmap -sF/-sX style). Drop it unanswered, as Linux and FreeBSD do.
        if seg.fin() {
            return Err(DropReason::TcpSynFin);
        }
        if queue_full {
            // Like Linux: a full accept queue drops SYNs; the client retries.
            return Err(DropReason::TcpAcceptQueueFull);
        }
        // No cookie that could not be honoured: with the table full (or this source at its
        // share) the final ACK would find no slot, so refuse now (`admission.rs`).
        if let Some(reason) = self.no_room_for(cfg, remote.ip()) {
            return Err(self.refuse_overflow(cfg, local, remote, seg, reason));
        }
        if self.half_open >= cfg.tcp_syn_backlog {
            self.last_overflow = Some(now);
            if !cfg.tcp_syncookies {
                return Err(DropReason::TcpSynBacklogFull);
            }
            self.send_cookie(cfg, now, local, remote, seg);
            return Ok(());
        }
        let mut iss = self.isn.isn(now, local, remote);
        if let Some(floor) = iss_floor {
            // RFC 9293 §3.10.7.4: a SYN reusing a TIME-WAIT tuple gets an ISS above the old
            // incarnation's sequence space.
            if !iss.gt(floor) {
                iss = floor;
            }
        }
        let mut conn = Connection::new(cfg, now, local, remote, iss, &self.mem);
        conn.accept_syn(seg, now);
        // It joins the accept queue when the handshake completes (`TcpLayer::touched`).
        let index = self.insert_passive(conn, Some(port));
        self.half_open += 1;
        self.touched(index);
        Ok(())
    }

    /// Inserts a connection a listener created — half-open from a SYN (`half_open_for` the
    /// listener's port, joined when established), or complete from a SYN cookie — counting the
    /// passive open.
    fn insert_passive(&mut self, conn: Connection, half_open_for: Option<u16>) -> u32 {
        self.counters.passive_opens += 1;
        let src = conn.remote.ip();
        let index = self.insert(conn, half_open_for);
        self.slots[index as usize].passive = true;
        self.source_opened(src);
        index
    }

    /// A passive connection completed its handshake (a final ACK or a SYN cookie): it joins
    /// the accept queue of the listener on `port` and the listener becomes acceptable. False if
    /// the listener went away.
    pub(super) fn join_accept_queue(&mut self, port: u16, handle: ConnHandle) -> bool {
        let Some(l) = self.listeners.get_mut(&port) else {
            return false;
        };
        l.accept_queue.push_back(handle);
        self.note_acceptable(port);
        true
    }

    /// Whether the accept queue of the listener on `port` is full.
    fn accept_queue_full(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|l| l.accept_queue.len() >= l.backlog)
    }

    /// RFC 9293 §3.10.7.2 second check: an ACK to LISTEN — a SYN cookie's final ACK, or
    /// answered with RST.
    fn listener_ack(
        &mut self,
        cfg: &Config,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpSegment<'_>,
        ack: SeqNumber,
    ) -> Result<(), DropReason> {
        if seg.syn() {
            self.reset_for(local, remote, seg);
            return Err(DropReason::TcpUnexpected);
        }
        // RFC 4987 §3.6 with Linux's `tcp_synq_no_recent_overflow`: an ACK is checked as a
        // cookie only while the half-open queue has recently overflowed; otherwise cookies
        // were never sent and a match could only be a blind guess.
        let cookies_live = cfg.tcp_syncookies && self.recent_overflow(cfg, now);
        if cookies_live {
            if let Some(mss) = syncookie::decode(&self.secret, now, local, remote, seg.seq, ack) {
                if self.accept_queue_full(local.port()) {
                    return Err(DropReason::TcpAcceptQueueFull);
                }
                if let Some(reason) = self.no_room_for(cfg, remote.ip()) {
                    // The table filled after the cookie was sent.
                    return Err(self.refuse_overflow(cfg, local, remote, seg, reason));
                }
                debug!("tcp {local} <- {remote}: SYN cookie accepted (mss {mss})");
                let mut conn = Connection::new(cfg, now, local, remote, ack.sub(1), &self.mem);
                conn.accept_cookie(seg, ack, mss, now);
                self.counters.cookies_accepted += 1;
                let index = self.insert_passive(conn, None);
                let handle = self.handle_of(index);
                self.join_accept_queue(local.port(), handle);
                self.touched(index);
                return Ok(());
            }
        }
        // RFC 9293: any ACK to LISTEN gets <SEQ=SEG.ACK><CTL=RST>.
        self.reset_for(local, remote, seg);
        Err(if cookies_live {
            DropReason::TcpBadCookie
        } else {
            DropReason::TcpNoConnection
        })
    }

    /// A stateless SYN-ACK whose ISN is a SYN cookie (the half-open queue is full).
    fn send_cookie(
        &mut self,
        cfg: &Config,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpSegment<'_>,
    ) {
        // RFC 4987 §3.6: answer without keeping state; the ISN carries what we need.
        let mss = seg.options.mss.unwrap_or(536);
        let iss = syncookie::encode(&self.secret, now, local, remote, seg.seq, mss);
        let our_mss = usize::from(cfg.mtu)
            .saturating_sub(super::output::mss_overhead(remote.ip()))
            .min(usize::from(cfg.tcp_max_mss));
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: Some(seg.seq.add(1)),
            control: Control::Syn,
            psh: false,
            window: cfg.tcp_rx_buffer.min(65535) as u16,
            options: cookie_options(our_mss.min(65535) as u16),
        };
        self.counters.cookies_sent += 1;
        self.queue_reply(Reply {
            local,
            remote,
            repr,
        });
    }
}
