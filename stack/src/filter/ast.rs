//! The parsed form of a filter expression.

/// A boolean expression over one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Matches everything (the empty expression).
    True,
    /// Both (left first; the right side is not evaluated when the left is false).
    And(Box<Node>, Box<Node>),
    /// Either (left first).
    Or(Box<Node>, Box<Node>),
    /// Negation.
    Not(Box<Node>),
    /// `ip`: an IPv4 packet (version nibble 4).
    Ip,
    /// `ip proto N`, `tcp`, `udp`, `icmp`, `sctp`: IPv4 with this protocol number.
    Proto(u8),
    /// `[src|dst] host|net`: IPv4 with the source and/or destination in `addr/mask`.
    Host {
        /// Which addresses are compared.
        dir: Dir,
        /// The network (host bits zero).
        addr: u32,
        /// The mask (all ones for a host).
        mask: u32,
    },
    /// `[tcp|udp|sctp] [src|dst] port|portrange`: IPv4 with one of `protos`, the first
    /// fragment, and the port(s) in `lo..=hi`.
    Port {
        /// Which protocols (bits of [`Protos`]).
        protos: Protos,
        /// Which ports are compared.
        dir: Dir,
        /// Lowest port.
        lo: u16,
        /// Highest port.
        hi: u16,
    },
    /// `ip multicast`: IPv4 with a destination in 224.0.0.0/3 (libpcap: `dst >= 224.0.0.0`).
    Multicast,
    /// `arith relop arith`, with the implicit checks of the layers it reads.
    Rel {
        /// The comparison.
        op: RelOp,
        /// Left side.
        lhs: Arith,
        /// Right side.
        rhs: Arith,
        /// Layers read by either side: each adds its check (IPv4; protocol; first fragment).
        layers: Layers,
    },
}

/// The address or port a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The source only.
    Src,
    /// The destination only.
    Dst,
    /// Either (the default).
    Either,
    /// Both.
    Both,
}

/// A set of transport protocols a port primitive applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protos(pub u8);

impl Protos {
    /// TCP.
    pub const TCP: Protos = Protos(1);
    /// UDP.
    pub const UDP: Protos = Protos(2);
    /// SCTP.
    pub const SCTP: Protos = Protos(4);
    /// Any of the three (libpcap's `port` without a protocol).
    pub const ANY: Protos = Protos(7);

    /// Whether IP protocol `p` is in the set.
    pub fn has(self, p: u8) -> bool {
        let bit = match p {
            6 => Protos::TCP.0,
            17 => Protos::UDP.0,
            132 => Protos::SCTP.0,
            _ => 0,
        };
        self.0 & bit != 0
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A header a byte access reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// `ip[..]`: from the IPv4 header.
    Ip,
    /// `tcp[..]`: from the TCP header.
    Tcp,
    /// `udp[..]`: from the UDP header.
    Udp,
    /// `icmp[..]`: from the ICMP header.
    Icmp,
}

impl Layer {
    /// The IP protocol number of a transport layer.
    pub fn protocol(self) -> Option<u8> {
        match self {
            Layer::Ip => None,
            Layer::Tcp => Some(6),
            Layer::Udp => Some(17),
            Layer::Icmp => Some(1),
        }
    }

    fn bit(self) -> u8 {
        match self {
            Layer::Ip => 1,
            Layer::Tcp => 2,
            Layer::Udp => 4,
            Layer::Icmp => 8,
        }
    }
}

/// The layers read by a relation (a bit set of [`Layer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layers(pub u8);

impl Layers {
    /// Adds `l`.
    pub fn add(&mut self, l: Layer) {
        self.0 |= l.bit();
    }
    /// Whether `l` is read.
    pub fn has(self, l: Layer) -> bool {
        self.0 & l.bit() != 0
    }
}

/// An unsigned 32-bit arithmetic expression (BPF's accumulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A constant.
    Num(u32),
    /// `len`: the packet's length.
    Len,
    /// `proto[off:size]`: `size` (1, 2 or 4) bytes, big-endian, at `off` into the layer.
    Load {
        /// The header the offset counts from.
        layer: Layer,
        /// The offset.
        off: Box<Arith>,
        /// Bytes read.
        size: u8,
    },
    /// A binary operation.
    Bin(BinOp, Box<Arith>, Box<Arith>),
    /// Unary minus (two's complement).
    Neg(Box<Arith>),
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (a zero divisor at run time rejects the packet)
    Div,
    /// `%` (likewise)
    Mod,
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<` (by 32 or more gives 0)
    Shl,
    /// `>>` (likewise)
    Shr,
}
