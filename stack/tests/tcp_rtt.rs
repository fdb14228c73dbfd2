//! RTT samples (RFC 6298 §2-§3) taken from the sent log's microsecond send times, as Linux takes
//! them from skb timestamps — not from the millisecond TSval clock, which reads a 0.18 ms path
//! as 0 or 1 ms — and never from a retransmitted segment (Karn).

mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags;
use ustack::Duration;

/// Payload small enough for one segment at the 536-byte default MSS too.
const LEN: usize = 500;

/// One segment out, and its ACK `rtt` later; returns the segment's end.
fn round_trip(x: &mut Passive, rtt: Duration) -> u32 {
    let data = pattern(LEN, 5);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs.len(), 1, "{outs:?}");
    x.p.now += rtt;
    let end = outs[0].end();
    let outs = x.p.send_ack(end);
    assert!(outs.is_empty(), "{outs:?}");
    end
}

#[test]
fn a_sub_millisecond_path_is_measured_in_microseconds_with_timestamps_on() {
    let mut x = passive_full(config(), 2048);
    let rtt = Duration::from_micros(180);
    for _ in 0..40 {
        round_trip(&mut x, rtt);
    }
    let info = x.p.stack.tcp_info(x.h).unwrap();
    let srtt = info.srtt.unwrap().total_micros();
    // 40 samples of 180 µs pull SRTT to within 1% of it from the handshake's 0 ms sample.
    assert!((170..=180).contains(&srtt), "srtt {srtt} µs: {info:?}");
    assert!(info.rttvar.unwrap().total_micros() < 100, "{info:?}");
}

#[test]
fn an_acknowledged_retransmission_is_not_timed() {
    let mut x = passive_plain(config(), 65535);
    round_trip(&mut x, ms(30));
    let before = x.p.stack.tcp_info(x.h).unwrap().srtt;
    let data = pattern(LEN, 6);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let first = x.p.drain();
    assert_eq!(first.len(), 1, "{first:?}");
    // No ACK: the RTO retransmits the segment; the ACK then comes 5 ms after the retransmission.
    let (_, again) =
        x.p.next_output(x.p.now + ms(5_000))
            .expect("a retransmission");
    assert_eq!(again[0].seq, first[0].seq, "{again:?}");
    x.p.now += ms(5);
    x.p.send_ack(first[0].end());
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.send_queue, 0, "{info:?}");
    assert_eq!(
        info.srtt, before,
        "Karn: the ACK of a retransmission is not timed"
    );
    // A segment sent once is timed again.
    round_trip(&mut x, ms(30));
    assert_ne!(x.p.stack.tcp_info(x.h).unwrap().srtt, before);
}

/// The peer's SYN options without timestamps.
fn no_ts() -> ustack::wire::tcp::TcpOptions {
    ustack::wire::tcp::TcpOptions {
        timestamps: None,
        ..Peer::full_syn_options()
    }
}

#[test]
fn a_passive_open_is_timed_by_its_handshake_in_microseconds() {
    // Linux shows the SYN-ACK → ACK sample on a connection that carried no data; the
    // millisecond timestamp echo read this 180 µs path as 0 (`rtt:0/0`).
    for opts in [Peer::full_syn_options(), no_ts()] {
        let x = passive_after(config(), opts, 2048, Duration::from_micros(180));
        let info = x.p.stack.tcp_info(x.h).unwrap();
        // RFC 6298 §2.2: the first measurement R gives SRTT = R, RTTVAR = R/2.
        assert_eq!(
            info.srtt,
            Some(Duration::from_micros(180)),
            "{opts:?}: {info:?}"
        );
        assert_eq!(
            info.rttvar,
            Some(Duration::from_micros(90)),
            "{opts:?}: {info:?}"
        );
    }
}

#[test]
fn a_syn_ack_sent_twice_is_not_timed_by_its_send_time() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let syn = p.seg(flags::SYN).ack(0).opts(no_ts()).win(65535);
    let first = p.send(syn.clone());
    assert_eq!(first.len(), 1, "{first:?}");
    p.now += ms(1_000);
    // The SYN again (our SYN-ACK "was lost"): the SYN-ACK is sent a second time.
    let again = p.send(syn);
    assert_eq!(again.len(), 1, "{again:?}");
    p.seq = PEER_ISN + 1;
    p.ack = first[0].seq.wrapping_add(1);
    p.now += Duration::from_micros(180);
    assert!(p.send(p.seg(flags::ACK)).is_empty());
    let h = p.stack.tcp_accept(l).expect("accepted");
    let info = p.stack.tcp_info(h).unwrap();
    assert_eq!(info.state, State::Established);
    // Karn (RFC 6298 §3): the ACK may answer either SYN-ACK, so neither is timed.
    assert_eq!(info.srtt, None, "{info:?}");
}

#[test]
fn the_mss_shown_is_less_the_timestamps_every_segment_carries() {
    let x = passive_full(config(), 2048);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!((info.smss, info.snd_mss), (1460, 1448), "{info:?}");
    let x = passive_with(config(), no_ts(), 2048);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!((info.smss, info.snd_mss), (1460, 1460), "{info:?}");
    // What the sender really puts in a full segment with timestamps: 1448 bytes.
    let mut x = passive_full(config(), 2048);
    let data = pattern(4000, 7);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    assert_eq!(outs[0].payload.len(), 1448, "{outs:?}");
}
