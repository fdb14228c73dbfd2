//! `ping`: echo requests from inside the stack, sent and counted the way iputils ping does;
//! one `ping` event per reply or error (`Sent` too when flooding), then the summary and `end`.
//! The same job serves `ustack ping` attached to a daemon and `ustack ping` on its own stack.

use super::Flow;
use crate::daemon::proto::{Body, End, ErrorCode, PingEvent, PingRequest, PingSummary};
use crate::daemon::server::{Conn, Ctx};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use tokio::time::{sleep_until, Duration, Instant};
use tun_bridge::aio::PingSocket;
use ustack::EchoEvent;

/// Largest ICMP payload (65535 − 20 − 8).
pub const MAX_SIZE: usize = 65507;

/// Why a request cannot run (iputils' wording where it has one).
pub fn check(req: &PingRequest) -> Result<(), String> {
    if req.count == Some(0) {
        return Err(
            "bad number of packets to transmit: 0 (use no -c to ping until stopped)".into(),
        );
    }
    if req.size > MAX_SIZE {
        return Err(format!(
            "packet size {} is too large (at most {MAX_SIZE})",
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
        return Err("ttl 0 cannot leave the host".into());
    }
    if req.dst.is_unspecified() || req.dst.is_broadcast() {
        return Err(format!("{}: not a destination", req.dst));
    }
    Ok(())
}

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: PingRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    if let Err(msg) = check(&req) {
        out.error(id, ErrorCode::BadRequest, msg).await;
        return Flow::Close;
    }
    let ours = ctx.net.with_stack(|s| s.config().addr);
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
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            out.error(id, ErrorCode::Failed, format!("echo socket: {e}"))
                .await;
            return Flow::Close;
        }
    };
    let (summary, reason) = {
        let mut emit = |ev| out.event(id, Body::Ping(ev));
        job(&sock, &req, lines.until_eof(), &mut emit).await
    };
    out.last(id, Body::Ping(PingEvent::Summary(summary))).await;
    let lost = out.lost_total();
    let end = End {
        reason: reason.into(),
        lost,
    };
    out.last(id, Body::End(end)).await;
    Flow::Close
}

/// The payload of request `seq`: a pattern that depends on the sequence number, so a reply
/// carrying another request's data (or corrupted data) is noticed.
pub fn payload(seq: u16, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u16).wrapping_mul(31).wrapping_add(seq) as u8)
        .collect()
}

/// Round-trip statistics in constant memory, as iputils computes them (mdev = population
/// standard deviation).
#[derive(Debug, Default, Clone, Copy)]
pub struct Rtts {
    n: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Rtts {
    pub fn add(&mut self, ms: f64) {
        if self.n == 0 || ms < self.min {
            self.min = ms;
        }
        if ms > self.max {
            self.max = ms;
        }
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

    fn on_echo(&mut self, ev: EchoEvent, data: &[u8], size: usize) -> Option<PingEvent> {
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
                }
                self.last_activity = Some(now);
                let shown = &data[..len.min(data.len())];
                let bad_data = len != size || shown != &payload(seq, size)[..];
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
                Some(PingEvent::Error {
                    seq,
                    from: error.from,
                    message: error.description().to_string(),
                })
            }
        }
    }
}

/// Runs the pings until done, the deadline, or `stop`; returns the summary and why it ended.
pub(crate) async fn job(
    sock: &PingSocket,
    req: &PingRequest,
    stop: impl Future<Output = ()>,
    emit: &mut dyn FnMut(PingEvent) -> bool,
) -> (PingSummary, &'static str) {
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    let started = Instant::now();
    let deadline = req.deadline_ms.map(|d| started + Duration::from_millis(d));
    let interval = Duration::from_millis(req.interval_ms);
    let wait = Duration::from_millis(req.timeout_ms);
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
    });
    let mut buf = vec![0u8; 65536];
    let mut next_send = started;
    tokio::pin!(stop);
    let reason = loop {
        let may_send = t.may_send(req);
        if !may_send && t.all_answered() {
            break "done";
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
                    let latest = t.next_seq.wrapping_sub(1);
                    if let Some(e) = t.on_echo(ev, &buf, req.size) {
                        // Flood: the next request as soon as the latest is answered.
                        let answered_latest = matches!(
                            e,
                            PingEvent::Reply { seq, dup: false, .. } if seq == latest
                        );
                        if req.flood && answered_latest {
                            next_send = Instant::now();
                        }
                        if !emit(e) {
                            break "client gone";
                        }
                    }
                }
                Err(_) => break "the stack stopped",
            },
            () = sleep_until(next_send), if may_send => {
                let seq = t.next_seq;
                t.next_seq = seq.wrapping_add(1);
                let now = Instant::now();
                t.sent.insert(seq, Sent { at: now, answered: false, errored: false });
                t.summary.transmitted += 1;
                t.last_send = Some(now);
                t.last_activity = Some(now);
                next_send = now + interval;
                let sent = sock.send(req.dst, seq, &payload(seq, req.size)).await;
                let ev = match sent {
                    Ok(()) if req.flood => Some(PingEvent::Sent { seq }),
                    Ok(()) => None,
                    Err(e) => Some(PingEvent::SendFailed { seq, message: e.to_string() }),
                };
                if ev.is_some_and(|e| !emit(e)) {
                    break "client gone";
                }
            },
            () = sleep_until(final_wait) => break "done",
        }
    };
    // iputils' `time`: from the first request to the last thing that happened, the final wait
    // for replies that never came excluded.
    t.summary.time_ms = t
        .last_activity
        .map_or(0, |a| a.duration_since(started).as_millis() as u64);
    t.summary.rtt = t.rtts.summary();
    (t.summary, reason)
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
    fn payload_depends_on_sequence() {
        assert_ne!(payload(1, 56), payload(2, 56));
        assert_eq!(payload(7, 100).len(), 100);
    }

    #[test]
    fn refusals() {
        let ok = PingRequest {
            dst: "198.18.0.1".parse().unwrap(),
            count: Some(1),
            size: 56,
            interval_ms: 1000,
            timeout_ms: 1000,
            deadline_ms: None,
            ttl: None,
            flood: false,
        };
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
    }
}
