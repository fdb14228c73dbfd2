//! The bytes of one probe: [`probe_packet`] (the one place probes are built, layer by layer
//! with the stack's packet builder, `ustack::wire::build`) and [`fragments`] (hping3's `-f`,
//! with overlap on request).

use super::spec::{BuildError, Spec};
use crate::daemon::proto::SendMode;
use std::net::IpAddr;
use ustack::wire::build::{self as b, Packet, Raw, TcpOpt};
use ustack::wire::{icmp, proto};

/// The fields that change from probe to probe (the engine picks them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The probe's number (hping3's `seq`), from 0.
    pub no: u32,
    /// TCP/UDP source port.
    pub src_port: u16,
    /// TCP/UDP destination port.
    pub dst_port: u16,
    /// TCP sequence number.
    pub tcp_seq: u32,
    /// TCP acknowledgment field.
    pub tcp_ack: u32,
    /// IPv4 identification (IPv6: the fragment header's).
    pub ip_id: u32,
    /// ICMP echo identifier.
    pub icmp_id: u16,
    /// ICMP echo sequence.
    pub icmp_seq: u16,
}

/// The whole IP packet of `probe` from `src` (unfragmented; see [`fragments`]).
pub fn probe_packet(spec: &Spec, probe: &Probe, src: IpAddr) -> Result<Vec<u8>, BuildError> {
    let req = &spec.req;
    let ip = match (src, req.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Packet::from(
            b::Ipv4::new()
                .src(s)
                .dst(d)
                .ttl(req.ttl)
                .tos(req.tos)
                .ident(probe.ip_id as u16)
                .df(req.dont_fragment)
                .mf(req.more_fragments)
                .protocol(protocol(spec)),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => Packet::from(
            b::Ipv6::new()
                .src(s)
                .dst(d)
                .hop_limit(req.ttl)
                .traffic_class(req.tos)
                .next_header(protocol(spec)),
        ),
        _ => {
            return Err(BuildError::new(
                "destination",
                format!("{src} and {} are of different families", req.dst),
            ))
        }
    };
    let data = Raw(spec.data.clone());
    let packet = match req.mode {
        SendMode::Tcp => {
            let mut tcp = b::Tcp::new()
                .sport(probe.src_port)
                .dport(probe.dst_port)
                .seq(probe.tcp_seq)
                .ack(probe.tcp_ack)
                .flags(req.tcp_flags)
                .window(req.tcp_win)
                .raw_options(req.raw);
            if !spec.tcp_options.is_empty() {
                tcp = tcp.option(TcpOpt::Bytes(spec.tcp_options.clone()));
            }
            ip / tcp / data
        }
        SendMode::Udp => ip / b::Udp::new().sport(probe.src_port).dport(probe.dst_port) / data,
        SendMode::Icmp => {
            // A timestamp or address mask request's body (zeros) goes before the data.
            let mut body = vec![0u8; spec.icmp_body_len()];
            body.extend_from_slice(&spec.data);
            let rest = icmp::id_seq(probe.icmp_id, probe.icmp_seq);
            if req.dst.is_ipv6() {
                let m = b::Icmpv6::new()
                    .icmp_type(spec.icmp_type)
                    .code(req.icmp_code)
                    .rest(rest);
                ip / m / Raw(body)
            } else {
                let m = b::Icmp::new()
                    .icmp_type(spec.icmp_type)
                    .code(req.icmp_code)
                    .rest(rest);
                ip / m / Raw(body)
            }
        }
        SendMode::RawIp => ip / data,
    };
    let mut bytes = packet.build()?;
    if req.bad_checksum {
        spoil_checksum(&mut bytes, req.mode);
    }
    Ok(bytes)
}

/// `--badcksum`: the transport's checksum one bit off (a raw IP probe's header checksum), and
/// never 0 — a zero UDP checksum over IPv4 means "none" (RFC 768) and would pass.
fn spoil_checksum(pkt: &mut [u8], mode: SendMode) {
    let v6 = pkt.first().is_some_and(|b| b >> 4 == 6);
    let ip_len = if v6 {
        40
    } else {
        usize::from(pkt.first().map_or(5, |b| b & 0x0f)) * 4
    };
    let at = match mode {
        SendMode::Tcp => ip_len + 16,
        SendMode::Udp => ip_len + 6,
        SendMode::Icmp => ip_len + 2,
        SendMode::RawIp if v6 => return, // IPv6 has no header checksum to spoil.
        SendMode::RawIp => 10,
    };
    let Some(field) = pkt.get_mut(at..at + 2) else {
        return;
    };
    let c = u16::from_be_bytes([field[0], field[1]]);
    let bad = if c ^ 1 == 0 { c ^ 2 } else { c ^ 1 };
    field.copy_from_slice(&bad.to_be_bytes());
}

/// The IP protocol of the probes.
pub fn protocol(spec: &Spec) -> u8 {
    match spec.req.mode {
        SendMode::Tcp => proto::TCP,
        SendMode::Udp => proto::UDP,
        SendMode::Icmp if spec.req.dst.is_ipv6() => proto::ICMPV6,
        SendMode::Icmp => proto::ICMP,
        SendMode::RawIp => spec.req.ip_proto,
    }
}

/// `packet` cut into fragments of `size` data bytes (a multiple of 8): IPv4 fragments
/// (RFC 791 §3.2), or IPv6 ones behind a Fragment header with identification `ident`
/// (RFC 8200 §4.5) — the packet builder's helpers. With `overlap`, every fragment after the
/// first starts 8 bytes early, repeating the bytes before it (what RFC 5722 has receivers
/// drop).
pub fn fragments(
    packet: &[u8],
    size: usize,
    overlap: bool,
    ident: u32,
) -> Result<Vec<Vec<u8>>, BuildError> {
    let overlap = if overlap { 8 } else { 0 };
    if packet.first().is_some_and(|b| b >> 4 == 6) {
        b::fragment_v6_overlapping(packet, size, ident, overlap)
    } else {
        b::fragment_v4_overlapping(packet, size, overlap)
    }
}
