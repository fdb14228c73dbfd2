//! Seeds a [`ustack::Config`] from the operating system's entropy source.
//!
//! The stack is sans-IO: its ISN / SYN-cookie secret and its seed come in through `Config`
//! (RFC 6528 §3 asks for a secret that an attacker cannot guess; RFC 6056 §3.3 and RFC 7739 §5
//! for ports and IP ids an observer cannot predict). This is where the bridge draws them, with
//! `getrandom` (the `getrandom(2)` system call, falling back to `/dev/urandom` as the crate
//! decides). There is no fallback to the time or the process id: without the OS's entropy the
//! bridge refuses to start rather than run with a guessable secret.

use std::io;

/// Fills `cfg.secret` (128 bits) and `cfg.seed` (64 bits) from the OS.
pub fn seed_config(cfg: &mut ustack::Config) -> io::Result<()> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("no OS entropy for the stack's secret: {e}")))?;
    cfg.secret.copy_from_slice(&bytes[..16]);
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[16..]);
    cfg.seed = u64::from_le_bytes(seed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            ustack::Config {
                secret: default.secret,
                seed: default.seed,
                ..a
            },
            default
        );
    }
}
