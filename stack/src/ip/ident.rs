//! IPv4 identification (RFC 791 §3.2, RFC 6864, RFC 7739 §5.3): a fixed table of counters,
//! indexed by a keyed hash of (source, destination, protocol), each offset by another part of that
//! hash.
//!
//! RFC 6864 §4 asks only that an id be unique per (src, dst, protocol) within the datagram's
//! lifetime; one global counter does that but lets anyone who pings the stack count the datagrams
//! it sends to everyone else (the idle scan) and predict fragment ids (RFC 7739 §3). With a
//! counter per bucket, a flow's ids advance only with traffic of the flows that share its bucket
//! (1 in `Config::ip_ident_buckets` by chance), and their values are unrelated to other flows'.
//! Memory is fixed (2 bytes per bucket), each id O(1). This is Linux's scheme (`ip_idents`).

use crate::rand::siphash24;
use std::net::Ipv4Addr;

/// The identification generator of one stack.
#[derive(Clone, Debug)]
pub(crate) struct IdentGenerator {
    key: [u8; 16],
    counters: Box<[u16]>,
}

impl IdentGenerator {
    /// `buckets` counters (at least 1), keyed with `key` (a key derived for this use only).
    pub(crate) fn new(key: [u8; 16], buckets: usize) -> Self {
        IdentGenerator {
            key,
            counters: vec![0; buckets.max(1)].into_boxed_slice(),
        }
    }

    /// The id of the next datagram from `src` to `dst` carrying `protocol`.
    pub(crate) fn next(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        let mut input = [0u8; 9];
        input[..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        input[8] = protocol;
        let h = siphash24(&self.key, &input);
        // RFC 7739 §5.3: index = F(src, dst, protocol, k1) mod N; id = counter[index] +
        // G(src, dst, protocol, k2). Both F and G are (disjoint bits of) one keyed PRF output.
        let index = ((h & 0xffff_ffff) % self.counters.len() as u64) as usize;
        let offset = (h >> 48) as u16;
        let c = &mut self.counters[index];
        *c = c.wrapping_add(1);
        c.wrapping_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    #[test]
    fn a_flow_never_repeats_within_65536_datagrams() {
        let mut g = IdentGenerator::new([3; 16], 2048);
        let mut seen = vec![false; 65536];
        for _ in 0..65536 {
            let id = g.next(A, B, 17);
            assert!(!seen[usize::from(id)], "id {id} repeated");
            seen[usize::from(id)] = true;
        }
    }

    #[test]
    fn protocols_and_keys_give_other_ids() {
        let mut g = IdentGenerator::new([3; 16], 2048);
        let mut h = IdentGenerator::new([4; 16], 2048);
        let udp = g.next(A, B, 17);
        let icmp = g.next(A, B, 1);
        assert_ne!(udp.wrapping_add(1), icmp);
        assert_ne!(h.next(A, B, 17), udp);
    }

    #[test]
    fn one_bucket_still_works() {
        let mut g = IdentGenerator::new([3; 16], 0);
        let a = g.next(A, B, 17);
        assert_eq!(g.next(A, B, 17), a.wrapping_add(1));
    }
}
