//! `trace`: a traceroute from inside the stack (the job is [`crate::daemon::jobs::trace`]); one `trace`
//! reply per event, then `end`. A client that half-closes stops it where it is (`end` says
//! "client finished"). The same job serves `ustack trace` attached to a daemon and on its own
//! stack; the probes are ordinary sockets of the stack, so a trace — to a silent host too —
//! costs the running stack a socket or a few connections for as long as it lasts, nothing more.

use super::Flow;
use crate::daemon::jobs::trace as trace_job;
use crate::daemon::proto::{Body, ErrorCode, TraceRequest};
use crate::daemon::server::{Conn, Ctx};
use std::rc::Rc;

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: TraceRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    if let Err(e) = trace_job::validate(&req) {
        out.error(id, ErrorCode::BadRequest, e.to_string()).await;
        return Flow::Close;
    }
    let job = trace_job::trace(&ctx.net, req, |ev| {
        out.event(id, Body::Trace(ev));
    });
    super::stream_job(&out, &mut lines, id, job).await
}
