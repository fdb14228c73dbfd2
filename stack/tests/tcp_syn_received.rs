//! SYN-RECEIVED answers at once: an in-window RST that is not exact gets its challenge ACK
//! (RFC 5961 §3.2) while the handshake is still open, not only after it completes. (Found by
//! the FreeBSD state-event-engine suite run through packetdrill, tests/conformance.)

mod common;
mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::DropReason;

#[test]
fn rst_in_window_not_exact_gets_challenge_ack_in_syn_received() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    let outs = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()).win(65535));
    assert_eq!(outs.len(), 1, "one SYN-ACK: {outs:?}");
    let iss = outs[0].seq;
    let r = PEER_ISN + 1;
    p.seq = r;
    p.ack = iss.wrapping_add(1);
    let outs = p.send(p.seg(RST).seq(r + 1000));
    // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, right away.
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (iss.wrapping_add(1), r));
    assert_eq!(p.stack.stats().drops(DropReason::TcpRstNotExact), 1);
    // The handshake then completes normally.
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(_l).expect("accepted");
    assert_eq!(p.state(h), Some(State::Established));
}
