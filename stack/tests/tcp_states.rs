//! TCP scenario tests, segment by segment: one `Stack` driven by a fake peer (198.18.0.1) with
//! hand-built segments and fixed sequence numbers. Each test feeds segments in and asserts the
//! exact segments that come out, per RFC 9293 §3.10.7 (segment arrival), RFC 5961 (blind
//! in-window attacks), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 (SACK), RFC 5681 /
//! RFC 6582 / RFC 6298 / RFC 6928 (congestion control and retransmission), RFC 1191 and RFC 5927
//! (ICMP), RFC 4987 (SYN cookies).

mod common;
mod tcp_common;

use std::net::SocketAddrV4;

use tcp_common::*;
use ustack::tcp::isn::IsnGenerator;
use ustack::tcp::{State, TcpError};
use ustack::wire::ipv4::Ipv4Repr;
use ustack::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};
use ustack::wire::tcp::TcpOptions;
use ustack::{Config, DropReason, Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Full-sized payload with timestamps: MSS 1460 − 12 option bytes (RFC 6691, RFC 7323 §3).
const SEG: usize = 1448;

// ============================================================================================
// 1. LISTEN (RFC 9293 §3.10.7.2)
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
// 2. CLOSED port (RFC 9293 §3.10.7.1)
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

// ============================================================================================
// 3. SYN-SENT (RFC 9293 §3.10.7.3)
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

// ============================================================================================
// 4. ESTABLISHED: receiving data (RFC 9293 §3.10.7.4, RFC 2018, RFC 5681 §4.2)
// ============================================================================================

#[test]
fn in_order_data_is_delivered_and_ack_delayed_at_most_40ms() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(100, 2);
    let start = x.p.now;
    assert!(x.p.send_data(&data).is_empty(), "the ACK is delayed");
    let (t, outs) = x.p.next_output(start + Duration::from_secs(1)).unwrap();
    // RFC 9293 §3.8.6.3: delayed by less than 0.5 s; ustack uses 40 ms.
    assert_eq!(t - start, ms(40));
    assert_eq!(outs.len(), 1);
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (x.p.iss + 1, r + 100));
    assert_eq!(x.p.read_all(x.h), data);
}

#[test]
fn every_second_full_sized_segment_is_acked_at_once_with_timestamps() {
    // With timestamps a full-sized segment carries MSS − 12 = 1448 bytes (RFC 7323 §3,
    // RFC 6691); RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized one.
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    assert!(x.p.send_data(&pattern(SEG, 3)).is_empty());
    let outs = x.p.send_data(&pattern(SEG, 4));
    assert_eq!(
        outs.len(),
        1,
        "expected an immediate ACK after the second full-sized (1448-byte + TS) segment"
    );
    assert_eq!(outs[0].ack, r + 2 * SEG as u32);
}

#[test]
fn every_second_full_sized_segment_is_acked_at_once_without_timestamps() {
    let opts = TcpOptions {
        timestamps: None,
        ..Peer::full_syn_options()
    };
    let mut x = passive_with(config(), opts, 2048);
    let r = PEER_ISN + 1;
    assert!(x.p.send_data(&pattern(1460, 3)).is_empty());
    let outs = x.p.send_data(&pattern(1460, 4));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r + 2920);
    // A third one starts the count again: delayed.
    assert!(x.p.send_data(&pattern(1460, 5)).is_empty());
}

#[test]
fn out_of_order_data_gets_duplicate_acks_with_sack_blocks_most_recent_first() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let s = SEG as u32;
    let data = pattern(8 * SEG, 5);
    let chunk = |i: usize| &data[i * SEG..(i + 1) * SEG];
    let send_at = |x: &mut Passive, i: usize| {
        let seg =
            x.p.seg(ACK)
                .seq(r + i as u32 * s)
                .data(&data[i * SEG..(i + 1) * SEG]);
        x.p.send(seg)
    };
    // Segments 1, 3, 5, 7 arrive; 0, 2, 4, 6 are missing.
    let mut expect: Vec<(u32, u32)> = Vec::new();
    for i in [1usize, 3, 5, 7] {
        let outs = send_at(&mut x, i);
        // RFC 5681 §4.2: an out-of-order segment gets an immediate duplicate ACK.
        assert_eq!(outs.len(), 1, "segment {i}: {outs:?}");
        assert!(outs[0].is_pure_ack());
        assert_eq!(outs[0].ack, r);
        // RFC 2018 §4: the first block reports the most recent segment; up to 3 blocks fit
        // next to timestamps.
        expect.insert(0, (r + i as u32 * s, r + (i as u32 + 1) * s));
        expect.truncate(3);
        assert_eq!(outs[0].sack(), expect, "segment {i}");
        assert!(outs[0].options.timestamps.is_some());
    }
    // Filling the holes: an immediate ACK each time (RFC 5681 §4.2), covering all in-order data.
    let fills = [
        (
            0usize,
            r + 2 * s,
            vec![
                (r + 7 * s, r + 8 * s),
                (r + 5 * s, r + 6 * s),
                (r + 3 * s, r + 4 * s),
            ],
        ),
        (
            2,
            r + 4 * s,
            vec![(r + 7 * s, r + 8 * s), (r + 5 * s, r + 6 * s)],
        ),
        (4, r + 6 * s, vec![(r + 7 * s, r + 8 * s)]),
        (6, r + 8 * s, vec![]),
    ];
    for (i, ack, sack) in fills {
        let outs = send_at(&mut x, i);
        assert_eq!(outs.len(), 1, "fill {i}: {outs:?}");
        assert_eq!(outs[0].ack, ack, "fill {i}");
        assert_eq!(outs[0].sack(), sack, "fill {i}");
    }
    let got = x.p.read_all(x.h);
    assert_eq!(got.len(), data.len());
    assert_eq!(&got[..SEG], chunk(0));
    assert_eq!(got, data);
}

#[test]
fn twenty_holes_are_all_held_and_delivered_when_filled() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(4000, 6);
    // 20 disjoint 100-byte pieces at offsets 100, 300, ..., 3900 (smoltcp keeps 4 holes).
    for i in 0..20u32 {
        let off = 200 * i + 100;
        let seg =
            x.p.seg(ACK)
                .seq(r + off)
                .data(&data[off as usize..off as usize + 100]);
        let outs = x.p.send(seg);
        assert_eq!(outs.len(), 1, "piece {i}: {outs:?}");
        assert_eq!(outs[0].ack, r);
        assert_eq!(outs[0].sack()[0], (r + off, r + off + 100), "piece {i}");
    }
    let mut b = [0u8; 16];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Err(TcpError::WouldBlock));
    // Fill holes 19..1 (each still out of order), then hole 0.
    for i in (1..20u32).rev() {
        let off = 200 * i;
        let seg =
            x.p.seg(ACK)
                .seq(r + off)
                .data(&data[off as usize..off as usize + 100]);
        let outs = x.p.send(seg);
        assert_eq!(outs.len(), 1, "hole {i}: {outs:?}");
        assert_eq!(outs[0].ack, r, "hole {i}");
    }
    let outs = x.p.send(x.p.seg(ACK).seq(r).data(&data[..100]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r + 4000);
    assert!(outs[0].sack().is_empty());
    assert_eq!(x.p.read_all(x.h), data);
}

#[test]
fn data_beyond_the_window_is_trimmed_or_refused() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    // Get the full window advertised: 256 KiB (field 32768 << 3).
    x.p.send_data(b"0123456789");
    assert_eq!(x.p.read_all(x.h), b"0123456789");
    let outs = x.p.run_until(x.p.now + ms(50));
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].window, 32768);
    let r = r + 10;
    let wnd = 256u32 << 10;
    // Entirely beyond RCV.NXT + RCV.WND: not acceptable → ACK, drop (RFC 9293 §3.10.7.4).
    let outs = x.p.send(x.p.seg(ACK).seq(r + wnd).data(&[7; 100]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r);
    assert!(
        outs[0].sack().is_empty(),
        "nothing beyond the window was kept"
    );
    // Straddling the right edge: the part inside is kept, the rest trimmed.
    let outs = x.p.send(x.p.seg(ACK).seq(r + wnd - 100).data(&[8; 200]));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ack, r);
    assert_eq!(outs[0].sack(), vec![(r + wnd - 100, r + wnd)]);
}

#[test]
fn old_duplicate_segment_is_acked_and_not_delivered_twice() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let data = pattern(100, 7);
    x.p.send_data(&data);
    x.p.run_until(x.p.now + ms(50));
    // The same segment again: entirely old → immediate ACK with RCV.NXT.
    let outs = x.p.send(x.p.seg(ACK).seq(r).data(&data));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(outs[0].ack, r + 100);
    // Half old, half new: the new half is taken (RFC 9293 §3.10.7.4: trim to the window).
    let more = pattern(100, 8);
    let mut overlap = data[50..].to_vec();
    overlap.extend_from_slice(&more[..50]);
    // (With SACK the ACK carries a D-SACK block and goes at once, RFC 2883 §4; it is in
    // `outs` either way.)
    let mut outs = x.p.send(x.p.seg(ACK).seq(r + 50).data(&overlap));
    outs.extend(x.p.run_until(x.p.now + ms(50)));
    assert_eq!(outs.last().unwrap().ack, r + 150);
    let mut want = data.clone();
    want.extend_from_slice(&more[..50]);
    assert_eq!(x.p.read_all(x.h), want);
}

// ============================================================================================
// 5. RFC 5961
// ============================================================================================

#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let mut x = passive_full(config(), 2048);
    // RFC 5961 §3.2: RST with SEG.SEQ == RCV.NXT resets the connection.
    let outs = x.p.send(x.p.seg(RST).no_ts());
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(x.p.state(x.h), Some(State::Closed));
    let mut b = [0u8; 8];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Err(TcpError::Reset));
    assert_eq!(x.p.stack.tcp_send(x.h, b"x"), Err(TcpError::Reset));
}

#[test]
fn rst_in_window_not_exact_gets_challenge_ack() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    for off in [1u32, 1000, 200_000] {
        let outs = x.p.send(x.p.seg(RST).seq(r + off));
        // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
        assert_eq!(outs.len(), 1, "offset {off}: {outs:?}");
        assert!(outs[0].is_pure_ack());
        assert_eq!((outs[0].seq, outs[0].ack), (x.p.iss + 1, r));
        assert_eq!(x.p.state(x.h), Some(State::Established));
    }
    assert_eq!(x.p.stack.stats().drops(DropReason::TcpRstNotExact), 3);
}

#[test]
fn rst_outside_window_is_dropped_silently() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    for seq in [
        r + (256 << 10),
        r + 300_000,
        r.wrapping_sub(1),
        r.wrapping_sub(70_000),
    ] {
        let outs = x.p.send(x.p.seg(RST | ACK).seq(seq));
        assert!(outs.is_empty(), "seq {seq}: {outs:?}");
        assert_eq!(x.p.state(x.h), Some(State::Established));
    }
}

#[test]
fn syn_in_established_gets_challenge_ack_not_reset() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    // RFC 5961 §4.2: a SYN, whatever its sequence number, gets <SEQ=SND.NXT><ACK=RCV.NXT>.
    for seq in [r, r + 500, 0x1234_5678] {
        let outs =
            x.p.send(x.p.seg(SYN).seq(seq).ack(0).opts(Peer::full_syn_options()));
        assert_eq!(outs.len(), 1, "seq {seq}: {outs:?}");
        assert!(outs[0].is_pure_ack(), "{outs:?}");
        assert_eq!((outs[0].seq, outs[0].ack), (x.p.iss + 1, r));
        assert_eq!(x.p.state(x.h), Some(State::Established));
    }
    // Still works.
    let outs = x.p.send_data(b"abc");
    assert!(outs.is_empty());
    assert_eq!(x.p.read_all(x.h), b"abc");
}

fn count_challenge_acks(rate: u32) -> usize {
    let cfg = Config {
        tcp_challenge_ack_rate: rate,
        ..config()
    };
    let mut x = passive_full(cfg, 2048);
    let r = PEER_ISN + 1;
    let mut acks = 0;
    for i in 0..5000u32 {
        let outs = x.p.send(x.p.seg(RST).seq(r + 1 + i));
        assert!(outs.iter().all(|o| o.is_pure_ack() && o.ack == r));
        acks += outs.len();
    }
    assert_eq!(x.p.state(x.h), Some(State::Established));
    acks
}

#[test]
fn challenge_acks_are_rate_limited() {
    // RFC 5961 §7: challenge ACKs MUST be rate-limited.
    let n = count_challenge_acks(1000);
    assert!(
        (1..=1000).contains(&n),
        "{n} challenge ACKs for 5000 RSTs at 1000/s"
    );
    let n = count_challenge_acks(10);
    assert!(
        (1..=10).contains(&n),
        "{n} challenge ACKs for 5000 RSTs at 10/s"
    );
}

#[test]
fn ack_for_unsent_data_is_acked_and_segment_dropped() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    // RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT → send ACK, drop the segment (its data too).
    let outs =
        x.p.send(x.p.seg(ACK | PSH).ack(x.p.iss + 1 + 1000).data(b"evil"));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (x.p.iss + 1, r));
    let mut b = [0u8; 8];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Err(TcpError::WouldBlock));
    assert_eq!(x.p.state(x.h), Some(State::Established));
}

#[test]
fn ack_too_old_is_dropped_with_challenge_ack_but_old_within_max_snd_wnd_is_fine() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    let una = x.p.iss + 1;
    // MAX.SND.WND = 2048 << 7 = 262144. RFC 5961 §5.2: an ACK below SND.UNA − MAX.SND.WND is
    // discarded and answered with an ACK.
    let too_old = una.wrapping_sub(262_144 + 1);
    let outs = x.p.send(x.p.seg(ACK | PSH).ack(too_old).data(b"evil"));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!((outs[0].seq, outs[0].ack), (una, r));
    let mut b = [0u8; 8];
    assert_eq!(x.p.stack.tcp_recv(x.h, &mut b), Err(TcpError::WouldBlock));
    // An old ACK inside the range is merely a duplicate: the data is accepted.
    let outs =
        x.p.send(x.p.seg(ACK | PSH).ack(una.wrapping_sub(1000)).data(b"good"));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(x.p.read_all(x.h), b"good");
}

// ============================================================================================
// 6. PAWS (RFC 7323 §5)
// ============================================================================================

#[test]
fn paws_drops_segment_with_older_tsval_and_acks() {
    let mut x = passive_full(config(), 2048);
    let r = PEER_ISN + 1;
    x.p.tsval = Some(200);
    assert!(x.p.send_data(b"0123456789").is_empty());
    // Same sequence space continues, but TSval goes back to 150: R1 of §5.3 — drop, send ACK.
    x.p.tsval = Some(150);
    let seg = x.p.seg(ACK | PSH).data(b"old-old-ol");
    let outs = x.p.send(seg.clone());
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(outs[0].is_pure_ack());
    assert_eq!(
        outs[0].ack,
        r + 10,
        "the PAWS-rejected data is not acknowledged"
    );
    assert_eq!(
        outs[0].options.timestamps.unwrap().1,
        200,
        "TSecr = TS.Recent"
    );
    assert_eq!(x.p.stack.stats().drops(DropReason::TcpPaws), 1);
    assert_eq!(x.p.read_all(x.h), b"0123456789");
    // With a current TSval the same data is taken.
    let outs = x.p.send(seg.ts(201, x.p.ts_recent));
    assert!(outs.is_empty());
    assert_eq!(x.p.read_all(x.h), b"old-old-ol");
}

// ============================================================================================
// 7. Sending (RFC 6928, RFC 5681, RFC 6582, RFC 6298, RFC 9293 §3.7.4 / §3.8.6.1)
// ============================================================================================

#[test]
fn bulk_send_respects_mss_and_initial_window_and_acks_open_cwnd() {
    let mut x = passive_full(config(), 2048);
    let data = pattern(100 << 10, 9);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    // RFC 6928: at most IW = 14600 bytes → at most 10 segments (exact count: its own test).
    assert!(!outs.is_empty() && outs.len() <= 10, "{}", outs.len());
    let mut seq = x.p.iss + 1;
    for o in &outs {
        assert_eq!(o.seq, seq);
        // RFC 6691: the MSS limits data; options come out of it.
        assert_eq!(o.payload.len(), SEG);
        assert!(o.ip_len <= 1500);
        seq = o.end();
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.bytes_in_flight, outs.len() * SEG);
    let cwnd0 = info.cwnd;
    // Nothing more until an ACK.
    assert!(x.p.tick(ms(10)).is_empty());
    // ACK of two segments: slow start grows cwnd by 2 segments → 4 new ones (2 replace + 2).
    let outs = x.p.send_ack(x.p.iss + 1 + 2 * SEG as u32);
    assert!(outs.len() >= 2, "{outs:?}");
    assert_eq!(outs[0].seq, seq);
    assert!(x.p.stack.tcp_info(x.h).unwrap().cwnd > cwnd0);
    // Keep acknowledging everything until all data is through.
    let mut got = data[..seq.wrapping_sub(x.p.iss + 1) as usize].to_vec();
    let mut pending = outs;
    let mut rounds = 0;
    while got.len() < data.len() {
        rounds += 1;
        assert!(rounds < 100, "transfer stalled at {}", got.len());
        let mut top = None;
        for o in &pending {
            assert_eq!(o.seq, seq, "in order, no retransmissions");
            assert!(o.payload.len() <= SEG);
            got.extend_from_slice(&o.payload);
            seq = o.end();
            top = Some(seq);
        }
        let Some(top) = top else {
            panic!("nothing sent; {:?}", x.p.stack.tcp_info(x.h))
        };
        pending = x.p.send_ack(top);
    }
    assert_eq!(got, data);
}

#[test]
fn initial_window_is_ten_segments_for_mss_1460() {
    let mut x = passive_full(config(), 2048);
    // RFC 6928 §2 / RFC 5681 §3.1: IW = min(10*SMSS, max(2*SMSS, 14600)) with the SMSS of the
    // connection — 1460 after the peer's MSS option — i.e. 14600 bytes, 10 segments of 1448.
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.smss, 1460);
    assert_eq!(info.cwnd, 14600, "IW computed for SMSS 1460");
    x.p.stack.tcp_send(x.h, &pattern(64 << 10, 3)).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10, "segments in the initial burst");
}

/// Sends exactly ten full segments; returns their sequence numbers.
///
/// First grows cwnd past ten segments with a fully acknowledged warm-up transfer, so that these
/// tests do not depend on the initial window (tested on its own above).
fn ten_segments(x: &mut Passive) -> Vec<u32> {
    let warm = pattern(40 * SEG, 99);
    assert_eq!(x.p.stack.tcp_send(x.h, &warm), Ok(warm.len()));
    let mut outs = x.p.drain();
    for _ in 0..100 {
        let Some(top) = outs.last().map(|o| o.end()) else {
            break;
        };
        outs = x.p.send_ack(top);
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.send_queue, 0, "warm-up finished: {info:?}");
    assert!(info.cwnd >= 11 * SEG, "warm-up grew cwnd: {info:?}");
    let data = pattern(10 * SEG, 10);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 10);
    outs.iter().map(|o| o.seq).collect()
}

#[test]
fn three_dup_acks_fast_retransmit_only_the_lost_segment() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let end = s[9] + SEG as u32;
    // Segments 0, 1 arrive; 2 is lost; 3.. arrive.
    x.p.ack = s[2];
    assert!(x.p.send(x.p.seg(ACK)).is_empty());
    let mut retransmitted = Vec::new();
    for i in 3..10 {
        let seg = x.p.seg(ACK).sack(&[(s[3], s[i] + SEG as u32)]);
        let outs = x.p.send(seg);
        for o in &outs {
            assert!(!o.payload.is_empty(), "{o:?}");
            retransmitted.push((i, o.seq, o.payload.len()));
        }
    }
    // RFC 5681 §3.2 / RFC 6675: the third duplicate ACK retransmits the first unSACKed segment,
    // once; nothing else was lost.
    assert_eq!(retransmitted, vec![(5, s[2], SEG)]);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.fast_retransmits, 1);
    assert!(info.in_recovery);
    // The repair is acknowledged: recovery ends.
    let outs = x.p.send_ack(end);
    assert!(outs.is_empty(), "{outs:?}");
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert!(!info.in_recovery);
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(info.stats.timeouts, 0);
}

#[test]
fn rto_retransmits_from_snd_una_with_doubling_timeout() {
    let mut x = passive_full(config(), 2048);
    let t_send = x.p.now;
    let s = ten_segments(&mut x);
    let mut times = Vec::new();
    for _ in 0..3 {
        let (t, outs) = x.p.next_output(t_send + Duration::from_secs(30)).unwrap();
        // RFC 6298 §5.4: retransmit the earliest unacknowledged segment; RFC 5681 §3.1: cwnd
        // is one segment after a timeout.
        assert_eq!(outs.len(), 1, "{outs:?}");
        assert_eq!(outs[0].seq, s[0]);
        assert_eq!(outs[0].payload.len(), SEG);
        times.push(t);
    }
    let d1 = times[0] - t_send;
    let d2 = times[1] - times[0];
    let d3 = times[2] - times[1];
    assert!(
        d1 >= ms(200) && d1 <= Duration::from_secs(1),
        "first RTO {d1}"
    );
    // RFC 6298 §5.5: back off the timer, RTO ← RTO * 2.
    assert_eq!(d2.total_micros(), 2 * d1.total_micros());
    assert_eq!(d3.total_micros(), 4 * d1.total_micros());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.stats.timeouts, 3);
    // The ACK of the first segment: slow start from one segment, go on from SND.UNA.
    let outs = x.p.send_ack(s[1]);
    let seqs: Vec<u32> = outs.iter().map(|o| o.seq).collect();
    assert_eq!(seqs, vec![s[1], s[2]]);
}

#[test]
fn rto_resend_skips_sacked_ranges() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let seg = SEG as u32;
    // The peer holds 2 and 3 (one duplicate ACK: not enough for fast retransmit).
    let outs = x.p.send(x.p.seg(ACK).ack(s[0]).sack(&[(s[2], s[4])]));
    x.p.ack = s[0];
    assert!(outs.is_empty(), "{outs:?}");
    let (_, outs) = x.p.next_output(x.p.now + Duration::from_secs(5)).unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].seq, s[0]);
    // Segment 0 repaired: cwnd is 2 segments. Segment 1 is resent; 2 and 3 are not
    // (RFC 6675 §5.1 / RFC 2018 §8: the SACKed data need not be resent).
    x.p.ack = s[1];
    let outs = x.p.send(x.p.seg(ACK).sack(&[(s[2], s[4])]));
    assert!(!outs.is_empty());
    assert_eq!(outs[0].seq, s[1]);
    for o in &outs {
        assert!(
            !(o.seq >= s[2] && o.seq < s[4]),
            "SACKed segment resent: {} (holes {}..{})",
            o.seq,
            s[2],
            s[4]
        );
    }
    // When 1 is acknowledged the peer has everything up to 4: sending resumes there.
    let outs = x.p.send_ack(s[4]);
    assert!(!outs.is_empty());
    assert!(outs.iter().all(|o| o.seq >= s[4] && o.seq < s[9] + seg));
    assert_eq!(outs[0].seq, s[4]);
}

#[test]
fn nagle_holds_small_write_until_ack_and_nodelay_sends_at_once() {
    let mut x = passive_full(config(), 2048);
    let una = x.p.iss + 1;
    x.p.stack.tcp_send(x.h, &[1; 100]).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una, 100));
    // RFC 9293 §3.7.4: with data in flight a small segment waits for the ACK.
    x.p.stack.tcp_send(x.h, &[2; 50]).unwrap();
    assert!(x.p.drain().is_empty());
    assert!(x.p.tick(ms(100)).is_empty(), "held until the ACK");
    let outs = x.p.send_ack(una + 100);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una + 100, 50));
    // TCP_NODELAY: sent at once.
    x.p.stack.tcp_set_nodelay(x.h, true).unwrap();
    x.p.stack.tcp_send(x.h, &[3; 30]).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1);
    assert_eq!((outs[0].seq, outs[0].payload.len()), (una + 150, 30));
}

#[test]
fn zero_window_is_probed_with_backoff_and_sending_resumes() {
    let mut x = passive_full(config(), 0);
    let una = x.p.iss + 1;
    let data = pattern(1000, 11);
    x.p.stack.tcp_send(x.h, &data).unwrap();
    assert!(x.p.drain().is_empty(), "the peer's window is zero");
    let mut times = vec![x.p.now];
    for _ in 0..3 {
        let (t, outs) = x.p.next_output(x.p.now + Duration::from_secs(120)).unwrap();
        assert_eq!(outs.len(), 1, "{outs:?}");
        let probe = &outs[0];
        // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a probe the receiver must answer: either one
        // byte of new data, or an old sequence number (SND.UNA − 1) as Linux does.
        let one_byte = probe.seq == una && probe.payload.len() == 1;
        let old_seq = probe.seq == una.wrapping_sub(1) && probe.payload.is_empty();
        assert!(one_byte || old_seq, "{probe:?}");
        times.push(t);
        // The peer answers, still with a zero window.
        assert!(x.p.send(x.p.seg(ACK)).is_empty());
    }
    let d1 = times[1] - times[0];
    let d2 = times[2] - times[1];
    let d3 = times[3] - times[2];
    assert!(d1 >= ms(200), "{d1}");
    assert_eq!(
        d2.total_micros(),
        2 * d1.total_micros(),
        "exponential backoff"
    );
    assert_eq!(
        d3.total_micros(),
        4 * d1.total_micros(),
        "exponential backoff"
    );
    // The window opens: everything goes.
    x.p.wnd = 2048;
    let outs = x.p.send(x.p.seg(ACK));
    let mut got = Vec::new();
    for o in &outs {
        got.extend_from_slice(&o.payload);
    }
    assert_eq!(outs[0].seq, una);
    assert_eq!(got, data);
}

// ============================================================================================
// 8. Closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step)
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

// ============================================================================================
// 9. Sequence numbers wrapping past 2^32 (RFC 9293 §3.4)
// ============================================================================================

/// The instant at which the stack's ISN for `PEER:peer_port → US:80` is `target`.
fn time_for_isn(cfg: &Config, peer_port: u16, target: u32) -> Instant {
    let g = IsnGenerator::new(cfg.secret);
    let f = g
        .isn(
            Instant::ZERO,
            SocketAddrV4::new(US, PORT),
            SocketAddrV4::new(PEER, peer_port),
        )
        .0;
    let ticks = u64::from(target.wrapping_sub(f));
    let mut t = ticks * 4;
    while t < T0.total_micros() {
        t += 4 << 32;
    }
    Instant::from_micros(t)
}

#[test]
fn sequence_numbers_wrap_both_ways() {
    let cfg = config();
    let peer_isn = 0xFFFF_FF00u32;
    let our_isn = 0xFFFF_8000u32;
    let mut p = Peer::new(cfg.clone());
    p.now = time_for_isn(&cfg, PEER_PORT, our_isn);
    let l = p.stack.tcp_listen(PORT, 4).unwrap();
    let outs = p.send(Seg::new(PEER_PORT, PORT, peer_isn, 0, SYN).opts(Peer::full_syn_options()));
    assert_eq!(outs[0].seq, our_isn, "chose the time to get this ISN");
    assert_eq!(outs[0].ack, peer_isn.wrapping_add(1));
    p.iss = our_isn;
    p.seq = peer_isn.wrapping_add(1);
    p.ack = our_isn.wrapping_add(1);
    p.tsval = Some(PEER_TS);
    p.wnd = 2048;
    assert!(p.send(p.seg(ACK)).is_empty());
    let h = p.stack.tcp_accept(l).unwrap();

    // Peer → us: 64 KiB across the wrap.
    let data = pattern(64 << 10, 13);
    for c in data.chunks(SEG) {
        p.send_data(c);
    }
    let outs = p.run_until(p.now + ms(100));
    assert_eq!(
        outs.last().unwrap().ack,
        peer_isn.wrapping_add(1 + (64 << 10))
    );
    assert_eq!(p.seq, 0x0000_FF01);
    assert_eq!(p.read_all(h), data);

    // Us → peer: 64 KiB across the wrap.
    let data = pattern(64 << 10, 14);
    assert_eq!(p.stack.tcp_send(h, &data), Ok(data.len()));
    let mut got = Vec::new();
    let mut next = our_isn.wrapping_add(1);
    let mut outs = p.drain();
    let mut rounds = 0;
    while got.len() < data.len() {
        rounds += 1;
        assert!(rounds < 50, "stalled at {}", got.len());
        assert!(!outs.is_empty(), "{:?}", p.stack.tcp_info(h));
        for o in &outs {
            assert_eq!(o.seq, next);
            got.extend_from_slice(&o.payload);
            next = o.end();
        }
        outs = p.send_ack(next);
    }
    assert_eq!(got, data);
    assert_eq!(next, our_isn.wrapping_add(1 + (64 << 10)));
    assert!(next < our_isn, "wrapped");
    assert_eq!(p.stack.tcp_info(h).unwrap().bytes_in_flight, 0);
}

// ============================================================================================
// 10. Options (RFC 9293 §3.1, §3.7.1; RFC 7323 §2.3; RFC 1122 §4.2.2.5)
// ============================================================================================

/// Handshake with raw SYN options from `port`; returns the SYN-ACK and the TcpInfo.
fn handshake_raw(
    p: &mut Peer,
    l: ustack::tcp::ListenHandle,
    port: u16,
    raw: &[u8],
    final_window: u16,
) -> (Out, ustack::tcp::TcpInfo) {
    p.port = port;
    p.seq = PEER_ISN;
    p.tsval = None;
    let outs = p.send(p.seg(SYN).ack(0).raw_opts(raw));
    assert_eq!(outs.len(), 1, "options {raw:?}: {outs:?}");
    let sa = outs[0].clone();
    assert_eq!(sa.ctl(), SYN | ACK, "options {raw:?}");
    p.seq = PEER_ISN + 1;
    p.ack = sa.seq.wrapping_add(1);
    if sa.options.timestamps.is_some() {
        p.tsval = Some(PEER_TS);
    }
    p.wnd = final_window;
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(l).expect("handshake completes");
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.state, State::Established);
    // And it carries data.
    p.stack.tcp_send(h, &[0x55; 3000]).unwrap();
    let outs = p.drain();
    assert!(!outs.is_empty());
    for o in &outs {
        assert!(
            o.payload.len() + o.options.emitted_len() <= info.smss,
            "{o:?}"
        );
    }
    (sa, info)
}

#[test]
fn malformed_syn_options_are_survived() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // Length 0: parsing stops; nothing usable → 536, no wscale/SACK/TS.
    let (sa, info) = handshake_raw(&mut p, l, 1001, &[2, 0, 5, 180, 3, 3, 7, 0], 100);
    assert_eq!(sa.options.window_scale, None);
    assert_eq!(info.smss, 536);
    // Length 1.
    let (_, info) = handshake_raw(&mut p, l, 1002, &[4, 1, 2, 4, 5, 180], 100);
    assert_eq!(info.smss, 536);
    // MSS, then timestamps whose length overruns the area: MSS kept, timestamps ignored.
    let (sa, info) = handshake_raw(&mut p, l, 1003, &[2, 4, 5, 180, 8, 10, 0, 0], 100);
    assert_eq!(info.smss, 1460);
    assert_eq!(sa.options.timestamps, None);
    // A kind with no length byte at the very end.
    let (_, info) = handshake_raw(&mut p, l, 1004, &[1, 1, 1, 2], 100);
    assert_eq!(info.smss, 536);
    // Unknown kinds are skipped by their length.
    let (sa, info) = handshake_raw(
        &mut p,
        l,
        1005,
        &[30, 6, 1, 2, 3, 4, 2, 4, 5, 180, 1, 3, 3, 7, 99, 2],
        100,
    );
    assert_eq!(info.smss, 1460);
    assert_eq!(sa.options.window_scale, Some(3));
    assert_eq!(info.snd_wnd, 100 << 7);
    // Known kinds with the wrong length are skipped.
    let (_, info) = handshake_raw(&mut p, l, 1006, &[2, 3, 9, 2, 4, 5, 180, 0], 100);
    assert_eq!(info.smss, 1460);
    // 40 bytes of NOPs.
    let (_, info) = handshake_raw(&mut p, l, 1007, &[1; 40], 100);
    assert_eq!(info.smss, 536);
}

#[test]
fn window_scale_above_14_is_capped() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // RFC 7323 §2.3: a shift above 14 is used as 14 (with a window field of 1 → 16384).
    let (sa, info) = handshake_raw(&mut p, l, 2001, &[1, 3, 3, 15, 2, 4, 5, 180], 1);
    assert_eq!(sa.options.window_scale, Some(3));
    assert_eq!(info.snd_wnd, 1 << 14);
    let (_, info) = handshake_raw(&mut p, l, 2002, &[1, 3, 3, 255, 2, 4, 5, 180], 2);
    assert_eq!(info.snd_wnd, 2 << 14);
}

#[test]
fn mss_option_is_clamped() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 64).unwrap();
    // MSS 0 cannot be used as is: clamped to ustack's floor of 64.
    let (_, info) = handshake_raw(&mut p, l, 3001, &[2, 4, 0, 0], 1000);
    assert_eq!(info.smss, 64);
    // MSS 65535: clamped to what our MTU allows (1500 − 40).
    let (_, info) = handshake_raw(&mut p, l, 3002, &[2, 4, 0xff, 0xff], 1000);
    assert_eq!(info.smss, 1460);
    let (_, info) = handshake_raw(&mut p, l, 3003, &[2, 4, 0x02, 0x00], 1000);
    assert_eq!(info.smss, 512);
}

#[test]
fn tcp_info_reports_the_connection() {
    let x = passive_full(config(), 2048);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(info.local, SocketAddrV4::new(US, PORT));
    assert_eq!(info.remote, SocketAddrV4::new(PEER, PEER_PORT));
    assert_eq!(info.smss, 1460);
    assert!(info.cwnd >= 2 * info.smss, "{info:?}");
    assert_eq!(info.snd_wnd, 2048 << 7);
    assert_eq!(info.rcv_wnd, 256 << 10);
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(info.send_queue, 0);
    assert_eq!(info.recv_queue, 0);
    assert!(!info.in_recovery);
    assert!(
        info.srtt.is_some(),
        "the handshake's timestamps give an RTT sample"
    );
    assert!(info.rto >= ms(200));
    assert_eq!(info.congestion, "newreno");
}

// ============================================================================================
// 11. ICMP errors for TCP (RFC 1191, RFC 5927, RFC 1122 §4.2.3.9)
// ============================================================================================

/// An ICMP error from `from` quoting a segment of ours: `US:us_port → PEER:peer_port`, `seq`.
fn icmp_about(
    from: std::net::Ipv4Addr,
    icmp_type: u8,
    code: u8,
    next_mtu: u16,
    us_port: u16,
    peer_port: u16,
    seq: u32,
) -> Vec<u8> {
    let mut quote = vec![0u8; 28];
    Ipv4Repr {
        src: US,
        dst: PEER,
        protocol: TCP,
        ttl: 64,
        ident: 1,
        dont_fragment: true,
        more_fragments: false,
        frag_offset: 0,
        payload_len: 1480,
    }
    .emit(&mut quote);
    quote[20..22].copy_from_slice(&us_port.to_be_bytes());
    quote[22..24].copy_from_slice(&peer_port.to_be_bytes());
    quote[24..28].copy_from_slice(&seq.to_be_bytes());
    let m = next_mtu.to_be_bytes();
    let msg = common::icmp_msg(icmp_type, code, [0, 0, m[0], m[1]], &quote);
    common::Ip::new(common::ICMP).src(from).build(&msg)
}

const ROUTER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 254);

#[test]
fn frag_needed_lowers_mss() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let pkt = icmp_about(ROUTER, 3, 4, 1000, PORT, PEER_PORT, s[3]);
    let outs = x.p.send_raw(&pkt);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    // RFC 1191 §6: MSS = next-hop MTU − 40.
    assert_eq!(info.smss, 960);
    // What is resent and sent from now on fits the new MTU.
    assert!(!outs.is_empty(), "lost data resent at the new size");
    assert_eq!(outs[0].seq, s[0]);
    for o in &outs {
        assert!(o.ip_len <= 1000, "{} bytes", o.ip_len);
        assert!(o.payload.len() <= 960 - 12);
    }
}

#[test]
fn icmp_quoting_sequence_outside_the_window_is_ignored() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    let end = s[9] + SEG as u32;
    // RFC 5927 §4.1: only errors quoting SND.UNA =< SEG.SEQ < SND.NXT are believed.
    for seq in [
        s[0].wrapping_sub(1),
        s[0].wrapping_sub(100_000),
        end,
        end + 5000,
    ] {
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, 4, 600, PORT, PEER_PORT, seq));
        assert!(outs.is_empty(), "seq {seq}: {outs:?}");
        assert_eq!(x.p.stack.tcp_info(x.h).unwrap().smss, 1460, "seq {seq}");
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, 3, 0, PORT, PEER_PORT, seq));
        assert!(outs.is_empty());
        assert_eq!(x.p.state(x.h), Some(State::Established));
    }
}

#[test]
fn port_unreachable_in_syn_sent_fails_connect() {
    let (mut p, h, syn) = active_syn(config());
    let pkt = icmp_about(PEER, 3, 3, 0, p.us_port, PORT, syn.seq);
    p.send_raw(&pkt);
    assert_eq!(p.state(h), Some(State::Closed));
    let mut b = [0u8; 4];
    match p.stack.tcp_recv(h, &mut b) {
        Err(TcpError::Unreachable(e)) => {
            assert_eq!((e.icmp_type, e.code), (3, 3));
            assert!(e.is_port_unreachable());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // No more SYNs.
    assert!(p.run_until(p.now + Duration::from_secs(10)).is_empty());
}

#[test]
fn soft_icmp_error_in_established_does_not_abort() {
    let mut x = passive_full(config(), 2048);
    let s = ten_segments(&mut x);
    // RFC 1122 §4.2.3.9 / RFC 5461: host unreachable is soft for an established connection.
    for code in [0u8, 1] {
        let outs =
            x.p.send_raw(&icmp_about(ROUTER, 3, code, 0, PORT, PEER_PORT, s[0]));
        assert!(outs.is_empty(), "{outs:?}");
        assert_eq!(x.p.state(x.h), Some(State::Established));
        assert_eq!(x.p.stack.tcp_error(x.h), None);
    }
    assert!(x.p.send_ack(s[9] + SEG as u32).is_empty());
    assert_eq!(x.p.stack.tcp_info(x.h).unwrap().bytes_in_flight, 0);
}

// ============================================================================================
// 12. SYN flood: bounded half-open table, SYN cookies (RFC 4987 §3.6)
// ============================================================================================

#[test]
fn syn_flood_is_bounded_and_cookies_complete() {
    let cfg = Config {
        tcp_syn_backlog: 16,
        ..config()
    };
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 1024).unwrap();
    let mut synacks = Vec::new();
    for i in 0..1000u16 {
        let port = 10_000 + i;
        let s = Seg::new(port, PORT, 5000 + u32::from(i) * 7, 0, SYN).opts(TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        });
        let outs = p.send(s);
        assert_eq!(outs.len(), 1, "SYN {i}: {outs:?}");
        assert_eq!(outs[0].ctl(), SYN | ACK);
        assert_eq!(outs[0].dst_port, port);
        assert_eq!(outs[0].ack, 5000 + u32::from(i) * 7 + 1);
        synacks.push(outs[0].clone());
    }
    let (conns, half_open) = p.stack.tcp_counts();
    assert_eq!(
        half_open, 16,
        "the half-open table is bounded by tcp_syn_backlog"
    );
    assert_eq!(conns, half_open, "cookie SYN-ACKs keep no state");
    // The first 16 got stateful SYN-ACKs; the rest cookies, which carry only MSS
    // (RFC 4987 §3.6: the cookie cannot encode the other options here).
    for (i, sa) in synacks.iter().enumerate().skip(16) {
        assert_eq!(sa.options.window_scale, None, "cookie SYN-ACK {i}");
        assert_eq!(sa.options.timestamps, None, "cookie SYN-ACK {i}");
    }
    // Complete one cookie handshake.
    let i = 500usize;
    let port = 10_000 + i as u16;
    let peer_seq = 5000 + i as u32 * 7 + 1;
    let cookie = synacks[i].seq;
    assert_eq!(synacks[i].options.mss, Some(1460));
    p.port = port;
    p.seq = peer_seq;
    p.ack = cookie.wrapping_add(1);
    p.tsval = None;
    let outs = p.send(p.seg(ACK));
    assert!(outs.is_empty(), "{outs:?}");
    let h = p.stack.tcp_accept(l).expect("cookie connection accepted");
    assert_eq!(p.state(h), Some(State::Established));
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.remote.port(), port);
    assert_eq!(info.smss, 1460);
    // It carries data both ways.
    p.send_data(b"ping");
    assert_eq!(p.read_all(h), b"ping");
    p.stack.tcp_send(h, b"pong").unwrap();
    let outs = p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(
        (outs[0].seq, outs[0].ack),
        (cookie.wrapping_add(1), peer_seq + 4)
    );
    assert_eq!(outs[0].payload, b"pong");
    // A forged ACK with a wrong cookie: RST <SEQ=SEG.ACK>, counted.
    let j = 600usize;
    let bad = synacks[j].seq.wrapping_add(1) ^ 0x5555;
    let outs = p.send(Seg::new(
        10_000 + j as u16,
        PORT,
        5000 + j as u32 * 7 + 1,
        bad,
        ACK,
    ));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, bad));
    assert_eq!(p.stack.stats().drops(DropReason::TcpBadCookie), 1);
    // No connection was created for it.
    assert_eq!(p.stack.tcp_accept(l), Err(TcpError::WouldBlock));
    assert_eq!(p.stack.tcp_counts(), (17, 16));
}
