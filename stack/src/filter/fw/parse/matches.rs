//! The matches of a rule: `ip`/`ip6`, `meta`, `tcp`/`udp`/`th`, `icmp`/`icmpv6`.

use super::super::names::{flag_named, icmp_type};
use super::super::rule::*;
use super::super::sets::{AddrSet, PortSet};
use super::{
    cmp, named_set, negation, number, parse_ports_word, parse_prefix, protocols, shown, values, P,
    R,
};
use crate::wire::proto;

pub(super) fn parse_ip(p: &mut P<'_>, v6: bool, m: &mut Vec<Match>) -> R<()> {
    m.push(Match::Family { v6 });
    match p.peek() {
        "saddr" | "daddr" => {
            let side = if p.next()? == "saddr" {
                Side::Src
            } else {
                Side::Dst
            };
            let negate = negation(p);
            let addrs = if p.eat("@") {
                Addrs::Named(named_set(p, false)?)
            } else {
                let mut set = AddrSet::default();
                for w in values(p)? {
                    let (a, len) = parse_prefix(&w)
                        .filter(|(a, _)| a.is_ipv6() == v6)
                        .ok_or_else(|| {
                            p.i -= 1;
                            let fam = if v6 { "IPv6" } else { "IPv4" };
                            p.err(format!("`{w}` is not an {fam} address or prefix"))
                        })?;
                    set.insert(a, len);
                }
                set.seal();
                Addrs::Inline(set)
            };
            m.push(Match::Addr {
                side,
                addrs,
                negate,
            });
        }
        "protocol" | "nexthdr" => {
            p.i += 1;
            let negate = negation(p);
            m.push(Match::Proto {
                protos: protocols(p)?,
                negate,
            });
        }
        "ttl" | "hoplimit" => {
            p.i += 1;
            let c = cmp(p);
            m.push(Match::Ttl {
                cmp: c,
                value: number(p, "TTL")?,
            });
        }
        "length" => {
            p.i += 1;
            let c = cmp(p);
            m.push(Match::Length {
                cmp: c,
                value: number(p, "length")?,
            });
        }
        "frag" => {
            p.i += 1;
            let kinds = match p.peek() {
                "first" => FRAG_FIRST,
                "later" => FRAG_LATER,
                "none" => FRAG_WHOLE,
                _ => FRAG_FIRST | FRAG_LATER,
            };
            if kinds != FRAG_FIRST | FRAG_LATER {
                p.i += 1;
            }
            m.push(Match::Fragment { kinds });
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn parse_meta(p: &mut P<'_>, m: &mut Vec<Match>) -> R<()> {
    match p.next()?.as_str() {
        "l4proto" => {
            let negate = negation(p);
            m.push(Match::Proto {
                protos: protocols(p)?,
                negate,
            });
        }
        "length" => {
            let c = cmp(p);
            m.push(Match::Length {
                cmp: c,
                value: number(p, "length")?,
            });
        }
        other => {
            p.i -= 1;
            return Err(p.err(format!("unknown meta key `{other}` (l4proto, length)")));
        }
    }
    Ok(())
}

pub(super) fn parse_transport(p: &mut P<'_>, word: &str, m: &mut Vec<Match>) -> R<()> {
    let protos = match word {
        "tcp" => vec![proto::TCP],
        "udp" => vec![proto::UDP],
        _ => vec![proto::TCP, proto::UDP],
    };
    m.push(Match::Proto {
        protos,
        negate: false,
    });
    match p.peek() {
        "sport" | "dport" => {
            let side = if p.next()? == "sport" {
                Side::Src
            } else {
                Side::Dst
            };
            let negate = negation(p);
            let ports = if p.eat("@") {
                Ports::Named(named_set(p, true)?)
            } else {
                let mut set = PortSet::default();
                for w in values(p)? {
                    let (lo, hi) = parse_ports_word(&w).ok_or_else(|| {
                        p.i -= 1;
                        p.err(format!("`{w}` is not a port or range"))
                    })?;
                    set.insert_range(lo, hi);
                }
                Ports::Inline(set)
            };
            m.push(Match::Port {
                side,
                ports,
                negate,
            });
        }
        "flags" if word == "tcp" => {
            p.i += 1;
            if p.eat("&") {
                let paren = p.eat("(");
                let mut mask = flag(p)?;
                while p.eat("|") {
                    mask |= flag(p)?;
                }
                if paren {
                    p.expect(")")?;
                }
                let negate = negation(p);
                let value = if p.peek() == "0" || p.peek() == "0x0" {
                    p.i += 1;
                    0
                } else {
                    let mut v = flag(p)?;
                    while p.eat("|") {
                        v |= flag(p)?;
                    }
                    v
                };
                if negate {
                    return Err(p.err("`!=` on tcp flags is not supported; use `==`"));
                }
                m.push(Match::TcpFlags { mask, value });
            } else {
                let exact = p.eat("==");
                let mut v = 0;
                for w in values(p)? {
                    v |= flag_named(&w).ok_or_else(|| p.err(format!("unknown TCP flag `{w}`")))?;
                }
                let mask = if exact { 0xff } else { v };
                m.push(Match::TcpFlags { mask, value: v });
            }
        }
        _ => {}
    }
    Ok(())
}

fn flag(p: &mut P<'_>) -> R<u8> {
    let w = p.next()?;
    flag_named(&w).ok_or_else(|| {
        p.i -= 1;
        p.err(format!("unknown TCP flag `{}`", shown(&w)))
    })
}

pub(super) fn parse_icmp(p: &mut P<'_>, v6: bool, m: &mut Vec<Match>) -> R<()> {
    let proto = if v6 { proto::ICMPV6 } else { proto::ICMP };
    m.push(Match::Proto {
        protos: vec![proto],
        negate: false,
    });
    match p.peek() {
        "type" => {
            p.i += 1;
            p.eat("==");
            let mut types = Vec::new();
            for w in values(p)? {
                let t = icmp_type(&w, v6)
                    .or_else(|| w.parse().ok())
                    .ok_or_else(|| p.err(format!("unknown ICMP type `{w}`")))?;
                types.push(t);
            }
            m.push(Match::IcmpType { types });
        }
        "code" => {
            p.i += 1;
            let c = cmp(p);
            m.push(Match::IcmpCode {
                cmp: c,
                value: number(p, "code")?,
            });
        }
        _ => {}
    }
    Ok(())
}
