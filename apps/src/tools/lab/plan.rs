//! The lab's network, on paper: which namespaces, which links, which addresses and routes. Pure
//! data, so the plan is tested without root; `lab::ops` carries it out with `ip` commands.
//!
//! A lab of L links (one per `--mtu-path` entry) is a chain of L + 1 namespaces:
//!
//! ```text
//! stack ⇄ TUN ⇄ <name>-host ⇄ <name>-r1 ⇄ … ⇄ <name>-r(L-1) ⇄ <name>-far
//!  198.18.0.2   198.18.0.1   link 1       link 2         link L
//! ```
//!
//! Link i is 198.19.i.0/24 (RFC 2544's benchmarking range, like the TUN's 198.18.0.0/24): its
//! host-side end is 198.19.i.1 (interface `fwd` in node i−1), its far-side end 198.19.i.2
//! (interface `back` in node i). Every node forwards (`ip_forward=1`); each routes
//! the links beyond it to the next node and everything else (the stack's 198.18.0.0/24) back.
//! Far also holds three study prefixes: 198.19.250.0/24 is a blackhole (silent: probes vanish),
//! 198.19.251.0/24 unreachable (far answers host unreachable, `!H`), 198.19.252.0/24
//! prohibited (far answers administratively prohibited, `!X`).

use std::net::Ipv4Addr;

/// The address plan's first octets: link i is `198.19.i.0/24`.
const NET: [u8; 2] = [198, 19];
/// Study prefixes held by far: (third octet, route type, what a probe sees).
pub const STUDY: [(u8, &str, &str); 3] = [
    (
        250,
        "blackhole",
        "silent: probes are dropped without an answer",
    ),
    (251, "unreachable", "far answers host unreachable (!H)"),
    (
        252,
        "prohibit",
        "far answers administratively prohibited (!X)",
    ),
];
/// Most links a lab may have (the plan numbers links 1..=MAX_LINKS below the study prefixes).
pub const MAX_LINKS: usize = 16;

/// The lab's name when `--name` is not given.
pub const DEFAULT_NAME: &str = "ulab";

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
    /// The MTU of both ends.
    pub mtu: u16,
}

impl Link {
    /// The host-side end's address (`fwd` in node index − 1).
    pub fn near(&self) -> Ipv4Addr {
        Ipv4Addr::new(NET[0], NET[1], self.index as u8, 1)
    }

    /// The far-side end's address (`back` in node index).
    pub fn far(&self) -> Ipv4Addr {
        Ipv4Addr::new(NET[0], NET[1], self.index as u8, 2)
    }

    /// The link's /24.
    pub fn subnet(&self) -> String {
        format!("{}.{}.{}.0/24", NET[0], NET[1], self.index)
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
}

/// A route in one node: `ip route add <dst> via <via>` or a typed route (`blackhole <dst>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `ip route add DST via VIA`.
    Via {
        /// Destination prefix (or `default`).
        dst: String,
        /// Next hop.
        via: Ipv4Addr,
    },
    /// `ip route add KIND DST` (`blackhole`, `unreachable`, `prohibit`).
    Typed {
        /// The route type.
        kind: &'static str,
        /// Destination prefix.
        dst: String,
    },
}

impl Route {
    /// The arguments after `ip route add`.
    pub fn args(&self) -> Vec<String> {
        match self {
            Route::Via { dst, via } => vec![dst.clone(), "via".into(), via.to_string()],
            Route::Typed { kind, dst } => vec![kind.to_string(), dst.clone()],
        }
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

impl Plan {
    /// The plan for lab `name` with one link per MTU in `mtus`.
    pub fn new(name: &str, mtus: &[u16]) -> Result<Plan, String> {
        check_name(name)?;
        if mtus.is_empty() || mtus.len() > MAX_LINKS {
            return Err(format!("a lab has 1..={MAX_LINKS} links"));
        }
        if let Some(m) = mtus.iter().find(|&&m| !(576..=9000).contains(&m)) {
            return Err(format!("link MTU {m} is outside 576..=9000"));
        }
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
        })
    }

    /// The far end's address (where traces go).
    pub fn far_addr(&self) -> Ipv4Addr {
        self.links.last().map_or(Ipv4Addr::UNSPECIFIED, Link::far)
    }

    /// The far end's namespace.
    pub fn far_ns(&self) -> &str {
        &self.nodes[self.nodes.len() - 1].ns
    }

    /// The host namespace (where the TUN and `ustack up` live).
    pub fn host_ns(&self) -> &str {
        &self.nodes[0].ns
    }

    /// An address of study prefix `octet` (e.g. 250: the silent one).
    pub fn study_addr(octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(NET[0], NET[1], octet, 1)
    }

    /// The routes of node `i`.
    pub fn routes(&self, i: usize) -> Vec<Route> {
        let l = self.links.len();
        let mut routes = Vec::new();
        // Toward far: every link beyond the next one; far itself holds the study prefixes.
        let next = self.links.get(i).map(Link::far);
        if let Some(next) = next {
            for link in &self.links[i + 1..] {
                routes.push(Route::Via {
                    dst: link.subnet(),
                    via: next,
                });
            }
        }
        for &(octet, kind, _) in &STUDY {
            let dst = format!("{}.{}.{octet}.0/24", NET[0], NET[1]);
            routes.push(match next {
                Some(via) if i < l => Route::Via { dst, via },
                _ => Route::Typed { kind, dst },
            });
        }
        if i > 0 {
            // Back toward the host (and through it the stack): everything else.
            routes.push(Route::Via {
                dst: "default".into(),
                via: self.links[i - 1].near(),
            });
        }
        routes
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

    #[test]
    fn chain_of_namespaces_and_links() {
        let p = Plan::new("ulab", &[1500, 1400, 1280]).unwrap();
        let ns: Vec<&str> = p.nodes.iter().map(|n| n.ns.as_str()).collect();
        assert_eq!(ns, ["ulab-host", "ulab-r1", "ulab-r2", "ulab-far"]);
        assert_eq!(p.links[1].near(), Ipv4Addr::new(198, 19, 2, 1));
        assert_eq!(p.links[1].far(), Ipv4Addr::new(198, 19, 2, 2));
        assert_eq!(p.links[2].mtu, 1280);
        assert_eq!(p.far_addr(), Ipv4Addr::new(198, 19, 3, 2));
        assert_eq!(p.far_ns(), "ulab-far");
    }

    #[test]
    fn routes_point_both_ways() {
        let p = Plan::new("x", &[1500, 1400, 1280]).unwrap();
        let via = |dst: &str, via: [u8; 4]| Route::Via {
            dst: dst.into(),
            via: via.into(),
        };
        let host = p.routes(0);
        assert_eq!(host[0], via("198.19.2.0/24", [198, 19, 1, 2]));
        assert_eq!(host[1], via("198.19.3.0/24", [198, 19, 1, 2]));
        assert!(host.contains(&via("198.19.250.0/24", [198, 19, 1, 2])));
        assert!(
            !host.iter().any(|r| r.args()[0] == "default"),
            "host routes the TUN itself"
        );
        let r1 = p.routes(1);
        assert_eq!(r1[0], via("198.19.3.0/24", [198, 19, 2, 2]));
        assert_eq!(*r1.last().unwrap(), via("default", [198, 19, 1, 1]));
        let far = p.routes(3);
        assert_eq!(
            far[0],
            Route::Typed {
                kind: "blackhole",
                dst: "198.19.250.0/24".into()
            }
        );
        assert_eq!(far[0].args(), ["blackhole", "198.19.250.0/24"]);
        assert_eq!(*far.last().unwrap(), via("default", [198, 19, 3, 1]));
    }

    #[test]
    fn names_and_mtus_are_checked() {
        assert!(Plan::new("", &[1500]).is_err());
        assert!(Plan::new("a b", &[1500]).is_err());
        assert!(Plan::new("-x", &[1500]).is_err());
        assert!(Plan::new("ok", &[]).is_err());
        assert!(Plan::new("ok", &[100]).is_err());
        assert!(Plan::new("ok", &[1500; 17]).is_err());
        assert_eq!(parse_mtus("1500, 1400,1280"), Ok(vec![1500, 1400, 1280]));
        assert!(parse_mtus("1500,x").is_err());
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
