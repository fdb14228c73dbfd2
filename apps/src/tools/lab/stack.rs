//! Finding the stack of a lab: the TUN devices in its host node and the kernel side's addresses
//! on them, as `ip` shows them. The stack's own addresses are not the kernel's to show; the
//! kernel side's tell what it routes into the TUN: with `ustack up --ipv6` the host node holds
//! 2001:2::1/64 there, so 2001:2::/64 (the stack's 2001:2::2) is routed to the TUN; without it
//! the host has no route to 2001:2::/64 and answers the lab's IPv6 toward the stack with ICMPv6
//! "no route to destination".

use super::ops::run;
use super::plan::{STACK6, TUN_HOST, TUN_HOST6};
use std::net::IpAddr;

/// A TUN in a lab's host node and the kernel side's global addresses on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackTun {
    /// The device's name.
    pub name: String,
    /// Its global addresses with their prefix lengths (`198.18.0.1/24`, `2001:2::1/64`).
    pub addrs: Vec<(IpAddr, u8)>,
}

impl StackTun {
    /// Whether the kernel side has address `a`.
    pub fn has(&self, a: IpAddr) -> bool {
        self.addrs.iter().any(|&(x, _)| x == a)
    }

    /// Whether it has any IPv6 address (`ustack up` ran with IPv6).
    pub fn has_ipv6(&self) -> bool {
        self.addrs.iter().any(|(a, _)| a.is_ipv6())
    }

    /// One line for people: the TUN, its addresses, and whether the stack has IPv6.
    pub fn describe(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        let mut s = format!("{} {}", self.name, addrs.join(" "));
        if !self.has_ipv6() {
            s.push_str(", no IPv6 (ustack up ran with --no-ipv6)");
        } else if self.has(TUN_HOST6.into()) {
            s.push_str(&format!(", stack {STACK6} routed to it"));
        }
        s
    }
}

/// The TUN devices of namespace `ns` and their global addresses.
pub fn tuns(ns: &str) -> Result<Vec<StackTun>, String> {
    let links = run("ip", &["-n", ns, "-d", "-o", "link", "show"])?;
    let addrs = run("ip", &["-n", ns, "-o", "addr", "show", "scope", "global"])?;
    Ok(parse_tuns(&links, &addrs))
}

/// Whether the stack's TUN `tun` in `ns` has the kernel side's IPv4 address (and, if `ipv6`,
/// its IPv6 one): `ustack up` has configured it.
pub fn is_up(ns: &str, tun: &str, ipv6: bool) -> bool {
    tuns(ns).is_ok_and(|t| {
        t.iter()
            .any(|t| t.name == tun && t.has(TUN_HOST.into()) && (!ipv6 || t.has(TUN_HOST6.into())))
    })
}

/// The TUNs of `ip -d -o link show` (those whose details say `tun type tun`) with their
/// addresses from `ip -o addr show scope global`.
fn parse_tuns(links: &str, addrs: &str) -> Vec<StackTun> {
    links
        .lines()
        .filter(|l| l.contains(" tun type tun "))
        .filter_map(|l| {
            let name = l.split_whitespace().nth(1)?.trim_end_matches(':');
            let name = name.split('@').next()?.to_string();
            let addrs = addrs
                .lines()
                .filter_map(|a| {
                    let w: Vec<&str> = a.split_whitespace().collect();
                    let (dev, family, cidr) = (w.get(1)?, w.get(2)?, w.get(3)?);
                    if *dev != name || !matches!(*family, "inet" | "inet6") {
                        return None;
                    }
                    let (addr, len) = cidr.split_once('/')?;
                    Some((addr.parse().ok()?, len.parse().ok()?))
                })
                .collect();
            Some(StackTun { name, addrs })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: &str = "\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0
2: fwd@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\\    link/ether 5e:1a:00:00:00:01 brd ff:ff:ff:ff:ff:ff link-netns x-r1 promiscuity 0 \\    veth addrgenmode eui64
3: ustack0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UNKNOWN\\    link/none  promiscuity 0 \\    tun type tun pi off vnet_hdr on persist off addrgenmode eui64
";

    #[test]
    fn the_tun_and_its_addresses_in_both_families() {
        let addrs = "\
2: fwd    inet 198.19.1.1/24 scope global fwd\\       valid_lft forever preferred_lft forever
2: fwd    inet6 2001:2:0:1::1/64 scope global nodad \\       valid_lft forever preferred_lft forever
3: ustack0    inet 198.18.0.1/24 scope global ustack0\\       valid_lft forever preferred_lft forever
3: ustack0    inet6 2001:2::1/64 scope global nodad \\       valid_lft forever preferred_lft forever
";
        let t = parse_tuns(LINKS, addrs);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].name, "ustack0");
        assert!(t[0].has(TUN_HOST.into()) && t[0].has(TUN_HOST6.into()));
        assert_eq!(
            t[0].describe(),
            "ustack0 198.18.0.1/24 2001:2::1/64, stack 2001:2::2 routed to it"
        );
    }

    #[test]
    fn a_stack_without_ipv6_is_said_to_have_none() {
        let addrs =
            "3: ustack0    inet 198.18.0.1/24 scope global ustack0\\       valid_lft forever\n";
        let t = parse_tuns(LINKS, addrs);
        assert!(!t[0].has_ipv6());
        assert_eq!(
            t[0].describe(),
            "ustack0 198.18.0.1/24, no IPv6 (ustack up ran with --no-ipv6)"
        );
        assert!(parse_tuns(&LINKS.replace("tun type tun", "veth"), addrs).is_empty());
    }
}
