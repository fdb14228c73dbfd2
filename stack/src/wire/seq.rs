//! Wrapping 32-bit numbers compared only by named methods, never `PartialOrd`: TCP sequence
//! numbers (RFC 9293 §3.4) and TCP timestamps (RFC 7323 §5.2, §4.3).

use core::fmt;

/// A TCP sequence number: arithmetic mod 2^32, compared only by named methods (no `PartialOrd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n` mod 2^32 (`n` is truncated to 32 bits).
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }

    /// `self - n` mod 2^32 (`n` is truncated to 32 bits).
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n as u32))
    }

    /// `self - earlier`, mod 2^32, as an unsigned distance.
    pub fn distance(self, earlier: SeqNumber) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// The signed 32-bit difference `self - other` (RFC 9293 §3.4: comparisons are modulo 2^32).
    fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` modulo 2^32 (RFC 9293 §3.4).
    pub fn lt(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` modulo 2^32 (RFC 9293 §3.4).
    pub fn le(self, other: SeqNumber) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` modulo 2^32 (RFC 9293 §3.4).
    pub fn gt(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` modulo 2^32 (RFC 9293 §3.4).
    pub fn ge(self, other: SeqNumber) -> bool {
        self.diff(other) >= 0
    }

    /// `start <= self < start + len` (mod 2^32); false when `len == 0`.
    pub fn in_window(self, start: SeqNumber, len: u32) -> bool {
        self.distance(start) < len
    }

    /// The later of the two, in sequence order.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of the two, in sequence order.
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self.le(other) {
            self
        } else {
            other
        }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A TCP timestamp value (TSval / TSecr, RFC 7323 §3): a 32-bit clock compared modulo 2^32 like
/// sequence numbers (RFC 7323 §5.2: "TSval ... is monotone non-decreasing", compared as
/// signed 32-bit differences), only through named methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TsVal(pub u32);

impl TsVal {
    fn diff(self, other: TsVal) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` modulo 2^32: an older timestamp (RFC 7323 §5.3 R1, PAWS).
    pub fn lt(self, other: TsVal) -> bool {
        self.diff(other) < 0
    }

    /// `self >= other` modulo 2^32 (RFC 7323 §4.3: TS.Recent moves forward only).
    pub fn ge(self, other: TsVal) -> bool {
        self.diff(other) >= 0
    }

    /// `self > other` modulo 2^32: a strictly newer timestamp.
    pub fn gt(self, other: TsVal) -> bool {
        self.diff(other) > 0
    }

    /// Ticks from `earlier` to `self`, mod 2^32 (an RTT in timestamp-clock units, RFC 7323 §4.1).
    pub fn since(self, earlier: TsVal) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl fmt::Display for TsVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_compare_near_wraparound() {
        let a = SeqNumber(u32::MAX - 5);
        let b = a.add(10);
        assert_eq!(b, SeqNumber(4));
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(!b.lt(a) && !a.gt(b));
        assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        assert_eq!(b.distance(a), 10);
        assert_eq!(a.distance(b), u32::MAX - 9);
        assert_eq!(b.sub(10), a);
        assert_eq!(a.max(b), b);
        assert_eq!(b.max(a), b);
        assert_eq!(a.min(b), a);
        assert!(SeqNumber(u32::MAX).in_window(a, 10));
        assert!(SeqNumber(0).in_window(a, 10));
        assert!(a.in_window(a, 10));
        assert!(!b.in_window(a, 10));
        assert!(!a.sub(1).in_window(a, 10));
        assert!(!a.in_window(a, 0));
        // Half the space away: 2^31 ahead counts as "behind" (signed difference is negative).
        assert!(SeqNumber(0).add(1 << 31).lt(SeqNumber(0)));
        assert!(SeqNumber(0).add((1 << 31) - 1).gt(SeqNumber(0)));
        assert_eq!(SeqNumber(7).add(1 << 32), SeqNumber(7));
        assert_eq!(format!("{}", SeqNumber(42)), "42");
    }

    #[test]
    fn timestamps_compare_near_wraparound() {
        let old = TsVal(u32::MAX - 1);
        let new = TsVal(3);
        assert!(old.lt(new) && new.gt(old) && new.ge(old) && old.ge(old));
        assert!(!new.lt(old) && !old.gt(new) && !old.gt(old));
        assert_eq!(new.since(old), 5);
        // Half the space away counts as older, as for sequence numbers.
        assert!(TsVal(1 << 31).lt(TsVal(0)));
    }
}
