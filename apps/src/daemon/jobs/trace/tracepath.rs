//! `pmtu` mode, probing as `tracepath` does: one probe at a time with DF set, as large as the
//! path MTU known so far; up to `queries` tries per hop until one is answered (none: "no
//! reply"); a "fragmentation needed" (RFC 1191 §4) lowers the size and probes the same hop
//! again. Each answer carries the hops back (from its TTL), which the client shows as
//! tracepath's `asymm N` and `back N`.

use super::{
    classify, min_packet, plateau_below, rtt_ms, wait_of, DatagramProber, Marker, Outcome,
    TraceEvent, TraceOptions, MAX_RESENDS,
};
use std::io;
use tokio::time::Instant;

/// The MTU to probe with after "fragmentation needed" (or ICMPv6 "packet too big", `v6`)
/// saying `reported` (0: a router older than RFC 1191), when probes are `len` bytes; none if
/// it does not lower the size (a report about a larger probe sent before the last change).
fn lowered(reported: u16, len: usize, v6: bool) -> Option<u16> {
    let mtu = match reported {
        // RFC 8201 §4: a Packet Too Big below IPv6's minimum link MTU means 1280.
        m if v6 => m.max(IPV6_MIN_MTU),
        // RFC 1191 §7: without a next-hop MTU, the plateau below the size that did not fit.
        0 => plateau_below(len),
        m => m,
    };
    (usize::from(mtu) < len).then_some(mtu)
}

/// IPv6's minimum link MTU (RFC 8200 §5).
const IPV6_MIN_MTU: u16 = 1280;

impl DatagramProber {
    /// `tracepath -6` starts with a probe larger than any link (65535 bytes), which fails at
    /// the source ("message too long", DF being set), and shows the time that took on its
    /// `[LOCALHOST]` line: the same refusal, timed. None if the probe was not refused.
    pub(super) async fn local_refusal(&mut self, o: &TraceOptions) -> Option<f64> {
        let sent = Instant::now();
        let refused = self.send(o, usize::from(u16::MAX)).await.is_err();
        refused.then(|| rtt_ms(sent.elapsed()))
    }

    /// Probes hop `ttl` as tracepath does; `Some(reached)` if the trace ends here.
    pub(super) async fn hop_tracepath(
        &mut self,
        o: &mut TraceOptions,
        ttl: u8,
        emit: &mut impl FnMut(TraceEvent),
    ) -> io::Result<Option<bool>> {
        self.set_ttl(ttl)?;
        let (mut tries, mut resends) = (0, 0);
        while tries < o.queries {
            let key = self.send(o, o.packet_len).await?;
            let sent = Instant::now();
            let deadline = sent + wait_of(o);
            // The answer to this probe (UDP data names none: it is taken as this one's).
            let answer = loop {
                match self.recv(o, deadline).await? {
                    None => break None,
                    Some(a) => {
                        let parts = a.parts();
                        if parts.0.is_none_or(|k| k == key) {
                            break Some(parts);
                        }
                    }
                }
            };
            let Some((_, from, error, back)) = answer else {
                tries += 1;
                continue;
            };
            let rtt = sent.elapsed();
            let (marker, reached) = match &error {
                Some(e) => classify(e, o.dst),
                None => (None, from == o.dst),
            };
            if let Some(Marker::Frag(m)) = marker {
                if resends < MAX_RESENDS {
                    resends += 1;
                    if let Some(mtu) = lowered(m, o.packet_len, o.dst.is_ipv6()) {
                        o.packet_len = usize::from(mtu).max(min_packet(o.dst));
                        let rtt_ms = Some(rtt_ms(rtt));
                        emit(TraceEvent::Pmtu {
                            ttl,
                            from,
                            mtu,
                            rtt_ms,
                        });
                    }
                    continue;
                }
                tries += 1;
                continue;
            }
            if reached {
                self.back = back;
            }
            let outcome = Outcome::Reply {
                from,
                rtt,
                marker,
                reached,
                back,
            };
            emit(super::probe_event(ttl, 0, outcome, o.dst.is_ipv6()));
            return Ok((reached || marker.is_some()).then_some(reached));
        }
        emit(super::probe_event(ttl, 0, Outcome::Timeout, false));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_smaller_mtu_lowers_the_probes() {
        assert_eq!(lowered(1400, 1500, false), Some(1400));
        assert_eq!(
            lowered(1500, 1400, false),
            None,
            "about a probe sent before"
        );
        assert_eq!(lowered(1400, 1400, false), None);
        assert_eq!(lowered(0, 1500, false), Some(1492), "RFC 1191 §7 plateau");
        assert_eq!(lowered(1400, 1500, true), Some(1400));
        assert_eq!(
            lowered(576, 1500, true),
            Some(1280),
            "RFC 8201 §4: at least 1280"
        );
        assert_eq!(lowered(0, 1280, true), None);
    }

    #[test]
    fn hops_back_as_tracepath_guesses_them() {
        use super::super::hops_back;
        assert_eq!(hops_back(64), 1);
        assert_eq!(hops_back(61), 4);
        assert_eq!(hops_back(128), 1);
        assert_eq!(hops_back(120), 9);
        assert_eq!(hops_back(255), 1);
        assert_eq!(hops_back(250), 6);
    }
}
