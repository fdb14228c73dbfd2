//! Named and inline sets: addresses and prefixes of both families as sorted, merged ranges
//! (a lookup is a binary search: O(log n)), ports as a 65,536-bit map (O(1)).

use std::net::IpAddr;

/// A set of IPv4 and IPv6 addresses and prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T)>, next: impl Fn(T) -> Option<T>) {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| lo <= n) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *ranges = out;
}

fn find<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i > 0 && x <= ranges[i - 1].1
}

impl AddrSet {
    /// Adds `addr/len` (the host bits are ignored).
    pub fn insert(&mut self, addr: IpAddr, len: u8) {
        match addr {
            IpAddr::V4(a) => {
                let len = u32::from(len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let lo = u32::from(a) & mask;
                self.v4.push((lo, lo | !mask));
            }
            IpAddr::V6(a) => {
                let len = u32::from(len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                let lo = u128::from(a) & mask;
                self.v6.push((lo, lo | !mask));
            }
        }
    }

    /// Sorts and merges after the inserts (call once; lookups need it).
    pub fn seal(&mut self) {
        merge(&mut self.v4, |x: u32| x.checked_add(1));
        merge(&mut self.v6, |x: u128| x.checked_add(1));
    }

    /// Whether `a` is in the set.
    pub fn contains(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    /// Ranges held (after merging), both families.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether it holds any address of `v6`'s family.
    pub fn has_family(&self, v6: bool) -> bool {
        if v6 {
            !self.v6.is_empty()
        } else {
            !self.v4.is_empty()
        }
    }
}

/// A set of ports.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            bits: Box::new([0; 1024]),
        }
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        write!(f, "PortSet({n} ports)")
    }
}

impl PortSet {
    /// Adds `lo..=hi`.
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        for p in lo..=hi {
            self.bits[usize::from(p) / 64] |= 1 << (p % 64);
        }
    }

    /// Whether `p` is in the set.
    pub fn contains(&self, p: u16) -> bool {
        self.bits[usize::from(p) / 64] & (1 << (p % 64)) != 0
    }
}
