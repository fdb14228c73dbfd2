//! `sockets`: the socket table as `ss -tuai` shows it, and the delivery-rate sampler.

use crate::daemon::proto::{Body, ListenSocket, SocketsReply, TcpSocket, UdpSocket};
use crate::daemon::server::Ctx;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use tun_bridge::SocketId;
use ustack::tcp::{State, TcpInfo};
use ustack::{Instant, Stack};

/// `ss`'s spelling of a state (its `state` filter names).
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Closed => "close",
        State::Listen => "listen",
        State::SynSent => "syn-sent",
        State::SynReceived => "syn-recv",
        State::Established => "established",
        State::FinWait1 => "fin-wait-1",
        State::FinWait2 => "fin-wait-2",
        State::CloseWait => "close-wait",
        State::Closing => "closing",
        State::LastAck => "last-ack",
        State::TimeWait => "time-wait",
    }
}

/// The shortest interval a delivery rate is computed over.
const MIN_RATE_INTERVAL_US: u64 = 200_000;
/// How often the sampler looks at the table.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Above this many connections the background sampler skips its turn (it is O(connections));
/// a `sockets` request still samples.
const SAMPLE_MAX_CONNECTIONS: usize = 4096;

type Tuple = (SocketAddr, SocketAddr);

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    bytes_acked: u64,
    rate_bps: Option<u64>,
}

/// Per-connection delivery rates: bytes acknowledged between two looks at the table (the
/// sampler's, about a second apart, or a `sockets` request's), in bits per second.
#[derive(Debug, Default)]
pub(crate) struct Rates {
    samples: HashMap<Tuple, Sample>,
}

impl Rates {
    /// Looks at every connection; forgets those gone.
    fn observe(&mut self, now: Instant, conns: &[TcpInfo]) {
        let mut next = HashMap::with_capacity(conns.len());
        for c in conns {
            let key = (c.local, c.remote);
            let acked = c.stats.bytes_acked;
            let s = match self.samples.get(&key) {
                Some(p) if now.saturating_since(p.at).total_micros() < MIN_RATE_INTERVAL_US => *p,
                Some(p) => {
                    let dt = now.saturating_since(p.at).total_micros().max(1);
                    let bits = acked.saturating_sub(p.bytes_acked).saturating_mul(8);
                    Sample {
                        at: now,
                        bytes_acked: acked,
                        rate_bps: Some(bits.saturating_mul(1_000_000) / dt),
                    }
                }
                None => Sample {
                    at: now,
                    bytes_acked: acked,
                    rate_bps: None,
                },
            };
            next.insert(key, s);
        }
        self.samples = next;
    }

    fn rate(&self, c: &TcpInfo) -> Option<u64> {
        self.samples.get(&(c.local, c.remote))?.rate_bps
    }
}

/// Samples the table about once a second while the daemon runs.
pub(crate) async fn sampler(ctx: Rc<Ctx>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !ctx.net.is_stopped() {
        tick.tick().await;
        let now = ctx.net.now();
        let conns = ctx
            .net
            .with_stack(|s| (s.tcp_counts().0 <= SAMPLE_MAX_CONNECTIONS).then(|| connections(s)));
        if let Some(conns) = conns {
            ctx.rates.borrow_mut().observe(now, &conns);
        }
    }
}

fn connections(s: &Stack) -> Vec<TcpInfo> {
    s.tcp_connections()
        .filter(|c| c.state != State::Closed)
        .collect()
}

pub(crate) fn handle(ctx: &Ctx) -> Body {
    let now = ctx.net.now();
    let (conns, listeners, udp, addr) = ctx.net.with_stack(|s| {
        let l: Vec<_> = s.tcp_listeners().collect();
        let u: Vec<_> = s.udp_sockets().collect();
        (connections(s), l, u, s.config().addr)
    });
    let owners: HashMap<SocketId, String> = ctx.net.owners().into_iter().collect();
    let owner = |id: SocketId| owners.get(&id).cloned();
    let mut rates = ctx.rates.borrow_mut();
    rates.observe(now, &conns);
    let mut reply = SocketsReply {
        tcp: conns
            .iter()
            .map(|c| {
                let id = SocketId::Tcp {
                    local: c.local,
                    remote: c.remote,
                };
                TcpSocket {
                    owner: owner(id),
                    ..tcp_socket(c, now, &rates)
                }
            })
            .collect(),
        listeners: listeners
            .iter()
            .map(|l| ListenSocket {
                local: SocketAddr::new(addr.into(), l.port),
                queued: l.queued as u64,
                backlog: l.backlog as u64,
                owner: owner(SocketId::Listener { port: l.port }),
            })
            .collect(),
        udp: udp
            .iter()
            .map(|u| UdpSocket {
                local: SocketAddr::new(addr.into(), u.port),
                recv_q: u.queued_bytes as u64,
                recv_datagrams: u.queued_datagrams as u64,
                owner: owner(SocketId::Udp { port: u.port }),
            })
            .collect(),
        pid: Some(std::process::id()),
    };
    reply.tcp.sort_by_key(|t| (t.local.port(), t.peer));
    reply.listeners.sort_by_key(|l| l.local.port());
    reply.udp.sort_by_key(|u| u.local.port());
    Body::Sockets(reply)
}

fn ms(d: ustack::Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

fn tcp_socket(c: &TcpInfo, now: Instant, rates: &Rates) -> TcpSocket {
    let mss = c.smss.max(1) as u64;
    let since = |t: Option<Instant>| t.map(|t| now.saturating_since(t).total_millis());
    // Like `ss`: "send" is cwnd × mss / srtt.
    let send_rate_bps = c.srtt.filter(|r| r.total_micros() > 0).and_then(|r| {
        (c.cwnd > 0).then(|| (c.cwnd as u64).saturating_mul(8_000_000) / r.total_micros())
    });
    TcpSocket {
        state: state_name(c.state).to_string(),
        local: c.local,
        peer: c.remote,
        recv_q: c.recv_queue as u64,
        send_q: c.send_queue as u64,
        rto_ms: ms(c.rto),
        rtt_ms: c.srtt.map(ms),
        rttvar_ms: c.rttvar.map(ms),
        mss: c.snd_mss as u64,
        rcv_mss: c.rcv_mss as u64,
        cwnd: c.cwnd as u64 / mss,
        ssthresh: (c.ssthresh < (1 << 30)).then_some(c.ssthresh as u64 / mss),
        unacked_bytes: c.bytes_in_flight as u64,
        snd_wnd: c.snd_wnd as u64,
        rcv_wnd: c.rcv_wnd as u64,
        bytes_acked: c.stats.bytes_acked,
        bytes_received: c.stats.bytes_received,
        segs_out: c.stats.segs_out,
        segs_in: c.stats.segs_in,
        retrans: c.stats.retransmits,
        fast_retrans: c.stats.fast_retransmits,
        timeouts: c.stats.timeouts,
        out_of_order: c.stats.out_of_order,
        lastsnd_ms: since(c.last_send),
        lastrcv_ms: since(c.last_recv),
        delivery_rate_bps: rates.rate(c),
        send_rate_bps,
        congestion: c.congestion.to_string(),
        wscale: (c.snd_wscale, c.rcv_wscale),
        ts: c.timestamps,
        sack: c.sack,
        in_recovery: c.in_recovery,
        orphaned: c.orphaned,
        owner: None,
    }
}
