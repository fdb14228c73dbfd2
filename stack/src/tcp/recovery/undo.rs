//! Spurious-retransmission detection and the undo of the window reduction.
//!
//! A reduction episode (fast recovery, RACK, a TLP-detected loss, or a retransmission timeout)
//! remembers where it began and counts its retransmissions. It was spurious when:
//!
//! - every retransmission of it came back as a D-SACK (RFC 2883 §5 / RFC 3708 §3: the receiver
//!   had the data twice, so the originals were only late), or
//! - timestamps show the ACK that ended it was for an original: its echo predates our first
//!   retransmission (the Eifel detection algorithm, RFC 3522 §3.2; F-RTO, RFC 5682, answers the
//!   same question without timestamps and ustack relies on timestamps and D-SACK instead).
//!
//! Then the sender restores the congestion state saved when the episode began (the Eifel
//! response, RFC 4015 §3.2, and Linux's undo). Only D-SACKs inside the episode's sequence range
//! and no more than its retransmissions count, so forged D-SACKs can at most restore the window
//! the connection had before.

use crate::wire::tcp::SeqNumber;

/// What started the episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Episode {
    /// Fast recovery (duplicate ACKs, SACK, RACK or a TLP-detected loss).
    Recovery,
    /// A retransmission timeout.
    Timeout,
}

/// One reduction episode's undo bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct Undo {
    /// The episode: (SND.UNA when it began, SND.MAX then, what began it).
    episode: Option<(SeqNumber, SeqNumber, Episode)>,
    /// Retransmissions of the episode not (yet) shown spurious by a D-SACK.
    retrans_out: u32,
    /// Retransmissions of the episode.
    retrans: u32,
    /// Our timestamp value when the episode's first retransmission went out.
    retrans_ts: Option<u32>,
}

impl Undo {
    /// A reduction began with SND.UNA = `una`, SND.MAX = `max`.
    pub fn start(&mut self, una: SeqNumber, max: SeqNumber, kind: Episode) {
        *self = Undo {
            episode: Some((una, max, kind)),
            ..Undo::default()
        };
    }

    /// What the current episode is, if any.
    pub fn episode(&self) -> Option<Episode> {
        self.episode.map(|e| e.2)
    }

    /// Forgets the episode (it was undone, or can no longer be).
    pub fn clear(&mut self) {
        *self = Undo::default();
    }

    /// A retransmission of the episode went out at our timestamp `tsval` (if timestamps are on).
    pub fn on_retransmit(&mut self, tsval: Option<u32>) {
        if self.episode.is_none() {
            return;
        }
        self.retrans_out = self.retrans_out.saturating_add(1);
        self.retrans = self.retrans.saturating_add(1);
        if self.retrans_ts.is_none() {
            self.retrans_ts = tsval;
        }
    }

    /// A D-SACK block `[left, right)`: true if it counts against this episode's
    /// retransmissions (inside the episode's range, with retransmissions left to explain).
    pub fn on_dsack(&mut self, left: SeqNumber, right: SeqNumber) -> bool {
        let Some((una, max, _)) = self.episode else {
            return false;
        };
        if left.lt(una) || right.gt(max) || self.retrans_out == 0 {
            return false;
        }
        self.retrans_out -= 1;
        true
    }

    /// RFC 3708 §3: every retransmission of the episode was reported duplicate.
    pub fn all_dsacked(&self) -> bool {
        self.episode.is_some() && self.retrans > 0 && self.retrans_out == 0
    }

    /// The episode is over and none of its retransmissions is unexplained: it retransmitted
    /// nothing (the "losses" arrived late), or every retransmission was reported duplicate
    /// (as Linux's `tcp_may_undo`: no `undo_retrans` left).
    pub fn nothing_unexplained(&self) -> bool {
        self.episode.is_some() && self.retrans_out == 0
    }

    /// RFC 3522 §3.2: the acceptable ACK echoing `tsecr` was for an original transmission.
    pub fn eifel(&self, tsecr: u32) -> bool {
        self.episode.is_some()
            && self
                .retrans_ts
                .is_some_and(|ts| (tsecr.wrapping_sub(ts) as i32) < 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(10_000 + n)
    }

    #[test]
    fn every_retransmission_dsacked_is_spurious() {
        let mut u = Undo::default();
        assert!(!u.all_dsacked());
        u.start(s(0), s(1000), Episode::Recovery);
        u.on_retransmit(Some(500));
        u.on_retransmit(Some(510));
        assert!(u.on_dsack(s(0), s(100)));
        assert!(!u.all_dsacked());
        assert!(u.on_dsack(s(100), s(200)));
        assert!(u.all_dsacked());
        // A third D-SACK has nothing left to explain: ignored.
        assert!(!u.on_dsack(s(0), s(100)));
    }

    #[test]
    fn dsacks_outside_the_episode_do_not_count() {
        let mut u = Undo::default();
        assert!(!u.on_dsack(s(0), s(10)));
        u.start(s(100), s(1000), Episode::Recovery);
        u.on_retransmit(None);
        assert!(!u.on_dsack(s(0), s(50)), "below the episode");
        assert!(!u.on_dsack(s(900), s(1100)), "beyond what was sent");
        assert!(!u.all_dsacked());
    }

    #[test]
    fn no_retransmission_nothing_to_undo() {
        let mut u = Undo::default();
        u.start(s(0), s(10), Episode::Timeout);
        assert!(!u.all_dsacked());
        assert!(!u.eifel(0));
    }

    #[test]
    fn eifel_compares_the_echo_with_the_first_retransmission() {
        let mut u = Undo::default();
        u.start(s(0), s(10), Episode::Timeout);
        u.on_retransmit(Some(1000));
        u.on_retransmit(Some(1200));
        assert!(u.eifel(999));
        assert!(!u.eifel(1000));
        assert!(!u.eifel(1100));
        assert_eq!(u.episode(), Some(Episode::Timeout));
        // Wrapping timestamps.
        u.start(s(0), s(10), Episode::Recovery);
        u.on_retransmit(Some(5));
        assert!(u.eifel(u32::MAX - 3));
        u.clear();
        assert!(!u.eifel(0));
    }
}
