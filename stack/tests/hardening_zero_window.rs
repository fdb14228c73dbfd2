//! Hardening of the persist state (issue 8, finding 1): zero-window probes count towards a
//! give-up. An orphaned connection (the app closed it) whose peer keeps its window shut is
//! aborted after `tcp_orphan_persist_probes` probes (RFC 6429, Linux's `tcp_orphan_retries`);
//! a connection whose peer stops answering probes is aborted by the user timeout (as Linux
//! counts probes against `TCP_USER_TIMEOUT`); a live connection whose peer answers stays open
//! (RFC 9293 §3.8.6.1, MUST-36).

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, RST};
use ustack::{Duration, Instant};

/// Runs the clock up to `limit`, the peer answering every probe with a zero-window ACK.
/// Returns the segments the stack sent.
fn answer_probes(x: &mut Passive, limit: Instant) -> Vec<Out> {
    let mut all = Vec::new();
    while let Some((_, outs)) = x.p.next_output(limit) {
        let reset = outs.iter().any(|o| o.has(RST));
        all.extend(outs);
        if reset {
            break;
        }
        all.extend(x.p.send(x.p.seg(ACK)));
    }
    all
}

#[test]
fn orphan_behind_a_zero_window_is_aborted_after_bounded_probes() {
    let cfg = config();
    let probes = cfg.tcp_orphan_persist_probes as usize;
    let mut x = passive_full(cfg, 0);
    x.p.stack.tcp_send(x.h, &pattern(1000, 3)).unwrap();
    x.p.stack.tcp_close(x.h).unwrap();
    assert!(x.p.drain().is_empty(), "window zero: nothing goes");
    let start = x.p.now;
    let outs = answer_probes(&mut x, start + Duration::from_secs(24 * 3600));
    let sent_probes = outs.iter().filter(|o| !o.has(RST)).count();
    assert!(outs.last().is_some_and(|o| o.has(RST)), "aborted with RST");
    assert_eq!(sent_probes, probes, "probes before the give-up");
    // Bounded: the persist interval is capped at 60 s.
    assert!(x.p.now - start <= Duration::from_secs(60 * (probes as u64 + 1)));
    assert_eq!(x.p.stack.tcp_counts(), (0, 0), "slot and buffers freed");
}

#[test]
fn silent_peer_behind_a_zero_window_hits_the_user_timeout() {
    let cfg = config();
    let user_timeout = cfg.tcp_user_timeout;
    let mut x = passive_full(cfg, 0);
    x.p.stack.tcp_send(x.h, &pattern(1000, 4)).unwrap();
    assert!(x.p.drain().is_empty(), "window zero: nothing goes");
    let start = x.p.now;
    // The peer never answers a probe.
    let outs =
        x.p.run_until(start + user_timeout + Duration::from_secs(120));
    assert!(outs.iter().any(|o| o.has(RST)), "aborted: {outs:?}");
    assert_eq!(x.p.state(x.h), Some(State::Closed));
    assert_eq!(x.p.stack.tcp_error(x.h), Some(TcpError::TimedOut));
}

#[test]
fn live_peer_answering_probes_keeps_the_connection_open() {
    let mut x = passive_full(config(), 0);
    x.p.stack.tcp_send(x.h, &pattern(1000, 5)).unwrap();
    assert!(x.p.drain().is_empty(), "window zero: nothing goes");
    let start = x.p.now;
    let outs = answer_probes(&mut x, start + Duration::from_secs(3600));
    assert!(!outs.iter().any(|o| o.has(RST)), "MUST-36: stays open");
    assert_eq!(x.p.state(x.h), Some(State::Established));
}
