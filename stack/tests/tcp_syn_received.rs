//! Opening-state behaviours found by the FreeBSD state-event-engine suite run through
//! packetdrill (tests/conformance): SYN-RECEIVED answers an in-window RST that is not exact with
//! its challenge ACK at once (RFC 5961 §3.2), not only after the handshake completes; SYN+FIN
//! is dropped in LISTEN and SYN-SENT (DESIGN.md "SYN+FIN dropped"); text on a SYN received in
//! SYN-SENT is delivered once the connection is established (RFC 9293 §3.10.7.3).

mod common;
mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, FIN, RST, SYN};
use ustack::{DropReason, Duration};

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

#[test]
fn syn_fin_to_a_listener_is_dropped() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let outs = p.send(p.seg(SYN | FIN).ack(0).win(65535));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.stack.stats().drops(DropReason::TcpSynFin), 1);
    assert_eq!(p.stack.tcp_counts(), (0, 0));
    // A plain SYN afterwards is answered as usual.
    let outs = p.send(p.seg(SYN).ack(0).win(65535));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert!(p.stack.tcp_accept(l).is_err());
}

#[test]
fn syn_fin_in_syn_sent_is_dropped() {
    let (mut p, h, _syn) = active_syn(config());
    let outs = p.send(p.seg(SYN | FIN).ack(0).win(65535));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.stack.stats().drops(DropReason::TcpSynFin), 1);
    assert_eq!(p.state(h), Some(State::SynSent));
}

#[test]
fn text_on_a_simultaneous_open_syn_is_delivered_once_established() {
    let (mut p, h, _syn) = active_syn(config());
    let outs = p.send(p.seg(SYN).ack(0).seq(PEER_ISN).data(b"abc").win(65535));
    assert_eq!(outs.len(), 1, "{outs:?}");
    // The SYN-ACK acknowledges the SYN only: the text waits (RFC 9293 §3.10.7.3).
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert_eq!(outs[0].ack, PEER_ISN + 1);
    assert_eq!(p.state(h), Some(State::SynReceived));
    let mut buf = [0u8; 8];
    assert!(p.stack.tcp_recv(h, &mut buf).is_err());
    // The peer's ACK (sequence after its text) establishes the connection; the text is read.
    p.ack = p.iss.wrapping_add(1);
    let outs = p.send(p.seg(ACK).seq(PEER_ISN + 4));
    assert_eq!(p.state(h), Some(State::Established));
    assert_eq!(p.stack.tcp_recv(h, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    let mut acks = outs;
    acks.extend(p.drain());
    acks.extend(p.tick(Duration::from_millis(100)));
    assert_eq!(acks.last().map(|o| o.ack), Some(PEER_ISN + 4), "{acks:?}");
}
