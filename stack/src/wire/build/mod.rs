//! Crafting packets layer by layer, in the spirit of scapy's `IP()/TCP()`.
//!
//! Each layer is a builder with a method per header field: [`Ipv4`], [`Ipv6`] and its extension
//! headers ([`HopByHop`], [`DestOpts`], [`Routing`], [`Fragment`]), [`Tcp`], [`Udp`], [`Icmp`],
//! [`Icmpv6`], and [`Raw`] bytes. Layers are stacked with `/` into a [`Packet`]; a field left
//! unset gets the value a correct packet needs when [`Packet::build`] runs — lengths, checksums
//! (the transport ones over the pseudo-header of the nearest IP layer below), the IP protocol or
//! Next Header from the layer above — and any field set by hand is emitted as given, even when
//! it is wrong (a checksum stays wrong, a length lies). Printing a packet gives its
//! `tcpdump -n` line ([`PacketSummary`]).
//!
//! ```
//! use ustack::wire::build::{Ipv4, Raw, Tcp};
//!
//! let syn = Ipv4::new().src([198, 18, 0, 1]).dst([198, 18, 0, 2]) / Tcp::new().dport(80);
//! assert_eq!(
//!     syn.to_string(),
//!     "IP 198.18.0.1.20 > 198.18.0.2.80: Flags [S], seq 0, win 8192, length 0"
//! );
//! let bytes = (syn / Raw(b"hi".to_vec())).build().unwrap();
//! assert_eq!(bytes.len(), 20 + 20 + 2);
//! ```
//!
//! | scapy | ustack |
//! |---|---|
//! | `IP(dst="10.0.0.2")/TCP(dport=80, flags="S")` | `Ipv4::new().dst([10, 0, 0, 2]) / Tcp::new().dport(80).syn()` |
//! | `IP(ttl=1)/UDP(dport=33434)/"x"` | `Ipv4::new().ttl(1) / Udp::new().dport(33434) / "x"` |
//! | `IP()/ICMP(id=7, seq=1)/Raw(b"ab")` | `Ipv4::new() / Icmp::echo_request(7, 1) / Raw(b"ab".to_vec())` |
//! | `IPv6()/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest()` | `Ipv6::new() / HopByHop::new() / Icmpv6::new()` |
//! | `IPv6()/IPv6ExtHdrFragment(id=5, m=1)/UDP()` | `Ipv6::new() / Fragment::new().ident(5).more(true) / Udp::new()` |
//! | `TCP(options=[("MSS", 1460), ("SAckOK", b"")])` | `Tcp::new().options([TcpOpt::Mss(1460), TcpOpt::SackPermitted])` |
//! | `TCP(chksum=0xdead)`, `IP(len=9, ihl=4)` | `Tcp::new().checksum(0xdead)`, `Ipv4::new().total_len(9).ihl(4)` |
//! | `IP(flags="MF", frag=3)` (8-byte units) | `Ipv4::new().mf(true).frag_offset(24)` (bytes) |
//! | `fragment(p, fragsize=8)` | `fragment_v4(&p.build()?, 8)?` |
//! | `p.summary()` / `p.show()` | `p.to_string()` (tcpdump's line) |
//!
//! The rows as code:
//!
//! ```
//! use ustack::wire::build::*;
//! # fn main() -> Result<(), BuildError> {
//! let rows: Vec<Packet> = vec![
//!     Ipv4::new().dst([10, 0, 0, 2]) / Tcp::new().dport(80).syn(),
//!     Ipv4::new().ttl(1) / Udp::new().dport(33434) / "x",
//!     Ipv4::new() / Icmp::echo_request(7, 1) / Raw(b"ab".to_vec()),
//!     Ipv6::new() / HopByHop::new() / Icmpv6::new(),
//!     Ipv6::new() / Fragment::new().ident(5).more(true) / Udp::new(),
//!     Ipv4::new() / Tcp::new().options([TcpOpt::Mss(1460), TcpOpt::SackPermitted]),
//!     Packet::from(Tcp::new().checksum(0xdead)),
//!     Packet::from(Ipv4::new().total_len(9).ihl(4)),
//!     Packet::from(Ipv4::new().mf(true).frag_offset(24)),
//! ];
//! for p in &rows {
//!     p.build()?;
//! }
//! let p = Ipv4::new().dst([10, 0, 0, 2]) / Udp::new() / vec![0u8; 100];
//! assert_eq!(fragment_v4(&p.build()?, 8)?.len(), 14); // 108 bytes of UDP, 8 at a time
//! # Ok(())
//! # }
//! ```
//!
//! Defaults are scapy's: TTL and hop limit 64, IPv4 ident 1, TCP from port 20 to port 80 with
//! SYN and window 8192, UDP 53 to 53, ICMP and ICMPv6 echo requests with id and seq 0. Under a
//! layer that names nothing above it (raw bytes, or nothing), IPv4's protocol is 0 and IPv6's
//! Next Header is 59 (No Next Header). Unlike scapy's loopback, destinations are unspecified
//! (`0.0.0.0`, `::`) until set, and so are sources: the stack that sends a packet fills them
//! with [`Packet::with_source_if_unset`].
//!
//! Offsets are in bytes everywhere (IPv4's fragment offset and the Fragment header's): a value
//! that is not a multiple of 8 cannot be put on the wire and is refused.
//!
//! What cannot be built is refused with the field named ([`BuildError`]): a datagram beyond
//! 65,535 bytes (an IPv6 payload too: no jumbograms), TCP or IPv4 options beyond 40 bytes
//! unless `raw_options(true)`, a value too wide for its field, ICMPv6 over IPv4 or ICMP over
//! IPv6 or an extension header outside IPv6 unless [`Packet::force_family`], a TCP, UDP or
//! ICMPv6 checksum to compute with no IP layer below to give the pseudo-header.
//!
//! [`fragment_v4`], [`fragment_v4_overlapping`], [`fragment_v6`] and
//! [`fragment_v6_overlapping`] cut built packets into fragments.

use crate::wire::PacketSummary;
use core::fmt;
use core::ops::Div;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod ext;
mod frag;
mod icmp;
mod ip;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_frag;

pub use crate::wire::tcp::flags;
pub use ext::{DestOpts, Fragment, HopByHop, Ipv6Opt, Routing};
pub use frag::{fragment_v4, fragment_v4_overlapping, fragment_v6, fragment_v6_overlapping};
pub use icmp::{Icmp, Icmpv6};
pub use ip::{Ipv4, Ipv6};
pub use tcp::{tcp_flags, Tcp, TcpOpt};
pub use udp::Udp;

/// Why a packet cannot be built: the field (`ip.total_len`, `tcp.options`, …) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// The field, as `layer.field`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl BuildError {
    /// An error about `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> BuildError {
        BuildError {
            field,
            reason: reason.into(),
        }
    }
}

/// `ip.total_len: datagram of 70000 bytes exceeds 65535`.
impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for BuildError {}

/// Bytes carried as they are: a payload, or any header this module has no builder for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw(pub Vec<u8>);

/// One layer of a [`Packet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// An IPv4 header.
    Ipv4(Ipv4),
    /// An IPv6 fixed header.
    Ipv6(Ipv6),
    /// A Hop-by-Hop Options header.
    HopByHop(HopByHop),
    /// A Destination Options header.
    DestOpts(DestOpts),
    /// A Routing header.
    Routing(Routing),
    /// An IPv6 Fragment header.
    Fragment(Fragment),
    /// A TCP header.
    Tcp(Tcp),
    /// A UDP header.
    Udp(Udp),
    /// An ICMP (v4) header.
    Icmp(Icmp),
    /// An ICMPv6 header.
    Icmpv6(Icmpv6),
    /// Bytes as they are.
    Raw(Raw),
}

impl Layer {
    /// The protocol number the layer below names this one by (None for raw bytes).
    fn protocol(&self) -> Option<u8> {
        use crate::wire::{ipv6::next, proto};
        Some(match self {
            Layer::Ipv4(_) => 4,
            Layer::Ipv6(_) => 41,
            Layer::HopByHop(_) => next::HOP_BY_HOP,
            Layer::DestOpts(_) => next::DEST_OPTS,
            Layer::Routing(_) => next::ROUTING,
            Layer::Fragment(_) => next::FRAGMENT,
            Layer::Tcp(_) => proto::TCP,
            Layer::Udp(_) => proto::UDP,
            Layer::Icmp(_) => proto::ICMP,
            Layer::Icmpv6(_) => proto::ICMPV6,
            Layer::Raw(_) => return None,
        })
    }

    fn is_ipv6_ext(&self) -> bool {
        matches!(
            self,
            Layer::HopByHop(_) | Layer::DestOpts(_) | Layer::Routing(_) | Layer::Fragment(_)
        )
    }

    fn emit(&self, ctx: &Ctx, upper: Vec<u8>) -> Result<Vec<u8>, BuildError> {
        match self {
            Layer::Ipv4(l) => l.emit(ctx, upper),
            Layer::Ipv6(l) => l.emit(ctx, upper),
            Layer::HopByHop(l) => l.emit(ctx, upper),
            Layer::DestOpts(l) => l.emit(ctx, upper),
            Layer::Routing(l) => l.emit(ctx, upper),
            Layer::Fragment(l) => l.emit(ctx, upper),
            Layer::Tcp(l) => l.emit(ctx, upper),
            Layer::Udp(l) => l.emit(ctx, upper),
            Layer::Icmp(l) => l.emit(ctx, upper),
            Layer::Icmpv6(l) => l.emit(ctx, upper),
            Layer::Raw(Raw(b)) => {
                let mut out = b.clone();
                out.extend_from_slice(&upper);
                Ok(out)
            }
        }
    }
}

/// What a layer learns from the others when it is emitted.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ctx {
    /// Source and (final) destination of the nearest IP layer below: the pseudo-header's.
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// The protocol number of the layer right above (None: raw bytes or nothing).
    pub next: Option<u8>,
}

impl Ctx {
    /// The pseudo-header checksum of `segment` for a layer named `field`'s owner.
    pub(crate) fn transport_sum(
        &self,
        field: &'static str,
        protocol: u8,
        segment: &[u8],
    ) -> Result<u16, BuildError> {
        let (src, dst) = self.addrs.ok_or_else(|| {
            BuildError::new(
                field,
                "no IP layer below to give the pseudo-header; set the checksum by hand",
            )
        })?;
        Ok(crate::wire::checksum::transport(
            src, dst, protocol, segment,
        ))
    }
}

/// A stack of layers, outermost first, built into bytes by [`Packet::build`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    layers: Vec<Layer>,
    force_family: bool,
}

impl Packet {
    /// No layers.
    pub fn new() -> Packet {
        Packet::default()
    }

    /// The layers, outermost first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The layers, to change a field after composing.
    pub fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    /// Adds `layer` on top.
    #[must_use]
    pub fn push(mut self, layer: impl Into<Layer>) -> Packet {
        self.layers.push(layer.into());
        self
    }

    /// Builds ICMPv6 over IPv4, ICMP over IPv6 and extension headers outside IPv6 instead of
    /// refusing them (checksums are then computed under the pseudo-header of the IP layer there
    /// is, if the message has one).
    #[must_use]
    pub fn force_family(mut self, on: bool) -> Packet {
        self.force_family = on;
        self
    }

    /// Sets the source of the outermost IP layer to `src` if that layer is of `src`'s family and
    /// its source was never set; the caller that sends the packet knows its own address.
    #[must_use]
    pub fn with_source_if_unset(mut self, src: IpAddr) -> Packet {
        let outer = self
            .layers
            .iter_mut()
            .find(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)));
        match (outer, src) {
            (Some(Layer::Ipv4(ip)), IpAddr::V4(a)) => ip.set_src_if_unset(a),
            (Some(Layer::Ipv6(ip)), IpAddr::V6(a)) => ip.set_src_if_unset(a),
            _ => {}
        }
        self
    }

    /// The outermost IP layer's source (unspecified when unset), if there is an IP layer.
    pub fn source(&self) -> Option<IpAddr> {
        self.outer_ip().map(|(s, _)| s)
    }

    /// The outermost IP layer's destination, if there is an IP layer.
    pub fn destination(&self) -> Option<IpAddr> {
        self.outer_ip().map(|(_, d)| d)
    }

    fn outer_ip(&self) -> Option<(IpAddr, IpAddr)> {
        self.layers.iter().find_map(|l| match l {
            Layer::Ipv4(ip) => Some((ip.source().into(), ip.destination().into())),
            Layer::Ipv6(ip) => Some((ip.source().into(), ip.destination().into())),
            _ => None,
        })
    }

    /// The bytes of the packet, outermost layer first, or the first field that cannot be built.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let ctxs = self.contexts()?;
        let mut bytes = Vec::new();
        let mut next = None;
        for (layer, addrs) in self.layers.iter().zip(ctxs).rev() {
            bytes = layer.emit(&Ctx { addrs, next }, bytes)?;
            next = layer.protocol();
        }
        Ok(bytes)
    }

    /// For every layer, the addresses of the nearest IP layer below it (the destination is the
    /// final one when a Routing header lists it, RFC 8200 §8.1); refuses the family mismatches
    /// unless forced.
    #[allow(clippy::type_complexity)]
    fn contexts(&self) -> Result<Vec<Option<(IpAddr, IpAddr)>>, BuildError> {
        let mut out = Vec::with_capacity(self.layers.len());
        let mut addrs: Option<(IpAddr, IpAddr)> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            out.push(addrs);
            let below = i.checked_sub(1).and_then(|j| self.layers.get(j));
            if !self.force_family {
                check_family(layer, below, addrs)?;
            }
            match layer {
                Layer::Ipv4(ip) => addrs = Some((ip.source().into(), ip.destination().into())),
                Layer::Ipv6(ip) => addrs = Some((ip.source().into(), ip.destination().into())),
                Layer::Routing(r) => {
                    if let (Some((src, _)), Some(fin)) = (addrs, r.final_destination()) {
                        addrs = Some((src, fin.into()));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// ICMP belongs over IPv4, ICMPv6 over IPv6 (RFC 4443 §1), extension headers right above IPv6
/// or another extension header (RFC 8200 §4).
fn check_family(
    layer: &Layer,
    below: Option<&Layer>,
    addrs: Option<(IpAddr, IpAddr)>,
) -> Result<(), BuildError> {
    let v6 = addrs.map(|(s, _)| s.is_ipv6());
    let hint = "(Packet::force_family(true) builds it anyway)";
    match layer {
        Layer::Icmp(_) if v6 == Some(true) => Err(BuildError::new(
            "icmp",
            format!("ICMP (v4) over IPv6 {hint}"),
        )),
        Layer::Icmpv6(_) if v6 == Some(false) => Err(BuildError::new(
            "icmpv6",
            format!("ICMPv6 over IPv4 {hint}"),
        )),
        l if l.is_ipv6_ext()
            && !below.is_some_and(|b| matches!(b, Layer::Ipv6(_)) || b.is_ipv6_ext()) =>
        {
            Err(BuildError::new(
                ext::name(l),
                format!("an IPv6 extension header not right above IPv6 {hint}"),
            ))
        }
        _ => Ok(()),
    }
}

/// The packet's `tcpdump -n` line ([`PacketSummary`] of the built bytes), or why it cannot be
/// built.
impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.build() {
            Ok(bytes) => PacketSummary(&bytes).fmt(f),
            Err(e) => write!(f, "[cannot build: {e}]"),
        }
    }
}

impl<L: Into<Layer>> Div<L> for Packet {
    type Output = Packet;
    fn div(self, rhs: L) -> Packet {
        self.push(rhs)
    }
}

/// `a / b` with a packet on the right stacks all of its layers.
impl Div<Packet> for Packet {
    type Output = Packet;
    fn div(mut self, rhs: Packet) -> Packet {
        self.layers.extend(rhs.layers);
        self.force_family = self.force_family || rhs.force_family;
        self
    }
}

macro_rules! layers {
    ($($t:ident),*) => {$(
        impl From<$t> for Layer {
            fn from(l: $t) -> Layer {
                Layer::$t(l)
            }
        }
        impl From<$t> for Packet {
            fn from(l: $t) -> Packet {
                Packet::new().push(l)
            }
        }
        impl<L: Into<Layer>> Div<L> for $t {
            type Output = Packet;
            fn div(self, rhs: L) -> Packet {
                Packet::from(self).push(rhs)
            }
        }
        impl Div<Packet> for $t {
            type Output = Packet;
            fn div(self, rhs: Packet) -> Packet {
                Packet::from(self) / rhs
            }
        }
    )*};
}

layers!(Ipv4, Ipv6, HopByHop, DestOpts, Routing, Fragment, Tcp, Udp, Icmp, Icmpv6, Raw);

impl From<Layer> for Packet {
    fn from(l: Layer) -> Packet {
        Packet::new().push(l)
    }
}

impl From<&str> for Layer {
    fn from(s: &str) -> Layer {
        Layer::Raw(Raw(s.as_bytes().to_vec()))
    }
}

impl From<&[u8]> for Layer {
    fn from(b: &[u8]) -> Layer {
        Layer::Raw(Raw(b.to_vec()))
    }
}

impl<const N: usize> From<&[u8; N]> for Layer {
    fn from(b: &[u8; N]) -> Layer {
        Layer::Raw(Raw(b.to_vec()))
    }
}

impl From<String> for Layer {
    fn from(s: String) -> Layer {
        Layer::Raw(Raw(s.into_bytes()))
    }
}

impl From<Vec<u8>> for Layer {
    fn from(b: Vec<u8>) -> Layer {
        Layer::Raw(Raw(b))
    }
}

/// An address left unset reads as the unspecified one.
pub(crate) fn v4_or_unspecified(a: Option<Ipv4Addr>) -> Ipv4Addr {
    a.unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// An address left unset reads as the unspecified one.
pub(crate) fn v6_or_unspecified(a: Option<Ipv6Addr>) -> Ipv6Addr {
    a.unwrap_or(Ipv6Addr::UNSPECIFIED)
}
