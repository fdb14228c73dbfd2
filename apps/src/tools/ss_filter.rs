//! The filter of `ustack ss`: iproute2's language (its `misc/ssfilter.y` and `ss(8)`).
//!
//! ```text
//! FILTER  := { state NAME | exclude NAME } [ EXPR ]
//! EXPR    := TERM { [ and | or ] TERM }        (left to right, one precedence, as in ss;
//!                                               two terms side by side mean `and`)
//! TERM    := ( EXPR ) | not TERM | src [=] HOST | dst [=] HOST | sport OP PORT | dport OP PORT
//! OP      := = == eq | != ne neq | < lt | > gt | <= le leq | >= ge geq   (none means =)
//! HOST    := ADDR[/LEN][:PORT] | [ADDR]:PORT | *[:PORT] | :PORT | inet:HOST
//! PORT    := NUMBER | :NUMBER | SERVICE | :SERVICE | * | :*
//! ```
//! `&`, `&&` are `and`; `|`, `||` are `or`; `!` is `not`. Words are split on white space, so a
//! filter may come as one argument (`'( sport = :80 )'`) or as several; parentheses need no
//! spaces around them here (ss needs them). `src`/`sport` are the local side of a socket,
//! `dst`/`dport` the remote one. Errors carry the column in the words joined by spaces.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Every state a socket can be in, in `ss`'s spelling; bit `i` of a [`States`] mask is
/// `STATES[i]`.
pub const STATES: [&str; 11] = [
    "established",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "close",
    "close-wait",
    "last-ack",
    "listen",
    "closing",
];

/// A set of states: bit `i` is [`STATES`]`[i]`.
pub type States = u16;

/// The mask of one state name of [`STATES`] (0 for an unknown one).
pub fn bit(state: &str) -> States {
    STATES
        .iter()
        .position(|s| *s == state)
        .map_or(0, |i| 1 << i)
}

/// All states.
pub const ALL: States = (1 << STATES.len()) - 1;

/// What `ss` shows without `-a`, `-l` or a state word: connected sockets, not TIME-WAIT or
/// SYN-RECV (iproute2's `SS_CONN`).
pub fn default_states() -> States {
    ALL & !(bit("listen") | bit("close") | bit("time-wait") | bit("syn-recv"))
}

/// The states an `ss` state name stands for (case does not matter, as in ss): a state, its
/// aliases (`closed`, `unconnected`, `listening`, `syn-rcv`, `estab`), or a group (`all`,
/// `connected`, `synchronized`, `bucket`, `big`).
pub fn state_names(name: &str) -> Option<States> {
    let name = name.to_ascii_lowercase();
    Some(match name.as_str() {
        "all" => ALL,
        "connected" => ALL & !(bit("close") | bit("listen")),
        "synchronized" => ALL & !(bit("close") | bit("listen") | bit("syn-sent")),
        "bucket" => bit("syn-recv") | bit("time-wait"),
        "big" => ALL & !(bit("syn-recv") | bit("time-wait")),
        "closed" | "unconnected" => bit("close"),
        "listening" => bit("listen"),
        "syn-rcv" => bit("syn-recv"),
        "estab" => bit("established"),
        other => match bit(other) {
            0 => return None,
            b => b,
        },
    })
}

/// Which end of a socket a condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `src`, `sport`: the local address and port.
    Local,
    /// `dst`, `dport`: the remote address and port.
    Remote,
}

/// An address condition: a prefix, a port, both or neither (`*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// Address and prefix length.
    pub net: Option<(IpAddr, u8)>,
    /// Port.
    pub port: Option<u16>,
}

/// A parsed expression (iproute2's node types: `>` is `not <=`, `!=` is `not =`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Not.
    Not(Box<Expr>),
    /// The side's address is in the prefix and its port equal (each when given).
    Is(Side, Host),
    /// The side's port is at least this.
    PortAtLeast(Side, u16),
    /// The side's port is at most this.
    PortAtMost(Side, u16),
}

impl Expr {
    /// Whether a socket from `local` to `remote` matches (a listener or unconnected socket has
    /// remote `0.0.0.0:0`, as in ss).
    pub fn matches(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        let pick = |s: Side| if s == Side::Local { local } else { remote };
        match self {
            Expr::And(a, b) => a.matches(local, remote) && b.matches(local, remote),
            Expr::Or(a, b) => a.matches(local, remote) || b.matches(local, remote),
            Expr::Not(a) => !a.matches(local, remote),
            Expr::Is(side, h) => {
                let at = pick(*side);
                let port_ok = h.port.is_none_or(|p| p == at.port());
                let net_ok = h.net.is_none_or(|(net, len)| in_prefix(at.ip(), net, len));
                port_ok && net_ok
            }
            Expr::PortAtLeast(side, p) => pick(*side).port() >= *p,
            Expr::PortAtMost(side, p) => pick(*side).port() <= *p,
        }
    }
}

/// Whether `a` is in `net/len` (addresses of the other family never are, as in ss).
fn in_prefix(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A whole filter: the state words, then the expression.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SsFilter {
    /// `state NAME` (false) and `exclude NAME` (true) words, in order, as masks.
    pub state_words: Vec<(bool, States)>,
    /// The expression, if any.
    pub expr: Option<Expr>,
}

impl SsFilter {
    /// The states shown, starting from what the flags chose (`-a`: all, `-l`: listening and
    /// unconnected, else none), as ss computes them: the first `state` word starts from none,
    /// the first `exclude` from all; nothing chosen at all means [`default_states`].
    pub fn states(&self, from_flags: States) -> States {
        let mut m = from_flags;
        for (i, (exclude, mask)) in self.state_words.iter().enumerate() {
            if i == 0 {
                m = if *exclude { ALL } else { 0 };
            }
            if *exclude {
                m &= !mask;
            } else {
                m |= mask;
            }
        }
        if m == 0 {
            default_states()
        } else {
            m
        }
    }

    /// Whether a socket from `local` to `remote` passes the expression.
    pub fn matches(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.expr.as_ref().is_none_or(|e| e.matches(local, remote))
    }
}

/// A malformed filter: what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based column in the words joined by single spaces.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error at column {}: {}", self.column, self.message)
    }
}

/// Deepest nesting of parentheses and `not`s accepted (the parser recurses).
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
struct Tok {
    text: String,
    column: usize,
}

/// Splits the joined words on white space, and parentheses off words.
fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur: Option<Tok> = None;
    for (column, c) in text.chars().enumerate().map(|(i, c)| (i + 1, c)) {
        if c.is_whitespace() || c == '(' || c == ')' {
            out.extend(cur.take());
            if !c.is_whitespace() {
                out.push(Tok {
                    text: c.to_string(),
                    column,
                });
            }
            continue;
        }
        cur.get_or_insert_with(|| Tok {
            text: String::new(),
            column,
        })
        .text
        .push(c);
    }
    out.extend(cur);
    out
}

/// Parses the words after the options. `port_of` names a service's port (`http` → 80).
pub fn parse(
    words: &[String],
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> Result<SsFilter, FilterError> {
    let text = words.join(" ");
    let mut p = Parser {
        toks: tokens(&text),
        i: 0,
        end: text.chars().count() + 1,
        port_of,
    };
    let mut f = SsFilter::default();
    while let Some(w) = p.peek() {
        let exclude = match w {
            "state" => false,
            "exclude" | "excl" => true,
            _ => break,
        };
        let word = w.to_string();
        p.i += 1;
        let end = p.error_at_end(format!("`{word}` needs a state name"));
        let name = p.next().ok_or(end)?;
        let mask = state_names(&name.text).ok_or_else(|| FilterError {
            column: name.column,
            message: format!(
                "`{}` is not a state (one of {}, all, connected, synchronized, bucket, big)",
                name.text,
                STATES.join(", ")
            ),
        })?;
        f.state_words.push((exclude, mask));
    }
    if p.peek().is_some() {
        let e = p.list(0)?;
        if let Some(t) = p.toks.get(p.i) {
            return Err(FilterError {
                column: t.column,
                message: "`)` without a matching `(`".into(),
            });
        }
        f.expr = Some(e);
    }
    Ok(f)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    i: usize,
    /// The column one past the text, for "expected more".
    end: usize,
    port_of: &'a dyn Fn(&str) -> Option<u16>,
}

/// A comparison word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

fn op(word: &str) -> Option<Op> {
    Some(match word {
        "=" | "==" | "eq" => Op::Eq,
        "!=" | "ne" | "neq" => Op::Ne,
        "<" | "lt" => Op::Lt,
        ">" | "gt" => Op::Gt,
        "<=" | "le" | "leq" => Op::Le,
        ">=" | "ge" | "geq" => Op::Ge,
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.i).map(|t| t.text.as_str())
    }

    fn column(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.column)
    }

    fn next(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.i)?;
        self.i += 1;
        Some(t)
    }

    fn error_at_end(&self, message: String) -> FilterError {
        FilterError {
            column: self.end,
            message,
        }
    }

    /// TERM { [and|or] TERM }, up to the end or a `)`.
    fn list(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut left = self.term(depth)?;
        loop {
            let or = match self.peek() {
                None | Some(")") => return Ok(left),
                Some("and" | "&" | "&&") => Some(false),
                Some("or" | "|" | "||") => Some(true),
                Some(_) => None,
            };
            if let Some(or) = or {
                let word = self.toks[self.i].text.clone();
                self.i += 1;
                if matches!(self.peek(), None | Some(")")) {
                    return Err(FilterError {
                        column: self.column(),
                        message: format!("a condition must follow `{word}`"),
                    });
                }
                let right = self.term(depth)?;
                left = if or {
                    Expr::Or(Box::new(left), Box::new(right))
                } else {
                    Expr::And(Box::new(left), Box::new(right))
                };
            } else {
                let right = self.term(depth)?;
                left = Expr::And(Box::new(left), Box::new(right));
            }
        }
    }

    fn term(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let column = self.column();
        if depth >= MAX_DEPTH {
            return Err(FilterError {
                column,
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        let Some(t) = self.next() else {
            return Err(self.error_at_end("a condition was expected".into()));
        };
        let word = t.text.clone();
        match word.as_str() {
            "(" => {
                if self.peek() == Some(")") {
                    return Err(FilterError {
                        column: self.column(),
                        message: "empty parentheses".into(),
                    });
                }
                let e = self.list(depth + 1)?;
                match self.next() {
                    Some(_) => Ok(e),
                    None => Err(FilterError {
                        column,
                        message: "this `(` is never closed".into(),
                    }),
                }
            }
            "!" | "not" => {
                if self.peek().is_none() {
                    return Err(self.error_at_end(format!("a condition must follow `{word}`")));
                }
                Ok(Expr::Not(Box::new(self.term(depth + 1)?)))
            }
            "src" | "dst" => self.host_term(&word),
            "sport" | "dport" => self.port_term(&word),
            _ => Err(FilterError {
                column,
                message: unknown_word(&word),
            }),
        }
    }

    /// `src [=] HOST`, `dst [=] HOST`.
    fn host_term(&mut self, word: &str) -> Result<Expr, FilterError> {
        let side = if word == "src" {
            Side::Local
        } else {
            Side::Remote
        };
        if let Some(o) = self.peek().and_then(op) {
            if o != Op::Eq {
                return Err(FilterError {
                    column: self.column(),
                    message: format!(
                        "`{word}` compares with `=` only, as in ss (write `not {word} ...`)"
                    ),
                });
            }
            self.i += 1;
        }
        let (text, column) = self.operand(word)?;
        let host = host(&text, self.port_of).map_err(|message| FilterError { column, message })?;
        Ok(Expr::Is(side, host))
    }

    /// `sport OP PORT`, `dport OP PORT`.
    fn port_term(&mut self, word: &str) -> Result<Expr, FilterError> {
        let side = if word == "sport" {
            Side::Local
        } else {
            Side::Remote
        };
        let o = match self.peek().and_then(op) {
            Some(o) => {
                self.i += 1;
                o
            }
            None => Op::Eq,
        };
        let (text, column) = self.operand(word)?;
        let port = port(&text, self.port_of).map_err(|message| FilterError { column, message })?;
        let is = |port| Expr::Is(side, Host { net: None, port });
        let not = |e| Expr::Not(Box::new(e));
        let number = || {
            port.ok_or_else(|| FilterError {
                column,
                message: "a comparison needs a port number, not `*`".into(),
            })
        };
        Ok(match o {
            Op::Eq => is(port),
            Op::Ne => not(is(port)),
            Op::Ge => Expr::PortAtLeast(side, number()?),
            Op::Le => Expr::PortAtMost(side, number()?),
            Op::Gt => not(Expr::PortAtMost(side, number()?)),
            Op::Lt => not(Expr::PortAtLeast(side, number()?)),
        })
    }

    /// The word after a condition's keyword (and operator).
    fn operand(&mut self, word: &str) -> Result<(String, usize), FilterError> {
        let column = self.column();
        match self.next() {
            Some(t) if !matches!(t.text.as_str(), "(" | ")") => Ok((t.text.clone(), column)),
            _ => Err(FilterError {
                column,
                message: format!("`{word}` needs an address or port"),
            }),
        }
    }
}

fn unknown_word(word: &str) -> String {
    match word {
        "state" | "exclude" | "excl" => {
            format!("`{word}` must come before the expression, as in ss")
        }
        "dev" | "fwmark" | "cgroup" | "autobound" => {
            format!("`{word}` conditions are not supported by ustack ss")
        }
        ")" => "`)` without a matching `(`".into(),
        w if w.contains(['=', '<', '>']) => {
            format!("`{w}`: put spaces around the operator, as ss needs")
        }
        w => format!("`{w}`: a condition was expected (src, dst, sport, dport, not, `(`)"),
    }
}

/// A port word: `80`, `:80`, `http`, `:http`, `*`, `:*` (None for any).
fn port(text: &str, port_of: &dyn Fn(&str) -> Option<u16>) -> Result<Option<u16>, String> {
    let p = text.strip_prefix(':').unwrap_or(text);
    if p == "*" {
        return Ok(None);
    }
    if p.is_empty() {
        return Err(format!("`{text}`: a port is missing"));
    }
    if p.bytes().all(|b| b.is_ascii_digit()) {
        return match p.parse::<u32>() {
            Ok(n) if n <= 65535 => Ok(Some(n as u16)),
            _ => Err(format!("`{p}`: a port is at most 65535")),
        };
    }
    port_of(p)
        .map(Some)
        .ok_or_else(|| format!("`{p}` does not look like a port (not a number nor a service name)"))
}

/// A host word (see the module's grammar).
fn host(text: &str, port_of: &dyn Fn(&str) -> Option<u16>) -> Result<Host, String> {
    let t = text.strip_prefix("inet:").unwrap_or(text);
    let t = t.strip_prefix("inet6:").unwrap_or(t);
    if let Some((fam, _)) = t
        .split_once(':')
        .filter(|(f, _)| matches!(*f, "unix" | "link" | "netlink" | "vsock"))
    {
        return Err(format!(
            "`{fam}:` sockets: ustack has IPv4 and IPv6 sockets only"
        ));
    }
    // Where the port starts: after `]`, after a leading `*`, else at the last `:`.
    let (addr, port_text) = if let Some(rest) = t.strip_prefix('[') {
        let (a, p) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: `[` without `]`"))?;
        (a, Some(p))
    } else if let Some(p) = t.strip_prefix('*') {
        ("", Some(p))
    } else if t
        .split('/')
        .next()
        .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    {
        // A bare IPv6 address (or prefix): its colons are not a port's.
        (t, None)
    } else {
        match t.rfind(':') {
            Some(i) => (&t[..i], Some(&t[i..])),
            None => (t, None),
        }
    };
    let port = match port_text {
        Some("") | None => None,
        Some(p) => match p.strip_prefix(':') {
            Some(p) => port(p, port_of)?,
            None => return Err(format!("`{text}`: `:` must come before the port")),
        },
    };
    let net = if addr.is_empty() || addr == "*" {
        None
    } else {
        Some(prefix(addr)?)
    };
    Ok(Host { net, port })
}

/// `ADDR` or `ADDR/LEN`, IPv4 or IPv6 (`[ADDR]` too, as ss writes IPv6 hosts).
fn prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let bare = a
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(a);
    let ip = bare
        .parse::<IpAddr>()
        .map_err(|_| format!("`{a}`: an IPv4 or IPv6 address (or ADDR/LEN) is expected"))?;
    let max = if ip.is_ipv6() { 128 } else { 32 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("`{l}`: a prefix length is 0 to {max}"))?,
        None => max,
    };
    Ok((ip, len))
}

#[cfg(test)]
#[path = "ss_filter_tests.rs"]
mod tests;
