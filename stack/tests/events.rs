//! `Stack::poll_event`: edge-triggered, coalesced readiness for every socket kind — TCP
//! connections and listeners, UDP and ICMP echo sockets. Two stacks back to back in memory.

use std::net::{Ipv4Addr, SocketAddrV4};
use ustack::socket::Readiness;
use ustack::tcp::{ConnHandle, ListenHandle, TcpError};
use ustack::{Config, Duration, EchoEvent, Instant, SendError, SocketEvent, SocketHandle, Stack};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

struct Pair {
    a: Stack,
    b: Stack,
    now: Instant,
    buf: Vec<u8>,
}

fn config(addr: Ipv4Addr) -> Config {
    Config {
        addr,
        seed: u64::from(u32::from(addr)),
        ..Config::default()
    }
}

impl Pair {
    fn new() -> Pair {
        Pair::with(config(A), config(B))
    }

    fn with(a: Config, b: Config) -> Pair {
        Pair {
            a: Stack::new(a, Instant::ZERO).unwrap(),
            b: Stack::new(b, Instant::ZERO).unwrap(),
            now: Instant::ZERO,
            buf: vec![0; 1500],
        }
    }

    /// Moves packets both ways until both are quiet (no time passes).
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
                self.b.receive(self.now, &self.buf[..n]);
                moved = true;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
                self.a.receive(self.now, &self.buf[..n]);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Lets `d` of virtual time pass, running timers, exchanging at every deadline.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.exchange();
            let next = [self.a.poll_at(), self.b.poll_at()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
    }
}

fn events(s: &mut Stack) -> Vec<SocketEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn tcp_events(s: &mut Stack, h: ConnHandle) -> Vec<Readiness> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            SocketEvent::Tcp { handle, ready } if handle == h => Some(ready),
            _ => None,
        })
        .collect()
}

/// A connected pair: `a` connected to `b`'s listener on port 80; events drained.
fn connected() -> (Pair, ConnHandle, ListenHandle, ConnHandle) {
    let mut p = Pair::new();
    let l = p.b.tcp_listen(80, 8).unwrap();
    let c = p.a.tcp_connect(SocketAddrV4::new(B, 80)).unwrap();
    p.exchange();
    let s = p.b.tcp_accept(l).unwrap();
    p.a.tcp_set_nodelay(c, true).unwrap();
    events(&mut p.a);
    events(&mut p.b);
    (p, c, l, s)
}

#[test]
fn tcp_connect_reports_connected_and_listener_acceptable() {
    let mut p = Pair::new();
    let l = p.b.tcp_listen(80, 8).unwrap();
    let c = p.a.tcp_connect(SocketAddrV4::new(B, 80)).unwrap();
    assert!(events(&mut p.a).is_empty(), "nothing happened yet");
    p.exchange();
    let ev = tcp_events(&mut p.a, c);
    assert_eq!(ev.len(), 1, "one coalesced event: {ev:?}");
    assert!(ev[0].contains(Readiness::CONNECTED | Readiness::WRITABLE));
    let ev = events(&mut p.b);
    assert!(
        ev.contains(&SocketEvent::Listener {
            handle: l,
            ready: Readiness::ACCEPTABLE
        }),
        "{ev:?}"
    );
    assert!(p.b.tcp_accept(l).is_ok());
    assert!(events(&mut p.b).is_empty(), "accepting is not an event");
}

#[test]
fn tcp_data_is_edge_triggered_and_coalesced() {
    let (mut p, c, _, s) = connected();
    p.a.tcp_send(c, b"one").unwrap();
    p.exchange();
    p.a.tcp_send(c, b"two").unwrap();
    p.exchange();
    // Two arrivals before the app looked: one event.
    assert_eq!(tcp_events(&mut p.b, s), vec![Readiness::READABLE]);
    // Partly read: no event for reading itself; the next arrival is reported again (edge).
    let mut buf = [0u8; 2];
    assert_eq!(p.b.tcp_recv(s, &mut buf), Ok(2));
    assert!(tcp_events(&mut p.b, s).is_empty());
    p.a.tcp_send(c, b"three").unwrap();
    p.exchange();
    assert_eq!(tcp_events(&mut p.b, s), vec![Readiness::READABLE]);
    let mut all = [0u8; 64];
    assert_eq!(p.b.tcp_recv(s, &mut all), Ok(9));
    assert_eq!(&all[..9], b"etwothree");
}

#[test]
fn tcp_writable_when_the_peer_acknowledges_a_full_buffer() {
    let (mut p, c, _, s) = connected();
    let big = vec![7u8; 1 << 20];
    let mut sent = 0;
    while let Ok(n) = p.a.tcp_send(c, &big[sent..]) {
        sent += n;
    }
    assert_eq!(p.a.tcp_send(c, b"x"), Err(TcpError::WouldBlock));
    events(&mut p.a);
    // The receiver reads; ACKs open room on the sender.
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..50 {
        p.run_for(Duration::from_millis(10));
        let _ = p.b.tcp_recv(s, &mut buf);
        if tcp_events(&mut p.a, c)
            .iter()
            .any(|r| r.contains(Readiness::WRITABLE))
        {
            assert!(p.a.tcp_send(c, b"x").is_ok(), "WRITABLE means a send fits");
            return;
        }
    }
    panic!("never became writable");
}

#[test]
fn tcp_fin_is_readable_and_reset_is_error_and_closed() {
    let (mut p, c, _, s) = connected();
    p.a.tcp_shutdown(c).unwrap();
    p.exchange();
    assert_eq!(tcp_events(&mut p.b, s), vec![Readiness::READABLE]);
    let mut buf = [0u8; 8];
    assert_eq!(p.b.tcp_recv(s, &mut buf), Ok(0), "end of stream");
    p.b.tcp_abort(s).unwrap();
    events(&mut p.b);
    p.exchange();
    let ev = tcp_events(&mut p.a, c);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].contains(Readiness::ERROR | Readiness::CLOSED | Readiness::READABLE));
    assert_eq!(p.a.tcp_error(c), Some(TcpError::Reset));
}

#[test]
fn tcp_refused_connect_is_an_error_event() {
    let mut p = Pair::new();
    let c = p.a.tcp_connect(SocketAddrV4::new(B, 81)).unwrap();
    p.exchange();
    let ev = tcp_events(&mut p.a, c);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].contains(Readiness::ERROR | Readiness::CLOSED));
    assert!(!ev[0].contains(Readiness::CONNECTED));
}

#[test]
fn closed_handles_report_nothing() {
    let (mut p, c, _, s) = connected();
    p.b.tcp_close(s).unwrap();
    events(&mut p.b);
    p.a.tcp_send(c, b"late").unwrap();
    p.exchange();
    assert!(
        events(&mut p.b).is_empty(),
        "the app let go of the connection"
    );
}

fn datagram_events(s: &mut Stack, h: SocketHandle) -> Vec<Readiness> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            SocketEvent::Datagram { handle, ready } if handle == h => Some(ready),
            _ => None,
        })
        .collect()
}

#[test]
fn udp_readable_coalesced_and_error_on_port_unreachable() {
    let mut p = Pair::new();
    let rx = p.b.udp_bind(7).unwrap();
    let tx = p.a.udp_bind(0).unwrap();
    let dst = SocketAddrV4::new(B, 7);
    p.a.udp_send_to(tx, b"a", dst).unwrap();
    p.a.udp_send_to(tx, b"b", dst).unwrap();
    p.exchange();
    assert_eq!(datagram_events(&mut p.b, rx), vec![Readiness::READABLE]);
    p.a.udp_send_to(tx, b"c", SocketAddrV4::new(B, 9)).unwrap();
    p.exchange();
    assert_eq!(
        datagram_events(&mut p.a, tx),
        vec![Readiness::READABLE | Readiness::ERROR]
    );
}

#[test]
fn udp_writable_after_a_refused_send_drains() {
    let mut a = config(A);
    a.tx_queue_datagrams = 2;
    let mut p = Pair::with(a, config(B));
    let _rx = p.b.udp_bind(7).unwrap();
    let tx = p.a.udp_bind(0).unwrap();
    let other = p.a.udp_bind(0).unwrap();
    let dst = SocketAddrV4::new(B, 7);
    let mut refused = false;
    for _ in 0..4 {
        if p.a.udp_send_to(tx, b"x", dst) == Err(SendError::QueueFull) {
            refused = true;
        }
    }
    assert!(refused, "a queue of 2 refuses the third datagram");
    assert!(datagram_events(&mut p.a, tx).is_empty());
    p.exchange();
    let ev = events(&mut p.a);
    assert!(
        ev.contains(&SocketEvent::Datagram {
            handle: tx,
            ready: Readiness::WRITABLE
        }),
        "{ev:?}"
    );
    assert!(
        !ev.iter()
            .any(|e| matches!(e, SocketEvent::Datagram { handle, .. } if *handle == other)),
        "only the refused socket is woken: {ev:?}"
    );
}

#[test]
fn echo_reply_is_readable() {
    let mut p = Pair::new();
    let h = p.a.echo_open(None).unwrap();
    p.a.echo_send(h, B, 1, b"ping").unwrap();
    p.exchange();
    assert_eq!(datagram_events(&mut p.a, h), vec![Readiness::READABLE]);
    let mut buf = [0u8; 16];
    assert!(matches!(
        p.a.echo_recv(h, &mut buf),
        Ok(EchoEvent::Reply { seq: 1, .. })
    ));
}

#[test]
fn abort_all_resets_every_connection_held_or_orphaned() {
    let (mut p, c, _, s) = connected();
    // A second connection the app has already closed (an orphan finishing its close).
    let l2 = p.b.tcp_listen(81, 8).unwrap();
    let c2 = p.a.tcp_connect(SocketAddrV4::new(B, 81)).unwrap();
    p.exchange();
    let s2 = p.b.tcp_accept(l2).unwrap();
    p.a.tcp_send(c2, b"unread").unwrap();
    p.exchange();
    let mut buf = [0u8; 16];
    assert_eq!(p.b.tcp_recv(s2, &mut buf), Ok(6));
    p.b.tcp_close(s2).unwrap();
    p.exchange();
    assert_eq!(
        p.b.tcp_abort_all(),
        2,
        "the held and the orphaned connection"
    );
    p.exchange();
    assert_eq!(p.a.tcp_error(c), Some(TcpError::Reset));
    assert_eq!(p.a.tcp_error(c2), Some(TcpError::Reset));
    assert_eq!(p.b.tcp_counts().0, 0);
    let _ = s;
}
