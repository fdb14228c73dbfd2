//! IPv6 path MTUs per destination for what the stack sends without TCP (echo, UDP): RFC 8201
//! §4 — a node MUST reduce the size of the packets it sends on a path after a Packet Too Big,
//! and IPv6 routers never fragment, so without this a datagram larger than a narrower hop would
//! never arrive (the source fragments it to the path's MTU instead). TCP keeps its own path MTU
//! per connection (`tcp::icmp_error`).
//!
//! Bounded: at most [`MAX_ENTRIES`] destinations (a full cache replaces the entry that would
//! expire first), each forgotten after [`LIFETIME`] (RFC 8201 §4: do not try a larger MTU
//! sooner than 5 minutes, 10 recommended), never below 1280 (§4). A forged Packet Too Big can
//! at worst hold a path at 1280 for ten minutes.

use crate::time::{Duration, Instant};
use std::collections::HashMap;
use std::net::Ipv6Addr;

/// Most destinations remembered.
pub(crate) const MAX_ENTRIES: usize = 256;
/// How long a lowered path MTU holds (RFC 8201 §4's recommended 10 minutes).
pub(crate) const LIFETIME: Duration = Duration::from_secs(600);
/// IPv6's minimum link MTU (RFC 8200 §5).
const MIN_MTU: u16 = 1280;

/// Lowered path MTUs by destination.
#[derive(Debug, Default)]
pub(crate) struct PathMtus {
    entries: HashMap<Ipv6Addr, (u16, Instant)>,
}

impl PathMtus {
    /// The path MTU towards `dst` at `now`, if a Packet Too Big lowered it (and it has not
    /// expired).
    pub(crate) fn get(&self, dst: Ipv6Addr, now: Instant) -> Option<u16> {
        self.entries
            .get(&dst)
            .filter(|(_, until)| *until > now)
            .map(|(mtu, _)| *mtu)
    }

    /// A Packet Too Big reported `mtu` for a packet of ours to `dst`, on a link of `link_mtu`:
    /// the path MTU becomes the report (at least 1280, RFC 8201 §4) if that is lower than what
    /// it was. Returns the new path MTU if it changed.
    pub(crate) fn lower(
        &mut self,
        dst: Ipv6Addr,
        mtu: u32,
        link_mtu: u16,
        now: Instant,
    ) -> Option<u16> {
        let reported = mtu.clamp(u32::from(MIN_MTU), u32::from(u16::MAX)) as u16;
        let current = self.get(dst, now).unwrap_or(link_mtu);
        if reported >= current {
            return None;
        }
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&dst) {
            self.entries.retain(|_, (_, until)| *until > now);
            if self.entries.len() >= MAX_ENTRIES {
                let first = self.entries.iter().min_by_key(|(_, (_, until))| *until);
                if let Some(&victim) = first.map(|(a, _)| a) {
                    self.entries.remove(&victim);
                }
            }
        }
        self.entries.insert(dst, (reported, now + LIFETIME));
        Some(reported)
    }

    /// Destinations remembered (expired ones included until replaced).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 3, 0, 0, 0, 2);

    #[test]
    fn lowered_never_raised_never_below_1280_and_forgotten_after_its_lifetime() {
        let mut p = PathMtus::default();
        let t = Instant::ZERO;
        assert_eq!(p.lower(D, 1400, 1500, t), Some(1400));
        assert_eq!(p.lower(D, 1450, 1500, t), None, "never raised by a report");
        assert_eq!(p.lower(D, 1500, 1500, t), None);
        assert_eq!(
            p.lower(D, 600, 1500, t),
            Some(1280),
            "RFC 8201 §4: 1280 at least"
        );
        assert_eq!(p.lower(D, 0, 1500, t), None);
        assert_eq!(p.get(D, t + Duration::from_secs(599)), Some(1280));
        assert_eq!(p.get(D, t + LIFETIME), None);
        // A report at or above the link's MTU says nothing.
        assert_eq!(p.lower(Ipv6Addr::LOCALHOST, 1500, 1500, t), None);
    }

    #[test]
    fn a_full_cache_replaces_the_entry_expiring_first() {
        let mut p = PathMtus::default();
        for i in 0..MAX_ENTRIES as u16 {
            let at = Instant::ZERO + Duration::from_secs(u64::from(i));
            let d = Ipv6Addr::new(0x2001, 2, 0, 9, 0, 0, 0, i);
            assert!(p.lower(d, 1300, 1500, at).is_some());
        }
        let late = Instant::ZERO + Duration::from_secs(300);
        assert!(p.lower(D, 1300, 1500, late).is_some());
        assert_eq!(p.len(), MAX_ENTRIES);
        assert_eq!(
            p.get(Ipv6Addr::new(0x2001, 2, 0, 9, 0, 0, 0, 0), late),
            None
        );
        assert_eq!(p.get(D, late), Some(1300));
    }
}
