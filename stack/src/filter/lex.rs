//! The tokenizer of the capture filter language (tcpdump's words and operators).
//!
//! Words follow libpcap's scanner: a word starts with a letter or digit and may contain `-`, `_`
//! and `.` inside (so `tcp-syn`, `1-1023` and `10.0.0.1` are single words); the longest match
//! wins, and a word that is a number or a dotted address is classified as such. `\word` is a
//! word that is never a keyword (`proto \tcp`).

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
        assert_eq!(tokenize("len = 99999999999").unwrap_err().column(), 7);
    }
}
