//! Two ustack stacks joined back to back in memory with virtual time: TCP handshakes, bulk
//! transfer both ways, loss, close. (The full simulator with smoltcp lives in `tests/`.)

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use ustack::tcp::{ConnHandle, State, TcpError};
use ustack::{Config, Duration, Instant, Stack};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Both stacks are dual-stack: A and B over IPv6 (RFC 5180's benchmarking prefix).
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);

struct Pair {
    a: Stack,
    b: Stack,
    now: Instant,
    /// Loss decisions: `rand`'s xoshiro256++, a portable generator, so a seed reproduces a run.
    rng: Xoshiro256PlusPlus,
    /// Per-mille chance of dropping each packet.
    loss: u64,
    buf: Vec<u8>,
    delivered: u64,
}

impl Pair {
    fn new(loss: u64, seed: u64) -> Pair {
        let a = Stack::new(
            Config {
                addr: A,
                addr6: Some(A6),
                seed,
                ..Config::default()
            },
            Instant::ZERO,
        )
        .unwrap();
        let b = Stack::new(
            Config {
                addr: B,
                addr6: Some(B6),
                seed: seed ^ 0xabc,
                secret: *b"another-secret!!",
                ..Config::default()
            },
            Instant::ZERO,
        )
        .unwrap();
        Pair {
            a,
            b,
            now: Instant::ZERO,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            loss,
            buf: vec![0; 1500],
            delivered: 0,
        }
    }

    fn chance(&mut self) -> u64 {
        self.rng.random_range(0..1000)
    }

    /// One round in the style of quinn-proto's test `Pair`: each side sends everything it has
    /// at `now` to the other (instantly, minus seeded loss). If nothing moved, virtual time jumps
    /// to the earlier of both stacks' next wakeup (`poll_at`), never beyond `limit`, and the timers
    /// due then fire; there are no fixed time steps. Returns whether anything can still happen:
    /// `false` when nothing moved and no timer is armed before `limit`.
    fn step(&mut self, limit: Instant) -> bool {
        if self.transmit_both() {
            return true;
        }
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        if next > limit {
            return false;
        }
        // A timer already due (at `now`) fires now; time never goes backwards.
        self.now = self.now.max(next);
        for s in [&mut self.a, &mut self.b] {
            if s.poll_at().is_some_and(|t| t <= self.now) {
                s.handle_timeout(self.now);
            }
        }
        assert!(
            self.next_wakeup().is_none_or(|t| t > self.now)
                || self.a.has_transmit()
                || self.b.has_transmit(),
            "a timer due at {next} stayed due after handle_timeout({})",
            self.now
        );
        true
    }

    /// Moves every packet either side has at `now`, A's first; returns whether any moved.
    fn transmit_both(&mut self) -> bool {
        let mut moved = false;
        for dir in 0..2 {
            loop {
                let from = if dir == 0 { &mut self.a } else { &mut self.b };
                let Some(n) = from.poll_transmit(self.now, &mut self.buf) else {
                    break;
                };
                moved = true;
                if self.loss > 0 && self.chance() < self.loss {
                    continue;
                }
                let to = if dir == 0 { &mut self.b } else { &mut self.a };
                to.receive(self.now, &self.buf[..n]);
                self.delivered += 1;
            }
        }
        moved
    }

    /// The earlier of both stacks' next wakeups.
    fn next_wakeup(&self) -> Option<Instant> {
        [self.a.poll_at(), self.b.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Steps until `done` or until `limit` of virtual time has passed (time moves only by
    /// jumping to wakeups; with nothing left to happen it runs out at once).
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        // Rounds at one instant: packets that keep moving without time ever advancing would be
        // a livelock (an ACK war), which must fail rather than hang.
        let (mut at, mut rounds) = (self.now, 0u32);
        loop {
            if done(self) {
                return true;
            }
            if !self.step(end) {
                self.now = end;
                return done(self);
            }
            if self.now == at {
                rounds += 1;
                assert!(rounds < 1_000_000, "livelock at {}", self.now);
            } else {
                (at, rounds) = (self.now, 0);
            }
        }
    }
}

/// Deterministic test data from `rand`'s portable xoshiro256++.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut data = vec![0; len];
    Xoshiro256PlusPlus::seed_from_u64(seed.into()).fill_bytes(&mut data);
    data
}

/// Pumps data: writes from `out` into `h` and reads from `h` into `got`.
fn pump(
    s: &mut Stack,
    h: ConnHandle,
    out: &[u8],
    sent: &mut usize,
    got: &mut Vec<u8>,
    eof: &mut bool,
    shut: &mut bool,
) {
    while *sent < out.len() {
        match s.tcp_send(h, &out[*sent..]) {
            Ok(n) => *sent += n,
            Err(TcpError::WouldBlock) => break,
            Err(e) => panic!("send: {e}"),
        }
    }
    if *sent == out.len() && !*shut {
        s.tcp_shutdown(h).unwrap();
        *shut = true;
    }
    let mut buf = [0u8; 8192];
    loop {
        match s.tcp_recv(h, &mut buf) {
            Ok(0) => {
                *eof = true;
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(TcpError::WouldBlock) => break,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

fn transfer(loss: u64, seed: u64, a_to_b: usize, b_to_a: usize) -> Pair {
    transfer_to(SocketAddr::from((A, 80)), loss, seed, (a_to_b, b_to_a))
}

/// [`transfer`] to A's address `to` (IPv4 or IPv6: one listener takes both).
fn transfer_to(to: SocketAddr, loss: u64, seed: u64, sizes: (usize, usize)) -> Pair {
    let (a_to_b, b_to_a) = sizes;
    let mut p = Pair::new(loss, seed);
    let l = p.a.tcp_listen(80, 16).unwrap();
    let hb = p.b.tcp_connect(to).unwrap();
    assert!(
        p.run_until(Duration::from_secs(30), |p| p.a.tcp_can_accept(l)),
        "no connection"
    );
    let ha = p.a.tcp_accept(l).unwrap();
    assert_eq!(p.b.tcp_state(hb), Some(State::Established));
    let data_a = pattern(a_to_b, 1);
    let data_b = pattern(b_to_a, 2);
    let (mut sa, mut sb) = (0, 0);
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    let (mut ea, mut eb) = (false, false);
    let (mut sha, mut shb) = (false, false);
    let ok = p.run_until(Duration::from_secs(600), |p| {
        pump(&mut p.a, ha, &data_a, &mut sa, &mut ga, &mut ea, &mut sha);
        pump(&mut p.b, hb, &data_b, &mut sb, &mut gb, &mut eb, &mut shb);
        ea && eb
    });
    assert!(ok, "transfer did not finish: a got {} of {}, b got {} of {} (seed {seed}, loss {loss}‰)\n{:?}\n{:?}",
        ga.len(), b_to_a, gb.len(), a_to_b, p.a.tcp_info(ha), p.b.tcp_info(hb));
    assert!(gb == data_a, "a->b data differs (seed {seed})");
    assert!(ga == data_b, "b->a data differs (seed {seed})");
    p.a.tcp_close(ha).unwrap();
    p.b.tcp_close(hb).unwrap();
    // Both sides finish: one in TIME-WAIT for 2 MSL, then everything is freed.
    assert!(
        p.run_until(Duration::from_secs(120), |p| p.a.tcp_counts().0 == 0
            && p.b.tcp_counts().0 == 0),
        "connections not freed: {:?} {:?}",
        p.a.tcp_connections().collect::<Vec<_>>(),
        p.b.tcp_connections().collect::<Vec<_>>()
    );
    p
}

#[test]
fn handshake_and_small_transfer() {
    transfer(0, 1, 1000, 2000);
}

#[test]
fn bulk_both_ways_clean() {
    let p = transfer(0, 2, 1 << 20, 1 << 20);
    assert_eq!(p.a.stats().total_drops(), 0, "{}", p.a.stats());
    assert_eq!(
        (p.a.stats().tcp_passive_opens, p.b.stats().tcp_active_opens),
        (1, 1)
    );
}

#[test]
fn bulk_with_loss() {
    for seed in 1..=3 {
        let p = transfer(50, seed, 256 << 10, 256 << 10);
        // A seed reproduces the run: the same packets lost, the same virtual time at the end.
        let q = transfer(50, seed, 256 << 10, 256 << 10);
        assert_eq!(
            (p.now, p.delivered),
            (q.now, q.delivered),
            "seed {seed} is not deterministic"
        );
    }
}

#[test]
fn bulk_with_loss_over_ipv6() {
    // The same state machine, recovery and congestion control over IPv6: a lossy transfer both
    // ways completes (transfer checks every byte), its segments sized for IPv6's 60 bytes of
    // headers (MSS 1440 at MTU 1500, RFC 8200 §8.3), and a seed still reproduces the run.
    for seed in 1..=2 {
        let to = SocketAddr::from((A6, 80));
        let p = transfer_to(to, 50, seed, (256 << 10, 256 << 10));
        let q = transfer_to(to, 50, seed, (256 << 10, 256 << 10));
        assert_eq!((p.now, p.delivered), (q.now, q.delivered), "seed {seed}");
        assert_eq!(p.a.stats().tcp_passive_opens, 1);
    }
}

#[test]
fn ipv6_connections_use_ipv6_addresses_and_mss() {
    let mut p = Pair::new(0, 4);
    let l = p.a.tcp_listen(80, 4).unwrap();
    let hb = p.b.tcp_connect(SocketAddr::from((A6, 80))).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.tcp_can_accept(l)));
    let ha = p.a.tcp_accept(l).unwrap();
    let (ia, ib) = (p.a.tcp_info(ha).unwrap(), p.b.tcp_info(hb).unwrap());
    assert_eq!(ia.local, SocketAddr::from((A6, 80)));
    assert_eq!((ia.remote.ip(), ib.local.ip()), (B6.into(), B6.into()));
    // With timestamps: 1500 − 40 − 20 − 12 (tcpi_snd_mss, as Linux reports it).
    assert_eq!((ia.snd_mss, ib.snd_mss), (1428, 1428), "{ia:?}");
    assert_eq!((ia.smss, ia.rcv_mss), (1440, 1440), "{ia:?}");
    // Without an IPv6 address, an IPv6 peer is refused at once (EADDRNOTAVAIL).
    let mut v4only = Stack::new(Config::default(), Instant::ZERO).unwrap();
    assert_eq!(
        v4only.tcp_connect(SocketAddr::from((A6, 80))),
        Err(TcpError::AddrNotAvailable)
    );
}

#[test]
fn one_way_loss_uses_fast_retransmit() {
    // Losses one way only: duplicate ACKs flow back, so most losses are repaired by fast
    // retransmit (RFC 5681 §3.2), not by timeouts.
    let mut p = Pair::new(30, 5);
    let l = p.a.tcp_listen(80, 4).unwrap();
    let hb = p.b.tcp_connect(SocketAddrV4::new(A, 80)).unwrap();
    assert!(p.run_until(Duration::from_secs(30), |p| p.a.tcp_can_accept(l)));
    let ha = p.a.tcp_accept(l).unwrap();
    let data = pattern(1 << 20, 7);
    let (mut sent, mut got, mut eof, mut shut) = (0, Vec::new(), false, false);
    let (mut s2, mut g2, mut e2, mut sh2) = (0, Vec::new(), false, false);
    assert!(p.run_until(Duration::from_secs(300), |p| {
        pump(&mut p.a, ha, &data, &mut sent, &mut g2, &mut e2, &mut sh2);
        pump(&mut p.b, hb, &[], &mut s2, &mut got, &mut eof, &mut shut);
        eof
    }));
    assert!(got == data);
    let info = p.a.tcp_info(ha).unwrap();
    assert!(info.stats.fast_retransmits > 0, "{info:?}");
    assert!(
        info.stats.timeouts < info.stats.fast_retransmits,
        "{info:?}"
    );
}

#[test]
fn empty_transfer_closes_cleanly() {
    transfer(0, 9, 0, 0);
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = Pair::new(0, 3);
    let h = p.b.tcp_connect(SocketAddrV4::new(A, 81)).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.b.tcp_state(h)
        == Some(State::Closed)));
    let mut buf = [0u8; 4];
    assert_eq!(p.b.tcp_recv(h, &mut buf), Err(TcpError::Refused));
    assert_eq!(p.a.stats().tcp_resets_sent, 1);
}

/// Establishes a connection, then cuts the link both ways (loss 100%).
fn connected_then_cut(cfg_a: Config) -> (Pair, ConnHandle, ConnHandle) {
    let mut p = Pair::new(0, 21);
    p.a = Stack::new(Config { addr: A, ..cfg_a }, Instant::ZERO).unwrap();
    let l = p.a.tcp_listen(80, 4).unwrap();
    let hb = p.b.tcp_connect(SocketAddrV4::new(A, 80)).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.tcp_can_accept(l)));
    let ha = p.a.tcp_accept(l).unwrap();
    p.loss = 1000;
    (p, ha, hb)
}

#[test]
fn keepalive_detects_a_dead_peer() {
    // RFC 1122 §4.2.3.6: off by default; when enabled, idle time then probes, then give up.
    let cfg = Config {
        tcp_keepalive: Some(Duration::from_secs(10)),
        tcp_keepalive_interval: Duration::from_secs(2),
        tcp_keepalive_probes: 3,
        ..Config::default()
    };
    let (mut p, ha, hb) = connected_then_cut(cfg);
    let start = p.now;
    assert!(p.run_until(Duration::from_secs(60), |p| p.a.tcp_state(ha)
        == Some(State::Closed)));
    let mut buf = [0u8; 1];
    assert_eq!(p.a.tcp_recv(ha, &mut buf), Err(TcpError::TimedOut));
    // 10 s idle + 3 probes 2 s apart.
    let took = p.now - start;
    assert!(
        took >= Duration::from_secs(15) && took <= Duration::from_secs(20),
        "{took}"
    );
    // The side without keepalive knows nothing.
    assert_eq!(p.b.tcp_state(hb), Some(State::Established));
}

#[test]
fn user_timeout_aborts_unacknowledged_data() {
    let cfg = Config {
        tcp_user_timeout: Duration::from_secs(20),
        ..Config::default()
    };
    let (mut p, ha, _hb) = connected_then_cut(cfg);
    p.a.tcp_send(ha, b"hello?").unwrap();
    let start = p.now;
    assert!(p.run_until(Duration::from_secs(300), |p| p.a.tcp_state(ha)
        == Some(State::Closed)));
    let took = p.now - start;
    let mut buf = [0u8; 1];
    assert_eq!(p.a.tcp_recv(ha, &mut buf), Err(TcpError::TimedOut));
    assert!(
        took >= Duration::from_secs(20) && took <= Duration::from_secs(60),
        "{took}"
    );
    let info = p.a.tcp_connections().next().map(|i| i.stats.timeouts);
    assert!(info.is_none_or(|t| t >= 3), "{info:?}");
}

#[test]
fn zero_copy_send_and_recv_move_the_same_bytes() {
    let mut p = Pair::new(20, 8);
    let l = p.a.tcp_listen(80, 4).unwrap();
    let hb = p.b.tcp_connect(SocketAddrV4::new(A, 80)).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.tcp_can_accept(l)));
    let ha = p.a.tcp_accept(l).unwrap();
    let data = pattern(300_000, 9);
    let (mut sent, mut got, mut shut, mut eof) = (0usize, Vec::new(), false, false);
    assert!(p.run_until(Duration::from_secs(120), |p| {
        while sent < data.len() {
            let rest = &data[sent..];
            match p.b.tcp_send_with(hb, rest.len(), |room| {
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                n
            }) {
                Ok(n) => sent += n,
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        if sent == data.len() && !shut {
            p.b.tcp_shutdown(hb).unwrap();
            shut = true;
        }
        loop {
            match p.a.tcp_recv_with(ha, |d| {
                got.extend_from_slice(d);
                d.len()
            }) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(TcpError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        eof
    }));
    assert!(got == data);
}
