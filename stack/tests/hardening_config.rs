//! Issue 8, finding 14: a `Config` that cannot work is refused by `validate()` (and so by
//! `Stack::new`), and every `Config` that `validate()` accepts survives a handshake, data both
//! ways, random segments and its timers without a panic or a hang.

mod common;
mod tcp_common;

use std::sync::mpsc;
use std::time::Duration as StdDuration;

use proptest::prelude::*;
use tcp_common::*;
use ustack::tcp::congestion::Algorithm;
use ustack::tcp::State;
use ustack::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN, URG};
use ustack::{Config, Duration, Instant, Stack};

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Asserts that `c` is refused, naming `field` in the error.
#[track_caller]
fn refused(c: Config, field: &str) {
    match c.validate() {
        Ok(()) => panic!("a config with bad `{field}` was accepted"),
        Err(e) => assert!(
            e.to_string().contains(field),
            "error `{e}` does not name `{field}`"
        ),
    }
    assert!(Stack::new(c, Instant::ZERO).is_err(), "Stack::new took it");
}

#[track_caller]
fn accepted(c: Config) {
    assert_eq!(c.validate(), Ok(()), "{c:?}");
}

fn d() -> Config {
    Config::default()
}

#[test]
fn refuses_a_zero_or_oversized_mss() {
    // tcp_max_mss = 0 used to panic on the first SYN (`clamp(1, 0)`).
    refused(
        Config {
            tcp_max_mss: 0,
            ..d()
        },
        "tcp_max_mss",
    );
    refused(
        Config {
            tcp_max_mss: 27,
            ..d()
        },
        "tcp_max_mss",
    );
    // RFC 9293 §3.7.1: an MSS cannot exceed 65535 − 40 (the largest IPv4 datagram less headers).
    refused(
        Config {
            tcp_max_mss: 65496,
            ..d()
        },
        "tcp_max_mss",
    );
    accepted(Config {
        tcp_max_mss: 28,
        ..d()
    });
    accepted(Config {
        tcp_max_mss: 65495,
        ..d()
    });
}

#[test]
fn refuses_rto_bounds_that_cannot_work() {
    // tcp_max_rto = 0 made handle_timeout re-arm a timer at `now` forever.
    refused(
        Config {
            tcp_max_rto: Duration::ZERO,
            ..d()
        },
        "tcp_max_rto",
    );
    refused(
        Config {
            tcp_min_rto: Duration::ZERO,
            ..d()
        },
        "tcp_min_rto",
    );
    refused(
        Config {
            tcp_min_rto: Duration::from_secs(2),
            tcp_max_rto: Duration::from_secs(1),
            ..d()
        },
        "tcp_min_rto",
    );
    refused(
        Config {
            tcp_initial_rto: Duration::ZERO,
            ..d()
        },
        "tcp_initial_rto",
    );
    accepted(Config {
        tcp_min_rto: us(1),
        tcp_max_rto: us(1),
        tcp_initial_rto: us(1),
        ..d()
    });
}

#[test]
fn refuses_zero_timers() {
    refused(
        Config {
            reassembly_timeout: Duration::ZERO,
            ..d()
        },
        "reassembly_timeout",
    );
    refused(
        Config {
            tcp_msl: Duration::ZERO,
            ..d()
        },
        "tcp_msl",
    );
    refused(
        Config {
            tcp_user_timeout: Duration::ZERO,
            ..d()
        },
        "tcp_user_timeout",
    );
    refused(
        Config {
            tcp_delayed_ack: Duration::ZERO,
            ..d()
        },
        "tcp_delayed_ack",
    );
    refused(
        Config {
            tcp_keepalive: Some(Duration::ZERO),
            ..d()
        },
        "tcp_keepalive",
    );
    refused(
        Config {
            tcp_keepalive_interval: Duration::ZERO,
            ..d()
        },
        "tcp_keepalive_interval",
    );
    refused(
        Config {
            tcp_keepalive_probes: 0,
            ..d()
        },
        "tcp_keepalive_probes",
    );
}

#[test]
fn refuses_a_delayed_ack_of_half_a_second_or_more() {
    // RFC 9293 §3.8.6.3 (MUST-40): the delay MUST be less than 0.5 s.
    refused(
        Config {
            tcp_delayed_ack: Duration::from_millis(500),
            ..d()
        },
        "tcp_delayed_ack",
    );
    accepted(Config {
        tcp_delayed_ack: Duration::from_millis(499),
        ..d()
    });
}

#[test]
fn refuses_ttl_zero_and_an_empty_syn_backlog() {
    refused(Config { ttl: 0, ..d() }, "ttl");
    refused(
        Config {
            tcp_syn_backlog: 0,
            tcp_syncookies: false,
            ..d()
        },
        "tcp_syn_backlog",
    );
    // With cookies, 0 means every SYN is answered by a cookie (Linux's tcp_syncookies=2).
    assert!(Config {
        tcp_syn_backlog: 0,
        ..d()
    }
    .validate()
    .is_ok());
}

#[test]
fn refuses_a_send_buffer_beyond_what_sequence_space_carries() {
    // RFC 7323 §2.3: at most 2^30 bytes can be in flight.
    refused(
        Config {
            tcp_tx_buffer: (1 << 30) + 1,
            ..d()
        },
        "tcp_tx_buffer",
    );
    accepted(Config {
        tcp_tx_buffer: 1 << 30,
        ..d()
    });
}

#[test]
fn refuses_the_network_and_broadcast_address_as_our_own() {
    use std::net::Ipv4Addr;
    // RFC 1122 §3.2.1.3 (b), (c): a host number of all zeros or all ones is not a host.
    refused(
        Config {
            addr: Ipv4Addr::new(198, 18, 0, 255),
            ..d()
        },
        "198.18.0.255",
    );
    refused(
        Config {
            addr: Ipv4Addr::new(198, 18, 0, 0),
            ..d()
        },
        "198.18.0.0",
    );
    // RFC 3021: on a /31 both addresses are hosts.
    accepted(Config {
        addr: Ipv4Addr::new(198, 18, 0, 0),
        prefix_len: 31,
        ..d()
    });
}

#[test]
fn refuses_tables_larger_than_handles_can_name() {
    refused(
        Config {
            tcp_max_connections: u32::MAX as usize + 1,
            ..d()
        },
        "tcp_max_connections",
    );
    refused(
        Config {
            max_sockets: u32::MAX as usize + 1,
            ..d()
        },
        "max_sockets",
    );
}

// --------------------------------------------------------------------------------------------
// Property: whatever validate() accepts works.
// --------------------------------------------------------------------------------------------

/// splitmix64, to pick fields and build segments from one proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

const DURS: &[u64] = &[
    0,
    1,
    1_000,
    40_000,
    200_000,
    1_000_000,
    60_000_000,
    u64::MAX,
];
const SIZES: &[usize] = &[0, 1, 2, 100, 1500, 65535, 65536, 256 << 10];
const COUNTS: &[u32] = &[0, 1, 2, 6, 9, 1000, u32::MAX];

/// Default config with a few fields (1–6) set to edge values. Address and prefix stay so the
/// fake peer can talk to it.
fn mutated(rng: &mut Rng) -> Config {
    let mut c = config();
    for _ in 0..1 + rng.below(6) {
        let dur = Duration::from_micros(rng.pick(DURS));
        let size = rng.pick(SIZES);
        let count = rng.pick(COUNTS);
        match rng.below(40) {
            0 => {
                c.mtu = rng.pick(&[0, 67, 68, 69, 100, 576, 1500, 9000, 65535]);
                c.min_pmtu = c.min_pmtu.min(c.mtu);
            }
            1 => c.ttl = rng.pick(&[0, 1, 255]),
            2 => c.reassembly_timeout = dur,
            3 => c.reassembly_max_bytes = size,
            4 => c.reassembly_max_datagrams = size,
            5 => c.icmp_error_rate = count,
            6 => c.icmp_error_burst = count,
            7 => c.max_sockets = size,
            8 => c.socket_rx_queue_datagrams = size,
            9 => c.socket_rx_queue_bytes = size,
            10 => c.tx_queue_datagrams = size,
            11 => c.tx_queue_bytes = size,
            12 => {
                c.ephemeral_ports = rng.pick(&[(0, 0), (1, 1), (65535, 65535), (2, 1), (1, 65535)])
            }
            13 => c.tcp_rx_buffer = size,
            14 => c.tcp_tx_buffer = size,
            15 => c.tcp_max_connections = size,
            16 => c.tcp_syn_backlog = size,
            17 => c.tcp_syncookies = !c.tcp_syncookies,
            18 => c.tcp_msl = dur,
            19 => c.tcp_initial_rto = dur,
            20 => c.tcp_min_rto = dur,
            21 => c.tcp_max_rto = dur,
            22 => c.tcp_delayed_ack = dur,
            23 => c.tcp_user_timeout = dur,
            24 => c.tcp_syn_retries = count,
            25 => c.tcp_keepalive = rng.pick(&[None, Some(dur)]),
            26 => c.tcp_keepalive_interval = dur,
            27 => c.tcp_keepalive_probes = count,
            28 => c.tcp_challenge_ack_rate = count,
            29 => c.tcp_congestion = rng.pick(&[Algorithm::NewReno, Algorithm::Cubic]),
            30 => c.tcp_timestamps = !c.tcp_timestamps,
            31 => c.tcp_sack = !c.tcp_sack,
            32 => c.tcp_window_scaling = !c.tcp_window_scaling,
            33 => c.tcp_max_mss = rng.pick(&[0, 1, 27, 28, 88, 536, 65495, 65535]),
            34 => c.prefix_len = rng.pick(&[0, 8, 30, 32, 33]),
            35 => c.seed = rng.next(),
            37 => c.ip_ident_buckets = size,
            38 => c.min_pmtu = rng.pick(&[0, 67, 68, 552, 1500, 1501, 65535]),
            36 => c.secret = [rng.next() as u8; 16],
            _ => {
                // A small, fast-timer config: everything at its tightest.
                c.tcp_min_rto = us(1);
                c.tcp_initial_rto = us(1);
                c.tcp_max_rto = us(rng.pick(&[1, 2, 1000]));
                c.tcp_delayed_ack = us(1);
                c.tcp_msl = us(1);
                c.tcp_user_timeout = us(1);
            }
        }
    }
    c
}

/// A random segment for the connection, near its interesting edges.
fn random_segment(p: &Peer, rng: &mut Rng) -> Seg {
    let flag_bits = rng.pick(&[
        ACK,
        ACK | PSH,
        SYN,
        RST,
        FIN | ACK,
        SYN | ACK,
        RST | ACK,
        URG | ACK,
        0,
        0xff,
    ]);
    let near = |base: u32, rng: &mut Rng| -> u32 {
        match rng.below(4) {
            0 => base,
            1 => base.wrapping_add(rng.below(70_000) as u32),
            2 => base.wrapping_sub(rng.below(70_000) as u32),
            _ => rng.next() as u32,
        }
    };
    let len = rng.pick(&[0usize, 1, 100, 1460]);
    let seq = near(p.seq, rng);
    p.seg(flag_bits)
        .seq(seq)
        .ack(near(p.ack, rng))
        .win(rng.pick(&[0, 1, 1000, 65535]))
        .data(&stream(seq, len))
}

/// The peer's byte stream as a function of the sequence number, so that any segment, however
/// random its sequence number, carries the bytes the stream has there.
fn stream(seq: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (seq.wrapping_add(i).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Runs timers for `span` of virtual time; fails on a timer that keeps firing at one instant.
fn run_timers(p: &mut Peer, span: Duration) {
    let limit = p.now + span;
    let mut same_instant = 0u32;
    for _ in 0..20_000 {
        let Some(at) = p.stack.poll_at() else { break };
        if at > limit {
            break;
        }
        if at <= p.now {
            same_instant += 1;
            assert!(same_instant < 1000, "a timer keeps firing at {at:?}");
        } else {
            same_instant = 0;
            p.now = at;
        }
        p.stack.handle_timeout(p.now);
        p.drain();
    }
}

/// A connection accepted from the fake peer.
fn passive_open(cfg: Config) -> (Peer, ustack::tcp::ConnHandle) {
    let mut p = Peer::new(cfg);
    let l = p.stack.tcp_listen(PORT, 16).expect("listen");
    let outs = p.send(p.seg(SYN).ack(0).opts(Peer::full_syn_options()));
    let synack = outs
        .iter()
        .find(|o| o.ctl() == SYN | ACK)
        .expect("a valid config answers a SYN");
    p.iss = synack.seq;
    p.seq = PEER_ISN + 1;
    p.ack = synack.seq.wrapping_add(1);
    p.tsval = Some(PEER_TS + 1);
    p.send(p.seg(ACK));
    let h = p
        .stack
        .tcp_accept(l)
        .expect("a valid config completes a handshake");
    (p, h)
}

/// A connection opened by the stack to the fake peer.
fn active_open(cfg: Config) -> (Peer, ustack::tcp::ConnHandle) {
    let (mut p, h, syn) = active_syn(cfg);
    p.seq = PEER_ISN;
    p.ack = syn.seq.wrapping_add(1);
    let opts = ustack::wire::tcp::TcpOptions {
        timestamps: syn.options.timestamps.map(|(v, _)| (PEER_TS, v)),
        ..Peer::full_syn_options()
    };
    p.send(p.seg(SYN | ACK).opts(opts));
    p.seq = PEER_ISN + 1;
    p.tsval = syn.options.timestamps.map(|_| PEER_TS + 1);
    (p, h)
}

/// Handshake, data both ways, random segments, close, timers. Returns what the app read.
fn exercise(cfg: Config, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let (mut p, h) = if rng.below(3) == 0 {
        active_open(cfg)
    } else {
        passive_open(cfg)
    };
    assert_eq!(p.state(h), Some(State::Established));
    let sent = stream(PEER_ISN + 1, 4000 + 40 * 1460);
    let mut read = Vec::new();
    for chunk in sent[..4000].chunks(700) {
        p.send_data(chunk);
        read.extend(p.read_all(h));
    }
    let _ = p.stack.tcp_send(h, &pattern(5000, 7));
    let outs = p.drain();
    if let Some(last) = outs.iter().map(|o| o.end()).max() {
        p.send_ack(last);
    }
    for _ in 0..40 {
        let s = random_segment(&p, &mut rng);
        p.send(s);
        read.extend(p.read_all(h));
        if rng.below(4) == 0 {
            run_timers(
                &mut p,
                Duration::from_micros(rng.pick(DURS).min(10_000_000)),
            );
        }
    }
    let _ = p.stack.tcp_close(h);
    p.drain();
    run_timers(&mut p, Duration::from_secs(600));
    read.extend(p.read_all(h));
    assert!(
        sent.starts_with(&read),
        "the app read bytes out of order or twice"
    );
    read
}

/// Runs `exercise` on another thread so that a hang fails the test instead of stalling it.
fn exercise_with_deadline(cfg: Config, seed: u64) {
    let (tx, rx) = mpsc::channel();
    let dbg = format!("{cfg:?}");
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| exercise(cfg, seed));
        let _ = tx.send(r.map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    match rx.recv_timeout(StdDuration::from_secs(60)) {
        Ok(Ok(_)) => {}
        Ok(Err(msg)) => panic!("panicked with {dbg}: {msg}"),
        Err(_) => panic!("hung (60 s) with {dbg}"),
    }
}

#[test]
fn the_tightest_accepted_timers_do_not_hang() {
    let c = Config {
        tcp_min_rto: us(1),
        tcp_initial_rto: us(1),
        tcp_max_rto: us(1),
        tcp_delayed_ack: us(1),
        tcp_msl: us(1),
        tcp_user_timeout: us(1),
        tcp_keepalive: Some(us(1)),
        tcp_keepalive_interval: us(1),
        tcp_keepalive_probes: u32::MAX,
        tcp_syn_retries: u32::MAX,
        ..config()
    };
    accepted(c.clone());
    exercise_with_deadline(c, 1);
}

#[test]
fn the_smallest_accepted_sizes_work() {
    let c = Config {
        mtu: 68,
        min_pmtu: 68,
        tcp_max_mss: 28,
        tcp_rx_buffer: 1,
        tcp_tx_buffer: 1,
        tx_queue_datagrams: 1,
        tx_queue_bytes: 1,
        tcp_max_connections: 1,
        tcp_syn_backlog: 1,
        ..config()
    };
    accepted(c.clone());
    exercise_with_deadline(c, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn whatever_validate_accepts_survives(seed in any::<u64>()) {
        let cfg = mutated(&mut Rng(seed));
        if cfg.validate().is_ok() {
            exercise_with_deadline(cfg, seed);
        } else {
            prop_assert!(Stack::new(cfg, Instant::ZERO).is_err());
        }
    }
}

#[test]
fn the_property_is_not_vacuous() {
    // Enough of the mutated configs are valid for the property above to test something, and
    // enough are invalid for the refusal side to be exercised.
    let valid = (0..400u64)
        .filter(|&s| mutated(&mut Rng(s)).validate().is_ok())
        .count();
    assert!((100..=350).contains(&valid), "{valid} of 400 valid");
}

#[test]
fn refuses_an_empty_or_oversized_ident_table() {
    refused(
        Config {
            ip_ident_buckets: 0,
            ..d()
        },
        "ip_ident_buckets",
    );
    refused(
        Config {
            ip_ident_buckets: 65537,
            ..d()
        },
        "ip_ident_buckets",
    );
    accepted(Config {
        ip_ident_buckets: 1,
        ..d()
    });
}
