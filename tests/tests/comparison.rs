//! The comparison table: the same work, ours↔ours and smoltcp↔smoltcp, over every link profile
//! of the simulator — goodput in virtual time, retransmitted data segments (counted on the wire),
//! completion. The table is a snapshot (`tests/snapshots/comparison.md`, also in BENCHMARKS.md):
//! the simulator is deterministic, so any change in behaviour shows up as a diff here. After an
//! intended change, regenerate it with
//!
//! ```sh
//! UPDATE_SNAPSHOTS=1 cargo test -p ustack-tests --test comparison
//! ```

mod common;

use common::smol_node::SmolNode;
use std::collections::HashSet;
use std::fmt::Write as _;
use ustack::tcp::recovery::RecoveryConfig;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::wire::tcp::TcpSegment;
use ustack_tests::sim::link::Profile;
use ustack_tests::sim::ustack_node::{sim_config, UstackNode};
use ustack_tests::sim::world::{Captured, Outcome, World};
use ustack_tests::sim::{Duration, Instant, Node, Role, CLIENT_ADDR, PREFIX_LEN, SERVER_ADDR};

const PORT: u16 = 5001;
const SIZE: u64 = 1 << 20;
const SEEDS: [u64; 3] = [11, 22, 33];
const DEADLINE: Duration = Duration::from_secs(900);

fn profiles() -> Vec<Profile> {
    vec![
        Profile::clean().named("clean"),
        Profile::loss(1.0).named("loss 1%"),
        Profile::loss(5.0).named("loss 5%"),
        Profile::loss(10.0).named("loss 10%"),
        Profile::bursty().named("bursty loss"),
        Profile::reordering().named("reordering"),
        Profile::duplication(1.0).named("duplication 1%"),
        Profile::corruption(1.0).named("corruption 1%"),
        Profile::combined().named("all combined"),
        Profile::mtu(576).named("MTU 576"),
        Profile::mtu(9000).named("MTU 9000"),
        Profile::tail_loss().named("tail loss"),
        Profile::heavy_reordering().named("heavy reordering"),
        Profile::long_fat(1.0).named("1% loss, 100 ms, 100 Mbit/s"),
    ]
}

/// The profiles of the on/off table: where loss recovery matters.
fn recovery_profiles() -> Vec<Profile> {
    vec![
        Profile::loss(5.0).named("loss 5%"),
        Profile::reordering().named("reordering"),
        Profile::combined().named("all combined"),
        Profile::tail_loss().named("tail loss"),
        Profile::heavy_reordering().named("heavy reordering"),
        Profile::long_fat(1.0).named("1% loss, 100 ms, 100 Mbit/s"),
    ]
}

/// A loss-recovery configuration of the on/off table.
struct Variant {
    name: &'static str,
    set: fn(&mut RecoveryConfig),
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "all on",
            set: |_| {},
        },
        Variant {
            name: "RACK off",
            set: |r| r.rack = false,
        },
        Variant {
            name: "TLP off",
            set: |r| r.tlp = false,
        },
        Variant {
            name: "undo off",
            set: |r| r.undo = false,
        },
        Variant {
            name: "PRR off",
            set: |r| r.prr = false,
        },
        Variant {
            name: "HyStart++ off",
            set: |r| r.hystart = false,
        },
        Variant {
            name: "all off",
            set: |r| *r = RecoveryConfig::classic(),
        },
    ]
}

fn roles(seed: u64) -> (Role, Role) {
    let client = Role::TcpClient {
        remote: SERVER_ADDR.into(),
        port: PORT,
        send_len: SIZE,
        send_seed: seed,
        expect_len: 0,
        expect_seed: 0,
    };
    let server = Role::TcpServer {
        port: PORT,
        send_len: 0,
        send_seed: 0,
        expect_len: SIZE,
        expect_seed: seed,
    };
    (client, server)
}

/// One cell's measurement.
struct Cell {
    completed: bool,
    /// Virtual seconds to completion (or to the deadline).
    seconds: f64,
    /// Data segments from the sender whose first byte had been sent before.
    retransmits: u64,
}

/// Counts retransmitted data segments from the client: same starting sequence number seen again.
fn retransmits<'a>(sent: impl Iterator<Item = &'a Captured>) -> u64 {
    let mut seen = HashSet::new();
    let mut n = 0;
    for c in sent {
        let Ok(ip) = Ipv4Packet::parse(&c.packet) else {
            continue;
        };
        if ip.protocol() != 6 || ip.is_fragment() {
            continue;
        }
        let Ok(seg) = TcpSegment::parse(ip.src(), ip.dst(), ip.payload()) else {
            continue;
        };
        if seg.payload.is_empty() {
            continue;
        }
        if !seen.insert(seg.seq.0) {
            n += 1;
        }
    }
    n
}

fn measure<A: Node, B: Node>(mut w: World<A, B>) -> Cell {
    w.enable_capture();
    let outcome = w.run(DEADLINE);
    let (client, server) = w.progress();
    let completed = matches!(outcome, Outcome::Done { .. })
        && server.received == SIZE
        && server.received_ok
        && server.eof
        && client.error.is_none()
        && server.error.is_none();
    Cell {
        completed,
        seconds: outcome.at().total_micros() as f64 / 1e6,
        retransmits: retransmits(w.sent_by_a()),
    }
}

fn ours(profile: &Profile, seed: u64) -> Cell {
    ours_with(profile, seed, |_| {})
}

/// Our stack on both ends, the loss-recovery switches set by `set`.
fn ours_with(profile: &Profile, seed: u64, set: fn(&mut RecoveryConfig)) -> Cell {
    let (c, s) = roles(seed);
    let mtu = profile.mtu as u16;
    let mut ca = sim_config(CLIENT_ADDR, mtu, seed);
    let mut cb = sim_config(SERVER_ADDR, mtu, seed + 1);
    set(&mut ca.tcp_recovery);
    set(&mut cb.tcp_recovery);
    let a = UstackNode::new("ustack-client", ca, c, Instant::ZERO);
    let b = UstackNode::new("ustack-server", cb, s, Instant::ZERO);
    measure(World::new(a, b, profile.clone(), profile.clone(), seed))
}

fn smol(profile: &Profile, seed: u64) -> Cell {
    let (c, s) = roles(seed);
    let a = SmolNode::new(
        "smoltcp-client",
        CLIENT_ADDR,
        PREFIX_LEN,
        profile.mtu,
        c,
        Instant::ZERO,
        seed,
    );
    let b = SmolNode::new(
        "smoltcp-server",
        SERVER_ADDR,
        PREFIX_LEN,
        profile.mtu,
        s,
        Instant::ZERO,
        seed + 1,
    );
    measure(World::new(a, b, profile.clone(), profile.clone(), seed))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Summarises the seeds of one cell: median goodput (Mbit/s of virtual time over completed
/// runs), median retransmits, completed/total.
fn summarise(cells: &[Cell]) -> (Option<f64>, u64, usize) {
    let done: Vec<&Cell> = cells.iter().filter(|c| c.completed).collect();
    let goodput = (!done.is_empty()).then(|| {
        median(
            done.iter()
                .map(|c| SIZE as f64 * 8.0 / c.seconds / 1e6)
                .collect(),
        )
    });
    let rtx = median(cells.iter().map(|c| c.retransmits as f64).collect()) as u64;
    (goodput, rtx, done.len())
}

fn table() -> String {
    let mut out = String::new();
    writeln!(out, "1 MiB one way, client → server, median of {} seeds; goodput in Mbit/s of virtual time (completed runs); retransmitted data segments counted on the wire.\n", SEEDS.len()).unwrap();
    writeln!(out, "| profile | ustack goodput | smoltcp goodput | ustack/smoltcp | ustack rtx | smoltcp rtx | ustack done | smoltcp done | note |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|").unwrap();
    for p in profiles() {
        let o: Vec<Cell> = SEEDS.iter().map(|&s| ours(&p, s)).collect();
        let m: Vec<Cell> = SEEDS.iter().map(|&s| smol(&p, s)).collect();
        let (og, ortx, odone) = summarise(&o);
        let (mg, mrtx, mdone) = summarise(&m);
        let fmt = |g: Option<f64>| g.map_or("—".to_string(), |g| format!("{g:.2}"));
        let ratio = match (og, mg) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "—".into(),
        };
        let worse = match (og, mg) {
            (Some(a), Some(b)) if a < b => "**ustack slower**",
            (None, Some(_)) => "**ustack did not complete**",
            _ if odone < mdone => "**ustack completed fewer**",
            _ if ortx > mrtx => "more retransmissions",
            _ => "",
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {}/{} | {}/{} | {} |",
            p.name,
            fmt(og),
            fmt(mg),
            ratio,
            ortx,
            mrtx,
            odone,
            SEEDS.len(),
            mdone,
            SEEDS.len(),
            worse
        )
        .unwrap();
    }
    out
}

/// The on/off table: ustack alone, each loss-recovery mechanism switched off in turn.
fn recovery_table() -> String {
    let mut out = String::new();
    let vs = variants();
    writeln!(out, "\nLoss recovery on/off (ustack ↔ ustack, same runs and seeds): goodput Mbit/s / retransmitted segments, median of {} seeds.\n", SEEDS.len()).unwrap();
    let head: Vec<&str> = vs.iter().map(|v| v.name).collect();
    writeln!(out, "| profile | {} |", head.join(" | ")).unwrap();
    writeln!(out, "|---|{}", "---:|".repeat(vs.len())).unwrap();
    for p in recovery_profiles() {
        let mut row = format!("| {} |", p.name);
        for v in &vs {
            let cells: Vec<Cell> = SEEDS.iter().map(|&s| ours_with(&p, s, v.set)).collect();
            let (g, rtx, done) = summarise(&cells);
            let g = g.map_or("—".to_string(), |g| format!("{g:.2}"));
            let incomplete = if done < SEEDS.len() {
                format!(" ({done}/{})", SEEDS.len())
            } else {
                String::new()
            };
            write!(row, " {g} / {rtx}{incomplete} |").unwrap();
        }
        writeln!(out, "{row}").unwrap();
    }
    out
}

#[test]
fn comparison_table_matches_snapshot() {
    let actual = table() + &recovery_table();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/comparison.md");
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let out = std::env::temp_dir().join("ustack-comparison-actual.md");
        std::fs::write(&out, &actual).unwrap();
        panic!(
            "the comparison table changed (see {}); if intended, regenerate with \
             UPDATE_SNAPSHOTS=1 cargo test -p ustack-tests --test comparison\n--- expected\n{expected}\n--- actual\n{actual}",
            out.display()
        );
    }
    // Whatever the numbers, ustack must complete every run on every profile.
    assert!(
        !actual.contains("ustack did not complete") && !actual.contains("ustack completed fewer"),
        "{actual}"
    );
}
