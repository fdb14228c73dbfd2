//! Evaluation of a filter over one raw IPv4 or IPv6 packet, with the semantics of libpcap's
//! optimised BPF.
//!
//! The AST is compiled once ([`Program::compile`]) into the shape BPF has: a DAG of primitives
//! (`tcp`, `port 80`, `tcp[13] & 2 != 0`, ...), each with a successor for true and one for false
//! (a dual-stack primitive such as `tcp` or `port 80` becomes two, one per IP version, as
//! libpcap generates it);
//! `and`, `or` and `not` are only edges. A packet walks it from the entry, each primitive at
//! most once: O(AST), no allocation.
//!
//! Every header read is a bounds-checked load. In BPF a load beyond the end of the packet (or a
//! division by zero) ends the program with "reject" ([`Abort`]). libpcap's optimiser, though,
//! removes a test whose two successors lead to the same place once the tests already made on the
//! path (version, protocol, fragment offset) decide the primitives in between (jump threading):
//! `port 80 and tcp or udp` never reads the ports of a UDP packet, so a truncated UDP packet still
//! matches. So when a primitive aborts, both successors are followed through the primitives those
//! header facts decide (and, a bounded number of levels deep, through undecided ones whose own
//! two successors meet: `port 53 and tcp or ip6` is `ip6` over IPv6); if they meet, the walk goes
//! on from there, otherwise the packet is rejected.

use super::ast::{
    prefix_mask6, Arith, BinOp, Dir, Family, Layer, Layers, Node, Protos, RelOp, ALL_LAYERS,
};
use std::cell::Cell;

/// The packet is rejected whatever the rest of the expression says.
struct Abort;

type R<T> = Result<T, Abort>;

/// Header fields read so far on this path (bits).
const SEEN_VERSION: u8 = 1;
const SEEN_PROTO: u8 = 2;
const SEEN_FRAG: u8 = 4;
/// The IPv6 fixed header's Next Header (byte 6).
const SEEN_NH6: u8 = 8;
/// A Fragment header's Next Header right after the fixed header (byte 40).
const SEEN_FRAG_NH6: u8 = 16;

/// IPv6 Next Header value of a Fragment header (RFC 8200 §4.5).
const FRAGMENT: u8 = 44;

#[derive(Clone, Copy)]
struct Pkt<'a> {
    bytes: &'a [u8],
    seen: &'a Cell<u8>,
    /// Make every read libpcap's unoptimised program makes, even those whose value cannot
    /// matter (an IPv6 address word outside the prefix), for [`Program::in_bounds`].
    strict: bool,
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

    /// The version nibble is `v` (libpcap's link-type check for DLT_RAW).
    fn version_is(self, v: u8) -> R<bool> {
        let b = self.load(0, 1)?;
        self.saw(SEEN_VERSION);
        Ok(b >> 4 == u32::from(v))
    }

    fn ipv4(self) -> R<bool> {
        self.version_is(4)
    }

    fn ipv6(self) -> R<bool> {
        self.version_is(6)
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

    /// The IPv6 fixed header's Next Header (RFC 8200 §3).
    fn next_header(self) -> R<u8> {
        let n = self.load(6, 1)?;
        self.saw(SEEN_NH6);
        Ok(n as u8)
    }

    /// libpcap's `ip6 proto P`: the Next Header is P, or a Fragment header's is.
    fn next_header_is(self, p: u8) -> R<bool> {
        if !self.ipv6()? {
            return Ok(false);
        }
        let nh = self.next_header()?;
        if nh == p {
            return Ok(true);
        }
        if nh != FRAGMENT {
            return Ok(false);
        }
        let inner = self.load(40, 1)?;
        self.saw(SEEN_FRAG_NH6);
        Ok(inner == u32::from(p))
    }
}

/// How many undecided primitives deep [`Program::thread`] looks for successors that meet:
/// the cost of a failed read stays a constant factor (2^depth) of one pass.
const MERGE_DEPTH: u8 = 2;

/// A primitive of one IP version, as BPF tests it: the AST's dual-stack primitives are laid
/// out as two of these, as libpcap generates them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Prim {
    /// The version nibble (`ip`, `ip6`, a zero-length network).
    Version(u8),
    /// IPv4 protocol.
    Proto4(u8),
    /// IPv6 Next Header, or the Fragment header's.
    Proto6(u8),
    Host4 {
        dir: Dir,
        addr: u32,
        mask: u32,
    },
    /// Address and mask as four 32-bit words (BPF's loads).
    Host6 {
        dir: Dir,
        addr: [u32; 4],
        mask: [u32; 4],
    },
    Port4 {
        protos: Protos,
        dir: Dir,
        lo: u16,
        hi: u16,
    },
    Port6 {
        protos: Protos,
        dir: Dir,
        lo: u16,
        hi: u16,
    },
    Multicast4,
    Multicast6,
    Rel {
        op: RelOp,
        lhs: Arith,
        rhs: Arith,
        layers: Layers,
    },
}

impl Prim {
    /// The IP versions this primitive can be true for: (IPv4, IPv6); both for a relation
    /// that reads no header.
    fn versions(&self) -> (bool, bool) {
        match self {
            Prim::Version(4) | Prim::Proto4(_) | Prim::Host4 { .. } => (true, false),
            Prim::Port4 { .. } | Prim::Multicast4 => (true, false),
            Prim::Version(6) | Prim::Proto6(_) | Prim::Host6 { .. } => (false, true),
            Prim::Port6 { .. } | Prim::Multicast6 => (false, true),
            Prim::Version(_) => (false, false),
            Prim::Rel { layers, .. } if layers.0 == 0 => (true, true),
            Prim::Rel { layers, .. } => {
                let (v4, v6) = (layers.has_version(4), layers.has_version(6));
                // A relation reading both families' headers can match neither.
                (v4 && !v6, v6 && !v4)
            }
        }
    }
}

fn words(v: u128) -> [u32; 4] {
    [
        (v >> 96) as u32,
        (v >> 64) as u32,
        (v >> 32) as u32,
        v as u32,
    ]
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
    prim: Prim,
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
            strict: !as_optimised,
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
                    let t = self.thread(step.on_true, p, (&step.prim, true), MERGE_DEPTH);
                    let f = self.thread(step.on_false, p, (&step.prim, false), MERGE_DEPTH);
                    if t != f {
                        return Some(false);
                    }
                    t
                }
            };
        }
    }

    /// Follows `at` through the primitives that the header fields read so far decide, or that
    /// repeat the one whose outcome `assumed` gives, or (up to `depth` levels) whose two
    /// successors lead to the same place (a test the optimiser removes with its loads:
    /// `port 53 and tcp or ip6` is just `ip6` over IPv6).
    fn thread(&self, mut at: Target, p: Pkt<'_>, assumed: (&Prim, bool), depth: u8) -> Target {
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
                None if depth == 0 => break,
                None => {
                    let t = self.thread(step.on_true, p, assumed, depth - 1);
                    if t != self.thread(step.on_false, p, assumed, depth - 1) {
                        break;
                    }
                    return t;
                }
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
        Node::Ip => push(Prim::Version(4), t, f, steps),
        Node::Ip6 => push(Prim::Version(6), t, f, steps),
        Node::Proto { family, proto } => {
            let p = *proto;
            match family {
                Family::V4 => push(Prim::Proto4(p), t, f, steps),
                Family::V6 => push(Prim::Proto6(p), t, f, steps),
                // libpcap: `ip proto P or ip6 proto P`.
                Family::Any => {
                    let v6 = push(Prim::Proto6(p), t, f, steps);
                    push(Prim::Proto4(p), t, v6, steps)
                }
            }
        }
        // A zero mask compares nothing (libpcap's optimiser drops the load).
        Node::Host { mask: 0, .. } => push(Prim::Version(4), t, f, steps),
        &Node::Host { dir, addr, mask } => push(Prim::Host4 { dir, addr, mask }, t, f, steps),
        Node::Host6 { len: 0, .. } => push(Prim::Version(6), t, f, steps),
        &Node::Host6 { dir, addr, len } => {
            let (addr, mask) = (words(addr), words(prefix_mask6(len)));
            push(Prim::Host6 { dir, addr, mask }, t, f, steps)
        }
        // libpcap: the IPv6 test first, then the IPv4 one.
        &Node::Port {
            protos,
            dir,
            lo,
            hi,
        } => {
            let v4 = push(
                Prim::Port4 {
                    protos,
                    dir,
                    lo,
                    hi,
                },
                t,
                f,
                steps,
            );
            push(
                Prim::Port6 {
                    protos,
                    dir,
                    lo,
                    hi,
                },
                t,
                v4,
                steps,
            )
        }
        Node::Multicast(Family::V6) => push(Prim::Multicast6, t, f, steps),
        Node::Multicast(_) => push(Prim::Multicast4, t, f, steps),
        Node::Rel {
            op,
            lhs,
            rhs,
            layers,
        } => {
            let rel = Prim::Rel {
                op: *op,
                lhs: lhs.clone(),
                rhs: rhs.clone(),
                layers: *layers,
            };
            push(rel, t, f, steps)
        }
    }
}

fn push(prim: Prim, on_true: Target, on_false: Target, steps: &mut Vec<Step>) -> Target {
    steps.push(Step {
        prim,
        on_true,
        on_false,
    });
    Target::Step(steps.len() - 1)
}

fn either(dir: Dir, mut at: impl FnMut(u32) -> R<bool>, src: u32, dst: u32) -> R<bool> {
    Ok(match dir {
        Dir::Src => at(src)?,
        Dir::Dst => at(dst)?,
        Dir::Either => at(src)? || at(dst)?,
        Dir::Both => at(src)? && at(dst)?,
    })
}

/// The port(s) at `th` (source) and `th + 2` (destination) in `lo..=hi`.
fn ports(p: Pkt<'_>, th: u32, dir: Dir, lo: u16, hi: u16) -> R<bool> {
    let in_range = |off: u32| {
        let v = p.load(th.wrapping_add(off), 2)?;
        Ok(u32::from(lo) <= v && v <= u32::from(hi))
    };
    either(dir, in_range, 0, 2)
}

/// A primitive, with its loads.
fn primitive(prim: &Prim, p: Pkt<'_>) -> R<bool> {
    Ok(match *prim {
        Prim::Version(v) => p.version_is(v)?,
        Prim::Proto4(n) => p.protocol_is(n)?,
        Prim::Proto6(n) => p.next_header_is(n)?,
        Prim::Host4 { dir, addr, mask } => {
            p.ipv4()? && either(dir, |off| Ok(p.load(off, 4)? & mask == addr), 12, 16)?
        }
        Prim::Host6 { dir, addr, mask } => {
            // Word by word, skipping words the prefix does not cover (libpcap's gen_hostop6).
            let at = |base: u32| {
                for (off, (&m, &a)) in (base..).step_by(4).zip(mask.iter().zip(&addr)) {
                    if (m != 0 || p.strict) && p.load(off, 4)? & m != a {
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            p.ipv6()? && either(dir, at, 8, 24)?
        }
        Prim::Port4 {
            protos,
            dir,
            lo,
            hi,
        } => {
            // libpcap's gen_port: ip proto P, not a later fragment, then the port field(s).
            p.ipv4()?
                && protos.has(p.protocol()?)
                && p.first_fragment()?
                && ports(p, p.transport()?, dir, lo, hi)?
        }
        Prim::Port6 {
            protos,
            dir,
            lo,
            hi,
        } => {
            // libpcap's gen_port6: the fixed header's Next Header only, the ports at 40.
            p.ipv6()? && protos.has(p.next_header()?) && ports(p, 40, dir, lo, hi)?
        }
        // libpcap compares the destination's first byte only.
        Prim::Multicast4 => p.ipv4()? && p.load(16, 1)? >= 224,
        Prim::Multicast6 => p.ipv6()? && p.load(24, 1)? == 0xff,
        Prim::Rel {
            op,
            ref lhs,
            ref rhs,
            layers,
        } => guards(layers, p)? && compare(op, arith(lhs, p)?, arith(rhs, p)?),
    })
}

/// The checks a byte access implies: the IP version, and for a transport layer its protocol
/// and, over IPv4, the first fragment (libpcap's gen_load; `icmp6[..]` checks the fixed
/// header's Next Header only).
fn guards(layers: Layers, p: Pkt<'_>) -> R<bool> {
    if layers.0 == 0 {
        return Ok(true);
    }
    for v in [4, 6] {
        if layers.has_version(v) && !p.version_is(v)? {
            return Ok(false);
        }
    }
    for l in ALL_LAYERS {
        let Some(proto) = l.protocol().filter(|_| layers.has(l)) else {
            continue;
        };
        let ok = if l.version() == 6 {
            p.next_header()? == proto
        } else {
            p.protocol_is(proto)? && p.first_fragment()?
        };
        if !ok {
            return Ok(false);
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
                Layer::Ip | Layer::Ip6 => 0,
                Layer::Icmp6 => 40,
                Layer::Tcp | Layer::Udp | Layer::Icmp => p.transport()?,
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

/// The header fields read so far on this path.
struct Facts {
    version: Option<u8>,
    proto: Option<u8>,
    first: Option<bool>,
    next_header: Option<u8>,
    frag_next_header: Option<u8>,
}

impl Facts {
    fn of(p: Pkt<'_>) -> Facts {
        let seen = p.seen.get();
        let b = p.bytes;
        let at = |bit: u8, i: usize| (seen & bit != 0).then(|| b[i]);
        Facts {
            version: at(SEEN_VERSION, 0).map(|v| v >> 4),
            proto: at(SEEN_PROTO, 9),
            first: (seen & SEEN_FRAG != 0).then(|| u16::from_be_bytes([b[6], b[7]]) & 0x1fff == 0),
            next_header: at(SEEN_NH6, 6),
            frag_next_header: at(SEEN_FRAG_NH6, 40),
        }
    }

    /// `ip6 proto n`, if known.
    fn proto6(&self, n: u8) -> Option<bool> {
        match self.next_header? {
            nh if nh == n => Some(true),
            FRAGMENT => self.frag_next_header.map(|x| x == n),
            _ => Some(false),
        }
    }
}

/// What the header fields read so far on this path say about `prim`, if they decide it (what
/// libpcap's optimiser knows there).
fn decided_by_facts(prim: &Prim, p: Pkt<'_>) -> Option<bool> {
    let f = Facts::of(p);
    if let Some(v) = f.version {
        let (v4, v6) = prim.versions();
        let possible = match v {
            4 => v4,
            6 => v6,
            _ => false,
        };
        if !possible {
            return Some(false);
        }
    }
    let unknown_or_false = |ok: bool| if ok { None } else { Some(false) };
    match prim {
        Prim::Version(v) => f.version.map(|x| x == *v),
        Prim::Proto4(n) => f.proto.map(|p| p == *n),
        Prim::Proto6(n) => f.proto6(*n),
        Prim::Host4 { .. } | Prim::Host6 { .. } | Prim::Multicast4 | Prim::Multicast6 => None,
        Prim::Port4 { protos, .. } => {
            unknown_or_false(f.proto.is_none_or(|p| protos.has(p)) && f.first != Some(false))
        }
        Prim::Port6 { protos, .. } => {
            unknown_or_false(f.next_header.is_none_or(|nh| protos.has(nh)))
        }
        Prim::Rel {
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
            for l in ALL_LAYERS {
                let Some(proto) = l.protocol().filter(|_| layers.has(l)) else {
                    continue;
                };
                ok &= if l.version() == 6 {
                    f.next_header.is_none_or(|nh| nh == proto)
                } else {
                    f.proto.is_none_or(|p| p == proto) && f.first != Some(false)
                };
            }
            unknown_or_false(ok)
        }
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
