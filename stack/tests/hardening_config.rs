//! Issue 8, finding 14: a `Config` that cannot work is refused by `validate()` (and so by
//! `Stack::new`), and every `Config` that `validate()` accepts survives a handshake, data both
//! ways, random segments and its timers without a panic or a hang.

mod common;
mod tcp_common;

use std::sync::mpsc;
use std::time::Duration as StdDuration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
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

/// One field of the config set to an edge value: `field` picks the field (39 and up: the
/// tightest timers), the other draws are the values it may take.
#[derive(Clone, Debug)]
struct Mutation {
    field: usize,
    dur: u64,
    size: usize,
    count: u32,
    /// Picks from a field's own list of edge values.
    choice: prop::sample::Index,
    bits: u64,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        0usize..40,
        prop::sample::select(DURS),
        prop::sample::select(SIZES),
        prop::sample::select(COUNTS),
        any::<prop::sample::Index>(),
        any::<u64>(),
    )
        .prop_map(|(field, dur, size, count, choice, bits)| Mutation {
            field,
            dur,
            size,
            count,
            choice,
            bits,
        })
}

/// Default config with a few fields (1–6) set to edge values. Address and prefix stay so the
/// fake peer can talk to it.
fn mutated(mutations: &[Mutation]) -> Config {
    let mut c = config();
    for m in mutations {
        let dur = Duration::from_micros(m.dur);
        let (size, count) = (m.size, m.count);
        match m.field {
            0 => {
                c.mtu = *m.choice.get(&[0, 67, 68, 69, 100, 576, 1500, 9000, 65535]);
                c.min_pmtu = c.min_pmtu.min(c.mtu);
            }
            1 => c.ttl = *m.choice.get(&[0, 1, 255]),
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
                c.ephemeral_ports =
                    *m.choice
                        .get(&[(0, 0), (1, 1), (65535, 65535), (2, 1), (1, 65535)])
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
            25 => c.tcp_keepalive = *m.choice.get(&[None, Some(dur)]),
            26 => c.tcp_keepalive_interval = dur,
            27 => c.tcp_keepalive_probes = count,
            28 => c.tcp_challenge_ack_rate = count,
            29 => c.tcp_congestion = *m.choice.get(&[Algorithm::NewReno, Algorithm::Cubic]),
            30 => c.tcp_timestamps = !c.tcp_timestamps,
            31 => c.tcp_sack = !c.tcp_sack,
            32 => c.tcp_window_scaling = !c.tcp_window_scaling,
            33 => c.tcp_max_mss = *m.choice.get(&[0, 1, 27, 28, 88, 536, 65495, 65535]),
            34 => c.prefix_len = *m.choice.get(&[0, 8, 30, 32, 33]),
            35 => c.seed = m.bits,
            37 => c.ip_ident_buckets = size,
            38 => c.min_pmtu = *m.choice.get(&[0, 67, 68, 552, 1500, 1501, 65535]),
            36 => c.secret = [m.bits as u8; 16],
            _ => {
                // A small, fast-timer config: everything at its tightest.
                c.tcp_min_rto = us(1);
                c.tcp_initial_rto = us(1);
                c.tcp_max_rto = us(*m.choice.get(&[1, 2, 1000]));
                c.tcp_delayed_ack = us(1);
                c.tcp_msl = us(1);
                c.tcp_user_timeout = us(1);
            }
        }
    }
    c
}

/// A sequence or acknowledgment number relative to the connection's.
#[derive(Clone, Copy, Debug)]
enum Near {
    Same,
    Above(u32),
    Below(u32),
    Any(u32),
}

impl Near {
    fn apply(self, base: u32) -> u32 {
        match self {
            Near::Same => base,
            Near::Above(d) => base.wrapping_add(d),
            Near::Below(d) => base.wrapping_sub(d),
            Near::Any(n) => n,
        }
    }
}

fn near() -> impl Strategy<Value = Near> {
    prop_oneof![
        Just(Near::Same),
        (0u32..70_000).prop_map(Near::Above),
        (0u32..70_000).prop_map(Near::Below),
        any::<u32>().prop_map(Near::Any),
    ]
}

/// A segment for the connection, near its interesting edges, and whether timers run after it.
#[derive(Clone, Debug)]
struct RandomSegment {
    flags: u8,
    seq: Near,
    ack: Near,
    len: usize,
    win: u16,
    /// Run timers for this long (µs) after the segment.
    timers: Option<u64>,
}

fn random_segment() -> impl Strategy<Value = RandomSegment> {
    let flags = prop::sample::select(vec![
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
    (
        flags,
        near(),
        near(),
        prop::sample::select(&[0usize, 1, 100, 1460][..]),
        prop::sample::select(&[0u16, 1, 1000, 65535][..]),
        prop::option::weighted(0.25, prop::sample::select(DURS)),
    )
        .prop_map(|(flags, seq, ack, len, win, timers)| RandomSegment {
            flags,
            seq,
            ack,
            len,
            win,
            timers,
        })
}

impl RandomSegment {
    fn build(&self, p: &Peer) -> Seg {
        let seq = self.seq.apply(p.seq);
        p.seg(self.flags)
            .seq(seq)
            .ack(self.ack.apply(p.ack))
            .win(self.win)
            .data(&stream(seq, self.len))
    }
}

/// How `exercise` drives a connection: which side opens, then 40 random segments.
#[derive(Clone, Debug)]
struct Plan {
    active_open: bool,
    segments: Vec<RandomSegment>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::bool::weighted(1.0 / 3.0),
        prop::collection::vec(random_segment(), 40),
    )
        .prop_map(|(active_open, segments)| Plan {
            active_open,
            segments,
        })
}

/// A proptest runner whose draws are fixed by `seed`, for the tests that are not properties.
fn seeded_runner(seed: u8) -> TestRunner {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    TestRunner::new_with_rng(ProptestConfig::default(), rng)
}

/// A value of `strategy` drawn by `runner`.
fn draw<S: Strategy>(strategy: &S, runner: &mut TestRunner) -> S::Value {
    strategy.new_tree(runner).unwrap().current()
}

/// A plan drawn from `plan()` by a runner seeded with `seed`, for the fixed tests.
fn seeded_plan(seed: u8) -> Plan {
    draw(&plan(), &mut seeded_runner(seed))
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
fn exercise(cfg: Config, plan: &Plan) -> Vec<u8> {
    let (mut p, h) = if plan.active_open {
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
    for seg in &plan.segments {
        p.send(seg.build(&p));
        read.extend(p.read_all(h));
        if let Some(span) = seg.timers {
            run_timers(&mut p, Duration::from_micros(span.min(10_000_000)));
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
fn exercise_with_deadline(cfg: Config, plan: Plan) {
    let (tx, rx) = mpsc::channel();
    let dbg = format!("{cfg:?}");
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| exercise(cfg, &plan));
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
    exercise_with_deadline(c, seeded_plan(1));
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
    exercise_with_deadline(c, seeded_plan(2));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn whatever_validate_accepts_survives(
        mutations in prop::collection::vec(mutation(), 1..=6),
        plan in plan(),
    ) {
        let cfg = mutated(&mutations);
        if cfg.validate().is_ok() {
            exercise_with_deadline(cfg, plan);
        } else {
            prop_assert!(Stack::new(cfg, Instant::ZERO).is_err());
        }
    }
}

#[test]
fn the_property_is_not_vacuous() {
    // Enough of the mutated configs are valid for the property above to test something, and
    // enough are invalid for the refusal side to be exercised.
    let mut runner = seeded_runner(3);
    let mutations = prop::collection::vec(mutation(), 1..=6);
    let valid = (0..400)
        .filter(|_| mutated(&draw(&mutations, &mut runner)).validate().is_ok())
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
