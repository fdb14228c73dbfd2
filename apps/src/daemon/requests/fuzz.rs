//! `fuzz`: fuzzed packets from a template ([`crate::daemon::jobs::fuzz`]) sent at a target the
//! target rule allows ([`crate::daemon::jobs::guard`]) — or, with `inject`, fed into this
//! stack's own receive path (no rule: nothing leaves) — at a bounded rate, with a liveness
//! check after each round. Streams a `fuzz` `start` event, one `round` per round, a `hang` if a
//! check fails (the job stops there), the `summary`, then `end`. A client that half-closes
//! (Ctrl-C) stops it at once; the summary still comes.

use super::Flow;
use crate::daemon::jobs::fuzz::job::{self, Checks, Progress, Report, Sink};
use crate::daemon::jobs::fuzz::{from_bytes, parse, Fuzzer};
use crate::daemon::jobs::guard;
use crate::daemon::proto::{
    from_hex, Body, End, ErrorCode, FuzzEvent, FuzzMemory, FuzzRequest, MAX_CHECK_TIMEOUT_MS,
    MAX_COUNT, MAX_RATE, MAX_ROUND,
};
use crate::daemon::server::{Conn, Ctx};
use std::cell::RefCell;
use std::mem::take;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;
use tun_bridge::aio::RawSocket;
use ustack::wire::build::{Ipv4, Ipv6, Layer, Packet};
use ustack::RawOptions;

/// A checked request: the fuzzer, where it sends, and the checks.
struct Plan {
    fuzzer: Fuzzer,
    target: IpAddr,
    checks: Checks,
}

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: FuzzRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let plan = match plan(ctx, &req) {
        Ok(p) => p,
        Err(msg) => {
            out.error(id, ErrorCode::BadRequest, msg).await;
            return Flow::Close;
        }
    };
    let sink = match sink(ctx, &req) {
        Ok(s) => s,
        Err(msg) => {
            out.error(id, ErrorCode::Failed, msg).await;
            return Flow::Close;
        }
    };
    let before = job::memory(&ctx.net);
    let start = start_event(&plan, &req, before);
    out.last(id, Body::Fuzz(start)).await;
    let progress = RefCell::new(Progress {
        next: req.from,
        ..Progress::default()
    });
    let t0 = std::time::Instant::now();
    let seed = req.seed;
    let hung = RefCell::new(None);
    let report = |r: Report| {
        let Report::Round {
            round,
            first,
            sent,
            skipped,
            check,
            recent,
        } = r;
        let alive = check.is_ok();
        let ev = FuzzEvent::Round {
            round,
            first,
            sent,
            skipped,
            alive,
            rtt_ms: check.as_ref().ok().copied().flatten(),
        };
        out.event(id, Body::Fuzz(ev));
        if let Err(why) = check {
            let last = recent.back().map_or(first, |(n, _)| *n);
            let hang = FuzzEvent::Hang {
                round,
                first,
                last,
                seed,
                check: why,
                packets: recent.iter().map(|(n, b)| (*n, job::hex(b))).collect(),
            };
            // Sent after the job with `last` (waiting for room): it must not be lost.
            *hung.borrow_mut() = Some(hang);
        }
    };
    let params = (req.from, req.count, req.round, req.rate);
    let fuzz = job::run(
        &ctx.net,
        &plan.fuzzer,
        &sink,
        plan.checks,
        params,
        &progress,
        report,
    );
    let stopped = tokio::select! {
        () = fuzz => false,
        () = lines.until_eof() => true,
    };
    drop(sink);
    if let Some(hang) = hung.take() {
        out.last(id, Body::Fuzz(hang)).await;
    }
    let p = progress.into_inner();
    let reason = match (stopped, p.hangs) {
        (true, _) => "stopped",
        (false, 0) => "done",
        (false, _) => "hang",
    };
    let memory = (before, job::memory(&ctx.net));
    let summary = summary_event(p, &req, memory, t0.elapsed(), reason);
    out.last(id, Body::Fuzz(summary)).await;
    let end = End {
        reason: reason.into(),
        lost: out.lost_total(),
    };
    out.last(id, Body::End(end)).await;
    Flow::Close
}

/// The `summary` event.
fn summary_event(
    p: Progress,
    req: &FuzzRequest,
    (before, after): (FuzzMemory, FuzzMemory),
    elapsed: std::time::Duration,
    reason: &str,
) -> FuzzEvent {
    FuzzEvent::Summary {
        sent: p.sent,
        skipped: p.skipped,
        rounds: p.rounds,
        hangs: p.hangs,
        seed: req.seed,
        from: req.from,
        next: p.next,
        elapsed_ms: elapsed.as_millis() as u64,
        memory_before: before,
        memory_after: after,
        reason: reason.into(),
    }
}

/// Where the packets go: this stack's receive path, or a send-only raw socket.
fn sink(ctx: &Rc<Ctx>, req: &FuzzRequest) -> Result<Sink, String> {
    if req.inject {
        return Ok(Sink::Inject);
    }
    let options = RawOptions {
        send_only: true,
        ..RawOptions::default()
    };
    let config = ctx.net.with_stack(|s| s.config().clone());
    let raw = RawSocket::open(&ctx.net, options).map_err(|e| format!("raw socket: {e}"))?;
    Ok(Sink::Send(raw, Box::new(config), req.i_own_the_network))
}

/// The `start` event: what runs, and the memory before.
fn start_event(plan: &Plan, req: &FuzzRequest, memory: FuzzMemory) -> FuzzEvent {
    let check = match (plan.checks.ping, plan.checks.tcp) {
        (true, Some(p)) => format!("ping,tcp:{p}"),
        (true, None) => "ping".into(),
        (false, Some(p)) => format!("tcp:{p}"),
        (false, None) => "none".into(),
    };
    FuzzEvent::Start {
        mode: if req.inject { "inject" } else { "send" }.into(),
        target: plan.target,
        template: plan.fuzzer.template().to_string(),
        fields: plan
            .fuzzer
            .targets()
            .iter()
            .map(|t| t.to_string())
            .collect(),
        seed: req.seed,
        from: req.from,
        count: req.count,
        rate: req.rate,
        round: req.round,
        check,
        memory,
    }
}

/// Checks the request's bounds, parses the template, settles the destination and the source,
/// and applies the target rule (to sending; an injected packet leaves nothing).
fn plan(ctx: &Rc<Ctx>, req: &FuzzRequest) -> Result<Plan, String> {
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(format!("count: 1 ..= {MAX_COUNT}"));
    }
    if req.rate == 0 || req.rate > MAX_RATE {
        return Err(format!("rate: 1 ..= {MAX_RATE} packets a second"));
    }
    if req.round == 0 || req.round > MAX_ROUND {
        return Err(format!("round: 1 ..= {MAX_ROUND} packets"));
    }
    if req.check_timeout_ms == 0 || req.check_timeout_ms > MAX_CHECK_TIMEOUT_MS {
        return Err(format!("check_timeout_ms: 1 ..= {MAX_CHECK_TIMEOUT_MS}"));
    }
    let template = match (&req.template, &req.packet) {
        (Some(t), None) => parse(t).map_err(|e| format!("template: {e}"))?,
        (None, Some(hex)) => {
            let bytes = from_hex(hex).ok_or("packet: not hex")?;
            from_bytes(&bytes).ok_or("packet: shorter than an IP header")?
        }
        _ => return Err("give one of template (an expression) and packet (hex)".into()),
    };
    let config = ctx.net.with_stack(|s| s.config().clone());
    let (template, target) = destination(template, req, &config)?;
    let own: Option<IpAddr> = match target {
        IpAddr::V4(_) => Some(config.addr.into()),
        IpAddr::V6(_) => config.addr6.map(IpAddr::from),
    };
    // The kernel side: its address (IPv6: the /64's ::1, where ustack up puts it).
    let host = match target {
        IpAddr::V4(_) => IpAddr::V4(ctx.info.host_addr),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & !0xffff_ffff_ffff_ffff | 1)),
    };
    let template = if req.inject {
        // As if from the kernel side.
        template.with_source_if_unset(host)
    } else {
        guard::check_target(target, &config, req.i_own_the_network).map_err(|e| e.to_string())?;
        match own {
            Some(a) => template.with_source_if_unset(a),
            None => return Err(format!("{target}: the stack has no address of that family")),
        }
    };
    let fuzzer = Fuzzer::new(template, &req.fields, req.fuzz_computed, req.seed)?;
    // An injected packet's checks go to the kernel side, through the stack.
    let check_target = if req.inject { host } else { target };
    Ok(Plan {
        fuzzer,
        target,
        checks: Checks {
            target: check_target,
            ping: req.check_ping,
            tcp: req.check_tcp,
            timeout: Duration::from_millis(req.check_timeout_ms),
        },
    })
}

/// The template with its outermost IP layer's destination set (an IP layer put under a
/// template that has none), and that destination: the template's own, else `target`, else
/// (inject) the stack's address.
fn destination(
    mut template: Packet,
    req: &FuzzRequest,
    config: &ustack::Config,
) -> Result<(Packet, IpAddr), String> {
    let given = template.destination().filter(|a| !a.is_unspecified());
    let dst = match (given, req.target) {
        (Some(a), _) => a,
        (None, Some(t)) => t,
        (None, None) if req.inject => IpAddr::V4(config.addr),
        (None, None) => {
            return Err("no destination: set ip(dst=…) in the template or give a target".into())
        }
    };
    if template.destination().is_none() {
        template = match dst {
            IpAddr::V4(_) => Packet::from(Ipv4::new()) / template,
            IpAddr::V6(_) => Packet::from(Ipv6::new()) / template,
        };
    }
    let outer = template
        .layers_mut()
        .iter_mut()
        .find(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)));
    match (outer, dst) {
        (Some(Layer::Ipv4(ip)), IpAddr::V4(a)) => *ip = take(ip).dst(a),
        (Some(Layer::Ipv6(ip)), IpAddr::V6(a)) => *ip = take(ip).dst(a),
        _ => return Err(format!("target {dst} is not of the template's IP family")),
    }
    Ok((template, dst))
}
