//! The bytes of one probe: [`probe_packet`] (the one place probes are built, written with the
//! stack's emitters and checksums) and [`fragments`] (hping3's `-f`, with overlap on request).

use super::spec::{BuildError, Spec, MAX_IP};
use crate::daemon::proto::SendMode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ustack::wire::{checksum, ipv4::Ipv4Repr, ipv6::Ipv6Repr, proto};

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
    let payload = transport(spec, probe, src)?;
    match (src, spec.req.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(spec, probe, s, d, &payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(spec, s, d, &payload),
        _ => Err(BuildError::new(
            "destination",
            format!("{src} and {} are of different families", spec.req.dst),
        )),
    }
}

/// The transport header and data (for raw IP probes, the data alone).
fn transport(spec: &Spec, p: &Probe, src: IpAddr) -> Result<Vec<u8>, BuildError> {
    let req = &spec.req;
    let dst = req.dst;
    let mut seg = vec![0u8; spec.ip_payload_len()];
    let (protocol, sum_at) = match req.mode {
        SendMode::Tcp => {
            seg[0..2].copy_from_slice(&p.src_port.to_be_bytes());
            seg[2..4].copy_from_slice(&p.dst_port.to_be_bytes());
            seg[4..8].copy_from_slice(&p.tcp_seq.to_be_bytes());
            seg[8..12].copy_from_slice(&p.tcp_ack.to_be_bytes());
            // RFC 9293 §3.1: the data offset is 4 bits of 32-bit words; with --raw, options
            // past 40 bytes read as data.
            let words = ((20 + spec.tcp_options.len()) / 4).min(15) as u8;
            seg[12] = words << 4;
            seg[13] = req.tcp_flags;
            seg[14..16].copy_from_slice(&req.tcp_win.to_be_bytes());
            let opts_end = 20 + spec.tcp_options.len();
            seg[20..opts_end].copy_from_slice(&spec.tcp_options);
            seg[opts_end..].copy_from_slice(&spec.data);
            (proto::TCP, Some(16))
        }
        SendMode::Udp => {
            let n = ustack::wire::udp::emit(&mut seg, src, dst, p.src_port, p.dst_port, &spec.data);
            debug_assert_eq!(n, seg.len());
            if req.bad_checksum {
                flip(&mut seg, 6);
            }
            return Ok(seg);
        }
        SendMode::Icmp => {
            seg[0] = spec.icmp_type;
            seg[1] = req.icmp_code;
            seg[4..6].copy_from_slice(&p.icmp_id.to_be_bytes());
            seg[6..8].copy_from_slice(&p.icmp_seq.to_be_bytes());
            let body = spec.icmp_body_len();
            seg[8 + body..].copy_from_slice(&spec.data);
            if dst.is_ipv6() {
                (proto::ICMPV6, Some(2))
            } else {
                // RFC 792: the ICMP checksum covers the message alone.
                let c = checksum::internet(&seg);
                seg[2..4].copy_from_slice(&c.to_be_bytes());
                (proto::ICMP, None)
            }
        }
        SendMode::RawIp => {
            seg.copy_from_slice(&spec.data);
            return Ok(seg);
        }
    };
    if let Some(at) = sum_at {
        let c = checksum::transport(src, dst, protocol, &seg);
        seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    if req.bad_checksum {
        flip(&mut seg, sum_at.unwrap_or(2));
    }
    Ok(seg)
}

/// A checksum that cannot verify: one bit off (`--badcksum`).
fn flip(seg: &mut [u8], at: usize) {
    if let Some(b) = seg.get_mut(at + 1) {
        *b ^= 0x01;
    }
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

fn ipv4(
    spec: &Spec,
    p: &Probe,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
) -> Result<Vec<u8>, BuildError> {
    if 20 + payload.len() > MAX_IP {
        return Err(BuildError::new(
            "-d",
            "the probe is longer than 65535 bytes",
        ));
    }
    let req = &spec.req;
    let repr = Ipv4Repr {
        src,
        dst,
        protocol: protocol(spec),
        ttl: req.ttl,
        ident: p.ip_id as u16,
        dont_fragment: req.dont_fragment,
        more_fragments: req.more_fragments,
        frag_offset: 0,
        payload_len: payload.len(),
    };
    let mut pkt = vec![0u8; 20 + payload.len()];
    repr.emit(&mut pkt);
    pkt[1] = req.tos;
    refresh_ipv4_checksum(&mut pkt);
    if req.bad_checksum && req.mode == SendMode::RawIp {
        flip(&mut pkt, 10);
    }
    pkt[20..].copy_from_slice(payload);
    Ok(pkt)
}

/// Rewrites the IPv4 header checksum of `pkt` (RFC 791 §3.1).
fn refresh_ipv4_checksum(pkt: &mut [u8]) {
    pkt[10] = 0;
    pkt[11] = 0;
    let c = checksum::internet(&pkt[..20]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv6(spec: &Spec, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Result<Vec<u8>, BuildError> {
    if payload.len() > MAX_IP {
        return Err(BuildError::new(
            "-d",
            "the IPv6 payload is longer than 65535 bytes",
        ));
    }
    let repr = Ipv6Repr {
        src,
        dst,
        next_header: protocol(spec),
        hop_limit: spec.req.ttl,
        traffic_class: spec.req.tos,
        flow_label: 0,
        payload_len: payload.len(),
    };
    let mut pkt = vec![0u8; 40 + payload.len()];
    repr.emit(&mut pkt);
    pkt[40..].copy_from_slice(payload);
    Ok(pkt)
}

/// `packet` cut into fragments of `size` data bytes (a multiple of 8): IPv4 fragments
/// (RFC 791 §3.2), or IPv6 ones behind a Fragment header with identification `ident`
/// (RFC 8200 §4.5). With `overlap`, every fragment after the first starts 8 bytes early,
/// repeating the bytes before it (what RFC 5722 has receivers drop). A packet that fits in
/// one fragment is still sent as one (an atomic fragment over IPv6, MF clear over IPv4).
pub fn fragments(packet: &[u8], size: usize, overlap: bool, ident: u32) -> Vec<Vec<u8>> {
    let size = size.max(8) & !7;
    let v6 = packet.first().is_some_and(|b| b >> 4 == 6);
    let hlen = if v6 { 40 } else { 20 };
    if packet.len() < hlen {
        return vec![packet.to_vec()];
    }
    let (header, data) = packet.split_at(hlen);
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let from = if overlap && start > 0 {
            start - 8
        } else {
            start
        };
        let end = (start + size).min(data.len());
        let more = end < data.len();
        out.push(if v6 {
            fragment6(header, &data[from..end], from, more, ident)
        } else {
            fragment4(header, &data[from..end], from, more)
        });
        if !more {
            return out;
        }
        start = end;
    }
}

fn fragment4(header: &[u8], chunk: &[u8], offset: usize, more: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(20 + chunk.len());
    f.extend_from_slice(header);
    f.extend_from_slice(chunk);
    let total = f.len() as u16;
    f[2..4].copy_from_slice(&total.to_be_bytes());
    // Keep DF as asked (a DF fragment is what -f -y makes); MF and the offset are ours.
    let df = u16::from_be_bytes([header[6], header[7]]) & 0x4000;
    let field = df | if more { 0x2000 } else { 0 } | ((offset / 8) as u16 & 0x1fff);
    f[6..8].copy_from_slice(&field.to_be_bytes());
    refresh_ipv4_checksum(&mut f);
    f
}

fn fragment6(header: &[u8], chunk: &[u8], offset: usize, more: bool, ident: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(48 + chunk.len());
    f.extend_from_slice(header);
    let next = header[6];
    f[6] = 44; // RFC 8200 §4.5: the Fragment header.
    f.extend_from_slice(&[next, 0]);
    let field = ((offset / 8) as u16) << 3 | u16::from(more);
    f.extend_from_slice(&field.to_be_bytes());
    f.extend_from_slice(&ident.to_be_bytes());
    f.extend_from_slice(chunk);
    let plen = (f.len() - 40) as u16;
    f[4..6].copy_from_slice(&plen.to_be_bytes());
    f
}
