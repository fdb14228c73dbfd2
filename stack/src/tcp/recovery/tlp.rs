//! Tail loss probes (RFC 8985 §7).
//!
//! When the last segments of a flight are lost no further ACK arrives to reveal it, and classic
//! TCP waits for the retransmission timeout. A TLP sender instead arms a probe timeout of about
//! two RTTs after each send: when it fires it sends one segment (new data if it may, else the
//! highest segment again) to elicit an ACK whose SACK blocks let RACK find the losses. One probe
//! at a time; a probe whose retransmission turns out to have repaired a loss still gets the
//! congestion response.

use crate::time::Duration;
use crate::wire::tcp::SeqNumber;

/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time assumed when one segment is out.
pub const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// RFC 8985 §7.2: the PTO without an RTT sample.
pub const PTO_NO_RTT: Duration = Duration::from_secs(1);
/// Least PTO (Linux adds two ticks; this keeps a tiny SRTT from probing every millisecond).
pub const MIN_PTO: Duration = Duration::from_millis(10);

/// RFC 8985 §7.2: the probe timeout for the current flight, never later than the RTO.
pub fn pto(srtt: Option<Duration>, one_segment: bool, rto: Duration) -> Duration {
    let base = match srtt {
        Some(s) => {
            let two = Duration::from_micros(s.total_micros().saturating_mul(2));
            let extra = if one_segment {
                WC_DEL_ACK
            } else {
                Duration::ZERO
            };
            Duration::from_micros((two + extra).total_micros().max(MIN_PTO.total_micros()))
        }
        None => PTO_NO_RTT,
    };
    if base < rto {
        base
    } else {
        rto
    }
}

/// What an ACK says about the probe in flight (RFC 8985 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// No probe in flight, or not yet decided.
    Pending,
    /// The probe's episode is over with no loss (new-data probe acknowledged, or a D-SACK
    /// shows the retransmitted probe was a duplicate).
    NoLoss,
    /// The retransmitted probe repaired a real loss: the congestion response is due
    /// (RFC 8985 §7.4.2).
    LossRepaired,
}

/// The probe episode (RFC 8985 §7.1 `TLP.end_seq`, `TLP.is_retrans`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tlp {
    end_seq: Option<SeqNumber>,
    is_retrans: bool,
}

impl Tlp {
    /// Whether a probe may be scheduled (RFC 8985 §7.2: not while one is outstanding).
    pub fn can_probe(&self) -> bool {
        self.end_seq.is_none()
    }

    /// A probe went out; `snd_nxt` after it.
    pub fn on_probe_sent(&mut self, snd_nxt: SeqNumber, is_retrans: bool) {
        self.end_seq = Some(snd_nxt);
        self.is_retrans = is_retrans;
    }

    /// Forgets the episode (a timeout or recovery took over).
    pub fn reset(&mut self) {
        self.end_seq = None;
    }

    /// RFC 8985 §7.4: an ACK up to `ack`, `dsack_end` the right edge of a valid D-SACK block
    /// it carried.
    pub fn on_ack(&mut self, ack: SeqNumber, dsack_end: Option<SeqNumber>) -> ProbeOutcome {
        let Some(end) = self.end_seq else {
            return ProbeOutcome::Pending;
        };
        if !ack.ge(end) {
            return ProbeOutcome::Pending;
        }
        if !self.is_retrans {
            // A new-data probe: RACK handles whatever it revealed.
            self.end_seq = None;
            return ProbeOutcome::NoLoss;
        }
        if dsack_end.is_some_and(|d| d.le(end)) {
            // §7.4.1: both the original and the probe arrived.
            self.end_seq = None;
            return ProbeOutcome::NoLoss;
        }
        if ack.gt(end) {
            // §7.4.2: acknowledged beyond the probe without a D-SACK for it: the original was
            // lost and the probe repaired it.
            self.end_seq = None;
            return ProbeOutcome::LossRepaired;
        }
        // ACK exactly at the probe's end: its D-SACK may still be on the way.
        ProbeOutcome::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pto_is_two_srtt_plus_delack_for_one_segment_capped_by_rto() {
        assert_eq!(pto(Some(ms(10)), false, ms(200)), ms(20));
        assert_eq!(pto(Some(ms(10)), true, ms(1000)), ms(220));
        assert_eq!(pto(Some(ms(10)), true, ms(200)), ms(200));
        assert_eq!(pto(None, false, ms(3000)), ms(1000));
        assert_eq!(
            pto(Some(Duration::from_micros(100)), false, ms(200)),
            MIN_PTO
        );
    }

    #[test]
    fn new_data_probe_ends_on_its_ack() {
        let mut t = Tlp::default();
        assert!(t.can_probe());
        t.on_probe_sent(SeqNumber(2000), false);
        assert!(!t.can_probe());
        assert_eq!(t.on_ack(SeqNumber(1500), None), ProbeOutcome::Pending);
        assert_eq!(t.on_ack(SeqNumber(2000), None), ProbeOutcome::NoLoss);
        assert!(t.can_probe());
    }

    #[test]
    fn retransmitted_probe_dsacked_means_no_loss() {
        let mut t = Tlp::default();
        t.on_probe_sent(SeqNumber(2000), true);
        assert_eq!(t.on_ack(SeqNumber(2000), None), ProbeOutcome::Pending);
        assert_eq!(
            t.on_ack(SeqNumber(2000), Some(SeqNumber(2000))),
            ProbeOutcome::NoLoss
        );
    }

    #[test]
    fn retransmitted_probe_acked_beyond_repaired_a_loss() {
        let mut t = Tlp::default();
        t.on_probe_sent(SeqNumber(2000), true);
        assert_eq!(t.on_ack(SeqNumber(2500), None), ProbeOutcome::LossRepaired);
        assert_eq!(t.on_ack(SeqNumber(3000), None), ProbeOutcome::Pending);
    }

    #[test]
    fn wraps() {
        let mut t = Tlp::default();
        t.on_probe_sent(SeqNumber(5), true);
        assert_eq!(
            t.on_ack(SeqNumber(u32::MAX - 10), None),
            ProbeOutcome::Pending
        );
        assert_eq!(t.on_ack(SeqNumber(10), None), ProbeOutcome::LossRepaired);
    }
}
