//! `events`: a stream of what changes in the stack — connections appearing, changing state and
//! leaving the table, and drops by reason — until the client half-closes.
//!
//! It is sampled: every `interval_ms` (default 100, at least 10) the job compares the
//! connection table and the drop counters with its previous look, so a connection that opens
//! and closes between two looks is not seen, and a state passed through between two looks is
//! skipped (`state` events name the two states seen) — but the TCP counters (opens, resets,
//! cookies, TIME-WAIT reuse) are reported as they move, so even those show. Each look costs
//! O(connections).

use super::sockets::state_name;
use super::Flow;
use crate::daemon::proto::{Body, End, Event, EventsRequest};
use crate::daemon::server::{Conn, Ctx};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use ustack::tcp::State;
use ustack::{DropReason, Stack};

const DEFAULT_INTERVAL_MS: u64 = 100;
const MIN_INTERVAL_MS: u64 = 10;

type Table = HashMap<(SocketAddr, SocketAddr), State>;

/// What one look saw.
struct Look {
    conns: Table,
    counters: Vec<(&'static str, u64)>,
    drops: Vec<u64>,
}

/// The counters reported as `counter` events: connection-level ones, not per-packet ones.
fn watched(name: &str) -> bool {
    name.starts_with("tcp_") || name.starts_with("icmp_errors")
}

fn look(s: &Stack) -> Look {
    let stats = s.stats();
    Look {
        conns: s
            .tcp_connections()
            .filter(|c| c.state != State::Closed)
            .map(|c| ((c.local, c.remote), c.state))
            .collect(),
        counters: stats
            .counters()
            .into_iter()
            .filter(|(n, _)| watched(n))
            .collect(),
        drops: DropReason::ALL.iter().map(|&r| stats.drops(r)).collect(),
    }
}

/// The events between two looks.
fn diff(old: &Look, new: &Look, emit: &mut dyn FnMut(Event) -> bool) -> bool {
    for (&(local, peer), &state) in &new.conns {
        let ev = match old.conns.get(&(local, peer)) {
            None => Event::Open {
                state: state_name(state).into(),
                local,
                peer,
            },
            Some(&was) if was != state => Event::State {
                from: state_name(was).into(),
                to: state_name(state).into(),
                local,
                peer,
            },
            Some(_) => continue,
        };
        if !emit(ev) {
            return false;
        }
    }
    for (&(local, peer), &state) in &old.conns {
        if !new.conns.contains_key(&(local, peer)) {
            let ev = Event::Close {
                state: state_name(state).into(),
                local,
                peer,
            };
            if !emit(ev) {
                return false;
            }
        }
    }
    for (&(name, was), &(_, now)) in old.counters.iter().zip(&new.counters) {
        if now > was
            && !emit(Event::Counter {
                name: name.into(),
                delta: now - was,
            })
        {
            return false;
        }
    }
    for (i, (&was, &now)) in old.drops.iter().zip(&new.drops).enumerate() {
        if now > was {
            let reason = format!("{:?}", DropReason::ALL[i]);
            if !emit(Event::Drop {
                reason,
                count: now - was,
            }) {
                return false;
            }
        }
    }
    true
}

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: EventsRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let ms = req
        .interval_ms
        .unwrap_or(DEFAULT_INTERVAL_MS)
        .max(MIN_INTERVAL_MS);
    let mut tick = tokio::time::interval(Duration::from_millis(ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev = ctx.net.with_stack(|s| look(s));
    // What is there when the client subscribes comes first, as `open` events.
    let empty = Look {
        conns: Table::new(),
        counters: prev.counters.clone(),
        drops: prev.drops.clone(),
    };
    let mut emit = |ev| out.event(id, Body::Event(ev));
    let mut alive = diff(&empty, &prev, &mut emit);
    let stop = lines.until_eof();
    tokio::pin!(stop);
    let reason = loop {
        if !alive {
            break "client gone";
        }
        tokio::select! {
            () = &mut stop => break "client finished",
            _ = tick.tick() => {
                if ctx.net.is_stopped() {
                    break "the stack stopped";
                }
                let now = ctx.net.with_stack(|s| look(s));
                alive = diff(&prev, &now, &mut emit);
                prev = now;
            }
        }
    };
    let lost = out.lost_total();
    out.last(
        id,
        Body::End(End {
            reason: reason.into(),
            lost,
        }),
    )
    .await;
    Flow::Close
}
