//! The capture filter language (`ustack::filter`, docs/CAPTURE-FILTER.md) must never panic,
//! whatever the expression or the packet, and must keep its documented limits.
//!
//! Input: `expression bytes [0x00 packet bytes]`. The expression is the bytes before the first
//! NUL, as UTF-8 when they are valid and through `String::from_utf8_lossy` when not (so U+FFFD
//! and other multi-byte characters reach the lexer); the rest, if any, is packet material.
//!
//! Checks:
//! - an expression longer than `MAX_EXPR_LEN` bytes is refused, and its error says so;
//! - an error's column lies within the expression (1 to len + 1) on a character boundary;
//! - an accepted expression has balanced parentheses nested at most `MAX_DEPTH` deep, keeps
//!   its text, and parses again to the same AST (no hidden state);
//! - the filter is run over the packet bytes as they are, behind a valid IPv4 header (protocol,
//!   addresses, flags/fragment offset and IHL chosen by the packet bytes) or, when the packet
//!   bytes say so, a valid IPv6 header (next header, an extension or Fragment header, addresses
//!   chosen likewise), and over every truncation of that datagram up to 80 bytes: `matches` never panics, and agrees with
//!   `matches_in_bounds` whenever every read was in bounds; the empty expression matches all;
//! - the AST, written back as an expression by this harness (fully qualified primitives,
//!   explicit parentheses), parses again (unless that text is over the length or depth limits)
//!   and gives the same verdicts on every packet: the parser and the AST agree on meaning.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use std::fmt::Write as _;
use ustack::filter::ast::{Arith, BinOp, Dir, Family, Layer, Node, Protos, RelOp};
use ustack::filter::{Filter, MAX_DEPTH, MAX_EXPR_LEN};

fn dir_word(d: Dir) -> &'static str {
    match d {
        Dir::Src => "src ",
        Dir::Dst => "dst ",
        Dir::Either => "",
        Dir::Both => "src and dst ",
    }
}

fn layer_word(l: Layer) -> &'static str {
    match l {
        Layer::Ip => "ip",
        Layer::Tcp => "tcp",
        Layer::Udp => "udp",
        Layer::Icmp => "icmp",
        Layer::Ip6 => "ip6",
        Layer::Icmp6 => "icmp6",
    }
}

fn binop(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::And => "&",
        BinOp::Or => "|",
        BinOp::Xor => "^",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
    }
}

fn relop(op: RelOp) -> &'static str {
    match op {
        RelOp::Eq => "=",
        RelOp::Ne => "!=",
        RelOp::Lt => "<",
        RelOp::Le => "<=",
        RelOp::Gt => ">",
        RelOp::Ge => ">=",
    }
}

fn dotted(a: u32) -> String {
    let b = a.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// Writes an arithmetic expression; every binary operation is parenthesised except a left
/// operand that is the same operator (left association), so long flat sums stay flat.
fn arith(a: &Arith, out: &mut String) {
    match a {
        Arith::Num(n) => write!(out, "{n}").unwrap(),
        Arith::Len => out.push_str("len"),
        Arith::Load { layer, off, size } => {
            out.push_str(layer_word(*layer));
            out.push('[');
            arith(off, out);
            write!(out, " : {size}]").unwrap();
        }
        Arith::Bin(op, l, r) => {
            out.push('(');
            arith_left(*op, l, out);
            write!(out, " {} ", binop(*op)).unwrap();
            arith(r, out);
            out.push(')');
        }
        Arith::Neg(x) => {
            out.push_str("(- ");
            arith(x, out);
            out.push(')');
        }
    }
}

fn arith_left(op: BinOp, l: &Arith, out: &mut String) {
    match l {
        Arith::Bin(lop, ll, lr) if *lop == op => {
            arith_left(op, ll, out);
            write!(out, " {} ", binop(op)).unwrap();
            arith(lr, out);
        }
        _ => arith(l, out),
    }
}

/// Writes a node; `and`/`or` associate left with equal precedence, so only a right operand
/// that is itself `and`/`or` needs parentheses.
fn node(n: &Node, out: &mut String) {
    match n {
        // The empty expression is only ever the whole AST; nested, write something always true.
        Node::True => out.push_str("len >= 0"),
        Node::And(l, r) | Node::Or(l, r) => {
            node(l, out);
            out.push_str(if matches!(n, Node::And(..)) {
                " and "
            } else {
                " or "
            });
            let paren = matches!(**r, Node::And(..) | Node::Or(..));
            if paren {
                out.push('(');
            }
            node(r, out);
            if paren {
                out.push(')');
            }
        }
        Node::Not(x) => {
            out.push_str("not (");
            node(x, out);
            out.push(')');
        }
        Node::Ip => out.push_str("ip"),
        Node::Ip6 => out.push_str("ip6"),
        Node::Proto { family, proto } => {
            let q = match family {
                Family::V4 => "ip ",
                Family::V6 => "ip6 ",
                Family::Any => "",
            };
            write!(out, "{q}proto {proto}").unwrap()
        }
        Node::Host6 { dir, addr, len } => {
            let a = std::net::Ipv6Addr::from(*addr);
            write!(out, "{}net {a}/{len}", dir_word(*dir)).unwrap()
        }
        Node::Host { dir, addr, mask } => {
            if *mask == u32::MAX {
                write!(out, "{}host {}", dir_word(*dir), dotted(*addr)).unwrap();
            } else {
                write!(
                    out,
                    "{}net {} mask {}",
                    dir_word(*dir),
                    dotted(*addr),
                    dotted(*mask)
                )
                .unwrap();
            }
        }
        Node::Port {
            protos,
            dir,
            lo,
            hi,
        } => {
            let proto = match *protos {
                Protos::TCP => "tcp ",
                Protos::UDP => "udp ",
                Protos::SCTP => "sctp ",
                Protos::ANY => "",
                other => panic!("a port primitive over protocols {other:?}"),
            };
            if lo == hi {
                write!(out, "{proto}{}port {lo}", dir_word(*dir)).unwrap();
            } else {
                write!(out, "{proto}{}portrange {lo}-{hi}", dir_word(*dir)).unwrap();
            }
        }
        Node::Multicast(Family::V6) => out.push_str("ip6 multicast"),
        Node::Multicast(_) => out.push_str("ip multicast"),
        Node::Rel { op, lhs, rhs, .. } => {
            // A number after `and`/`or` is tried as a relation first (`port 80 or 1 = len`),
            // so no disguise is needed; `len - len + 1` would change the verdicts on short
            // packets (a constant relation needs no header facts when a read aborts).
            arith(lhs, out);
            write!(out, " {} ", relop(*op)).unwrap();
            arith(rhs, out);
        }
    }
}

/// Largest nesting of parentheses, or `None` when they do not balance.
fn paren_depth(s: &str) -> Option<usize> {
    let (mut d, mut max) = (0usize, 0usize);
    for c in s.chars() {
        match c {
            '(' => {
                d += 1;
                max = max.max(d);
            }
            ')' => d = d.checked_sub(1)?,
            _ => {}
        }
    }
    (d == 0).then_some(max)
}

/// An IPv6 datagram around the packet bytes: a fixed header whose Next Header (and an
/// optional hop-by-hop, destination options or Fragment header) the bytes choose.
fn ipv6_packet(raw: &[u8]) -> Vec<u8> {
    let b = |i: usize| raw.get(i).copied().unwrap_or(0);
    let upper = match b(0) % 8 {
        0 | 1 => 6,
        2 | 3 => 17,
        4 => 58,
        5 => 132,
        _ => b(1),
    };
    let (next, ext): (u8, Vec<u8>) = match b(2) % 6 {
        0 => (0, vec![upper, 0, 1, 4, 0, 0, 0, 0]),
        1 => (60, vec![upper, 0, 1, 4, 0, 0, 0, 0]),
        2 => (44, vec![upper, 0, b(3), b(4), 0, 0, 0, 1]),
        _ => (upper, vec![]),
    };
    let mut p = vec![0x60 | (b(5) >> 4), b(5) << 4, 0, 0, 0, 0, next, 64];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0, 2]);
    dst[..4].copy_from_slice(&[0x20, 0x01, 0, 2]);
    src[15] = 1;
    dst[15] = 2;
    if b(6) & 1 != 0 {
        dst = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    }
    if b(6) & 2 != 0 {
        src[15] = b(7);
    }
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&ext);
    let body = raw.get(14..).unwrap_or(&[]);
    p.extend_from_slice(body);
    let payload = (p.len() - 40).min(usize::from(u16::MAX)) as u16;
    p[4..6].copy_from_slice(&payload.to_be_bytes());
    p
}

/// The datagrams the filter is run on.
fn packets(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![raw.to_vec()];
    let b = |i: usize| raw.get(i).copied().unwrap_or(0);
    if b(5) & 8 != 0 {
        let p = ipv6_packet(raw);
        for n in 0..p.len().min(80) {
            out.push(p[..n].to_vec());
        }
        out.push(p);
        return out;
    }
    let proto = match b(0) % 8 {
        0 | 1 => 6,
        2 | 3 => 17,
        4 => 1,
        5 => 132,
        _ => b(1),
    };
    // Options: IHL 5 mostly, sometimes longer (or a bogus short IHL).
    let ihl = match b(2) % 8 {
        0..=4 => 5,
        5 => 6,
        6 => 15,
        _ => b(2) & 0x0f,
    };
    let frag: u16 = match b(3) % 4 {
        0 | 1 => 0,
        2 => 0x2000, // MF, offset 0
        _ => u16::from_be_bytes([b(3), b(4)]),
    };
    let mut src = [198, 18, 0, 1];
    let mut dst = [198, 18, 0, 2];
    if b(5) & 1 != 0 {
        src = [b(6), b(7), b(8), b(9)];
    }
    if b(5) & 2 != 0 {
        dst = [b(10), b(11), b(12), b(13)];
    }
    if b(5) & 4 != 0 {
        std::mem::swap(&mut src, &mut dst);
    }
    let body = raw.get(14..).unwrap_or(&[]);
    let hlen = usize::from(ihl) * 4;
    let mut p = vec![0u8; hlen.max(20)];
    p[0] = 0x40 | ihl;
    let total = (p.len() + body.len()).min(usize::from(u16::MAX)) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p.extend_from_slice(body);
    for n in 0..p.len().min(80) {
        out.push(p[..n].to_vec());
    }
    out.push(p);
    out
}

fn verdicts(f: &Filter, pkts: &[Vec<u8>]) -> Vec<(bool, Option<bool>)> {
    pkts.iter()
        .map(|p| {
            let m = f.matches(p);
            let b = f.matches_in_bounds(p);
            if let Some(v) = b {
                assert_eq!(v, m, "in-bounds verdict differs from matches on {p:02x?}");
            }
            (m, b)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (expr_bytes, raw) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let expr: Cow<str> = String::from_utf8_lossy(expr_bytes);
    let parsed = Filter::parse(&expr);
    let f = match parsed {
        Err(e) => {
            let col = e.column();
            assert!(
                col >= 1 && col <= expr.len() + 1,
                "column {col} outside {expr:?}"
            );
            assert!(
                expr.is_char_boundary(col - 1),
                "column {col} inside a character of {expr:?}"
            );
            assert!(!e.message().is_empty());
            if expr.len() > MAX_EXPR_LEN {
                assert!(e.message().contains("longer than"), "{e}");
            }
            return;
        }
        Ok(f) => f,
    };
    assert!(expr.len() <= MAX_EXPR_LEN, "accepted {} bytes", expr.len());
    let depth = paren_depth(&expr).expect("accepted with unbalanced parentheses");
    assert!(
        depth <= MAX_DEPTH,
        "accepted parentheses nested {depth} deep"
    );
    assert_eq!(f.text(), &*expr);
    let again = Filter::parse(&expr).expect("parses twice");
    assert_eq!(again.ast(), f.ast());

    let pkts = packets(raw);
    let want = verdicts(&f, &pkts);
    if matches!(f.ast(), Node::True) {
        assert!(
            want.iter().all(|(m, _)| *m),
            "the empty filter refused a packet"
        );
        return;
    }

    let mut text = String::new();
    node(f.ast(), &mut text);
    match Filter::parse(&text) {
        Ok(g) => {
            let got = verdicts(&g, &pkts);
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(
                    w, g,
                    "{expr:?} and its AST written back, {text:?}, disagree on {:02x?}",
                    pkts[i]
                );
            }
        }
        Err(e) if text.len() > MAX_EXPR_LEN || e.message().contains("nested deeper") => {}
        Err(e) => panic!("{expr:?} written back as {text:?} is refused: {e}"),
    }
});
