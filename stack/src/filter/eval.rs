//! Evaluation of a filter over one raw IPv4 packet, with the semantics of libpcap's optimised
//! BPF.
//!
//! The AST is compiled once ([`Program::compile`]) into the shape BPF has: a DAG of primitives
//! (`tcp`, `port 80`, `tcp[13] & 2 != 0`, ...), each with a successor for true and one for false;
//! `and`, `or` and `not` are only edges. A packet walks it from the entry, each primitive at
//! most once: O(AST), no allocation.
//!
//! Every header read is a bounds-checked load. In BPF a load beyond the end of the packet (or a
//! division by zero) ends the program with "reject" ([`Abort`]). libpcap's optimiser, though,
//! removes a test whose two successors lead to the same place once the tests already made on the
//! path (version, protocol, fragment offset) decide the primitives in between (jump threading):
//! `port 80 and tcp or udp` never reads the ports of a UDP packet, so a truncated UDP packet still
//! matches. So when a primitive aborts, both successors are followed through the primitives those
//! header facts decide; if they meet, the walk goes on from there, otherwise the packet is
//! rejected.

use super::ast::{Arith, BinOp, Dir, Layer, Layers, Node, RelOp};
use std::cell::Cell;

/// The packet is rejected whatever the rest of the expression says.
struct Abort;

type R<T> = Result<T, Abort>;

/// Header fields read so far on this path (bits).
const SEEN_VERSION: u8 = 1;
const SEEN_PROTO: u8 = 2;
const SEEN_FRAG: u8 = 4;

#[derive(Clone, Copy)]
struct Pkt<'a> {
    bytes: &'a [u8],
    seen: &'a Cell<u8>,
}

impl Pkt<'_> {
    /// `size` bytes big-endian at `off` (BPF `ldb`/`ldh`/`ld`).
    fn load(self, off: u32, size: u8) -> R<u32> {
        let start = usize::try_from(off).map_err(|_| Abort)?;
        let end = start.checked_add(usize::from(size)).ok_or(Abort)?;
        let bytes = self.bytes.get(start..end).ok_or(Abort)?;
        Ok(bytes.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b)))
    }

    fn saw(self, bit: u8) {
        self.seen.set(self.seen.get() | bit);
    }

    /// Version nibble 4 (libpcap's link-type check for DLT_RAW).
    fn ipv4(self) -> R<bool> {
        let v = self.load(0, 1)?;
        self.saw(SEEN_VERSION);
        Ok(v & 0xf0 == 0x40)
    }

    fn protocol(self) -> R<u8> {
        let p = self.load(9, 1)?;
        self.saw(SEEN_PROTO);
        Ok(p as u8)
    }

    fn protocol_is(self, p: u8) -> R<bool> {
        Ok(self.ipv4()? && self.protocol()? == p)
    }

    /// Fragment offset 0: the transport header is in this packet (RFC 791 §3.1).
    fn first_fragment(self) -> R<bool> {
        let f = self.load(6, 2)?;
        self.saw(SEEN_FRAG);
        Ok(f & 0x1fff == 0)
    }

    /// Where the transport header starts: 4 × IHL, unchecked, as BPF's `ldxb 4*([0]&0xf)`.
    fn transport(self) -> R<u32> {
        Ok(4 * (self.load(0, 1)? & 0x0f))
    }
}

/// Where a primitive leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Accept,
    Reject,
    Step(usize),
}

#[derive(Clone, Debug)]
struct Step {
    prim: Node,
    on_true: Target,
    on_false: Target,
}

/// A compiled filter: primitives and their successors.
#[derive(Clone, Debug)]
pub(super) struct Program {
    steps: Vec<Step>,
    entry: Target,
}

impl Program {
    /// Lays out `root` as a DAG of primitives.
    pub(super) fn compile(root: &Node) -> Program {
        let mut steps = Vec::new();
        let entry = lay_out(root, Target::Accept, Target::Reject, &mut steps);
        Program { steps, entry }
    }

    /// The verdict if every read on the path is in bounds, `None` if one is not.
    pub(super) fn in_bounds(&self, packet: &[u8]) -> Option<bool> {
        self.walk(packet, false)
    }

    /// Whether `packet` matches.
    pub(super) fn matches(&self, packet: &[u8]) -> bool {
        self.walk(packet, true) == Some(true)
    }

    /// Walks the DAG from the entry. A read out of bounds gives `None`, unless `as_optimised`:
    /// then both successors are threaded and the walk goes on where they meet (rejecting if
    /// they do not).
    fn walk(&self, packet: &[u8], as_optimised: bool) -> Option<bool> {
        let seen = Cell::new(0);
        let p = Pkt {
            bytes: packet,
            seen: &seen,
        };
        let mut at = self.entry;
        loop {
            let step = match at {
                Target::Accept => return Some(true),
                Target::Reject => return Some(false),
                Target::Step(i) => &self.steps[i],
            };
            at = match primitive(&step.prim, p) {
                Ok(true) => step.on_true,
                Ok(false) => step.on_false,
                Err(Abort) if !as_optimised => return None,
                Err(Abort) => {
                    let t = self.thread(step.on_true, p, (&step.prim, true));
                    if t != self.thread(step.on_false, p, (&step.prim, false)) {
                        return Some(false);
                    }
                    t
                }
            };
        }
    }

    /// Follows `at` through the primitives that the header fields read so far decide, or that
    /// repeat the one whose outcome `assumed` gives.
    fn thread(&self, mut at: Target, p: Pkt<'_>, assumed: (&Node, bool)) -> Target {
        while let Target::Step(i) = at {
            let step = &self.steps[i];
            let known = if step.prim == *assumed.0 {
                Some(assumed.1)
            } else {
                decided_by_facts(&step.prim, p)
            };
            at = match known {
                Some(true) => step.on_true,
                Some(false) => step.on_false,
                None => break,
            };
        }
        at
    }
}

/// Compiles `node` to jump to `t` when true and `f` when false; returns its entry. Steps are
/// appended, so every edge points to an earlier index: the walk always ends.
fn lay_out(node: &Node, t: Target, f: Target, steps: &mut Vec<Step>) -> Target {
    match node {
        Node::And(a, b) => {
            let b = lay_out(b, t, f, steps);
            lay_out(a, b, f, steps)
        }
        Node::Or(a, b) => {
            let b = lay_out(b, t, f, steps);
            lay_out(a, t, b, steps)
        }
        Node::Not(a) => lay_out(a, f, t, steps),
        Node::True => t,
        prim => {
            steps.push(Step {
                prim: prim.clone(),
                on_true: t,
                on_false: f,
            });
            Target::Step(steps.len() - 1)
        }
    }
}

fn either(dir: Dir, mut at: impl FnMut(u32) -> R<bool>, src: u32, dst: u32) -> R<bool> {
    Ok(match dir {
        Dir::Src => at(src)?,
        Dir::Dst => at(dst)?,
        Dir::Either => at(src)? || at(dst)?,
        Dir::Both => at(src)? && at(dst)?,
    })
}

/// A primitive (not `and`/`or`/`not`), with its loads.
fn primitive(node: &Node, p: Pkt<'_>) -> R<bool> {
    Ok(match node {
        // Laid out as edges, never reached here.
        Node::True | Node::And(..) | Node::Or(..) | Node::Not(..) => true,
        Node::Ip => p.ipv4()?,
        Node::Proto(n) => p.protocol_is(*n)?,
        // A zero mask compares nothing (libpcap's optimiser drops the load).
        Node::Host { mask: 0, .. } => p.ipv4()?,
        Node::Host { dir, addr, mask } => {
            p.ipv4()? && either(*dir, |off| Ok(p.load(off, 4)? & mask == *addr), 12, 16)?
        }
        Node::Port {
            protos,
            dir,
            lo,
            hi,
        } => {
            // libpcap's gen_port: ip proto P, not a later fragment, then the port field(s).
            p.ipv4()? && protos.has(p.protocol()?) && p.first_fragment()? && {
                let th = p.transport()?;
                let in_range = |off: u32| {
                    let v = p.load(th.wrapping_add(off), 2)?;
                    Ok(u32::from(*lo) <= v && v <= u32::from(*hi))
                };
                either(*dir, in_range, 0, 2)?
            }
        }
        // libpcap compares the destination's first byte only.
        Node::Multicast => p.ipv4()? && p.load(16, 1)? >= 224,
        Node::Rel {
            op,
            lhs,
            rhs,
            layers,
        } => guards(*layers, p)? && compare(*op, arith(lhs, p)?, arith(rhs, p)?),
    })
}

/// The checks a byte access implies: IPv4, and for a transport layer its protocol and the
/// first fragment (libpcap's gen_load).
fn guards(layers: Layers, p: Pkt<'_>) -> R<bool> {
    if layers.0 == 0 {
        return Ok(true);
    }
    if !p.ipv4()? {
        return Ok(false);
    }
    for l in [Layer::Tcp, Layer::Udp, Layer::Icmp] {
        if layers.has(l) {
            let proto = l.protocol().unwrap_or(0);
            if !(p.protocol_is(proto)? && p.first_fragment()?) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn compare(op: RelOp, a: u32, b: u32) -> bool {
    match op {
        RelOp::Eq => a == b,
        RelOp::Ne => a != b,
        RelOp::Lt => a < b,
        RelOp::Le => a <= b,
        RelOp::Gt => a > b,
        RelOp::Ge => a >= b,
    }
}

fn arith(a: &Arith, p: Pkt<'_>) -> R<u32> {
    Ok(match a {
        Arith::Num(n) => *n,
        Arith::Len => u32::try_from(p.bytes.len()).unwrap_or(u32::MAX),
        Arith::Load { layer, off, size } => {
            let base = match layer {
                Layer::Ip => 0,
                _ => p.transport()?,
            };
            p.load(base.wrapping_add(arith(off, p)?), *size)?
        }
        Arith::Neg(x) => arith(x, p)?.wrapping_neg(),
        Arith::Bin(op, x, y) => binop(*op, arith(x, p)?, arith(y, p)?).ok_or(Abort)?,
    })
}

/// One BPF ALU operation; `None` for a division or modulus by zero (BPF returns 0 then).
pub(super) fn binop(op: BinOp, a: u32, b: u32) -> Option<u32> {
    Some(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div => a.checked_div(b)?,
        BinOp::Mod => a.checked_rem(b)?,
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a.checked_shl(b).unwrap_or(0),
        BinOp::Shr => a.checked_shr(b).unwrap_or(0),
    })
}

/// What the header fields read so far on this path say about `node`, if they decide it (what
/// libpcap's optimiser knows there).
fn decided_by_facts(node: &Node, p: Pkt<'_>) -> Option<bool> {
    let seen = p.seen.get();
    let b = p.bytes;
    let version4 = (seen & SEEN_VERSION != 0).then(|| b[0] & 0xf0 == 0x40);
    let proto = (seen & SEEN_PROTO != 0).then(|| b[9]);
    let first = (seen & SEEN_FRAG != 0).then(|| u16::from_be_bytes([b[6], b[7]]) & 0x1fff == 0);
    if version4 == Some(false) {
        return match node {
            Node::True => Some(true),
            Node::Rel { layers, .. } if layers.0 == 0 => None,
            _ => Some(false),
        };
    }
    let unknown_or_false = |ok: bool| if ok { None } else { Some(false) };
    match node {
        Node::True => Some(true),
        Node::Ip | Node::Host { mask: 0, .. } => version4,
        Node::Proto(n) => proto.map(|p| p == *n),
        Node::Host { .. } | Node::Multicast => None,
        Node::Port { protos, .. } => {
            unknown_or_false(proto.is_none_or(|p| protos.has(p)) && first != Some(false))
        }
        Node::Rel {
            op,
            lhs,
            rhs,
            layers,
        } => {
            if layers.0 == 0 {
                // Constant relations are folded by the optimiser; `len` is not known.
                let c = |a: &Arith| constant(a);
                return Some(compare(*op, c(lhs)?, c(rhs)?));
            }
            let mut ok = true;
            for l in [Layer::Tcp, Layer::Udp, Layer::Icmp] {
                if layers.has(l) {
                    ok &= proto.is_none_or(|p| Some(p) == l.protocol()) && first != Some(false);
                }
            }
            unknown_or_false(ok)
        }
        Node::And(..) | Node::Or(..) | Node::Not(..) => None,
    }
}

/// The value of `a` if it reads nothing from the packet.
pub(super) fn constant(a: &Arith) -> Option<u32> {
    match a {
        Arith::Num(n) => Some(*n),
        Arith::Len | Arith::Load { .. } => None,
        Arith::Neg(x) => constant(x).map(u32::wrapping_neg),
        Arith::Bin(op, x, y) => binop(*op, constant(x)?, constant(y)?),
    }
}
