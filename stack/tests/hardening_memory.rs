//! Issue 8, finding 16: under churn — thousands of short connections closed by the stack (so
//! each passes through TIME-WAIT), SYN floods, UDP to closed ports, pings and incomplete
//! fragments — every queue, pool and table of the stack stays within its limit, and what the
//! connections held is given back once they are gone.

mod common;
mod tcp_common;

use common::{Ip, ICMP, UDP};
use tcp_common::*;
use ustack::wire::tcp::flags::{ACK, FIN, SYN};
use ustack::{Config, Duration, MemoryUsage};

const MAX_CONNS: usize = 64;

fn cfg() -> Config {
    Config {
        tcp_max_connections: MAX_CONNS,
        tcp_syn_backlog: 16,
        tcp_msl: Duration::from_millis(50),
        tcp_rx_buffer: 16 << 10,
        tcp_tx_buffer: 16 << 10,
        ..config()
    }
}

/// The bounds every snapshot must respect (see `MemoryUsage`'s field docs).
#[track_caller]
fn check(m: &MemoryUsage, c: &Config) {
    assert!(m.tx_queue_datagrams <= c.tx_queue_datagrams, "{m:?}");
    assert!(m.tx_queue_bytes <= c.tx_queue_bytes, "{m:?}");
    assert!(m.pool_buffers <= 256, "{m:?}");
    assert!(m.pool_bytes <= 256 * 16 * 1024, "{m:?}");
    assert!(m.reassembly_bytes <= c.reassembly_max_bytes, "{m:?}");
    assert!(m.socket_events <= m.sockets.max(1), "{m:?}");
    assert!(m.tcp_connections <= c.tcp_max_connections, "{m:?}");
    assert!(m.tcp_time_wait <= c.tcp_max_time_wait, "{m:?}");
    assert!(m.tcp_slots <= c.tcp_max_connections, "{m:?}");
    assert!(
        m.tcp_buffer_bytes <= m.tcp_connections * (c.tcp_rx_buffer + c.tcp_tx_buffer),
        "{m:?}"
    );
    assert!(
        m.tcp_timer_entries <= 64.max(4 * m.tcp_connections) + 8,
        "timer heap grew: {m:?}"
    );
    assert!(m.tcp_replies <= 1024, "{m:?}");
    assert!(m.tcp_accept_queued <= 16 + c.tcp_syn_backlog, "{m:?}");
}

/// One connection from `port`: handshake, a request, a response, the stack closes first.
fn one_connection(p: &mut Peer, l: ustack::tcp::ListenHandle, port: u16) {
    p.port = port;
    p.seq = PEER_ISN;
    p.tsval = None;
    let outs = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    let Some(sa) = outs.iter().find(|o| o.ctl() == SYN | ACK).cloned() else {
        return;
    };
    p.seq = PEER_ISN + 1;
    p.ack = sa.seq.wrapping_add(1);
    p.tsval = Some(PEER_TS + 1);
    p.send(p.seg(ACK));
    let Ok(h) = p.stack.tcp_accept(l) else {
        return;
    };
    p.send_data(&[b'G'; 300]);
    let _ = p.read_all(h);
    let _ = p.stack.tcp_send(h, &pattern(6000, u32::from(port)));
    let _ = p.stack.tcp_close(h);
    let mut outs = p.drain();
    for _ in 0..20 {
        let Some(top) = outs.iter().map(|o| o.end()).max() else {
            break;
        };
        outs = p.send_ack(top);
    }
    let fin = p.seg(FIN | ACK);
    p.seq = p.seq.wrapping_add(1);
    p.send(fin);
}

/// Noise between connections: a spoofed SYN, UDP to a closed port, a ping, a lone fragment.
fn noise(p: &mut Peer, i: u32) {
    let mut syn = Seg::new(1000 + (i % 5000) as u16, PORT, i, 0, SYN);
    syn.src = std::net::Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1);
    p.send(syn);
    p.send_raw(&common::udp_packet(5000, 9 + (i % 100) as u16, b"hello"));
    p.send_raw(&common::ping(1, i as u16, b"ping"));
    let frag = Ip::new(if i.is_multiple_of(2) { UDP } else { ICMP }).ident(i as u16);
    p.send_raw(&common::fragment(&frag, &[0u8; 1600], 0, 800, true));
    p.other.clear();
}

#[test]
fn churn_stays_within_every_limit_and_returns_to_baseline() {
    let c = cfg();
    let mut p = Peer::new(c.clone());
    let l = p.stack.tcp_listen(PORT, 16).unwrap();
    let udp = p.stack.udp_bind(7).unwrap();
    let baseline = p.stack.memory();
    let mut peak = MemoryUsage::default();
    for i in 0..3000u32 {
        one_connection(&mut p, l, 10_000 + (i % 50_000) as u16);
        noise(&mut p, i);
        let _ = p
            .stack
            .udp_send_to(udp, &[1u8; 100], std::net::SocketAddrV4::new(PEER, 9999));
        if i.is_multiple_of(20) {
            p.tick(Duration::from_millis(30));
            while p.stack.poll_event().is_some() {}
        }
        let m = p.stack.memory();
        check(&m, &c);
        peak.tcp_timer_entries = peak.tcp_timer_entries.max(m.tcp_timer_entries);
        peak.tcp_connections = peak.tcp_connections.max(m.tcp_connections);
        peak.pool_buffers = peak.pool_buffers.max(m.pool_buffers);
    }
    assert!(
        peak.tcp_connections > 8,
        "the churn kept connections open: {peak:?}"
    );
    let opens = p.stack.stats().tcp_passive_opens;
    assert!(opens > 1000, "only {opens} connections were served");
    // Everything expires: TIME-WAIT (2 × MSL), half-open SYN-RECEIVED, reassembly (30 s).
    p.run_until(p.now + Duration::from_secs(300));
    while p.stack.poll_event().is_some() {}
    let m = p.stack.memory();
    check(&m, &c);
    assert_eq!(m.tcp_connections, 0, "{m:?}");
    assert_eq!(m.tcp_buffer_bytes, 0, "{m:?}");
    assert_eq!(m.reassembly_bytes, 0, "{m:?}");
    assert_eq!(m.tx_queue_datagrams, 0, "{m:?}");
    assert_eq!(m.tcp_replies, 0, "{m:?}");
    assert!(m.tcp_timer_entries <= 64, "{m:?}");
    assert_eq!(m.sockets, baseline.sockets);
}

#[test]
fn connections_allocate_buffers_for_the_data_they_hold_not_their_capacity() {
    // A thousand request/response connections left in TIME-WAIT (the ab stall): each carried
    // 300 + 6000 bytes. With 256 KiB rings allocated (and, once the allocator recycles memory,
    // zeroed and resident) per connection, that was 512 MiB; storage now follows the data.
    let c = Config {
        tcp_max_connections: 4096,
        ..config()
    };
    let mut p = Peer::new(c.clone());
    let l = p.stack.tcp_listen(PORT, 1024).unwrap();
    for i in 0..1000u16 {
        one_connection(&mut p, l, 10_000 + i);
    }
    let m = p.stack.memory();
    check(&m, &c);
    // They wait out TIME-WAIT in the compact table: no buffers at all.
    assert_eq!(m.tcp_connections + m.tcp_time_wait, 1000, "{m:?}");
    let per_conn = m.tcp_buffer_bytes / 1000;
    assert!(
        per_conn <= 32 << 10,
        "{per_conn} bytes of buffers per connection that held 6300 bytes"
    );
    // A connection still gets its whole buffer when it has the data for it.
    let mut x = passive_full(config(), 2048);
    let big = pattern(256 << 10, 3);
    assert_eq!(x.p.stack.tcp_send(x.h, &big), Ok(256 << 10));
    assert_eq!(x.p.stack.memory().tcp_buffer_bytes, 256 << 10);
}
