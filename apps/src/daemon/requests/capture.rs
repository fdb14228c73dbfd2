//! `capture`: packets in and out of the stack that match a tcpdump filter, as a stream.
//!
//! The filter is compiled here and runs in the loop's capture hub, so only matching packets are
//! copied. Each client has a bounded queue in the hub (`queue` packets); this task moves packets
//! from it to the connection's outgoing queue, waiting there for room, so the one place a packet
//! is lost is the hub, before it is copied or formatted: what does not fit is counted, never
//! waited for, and reported to the client (`lost` lines, `captured.drops`). A client that stops
//! reading loses packets, the stack and the other clients do not notice; one that reads
//! nothing for the writer's stall timeout is dropped.
//!
//! With `"framing":"binary"` the hub appends each packet's frame to one buffer for this client
//! (cut to `snaplen`), and this task hands the whole buffer to the writer once the writer has
//! sent the previous one — a copy per packet on the loop and a write per batch, no per-packet
//! formatting; the losses stay in the hub, reported as lost frames.

use super::Flow;
use crate::daemon::capture::{frames, Filter, Subscription};
use crate::daemon::conn::Outbox;
use crate::daemon::proto::{Body, CaptureRequest, Captured, Capturing, End, ErrorCode, Lost};
use crate::daemon::server::{ClientDrop, Conn, Ctx};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Most packets a client may ask the hub to queue for it.
pub(crate) const MAX_QUEUE: usize = 65_536;
/// How long a binary capture lets frames gather after the first before it sends them (less if
/// half its queue fills first): a busy stack then pays a wake-up and a write per batch, not per
/// loop turn, and a terminal still sees packets within a blink (tcpdump's own buffer timeout is
/// a second).
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

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
    let binary = match req.framing.as_deref() {
        None | Some("json") => false,
        Some("binary") => true,
        Some(other) => {
            let msg = format!("framing: unknown {other:?} (json or binary)");
            conn.out.error(id, ErrorCode::BadRequest, msg).await;
            return Flow::Close;
        }
    };
    // tcpdump's -s 0: the whole packet.
    let snaplen = match req.snaplen {
        None | Some(0) => frames::MAX_CAPLEN,
        Some(n) => (n as usize).min(frames::MAX_CAPLEN),
    };
    let subscribed = if binary {
        hub.subscribe_frames(filter, queue, snaplen)
    } else {
        hub.subscribe(filter, queue)
    };
    let mut sub = match subscribed {
        Ok(s) => s,
        Err(e) => {
            ctx.counters.count(ClientDrop::TooManyCaptures);
            conn.out.error(id, ErrorCode::Failed, e.to_string()).await;
            return Flow::Close;
        }
    };
    let capturing = Capturing {
        filter: req.filter.clone(),
        queue,
        framing: binary.then(|| "binary".to_string()),
        snaplen: binary.then_some(snaplen as u32),
    };
    if !conn.out.reply(id, Body::Capturing(capturing)).await {
        return Flow::Close;
    }
    let Conn { mut lines, out } = conn;
    let (reason, sent) = {
        let stop = lines.until_eof();
        tokio::pin!(stop);
        let mut sent = 0u64;
        let reason = loop {
            let left = req.count.map_or(u64::MAX, |n| n - sent.min(n));
            if left == 0 {
                break "count reached";
            }
            tokio::select! {
                () = &mut stop => break "client finished",
                r = forward(&mut sub, &out, id, binary, left) => match r {
                    Ok(n) => sent += n,
                    Err(why) => break why,
                },
            }
        };
        (reason, sent)
    };
    let mut sent = sent;
    if binary {
        // What the hub holds when the client finishes (a batch still gathering) is the client's:
        // it goes out before the end frame, up to the count.
        if reason == "client finished" {
            if let Some(mut batch) = sub.try_frames() {
                let left = req.count.map_or(u64::MAX, |n| n - sent.min(n));
                let (n, cut) = frames::count_packets(&batch, left);
                batch.truncate(cut);
                if n > 0 && out.raw(batch).await {
                    sent += n;
                }
            }
        }
        let mut end = Vec::with_capacity(frames::HEADER_LEN);
        frames::put_end(&mut end);
        out.raw(end).await;
    }
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

/// Takes the next packet (binary: every frame queued, at most `left` packets) from the hub and
/// queues it to the client, waiting for room in the client's queue (meanwhile the hub's queue
/// fills, and the hub drops — before copying or formatting anything). Packets the hub dropped
/// since the last report go first, as a `lost` line or frame. Returns the packets queued.
async fn forward(
    sub: &mut Subscription,
    out: &Outbox,
    id: u64,
    binary: bool,
    left: u64,
) -> Result<u64, &'static str> {
    let (packet, batch) = if binary {
        // One batch at a time: the next is taken once the writer has the last one out, so
        // what waits for a slow client is bounded by the hub's queue, not 256 batches of it.
        if !out.drained().await {
            return Err("client gone");
        }
        let Some(mut batch) = sub.next_frames(LINGER).await else {
            return Err("the stack stopped");
        };
        let (n, cut) = frames::count_packets(&batch, left);
        batch.truncate(cut);
        (None, Some((n, batch)))
    } else {
        let Some(p) = sub.recv_shared().await else {
            return Err("the stack stopped");
        };
        (Some(p), None)
    };
    let dropped = sub.dropped();
    let unreported = dropped - out.lost_total().min(dropped);
    if unreported > 0 {
        let told = if binary {
            let mut lost = Vec::with_capacity(frames::HEADER_LEN);
            frames::put_lost(&mut lost, unreported);
            out.raw(lost).await
        } else {
            out.reply(id, Body::Lost(Lost { count: unreported })).await
        };
        if !told {
            return Err("client gone");
        }
        out.add_lost(unreported);
    }
    let queued = match (packet, batch) {
        (Some(p), _) => out.packet(id, p).await.then_some(1),
        (None, Some((n, batch))) => out.raw(batch).await.then_some(n),
        (None, None) => None,
    };
    queued.ok_or("client gone")
}
