//! Loss recovery beyond RFC 5681's three duplicate ACKs: the pieces the sender is built from.
//!
//! Each submodule is sans-IO and self-contained, driven by the sender with sequence numbers and
//! times it passes in:
//!
//! - [`sent`]: the segments in flight with their transmit times (what RACK reasons about).
//! - [`rack`]: RACK time-based loss detection with an adaptive reordering window (RFC 8985 §6).
//! - [`tlp`]: tail loss probes (RFC 8985 §7).
//! - [`prr`]: Proportional Rate Reduction of the window during recovery (RFC 6937).
//! - [`undo`]: spurious-retransmission detection from DSACKs (RFC 2883, RFC 3708) and timestamps
//!   (Eifel, RFC 3522; F-RTO's purpose, RFC 5682), and the undo of the window reduction.
//!
//! HyStart++ (RFC 9406) lives with the congestion controllers (`congestion/hystart.rs`).

pub mod engine;
pub mod prr;
pub mod rack;
pub mod sent;
pub mod tlp;
pub mod undo;

/// Switches for the loss-recovery mechanisms (a field of [`crate::Config`]). Every mechanism is
/// on by default, as in Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// RACK time-based loss detection (RFC 8985 §6) whenever SACK was negotiated; without it (or
    /// without SACK) losses are detected by three duplicate ACKs / RFC 6675 IsLost. Default true
    /// (Linux `tcp_recovery=1`). "Sent after" ties between segments sent at the same instant are
    /// broken by transmission order rather than sequence number (the RFC's tie-break gets a
    /// retransmission wrong). Reordering observed directly (RFC 8985 §6.2 step 3; also a
    /// cumulative ACK echoing the timestamp of an original that was retransmitted, as Linux
    /// counts it) widens the reordering window at once to the lateness seen, in steps of
    /// min_RTT/4 capped at SRTT, where the RFC grows it one step per round trip with D-SACKs
    /// only; the D-SACK growth and the 16-recovery decay are kept.
    pub rack: bool,
    /// Tail loss probes (RFC 8985 §7): a probe 2·SRTT after the last send instead of waiting for
    /// the RTO. Needs SACK. Default true (Linux `tcp_early_retrans=3`). Differences from the RFC:
    /// the PTO is at least 10 ms (Linux adds two ticks), and a probe that would not fire before
    /// the RTO is not scheduled (the RTO, with its backoff, runs instead; the RFC caps the PTO
    /// at the RTO and probes then).
    pub tlp: bool,
    /// Report duplicate segments in the first SACK block (D-SACK, RFC 2883). Default true
    /// (Linux `tcp_dsack=1`).
    pub dsack: bool,
    /// Undo a window reduction proven spurious by DSACKs (RFC 3708) or timestamps (Eifel,
    /// RFC 3522; after a timeout also the RFC 4015 response: carry on with new data). Default
    /// true (Linux does the same undos).
    pub undo: bool,
    /// Proportional Rate Reduction during recovery (RFC 6937, with the SSRB bound); without it
    /// the RFC 5681/6582 inflate-and-deflate arithmetic and one retransmission per ACK. Default
    /// true (Linux always uses PRR).
    pub prr: bool,
    /// HyStart++ slow-start exit (RFC 9406) for NewReno and CUBIC. Default true (Linux enables
    /// HyStart for CUBIC by default).
    pub hystart: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            rack: true,
            tlp: true,
            dsack: true,
            undo: true,
            prr: true,
            hystart: true,
        }
    }
}

impl RecoveryConfig {
    /// Everything off: the RFC 5681 / 6582 / 6675 sender ustack had before.
    pub fn classic() -> Self {
        RecoveryConfig {
            rack: false,
            tlp: false,
            dsack: true,
            undo: false,
            prr: false,
            hystart: false,
        }
    }
}

/// Loss-recovery counters, per connection and summed for the stack (the ones gVisor keeps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Tail loss probes sent (RFC 8985 §7.3).
    pub tlp_probes: u64,
    /// Probes whose retransmission repaired a real tail loss (RFC 8985 §7.4).
    pub tlp_recoveries: u64,
    /// Segments RACK marked lost (RFC 8985 §6.2 step 5).
    pub rack_losses: u64,
    /// Reordering-timer expiries (RFC 8985 §6.3).
    pub rack_timeouts: u64,
    /// D-SACK blocks sent (RFC 2883).
    pub dsacks_sent: u64,
    /// D-SACK blocks received that fall within what was sent (RFC 2883 §4).
    pub dsacks_received: u64,
    /// SACK or D-SACK blocks ignored: below SND.UNA (not a D-SACK), beyond SND.MAX, inverted,
    /// or D-SACKs for nothing retransmitted.
    pub sack_blocks_ignored: u64,
    /// Retransmissions found unnecessary (D-SACK, RFC 3708; timestamps, RFC 3522).
    pub spurious_retransmits: u64,
    /// Retransmission timeouts found spurious (RFC 3522 / RFC 5682's purpose).
    pub spurious_rtos: u64,
    /// Window reductions undone.
    pub undos: u64,
    /// Loss-recovery episodes entered (fast recovery, RACK or TLP-detected).
    pub recovery_episodes: u64,
}

impl RecoveryStats {
    /// Every counter with its name (for tables and JSON).
    pub fn named(&self) -> [(&'static str, u64); 11] {
        [
            ("tlp_probes", self.tlp_probes),
            ("tlp_recoveries", self.tlp_recoveries),
            ("rack_losses", self.rack_losses),
            ("rack_timeouts", self.rack_timeouts),
            ("dsacks_sent", self.dsacks_sent),
            ("dsacks_received", self.dsacks_received),
            ("sack_blocks_ignored", self.sack_blocks_ignored),
            ("spurious_retransmits", self.spurious_retransmits),
            ("spurious_rtos", self.spurious_rtos),
            ("undos", self.undos),
            ("recovery_episodes", self.recovery_episodes),
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 11] {
        [
            &mut self.tlp_probes,
            &mut self.tlp_recoveries,
            &mut self.rack_losses,
            &mut self.rack_timeouts,
            &mut self.dsacks_sent,
            &mut self.dsacks_received,
            &mut self.sack_blocks_ignored,
            &mut self.spurious_retransmits,
            &mut self.spurious_rtos,
            &mut self.undos,
            &mut self.recovery_episodes,
        ]
    }

    /// Adds `other`'s counters (one connection's) to `self`, a sum over connections.
    pub fn add(&mut self, other: &RecoveryStats) {
        let o = other.named();
        for (i, f) in self.fields_mut().into_iter().enumerate() {
            *f += o[i].1;
        }
    }
}

/// The stack-wide loss-recovery totals (`Stats::tcp_loss`): retransmissions, timeouts and the
/// recovery counters of every connection — those of the connections alive now summed, plus
/// those of every connection freed, folded in when it was freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossTotals {
    /// Segments retransmitted (any reason).
    pub retransmits: u64,
    /// Fast-recovery entries.
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// The recovery counters.
    pub recovery: RecoveryStats,
}

impl LossTotals {
    /// Adds `other` (one connection's counters, or another sum) to `self`.
    pub fn add(&mut self, other: &LossTotals) {
        self.retransmits += other.retransmits;
        self.fast_retransmits += other.fast_retransmits;
        self.timeouts += other.timeouts;
        self.recovery.add(&other.recovery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up() {
        let mut total = LossTotals::default();
        let a = LossTotals {
            retransmits: 3,
            timeouts: 1,
            ..LossTotals::default()
        };
        let mut b = a;
        b.retransmits = 5;
        b.recovery.undos = 2;
        b.recovery.tlp_probes = 1;
        total.add(&a);
        total.add(&b);
        total.add(&b);
        assert_eq!(total.retransmits, 13);
        assert_eq!(total.timeouts, 3);
        assert_eq!(total.recovery.undos, 4);
        assert_eq!(total.recovery.tlp_probes, 2);
        assert_eq!(b.recovery.named()[9], ("undos", 2));
    }
}
