//! Crafted input fed to a lone node of each stack: where the two legitimately differ (docs/INTEROP.md).

use super::*;
use ustack_tests::sim::{Family, CLIENT_ADDR6, SERVER_ADDR6};

/// A lone node: packets in at given instants, everything it sends (with when) out.
struct Lone<N: Node> {
    node: N,
    now: Instant,
    sent: Vec<(Instant, Vec<u8>)>,
}

impl<N: Node> Lone<N> {
    fn new(node: N) -> Self {
        let mut l = Lone {
            node,
            now: Instant::ZERO,
            sent: Vec::new(),
        };
        l.poll();
        l
    }

    fn poll(&mut self) {
        let mut out = Vec::new();
        self.node.poll(self.now, &mut out);
        self.sent.extend(out.into_iter().map(|p| (self.now, p)));
    }

    /// Runs the node's timers up to `to`.
    fn advance(&mut self, to: Instant) {
        for _ in 0..100_000 {
            match self.node.poll_at(self.now) {
                Some(t) if t <= to => {
                    self.now = t.max(self.now + Duration::from_micros(1));
                    self.poll();
                }
                _ => break,
            }
        }
        self.now = self.now.max(to);
        self.poll();
    }

    /// Hands `packet` to the node at the current instant and polls.
    fn feed(&mut self, packet: &[u8]) {
        self.node.receive(self.now, packet);
        self.poll();
    }

    /// Takes what the node sent since the last call.
    fn take(&mut self) -> Vec<(Instant, Vec<u8>)> {
        std::mem::take(&mut self.sent)
    }
}

fn lone_ours(role: Role) -> Lone<UstackNode> {
    lone_ours_at(SERVER_ADDR.into(), role)
}

/// A lone ustack node at `addr` (IPv4, or IPv6 with its IPv4 address too).
fn lone_ours_at(addr: IpAddr, role: Role) -> Lone<UstackNode> {
    Lone::new(UstackNode::new(
        "ustack-lone",
        sim_config(addr, 1500, 0x10e),
        role,
        Instant::ZERO,
    ))
}

fn lone_smol(role: Role) -> Lone<SmolNode> {
    lone_smol_at(SERVER_ADDR.into(), role)
}

/// A lone smoltcp node at `addr`.
fn lone_smol_at(addr: IpAddr, role: Role) -> Lone<SmolNode> {
    Lone::new(SmolNode::new(
        "smoltcp-lone",
        addr,
        Family::of(addr).prefix_len(),
        1500,
        role,
        Instant::ZERO,
        0x10e,
    ))
}

/// An IPv4 packet from the client to the server carrying `payload` at fragment offset `offset`.
fn ip(protocol: u8, ident: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    Ipv4Repr {
        src: CLIENT_ADDR,
        dst: SERVER_ADDR,
        protocol,
        ttl: 64,
        ident,
        dont_fragment: false,
        more_fragments: more,
        frag_offset: offset,
        payload_len: payload.len(),
    }
    .emit(&mut p);
    p[20..].copy_from_slice(payload);
    p
}

/// An ICMP echo request message (header + `data`).
fn echo_request(seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8 + data.len()];
    ustack::wire::icmp::emit_echo(&mut m, false, 0x7e57, seq, data);
    m
}

/// The echo replies among `sent`: (seq, data).
fn echo_replies(sent: &[(Instant, Vec<u8>)]) -> Vec<(u16, Vec<u8>)> {
    sent.iter()
        .filter_map(|(_, p)| {
            let ip = ustack::wire::ipv4::Ipv4Packet::parse(p).ok()?;
            if ip.protocol() != 1 || ip.is_fragment() {
                return None;
            }
            let m = ip.payload();
            (m.len() >= 8 && m[0] == 0).then(|| (u16::from_be_bytes([m[6], m[7]]), m[8..].to_vec()))
        })
        .collect()
}

/// ICMP messages of `icmp_type` among `sent`: (when, code).
fn icmp_of_type(sent: &[(Instant, Vec<u8>)], icmp_type: u8) -> Vec<(Instant, u8)> {
    sent.iter()
        .filter_map(|(at, p)| {
            let ip = ustack::wire::ipv4::Ipv4Packet::parse(p).ok()?;
            let m = ip.payload();
            (ip.protocol() == 1 && !ip.is_fragment() && m.len() >= 8 && m[0] == icmp_type)
                .then_some((*at, m[1]))
        })
        .collect()
}

/// Overlapping fragments of an echo request (RFC 791 leaves overlaps to the implementation;
/// RFC 5722's reasoning for IPv6 is what ustack follows for IPv4): ustack drops the whole
/// datagram for any overlap that is not an exact duplicate, so it must never reply. smoltcp's
/// assembler copies every fragment into place, later bytes overwriting earlier ones: it may
/// reply (with whatever the last fragment said) or not. A non-overlapping control proves the
/// crafted fragments are otherwise good.
#[test]
fn overlapping_fragments_differ() {
    let data: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(1))
        .collect();
    let mut data2 = data.clone();
    for b in &mut data2[32..40] {
        *b ^= 0xa5; // message bytes 40..48: the overlap
    }
    let m1 = echo_request(1, &data); // checksum valid for `data`
    let m2 = echo_request(1, &data2); // checksum valid for `data2`

    // (name, fragments, the echo data each consistent reading gives)
    type Case<'a> = (&'a str, Vec<Vec<u8>>, Vec<Vec<u8>>);
    let cases: Vec<Case> = vec![
        (
            "control: no overlap",
            vec![
                ip(1, 100, 0, true, &m1[..48]),
                ip(1, 100, 48, false, &m1[48..]),
            ],
            vec![data.clone()],
        ),
        (
            "overlap, same bytes",
            vec![
                ip(1, 101, 0, true, &m1[..48]),
                ip(1, 101, 40, false, &m1[40..]),
            ],
            vec![data.clone()],
        ),
        (
            "overlap, the first fragment's bytes make the checksum right",
            vec![
                ip(1, 102, 0, true, &m1[..48]),
                ip(1, 102, 40, false, &m2[40..]),
            ],
            vec![data.clone()],
        ),
        (
            "overlap, the second fragment's bytes make the checksum right",
            vec![
                ip(1, 103, 0, true, &[&m2[..40], &m1[40..48]].concat()),
                ip(1, 103, 40, false, &m2[40..]),
            ],
            vec![data2.clone()],
        ),
        (
            "overlap, second fragment first",
            vec![
                ip(1, 104, 40, false, &m2[40..]),
                ip(1, 104, 0, true, &m1[..48]),
            ],
            vec![data.clone(), data2.clone()],
        ),
    ];
    let echo = Role::Echo {
        udp_port: ECHO_PORT,
    };
    for (name, frags, allowed) in cases {
        let control = name.starts_with("control");
        let mut ours = lone_ours(echo.clone());
        let mut smol = lone_smol(echo.clone());
        ours.take();
        smol.take();
        for f in &frags {
            ours.feed(f);
            smol.feed(f);
        }
        ours.advance(Instant::from_millis(1000));
        smol.advance(Instant::from_millis(1000));
        let (o, s) = (echo_replies(&ours.take()), echo_replies(&smol.take()));
        let overlaps = ours.node.stack().stats().drops(DropReason::FragOverlap);
        if control {
            assert_eq!(o, vec![(1, data.clone())], "ustack, {name}");
            assert_eq!(s, vec![(1, data.clone())], "smoltcp, {name}");
            assert_eq!(overlaps, 0);
        } else {
            assert!(o.is_empty(), "ustack replied to {name}: {o:?}");
            assert!(overlaps >= 1, "ustack did not count the overlap ({name})");
            // smoltcp: no reply, or one reply carrying one consistent interpretation.
            assert!(
                s.is_empty() || (s.len() == 1 && allowed.contains(&s[0].1)),
                "smoltcp, {name}: {s:?}"
            );
            let which = match s.first() {
                None => "no reply".to_string(),
                Some((_, d)) if *d == data => "replied with the first fragment's bytes".into(),
                Some(_) => "replied with the second fragment's bytes".into(),
            };
            eprintln!("{name}: ustack dropped the datagram; smoltcp {which}");
        }
    }
}

/// A datagram whose last fragment comes 45 s after its first: beyond ustack's 30 s reassembly
/// timeout (which sends ICMP time exceeded, code 1, because the first fragment had arrived,
/// RFC 792 / RFC 1122 §3.3.2), within smoltcp's 60 s (which then completes the datagram).
/// After 65 s neither may reply.
#[test]
fn reassembly_timeout_differs() {
    let data: Vec<u8> = (0..200u8).collect();
    let m = echo_request(9, &data);
    let echo = Role::Echo {
        udp_port: ECHO_PORT,
    };
    for (gap, smol_may_reply) in [(45, true), (65, false)] {
        let first = ip(1, 300 + gap, 0, true, &m[..104]);
        let last = ip(1, 300 + gap, 104, false, &m[104..]);
        let mut ours = lone_ours(echo.clone());
        let mut smol = lone_smol(echo.clone());
        ours.feed(&first);
        smol.feed(&first);
        let later = Instant::from_millis(1000 * u64::from(gap));
        ours.advance(later);
        smol.advance(later);
        ours.feed(&last);
        smol.feed(&last);
        ours.advance(later + Duration::from_secs(1));
        smol.advance(later + Duration::from_secs(1));
        let (os, ss) = (ours.take(), smol.take());
        assert!(echo_replies(&os).is_empty(), "ustack replied after {gap} s");
        let exceeded = icmp_of_type(&os, 11);
        assert_eq!(exceeded.len(), 1, "ustack: one time exceeded: {exceeded:?}");
        assert_eq!(
            exceeded[0].1, 1,
            "code 1: fragment reassembly time exceeded"
        );
        assert!(
            (Instant::from_millis(30_000)..=Instant::from_millis(31_000)).contains(&exceeded[0].0),
            "ustack's time exceeded at {}",
            exceeded[0].0
        );
        let smol_replies = echo_replies(&ss);
        eprintln!(
            "gap {gap} s: ustack sent time exceeded at {}; smoltcp {} and sent {} time exceeded",
            exceeded[0].0,
            if smol_replies.is_empty() {
                "did not reply"
            } else {
                "replied"
            },
            icmp_of_type(&ss, 11).len()
        );
        if smol_may_reply {
            assert!(
                smol_replies.is_empty() || smol_replies == vec![(9, data.clone())],
                "smoltcp: {smol_replies:?}"
            );
        } else {
            assert!(smol_replies.is_empty(), "smoltcp replied after {gap} s");
        }
    }
}

/// Incomplete datagrams hold smoltcp's reassembly slots (16 here, the
/// `reassembly-buffer-count-16` feature) until its 60 s timeout, and a fragment of a new
/// datagram finding no free slot is dropped: 16 lost tails block every fragmented datagram for
/// a minute. ustack evicts the oldest datagram instead (bounded by count and bytes) and must
/// answer at once; smoltcp's answer is recorded (no reply while the slots are full is allowed).
#[test]
fn reassembly_slots_fill_up_in_smoltcp() {
    let data: Vec<u8> = (0..100u8).collect();
    let m = echo_request(5, &data);
    let echo = Role::Echo {
        udp_port: ECHO_PORT,
    };
    let mut ours = lone_ours(echo.clone());
    let mut smol = lone_smol(echo);
    for ident in 500..516 {
        let head = ip(1, ident, 0, true, &m[..56]);
        ours.feed(&head);
        smol.feed(&head);
    }
    let whole = [
        ip(1, 600, 0, true, &m[..56]),
        ip(1, 600, 56, false, &m[56..]),
    ];
    let mut outcome = Vec::new();
    for (when, ident) in [(1_000, 600u16), (61_000, 601)] {
        let at = Instant::from_millis(when);
        ours.advance(at);
        smol.advance(at);
        ours.take();
        smol.take();
        for f in &whole {
            let mut f = f.clone();
            f[4..6].copy_from_slice(&ident.to_be_bytes());
            f[10..12].copy_from_slice(&[0, 0]);
            let c = ustack::wire::checksum::internet(&f[..20]);
            f[10..12].copy_from_slice(&c.to_be_bytes());
            ours.feed(&f);
            smol.feed(&f);
        }
        ours.advance(at + Duration::from_millis(100));
        smol.advance(at + Duration::from_millis(100));
        let (o, s) = (echo_replies(&ours.take()), echo_replies(&smol.take()));
        assert_eq!(o, vec![(5, data.clone())], "ustack at {at}");
        assert!(
            s.is_empty() || s == vec![(5, data.clone())],
            "smoltcp: {s:?}"
        );
        outcome.push(format!(
            "at {at}: smoltcp {}",
            if s.is_empty() {
                "did not reply"
            } else {
                "replied"
            }
        ));
    }
    eprintln!(
        "16 incomplete datagrams held, then a whole fragmented echo request: ustack replied each \
         time; {}",
        outcome.join(", ")
    );
}

/// A TCP segment from the client's `sport` to the server's port, with `options` (padded with
/// zeros — EOL — to a multiple of 4).
fn tcp_segment(sport: u16, seq: u32, flags: u8, options: &[u8]) -> Vec<u8> {
    tcp_segment_ack(sport, seq, 0, flags, options)
}

/// [`tcp_segment`] with an acknowledgment number.
fn tcp_segment_ack(sport: u16, seq: u32, ack: u32, flags: u8, options: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let mut t = vec![0u8; 20 + opt_len];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&PORT.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = (((20 + opt_len) / 4) << 4) as u8;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t[20..20 + options.len()].copy_from_slice(options);
    let c = ustack::wire::checksum::pseudo(CLIENT_ADDR, SERVER_ADDR, 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ip(6, seq as u16, 0, false, &t)
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The TCP segments among `sent`: (destination port, flags, ack number).
fn tcp_replies(sent: &[(Instant, Vec<u8>)]) -> Vec<(u16, u8, u32)> {
    tcp_segments(sent)
        .into_iter()
        .map(|(port, flags, _, ack)| (port, flags, ack))
        .collect()
}

/// (destination port, flags, sequence number, ack number) of a TCP segment.
type Seg = (u16, u8, u32, u32);

/// Feeds a packet to a lone node (optionally after running its timers to an instant) and
/// returns the TCP segments it sent in the next 100 ms.
type Feed<'a> = dyn FnMut(&[u8], Option<Instant>) -> Vec<Seg> + 'a;

/// The TCP segments among `sent`.
fn tcp_segments(sent: &[(Instant, Vec<u8>)]) -> Vec<Seg> {
    sent.iter()
        .filter_map(|(_, p)| {
            let ip = ustack::wire::ipv4::Ipv4Packet::parse(p).ok()?;
            let t = ip.payload();
            (ip.protocol() == 6 && t.len() >= 20).then(|| {
                (
                    u16::from_be_bytes([t[2], t[3]]),
                    t[13],
                    u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
                    u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
                )
            })
        })
        .collect()
}

fn tcp_server_role() -> Role {
    Role::TcpServer {
        port: PORT,
        send_len: 0,
        send_seed: 0,
        expect_len: 0,
        expect_seed: 0,
    }
}

/// SYNs with malformed options (RFC 9293 §3.1, MUST-7: be prepared for an illegal option
/// length). ustack parses up to the bad option, ignores the rest and answers SYN-ACK; smoltcp's
/// `TcpRepr::parse` refuses the whole segment, so it stays silent (a RST would be allowed too).
#[test]
fn malformed_tcp_options_differ() {
    let cases: [(&str, &[u8]); 5] = [
        ("control: MSS 1460", &[2, 4, 5, 180]),
        ("option length 0", &[2, 0, 5, 180, 3, 3, 7, 0]),
        ("option length 1", &[4, 1, 2, 4, 5, 180]),
        ("MSS with length 3", &[2, 3, 9, 2, 4, 5, 180, 0]),
        (
            "timestamps overrunning the header",
            &[2, 4, 5, 180, 8, 10, 0, 0],
        ),
    ];
    for (i, (name, options)) in cases.into_iter().enumerate() {
        let isn = 0x1000_0000 + i as u32;
        let syn = tcp_segment(40_000, isn, SYN, options);
        let mut ours = lone_ours(tcp_server_role());
        let mut smol = lone_smol(tcp_server_role());
        ours.take();
        smol.take();
        ours.feed(&syn);
        smol.feed(&syn);
        ours.advance(Instant::from_millis(100));
        smol.advance(Instant::from_millis(100));
        let (o, s) = (tcp_replies(&ours.take()), tcp_replies(&smol.take()));
        let syn_ack = (40_000, SYN | ACK, isn.wrapping_add(1));
        assert_eq!(o, vec![syn_ack], "ustack, {name}");
        if name.starts_with("control") {
            assert_eq!(s, vec![syn_ack], "smoltcp, {name}");
        } else {
            assert!(
                s.is_empty()
                    || s == vec![syn_ack]
                    || (s.len() == 1 && s[0].1 & RST != 0 && s[0].0 == 40_000),
                "smoltcp, {name}: {s:?}"
            );
            eprintln!(
                "{name}: ustack answered SYN-ACK; smoltcp {}",
                match s.first() {
                    None => "stayed silent",
                    Some(&(_, f, _)) if f & RST != 0 => "answered RST",
                    Some(_) => "answered SYN-ACK",
                }
            );
        }
    }
}

/// A smoltcp TCP socket carries one connection: once its listening socket took a SYN, a second
/// client gets a RST (or nothing), where ustack's listener (backlog 4) answers both.
#[test]
fn one_connection_per_socket_in_smoltcp() {
    let mss = [2, 4, 5, 180];
    let first = tcp_segment(40_001, 0x2000_0000, SYN, &mss);
    let second = tcp_segment(40_002, 0x3000_0000, SYN, &mss);
    let mut ours = lone_ours(tcp_server_role());
    let mut smol = lone_smol(tcp_server_role());
    ours.take();
    smol.take();
    for syn in [&first, &second] {
        ours.feed(syn);
        smol.feed(syn);
    }
    ours.advance(Instant::from_millis(100));
    smol.advance(Instant::from_millis(100));
    let (o, s) = (tcp_replies(&ours.take()), tcp_replies(&smol.take()));
    assert_eq!(
        o,
        vec![
            (40_001, SYN | ACK, 0x2000_0001),
            (40_002, SYN | ACK, 0x3000_0001)
        ],
        "ustack answers both"
    );
    assert_eq!(
        s.first(),
        Some(&(40_001, SYN | ACK, 0x2000_0001)),
        "smoltcp: {s:?}"
    );
    let to_second: Vec<_> = s.iter().filter(|r| r.0 == 40_002).collect();
    assert!(
        to_second.is_empty() || (to_second.len() == 1 && to_second[0].1 & RST != 0),
        "smoltcp to the second client: {to_second:?}"
    );
    eprintln!(
        "second SYN: ustack answered SYN-ACK; smoltcp {}",
        if to_second.is_empty() {
            "stayed silent"
        } else {
            "answered RST"
        }
    );
}

/// ustack finding (fails until fixed): a connection that has gone from TIME-WAIT to CLOSED
/// while the app still holds its handle swallows segments for its 4-tuple
/// (`TcpLayer::input` finds the tuple, `Connection::on_segment` returns
/// `Drop(TcpNoConnection)` for CLOSED, and no RST is sent), where RFC 9293 §3.10.7.1 asks for a
/// RST to any non-RST segment in CLOSED — as ustack does when the tuple is unknown. A peer
/// whose final ACK was lost then retransmits its FIN into silence: smoltcp (no user timeout)
/// does so every 60 s for ever. Lone nodes: handshake, both FINs, TIME-WAIT (2×MSL = 60 s for
/// ustack, 10 s for smoltcp), then the client's FIN again. smoltcp answers RST.
#[test]
fn closed_connection_answers_rst() {
    let isn = 0x4000_0000u32;
    let sport = 40_010;
    let mss = [2, 4, 5, 180];
    let check = |name: &str, lone: &mut Feed| {
        let synack = lone(&tcp_segment(sport, isn, SYN, &mss), None);
        assert_eq!(synack.len(), 1, "{name}: {synack:?}");
        let (_, f, iss, ack) = synack[0];
        assert_eq!((f, ack), (SYN | ACK, isn + 1), "{name}");
        // ACK the SYN-ACK: the server app (nothing to send) closes at once: its FIN.
        let fin = lone(&tcp_segment_ack(sport, isn + 1, iss + 1, ACK, &[]), None);
        assert!(
            fin.iter().any(|s| s.1 & FIN != 0),
            "{name}: no FIN from the server: {fin:?}"
        );
        // Our FIN, acknowledging theirs: the server goes to TIME-WAIT and ACKs it.
        let client_fin = tcp_segment_ack(sport, isn + 1, iss + 2, FIN | ACK, &[]);
        let last_ack = lone(&client_fin, None);
        assert!(
            last_ack.iter().any(|s| s.1 == ACK && s.3 == isn + 2),
            "{name}: FIN not acknowledged: {last_ack:?}"
        );
        // Long after TIME-WAIT, the same FIN again (its ACK was lost).
        let late = lone(&client_fin, Some(Instant::from_millis(200_000)));
        eprintln!("{name}: a FIN after TIME-WAIT ended got {late:?}");
        assert!(
            late.iter().any(|s| s.1 & RST != 0 && s.2 == iss + 2),
            "{name}: no RST (seq {}) for a segment to a CLOSED connection: {late:?}",
            iss + 2
        );
    };
    let mut smol = lone_smol(tcp_server_role());
    smol.take();
    check("smoltcp", &mut |p, at| {
        if let Some(at) = at {
            smol.advance(at);
            smol.take();
        }
        smol.feed(p);
        smol.advance(smol.now + Duration::from_millis(100));
        tcp_segments(&smol.take())
    });
    let mut ours = lone_ours(tcp_server_role());
    ours.take();
    check("ustack", &mut |p, at| {
        if let Some(at) = at {
            ours.advance(at);
            ours.take();
        }
        ours.feed(p);
        ours.advance(ours.now + Duration::from_millis(100));
        tcp_segments(&ours.take())
    });
}

/// IPv6 fragments: ustack fragments a 3000-byte UDP datagram at the source and reassembles one
/// (RFC 8200 §4.5; §5: a node must accept a reassembled packet of up to 1500 bytes, and IPv6
/// has no other way to carry a larger datagram over a 1500-byte link); smoltcp 0.14 on
/// `Medium::Ip` does neither (its `proto-ipv6-fragmentation` serves 6LoWPAN only). smoltcp
/// answers every fragment with a Parameter Problem, code 1 (unrecognized Next Header, RFC 4443
/// §3.4), which ustack hands to the UDP socket as an error; as a sender smoltcp drops the
/// datagram silently. ustack ↔ ustack, the same datagrams are echoed (`sim_ours`).
#[test]
fn ipv6_fragments_not_reassembled_by_smoltcp() {
    let role = |count| Role::UdpClient {
        remote: Family::V6.server(),
        port: ECHO_PORT,
        count,
        size: 3000,
        interval: Duration::from_millis(20),
    };
    let echo = Role::Echo {
        udp_port: ECHO_PORT,
    };
    let setup = |dir| Setup {
        dir,
        family: Family::V6,
    };
    // ustack → smoltcp: three fragments, three Parameter Problems, an error on the socket.
    let mut w = world(
        setup(Dir::OursToSmol),
        &Profile::clean(),
        0xf6,
        role(1),
        echo.clone(),
        "frag6",
    );
    w.run(Duration::from_secs(30));
    let frags = w
        .sent_by_a()
        .filter(|c| c.packet[6] == 44 && ustack_tests::sim::transport(&c.packet).is_none())
        .count();
    let problems: Vec<(u8, u8)> = w
        .sent_by_b()
        .filter_map(|c| {
            let (_, _, protocol, m) = ustack_tests::sim::transport(&c.packet)?;
            (protocol == 58).then(|| (m[0], m[1]))
        })
        .collect();
    assert_eq!((frags, problems), (3, vec![(4, 1); 3]), "{}", w.dump_pcap());
    let (pa, pb) = w.progress();
    assert_eq!(
        pb.datagrams, 0,
        "smoltcp echoed a fragmented datagram: {pb:?}"
    );
    let err = pa.error.unwrap_or_default();
    assert!(err.contains("icmp_type: 4, code: 1"), "{err}");

    // smoltcp → ustack: nothing leaves smoltcp at all.
    let mut w = world(
        setup(Dir::SmolToOurs),
        &Profile::clean(),
        0xf6,
        role(5),
        echo,
        "frag6",
    );
    w.run_checked(Duration::from_secs(30));
    let (pa, pb) = w.progress();
    assert_eq!((pa.sent, pa.datagrams, pb.datagrams), (15_000, 0, 0));
    assert_eq!(w.ab.stats().offered, 0, "{:?}", w.link_stats());
}

/// An IPv6 packet with an upper-layer header neither stack knows (Next Header 253, RFC 3692's
/// experimental value): both answer a Parameter Problem, code 1 (RFC 8200 §4, RFC 4443 §3.4),
/// whose pointer must be "the offset of the unrecognized value within the original packet" —
/// the Next Header field naming it, octet 6 of the fixed header (Linux points there too).
/// ustack does; smoltcp 0.14 points at octet 40, where the unknown header would begin.
#[test]
fn unknown_next_header_pointer_differs() {
    let mut p = vec![0u8; 40];
    ustack::wire::ipv6::Ipv6Repr {
        src: CLIENT_ADDR6,
        dst: SERVER_ADDR6,
        next_header: 253,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: 8,
    }
    .emit(&mut p);
    p.extend_from_slice(&[0u8; 8]);
    let echo = Role::Echo {
        udp_port: ECHO_PORT,
    };
    let answer = |sent: Vec<(Instant, Vec<u8>)>| -> Vec<(u8, u8, u32)> {
        sent.iter()
            .filter_map(|(_, p)| {
                let (_, _, protocol, m) = ustack_tests::sim::transport(p)?;
                (protocol == 58 && m.len() >= 8)
                    .then(|| (m[0], m[1], u32::from_be_bytes([m[4], m[5], m[6], m[7]])))
            })
            .collect()
    };
    let mut ours = lone_ours_at(SERVER_ADDR6.into(), echo.clone());
    ours.take();
    ours.feed(&p);
    assert_eq!(answer(ours.take()), vec![(4, 1, 6)], "ustack");
    let mut smol = lone_smol_at(SERVER_ADDR6.into(), echo);
    smol.take();
    smol.feed(&p);
    assert_eq!(answer(smol.take()), vec![(4, 1, 40)], "smoltcp");
}
