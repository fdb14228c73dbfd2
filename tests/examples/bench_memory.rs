//! Wall-clock benchmark: move N bytes (default 1 GiB) over an in-memory link with no delay and no
//! rate limit, ustack↔ustack and smoltcp↔smoltcp alternately in the same run, and print each run,
//! the medians and the ratio. The test apps run in bench mode (no stream generation, no per-byte
//! check or hash; byte counts still checked) so the figures are the stacks' own cost.
//!
//! `cargo run --release -p ustack-tests --example bench_memory -- [MIB] [RUNS] [RECORDS]` (1024
//! and 3); with RECORDS, every run is also appended to that records file (`ustack_tests::bench`)
//! for the side-by-side table of `scripts/bench-tun.sh`.

#[path = "../tests/common/smol_node.rs"]
#[allow(dead_code)]
mod smol_node;

use smol_node::SmolNode;
use std::time::Instant as WallClock;
use ustack_tests::bench::{self, Better, Metric, Record};
use ustack_tests::sim::link::Profile;
use ustack_tests::sim::ustack_node::{sim_config, UstackNode};
use ustack_tests::sim::world::{Outcome, World};
use ustack_tests::sim::{Duration, Instant, Node, Role, CLIENT_ADDR, PREFIX_LEN, SERVER_ADDR};

fn roles(size: u64) -> (Role, Role) {
    (
        Role::TcpClient {
            remote: SERVER_ADDR.into(),
            port: 5001,
            send_len: size,
            send_seed: 7,
            expect_len: 0,
            expect_seed: 0,
        },
        Role::TcpServer {
            port: 5001,
            send_len: 0,
            send_seed: 0,
            expect_len: size,
            expect_seed: 7,
        },
    )
}

fn link() -> Profile {
    Profile {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        rate_bps: None,
        ..Profile::clean()
    }
    .named("memory")
}

fn run<A: Node, B: Node>(mut w: World<A, B>, size: u64) -> f64 {
    w.disable_capture();
    let t0 = WallClock::now();
    let outcome = w.run(Duration::from_secs(100_000));
    let secs = t0.elapsed().as_secs_f64();
    let (_, server) = w.progress();
    assert!(
        matches!(outcome, Outcome::Done { .. }) && server.received == size,
        "transfer failed: {outcome:?} {server:?}"
    );
    size as f64 / secs / 1e6
}

/// Appends every run to a records file, as `loadgen --record` does.
fn record(path: &str, mib: u64, ours: &[f64], theirs: &[f64]) {
    use std::io::Write as _;
    let metric = Metric::new(
        "memory_mbs",
        format!("in memory, no TUN ({mib} MiB one way, bench_memory), MB/s"),
        Better::Higher,
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("records file {path}: {e}"));
    for (stack, values) in [("ustack", ours), ("smoltcp", theirs)] {
        for v in values {
            let r = Record {
                stack: stack.into(),
                metric: metric.clone(),
                value: Some(*v),
            };
            writeln!(f, "{}", r.to_line()).expect("write records file");
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(1024, |a| a.parse().expect("MIB"));
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("RUNS"));
    let records = args.next();
    let size = mib << 20;
    ustack_tests::sim::set_bench_mode(true);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let (c, s) = roles(size);
        let a = UstackNode::new(
            "ustack-client",
            sim_config(CLIENT_ADDR, 1500, 1),
            c,
            Instant::ZERO,
        );
        let b = UstackNode::new(
            "ustack-server",
            sim_config(SERVER_ADDR, 1500, 2),
            s,
            Instant::ZERO,
        );
        let o = run(World::new(a, b, link(), link(), 1), size);
        let (c, s) = roles(size);
        let a = SmolNode::new(
            "smoltcp-client",
            CLIENT_ADDR,
            PREFIX_LEN,
            1500,
            c,
            Instant::ZERO,
            1,
        );
        let b = SmolNode::new(
            "smoltcp-server",
            SERVER_ADDR,
            PREFIX_LEN,
            1500,
            s,
            Instant::ZERO,
            2,
        );
        let t = run(World::new(a, b, link(), link(), 1), size);
        println!("run {}: ustack {o:.1} MB/s, smoltcp {t:.1} MB/s", i + 1);
        ours.push(o);
        theirs.push(t);
    }
    if let Some(path) = &records {
        record(path, mib, &ours, &theirs);
    }
    let median = |v: &[f64]| bench::median(v).expect("at least one run");
    let (o, t) = (median(&ours), median(&theirs));
    println!("{mib} MiB in memory, median of {runs}: ustack {o:.1} MB/s, smoltcp {t:.1} MB/s, ustack/smoltcp {:.2}", o / t);
}
