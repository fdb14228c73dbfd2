//! TCP scenario tests for closing: FIN-WAIT-1/2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK, half
//! close, RST on close with unread data (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, FIN, RST};
use ustack::Duration;

// ============================================================================================
// Closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step)
// ============================================================================================

#[test]
fn active_close_fin_wait_time_wait_then_freed() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let fin = x.p.iss + 1;
    x.p.stack.tcp_close(x.h).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), FIN | ACK);
    assert_eq!((outs[0].seq, outs[0].ack), (fin, r));
    assert_eq!(x.p.state(x.h), Some(State::FinWait1));
    // ACK of the FIN → FIN-WAIT-2.
    assert!(x.p.send_ack(fin + 1).is_empty());
    assert_eq!(x.p.state(x.h), Some(State::FinWait2));
    // The peer's FIN → TIME-WAIT and an ACK of it.
    let outs = x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].ctl() == ACK && outs[0].payload.is_empty());
    assert_eq!((outs[0].seq, outs[0].ack), (fin + 1, r + 1));
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
    let tw = x.p.now;
    // 2 × MSL = 2 s.
    x.p.run_until(tw + ms(1999));
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
    assert_eq!(x.p.stack.tcp_counts().0, 1);
    x.p.run_until(tw + ms(2000));
    assert_eq!(x.p.stack.tcp_counts().0, 0, "freed after 2 MSL");
    assert_eq!(x.p.state(x.h), None);
}

#[test]
fn time_wait_acks_retransmitted_fin_and_restarts_2msl() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let fin = x.p.iss + 1;
    x.p.stack.tcp_close(x.h).unwrap();
    x.p.drain();
    x.p.send_ack(fin + 1);
    x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
    let tw = x.p.now;
    // RFC 9293 §3.10.7.4 eighth step, TIME-WAIT: "Remain in the TIME-WAIT state. Restart the
    // 2 MSL time-wait timeout." The only FIN that can arrive here is a retransmission (our ACK
    // was lost): acknowledge it and restart the timer.
    x.p.now = tw + ms(500);
    let outs = x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (fin + 1, r + 1));
    x.p.run_until(tw + ms(2499));
    assert_eq!(
        x.p.state(x.h),
        Some(State::TimeWait),
        "2 MSL must restart at the retransmitted FIN (t+0.5 s), so TIME-WAIT lasts until t+2.5 s"
    );
    x.p.run_until(tw + ms(2500));
    assert_eq!(x.p.stack.tcp_counts().0, 0);
}

#[test]
fn active_shutdown_states_are_visible() {
    let mut x = passive_full(config(), 2048);
    let fin = x.p.iss + 1;
    x.p.stack.tcp_shutdown(x.h).unwrap();
    let outs = x.p.drain();
    assert_eq!((outs[0].ctl(), outs[0].seq), (FIN | ACK, fin));
    assert_eq!(x.p.state(x.h), Some(State::FinWait1));
    assert_eq!(x.p.stack.tcp_send(x.h, b"x"), Err(TcpError::Closed));
    x.p.send_ack(fin + 1);
    assert_eq!(x.p.state(x.h), Some(State::FinWait2));
    x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
    let mut b = [0u8; 4];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Ok(0));
    x.p.run_until(x.p.now + Duration::from_secs(2));
    assert_eq!(x.p.state(x.h), Some(State::Closed));
    x.p.stack.tcp_close(x.h).unwrap();
    assert_eq!(x.p.stack.tcp_counts().0, 0);
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let una = x.p.iss + 1;
    // Peer FIN → CLOSE-WAIT, ACK at once.
    let outs = x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (una, r + 1));
    assert_eq!(x.p.state(x.h), Some(State::CloseWait));
    let mut b = [0u8; 4];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Ok(0), "end of stream");
    // We may still send in CLOSE-WAIT.
    x.p.stack.tcp_send(x.h, b"bye").unwrap();
    x.p.stack.tcp_close(x.h).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1, "data and FIN together: {outs:?}");
    assert_eq!(outs[0].ctl(), FIN | ACK);
    assert_eq!(
        (outs[0].seq, outs[0].ack, &outs[0].payload[..]),
        (una, r + 1, &b"bye"[..])
    );
    assert_eq!(x.p.state(x.h), Some(State::LastAck));
    x.p.seq = r + 1;
    assert!(x.p.send_ack(una + 4).is_empty());
    assert_eq!(x.p.stack.tcp_counts().0, 0, "CLOSED and freed");
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let fin = x.p.iss + 1;
    x.p.stack.tcp_shutdown(x.h).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs[0].ctl(), FIN | ACK);
    // The peer's FIN crosses ours (does not acknowledge it).
    let outs = x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(x.p.state(x.h), Some(State::Closing));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r + 1);
    assert_eq!(outs[0].seq, fin + 1);
    // Our FIN acknowledged → TIME-WAIT.
    x.p.seq = r + 1;
    assert!(x.p.send_ack(fin + 1).is_empty());
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
    x.p.run_until(x.p.now + Duration::from_secs(2));
    assert_eq!(x.p.state(x.h), Some(State::Closed));
}

#[test]
fn half_close_still_receives() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let fin = x.p.iss + 1;
    x.p.stack.tcp_shutdown(x.h).unwrap();
    x.p.drain();
    x.p.send_ack(fin + 1);
    assert_eq!(x.p.state(x.h), Some(State::FinWait2));
    let data = pattern(3000, 12);
    // Two full-sized segments: acknowledged at once (RFC 9293 §3.8.6.3) or by the delayed ACK.
    let mut outs = x.p.send_data(&data[..SEG]);
    outs.extend(x.p.send_data(&data[SEG..]));
    outs.extend(x.p.run_until(x.p.now + ms(100)));
    assert_eq!(outs.last().unwrap().ack, r + 3000);
    assert_eq!(x.p.read_all(x.h), data);
    let outs = x.p.send(x.p.seg(FIN | ACK));
    assert_eq!(outs[0].ack, r + 3001);
    assert_eq!(x.p.state(x.h), Some(State::TimeWait));
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut x = passive_full(config(), 2048);
    x.p.send_data(b"unread");
    x.p.stack.tcp_close(x.h).unwrap();
    let outs = x.p.drain();
    // RFC 9293 §3.10.4 / RFC 2525 §2.17: data would be lost, so reset.
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].has(RST));
    assert!(!outs[0].has(FIN));
    assert_eq!(outs[0].seq, x.p.iss + 1);
    assert_eq!(x.p.stack.tcp_counts().0, 0);
}
