//! `connect` (not yet served: answers `failed`).

use super::Flow;
use crate::control::proto::ErrorCode;
use crate::control::server::{Conn, Ctx};
use std::rc::Rc;

pub(crate) async fn run(
    _ctx: &Rc<Ctx>,
    conn: Conn,
    id: u64,
    _req: crate::control::proto::ConnectRequest,
) -> Flow {
    conn.out
        .error(id, ErrorCode::Failed, "connect is not served yet");
    Flow::Close
}
