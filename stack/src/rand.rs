//! The stack's keyed randomness: one secret (`Config::secret`, 128 bits, from the OS in the
//! bridge) and a 64-bit `Config::seed`, from which separate keys are derived for each use.
//!
//! Everything an observer can see — ephemeral ports, echo identifiers, IPv4 identification —
//! comes from SipHash-2-4 (a PRF) under a key derived from the secret, so outputs reveal neither
//! the key nor the next outputs (RFC 6528 §3, RFC 6056 §3.3, RFC 7739 §5). Tests pin the secret
//! and the seed and get the same values every run.

use crate::tcp::isn::siphash24;

/// A key for one use, derived from the secret: SipHash-2-4 of `label ‖ seed ‖ i` under the
/// secret, for i = 0, 1 (two PRF outputs make 128 bits). Different labels give independent keys,
/// so knowing one (or its outputs) says nothing about another or about the secret.
pub(crate) fn derive_key(secret: &[u8; 16], label: &[u8], seed: u64) -> [u8; 16] {
    let mut input = [0u8; 41];
    let n = label.len().min(32);
    input[..n].copy_from_slice(&label[..n]);
    input[n..n + 8].copy_from_slice(&seed.to_le_bytes());
    let mut key = [0u8; 16];
    for (i, half) in key.chunks_exact_mut(8).enumerate() {
        input[n + 8] = i as u8;
        half.copy_from_slice(&siphash24(secret, &input[..n + 9]).to_le_bytes());
    }
    key
}

/// Labels of the derived keys (one per use).
pub(crate) mod label {
    /// The generator for ephemeral ports and echo identifiers.
    pub(crate) const RNG: &[u8] = b"ustack rng";
    /// IPv4 identification (RFC 7739 §5.3).
    pub(crate) const IP_IDENT: &[u8] = b"ustack ip ident";
    /// SYN cookies (RFC 4987 §3.6).
    pub(crate) const SYNCOOKIE: &[u8] = b"ustack syncookie";
    /// TCP timestamp offsets (RFC 7323 §5.4).
    pub(crate) const TS_OFFSET: &[u8] = b"ustack ts offset";
}

/// The TCP timestamp clock's offset towards `remote` (RFC 7323 §5.4: a random offset so TSval
/// reveals no uptime): a keyed hash of the address pair, as Linux's `secure_tcp_ts_off`. One
/// offset per host pair keeps TSvals monotonic across that peer's connections (PAWS and RFC 6191
/// TIME-WAIT reuse rely on it); unlike an offset derived from the ISN, it says nothing about the
/// clock to someone who sees both.
pub(crate) fn ts_offset(
    secret: &[u8; 16],
    local: std::net::Ipv4Addr,
    remote: std::net::Ipv4Addr,
) -> u32 {
    let key = derive_key(secret, label::TS_OFFSET, 0);
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(&local.octets());
    input[4..].copy_from_slice(&remote.octets());
    siphash24(&key, &input) as u32
}

/// A keyed generator: SipHash-2-4 of a counter (a PRF in counter mode), so its outputs do not
/// reveal its state the way a plain PRNG's do. Not for keys; for choices an observer must not
/// predict.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    key: [u8; 16],
    counter: u64,
}

impl Rng {
    /// A generator keyed from the secret and the seed.
    pub(crate) fn new(secret: &[u8; 16], seed: u64) -> Self {
        Rng {
            key: derive_key(secret, label::RNG, seed),
            counter: 0,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        siphash24(&self.key, &self.counter.to_le_bytes())
    }

    /// A value in `lo..=hi` (slightly biased for huge ranges, which is fine here).
    pub(crate) fn range_u16(&mut self, lo: u16, hi: u16) -> u16 {
        let span = u64::from(hi - lo) + 1;
        lo + (self.next_u64() % span) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::new(&K, 7);
        let mut b = Rng::new(&K, 7);
        for _ in 0..1000 {
            let x = a.range_u16(49152, 65535);
            assert_eq!(x, b.range_u16(49152, 65535));
            assert!(x >= 49152);
        }
        assert_ne!(Rng::new(&K, 1).next_u64(), Rng::new(&K, 2).next_u64());
        let mut k2 = K;
        k2[0] ^= 1;
        assert_ne!(Rng::new(&K, 1).next_u64(), Rng::new(&k2, 1).next_u64());
    }

    #[test]
    fn derived_keys_are_separate() {
        let a = derive_key(&K, label::RNG, 0);
        let b = derive_key(&K, label::IP_IDENT, 0);
        let c = derive_key(&K, label::SYNCOOKIE, 0);
        assert!(a != b && b != c && a != c && a != K && b != K && c != K);
        assert_ne!(derive_key(&K, label::RNG, 1), a);
        assert_eq!(derive_key(&K, label::RNG, 0), a);
    }
}
