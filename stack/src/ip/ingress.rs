//! Ingress checks of one IPv4 packet once its header parsed (`wire::ipv4` checks version, IHL,
//! lengths and checksum): martian sources and what kind of destination it was sent to; and the
//! header a reassembled datagram is presented with.

use crate::config::Config;
use crate::stats::DropReason;
use crate::wire::ipv4::{raw, MAX_DATAGRAM};
use std::net::Ipv4Addr;

/// How the destination of a received datagram relates to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DstKind {
    /// Our unicast address.
    Local,
    /// Limited or directed broadcast.
    Broadcast,
    /// A multicast group.
    Multicast,
}

/// Whether `a` can be the source of a datagram (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7).
pub(crate) fn is_unicast_source(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(o[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast() || o[0] >= 240)
}

/// Refuses martian sources and packets not for us; otherwise says whether the destination is our
/// address, a broadcast or a multicast group.
pub(crate) fn classify(cfg: &Config, src: Ipv4Addr, dst: Ipv4Addr) -> Result<DstKind, DropReason> {
    // RFC 1122 §3.2.1.3 / RFC 1812 §5.3.7: a source that cannot be a host is discarded. Our
    // own address arriving from the link is a spoof or a loop; a directed broadcast source is
    // forbidden by RFC 1122 §3.2.1.3 (d) (answering it would go to every host on the link).
    if !is_unicast_source(src) || src == cfg.addr || Some(src) == cfg.directed_broadcast() {
        return Err(DropReason::Ipv4MartianSource);
    }
    // A host does not forward (RFC 1122 §3.3.1.5 for hosts that are not gateways).
    dst_kind(cfg, dst).ok_or(DropReason::Ipv4NotForUs)
}

/// Whether `dst` is our address, a broadcast or a multicast group; `None` if it is none of ours.
pub(crate) fn dst_kind(cfg: &Config, dst: Ipv4Addr) -> Option<DstKind> {
    if dst == cfg.addr {
        Some(DstKind::Local)
    } else if dst.is_broadcast() || Some(dst) == cfg.directed_broadcast() {
        Some(DstKind::Broadcast)
    } else if dst.is_multicast() {
        Some(DstKind::Multicast)
    } else {
        None
    }
}

/// Turns the first fragment's header into the header of the reassembled datagram (as Linux
/// presents it; ICMP errors quote it).
pub(crate) fn rewrite_reassembled_header(header: &mut [u8], total: usize) {
    raw::rewrite_as_whole(header, total.min(MAX_DATAGRAM) as u16);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_that_cannot_be_a_host() {
        assert!(is_unicast_source(Ipv4Addr::new(198, 18, 0, 1)));
        for a in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(0, 1, 2, 3),
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(240, 0, 0, 1),
            Ipv4Addr::BROADCAST,
        ] {
            assert!(!is_unicast_source(a), "{a}");
        }
    }

    #[test]
    fn destination_kinds() {
        let cfg = Config::default();
        let peer = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(classify(&cfg, peer, cfg.addr), Ok(DstKind::Local));
        let bcast = Ipv4Addr::new(198, 18, 0, 255);
        assert_eq!(classify(&cfg, peer, bcast), Ok(DstKind::Broadcast));
        assert_eq!(
            classify(&cfg, peer, Ipv4Addr::BROADCAST),
            Ok(DstKind::Broadcast)
        );
        let group = Ipv4Addr::new(224, 0, 0, 1);
        assert_eq!(classify(&cfg, peer, group), Ok(DstKind::Multicast));
        let other = Ipv4Addr::new(198, 18, 0, 3);
        assert_eq!(classify(&cfg, peer, other), Err(DropReason::Ipv4NotForUs));
        assert_eq!(
            classify(&cfg, cfg.addr, cfg.addr),
            Err(DropReason::Ipv4MartianSource)
        );
        assert_eq!(
            classify(&cfg, bcast, cfg.addr),
            Err(DropReason::Ipv4MartianSource)
        );
    }
}
