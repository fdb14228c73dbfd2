//! Safe by default, on a real TUN: two bridges started from `BridgeConfig::default()` draw
//! unrelated secrets from the OS, so the same 4-tuple at the same stack time gets unrelated
//! initial sequence numbers (RFC 6528 §3); two started with `Entropy::Pinned` and the same
//! secret give the very ISS that secret predicts.
//!
//! Each bridge connects out once to the kernel side, from the one ephemeral port its range
//! allows (so the 4-tuple is the same every time); a tap records the SYN's sequence number.
//! RFC 6528's ISS is `M + F(4-tuple, secret)` with `M` the stack's 4 µs clock at the connect,
//! read in the same loop turn, so `F = ISS − M` is compared exactly, free of timing.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};
use tun_bridge::{Bridge, BridgeConfig, Direction, Entropy, Tap};
use ustack::test_support::IsnGenerator;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::TcpSegment;
use ustack::Instant;
use ustack_tests::netns::{tun_available, NetNs};

const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const STACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The only ephemeral port the bridges may use: every connect has the same 4-tuple.
const LOCAL_PORT: u16 = 40000;
/// The kernel side's discard port (nothing listens: the kernel answers with a reset).
const REMOTE: SocketAddrV4 = SocketAddrV4::new(HOST, 9);
const T: Duration = Duration::from_secs(10);

/// Sends (source port, destination, sequence number) of every SYN the stack sends.
struct SynTap(mpsc::Sender<(u16, SocketAddrV4, u32)>);

impl Tap for SynTap {
    fn packet(&mut self, dir: Direction, _ts: SystemTime, bytes: &[u8]) {
        let Ok(ip) = Ipv4Packet::parse(bytes) else {
            return;
        };
        if dir != Direction::Out || ip.protocol() != 6 {
            return;
        }
        let Ok(seg) = TcpSegment::parse(ip.src(), ip.dst(), ip.payload()) else {
            return;
        };
        if seg.syn() && seg.ack.is_none() {
            let dst = SocketAddrV4::new(ip.dst(), seg.dst_port);
            let _ = self.0.send((seg.src_port, dst, seg.seq.0));
        }
    }
}

/// What one bridge's first connect showed.
#[derive(Debug)]
struct Probe {
    /// The secret the stack ran with.
    secret: [u8; 16],
    /// The stack's clock when it chose the ISS.
    now: Instant,
    /// The SYN's sequence number.
    iss: u32,
}

impl Probe {
    /// `F(4-tuple, secret)` of RFC 6528 §3: the ISS less the 4 µs clock `M`.
    fn keyed_part(&self) -> u32 {
        self.iss.wrapping_sub((self.now.total_micros() / 4) as u32)
    }
}

/// In a namespace of its own (tagged `tag`), starts a bridge from `config` (ephemeral range
/// narrowed to [`LOCAL_PORT`]), connects once to [`REMOTE`], and stops it. A namespace each,
/// because a closed TUN can outlive its bridge for a moment (while a process another test
/// forks still holds a copy of its descriptor), keeping the next bridge from its name.
fn probe(tag: &str, config: BridgeConfig) -> Probe {
    NetNs::new(tag).run(move || probe_here(config))
}

fn probe_here(mut config: BridgeConfig) -> Probe {
    config.stack.ephemeral_ports = (LOCAL_PORT, LOCAL_PORT);
    let (tx, syns) = mpsc::channel();
    let bridge = Bridge::start(config, vec![Box::new(SynTap(tx))]).expect("bridge starts");
    let (secret, now) = bridge
        .with_stack(|s| {
            let now = s.now();
            s.tcp_connect(REMOTE).expect("connect starts");
            (s.config().secret, now)
        })
        .unwrap();
    let (port, dst, iss) = syns.recv_timeout(T).expect("the SYN went out");
    assert_eq!((port, dst), (LOCAL_PORT, REMOTE), "the SYN's 4-tuple");
    bridge.shutdown().expect("the loop ends cleanly");
    Probe { secret, now, iss }
}

/// The ISS `secret` gives the probe's 4-tuple at `now`.
fn predicted_iss(secret: [u8; 16], now: Instant) -> u32 {
    let local = SocketAddrV4::new(STACK, LOCAL_PORT);
    IsnGenerator::new(secret)
        .isn(now, local.into(), REMOTE.into())
        .0
}

#[test]
fn default_bridges_draw_unrelated_isn_secrets() {
    if !tun_available() {
        return;
    }
    let published = ustack::Config::default().secret;
    let a = probe("isn-os-a", BridgeConfig::default());
    let b = probe("isn-os-b", BridgeConfig::default());
    for p in [&a, &b] {
        assert_ne!(p.secret, published, "the published test secret was kept");
        assert_ne!(
            p.iss,
            predicted_iss(published, p.now),
            "the ISS is the one the published secret predicts"
        );
        assert_eq!(p.iss, predicted_iss(p.secret, p.now), "{p:?}");
    }
    assert_ne!(a.secret, b.secret, "two bridges drew the same secret");
    assert_ne!(
        a.keyed_part(),
        b.keyed_part(),
        "the same 4-tuple got the same keyed ISN offset under two drawn secrets: {a:?} {b:?}"
    );
}

#[test]
fn pinned_bridges_repeat_the_isn_their_secret_predicts() {
    if !tun_available() {
        return;
    }
    let pinned = || {
        let mut c = BridgeConfig {
            entropy: Entropy::Pinned,
            ..BridgeConfig::default()
        };
        c.stack.secret = *b"pinned-for-tests";
        c
    };
    let a = probe("isn-pin-a", pinned());
    let b = probe("isn-pin-b", pinned());
    for p in [&a, &b] {
        assert_eq!(
            &p.secret, b"pinned-for-tests",
            "the pinned secret was replaced"
        );
        assert_eq!(p.iss, predicted_iss(p.secret, p.now), "{p:?}");
    }
    // The same 4-tuple at the same stack time: the same ISS.
    assert_eq!(a.keyed_part(), b.keyed_part(), "{a:?} {b:?}");
}
