//! The parser: tokens → [`Node`], with the position of the first error.
//!
//! The boolean level follows libpcap's grammar: `and`/`or` (also `&&`/`||`) have equal
//! precedence and associate left to right, `not`/`!` binds tighter, and a bare value after
//! `and`/`or` repeats the qualifiers of the last `[proto] [dir] [type] value` primitive
//! (`host a or b`, `tcp port 80 or 443`). Parentheses restore the qualifiers in force before
//! them once closed, as libpcap's do. Values are read in [`value`]; arithmetic in [`arith`].

use super::ast::{Dir, Family, Layers, Node, Protos};
use super::lex::{Tok, Token};
use super::{FilterError, MAX_DEPTH};

mod arith;
mod value;

/// The protocol qualifier of a primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProtoQual {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Sctp,
}

impl ProtoQual {
    fn from_word(w: &str) -> Option<ProtoQual> {
        Some(match w {
            "ip" => ProtoQual::Ip,
            "ip6" => ProtoQual::Ip6,
            "tcp" => ProtoQual::Tcp,
            "udp" => ProtoQual::Udp,
            "icmp" => ProtoQual::Icmp,
            "icmp6" => ProtoQual::Icmp6,
            "sctp" => ProtoQual::Sctp,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ProtoQual::Ip => "ip",
            ProtoQual::Ip6 => "ip6",
            ProtoQual::Tcp => "tcp",
            ProtoQual::Udp => "udp",
            ProtoQual::Icmp => "icmp",
            ProtoQual::Icmp6 => "icmp6",
            ProtoQual::Sctp => "sctp",
        }
    }

    /// The protocol on its own (`tcp`, `ip6`): libpcap's `tcp`, `udp` and `sctp` cover both
    /// families, `icmp` IPv4 only, `icmp6` IPv6 only.
    fn alone(self) -> Node {
        let proto = |family, proto| Node::Proto { family, proto };
        match self {
            ProtoQual::Ip => Node::Ip,
            ProtoQual::Ip6 => Node::Ip6,
            ProtoQual::Tcp => proto(Family::Any, 6),
            ProtoQual::Udp => proto(Family::Any, 17),
            ProtoQual::Sctp => proto(Family::Any, 132),
            ProtoQual::Icmp => proto(Family::V4, 1),
            ProtoQual::Icmp6 => proto(Family::V6, 58),
        }
    }

    /// The transport protocols a port primitive with this qualifier covers.
    fn ports(self) -> Option<Protos> {
        match self {
            ProtoQual::Tcp => Some(Protos::TCP),
            ProtoQual::Udp => Some(Protos::UDP),
            ProtoQual::Sctp => Some(Protos::SCTP),
            ProtoQual::Ip | ProtoQual::Ip6 | ProtoQual::Icmp | ProtoQual::Icmp6 => None,
        }
    }
}

/// The kind of value a primitive compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Host,
    Net,
    Port,
    Portrange,
    Proto,
}

/// `[proto] [dir] [type]`: what a value means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Qual {
    proto: Option<ProtoQual>,
    dir: Option<Dir>,
    kind: Option<Kind>,
}

pub(super) struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    depth: usize,
    /// The qualifiers a bare value repeats, if any.
    qual: Option<Qual>,
}

type PResult<T> = Result<T, FilterError>;

/// Parses a whole expression (the empty one matches everything).
pub(super) fn parse(toks: &[Token]) -> PResult<Node> {
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        qual: None,
    };
    if p.peek() == &Tok::End {
        return Ok(Node::True);
    }
    let node = p.expr()?;
    match p.peek() {
        Tok::End => Ok(node),
        Tok::Op(")") => Err(p.error("unbalanced ')'")),
        _ => Err(p.error(format!("expected 'and' or 'or' before {}", p.describe()))),
    }
}

fn is_word(t: &Tok, w: &str) -> bool {
    matches!(t, Tok::Word { text, escaped: false } if text == w)
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &'t Tok {
        let last = self.toks.len() - 1;
        &self.toks[(self.pos + n).min(last)].kind
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].at
    }

    fn advance(&mut self) -> &'t Tok {
        let t = self.peek();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.offset(), msg)
    }

    /// The current token, for messages: `'tcp'`, `'('`, `the end`.
    fn describe(&self) -> String {
        match self.peek() {
            Tok::End => "the end".into(),
            _ => format!("'{}'", self.word_text()),
        }
    }

    fn word_text(&self) -> String {
        match self.peek() {
            Tok::Word { text, .. } => text.clone(),
            Tok::Addr(v, bits) => {
                let parts = usize::from(*bits / 8);
                let bytes = v.to_be_bytes();
                let shown: Vec<String> = bytes[4 - parts..].iter().map(|b| b.to_string()).collect();
                shown.join(".")
            }
            Tok::Addr6 { text, .. } => text.clone(),
            Tok::Num(n) => n.to_string(),
            Tok::Op(op) => (*op).to_string(),
            Tok::End => String::new(),
        }
    }

    fn is_keyword(&self, w: &str) -> bool {
        is_word(self.peek(), w)
    }

    fn eat_keyword(&mut self, w: &str) -> bool {
        let yes = self.is_keyword(w);
        if yes {
            self.advance();
        }
        yes
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = matches!(self.peek(), Tok::Op(o) if *o == op);
        if yes {
            self.advance();
        }
        yes
    }

    fn expect_op(&mut self, op: &'static str, what: &str) -> PResult<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.error(format!("expected '{op}' {what}, found {}", self.describe())))
        }
    }

    /// Enters one level of nesting (bounded by [`MAX_DEPTH`]).
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("expression nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `expr := term ((and|or) term)*`, left-associative, one precedence.
    fn expr(&mut self) -> PResult<Node> {
        self.enter()?;
        let mut left = self.term()?;
        loop {
            let and = if self.is_keyword("and") || self.peek() == &Tok::Op("&&") {
                true
            } else if self.is_keyword("or") || self.peek() == &Tok::Op("||") {
                false
            } else {
                break;
            };
            self.advance();
            let right = self.term()?;
            left = if and {
                Node::And(Box::new(left), Box::new(right))
            } else {
                Node::Or(Box::new(left), Box::new(right))
            };
        }
        self.leave();
        Ok(left)
    }

    /// `term := (not|!) term | primitive`.
    fn term(&mut self) -> PResult<Node> {
        if self.is_keyword("not") || self.peek() == &Tok::Op("!") {
            self.advance();
            self.enter()?;
            let t = self.term()?;
            self.leave();
            return Ok(Node::Not(Box::new(t)));
        }
        self.primitive()
    }

    fn primitive(&mut self) -> PResult<Node> {
        match self.peek() {
            Tok::End => Err(self.error("expected an expression")),
            Tok::Op("(") => self.paren(),
            Tok::Op("-") => self.relation(),
            Tok::Op(_) => {
                Err(self.error(format!("expected an expression, found {}", self.describe())))
            }
            Tok::Num(_) => self.number_or_value(),
            Tok::Addr(..) | Tok::Addr6 { .. } => self.bare_value(),
            Tok::Word { text, escaped } => {
                if *escaped {
                    return self.bare_value();
                }
                self.word_primitive(text)
            }
        }
    }

    fn word_primitive(&mut self, text: &str) -> PResult<Node> {
        if let Some(pq) = ProtoQual::from_word(text) {
            if self.peek_at(1) == &Tok::Op("[") {
                return self.relation();
            }
            return self.head(Some(pq));
        }
        match text {
            "src" | "dst" | "host" | "net" | "port" | "portrange" | "proto" => self.head(None),
            "len" => self.relation(),
            "greater" | "less" => {
                let greater = text == "greater";
                self.advance();
                let n = match self.peek() {
                    Tok::Num(n) => *n,
                    _ => return Err(self.error("expected a number (a length in bytes)")),
                };
                self.advance();
                self.qual = None;
                Ok(value::length_at_least(greater, n))
            }
            "multicast" => Err(self.error("only 'ip multicast' and 'ip6 multicast' are supported")),
            "and" | "or" | "not" => {
                Err(self.error(format!("expected an expression before '{text}'")))
            }
            _ if super::names::constant(text).is_some() => self.relation(),
            _ => self.bare_value(),
        }
    }

    /// Where the parser is, to come back after a failed attempt.
    fn mark(&self) -> (usize, usize, Option<Qual>) {
        (self.pos, self.depth, self.qual)
    }

    fn reset(&mut self, (pos, depth, qual): (usize, usize, Option<Qual>)) {
        self.pos = pos;
        self.depth = depth;
        self.qual = qual;
    }

    /// A parenthesized arithmetic term starting a relation (`(len - 20) > 0`), or `( expr )`.
    /// Of two failed readings the one that got further reports.
    fn paren(&mut self) -> PResult<Node> {
        let start = self.mark();
        let rel_err = match self.relation() {
            Ok(node) => return Ok(node),
            Err(e) => e,
        };
        self.reset(start);
        self.advance();
        let inner = self.expr().and_then(|n| {
            self.expect_op(")", "to close '('")?;
            Ok(n)
        });
        match inner {
            Ok(n) => {
                // Qualifiers set inside do not outlive the parentheses (libpcap's `paren`).
                self.qual = start.2;
                Ok(n)
            }
            Err(e) => Err(farther(rel_err, e)),
        }
    }

    /// A number: the start of a relation (`1 + len = 3`), or a bare value repeating the last
    /// qualifiers (`port 80 or 443`).
    fn number_or_value(&mut self) -> PResult<Node> {
        if self.qual.is_none() {
            return self.relation();
        }
        let start = self.mark();
        let rel_err = match self.relation() {
            Ok(node) => return Ok(node),
            Err(e) => e,
        };
        self.reset(start);
        // `443 =` or `4 + len` is arithmetic; otherwise report what is wrong with the value.
        let arithmetic =
            matches!(self.peek_at(1), Tok::Op(op) if !matches!(*op, "(" | ")" | "&&" | "||" | "!"));
        self.bare_value()
            .map_err(|e| if arithmetic { rel_err } else { e })
    }

    /// A value with no qualifiers of its own: it repeats the last ones (`host a or b`).
    fn bare_value(&mut self) -> PResult<Node> {
        match self.qual {
            Some(q) => self.value(q),
            None => Err(self.error(format!(
                "expected a qualifier (host, net, port, portrange, src, dst, ...) before {}",
                self.describe()
            ))),
        }
    }

    /// `[proto] [dir] [type] value`, or a protocol on its own (`tcp`), or `ip proto N`,
    /// `ip multicast`, `ip6 multicast`.
    fn head(&mut self, proto: Option<ProtoQual>) -> PResult<Node> {
        if proto.is_some() {
            self.advance();
        }
        let dir = self.direction();
        let kind = match self.peek() {
            t if is_word(t, "host") => Some(Kind::Host),
            t if is_word(t, "net") => Some(Kind::Net),
            t if is_word(t, "port") => Some(Kind::Port),
            t if is_word(t, "portrange") => Some(Kind::Portrange),
            t if is_word(t, "proto") && dir.is_none() => Some(Kind::Proto),
            _ => None,
        };
        if kind.is_some() {
            self.advance();
        }
        if dir.is_none() && kind.is_none() {
            let Some(pq) = proto else {
                return Err(self.error("expected a qualifier"));
            };
            self.qual = None;
            let family = match pq {
                ProtoQual::Ip => Some(Family::V4),
                ProtoQual::Ip6 => Some(Family::V6),
                _ => None,
            };
            if let Some(family) = family.filter(|_| self.eat_keyword("multicast")) {
                return Ok(Node::Multicast(family));
            }
            // A protocol on its own: `tcp`, `ip`, `icmp6`.
            return Ok(pq.alone());
        }
        let q = Qual { proto, dir, kind };
        self.qual = Some(q);
        self.value(q)
    }

    /// `src`, `dst`, `src or dst`, `src and dst` (either order).
    fn direction(&mut self) -> Option<Dir> {
        let first = if self.is_keyword("src") {
            Dir::Src
        } else if self.is_keyword("dst") {
            Dir::Dst
        } else {
            return None;
        };
        self.advance();
        let other = if first == Dir::Src { "dst" } else { "src" };
        if is_word(self.peek_at(1), other) {
            if self.is_keyword("or") {
                self.pos += 2;
                return Some(Dir::Either);
            }
            if self.is_keyword("and") {
                self.pos += 2;
                return Some(Dir::Both);
            }
        }
        Some(first)
    }

    /// `arith relop arith`.
    fn relation(&mut self) -> PResult<Node> {
        let lhs = self.arith()?;
        let op = self.relop().ok_or_else(|| {
            self.error(format!(
                "expected a comparison (=, !=, <, <=, >, >=), found {}",
                self.describe()
            ))
        })?;
        let rhs = self.arith()?;
        let mut layers = Layers::default();
        arith::layers(&lhs, &mut layers);
        arith::layers(&rhs, &mut layers);
        self.qual = None;
        Ok(Node::Rel {
            op,
            lhs,
            rhs,
            layers,
        })
    }
}

/// Of two errors, the one further into the expression.
fn farther(a: FilterError, b: FilterError) -> FilterError {
    if a.column() > b.column() {
        a
    } else {
        b
    }
}
