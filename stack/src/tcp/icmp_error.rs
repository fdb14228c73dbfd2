//! ICMP errors about our segments (RFC 5927, RFC 1191, RFC 1122 §4.2.3.9, RFC 5461).
//!
//! - An error is believed only if the segment it quotes is in flight: SND.UNA =< SEG.SEQ <
//!   SND.NXT (RFC 5927 §4.1) — in SYN-SENT that is the SYN itself, SEG.SEQ = ISS. Anything else
//!   is counted as [`DropReason::IcmpTcpSeqNotInFlight`].
//! - Fragmentation needed (RFC 1191) lowers the path MTU, never raises it: a report at or above
//!   the current path MTU is counted as [`DropReason::IcmpFragNeededNotSmaller`] (RFC 5927 §7.2
//!   — it cannot be true of a datagram we sent). A next-hop MTU of 0 (a pre-RFC 1191 router) is
//!   replaced by the plateau below the quoted datagram's length (RFC 1191 §7), and nothing goes
//!   below `Config::min_pmtu` (Linux's `min_pmtu`, 552 by default). Over IPv6 (Packet Too Big,
//!   RFC 4443 §3.2) there are no plateaus: any MTU below 1280, 0 included, means 1280 (RFC 8201
//!   §4), sent without atomic fragments (RFC 8021).
//! - Soft and hard errors (RFC 1122 §4.2.3.9: destination unreachable codes 0, 1, 5 are soft;
//!   2–4 hard). In SYN-SENT both fail the connect: hard errors as RFC 1122 says, soft ones (and
//!   time exceeded) as RFC 5461 describes and Linux does (`tcp_v4_err` calls `tcp_done` in
//!   SYN-SENT for every mapped error). In synchronized states neither aborts: soft errors MUST NOT
//!   (RFC 1122), and hard errors are treated as soft (RFC 5927 §4.2, against blind resets).
//!   SYN-RECEIVED ignores them (Linux drops a request socket only on net/host unreachable).

use super::connection::Connection;
use super::state::State;
use super::TcpError;
use crate::socket::IcmpError;
use crate::stats::DropReason;
use crate::wire::tcp::SeqNumber;
use log::debug;

/// What an ICMP error says about one of our TCP segments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IcmpReport {
    /// The error (type, code, who sent it, the quoted destination).
    pub(crate) error: IcmpError,
    /// The quoted segment's sequence number.
    pub(crate) seq: SeqNumber,
    /// The next-hop MTU of a fragmentation-needed error (0 from routers older than RFC 1191).
    pub(crate) next_mtu: u16,
    /// The Total Length of the quoted IPv4 header.
    pub(crate) quoted_len: u16,
    /// `Config::min_pmtu`.
    pub(crate) min_pmtu: u16,
}

/// RFC 1191 §7, table 7-1: the MTU plateaus, largest first.
const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// RFC 1191 §7: without a next-hop MTU, the largest plateau below the quoted datagram's length.
pub(crate) fn plateau_below(len: u16) -> u16 {
    PLATEAUS.into_iter().find(|&p| p < len).unwrap_or(68)
}

/// The path MTU a fragmentation-needed or Packet Too Big report asks for, before the check
/// that it lowers the current one.
fn reported_pmtu(r: &IcmpReport) -> u16 {
    let reported = match r.next_mtu {
        // RFC 1191 §7: an IPv4 router older than RFC 1191 reports 0; use the plateau below the
        // quoted datagram. IPv6 has no such routers: a Packet Too Big's MTU of 0 is just an MTU
        // below the minimum, and RFC 8201 §4 makes every such report 1280 (`min_pmtu` here),
        // with no atomic fragments (RFC 8021) — the plateaus would say 1492 for a 1500-byte
        // packet, an MTU the router never reported.
        0 if !r.error.is_v6() => plateau_below(r.quoted_len),
        m => m,
    };
    // Nothing below `min_pmtu` (1280 over IPv6, RFC 8201 §4), nor IPv4's 68 (RFC 791).
    reported.max(r.min_pmtu).max(68)
}

impl Connection {
    /// Handles an ICMP error quoting one of this connection's segments.
    pub(crate) fn on_icmp_error(&mut self, r: IcmpReport) -> Result<(), DropReason> {
        // RFC 5927 §4.1: SND.UNA =< SEG.SEQ < SND.NXT (SND.MAX here: SND.NXT is rewound while
        // retransmitting, and data up to SND.MAX really was sent). In SYN-SENT this admits
        // exactly ISS once the SYN is out.
        if !(r.seq.ge(self.snd.una) && r.seq.lt(self.snd.max)) {
            return Err(DropReason::IcmpTcpSeqNotInFlight);
        }
        let (t, code) = (r.error.icmp_type, r.error.code);
        if r.error.is_frag_needed() {
            return self.lower_path_mtu(r);
        }
        if self.state == State::SynSent && r.error.fails_connect() {
            debug!(
                "tcp {} -> {}: connect failed by ICMP type {t} code {code}",
                self.local, self.remote
            );
            self.close_now(Some(TcpError::Unreachable(r.error)));
        }
        // Synchronized states: soft or hard, the connection carries on (RFC 5927 §4.2).
        Ok(())
    }

    /// RFC 1191 §6: lower the path MTU and the MSS, and resend what was lost at the old size.
    fn lower_path_mtu(&mut self, r: IcmpReport) -> Result<(), DropReason> {
        let pmtu = usize::from(reported_pmtu(&r));
        // RFC 5927 §7.2: an MTU at or above what we send with cannot be about our datagram.
        if pmtu >= self.snd.mtu {
            return Err(DropReason::IcmpFragNeededNotSmaller);
        }
        self.snd.mtu = pmtu;
        let mss = pmtu - super::output::mss_overhead(self.remote.ip());
        debug!(
            "tcp {} -> {}: path MTU {pmtu}, MSS {}",
            self.local,
            self.remote,
            mss.min(self.snd.mss)
        );
        if mss < self.snd.mss {
            self.snd.mss = mss;
            self.rec.cc.set_mss(mss);
            // Resend what was lost at the old size: data only. In SYN-SENT / SYN-RECEIVED the
            // SYN has its own timer, and rewinding SND.NXT below ISS + 1 would leave it behind
            // SND.UNA once the handshake completes (nothing would be sent again).
            if self.state.is_synchronized() {
                self.snd.nxt = self.snd.una;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(from: std::net::IpAddr, icmp_type: u8, next_mtu: u16, min_pmtu: u16) -> IcmpReport {
        IcmpReport {
            error: IcmpError {
                from,
                ttl: 64,
                icmp_type,
                code: if from.is_ipv6() { 0 } else { 4 },
                original_dst: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                next_hop_mtu: next_mtu,
            },
            seq: SeqNumber(1),
            next_mtu,
            quoted_len: 1500,
            min_pmtu,
        }
    }

    #[test]
    fn reported_path_mtu() {
        let v4 = std::net::IpAddr::from([198, 18, 0, 254]);
        let v6 = std::net::IpAddr::from([0x2001, 2, 0, 1, 0, 0, 0, 2]);
        // IPv4: 0 from a pre-RFC 1191 router is the plateau below the quoted 1500 bytes.
        assert_eq!(reported_pmtu(&report(v4, 3, 0, 552)), 1492);
        assert_eq!(reported_pmtu(&report(v4, 3, 1400, 552)), 1400);
        assert_eq!(reported_pmtu(&report(v4, 3, 300, 552)), 552);
        assert_eq!(reported_pmtu(&report(v4, 3, 20, 0)), 68);
        // IPv6 (RFC 8201 §4): anything below 1280, 0 included, is 1280 — never a plateau.
        assert_eq!(reported_pmtu(&report(v6, 2, 0, 1280)), 1280);
        assert_eq!(reported_pmtu(&report(v6, 2, 1000, 1280)), 1280);
        assert_eq!(reported_pmtu(&report(v6, 2, 1279, 1280)), 1280);
        assert_eq!(reported_pmtu(&report(v6, 2, 1400, 1280)), 1400);
    }

    #[test]
    fn plateaus() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(576), 508);
        assert_eq!(plateau_below(68), 68);
        assert_eq!(plateau_below(0), 68);
    }
}
