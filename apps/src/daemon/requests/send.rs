//! `send`: hping3's crafted probes from inside the stack (the engine is
//! [`crate::daemon::jobs::send`]); one `send` reply per event, then `end`.

use super::Flow;
use crate::daemon::jobs::send::Spec;
use crate::daemon::proto::{ErrorCode, SendRequest};
use crate::daemon::server::{Conn, Ctx};
use std::rc::Rc;

pub(crate) async fn run(_ctx: &Rc<Ctx>, conn: Conn, id: u64, req: SendRequest) -> Flow {
    let Conn { out, .. } = conn;
    if let Err(e) = Spec::new(&req) {
        out.error(id, ErrorCode::BadRequest, e.to_string()).await;
        return Flow::Close;
    }
    let msg = "send needs the stack's raw sockets, not in this build yet";
    out.error(id, ErrorCode::Failed, msg.to_string()).await;
    Flow::Close
}
