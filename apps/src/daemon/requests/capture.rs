//! `capture`: packets in and out of the stack that match a tcpdump filter, as a stream.
//!
//! The filter is compiled here and runs in the loop's capture hub, so only matching packets are
//! copied. Each client has a bounded queue in the hub (`queue` packets) and the connection's own
//! bounded outgoing queue; whatever does not fit is counted, never waited for: a client that
//! stops reading loses packets, the stack and the other clients do not notice.

use super::Flow;
use crate::daemon::capture::{CapturedPacket, Filter};
use crate::daemon::proto::{Body, CaptureRequest, Captured, Capturing, End, ErrorCode, Packet};
use crate::daemon::server::{Conn, Ctx};
use std::fmt::Write;
use std::rc::Rc;
use std::time::UNIX_EPOCH;
use tun_bridge::Direction;

/// Most packets a client may ask the hub to queue for it.
pub(crate) const MAX_QUEUE: usize = 65_536;

fn packet(p: &CapturedPacket) -> Body {
    let mut hex = String::with_capacity(2 * p.data.len());
    for b in &p.data {
        let _ = write!(hex, "{b:02x}");
    }
    Body::Packet(Packet {
        time_us: p
            .ts
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        dir: match p.dir {
            Direction::In => "in".into(),
            Direction::Out => "out".into(),
        },
        len: p.data.len(),
        hex,
    })
}

pub(crate) async fn run(ctx: &Rc<Ctx>, mut conn: Conn, id: u64, req: CaptureRequest) -> Flow {
    let filter = match Filter::parse(&req.filter) {
        Ok(f) => f,
        Err(e) => {
            conn.out
                .error(id, ErrorCode::BadRequest, format!("filter: {e}"));
            conn.lines.linger().await;
            return Flow::Close;
        }
    };
    let Some(hub) = ctx.info.capture.as_ref() else {
        conn.out.error(
            id,
            ErrorCode::Failed,
            "this daemon was started without a capture hub",
        );
        return Flow::Close;
    };
    let queue = req
        .queue
        .unwrap_or(crate::daemon::capture::hub::DEFAULT_QUEUE)
        .clamp(1, MAX_QUEUE);
    let mut sub = match hub.subscribe(filter, queue) {
        Ok(s) => s,
        Err(e) => {
            conn.out.error(id, ErrorCode::Failed, e.to_string());
            return Flow::Close;
        }
    };
    conn.out.reply(
        id,
        Body::Capturing(Capturing {
            filter: req.filter.clone(),
            queue,
        }),
    );
    let Conn { mut lines, out } = conn;
    let stop = lines.until_eof();
    tokio::pin!(stop);
    let mut sent = 0u64;
    let reason = loop {
        if req.count.is_some_and(|n| sent >= n) {
            break "count reached";
        }
        tokio::select! {
            () = &mut stop => break "client finished",
            p = sub.recv() => match p {
                Some(p) => {
                    // Lossy: a full connection queue counts the packet lost, never waits.
                    if !out.event(id, packet(&p)) {
                        break "client gone";
                    }
                    sent += 1;
                }
                None => break "the stack stopped",
            },
        }
    };
    let lost = out.lost_total();
    let counts = Captured {
        matched: sub.matched(),
        sent: sent - lost.min(sent),
        dropped: sub.dropped() + lost,
    };
    drop(sub);
    if out.last(id, Body::Captured(counts)).await {
        let end = End {
            reason: reason.into(),
            lost,
        };
        out.last(id, Body::End(end)).await;
    }
    Flow::Close
}
