//! nmap's response tables, entry by entry.

use super::*;
use PortState::*;

fn unreach(code: u8, from_target: bool) -> Answer {
    Answer::Unreach {
        reason: unreach4(code).expect("a code nmap counts"),
        from_target,
    }
}

/// The ICMP unreachable codes every nmap table lists as "filtered".
const FILTER_CODES: [u8; 7] = [0, 1, 2, 3, 9, 10, 13];

#[test]
fn syn_scan() {
    let s = ScanType::Syn;
    assert_eq!(classify(s, Answer::SynAck), Some((Open, Reason::SynAck)));
    assert_eq!(classify(s, Answer::Rst), Some((Closed, Reason::Reset)));
    for code in FILTER_CODES {
        let (state, _) = classify(s, unreach(code, true)).unwrap();
        assert_eq!(state, Filtered, "3/{code}");
    }
    assert_eq!(
        classify(s, unreach(13, false)),
        Some((Filtered, Reason::AdminProhibited))
    );
    assert_eq!(classify(s, Answer::Udp), None);
    assert_eq!(silent(s), Filtered);
}

#[test]
fn connect_scan() {
    let s = ScanType::Connect;
    assert_eq!(classify(s, Answer::SynAck), Some((Open, Reason::SynAck)));
    assert_eq!(
        classify(s, Answer::Rst),
        Some((Closed, Reason::ConnRefused))
    );
    assert_eq!(classify(s, unreach(1, false)).unwrap().0, Filtered);
    assert_eq!(silent(s), Filtered);
}

#[test]
fn udp_scan() {
    let s = ScanType::Udp;
    assert_eq!(classify(s, Answer::Udp), Some((Open, Reason::UdpResponse)));
    assert_eq!(
        classify(s, unreach(3, true)),
        Some((Closed, Reason::PortUnreach))
    );
    // Port unreachable from a router on the way: filtered, as nmap has it.
    assert_eq!(
        classify(s, unreach(3, false)),
        Some((Filtered, Reason::PortUnreach))
    );
    for code in [0, 1, 2, 9, 10, 13] {
        assert_eq!(classify(s, unreach(code, true)).unwrap().0, Filtered);
    }
    assert_eq!(classify(s, Answer::SynAck), None);
    assert_eq!(classify(s, Answer::Rst), None);
    assert_eq!(silent(s), OpenFiltered);
}

#[test]
fn fin_null_xmas_scans() {
    for s in [ScanType::Fin, ScanType::Null, ScanType::Xmas] {
        assert_eq!(classify(s, Answer::Rst), Some((Closed, Reason::Reset)));
        for code in FILTER_CODES {
            assert_eq!(classify(s, unreach(code, true)).unwrap().0, Filtered);
        }
        assert_eq!(classify(s, Answer::SynAck), None);
        assert_eq!(silent(s), OpenFiltered);
    }
}

#[test]
fn ack_scan() {
    let s = ScanType::Ack;
    assert_eq!(classify(s, Answer::Rst), Some((Unfiltered, Reason::Reset)));
    for code in FILTER_CODES {
        assert_eq!(classify(s, unreach(code, true)).unwrap().0, Filtered);
    }
    assert_eq!(classify(s, Answer::SynAck), None);
    assert_eq!(silent(s), Filtered);
}

#[test]
fn icmp_codes_as_nmap_names_them() {
    assert_eq!(unreach4(13), Some(Reason::AdminProhibited));
    assert_eq!(unreach4(10), Some(Reason::HostProhibited));
    assert_eq!(unreach4(9), Some(Reason::NetProhibited));
    // Fragmentation needed, source route failed, unknown network: not an answer.
    for code in [4, 5, 6, 7, 8, 11, 12, 14, 15, 200] {
        assert_eq!(unreach4(code), None, "3/{code}");
    }
    assert_eq!(unreach6(4), Some(Reason::PortUnreach));
    assert_eq!(unreach6(1), Some(Reason::AdminProhibited));
    assert_eq!(unreach6(6), Some(Reason::AdminProhibited));
    assert_eq!(unreach6(3), Some(Reason::HostUnreach));
    assert_eq!(unreach6(0), Some(Reason::NetUnreach));
    assert_eq!(unreach6(2), None);
}

#[test]
fn host_discovery_counts_only_the_target_itself() {
    assert_eq!(host_up(Answer::EchoReply), Some(Reason::EchoReply));
    assert_eq!(host_up(Answer::Rst), Some(Reason::Reset));
    assert_eq!(host_up(Answer::SynAck), Some(Reason::SynAck));
    assert_eq!(host_up(unreach(3, true)), Some(Reason::PortUnreach));
    assert_eq!(host_up(unreach(1, false)), None);
}
