//! `Range: bytes=...` (RFC 9110 §14): one range per request — `a-b`, `a-` or `-n`.
//!
//! Only what the RFC requires to be refused is refused: a single range that cannot be satisfied
//! gets 416 (§15.5.17). Everything else the server may ignore, and does, sending the whole
//! representation with 200 (§14.2: "A server MAY ignore the Range header field"): another range
//! unit, a header that does not parse (§14.1.1 grammar; `last-pos < first-pos` is invalid,
//! §14.1.2), and a request for several ranges (multipart/byteranges is not implemented).

/// What a request's `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// The whole representation, 200 (no header, or one the server ignores).
    Full,
    /// Bytes `start..=end` (inclusive, `end < len`), 206.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// No byte of the representation is in the range: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

impl Ranged {
    /// The number of bytes to send of a representation of `len` bytes.
    pub fn body_len(self, len: u64) -> u64 {
        match self {
            Ranged::Full => len,
            Ranged::Partial { start, end } => end - start + 1,
            Ranged::Unsatisfiable => 0,
        }
    }
}

/// A run of ASCII digits (1*DIGIT, RFC 9110 §14.1.1) as a number; too many digits to fit in a
/// u64 saturate (such a position is beyond any file).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// One range-spec: Some((first, last)) for `first-[last]`, Some((None, n)) for `-n`; None if it
/// does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-pos "-" [ last-pos ]`.
    Int(u64, Option<u64>),
    /// `"-" suffix-length`.
    Suffix(u64),
}

fn spec(s: &str) -> Option<Spec> {
    let (first, last) = s.split_once('-')?;
    if first.is_empty() {
        return digits(last).map(Spec::Suffix);
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(Spec::Int(first, None));
    }
    let last = digits(last)?;
    // RFC 9110 §14.1.1: a last-pos below first-pos makes the range-spec invalid.
    (last >= first).then_some(Spec::Int(first, Some(last)))
}

/// Evaluates the `Range` header `value` against a representation of `len` bytes.
pub fn evaluate(value: &[u8], len: u64) -> Ranged {
    let Ok(value) = std::str::from_utf8(value) else {
        return Ranged::Full;
    };
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Ranged::Full;
    };
    // Range units are case-insensitive (RFC 9110 §14.1); an unknown one MUST be ignored (§14.2).
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Full;
    }
    // range-set = 1#range-spec: comma-separated, optional whitespace, empty elements allowed.
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(one), None) = (specs.next(), specs.next()) else {
        // None at all is invalid; several are a multipart request we do not implement.
        return Ranged::Full;
    };
    let Some(one) = spec(one) else {
        return Ranged::Full;
    };
    match one {
        // §14.1.1: an int-range is satisfiable if first-pos < length; last-pos beyond the end
        // is taken as the last byte (§14.1.2).
        Spec::Int(first, _) if first >= len => Ranged::Unsatisfiable,
        Spec::Int(start, last) => Ranged::Partial {
            start,
            end: last.map_or(len - 1, |l| l.min(len - 1)),
        },
        // A suffix-range of length zero is unsatisfiable.
        Spec::Suffix(0) => Ranged::Unsatisfiable,
        // Over an empty representation a non-zero suffix is satisfiable but selects nothing
        // that Content-Range could express: send the (empty) whole.
        Spec::Suffix(_) if len == 0 => Ranged::Full,
        // A suffix longer than the representation selects all of it (§14.1.2).
        Spec::Suffix(n) => Ranged::Partial {
            start: len.saturating_sub(n),
            end: len - 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(v: &str, len: u64) -> Ranged {
        evaluate(v.as_bytes(), len)
    }

    fn part(start: u64, end: u64) -> Ranged {
        Ranged::Partial { start, end }
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(eval("bytes=0-99", 1000), part(0, 99));
        assert_eq!(eval("bytes=100-", 1000), part(100, 999));
        assert_eq!(eval("bytes=-100", 1000), part(900, 999));
        assert_eq!(eval("bytes=999-999", 1000), part(999, 999));
        assert_eq!(eval("bytes=0-0", 1), part(0, 0));
        assert_eq!(part(10, 19).body_len(1000), 10);
        assert_eq!(Ranged::Full.body_len(1000), 1000);
    }

    #[test]
    fn clamped_to_the_representation() {
        // last-pos past the end means "to the end"; a suffix longer than the file, all of it.
        assert_eq!(eval("bytes=500-5000", 1000), part(500, 999));
        assert_eq!(eval("bytes=0-99999999999999999999999", 1000), part(0, 999));
        assert_eq!(eval("bytes=-5000", 1000), part(0, 999));
        assert_eq!(eval("bytes=-99999999999999999999999", 10), part(0, 9));
    }

    #[test]
    fn unsatisfiable_is_416() {
        assert_eq!(eval("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(eval("bytes=1000-2000", 1000), Ranged::Unsatisfiable);
        assert_eq!(
            eval("bytes=99999999999999999999999-", 1000),
            Ranged::Unsatisfiable
        );
        assert_eq!(eval("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(eval("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(Ranged::Unsatisfiable.body_len(1000), 0);
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(eval("Bytes=0-1", 10), part(0, 1));
        assert_eq!(eval("BYTES = 0-1 ", 10), part(0, 1));
        assert_eq!(eval("bytes= 2-3 ,", 10), part(2, 3));
        assert_eq!(eval("bytes=,, 4-", 10), part(4, 9));
    }

    #[test]
    fn malformed_or_unsupported_ranges_are_ignored() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=+1-2",
            "bytes=1 -2",
            "bytes=1--2",
            "bytes=0x10-",
            "bytes=5-4", // last-pos < first-pos: invalid, not unsatisfiable
            "bytes=-1-2",
            "items=0-1",
            "0-1",
            "bytes=0-1,3-4", // several ranges: multipart is not implemented
            "bytes=0-1, -1",
        ] {
            assert_eq!(eval(v, 10), Ranged::Full, "{v:?}");
        }
        assert_eq!(evaluate(b"bytes=\xff-1", 10), Ranged::Full);
        // A non-zero suffix of an empty file: nothing to cut, the (empty) whole.
        assert_eq!(eval("bytes=-5", 0), Ranged::Full);
    }
}
