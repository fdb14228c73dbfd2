//! How long the capture filter takes per packet: `cargo run --release -p tun-bridge --example
//! bench_filter`. Prints ns per evaluation for a few expressions over a mix of TCP, UDP and ICMP
//! packets (figures go to BENCHMARKS.md with this command, never into tests).

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the clock to time itself; the library never does"
)]

use std::hint::black_box;
use std::time::Instant;
use ustack::filter::Filter;

fn packet(proto: u8, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(40)];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&[198, 18, 0, 1]);
    p[16..20].copy_from_slice(&[198, 18, 0, 2]);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[32] = 0x50;
    p[33] = 0x10;
    p
}

fn main() {
    let packets = [
        packet(6, 47930, 80, 1500),
        packet(6, 80, 47930, 52),
        packet(17, 5353, 53, 80),
        packet(1, 0, 0, 84),
        packet(6, 22, 50000, 200),
    ];
    let hosts: Vec<String> = (0..50).map(|i| format!("host 10.0.0.{i}")).collect();
    let many = hosts.join(" or ");
    for expr in [
        "",
        "tcp",
        "icmp or tcp port 80",
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and not src net 10.0.0.0/8",
        "ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) > 100",
        many.as_str(),
    ] {
        let f = Filter::parse(expr).unwrap();
        let rounds = 2_000_000 / packets.len();
        let t = Instant::now();
        let mut hits = 0usize;
        for _ in 0..rounds {
            for p in &packets {
                hits += usize::from(f.matches(black_box(p)));
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (rounds * packets.len()) as f64;
        let shown = if expr.len() > 70 {
            format!("{}... ({} bytes)", &expr[..40], expr.len())
        } else {
            expr.to_string()
        };
        println!("{ns:8.1} ns/packet  {:>7} matched  {shown:?}", hits);
    }
}
