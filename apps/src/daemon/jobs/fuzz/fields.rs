//! The header fields the fuzzer knows, layer by layer: their names (as the template language
//! and `--fields` spell them), widths, whether the builder computes them, and how to set them
//! on a [`Layer`]. One table serves the template parser and the mutation engine, so a field
//! settable by name is a field `fuzz` can randomise, and the other way round.

use std::mem::take;
use ustack::wire::build::{Ipv4, Ipv6, Layer, Raw, Tcp, Udp};

/// A layer kind the fuzzer knows (IPv6 extension headers are carried but not fuzzed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ip`: IPv4 (RFC 791 §3.1).
    Ip,
    /// `ip6`: the IPv6 fixed header (RFC 8200 §3).
    Ip6,
    /// `tcp` (RFC 9293 §3.1).
    Tcp,
    /// `udp` (RFC 768).
    Udp,
    /// `icmp` (RFC 792).
    Icmp,
    /// `icmp6` (RFC 4443).
    Icmp6,
    /// `raw`: payload bytes.
    Raw,
}

impl Kind {
    /// The template name of the layer.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Ip6 => "ip6",
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Icmp => "icmp",
            Kind::Icmp6 => "icmp6",
            Kind::Raw => "raw",
        }
    }

    /// The kind named `name` in a template (`ipv6`, `ipv4` and `icmpv6` are accepted too).
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ip" | "ipv4" => Kind::Ip,
            "ip6" | "ipv6" => Kind::Ip6,
            "tcp" => Kind::Tcp,
            "udp" => Kind::Udp,
            "icmp" => Kind::Icmp,
            "icmp6" | "icmpv6" => Kind::Icmp6,
            "raw" => Kind::Raw,
            _ => return None,
        })
    }

    /// The kind of `layer`, if the fuzzer knows it.
    pub fn of(layer: &Layer) -> Option<Kind> {
        Some(match layer {
            Layer::Ipv4(_) => Kind::Ip,
            Layer::Ipv6(_) => Kind::Ip6,
            Layer::Tcp(_) => Kind::Tcp,
            Layer::Udp(_) => Kind::Udp,
            Layer::Icmp(_) => Kind::Icmp,
            Layer::Icmpv6(_) => Kind::Icmp6,
            Layer::Raw(_) => Kind::Raw,
            _ => return None,
        })
    }

    /// A layer of this kind with every field at its default.
    pub fn layer(self) -> Layer {
        match self {
            Kind::Ip => Layer::Ipv4(Ipv4::new()),
            Kind::Ip6 => Layer::Ipv6(Ipv6::new()),
            Kind::Tcp => Layer::Tcp(Tcp::new()),
            Kind::Udp => Layer::Udp(Udp::new()),
            Kind::Icmp => Layer::Icmp(ustack::wire::build::Icmp::new()),
            Kind::Icmp6 => Layer::Icmpv6(ustack::wire::build::Icmpv6::new()),
            Kind::Raw => Layer::Raw(Raw(Vec::new())),
        }
    }
}

/// One header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its layer.
    pub kind: Kind,
    /// Its name (`ttl`, `flags` …).
    pub name: &'static str,
    /// Width in bits (0: the raw payload, as long as the template made it).
    pub bits: u32,
    /// Whether the builder computes it when unset (lengths, checksums, the protocol from the
    /// layer above): left alone by `fuzz` unless asked for.
    pub computed: bool,
}

const fn f(kind: Kind, name: &'static str, bits: u32, computed: bool) -> Field {
    Field {
        kind,
        name,
        bits,
        computed,
    }
}

/// Every field, in header order. Addresses are not here: the destination is the target (the
/// target rule applies to it) and the source is the sender's; the template sets them
/// (`ip(src=…,dst=…)`) and `fuzz` never changes them.
pub const FIELDS: &[Field] = &[
    f(Kind::Ip, "version", 4, false),
    f(Kind::Ip, "ihl", 4, true),
    f(Kind::Ip, "tos", 8, false),
    f(Kind::Ip, "total_len", 16, true),
    f(Kind::Ip, "ident", 16, false),
    f(Kind::Ip, "reserved_bit", 1, false),
    f(Kind::Ip, "df", 1, false),
    f(Kind::Ip, "mf", 1, false),
    f(Kind::Ip, "frag_offset", 13, false),
    f(Kind::Ip, "ttl", 8, false),
    f(Kind::Ip, "protocol", 8, true),
    f(Kind::Ip, "checksum", 16, true),
    f(Kind::Ip6, "version", 4, false),
    f(Kind::Ip6, "traffic_class", 8, false),
    f(Kind::Ip6, "flow_label", 20, false),
    f(Kind::Ip6, "payload_len", 16, true),
    f(Kind::Ip6, "next_header", 8, true),
    f(Kind::Ip6, "hop_limit", 8, false),
    f(Kind::Tcp, "sport", 16, false),
    f(Kind::Tcp, "dport", 16, false),
    f(Kind::Tcp, "seq", 32, false),
    f(Kind::Tcp, "ack", 32, false),
    f(Kind::Tcp, "data_offset", 4, true),
    f(Kind::Tcp, "reserved", 4, false),
    f(Kind::Tcp, "flags", 8, false),
    f(Kind::Tcp, "window", 16, false),
    f(Kind::Tcp, "checksum", 16, true),
    f(Kind::Tcp, "urg_ptr", 16, false),
    f(Kind::Udp, "sport", 16, false),
    f(Kind::Udp, "dport", 16, false),
    f(Kind::Udp, "len", 16, true),
    f(Kind::Udp, "checksum", 16, true),
    f(Kind::Icmp, "type", 8, false),
    f(Kind::Icmp, "code", 8, false),
    f(Kind::Icmp, "checksum", 16, true),
    f(Kind::Icmp, "id", 16, false),
    f(Kind::Icmp, "seq", 16, false),
    f(Kind::Icmp6, "type", 8, false),
    f(Kind::Icmp6, "code", 8, false),
    f(Kind::Icmp6, "checksum", 16, true),
    f(Kind::Icmp6, "id", 16, false),
    f(Kind::Icmp6, "seq", 16, false),
    f(Kind::Raw, "load", 0, false),
];

/// The fields of `kind`.
pub fn of_kind(kind: Kind) -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(move |f| f.kind == kind)
}

/// The field `name` of `kind`.
pub fn find(kind: Kind, name: &str) -> Option<&'static Field> {
    of_kind(kind).find(|f| f.name == name)
}

/// The field names of `kind`, for error messages.
pub fn names(kind: Kind) -> String {
    let mut v: Vec<&str> = of_kind(kind).map(|f| f.name).collect();
    if matches!(kind, Kind::Ip | Kind::Ip6) {
        v.extend(["src", "dst"]);
    }
    if kind == Kind::Raw {
        v.extend(["len", "text"]);
    }
    v.join(", ")
}

/// Sets `field` of `layer` to `v` (cut to the field's width; `frag_offset` in 8-byte units,
/// as on the wire). Returns false if the layer is not of the field's kind.
pub fn set(layer: &mut Layer, field: &Field, v: u64) -> bool {
    let v = if field.bits == 0 || field.bits >= 64 {
        v
    } else {
        v & ((1u64 << field.bits) - 1)
    };
    // Cut to the width above, so the `as` casts below lose nothing.
    let (b, w, d) = (v != 0, v as u16, v as u32);
    let o = v as u8;
    match layer {
        Layer::Ipv4(l) => {
            let x = take(l);
            *l = match field.name {
                "version" => x.version(o),
                "ihl" => x.ihl(o),
                "tos" => x.tos(o),
                "total_len" => x.total_len(w),
                "ident" => x.ident(w),
                "reserved_bit" => x.reserved_bit(b),
                "df" => x.df(b),
                "mf" => x.mf(b),
                "frag_offset" => x.frag_offset(usize::from(w) * 8),
                "ttl" => x.ttl(o),
                "protocol" => x.protocol(o),
                "checksum" => x.checksum(w),
                _ => x,
            };
        }
        Layer::Ipv6(l) => {
            let x = take(l);
            *l = match field.name {
                "version" => x.version(o),
                "traffic_class" => x.traffic_class(o),
                "flow_label" => x.flow_label(d),
                "payload_len" => x.payload_len(w),
                "next_header" => x.next_header(o),
                "hop_limit" => x.hop_limit(o),
                _ => x,
            };
        }
        Layer::Tcp(l) => {
            let x = take(l);
            *l = match field.name {
                "sport" => x.sport(w),
                "dport" => x.dport(w),
                "seq" => x.seq(d),
                "ack" => x.ack(d),
                "data_offset" => x.data_offset(o),
                "reserved" => x.reserved(o),
                "flags" => x.flags(o),
                "window" => x.window(w),
                "checksum" => x.checksum(w),
                "urg_ptr" => x.urg_ptr(w),
                _ => x,
            };
        }
        Layer::Udp(l) => {
            let x = take(l);
            *l = match field.name {
                "sport" => x.sport(w),
                "dport" => x.dport(w),
                "len" => x.len(w),
                "checksum" => x.checksum(w),
                _ => x,
            };
        }
        Layer::Icmp(l) => {
            let x = take(l);
            *l = match field.name {
                "type" => x.icmp_type(o),
                "code" => x.code(o),
                "checksum" => x.checksum(w),
                "id" => x.id(w),
                "seq" => x.seq(w),
                _ => x,
            };
        }
        Layer::Icmpv6(l) => {
            let x = take(l);
            *l = match field.name {
                "type" => x.icmp_type(o),
                "code" => x.code(o),
                "checksum" => x.checksum(w),
                "id" => x.id(w),
                "seq" => x.seq(w),
                _ => x,
            };
        }
        _ => return false,
    }
    Kind::of(layer) == Some(field.kind)
}
