//! Hardening of RFC 5961 challenge ACKs (issue 8, finding 6; CVE-2016-5696): the budget is per
//! connection, plus a host-wide cap randomized each second as Linux does, so an attacker
//! counting challenge ACKs on its own connection learns nothing about spoofed probes that hit
//! another connection.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::ConnHandle;
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::Config;

/// Opens another connection from the peer's port `port` (no options) on the same stack and
/// returns its handle and the peer's next sequence number.
fn open_another(x: &mut Passive, port: u16) -> (ConnHandle, u32) {
    let isn = 50_000 + u32::from(port);
    let outs = x.p.send(Seg::new(port, PORT, isn, 0, SYN));
    assert_eq!(outs.len(), 1, "{outs:?}");
    let synack = outs[0].clone();
    let outs = x.p.send(Seg::new(
        port,
        PORT,
        isn + 1,
        synack.seq.wrapping_add(1),
        ACK,
    ));
    assert!(outs.is_empty(), "{outs:?}");
    let h = x.p.stack.tcp_accept(x.l).expect("accepted");
    (h, isn + 1)
}

/// In-window RSTs not at RCV.NXT to the connection from `port` whose RCV.NXT is `rcv_nxt`;
/// returns how many challenge ACKs came back.
fn probe(x: &mut Passive, port: u16, rcv_nxt: u32, n: u32) -> usize {
    let mut acks = 0;
    for i in 0..n {
        let outs = x.p.send(Seg::new(port, PORT, rcv_nxt + 1 + i, 0, RST));
        assert!(outs.iter().all(|o| o.is_pure_ack() && o.dst_port == port));
        acks += outs.len();
    }
    acks
}

/// The attacker's count on its own connection is the same whether or not spoofed probes hit
/// the victim's connection in the same second.
#[test]
fn challenge_acks_on_one_connection_do_not_depend_on_another() {
    let mut counts = Vec::new();
    for spoof in [false, true] {
        let mut x = passive_plain(config(), 65535);
        let victim_nxt = PEER_ISN + 1;
        let (_attacker, attacker_nxt) = open_another(&mut x, 41_000);
        if spoof {
            probe(&mut x, PEER_PORT, victim_nxt, 2000);
        }
        counts.push(probe(&mut x, 41_000, attacker_nxt, 100));
    }
    assert!(counts[0] >= 1, "challenge ACKs are sent: {counts:?}");
    assert_eq!(
        counts[0], counts[1],
        "the attacker's own count reveals nothing"
    );
}

/// One connection's budget is bounded by `tcp_challenge_ack_conn_burst`, and refills at
/// `tcp_challenge_ack_conn_rate` per second.
#[test]
fn per_connection_budget_is_bounded_and_refills() {
    let cfg = config();
    let burst = cfg.tcp_challenge_ack_conn_burst as usize;
    let mut x = passive_plain(cfg, 65535);
    let nxt = PEER_ISN + 1;
    assert_eq!(probe(&mut x, PEER_PORT, nxt, 100), burst);
    x.p.now += ustack::Duration::from_secs(1);
    let more = probe(&mut x, PEER_PORT, nxt, 100);
    assert!((1..=burst).contains(&more), "refilled: {more}");
}

/// Many connections together stay under the host-wide cap, which is randomized per second in
/// [rate/2, 3·rate/2) (Linux's `tcp_challenge_ack_limit`).
#[test]
fn host_wide_cap_is_randomized_and_bounded() {
    let mut totals = Vec::new();
    for seed in 1..=8u64 {
        let cfg = Config {
            tcp_challenge_ack_rate: 20,
            seed,
            ..config()
        };
        let mut x = passive_plain(cfg, 65535);
        let mut total = 0;
        for k in 0..40u16 {
            let port = 41_000 + k;
            let (_h, nxt) = open_another(&mut x, port);
            total += probe(&mut x, port, nxt, 5);
        }
        assert!((10..30).contains(&total), "seed {seed}: {total}");
        totals.push(total);
    }
    totals.sort_unstable();
    totals.dedup();
    assert!(totals.len() > 1, "the cap varies: {totals:?}");
}
