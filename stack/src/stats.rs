//! Counters, and a [`DropReason`] for every packet the stack refuses.
//!
//! Every early return on the receive path increments exactly one drop counter; nothing is refused
//! silently. `Stats` is cheap to copy so callers can snapshot and diff it.

use core::fmt;

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $text:literal,)*) => {
        /// Why the stack refused a packet (or a datagram, once reassembled).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];

            /// A short human description, as printed in counters tables.
            pub fn description(self) -> &'static str {
                match self {
                    $(DropReason::$name => $text,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Fewer than 20 bytes: no room for an IPv4 header.
    Ipv4TooShort => "IPv4: shorter than a header",
    /// The version nibble is neither 4 nor 6 (the receive path hands 6 to IPv6; a TUN without
    /// packet information says nothing else about what a packet is).
    Ipv4BadVersion => "IP: version is neither 4 nor 6",
    /// IHL below 5, or a header longer than the packet.
    Ipv4BadHeaderLength => "IPv4: bad header length (IHL)",
    /// Total length smaller than the header.
    Ipv4BadTotalLength => "IPv4: total length smaller than header",
    /// Total length larger than the bytes that arrived.
    Ipv4Truncated => "IPv4: truncated (total length > bytes received)",
    /// The header checksum does not verify.
    Ipv4BadChecksum => "IPv4: bad header checksum",
    /// Source address that can never be a sender: 0/8, 127/8, multicast, broadcast, class E,
    /// or our own address (RFC 1812 §5.3.7, RFC 1122 §3.2.1.3).
    Ipv4MartianSource => "IPv4: martian source address",
    /// Destination is neither our address nor a broadcast/multicast we accept; we do not forward.
    Ipv4NotForUs => "IPv4: not addressed to us",
    /// Destination is neither our IPv6 address nor the all-nodes group; we do not forward.
    Ipv6NotForUs => "IPv6: not addressed to us",
    /// Fewer than 40 bytes: no room for an IPv6 header.
    Ipv6TooShort => "IPv6: shorter than a header",
    /// The version nibble is not 6 (the packet looked like IPv6 to the dispatcher).
    Ipv6BadVersion => "IPv6: version is not 6",
    /// Payload length larger than the bytes that arrived.
    Ipv6Truncated => "IPv6: truncated (payload length > bytes received)",
    /// A jumbogram (RFC 2675): no link ustack runs on carries one.
    Ipv6Jumbogram => "IPv6: jumbogram (RFC 2675) not supported",
    /// Multicast source (RFC 4291 §2.7).
    Ipv6MulticastSource => "IPv6: multicast source address",
    /// Source that cannot send: ::1 (RFC 4291 §2.5.3) or an IPv4-mapped address (§2.5.5.2).
    Ipv6MartianSource => "IPv6: martian source address",
    /// The unspecified source `::` on anything but Duplicate Address Detection's neighbor
    /// solicitations (RFC 4862 §5.4.2) and the MLD reports sent alongside (RFC 3590 §4).
    Ipv6UnspecifiedSource => "IPv6: unspecified source (::) outside DAD",
    /// Our own address as the source of a packet that arrived: spoofed or looped back.
    Ipv6OwnSource => "IPv6: our own address as source",
    /// Hop limit 0: no router forwards such a packet (RFC 8200 §3), so it was crafted; refused
    /// as bad input (issue 17), though RFC 8200 does not require a destination to.
    Ipv6HopLimitZero => "IPv6: hop limit 0",
    /// An extension header runs past the packet.
    Ipv6ExtTruncated => "IPv6: extension header past the end of the packet",
    /// More extension headers than the walk accepts.
    Ipv6ExtChainTooLong => "IPv6: extension header chain too long",
    /// A Hop-by-Hop Options header not right after the fixed header (RFC 8200 §4.3).
    Ipv6HopByHopNotFirst => "IPv6: Hop-by-Hop header not first",
    /// An option whose length runs past its header.
    Ipv6BadOption => "IPv6: malformed option",
    /// An unrecognized option whose action bits say discard (RFC 8200 §4.2).
    Ipv6UnknownOption => "IPv6: unrecognized option to discard",
    /// A Routing header with segments left: ustack routes nothing (RFC 8200 §4.4, RFC 5095).
    Ipv6RoutingHeader => "IPv6: routing header with segments left",
    /// A fragment with more to come whose length is not a multiple of 8 (RFC 8200 §4.5).
    Ipv6FragmentLength => "IPv6: fragment length not a multiple of 8",
    /// A second Fragment header in one packet's chain (RFC 8200 §4.1: each extension header at
    /// most once, save Destination Options).
    Ipv6FragmentTwice => "IPv6: a second Fragment header in one packet",
    /// A first fragment without the whole header chain (RFC 7112 §5).
    Ipv6IncompleteChain => "IPv6: first fragment with an incomplete header chain",
    /// An ICMPv6 message shorter than its 8-byte header.
    Icmpv6TooShort => "ICMPv6: shorter than a header",
    /// The ICMPv6 checksum (over the IPv6 pseudo-header) does not verify.
    Icmpv6BadChecksum => "ICMPv6: bad checksum",
    /// Neighbor Discovery or MLD (a router solicitation, a listener report …): a point-to-point
    /// TUN has no use for them (no link-layer addresses, no multicast routers).
    Icmpv6LinkLocalIgnored => "ICMPv6: ND/MLD on a point-to-point link, ignored",
    /// An upper-layer protocol the stack does not speak (RFC 8200 §4: Parameter Problem code 1).
    Ipv6UnknownNextHeader => "IPv6: unrecognized next header",
    /// An IPv6 packet that passed the checks while the stack has no IPv6 address
    /// (`Config::addr6` unset: `ustack up --no-ipv6`).
    Ipv6Disabled => "IPv6: the stack has no IPv6 address (IPv6 off)",
    /// A header chain ending in No Next Header (59, RFC 8200 §4.7): nothing to deliver.
    Ipv6NoNextHeader => "IPv6: no next header (nothing to deliver)",
    /// An ICMPv6 informational message the stack has no use for (RFC 4443 §2.4 (b):
    /// silently discarded).
    Icmpv6UnhandledType => "ICMPv6: informational type not handled",
    /// A fragment whose length or offset is impossible (MF with a length not a multiple of 8, or
    /// reaching past 65535).
    FragBadLength => "fragment: bad length or offset",
    /// Overlapped bytes already held: the whole datagram was dropped.
    FragOverlap => "fragment: overlap, datagram dropped",
    /// A fragment of an IPv6 datagram already dropped for an overlap: RFC 5722 §4 discards the
    /// whole datagram, its fragments not yet received included (until the reassembly timeout).
    FragAfterOverlap => "fragment: of a datagram dropped for an overlap",
    /// An exact duplicate of a fragment already held.
    FragDuplicate => "fragment: exact duplicate ignored",
    /// Reassembled size would exceed 65535 bytes: the whole datagram was dropped.
    FragTooBig => "fragment: reassembled size > 65535, datagram dropped",
    /// No room under the reassembly memory cap.
    FragNoMemory => "fragment: reassembly memory cap reached",
    /// A datagram in reassembly was evicted to make room for newer ones (counted per datagram).
    FragEvicted => "fragment: datagram evicted (table full)",
    /// A datagram in reassembly timed out (counted per datagram).
    FragTimeout => "fragment: reassembly timeout",
    /// ICMP message shorter than its 8-byte header.
    IcmpTooShort => "ICMP: shorter than a header",
    /// ICMP checksum does not verify.
    IcmpBadChecksum => "ICMP: bad checksum",
    /// An echo request to a broadcast or multicast address (ignored, like Linux's
    /// `icmp_echo_ignore_broadcasts`).
    IcmpEchoBroadcast => "ICMP: echo request to broadcast/multicast ignored",
    /// An echo reply or error for which no socket is waiting.
    IcmpNoSocket => "ICMP: no socket for reply or error",
    /// A timestamp request while `Config::icmp_timestamps` is off.
    IcmpTimestampOff => "ICMP: timestamp request ignored (icmp_timestamps off)",
    /// A timestamp request to a broadcast or multicast address (ignored, as echo requests).
    IcmpTimestampBroadcast => "ICMP: timestamp request to broadcast/multicast ignored",
    /// An ICMP type the stack does not handle (RFC 1122 §3.2.2: silently discarded).
    IcmpUnhandledType => "ICMP: unhandled type",
    /// An ICMP error whose quoted datagram is too short to identify a socket.
    IcmpBadQuote => "ICMP: error quotes too little to identify a socket",
    /// An ICMP error about TCP quoting a sequence number not in flight (outside SND.UNA..SND.NXT,
    /// or not the ISS in SYN-SENT): forged or stale, ignored (RFC 5927 §4.1).
    IcmpTcpSeqNotInFlight => "ICMP: error quotes a TCP sequence number not in flight",
    /// Fragmentation needed reporting an MTU not below the connection's path MTU (or below only
    /// under `Config::min_pmtu`, which is already in use): nothing to lower (RFC 1191, RFC 5927
    /// §7.2).
    IcmpFragNeededNotSmaller => "ICMP: fragmentation needed with an MTU not below the path MTU",
    /// UDP datagram shorter than its 8-byte header.
    UdpTooShort => "UDP: shorter than a header",
    /// UDP length field disagrees with the IP payload length.
    UdpBadLength => "UDP: length field disagrees with IP length",
    /// UDP checksum does not verify (a zero checksum means none and is accepted).
    UdpBadChecksum => "UDP: bad checksum",
    /// A UDP datagram over IPv6 without a checksum (a zero field): RFC 8200 §8.1 makes the
    /// checksum mandatory over IPv6 and says such a datagram is discarded.
    UdpNoChecksum6 => "UDP: no checksum over IPv6 (RFC 8200 §8.1)",
    /// A firewall rule or chain policy dropped it (`ustack filter counters` names the rule).
    FirewallDrop => "firewall: dropped by a rule or a chain's policy",
    /// A firewall rule rejected it (an RST or ICMP unreachable was sent, rate-limited).
    FirewallReject => "firewall: rejected by a rule",
    /// The output chain dropped or rejected a packet the stack was sending.
    FirewallOutput => "firewall: outgoing packet dropped by the output chain",
    /// No socket bound to the destination port (ICMP port unreachable sent unless forbidden or
    /// rate-limited).
    UdpNoSocket => "UDP: no socket on port",
    /// The socket's receive queue is full.
    UdpQueueFull => "UDP: socket receive queue full",
    /// The echo socket's receive queue is full.
    IcmpQueueFull => "ICMP: echo socket receive queue full",
    /// TCP segment shorter than its 20-byte header.
    TcpTooShort => "TCP: shorter than a header",
    /// TCP data offset below 5 or beyond the segment.
    TcpBadHeaderLength => "TCP: bad data offset",
    /// TCP checksum does not verify.
    TcpBadChecksum => "TCP: bad checksum",
    /// TCP segment to a broadcast or multicast address (RFC 9293 §3.9.2.3 / RFC 1122 §4.2.3.10).
    TcpNotUnicast => "TCP: to broadcast/multicast",
    /// No connection or listener for the segment (RST sent unless it was an RST).
    TcpNoConnection => "TCP: no connection (RST sent unless it was an RST)",
    /// Segment not acceptable under RFC 9293 §3.10.7.4 (an ACK is sent unless it was an RST).
    TcpNotAcceptable => "TCP: segment outside the receive window",
    /// Rejected by PAWS (RFC 7323 §5): an old timestamp.
    TcpPaws => "TCP: PAWS rejected (old timestamp)",
    /// An RST not exactly at RCV.NXT (RFC 5961 §3: challenge ACK sent, rate-limited).
    TcpRstNotExact => "TCP: RST not at RCV.NXT (challenge ACK)",
    /// A SYN in a synchronized state (RFC 5961 §4: challenge ACK sent, rate-limited).
    TcpSynInSync => "TCP: SYN in synchronized state (challenge ACK)",
    /// An ACK for data not yet sent or too old (RFC 5961 §5, RFC 9293 §3.10.7.4).
    TcpBadAck => "TCP: unacceptable ACK",
    /// A segment without ACK in a synchronized state, or otherwise unusable in its state.
    TcpUnexpected => "TCP: segment unusable in this state",
    /// The listener's accept queue is full: the SYN is dropped.
    TcpAcceptQueueFull => "TCP: accept queue full",
    /// An ACK that claimed to complete a SYN cookie handshake but carried a bad cookie.
    TcpBadCookie => "TCP: invalid SYN cookie",
    /// Data arriving beyond what the receive window can hold.
    TcpNoBuffer => "TCP: data beyond the receive buffer",
    /// Most connections already exist (`Config::tcp_max_connections`): a SYN, or a SYN
    /// cookie's ACK, is refused (RST unless `Config::tcp_abort_on_overflow` is off).
    TcpTooManyConnections => "TCP: connection table full",
    /// The source address already holds `Config::tcp_max_per_source` connections: refused
    /// like a full table.
    TcpSourceLimit => "TCP: per-source connection limit reached",
    /// The half-open queue is full and SYN cookies are off: the SYN is dropped, the client
    /// retransmits it.
    TcpSynBacklogFull => "TCP: half-open queue full (SYN cookies off)",
    /// SYN and FIN together on a segment that would open a connection (in LISTEN or
    /// SYN-SENT): dropped, as Linux and FreeBSD do; no legitimate stack sends it, scanners do.
    TcpSynFin => "TCP: SYN+FIN dropped",
    /// Out-of-order data that would exceed `Config::tcp_ooo_max_ranges` (or the total over all
    /// connections): dropped and acknowledged, the sender retransmits it.
    TcpOooLimit => "TCP: out-of-order range limit reached",
    /// A segment to a connection in TIME-WAIT that is neither a retransmitted FIN nor a SYN
    /// opening a new incarnation (answered with an ACK when RFC 9293 §3.10.7.4 asks for one).
    TcpTimeWait => "TCP: segment to a TIME-WAIT connection",
    /// A transport protocol the stack does not implement (ICMP protocol unreachable sent unless
    /// forbidden or rate-limited).
    UnknownProtocol => "IP: unknown protocol",
}

/// Counters of everything the stack did. All fields count since `Stack::new`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// IP packets handed to `receive` (including ones later dropped).
    pub ip_rx_packets: u64,
    /// Bytes handed to `receive`.
    pub ip_rx_bytes: u64,
    /// IP packets (fragments count one each) returned by `poll_transmit`.
    pub ip_tx_packets: u64,
    /// Bytes returned by `poll_transmit`.
    pub ip_tx_bytes: u64,
    /// Fragments received.
    pub ip_rx_fragments: u64,
    /// Datagrams completed by reassembly.
    pub ip_reassembled: u64,
    /// Datagrams that left as more than one fragment.
    pub ip_tx_fragmented: u64,
    /// Fragments sent.
    pub ip_tx_fragments: u64,
    /// Echo requests answered.
    pub icmp_echo_replied: u64,
    /// ICMP timestamp requests answered (RFC 792).
    pub icmp_timestamps_replied: u64,
    /// ICMPv6 echo requests answered (RFC 4443 §4.2).
    pub icmpv6_echo_replied: u64,
    /// Echo requests sent by echo sockets.
    pub icmp_echo_sent: u64,
    /// Echo replies delivered to echo sockets.
    pub icmp_echo_replies_received: u64,
    /// ICMP errors sent.
    pub icmp_errors_sent: u64,
    /// ICMP errors not sent because the token bucket was empty.
    pub icmp_errors_rate_limited: u64,
    /// ICMP errors received and delivered to a socket.
    pub icmp_errors_delivered: u64,
    /// UDP datagrams delivered to sockets.
    pub udp_rx_datagrams: u64,
    /// UDP datagrams sent.
    pub udp_tx_datagrams: u64,
    /// Packets raw sockets sent (as given, or with a header the stack wrote).
    pub raw_tx_packets: u64,
    /// Packet copies queued on raw sockets.
    pub raw_copies: u64,
    /// Packet copies a raw socket's full queue could not take.
    pub raw_copies_dropped: u64,
    /// Packets to a port a raw socket claimed: handed to it alone, not processed further.
    pub raw_claimed: u64,
    /// TCP connections opened by `tcp_connect`.
    pub tcp_active_opens: u64,
    /// TCP connections created by a SYN to a listener (cookie completions included).
    pub tcp_passive_opens: u64,
    /// Stateless RSTs sent for segments that belong to no connection.
    pub tcp_resets_sent: u64,
    /// SYN-ACKs sent with a SYN cookie (half-open table full).
    pub tcp_syncookies_sent: u64,
    /// Connections completed from a valid SYN cookie.
    pub tcp_syncookies_accepted: u64,
    /// TIME-WAIT entries recycled early because `Config::tcp_max_time_wait` was reached.
    pub tcp_time_wait_recycled: u64,
    /// TIME-WAIT tuples reused by a new SYN (RFC 6191 / RFC 9293 §3.10.7.4).
    pub tcp_time_wait_reused: u64,
    /// Times a connection's buffer was held at its size because all TCP buffers together had
    /// reached `Config::tcp_mem_max` (the app's write took less, or a smaller window was offered).
    pub tcp_mem_denied: u64,
    /// Retransmissions, timeouts and loss-recovery counters (TLP probes, RACK losses,
    /// D-SACKs, spurious retransmissions, undos, recovery episodes) of all connections (summed
    /// when `Stack::stats` is read).
    pub tcp_loss: crate::tcp::recovery::LossTotals,
    /// Drops, indexed like `DropReason::ALL`.
    drops: Vec<u64>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            drops: vec![0; DropReason::ALL.len()],
            ..Stats::default()
        }
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        if self.drops.len() != DropReason::ALL.len() {
            self.drops.resize(DropReason::ALL.len(), 0);
        }
        self.drops[reason as usize] += 1;
    }

    /// How many packets were dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason as usize).copied().unwrap_or(0)
    }

    /// Total drops over all reasons.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every reason with a non-zero count.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops(r)))
            .filter(|&(_, n)| n > 0)
    }
}

impl Stats {
    /// Every counter but the drops, by name, in a fixed order (the counters table and the
    /// control protocol's `stats` reply both list these).
    pub fn counters(&self) -> [(&'static str, u64); 44] {
        let l = &self.tcp_loss;
        let r = &l.recovery;
        [
            ("ip_rx_packets", self.ip_rx_packets),
            ("ip_rx_bytes", self.ip_rx_bytes),
            ("ip_tx_packets", self.ip_tx_packets),
            ("ip_tx_bytes", self.ip_tx_bytes),
            ("ip_rx_fragments", self.ip_rx_fragments),
            ("ip_reassembled", self.ip_reassembled),
            ("ip_tx_fragmented", self.ip_tx_fragmented),
            ("ip_tx_fragments", self.ip_tx_fragments),
            ("icmp_echo_replied", self.icmp_echo_replied),
            ("icmp_timestamps_replied", self.icmp_timestamps_replied),
            ("icmpv6_echo_replied", self.icmpv6_echo_replied),
            ("icmp_echo_sent", self.icmp_echo_sent),
            (
                "icmp_echo_replies_received",
                self.icmp_echo_replies_received,
            ),
            ("icmp_errors_sent", self.icmp_errors_sent),
            ("icmp_errors_rate_limited", self.icmp_errors_rate_limited),
            ("icmp_errors_delivered", self.icmp_errors_delivered),
            ("udp_rx_datagrams", self.udp_rx_datagrams),
            ("udp_tx_datagrams", self.udp_tx_datagrams),
            ("raw_tx_packets", self.raw_tx_packets),
            ("raw_copies", self.raw_copies),
            ("raw_copies_dropped", self.raw_copies_dropped),
            ("raw_claimed", self.raw_claimed),
            ("tcp_active_opens", self.tcp_active_opens),
            ("tcp_passive_opens", self.tcp_passive_opens),
            ("tcp_resets_sent", self.tcp_resets_sent),
            ("tcp_syncookies_sent", self.tcp_syncookies_sent),
            ("tcp_syncookies_accepted", self.tcp_syncookies_accepted),
            ("tcp_time_wait_recycled", self.tcp_time_wait_recycled),
            ("tcp_time_wait_reused", self.tcp_time_wait_reused),
            ("tcp_mem_denied", self.tcp_mem_denied),
            ("tcp_retransmits", l.retransmits),
            ("tcp_fast_retransmits", l.fast_retransmits),
            ("tcp_timeouts", l.timeouts),
            ("tcp_tlp_probes", r.tlp_probes),
            ("tcp_tlp_recoveries", r.tlp_recoveries),
            ("tcp_rack_losses", r.rack_losses),
            ("tcp_rack_timeouts", r.rack_timeouts),
            ("tcp_dsacks_sent", r.dsacks_sent),
            ("tcp_dsacks_received", r.dsacks_received),
            ("tcp_sack_blocks_ignored", r.sack_blocks_ignored),
            ("tcp_spurious_retransmits", r.spurious_retransmits),
            ("tcp_spurious_rtos", r.spurious_rtos),
            ("tcp_undos", r.undos),
            ("tcp_recovery_episodes", r.recovery_episodes),
        ]
    }
}

impl fmt::Display for Stats {
    /// A counters table, one `name value` per line, non-zero drops listed after.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, v) in self.counters() {
            writeln!(f, "{name:<28} {v}")?;
        }
        writeln!(f, "drops_total                  {}", self.total_drops())?;
        for (r, n) in self.nonzero_drops() {
            writeln!(
                f,
                "  drop {:<23} {n}  ({})",
                format!("{r:?}"),
                r.description()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut s = Stats::new();
        s.count_drop(DropReason::Ipv4BadChecksum);
        s.count_drop(DropReason::Ipv4BadChecksum);
        s.count_drop(DropReason::UnknownProtocol);
        assert_eq!(s.drops(DropReason::Ipv4BadChecksum), 2);
        assert_eq!(s.drops(DropReason::UdpNoSocket), 0);
        assert_eq!(s.total_drops(), 3);
        let text = s.to_string();
        assert!(text.contains("Ipv4BadChecksum"), "{text}");
        assert!(!text.contains("UdpNoSocket"), "{text}");
    }

    #[test]
    fn every_reason_has_a_description() {
        for r in DropReason::ALL {
            assert!(!r.description().is_empty());
        }
    }
}
