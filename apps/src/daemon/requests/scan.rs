//! `scan`: a port scan (or host discovery) from inside the stack, nmap's techniques (the job
//! is [`crate::daemon::jobs::scan`]); `scan` replies — `start`, one `host` per address, `done`
//! — then `end`. A client that half-closes stops it where it is (`end` says "client
//! finished", no host reports). The probes leave from a raw socket of the stack with a port
//! of its own claimed (`-sT`: ordinary connects), so a scan costs the running stack one socket
//! and its port for as long as it lasts. Targets outside the stack's prefixes and the lab
//! ranges are refused unless `i_own_the_network` ([`crate::daemon::jobs::guard`]).

use super::Flow;
use crate::daemon::jobs::scan as scan_job;
use crate::daemon::proto::{Body, ErrorCode, ScanRequest};
use crate::daemon::server::{Conn, Ctx};
use std::rc::Rc;

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: ScanRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let config = ctx.net.with_stack(|s| s.config().clone());
    if let Err(e) = scan_job::validate(&req, &config) {
        out.error(id, ErrorCode::BadRequest, e.to_string()).await;
        return Flow::Close;
    }
    let job = scan_job::scan(&ctx.net, req, |ev| {
        out.event(id, Body::Scan(ev));
    });
    super::stream_job(&out, &mut lines, id, job).await
}
