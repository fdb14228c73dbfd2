//! The mutation engine (sans-IO): scapy's `fuzz()` over a template. Each chosen field of each
//! layer gets a random value of its width; by default the chosen fields are every field the
//! builder does not compute (lengths, checksums and the protocol stay computed, so the packet
//! still parses far enough to reach the code behind them) — `fields` names others, and
//! `fuzz_computed` adds the computed ones. Addresses are never fuzzed (the destination is the
//! target the rule checked).
//!
//! Packet `n` of seed `s` is a pure function of (template, fields, s, n): its generator is
//! seeded from `s` and `n` alone (xoshiro256++ from `rand`, a named portable algorithm), so
//! `--seed s --from n` rebuilds it exactly, on any machine, without replaying packets 0..n.

use super::fields::{self, Field, Kind};
use rand::{Rng, SeedableRng};
use std::fmt;
use ustack::wire::build::{BuildError, Layer, Packet, Raw};

/// One field of one layer to randomise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Index of the layer in the template.
    pub layer: usize,
    /// The field.
    pub field: &'static Field,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.field.kind.name(), self.field.name)
    }
}

/// A template and the fields to randomise in it.
#[derive(Clone, Debug)]
pub struct Fuzzer {
    template: Packet,
    targets: Vec<Target>,
    seed: u64,
}

impl Fuzzer {
    /// The fuzzer of `template` with `seed`. `names` (`tcp.flags`, `ip.ttl` …, or `tcp.*` for
    /// every non-computed field of a layer) restricts the fields to those (each must name a
    /// field of a layer the template has: the first layer of that kind); empty: every non-computed field of every layer, and the computed ones too
    /// with `fuzz_computed`.
    pub fn new(
        template: Packet,
        names: &[String],
        fuzz_computed: bool,
        seed: u64,
    ) -> Result<Fuzzer, String> {
        let kinds: Vec<Option<Kind>> = template.layers().iter().map(Kind::of).collect();
        let mut targets = Vec::new();
        if names.is_empty() {
            for (i, k) in kinds.iter().enumerate() {
                let Some(k) = k else { continue };
                for field in fields::of_kind(*k) {
                    if !field.computed || fuzz_computed {
                        targets.push(Target { layer: i, field });
                    }
                }
            }
        }
        for name in names {
            let (layer, field) = name.split_once('.').ok_or_else(|| {
                format!("field `{name}`: expected LAYER.FIELD (ip.ttl, tcp.flags)")
            })?;
            let kind = Kind::parse(layer)
                .ok_or_else(|| format!("field `{name}`: unknown layer `{layer}`"))?;
            let i = kinds.iter().position(|k| *k == Some(kind)).ok_or_else(|| {
                format!("field `{name}`: the template has no {} layer", kind.name())
            })?;
            if field == "*" {
                // `tcp.*`: every field of the layer the builder does not compute.
                for field in fields::of_kind(kind).filter(|f| !f.computed || fuzz_computed) {
                    let t = Target { layer: i, field };
                    if !targets.contains(&t) {
                        targets.push(t);
                    }
                }
                continue;
            }
            let field = fields::find(kind, field).ok_or_else(|| {
                format!(
                    "field `{name}`: {} has no fuzzable field `{field}` (fields: {})",
                    kind.name(),
                    fields::of_kind(kind)
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let t = Target { layer: i, field };
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        Ok(Fuzzer {
            template,
            targets,
            seed,
        })
    }

    /// The fields randomised, as `layer.field`.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The template.
    pub fn template(&self) -> &Packet {
        &self.template
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Packet `n`, as layers.
    pub fn packet(&self, n: u64) -> Packet {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(mix(self.seed, n));
        let mut p = self.template.clone();
        let layers = p.layers_mut();
        for t in &self.targets {
            let Some(layer) = layers.get_mut(t.layer) else {
                continue;
            };
            if t.field.bits == 0 {
                if let Layer::Raw(Raw(bytes)) = layer {
                    rng.fill_bytes(bytes);
                }
                continue;
            }
            fields::set(layer, t.field, rng.next_u64());
        }
        p
    }

    /// Packet `n`'s bytes, or the field that cannot be built (a counted skip).
    pub fn bytes(&self, n: u64) -> Result<Vec<u8>, BuildError> {
        self.packet(n).build()
    }
}

/// The generator seed of packet `n` of seed `seed`: SplitMix64's finaliser over both, so
/// neighbouring packets and seeds get unrelated streams.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::template::parse;
    use super::*;

    fn fuzzer(t: &str, fields: &[&str], computed: bool, seed: u64) -> Fuzzer {
        let names: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        Fuzzer::new(parse(t).unwrap(), &names, computed, seed).unwrap()
    }

    #[test]
    fn packet_n_of_seed_s_is_always_the_same() {
        let a = fuzzer("ip(dst=198.18.0.1)/tcp/raw(len=8)", &[], false, 42);
        let b = fuzzer("ip(dst=198.18.0.1)/tcp/raw(len=8)", &[], false, 42);
        let c = fuzzer("ip(dst=198.18.0.1)/tcp/raw(len=8)", &[], false, 43);
        for n in [0, 1, 2, 999_999, u64::MAX] {
            assert_eq!(a.packet(n), b.packet(n));
            assert_ne!(a.packet(n), c.packet(n), "seed changes packet {n}");
        }
        assert_ne!(a.packet(0), a.packet(1));
        // Pinned: packet 5 of seed 42 is this one on every machine and `rand` 0.10 release.
        let p = a.bytes(5).unwrap();
        assert_eq!(
            crate::daemon::proto::to_hex(&p[..12]),
            "35200030958a76f73306c513"
        );
    }

    #[test]
    fn only_the_chosen_fields_change() {
        let t = "ip(src=198.18.0.2,dst=198.18.0.1)/tcp(dport=80)/raw(len=4)";
        let base = parse(t).unwrap().build().unwrap();
        let f = fuzzer(t, &["tcp.flags", "ip.ttl"], false, 7);
        assert_eq!(f.targets().len(), 2);
        let mut changed = [false; 64];
        for n in 0..200 {
            let p = f.bytes(n).unwrap();
            assert_eq!(p.len(), base.len());
            for (i, (x, y)) in p.iter().zip(&base).enumerate() {
                if x != y {
                    changed[i] = true;
                }
            }
        }
        // TTL (8), its header checksum (10, 11), the TCP flags (20 + 13) and checksum (36, 37).
        let which: Vec<usize> = (0..base.len()).filter(|i| changed[*i]).collect();
        assert_eq!(which, vec![8, 10, 11, 33, 36, 37]);
    }

    #[test]
    fn computed_fields_stay_computed_unless_asked() {
        let t = "ip(src=198.18.0.2,dst=198.18.0.1)/udp/raw(len=10)";
        let f = fuzzer(t, &[], false, 1);
        assert!(f.targets().iter().all(|t| !t.field.computed));
        let names: Vec<String> = f.targets().iter().map(|t| t.to_string()).collect();
        assert!(names.contains(&"udp.dport".to_string()) && names.contains(&"raw.load".into()));
        for n in 0..500 {
            let p = f.bytes(n).unwrap();
            // Total Length and UDP length are right whatever else is random.
            assert_eq!(u16::from_be_bytes([p[2], p[3]]), 38);
            assert_eq!(u16::from_be_bytes([p[24], p[25]]), 18);
            assert_eq!(
                ustack::wire::checksum::internet(&p[..usize::from(p[0] & 15) * 4]),
                0
            );
        }
        let g = fuzzer(t, &[], true, 1);
        assert!(g.targets().iter().any(|t| t.field.name == "len"));
        let lens: std::collections::HashSet<u16> = (0..50)
            .filter_map(|n| g.bytes(n).ok())
            .map(|p| u16::from_be_bytes([p[24], p[25]]))
            .collect();
        assert!(lens.len() > 10, "{lens:?}");
    }

    #[test]
    fn every_packet_builds_or_names_its_field() {
        let f = fuzzer("ip(dst=198.18.0.1)/tcp/raw(len=30)", &[], true, 9);
        let (mut built, mut skipped) = (0, 0);
        for n in 0..2000 {
            match f.bytes(n) {
                Ok(p) => {
                    assert!(p.len() >= 20 + 20 + 30);
                    built += 1;
                }
                Err(e) => {
                    assert!(e.field.contains('.'), "{e}");
                    skipped += 1;
                }
            }
        }
        assert_eq!(built + skipped, 2000);
        assert!(built > 1000, "{built}");
    }

    #[test]
    fn bad_field_names_are_refused() {
        let p = parse("ip/tcp").unwrap();
        let e = |n: &str| Fuzzer::new(p.clone(), &[n.to_string()], false, 0).unwrap_err();
        assert!(e("udp.dport").contains("no udp layer"));
        assert!(e("tcp.nope").contains("no fuzzable field"));
        assert!(e("ttl").contains("LAYER.FIELD"));
        assert!(e("ip.dst").contains("no fuzzable field"));
        let all = Fuzzer::new(p.clone(), &["tcp.*".into(), "ip.ttl".into()], false, 0).unwrap();
        let names: Vec<String> = all.targets().iter().map(|t| t.to_string()).collect();
        assert_eq!(names.len(), 9, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("tcp.") || n == "ip.ttl"));
        assert!(!names.contains(&"tcp.checksum".to_string()));
    }
}
