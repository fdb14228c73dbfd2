//! Where the attack tools may send: the one rule every tool that sends packets the stack did
//! not build (`raw`, `send`, `scan`, `fuzz`) checks before its first packet.
//!
//! A target is allowed when it is inside the stack's own prefixes (`Config::addr` with
//! `prefix_len`, and `Config::addr6`'s /64) or inside the benchmarking ranges every ustack
//! network is built from — 198.18.0.0/15 (RFC 2544: the TUN's 198.18.0.0/24 and every `ustack
//! lab` link, 198.19.i.0/24) and 2001:2::/48 (RFC 5180: the TUN's 2001:2::/64 and the lab's
//! 2001:2:0:i::/64). These ranges are never routed on the Internet, so a crafted packet or a
//! scan aimed there stays in the namespaces the user built. Anything else — a real network, a
//! loopback, a multicast or broadcast group — is refused unless the user says they own the
//! target network (`--i-own-the-network`): scanning or flooding a network one does not own is
//! an attack on someone else.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The flag that lifts the rule (its name in every tool's `--help`).
pub const OWN_FLAG: &str = "--i-own-the-network";

/// RFC 2544's benchmarking range (198.18.0.0/15).
const BENCH4: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);
/// RFC 5180's benchmarking prefix (2001:2::/48).
const BENCH6: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48);

/// A target the rule refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRefused {
    /// The address refused.
    pub target: IpAddr,
    /// The stack's own prefixes, as text, for the message.
    own: String,
}

impl fmt::Display for TargetRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is outside the stack's prefix ({}) and the lab ranges (198.18.0.0/15, \
             2001:2::/48); pass {OWN_FLAG} only if you own that network",
            self.target, self.own
        )
    }
}

impl std::error::Error for TargetRefused {}

fn in4(a: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

fn in6(a: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0);
    u128::from(a) & mask == u128::from(net) & mask
}

/// Whether `a` is inside the stack's own prefixes (where `--rand-source` may pick sources).
pub fn in_own_prefix(a: IpAddr, config: &ustack::Config) -> bool {
    match a {
        IpAddr::V4(a) => in4(a, (config.addr, config.prefix_len)),
        IpAddr::V6(a) => config.addr6.is_some_and(|me| in6(a, (me, 64))),
    }
}

/// Whether a tool may send to `target` from the stack configured as `config`; `owned` is the
/// user's `--i-own-the-network`.
pub fn check_target(
    target: IpAddr,
    config: &ustack::Config,
    owned: bool,
) -> Result<(), TargetRefused> {
    let bench = match target {
        IpAddr::V4(a) => in4(a, BENCH4),
        IpAddr::V6(a) => in6(a, BENCH6),
    };
    if owned || bench || in_own_prefix(target, config) {
        return Ok(());
    }
    let mut own = format!("{}/{}", config.addr, config.prefix_len);
    if let Some(a6) = config.addr6 {
        own.push_str(&format!(", {a6}/64"));
    }
    Err(TargetRefused { target, own })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ustack::Config {
        ustack::Config {
            addr: Ipv4Addr::new(10, 9, 8, 2),
            prefix_len: 24,
            addr6: Some("fd00:1::2".parse().unwrap()),
            ..ustack::Config::default()
        }
    }

    #[test]
    fn own_prefixes_and_the_lab_ranges_are_allowed() {
        let c = config();
        for t in [
            "10.9.8.1",
            "10.9.8.255",
            "198.18.0.1",
            "198.19.3.2",
            "fd00:1::99",
            "2001:2::1",
            "2001:2:0:fa::7",
        ] {
            assert_eq!(check_target(t.parse().unwrap(), &c, false), Ok(()), "{t}");
        }
    }

    #[test]
    fn everything_else_is_refused_unless_owned() {
        let c = config();
        for t in [
            "10.9.9.1",
            "198.20.0.1",
            "198.17.255.255",
            "8.8.8.8",
            "127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "2001:3::1",
            "2001:2:1::1",
            "fd00:2::1",
            "::1",
        ] {
            let target: IpAddr = t.parse().unwrap();
            let e = check_target(target, &c, false).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(t) && msg.contains(OWN_FLAG), "{msg}");
            assert!(msg.contains("10.9.8.2/24, fd00:1::2/64"), "{msg}");
            assert_eq!(check_target(target, &c, true), Ok(()));
        }
    }

    #[test]
    fn random_sources_stay_in_the_own_prefix() {
        let c = config();
        assert!(in_own_prefix("10.9.8.77".parse().unwrap(), &c));
        assert!(!in_own_prefix("198.18.0.1".parse().unwrap(), &c));
        assert!(in_own_prefix("fd00:1::abcd".parse().unwrap(), &c));
        assert!(!in_own_prefix("fd00:1:0:1::1".parse().unwrap(), &c));
    }
}
