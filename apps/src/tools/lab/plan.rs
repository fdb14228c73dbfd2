//! The lab's network, on paper: which namespaces, which links, which addresses, routes and
//! sysctls. Pure data, so the plan is tested without root; `lab::ops` carries it out with `ip`
//! commands.
//!
//! A lab of L links (one per `--mtu-path` entry) is a chain of L + 1 namespaces:
//!
//! ```text
//! stack ⇄ TUN ⇄ <name>-host ⇄ <name>-r1 ⇄ … ⇄ <name>-r(L-1) ⇄ <name>-far
//!  198.18.0.2   198.18.0.1   link 1       link 2         link L
//!  2001:2::2    2001:2::1
//! ```
//!
//! Link i is 198.19.i.0/24 (RFC 2544's benchmarking range, like the TUN's 198.18.0.0/24) and,
//! unless the lab is IPv4-only, 2001:2:0:i::/64 (i in hex; a /64 of RFC 5180's benchmarking
//! prefix 2001:2::/48, whose 2001:2::/64 is the TUN's with `ustack up --ipv6`): its host-side end
//! is 198.19.i.1 and 2001:2:0:i::1 (interface `fwd` in node i−1), its far-side end 198.19.i.2 and
//! 2001:2:0:i::2 (interface `back` in node i). Every node forwards both families; each routes
//! the links beyond it to the next node and everything else (the stack's 198.18.0.0/24 and
//! 2001:2::/64) back. The host node routes the stack's prefixes to the TUN through the kernel
//! side's own addresses (`ustack up` puts them there), not through a route of the plan.
//! Far also holds three study prefixes per family: 198.19.250.0/24 and 2001:2:0:fa::/64 are
//! blackholes (silent: probes vanish), 198.19.251.0/24 and 2001:2:0:fb::/64 unreachable (far
//! answers ICMP host unreachable, `!H`; ICMPv6 "no route to destination", code 0, `!N`),
//! 198.19.252.0/24 and 2001:2:0:fc::/64 prohibited (far answers administratively prohibited:
//! ICMP code 13, `!X`; ICMPv6 code 1, which tracepath shows as `!A`, traceroute as `!X`).

use crate::tools::net::{DEFAULT_ADDR6, DEFAULT_HOST_ADDR6};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack::wire::ipv6::MIN_MTU as IPV6_MIN_MTU;

/// The IPv4 plan's first octets: link i is `198.19.i.0/24`.
const NET: [u8; 2] = [198, 19];
/// The IPv6 plan's first 48 bits, 2001:2::/48 (RFC 5180): link i is `2001:2:0:i::/64`.
const NET6: [u16; 3] = [0x2001, 2, 0];

/// The stack's IPv4 address and the kernel side's (`ustack up`'s defaults).
pub const STACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The TUN's kernel side (in the host node).
pub const TUN_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The stack's IPv6 address under `ustack up --ipv6`.
pub const STACK6: Ipv6Addr = DEFAULT_ADDR6;
/// The TUN's kernel side under `ustack up --ipv6`.
pub const TUN_HOST6: Ipv6Addr = DEFAULT_HOST_ADDR6;

/// A study prefix held by far, in both families: `198.19.ID.0/24` and `2001:2:0:ID::/64` (ID in
/// hex: 250 is `fa`).
#[derive(Clone, Copy, Debug)]
pub struct Study {
    /// The third octet of the IPv4 prefix, the fourth group of the IPv6 one.
    pub id: u8,
    /// The route type at far (`ip route add KIND PREFIX`).
    pub kind: &'static str,
    /// What an IPv4 probe sees.
    pub v4: &'static str,
    /// What an IPv6 probe sees (Linux: `ip6_pkt_discard` sends code 0 for `unreachable`,
    /// `ip6_pkt_prohibit` code 1 for `prohibit`; a blackhole drops silently).
    pub v6: &'static str,
}

/// The study prefixes held by far.
pub const STUDY: [Study; 3] = [
    Study {
        id: 250,
        kind: "blackhole",
        v4: "silent: probes are dropped without an answer",
        v6: "silent too",
    },
    Study {
        id: 251,
        kind: "unreachable",
        v4: "far answers host unreachable (!H)",
        v6: "ICMPv6 no route to destination, code 0 (!N)",
    },
    Study {
        id: 252,
        kind: "prohibit",
        v4: "far answers administratively prohibited (!X)",
        v6: "ICMPv6 administratively prohibited, code 1 (!A in tracepath, !X in traceroute)",
    },
];
/// Most links a lab may have (the plan numbers links 1..=MAX_LINKS below the study prefixes).
pub const MAX_LINKS: usize = 16;

/// The lab's name when `--name` is not given.
pub const DEFAULT_NAME: &str = "ulab";

/// An address family of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Host `host` of the plan's prefix `n` (a link's number or a study prefix's id):
    /// `198.19.n.host`, `2001:2:0:n::host`; host 0 is the prefix itself.
    fn addr(self, n: u8, host: u8) -> IpAddr {
        match self {
            Family::V4 => v4(n, host).into(),
            Family::V6 => {
                let [a, b, c] = NET6;
                Ipv6Addr::new(a, b, c, n.into(), 0, 0, 0, host.into()).into()
            }
        }
    }

    /// The plan's prefix `n`: a /24 or a /64.
    fn net(self, n: u8) -> Prefix {
        let len = match self {
            Family::V4 => 24,
            Family::V6 => 64,
        };
        Prefix {
            addr: self.addr(n, 0),
            len,
        }
    }

    /// `default` in this family.
    fn default_route(self) -> Prefix {
        let addr = match self {
            Family::V4 => Ipv4Addr::UNSPECIFIED.into(),
            Family::V6 => Ipv6Addr::UNSPECIFIED.into(),
        };
        Prefix { addr, len: 0 }
    }
}

/// Host `host` of the plan's IPv4 prefix `n`: `198.19.n.host`.
fn v4(n: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(NET[0], NET[1], n, host)
}

/// A destination prefix; length 0 is shown as `default`, as `ip route` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The prefix's first address.
    pub addr: IpAddr,
    /// Its length in bits (0: `default`).
    pub len: u8,
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            f.write_str("default")
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// One namespace of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Namespace name.
    pub ns: String,
    /// `host`, `r1`, …, `far`.
    pub role: String,
}

/// One veth link between node `index − 1` (its `fwd` end) and node `index` (its `back` end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// 1-based.
    pub index: usize,
    /// The MTU of both ends (IPv4's and IPv6's: the device's).
    pub mtu: u16,
}

impl Link {
    fn n(&self) -> u8 {
        self.index as u8
    }

    /// The host-side end's address in `fam` (`fwd` in node index − 1).
    pub fn near_in(&self, fam: Family) -> IpAddr {
        fam.addr(self.n(), 1)
    }

    /// The far-side end's address in `fam` (`back` in node index).
    pub fn far_in(&self, fam: Family) -> IpAddr {
        fam.addr(self.n(), 2)
    }

    /// The link's prefix in `fam`.
    pub fn subnet_in(&self, fam: Family) -> Prefix {
        fam.net(self.n())
    }

    /// The host-side end's IPv4 address.
    pub fn near(&self) -> Ipv4Addr {
        v4(self.n(), 1)
    }

    /// The far-side end's IPv4 address.
    pub fn far(&self) -> Ipv4Addr {
        v4(self.n(), 2)
    }
}

/// The whole lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The lab's name (every namespace's name begins with it).
    pub name: String,
    /// The namespaces, from the host's side to the far end.
    pub nodes: Vec<Node>,
    /// The links between consecutive nodes (`links[i]` joins `nodes[i]` and `nodes[i + 1]`).
    pub links: Vec<Link>,
    /// Whether the links carry IPv6 too (`lab up` without `--no-ipv6`).
    pub ipv6: bool,
}

/// A route in one node: `ip route add <dst> via <via>` or a typed route (`blackhole <dst>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `ip route add DST via VIA`.
    Via {
        /// Destination prefix (or `default`).
        dst: Prefix,
        /// Next hop.
        via: IpAddr,
    },
    /// `ip route add KIND DST` (`blackhole`, `unreachable`, `prohibit`).
    Typed {
        /// The route type.
        kind: &'static str,
        /// Destination prefix.
        dst: Prefix,
    },
}

impl Route {
    fn dst(&self) -> Prefix {
        match self {
            Route::Via { dst, .. } | Route::Typed { dst, .. } => *dst,
        }
    }

    /// The arguments after `ip -n NS`: `route add …`, with `-6` first for an IPv6 route.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.dst().addr.is_ipv6() {
            args.push("-6".to_string());
        }
        args.extend(["route".to_string(), "add".to_string()]);
        match self {
            Route::Via { dst, via } => {
                args.extend([dst.to_string(), "via".into(), via.to_string()]);
            }
            Route::Typed { kind, dst } => args.extend([kind.to_string(), dst.to_string()]),
        }
        args
    }
}

/// Checks a lab name: it prefixes every namespace, so keep it short and plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad lab name {name:?}: 1-32 of [A-Za-z0-9_-], starting with a letter or digit"
        ))
    }
}

/// Checks the MTUs of a lab's links: 576..=9000 (576: every IPv4 host must take datagrams that
/// large, RFC 791), and with IPv6 at least 1280 — RFC 8200 §5 makes 1280 the smallest MTU of any
/// link that carries IPv6, and Linux turns IPv6 off on a device set below it (its addresses
/// gone), so a narrower link would silently cut the IPv6 path. Refused, not half-built.
fn check_mtus(mtus: &[u16], ipv6: bool) -> Result<(), String> {
    if mtus.is_empty() || mtus.len() > MAX_LINKS {
        return Err(format!("a lab has 1..={MAX_LINKS} links"));
    }
    if let Some(m) = mtus.iter().find(|&&m| !(576..=9000).contains(&m)) {
        return Err(format!("link MTU {m} is outside 576..=9000"));
    }
    let narrow = mtus.iter().position(|&m| usize::from(m) < IPV6_MIN_MTU);
    if let Some(i) = narrow.filter(|_| ipv6) {
        return Err(format!(
            "link {} has MTU {}, below IPv6's minimum link MTU of {IPV6_MIN_MTU} (RFC 8200 §5): \
             use {IPV6_MIN_MTU} or more, or --no-ipv6 for an IPv4-only lab",
            i + 1,
            mtus[i]
        ));
    }
    Ok(())
}

impl Plan {
    /// The plan for lab `name` with one link per MTU in `mtus`, dual-stack if `ipv6`.
    pub fn new(name: &str, mtus: &[u16], ipv6: bool) -> Result<Plan, String> {
        check_name(name)?;
        check_mtus(mtus, ipv6)?;
        let l = mtus.len();
        let nodes = (0..=l)
            .map(|i| {
                let role = match i {
                    0 => "host".to_string(),
                    i if i == l => "far".to_string(),
                    i => format!("r{i}"),
                };
                Node {
                    ns: format!("{name}-{role}"),
                    role,
                }
            })
            .collect();
        let links = mtus
            .iter()
            .enumerate()
            .map(|(i, &mtu)| Link { index: i + 1, mtu })
            .collect();
        Ok(Plan {
            name: name.to_string(),
            nodes,
            links,
            ipv6,
        })
    }

    /// The families the lab's links carry.
    pub fn families(&self) -> &'static [Family] {
        if self.ipv6 {
            &[Family::V4, Family::V6]
        } else {
            &[Family::V4]
        }
    }

    /// The far end's IPv4 address (where traces go).
    pub fn far_addr(&self) -> Ipv4Addr {
        self.links.last().map_or(Ipv4Addr::UNSPECIFIED, Link::far)
    }

    /// The far end's addresses, IPv4 first.
    pub fn far_addrs(&self) -> Vec<IpAddr> {
        let last = &self.links[self.links.len() - 1];
        self.families().iter().map(|&f| last.far_in(f)).collect()
    }

    /// The far end's namespace.
    pub fn far_ns(&self) -> &str {
        &self.nodes[self.nodes.len() - 1].ns
    }

    /// The host namespace (where the TUN and `ustack up` live).
    pub fn host_ns(&self) -> &str {
        &self.nodes[0].ns
    }

    /// An address of study prefix `id` in `fam` (e.g. 250: the silent one).
    pub fn study_addr(id: u8, fam: Family) -> IpAddr {
        fam.addr(id, 1)
    }

    /// The sysctls every node gets (`sysctl -w`), before its links are made.
    pub fn sysctls(&self) -> Vec<&'static str> {
        // Routers must answer every probe: Linux rate-limits ICMP errors per destination
        // (icmp_ratelimit, 1 s by default), which would eat traceroute's probes. Far forwards
        // too: it routes the study prefixes (an `unreachable` route answers only on a
        // forwarding host; without forwarding the probe is dropped silently).
        let mut s = vec!["net.ipv4.icmp_ratelimit=0", "net.ipv4.ip_forward=1"];
        if self.ipv6 {
            s.extend([
                // IPv6 on for every device made from now on (a namespace may start with it
                // off); no Duplicate Address Detection — a veth has one peer, and DAD would
                // keep even the link-local addresses tentative for a second.
                "net.ipv6.conf.all.disable_ipv6=0",
                "net.ipv6.conf.default.disable_ipv6=0",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
                // `all` sets `default` and every device too (addrconf_fixup_forwarding).
                "net.ipv6.conf.all.forwarding=1",
                // ICMPv6's own limit (RFC 4443 §2.4 (f)), 1 s per destination by default.
                "net.ipv6.icmp.ratelimit=0",
            ]);
        }
        s
    }

    /// The routes of node `i`, IPv4's first.
    pub fn routes(&self, i: usize) -> Vec<Route> {
        self.families()
            .iter()
            .flat_map(|&f| self.routes_in(i, f))
            .collect()
    }

    /// The routes of node `i` in `fam`: the same in both families.
    fn routes_in(&self, i: usize, fam: Family) -> Vec<Route> {
        let l = self.links.len();
        let mut routes = Vec::new();
        // Toward far: every link beyond the next one; far itself holds the study prefixes.
        let next = self.links.get(i).map(|k| k.far_in(fam));
        if let Some(via) = next {
            for link in &self.links[i + 1..] {
                routes.push(Route::Via {
                    dst: link.subnet_in(fam),
                    via,
                });
            }
        }
        for s in &STUDY {
            let dst = fam.net(s.id);
            routes.push(match next {
                Some(via) if i < l => Route::Via { dst, via },
                _ => Route::Typed { kind: s.kind, dst },
            });
        }
        if i > 0 {
            // Back toward the host (and through it the stack): everything else.
            routes.push(Route::Via {
                dst: fam.default_route(),
                via: self.links[i - 1].near_in(fam),
            });
        }
        routes
    }

    /// The note's lines after `ns …`: far's addresses, the MTUs, the pid of `lab up`.
    pub fn note_text(&self, pid: u32) -> String {
        let far: Vec<String> = self.far_addrs().iter().map(IpAddr::to_string).collect();
        let mtus: Vec<String> = self.links.iter().map(|l| l.mtu.to_string()).collect();
        format!("far {}\nmtu {}\npid {pid}\n", far.join(" "), mtus.join(" "))
    }

    /// Whether the namespace `ns` belongs to lab `name` (`<name>-host`, `-rN`, `-far`).
    pub fn owns(name: &str, ns: &str) -> bool {
        let Some(role) = ns.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else {
            return false;
        };
        role == "host"
            || role == "far"
            || role
                .strip_prefix('r')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    }
}

/// Parses `--mtu-path 1500,1400,1280`.
pub fn parse_mtus(s: &str) -> Result<Vec<u16>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("bad MTU {p:?} in --mtu-path"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> IpAddr {
        Ipv4Addr::from(a).into()
    }

    fn v6(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix {
            addr: a.parse().unwrap(),
            len: l.parse().unwrap(),
        }
    }

    fn via(dst: &str, via: IpAddr) -> Route {
        let dst = match dst {
            "default" if via.is_ipv6() => net("::/0"),
            "default" => net("0.0.0.0/0"),
            d => net(d),
        };
        Route::Via { dst, via }
    }

    #[test]
    fn chain_of_namespaces_and_links() {
        let p = Plan::new("ulab", &[1500, 1400, 1280], true).unwrap();
        let ns: Vec<&str> = p.nodes.iter().map(|n| n.ns.as_str()).collect();
        assert_eq!(ns, ["ulab-host", "ulab-r1", "ulab-r2", "ulab-far"]);
        assert_eq!(p.links[1].near(), Ipv4Addr::new(198, 19, 2, 1));
        assert_eq!(p.links[1].far(), Ipv4Addr::new(198, 19, 2, 2));
        assert_eq!(p.links[1].near_in(Family::V6), v6("2001:2:0:2::1"));
        assert_eq!(p.links[1].far_in(Family::V6), v6("2001:2:0:2::2"));
        assert_eq!(
            p.links[2].subnet_in(Family::V4).to_string(),
            "198.19.3.0/24"
        );
        assert_eq!(
            p.links[2].subnet_in(Family::V6).to_string(),
            "2001:2:0:3::/64"
        );
        assert_eq!(p.links[2].mtu, 1280);
        assert_eq!(p.far_addr(), Ipv4Addr::new(198, 19, 3, 2));
        assert_eq!(p.far_addrs(), [v4([198, 19, 3, 2]), v6("2001:2:0:3::2")]);
        assert_eq!(p.far_ns(), "ulab-far");
        // Link numbers are hex in IPv6: link 10 is 2001:2:0:a::/64, and every prefix sits
        // inside the benchmarking /48 but outside the TUN's 2001:2::/64.
        let p = Plan::new("x", &[1500; 10], true).unwrap();
        assert_eq!(
            p.links[9].subnet_in(Family::V6).to_string(),
            "2001:2:0:a::/64"
        );
        for l in &p.links {
            let IpAddr::V6(a) = l.near_in(Family::V6) else {
                panic!("v6")
            };
            assert_eq!(a.segments()[..3], [0x2001, 2, 0]);
            assert_ne!(a.segments()[3], 0, "link {} is not the TUN's /64", l.index);
        }
        assert_eq!(STACK6, "2001:2::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(TUN_HOST6, "2001:2::1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn routes_point_both_ways() {
        let p = Plan::new("x", &[1500, 1400, 1280], false).unwrap();
        let host = p.routes(0);
        assert_eq!(host[0], via("198.19.2.0/24", v4([198, 19, 1, 2])));
        assert_eq!(host[1], via("198.19.3.0/24", v4([198, 19, 1, 2])));
        assert!(host.contains(&via("198.19.250.0/24", v4([198, 19, 1, 2]))));
        assert!(
            !host.iter().any(|r| r.dst().len == 0),
            "host routes the TUN itself"
        );
        assert!(
            !host.iter().any(|r| r.dst().addr.is_ipv6()),
            "an IPv4-only lab has no IPv6 routes"
        );
        let r1 = p.routes(1);
        assert_eq!(r1[0], via("198.19.3.0/24", v4([198, 19, 2, 2])));
        assert_eq!(*r1.last().unwrap(), via("default", v4([198, 19, 1, 1])));
        let far = p.routes(3);
        assert_eq!(
            far[0],
            Route::Typed {
                kind: "blackhole",
                dst: net("198.19.250.0/24")
            }
        );
        assert_eq!(
            far[0].args(),
            ["route", "add", "blackhole", "198.19.250.0/24"]
        );
        assert_eq!(*far.last().unwrap(), via("default", v4([198, 19, 3, 1])));
        assert_eq!(
            far.last().unwrap().args(),
            ["route", "add", "default", "via", "198.19.3.1"]
        );
    }

    #[test]
    fn ipv6_routes_mirror_the_ipv4_ones() {
        let p = Plan::new("x", &[1500, 1400, 1300], true).unwrap();
        for i in 0..p.nodes.len() {
            let routes = p.routes(i);
            let (four, six): (Vec<_>, Vec<_>) = routes.iter().partition(|r| r.dst().addr.is_ipv4());
            assert_eq!(four.len(), six.len(), "node {i}: {routes:?}");
            assert_eq!(
                four,
                Plan::new("x", &[1500, 1400, 1300], false)
                    .unwrap()
                    .routes(i)
                    .iter()
                    .collect::<Vec<_>>()
            );
            for r in &six {
                assert_eq!(r.args()[0], "-6", "{r:?}");
            }
        }
        let host = p.routes(0);
        assert!(host.contains(&via("2001:2:0:2::/64", v6("2001:2:0:1::2"))));
        assert!(host.contains(&via("2001:2:0:3::/64", v6("2001:2:0:1::2"))));
        assert!(host.contains(&via("2001:2:0:fb::/64", v6("2001:2:0:1::2"))));
        let r1 = p.routes(1);
        assert!(r1.contains(&via("2001:2:0:3::/64", v6("2001:2:0:2::2"))));
        let r2 = p.routes(2);
        assert!(r2.contains(&via("2001:2:0:fc::/64", v6("2001:2:0:3::2"))));
        assert_eq!(*r2.last().unwrap(), via("default", v6("2001:2:0:2::1")));
        assert_eq!(
            r2.last().unwrap().args(),
            ["-6", "route", "add", "default", "via", "2001:2:0:2::1"]
        );
        let far = p.routes(3);
        let typed: Vec<Vec<String>> = far
            .iter()
            .filter(|r| matches!(r, Route::Typed { .. }) && r.dst().addr.is_ipv6())
            .map(Route::args)
            .collect();
        assert_eq!(
            typed,
            [
                ["-6", "route", "add", "blackhole", "2001:2:0:fa::/64"],
                ["-6", "route", "add", "unreachable", "2001:2:0:fb::/64"],
                ["-6", "route", "add", "prohibit", "2001:2:0:fc::/64"],
            ]
        );
        assert_eq!(Plan::study_addr(251, Family::V6), v6("2001:2:0:fb::1"));
        assert_eq!(Plan::study_addr(251, Family::V4), v4([198, 19, 251, 1]));
    }

    #[test]
    fn sysctls_forward_both_families_without_dad_or_rate_limits() {
        let p = Plan::new("x", &[1500], true).unwrap();
        let s = p.sysctls();
        for want in [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.icmp.ratelimit=0",
        ] {
            assert!(s.contains(&want), "{want} in {s:?}");
        }
        let s = Plan::new("x", &[1500], false).unwrap().sysctls();
        assert!(!s.iter().any(|s| s.starts_with("net.ipv6")), "{s:?}");
    }

    #[test]
    fn the_note_names_far_in_both_families() {
        let p = Plan::new("x", &[1500, 1400], true).unwrap();
        assert_eq!(
            p.note_text(42),
            "far 198.19.2.2 2001:2:0:2::2\nmtu 1500 1400\npid 42\n"
        );
        let p = Plan::new("x", &[1500, 576], false).unwrap();
        assert_eq!(p.note_text(7), "far 198.19.2.2\nmtu 1500 576\npid 7\n");
    }

    #[test]
    fn names_and_mtus_are_checked() {
        assert!(Plan::new("", &[1500], true).is_err());
        assert!(Plan::new("a b", &[1500], true).is_err());
        assert!(Plan::new("-x", &[1500], true).is_err());
        assert!(Plan::new("ok", &[], true).is_err());
        assert!(Plan::new("ok", &[100], false).is_err());
        assert!(Plan::new("ok", &[1500; 17], true).is_err());
        assert_eq!(parse_mtus("1500, 1400,1280"), Ok(vec![1500, 1400, 1280]));
        assert!(parse_mtus("1500,x").is_err());
    }

    #[test]
    fn a_link_below_1280_is_refused_with_ipv6_and_allowed_without() {
        let e = Plan::new("ok", &[1500, 1279, 1400], true).unwrap_err();
        assert!(e.contains("link 2 has MTU 1279"), "{e}");
        assert!(e.contains("RFC 8200") && e.contains("--no-ipv6"), "{e}");
        assert!(Plan::new("ok", &[1500, 1280], true).is_ok());
        let p = Plan::new("ok", &[1500, 576], false).unwrap();
        assert_eq!((p.ipv6, p.links[1].mtu), (false, 576));
    }

    #[test]
    fn ownership_by_name() {
        assert!(Plan::owns("ulab", "ulab-host"));
        assert!(Plan::owns("ulab", "ulab-r12"));
        assert!(Plan::owns("ulab", "ulab-far"));
        assert!(!Plan::owns("ulab", "ulab-rx"));
        assert!(!Plan::owns("ulab", "ulab2-host"));
        assert!(!Plan::owns("ulab", "ulab-host-extra"));
        assert!(!Plan::owns("ulab", "other"));
    }
}
