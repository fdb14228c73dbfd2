//! The trace itself: an async function on the stack's loop that sends probes with increasing
//! TTL and reports what comes back as [`TraceEvent`]s. Nothing here prints: the `trace`
//! handler sends the events to the client (`ustack trace`, attached to a daemon or to its own
//! stack), which formats them.
//!
//! Probes (RFC 1393's predecessor, the classic Van Jacobson traceroute; RFC 792 for the
//! answers): UDP to an unlikely port (33434 + probe number, the port naming the probe in the
//! quote of the answer), ICMP echo requests (the sequence number naming the probe), or TCP SYNs
//! (one connection per probe, its SYN sent with the TTL). Routers where the TTL runs out answer
//! with time exceeded (RFC 1812 §5.3.1); the destination with port unreachable (UDP), an echo
//! reply (ICMP) or SYN-ACK / RST (TCP). `pmtu` mode sends UDP probes as large as the path MTU
//! with DF set and lowers it on each "fragmentation needed" (RFC 1191 §4), like `tracepath`.

mod marker;
mod tracepath;

pub use marker::Marker;

use crate::daemon::proto::{TraceEvent, TraceMethod as Method, TraceRequest as TraceOptions};
use marker::classify;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU8;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};
use tun_bridge::aio::{PingSocket, TcpStream, UdpSocket};
use tun_bridge::{icmp_error_of, Net};
use ustack::{EchoEvent, IcmpError};

/// What became of one probe.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Someone answered: a router (time exceeded), the destination, or a router refusing.
    Reply {
        from: IpAddr,
        rtt: Duration,
        /// The answer says the destination cannot be reached.
        marker: Option<Marker>,
        /// The destination itself answered.
        reached: bool,
        /// Hops back, from the answer's TTL ([`hops_back`]).
        back: Option<u8>,
    },
    /// No answer within the wait.
    Timeout,
}

/// The smallest probe to `dst`: the IP header and the 8-byte UDP or ICMP header — 28 bytes
/// over IPv4, 48 over IPv6 (RFC 8200 §3's fixed header). Also ping's headers around its data.
pub(crate) fn min_packet(dst: IpAddr) -> usize {
    match dst {
        IpAddr::V4(_) => 28,
        IpAddr::V6(_) => 48,
    }
}

/// Most probes one hop resends after "fragmentation needed" (each lowers the size or repeats
/// it): a path cannot keep a hop going forever.
const MAX_RESENDS: usize = 16;

/// RFC 1191 §7, table 7-1: a router that sends fragmentation needed without a next-hop MTU
/// (older than RFC 1191) is taken to mean the plateau below the size that did not fit.
fn plateau_below(len: usize) -> u16 {
    const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
    PLATEAUS
        .into_iter()
        .find(|&p| usize::from(p) < len)
        .unwrap_or(68)
}

/// tracepath's guess of the hops an answer came back over: its TTL subtracted from the
/// nearest common initial TTL above it (64, 128 or 255).
pub fn hops_back(ttl: u8) -> u8 {
    match ttl {
        0..=64 => 65 - ttl,
        65..=128 => 129 - ttl,
        _ => 255 - ttl + 1,
    }
}

fn wait_of(o: &TraceOptions) -> Duration {
    Duration::from_millis(o.wait_ms)
}

fn ttl_of(ttl: u8) -> Option<NonZeroU8> {
    NonZeroU8::new(ttl)
}

/// Checks the options before anything is sent.
pub fn validate(o: &TraceOptions) -> io::Result<()> {
    let bad = |m: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, m.to_string()));
    if o.first_ttl == 0 || o.first_ttl > o.max_hops {
        return bad("first TTL (-f) must be 1..=max hops (-m)");
    }
    if o.queries == 0 || o.queries > 10 {
        return bad("queries per hop (-q) must be 1..=10");
    }
    if o.wait_ms == 0 || o.wait_ms > 60_000 {
        return bad("wait (-w) must be more than 0 and at most 60 seconds");
    }
    if o.pmtu && o.method == Method::Tcp {
        return bad("--pmtu works with UDP or ICMP probes, not -T");
    }
    if o.dst.is_unspecified() || is_broadcast(o.dst) || o.dst.is_multicast() {
        return bad("the destination must be a unicast address");
    }
    let min = min_packet(o.dst);
    if o.packet_len < min || o.packet_len > 65535 {
        return bad(&format!("packet length must be {min}..=65535"));
    }
    Ok(())
}

/// Runs the trace on the loop of `net`, reporting each event to `emit` as it happens.
pub async fn trace(
    net: &Net,
    mut o: TraceOptions,
    mut emit: impl FnMut(TraceEvent),
) -> io::Result<()> {
    validate(&o)?;
    // Its probes' sockets are the trace's in `ustack ss -p`.
    let net = &net.owned_by("trace");
    let (mtu, us) = net.with_stack(|s| {
        let c = s.config();
        let us = match o.dst {
            IpAddr::V4(_) => Some(IpAddr::V4(c.addr)),
            IpAddr::V6(_) => c.addr6.map(IpAddr::V6),
        };
        (c.mtu, us)
    });
    let Some(us) = us else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is IPv6 and the stack has no IPv6 address (ustack up without --no-ipv6)",
                o.dst
            ),
        ));
    };
    if o.dst == us {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{us} is the stack itself: there is no path to trace"),
        ));
    }
    if o.pmtu {
        o.packet_len = usize::from(mtu);
    }
    let mut prober = Prober::open(net, &o)?;
    let local_rtt_ms = match &mut prober {
        Prober::Datagram(d) if o.pmtu && o.dst.is_ipv6() => d.local_refusal(&o).await,
        _ => None,
    };
    emit(TraceEvent::Start {
        dst: o.dst,
        max_hops: o.max_hops,
        packet_len: o.packet_len,
        method: o.method,
        pmtu: o.pmtu.then_some(mtu),
        local_rtt_ms,
    });
    let mut reached = false;
    let mut last = o.first_ttl;
    for ttl in o.first_ttl..=o.max_hops {
        last = ttl;
        let end = match &mut prober {
            Prober::Datagram(d) if o.pmtu => d.hop_tracepath(&mut o, ttl, &mut emit).await?,
            Prober::Datagram(d) => d.hop(&o, ttl, &mut emit).await?,
            Prober::Tcp => tcp_hop(net, &o, ttl, &mut emit).await,
        };
        emit(TraceEvent::HopDone { ttl });
        if let Some(r) = end {
            reached = r;
            break;
        }
    }
    emit(TraceEvent::Done {
        reached,
        hops: last,
        pmtu: o
            .pmtu
            .then(|| o.packet_len.min(usize::from(u16::MAX)) as u16),
        back: match &prober {
            Prober::Datagram(d) if reached => d.back,
            _ => None,
        },
    });
    Ok(())
}

/// The wire form of probe `probe`'s outcome; `tracepath6`: its marker as `tracepath -6`
/// prints it ([`Marker::tracepath6`]), else as traceroute does.
fn probe_event(ttl: u8, probe: usize, outcome: Outcome, tracepath6: bool) -> TraceEvent {
    match outcome {
        Outcome::Timeout => TraceEvent::Probe {
            ttl,
            probe,
            from: None,
            rtt_ms: None,
            marker: None,
            reached: false,
            back: None,
        },
        Outcome::Reply {
            from,
            rtt,
            marker,
            reached,
            back,
        } => TraceEvent::Probe {
            ttl,
            probe,
            from: Some(from),
            rtt_ms: Some(rtt_ms(rtt)),
            marker: marker.map(|m| {
                if tracepath6 {
                    m.tracepath6()
                } else {
                    m.to_string()
                }
            }),
            reached,
            back,
        },
    }
}

/// Microsecond resolution, as traceroute and tracepath print it.
fn rtt_ms(rtt: Duration) -> f64 {
    (rtt.as_secs_f64() * 1e6).round() / 1e3
}

/// Emits, in probe order, every outcome known so far from `next` on; returns the new `next`
/// and whether one of them ends the trace (`Some(reached)`).
fn emit_ready(
    ttl: u8,
    results: &[Option<Outcome>],
    mut next: usize,
    end: &mut Option<bool>,
    emit: &mut impl FnMut(TraceEvent),
) -> usize {
    while let Some(Some(outcome)) = results.get(next) {
        if let Outcome::Reply {
            marker, reached, ..
        } = *outcome
        {
            if reached || marker.is_some() {
                *end = Some(end.unwrap_or(false) || reached);
            }
        }
        emit(probe_event(ttl, next, *outcome, false));
        next += 1;
    }
    next
}

enum Prober {
    Datagram(DatagramProber),
    Tcp,
}

impl Prober {
    fn open(net: &Net, o: &TraceOptions) -> io::Result<Prober> {
        Ok(match o.method {
            Method::Tcp => Prober::Tcp,
            Method::Udp | Method::Icmp => Prober::Datagram(DatagramProber::open(net, o)?),
        })
    }
}

/// UDP or ICMP probes: one socket, every probe of a hop out at once, answers matched by the
/// quoted destination port (UDP) or sequence number (ICMP).
struct DatagramProber {
    sock: DatagramSocket,
    /// Probe number: the UDP port offset or the echo sequence number.
    seq: u16,
    buf: Vec<u8>,
    /// Hops back of the destination's answer, once it answered.
    back: Option<u8>,
}

enum DatagramSocket {
    Udp(UdpSocket),
    Icmp(PingSocket),
}

/// One answer on the datagram socket: the probe key it quotes and what it says.
enum Answer {
    Icmp(u16, IcmpError),
    /// The destination answered a probe directly (UDP data, echo reply), with the reply's TTL
    /// where known.
    Direct(Option<u16>, IpAddr, Option<u8>),
}

impl Answer {
    /// Who answered, the ICMP error if any, and the hops back.
    fn parts(self) -> (Option<u16>, IpAddr, Option<IcmpError>, Option<u8>) {
        match self {
            Answer::Icmp(k, e) => (Some(k), e.from, Some(e), Some(hops_back(e.ttl))),
            Answer::Direct(k, from, ttl) => (k, from, None, ttl.map(hops_back)),
        }
    }
}

impl DatagramProber {
    fn open(net: &Net, o: &TraceOptions) -> io::Result<DatagramProber> {
        let sock = match o.method {
            Method::Icmp => {
                let p = PingSocket::open(net, None)?;
                p.set_dont_fragment(o.pmtu)?;
                DatagramSocket::Icmp(p)
            }
            _ => {
                let u = UdpSocket::bind(net, 0)?;
                u.set_recv_errors(true)?;
                u.set_dont_fragment(o.pmtu)?;
                DatagramSocket::Udp(u)
            }
        };
        Ok(DatagramProber {
            sock,
            seq: 0,
            buf: vec![0u8; 2048],
            back: None,
        })
    }

    fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        match &self.sock {
            DatagramSocket::Udp(u) => u.set_ttl(ttl_of(ttl)),
            DatagramSocket::Icmp(p) => p.set_ttl(ttl_of(ttl)),
        }
    }

    /// Sends the next probe of `len` bytes; returns its key.
    async fn send(&mut self, o: &TraceOptions, len: usize) -> io::Result<u16> {
        let key = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let data = vec![0x40u8; len.saturating_sub(min_packet(o.dst))];
        match &self.sock {
            DatagramSocket::Udp(u) => {
                let port = o.port().wrapping_add(key);
                u.send_to(&data, SocketAddr::new(o.dst, port)).await?;
                Ok(port)
            }
            DatagramSocket::Icmp(p) => {
                p.send(o.dst, key, &data).await?;
                Ok(key)
            }
        }
    }

    /// The next answer, or `None` at `deadline`.
    async fn recv(&mut self, o: &TraceOptions, deadline: Instant) -> io::Result<Option<Answer>> {
        loop {
            let r = match &self.sock {
                DatagramSocket::Udp(u) => {
                    match timeout_at(deadline, u.recv_from(&mut self.buf)).await {
                        Err(_) => return Ok(None),
                        // Only the destination answers a probe with data.
                        Ok(Ok((_, from))) if from.ip() == o.dst => {
                            Answer::Direct(None, o.dst, None)
                        }
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => match icmp_error_of(&e) {
                            Some(ie) if ie.original_dst.ip() == o.dst => {
                                Answer::Icmp(ie.original_dst.port(), ie)
                            }
                            Some(_) => continue,
                            None => return Err(e),
                        },
                    }
                }
                DatagramSocket::Icmp(p) => {
                    match timeout_at(deadline, p.recv(&mut self.buf)).await {
                        Err(_) => return Ok(None),
                        Ok(Ok(EchoEvent::Reply { from, seq, ttl, .. })) if from == o.dst => {
                            Answer::Direct(Some(seq), from, Some(ttl))
                        }
                        Ok(Ok(EchoEvent::Reply { .. })) => continue,
                        Ok(Ok(EchoEvent::Error { error, seq })) => Answer::Icmp(seq, error),
                        Ok(Err(e)) => return Err(e),
                    }
                }
            };
            return Ok(Some(r));
        }
    }

    /// Probes one hop, every probe out at once; `Some(reached)` if the trace ends here.
    async fn hop(
        &mut self,
        o: &TraceOptions,
        ttl: u8,
        emit: &mut impl FnMut(TraceEvent),
    ) -> io::Result<Option<bool>> {
        self.set_ttl(ttl)?;
        let n = o.queries;
        let mut slots: HashMap<u16, (usize, Instant)> = HashMap::new();
        for i in 0..n {
            let key = self.send(o, o.packet_len).await?;
            slots.insert(key, (i, Instant::now()));
        }
        let mut results: Vec<Option<Outcome>> = vec![None; n];
        let (mut next, mut end) = (0, None);
        let deadline = Instant::now() + wait_of(o);
        while next < n {
            let Some(answer) = self.recv(o, deadline).await? else {
                break;
            };
            let (key, from, error, back) = answer.parts();
            // UDP data carries no probe number: it answers the oldest probe still waiting.
            let key = key.or_else(|| {
                slots
                    .iter()
                    .filter(|(_, (i, _))| results[*i].is_none())
                    .min_by_key(|(_, (i, _))| *i)
                    .map(|(k, _)| *k)
            });
            let Some(&(i, sent)) = key.and_then(|k| slots.get(&k)) else {
                continue; // an answer to a probe of an earlier hop
            };
            if results[i].is_some() {
                continue;
            }
            let (marker, reached) = match &error {
                Some(e) => classify(e, o.dst),
                None => (None, from == o.dst),
            };
            if reached {
                self.back = back;
            }
            results[i] = Some(Outcome::Reply {
                from,
                rtt: sent.elapsed(),
                marker,
                reached,
                back,
            });
            next = emit_ready(ttl, &results, next, &mut end, emit);
        }
        for r in results.iter_mut().filter(|r| r.is_none()) {
            *r = Some(Outcome::Timeout);
        }
        emit_ready(ttl, &results, next, &mut end, emit);
        Ok(end)
    }
}

/// Probes one hop with TCP SYNs: one connection per probe, all at once.
async fn tcp_hop(
    net: &Net,
    o: &TraceOptions,
    ttl: u8,
    emit: &mut impl FnMut(TraceEvent),
) -> Option<bool> {
    let remote = SocketAddr::new(o.dst, o.port());
    let probes: Vec<_> = (0..o.queries)
        .map(|_| net.spawn(tcp_probe(net.clone(), remote, ttl, wait_of(o))))
        .collect();
    let mut results = vec![None; o.queries];
    let (mut next, mut end) = (0, None);
    for (i, p) in probes.into_iter().enumerate() {
        results[i] = Some(p.await.unwrap_or(Outcome::Timeout));
        next = emit_ready(ttl, &results, next, &mut end, emit);
    }
    end
}

/// One SYN probe: SYN-ACK or RST from the destination, an ICMP error from a router, or
/// nothing within `wait` (the attempt is then dropped, which closes it).
async fn tcp_probe(net: Net, remote: SocketAddr, ttl: u8, wait: Duration) -> Outcome {
    let sent = Instant::now();
    let r =
        tokio::time::timeout(wait, TcpStream::connect_with_ttl(&net, remote, ttl_of(ttl))).await;
    let reply = |from, marker, reached| Outcome::Reply {
        from,
        rtt: sent.elapsed(),
        marker,
        reached,
        back: None,
    };
    match r {
        Ok(Ok(stream)) => {
            let out = reply(remote.ip(), None, true);
            // The handshake was all we wanted: reset it (the RST goes with the stack's TTL).
            let _ = stream.abort();
            out
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            reply(remote.ip(), None, true)
        }
        Ok(Err(e)) => match icmp_error_of(&e) {
            Some(ie) => {
                let (marker, reached) = classify(&ie, remote.ip());
                reply(ie.from, marker, reached)
            }
            None => Outcome::Timeout,
        },
        Err(_) => Outcome::Timeout,
    }
}

/// The limited broadcast 255.255.255.255 (IPv6 has no broadcast).
pub(crate) fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn plateaus_for_silent_routers() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(60), 68);
    }

    #[test]
    fn outcomes_are_emitted_in_probe_order() {
        let from = Ipv4Addr::new(1, 2, 3, 4);
        let reply = |reached| {
            Some(Outcome::Reply {
                from: std::net::IpAddr::V4(from),
                rtt: Duration::from_millis(1),
                marker: None,
                reached,
                back: None,
            })
        };
        let mut seen = Vec::new();
        let mut end = None;
        // Probe 1 answered before probe 0: nothing can be shown yet.
        let results = vec![None, reply(false), None];
        let next = emit_ready(4, &results, 0, &mut end, &mut |e| seen.push(e));
        assert_eq!((next, seen.len()), (0, 0));
        let results = vec![reply(true), reply(false), Some(Outcome::Timeout)];
        let next = emit_ready(4, &results, 0, &mut end, &mut |e| seen.push(e));
        assert_eq!(next, 3);
        let probes: Vec<usize> = seen
            .iter()
            .map(|e| match e {
                TraceEvent::Probe { probe, .. } => *probe,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(probes, [0, 1, 2]);
        assert_eq!(end, Some(true));
    }

    #[test]
    fn bad_options_are_refused() {
        let ok = TraceOptions::new(std::net::IpAddr::V4(Ipv4Addr::new(198, 19, 3, 2)));
        assert_eq!((ok.port(), ok.queries, ok.wait_ms), (33434, 3, 5000));
        assert!(validate(&ok).is_ok());
        for bad in [
            TraceOptions {
                first_ttl: 0,
                ..ok.clone()
            },
            TraceOptions {
                first_ttl: 31,
                ..ok.clone()
            },
            TraceOptions {
                queries: 0,
                ..ok.clone()
            },
            TraceOptions {
                wait_ms: 0,
                ..ok.clone()
            },
            TraceOptions {
                wait_ms: 60_001,
                ..ok.clone()
            },
            TraceOptions {
                method: Method::Tcp,
                pmtu: true,
                ..ok.clone()
            },
            TraceOptions {
                dst: std::net::IpAddr::V4(Ipv4Addr::BROADCAST),
                ..ok.clone()
            },
            TraceOptions {
                packet_len: 10,
                ..ok.clone()
            },
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
    }
}
