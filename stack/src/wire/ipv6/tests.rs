use super::*;

const A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

/// A packet whose payload is `chain` (extension headers and an upper layer), first named
/// by `next_header`.
fn packet(next_header: u8, chain: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN + chain.len()];
    Ipv6Repr {
        src: A,
        dst: B,
        next_header,
        hop_limit: 64,
        traffic_class: 0xb8,
        flow_label: 0x1_2345,
        payload_len: chain.len(),
    }
    .emit(&mut b);
    b[HEADER_LEN..].copy_from_slice(chain);
    b
}

fn walked(next_header: u8, chain: &[u8]) -> Result<Walk, Refusal> {
    let b = packet(next_header, chain);
    walk(&Ipv6Packet::parse(&b).unwrap())
}

#[test]
fn the_fixed_header_round_trips_and_padding_is_trimmed() {
    let mut b = packet(next::ICMPV6, &[128, 0, 0, 0, 0, 1, 0, 1]);
    b.extend_from_slice(&[0; 6]);
    let p = Ipv6Packet::parse(&b).unwrap();
    assert_eq!(
        (p.src(), p.dst(), p.next_header(), p.hop_limit()),
        (A, B, 58, 64)
    );
    assert_eq!((p.traffic_class(), p.flow_label()), (0xb8, 0x1_2345));
    assert_eq!(p.payload().len(), 8);
    assert_eq!(
        walk(&p),
        Ok(Walk::Upper {
            protocol: 58,
            at: 40,
            named_at: 6,
            fragment: None
        })
    );
}

#[test]
fn bad_fixed_headers_are_counted_by_name() {
    let good = packet(next::NONE, &[]);
    assert_eq!(
        Ipv6Packet::parse(&good[..39]).unwrap_err(),
        DropReason::Ipv6TooShort
    );
    let mut b = good.clone();
    b[0] = 0x45;
    assert_eq!(
        Ipv6Packet::parse(&b).unwrap_err(),
        DropReason::Ipv6BadVersion
    );
    let mut b = packet(next::NONE, &[0; 8]);
    b.truncate(44);
    assert_eq!(
        Ipv6Packet::parse(&b).unwrap_err(),
        DropReason::Ipv6Truncated
    );
    for (src, why) in [
        ("ff02::1", DropReason::Ipv6MulticastSource),
        ("::1", DropReason::Ipv6MartianSource),
        ("::", DropReason::Ipv6UnspecifiedSource),
        ("::ffff:198.18.0.1", DropReason::Ipv6MartianSource),
    ] {
        let mut b = good.clone();
        b[8..24].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(Ipv6Packet::parse(&b).unwrap_err(), why, "{src}");
    }
    // A jumbogram: payload length 0 and a Hop-by-Hop header with the option.
    let mut j = packet(next::HOP_BY_HOP, &[59, 0, 0xc2, 4, 0, 1, 0, 0]);
    j[4..6].fill(0);
    assert_eq!(
        Ipv6Packet::parse(&j).unwrap_err(),
        DropReason::Ipv6Jumbogram
    );
}

#[test]
fn the_unspecified_source_only_for_dad_and_mld_and_arrival_refusals() {
    let from_unspecified = |next_header: u8, chain: &[u8]| {
        let mut b = packet(next_header, chain);
        b[8..24].fill(0);
        Ipv6Packet::parse(&b).map(|_| ())
    };
    // A neighbor solicitation (DAD, RFC 4862 §5.4.2), MLDv2 and MLDv1 reports behind a
    // Router Alert (RFC 3590 §4): let through.
    assert_eq!(from_unspecified(next::ICMPV6, &[135, 0, 0, 0]), Ok(()));
    for mld in [143, 131] {
        let chain = [58, 0, 5, 2, 0, 0, 1, 0, mld, 0, 0, 0];
        assert_eq!(from_unspecified(next::HOP_BY_HOP, &chain), Ok(()));
    }
    // An echo request, a router solicitation, UDP: refused.
    for (nh, chain) in [
        (next::ICMPV6, &[128u8, 0, 0, 0][..]),
        (next::ICMPV6, &[133, 0, 0, 0]),
        (17, &[0; 8]),
        (next::HOP_BY_HOP, &[58, 0, 5, 2, 0, 0, 1, 0, 128, 0, 0, 0]),
    ] {
        assert_eq!(
            from_unspecified(nh, chain),
            Err(DropReason::Ipv6UnspecifiedSource)
        );
    }
    // Hop limit 0 and our own address as source: refused on arrival, by name.
    let mut b = packet(next::NONE, &[]);
    assert_eq!(
        Ipv6Packet::parse(&b).unwrap().refused_on_arrival(Some(B)),
        None
    );
    assert_eq!(
        Ipv6Packet::parse(&b).unwrap().refused_on_arrival(Some(A)),
        Some(DropReason::Ipv6OwnSource)
    );
    b[7] = 0;
    assert_eq!(
        Ipv6Packet::parse(&b).unwrap().refused_on_arrival(None),
        Some(DropReason::Ipv6HopLimitZero)
    );
}

#[test]
fn options_follow_their_action_bits() {
    // Pad1, PadN: fine; then UDP.
    let ok = [17, 0, 0, 1, 2, 0, 0, 0];
    assert!(matches!(
        walked(next::HOP_BY_HOP, &ok),
        Ok(Walk::Upper {
            protocol: 17,
            at: 48,
            named_at: 40,
            ..
        })
    ));
    for (kind, want) in [
        (0x1e, None),                                               // 00: skipped
        (0x5e, Some((DropReason::Ipv6UnknownOption, None, false))), // 01: silent
        (
            0x9e,
            Some((DropReason::Ipv6UnknownOption, Some((2, 42)), true)),
        ), // 10
        (
            0xde,
            Some((DropReason::Ipv6UnknownOption, Some((2, 42)), false)),
        ), // 11
    ] {
        let chain = [17, 0, kind, 2, 0, 0, 1, 0];
        let got = walked(next::DEST_OPTS, &chain);
        match want {
            None => assert!(
                matches!(got, Ok(Walk::Upper { protocol: 17, .. })),
                "{kind:x}"
            ),
            Some((reason, problem, even)) => assert_eq!(
                got,
                Err(Refusal {
                    reason,
                    problem,
                    even_multicast: even
                }),
                "{kind:x}"
            ),
        }
    }
    // An option running past its header.
    let over = [17, 0, 1, 9, 0, 0, 0, 0];
    assert_eq!(
        walked(next::DEST_OPTS, &over).unwrap_err().reason,
        DropReason::Ipv6BadOption
    );
}

#[test]
fn hop_by_hop_only_first_and_routing_with_segments_left_refused() {
    // Destination Options, then Hop-by-Hop: code 1 pointing at the Next Header byte (40).
    let chain = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
    let r = walked(next::DEST_OPTS, &chain).unwrap_err();
    assert_eq!(
        (r.reason, r.problem),
        (DropReason::Ipv6HopByHopNotFirst, Some((1, 40)))
    );
    // Routing type 0 with segments left 1: code 0 pointing at the type (42).
    let rh0 = [
        17, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let r = walked(next::ROUTING, &rh0).unwrap_err();
    assert_eq!(
        (r.reason, r.problem),
        (DropReason::Ipv6RoutingHeader, Some((0, 42)))
    );
    // Segments left 0: ignored, on to UDP.
    let mut done = rh0;
    done[3] = 0;
    assert!(matches!(
        walked(next::ROUTING, &done),
        Ok(Walk::Upper {
            protocol: 17,
            at: 64,
            ..
        })
    ));
    // Nine Destination Options headers: too long a chain.
    let mut long = Vec::new();
    for _ in 0..9 {
        long.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    assert_eq!(
        walked(next::DEST_OPTS, &long).unwrap_err().reason,
        DropReason::Ipv6ExtChainTooLong
    );
    // A header running past the packet.
    assert_eq!(
        walked(next::DEST_OPTS, &[17, 1, 1, 4, 0, 0, 0, 0])
            .unwrap_err()
            .reason,
        DropReason::Ipv6ExtTruncated
    );
}

#[test]
fn fragments_first_later_atomic_and_incomplete() {
    let frag = |off: u16, more: bool, next: u8| {
        let w = (off & 0xfff8) | u16::from(more);
        let mut h = vec![next, 0];
        h.extend_from_slice(&w.to_be_bytes());
        h.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        h
    };
    // First fragment: on to the upper layer, the fragment noted.
    let mut first = frag(0, true, 17);
    first.extend_from_slice(&[0; 16]);
    let Ok(Walk::Upper {
        protocol: 17,
        at: 48,
        fragment: Some(f),
        ..
    }) = walked(next::FRAGMENT, &first)
    else {
        panic!()
    };
    assert_eq!(
        (f.offset, f.more, f.ident, f.is_atomic()),
        (0, true, 0xdead_beef, false)
    );
    // Atomic: processed whole.
    let mut atomic = frag(0, false, 58);
    atomic.extend_from_slice(&[128, 0, 0, 0, 0, 0, 0, 0]);
    assert!(
        matches!(walked(next::FRAGMENT, &atomic), Ok(Walk::Upper { fragment: Some(f), .. }) if f.is_atomic())
    );
    // A later fragment: its data, unwalked.
    let mut later = frag(1232, false, 17);
    later.extend_from_slice(&[0; 5]);
    assert!(
        matches!(walked(next::FRAGMENT, &later), Ok(Walk::LaterFragment { at: 48, fragment }) if fragment.offset == 1232)
    );
    // M set and a length not a multiple of 8: code 0 at the payload length.
    let mut odd = frag(0, true, 17);
    odd.extend_from_slice(&[0; 5]);
    let r = walked(next::FRAGMENT, &odd).unwrap_err();
    assert_eq!(
        (r.reason, r.problem),
        (DropReason::Ipv6FragmentLength, Some((0, 4)))
    );
    // A second Fragment header, even a non-first one's.
    let mut twice = frag(0, false, 44);
    twice.extend_from_slice(&frag(8, false, 17));
    twice.extend_from_slice(&[0; 8]);
    assert_eq!(
        walked(next::FRAGMENT, &twice).unwrap_err(),
        Refusal::drop(DropReason::Ipv6FragmentTwice)
    );
    // A first fragment cut before or inside its upper-layer header (RFC 7112 §5): none of
    // UDP's 8 bytes; TCP's 24 bytes of a 32-byte header (Data Offset 8). The same bytes in
    // an atomic fragment, a whole packet, are the upper layer's business.
    let mut tcp = [0u8; 24];
    tcp[12] = 8 << 4;
    for (proto, upper) in [(17, &[][..]), (6, &tcp[..])] {
        for more in [true, false] {
            let mut f = frag(0, more, proto);
            f.extend_from_slice(upper);
            let got = walked(next::FRAGMENT, &f);
            if more {
                assert_eq!(
                    got.unwrap_err().problem,
                    Some((problem::INCOMPLETE_CHAIN, 0)),
                    "{proto}"
                );
            } else {
                assert!(matches!(got, Ok(Walk::Upper { .. })), "{proto}");
            }
        }
    }
    // A first fragment whose Destination Options header goes past it (RFC 7112).
    let mut cut = frag(0, true, 60);
    cut.extend_from_slice(&[17, 2, 0, 0, 0, 0, 0, 0]);
    let r = walked(next::FRAGMENT, &cut).unwrap_err();
    assert_eq!(
        (r.reason, r.problem),
        (DropReason::Ipv6IncompleteChain, Some((3, 0)))
    );
}

#[test]
fn icmpv6_errors_are_recognized_behind_extension_headers() {
    let error = [4u8, 0, 0, 0, 0, 0, 0, 6];
    assert!(is_icmpv6_error(
        &Ipv6Packet::parse(&packet(58, &error)).unwrap()
    ));
    // Behind a Destination Options header with an option of action 11, which `walk` refuses.
    let mut chain = vec![58, 0, 0xde, 2, 0, 0, 1, 0];
    chain.extend_from_slice(&error);
    let b = packet(next::DEST_OPTS, &chain);
    let p = Ipv6Packet::parse(&b).unwrap();
    assert!(walk(&p).is_err() && is_icmpv6_error(&p));
    // An echo request is no error; neither is a later fragment's data.
    chain[8] = 128;
    assert!(!is_icmpv6_error(
        &Ipv6Packet::parse(&packet(next::DEST_OPTS, &chain)).unwrap()
    ));
    let later = [58, 0, 0, 8, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0];
    assert!(!is_icmpv6_error(
        &Ipv6Packet::parse(&packet(next::FRAGMENT, &later)).unwrap()
    ));
}

#[test]
fn any_bytes_walk_without_panicking() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 120) as usize;
        let mut chain: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        if let Some(first) = chain.first_mut() {
            *first = [0, 43, 44, 60, 17, 59][(seed % 6) as usize];
        }
        let nh = [0, 43, 44, 60][(seed >> 3) as usize % 4];
        let b = packet(nh, &chain);
        if let Ok(p) = Ipv6Packet::parse(&b) {
            if let Ok(Walk::Upper { at, .. } | Walk::LaterFragment { at, .. }) = walk(&p) {
                assert!(at <= b.len());
            }
            let _ = is_icmpv6_error(&p);
        }
    }
}
