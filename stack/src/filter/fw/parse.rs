//! The rule language: a subset of nftables' syntax, one rule per line.
//!
//! ```text
//! set blocked { 198.18.0.7, 198.19.0.0/16, 2001:2:0:fa::/64 }
//! set web { 80, 443, 8000-8080 }
//! chain input {
//!     policy drop
//!     ct state established,related accept
//!     ip saddr @blocked drop
//!     ip saddr 198.18.0.0/24 tcp dport { 22, 80 } ct state new accept
//!     tcp dport @web limit rate 50/second accept
//!     icmp type echo-request accept
//!     meta l4proto udp reject with icmp type admin-prohibited
//! }
//! ```
//! nft's `table inet NAME { … }` wrapper and its `type filter hook input priority 0;` chain
//! line are accepted and ignored. Errors name the line and column.

use super::names::{ct_state, reject_code, service_port};
use super::rule::*;
use super::sets::{AddrSet, PortSet};
use super::{Firewall, Hook};
use crate::wire::proto;
use std::fmt;
use std::net::IpAddr;

mod matches;
use matches::{parse_icmp, parse_ip, parse_meta, parse_transport};

/// A rule set or rule that does not parse: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for RuleError {}

#[derive(Clone, Debug, PartialEq)]
struct Tok {
    text: String,
    line: usize,
    col: usize,
}

/// Longest rule set accepted, in bytes.
pub const MAX_TEXT: usize = 4 << 20;

fn tokenize(text: &str, first_line: usize) -> Result<Vec<Tok>, RuleError> {
    if text.len() > MAX_TEXT {
        return Err(err_at(
            first_line,
            1,
            format!("longer than {MAX_TEXT} bytes"),
        ));
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ln = first_line + n;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            let col = line[..at].chars().count() + 1;
            let tok = |s: &str| Tok {
                text: s.to_string(),
                line: ln,
                col,
            };
            if c == '#' {
                break;
            } else if c.is_whitespace() {
                i += 1;
            } else if c == '"' {
                let end = chars[i + 1..].iter().position(|&(_, c)| c == '"');
                let Some(end) = end else {
                    return Err(err_at(ln, col, "unterminated string"));
                };
                let s: String = chars[i + 1..i + 1 + end].iter().map(|&(_, c)| c).collect();
                out.push(tok(&format!("\"{s}")));
                i += end + 2;
            } else if is_word(c) {
                let start = i;
                while i < chars.len() && is_word(chars[i].1) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                out.push(tok(&s));
            } else {
                let two: String = chars[i..(i + 2).min(chars.len())]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect();
                let op = ["==", "!=", "<=", ">="].iter().find(|o| two == **o);
                let s = match op {
                    Some(o) => o.to_string(),
                    None if "{}(),;@=<>&|!".contains(c) => c.to_string(),
                    None => return Err(err_at(ln, col, format!("unexpected {c:?}"))),
                };
                i += s.len();
                out.push(tok(&s));
            }
        }
        out.push(Tok {
            text: "\n".into(),
            line: ln,
            col: line.chars().count() + 1,
        });
    }
    Ok(out)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/-".contains(c)
}

fn err_at(line: usize, column: usize, message: impl Into<String>) -> RuleError {
    RuleError {
        line,
        column,
        message: message.into(),
    }
}

struct P<'a> {
    toks: Vec<Tok>,
    i: usize,
    fw: &'a mut Firewall,
}

type R<T> = Result<T, RuleError>;

impl P<'_> {
    fn peek(&self) -> &str {
        self.toks.get(self.i).map_or("", |t| t.text.as_str())
    }

    fn err(&self, message: impl Into<String>) -> RuleError {
        let t = self.toks.get(self.i).or(self.toks.last());
        let (line, col) = t.map_or((1, 1), |t| (t.line, t.col));
        err_at(line, col, message)
    }

    fn next(&mut self) -> R<String> {
        let t = self
            .toks
            .get(self.i)
            .ok_or_else(|| self.err("unexpected end"))?;
        self.i += 1;
        Ok(t.text.clone())
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.peek() == s {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> R<()> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(self.err(format!("expected `{s}`, found `{}`", shown(self.peek()))))
        }
    }

    fn skip_newlines(&mut self) {
        while self.eat("\n") || self.eat(";") {}
    }

    fn at_rule_end(&self) -> bool {
        matches!(self.peek(), "\n" | ";" | "}" | "")
    }
}

fn shown(t: &str) -> &str {
    match t {
        "\n" => "end of line",
        "" => "end of input",
        t => t,
    }
}

/// Parses a whole rule set into `fw`.
pub(super) fn parse_ruleset(fw: &mut Firewall, text: &str) -> R<()> {
    let toks = tokenize(text, 1)?;
    let mut p = P { toks, i: 0, fw };
    let mut depth_table = 0;
    loop {
        p.skip_newlines();
        match p.peek() {
            "" => break,
            "table" => {
                p.i += 1;
                while !matches!(p.peek(), "{" | "\n" | "") {
                    p.i += 1;
                }
                p.expect("{")?;
                depth_table += 1;
            }
            "}" if depth_table > 0 => {
                p.i += 1;
                depth_table -= 1;
            }
            "set" => parse_set(&mut p)?,
            "chain" => parse_chain(&mut p)?,
            t => return Err(p.err(format!("expected `set` or `chain`, found `{}`", shown(t)))),
        }
    }
    if depth_table > 0 {
        return Err(p.err("`table` block not closed"));
    }
    Ok(())
}

fn parse_set(p: &mut P<'_>) -> R<()> {
    p.expect("set")?;
    let name = p.next()?;
    if p.fw.set_names.iter().any(|(n, ..)| *n == name) {
        return Err(p.err(format!("set {name} is defined twice")));
    }
    p.expect("{")?;
    p.skip_newlines();
    // nft's `type ipv4_addr; flags interval; elements = { ... }` or a bare list.
    while matches!(p.peek(), "type" | "flags") {
        while !matches!(p.peek(), ";" | "\n" | "") {
            p.i += 1;
        }
        p.skip_newlines();
    }
    let wrapped = p.eat("elements");
    if wrapped {
        p.expect("=")?;
        p.expect("{")?;
    }
    let mut items = Vec::new();
    loop {
        p.skip_newlines();
        if p.peek() == "}" {
            break;
        }
        let at = p.i;
        items.push((p.next()?, at));
        p.skip_newlines();
        if !p.eat(",") && p.peek() != "}" {
            return Err(p.err("expected `,` or `}` in a set"));
        }
    }
    p.expect("}")?;
    if wrapped {
        p.skip_newlines();
        p.expect("}")?;
    }
    let ports = items
        .first()
        .is_some_and(|(w, _)| parse_ports_word(w).is_some());
    let words: Vec<&str> = items.iter().map(|(w, _)| w.as_str()).collect();
    let text = format!("set {name} {{ {} }}", words.join(", "));
    if ports {
        let mut set = PortSet::default();
        for (w, at) in &items {
            let (lo, hi) = parse_ports_word(w).ok_or_else(|| {
                p.i = *at;
                p.err(format!(
                    "`{w}` is not a port or range (the set holds ports)"
                ))
            })?;
            set.insert_range(lo, hi);
        }
        p.fw.port_sets.push(set);
        let index = p.fw.port_sets.len() - 1;
        p.fw.set_names.push((name, true, index, text));
    } else {
        let mut set = AddrSet::default();
        for (w, at) in &items {
            let (a, len) = parse_prefix(w).ok_or_else(|| {
                p.i = *at;
                p.err(format!("`{w}` is not an address or prefix"))
            })?;
            set.insert(a, len);
        }
        set.seal();
        p.fw.addr_sets.push(set);
        let index = p.fw.addr_sets.len() - 1;
        p.fw.set_names.push((name, false, index, text));
    }
    Ok(())
}

fn parse_chain(p: &mut P<'_>) -> R<()> {
    p.expect("chain")?;
    let hook = match p.next()?.as_str() {
        "input" => Hook::Input,
        "output" => Hook::Output,
        "fragments" | "prerouting" => Hook::Fragments,
        other => {
            p.i -= 1;
            return Err(p.err(format!(
                "unknown chain `{other}` (input, output or fragments)"
            )));
        }
    };
    p.expect("{")?;
    loop {
        p.skip_newlines();
        match p.peek() {
            "}" => {
                p.i += 1;
                return Ok(());
            }
            "" => return Err(p.err("chain not closed with `}`")),
            "type" => {
                while !matches!(p.peek(), ";" | "\n" | "" | "policy") {
                    p.i += 1;
                }
            }
            "policy" => {
                p.i += 1;
                let policy = match p.next()?.as_str() {
                    "accept" => Verdict::Accept,
                    "drop" => Verdict::Drop,
                    _ => {
                        p.i -= 1;
                        return Err(p.err("policy is `accept` or `drop`"));
                    }
                };
                p.fw.chain_mut(hook).policy = policy;
            }
            _ => {
                let rule = parse_rule_tokens(p)?;
                p.fw.chain_mut(hook).rules.push(rule);
            }
        }
    }
}

/// Parses one rule (`text` on line `line`) against `fw`'s sets.
pub(super) fn parse_rule(fw: &mut Firewall, text: &str, line: usize) -> R<Rule> {
    let toks = tokenize(text, line)?;
    let mut p = P { toks, i: 0, fw };
    p.skip_newlines();
    let rule = parse_rule_tokens(&mut p)?;
    p.skip_newlines();
    if p.peek() != "" {
        return Err(p.err(format!("unexpected `{}` after the rule", shown(p.peek()))));
    }
    Ok(rule)
}

fn parse_rule_tokens(p: &mut P<'_>) -> R<Rule> {
    let start = p.i;
    let (mut matches, mut stmts, mut verdict) = (Vec::new(), Vec::new(), None);
    while !p.at_rule_end() {
        if verdict.is_some() {
            return Err(p.err("nothing may follow the verdict"));
        }
        let word = p.next()?;
        match word.as_str() {
            "accept" => verdict = Some(Verdict::Accept),
            "drop" => verdict = Some(Verdict::Drop),
            "reject" => verdict = Some(Verdict::Reject(parse_reject(p)?)),
            "counter" => stmts.push(Stmt::Counter),
            "log" => {
                let mut prefix = String::new();
                if p.eat("prefix") {
                    let s = p.next()?;
                    prefix = s.strip_prefix('"').unwrap_or(&s).to_string();
                }
                stmts.push(Stmt::Log(prefix));
            }
            "limit" => stmts.push(Stmt::Limit(parse_limit(p)?)),
            "ip" | "ip6" => parse_ip(p, word == "ip6", &mut matches)?,
            "meta" => parse_meta(p, &mut matches)?,
            "tcp" | "udp" | "th" => parse_transport(p, &word, &mut matches)?,
            "icmp" | "icmpv6" => parse_icmp(p, word == "icmpv6", &mut matches)?,
            "ct" => {
                p.expect("state")?;
                let mut states = 0u8;
                for w in values(p)? {
                    states |= ct_state(&w).ok_or_else(|| p.err(format!("unknown state `{w}`")))?;
                }
                matches.push(Match::CtState { states });
            }
            other => {
                p.i -= 1;
                return Err(p.err(format!("unknown word `{}`", shown(other))));
            }
        }
    }
    let text = p.toks[start..p.i]
        .iter()
        .map(|t| match t.text.strip_prefix('"') {
            Some(s) => format!("\"{s}\""),
            None => t.text.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rule {
        id: p.fw.take_id(),
        text,
        matches,
        stmts,
        verdict,
        packets: 0,
        bytes: 0,
    })
}

/// `!=` (true) or `==` / nothing (false).
fn negation(p: &mut P<'_>) -> bool {
    if p.eat("!=") {
        return true;
    }
    p.eat("==");
    false
}

fn cmp(p: &mut P<'_>) -> Cmp {
    let c = match p.peek() {
        "==" => Cmp::Eq,
        "!=" => Cmp::Ne,
        "<" => Cmp::Lt,
        ">" => Cmp::Gt,
        "<=" => Cmp::Le,
        ">=" => Cmp::Ge,
        _ => return Cmp::Eq,
    };
    p.i += 1;
    c
}

/// One word, or `{ a, b, … }`, or `a,b` (nft's comma lists in ct state).
fn values(p: &mut P<'_>) -> R<Vec<String>> {
    let mut out = Vec::new();
    if p.eat("{") {
        loop {
            out.push(p.next()?);
            if p.eat("}") {
                break;
            }
            p.expect(",")?;
        }
        return Ok(out);
    }
    out.push(p.next()?);
    while p.eat(",") {
        out.push(p.next()?);
    }
    Ok(out)
}

fn number<T: TryFrom<u64>>(p: &mut P<'_>, what: &str) -> R<T> {
    let w = p.next()?;
    w.parse::<u64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            p.i -= 1;
            p.err(format!("`{}` is not a valid {what}", shown(&w)))
        })
}

fn parse_reject(p: &mut P<'_>) -> R<RejectWith> {
    if !p.eat("with") {
        return Ok(RejectWith::Default);
    }
    match p.next()?.as_str() {
        "tcp" => {
            p.expect("reset")?;
            Ok(RejectWith::TcpReset)
        }
        fam @ ("icmp" | "icmpv6" | "icmpx") => {
            p.eat("type");
            let w = p.next()?;
            let code = reject_code(&w, fam == "icmpv6").or_else(|| w.parse().ok());
            code.map(RejectWith::Unreachable).ok_or_else(|| {
                p.i -= 1;
                p.err(format!("unknown reject type `{w}`"))
            })
        }
        other => {
            p.i -= 1;
            Err(p.err(format!(
                "`reject with {other}`: tcp reset, icmp type or icmpv6 type"
            )))
        }
    }
}

fn parse_limit(p: &mut P<'_>) -> R<Limit> {
    p.expect("rate")?;
    let over = p.eat("over");
    let w = p.next()?;
    let (n, unit) = w.split_once('/').unwrap_or((&w, "second"));
    let per = match unit {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        _ => 0,
    };
    let n: u32 = n.parse().ok().filter(|_| per > 0).ok_or_else(|| {
        p.i -= 1;
        p.err(format!(
            "`{w}` is not a rate (N/second, N/minute or N/hour)"
        ))
    })?;
    let rate = (n / per).max(1);
    let mut burst = n.min(rate.max(5));
    if p.eat("burst") {
        burst = number(p, "burst")?;
        p.eat("packets");
    }
    let per_source = p.eat("per");
    if per_source {
        p.expect("saddr")?;
    }
    Ok(Limit::new(rate, burst, over, per_source))
}

fn named_set(p: &mut P<'_>, ports: bool) -> R<usize> {
    let name = p.next()?;
    let found = p.fw.set_names.iter().find(|(n, ..)| *n == name);
    match found {
        Some((_, is_ports, i, _)) if *is_ports == ports => Ok(*i),
        Some(_) => {
            p.i -= 1;
            let want = if ports { "ports" } else { "addresses" };
            Err(p.err(format!("set {name} does not hold {want}")))
        }
        None => {
            p.i -= 1;
            Err(p.err(format!("no set named {name}")))
        }
    }
}

fn protocols(p: &mut P<'_>) -> R<Vec<u8>> {
    let mut out = Vec::new();
    for w in values(p)? {
        let n = match w.as_str() {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "icmp" => proto::ICMP,
            "icmpv6" | "ipv6-icmp" => proto::ICMPV6,
            _ => w
                .parse()
                .map_err(|_| p.err(format!("unknown protocol `{w}`")))?,
        };
        out.push(n);
    }
    Ok(out)
}

/// An address with an optional `/len`.
fn parse_prefix(w: &str) -> Option<(IpAddr, u8)> {
    let (a, len) = match w.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (w, None),
    };
    let a: IpAddr = a.parse().ok()?;
    let max = if a.is_ipv6() { 128 } else { 32 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((a, len))
}

/// A port or `lo-hi`.
fn parse_ports_word(w: &str) -> Option<(u16, u16)> {
    match w.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (lo.parse().ok()?, hi.parse().ok()?);
            (lo <= hi).then_some((lo, hi))
        }
        None => {
            let p = w.parse().ok().or_else(|| service_port(w))?;
            Some((p, p))
        }
    }
}
