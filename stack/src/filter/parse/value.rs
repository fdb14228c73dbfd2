//! The value of a qualified primitive: an address or network (IPv4 or IPv6), a port or port
//! range, an IP protocol — and libpcap's rules for each (short addresses promoted, non-network
//! bits refused, a v6 address under `ip6` or no protocol only, port names looked up with their
//! protocols).

use super::{Kind, PResult, Parser, ProtoQual, Qual};
use crate::filter::ast::{prefix_mask6, Arith, Dir, Family, Layers, Node, Protos, RelOp};
use crate::filter::lex::Tok;
use crate::filter::names;

/// `greater N` (`len >= N`) or `less N` (`len <= N`).
pub(super) fn length_at_least(greater: bool, n: u32) -> Node {
    Node::Rel {
        op: if greater { RelOp::Ge } else { RelOp::Le },
        lhs: Arith::Len,
        rhs: Arith::Num(n),
        layers: Layers::default(),
    }
}

/// Mask of the top `bits` bits.
fn prefix_mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

/// A dotted address of `bits` bits, moved to the top (libpcap promotes `10.1` to 10.1.0.0/16).
fn promote(v: u32, bits: u8) -> (u32, u32) {
    let shift = 32 - u32::from(bits);
    (
        v.checked_shl(shift).unwrap_or(0),
        prefix_mask(u32::from(bits)),
    )
}

impl Parser<'_> {
    /// The value after `q` (the qualifiers are already consumed or inherited).
    pub(super) fn value(&mut self, q: Qual) -> PResult<Node> {
        match q.kind {
            None | Some(Kind::Host) => self.host(q),
            Some(Kind::Net) => self.net(q),
            Some(Kind::Port) => self.port(q, false),
            Some(Kind::Portrange) => self.port(q, true),
            Some(Kind::Proto) => self.protocol(q),
        }
    }

    /// An IPv4 address may follow `ip` or no protocol; an IPv6 one `ip6` or none (libpcap's
    /// messages).
    fn check_family(&self, q: Qual, what: &str, v6: bool) -> PResult<()> {
        let ok = if v6 { ProtoQual::Ip6 } else { ProtoQual::Ip };
        match q.proto {
            None => Ok(()),
            Some(pq) if pq == ok => Ok(()),
            Some(pq) => {
                let family = match (v6, pq) {
                    (true, _) => "ip6 ",
                    (false, ProtoQual::Ip6) => "ip ",
                    (false, _) => "",
                };
                Err(self.error(format!(
                    "'{}' modifier applied to {family}{what}",
                    pq.name()
                )))
            }
        }
    }

    fn check_ip_only(&self, q: Qual, what: &str) -> PResult<()> {
        self.check_family(q, what, false)
    }

    /// An IPv6 host (`len` None) or network `addr[/len]`, the address token current.
    fn addr6(&mut self, q: Qual, addr: u128, text: &str, net: bool) -> PResult<Node> {
        let at = self.offset();
        self.check_family(q, if net { "net" } else { "host" }, true)?;
        self.advance();
        let len = if self.eat_op("/") {
            let Tok::Num(len) = *self.peek() else {
                return Err(self.error("expected a prefix length after '/'"));
            };
            if len > 128 {
                return Err(self.error("mask length must be <= 128"));
            }
            self.advance();
            len as u8
        } else {
            if self.is_keyword("mask") {
                return Err(self.error("an IPv6 network is written with '/LEN', not 'mask'"));
            }
            128
        };
        let mask = prefix_mask6(len);
        if addr & !mask != 0 {
            return Err(crate::filter::FilterError::new(
                at,
                format!("non-network bits set in \"{text}/{len}\""),
            ));
        }
        if !net && len != 128 {
            return Err(crate::filter::FilterError::new(
                at,
                "mask syntax for networks only (use 'net')",
            ));
        }
        Ok(Node::Host6 {
            dir: q.dir.unwrap_or(Dir::Either),
            addr,
            len,
        })
    }

    fn host(&mut self, q: Qual) -> PResult<Node> {
        let dir = q.dir.unwrap_or(Dir::Either);
        let (addr, mask) = match *self.peek() {
            Tok::Addr6 { addr, ref text } => return self.addr6(q, addr, text, false),
            Tok::Addr(v, bits) => promote(v, bits),
            Tok::Num(n) => (n, u32::MAX),
            Tok::Word { ref text, .. } => {
                return Err(self.error(format!(
                    "unknown host '{text}' (ustack does not resolve names: give an address)"
                )))
            }
            _ => {
                return Err(self.error(format!(
                    "expected a host address, found {}",
                    self.describe()
                )))
            }
        };
        self.check_ip_only(q, "host")?;
        self.advance();
        if matches!(self.peek(), Tok::Op("/")) || self.is_keyword("mask") {
            return Err(self.error("mask syntax for networks only (use 'net')"));
        }
        Ok(Node::Host { dir, addr, mask })
    }

    fn net(&mut self, q: Qual) -> PResult<Node> {
        let dir = q.dir.unwrap_or(Dir::Either);
        let at = self.offset();
        let text = self.word_text();
        let (addr, mask) = match *self.peek() {
            Tok::Addr6 { addr, ref text } => return self.addr6(q, addr, text, true),
            Tok::Num(n) => {
                // A short network number is promoted a byte at a time (`net 10` is 10/8).
                let (mut v, mut m) = (n, u32::MAX);
                while v != 0 && v & 0xff00_0000 == 0 {
                    v <<= 8;
                    m <<= 8;
                }
                self.check_ip_only(q, "net")?;
                self.advance();
                return Ok(Node::Host {
                    dir,
                    addr: v,
                    mask: m,
                });
            }
            Tok::Addr(v, bits) => promote(v, bits),
            _ => {
                return Err(self.error(format!(
                    "expected a network address, found {}",
                    self.describe()
                )))
            }
        };
        self.check_ip_only(q, "net")?;
        self.advance();
        let (mask, shown) = if matches!(self.peek(), Tok::Op("/")) {
            self.advance();
            let Tok::Num(len) = *self.peek() else {
                return Err(self.error("expected a prefix length after '/'"));
            };
            if len > 32 {
                return Err(self.error("mask length must be <= 32"));
            }
            self.advance();
            (prefix_mask(len), format!("{text}/{len}"))
        } else if self.eat_keyword("mask") {
            let Tok::Addr(m, bits) = *self.peek() else {
                return Err(self.error("expected a netmask like 255.255.0.0 after 'mask'"));
            };
            let shown = format!("{text} mask {}", self.word_text());
            self.advance();
            (promote(m, bits).0, shown)
        } else {
            (mask, String::new())
        };
        if addr & !mask != 0 {
            return Err(crate::filter::FilterError::new(
                at,
                format!("non-network bits set in \"{shown}\""),
            ));
        }
        Ok(Node::Host {
            dir,
            addr: addr & mask,
            mask,
        })
    }

    /// The protocols a port primitive with qualifier `pq` covers.
    fn port_protos(&self, q: Qual) -> PResult<Protos> {
        match q.proto {
            None => Ok(Protos::ANY),
            Some(pq) => pq.ports().ok_or_else(|| {
                let what = if q.kind == Some(Kind::Portrange) {
                    "portrange"
                } else {
                    "port"
                };
                self.error(format!("illegal qualifier of '{what}'"))
            }),
        }
    }

    /// One port: a number or a service name, with the protocols the name is registered for.
    fn one_port(&self, s: &str) -> PResult<(u16, Protos)> {
        if let Ok(n) = s.parse::<u32>() {
            return u16::try_from(n)
                .map(|p| (p, Protos::ANY))
                .map_err(|_| self.error(format!("illegal port number {n} > 65535")));
        }
        names::service(s).ok_or_else(|| self.error(format!("unknown port '{s}'")))
    }

    fn port(&mut self, q: Qual, range: bool) -> PResult<Node> {
        let allowed = self.port_protos(q)?;
        let (lo, hi, named) = match self.peek() {
            Tok::Num(n) => {
                let p = u16::try_from(*n)
                    .map_err(|_| self.error(format!("illegal port number {n} > 65535")))?;
                (p, p, Protos::ANY)
            }
            Tok::Word { text, .. } => match text.split_once('-').filter(|_| range) {
                Some((a, b)) => {
                    let (lo, pa) = self.one_port(a)?;
                    let (hi, pb) = self.one_port(b)?;
                    let protos = if pa == pb { pa } else { Protos::ANY };
                    (lo.min(hi), lo.max(hi), protos)
                }
                None => {
                    let (p, protos) = self.one_port(text)?;
                    (p, p, protos)
                }
            },
            _ => {
                let what = if range {
                    "a port range like 1-1023"
                } else {
                    "a port number"
                };
                return Err(self.error(format!("expected {what}")));
            }
        };
        // A name registered for one protocol only restricts the match to it (libpcap's
        // `port http` is TCP only); naming the other protocol is an error.
        let protos = match (q.proto, named) {
            (_, Protos::ANY) => allowed,
            (None, only) => only,
            (Some(_), only) if only.0 & allowed.0 != 0 => allowed,
            (Some(_), only) => {
                let is = if only == Protos::TCP { "tcp" } else { "udp" };
                return Err(self.error(format!("port '{}' is {is}", self.word_text())));
            }
        };
        self.advance();
        Ok(Node::Port {
            protos,
            dir: q.dir.unwrap_or(Dir::Either),
            lo,
            hi,
        })
    }

    /// `ip proto N` (IPv4), `ip6 proto N` (IPv6), `proto \tcp` (both).
    fn protocol(&mut self, q: Qual) -> PResult<Node> {
        let family = match q.proto {
            None => Family::Any,
            Some(ProtoQual::Ip) => Family::V4,
            Some(ProtoQual::Ip6) => Family::V6,
            Some(_) => return Err(self.error("'proto' qualifies 'ip' or 'ip6' only here")),
        };
        let n = match self.peek() {
            Tok::Num(n) => {
                u8::try_from(*n).map_err(|_| self.error(format!("protocol number {n} > 255")))?
            }
            Tok::Word { text, escaped } => {
                if !escaped && ProtoQual::from_word(text).is_some() {
                    let hint = match names::protocol(text) {
                        Some(_) => format!(": write '\\{text}' for the protocol"),
                        None => String::new(),
                    };
                    return Err(self.error(format!("'{text}' is a keyword here{hint}")));
                }
                names::protocol(text)
                    .ok_or_else(|| self.error(format!("unknown ip proto '{text}'")))?
            }
            _ => return Err(self.error("expected a protocol number or name")),
        };
        self.advance();
        Ok(Node::Proto { family, proto: n })
    }
}
