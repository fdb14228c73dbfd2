//! Issue 16, finding 4: clients at the table limit fail fast instead of hanging. With the
//! connection table full the stack used to answer a SYN with a SYN cookie and then drop the
//! completing ACK (`TcpTooManyConnections`), so the client believed it was connected; and one
//! source could hold every slot. Now no cookie is sent that cannot be honoured — the SYN gets an
//! RST, or nothing when `tcp_abort_on_overflow` is off — and each source has its share
//! (`tcp_max_per_source`).

mod tcp_common;

use std::net::Ipv4Addr;
use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, RST, SYN};
use ustack::{Config, DropReason};

fn small_table() -> Config {
    Config {
        tcp_max_connections: 2,
        ..config()
    }
}

/// Old main: the third SYN got a SYN-ACK carrying a cookie whose ACK was then dropped.
#[test]
fn a_syn_to_a_full_table_gets_an_rst_not_a_cookie() {
    let mut p = Peer::new(small_table());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    connect_from(&mut p, l, PEER, 20_000);
    connect_from(&mut p, l, PEER, 20_001);
    let outs = syn_from(&mut p, PEER, 20_002, 9_000);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), RST | ACK, "{outs:?}");
    assert_eq!((outs[0].seq, outs[0].ack), (0, 9_001));
    let s = p.stack.stats();
    assert_eq!(s.tcp_syncookies_sent, 0);
    assert_eq!(s.drops(DropReason::TcpTooManyConnections), 1);
    assert_eq!(p.stack.tcp_counts().0, 2);
}

#[test]
fn without_abort_on_overflow_the_syn_gets_no_answer() {
    let mut p = Peer::new(Config {
        tcp_abort_on_overflow: false,
        ..small_table()
    });
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    connect_from(&mut p, l, PEER, 20_000);
    connect_from(&mut p, l, PEER, 20_001);
    let outs = syn_from(&mut p, PEER, 20_002, 9_000);
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.stack.stats().tcp_syncookies_sent, 0);
    assert_eq!(p.stack.stats().drops(DropReason::TcpTooManyConnections), 1);
}

/// A cookie sent while the table had room, whose ACK arrives after the table filled: the
/// client is told with an RST (old main dropped the ACK silently; the client hung).
#[test]
fn a_cookie_ack_that_finds_the_table_full_gets_an_rst() {
    let cfg = Config {
        tcp_syn_backlog: 1,
        tcp_max_connections: 2,
        ..config()
    };
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    // One half-open connection fills the SYN backlog; the next two SYNs get cookies.
    assert_eq!(syn_from(&mut p, PEER, 30_000, 100)[0].ctl(), SYN | ACK);
    let mut cookies = Vec::new();
    for (port, isn) in [(30_001u16, 200u32), (30_002, 300)] {
        let outs = syn_from(&mut p, PEER, port, isn);
        assert_eq!(outs[0].ctl(), SYN | ACK, "{outs:?}");
        cookies.push((port, isn, outs[0].seq));
    }
    assert_eq!(p.stack.stats().tcp_syncookies_sent, 2);
    // The first cookie completes and takes the last slot.
    let (port, isn, c) = cookies[0];
    let outs = p.send(Seg::new(port, PORT, isn + 1, c.wrapping_add(1), ACK));
    assert!(outs.is_empty(), "{outs:?}");
    assert!(p.stack.tcp_accept(l).is_ok());
    // The second finds the table full.
    let (port, isn, c) = cookies[1];
    let outs = p.send(Seg::new(port, PORT, isn + 1, c.wrapping_add(1), ACK));
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!((outs[0].ctl(), outs[0].seq), (RST, c.wrapping_add(1)));
    assert_eq!(p.stack.stats().drops(DropReason::TcpTooManyConnections), 1);
}

/// One source holds its share; others still get in, and the source gets in again once one of
/// its connections is gone.
#[test]
fn one_source_cannot_take_every_slot() {
    let mut p = Peer::new(Config {
        tcp_max_per_source: 2,
        ..config()
    });
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let a = connect_from(&mut p, l, PEER, 40_000);
    connect_from(&mut p, l, PEER, 40_001);
    let outs = syn_from(&mut p, PEER, 40_002, 7_000);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].ctl(), RST | ACK);
    assert_eq!(p.stack.stats().drops(DropReason::TcpSourceLimit), 1);
    // Another address is not affected.
    let other = Ipv4Addr::new(198, 18, 0, 77);
    connect_from(&mut p, l, other, 40_000);
    // The first source's slot comes back when one of its connections is freed.
    p.stack.tcp_abort(a).unwrap();
    p.drain();
    connect_from(&mut p, l, PEER, 40_003);
    assert_eq!(p.stack.tcp_counts().0, 3);
}

/// Half-open connections count against the source too: a SYN flood from one address cannot
/// fill the table with half-open entries.
#[test]
fn half_open_connections_count_against_the_source() {
    let mut p = Peer::new(Config {
        tcp_max_per_source: 3,
        tcp_syn_backlog: 100,
        ..config()
    });
    p.stack.tcp_listen(PORT, 16).unwrap();
    let answers: Vec<u8> = (0..10u16)
        .map(|i| syn_from(&mut p, PEER, 50_000 + i, 1_000 * u32::from(i))[0].ctl())
        .collect();
    assert_eq!(&answers[..3], &[SYN | ACK; 3]);
    assert!(answers[3..].iter().all(|&c| c == RST | ACK), "{answers:?}");
    assert_eq!(p.stack.tcp_counts(), (3, 3));
    assert_eq!(p.stack.stats().drops(DropReason::TcpSourceLimit), 7);
}

#[test]
fn a_zero_per_source_limit_is_refused() {
    let c = Config {
        tcp_max_per_source: 0,
        ..config()
    };
    assert!(c.validate().is_err());
}

/// A peer that acknowledges our FIN but never sends its own must not hold an orphan in
/// FIN-WAIT-2 — and its slot — for good. The bound applied only when the app closed before
/// the FIN was acknowledged; an app that half-closed, then closed (as the services do) left the
/// connection there forever (old main). Now both are freed after `tcp_fin_timeout`; one the
/// app still holds is left alone.
#[test]
fn an_orphan_in_fin_wait_2_is_freed_after_the_fin_timeout() {
    for half_close_first in [false, true] {
        let cfg = config();
        let fin_timeout = cfg.tcp_fin_timeout;
        let mut x = passive_full(cfg, 1000);
        if half_close_first {
            x.p.stack.tcp_shutdown(x.h).unwrap();
        } else {
            x.p.stack.tcp_close(x.h).unwrap();
        }
        let fin = x.p.drain();
        assert!(
            fin.iter().any(|o| o.has(ustack::wire::tcp::flags::FIN)),
            "{fin:?}"
        );
        x.p.send_ack(fin.last().unwrap().end());
        if half_close_first {
            assert_eq!(x.p.state(x.h), Some(ustack::tcp::State::FinWait2));
            x.p.stack.tcp_close(x.h).unwrap();
        }
        assert_eq!(x.p.stack.tcp_counts().0, 1, "in FIN-WAIT-2");
        let half = ustack::Duration::from_micros(fin_timeout.total_micros() / 2);
        x.p.run_until(x.p.now + half);
        assert_eq!(x.p.stack.tcp_counts().0, 1, "freed early");
        x.p.run_until(x.p.now + half + ustack::Duration::from_millis(10));
        assert_eq!(
            x.p.stack.tcp_counts().0,
            0,
            "half-close first: {half_close_first}"
        );
    }
}

#[test]
fn a_half_closed_connection_the_app_holds_stays_in_fin_wait_2() {
    let cfg = config();
    let fin_timeout = cfg.tcp_fin_timeout;
    let mut x = passive_full(cfg, 1000);
    x.p.stack.tcp_shutdown(x.h).unwrap();
    let end = x.p.drain().last().unwrap().end();
    x.p.send_ack(end);
    x.p.run_until(x.p.now + fin_timeout + fin_timeout + fin_timeout);
    assert_eq!(x.p.state(x.h), Some(ustack::tcp::State::FinWait2));
}
