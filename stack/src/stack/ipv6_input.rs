//! IPv6 input (issue 17, the first part): every packet checked and its header chain walked,
//! each refusal counted by its reason; Neighbor Discovery and MLD counted and ignored (a
//! point-to-point TUN resolves no link-layer addresses and has no multicast routers); echo
//! requests to `Config::addr6` answered (RFC 4443 §4.2); everything else counted as not
//! handled yet. The replies leave through the same transmit queue as IPv4, fragmented by the
//! source if they must be (RFC 8200 §4.5), with a flow label per flow (RFC 6437 §3). A refusal
//! that RFC 8200 answers with a Parameter Problem gets one (an upper-layer protocol the stack
//! will never speak too: code 1), under RFC 4443 §2.4's rules and the ICMP error rate limit.

use super::firewall_api::Answer;
use super::icmp_input::PathReport;
use super::{frag_drop_reason, Stack};
use crate::filter::fw::Hook;
use crate::icmp as policy;
use crate::ip::fragment::OutHeader6;
use crate::ip::reassembly::{Fragment, FragmentKey6, Outcome};
use crate::socket::{IcmpError, Queued};
use crate::wire::icmpv6::{self, Icmpv6Message};
use crate::wire::ipv6::{self, Ipv6Packet, Walk};
use crate::wire::proto;
use crate::DropReason;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The all-nodes group (RFC 4291 §2.7.1): every node listens to it.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

impl Stack {
    /// Handles one IPv6 packet as read from the device (`reassembled`: a datagram reassembly
    /// just completed, whose fragments raw sockets already had copies of).
    pub(super) fn receive_v6(&mut self, bytes: &[u8], reassembled: bool) {
        let p = match Ipv6Packet::parse(bytes) {
            Ok(p) => p,
            Err(reason) => return self.drop_packet(reason),
        };
        if let Some(reason) = p.refused_on_arrival(self.config.addr6) {
            return self.drop_packet(reason);
        }
        let walked = match ipv6::walk(&p) {
            Ok(w) => w,
            Err(refusal) => {
                self.drop_packet(refusal.reason);
                if let Some((code, pointer)) = refusal.problem {
                    let kind = (icmpv6::types::PARAMETER_PROBLEM, code, pointer);
                    self.send_icmp6_error(&p, kind, refusal.even_multicast);
                }
                return;
            }
        };
        // The firewall's fragments chain sees every packet, then raw sockets get a copy, before
        // reassembly (filter::fw, socket::raw).
        if !reassembled && self.firewall_stops(Hook::Fragments, bytes, Answer::V6(&p)) {
            return;
        }
        let upper = match walked {
            Walk::Upper { protocol, .. } => Some(protocol),
            Walk::LaterFragment { fragment, .. } => p.bytes().get(fragment.header_at).copied(),
            Walk::Nothing => Some(ipv6::next::NONE),
        };
        if !reassembled {
            self.raw_copy(upper, p.bytes());
        }
        let Some(me) = self.config.addr6 else {
            return self.drop_packet(DropReason::Ipv6Disabled);
        };
        let for_us = p.dst() == me || p.dst() == ALL_NODES;
        let fragmented = match walked {
            Walk::Upper {
                fragment: Some(f), ..
            } if !f.is_atomic() => Some(f),
            Walk::LaterFragment { fragment, .. } => Some(fragment),
            _ => None,
        };
        if let Some(f) = fragmented {
            return self.reassemble6(&p, f, for_us);
        }
        // (An atomic fragment is left here: a whole packet, RFC 8021 / RFC 6946 §4.)
        if self.firewall_stops(Hook::Input, bytes, Answer::V6(&p)) {
            return;
        }
        let Walk::Upper {
            protocol,
            at,
            named_at,
            ..
        } = walked
        else {
            return self.drop_packet(DropReason::Ipv6NoNextHeader);
        };
        let upper = &p.bytes()[at..];
        if protocol == proto::ICMPV6 {
            // (ND and MLD to their multicast groups are counted as such, not as not ours.)
            return self.icmpv6_input(&p, upper, for_us);
        }
        if !for_us {
            return self.drop_packet(DropReason::Ipv6NotForUs);
        }
        let (src, dst) = (IpAddr::V6(p.src()), IpAddr::V6(p.dst()));
        match protocol {
            // RFC 9293 §3.9.2.3 / RFC 1122 §4.2.3.10: TCP is unicast only.
            proto::TCP if p.dst() != me => self.drop_packet(DropReason::TcpNotUnicast),
            proto::TCP => self.tcp_deliver(src, dst, upper),
            proto::UDP => {
                if self.udp_deliver(src, dst, upper) == Some(DropReason::UdpNoSocket) {
                    // RFC 4443 §3.1: port unreachable, code 4 (never to a multicast
                    // destination's sender: §2.4 (e.3), checked in send_icmp6_error).
                    let kind = (icmpv6::types::DEST_UNREACHABLE, icmpv6::unreach::PORT, 0);
                    self.send_icmp6_error(&p, kind, false);
                }
            }
            _ => {
                // RFC 8200 §4: a Next Header the node does not recognize gets code 1 pointing
                // at it.
                self.drop_packet(DropReason::Ipv6UnknownNextHeader);
                let kind = (icmpv6::types::PARAMETER_PROBLEM, 1, named_at as u32);
                self.send_icmp6_error(&p, kind, false);
            }
        }
    }

    /// An ICMPv6 message for us (RFC 4443): echo requests answered, echo replies and errors
    /// handed to the socket or connection whose packet they are about, ND/MLD ignored.
    fn icmpv6_input(&mut self, p: &Ipv6Packet<'_>, upper: &[u8], for_us: bool) {
        let msg = match Icmpv6Message::parse(p.src(), p.dst(), upper) {
            Ok(m) => m,
            Err(reason) => return self.drop_packet(reason),
        };
        let Some(me) = self.config.addr6 else {
            return self.drop_packet(DropReason::Ipv6Disabled);
        };
        match msg {
            Icmpv6Message::LinkLocal { .. } => self.drop_packet(DropReason::Icmpv6LinkLocalIgnored),
            _ if !for_us => self.drop_packet(DropReason::Ipv6NotForUs),
            Icmpv6Message::EchoRequest { ident, seq, data } => {
                // RFC 4443 §4.2: the reply carries the request's identifier, sequence number
                // and data, from the unicast address the request was sent to (a request to a
                // multicast group is answered from our own address, §2.2).
                let peer = p.src();
                let mut buf = self.pool.take_zeroed(icmpv6::HEADER_LEN + data.len());
                icmpv6::emit_echo_reply(&mut buf, me, peer, ident, seq, data);
                if self
                    .queue6(me, peer, ipv6::next::ICMPV6, (None, 0), buf)
                    .is_ok()
                {
                    self.stats.icmpv6_echo_replied += 1;
                }
            }
            Icmpv6Message::EchoReply { ident, seq, data } => {
                let mut copy = self.pool.take(data.len());
                copy.extend_from_slice(data);
                let item = Queued::Echo {
                    from: IpAddr::V6(p.src()),
                    seq,
                    ttl: p.hop_limit(),
                    data: copy,
                };
                self.deliver_echo_reply(ident, item);
            }
            Icmpv6Message::Error {
                icmp_type,
                code,
                param,
                quote,
            } => self.icmpv6_error_input(p, (icmp_type, code, param), quote),
            Icmpv6Message::Other { .. } => self.drop_packet(DropReason::Icmpv6UnhandledType),
        }
    }

    /// An ICMPv6 error (RFC 4443 §2.4 (d): passed to the upper layer that sent the packet it
    /// quotes), believed only if it quotes a packet from our address to a socket or connection
    /// of ours. A Packet Too Big below 1280 counts as 1280 (RFC 8201 §4: the path MTU never
    /// goes below the minimum link MTU, and no atomic fragments are sent, RFC 8021).
    fn icmpv6_error_input(&mut self, p: &Ipv6Packet<'_>, kind: (u8, u8, u32), quote: &[u8]) {
        let Some(me) = self.config.addr6 else {
            return self.drop_packet(DropReason::Ipv6Disabled);
        };
        let Some(quoted) = policy::parse_quote6(quote, me) else {
            return self.drop_packet(DropReason::IcmpBadQuote);
        };
        let (icmp_type, code, param) = kind;
        let error = IcmpError {
            from: IpAddr::V6(p.src()),
            ttl: p.hop_limit(),
            icmp_type,
            code,
            original_dst: SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            next_hop_mtu: 0,
        };
        let too_big = icmp_type == icmpv6::types::PACKET_TOO_BIG;
        if too_big {
            self.note_path_mtu(&quoted, param);
        }
        let quoted_len = quote
            .get(4..6)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
            .saturating_add(ipv6::HEADER_LEN as u16);
        let path = PathReport {
            next_mtu: if too_big {
                param.min(u32::from(u16::MAX)) as u16
            } else {
                0
            },
            quoted_len,
            min_pmtu: self.config.min_pmtu.max(ipv6::MIN_MTU as u16),
        };
        self.deliver_icmp_error(error, quoted, path);
    }

    /// A Packet Too Big about an echo request or UDP datagram of ours lowers the path MTU to
    /// its destination (RFC 8201 §4: the source MUST send smaller packets; `ip::pmtu`). TCP
    /// keeps its own per connection.
    fn note_path_mtu(&mut self, quoted: &policy::Quoted, mtu: u32) {
        let dst = match *quoted {
            policy::Quoted::Udp { dst, .. } | policy::Quoted::Echo { dst, .. } => dst,
            policy::Quoted::Tcp { .. } | policy::Quoted::Other { .. } => return,
        };
        if let IpAddr::V6(dst) = dst {
            let lowered = self.pmtu6.lower(dst, mtu, self.config.mtu, self.now);
            if let Some(pmtu) = lowered {
                log::debug!("path MTU to {dst}: {pmtu}");
            }
        }
    }

    /// The MTU towards `dst`: the link's, or lower if a Packet Too Big said so (IPv6).
    pub(crate) fn path_mtu(&self, dst: IpAddr) -> u16 {
        match dst {
            IpAddr::V6(d) => self.pmtu6.get(d, self.now).unwrap_or(self.config.mtu),
            IpAddr::V4(_) => self.config.mtu,
        }
        .min(self.config.mtu)
    }

    /// A fragment (RFC 8200 §4.5) for us: held until its datagram is whole, which then goes
    /// through the input again as one packet (its fixed header with the Fragment header's Next
    /// Header and the whole payload length) — also one behind other extension headers; fragments
    /// for others are not held at all.
    fn reassemble6(&mut self, p: &Ipv6Packet<'_>, f: ipv6::Fragment, for_us: bool) {
        self.stats.ip_rx_fragments += 1;
        if !for_us {
            return self.drop_packet(DropReason::Ipv6NotForUs);
        }
        let b = p.bytes();
        let data_at = f.header_at + 8;
        let frag = Fragment {
            key: FragmentKey6 {
                src: p.src(),
                dst: p.dst(),
                ident: f.ident,
            },
            offset: f.offset,
            more_fragments: f.more,
            header: &b[..data_at],
            payload: &b[data_at..],
        };
        let evicted_before = self.reassembly6.stats().evicted;
        let outcome = self.reassembly6.insert(self.now, frag);
        self.count_evicted(evicted_before, self.reassembly6.stats().evicted);
        match outcome {
            Outcome::Incomplete => {}
            Outcome::Duplicate => self.drop_packet(DropReason::FragDuplicate),
            Outcome::Dropped { reason, .. } => self.drop_packet(frag_drop_reason(reason)),
            Outcome::Complete(d) => {
                self.stats.ip_reassembled += 1;
                // RFC 8200 §4.5: the unfragmentable part (the fixed header and any extension
                // headers before the Fragment header) from the first fragment, the field that
                // named the Fragment header now naming what it carried, then the data.
                let at = d.header.len() - 8;
                let mut whole = Vec::with_capacity(at + d.payload.len());
                whole.extend_from_slice(&d.header[..at]);
                if let Some(field) = naming_field(&whole, at) {
                    whole[field] = d.header[at];
                }
                let len = (whole.len() - ipv6::HEADER_LEN + d.payload.len()).min(0xffff);
                whole[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                whole.extend_from_slice(&d.payload);
                self.receive_v6(&whole, true);
            }
        }
    }

    /// Datagrams whose reassembly timed out: counted, and — if the first fragment had
    /// arrived — an ICMPv6 Time Exceeded, code 1, to the source (RFC 8200 §4.5).
    pub(super) fn expire_reassembly6(&mut self) {
        let mut expired = Vec::new();
        self.reassembly6.expire(self.now, |e| expired.push(e));
        for e in expired {
            self.drop_packet(DropReason::FragTimeout);
            if let (Some(quote), Some(me)) = (e.quote, self.config.addr6) {
                let kind = (icmpv6::types::TIME_EXCEEDED, 1, 0);
                self.emit_icmp6_error(me, e.key.src, kind, &quote);
            }
        }
    }

    /// Sends the ICMPv6 error `(type, code, param)` about packet `p` to its source, unless RFC
    /// 4443 §2.4 forbids it: the stack has no IPv6 address; `p` was for another unicast address;
    /// it was for a multicast address and the error is not one of those allowed then (e.3:
    /// `even_multicast`, the option action `10`); `p` is itself an ICMPv6 error (e.1); its
    /// source names no single node (e.6: `::`, multicast); or the error rate limit (f) has no
    /// token (counted, as for IPv4).
    pub(super) fn send_icmp6_error(
        &mut self,
        p: &Ipv6Packet<'_>,
        kind: (u8, u8, u32),
        even_multicast: bool,
    ) {
        let Some(me) = self.config.addr6 else {
            return;
        };
        let dst = p.dst();
        if (dst.is_multicast() && !even_multicast) || (!dst.is_multicast() && dst != me) {
            return;
        }
        if p.src().is_unspecified() || p.src().is_multicast() {
            return;
        }
        if ipv6::is_icmpv6_error(p) {
            return;
        }
        self.emit_icmp6_error(me, p.src(), kind, p.bytes());
    }

    /// Sends an ICMPv6 error from `me` to `to` quoting `invoking`, if the rate limiter has a
    /// token (RFC 4443 §2.4 (f)).
    fn emit_icmp6_error(
        &mut self,
        me: Ipv6Addr,
        to: Ipv6Addr,
        kind: (u8, u8, u32),
        invoking: &[u8],
    ) {
        if !self.icmp_errors.take(self.now) {
            self.stats.icmp_errors_rate_limited += 1;
            return;
        }
        let room = ipv6::MIN_MTU - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;
        let mut buf = self
            .pool
            .take_zeroed(icmpv6::HEADER_LEN + invoking.len().min(room));
        let n = icmpv6::emit_error(&mut buf, me, to, kind, invoking);
        buf.truncate(n);
        if self
            .queue6(me, to, ipv6::next::ICMPV6, (None, 0), buf)
            .is_ok()
        {
            self.stats.icmp_errors_sent += 1;
        }
    }

    /// Queues an IPv6 datagram of `next_header` from `src` to `dst` with `data` as its payload;
    /// `flow` is the sender's own hop limit (`None`: `Config::ttl`) and the ports that name the
    /// flow (0 for ICMPv6).
    pub(crate) fn queue6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        flow: (Option<u8>, u32),
        data: Vec<u8>,
    ) -> Result<(), crate::ip::fragment::QueueError> {
        let h = OutHeader6 {
            src,
            dst,
            next_header,
            hop_limit: self.egress.hop_limit(flow.0),
            flow_label: self.egress.flow_label(src, dst, next_header, flow.1),
            // RFC 7739 §5: unpredictable identifications.
            ident: self.rng.next_u64() as u32,
            path_mtu: self.path_mtu(IpAddr::V6(dst)),
        };
        match self.tx.push6(h, data) {
            Ok(()) => Ok(()),
            Err((e, data)) => {
                self.pool.give(data);
                Err(e)
            }
        }
    }
}

/// Where the Next Header field that names the header at `at` is, in `headers` (a fixed header
/// and the extension headers up to `at`, already walked): byte 6 of the fixed header, or the
/// first byte of the extension header just before.
fn naming_field(headers: &[u8], at: usize) -> Option<usize> {
    let (mut field, mut h) = (6, ipv6::HEADER_LEN);
    while h < at {
        field = h;
        h += (usize::from(*headers.get(h + 1)?) + 1) * 8;
    }
    (h == at).then_some(field)
}

#[cfg(test)]
mod tests {
    use crate::wire::icmpv6::{self, Icmpv6Message};
    use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN};
    use crate::{Config, DropReason, Instant, Stack};
    use std::net::Ipv6Addr;

    const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const ME: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    fn echo_request(dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; icmpv6::HEADER_LEN + data.len()];
        icmpv6::emit_echo_reply(&mut m, HOST, dst, 7, 3, data);
        m[0] = icmpv6::types::ECHO_REQUEST;
        m[2..4].fill(0);
        let sum = crate::wire::checksum::pseudo6(HOST, dst, 58, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut p = vec![0u8; HEADER_LEN];
        Ipv6Repr {
            src: HOST,
            dst,
            next_header: 58,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: m.len(),
        }
        .emit(&mut p);
        p.extend_from_slice(&m);
        p
    }

    fn stack(addr6: Option<Ipv6Addr>, mtu: u16) -> Stack {
        let config = Config {
            addr6,
            mtu,
            ..Config::default()
        };
        Stack::new(config, Instant::ZERO).unwrap()
    }

    #[test]
    fn echo_requests_to_our_address_are_answered_whole_or_in_fragments() {
        let mut s = stack(Some(ME), 1280);
        let mut out = vec![0u8; 1500];
        s.receive(Instant::ZERO, &echo_request(ME, b"ping6"));
        let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
        let p = Ipv6Packet::parse(&out[..n]).unwrap();
        assert_eq!((p.src(), p.dst(), p.next_header()), (ME, HOST, 58));
        assert_ne!(p.flow_label(), 0);
        assert_eq!(
            Icmpv6Message::parse(ME, HOST, p.payload()),
            Ok(Icmpv6Message::EchoReply {
                ident: 7,
                seq: 3,
                data: b"ping6"
            })
        );
        assert_eq!(s.stats().icmpv6_echo_replied, 1);
        // 2000 bytes of data do not fit 1280: the reply leaves in fragments.
        s.receive(Instant::ZERO, &echo_request(ME, &[0xab; 2000]));
        let mut sizes = Vec::new();
        while let Some(n) = s.poll_transmit(Instant::ZERO, &mut out) {
            assert_eq!(out[6], 44, "a Fragment header follows");
            sizes.push(n);
        }
        assert_eq!(sizes.len(), 2);
        assert!(sizes.iter().all(|&n| n <= 1280));
        assert_eq!(sizes.iter().sum::<usize>(), 2 * 48 + 8 + 2000);
    }

    #[test]
    fn refusals_owed_a_parameter_problem_get_one() {
        let mut s = stack(Some(ME), 1500);
        let mut out = vec![0u8; 1500];
        // An upper-layer protocol nobody here speaks: code 1 pointing at the Next Header (6).
        let mut p = echo_request(ME, b"x");
        p[6] = 200;
        s.receive(Instant::ZERO, &p);
        assert_eq!(s.stats().drops(DropReason::Ipv6UnknownNextHeader), 1);
        let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
        let reply = Ipv6Packet::parse(&out[..n]).unwrap();
        let Ok(Icmpv6Message::Error {
            icmp_type: 4,
            code: 1,
            param: 6,
            quote,
        }) = Icmpv6Message::parse(ME, HOST, reply.payload())
        else {
            panic!("{:?}", Icmpv6Message::parse(ME, HOST, reply.payload()))
        };
        assert_eq!(quote, &p[..]);
        // An unknown option with action 11 to a multicast group: counted, no error (§4.2).
        let mut opt = echo_request(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), b"x");
        let icmp = opt.split_off(HEADER_LEN);
        opt[6] = 60;
        opt.extend_from_slice(&[58, 0, 0xde, 2, 0, 0, 1, 0]);
        opt.extend_from_slice(&icmp);
        let plen = (opt.len() - HEADER_LEN) as u16;
        opt[4..6].copy_from_slice(&plen.to_be_bytes());
        s.receive(Instant::ZERO, &opt);
        assert_eq!(s.stats().drops(DropReason::Ipv6UnknownOption), 1);
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
        // TCP is only not handled yet: no error.
        let mut tcp = echo_request(ME, b"x");
        tcp[6] = 6;
        s.receive(Instant::ZERO, &tcp);
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
        assert_eq!(s.stats().icmp_errors_sent, 1);
    }

    /// `packet` (a whole IPv6 packet without extension headers) cut into fragments of `size`
    /// data bytes (a multiple of 8) behind Fragment headers.
    fn fragments(packet: &[u8], size: usize) -> Vec<Vec<u8>> {
        let body = &packet[HEADER_LEN..];
        body.chunks(size)
            .enumerate()
            .map(|(i, chunk)| {
                let off = i * size;
                let more = off + chunk.len() < body.len();
                let mut f = packet[..HEADER_LEN].to_vec();
                f[6] = 44;
                f[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
                let word = (off as u16) | u16::from(more);
                f.extend_from_slice(&[packet[6], 0]);
                f.extend_from_slice(&word.to_be_bytes());
                f.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                f.extend_from_slice(chunk);
                f
            })
            .collect()
    }

    #[test]
    fn fragmented_requests_are_reassembled_and_answered_and_a_lost_piece_times_out() {
        let mut s = stack(Some(ME), 1500);
        let mut out = vec![0u8; 1500];
        let request = echo_request(ME, &[0x5a; 3000]);
        let mut pieces = fragments(&request, 1232);
        assert_eq!(pieces.len(), 3);
        pieces.swap(0, 2); // out of order
        for f in &pieces {
            s.receive(Instant::ZERO, f);
        }
        assert_eq!(s.stats().icmpv6_echo_replied, 1);
        assert_eq!(s.stats().ip_reassembled, 1);
        let mut got = 0;
        while let Some(n) = s.poll_transmit(Instant::ZERO, &mut out) {
            got += n - 48;
        }
        assert_eq!(got, 8 + 3000, "the whole reply, in fragments");
        // The last piece never comes: a Time Exceeded, code 1, quoting the first fragment.
        s.receive(Instant::ZERO, &pieces[2]);
        s.receive(Instant::ZERO, &pieces[1]);
        assert_eq!(s.reassembly_in_progress(), 1);
        let later = Instant::ZERO + s.config().reassembly_timeout + crate::Duration::from_secs(1);
        s.handle_timeout(later);
        assert_eq!(s.stats().drops(DropReason::FragTimeout), 1);
        let n = s.poll_transmit(later, &mut out).unwrap();
        let p = Ipv6Packet::parse(&out[..n]).unwrap();
        let Ok(Icmpv6Message::Error {
            icmp_type: 3,
            code: 1,
            quote,
            ..
        }) = Icmpv6Message::parse(ME, HOST, p.payload())
        else {
            panic!()
        };
        assert_eq!(&quote[..48], &pieces[2][..48]);
        // Overlapping pieces drop the datagram (RFC 5722).
        let bad = fragments(&echo_request(ME, &[1; 100]), 16);
        s.receive(later, &bad[0]);
        let mut overlap = bad[1].clone();
        overlap[42..44].copy_from_slice(&(8u16 | 1).to_be_bytes());
        s.receive(later, &overlap);
        assert_eq!(s.stats().drops(DropReason::FragOverlap), 1);
        // RFC 5722 §4: the rest of that datagram is discarded too, nothing held for it.
        for f in &bad[2..] {
            s.receive(later, f);
        }
        assert_eq!(
            s.stats().drops(DropReason::FragAfterOverlap),
            bad.len() as u64 - 2
        );
        assert_eq!((s.reassembly_in_progress(), s.reassembly_bytes()), (0, 0));
        assert!(s.poll_transmit(later, &mut out).is_none());
    }

    #[test]
    fn crafted_sources_and_hop_limit_0_are_dropped_silently() {
        let mut s = stack(Some(ME), 1500);
        let mut out = vec![0u8; 1500];
        let mut zero = echo_request(ME, b"x");
        zero[7] = 0;
        s.receive(Instant::ZERO, &zero);
        assert_eq!(s.stats().drops(DropReason::Ipv6HopLimitZero), 1);
        let mut own = echo_request(ME, b"x");
        own[8..24].copy_from_slice(&ME.octets());
        s.receive(Instant::ZERO, &own);
        assert_eq!(s.stats().drops(DropReason::Ipv6OwnSource), 1);
        let mut unspecified = echo_request(ME, b"x");
        unspecified[8..24].fill(0);
        s.receive(Instant::ZERO, &unspecified);
        assert_eq!(s.stats().drops(DropReason::Ipv6UnspecifiedSource), 1);
        // An MLD report from :: (RFC 3590 §4) whose Hop-by-Hop header carries an unknown option
        // of action 10: refused, but no Parameter Problem to `::` (RFC 4443 §2.4 (e.6)).
        let mut mld = vec![0u8; HEADER_LEN];
        Ipv6Repr {
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16),
            next_header: 0,
            hop_limit: 1,
            traffic_class: 0,
            flow_label: 0,
            payload_len: 16,
        }
        .emit(&mut mld);
        mld.extend_from_slice(&[58, 0, 0x9e, 2, 0, 0, 1, 0, 143, 0, 0, 0, 0, 0, 0, 0]);
        s.receive(Instant::ZERO, &mld);
        assert_eq!(s.stats().drops(DropReason::Ipv6UnknownOption), 1);
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
        // An ICMPv6 error behind an option of action 11: refused, and never the subject of a
        // Parameter Problem (RFC 4443 §2.4 (e.1)).
        let mut error = echo_request(ME, b"x");
        let icmp = error.split_off(HEADER_LEN);
        error[6] = 60;
        error.extend_from_slice(&[58, 0, 0xde, 2, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0, 6]);
        error.extend_from_slice(&icmp);
        let plen = (error.len() - HEADER_LEN) as u16;
        error[4..6].copy_from_slice(&plen.to_be_bytes());
        s.receive(Instant::ZERO, &error);
        assert_eq!(s.stats().drops(DropReason::Ipv6UnknownOption), 2);
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
        assert_eq!(s.stats().icmp_errors_sent, 0);
    }

    #[test]
    fn other_destinations_and_no_address_are_counted() {
        let mut s = stack(Some(ME), 1500);
        s.receive(Instant::ZERO, &echo_request(HOST, b"x"));
        assert_eq!(s.stats().drops(DropReason::Ipv6NotForUs), 1);
        let mut s = stack(None, 1500);
        s.receive(Instant::ZERO, &echo_request(ME, b"x"));
        assert_eq!(s.stats().drops(DropReason::Ipv6Disabled), 1);
        let mut out = [0u8; 1500];
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
    }
}
