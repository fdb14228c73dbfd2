//! `raw`: a raw socket of the stack driven over the control socket. The request opens the
//! socket (protocol and filter for the copies it receives), claims its ports, sends its
//! packets exactly as given — each to a destination the target rule allows
//! ([`crate::daemon::jobs::guard`]) — answers `raw_open`, then streams a `packet` reply per
//! copy until `count`, `timeout_ms` or the client half-closes, then `raw_done` and `end`.

use super::Flow;
use crate::daemon::jobs::guard;
use crate::daemon::proto::{
    from_hex, to_hex, Body, End, ErrorCode, Packet, RawClaim, RawDone, RawOpen, RawRequest,
};
use crate::daemon::server::{Conn, Ctx};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tun_bridge::aio::RawSocket;
use ustack::filter::Filter;
use ustack::RawOptions;

/// Most packets one request may send.
pub(crate) const MAX_SEND: usize = 1024;

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: RawRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let (socket, open) = match open(ctx, &req).await {
        Ok(x) => x,
        Err(msg) => {
            out.error(id, ErrorCode::BadRequest, msg).await;
            return Flow::Close;
        }
    };
    out.event(id, Body::RawOpen(open));
    let limit = req.count.unwrap_or(u64::MAX);
    let wait = Duration::from_millis(req.timeout_ms.unwrap_or(1000));
    let copies = async {
        let mut buf = vec![0u8; 65_536];
        let mut n = 0;
        while n < limit {
            let Ok(len) = socket.recv(&mut buf).await else {
                break;
            };
            n += 1;
            let packet = Packet {
                time_us: now_us(),
                dir: "in".into(),
                len,
                hex: to_hex(&buf[..len.min(buf.len())]),
            };
            out.event(id, Body::Packet(packet));
        }
    };
    let reason = tokio::select! {
        () = copies => "count",
        () = tokio::time::sleep(wait) => "timeout",
        () = lines.until_eof() => "client finished",
    };
    let info = socket.info().unwrap_or_default();
    let done = RawDone {
        received: info.received,
        dropped: info.dropped,
        sent: info.sent,
    };
    out.event(id, Body::RawDone(done));
    let end = End {
        reason: reason.into(),
        lost: out.lost_total(),
    };
    out.last(id, Body::End(end)).await;
    Flow::Close
}

/// Checks the request, opens the socket, claims and sends.
async fn open(ctx: &Rc<Ctx>, req: &RawRequest) -> Result<(RawSocket, RawOpen), String> {
    if req.send.len() > MAX_SEND {
        return Err(format!("send: at most {MAX_SEND} packets per request"));
    }
    let config = ctx.net.with_stack(|s| s.config().clone());
    let mut packets = Vec::with_capacity(req.send.len());
    for (i, hex) in req.send.iter().enumerate() {
        let p = from_hex(hex).ok_or_else(|| format!("send[{i}]: not hex"))?;
        let dst = destination(&p).ok_or_else(|| {
            format!("send[{i}]: not an IPv4 or IPv6 packet with a destination address")
        })?;
        guard::check_target(dst, &config, req.i_own_the_network)
            .map_err(|e| format!("send[{i}]: {e}"))?;
        packets.push(p);
    }
    let filter = match req.filter.as_deref() {
        None | Some("") => None,
        Some(f) => Some(Filter::parse(f).map_err(|e| format!("filter: {e}"))?),
    };
    let options = RawOptions {
        protocol: req.protocol,
        filter,
        send_only: false,
    };
    let socket = RawSocket::open(&ctx.net, options).map_err(|e| format!("raw socket: {e}"))?;
    let mut claims = Vec::new();
    for c in &req.claim {
        let port = socket
            .claim(c.protocol, c.port)
            .map_err(|e| format!("claim {}/{}: {e}", c.protocol, c.port))?;
        claims.push(RawClaim { port, ..*c });
    }
    for (i, p) in packets.iter().enumerate() {
        socket
            .send(p)
            .await
            .map_err(|e| format!("send[{i}]: {e}"))?;
    }
    let sent = packets.len() as u64;
    Ok((socket, RawOpen { claims, sent }))
}

/// The destination address of an IPv4 or IPv6 packet, read from its header.
pub(crate) fn destination(p: &[u8]) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => {
            let b: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
