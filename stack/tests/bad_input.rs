//! DESIGN.md "Bad input, in short", as one table: for each hand-built packet (or short sequence
//! of packets), what the stack must send back and exactly which drop counters must move.
//!
//! Every row runs on a fresh `Stack`. A row passes only if
//! - every `DropReason` counter equals the number of times the row lists it (all others stay 0),
//! - what was transmitted matches the expected outcome exactly (nothing, one echo reply, one ICMP
//!   error quoting the offending datagram),
//! - the number of datagrams left in reassembly is as expected.
//!
//! All rows are run and every failure is reported together.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use ustack::wire::icmp::IcmpMessage;
use ustack::wire::ipv4::Ipv4Packet;
use ustack::{Config, DropReason, Duration};

/// What the stack should transmit (or deliver) for a row.
/// Most bytes of the offending datagram an ICMP error may quote: the error stays within 576
/// bytes (RFC 1812 §4.3.2.3), 576 − 20 − 8.
const MAX_QUOTE: usize = 548;

#[derive(Debug)]
enum Out {
    /// Nothing transmitted.
    Nothing,
    /// One echo reply from US to PEER with this id, seq and data.
    EchoReply { ident: u16, seq: u16, data: Vec<u8> },
    /// One ICMP error from US to PEER whose quote is the offending datagram (IP header as
    /// received, then its payload) up to the quote limit.
    IcmpError {
        icmp_type: u8,
        code: u8,
        offending: Vec<u8>,
    },
    /// Nothing transmitted; the bound socket receives this payload from PEER:`sport`.
    Delivered { sport: u16, data: Vec<u8> },
}

#[derive(Debug)]
struct Row {
    name: &'static str,
    packets: Vec<Vec<u8>>,
    bind: Option<u16>,
    out: Out,
    drops: Vec<DropReason>,
    held: usize,
}

fn row(name: &'static str, packet: Vec<u8>, out: Out, drops: &[DropReason]) -> Row {
    rows(name, vec![packet], out, drops)
}

fn rows(name: &'static str, packets: Vec<Vec<u8>>, out: Out, drops: &[DropReason]) -> Row {
    Row {
        name,
        packets,
        bind: None,
        out,
        drops: drops.to_vec(),
        held: 0,
    }
}

impl Row {
    fn bind(mut self, port: u16) -> Row {
        self.bind = Some(port);
        self
    }
    fn held(mut self, n: usize) -> Row {
        self.held = n;
        self
    }
}

fn drop_only(name: &'static str, packet: Vec<u8>, reason: DropReason) -> Row {
    row(name, packet, Out::Nothing, &[reason])
}

fn reply(ident: u16, seq: u16, data: &[u8]) -> Out {
    Out::EchoReply {
        ident,
        seq,
        data: data.to_vec(),
    }
}

fn icmp_error(icmp_type: u8, code: u8, offending: &[u8]) -> Out {
    Out::IcmpError {
        icmp_type,
        code,
        offending: offending.to_vec(),
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

/// The checks every packet we send must pass: valid header from US to PEER, TTL 64, unfragmented.
fn our_packet(p: &[u8]) -> Result<Ipv4Packet<'_>, String> {
    let ip = Ipv4Packet::parse(p).map_err(|e| format!("emitted packet does not parse: {e:?}"))?;
    ensure!(
        ip.src() == US && ip.dst() == PEER,
        "sent {} -> {}, expected {US} -> {PEER}",
        ip.src(),
        ip.dst()
    );
    ensure!(ip.ttl() == 64, "sent TTL {}", ip.ttl());
    ensure!(!ip.is_fragment(), "reply unexpectedly fragmented");
    ensure!(ip.protocol() == ICMP, "sent protocol {}", ip.protocol());
    Ok(ip)
}

fn check(r: &Row) -> Result<(), String> {
    let mut s = stack();
    let h = r.bind.map(|p| s.udp_bind(p).expect("bind"));
    for p in &r.packets {
        s.receive(T0, p);
    }
    let sent = drain(&mut s, T0);

    for &reason in DropReason::ALL {
        let want = r.drops.iter().filter(|&&d| d == reason).count() as u64;
        let got = s.stats().drops(reason);
        ensure!(
            got == want,
            "drop counter {reason:?} = {got}, expected {want}"
        );
    }
    ensure!(
        s.reassembly_in_progress() == r.held,
        "{} datagrams in reassembly, expected {}",
        s.reassembly_in_progress(),
        r.held
    );

    match &r.out {
        Out::Nothing => {
            ensure!(
                sent.is_empty(),
                "expected silence, sent {} packet(s)",
                sent.len()
            );
        }
        Out::Delivered { sport, data } => {
            ensure!(
                sent.is_empty(),
                "expected silence, sent {} packet(s)",
                sent.len()
            );
            let h = h.expect("Delivered needs a bound socket");
            let mut buf = vec![0u8; 70_000];
            let (n, from) = s
                .udp_recv_from(h, &mut buf)
                .map_err(|e| format!("udp_recv_from: {e:?}"))?;
            ensure!(
                from == std::net::SocketAddr::from(SocketAddrV4::new(PEER, *sport)),
                "delivered from {from}"
            );
            ensure!(buf[..n] == data[..], "delivered {} bytes, wrong data", n);
            ensure!(
                s.udp_recv_from(h, &mut buf).is_err(),
                "more than one datagram delivered"
            );
        }
        Out::EchoReply { ident, seq, data } => {
            ensure!(
                sent.len() == 1,
                "expected 1 echo reply, sent {}",
                sent.len()
            );
            let ip = our_packet(&sent[0])?;
            match IcmpMessage::parse(ip.payload()) {
                Ok(IcmpMessage::EchoReply {
                    ident: i,
                    seq: q,
                    data: d,
                }) => {
                    ensure!(
                        i == *ident && q == *seq && d == &data[..],
                        "echo reply id {i} seq {q} len {} differs from request",
                        d.len()
                    );
                }
                other => return Err(format!("expected echo reply, got {other:?}")),
            }
        }
        Out::IcmpError {
            icmp_type,
            code,
            offending,
        } => {
            ensure!(
                sent.len() == 1,
                "expected 1 ICMP error, sent {}",
                sent.len()
            );
            let ip = our_packet(&sent[0])?;
            match IcmpMessage::parse(ip.payload()) {
                Ok(IcmpMessage::Error {
                    icmp_type: t,
                    code: c,
                    rest,
                    quote,
                }) => {
                    ensure!(
                        (t, c) == (*icmp_type, *code),
                        "ICMP error type {t} code {c}, expected {icmp_type}/{code}"
                    );
                    ensure!(rest == [0; 4], "unused field not zero: {rest:?}");
                    let hl = ihl(offending);
                    ensure!(
                        quote.starts_with(&offending[..hl]),
                        "quote does not start with the offending IP header"
                    );
                    let want = &offending[..offending.len().min(MAX_QUOTE)];
                    ensure!(
                        quote == want,
                        "quote is {} bytes, expected the first {} bytes of the datagram",
                        quote.len(),
                        want.len()
                    );
                    ensure!(quote.len() >= hl + 8, "quote lacks 8 payload bytes");
                }
                other => return Err(format!("expected ICMP error, got {other:?}")),
            }
        }
    }
    Ok(())
}

fn table() -> Vec<Row> {
    use DropReason::*;
    let good_ping = ping(0x1234, 7, b"abcdefgh");
    let r = || reply(0x1234, 7, b"abcdefgh");
    let echo = echo_request(0x1234, 7, b"abcdefgh");
    let icmp_ip = || Ip::new(ICMP);
    // ---- IPv4 header ----------------------------------------------------------------------
    let mut t = vec![row(
        "sanity: a good ping is answered",
        good_ping.clone(),
        r(),
        &[],
    )];
    t.push(drop_only(
        "19 bytes",
        good_ping[..19].to_vec(),
        Ipv4TooShort,
    ));
    t.push(drop_only("empty", Vec::new(), Ipv4TooShort));
    // An IPv4 header with version 6 goes to the IPv6 input, which finds it too short for one.
    t.push(drop_only(
        "version 6",
        icmp_ip().version(6).build(&echo),
        Ipv6TooShort,
    ));
    t.push(drop_only(
        "version 0",
        icmp_ip().version(0).build(&echo),
        Ipv4BadVersion,
    ));
    t.push(drop_only(
        "IHL 4",
        icmp_ip().ihl(4).build(&echo),
        Ipv4BadHeaderLength,
    ));
    t.push(drop_only(
        "IHL 0",
        icmp_ip().ihl(0).build(&echo),
        Ipv4BadHeaderLength,
    ));
    t.push(drop_only(
        "IHL*4 > bytes",
        icmp_ip().ihl(15).total_len(36).build(&echo[..16]),
        Ipv4BadHeaderLength,
    ));
    t.push(drop_only(
        "total length < IHL*4",
        icmp_ip().total_len(19).build(&echo),
        Ipv4BadTotalLength,
    ));
    t.push(drop_only(
        "total length 0",
        icmp_ip().total_len(0).build(&echo),
        Ipv4BadTotalLength,
    ));
    t.push(drop_only(
        "truncated: total length > bytes",
        good_ping[..good_ping.len() - 1].to_vec(),
        Ipv4Truncated,
    ));
    t.push(drop_only(
        "truncated: total length 65535, 36 bytes",
        icmp_ip().total_len(65535).build(&echo),
        Ipv4Truncated,
    ));
    t.push(drop_only(
        "bad header checksum",
        icmp_ip().bad_checksum().build(&echo),
        Ipv4BadChecksum,
    ));
    let mut padded = good_ping.clone();
    padded.extend_from_slice(&[0xee; 10]);
    t.push(row("link padding is trimmed", padded, r(), &[]));

    for (name, src) in [
        ("source 0.0.0.0", Ipv4Addr::UNSPECIFIED),
        ("source 0.1.2.3", Ipv4Addr::new(0, 1, 2, 3)),
        ("source 127.0.0.1", Ipv4Addr::LOCALHOST),
        ("source 224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
        ("source 255.255.255.255", Ipv4Addr::BROADCAST),
        ("source 240.0.0.1", Ipv4Addr::new(240, 0, 0, 1)),
        ("source = our own address", US),
        ("source = our directed broadcast", BCAST),
    ] {
        t.push(drop_only(
            name,
            icmp_ip().src(src).build(&echo),
            Ipv4MartianSource,
        ));
    }
    t.push(drop_only(
        "destination 10.9.9.9",
        icmp_ip().dst(Ipv4Addr::new(10, 9, 9, 9)).build(&echo),
        Ipv4NotForUs,
    ));
    t.push(drop_only(
        "destination 198.18.0.3 (neighbour)",
        icmp_ip().dst(Ipv4Addr::new(198, 18, 0, 3)).build(&echo),
        Ipv4NotForUs,
    ));
    t.push(row(
        "TTL 0 arriving",
        icmp_ip().ttl(0).build(&echo),
        r(),
        &[],
    ));
    t.push(row(
        "TTL 1 arriving",
        icmp_ip().ttl(1).build(&echo),
        r(),
        &[],
    ));
    t.push(row(
        "IP options (NOP NOP NOP EOL)",
        icmp_ip().options(&[1, 1, 1, 0]).build(&echo),
        r(),
        &[],
    ));
    t.push(row(
        "IP options, 40 bytes (IHL 15)",
        icmp_ip().options(&[1; 40]).build(&echo),
        r(),
        &[],
    ));

    // ---- unknown protocol -----------------------------------------------------------------
    let proto253 = Ip::new(253).build(b"some payload of an unknown protocol");
    t.push(row(
        "unknown protocol 253",
        proto253.clone(),
        icmp_error(3, 2, &proto253),
        &[UnknownProtocol],
    ));
    let with_opts = Ip::new(253).options(&[1, 1, 1, 0]).build(&[7; 600]);
    t.push(row(
        "unknown protocol, options, 600-byte payload: quote capped",
        with_opts.clone(),
        icmp_error(3, 2, &with_opts),
        &[UnknownProtocol],
    ));
    for (name, dst) in [
        ("unknown protocol to 198.18.0.255", BCAST),
        ("unknown protocol to 255.255.255.255", Ipv4Addr::BROADCAST),
        ("unknown protocol to 224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
    ] {
        t.push(drop_only(
            name,
            Ip::new(253).dst(dst).build(b"payload!"),
            UnknownProtocol,
        ));
    }

    // ---- ICMP -----------------------------------------------------------------------------
    t.push(drop_only(
        "ICMP of 7 bytes",
        icmp_ip().build(&echo[..7]),
        IcmpTooShort,
    ));
    t.push(drop_only(
        "ICMP of 0 bytes",
        icmp_ip().build(&[]),
        IcmpTooShort,
    ));
    let mut bad = echo.clone();
    bad[9] ^= 0x10;
    t.push(drop_only(
        "ICMP bad checksum",
        icmp_ip().build(&bad),
        IcmpBadChecksum,
    ));
    t.push(row(
        "echo request with no data",
        ping(1, 2, &[]),
        reply(1, 2, &[]),
        &[],
    ));
    for (name, dst) in [
        ("echo request to 198.18.0.255", BCAST),
        ("echo request to 255.255.255.255", Ipv4Addr::BROADCAST),
        ("echo request to 224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
    ] {
        t.push(drop_only(
            name,
            icmp_ip().dst(dst).build(&echo),
            IcmpEchoBroadcast,
        ));
    }
    t.push(drop_only(
        // A whole one (12-byte body) is answered: stack/tests/icmp_queries.rs.
        "ICMP timestamp (13) shorter than its 12-byte body",
        icmp_ip().build(&icmp_msg(13, 0, [0, 1, 0, 1], &[0; 8])),
        IcmpUnhandledType,
    ));
    t.push(drop_only(
        "ICMP type 200",
        icmp_ip().build(&icmp_msg(200, 0, [0; 4], b"x")),
        IcmpUnhandledType,
    ));
    // An error quoting a datagram someone else sent.
    let foreign = Ip::new(UDP)
        .src(Ipv4Addr::new(198, 18, 0, 7))
        .dst(PEER)
        .build(&udp_dgram(
            Ipv4Addr::new(198, 18, 0, 7),
            PEER,
            1000,
            2000,
            b"",
        ));
    t.push(drop_only(
        "dest unreachable quoting a datagram from another host",
        icmp_ip().build(&icmp_msg(3, 3, [0; 4], &foreign)),
        IcmpBadQuote,
    ));
    // An error quoting a UDP datagram "from us" on a port with no socket.
    let ours = Ip::new(UDP)
        .src(US)
        .dst(PEER)
        .build(&udp_dgram(US, PEER, 40000, 53, b"query"));
    t.push(drop_only(
        "port unreachable quoting our address, no socket on that port",
        icmp_ip().build(&icmp_msg(3, 3, [0; 4], &ours[..28])),
        IcmpNoSocket,
    ));
    t.push(drop_only(
        "time exceeded quoting only 20 bytes",
        icmp_ip().build(&icmp_msg(11, 0, [0; 4], &ours[..20])),
        IcmpBadQuote,
    ));
    t.push(drop_only(
        "dest unreachable with an empty quote",
        icmp_ip().build(&icmp_msg(3, 1, [0; 4], &[])),
        IcmpBadQuote,
    ));
    t.push(drop_only(
        "parameter problem quoting garbage",
        icmp_ip().build(&icmp_msg(12, 0, [0; 4], &[0xff; 40])),
        IcmpBadQuote,
    ));
    t.push(drop_only(
        "echo reply with no socket",
        icmp_ip().build(&echo_reply(0x999, 1, b"pong")),
        IcmpNoSocket,
    ));

    // ---- UDP ------------------------------------------------------------------------------
    let u = udp_dgram(PEER, US, 5555, 9, b"hello");
    let udp_ip = || Ip::new(UDP);
    t.push(drop_only(
        "UDP of 7 bytes",
        udp_ip().build(&u[..7]),
        UdpTooShort,
    ));
    let mut long = u.clone();
    long[4..6].copy_from_slice(&(u.len() as u16 + 1).to_be_bytes());
    t.push(drop_only(
        "UDP length field > payload",
        udp_ip().build(&long),
        UdpBadLength,
    ));
    let mut short = u.clone();
    short[4..6].copy_from_slice(&7u16.to_be_bytes());
    t.push(drop_only(
        "UDP length field 7",
        udp_ip().build(&short),
        UdpBadLength,
    ));
    let mut zero = u.clone();
    zero[4..6].copy_from_slice(&0u16.to_be_bytes());
    t.push(drop_only(
        "UDP length field 0",
        udp_ip().build(&zero),
        UdpBadLength,
    ));
    let mut badsum = u.clone();
    badsum[9] ^= 0x01;
    t.push(drop_only("UDP bad checksum", udp_ip().build(&badsum), UdpBadChecksum).bind(9));
    t.push(
        row(
            "UDP checksum 0 is accepted",
            udp_ip().build(&udp_dgram_no_checksum(5555, 9, b"no sum")),
            Out::Delivered {
                sport: 5555,
                data: b"no sum".to_vec(),
            },
            &[],
        )
        .bind(9),
    );
    t.push(
        row(
            "UDP good datagram to a bound port",
            udp_ip().build(&u),
            Out::Delivered {
                sport: 5555,
                data: b"hello".to_vec(),
            },
            &[],
        )
        .bind(9),
    );
    // UDP length shorter than the IP payload: the datagram is what the UDP length says.
    let mut trailer = udp_dgram(PEER, US, 5555, 9, b"abc");
    trailer.extend_from_slice(b"TRAILER");
    t.push(
        row(
            "UDP length < IP payload: trailing bytes ignored",
            udp_ip().build(&trailer),
            Out::Delivered {
                sport: 5555,
                data: b"abc".to_vec(),
            },
            &[],
        )
        .bind(9),
    );
    let closed = udp_ip().build(&u);
    t.push(row(
        "UDP to a closed port",
        closed.clone(),
        icmp_error(3, 3, &closed),
        &[UdpNoSocket],
    ));
    let closed_opts = udp_ip().options(&[1, 1, 1, 0]).build(&u);
    t.push(row(
        "UDP to a closed port, with IP options",
        closed_opts.clone(),
        icmp_error(3, 3, &closed_opts),
        &[UdpNoSocket],
    ));
    let big = udp_packet(5555, 9, &[0x5a; 1000]);
    t.push(row(
        "UDP to a closed port, 1000 bytes: quote capped",
        big.clone(),
        icmp_error(3, 3, &big),
        &[UdpNoSocket],
    ));
    for (name, dst) in [
        ("UDP to a closed port via 198.18.0.255", BCAST),
        (
            "UDP to a closed port via 255.255.255.255",
            Ipv4Addr::BROADCAST,
        ),
        (
            "UDP to a closed port via 224.0.0.1",
            Ipv4Addr::new(224, 0, 0, 1),
        ),
    ] {
        t.push(drop_only(
            name,
            udp_ip()
                .dst(dst)
                .build(&udp_dgram(PEER, dst, 5555, 9, b"hi")),
            UdpNoSocket,
        ));
    }
    t.push(
        row(
            "UDP to a bound port via 198.18.0.255 is delivered",
            udp_ip()
                .dst(BCAST)
                .build(&udp_dgram(PEER, BCAST, 5555, 9, b"hi")),
            Out::Delivered {
                sport: 5555,
                data: b"hi".to_vec(),
            },
            &[],
        )
        .bind(9),
    );

    // ---- fragments ------------------------------------------------------------------------
    // An echo request of 24 bytes (8 header + 16 data), cut at 8 and 16.
    let echo24 = echo_request(0x77, 3, b"0123456789abcdef");
    let fip = Ip::new(ICMP).ident(0xf00d);
    t.push(
        rows(
            "non-initial fragment alone: held, silent",
            vec![fragment(&fip, &echo24, 8, 16, false)],
            Out::Nothing,
            &[],
        )
        .held(1),
    );
    t.push(
        rows(
            "initial fragment alone: held, silent",
            vec![fragment(&fip, &echo24, 0, 8, true)],
            Out::Nothing,
            &[],
        )
        .held(1),
    );
    t.push(rows(
        "fragments out of order complete",
        vec![
            fragment(&fip, &echo24, 16, 8, false),
            fragment(&fip, &echo24, 0, 8, true),
            fragment(&fip, &echo24, 8, 8, true),
        ],
        reply(0x77, 3, b"0123456789abcdef"),
        &[],
    ));
    // [0,8) and [16,24) held, then [0,16) overlaps [0,8): the datagram is dropped, and the
    // fragment that would have completed it only starts a new one.
    t.push(
        rows(
            "overlapping fragment drops the datagram",
            vec![
                fragment(&fip, &echo24, 0, 8, true),
                fragment(&fip, &echo24, 16, 8, false),
                fragment(&fip, &echo24, 0, 16, true),
                fragment(&fip, &echo24, 8, 8, true),
            ],
            Out::Nothing,
            &[FragOverlap],
        )
        .held(1),
    );
    t.push(
        rows(
            "tail overlap drops the datagram",
            vec![
                fragment(&fip, &echo24, 0, 16, true),
                fragment(&fip, &echo24, 8, 16, false),
            ],
            Out::Nothing,
            &[FragOverlap],
        )
        .held(0),
    );
    let mut altered = echo24.clone();
    altered[12] ^= 0xff;
    t.push(
        rows(
            "same offset and length, different bytes: overlap",
            vec![
                fragment(&fip, &echo24, 8, 8, true),
                fragment(&fip, &altered, 8, 8, true),
                fragment(&fip, &echo24, 0, 8, true),
                fragment(&fip, &echo24, 16, 8, false),
            ],
            Out::Nothing,
            &[FragOverlap],
        )
        .held(1),
    );
    t.push(
        rows(
            "exact duplicate ignored, datagram completes once",
            vec![
                fragment(&fip, &echo24, 0, 8, true),
                fragment(&fip, &echo24, 0, 8, true),
                fragment(&fip, &echo24, 8, 16, false),
                fragment(&fip, &echo24, 8, 16, false),
            ],
            reply(0x77, 3, b"0123456789abcdef"),
            // The last copy arrives after completion: it starts a new datagram, held silently.
            &[FragDuplicate],
        )
        .held(1),
    );
    t.push(drop_only(
        "fragment reaching past 65535 (offset 65528, 16 bytes)",
        Ip::new(UDP).frag(65528, false).build(&[0; 16]),
        FragTooBig,
    ));
    t.push(drop_only(
        "fragment ending at 65536 (20 + 65512 + 4)",
        Ip::new(UDP).frag(65512, false).build(&[0; 4]),
        FragTooBig,
    ));
    t.push(
        rows(
            "fragment ending exactly at 65535 is held",
            vec![Ip::new(UDP).frag(65512, false).build(&[0; 3])],
            Out::Nothing,
            &[],
        )
        .held(1),
    );
    t.push(drop_only(
        "MF set, 12 bytes",
        fragment(&fip, &echo24, 0, 12, true),
        FragBadLength,
    ));
    t.push(drop_only(
        "MF set, 0 bytes",
        Ip::new(ICMP).frag(8, true).build(&[]),
        FragBadLength,
    ));
    // A reassembled UDP datagram to a closed port gets port unreachable quoting the first
    // fragment's header.
    let ud = udp_dgram(PEER, US, 5555, 9, &[0x11; 40]);
    let uip = Ip::new(UDP).ident(0xbeef);
    let first = fragment(&uip, &ud, 0, 24, true);
    // The quote is the reassembled datagram as Linux presents it: the first fragment's header
    // with MF cleared and the whole datagram's total length (checksum recomputed), then the payload.
    let mut quoted = first[..20].to_vec();
    quoted[2..4].copy_from_slice(&((20 + ud.len()) as u16).to_be_bytes());
    quoted[6] &= !0x20;
    quoted[10..12].copy_from_slice(&[0, 0]);
    let c = ustack::wire::checksum::internet(&quoted);
    quoted[10..12].copy_from_slice(&c.to_be_bytes());
    quoted.extend_from_slice(&ud);
    t.push(rows(
        "reassembled UDP to a closed port: error quotes the reassembled datagram",
        vec![first.clone(), fragment(&uip, &ud, 24, 24, false)],
        icmp_error(3, 3, &quoted),
        &[UdpNoSocket],
    ));

    t
}

#[test]
fn bad_input_table() {
    let table = table();
    let mut failures = Vec::new();
    for r in &table {
        if let Err(e) = check(r) {
            failures.push(format!("  {}: {e}", r.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn icmp_errors_are_rate_limited() {
    let config = Config {
        icmp_error_burst: 5,
        icmp_error_rate: 1,
        ..Config::default()
    };
    let mut s = stack_with(config);
    for i in 0..50u16 {
        s.receive(T0, &udp_packet(1000 + i, 9, b"knock"));
    }
    let sent = drain(&mut s, T0);
    assert_eq!(sent.len(), 5, "burst of 5 errors");
    for p in &sent {
        let ip = Ipv4Packet::parse(p).unwrap();
        assert!(matches!(
            IcmpMessage::parse(ip.payload()),
            Ok(IcmpMessage::Error {
                icmp_type: 3,
                code: 3,
                ..
            })
        ));
    }
    assert_eq!(s.stats().icmp_errors_sent, 5);
    assert_eq!(s.stats().icmp_errors_rate_limited, 45);
    assert_eq!(s.stats().drops(DropReason::UdpNoSocket), 50);

    // 2 s at 1 token/s refills 2 tokens.
    let later = T0 + Duration::from_secs(2);
    for i in 0..50u16 {
        s.receive(later, &udp_packet(2000 + i, 9, b"knock"));
    }
    assert_eq!(drain(&mut s, later).len(), 2);
    assert_eq!(s.stats().icmp_errors_sent, 7);
    assert_eq!(s.stats().icmp_errors_rate_limited, 45 + 48);

    // Echo replies are not rate-limited.
    for seq in 0..20u16 {
        s.receive(later, &ping(1, seq, b"still here"));
    }
    assert_eq!(drain(&mut s, later).len(), 20);
}
