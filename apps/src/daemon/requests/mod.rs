//! One module per request: this is the extension point (docs/CONTROL.md, "Adding a request").
//! A new request is a variant of [`crate::daemon::proto::Request`], its parameter and reply
//! types in a file of `proto/`, a module here, and one arm in [`dispatch`]; a long-running
//! engine behind it goes in `jobs/` (docs/CONTROL.md, "Adding a tool").
//!
//! One-shot requests return a `Body` and the connection goes on; streams (events, ping,
//! connect, capture, trace) own the connection until they end, then it is closed.

pub(crate) mod capture;
pub(crate) mod connect;
pub(crate) mod events;
pub(crate) mod filter;
pub(crate) mod fuzz;
pub(crate) mod hello;
pub(crate) mod ping;
pub(crate) mod raw;
pub(crate) mod scan;
pub(crate) mod send;
pub(crate) mod sockets;
pub(crate) mod stats;
pub(crate) mod trace;

use super::proto::{Body, Request};
use super::server::{Conn, Ctx};
use std::rc::Rc;

/// What the connection does after a request.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Read the next request.
    Continue(Conn),
    /// Close it.
    Close,
}

/// Runs request `req` (with id `id`) of the client on `conn`.
pub(crate) async fn dispatch(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: Request) -> Flow {
    match req {
        Request::Hello => answer(conn, id, hello::handle(ctx)).await,
        Request::Stats => answer(conn, id, stats::handle(ctx)).await,
        Request::Sockets => answer(conn, id, sockets::handle(ctx)).await,
        Request::Events(r) => events::run(ctx, conn, id, r).await,
        Request::Ping(r) => ping::run(ctx, conn, id, r).await,
        Request::Connect(r) => connect::run(ctx, conn, id, r).await,
        Request::Capture(r) => capture::run(ctx, conn, id, r).await,
        Request::Trace(r) => trace::run(ctx, conn, id, r).await,
        Request::Raw(r) => raw::run(ctx, conn, id, r).await,
        Request::Filter(r) => answer(conn, id, filter::handle(ctx, r)).await,
        Request::Scan(r) => scan::run(ctx, conn, id, r).await,
        Request::Send(r) => send::run(ctx, conn, id, r).await,
        Request::Fuzz(r) => fuzz::run(ctx, conn, id, r).await,
    }
}

/// Runs a streaming job until it ends (`end` with "done") or the client half-closes (`end`
/// with "client finished"; the job is dropped where it is); a job's error is the request's
/// error — `bad_request` for `InvalidInput`, else `failed`. Then the connection closes.
async fn stream_job(
    out: &crate::daemon::conn::Outbox,
    lines: &mut crate::daemon::conn::LineReader,
    id: u64,
    job: impl std::future::Future<Output = std::io::Result<()>>,
) -> Flow {
    use crate::daemon::proto::{Body, End, ErrorCode};
    let result = tokio::select! {
        r = job => r.map(|()| "done"),
        () = lines.until_eof() => Ok("client finished"),
    };
    match result {
        Ok(reason) => {
            let end = End {
                reason: reason.into(),
                lost: out.lost_total(),
            };
            out.last(id, Body::End(end)).await;
        }
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::InvalidInput {
                ErrorCode::BadRequest
            } else {
                ErrorCode::Failed
            };
            out.error(id, code, e.to_string()).await;
        }
    }
    Flow::Close
}

/// Queues a one-shot reply, waiting while the client's queue is full (its next request is not
/// read meanwhile: back-pressure on a pipelining client, never a drop). Only a client its
/// writer dropped (closed, or not reading) ends here.
async fn answer(conn: Conn, id: u64, body: Body) -> Flow {
    if conn.out.reply(id, body).await {
        Flow::Continue(conn)
    } else {
        Flow::Close
    }
}
