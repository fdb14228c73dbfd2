//! Initial sequence numbers (RFC 9293 §3.4.1, RFC 6528): a 4-microsecond clock plus a keyed hash
//! of the connection's 4-tuple, so ISNs advance with time per tuple but cannot be predicted across
//! tuples by an off-path attacker.
//!
//! The keyed hash is SipHash-2-4 (`crate::rand::siphash24`).

use crate::rand::{put_addr, siphash24};
use crate::time::Instant;
use crate::wire::tcp::SeqNumber;
use std::net::SocketAddr;

/// The 4-tuple as hash input: local address, local port, remote address, remote port (12
/// bytes for IPv4, 36 for IPv6).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuple {
    bytes: [u8; 36],
    len: usize,
}

impl Tuple {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

pub(crate) fn tuple_bytes(local: SocketAddr, remote: SocketAddr) -> Tuple {
    let mut b = [0u8; 36];
    let mut n = put_addr(&mut b, local.ip());
    b[n..n + 2].copy_from_slice(&local.port().to_be_bytes());
    n += 2;
    n += put_addr(&mut b[n..], remote.ip());
    b[n..n + 2].copy_from_slice(&remote.port().to_be_bytes());
    Tuple {
        bytes: b,
        len: n + 2,
    }
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
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNumber {
        // RFC 6528 §3: M is a timer incremented every 4 microseconds (mod 2^32).
        let m = (now.total_micros() / 4) as u32;
        // RFC 6528 §3: F is a PRF of the connection-id and a secret key; use the low 32 bits.
        let f = siphash24(&self.key, tuple_bytes(local, remote).as_slice()) as u32;
        SeqNumber(m.wrapping_add(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::net::SocketAddrV4;

    fn key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    fn sa(a: u8, port: u16) -> SocketAddr {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, a), port).into()
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
