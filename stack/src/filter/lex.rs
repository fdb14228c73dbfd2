//! The tokenizer of the capture filter language (tcpdump's words and operators).
//!
//! Words follow libpcap's scanner: a word starts with a letter or digit and may contain `-`, `_`
//! and `.` inside (so `tcp-syn`, `1-1023` and `10.0.0.1` are single words); the longest match
//! wins, and a word that is a number or a dotted address is classified as such. `\word` is a
//! word that is never a keyword (`proto \tcp`). An IPv6 address (RFC 4291 §2.2 text, `::`
//! and a trailing dotted quad included) is one token: a run of hex digits, `:` and `.` with a
//! `::` or two `:` in it is read as one, and refused whole if it is not a valid address (so
//! `tcp[0:2]` stays a byte access).

use super::FilterError;

/// One token with the 0-based byte offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) at: usize,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// A number: decimal, `0x` hex, or octal with a leading 0 (as libpcap).
    Num(u32),
    /// A dotted IPv4 address with 2 to 4 parts (`10.1`, `10.0.0.1`): value and bits given.
    Addr(u32, u8),
    /// An IPv6 address, with its text as written.
    Addr6 { addr: u128, text: String },
    /// Any other word (keywords are recognised by the parser). `escaped` for `\word`.
    Word { text: String, escaped: bool },
    /// Punctuation and operators, as written (`(`, `&&`, `<<`, `!=`, ...).
    Op(&'static str),
    /// End of input.
    End,
}

/// Operators, longest first so that `<<` is not read as `<`.
const OPS: [&str; 25] = [
    "&&", "||", "<<", ">>", "<=", ">=", "!=", "==", "(", ")", "[", "]", ":", "+", "-", "*", "/",
    "%", "&", "|", "^", "=", "<", ">", "!",
];

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_word_inner(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// Splits `src` into tokens, ending with [`Tok::End`].
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\\' {
            let start = i;
            i += 1;
            while i < b.len() && !b" !()\n\t".contains(&b[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err(FilterError::new(start, "expected a word after '\\'"));
            }
            let text = src[start + 1..i].to_string();
            out.push(Token {
                kind: Tok::Word {
                    text,
                    escaped: true,
                },
                at: start,
            });
            continue;
        }
        if let Some(end) = ipv6_end(b, i) {
            out.push(Token {
                kind: ipv6(&src[i..end], i)?,
                at: i,
            });
            i = end;
            continue;
        }
        if is_word_start(c) {
            let start = i;
            while i < b.len() && is_word_inner(b[i]) {
                i += 1;
            }
            // A word ends with a letter, digit or '.' (libpcap's ID pattern).
            while matches!(b[i - 1], b'-' | b'_') {
                i -= 1;
            }
            out.push(Token {
                kind: classify(&src[start..i], start)?,
                at: start,
            });
            continue;
        }
        let rest = &src[i..];
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                out.push(Token {
                    kind: Tok::Op(op),
                    at: i,
                });
                i += op.len();
            }
            None => {
                let ch = rest.chars().next().unwrap_or('?');
                return Err(FilterError::new(i, format!("unexpected character '{ch}'")));
            }
        }
    }
    out.push(Token {
        kind: Tok::End,
        at: src.len(),
    });
    Ok(out)
}

/// Where an IPv6 address starting at `i` ends, if the text there is meant as one: a run of hex
/// digits, `:` and `.` (from a hex digit, or from `::`) holding `::` or at least two `:`,
/// extended over any word characters glued to it (so `2001:db8::1g` is refused whole).
fn ipv6_end(b: &[u8], i: usize) -> Option<usize> {
    let starts = b[i].is_ascii_hexdigit() || b[i..].starts_with(b"::");
    if !starts {
        return None;
    }
    let run = b[i..]
        .iter()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'))
        .count();
    let text = &b[i..i + run];
    let colons = text.iter().filter(|&&c| c == b':').count();
    if colons < 2 && !text.windows(2).any(|w| w == b"::") {
        return None;
    }
    let glued = b[i + run..]
        .iter()
        .take_while(|&&c| is_word_inner(c) || c == b':')
        .count();
    Some(i + run + glued)
}

/// An IPv6 address token, or why `text` is not one.
fn ipv6(text: &str, at: usize) -> Result<Tok, FilterError> {
    let addr: std::net::Ipv6Addr = text
        .parse()
        .map_err(|_| FilterError::new(at, format!("invalid IPv6 address '{text}'")))?;
    Ok(Tok::Addr6 {
        addr: u128::from(addr),
        text: text.to_string(),
    })
}

/// A number in libpcap's notation (`0x1f`, `017`, `42`), if `s` is one.
fn number(s: &str) -> Option<Result<u32, ()>> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(u32::from_str_radix(digits, radix).map_err(|_| ()))
}

fn classify(word: &str, at: usize) -> Result<Tok, FilterError> {
    if let Some(n) = number(word) {
        return n
            .map(Tok::Num)
            .map_err(|()| FilterError::new(at, format!("number {word} is too large")));
    }
    let parts: Vec<&str> = word.split('.').collect();
    let numeric = (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    if numeric {
        let mut v: u32 = 0;
        for p in &parts {
            let octet: u8 = p
                .parse()
                .map_err(|_| FilterError::new(at, format!("invalid IPv4 address '{word}'")))?;
            v = (v << 8) | u32::from(octet);
        }
        return Ok(Tok::Addr(v, 8 * parts.len() as u8));
    }
    Ok(Tok::Word {
        text: word.to_string(),
        escaped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn word(s: &str) -> Tok {
        Tok::Word {
            text: s.into(),
            escaped: false,
        }
    }

    #[test]
    fn words_numbers_addresses() {
        assert_eq!(
            kinds("tcp[tcpflags]&tcp-syn!=0"),
            vec![
                word("tcp"),
                Tok::Op("["),
                word("tcpflags"),
                Tok::Op("]"),
                Tok::Op("&"),
                word("tcp-syn"),
                Tok::Op("!="),
                Tok::Num(0),
                Tok::End
            ]
        );
        assert_eq!(
            kinds("0x1f 017 9")[..3],
            [Tok::Num(31), Tok::Num(15), Tok::Num(9)]
        );
        assert_eq!(kinds("10.1")[0], Tok::Addr(0x0a01, 16));
        assert_eq!(kinds("1-1023")[0], word("1-1023"));
        assert_eq!(kinds("a- b")[..3], [word("a"), Tok::Op("-"), word("b")]);
        assert_eq!(kinds("1.2.3.4.5")[0], word("1.2.3.4.5"));
        let v6 = |text: &str, addr: u128| Tok::Addr6 {
            addr,
            text: text.into(),
        };
        assert_eq!(
            kinds("net 2001:2::/64")[1..4],
            [
                v6("2001:2::", 0x2001_0002 << 96),
                Tok::Op("/"),
                Tok::Num(64)
            ]
        );
        assert_eq!(kinds("::1)")[..2], [v6("::1", 1), Tok::Op(")")]);
        assert_eq!(kinds("FE80::a")[0], v6("FE80::a", 0xfe80 << 112 | 0xa));
        assert_eq!(
            kinds("::ffff:1.2.3.4")[0],
            v6("::ffff:1.2.3.4", 0xffff_0102_0304)
        );
        // One colon is a byte access's size, not an address.
        assert_eq!(
            kinds("ip6[0:2]")[..5],
            [
                word("ip6"),
                Tok::Op("["),
                Tok::Num(0),
                Tok::Op(":"),
                Tok::Num(2)
            ]
        );
        assert_eq!(
            kinds("\\tcp)")[..2],
            [
                Tok::Word {
                    text: "tcp".into(),
                    escaped: true
                },
                Tok::Op(")")
            ]
        );
    }

    #[test]
    fn errors_carry_positions() {
        let e = tokenize("host 10.0.0.256").unwrap_err();
        assert_eq!(
            (e.column(), e.message()),
            (6, "invalid IPv4 address '10.0.0.256'")
        );
        assert_eq!(tokenize("tcp $").unwrap_err().column(), 5);
        for bad in [
            "2001:db8::1g",
            "1::2:3:4:5:6:7:8",
            "2001:2:3",
            "::ffff:1.2.3",
            "12345::1",
        ] {
            let e = tokenize(&format!("host {bad} or tcp")).unwrap_err();
            let want = format!("invalid IPv6 address '{bad}'");
            assert_eq!((e.column(), e.message()), (6, want.as_str()));
        }
        assert_eq!(tokenize("len = 99999999999").unwrap_err().column(), 7);
    }
}
