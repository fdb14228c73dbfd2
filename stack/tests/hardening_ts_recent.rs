//! Hardening of timestamps (issue 8, finding 4): TS.Recent moves only for segments that pass
//! the checks (RFC 7323 §4.3 and §5.3 R3, after RFC 9293 §3.10.7.4's RST, SYN and ACK checks),
//! and the ACKs sent for PAWS drops are rate-limited per connection.

mod tcp_common;

use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, PSH, RST, SYN};
use ustack::{Config, DropReason, Duration};

const FAR: u32 = PEER_TS + 1_000_000_000;

/// Each kind of segment that is dropped after the sequence check, carrying a TSval far ahead,
/// must leave TS.Recent alone: the next real segment is then accepted, not PAWS-dropped.
#[test]
fn segments_dropped_after_the_sequence_check_do_not_move_ts_recent() {
    type Forge = fn(&Peer) -> tcp_common::Seg;
    let forged: [(&str, Forge, DropReason); 4] = [
        (
            "data without ACK",
            |p| p.seg(PSH).ts(FAR, 0).data(b"evil"),
            DropReason::TcpUnexpected,
        ),
        (
            "RST not at RCV.NXT",
            |p| p.seg(RST).seq(p.seq + 10).ts(FAR, 0),
            DropReason::TcpRstNotExact,
        ),
        (
            "SYN in window",
            |p| p.seg(SYN).ts(FAR, 0),
            DropReason::TcpSynInSync,
        ),
        (
            "ACK of unsent data",
            |p| p.seg(ACK).ack(p.ack + 100_000).ts(FAR, 0).data(b"evil"),
            DropReason::TcpBadAck,
        ),
    ];
    for (name, forge, reason) in forged {
        let mut x = passive_full(config(), 2048);
        let s = forge(&x.p);
        x.p.send(s);
        assert_eq!(x.p.stack.stats().drops(reason), 1, "{name}: dropped");
        assert_eq!(x.p.read_all(x.h), b"", "{name}: nothing delivered");
        x.p.tsval = Some(PEER_TS + 1);
        x.p.send_data(b"real");
        assert_eq!(
            x.p.read_all(x.h),
            b"real",
            "{name}: the real segment is taken"
        );
        assert_eq!(x.p.stack.stats().drops(DropReason::TcpPaws), 0, "{name}");
        let outs = x.p.tick(Duration::from_millis(50));
        let ecr = outs.last().and_then(|o| o.options.timestamps).map(|t| t.1);
        assert_eq!(
            ecr,
            Some(PEER_TS + 1),
            "{name}: TSecr echoes the real TSval"
        );
    }
}

/// RFC 7323 §5.3 R1 asks for an ACK per PAWS drop; a flood of old timestamps must not turn into
/// a flood of ACKs (Linux: `tcp_invalid_ratelimit`, per connection).
#[test]
fn acks_for_paws_drops_are_rate_limited_per_connection() {
    let cfg = config();
    let interval = cfg.tcp_invalid_ack_interval;
    let mut x = passive_full(cfg, 2048);
    x.p.tsval = Some(PEER_TS + 100);
    x.p.send_data(b"new");
    let old = x.p.seg(ACK | PSH).ts(PEER_TS + 50, 0).data(b"old");
    let mut acks = 0;
    for _ in 0..100 {
        acks += x.p.send(old.clone()).len();
    }
    assert_eq!(x.p.stack.stats().drops(DropReason::TcpPaws), 100);
    assert_eq!(acks, 1, "one ACK per interval, not one per drop");
    x.p.now += interval;
    assert_eq!(
        x.p.send(old.clone()).len(),
        1,
        "the next interval allows one more"
    );
    assert_eq!(x.p.send(old).len(), 0);
}

/// The documented default is Linux's.
#[test]
fn invalid_ack_interval_defaults_to_linux_500ms() {
    assert_eq!(
        Config::default().tcp_invalid_ack_interval,
        Duration::from_millis(500)
    );
}
