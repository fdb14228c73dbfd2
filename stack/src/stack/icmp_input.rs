//! ICMP arriving at the stack (RFC 792, RFC 1122 §3.2.2): echo requests answered, echo replies
//! and errors handed to the socket or connection whose datagram they quote; and the ICMP errors
//! the stack sends about datagrams it refuses (rate-limited, never about an error).

use super::{Arrival, Stack};
use crate::icmp::{self as policy, ErrorMessage, Quoted};
use crate::ip::ingress::DstKind;
use crate::socket::{Delivery, IcmpError, Kind, Queued};
use crate::stats::DropReason;
use crate::tcp::IcmpReport;
use crate::wire::icmp::{self, IcmpMessage};
use crate::wire::ipv4::raw;
use crate::wire::proto;
use crate::wire::tcp::SeqNumber;
use log::debug;
use std::net::{Ipv4Addr, SocketAddr};

impl Stack {
    pub(super) fn icmp_input(&mut self, a: Arrival<'_>, payload: &[u8]) {
        let msg = match IcmpMessage::parse(payload) {
            Ok(m) => m,
            Err(r) => return self.drop_packet(r),
        };
        match msg {
            IcmpMessage::EchoRequest {
                code,
                ident,
                seq,
                data,
            } => {
                // RFC 1122 §3.2.2.6 allows silently discarding echo requests to broadcast or
                // multicast addresses; Linux does by default, and so do we.
                if a.dst_kind != DstKind::Local {
                    return self.drop_packet(DropReason::IcmpEchoBroadcast);
                }
                // RFC 792 / RFC 1122 §3.2.2.6: the reply carries the request's identifier,
                // sequence number and whole data, from the address the request was sent to.
                // RFC 792 defines only code 0; Linux answers any code and copies it, and so do
                // we (scanners' OS probes send code 9).
                let len = icmp::HEADER_LEN + data.len();
                let mut buf = self.pool.take_zeroed(len);
                icmp::emit(
                    &mut buf,
                    icmp::types::ECHO_REPLY,
                    code,
                    icmp::id_seq(ident, seq),
                    data,
                );
                if self.queue(a.dst, a.src, proto::ICMP, false, buf).is_ok() {
                    self.stats.icmp_echo_replied += 1;
                }
            }
            IcmpMessage::TimestampRequest {
                ident,
                seq,
                originate,
            } => self.timestamp_reply(&a, ident, seq, originate),
            IcmpMessage::EchoReply { ident, seq, data } => {
                let mut copy = self.pool.take(data.len());
                copy.extend_from_slice(data);
                let item = Queued::Echo {
                    from: a.src.into(),
                    seq,
                    ttl: a.ttl,
                    data: copy,
                };
                self.deliver_echo_reply(ident, item);
            }
            IcmpMessage::Error {
                icmp_type,
                code,
                rest,
                quote,
            } => self.icmp_error_input(a.src, a.ttl, icmp_type, code, rest, quote),
            IcmpMessage::Other { .. } => self.drop_packet(DropReason::IcmpUnhandledType),
        }
    }

    /// Queues an echo reply (ICMP or ICMPv6) on the echo socket of identifier `ident`.
    pub(super) fn deliver_echo_reply(&mut self, ident: u16, item: Queued) {
        match self.sockets.deliver(Kind::Echo { ident }, item) {
            Delivery::Queued => self.stats.icmp_echo_replies_received += 1,
            Delivery::NoSocket(q) => self.refuse(q, DropReason::IcmpNoSocket),
            Delivery::Full(q) => self.refuse(q, DropReason::IcmpQueueFull),
        }
    }

    /// RFC 792 timestamp reply: the originate time copied, receive and transmit times now (the
    /// same: the stack answers within the call).
    fn timestamp_reply(&mut self, a: &Arrival<'_>, ident: u16, seq: u16, originate: u32) {
        if !self.config.icmp_timestamps {
            return self.drop_packet(DropReason::IcmpTimestampOff);
        }
        if a.dst_kind != DstKind::Local {
            return self.drop_packet(DropReason::IcmpTimestampBroadcast);
        }
        let t = self.icmp_timestamp().to_be_bytes();
        let mut body = [0u8; icmp::TIMESTAMP_BODY_LEN];
        body[..4].copy_from_slice(&originate.to_be_bytes());
        body[4..8].copy_from_slice(&t);
        body[8..].copy_from_slice(&t);
        let mut buf = self.pool.take_zeroed(icmp::HEADER_LEN + body.len());
        let rest = icmp::id_seq(ident, seq);
        icmp::emit(&mut buf, icmp::types::TIMESTAMP_REPLY, 0, rest, &body);
        if self.queue(a.dst, a.src, proto::ICMP, false, buf).is_ok() {
            self.stats.icmp_timestamps_replied += 1;
        }
    }

    /// Delivers a received ICMP error to the socket whose datagram it quotes (RFC 1122 §3.2.2:
    /// errors are passed to the transport that sent the datagram).
    fn icmp_error_input(
        &mut self,
        from: Ipv4Addr,
        ttl: u8,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        quote: &[u8],
    ) {
        let Some(quoted) = policy::parse_quote(quote, self.config.addr) else {
            return self.drop_packet(DropReason::IcmpBadQuote);
        };
        let error = IcmpError {
            from: from.into(),
            ttl,
            icmp_type,
            code,
            original_dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            next_hop_mtu: 0,
        };
        // RFC 1191 §4: the Next-Hop MTU is the low 16 bits of the second word of "fragmentation
        // needed"; in every other error those bits are unused.
        let next_mtu = u16::from_be_bytes([rest[2], rest[3]]);
        let path = PathReport {
            next_mtu,
            quoted_len: raw::total_len(quote),
            min_pmtu: self.config.min_pmtu,
        };
        self.deliver_icmp_error(error, quoted, path);
    }

    /// Hands an ICMP or ICMPv6 error (`error`, its `original_dst` filled in here) to whoever
    /// sent the datagram it quotes: a UDP socket, an echo socket, or a TCP connection (which
    /// checks it further, RFC 5927, and lowers its path MTU on a report in `path`). Counted as
    /// delivered, or dropped with the reason.
    pub(super) fn deliver_icmp_error(
        &mut self,
        mut error: IcmpError,
        quoted: Quoted,
        path: PathReport,
    ) {
        if error.is_frag_needed() {
            error.next_hop_mtu = path.next_mtu;
        }
        // An error about what a raw socket sent from a port it claimed is its own (it got a
        // copy): nothing for the stack's sockets (socket::raw).
        let claimed = match quoted {
            Quoted::Udp { src_port, .. } => self.raw_claims(proto::UDP, src_port),
            Quoted::Tcp { src_port, .. } => self.raw_claims(proto::TCP, src_port),
            _ => false,
        };
        if claimed {
            return;
        }
        let delivered = match quoted {
            Quoted::Udp {
                src_port,
                dst,
                dst_port,
            } => {
                error.original_dst = SocketAddr::new(dst, dst_port);
                match self.sockets.set_error(src_port, error) {
                    Delivery::Queued => Ok(()),
                    Delivery::Full(_) => Err(DropReason::UdpQueueFull),
                    Delivery::NoSocket(_) => Err(DropReason::IcmpNoSocket),
                }
            }
            Quoted::Echo { ident, seq, dst } => {
                error.original_dst = SocketAddr::new(dst, 0);
                match self
                    .sockets
                    .deliver(Kind::Echo { ident }, Queued::EchoError { error, seq })
                {
                    Delivery::Queued => Ok(()),
                    Delivery::Full(_) => Err(DropReason::IcmpQueueFull),
                    Delivery::NoSocket(_) => Err(DropReason::IcmpNoSocket),
                }
            }
            Quoted::Tcp {
                src_port,
                dst,
                dst_port,
                seq,
            } => {
                error.original_dst = SocketAddr::new(dst, dst_port);
                let report = IcmpReport {
                    error,
                    seq: SeqNumber(seq),
                    next_mtu: path.next_mtu,
                    quoted_len: path.quoted_len,
                    min_pmtu: path.min_pmtu,
                };
                self.tcp.icmp_error(src_port, error.original_dst, report)
            }
            Quoted::Other { .. } => Err(DropReason::IcmpNoSocket),
        };
        match delivered {
            Ok(()) => self.stats.icmp_errors_delivered += 1,
            Err(reason) => self.drop_packet(reason),
        }
    }

    /// Sends an ICMP error about the datagram `a` + `payload`, if RFC 1122 §3.2.2 allows it and
    /// the rate limiter has a token.
    pub(crate) fn send_icmp_error(
        &mut self,
        a: Arrival<'_>,
        payload: &[u8],
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    ) {
        let frag_offset = raw::frag_offset(a.header);
        if !policy::may_send_error(a.dst_kind, a.src, a.protocol, frag_offset, payload) {
            return;
        }
        self.send_error(ErrorMessage {
            to: a.src,
            icmp_type,
            code,
            rest,
            header: a.header,
            payload,
        });
    }

    /// Sends `error` if the rate limiter has a token (RFC 1812 §4.3.2.8).
    pub(super) fn send_error(&mut self, error: ErrorMessage<'_>) {
        let to = error.to;
        if !self.icmp_errors.take(self.now) {
            self.stats.icmp_errors_rate_limited += 1;
            debug!("icmp error to {to} suppressed by rate limit");
            return;
        }
        let mut buf = self.pool.take_zeroed(error.len());
        error.emit(&mut buf);
        if self
            .queue(self.config.addr, to, proto::ICMP, false, buf)
            .is_ok()
        {
            self.stats.icmp_errors_sent += 1;
        }
    }
}

/// What an error says about the path, for TCP's path MTU discovery.
#[derive(Clone, Copy, Debug)]
pub(super) struct PathReport {
    /// The MTU a "fragmentation needed" (RFC 1191) or "packet too big" (RFC 4443 §3.2)
    /// reports; 0 when none is reported.
    pub(super) next_mtu: u16,
    /// The length of the quoted datagram (IPv4's Total Length; RFC 1191 §7's plateaus).
    pub(super) quoted_len: u16,
    /// The lowest path MTU believed: `Config::min_pmtu`, and 1280 over IPv6 (RFC 8201 §4).
    pub(super) min_pmtu: u16,
}
