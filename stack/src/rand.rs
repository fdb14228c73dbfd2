//! The stack's keyed randomness: one secret (`Config::secret`, 128 bits, from the OS in the
//! bridge) and a 64-bit `Config::seed`, from which separate keys are derived for each use.
//!
//! Everything an observer can see — ephemeral ports, echo identifiers, IPv4 identification —
//! comes from SipHash-2-4 (a PRF) under a key derived from the secret, so outputs reveal neither
//! the key nor the next outputs (RFC 6528 §3, RFC 6056 §3.3, RFC 7739 §5). Tests pin the secret
//! and the seed and get the same values every run.
//!
//! The PRF is SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012),
//! written here from the paper's description: the ISN hash (RFC 6528 §3), SYN cookies, IPv4
//! identification, ports and timestamp offsets all use this one function.

use std::net::IpAddr;

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
/// reference test vectors below).
pub(crate) fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
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
    /// IPv6 flow labels (RFC 6437 §3).
    pub(crate) const FLOW_LABEL: &[u8] = b"ustack flow label";
}

/// The TCP timestamp clock's offset towards `remote` (RFC 7323 §5.4: a random offset so TSval
/// reveals no uptime): a keyed hash of the address pair, as Linux's `secure_tcp_ts_off`. One
/// offset per host pair keeps TSvals monotonic across that peer's connections (PAWS and RFC 6191
/// TIME-WAIT reuse rely on it); unlike an offset derived from the ISN, it says nothing about the
/// clock to someone who sees both.
pub(crate) fn ts_offset(secret: &[u8; 16], local: IpAddr, remote: IpAddr) -> u32 {
    let key = derive_key(secret, label::TS_OFFSET, 0);
    let mut input = [0u8; 32];
    let n = put_addr(&mut input, local);
    let n = n + put_addr(&mut input[n..], remote);
    siphash24(&key, &input[..n]) as u32
}

/// Writes an address into `out` as hash input (its 4 or 16 bytes); returns how many. The
/// family shows in the length, so an IPv4 address and its IPv6 mapping never hash alike.
pub(crate) fn put_addr(out: &mut [u8], addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            out[..16].copy_from_slice(&a.octets());
            16
        }
    }
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

    /// `vectors_sip64` of the SipHash reference implementation (vectors.h): SipHash-2-4 under
    /// the key 00 01 … 0f of the messages 00 01 … (i − 1), i = 0..64, each read as a
    /// little-endian u64.
    const REFERENCE: [u64; 64] = [
        0x726f_db47_dd0e_0e31,
        0x74f8_39c5_93dc_67fd,
        0x0d6c_8009_d9a9_4f5a,
        0x8567_6696_d7fb_7e2d,
        0xcf27_94e0_2771_87b7,
        0x1876_5564_cd99_a68d,
        0xcbc9_466e_58fe_e3ce,
        0xab02_00f5_8b01_d137,
        0x93f5_f579_9a93_2462,
        0x9e00_82df_0ba9_e4b0,
        0x7a5d_bbc5_94dd_b9f3,
        0xf4b3_2f46_226b_ada7,
        0x751e_8fbc_860e_e5fb,
        0x14ea_5627_c084_3d90,
        0xf723_ca90_8e7a_f2ee,
        0xa129_ca61_49be_45e5,
        0x3f2a_cc7f_57c2_9bdb,
        0x699a_e9f5_2cbe_4794,
        0x4bc1_b3f0_968d_d39c,
        0xbb6d_c91d_a779_61bd,
        0xbed6_5cf2_1aa2_ee98,
        0xd0f2_cbb0_2e3b_67c7,
        0x9353_6795_e3a3_3e88,
        0xa80c_038c_cd5c_cec8,
        0xb8ad_50c6_f649_af94,
        0xbce1_92de_8a85_b8ea,
        0x17d8_35b8_5bbb_15f3,
        0x2f2e_6163_076b_cfad,
        0xde4d_aaac_a71d_c9a5,
        0xa6a2_5066_8795_6571,
        0xad87_a353_5c49_ef28,
        0x32d8_92fa_d841_c342,
        0x7127_512f_72f2_7cce,
        0xa7f3_2346_f959_78e3,
        0x12e0_b01a_bb05_1238,
        0x15e0_34d4_0fa1_97ae,
        0x314d_ffbe_0815_a3b4,
        0x0279_90f0_2962_3981,
        0xcadc_d4e5_9ef4_0c4d,
        0x9abf_d876_6a33_735c,
        0x0e3e_a96b_5304_a7d0,
        0xad0c_42d6_fc58_5992,
        0x1873_06c8_9bc2_15a9,
        0xd4a6_0abc_f379_2b95,
        0xf935_451d_e4f2_1df2,
        0xa953_8f04_1975_5787,
        0xdb9a_cddf_f56c_a510,
        0xd06c_98cd_5c09_75eb,
        0xe612_a3cb_9ecb_a951,
        0xc766_e62c_fcad_af96,
        0xee64_435a_9752_fe72,
        0xa192_d576_b245_165a,
        0x0a87_87bf_8ecb_74b2,
        0x81b3_e73d_20b4_9b6f,
        0x7fa8_220b_a3b2_ecea,
        0x2457_31c1_3ca4_2499,
        0xb78d_bfaf_3a8d_83bd,
        0xea1a_d565_322a_1a0b,
        0x60e6_1c23_a379_5013,
        0x6606_d7e4_4628_2b93,
        0x6ca4_ecb1_5c5f_91e1,
        0x9f62_6da1_5c96_25f3,
        0xe51b_3860_8ef2_5f57,
        0x958a_324c_eb06_4572,
    ];

    #[test]
    fn siphash_matches_the_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..64).map(|i| i as u8).collect();
        for (len, &want) in REFERENCE.iter().enumerate() {
            assert_eq!(siphash24(&key, &msg[..len]), want, "message of {len} bytes");
        }
        // The paper's Appendix A example: the 15-byte message 00..0e.
        assert_eq!(siphash24(&key, &msg[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    #[allow(deprecated)]
    fn siphash_agrees_with_std_siphasher_for_all_lengths() {
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
