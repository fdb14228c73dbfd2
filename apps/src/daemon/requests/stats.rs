//! `stats`: counters, drops by reason, memory by table.

use crate::daemon::proto::{Body, DropCount, StatsReply};
use crate::daemon::server::Ctx;
use std::collections::BTreeMap;
use ustack::{MemoryUsage, Stack};

pub(crate) fn handle(ctx: &Ctx) -> Body {
    let mut reply = ctx.net.with_stack(|s| stats_reply(s));
    reply.control = Some(ctx.control_stats());
    Body::Stats(reply)
}

/// The `stats` reply for `stack` (also what `ustack up --json` prints at exit).
pub fn stats_reply(stack: &Stack) -> StatsReply {
    let (stats, memory, (conns, half_open)) = (stack.stats(), stack.memory(), stack.tcp_counts());
    StatsReply {
        counters: stats
            .counters()
            .iter()
            .map(|&(k, v)| (k.to_string(), v))
            .collect(),
        drops_total: stats.total_drops(),
        drops: stats
            .nonzero_drops()
            .map(|(r, count)| DropCount {
                reason: format!("{r:?}"),
                description: r.description().to_string(),
                count,
            })
            .collect(),
        memory: memory_map(&memory),
        tcp_connections: conns as u64,
        tcp_half_open: half_open as u64,
        control: None,
    }
}

/// `MemoryUsage` by field name.
fn memory_map(m: &MemoryUsage) -> BTreeMap<String, u64> {
    [
        ("tx_queue_datagrams", m.tx_queue_datagrams),
        ("tx_queue_bytes", m.tx_queue_bytes),
        ("pool_buffers", m.pool_buffers),
        ("pool_bytes", m.pool_bytes),
        ("reassembly_bytes", m.reassembly_bytes),
        ("reassembly_datagrams", m.reassembly_datagrams),
        ("sockets", m.sockets),
        ("socket_events", m.socket_events),
        ("tcp_connections", m.tcp_connections),
        ("tcp_time_wait", m.tcp_time_wait),
        ("tcp_slots", m.tcp_slots),
        ("tcp_buffer_bytes", m.tcp_buffer_bytes),
        ("tcp_timer_entries", m.tcp_timer_entries),
        ("tcp_replies", m.tcp_replies),
        ("tcp_accept_queued", m.tcp_accept_queued),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v as u64))
    .collect()
}
