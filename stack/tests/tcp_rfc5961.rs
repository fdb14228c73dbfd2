//! TCP scenario tests for RFC 5961 (blind in-window attacks: RST, SYN, ACK checks, challenge
//! ACK rate limit).
//!
//! Split from the former `tcp_states.rs`: one `Stack` driven by the fake peer (198.18.0.1) of
//! `tcp_common` with hand-built segments and fixed sequence numbers; each test feeds segments in
//! and asserts the exact segments that come out.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::{State, TcpError};
use ustack::wire::tcp::flags::{ACK, PSH, RST, SYN};
use ustack::{Config, DropReason};

// ============================================================================================
// RFC 5961
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
