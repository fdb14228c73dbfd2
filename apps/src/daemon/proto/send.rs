//! `send`: hping3's crafted probes from inside the stack — the whole probe spec (mode, every
//! header field, data, pacing), the `send` events of its job (one per reply or ICMP error) and
//! their summary.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What the probes are (hping3's modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// TCP segments with `tcp_flags` (hping3's default mode).
    #[default]
    Tcp,
    /// UDP datagrams (`-2`).
    Udp,
    /// ICMP (ICMPv6 over IPv6) messages of `icmp_type`/`icmp_code` (`-1`).
    Icmp,
    /// A bare IP header carrying `ip_proto` and the data (`-0`).
    RawIp,
}

/// How the destination port moves (`-p`, `-p +N`, `-p ++N`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortStep {
    /// The same port for every probe.
    #[default]
    Fixed,
    /// `+N`: one up after each reply.
    PerReply,
    /// `++N`: one up after each probe.
    PerProbe,
}

/// Fragmentation of the probes (`-f`, `--frag-size`, `--frag-overlap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragmenting {
    /// Bytes of IP payload per fragment, a multiple of 8 (hping3's virtual MTU, default 16).
    pub size: u16,
    /// Every fragment after the first starts 8 bytes early, repeating the bytes it overlaps
    /// (RFC 5722 / RFC 1858's overlapping fragments; ustack and Linux drop such datagrams).
    #[serde(default)]
    pub overlap: bool,
}

/// Parameters of `send` (hping3's options). Every field but `dst` has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    /// Destination.
    pub dst: IpAddr,
    /// Probe kind.
    #[serde(default)]
    pub mode: SendMode,
    /// TCP flag byte (FIN 0x01 … CWR/`Y` 0x80), hping3's `-F -S -R -P -A -U -X -Y`.
    #[serde(default)]
    pub tcp_flags: u8,
    /// First source port (`-s`); none: random in 1024..3024, as hping3.
    #[serde(default)]
    pub src_port: Option<u16>,
    /// Keep the source port (`-k`); otherwise it goes one up per probe.
    #[serde(default)]
    pub keep_src_port: bool,
    /// Destination port (`-p`), default 0 as hping3.
    #[serde(default)]
    pub dst_port: u16,
    /// How the destination port moves.
    #[serde(default)]
    pub port_step: PortStep,
    /// TCP sequence number (`--seq`); none: random per probe.
    #[serde(default)]
    pub tcp_seq: Option<u32>,
    /// TCP acknowledgment field (`--ack`); none: random per probe.
    #[serde(default)]
    pub tcp_ack: Option<u32>,
    /// TCP window (`--win`), default 512 as hping3.
    #[serde(default = "default_win")]
    pub tcp_win: u16,
    /// TCP option bytes, hex (`--tcp-options`): padded with zero (end of options) to a multiple
    /// of 4; at most 40 bytes unless `raw`.
    #[serde(default)]
    pub tcp_options: Option<String>,
    /// Allow what cannot be a valid header (`--raw`): TCP options beyond 40 bytes (the data
    /// offset then says 15 and the rest reads as data).
    #[serde(default)]
    pub raw: bool,
    /// ICMP type (`--icmptype`); none: echo request (8, over IPv6 128).
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code (`--icmpcode`).
    #[serde(default)]
    pub icmp_code: u8,
    /// IP protocol of raw IP probes (`--ipproto`), default 6 as hping3.
    #[serde(default = "default_ipproto")]
    pub ip_proto: u8,
    /// TTL / hop limit (`--ttl`), default 64.
    #[serde(default = "default_ttl")]
    pub ttl: u8,
    /// IPv4 identification (`--id`; over IPv6 the fragment header's); none: random per probe.
    #[serde(default)]
    pub ip_id: Option<u32>,
    /// IPv4 type of service / IPv6 traffic class (`--tos`).
    #[serde(default)]
    pub tos: u8,
    /// Don't Fragment (`-y`; IPv4 only).
    #[serde(default)]
    pub dont_fragment: bool,
    /// More Fragments on an unfragmented probe (`-x`; IPv4 only): the datagram never completes.
    #[serde(default)]
    pub more_fragments: bool,
    /// Split each probe into fragments (`-f`, `--frag-size`, `--frag-overlap`).
    #[serde(default)]
    pub fragment: Option<Fragmenting>,
    /// A wrong checksum (`--badcksum`): the transport's (the IP header's for raw IP probes).
    #[serde(default)]
    pub bad_checksum: bool,
    /// Data bytes per probe (`-d`); with `data_hex`, the pattern is repeated or cut to it.
    #[serde(default)]
    pub data_size: Option<usize>,
    /// The data as hex (`-E FILE`, read by the client); none: `X` bytes as hping3.
    #[serde(default)]
    pub data_hex: Option<String>,
    /// Probes to send (`-c`); none: until the client half-closes (bounded when flooding).
    #[serde(default)]
    pub count: Option<u32>,
    /// Time between probes, µs (`-i`), default 1 s.
    #[serde(default = "default_interval")]
    pub interval_us: u64,
    /// Flood (`--flood`): as fast as `rate` allows, replies counted but not shown.
    #[serde(default)]
    pub flood: bool,
    /// Most probes a second when flooding (`--rate`); none: the default flood rate.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Random source addresses inside the stack's own prefix (`--rand-source`).
    #[serde(default)]
    pub rand_source: bool,
    /// Let the stack answer what the probes provoke (default: hping3's behaviour, where the
    /// kernel RSTs a SYN-ACK to a port it does not know); false (`--no-rst`): the source ports
    /// are claimed by the job, and the stack stays silent.
    #[serde(default = "default_true")]
    pub stack_rst: bool,
    /// How long to wait for replies after the last probe, ms (hping3: 1 s).
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
    /// Targets outside the stack's prefix and the lab ranges (`--i-own-the-network`).
    #[serde(default)]
    pub i_own_the_network: bool,
}

impl SendRequest {
    /// A request with every default (hping3's `hping3 DST`: TCP, no flags, port 0).
    pub fn new(dst: IpAddr) -> SendRequest {
        SendRequest {
            dst,
            mode: SendMode::Tcp,
            tcp_flags: 0,
            src_port: None,
            keep_src_port: false,
            dst_port: 0,
            port_step: PortStep::Fixed,
            tcp_seq: None,
            tcp_ack: None,
            tcp_win: default_win(),
            tcp_options: None,
            raw: false,
            icmp_type: None,
            icmp_code: 0,
            ip_proto: default_ipproto(),
            ttl: default_ttl(),
            ip_id: None,
            tos: 0,
            dont_fragment: false,
            more_fragments: false,
            fragment: None,
            bad_checksum: false,
            data_size: None,
            data_hex: None,
            count: None,
            interval_us: default_interval(),
            flood: false,
            rate: None,
            rand_source: false,
            stack_rst: true,
            wait_ms: default_wait(),
            i_own_the_network: false,
        }
    }
}

fn default_win() -> u16 {
    512
}
fn default_ipproto() -> u8 {
    6
}
fn default_ttl() -> u8 {
    64
}
fn default_interval() -> u64 {
    1_000_000
}
fn default_true() -> bool {
    true
}
fn default_wait() -> u64 {
    1000
}

/// One event of a `send` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SendEvent {
    /// The job started (hping3's `HPING ...` line).
    Start(SendStart),
    /// A reply matched to a probe.
    Reply(SendReply),
    /// An ICMP error quoting a probe.
    IcmpError(SendIcmpError),
    /// A probe could not be sent.
    SendFailed {
        /// The probe's number.
        seq: u32,
        /// Why.
        message: String,
    },
    /// The summary (the last event).
    Summary(SendSummary),
}

/// What the job sends, for the first line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendStart {
    /// Destination.
    pub dst: IpAddr,
    /// The stack's TUN name (hping3 prints the interface).
    pub iface: String,
    /// The address probes go from (unless `--rand-source`).
    pub src: IpAddr,
    /// Probe kind.
    pub mode: SendMode,
    /// TCP flags (TCP mode).
    pub tcp_flags: u8,
    /// Header bytes of a probe (IP + transport, options excluded as hping3 counts).
    pub headers: usize,
    /// Data bytes of a probe.
    pub data: usize,
    /// Flooding: replies are counted, not shown.
    pub flood: bool,
}

/// What kind of reply came.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "proto", rename_all = "snake_case")]
pub enum ReplyKind {
    /// A TCP segment from the probed port.
    Tcp {
        /// Its source port.
        sport: u16,
        /// Its flag byte.
        flags: u8,
        /// Its window.
        win: u16,
        /// Its sequence number.
        tcp_seq: u32,
        /// Its acknowledgment number.
        tcp_ack: u32,
    },
    /// A UDP datagram from the probed port.
    Udp {
        /// Its source port.
        sport: u16,
    },
    /// An ICMP (ICMPv6) reply: echo, timestamp or address-mask reply.
    Icmp {
        /// Its type.
        icmp_type: u8,
        /// Its code.
        icmp_code: u8,
    },
}

/// A reply (hping3's `len=… ip=… ttl=… DF id=… …` line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendReply {
    /// IP packet length.
    pub len: usize,
    /// Who answered.
    pub from: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// hping3's `DF`: any fragment flag or offset set (IPv4).
    pub df: bool,
    /// IPv4 identification; none over IPv6 (`ip_id`: the envelope has `id`).
    pub ip_id: Option<u16>,
    /// A second reply to the same probe (`DUP!`).
    pub dup: bool,
    /// The probe's number (hping3's `seq=` / `icmp_seq=`).
    pub seq: u32,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// What it is.
    #[serde(flatten)]
    pub kind: ReplyKind,
}

/// An ICMP error quoting one of the probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendIcmpError {
    /// Who sent it.
    pub from: IpAddr,
    /// Over IPv6 (ICMPv6 types and codes).
    pub v6: bool,
    /// Its type.
    pub icmp_type: u8,
    /// Its code.
    pub icmp_code: u8,
    /// The probe it quotes, if it could be told (port or echo sequence matched).
    pub seq: Option<u32>,
    /// The quoted probe's source port (TCP/UDP).
    pub port: Option<u16>,
    /// Round-trip time, ms, if the probe was told.
    pub rtt_ms: Option<f64>,
    /// A second answer to that probe.
    pub dup: bool,
    /// The quoted probe was UDP (hping3 adds its `status= port= seq=` line).
    pub quoted_udp: bool,
    /// Next-hop MTU of "fragmentation needed" / "packet too big".
    pub mtu: Option<u32>,
}

/// Totals of a send job, as hping3 prints them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SendSummary {
    /// Destination.
    pub dst: Option<IpAddr>,
    /// Probes sent.
    pub transmitted: u32,
    /// Replies and ICMP errors matched (duplicates included, as hping3 counts).
    pub received: u32,
    /// RTT min/avg/max, ms, of the timed answers.
    pub rtt: Option<[f64; 3]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::proto::{parse_request, reply_line, request_line, Body, Reply, Request};

    #[test]
    fn requests_and_events_round_trip_through_the_envelope() {
        let mut r = SendRequest::new("198.18.0.1".parse().unwrap());
        r.tcp_flags = 0x12;
        r.fragment = Some(Fragmenting {
            size: 24,
            overlap: true,
        });
        r.data_hex = Some("abcd".into());
        let req = Request::Send(r);
        let line = request_line(5, &req);
        assert_eq!(parse_request(&line[..line.len() - 1]).unwrap(), (5, req));
        // Defaults fill what a client leaves out.
        let (_, r) = parse_request(br#"{"v":1,"req":"send","dst":"198.18.0.1"}"#).unwrap();
        assert_eq!(
            r,
            Request::Send(SendRequest::new("198.18.0.1".parse().unwrap()))
        );
        // Event fields must not collide with the envelope's (`v`, `id`, `reply`).
        for ev in [
            SendEvent::Reply(SendReply {
                len: 44,
                from: "198.18.0.1".parse().unwrap(),
                ttl: 64,
                df: true,
                ip_id: Some(0),
                dup: false,
                seq: 3,
                rtt_ms: 0.3,
                kind: ReplyKind::Tcp {
                    sport: 80,
                    flags: 0x12,
                    win: 64240,
                    tcp_seq: 1,
                    tcp_ack: 2,
                },
            }),
            SendEvent::SendFailed {
                seq: 1,
                message: "x".into(),
            },
            SendEvent::Summary(SendSummary::default()),
        ] {
            let body = Body::Send(ev);
            let line = reply_line(9, body.clone());
            let back: Reply = serde_json::from_slice(&line).unwrap();
            assert_eq!((back.id, back.body), (9, body));
        }
    }
}
