//! `ping`: echo requests from inside the stack, sent and counted the way iputils ping does;
//! one `ping` event per reply or error (`Sent` too when flooding), then the summary and `end`.
//! The same job serves `ustack ping` attached to a daemon and `ustack ping` on its own stack.

use super::Flow;
use crate::daemon::conn::Outbox;
use crate::daemon::proto::{
    parse_pattern, Body, End, ErrorCode, PingEvent, PingRequest, PingSummary, PmtuDisc,
};
use crate::daemon::server::{Conn, Ctx};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use tokio::time::{sleep_until, Duration, Instant};
use tun_bridge::aio::PingSocket;
use ustack::EchoEvent;

/// Largest ICMP payload (65535 − 20 − 8).
pub const MAX_SIZE: usize = 65507;

/// Largest ICMPv6 echo payload: the IPv6 payload length (65535, RFC 8200 §3; no jumbograms)
/// less the 8-byte ICMPv6 header.
pub const MAX_SIZE6: usize = 65527;

/// Most requests `-l` may send ahead (sequence numbers wrap at 65536).
pub const MAX_PRELOAD: u32 = 65535;

/// iputils' shortest wait for a reply when flooding: without one, the next request goes after
/// 10 ms ("as fast as they come back or one hundred times per second, whichever is more").
const FLOOD_FLOOR: Duration = Duration::from_millis(10);

/// Why a request cannot run (iputils' wording where it has one).
pub fn check(req: &PingRequest) -> Result<(), String> {
    if req.count == Some(0) {
        return Err(
            "bad number of packets to transmit: 0 (use no -c to ping until stopped)".into(),
        );
    }
    let max = if req.dst.is_ipv6() {
        MAX_SIZE6
    } else {
        MAX_SIZE
    };
    if req.size > max {
        return Err(format!(
            "packet size {} is too large (at most {max})",
            req.size
        ));
    }
    if req.interval_ms == 0 && !req.flood {
        return Err("an interval of 0 needs -f (flood)".into());
    }
    if req.timeout_ms == 0 {
        return Err("a reply timeout of 0 would count every reply lost".into());
    }
    if req.ttl == Some(0) {
        let what = if req.dst.is_ipv6() {
            "hop limit"
        } else {
            "ttl"
        };
        return Err(format!("{what} 0 cannot leave the host"));
    }
    if req.dst.is_unspecified() || crate::daemon::jobs::trace::is_broadcast(req.dst) {
        return Err(format!("{}: not a destination", req.dst));
    }
    if let Some(p) = req.preload {
        if p == 0 || p > MAX_PRELOAD {
            return Err(format!("invalid preload: {p} (1..={MAX_PRELOAD})"));
        }
    }
    if let Some(p) = &req.pattern {
        parse_pattern(p)?;
    }
    Ok(())
}

/// iputils' `-I` with an address: the socket is bound to it, which fails for an address the
/// host does not have. The stack has one.
fn check_source(req: &PingRequest, ours: IpAddr) -> Result<(), String> {
    match req.source {
        Some(src) if src != ours => Err(format!(
            "bind: Cannot assign requested address: {src} is not the stack's address \
             ({ours}), the only one it sends from"
        )),
        _ => Ok(()),
    }
}

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: PingRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let (ours, mtu) = ctx.net.with_stack(|s| {
        let c = s.config();
        let ours = match req.dst {
            IpAddr::V4(_) => Some(IpAddr::V4(c.addr)),
            IpAddr::V6(_) => c.addr6.map(IpAddr::V6),
        };
        (ours, c.mtu)
    });
    let Some(ours) = ours else {
        let msg = format!(
            "connect: Network is unreachable: {} is IPv6 and the stack has no IPv6 address \
             (ustack up without --no-ipv6)",
            req.dst
        );
        out.error(id, ErrorCode::BadRequest, msg).await;
        return Flow::Close;
    };
    if let Err(msg) = check(&req).and_then(|()| check_source(&req, ours)) {
        out.error(id, ErrorCode::BadRequest, msg).await;
        return Flow::Close;
    }
    if req.dst == ours {
        // Linux answers itself over loopback; the stack has no loopback interface, and its
        // own datagrams to itself never reach the TUN: say so instead of a silent 100% loss.
        let msg = format!(
            "{ours} is the stack's own address, and ustack has no loopback: it cannot ping \
             itself (ping another host from the stack, or the stack from the kernel side: \
             ping {ours})"
        );
        out.error(id, ErrorCode::BadRequest, msg).await;
        return Flow::Close;
    }
    let sock = match PingSocket::open(&ctx.net, None).and_then(|s| {
        s.set_ttl(req.ttl.and_then(std::num::NonZeroU8::new))?;
        s.set_dont_fragment(req.pmtudisc == Some(PmtuDisc::Do))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            out.error(id, ErrorCode::Failed, format!("echo socket: {e}"))
                .await;
            return Flow::Close;
        }
    };
    let (summary, reason) = job(&sock, &req, (ours, mtu), lines.until_eof(), &out, id).await;
    out.last(id, Body::Ping(PingEvent::Summary(summary))).await;
    let lost = out.lost_total();
    let end = End {
        reason: reason.into(),
        lost,
    };
    out.last(id, Body::End(end)).await;
    Flow::Close
}

/// The payload of request `seq`: the `-p` pattern repeated, or else bytes that depend on the
/// sequence number, so a reply carrying another request's data (or corrupted data) is noticed.
pub fn payload(seq: u16, size: usize, pattern: Option<&[u8]>) -> Vec<u8> {
    match pattern {
        Some(p) if !p.is_empty() => p.iter().copied().cycle().take(size).collect(),
        _ => (0..size)
            .map(|i| (i as u16).wrapping_mul(31).wrapping_add(seq) as u8)
            .collect(),
    }
}

/// Round-trip statistics in constant memory, as iputils computes them (mdev = population
/// standard deviation; `ewma` its moving average with weight 1/8, in integer microseconds).
#[derive(Debug, Default, Clone, Copy)]
pub struct Rtts {
    n: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    /// 8 × the moving average, µs (iputils' `rtt`).
    ewma8_us: i64,
}

impl Rtts {
    pub fn add(&mut self, ms: f64) {
        if self.n == 0 || ms < self.min {
            self.min = ms;
        }
        if ms > self.max {
            self.max = ms;
        }
        let us = (ms * 1000.0) as i64;
        self.ewma8_us = if self.n == 0 {
            us * 8
        } else {
            self.ewma8_us + us - self.ewma8_us / 8
        };
        self.n += 1;
        self.sum += ms;
        self.sum_sq += ms * ms;
    }

    /// min, avg, max, mdev.
    pub fn summary(&self) -> Option<[f64; 4]> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let avg = self.sum / n;
        let var = self.sum_sq / n - avg * avg;
        Some([self.min, avg, self.max, var.max(0.0).sqrt()])
    }

    /// The moving average, ms (whole microseconds, as iputils prints it).
    pub fn ewma_ms(&self) -> f64 {
        (self.ewma8_us / 8) as f64 / 1000.0
    }
}
/// One request in flight or answered (at most 65536: sequence numbers wrap).
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    answered: bool,
    errored: bool,
}

#[derive(Debug)]
struct Tally {
    sent: HashMap<u16, Sent>,
    summary: PingSummary,
    rtts: Rtts,
    next_seq: u16,
    last_send: Option<Instant>,
    last_activity: Option<Instant>,
}

impl Tally {
    /// Whether another request may go (iputils: with `-w`, `-c` counts replies, not requests).
    fn may_send(&self, req: &PingRequest) -> bool {
        match (req.count, req.deadline_ms) {
            (None, _) => true,
            (Some(c), Some(_)) => self.summary.received < c,
            (Some(c), None) => self.summary.transmitted < c,
        }
    }

    fn all_answered(&self) -> bool {
        self.summary.received + self.summary.errors >= self.summary.transmitted
    }

    /// Requests neither answered nor failed yet.
    fn in_flight(&self) -> u32 {
        self.summary
            .transmitted
            .saturating_sub(self.summary.received + self.summary.errors)
    }

    fn on_echo(
        &mut self,
        ev: EchoEvent,
        data: &[u8],
        expected: &dyn Fn(u16) -> Vec<u8>,
    ) -> Option<PingEvent> {
        let now = Instant::now();
        match ev {
            EchoEvent::Reply {
                from,
                seq,
                ttl,
                len,
            } => {
                let s = self.sent.get_mut(&seq)?; // someone else's, or long gone
                let ms = now.duration_since(s.at).as_secs_f64() * 1000.0;
                let dup = s.answered;
                if dup {
                    self.summary.duplicates += 1;
                } else {
                    s.answered = true;
                    self.summary.received += 1;
                    self.rtts.add(ms);
                    // iputils' pipe: requests out when this reply came, itself included.
                    let out = self.next_seq.wrapping_sub(1).wrapping_sub(seq);
                    if out <= 0x7fff {
                        self.summary.pipe = self.summary.pipe.max(u32::from(out) + 1);
                    }
                }
                self.last_activity = Some(now);
                let shown = &data[..len.min(data.len())];
                let bad_data = shown != &expected(seq)[..];
                Some(PingEvent::Reply {
                    seq,
                    from,
                    ttl,
                    bytes: len + 8,
                    time_ms: ms,
                    dup,
                    bad_data,
                })
            }
            // A redirect (RFC 1122 §3.2.2.2) or source quench (RFC 6633: deprecated) says the
            // request went on; it is no failure of it.
            EchoEvent::Error { error, .. } if matches!(error.icmp_type, 4 | 5) => None,
            EchoEvent::Error { error, seq } => {
                let s = self.sent.get_mut(&seq)?;
                // Printed once per request, like iputils, however many errors quote it.
                if s.errored || s.answered {
                    return None;
                }
                s.errored = true;
                self.summary.errors += 1;
                self.last_activity = Some(now);
                let mut message = error.description().to_string();
                if error.is_frag_needed() && error.is_v6() {
                    // iputils' ping -6: "Packet too big: mtu=1400" (RFC 4443 §3.2).
                    message += &format!(": mtu={}", error.next_hop_mtu);
                } else if error.is_frag_needed() {
                    // iputils: "Frag needed and DF set (mtu = 1400)" (RFC 1191 §4).
                    message += &format!(" (mtu = {})", error.next_hop_mtu);
                }
                Some(PingEvent::Error {
                    seq,
                    from: error.from,
                    message,
                })
            }
        }
    }
}

/// When the next request may go, iputils' way.
#[derive(Debug)]
struct Pacer {
    /// `-f` without `-i`: paced by replies (at most `preload` unanswered), else every 10 ms.
    by_replies: bool,
    interval: Duration,
    preload: u32,
}

impl Pacer {
    fn new(req: &PingRequest) -> Pacer {
        Pacer {
            by_replies: req.flood && req.interval_ms == 0,
            interval: Duration::from_millis(req.interval_ms),
            preload: req.preload.unwrap_or(1),
        }
    }

    /// The time the next request is due (now or earlier: send at once).
    fn next(&self, t: &Tally, now: Instant) -> Instant {
        let Some(last) = t.last_send else {
            return now;
        };
        if self.by_replies {
            if t.in_flight() < self.preload {
                return now;
            }
            return last + FLOOD_FLOOR;
        }
        // `-l`: the first `preload` requests at once, then one per interval.
        if t.summary.transmitted < self.preload {
            return now;
        }
        last + self.interval
    }
}

/// Events a request may cause: its `sent` and its reply (and a `lost` note).
const EVENTS_PER_REQUEST: usize = 3;

/// Runs the pings until done, the deadline, or `stop`, reporting to `out` as request `id`;
/// returns the summary and why it ended. `ours`: the address the requests go from; `mtu`: the
/// stack's link MTU, for `-M want` and the local "message too long" error.
pub(crate) async fn job(
    sock: &PingSocket,
    req: &PingRequest,
    (ours, mtu): (IpAddr, u16),
    stop: impl Future<Output = ()>,
    out: &Outbox,
    id: u64,
) -> (PingSummary, &'static str) {
    let emit = &mut |ev| out.event(id, Body::Ping(ev));
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    let started = Instant::now();
    let deadline = req.deadline_ms.map(|d| started + Duration::from_millis(d));
    let wait = Duration::from_millis(req.timeout_ms);
    let pattern = req.pattern.as_deref().and_then(|p| parse_pattern(p).ok());
    let expected = |seq| payload(seq, req.size, pattern.as_deref());
    let pacer = Pacer::new(req);
    let mut t = Tally {
        sent: HashMap::new(),
        summary: PingSummary {
            dst: Some(req.dst),
            ..PingSummary::default()
        },
        rtts: Rtts::default(),
        next_seq: 1,
        last_send: None,
        last_activity: None,
    };
    emit(PingEvent::Start {
        dst: req.dst,
        size: req.size,
        from: Some(ours),
    });
    let mut buf = vec![0u8; 65536];
    tokio::pin!(stop);
    let reason = loop {
        let may_send = t.may_send(req);
        if !may_send && t.all_answered() {
            break "done";
        }
        let next_send = pacer.next(&t, Instant::now());
        // A request due now goes now, without a timer in between: a timer rounds up to the
        // next millisecond, and a flood paced by replies would lose most of its rate to it.
        if may_send && next_send <= Instant::now() {
            // A request goes only when its events fit the client's queue: a flood slows to
            // the client's reading instead of losing its dots and replies.
            if !out.room_for(EVENTS_PER_REQUEST).await
                || !send_one(sock, req, mtu, &mut t, &expected, emit).await
            {
                break "client gone";
            }
            continue;
        }
        let final_wait = match (may_send, t.last_send) {
            (false, Some(last)) => last + wait,
            _ => far,
        };
        tokio::select! {
            biased;
            () = &mut stop => break "client finished",
            () = sleep_until(deadline.unwrap_or(far)) => break "deadline",
            r = sock.recv(&mut buf) => match r {
                Ok(ev) => {
                    if let Some(e) = t.on_echo(ev, &buf, &expected) {
                        if !emit(e) {
                            break "client gone";
                        }
                    }
                }
                Err(_) => break "the stack stopped",
            },
            () = sleep_until(next_send), if may_send => {}
            () = sleep_until(final_wait) => break "done",
        }
    };
    finish(&mut t, req, started);
    (t.summary, reason)
}

/// Sends the next request; false if the client is gone.
async fn send_one(
    sock: &PingSocket,
    req: &PingRequest,
    mtu: u16,
    t: &mut Tally,
    expected: &dyn Fn(u16) -> Vec<u8>,
    emit: &mut dyn FnMut(PingEvent) -> bool,
) -> bool {
    let seq = t.next_seq;
    t.next_seq = seq.wrapping_add(1);
    let now = Instant::now();
    t.summary.transmitted += 1;
    t.last_send = Some(now);
    t.last_activity = Some(now);
    // The IP and ICMP echo headers around the payload: 20 + 8, or 40 + 8 over IPv6.
    let fits = req.size + crate::daemon::jobs::trace::min_packet(req.dst) <= usize::from(mtu);
    let df = match req.pmtudisc {
        Some(PmtuDisc::Do) => true,
        // Linux's IP_PMTUDISC_WANT: DF where the datagram fits, fragments otherwise.
        Some(PmtuDisc::Want) => {
            let _ = sock.set_dont_fragment(fits);
            fits
        }
        Some(PmtuDisc::Dont) | None => false,
    };
    let sent = sock.send(req.dst, seq, &expected(seq)).await;
    let errored = sent.is_err() && df && !fits;
    t.sent.insert(
        seq,
        Sent {
            at: now,
            answered: false,
            errored,
        },
    );
    let ev = match sent {
        Ok(()) if req.flood => Some(PingEvent::Sent { seq }),
        Ok(()) => None,
        // iputils with `-M do`: EMSGSIZE from the socket, reported as a local error and
        // counted in `+N errors` (RFC 1191 §3: DF never fragments, not even at the source;
        // over IPv6, RFC 3542 §11.2's IPV6_DONTFRAG). ping -6 words it "mtu: N".
        Err(_) if errored => {
            t.summary.errors += 1;
            let message = match req.dst {
                IpAddr::V4(_) => format!("message too long, mtu={mtu}"),
                IpAddr::V6(_) => format!("message too long, mtu: {mtu}"),
            };
            Some(PingEvent::SendFailed {
                seq,
                message,
                local_error: true,
            })
        }
        Err(e) => Some(PingEvent::SendFailed {
            seq,
            message: e.to_string(),
            local_error: false,
        }),
    };
    ev.is_none_or(emit)
}

/// The summary's times: iputils' `time` runs from the first request to the last thing that
/// happened (the final wait for replies that never came excluded); `ipg` is the mean gap
/// between requests, printed with `ewma` where iputils prints them.
fn finish(t: &mut Tally, req: &PingRequest, started: Instant) {
    t.summary.time_ms = t
        .last_activity
        .map_or(0, |a| a.duration_since(started).as_millis() as u64);
    t.summary.rtt = t.rtts.summary();
    let s = &t.summary;
    if s.received > 0 && (req.flood || req.interval_ms == 0) && s.transmitted > 1 {
        let span = t
            .last_send
            .map_or(0, |l| l.duration_since(started).as_micros());
        let ipg_us = span / u128::from(s.transmitted - 1);
        t.summary.ipg_ewma = Some([ipg_us as f64 / 1000.0, t.rtts.ewma_ms()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_summary_matches_iputils_definition() {
        let mut r = Rtts::default();
        assert!(r.summary().is_none());
        for x in [1.0, 2.0, 3.0] {
            r.add(x);
        }
        let [min, avg, max, mdev] = r.summary().unwrap();
        assert_eq!((min, avg, max), (1.0, 2.0, 3.0));
        assert!((mdev - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn ewma_is_iputils_integer_average() {
        // iputils: rtt = 8·t first, then rtt += t − rtt/8 (µs); printed rtt/8.
        let mut r = Rtts::default();
        for ms in [0.100, 0.200, 0.300] {
            r.add(ms);
        }
        // 800 → 800 + 200 − 100 = 900 → 900 + 300 − 112 = 1088; 1088 / 8 = 136 µs.
        assert_eq!(r.ewma_ms(), 0.136);
    }

    #[test]
    fn payload_depends_on_sequence_or_repeats_the_pattern() {
        assert_ne!(payload(1, 56, None), payload(2, 56, None));
        assert_eq!(payload(7, 100, None).len(), 100);
        let p = payload(7, 5, Some(&[0xab, 0x0c]));
        assert_eq!(p, [0xab, 0x0c, 0xab, 0x0c, 0xab]);
        assert_eq!(payload(8, 5, Some(&[0xab, 0x0c])), p);
    }

    fn tally() -> Tally {
        Tally {
            sent: HashMap::new(),
            summary: PingSummary::default(),
            rtts: Rtts::default(),
            next_seq: 1,
            last_send: None,
            last_activity: None,
        }
    }

    #[test]
    fn flood_is_paced_by_replies_and_preload() {
        let mut req = ok();
        req.flood = true;
        req.interval_ms = 0;
        req.preload = Some(3);
        let p = Pacer::new(&req);
        let now = Instant::now();
        let mut t = tally();
        assert_eq!(p.next(&t, now), now);
        t.last_send = Some(now);
        t.summary.transmitted = 3;
        // Three unanswered: the next one waits for a reply, or 10 ms.
        assert_eq!(p.next(&t, now), now + FLOOD_FLOOR);
        t.summary.received = 1;
        assert_eq!(p.next(&t, now), now);
        // With -i, a flood keeps its interval; -l sends a first burst.
        req.interval_ms = 200;
        let p = Pacer::new(&req);
        t.summary.transmitted = 2;
        assert_eq!(p.next(&t, now), now);
        t.summary.transmitted = 3;
        assert_eq!(p.next(&t, now), now + Duration::from_millis(200));
    }

    #[test]
    fn ipg_ewma_only_where_iputils_prints_it() {
        let started = Instant::now();
        let mut t = tally();
        t.summary.transmitted = 5;
        t.summary.received = 5;
        t.rtts.add(0.05);
        t.last_send = Some(started + Duration::from_micros(4 * 1234));
        let mut req = ok();
        finish(&mut t, &req, started);
        assert_eq!(t.summary.ipg_ewma, None, "1 s interval, no flood");
        req.flood = true;
        finish(&mut t, &req, started);
        assert_eq!(t.summary.ipg_ewma, Some([1.234, 0.05]));
        t.summary.transmitted = 1;
        t.summary.ipg_ewma = None;
        finish(&mut t, &req, started);
        assert_eq!(t.summary.ipg_ewma, None, "one request has no gap");
    }

    fn ok() -> PingRequest {
        PingRequest {
            dst: "198.18.0.1".parse().unwrap(),
            count: Some(1),
            size: 56,
            interval_ms: 1000,
            timeout_ms: 1000,
            deadline_ms: None,
            ttl: None,
            flood: false,
            preload: None,
            pattern: None,
            pmtudisc: None,
            source: None,
        }
    }

    #[test]
    fn icmpv6_errors_in_ping6_words() {
        let mut t = tally();
        t.sent.insert(
            1,
            Sent {
                at: Instant::now(),
                answered: false,
                errored: false,
            },
        );
        t.sent.insert(2, t.sent[&1]);
        let error = |icmp_type, code, next_hop_mtu| ustack::IcmpError {
            from: "2001:2:0:1::2".parse().unwrap(),
            ttl: 63,
            icmp_type,
            code,
            original_dst: "[2001:2:0:3::2]:0".parse().unwrap(),
            next_hop_mtu,
        };
        let none = |_| Vec::new();
        let message = |ev| match ev {
            Some(PingEvent::Error { message, .. }) => message,
            e => panic!("{e:?}"),
        };
        let ptb = EchoEvent::Error {
            error: error(2, 0, 1400),
            seq: 1,
        };
        assert_eq!(
            message(t.on_echo(ptb, &[], &none)),
            "Packet too big: mtu=1400"
        );
        let hop = EchoEvent::Error {
            error: error(3, 0, 0),
            seq: 2,
        };
        assert_eq!(
            message(t.on_echo(hop, &[], &none)),
            "Time exceeded: Hop limit"
        );
        assert_eq!(t.summary.errors, 2);
    }

    #[test]
    fn refusals() {
        let ok = ok();
        assert!(check(&ok).is_ok());
        let bad = |f: &dyn Fn(&mut PingRequest)| {
            let mut r = ok.clone();
            f(&mut r);
            check(&r).is_err()
        };
        assert!(bad(&|r| r.count = Some(0)));
        assert!(bad(&|r| r.size = 65508));
        assert!(bad(&|r| r.interval_ms = 0));
        assert!(bad(&|r| r.ttl = Some(0)));
        assert!(bad(&|r| r.dst = "0.0.0.0".parse().unwrap()));
        assert!(bad(&|r| r.preload = Some(0)));
        assert!(bad(&|r| r.pattern = Some("xyz".into())));
        // ICMPv6 echo carries 20 bytes more: the IPv6 payload length less its 8-byte header.
        let v6 = |size| {
            let mut r = ok.clone();
            r.dst = "2001:2::1".parse().unwrap();
            r.size = size;
            check(&r)
        };
        assert!(v6(MAX_SIZE6).is_ok());
        assert!(v6(MAX_SIZE6 + 1).is_err());
        let ours = "198.18.0.2".parse().unwrap();
        let mut r = ok.clone();
        r.source = Some(ours);
        assert!(check_source(&r, ours).is_ok());
        r.source = Some("10.9.9.9".parse().unwrap());
        let e = check_source(&r, ours).unwrap_err();
        assert!(e.contains("Cannot assign requested address"), "{e}");
    }
}
