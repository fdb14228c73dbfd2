//! TCP scenario tests for LISTEN and a CLOSED port (RFC 9293 §3.10.7.1, §3.10.7.2).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, FIN, RST, SYN};
use ustack::wire::tcp::TcpOptions;
use ustack::{DropReason, Duration};

// ============================================================================================
// LISTEN (RFC 9293 §3.10.7.2)
// ============================================================================================

#[test]
fn listen_syn_gets_synack_with_all_options_then_ack_establishes() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let outs = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()).win(65535));
    assert_eq!(outs.len(), 1, "{outs:?}");
    let sa = &outs[0];
    // RFC 9293 §3.10.7.2: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    assert_eq!(sa.ctl(), SYN | ACK);
    assert_eq!((sa.src_port, sa.dst_port, sa.dst), (PORT, PEER_PORT, PEER));
    assert_eq!(sa.ack, PEER_ISN + 1);
    assert!(sa.payload.is_empty());
    // MSS = MTU 1500 − 40 (RFC 9293 §3.7.1).
    assert_eq!(sa.options.mss, Some(1460));
    // RFC 7323 §2.2: wscale offered because the SYN had it; 256 KiB needs shift 3.
    assert_eq!(sa.options.window_scale, Some(3));
    // RFC 2018 §2.
    assert!(sa.options.sack_permitted);
    // RFC 7323 §3.2: TSecr echoes the SYN's TSval.
    let (_, tsecr) = sa.options.timestamps.expect("timestamps on the SYN-ACK");
    assert_eq!(tsecr, PEER_TS);
    // RFC 7323 §2.2: the window of a SYN-ACK is never scaled.
    assert_eq!(sa.window, 65535);
    assert_eq!(p.stack.tcp_counts(), (1, 1), "one half-open connection");
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));

    // Final ACK → ESTABLISHED, accept returns it.
    p.iss = sa.seq;
    p.seq = PEER_ISN + 1;
    p.ack = sa.seq.wrapping_add(1);
    p.tsval = Some(PEER_TS + 1);
    p.wnd = 2048;
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.stack.tcp_counts(), (1, 0));
    let h = p.stack.tcp_accept(l).unwrap();
    assert_eq!(p.state(h), Some(State::Established));

    // The connection's segments now carry scaled windows and timestamps.
    assert_eq!(p.stack.tcp_send(h, b"hello"), Ok(5));
    let outs = p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    let d = &outs[0];
    assert_eq!(d.ctl(), ACK);
    assert_eq!(d.seq, p.iss.wrapping_add(1));
    assert_eq!(d.ack, PEER_ISN + 1);
    assert_eq!(d.payload, b"hello");
    assert_eq!(d.window, (256 << 10 >> 3) as u16, "262144 >> 3");
    assert_eq!(d.options.timestamps.unwrap().1, PEER_TS + 1);
}

#[test]
fn listen_retransmitted_syn_gets_the_synack_again() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    let syn = p.seg(SYN).ack(0).opts(Peer::full_syn_options());
    let first = p.send(syn.clone());
    assert_eq!(first.len(), 1);
    // The peer's SYN is retransmitted (our SYN-ACK was lost). RFC 9293 §3.10.7.4 first check:
    // it is not acceptable (SEG.SEQ = RCV.NXT − 1), so at the very least an ACK
    // <SEQ=SND.NXT><ACK=RCV.NXT> is due; Linux (and ustack's own SYN-RECEIVED code) resends the
    // SYN-ACK. Silence is wrong either way.
    p.now += ms(10);
    let again = p.send(syn);
    assert_eq!(
        again.len(),
        1,
        "a retransmitted SYN in SYN-RECEIVED got no answer"
    );
    assert!(again[0].has(ACK));
    assert_eq!(again[0].ack, PEER_ISN + 1);
    assert_eq!(again[0].seq, first[0].seq, "SYN-ACK again: same ISS");
    assert_eq!(again[0].ctl(), SYN | ACK);
}

#[test]
fn listen_synack_is_retransmitted_on_timeout() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    let first = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    assert_eq!(first.len(), 1);
    // No ACK comes: the SYN-ACK is retransmitted after the initial RTO of 1 s (RFC 6298 §2.1),
    // then after 2 s more (§5.5).
    let (t, outs) = p.next_output(T0 + Duration::from_secs(5)).unwrap();
    assert_eq!(t, T0 + Duration::from_secs(1));
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert_eq!((outs[0].seq, outs[0].ack), (first[0].seq, PEER_ISN + 1));
    let (t, outs) = p.next_output(T0 + Duration::from_secs(5)).unwrap();
    assert_eq!(t, T0 + Duration::from_secs(3));
    assert_eq!(outs[0].ctl(), SYN | ACK);
}

#[test]
fn listen_rst_is_ignored() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    // RFC 9293 §3.10.7.2 first: an incoming RST to LISTEN is ignored.
    assert!(p.send(p.seg(RST).seq(5000).ack(0)).is_empty());
    assert!(p.send(p.seg(RST | ACK).seq(5000).ack(777)).is_empty());
    assert_eq!(p.stack.tcp_counts(), (0, 0));
}

#[test]
fn listen_ack_without_connection_gets_rst_seq_seg_ack() {
    let mut p = Peer::new(config());
    let _l = p.stack.tcp_listen(PORT, 16).unwrap();
    // RFC 9293 §3.10.7.2 second: any ACK in LISTEN → <SEQ=SEG.ACK><CTL=RST>.
    let outs = p.send(p.seg(ACK).seq(5000).ack(0xdead_beef).data(b"xyz"));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), RST);
    assert_eq!(outs[0].seq, 0xdead_beef);
    assert_eq!((outs[0].src_port, outs[0].dst_port), (PORT, PEER_PORT));
    assert!(outs[0].payload.is_empty());
    assert_eq!(p.stack.tcp_counts(), (0, 0));
    // A SYN-ACK to a listener is an ACK too.
    let outs = p.send(p.seg(SYN | ACK).seq(5000).ack(4242));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, 4242));
    assert_eq!(p.stack.tcp_counts(), (0, 0));
}

#[test]
fn listen_syn_without_options_gets_plain_synack_and_mss_536() {
    let mut x = passive_plain(config(), 65535);
    let sa = &x.synack;
    // RFC 7323 §1.3 / §2.2 and RFC 2018 §2: options are only answered if offered.
    assert_eq!(sa.options.mss, Some(1460));
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    assert_eq!(sa.options.timestamps, None);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    // RFC 9293 §3.7.1: without an MSS option the send MSS is 536.
    assert_eq!(info.smss, 536);
    let data = pattern(2000, 1);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(2000));
    let outs = x.p.drain();
    let sizes: Vec<usize> = outs.iter().map(|o| o.payload.len()).collect();
    // The 392-byte tail is a small segment: Nagle (RFC 9293 §3.7.4) holds it for the ACK.
    assert_eq!(sizes, vec![536, 536, 536], "{sizes:?}");
    let mut outs = outs;
    let tail = x.p.send_ack(x.p.iss.wrapping_add(1 + 3 * 536));
    assert_eq!(tail.len(), 1, "{tail:?}");
    assert_eq!(tail[0].payload.len(), 392);
    outs.extend(tail);
    let mut seq = x.p.iss.wrapping_add(1);
    let mut got = Vec::new();
    for o in &outs {
        assert_eq!(o.seq, seq);
        assert_eq!(
            o.options,
            TcpOptions::default(),
            "no options without negotiation"
        );
        // No window scaling: the window field is the unscaled window, at most 65535.
        assert_eq!(o.window, 65535);
        seq = o.end();
        got.extend_from_slice(&o.payload);
    }
    assert_eq!(got, data);
}

// ============================================================================================
// CLOSED port (RFC 9293 §3.10.7.1)
// ============================================================================================

#[test]
fn closed_port_syn_gets_rst_ack() {
    let mut p = Peer::new(config());
    p.us_port = 81;
    // If the ACK bit is off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    let outs = p.send(p.seg(SYN).seq(5000).ack(0));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), RST | ACK);
    assert_eq!((outs[0].seq, outs[0].ack), (0, 5001));
    assert_eq!((outs[0].src_port, outs[0].dst_port), (81, PEER_PORT));
    // SEG.LEN counts SYN, data and FIN.
    let outs = p.send(p.seg(SYN | FIN).seq(7000).ack(0).data(b"0123456789"));
    assert_eq!(outs.len(), 1);
    assert_eq!(
        (outs[0].ctl(), outs[0].seq, outs[0].ack),
        (RST | ACK, 0, 7012)
    );
    assert_eq!(p.stack.stats().drops(DropReason::TcpNoConnection), 2);
}

#[test]
fn closed_port_ack_gets_rst_seq_seg_ack_and_rst_gets_nothing() {
    let mut p = Peer::new(config());
    p.us_port = 81;
    // If the ACK bit is on: <SEQ=SEG.ACK><CTL=RST>.
    let outs = p.send(p.seg(ACK).seq(5000).ack(777).data(b"abc"));
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, 777));
    let outs = p.send(p.seg(FIN | ACK).seq(5000).ack(0xffff_fff0));
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, 0xffff_fff0));
    // An incoming RST is discarded.
    assert!(p.send(p.seg(RST).seq(5000).ack(0)).is_empty());
    assert!(p.send(p.seg(RST | ACK).seq(5000).ack(1)).is_empty());
}
