//! Hardening of TIME-WAIT (issue 8, finding 5): connections the app closed wait out 2×MSL in a
//! compact table of their own (no buffers, no slot in `tcp_max_connections`), capped by
//! `tcp_max_time_wait` (beyond it the oldest is recycled, as Linux's `tcp_max_tw_buckets`); a new
//! SYN may reuse a TIME-WAIT tuple (RFC 6191 with timestamps, RFC 9293 §3.10.7.4 / RFC 1122
//! §4.2.2.13 without); a retransmitted FIN restarts the wait a bounded number of times; and a
//! drop for a full table is counted as such, not as a full accept queue.

mod tcp_common;

use tcp_common::*;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, FIN, SYN};
use ustack::wire::tcp::TcpOptions;
use ustack::{Config, DropReason, Duration};

/// One passive connection from the peer's `port`, closed by the server (the app) first, left in
/// TIME-WAIT. Timestamps with TSval `ts`. Returns the stack's last sequence number (SND.NXT).
fn server_closed(p: &mut Peer, l: ustack::tcp::ListenHandle, port: u16, ts: u32) -> u32 {
    let isn = 7_000_000 + u32::from(port) * 1000;
    let opts = TcpOptions {
        mss: Some(1460),
        timestamps: Some((ts, 0)),
        ..TcpOptions::default()
    };
    let outs = p.send(Seg::new(port, PORT, isn, 0, SYN).opts(opts));
    assert_eq!(outs.len(), 1, "SYN-ACK for {port}: {outs:?}");
    assert_eq!(outs[0].ctl(), SYN | ACK);
    assert!(
        outs[0].options.timestamps.is_some(),
        "a stateful SYN-ACK, not a cookie"
    );
    let iss = outs[0].seq;
    let their_ts = outs[0].options.timestamps.unwrap().0;
    let ack = |s: Seg| s.ts(ts, their_ts);
    p.send(ack(Seg::new(port, PORT, isn + 1, iss + 1, ACK)));
    let h = p.stack.tcp_accept(l).expect("accepted");
    p.stack.tcp_close(h).unwrap();
    let outs = p.drain();
    assert_eq!(outs[0].ctl(), FIN | ACK);
    let outs = p.send(ack(Seg::new(port, PORT, isn + 1, iss + 2, FIN | ACK)));
    assert_eq!(outs.len(), 1, "ACK of the peer's FIN: {outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].ack), (ACK, isn + 2));
    iss + 2
}

#[test]
fn time_wait_does_not_fill_the_connection_table() {
    let cfg = Config {
        tcp_max_connections: 8,
        tcp_msl: Duration::from_secs(30),
        ..config()
    };
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    for i in 0..50u16 {
        server_closed(&mut p, l, 20_000 + i, 1000);
        p.now += ms(10);
    }
    assert_eq!(p.stack.tcp_counts(), (50, 0), "50 in TIME-WAIT, listed");
    assert_eq!(p.stack.stats().drops(DropReason::TcpAcceptQueueFull), 0);
    assert_eq!(p.stack.stats().drops(DropReason::TcpTooManyConnections), 0);
    assert_eq!(p.stack.stats().tcp_syncookies_sent, 0);
    let tw = p
        .stack
        .tcp_connections()
        .filter(|c| c.state == State::TimeWait)
        .count();
    assert_eq!(tw, 50);
    // All gone after 2 MSL.
    let t = p.now + Duration::from_secs(61);
    p.run_until(t);
    assert_eq!(p.stack.tcp_counts(), (0, 0));
}

#[test]
fn time_wait_table_is_capped_and_recycles_the_oldest() {
    let cfg = Config {
        tcp_max_time_wait: 4,
        ..config()
    };
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    for i in 0..10u16 {
        server_closed(&mut p, l, 20_000 + i, 1000);
    }
    assert_eq!(p.stack.tcp_counts(), (4, 0));
    assert_eq!(p.stack.stats().tcp_time_wait_recycled, 6);
    // The newest four are kept: the oldest tuple is gone (its FIN now gets an RST).
    let ports: Vec<u16> = p.stack.tcp_connections().map(|c| c.remote.port()).collect();
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![20_006, 20_007, 20_008, 20_009]);
}

#[test]
fn a_new_syn_with_a_newer_timestamp_reuses_the_tuple() {
    let mut p = Peer::new(config());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let port = 20_000;
    let old_snd_nxt = server_closed(&mut p, l, port, 1000);
    p.now += ms(100);
    // RFC 6191 §2: a SYN with TSval > TS.Recent may open a new incarnation at once.
    let opts = TcpOptions {
        mss: Some(1460),
        timestamps: Some((2000, 0)),
        ..TcpOptions::default()
    };
    let outs = p.send(Seg::new(port, PORT, 1, 0, SYN).opts(opts));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), SYN | ACK);
    // RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.13: the new ISS is above the old SND.NXT.
    assert!(
        (outs[0].seq.wrapping_sub(old_snd_nxt) as i32) > 0,
        "new ISS {} after old SND.NXT {old_snd_nxt}",
        outs[0].seq
    );
    assert_eq!(p.stack.stats().tcp_time_wait_reused, 1);
    // An old SYN (older TSval) is not a new incarnation: no SYN-ACK.
    let port = 20_001;
    server_closed(&mut p, l, port, 5000);
    let opts = TcpOptions {
        timestamps: Some((4000, 0)),
        ..opts
    };
    let outs = p.send(Seg::new(port, PORT, 1, 0, SYN).opts(opts));
    assert!(outs.iter().all(|o| o.ctl() != SYN | ACK), "{outs:?}");
    assert_eq!(p.stack.stats().tcp_time_wait_reused, 1);
}

#[test]
fn retransmitted_fins_restart_time_wait_a_bounded_number_of_times() {
    let cfg = config();
    let limit = u64::from(cfg.tcp_time_wait_max_restarts);
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let port = 20_000;
    let snd_nxt = server_closed(&mut p, l, port, 1000);
    let isn = 7_000_000 + u32::from(port) * 1000;
    let start = p.now;
    // 2 MSL = 2 s; a FIN every 1.5 s would keep it forever without a bound.
    let mut acked = 0;
    for _ in 0..(limit + 5) {
        p.now += ms(1500);
        let fin = Seg::new(port, PORT, isn + 1, snd_nxt, FIN | ACK).ts(1000, 0);
        let outs = p.send(fin);
        acked += outs.iter().filter(|o| o.ctl() == ACK).count() as u64;
        p.stack.handle_timeout(p.now);
    }
    assert!(acked >= limit, "each restart answered with an ACK");
    let bound = start + ms(1500 * limit + 2000);
    assert!(p.now > bound);
    assert_eq!(p.stack.tcp_counts(), (0, 0), "gone after {limit} restarts");
}

#[test]
fn a_full_connection_table_is_not_reported_as_a_full_accept_queue() {
    let cfg = Config {
        tcp_max_connections: 1,
        ..config()
    };
    let mut x = passive_plain(cfg, 65535);
    // The table is full: a second SYN gets a cookie; its ACK is refused for the table.
    let outs = x.p.send(Seg::new(41_000, PORT, 500, 0, SYN));
    assert_eq!(outs.len(), 1);
    let cookie = outs[0].seq;
    x.p.send(Seg::new(41_000, PORT, 501, cookie.wrapping_add(1), ACK));
    assert_eq!(x.p.stack.stats().drops(DropReason::TcpAcceptQueueFull), 0);
    assert_eq!(
        x.p.stack.stats().drops(DropReason::TcpTooManyConnections),
        1
    );
}
