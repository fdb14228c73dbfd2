//! Hardening of listeners (issue 8, finding 11): SYN+FIN is dropped and counted.

mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, FIN, SYN};
use ustack::wire::tcp::TcpOptions;
use ustack::DropReason;

fn mss_opts() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    }
}

/// Finding 11: a SYN+FIN to a listening port is dropped and counted, never answered with a
/// SYN-ACK (as Linux and FreeBSD do; it is a scanner's probe, RFC 9293 gives it no meaning).
#[test]
fn syn_fin_to_a_listener_is_dropped_and_counted() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    let outs = p.send(p.seg(SYN | FIN).ack(0).opts(mss_opts()));
    assert!(outs.is_empty(), "SYN+FIN must not be answered: {outs:?}");
    assert_eq!(p.stack.stats().drops(DropReason::TcpSynFin), 1);
    assert_eq!(p.stack.tcp_counts(), (0, 0), "no half-open connection");
    // A plain SYN still works afterwards.
    let outs = p.send(p.seg(SYN).ack(0).opts(mss_opts()));
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].ctl(), SYN | ACK);
}
