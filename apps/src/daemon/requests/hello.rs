//! `hello`: who is serving.

use crate::daemon::proto::{Body, Hello, Request, VERSION};
use crate::daemon::server::Ctx;

pub(crate) fn handle(ctx: &Ctx) -> Body {
    let c = ctx.net.with_stack(|s| s.config().clone());
    Body::Hello(Hello {
        version: VERSION,
        tun: ctx.info.tun.clone(),
        addr: c.addr,
        host_addr: ctx.info.host_addr,
        prefix_len: c.prefix_len,
        mtu: c.mtu,
        pid: std::process::id(),
        uptime_ms: ctx.started.elapsed().as_millis() as u64,
        requests: Request::NAMES.iter().map(|s| s.to_string()).collect(),
    })
}
