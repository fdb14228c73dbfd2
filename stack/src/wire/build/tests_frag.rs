//! Fragments of built packets: parsed by the stack's own parsers, put back together by its own
//! reassembler (which drops the overlapping ones), and refused sizes named.

use super::*;
use crate::ip::reassembly::{
    FragDrop, Fragment as Piece, FragmentKey, FragmentKey6, Outcome, Reassembler, ReassemblyLimits,
};
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet, Walk};
use crate::wire::udp::UdpPacket;
use std::net::{Ipv4Addr, Ipv6Addr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const C6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 3);

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
}

fn udp4(n: usize) -> Vec<u8> {
    (Ipv4::new().src(A).dst(B).ident(0x4242) / Udp::new().dport(9) / data(n))
        .build()
        .unwrap()
}

/// Feeds IPv4 fragments to the stack's reassembler; returns the last outcome.
fn reassemble4(frags: &[Vec<u8>]) -> Outcome {
    let mut r = Reassembler::new(ReassemblyLimits::DEFAULT);
    let mut last = Outcome::Incomplete;
    for f in frags {
        let p = Ipv4Packet::parse(f).unwrap();
        let key = FragmentKey {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ident: p.ident(),
        };
        last = r.insert(
            Instant::ZERO,
            Piece {
                key,
                offset: p.frag_offset(),
                more_fragments: p.more_fragments(),
                header: p.header_bytes(),
                payload: p.payload(),
            },
        );
    }
    last
}

#[test]
fn ipv4_fragments_reassemble_to_the_original() {
    let whole = udp4(1000);
    let frags = fragment_v4(&whole, 300).unwrap();
    // 1008 bytes of UDP in 296-byte pieces (300 rounded down to 8): 296 * 3 + 120.
    let sizes: Vec<usize> = frags.iter().map(|f| f.len() - 20).collect();
    assert_eq!(sizes, [296, 296, 296, 120]);
    for (i, f) in frags.iter().enumerate() {
        let p = Ipv4Packet::parse(f).unwrap();
        assert_eq!((p.frag_offset(), p.more_fragments()), (i * 296, i < 3));
        assert_eq!((p.ident(), p.protocol()), (0x4242, 17));
    }
    match reassemble4(&frags) {
        Outcome::Complete(r) => {
            assert_eq!(r.payload, whole[20..]);
            assert!(UdpPacket::parse(A, B, &r.payload).is_ok());
        }
        other => panic!("{other:?}"),
    }
    // The tcpdump lines say which fragment is which.
    assert!(crate::wire::PacketSummary(&frags[1])
        .to_string()
        .ends_with("ip-proto-17 (frag 16962:296@296+)"));
}

#[test]
fn ipv4_fragmenting_keeps_flags_offsets_and_copied_options() {
    // LSRR (131, copied) and Record Route (7, not copied), RFC 791 §3.1.
    let lsrr = [131, 7, 4, 10, 0, 0, 9];
    let rr = [7, 7, 4, 0, 0, 0, 0];
    let opts: Vec<u8> = lsrr.iter().chain(&rr).copied().collect();
    let p = Ipv4::new()
        .src(A)
        .dst(B)
        .df(true)
        .mf(true)
        .frag_offset(800)
        .options(opts);
    let whole = (p / data(64)).build().unwrap();
    let frags = fragment_v4(&whole, 32).unwrap();
    assert_eq!(frags.len(), 2);
    let (f0, f1) = (
        Ipv4Packet::parse(&frags[0]).unwrap(),
        Ipv4Packet::parse(&frags[1]).unwrap(),
    );
    assert_eq!(f0.header_bytes()[20..], whole[20..36]);
    assert_eq!(&f1.header_bytes()[20..], &[131, 7, 4, 10, 0, 0, 9, 0]);
    assert_eq!((f0.frag_offset(), f1.frag_offset()), (800, 832));
    // MF on the first; the last keeps the packet's own MF; DF is kept.
    assert!(f0.more_fragments() && f1.more_fragments());
    assert!(f0.dont_fragment() && f1.dont_fragment());
    assert_eq!([f0.payload(), f1.payload()].concat(), data(64));
    // A packet that fits is returned as it is.
    let small = udp4(10);
    assert_eq!(fragment_v4(&small, 1480).unwrap(), [small]);
}

#[test]
fn overlapping_ipv4_fragments_carry_the_same_bytes_and_are_dropped() {
    let whole = udp4(200);
    let frags = fragment_v4_overlapping(&whole, 64, 16).unwrap();
    let mut rebuilt = vec![0u8; 208];
    for (i, f) in frags.iter().enumerate() {
        let p = Ipv4Packet::parse(f).unwrap();
        let want = if i == 0 { 0 } else { i * 64 - 16 };
        assert_eq!(p.frag_offset(), want);
        rebuilt[want..want + p.payload().len()].copy_from_slice(p.payload());
    }
    assert_eq!(rebuilt, whole[20..]);
    // RFC 5722-minded reassembly (ustack's): the overlap drops the datagram.
    assert!(matches!(
        reassemble4(&frags),
        Outcome::Dropped {
            reason: FragDrop::Overlap,
            ..
        }
    ));
}

#[test]
fn bad_sizes_and_packets_are_named() {
    let whole = udp4(100);
    assert_eq!(fragment_v4(&whole, 7).unwrap_err().field, "frag_size");
    assert_eq!(
        fragment_v4_overlapping(&whole, 64, 4).unwrap_err().field,
        "overlap"
    );
    assert_eq!(
        fragment_v4_overlapping(&whole, 64, 64).unwrap_err().field,
        "overlap"
    );
    assert_eq!(fragment_v4(&whole[..19], 64).unwrap_err().field, "packet");
    assert_eq!(fragment_v6(&whole, 64, 1).unwrap_err().field, "packet");
    let mut bad = whole.clone();
    bad[0] = 0x44;
    assert_eq!(fragment_v4(&bad, 64).unwrap_err().field, "packet");
    // Offsets past 13 bits of 8-byte units.
    let far = (Ipv4::new().frag_offset(65_000) / data(1000))
        .build()
        .unwrap();
    assert_eq!(fragment_v4(&far, 256).unwrap_err().field, "ip.frag_offset");
}

fn walk(f: &[u8]) -> Walk {
    ipv6::walk(&Ipv6Packet::parse(f).unwrap()).unwrap()
}

#[test]
fn ipv6_fragments_carry_the_per_fragment_headers_and_reassemble() {
    let whole = (Ipv6::new().src(A6).dst(B6)
        / HopByHop::new()
        / Routing::new().routing_type(4).address(C6).segments_left(0)
        / DestOpts::new()
        / Udp::new()
        / data(500))
    .build()
    .unwrap();
    // Per-fragment: 40 + HBH 8 + Routing 24; fragmentable: DestOpts 8 + UDP 508.
    let frags = fragment_v6(&whole, 200, 0x1234_5678).unwrap();
    assert_eq!(frags.len(), 3);
    let mut r = Reassembler::<FragmentKey6>::new(ReassemblyLimits::DEFAULT);
    let mut last = Outcome::Incomplete;
    for (i, f) in frags.iter().enumerate() {
        assert_eq!((&f[..4], &f[6..48]), (&whole[..4], &whole[6..48]));
        assert_eq!(f[48], 44, "the Routing header names the Fragment header");
        let fragment = match walk(f) {
            Walk::Upper {
                protocol: 17,
                fragment: Some(fr),
                ..
            } if i == 0 => fr,
            Walk::LaterFragment { fragment, at } => {
                assert_eq!(at, 80);
                fragment
            }
            other => panic!("{i}: {other:?}"),
        };
        assert_eq!(
            (fragment.ident, fragment.offset, fragment.more),
            (0x1234_5678, i * 200, i < 2)
        );
        let key = FragmentKey6 {
            src: A6,
            dst: B6,
            ident: fragment.ident,
        };
        let (hdr_end, data_at) = (fragment.header_at, fragment.header_at + 8);
        last = r.insert(
            Instant::ZERO,
            Piece {
                key,
                offset: fragment.offset,
                more_fragments: fragment.more,
                header: &f[..hdr_end],
                payload: &f[data_at..],
            },
        );
    }
    match last {
        Outcome::Complete(r) => assert_eq!(r.payload, whole[72..]),
        other => panic!("{other:?}"),
    }
    // A packet that fits becomes an atomic fragment.
    let small = (Ipv6::new().src(A6).dst(B6) / Udp::new()).build().unwrap();
    let one = fragment_v6(&small, 1232, 9).unwrap();
    assert_eq!(one.len(), 1);
    match walk(&one[0]) {
        Walk::Upper {
            protocol: 17,
            fragment: Some(f),
            ..
        } => assert!(f.is_atomic()),
        other => panic!("{other:?}"),
    }
    assert_eq!(one[0].len(), small.len() + 8);
}

#[test]
fn overlapping_ipv6_fragments() {
    let whole = (Ipv6::new().src(A6).dst(B6) / Udp::new() / data(100))
        .build()
        .unwrap();
    let frags = fragment_v6_overlapping(&whole, 48, 3, 8).unwrap();
    let mut rebuilt = vec![0u8; 108];
    for (i, f) in frags.iter().enumerate() {
        assert_eq!(f[6], 44);
        let off = usize::from(u16::from_be_bytes([f[42], f[43]]) & 0xfff8);
        assert_eq!(off, if i == 0 { 0 } else { i * 48 - 8 });
        rebuilt[off..off + f.len() - 48].copy_from_slice(&f[48..]);
    }
    assert_eq!(rebuilt, whole[40..]);
    assert_eq!(
        fragment_v6(&whole[..39], 48, 1).unwrap_err().field,
        "packet"
    );
    let mut cut = whole.clone();
    cut[6] = 0; // a Hop-by-Hop header that is really UDP bytes running past the end
    cut[41] = 255;
    assert_eq!(fragment_v6(&cut, 48, 1).unwrap_err().field, "packet");
}

mod random {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_cut_reassembles(len in 0usize..3000, size in 8usize..1500, ident: u32) {
            let whole = udp4(len);
            let frags = fragment_v4(&whole, size).unwrap();
            prop_assert!(frags.iter().all(|f| f.len() <= 20 + size));
            match reassemble4(&frags) {
                Outcome::Complete(r) => prop_assert_eq!(&r.payload[..], &whole[20..]),
                other => prop_assert!(false, "{:?}", other),
            }
            let whole6 = (Ipv6::new().src(A6).dst(B6) / Udp::new() / data(len)).build().unwrap();
            let frags = fragment_v6(&whole6, size, ident).unwrap();
            let mut rebuilt = Vec::new();
            for f in &frags {
                let off = usize::from(u16::from_be_bytes([f[42], f[43]]) & 0xfff8);
                prop_assert_eq!(off, rebuilt.len());
                prop_assert_eq!(&f[44..48], &ident.to_be_bytes()[..]);
                rebuilt.extend_from_slice(&f[48..]);
            }
            prop_assert_eq!(&rebuilt[..], &whole6[40..]);
        }
    }
}
