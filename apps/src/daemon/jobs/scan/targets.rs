//! Scan targets: addresses and prefixes (`198.18.0.0/24`, `2001:2::/120`), IPv4 and IPv6
//! alike, expanded to the addresses they hold — every one, network and broadcast addresses
//! included, as nmap does for a CIDR block. Names are refused: ustack resolves none.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most addresses one scan takes (a /16, or an IPv6 /112).
pub const MAX_HOSTS: usize = 1 << 16;

/// The addresses `specs` name, in order, without duplicates.
pub fn expand(specs: &[String]) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for spec in specs {
        let spec = spec.trim();
        let (addr, len) = match spec.split_once('/') {
            Some((a, l)) => {
                let len: u8 = l
                    .parse()
                    .map_err(|_| format!("{spec}: bad prefix length"))?;
                (a, Some(len))
            }
            None => (spec, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!("{spec}: not an address or prefix, and ustack resolves no names")
        })?;
        let (first, count) = block(addr, len).ok_or_else(|| format!("{spec}: bad prefix"))?;
        if out.len().saturating_add(count) > MAX_HOSTS {
            return Err(format!(
                "more than {MAX_HOSTS} addresses: scan less at once"
            ));
        }
        for i in 0..count {
            let a = nth(first, i);
            if seen.insert(a) {
                out.push(a);
            }
        }
    }
    if out.is_empty() {
        return Err("no targets".into());
    }
    Ok(out)
}

/// The first address of `addr`/`len` and how many the block holds (None: a length beyond the
/// family's, or a block larger than [`MAX_HOSTS`]).
fn block(addr: IpAddr, len: Option<u8>) -> Option<(IpAddr, usize)> {
    match addr {
        IpAddr::V4(a) => {
            let len = u32::from(len.unwrap_or(32));
            if len > 32 || 32 - len > 16 {
                return None;
            }
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let first = Ipv4Addr::from(u32::from(a) & mask);
            Some((IpAddr::V4(first), 1usize << (32 - len)))
        }
        IpAddr::V6(a) => {
            let len = u32::from(len.unwrap_or(128));
            if len > 128 || 128 - len > 16 {
                return None;
            }
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            let first = Ipv6Addr::from(u128::from(a) & mask);
            Some((IpAddr::V6(first), 1usize << (128 - len)))
        }
    }
}

fn nth(first: IpAddr, i: usize) -> IpAddr {
    match first {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(i as u32))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(i as u128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &[&str]) -> Result<Vec<IpAddr>, String> {
        expand(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn addresses_and_prefixes() {
        let v = ex(&["198.18.0.1", "198.18.0.0/30", "198.18.0.1"]).unwrap();
        let s: Vec<String> = v.iter().map(|a| a.to_string()).collect();
        assert_eq!(s, ["198.18.0.1", "198.18.0.0", "198.18.0.2", "198.18.0.3"]);
        assert_eq!(ex(&["198.18.7.9/24"]).unwrap().len(), 256);
        assert_eq!(ex(&["198.18.0.0/16"]).unwrap().len(), 65536);
        let v6 = ex(&["2001:2::5/126"]).unwrap();
        assert_eq!(v6.len(), 4);
        assert_eq!(v6[0].to_string(), "2001:2::4");
        for bad in [
            "example.com",
            "198.18.0.0/15",
            "198.18.0.0/33",
            "2001:2::/64",
            "1.2.3.4/x",
        ] {
            assert!(ex(&[bad]).is_err(), "{bad}");
        }
        assert!(ex(&[]).is_err());
        assert!(ex(&["198.18.0.0/16", "198.19.0.0/24"]).is_err());
    }
}
