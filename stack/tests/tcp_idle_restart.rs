//! RFC 5681 §4.1 restart after idle: a sender that has sent no data for longer than an RTO,
//! with nothing in flight, starts again from the restart window RW = min(IW, cwnd) — and one
//! that pauses for less keeps its window.
//!
//! The peer answers after a 20 ms round trip, so the RTO is 200 ms (the configured minimum).

mod tcp_common;

use tcp_common::*;
use ustack::Duration;

const RTT: u64 = 20;

/// RFC 6928 §2: IW = min(10·MSS, max(2·MSS, 14600)).
fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14_600))
}

/// An established connection whose cwnd grew well past the initial window: 40 segments sent
/// and acknowledged one round trip at a time. Returns cwnd.
fn grown() -> (Passive, usize) {
    let mut x = passive_after(config(), Peer::full_syn_options(), 2048, ms(RTT));
    x.send_acked_in_rounds(&pattern(40 * SEG, 3), ms(RTT));
    let info = x.p.stack.tcp_info(x.h).unwrap();
    assert_eq!(info.send_queue, 0, "all acknowledged: {info:?}");
    assert!(
        info.cwnd > initial_window(info.smss) + 2 * SEG,
        "cwnd grew: {info:?}"
    );
    (x, info.cwnd)
}

/// After `pause` with nothing to send, queues 30 segments: what goes out at once, and cwnd.
fn send_after(x: &mut Passive, pause: Duration) -> (usize, usize) {
    x.p.run_until(x.p.now + pause);
    let data = pattern(30 * SEG, 4);
    assert_eq!(x.p.stack.tcp_send(x.h, &data), Ok(data.len()));
    let outs = x.p.drain();
    let sent: usize = outs.iter().map(|o| o.payload.len()).sum();
    (sent, x.p.stack.tcp_info(x.h).unwrap().cwnd)
}

#[test]
fn cwnd_restarts_from_the_initial_window_after_idle_longer_than_an_rto() {
    let (mut x, _) = grown();
    let info = x.p.stack.tcp_info(x.h).unwrap();
    let iw = initial_window(info.smss);
    let (sent, cwnd) = send_after(&mut x, info.rto + ms(1));
    assert_eq!(cwnd, iw, "RW = min(IW, cwnd)");
    assert!(sent <= iw, "{sent} bytes out at once, more than RW {iw}");
    assert_eq!(sent, iw / SEG * SEG, "a full restart window of segments");
}

#[test]
fn a_pause_shorter_than_an_rto_keeps_the_window() {
    let (mut x, before) = grown();
    let rto = x.p.stack.tcp_info(x.h).unwrap().rto;
    // The idle time counts from the last data sent, a round trip before the last ACK.
    let (sent, cwnd) = send_after(&mut x, Duration::from_micros(rto.total_micros() / 2));
    assert_eq!(cwnd, before, "no restart within an RTO");
    assert!(
        sent > initial_window(1460),
        "{sent} bytes: the grown window was used"
    );
}
