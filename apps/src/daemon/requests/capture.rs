//! `capture`: packets in and out of the stack that match a tcpdump filter, as a stream.
//!
//! The filter is compiled here and runs in the loop's capture hub, so only matching packets are
//! copied. Each client has a bounded queue in the hub (`queue` packets); this task moves packets
//! from it to the connection's outgoing queue, waiting there for room, so the one place a packet
//! is lost is the hub, before it is copied or formatted: what does not fit is counted, never
//! waited for, and reported to the client (`lost` lines, `captured.drops`). A client that stops
//! reading loses packets, the stack and the other clients do not notice; one that reads
//! nothing for the writer's stall timeout is dropped.

use super::Flow;
use crate::daemon::capture::{Filter, Subscription};
use crate::daemon::conn::Outbox;
use crate::daemon::proto::{Body, CaptureRequest, Captured, Capturing, End, ErrorCode, Lost};
use crate::daemon::server::{ClientDrop, Conn, Ctx};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Most packets a client may ask the hub to queue for it.
pub(crate) const MAX_QUEUE: usize = 65_536;

pub(crate) async fn run(ctx: &Rc<Ctx>, mut conn: Conn, id: u64, req: CaptureRequest) -> Flow {
    let filter = match Filter::parse(&req.filter) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("filter: {e}");
            conn.out.error(id, ErrorCode::BadRequest, msg).await;
            conn.lines.linger().await;
            return Flow::Close;
        }
    };
    let Some(hub) = ctx.info.capture.as_ref() else {
        let msg = "this daemon was started without a capture hub";
        conn.out.error(id, ErrorCode::Failed, msg).await;
        return Flow::Close;
    };
    let queue = req
        .queue
        .unwrap_or(crate::daemon::capture::hub::DEFAULT_QUEUE)
        .clamp(1, MAX_QUEUE);
    let mut sub = match hub.subscribe(filter, queue) {
        Ok(s) => s,
        Err(e) => {
            ctx.counters.count(ClientDrop::TooManyCaptures);
            conn.out.error(id, ErrorCode::Failed, e.to_string()).await;
            return Flow::Close;
        }
    };
    let filter = req.filter.clone();
    if !conn
        .out
        .reply(id, Body::Capturing(Capturing { filter, queue }))
        .await
    {
        return Flow::Close;
    }
    let Conn { mut lines, out } = conn;
    let (reason, sent) = {
        let stop = lines.until_eof();
        tokio::pin!(stop);
        let mut sent = 0u64;
        let reason = loop {
            if req.count.is_some_and(|n| sent >= n) {
                break "count reached";
            }
            tokio::select! {
                () = &mut stop => break "client finished",
                r = forward(&mut sub, &out, id) => match r {
                    Ok(()) => sent += 1,
                    Err(why) => break why,
                },
            }
        };
        (reason, sent)
    };
    let dropped = sub.dropped();
    ctx.counters.capture_dropped(dropped);
    let counts = Captured {
        matched: sub.matched(),
        sent,
        dropped,
        drops: BTreeMap::from([("queue_full".to_string(), dropped)]),
    };
    drop(sub);
    if out.last(id, Body::Captured(counts)).await {
        let reason = reason.into();
        out.last(
            id,
            Body::End(End {
                reason,
                lost: dropped,
            }),
        )
        .await;
    }
    Flow::Close
}

/// Takes the next packet from the hub and queues it to the client, waiting for room in the
/// client's queue (meanwhile the hub's queue fills, and the hub drops — before copying or
/// formatting anything). Packets the hub dropped since the last one are reported first, as a
/// `lost` line.
async fn forward(sub: &mut Subscription, out: &Outbox, id: u64) -> Result<(), &'static str> {
    let Some(p) = sub.recv_shared().await else {
        return Err("the stack stopped");
    };
    let dropped = sub.dropped();
    let unreported = dropped - out.lost_total().min(dropped);
    if unreported > 0 {
        if !out.reply(id, Body::Lost(Lost { count: unreported })).await {
            return Err("client gone");
        }
        out.add_lost(unreported);
    }
    if out.packet(id, p).await {
        Ok(())
    } else {
        Err("client gone")
    }
}
