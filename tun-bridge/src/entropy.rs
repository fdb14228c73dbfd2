//! Seeds a [`ustack::Config`] from the operating system's entropy source.
//!
//! The stack is sans-IO: its ISN / SYN-cookie secret and its seed come in through `Config`
//! (RFC 6528 §3 asks for a secret that an attacker cannot guess; RFC 6056 §3.3 and RFC 7739 §5
//! for ports and IP ids an observer cannot predict). `Config::default()` carries a published
//! test secret, so [`crate::Bridge::start`] replaces it — and the seed — with fresh values drawn
//! here, unless the caller pins them by name with [`Entropy::Pinned`]. They are drawn with
//! `getrandom` (the `getrandom(2)` system call, falling back to `/dev/urandom` as the crate
//! decides). There is no fallback to the time or the process id: without the OS's entropy the
//! bridge refuses to start rather than run with a guessable secret.

use std::io;

/// Where a bridge's stack gets its secret (`Config::secret`: the ISN key, and the root of the
/// SYN-cookie, IP-id, ephemeral-port and echo-id keys) and its seed (`Config::seed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Entropy {
    /// Fresh from the OS at every [`crate::Bridge::start`] (the default): whatever
    /// `stack.secret` and `stack.seed` hold is replaced, so ISNs and SYN cookies cannot be
    /// predicted (RFC 6528 §3). If the OS has no entropy to give, the bridge does not start.
    #[default]
    FromOs,
    /// `stack.secret` and `stack.seed` are used exactly as given: the same configuration gives
    /// the same ISNs, ports and IP ids for the same traffic at the same times. For tests and
    /// reproducible runs only — with `Config::default()`'s published secret, anyone can
    /// compute the stack's ISNs and forge its SYN cookies.
    Pinned,
}

impl Entropy {
    /// Makes `cfg`'s secret and seed what this choice says: drawn from the OS for
    /// [`Entropy::FromOs`] (an error naming the cause if the OS cannot give any), untouched for
    /// [`Entropy::Pinned`].
    pub fn apply(self, cfg: &mut ustack::Config) -> io::Result<()> {
        match self {
            Entropy::FromOs => seed_config(cfg),
            Entropy::Pinned => Ok(()),
        }
    }
}

/// Fills `bytes` from the OS; the error says what it was for.
fn fill(bytes: &mut [u8], purpose: &str) -> io::Result<()> {
    getrandom::fill(bytes)
        .map_err(|e| io::Error::other(format!("no OS entropy for {purpose}: {e}")))
}

/// Fills `cfg.secret` (128 bits) and `cfg.seed` (64 bits) from the OS.
pub fn seed_config(cfg: &mut ustack::Config) -> io::Result<()> {
    let mut bytes = [0u8; 24];
    fill(&mut bytes, "the stack's secret")?;
    cfg.secret.copy_from_slice(&bytes[..16]);
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[16..]);
    cfg.seed = u64::from_le_bytes(seed);
    Ok(())
}

/// A 64-bit key from the OS, e.g. for the hash of an app's rate-limit table.
pub fn os_key() -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    fill(&mut bytes, "a hash key")?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cfg` with its secret and seed put back to `Config::default()`'s.
    fn without_entropy(cfg: &ustack::Config) -> ustack::Config {
        let default = ustack::Config::default();
        ustack::Config {
            secret: default.secret,
            seed: default.seed,
            ..cfg.clone()
        }
    }

    #[test]
    fn each_call_draws_a_new_secret_and_seed() {
        let mut a = ustack::Config::default();
        let mut b = ustack::Config::default();
        seed_config(&mut a).unwrap();
        seed_config(&mut b).unwrap();
        let default = ustack::Config::default();
        assert_ne!(a.secret, default.secret, "the pinned test secret was kept");
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.seed, b.seed);
        assert_eq!(a.validate(), Ok(()));
        // Nothing else changed.
        assert_eq!(without_entropy(&a), default);
    }

    /// A configuration that differs from the default elsewhere too, with a secret and seed of
    /// its own.
    fn custom() -> ustack::Config {
        ustack::Config {
            secret: *b"0123456789abcdef",
            seed: 42,
            mtu: 9000,
            ..ustack::Config::default()
        }
    }

    #[test]
    fn pinned_keeps_the_given_secret_and_seed() {
        let mut cfg = custom();
        Entropy::Pinned.apply(&mut cfg).unwrap();
        assert_eq!(cfg, custom());
        let mut cfg = ustack::Config::default();
        Entropy::Pinned.apply(&mut cfg).unwrap();
        assert_eq!(cfg, ustack::Config::default());
    }

    #[test]
    fn from_os_replaces_the_secret_and_seed_and_nothing_else() {
        assert_eq!(Entropy::default(), Entropy::FromOs);
        let (mut a, mut b) = (custom(), custom());
        Entropy::FromOs.apply(&mut a).unwrap();
        Entropy::FromOs.apply(&mut b).unwrap();
        for c in [&a, &b] {
            assert_ne!(c.secret, custom().secret, "the given secret was kept");
            assert_ne!(c.secret, ustack::Config::default().secret);
            assert_ne!(c.seed, custom().seed, "the given seed was kept");
            assert_eq!(without_entropy(c), without_entropy(&custom()));
        }
        assert_ne!(a.secret, b.secret, "two draws gave the same secret");
        assert_ne!(a.seed, b.seed, "two draws gave the same seed");
    }

    #[test]
    fn os_keys_differ() {
        assert_ne!(os_key().unwrap(), os_key().unwrap());
    }
}
