//! The engine against simulated targets in virtual time: every state mapping end to end,
//! forged and stray answers, contradictions, retries, the window, timing.

use super::*;
use crate::daemon::jobs::scan::probe::probe_packet;
use crate::daemon::jobs::scan::timing::Timing;
use ustack::wire::ipv4::Ipv4Repr;
use ustack::wire::ipv6::Ipv6Repr;
use ustack::wire::seq::SeqNumber;
use ustack::wire::tcp::{Control, TcpOptions, TcpRepr};
use ustack::wire::{icmp, icmpv6, udp};

const US4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const SPORT: u16 = 40000;

fn host(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(scan: ScanType, hosts: &[&str], ports: &[u16]) -> ScanConfig {
    ScanConfig {
        scan,
        hosts: hosts.iter().map(|h| host(h)).collect(),
        ports: ports.to_vec(),
        timing: Timing::template(4),
        src4: Some(US4),
        src6: Some(US6),
        sport: SPORT,
        secret: 0x5eed_1234_abcd_0001,
    }
}

fn us(dst: IpAddr) -> IpAddr {
    match dst {
        IpAddr::V4(_) => IpAddr::V4(US4),
        IpAddr::V6(_) => IpAddr::V6(US6),
    }
}

/// An IP packet from `src` to `dst` around `payload`.
fn ip(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut out = vec![0u8; 20 + payload.len()];
            Ipv4Repr {
                src: s,
                dst: d,
                protocol,
                ttl: 61,
                ident: 1,
                dont_fragment: true,
                more_fragments: false,
                frag_offset: 0,
                payload_len: payload.len(),
            }
            .emit(&mut out);
            out[20..].copy_from_slice(payload);
            out
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut out = vec![0u8; 40 + payload.len()];
            Ipv6Repr {
                src: s,
                dst: d,
                next_header: protocol,
                hop_limit: 61,
                traffic_class: 0,
                flow_label: 0,
                payload_len: payload.len(),
            }
            .emit(&mut out);
            out[40..].copy_from_slice(payload);
            out
        }
        _ => unreachable!("mixed families"),
    }
}

/// A TCP segment from `from`:`sport` to us:`dport`.
fn tcp(from: IpAddr, sport: u16, dport: u16, seq: u32, ack: Option<u32>, c: Control) -> Vec<u8> {
    let mut buf = vec![0u8; 60];
    let n = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: SeqNumber(seq),
        ack: ack.map(SeqNumber),
        control: c,
        psh: false,
        window: 64240,
        options: TcpOptions::default(),
    }
    .emit(&mut buf, from, us(from), 0);
    ip(from, us(from), proto::TCP, &buf[..n])
}

fn synack(p: &Probe) -> Vec<u8> {
    tcp(
        p.dst,
        p.dport,
        p.sport,
        777,
        Some(p.seq.wrapping_add(1)),
        Control::Syn,
    )
}

/// The RST a closed port sends (RFC 9293 §3.10.7.1).
fn rst(p: &Probe) -> Vec<u8> {
    if p.kind == ProbeKind::Ack {
        tcp(p.dst, p.dport, p.sport, p.ack, None, Control::Rst)
    } else {
        let ack = p.seq.wrapping_add(p.kind.seg_len());
        tcp(p.dst, p.dport, p.sport, 0, Some(ack), Control::Rst)
    }
}

fn udp_reply(p: &Probe) -> Vec<u8> {
    let mut buf = vec![0u8; 16];
    let n = udp::emit(&mut buf, p.dst, us(p.dst), p.dport, p.sport, b"hi");
    ip(p.dst, us(p.dst), proto::UDP, &buf[..n])
}

/// Destination unreachable `code` from `from`, quoting probe `p` as sent.
fn unreach(p: &Probe, from: IpAddr, code: u8) -> Vec<u8> {
    let sent = probe_packet(p, us(p.dst)).unwrap();
    let mut buf = vec![0u8; 8 + sent.len()];
    match from {
        IpAddr::V4(_) => {
            let quote = &sent[..(20 + 8).min(sent.len())];
            let n = icmp::emit(&mut buf, 3, code, [0; 4], quote);
            ip(from, us(p.dst), proto::ICMP, &buf[..n])
        }
        IpAddr::V6(f) => {
            let IpAddr::V6(to) = us(p.dst) else {
                unreachable!()
            };
            let n = icmpv6::emit_error(&mut buf, f, to, (1, code, 0), &sent);
            ip(from, us(p.dst), proto::ICMPV6, &buf[..n])
        }
    }
}

fn echo_reply(p: &Probe) -> Vec<u8> {
    let mut buf = vec![0u8; 16];
    match (p.dst, us(p.dst)) {
        (IpAddr::V6(d), IpAddr::V6(s)) => {
            let n = icmpv6::emit_echo_reply(&mut buf, d, s, p.sport, p.seq as u16, &[]);
            ip(p.dst, us(p.dst), proto::ICMPV6, &buf[..n])
        }
        _ => {
            let n = icmp::emit_echo(&mut buf, true, p.sport, p.seq as u16, &[]);
            ip(p.dst, us(p.dst), proto::ICMP, &buf[..n])
        }
    }
}

/// Runs `e` to the end against `target` (answers arrive `rtt` after the probe), in virtual
/// time; returns every probe sent.
fn run_with(
    e: &mut Engine,
    rtt: Duration,
    mut target: impl FnMut(&Probe) -> Vec<Vec<u8>>,
) -> Vec<Probe> {
    run_timed(e, rtt, |_, p| target(p))
}

/// As [`run_with`], the target told the time each probe arrives.
fn run_timed(
    e: &mut Engine,
    rtt: Duration,
    mut target: impl FnMut(Instant, &Probe) -> Vec<Vec<u8>>,
) -> Vec<Probe> {
    let t0 = Instant::now();
    let mut now = t0;
    let mut sent = Vec::new();
    let mut inbox: Vec<(Instant, Vec<u8>)> = Vec::new();
    for _ in 0..1_000_000 {
        while let Some(p) = e.poll_probe(now) {
            assert!(e.in_flight() <= MAX_WINDOW);
            for r in target(now, &p) {
                inbox.push((now + rtt, r));
            }
            sent.push(p);
        }
        inbox.sort_by_key(|(t, _)| *t);
        while inbox.first().is_some_and(|(t, _)| *t <= now) {
            let (_, pkt) = inbox.remove(0);
            e.on_packet(now, &pkt);
        }
        if e.is_done() && inbox.is_empty() {
            return sent;
        }
        let next = [e.poll_at(), inbox.first().map(|(t, _)| *t)]
            .into_iter()
            .flatten()
            .min()
            .expect("a scan that is not done waits for something");
        // An instant already past means "now": a probe is due.
        now = next.max(now);
        assert!(now - t0 < Duration::from_secs(3600), "the scan ends");
    }
    panic!("the scan did not end");
}

fn run(e: &mut Engine, target: impl FnMut(&Probe) -> Vec<Vec<u8>>) -> Vec<Probe> {
    run_with(e, Duration::from_millis(2), target)
}

/// host 0's (port, state, reason), all decided.
fn states(e: &Engine, h: usize) -> Vec<(u16, PortState, Reason)> {
    let mut v: Vec<_> = e
        .host_ports(h)
        .map(|(p, d)| {
            let d = d.expect("every port decided");
            (p, d.state, d.reason)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn syn_scan_states() {
    let mut e = Engine::new(config(
        ScanType::Syn,
        &["198.18.0.1"],
        &[22, 23, 24, 25, 26],
    ))
    .unwrap();
    let router = host("198.18.9.9");
    let sent = run(&mut e, |p| match p.dport {
        22 => vec![synack(p)],
        23 => vec![rst(p)],
        25 => vec![unreach(p, p.dst, 13)],
        26 => vec![unreach(p, router, 1)],
        _ => vec![],
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (22, PortState::Open, Reason::SynAck),
            (23, PortState::Closed, Reason::Reset),
            (24, PortState::Filtered, Reason::NoResponse),
            (25, PortState::Filtered, Reason::AdminProhibited),
            (26, PortState::Filtered, Reason::HostUnreach),
        ]
    );
    // The silent port got nmap's two tries (no retransmission was ever answered).
    assert_eq!(sent.iter().filter(|p| p.dport == 24).count(), 2);
    assert_eq!(sent.len(), 6);
    assert!(e.host_up(0).is_some());
    assert!(e.host_latency(0).is_some());
    let d = e.host_ports(0).find(|(p, _)| *p == 22).unwrap().1.unwrap();
    assert_eq!(d.ttl, Some(61));
    // The SYN-ACK is owed a RST at exactly the sequence number it acknowledged.
    let r = e.poll_reset().expect("a RST for the open port");
    let syn = sent.iter().find(|p| p.dport == 22).unwrap();
    assert_eq!((r.kind, r.dport, r.sport), (ProbeKind::Rst, 22, SPORT));
    assert_eq!(r.seq, syn.seq.wrapping_add(1));
    assert!(e.poll_reset().is_none());
}

#[test]
fn udp_scan_states() {
    let mut e = Engine::new(config(
        ScanType::Udp,
        &["198.18.0.1"],
        &[53, 54, 55, 56, 57],
    ))
    .unwrap();
    let router = host("198.18.9.9");
    run(&mut e, |p| match p.dport {
        53 => vec![udp_reply(p)],
        54 => vec![unreach(p, p.dst, 3)],
        56 => vec![unreach(p, router, 3)],
        57 => vec![unreach(p, p.dst, 10)],
        _ => vec![],
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (53, PortState::Open, Reason::UdpResponse),
            (54, PortState::Closed, Reason::PortUnreach),
            (55, PortState::OpenFiltered, Reason::NoResponse),
            (56, PortState::Filtered, Reason::PortUnreach),
            (57, PortState::Filtered, Reason::HostProhibited),
        ]
    );
}

#[test]
fn fin_null_xmas_states() {
    for scan in [ScanType::Fin, ScanType::Null, ScanType::Xmas] {
        let mut e = Engine::new(config(scan, &["198.18.0.1"], &[22, 23, 24])).unwrap();
        run(&mut e, |p| match p.dport {
            23 => vec![rst(p)],
            24 => vec![unreach(p, p.dst, 13)],
            // An open port stays silent; a SYN-ACK would mean nothing to these scans.
            _ => vec![synack(p)],
        });
        assert_eq!(
            states(&e, 0),
            vec![
                (22, PortState::OpenFiltered, Reason::NoResponse),
                (23, PortState::Closed, Reason::Reset),
                (24, PortState::Filtered, Reason::AdminProhibited),
            ],
            "{scan:?}"
        );
    }
}

#[test]
fn ack_scan_states() {
    let mut e = Engine::new(config(ScanType::Ack, &["198.18.0.1"], &[22, 23, 24])).unwrap();
    run(&mut e, |p| match p.dport {
        22 => vec![rst(p)],
        24 => vec![unreach(p, p.dst, 3)],
        _ => vec![],
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (22, PortState::Unfiltered, Reason::Reset),
            (23, PortState::Filtered, Reason::NoResponse),
            (24, PortState::Filtered, Reason::PortUnreach),
        ]
    );
}

#[test]
fn ipv6_targets_alike() {
    let mut e = Engine::new(config(ScanType::Syn, &["2001:2::1"], &[22, 23, 24, 25])).unwrap();
    run(&mut e, |p| match p.dport {
        22 => vec![synack(p)],
        23 => vec![rst(p)],
        24 => vec![unreach(p, p.dst, 1)],
        _ => vec![],
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (22, PortState::Open, Reason::SynAck),
            (23, PortState::Closed, Reason::Reset),
            (24, PortState::Filtered, Reason::AdminProhibited),
            (25, PortState::Filtered, Reason::NoResponse),
        ]
    );
    let mut e = Engine::new(config(ScanType::Udp, &["2001:2::1"], &[53, 54])).unwrap();
    run(&mut e, |p| match p.dport {
        53 => vec![udp_reply(p)],
        _ => vec![unreach(p, p.dst, 4)],
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (53, PortState::Open, Reason::UdpResponse),
            (54, PortState::Closed, Reason::PortUnreach),
        ]
    );
}

#[test]
fn forged_and_stray_answers_are_ignored() {
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22, 23])).unwrap();
    let other = host("198.18.0.7");
    run(&mut e, |p| {
        let good_ack = Some(p.seq.wrapping_add(1));
        vec![
            // Wrong acknowledgment.
            tcp(p.dst, p.dport, p.sport, 1, Some(p.seq), Control::Syn),
            tcp(
                p.dst,
                p.dport,
                p.sport,
                0,
                Some(p.seq.wrapping_add(2)),
                Control::Rst,
            ),
            // A RST without ACK names no try.
            tcp(p.dst, p.dport, p.sport, 0, None, Control::Rst),
            // Wrong port: from another port, to another of ours.
            tcp(p.dst, p.dport + 100, p.sport, 1, good_ack, Control::Syn),
            tcp(p.dst, p.dport, p.sport + 1, 1, good_ack, Control::Syn),
            // Wrong source address.
            tcp(other, p.dport, p.sport, 1, good_ack, Control::Syn),
            // A pure ACK, a UDP datagram from the port: not answers to a SYN.
            tcp(p.dst, p.dport, p.sport, 1, good_ack, Control::None),
            udp_reply(p),
            // An ICMP error quoting another sequence number.
            unreach(
                &Probe {
                    seq: p.seq ^ 1,
                    ..*p
                },
                p.dst,
                13,
            ),
            // An ICMP error quoting another source port.
            unreach(
                &Probe {
                    sport: p.sport ^ 1,
                    ..*p
                },
                p.dst,
                13,
            ),
            // Garbage.
            vec![0x45; 40],
            Vec::new(),
        ]
    });
    assert_eq!(
        states(&e, 0),
        vec![
            (22, PortState::Filtered, Reason::NoResponse),
            (23, PortState::Filtered, Reason::NoResponse),
        ]
    );
    // A corrupted checksum is no answer either.
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22])).unwrap();
    run(&mut e, |p| {
        let mut s = synack(p);
        let last = s.len() - 1;
        s[last] ^= 0xff;
        vec![s]
    });
    assert_eq!(states(&e, 0)[0].1, PortState::Filtered);
}

#[test]
fn a_contradiction_costs_a_retry_and_the_retry_decides() {
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22])).unwrap();
    let mut n = 0;
    let sent = run(&mut e, |p| {
        n += 1;
        match n {
            // The first try: a forged-looking RST right behind the real SYN-ACK (an on-path
            // forger who saw the probe).
            1 => vec![synack(p), rst(p)],
            // The re-check: the port answers for itself; a stale RST quoting try 0 again is
            // no longer counted.
            _ => {
                let stale = Probe {
                    try_no: 0,
                    seq: p.seq.wrapping_sub(1 << 16),
                    ..*p
                };
                vec![synack(p), rst(&stale)]
            }
        }
    });
    assert_eq!(sent.len(), 2, "exactly one extra probe");
    assert_eq!(sent[1].try_no, 1);
    assert_eq!(states(&e, 0), vec![(22, PortState::Open, Reason::SynAck)]);
}

#[test]
fn retries_follow_nmaps_rule_and_max_retries() {
    // A port answered only on its retransmission raises the allowance for every silent port.
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22, 23])).unwrap();
    let sent = run(&mut e, |p| match (p.dport, p.try_no) {
        (22, 1..) => vec![synack(p)],
        _ => vec![],
    });
    assert_eq!(states(&e, 0)[0].1, PortState::Open);
    assert!(sent.iter().filter(|p| p.dport == 23).count() >= 3);
    // --max-retries 0: one try only.
    let mut c = config(ScanType::Syn, &["198.18.0.1"], &[22, 23]);
    c.timing.max_retries = 0;
    let mut e = Engine::new(c).unwrap();
    let sent = run(&mut e, |_| vec![]);
    assert_eq!(sent.len(), 2);
    // A slow answer to the first try, after its retransmission left, still counts.
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22])).unwrap();
    run_with(&mut e, Duration::from_millis(700), |p| match p.try_no {
        0 => vec![synack(p)],
        _ => vec![],
    });
    assert_eq!(states(&e, 0)[0].1, PortState::Open);
}

#[test]
fn probes_go_out_in_parallel_within_the_window() {
    let ports: Vec<u16> = (1..=1000).collect();
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &ports)).unwrap();
    let now = Instant::now();
    let mut burst = 0;
    while e.poll_probe(now).is_some() {
        burst += 1;
    }
    assert_eq!(burst, 10, "nmap's initial window, all at once");
    // A full scan: the window grows with answers, never past its bound; every port is done.
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &ports)).unwrap();
    let sent = run(&mut e, |p| {
        vec![if p.dport % 10 == 0 { synack(p) } else { rst(p) }]
    });
    assert_eq!(sent.len(), 1000);
    let open = states(&e, 0)
        .iter()
        .filter(|s| s.1 == PortState::Open)
        .count();
    assert_eq!(open, 100);
}

#[test]
fn answer_storms_change_nothing_and_hold_no_memory() {
    let mut e = Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[22, 23])).unwrap();
    let now = Instant::now();
    let p = e.poll_probe(now).unwrap();
    for i in 0..20_000u32 {
        // RSTs with every wrong ack, ICMP errors quoting wrong sequence numbers.
        let forged = Probe {
            seq: p.seq.wrapping_add(i * 7 + 3),
            ..p
        };
        assert!(
            !e.on_packet(
                now,
                &rst(&Probe {
                    seq: forged.seq,
                    ..p
                })
            ) || i == 0
        );
        assert!(!e.on_packet(now, &unreach(&forged, p.dst, 13)));
    }
    assert!(e.pending.len() <= 2 && e.retry.len() <= 2 && e.timers.len() <= 2);
    assert!(
        e.host_ports(0).all(|(_, d)| d.is_none()),
        "no port decided by forgeries"
    );
}

#[test]
fn host_discovery_over_a_prefix() {
    let hosts = ["198.18.0.1", "198.18.0.3", "198.18.0.4", "2001:2::1"];
    let mut e = Engine::new(config(ScanType::Ping, &hosts, &[])).unwrap();
    let sent = run(&mut e, |p| match (p.dst.to_string().as_str(), p.kind) {
        ("198.18.0.1", ProbeKind::Echo) | ("2001:2::1", ProbeKind::Echo) => vec![echo_reply(p)],
        ("198.18.0.3", ProbeKind::Ack) => vec![rst(p)],
        _ => vec![],
    });
    assert_eq!(e.host_up(0), Some(Reason::EchoReply));
    assert_eq!(e.host_up(1), Some(Reason::Reset));
    assert_eq!(e.host_up(2), None);
    assert_eq!(e.host_up(3), Some(Reason::EchoReply));
    // Three probes per host to start with, and the silent host's retries.
    assert!(sent.iter().filter(|p| p.dst == host("198.18.0.4")).count() >= 3);
}

#[test]
fn scan_delay_and_max_rate_space_probes() {
    let mut c = config(ScanType::Syn, &["198.18.0.1"], &[1, 2, 3, 4]);
    c.timing = Timing::template(2);
    let mut e = Engine::new(c).unwrap();
    let t0 = Instant::now();
    assert!(e.poll_probe(t0).is_some());
    assert!(e.poll_probe(t0 + Duration::from_millis(399)).is_none());
    assert_eq!(e.poll_at(), Some(t0 + Duration::from_millis(400)));
    assert!(e.poll_probe(t0 + Duration::from_millis(400)).is_some());
    let mut c = config(ScanType::Syn, &["198.18.0.1"], &[1, 2, 3, 4]);
    c.timing.max_rate = Some(10.0);
    let mut e = Engine::new(c).unwrap();
    assert!(e.poll_probe(t0).is_some());
    assert!(e.poll_probe(t0 + Duration::from_millis(50)).is_none());
    assert!(e.poll_probe(t0 + Duration::from_millis(100)).is_some());
}

#[test]
fn bad_configs_are_refused() {
    assert!(Engine::new(config(ScanType::Syn, &[], &[22])).is_err());
    assert!(Engine::new(config(ScanType::Syn, &["198.18.0.1"], &[])).is_err());
    let mut c = config(ScanType::Syn, &["2001:2::1"], &[22]);
    c.src6 = None;
    assert!(Engine::new(c).is_err());
    let many: Vec<String> = (0..20u32).map(|i| format!("198.18.0.{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let all: Vec<u16> = (1..=u16::MAX).collect();
    assert!(Engine::new(config(ScanType::Syn, &refs, &all)).is_err());
}

#[test]
fn every_slot_is_visited_once_in_spread_order() {
    for n in [1usize, 2, 3, 10, 97, 100, 1000, 65535] {
        let s = coprime_stride(n, 12345);
        let mut seen = vec![false; n];
        for i in 0..n {
            let j = (i * s + 7) % n;
            assert!(!seen[j]);
            seen[j] = true;
        }
    }
}

#[test]
fn a_rate_limited_target_slows_the_scan_down_until_every_port_is_heard() {
    // Linux's ICMP rate limit: a burst of six port unreachables, then one per second.
    let ports: Vec<u16> = (1000..1030).collect();
    let mut e = Engine::new(config(ScanType::Udp, &["198.18.0.1"], &ports)).unwrap();
    let mut tokens = 6.0f64;
    let mut last: Option<Instant> = None;
    let sent = run_timed(&mut e, Duration::from_millis(2), |now, p| {
        let elapsed = last.map_or(0.0, |l| (now - l).as_secs_f64());
        tokens = (tokens + elapsed).min(6.0);
        last = Some(now);
        if tokens >= 1.0 {
            tokens -= 1.0;
            vec![unreach(p, p.dst, 3)]
        } else {
            vec![]
        }
    });
    let closed = states(&e, 0)
        .iter()
        .filter(|s| s.1 == PortState::Closed)
        .count();
    assert_eq!(closed, 30, "every closed port heard, {} probes", sent.len());
}
