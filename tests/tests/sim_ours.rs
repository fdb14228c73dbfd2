//! ustack ↔ ustack over the deterministic simulator: bulk TCP both ways at once over clean,
//! lossy, bursty, reordering, duplicating, corrupting, combined and odd-MTU links; ping and UDP
//! echo; determinism; and what a failing run reports.
//!
//! Every run is reproducible from its seed; a failing one panics with the seed, the profiles,
//! both nodes' progress and the link counters, and leaves a pcap in the temp directory.

use std::panic::{catch_unwind, AssertUnwindSafe};
use ustack_tests::sim::link::{LinkStats, Profile};
use ustack_tests::sim::ustack_node::{sim_config, UstackNode};
use ustack_tests::sim::world::{Outcome, World};
use ustack_tests::sim::{Duration, Family, Instant, Node, Role};

const PORT: u16 = 5001;
/// Virtual time allowed for one transfer (generous for 1 MiB both ways at 5% loss).
const DEADLINE: Duration = Duration::from_secs(120);

type Pair = World<UstackNode, UstackNode>;

/// Stream seeds: what the client sends and what the server sends.
fn stream_seeds(seed: u64) -> (u64, u64) {
    (
        seed.wrapping_mul(31).wrapping_add(1),
        seed.wrapping_mul(37).wrapping_add(2),
    )
}

/// A client (a, 198.18.0.1 or 2001:2::1) and a server (b, 198.18.0.2 or 2001:2::2) that each
/// send `len` bytes at once over `family`.
fn tcp_pair(profile: &Profile, family: Family, seed: u64, up: u64, down: u64) -> Pair {
    let (cs, ss) = stream_seeds(seed);
    let mtu = profile.mtu as u16;
    let client = UstackNode::new(
        "ustack-client",
        sim_config(family.client(), mtu, seed),
        Role::TcpClient {
            remote: family.server(),
            port: PORT,
            send_len: up,
            send_seed: cs,
            expect_len: down,
            expect_seed: ss,
        },
        Instant::ZERO,
    );
    let server = UstackNode::new(
        "ustack-server",
        sim_config(family.server(), mtu, seed.wrapping_add(1)),
        Role::TcpServer {
            port: PORT,
            send_len: down,
            send_seed: ss,
            expect_len: up,
            expect_seed: cs,
        },
        Instant::ZERO,
    );
    let mut w = World::new(client, server, profile.clone(), profile.clone(), seed);
    w.set_label(&format!("{}-{}-{up}-{down}", profile.name, family.label()));
    w
}

/// Runs one transfer of `up` bytes client→server and `down` bytes server→client and checks
/// both ends; returns the finished world, or a report with the seed (and a pcap on disk).
fn try_transfer(
    profile: &Profile,
    family: Family,
    seed: u64,
    up: u64,
    down: u64,
) -> Result<Pair, String> {
    let mut w = tcp_pair(profile, family, seed, up, down);
    let what = format!("{} {} ({up} up, {down} down)", profile.name, family.label());
    let at = w.run_report(DEADLINE).map_err(|e| format!("{what}: {e}"))?;
    let (cs, ss) = stream_seeds(seed);
    let (pa, pb) = w.progress();
    let problems: Vec<String> = [
        pa.check_tcp(up, down, ss)
            .err()
            .map(|e| format!("client: {e}")),
        pb.check_tcp(down, up, cs)
            .err()
            .map(|e| format!("server: {e}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(w)
    } else {
        Err(format!(
            "{what} done at {at} but: {}\n{}\n{}",
            problems.join("; "),
            w.describe(),
            w.dump_pcap()
        ))
    }
}

fn transfer(profile: &Profile, seed: u64, up: u64, down: u64) -> Pair {
    try_transfer(profile, Family::V4, seed, up, down).unwrap_or_else(|e| panic!("{e}"))
}

/// The sizes around the MSS and the 64 KiB boundary, then 1 MiB.
fn sizes(profile: &Profile, family: Family) -> Vec<u64> {
    ustack_tests::sim::transfer_sizes(profile.mtu, family)
}

/// [`suite_in`] over IPv4.
fn suite(profile: Profile, seeds: &[u64]) -> LinkStats {
    suite_in(profile, Family::V4, seeds)
}

/// Every size both ways at once over `family`, for each seed; reports every failing run, not
/// just the first. Returns the link counters summed over all runs and both directions (so a
/// test can check the profile really misbehaved).
fn suite_in(profile: Profile, family: Family, seeds: &[u64]) -> LinkStats {
    let mut links = LinkStats::default();
    let started = std::time::Instant::now();
    let mut retransmits = 0;
    let mut virtual_time = Duration::ZERO;
    let mut failures = Vec::new();
    for &seed in seeds {
        for len in sizes(&profile, family) {
            match try_transfer(&profile, family, seed, len, len) {
                Ok(w) => {
                    let (pa, pb) = w.progress();
                    retransmits += pa.retransmits + pb.retransmits;
                    virtual_time = virtual_time + (w.now - Instant::ZERO);
                    for l in [w.ab.stats(), w.ba.stats()] {
                        links.offered += l.offered;
                        links.delivered += l.delivered;
                        links.dropped_loss += l.dropped_loss;
                        links.dropped_queue += l.dropped_queue;
                        links.dropped_mtu += l.dropped_mtu;
                        links.duplicated += l.duplicated;
                        links.reordered += l.reordered;
                        links.corrupted += l.corrupted;
                    }
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let runs = seeds.len() * sizes(&profile, family).len();
    eprintln!(
        "{} {}: {runs} runs, {} failed, {virtual_time} virtual, {retransmits} retransmits, \
         {:?} real",
        profile.name,
        family.label(),
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} runs over {} ({}) failed:\n\n{}",
        failures.len(),
        profile.name,
        family.label(),
        failures.join("\n\n")
    );
    eprintln!("{}: {links:?}", profile.name);
    links
}

/// The seeds each profile runs with: 8 by default; `USTACK_SIM_SEEDS=N` runs N (a sweep), and
/// `USTACK_SIM_SEED=S` runs only seed S (to reproduce a failure).
fn seeds() -> Vec<u64> {
    if let Some(s) = std::env::var("USTACK_SIM_SEED")
        .ok()
        .and_then(|s| parse_u64(&s))
    {
        return vec![s];
    }
    let n = std::env::var("USTACK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8u64);
    (1..=n).map(|i| 0x5eed_0000 + i).collect()
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[test]
fn tcp_clean() {
    let l = suite(Profile::clean(), &seeds());
    assert_eq!(l.delivered, l.offered);
}

#[test]
fn tcp_loss_1pct() {
    let l = suite(Profile::loss(1.0).named("loss 1%"), &seeds());
    assert!(l.dropped_loss > 0);
}

#[test]
fn tcp_loss_5pct() {
    let l = suite(Profile::loss(5.0).named("loss 5%"), &seeds());
    assert!(l.dropped_loss > 0);
}

#[test]
fn tcp_bursty() {
    let l = suite(Profile::bursty(), &seeds());
    assert!(l.dropped_loss > 0);
}

#[test]
fn tcp_reordering() {
    let l = suite(Profile::reordering(), &seeds());
    assert!(l.reordered > 0);
}

#[test]
fn tcp_duplication_1pct() {
    let l = suite(Profile::duplication(1.0).named("duplication 1%"), &seeds());
    assert!(l.duplicated > 0);
}

#[test]
fn tcp_corruption_1pct() {
    let l = suite(Profile::corruption(1.0).named("corruption 1%"), &seeds());
    assert!(l.corrupted > 0);
}

#[test]
fn tcp_combined() {
    let l = suite(Profile::combined(), &seeds());
    assert!(l.dropped_loss > 0 && l.duplicated > 0 && l.reordered > 0 && l.corrupted > 0);
}

#[test]
fn tcp_mtu_576() {
    let l = suite(Profile::mtu(576).named("mtu 576"), &seeds());
    assert_eq!(l.dropped_mtu, 0, "the stacks must fit the MTU");
}

#[test]
fn tcp_mtu_9000() {
    let l = suite(Profile::mtu(9000).named("mtu 9000"), &seeds());
    assert_eq!(l.dropped_mtu, 0, "the stacks must fit the MTU");
}

#[test]
fn tcp_16mib_clean_and_loss() {
    for profile in [Profile::clean(), Profile::loss(1.0).named("loss 1%")] {
        let w = transfer(&profile, 0x5eed_1600, 16 << 20, 16 << 20);
        let (pa, pb) = w.progress();
        eprintln!(
            "{} 16 MiB both ways: done at {}, retransmits {}/{}, links {:?}",
            profile.name,
            w.now,
            pa.retransmits,
            pb.retransmits,
            w.link_stats()
        );
    }
}

/// Found by a 150-seed sweep: 64 KiB ± 1 both ways at 5% loss, seed 0x5eed0022. After an RTO
/// with SACK, each side's SND.NXT sits on its own FIN's sequence number while the peer already
/// holds that FIN; each side's pure ACKs then carry SEQ = RCV.NXT − 1 of the other, are
/// unacceptable there (RFC 9293 §3.10.7.4: ACK and drop, the ACK field never processed), and
/// the two ACK each other every RTT until the 100 s user timeout kills the connection.
#[test]
fn tcp_loss_5pct_seed_0x5eed0022() {
    let profile = Profile::loss(5.0).named("loss 5%");
    transfer(&profile, 0x5eed_0022, 65535, 65535);
}

/// Loss on one direction only (data one way meets loss, its ACKs do not, and vice versa).
#[test]
fn tcp_asymmetric_loss() {
    let lossy = Profile::loss(5.0).named("loss 5% one way");
    for &seed in &seeds() {
        for (ab, ba) in [
            (lossy.clone(), Profile::clean()),
            (Profile::clean(), lossy.clone()),
        ] {
            let mut w = tcp_pair(&ab, Family::V4, seed, 300_000, 200_000);
            w.ba = ustack_tests::sim::link::Link::new(ba, seed ^ 0xba);
            w.run_checked(DEADLINE);
            let (cs, ss) = stream_seeds(seed);
            let (pa, pb) = w.progress();
            let checks = (
                pa.check_tcp(300_000, 200_000, ss),
                pb.check_tcp(200_000, 300_000, cs),
            );
            assert_eq!(checks, (Ok(()), Ok(())), "{}", w.describe());
        }
    }
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let mut w = transfer(&Profile::combined(), 0x5eed_d00d, 200_000, 150_000);
        assert!(w.capture_complete());
        let packets: Vec<_> = w.captured().cloned().collect();
        let out = (w.now, w.progress(), w.link_stats(), packets);
        w.disable_capture();
        out
    };
    let first = run();
    let second = run();
    assert_eq!(first.0, second.0, "finish time differs");
    assert_eq!(first.1, second.1, "progress differs");
    assert_eq!(first.2, second.2, "link stats differ");
    assert!(first.3 == second.3, "packets differ");
    // And a different seed gives a different run.
    let other = transfer(&Profile::combined(), 0x5eed_d00e, 200_000, 150_000);
    assert_ne!(other.link_stats(), first.2);
}

#[test]
fn failing_run_reports_seed_and_pcap() {
    let seed = 0xbad_5eed;
    let mut w = tcp_pair(&Profile::blackhole(), Family::V4, seed, 1000, 1000);
    let outcome = w.run(Duration::from_secs(30));
    assert!(
        matches!(
            outcome,
            Outcome::DeadlineExceeded { .. } | Outcome::Stalled { .. }
        ),
        "{outcome:?}"
    );
    // Only SYN retransmissions went out, and nothing arrived.
    assert_eq!(w.ab.stats().delivered, 0);
    assert!(w.ab.stats().offered >= 4, "{:?}", w.ab.stats());

    let mut w = tcp_pair(&Profile::blackhole(), Family::V4, seed, 1000, 1000);
    let err = catch_unwind(AssertUnwindSafe(|| w.run_checked(Duration::from_secs(30))))
        .expect_err("a blackholed run must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(&format!("{seed:#x}")), "{msg}");
    assert!(msg.contains("blackhole"), "{msg}");
    let path = w.failure_pcap_path();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let pcap = std::fs::read(&path).unwrap();
    assert!(pcap.len() > 24 + 16 + 40, "pcap holds the SYNs");
    std::fs::remove_file(&path).unwrap();
}

fn echo_pair(
    profile: &Profile,
    family: Family,
    seed: u64,
    client_role: Role,
) -> World<UstackNode, UstackNode> {
    let mtu = profile.mtu as u16;
    let client = UstackNode::new(
        "ustack-client",
        sim_config(family.client(), mtu, seed),
        client_role,
        Instant::ZERO,
    );
    let server = UstackNode::new(
        "ustack-echo",
        sim_config(family.server(), mtu, seed.wrapping_add(1)),
        Role::Echo { udp_port: 7 },
        Instant::ZERO,
    );
    World::new(client, server, profile.clone(), profile.clone(), seed)
}

/// Pings and UDP echoes of each size over each profile (every one answered, intact), then 100
/// UDP echoes at 20% loss each way (the client gives up 5 s after its last request).
fn echo_suite(family: Family, cases: &[(Profile, usize)]) {
    let server = family.server();
    for (profile, size) in cases {
        let (count, size) = (20, *size);
        let what = |kind: &str| format!("{kind} {size} over {} ({})", profile.name, family.label());
        let ping = Role::Ping {
            remote: server,
            count,
            size,
            interval: Duration::from_millis(100),
        };
        let mut w = echo_pair(profile, family, 7, ping);
        w.run_checked(Duration::from_secs(30));
        let p = w.a.progress();
        let all = u64::from(count);
        assert_eq!(
            (p.datagrams, p.received, p.sent),
            (all, all * size as u64, all * size as u64),
            "{}: {}",
            what("ping"),
            w.describe()
        );
        let udp = Role::UdpClient {
            remote: server,
            port: 7,
            count,
            size,
            interval: Duration::from_millis(10),
        };
        let mut w = echo_pair(profile, family, 8, udp);
        w.run_checked(Duration::from_secs(30));
        let p = w.a.progress();
        assert_eq!(
            (p.datagrams, p.received),
            (all, all * size as u64),
            "{}: {}",
            what("udp"),
            w.describe()
        );
        assert_eq!((w.ab.stats().dropped_mtu, w.ba.stats().dropped_mtu), (0, 0));
    }
    // Loss: replies go missing, the client gives up 5 s after its last request and is done.
    let mut w = echo_pair(
        &Profile::loss(20.0),
        family,
        9,
        Role::UdpClient {
            remote: server,
            port: 7,
            count: 100,
            size: 100,
            interval: Duration::from_millis(10),
        },
    );
    let at = w.run_checked(Duration::from_secs(30));
    let p = w.a.progress();
    assert!(p.error.is_none() && p.received_ok, "{p:?}");
    assert!(
        (40..95).contains(&p.datagrams),
        "{} of 100 echoed at 20% loss each way",
        p.datagrams
    );
    assert!(at >= Instant::from_millis(990 + 5000), "gave up at {at}");
}

#[test]
fn ping_and_udp_echo() {
    echo_suite(
        Family::V4,
        &[
            (Profile::clean(), 56),
            (Profile::clean(), 3000),  // fragmented both ways
            (Profile::mtu(576), 8000), // 15 fragments each way
            (Profile::duplication(5.0), 1000),
        ],
    );
}

/// The same over IPv6: fragmented by the source behind a Fragment header (RFC 8200 §4.5).
#[test]
fn ping_and_udp_echo_v6() {
    echo_suite(
        Family::V6,
        &[
            (Profile::clean(), 56),
            (Profile::clean(), 1452), // the largest UDP payload in one packet (1500 − 48)
            (Profile::clean(), 3000), // fragmented both ways
            (Profile::mtu(1280), 8000), // 7 fragments each way, at IPv6's minimum MTU
            (Profile::duplication(5.0), 1000),
        ],
    );
}

// IPv6 (issue 17): the same bulk transfers over 2001:2::/64 — MSS = MTU − 60 — with the same
// seeds.

#[test]
fn tcp_v6_clean() {
    let l = suite_in(Profile::clean(), Family::V6, &seeds());
    assert_eq!(l.delivered, l.offered);
}

#[test]
fn tcp_v6_loss_5pct() {
    let l = suite_in(Profile::loss(5.0).named("loss 5%"), Family::V6, &seeds());
    assert!(l.dropped_loss > 0);
}

#[test]
fn tcp_v6_bursty() {
    let l = suite_in(Profile::bursty(), Family::V6, &seeds());
    assert!(l.dropped_loss > 0);
}

#[test]
fn tcp_v6_duplication_and_corruption_1pct() {
    let l = suite_in(
        Profile::duplication(1.0).named("duplication 1%"),
        Family::V6,
        &seeds(),
    );
    assert!(l.duplicated > 0);
    let l = suite_in(
        Profile::corruption(1.0).named("corruption 1%"),
        Family::V6,
        &seeds(),
    );
    assert!(l.corrupted > 0);
}

#[test]
fn tcp_v6_reordering() {
    let l = suite_in(Profile::reordering(), Family::V6, &seeds());
    assert!(l.reordered > 0);
}

#[test]
fn tcp_v6_combined() {
    let l = suite_in(Profile::combined(), Family::V6, &seeds());
    assert!(l.dropped_loss > 0 && l.duplicated > 0 && l.reordered > 0 && l.corrupted > 0);
}

#[test]
fn tcp_v6_mtu_1280_and_9000() {
    for profile in [
        Profile::mtu(1280).named("mtu 1280"),
        Profile::mtu(9000).named("mtu 9000"),
    ] {
        let l = suite_in(profile, Family::V6, &seeds());
        assert_eq!(l.dropped_mtu, 0, "the stacks must fit the MTU");
    }
}

/// Over IPv6 the segments carry MSS = MTU − 60 (RFC 8200 §8.3) and the connection's addresses
/// are the IPv6 ones; a full-sized segment fills the MTU exactly.
#[test]
fn tcp_v6_mss_and_addresses() {
    let w = try_transfer(&Profile::clean(), Family::V6, 0x5eed_0606, 100_000, 100_000)
        .unwrap_or_else(|e| panic!("{e}"));
    for node in [&w.a, &w.b] {
        let h = node.connection().expect("a connection");
        let info = node.stack().tcp_info(h).expect("its info");
        assert_eq!((info.smss, info.snd_mss), (1440, 1428), "{info:?}");
        assert!(info.remote.is_ipv6(), "{info:?}");
    }
    assert!(w.capture_complete());
    let longest = w.captured().map(|c| c.packet.len()).max();
    assert_eq!(longest, Some(1500), "full-sized segments fill the MTU");
    assert!(w.captured().all(|c| c.packet[0] >> 4 == 6), "IPv6 only");
}
