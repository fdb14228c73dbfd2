//! `send`: hping3's crafted probes from inside the stack (the engine is
//! [`crate::daemon::jobs::send`]); one `send` event per reply or ICMP error (none while
//! flooding: counted, as hping3 shows none), then the summary and `end`. A client that
//! half-closes (Ctrl-C) stops it at once; the summary still comes. The same job serves `ustack
//! send` attached to a daemon and on its own stack.
//!
//! The probes go out through a raw socket as built, and the replies come back as its copies.
//! By default the stack answers what the probes provoke as the kernel does for hping3 (an RST
//! to a SYN-ACK for a port it does not know); with `stack_rst: false` (`--no-rst`) the job
//! claims its source ports, so those replies reach it alone and the stack stays silent.

use super::Flow;
use crate::daemon::conn::Outbox;
use crate::daemon::jobs::guard;
use crate::daemon::jobs::send::{Engine, Rng, Spec};
use crate::daemon::proto::{Body, End, ErrorCode, SendEvent, SendMode, SendRequest};
use crate::daemon::server::{Conn, Ctx};
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use tokio::time::{sleep_until, Duration, Instant};
use tun_bridge::aio::RawSocket;
use ustack::filter::Filter;
use ustack::RawOptions;

/// Probes sent back to back before the job looks at Ctrl-C and the replies again.
const BATCH: u32 = 64;

/// Events a probe may cause (its reply or error, a failure).
const EVENTS_PER_PROBE: usize = 2;

/// The stack's address and prefix length for `dst`'s family, or why it cannot send there.
fn source(config: &ustack::Config, req: &SendRequest) -> Result<(IpAddr, u8), String> {
    let (ours, len) = match req.dst {
        IpAddr::V4(_) => (IpAddr::V4(config.addr), config.prefix_len),
        IpAddr::V6(_) => match config.addr6 {
            Some(a) => (IpAddr::V6(a), 64),
            None => {
                return Err(format!(
                    "{} is IPv6 and the stack has no IPv6 address (ustack up without --no-ipv6)",
                    req.dst
                ))
            }
        },
    };
    guard::check_target(req.dst, config, req.i_own_the_network).map_err(|e| e.to_string())?;
    if req.dst == ours {
        return Err(format!(
            "{ours} is the stack's own address, and ustack has no loopback: probe another host \
             (the kernel side, or a lab host)"
        ));
    }
    Ok((ours, len))
}

/// The raw socket of a job: copies of what comes from the target, and every ICMP error.
fn open_socket(ctx: &Ctx, engine: &Engine) -> Result<RawSocket, String> {
    let dst = engine.spec().req.dst;
    let icmp = if dst.is_ipv6() { "icmp6" } else { "icmp" };
    let filter = Filter::parse(&format!("src host {dst} or {icmp}"))
        .map_err(|e| format!("filter: {}", e.message()))?;
    let options = RawOptions {
        protocol: None,
        filter: Some(filter),
        send_only: false,
    };
    let raw = RawSocket::open(&ctx.net, options).map_err(|e| format!("raw socket: {e}"))?;
    if !engine.spec().req.stack_rst {
        let protocol = match engine.spec().req.mode {
            SendMode::Tcp => 6,
            SendMode::Udp => 17,
            _ => return Err("--no-rst: only TCP and UDP probes have ports to claim".into()),
        };
        let ports = engine.source_ports().ok_or(
            "--no-rst claims the source ports: keep one (-k) or send at most 64 probes (-c)",
        )?;
        for p in ports {
            raw.claim(protocol, p)
                .map_err(|e| format!("--no-rst: cannot claim port {p}: {e}"))?;
        }
    }
    Ok(raw)
}

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: SendRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let spec = match Spec::new(&req) {
        Ok(s) => s,
        Err(e) => {
            out.error(id, ErrorCode::BadRequest, e.to_string()).await;
            return Flow::Close;
        }
    };
    let (ours, prefix_len) = match ctx.net.with_stack(|s| source(s.config(), &req)) {
        Ok(x) => x,
        Err(msg) => {
            out.error(id, ErrorCode::BadRequest, msg).await;
            return Flow::Close;
        }
    };
    let mut engine = Engine::new(spec, ours, prefix_len, Rng::from_os());
    let raw = match open_socket(ctx, &engine) {
        Ok(r) => r,
        Err(msg) => {
            out.error(id, ErrorCode::Failed, msg).await;
            return Flow::Close;
        }
    };
    out.event(id, Body::Send(engine.start(&ctx.info.tun)));
    let reason = job(&raw, &mut engine, lines.until_eof(), &out, id).await;
    let summary = SendEvent::Summary(engine.summary());
    out.last(id, Body::Send(summary)).await;
    let end = End {
        reason: reason.into(),
        lost: out.lost_total(),
    };
    out.last(id, Body::End(end)).await;
    Flow::Close
}

/// Sends the probes on time and reads the copies until done (`-c` probes sent and answered, or
/// the wait after the last one over), `stop`, or the stack's end; returns why it ended.
async fn job(
    raw: &RawSocket,
    engine: &mut Engine,
    stop: impl Future<Output = ()>,
    out: &Outbox,
    id: u64,
) -> &'static str {
    let flood = engine.spec().req.flood;
    let wait = Duration::from_millis(engine.spec().req.wait_ms);
    let started = Instant::now();
    let far = started + Duration::from_secs(86400 * 365);
    let mut last_sent = started;
    let mut buf = vec![0u8; 65536];
    tokio::pin!(stop);
    loop {
        if engine.all_sent() && engine.all_answered() {
            return "done";
        }
        let all_sent = engine.all_sent();
        let due = started + engine.due(engine.next_no());
        let due_now = !all_sent && due <= Instant::now();
        if due_now {
            // A probe due now goes now (a timer would round up to the next millisecond); a
            // batch at most, then Ctrl-C and the replies get their turn.
            if !flood && !out.room_for(EVENTS_PER_PROBE).await {
                return "client gone";
            }
            let mut sent = 0;
            while sent < BATCH
                && !engine.all_sent()
                && started + engine.due(engine.next_no()) <= Instant::now()
            {
                if let Err(why) = send_one(raw, engine, started, out, id).await {
                    return why;
                }
                sent += 1;
            }
            last_sent = Instant::now();
        }
        let final_wait = if all_sent { last_sent + wait } else { far };
        tokio::select! {
            biased;
            () = &mut stop => return "client finished",
            r = raw.recv(&mut buf) => match r {
                Ok(n) => {
                    let now = started.elapsed();
                    if let Some(ev) = engine.on_packet(now, &buf[..n.min(buf.len())]) {
                        if !flood && !out.event(id, Body::Send(ev)) {
                            return "client gone";
                        }
                    }
                }
                Err(_) => return "the stack stopped",
            },
            () = std::future::ready(()), if due_now => {}
            () = sleep_until(due), if !all_sent && !due_now => {}
            () = sleep_until(final_wait), if all_sent => return "done",
        }
    }
}

/// Builds and sends the next probe (its fragments). A send that fails is reported and the job
/// goes on; a probe that cannot be built (never, once the spec is checked) ends it.
async fn send_one(
    raw: &RawSocket,
    engine: &mut Engine,
    started: Instant,
    out: &Outbox,
    id: u64,
) -> Result<(), &'static str> {
    let seq = engine.next_no();
    let (message, fatal) = match engine.next_probe(started.elapsed()) {
        Ok((_, packets)) => {
            let mut failed = None;
            for p in packets {
                if let Err(e) = raw.send(&p).await {
                    failed = Some(e.to_string());
                    break;
                }
            }
            match failed {
                Some(m) => (m, false),
                None => return Ok(()),
            }
        }
        Err(e) => (e.to_string(), true),
    };
    if !out.event(id, Body::Send(SendEvent::SendFailed { seq, message })) {
        return Err("client gone");
    }
    if fatal {
        return Err("a probe could not be built");
    }
    Ok(())
}
