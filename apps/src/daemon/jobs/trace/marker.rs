//! What an ICMP or ICMPv6 error says about a probe — a hop, the destination, or a refusal —
//! and the marker traceroute and tracepath print for a refusal.

use std::net::IpAddr;
use ustack::IcmpError;

/// Why a probe's answer ends the trace without reaching the destination (traceroute's `!`
/// annotations, from ICMP destination unreachable codes, RFC 792 / RFC 1812 §5.2.7.1, and
/// ICMPv6's, RFC 4443 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// `!N`: network unreachable (codes 0, 6, 11; ICMPv6: no route, 0).
    Net,
    /// `!H`: host unreachable (codes 1, 7, 8, 12; ICMPv6: beyond scope 2, address
    /// unreachable 3).
    Host,
    /// `!P`: protocol unreachable (2).
    Protocol,
    /// `!F-<mtu>`: fragmentation needed and DF set (4), or ICMPv6 packet too big, outside
    /// `pmtu` mode.
    Frag(u16),
    /// `!S`: source route failed (5).
    SourceRoute,
    /// `!X`: communication administratively prohibited (9, 10, 13; ICMPv6: 1).
    Prohibited,
    /// `!V`: host precedence violation (14).
    Precedence,
    /// `!C`: precedence cutoff (15).
    Cutoff,
    /// `!<code>`: any other code (ICMPv6's source address failed policy, 5, and reject route,
    /// 6, among them, as traceroute shows them).
    Other(u8),
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Marker::Net => f.write_str("!N"),
            Marker::Host => f.write_str("!H"),
            Marker::Protocol => f.write_str("!P"),
            Marker::Frag(m) => write!(f, "!F-{m}"),
            Marker::SourceRoute => f.write_str("!S"),
            Marker::Prohibited => f.write_str("!X"),
            Marker::Precedence => f.write_str("!V"),
            Marker::Cutoff => f.write_str("!C"),
            Marker::Other(c) => write!(f, "!{c}"),
        }
    }
}

impl Marker {
    /// The marker as `tracepath -6` prints it: tracepath shows the errno the kernel made of
    /// the ICMPv6 code (net/ipv6/icmp.c's `icmpv6_err_convert`) — ENETUNREACH `!N`,
    /// EHOSTUNREACH `!H`, EACCES `!A` (administratively prohibited, failed policy, reject
    /// route) — where traceroute prints `!X` or the code.
    pub fn tracepath6(self) -> String {
        match self {
            Marker::Prohibited | Marker::Other(5 | 6) => "!A".into(),
            m => m.to_string(),
        }
    }
}

/// How an ICMP or ICMPv6 error about a probe to `dst` answers: `(marker, reached)` — a hop
/// (neither), the destination (reached), or a refusal (a marker).
pub(super) fn classify(e: &IcmpError, dst: IpAddr) -> (Option<Marker>, bool) {
    if e.is_v6() {
        classify6(e)
    } else {
        classify4(e, dst)
    }
}

/// ICMP (RFC 792), as traceroute marks it.
fn classify4(e: &IcmpError, dst: IpAddr) -> (Option<Marker>, bool) {
    use ustack::wire::icmp::{types, unreach};
    if e.icmp_type == types::TIME_EXCEEDED {
        return (None, false);
    }
    if e.icmp_type != types::DEST_UNREACHABLE {
        return (Some(Marker::Other(e.icmp_type)), false);
    }
    let marker = match e.code {
        // Port unreachable ends a UDP trace: the datagram reached a host that has no such port.
        unreach::PORT => return (None, true),
        // Protocol unreachable from the destination itself also means it was reached.
        unreach::PROTOCOL if e.from == dst => return (None, true),
        unreach::NET | 6 | 11 => Marker::Net,
        unreach::HOST | 7 | 8 | 12 => Marker::Host,
        unreach::PROTOCOL => Marker::Protocol,
        unreach::FRAG_NEEDED => Marker::Frag(e.next_hop_mtu),
        5 => Marker::SourceRoute,
        9 | 10 | 13 => Marker::Prohibited,
        14 => Marker::Precedence,
        15 => Marker::Cutoff,
        c => Marker::Other(c),
    };
    (Some(marker), false)
}

/// ICMPv6 (RFC 4443 §3), as traceroute marks it over IPv6: hop limit exceeded (§3.3) is a
/// hop, port unreachable the destination; no route `!N`, administratively prohibited `!X`,
/// beyond scope and address unreachable `!H`, packet too big (§3.2) `!F-<mtu>`, any other
/// code `!<code>`. A parameter problem is no answer traceroute ends on either: `!<type>`.
fn classify6(e: &IcmpError) -> (Option<Marker>, bool) {
    use ustack::wire::icmpv6::{types, unreach};
    let marker = match (e.icmp_type, e.code) {
        (types::TIME_EXCEEDED, _) => return (None, false),
        (types::PACKET_TOO_BIG, _) => Marker::Frag(e.next_hop_mtu),
        (types::DEST_UNREACHABLE, unreach::PORT) => return (None, true),
        (types::DEST_UNREACHABLE, unreach::NO_ROUTE) => Marker::Net,
        (types::DEST_UNREACHABLE, unreach::PROHIBITED) => Marker::Prohibited,
        (types::DEST_UNREACHABLE, 2 | unreach::ADDRESS) => Marker::Host,
        (types::DEST_UNREACHABLE, c) => Marker::Other(c),
        (t, _) => Marker::Other(t),
    };
    (Some(marker), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn err(icmp_type: u8, code: u8, from: Ipv4Addr) -> IcmpError {
        IcmpError {
            from: std::net::IpAddr::V4(from),
            ttl: 64,
            icmp_type,
            code,
            original_dst: std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
                Ipv4Addr::new(198, 19, 3, 2),
                33434,
            )),
            next_hop_mtu: if code == 4 { 1280 } else { 0 },
        }
    }

    #[test]
    fn answers_classify_like_traceroute() {
        let dst = Ipv4Addr::new(198, 19, 3, 2);
        let r = Ipv4Addr::new(198, 19, 1, 2);
        assert_eq!(
            classify(&err(11, 0, r), std::net::IpAddr::V4(dst)),
            (None, false)
        );
        assert_eq!(
            classify(&err(3, 3, dst), std::net::IpAddr::V4(dst)),
            (None, true)
        );
        assert_eq!(
            classify(&err(3, 0, r), std::net::IpAddr::V4(dst)),
            (Some(Marker::Net), false)
        );
        assert_eq!(
            classify(&err(3, 1, r), std::net::IpAddr::V4(dst)),
            (Some(Marker::Host), false)
        );
        assert_eq!(
            classify(&err(3, 2, r), std::net::IpAddr::V4(dst)),
            (Some(Marker::Protocol), false)
        );
        assert_eq!(
            classify(&err(3, 2, dst), std::net::IpAddr::V4(dst)),
            (None, true)
        );
        assert_eq!(
            classify(&err(3, 13, r), std::net::IpAddr::V4(dst)),
            (Some(Marker::Prohibited), false)
        );
        assert_eq!(
            classify(&err(3, 4, r), std::net::IpAddr::V4(dst)),
            (Some(Marker::Frag(1280)), false)
        );
        assert_eq!(Marker::Frag(1280).to_string(), "!F-1280");
        assert_eq!(Marker::Other(3).to_string(), "!3");
    }

    fn err6(icmp_type: u8, code: u8, from: &str) -> IcmpError {
        IcmpError {
            from: from.parse().unwrap(),
            ttl: 62,
            icmp_type,
            code,
            original_dst: "[2001:2:0:3::2]:33434".parse().unwrap(),
            next_hop_mtu: if icmp_type == 2 { 1400 } else { 0 },
        }
    }

    #[test]
    fn icmpv6_answers_classify_like_traceroute6() {
        let dst: IpAddr = "2001:2:0:3::2".parse().unwrap();
        let r = "2001:2:0:1::2";
        let of = |t, c, from| classify(&err6(t, c, from), dst);
        assert_eq!(of(3, 0, r), (None, false), "hop limit exceeded: a hop");
        assert_eq!(of(1, 4, "2001:2:0:3::2"), (None, true), "port unreachable");
        assert_eq!(of(1, 0, r), (Some(Marker::Net), false));
        assert_eq!(of(1, 1, r), (Some(Marker::Prohibited), false));
        assert_eq!(of(1, 2, r), (Some(Marker::Host), false));
        assert_eq!(of(1, 3, r), (Some(Marker::Host), false));
        assert_eq!(of(1, 6, r), (Some(Marker::Other(6)), false));
        assert_eq!(of(2, 0, r), (Some(Marker::Frag(1400)), false));
        assert_eq!(of(4, 1, r), (Some(Marker::Other(4)), false));
        // tracepath -6 prints the kernel's errno: EACCES for prohibited, policy, reject.
        assert_eq!(Marker::Prohibited.to_string(), "!X");
        assert_eq!(Marker::Prohibited.tracepath6(), "!A");
        assert_eq!(Marker::Other(6).tracepath6(), "!A");
        assert_eq!(Marker::Net.tracepath6(), "!N");
        assert_eq!(Marker::Host.tracepath6(), "!H");
    }
}
