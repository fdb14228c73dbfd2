//! Segment emission: what a connection sends next, written straight into the caller's buffer
//! (IPv4 header, TCP header, payload copied once from the send buffer).
//!
//! Order of business: a pending RST; SYN / SYN-ACK; retransmissions during fast recovery (SACK
//! holes first, RFC 6675 NextSeg-like; one per ACK received, packet conservation); new data (or
//! the resend after a timeout, skipping what the peer SACKed) within min(cwnd, peer window), with
//! Nagle (RFC 9293 §3.7.4) and sender SWS avoidance (§3.8.6.2.1); window / keepalive probes; and
//! finally a pure ACK if one is due.
//!
//! Every TCP packet, a connection's or a stateless reply's, leaves through [`write_packet`].

use super::connection::Connection;
use super::state::State;
use super::timers::Timer;
use crate::time::Instant;
use crate::wire::tcp::{Control, SeqNumber, TcpOptions, TcpRepr};
use log::trace;

/// Puts the IPv4 header in front of emitted segments (`ip::egress`; TCP writes only its segment).
pub(crate) use crate::ip::egress::{IpOut, SegmentIp};

/// Writes the TCP header for `repr` in front of a payload already at
/// `buf[ip_len + repr.header_len()..]` (`ip_len`: [`ip_header_len`] of the segment's
/// addresses), and has `ip` (ip::egress) write the IP header with the segment's IP fields
/// `seg`; returns the packet length.
pub(super) fn write_packet(
    buf: &mut [u8],
    seg: SegmentIp,
    repr: &TcpRepr,
    payload_len: usize,
    ip: &mut IpOut<'_>,
) -> usize {
    let at = ip_header_len(seg.dst);
    let tcp_len = repr.emit(&mut buf[at..], seg.src, seg.dst, payload_len);
    ip.write_tcp_header(buf, seg, tcp_len)
}

/// The ports of a segment from `local` to `remote` as [`SegmentIp::ports`] wants them.
pub(super) fn ports(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> u32 {
    (u32::from(local.port()) << 16) | u32::from(remote.port())
}

/// The IP header in front of a segment to `dst`, and the overhead of IP and TCP headers
/// (without options) that an MSS leaves out of an MTU: 40 bytes over IPv4, 60 over IPv6
/// (RFC 9293 §3.7.1, RFC 8200 §8.3).
pub(crate) use crate::ip::egress::header_len as ip_header_len;

/// MTU − MSS for a connection to `remote` (RFC 9293 §3.7.1; RFC 8200 §8.3: 60 over IPv6).
pub(crate) fn mss_overhead(remote: std::net::IpAddr) -> usize {
    ip_header_len(remote) + crate::wire::tcp::HEADER_LEN
}

/// One segment for [`Connection::write`] to emit.
#[derive(Debug)]
pub(super) struct Out {
    pub(super) seq: SeqNumber,
    pub(super) control: Control,
    /// Acknowledge RCV.NXT (sets ACK).
    pub(super) ack: bool,
    pub(super) psh: bool,
    pub(super) options: TcpOptions,
    /// `(offset, len)` of the payload in the send buffer.
    pub(super) payload: Option<(usize, usize)>,
}

impl Out {
    /// A segment without payload or control bits that acknowledges RCV.NXT.
    pub(super) fn pure_ack(seq: SeqNumber, options: TcpOptions) -> Out {
        Out {
            seq,
            control: Control::None,
            ack: true,
            psh: false,
            options,
            payload: None,
        }
    }
}

impl Connection {
    /// The window to advertise, scaled for the header, never shrinking the right edge already
    /// offered (RFC 9293 §3.8.6.2.2 receiver SWS avoidance; RFC 7323 §2.4 rounding).
    fn advertise(&mut self, syn: bool) -> u16 {
        let space = self.rcv.buf.offer();
        if syn {
            self.rcv.adv = self.rcv.nxt.add(space.min(65535));
            return space.min(65535) as u16;
        }
        let current = if self.rcv.adv.gt(self.rcv.nxt) {
            self.rcv.adv.distance(self.rcv.nxt) as usize
        } else {
            0
        };
        let threshold = (self.rcv.buf.capacity() / 2).min(self.rcv.mss);
        let mut wnd = if space >= current + threshold {
            space
        } else {
            current.min(space)
        };
        wnd = wnd.min(65535usize << self.rcv.shift);
        let field = wnd >> self.rcv.shift;
        let right = self.rcv.nxt.add(field << self.rcv.shift);
        if right.gt(self.rcv.adv) || self.rcv.adv.lt(self.rcv.nxt) {
            self.rcv.adv = right;
        }
        field as u16
    }

    pub(super) fn segment_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.ts.ok {
            o.timestamps = Some((self.ts_now(now).0, self.ts.recent.val.0));
        }
        // RFC 2883 §4: a duplicate segment's range goes first (a D-SACK block), then the
        // usual blocks.
        let first = usize::from(self.rcv.dsack.is_some());
        o.sack_blocks[0] = self.rcv.dsack;
        if self.sack_ok && self.rcv.buf.has_out_of_order() {
            // RFC 2018 §4: the most recently changed block first, as many as fit.
            let mut blocks = [(0usize, 0usize); 4];
            let n = self.rcv.buf.sack_blocks(&mut blocks[..4 - first]);
            for (slot, (s, e)) in o.sack_blocks[first..].iter_mut().zip(blocks[..n].iter()) {
                *slot = Some((self.rcv.nxt.add(*s), self.rcv.nxt.add(*e)));
            }
        }
        o
    }

    /// Writes one segment (`out`), acknowledging RCV.NXT if `out.ack`.
    pub(super) fn write(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
        out: Out,
    ) -> usize {
        let window = self.advertise(out.control == Control::Syn);
        // A D-SACK block is reported once (RFC 2883 §4).
        if self.rcv.dsack.is_some() && out.options.sack_blocks[0] == self.rcv.dsack {
            self.rec.loss.stats.dsacks_sent += 1;
        }
        self.rcv.dsack = None;
        let with_ack = out.ack;
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: out.seq,
            ack: with_ack.then_some(self.rcv.nxt),
            control: out.control,
            psh: out.psh,
            window,
            options: out.options,
        };
        let start = ip_header_len(self.remote.ip()) + repr.header_len();
        let len = match out.payload {
            Some((off, n)) => self.snd.buf.read_at(off, &mut buf[start..start + n]),
            None => 0,
        };
        let seg = SegmentIp {
            src: self.local.ip(),
            dst: self.remote.ip(),
            ports: ports(self.local, self.remote),
            ttl: self.limits.ttl,
        };
        let n = write_packet(buf, seg, &repr, len, ip);
        trace!(
            "tcp {} -> {}: out {}",
            self.local,
            self.remote,
            crate::wire::PacketSummary(&buf[..n])
        );
        self.stats.segs_out += 1;
        self.last_send = now;
        if with_ack {
            if self.rcv.acks_owed > 0 {
                self.rcv.acks_owed -= 1;
            } else {
                self.rcv.ack_now = false;
            }
            self.rcv.unacked_segments = 0;
            self.timers.stop(Timer::DelayedAck);
        }
        n
    }

    /// Emits the next segment this connection wants to send, if any.
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        if let Some((seq, ack)) = self.rst_pending.take() {
            let out = Out {
                control: Control::Rst,
                ack: ack.is_some(),
                ..Out::pure_ack(seq, TcpOptions::default())
            };
            let save = self.rcv.nxt;
            if let Some(a) = ack {
                self.rcv.nxt = a;
            }
            let n = self.write(now, buf, ip, out);
            self.rcv.nxt = save;
            return Some(n);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent => return self.poll_handshake(now, buf, ip),
            State::SynReceived => {
                if let Some(n) = self.poll_handshake(now, buf, ip) {
                    return Some(n);
                }
                // RFC 5961 §3.2 / §4.2: a challenge ACK (or the ACK an unacceptable segment
                // gets, RFC 9293 §3.10.7.4) goes out in SYN-RECEIVED too, not only once
                // the connection is established.
                if self.rcv.ack_now {
                    let o = self.segment_options(now);
                    return Some(self.write(now, buf, ip, Out::pure_ack(self.snd.max, o)));
                }
                return None;
            }
            _ => {}
        }
        if let Some(n) = self.poll_probe(now, buf, ip) {
            return Some(n);
        }
        if let Some(n) = self.poll_recovery(now, buf, ip) {
            return Some(n);
        }
        if let Some(n) = self.poll_data(now, buf, ip) {
            return Some(n);
        }
        if self.probe_pending {
            self.probe_pending = false;
            // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.3.6: an old sequence number elicits an ACK
            // carrying the current window.
            let o = self.segment_options(now);
            let probe = Out::pure_ack(self.snd.una.sub(1), o);
            return Some(self.write(now, buf, ip, probe));
        }
        if self.rcv.ack_now {
            let o = self.segment_options(now);
            // A pure ACK carries SND.MAX, not SND.NXT (as BSD does): while SND.NXT is rewound for
            // a retransmission it may sit below sequence space the peer has already received
            // (even at our FIN), and the peer would find the ACK unacceptable and answer it with
            // another ACK — an ACK ping-pong that never delivers the acknowledgment.
            return Some(self.write(now, buf, ip, Out::pure_ack(self.snd.max, o)));
        }
        None
    }

    fn poll_handshake(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ip: &mut IpOut<'_>,
    ) -> Option<usize> {
        if !self.syn_pending {
            return None;
        }
        self.syn_pending = false;
        let options = self.syn_options(now);
        let syn = Out {
            control: Control::Syn,
            // A SYN-ACK in SYN-RECEIVED; a bare SYN in SYN-SENT.
            ack: self.state != State::SynSent,
            ..Out::pure_ack(self.snd.iss, options)
        };
        let n = self.write(now, buf, ip, syn);
        self.syn_sent = self.syn_sent.sent(now);
        self.snd.nxt = self.snd.iss.add(1);
        if self.snd.max.lt(self.snd.nxt) {
            self.snd.max = self.snd.nxt;
        }
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers.set(Timer::Retransmit, now + self.rec.rtt.rto());
        }
        Some(n)
    }
}
