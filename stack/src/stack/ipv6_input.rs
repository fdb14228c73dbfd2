//! IPv6 input (issue 17, the first part): every packet checked and its header chain walked,
//! each refusal counted by its reason; Neighbor Discovery and MLD counted and ignored (a
//! point-to-point TUN resolves no link-layer addresses and has no multicast routers); echo
//! requests to `Config::addr6` answered (RFC 4443 §4.2); everything else counted as not
//! handled yet. The replies leave through the same transmit queue as IPv4, fragmented by the
//! source if they must be (RFC 8200 §4.5), with a flow label per flow (RFC 6437 §3). A refusal
//! that RFC 8200 answers with a Parameter Problem gets one (an upper-layer protocol the stack
//! will never speak too: code 1), under RFC 4443 §2.4's rules and the ICMP error rate limit.

use super::Stack;
use crate::ip::fragment::OutHeader6;
use crate::rand::siphash24;
use crate::wire::icmpv6::{self, Icmpv6Message};
use crate::wire::ipv6::{self, Ipv6Packet, Walk};
use crate::DropReason;
use std::net::Ipv6Addr;

/// The all-nodes group (RFC 4291 §2.7.1): every node listens to it.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

impl Stack {
    /// Handles one IPv6 packet as read from the device.
    pub(super) fn receive_v6(&mut self, bytes: &[u8]) {
        let p = match Ipv6Packet::parse(bytes) {
            Ok(p) => p,
            Err(reason) => return self.drop_packet(reason),
        };
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
        let ours = self.config.addr6;
        let for_us = ours == Some(p.dst()) || p.dst() == ALL_NODES;
        let (at, fragment) = match walked {
            Walk::Upper {
                protocol: ipv6::next::ICMPV6,
                at,
                fragment,
                ..
            } => (at, fragment),
            Walk::Upper {
                protocol, named_at, ..
            } if !matches!(protocol, crate::wire::proto::TCP | crate::wire::proto::UDP) => {
                if ours.is_none() {
                    return self.drop_packet(DropReason::Ipv6NotYetHandled);
                }
                if !for_us {
                    return self.drop_packet(DropReason::Ipv6NotForUs);
                }
                // RFC 8200 §4: a Next Header the node does not recognize gets code 1 pointing
                // at it (TCP and UDP are only not handled *yet*: no error for them).
                self.drop_packet(DropReason::Ipv6UnknownNextHeader);
                let kind = (icmpv6::types::PARAMETER_PROBLEM, 1, named_at as u32);
                return self.send_icmp6_error(&p, kind, false);
            }
            _ => return self.drop_packet(DropReason::Ipv6NotYetHandled),
        };
        // Reassembly of IPv6 is still to come; an atomic fragment is a whole packet (RFC 8021).
        if fragment.is_some_and(|f| !f.is_atomic()) {
            return self.drop_packet(DropReason::Ipv6NotYetHandled);
        }
        let msg = match Icmpv6Message::parse(p.src(), p.dst(), &p.bytes()[at..]) {
            Ok(m) => m,
            Err(reason) => return self.drop_packet(reason),
        };
        match msg {
            Icmpv6Message::LinkLocal { .. } => self.drop_packet(DropReason::Icmpv6LinkLocalIgnored),
            _ if ours.is_none() => self.drop_packet(DropReason::Ipv6NotYetHandled),
            _ if !for_us => self.drop_packet(DropReason::Ipv6NotForUs),
            Icmpv6Message::EchoRequest { ident, seq, data } => {
                // RFC 4443 §4.2: the reply carries the request's identifier, sequence number
                // and data, from the unicast address the request was sent to (a request to a
                // multicast group is answered from our own address, §2.2).
                let (Some(me), peer) = (ours, p.src()) else {
                    return;
                };
                let mut buf = self.pool.take_zeroed(icmpv6::HEADER_LEN + data.len());
                icmpv6::emit_echo_reply(&mut buf, me, peer, ident, seq, data);
                if self.queue6(me, peer, ipv6::next::ICMPV6, buf).is_ok() {
                    self.stats.icmpv6_echo_replied += 1;
                }
            }
            _ => self.drop_packet(DropReason::Ipv6NotYetHandled),
        }
    }

    /// Sends the ICMPv6 error `(type, code, param)` about packet `p` to its source, unless RFC
    /// 4443 §2.4 forbids it: the stack has no IPv6 address; `p` was for another unicast address;
    /// it was for a multicast address and the error is not one of those allowed then (e.3:
    /// `even_multicast`, the option action `10`); `p` is itself an ICMPv6 error (e.1); or the
    /// error rate limit (f) has no token (counted, as for IPv4).
    fn send_icmp6_error(&mut self, p: &Ipv6Packet<'_>, kind: (u8, u8, u32), even_multicast: bool) {
        let Some(me) = self.config.addr6 else {
            return;
        };
        let dst = p.dst();
        if (dst.is_multicast() && !even_multicast) || (!dst.is_multicast() && dst != me) {
            return;
        }
        if p.next_header() == ipv6::next::ICMPV6
            && p.payload().first().is_some_and(|&t| icmpv6::is_error(t))
        {
            return;
        }
        if !self.icmp_errors.take(self.now) {
            self.stats.icmp_errors_rate_limited += 1;
            return;
        }
        let room = ipv6::MIN_MTU - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;
        let mut buf = self
            .pool
            .take_zeroed(icmpv6::HEADER_LEN + p.bytes().len().min(room));
        let n = icmpv6::emit_error(&mut buf, me, p.src(), kind, p.bytes());
        buf.truncate(n);
        if self.queue6(me, p.src(), ipv6::next::ICMPV6, buf).is_ok() {
            self.stats.icmp_errors_sent += 1;
        }
    }

    /// Queues an IPv6 datagram of `next_header` from `src` to `dst` with `data` as its payload.
    pub(crate) fn queue6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        data: Vec<u8>,
    ) -> Result<(), crate::ip::fragment::QueueError> {
        let h = OutHeader6 {
            src,
            dst,
            next_header,
            hop_limit: self.config.ttl,
            flow_label: self.flow_label(src, dst, next_header),
            // RFC 7739 §5: unpredictable identifications.
            ident: self.rng.next_u64() as u32,
        };
        match self.tx.push6(h, data, self.config.mtu) {
            Ok(()) => Ok(()),
            Err((e, data)) => {
                self.pool.give(data);
                Err(e)
            }
        }
    }

    /// RFC 6437 §3: a flow's label from a keyed hash of what names the flow (here its addresses
    /// and protocol), 20 bits, never 0 (0 means "no label").
    fn flow_label(&self, src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) -> u32 {
        let mut key = [0u8; 33];
        key[..16].copy_from_slice(&src.octets());
        key[16..32].copy_from_slice(&dst.octets());
        key[32] = next_header;
        let h = (siphash24(&self.flow_key, &key) & 0xf_ffff) as u32;
        h.max(1)
    }
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

    #[test]
    fn other_destinations_and_no_address_are_counted() {
        let mut s = stack(Some(ME), 1500);
        s.receive(Instant::ZERO, &echo_request(HOST, b"x"));
        assert_eq!(s.stats().drops(DropReason::Ipv6NotForUs), 1);
        let mut s = stack(None, 1500);
        s.receive(Instant::ZERO, &echo_request(ME, b"x"));
        assert_eq!(s.stats().drops(DropReason::Ipv6NotYetHandled), 1);
        let mut out = [0u8; 1500];
        assert!(s.poll_transmit(Instant::ZERO, &mut out).is_none());
    }
}
