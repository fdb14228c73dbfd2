//! SYN cookies (RFC 4987 §3.6): when the SYN queue is full, a listener encodes what it must
//! remember about a half-open connection into its own ISN and keeps no state; the ACK that
//! completes the handshake returns it as `ack - 1`.
//!
//! Layout of the 32-bit cookie (our ISN):
//!
//! ```text
//!  31      27 26  24 23                                   0
//! +----------+------+--------------------------------------+
//! | t mod 32 | mss  | SipHash(key, tuple, peer ISN, t, mss) |
//! +----------+------+--------------------------------------+
//! ```
//!
//! `t` is a counter of 64-second periods; `mss` an index into [`MSS_TABLE`]. The hash covers the
//! full counter and the MSS index, so neither can be altered without guessing a 24-bit value.
//! Options other than the MSS (window scale, SACK, timestamps) are not remembered: a connection
//! completed from a cookie runs without them, as RFC 4987 §3.6 notes.

use super::isn::tuple_bytes;
use crate::rand::siphash24;
use crate::time::Instant;
use crate::wire::tcp::SeqNumber;
use std::net::SocketAddr;

/// MSS values a cookie can remember (like Linux's `msstab`), smallest first.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1360, 1400, 1440, 1452, 1460, 8960];

/// Length of one counter period, in microseconds (64 s).
const PERIOD_MICROS: u64 = 64_000_000;
/// Oldest counter age accepted: a cookie is valid for 2-3 periods (about 2-3 minutes).
const MAX_AGE: u64 = 2;
const HASH_MASK: u32 = 0x00ff_ffff;

fn counter(now: Instant) -> u64 {
    now.total_micros() / PERIOD_MICROS
}

/// The 24-bit keyed hash over everything the cookie vouches for.
fn hash(
    key: &[u8; 16],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNumber,
    t: u64,
    mss_index: u8,
) -> u32 {
    let tuple = tuple_bytes(local, remote);
    let n = tuple.as_slice().len();
    let mut input = [0u8; 36 + 13];
    input[..n].copy_from_slice(tuple.as_slice());
    input[n..n + 4].copy_from_slice(&peer_isn.0.to_be_bytes());
    input[n + 4..n + 12].copy_from_slice(&t.to_be_bytes());
    input[n + 12] = mss_index;
    (siphash24(key, &input[..n + 13]) as u32) & HASH_MASK
}

/// The key cookies are made with: derived from `Config::secret`, separate from the ISN key
/// (so a cookie reveals nothing about ISNs, and the other way round).
pub fn key(secret: &[u8; 16]) -> [u8; 16] {
    crate::rand::derive_key(secret, crate::rand::label::SYNCOOKIE, 0)
}

/// Encodes a cookie ISN for a SYN from `remote` to `local` with peer ISN `peer_isn`, remembering
/// the MSS choice (the largest of [`MSS_TABLE`] that is <= `peer_mss`, or the smallest entry if
/// none is) and a 64-second time counter (5 bits), keyed with a secret.
pub fn encode(
    key: &[u8; 16],
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNumber,
    peer_mss: u16,
) -> SeqNumber {
    let idx = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8;
    let t = counter(now);
    let h = hash(key, local, remote, peer_isn, t, idx);
    SeqNumber((((t % 32) as u32) << 27) | (u32::from(idx) << 24) | h)
}

/// Checks the cookie in an ACK completing the handshake: `ack` is the segment's ACK (our ISN + 1),
/// `peer_seq` its SEQ (peer ISN + 1). Valid if the hash matches for a counter of age 0..=2 periods.
/// Returns the MSS that was encoded.
pub fn decode(
    key: &[u8; 16],
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_seq: SeqNumber,
    ack: SeqNumber,
) -> Option<u16> {
    // RFC 4987 §3.6: the returning ACK acknowledges cookie + 1, and its SEQ is peer ISN + 1.
    let cookie = ack.sub(1).0;
    let peer_isn = peer_seq.sub(1);
    let t_low = u64::from(cookie >> 27);
    let idx = ((cookie >> 24) & 7) as u8;
    let now_t = counter(now);
    // Only one age in 0..=MAX_AGE can have the encoded low 5 bits; reconstruct the full counter.
    let age = now_t.wrapping_sub(t_low) % 32;
    if age > MAX_AGE || age > now_t {
        return None;
    }
    let t = now_t - age;
    (hash(key, local, remote, peer_isn, t, idx) == cookie & HASH_MASK)
        .then(|| MSS_TABLE[usize::from(idx)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    /// Decodes the ACK that answers a cookie SYN-ACK `cookie` to a SYN with sequence `peer`.
    fn decode_reply(now: Instant, peer: SeqNumber, cookie: SeqNumber) -> Option<u16> {
        decode(&KEY, now, local(), remote(), peer.add(1), cookie.add(1))
    }
    use std::net::Ipv4Addr;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    fn local() -> SocketAddr {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80).into()
    }
    fn remote() -> SocketAddr {
        SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 51000).into()
    }
    fn secs(s: u64) -> Instant {
        Instant::from_micros(s * 1_000_000)
    }

    #[test]
    fn round_trip_and_mss_choice() {
        let peer = SeqNumber(0xffff_ffff);
        for (mss, expect) in [
            (1460, 1460),
            (1459, 1452),
            (65535, 8960),
            (536, 536),
            (100, 536),
            (1200, 1200),
        ] {
            let c = encode(&KEY, secs(1000), local(), remote(), peer, mss);
            let got = decode_reply(secs(1010), peer, c);
            assert_eq!(got, Some(expect), "mss {mss}");
        }
    }

    #[test]
    fn wrong_inputs_rejected() {
        let peer = SeqNumber(777);
        let c = encode(&KEY, secs(100), local(), remote(), peer, 1460);
        let ok = |k: &[u8; 16], l, r, s: SeqNumber, a: SeqNumber| decode(k, secs(100), l, r, s, a);
        assert_eq!(
            ok(&KEY, local(), remote(), peer.add(1), c.add(1)),
            Some(1460)
        );
        let other = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 3), 51000).into();
        assert_eq!(ok(&KEY, local(), other, peer.add(1), c.add(1)), None);
        let other_port = SocketAddr::new(remote().ip(), 51001);
        assert_eq!(ok(&KEY, local(), other_port, peer.add(1), c.add(1)), None);
        assert_eq!(ok(&KEY, remote(), local(), peer.add(1), c.add(1)), None);
        assert_eq!(ok(&KEY, local(), remote(), peer.add(2), c.add(1)), None);
        assert_eq!(ok(&KEY, local(), remote(), peer.add(1), c.add(2)), None);
        assert_eq!(ok(&KEY, local(), remote(), peer.add(1), c), None);
        assert_eq!(
            ok(
                b"0123456789abcdeX",
                local(),
                remote(),
                peer.add(1),
                c.add(1)
            ),
            None
        );
    }

    #[test]
    fn expiry() {
        let peer = SeqNumber(1);
        // Encoded at the very end of a period: counter 9.
        let at = Instant::from_micros(10 * PERIOD_MICROS - 1);
        let c = encode(&KEY, at, local(), remote(), peer, 1460);
        let dec = |micros: u64| decode_reply(Instant::from_micros(micros), peer, c);
        assert_eq!(dec(10 * PERIOD_MICROS - 1), Some(1460));
        assert_eq!(dec(11 * PERIOD_MICROS), Some(1460)); // age 1
        assert_eq!(dec(12 * PERIOD_MICROS - 1), Some(1460)); // age 2
        assert_eq!(dec(12 * PERIOD_MICROS), None); // age 3
        assert_eq!(dec(40 * PERIOD_MICROS), None);
        // 32 periods later the low 5 bits repeat, but the hash covers the full counter.
        assert_eq!(dec(41 * PERIOD_MICROS), None);
        // A cookie from the future (counter ahead of ours) is rejected too.
        assert_eq!(dec(8 * PERIOD_MICROS), None);
        // Near the origin, "age" must not underflow into a huge counter.
        let c0 = encode(&KEY, Instant::ZERO, local(), remote(), peer, 536);
        assert_eq!(decode_reply(Instant::ZERO, peer, c0), Some(536));
        let forged = SeqNumber(c0.0 | (31 << 27));
        assert_eq!(decode_reply(Instant::ZERO, peer, forged), None);
    }

    #[test]
    fn forged_mss_index_rejected() {
        let peer = SeqNumber(4242);
        let c = encode(&KEY, secs(50), local(), remote(), peer, 536);
        assert_eq!((c.0 >> 24) & 7, 0);
        for idx in 1..8u32 {
            let forged = SeqNumber((c.0 & !(7 << 24)) | (idx << 24));
            assert_eq!(decode_reply(secs(50), peer, forged), None);
        }
    }

    #[test]
    fn random_acks_are_rejected() {
        // xorshift64: deterministic, no dependency.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let now = secs(1_000_000);
        let peer = SeqNumber(99);
        let good = encode(&KEY, now, local(), remote(), peer, 1460);
        let mut accepted = 0;
        for _ in 0..100_000 {
            // Keep the counter and MSS bits right so every try reaches the 24-bit hash check
            // (p = 2^-24 each; expect ~0.006 hits in 100k).
            let guess = (good.0 & 0xff00_0000) | (next() as u32 & HASH_MASK);
            if guess != good.0 && decode_reply(now, peer, SeqNumber(guess)).is_some() {
                accepted += 1;
            }
            // And fully random ACKs.
            let any = SeqNumber(next() as u32);
            if any != good.add(1)
                && decode(&KEY, now, local(), remote(), peer.add(1), any).is_some()
            {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 0);
    }

    #[test]
    fn ipv6_tuples_make_their_own_cookies() {
        let l6: SocketAddr = "[2001:2::2]:80".parse().unwrap();
        let r6: SocketAddr = "[2001:2::1]:51000".parse().unwrap();
        let (now, peer) = (secs(500), SeqNumber(7));
        let c = encode(&KEY, now, l6, r6, peer, 1440);
        assert_eq!(decode(&KEY, now, l6, r6, peer.add(1), c.add(1)), Some(1440));
        // Another IPv6 peer, or the IPv4-mapped form of the same one, cannot use it.
        let other: SocketAddr = "[2001:2::3]:51000".parse().unwrap();
        assert_eq!(decode(&KEY, now, l6, other, peer.add(1), c.add(1)), None);
        let mapped: SocketAddr = "[::ffff:198.18.0.2]:51000".parse().unwrap();
        assert_eq!(decode(&KEY, now, l6, mapped, peer.add(1), c.add(1)), None);
    }
}
