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
    /// `ip6`: an IPv6 packet (version nibble 6).
    Ip6,
    /// `[ip|ip6] proto N`, `tcp`, `udp`, `sctp` (both families), `icmp` (IPv4), `icmp6`
    /// (IPv6). Over IPv6, libpcap's test: the fixed header's Next Header is `proto`, or it is
    /// a Fragment header (44) whose Next Header is `proto` — no other extension header is
    /// walked.
    Proto {
        /// Which IP versions.
        family: Family,
        /// The protocol (IPv4 Protocol, IPv6 Next Header).
        proto: u8,
    },
    /// `[src|dst] host|net`: IPv4 with the source and/or destination in `addr/mask`.
    Host {
        /// Which addresses are compared.
        dir: Dir,
        /// The network (host bits zero).
        addr: u32,
        /// The mask (all ones for a host).
        mask: u32,
    },
    /// `[ip6] [src|dst] host|net` with an IPv6 address: IPv6 with the source and/or
    /// destination in `addr/len`.
    Host6 {
        /// Which addresses are compared.
        dir: Dir,
        /// The network (host bits zero).
        addr: u128,
        /// The prefix length (128 for a host).
        len: u8,
    },
    /// `[tcp|udp|sctp] [src|dst] port|portrange`, over both families: IPv6 whose fixed
    /// header's Next Header is one of `protos` (the ports right after it, at 40), or IPv4 with
    /// one of `protos`, the first fragment; and the port(s) in `lo..=hi`.
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
    /// `ip multicast`: IPv4 with a destination in 224.0.0.0/3 (libpcap: `dst >= 224.0.0.0`);
    /// `ip6 multicast` ([`Family::V6`]): IPv6 with a destination in ff00::/8.
    Multicast(Family),
    /// `arith relop arith`, with the implicit checks of the layers it reads.
    Rel {
        /// The comparison.
        op: RelOp,
        /// Left side.
        lhs: Arith,
        /// Right side.
        rhs: Arith,
        /// Layers read by either side: each adds its check (IPv4; protocol; first fragment;
        /// IPv6; ICMPv6).
        layers: Layers,
    },
}

/// The IP versions a primitive applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only (`ip proto`, `icmp`).
    V4,
    /// IPv6 only (`ip6 proto`, `icmp6`).
    V6,
    /// Either (`proto`, `tcp`, `udp`, `sctp`).
    Any,
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
    /// `ip6[..]`: from the IPv6 header.
    Ip6,
    /// `icmp6[..]`: from right after the fixed IPv6 header (40), whose Next Header must be 58.
    Icmp6,
}

impl Layer {
    /// The IP protocol number of a transport layer.
    pub fn protocol(self) -> Option<u8> {
        match self {
            Layer::Ip | Layer::Ip6 => None,
            Layer::Tcp => Some(6),
            Layer::Udp => Some(17),
            Layer::Icmp => Some(1),
            Layer::Icmp6 => Some(58),
        }
    }

    /// The IP version this layer implies.
    pub fn version(self) -> u8 {
        match self {
            Layer::Ip6 | Layer::Icmp6 => 6,
            _ => 4,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Layer::Ip => 1,
            Layer::Tcp => 2,
            Layer::Udp => 4,
            Layer::Icmp => 8,
            Layer::Ip6 => 16,
            Layer::Icmp6 => 32,
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
    /// Whether a layer of IP version `v` is read.
    pub fn has_version(self, v: u8) -> bool {
        ALL_LAYERS.iter().any(|&l| l.version() == v && self.has(l))
    }
}

/// Every layer, in the order their checks are made.
pub const ALL_LAYERS: [Layer; 6] = [
    Layer::Ip,
    Layer::Tcp,
    Layer::Udp,
    Layer::Icmp,
    Layer::Ip6,
    Layer::Icmp6,
];

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

/// The mask of an IPv6 prefix of `len` bits (all ones for 128 or more).
pub fn prefix_mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}
