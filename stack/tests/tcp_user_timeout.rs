//! The user timeout (RFC 9293 §3.8.3, RFC 5482 §2) bounds how long sent data stays
//! unacknowledged: the abort comes when it expires, counted from the send, not at the next
//! (backed-off) RTO after it. (Found with ustack's own packetdrill script
//! tests/conformance/scripts/user-timeout-sockopt.pkt.)

mod common;
mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::{Config, Duration};

#[test]
fn user_timeout_aborts_on_time() {
    let cfg = Config {
        tcp_user_timeout: Duration::from_secs(2),
        ..config()
    };
    let mut x = passive_full(cfg, 2048);
    x.p.stack.tcp_send(x.h, b"hello?").unwrap();
    let start = x.p.now;
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    // No ACK ever comes: retransmissions, then the abort with a RST.
    let mut last = Vec::new();
    while x.p.state(x.h) != Some(State::Closed) {
        match x.p.fire(start + Duration::from_secs(30)) {
            Some((_, outs)) => last = outs,
            None => break,
        }
    }
    assert_eq!(x.p.state(x.h), Some(State::Closed));
    let took = x.p.now - start;
    assert!(
        took >= Duration::from_secs(2) && took <= Duration::from_millis(2_050),
        "aborted after {took}"
    );
    assert!(
        last.iter().any(|o| o.has(ustack::wire::tcp::flags::RST)),
        "{last:?}"
    );
    let mut buf = [0u8; 4];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut buf), Err(TcpError::TimedOut));
}
