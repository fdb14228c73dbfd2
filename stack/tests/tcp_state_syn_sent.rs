//! TCP scenario tests for SYN-SENT (RFC 9293 §3.10.7.3).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::{Config, Duration};

// ============================================================================================
// SYN-SENT (RFC 9293 §3.10.7.3)
// ============================================================================================

#[test]
fn syn_sent_syn_carries_options_and_synack_establishes() {
    let (mut p, h, syn) = active_syn(config());
    assert_eq!(p.state(h), Some(State::SynSent));
    assert_eq!(syn.ack, 0);
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(3));
    assert!(syn.options.sack_permitted);
    assert_eq!(syn.options.timestamps.map(|t| t.1), Some(0));
    assert_eq!(syn.window, 65535);
    let outs = p.send(
        Seg::new(PORT, p.us_port, 9000, p.iss + 1, SYN | ACK)
            .opts(Peer::full_syn_options())
            .win(1024),
    );
    assert_eq!(p.state(h), Some(State::Established));
    // RFC 9293 §3.10.7.3: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (p.iss + 1, 9001));
    assert_eq!(outs[0].options.timestamps.map(|t| t.1), Some(PEER_TS));
    let info = p.stack.tcp_info(h).unwrap();
    // The window of a SYN-ACK is not scaled (RFC 7323 §2.2).
    assert_eq!(info.snd_wnd, 1024);
}

#[test]
fn syn_sent_synack_with_bad_ack_gets_rst_and_stays() {
    let (mut p, h, _) = active_syn(config());
    let iss = p.iss;
    for bad in [iss.wrapping_add(5), iss, iss.wrapping_sub(100)] {
        // First check: SEG.ACK =< ISS or SEG.ACK > SND.NXT → <SEQ=SEG.ACK><CTL=RST>.
        let outs = p.send(Seg::new(PORT, p.us_port, 9000, bad, SYN | ACK));
        assert_eq!(outs.len(), 1, "ack {bad}: {outs:?}");
        assert_eq!((outs[0].ctl(), outs[0].seq), (RST, bad));
        assert_eq!(p.state(h), Some(State::SynSent));
    }
    // ... and an RST with an unacceptable ACK is dropped without reply.
    assert!(p
        .send(Seg::new(
            PORT,
            p.us_port,
            9000,
            iss.wrapping_add(9),
            RST | ACK
        ))
        .is_empty());
    assert_eq!(p.state(h), Some(State::SynSent));
    // The right SYN-ACK still completes the handshake.
    let outs = p.send(Seg::new(PORT, p.us_port, 9000, iss + 1, SYN | ACK));
    assert_eq!(p.state(h), Some(State::Established));
    assert_eq!((outs[0].seq, outs[0].ack), (iss + 1, 9001));
}

#[test]
fn syn_sent_rst_without_ack_ignored_rst_with_ack_refuses() {
    let (mut p, h, _) = active_syn(config());
    // Second check: an RST without ACK is dropped.
    assert!(p.send(Seg::new(PORT, p.us_port, 0, 0, RST)).is_empty());
    assert_eq!(p.state(h), Some(State::SynSent));
    // With an acceptable ACK: "error: connection reset", CLOSED (ECONNREFUSED).
    assert!(p
        .send(Seg::new(PORT, p.us_port, 0, p.iss + 1, RST | ACK))
        .is_empty());
    assert_eq!(p.state(h), Some(State::Closed));
    let mut b = [0u8; 8];
    assert_eq!(p.stack.tcp_recv(h, &mut b), Err(TcpError::Refused));
    assert_eq!(p.stack.tcp_send(h, b"x"), Err(TcpError::Refused));
    assert_eq!(p.stack.tcp_error(h), Some(TcpError::Refused));
}

#[test]
fn syn_sent_syn_retransmitted_with_backoff_then_times_out() {
    let cfg = Config {
        tcp_syn_retries: 3,
        ..config()
    };
    let (mut p, h, syn) = active_syn(cfg);
    let mut times = Vec::new();
    let limit = T0 + Duration::from_secs(60);
    while let Some((t, outs)) = p.next_output(limit) {
        assert_eq!(outs.len(), 1, "{outs:?}");
        assert_eq!(outs[0].ctl(), SYN);
        assert_eq!(outs[0].seq, syn.seq, "a retransmitted SYN keeps the ISS");
        assert_eq!(outs[0].options.mss, Some(1460));
        times.push((t - T0).total_millis());
    }
    // RFC 6298 §2.1 / §5.5: 1 s initial RTO, doubled on each timeout.
    assert_eq!(times, vec![1000, 3000, 7000]);
    // After tcp_syn_retries retransmissions the connect fails at the next timeout.
    assert_eq!(p.state(h), Some(State::Closed));
    assert_eq!(p.now, T0 + Duration::from_secs(15));
    let mut b = [0u8; 8];
    assert_eq!(p.stack.tcp_recv(h, &mut b), Err(TcpError::TimedOut));
}

#[test]
fn syn_sent_simultaneous_open_goes_syn_received() {
    let (mut p, h, _) = active_syn(config());
    p.seq = 9000;
    // RFC 9293 §3.10.7.3 fourth (SYN without ACK) and §3.5 figure 8: SYN-RECEIVED, and
    // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    let outs = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()).win(65535));
    assert_eq!(p.state(h), Some(State::SynReceived));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert_eq!((outs[0].seq, outs[0].ack), (p.iss, 9001));
    assert_eq!(outs[0].options.timestamps.map(|t| t.1), Some(PEER_TS));
    assert_eq!(outs[0].options.window_scale, Some(3));
    // The ACK of our SYN completes it.
    p.seq = 9001;
    p.ack = p.iss + 1;
    p.tsval = Some(PEER_TS);
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.state(h), Some(State::Established));
    assert_eq!(p.stack.tcp_send(h, b"hi"), Ok(2));
    let outs = p.drain();
    assert_eq!((outs[0].seq, outs[0].ack), (p.iss + 1, 9001));
}
