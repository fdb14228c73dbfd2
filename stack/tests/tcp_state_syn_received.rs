//! TCP scenario tests for SYN-RECEIVED: half-open connections from a passive open and the
//! simultaneous open (RFC 9293 §3.5, §3.10.7.4).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, RST, SYN};

// ============================================================================================
// SYN-RECEIVED (RFC 9293 §3.10.7.4; §3.5 simultaneous open)
// ============================================================================================

#[test]
fn syn_received_rst_removes_half_open_connection() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    assert_eq!(p.stack.tcp_counts(), (1, 1));
    // RFC 9293 §3.10.7.4 second (SYN-RECEIVED from a passive open): an RST at RCV.NXT returns
    // the connection to LISTEN, silently.
    p.seq = PEER_ISN + 1;
    assert!(p.send(p.seg(RST)).is_empty());
    assert_eq!(p.stack.tcp_counts(), (0, 0));
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let sa = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    let iss = sa[0].seq;
    p.seq = PEER_ISN + 1;
    p.tsval = Some(PEER_TS);
    // RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED: an unacceptable ACK → <SEQ=SEG.ACK><CTL=RST>.
    let bad = iss.wrapping_add(1000);
    let outs = p.send(p.seg(ACK).ack(bad));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, bad));
    assert_eq!(p.stack.tcp_counts(), (1, 1), "still half-open");
    // The right ACK completes it.
    assert!(p.send(p.seg(ACK).ack(iss.wrapping_add(1))).is_empty());
    assert!(p.stack.tcp_accept(l).is_ok());
}

#[test]
fn simultaneous_open_synack_in_syn_received_establishes() {
    let (mut p, h, _) = active_syn(config());
    p.seq = 9000;
    p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    assert_eq!(p.state(h), Some(State::SynReceived));
    // RFC 9293 §3.5 figure 8 line 6: the other side's SYN-ACK <SEQ=9000><ACK=ISS+1> (its own
    // SYN, now acknowledging ours) moves SYN-RECEIVED to ESTABLISHED. (Linux accepts it the same
    // way; §3.10.7.4's window test alone would call it unacceptable, which still requires an
    // ACK <SEQ=SND.NXT><ACK=RCV.NXT> in reply — never silence.)
    let outs = p
        .send(Seg::new(PORT, p.us_port, 9000, p.iss + 1, SYN | ACK).opts(Peer::full_syn_options()));
    assert_eq!(
        p.state(h),
        Some(State::Established),
        "SYN-ACK in SYN-RECEIVED (simultaneous open) ignored; sent {outs:?}"
    );
}
