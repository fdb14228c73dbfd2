//! Loss recovery while closing, fixed sequence numbers: a tail loss probe that carries our FIN
//! in FIN-WAIT-1 (RFC 8985 §7.3: the highest segment sent is the one with the FIN), and RACK in
//! LAST-ACK after the peer closed first (RFC 8985 §6.2 covers the FIN's sequence number too).

mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, FIN};

const RTT: u64 = 20;

fn established() -> Passive {
    passive_after(config(), Peer::full_syn_options(), 2048, ms(RTT))
}

/// Three segments of data, the last with our FIN (the app shut down after writing).
fn three_then_fin(x: &mut Passive) -> Vec<Out> {
    let data = pattern(3 * SEG, 4);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    x.p.stack.tcp_shutdown(x.h).unwrap();
    let outs = x.p.drain();
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert!(outs[2].has(FIN), "{outs:?}");
    outs
}

#[test]
fn fin_wait_1_probe_resends_the_segment_with_the_fin() {
    let mut x = established();
    let outs = three_then_fin(&mut x);
    assert_eq!(x.p.state(x.h), Some(State::FinWait1));
    // The first arrives; the last two (the last with the FIN) are lost.
    x.p.now += ms(RTT);
    let acked_at = x.p.now;
    assert!(x.p.send_ack(outs[1].seq).is_empty());
    // RFC 8985 §7.2-7.3: two segments out, PTO = 2·SRTT = 40 ms; nothing new to send, so the
    // highest segment — the one with the FIN — goes again.
    let (t, probe) = x.p.next_output(acked_at + ms(5000)).unwrap();
    assert_eq!(t, acked_at + ms(2 * RTT));
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert_eq!(probe[0].seq, outs[2].seq);
    assert!(probe[0].has(FIN) && probe[0].payload.len() == SEG);
    // Its SACK (FIN included) lets RACK resend segment 1 at once.
    x.p.now += ms(RTT);
    let rtx = x.p.send(x.p.seg(ACK).sack(&[(outs[2].seq, outs[2].end())]));
    assert_eq!(rtx.len(), 1, "{rtx:?}");
    assert_eq!(rtx[0].seq, outs[1].seq);
    x.p.now += ms(RTT);
    assert!(x.p.send_ack(outs[2].end()).is_empty());
    assert_eq!(x.p.state(x.h), Some(State::FinWait2));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(
        (info.stats.timeouts, info.stats.recovery.tlp_probes),
        (0, 1)
    );
}

#[test]
fn fin_wait_1_lone_fin_segment_waits_for_the_rto() {
    let mut x = established();
    let outs = three_then_fin(&mut x);
    x.p.now += ms(RTT);
    let acked_at = x.p.now;
    assert!(x.p.send_ack(outs[2].seq).is_empty());
    // One segment out: PTO = 2·SRTT + 200 ms would not come before the 200 ms RTO, so the RTO
    // (with its backoff) resends it rather than a probe (sender/loss.rs).
    let (t, again) = x.p.next_output(acked_at + ms(5000)).unwrap();
    assert_eq!(t, acked_at + ms(200));
    assert_eq!(again[0].seq, outs[2].seq);
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(
        (info.stats.timeouts, info.stats.recovery.tlp_probes),
        (1, 0)
    );
}

#[test]
fn last_ack_rack_repairs_a_hole_below_the_sacked_fin() {
    let mut x = established();
    // The peer closes first: CLOSE-WAIT.
    x.p.now += ms(1);
    let fin = x.p.seg(ACK | FIN);
    x.p.seq += 1;
    x.p.send(fin);
    assert_eq!(x.p.state(x.h), Some(State::CloseWait));
    let outs = three_then_fin(&mut x);
    assert_eq!(x.p.state(x.h), Some(State::LastAck));
    // Segment 1 is lost; 0 is acknowledged and 2 (with the FIN) SACKed, one RTT later.
    x.p.now += ms(RTT);
    x.p.ack = outs[1].seq;
    let got = x.p.send(x.p.seg(ACK).sack(&[(outs[2].seq, outs[2].end())]));
    // One SACKed segment: the reordering window (min_RTT/4 = 5 ms) runs first.
    assert!(got.iter().all(|o| o.payload.is_empty()), "{got:?}");
    let (_, rtx) = x.p.next_output(x.p.now + ms(1000)).unwrap();
    assert_eq!(rtx.len(), 1, "{rtx:?}");
    assert_eq!((rtx[0].seq, rtx[0].payload.len()), (outs[1].seq, SEG));
    x.p.now += ms(RTT);
    assert!(x.p.send_ack(outs[2].end()).is_empty());
    assert_eq!(x.p.state(x.h), Some(State::Closed));
    let info = x.p.stack.tcp_info(x.h);
    assert!(info.is_none_or(|i| i.stats.timeouts == 0), "{info:?}");
}
