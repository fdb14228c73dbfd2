//! Initial sequence numbers (RFC 9293 §3.4.1, RFC 6528): a 4-microsecond clock plus a keyed hash
//! of the connection's 4-tuple, so ISNs advance with time per tuple but cannot be predicted across
//! tuples by an off-path attacker.
//!
//! The keyed hash is SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012),
//! written here from the paper's description.

use crate::time::Instant;
use crate::wire::tcp::SeqNumber;
use std::net::SocketAddrV4;

/// One SipRound (paper §2: ARX network on the four 64-bit state words).
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// Compresses one 64-bit message word with two SipRounds.
fn sip_compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/// SipHash-2-4 of `data` under the 128-bit `key` (written from the paper; checked against the
/// reference test vectors).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut k0 = [0u8; 8];
    let mut k1 = [0u8; 8];
    k0.copy_from_slice(&key[..8]);
    k1.copy_from_slice(&key[8..]);
    let k0 = u64::from_le_bytes(k0);
    let k1 = u64::from_le_bytes(k1);
    // Initialization: the key xored with "somepseudorandomlygeneratedbytes".
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut w = [0u8; 8];
        w.copy_from_slice(block);
        sip_compress(&mut v, u64::from_le_bytes(w));
    }
    // The final word holds the 0..=7 leftover bytes and, in its top byte, the length mod 256.
    let rest = blocks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    sip_compress(&mut v, u64::from_le_bytes(last));
    // Finalization: four SipRounds after xoring 0xff into v2.
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The 4-tuple as hash input: local address, local port, remote address, remote port.
pub(crate) fn tuple_bytes(local: SocketAddrV4, remote: SocketAddrV4) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&local.ip().octets());
    b[4..6].copy_from_slice(&local.port().to_be_bytes());
    b[6..10].copy_from_slice(&remote.ip().octets());
    b[10..12].copy_from_slice(&remote.port().to_be_bytes());
    b
}

/// Generates initial sequence numbers under RFC 6528 §3.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl IsnGenerator {
    /// A generator keyed with `key` (RFC 6528 §3: a secret, ideally random per boot; it comes from
    /// `Config` so tests can pin it).
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator { key }
    }

    /// ISN = M + F(localip, localport, remoteip, remoteport, key), M a 4-microsecond timer
    /// (RFC 6528 §3; RFC 9293 §3.4.1).
    pub fn isn(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNumber {
        // RFC 6528 §3: M is a timer incremented every 4 microseconds (mod 2^32).
        let m = (now.total_micros() / 4) as u32;
        // RFC 6528 §3: F is a PRF of the connection-id and a secret key; use the low 32 bits.
        let f = siphash24(&self.key, &tuple_bytes(local, remote)) as u32;
        SeqNumber(m.wrapping_add(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn reference_vectors() {
        let msg: Vec<u8> = (0..64).map(|i| i as u8).collect();
        // The paper's Appendix A example: 15-byte message 00..0e.
        assert_eq!(siphash24(&key(), &msg[..15]), 0xa129_ca61_49be_45e5);
        // First entries of the reference implementation's vectors (empty and 8-byte messages).
        assert_eq!(siphash24(&key(), &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&key(), &msg[..8]), 0x93f5_f579_9a93_2462);
    }

    #[test]
    #[allow(deprecated)]
    fn agrees_with_std_siphasher_for_all_lengths() {
        use std::hash::{Hasher, SipHasher};
        let k = [0x5a; 16];
        let msg: Vec<u8> = (0..100).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..msg.len() {
            let mut h = SipHasher::new_with_keys(
                u64::from_le_bytes([0x5a; 8]),
                u64::from_le_bytes([0x5a; 8]),
            );
            h.write(&msg[..len]);
            assert_eq!(siphash24(&k, &msg[..len]), h.finish(), "len {len}");
        }
    }

    fn sa(a: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, a), port)
    }

    #[test]
    fn tuples_give_unrelated_isns() {
        let g = IsnGenerator::new(key());
        let now = Instant::from_millis(1234);
        let base = g.isn(now, sa(1, 80), sa(2, 40000));
        let others = [
            g.isn(now, sa(1, 80), sa(2, 40001)),
            g.isn(now, sa(1, 81), sa(2, 40000)),
            g.isn(now, sa(1, 80), sa(3, 40000)),
            g.isn(now, sa(2, 40000), sa(1, 80)),
        ];
        for o in others {
            // Unrelated: not equal and not within a small distance of each other.
            let d = o.distance(base).min(base.distance(o));
            assert!(d > 1 << 16, "{o} too close to {base}");
        }
        // Same inputs, same ISN (deterministic).
        assert_eq!(g.isn(now, sa(1, 80), sa(2, 40000)), base);
    }

    #[test]
    fn advances_with_time_at_four_microseconds() {
        let g = IsnGenerator::new(key());
        let t0 = Instant::from_micros(1_000_000);
        let a = g.isn(t0, sa(1, 80), sa(2, 40000));
        let b = g.isn(Instant::from_micros(1_000_400), sa(1, 80), sa(2, 40000));
        assert_eq!(b.distance(a), 100);
        assert!(b.gt(a));
        // Wraps mod 2^32 after ~4.77 hours: still 1 tick per 4 µs.
        let far = Instant::from_micros(1_000_000 + 4 * (1u64 << 32) + 8);
        assert_eq!(g.isn(far, sa(1, 80), sa(2, 40000)).distance(a), 2);
    }

    #[test]
    fn keys_differ() {
        let now = Instant::from_millis(5);
        let a = IsnGenerator::new(key()).isn(now, sa(1, 80), sa(2, 9));
        let mut k2 = key();
        k2[15] ^= 1;
        let b = IsnGenerator::new(k2).isn(now, sa(1, 80), sa(2, 9));
        assert_ne!(a, b);
    }
}
