//! The capture filter language: tcpdump's expression syntax (pcap-filter(7)) over raw IPv4 and
//! IPv6 packets (LINKTYPE_RAW: no link header, the version nibble tells them apart), parsed and
//! evaluated by ustack itself.
//!
//! [`Filter::parse`] tokenizes ([`lex`]), parses with error positions ([`parse`]) into an AST
//! ([`ast`]), and [`Filter::matches`] walks the AST once per packet ([`eval`]): cost O(AST),
//! no allocation. The semantics follow libpcap's compiled BPF, and are checked against it
//! (`stack/tests/filter_libpcap.rs`):
//! - `and` and `or` have the same precedence and associate left to right; `not` binds tighter;
//! - a bare value after `and`/`or` repeats the previous qualifiers (`host a or b`);
//! - port checks (and `tcp[..]`, `udp[..]`, `icmp[..]`) only match the first fragment (fragment
//!   offset 0), as libpcap's do;
//! - over IPv6, `tcp`, `udp`, `icmp6`, `ip6 proto N` look at the fixed header's Next Header, or
//!   a Fragment header's right after it, and nothing further; ports and `icmp6[..]` at the
//!   fixed header's Next Header only, with the transport header at 40 (libpcap's rules);
//! - a byte access beyond the end of the packet rejects the packet outright, whatever the rest
//!   of the expression says (a BPF load out of bounds returns 0), as do a division or modulus by
//!   zero at run time.
//!
//! The grammar and every difference from libpcap are in docs/CAPTURE-FILTER.md.

pub mod ast;
mod eval;
pub mod fw;
mod lex;
mod names;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

/// Longest expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 4096;
/// Deepest nesting of the AST (parentheses, `not`, operators) accepted.
pub const MAX_DEPTH: usize = 64;

/// A compiled filter expression.
#[derive(Clone, Debug)]
pub struct Filter {
    root: ast::Node,
    program: eval::Program,
    text: String,
}

impl Filter {
    /// Parses `expr`; the empty expression matches every packet.
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        if expr.len() > MAX_EXPR_LEN {
            // The column is the first character that does not fit: its start, not a byte inside
            // it (found by fuzz/filter_parse).
            let at = (0..=MAX_EXPR_LEN)
                .rev()
                .find(|&i| expr.is_char_boundary(i))
                .unwrap_or(0);
            return Err(FilterError::new(
                at,
                format!("expression longer than {MAX_EXPR_LEN} bytes"),
            ));
        }
        let tokens = lex::tokenize(expr)?;
        let root = parse::parse(&tokens)?;
        Ok(Filter {
            program: eval::Program::compile(&root),
            root,
            text: expr.to_string(),
        })
    }

    /// A filter that matches every packet.
    pub fn any() -> Filter {
        Filter {
            program: eval::Program::compile(&ast::Node::True),
            root: ast::Node::True,
            text: String::new(),
        }
    }

    /// Whether the raw IPv4 or IPv6 packet `packet` (captured whole) matches.
    pub fn matches(&self, packet: &[u8]) -> bool {
        self.program.matches(packet)
    }

    /// The verdict when every header read it makes is within the packet; `None` when one is
    /// not (then [`Filter::matches`] follows libpcap's optimiser, see [`eval`]).
    pub fn matches_in_bounds(&self, packet: &[u8]) -> Option<bool> {
        self.program.in_bounds(packet)
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn ast(&self) -> &ast::Node {
        &self.root
    }
}

/// Why an expression was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    offset: usize,
    message: String,
}

impl FilterError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            offset,
            message: message.into(),
        }
    }

    /// 1-based column of the offending token (one past the end for "expected more").
    pub fn column(&self) -> usize {
        self.offset + 1
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error at column {}: {}", self.column(), self.message)
    }
}

impl std::error::Error for FilterError {}
