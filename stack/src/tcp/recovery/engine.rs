//! The loss-recovery state of one connection, tying the mechanisms together: which D-SACK and
//! SACK blocks to believe, what each ACK delivered (RACK, PRR), which segments are lost, when the
//! one loss timer fires and as what (RTO, tail loss probe, RACK reordering timer), and when a
//! window reduction is to be undone. The sender calls it with its sequence numbers and the time;
//! it never sends anything itself.

use super::prr::Prr;
use super::rack::Rack;
use super::sent::SentLog;
use super::tlp::{self, ProbeOutcome, Tlp};
use super::undo::{Episode, Undo};
use super::{RecoveryConfig, RecoveryStats};
use crate::tcp::congestion::CongestionControl;
use crate::time::{Duration, Instant};
use crate::wire::tcp::SeqNumber;
use log::debug;

/// A SACK block `[left, right)`.
pub type Block = (SeqNumber, SeqNumber);

/// The blocks of one ACK (RFC 2018 §3: at most four).
pub type Blocks = [Option<Block>; 4];

/// What the connection's retransmission timer means while armed (RFC 8985 §8: one timer serves
/// the RTO, the probe timeout and the reordering timeout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LossTimer {
    /// The retransmission timeout (RFC 6298).
    #[default]
    Rto,
    /// The tail loss probe timeout (RFC 8985 §7.2).
    Probe,
    /// RACK's reordering timer (RFC 8985 §6.3).
    Reorder,
}

/// A tail loss probe to send (RFC 8985 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// One segment of new data.
    NewData,
    /// The highest segment sent, again: `[start, end)`.
    Retransmit(SeqNumber, SeqNumber),
}

/// The sender's view at one ACK.
#[derive(Clone, Copy, Debug)]
pub struct AckView {
    /// SEG.ACK.
    pub ack: SeqNumber,
    /// SND.UNA before this ACK.
    pub snd_una: SeqNumber,
    /// SND.NXT.
    pub snd_nxt: SeqNumber,
    /// SND.MAX.
    pub snd_max: SeqNumber,
    /// The oldest sequence number an ACK may plausibly cite (SND.UNA − MAX.SND.WND).
    pub oldest: SeqNumber,
    /// When the segment whose timestamp the ACK echoes was sent (ms resolution).
    pub echo_sent_at: Option<Instant>,
    /// The echoed timestamp itself (our clock), for Eifel.
    pub tsecr: Option<u32>,
    /// Smoothed RTT.
    pub srtt: Duration,
    /// In fast recovery.
    pub in_recovery: bool,
}

/// What one ACK means for recovery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// Bytes newly delivered (cumulatively acknowledged or SACKed), for PRR.
    pub delivered: usize,
    /// Segments RACK newly marked lost.
    pub lost: usize,
    /// The window reduction of the current episode was proven spurious: undo it.
    pub undo: bool,
    /// A retransmitted tail loss probe repaired a loss: reduce the window once.
    pub tlp_loss: bool,
    /// RACK wants the reordering timer at this time.
    pub reorder_at: Option<Instant>,
    /// When the newest segment this ACK newly acknowledged in full was sent — if none of the
    /// segments it newly acknowledges was ever retransmitted (Karn, RFC 6298 §3; Linux's
    /// `FLAG_RETRANS_DATA_ACKED`): the start of an RTT sample with the send log's µs clock, as
    /// Linux takes it from skb timestamps. Segments SACKed earlier do not count (delivered
    /// before this ACK).
    pub rtt_sent_at: Option<Instant>,
}

/// One connection's loss-recovery state.
#[derive(Debug, Default)]
pub struct LossRecovery {
    /// The switches.
    pub cfg: RecoveryConfig,
    /// The segments in flight.
    pub log: SentLog,
    /// RACK.
    pub rack: Rack,
    /// The tail loss probe episode.
    pub tlp: Tlp,
    /// PRR during fast recovery.
    pub prr: Option<Prr>,
    /// The undo bookkeeping.
    pub undo: Undo,
    /// The congestion state before the current reduction (what an undo restores).
    prior: Option<Box<dyn CongestionControl>>,
    /// The counters.
    pub stats: RecoveryStats,
    /// What the retransmission timer means now.
    pub timer: LossTimer,
    /// A tail loss probe waiting to be sent.
    pub probe: Option<Probe>,
    /// The reordering timer's deadline, while armed.
    reorder_at: Option<Instant>,
    /// When the probe timeout now armed was armed (the user timeout counts from there).
    pub probe_armed_at: Option<Instant>,
}

impl LossRecovery {
    /// Recovery state with the given switches.
    pub fn new(cfg: RecoveryConfig) -> LossRecovery {
        LossRecovery {
            cfg,
            ..LossRecovery::default()
        }
    }

    /// Whether RACK runs (RFC 8985 §3: it needs SACK).
    pub fn rack_on(&self, sack_ok: bool) -> bool {
        self.cfg.rack && sack_ok
    }

    /// Splits an ACK's SACK blocks (RFC 2883 §4): the first is a D-SACK when it lies below
    /// SEG.ACK or inside the second block. D-SACKs outside `[oldest, SND.MAX]` and SACK blocks
    /// outside `(SND.UNA, SND.MAX]` (or inverted) are ignored and counted. Returns the D-SACK
    /// and the SACK blocks to believe.
    pub fn classify(&mut self, blocks: &Blocks, v: &AckView) -> (Option<Block>, Blocks) {
        let mut sacks = [None; 4];
        let mut dsack = None;
        for (i, (l, r)) in blocks.iter().flatten().copied().enumerate() {
            let inverted = !l.lt(r);
            let is_dsack = i == 0
                && !inverted
                && (r.le(v.ack)
                    || blocks[1]
                        .is_some_and(|(l2, r2)| l2.le(l) && r.le(r2) && !(l2 == l && r2 == r)));
            if is_dsack {
                if l.ge(v.oldest) && r.le(v.snd_max) {
                    dsack = Some((l, r));
                    self.stats.dsacks_received += 1;
                } else {
                    self.stats.sack_blocks_ignored += 1;
                }
                continue;
            }
            // RFC 2018 §4 / RFC 6675: only blocks within what was sent and above SND.UNA.
            if inverted || l.lt(v.ack.max(v.snd_una)) || r.gt(v.snd_max) {
                self.stats.sack_blocks_ignored += 1;
                continue;
            }
            sacks[i] = Some((l, r));
        }
        (dsack, sacks)
    }

    /// An ACK: `v` the view, `dsack` and `sacks` from [`classify`](Self::classify), `sack_ok`
    /// whether SACK is in use. Updates RACK, TLP and undo; RACK loss detection runs if on.
    pub fn on_ack(
        &mut self,
        v: &AckView,
        dsack: Option<Block>,
        sacks: &Blocks,
        sack_ok: bool,
        now: Instant,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let LossRecovery { log, rack, .. } = self;
        let mut delivered = 0usize;
        let mut newly_sacked = 0;
        rack.start_ack();
        for (l, r) in sacks.iter().flatten().copied() {
            newly_sacked += log.on_sack(l, r, |s| {
                delivered += s.end.distance(s.start) as usize;
                rack.on_delivered(s, now, v.echo_sent_at, false);
            });
        }
        let mut cum_sacked = 0;
        if v.ack.gt(v.snd_una) {
            delivered += v.ack.distance(v.snd_una) as usize;
            let before = log
                .iter()
                .take_while(|s| s.start.lt(v.ack))
                .filter(|s| s.sacked)
                .count();
            cum_sacked = before;
            let (mut newest, mut karn) = (None, false);
            log.on_cumulative_ack(v.ack, |s| {
                rack.on_delivered(s, now, v.echo_sent_at, true);
                karn |= s.retransmitted;
                if s.end.le(v.ack) {
                    newest = Some(s.sent_at);
                }
            });
            out.rtt_sent_at = newest.filter(|_| !karn);
        }
        rack.on_sacked(newly_sacked, cum_sacked);
        out.delivered = delivered;
        // RFC 8985 §6.2 step 4 and RFC 3708: D-SACKs widen the reordering window and count
        // against the episode's retransmissions.
        rack.on_ack_dsack(dsack.is_some(), v.ack.max(v.snd_una), v.snd_nxt);
        if let Some((l, r)) = dsack {
            if self.undo.on_dsack(l, r) {
                self.stats.spurious_retransmits += 1;
                debug!("tcp recovery: D-SACK {l}..{r}: a retransmission was spurious");
                if self.cfg.undo && self.undo.all_dsacked() {
                    out.undo = true;
                }
            }
        }
        // RFC 3522 §3.2 (Eifel) after a timeout: the first ACK that advances, echoing a
        // timestamp older than the retransmission, was for an original.
        if v.ack.gt(v.snd_una) && self.undo.episode() == Some(Episode::Timeout) {
            if self.cfg.undo && v.tsecr.is_some_and(|e| self.undo.eifel(e)) {
                out.undo = true;
            } else {
                // Only the first acceptable ACK decides (RFC 3522 §3.2 step 4).
                self.undo.clear();
                self.prior = None;
            }
        }
        match self.tlp.on_ack(v.ack, dsack.map(|d| d.1)) {
            ProbeOutcome::LossRepaired => {
                self.stats.tlp_recoveries += 1;
                out.tlp_loss = true;
            }
            ProbeOutcome::NoLoss | ProbeOutcome::Pending => {}
        }
        if self.rack_on(sack_ok) {
            let wnd = self.rack.reo_wnd(v.in_recovery, v.srtt);
            let (lost, at) = self.rack.detect_loss(&mut self.log, now, wnd);
            if lost > 0 {
                self.stats.rack_losses += lost as u64;
                debug!("tcp recovery: RACK marked {lost} lost (reo_wnd {wnd})");
            }
            out.lost = lost;
            out.reorder_at = at;
        }
        self.reorder_at = out.reorder_at;
        out
    }

    /// The reordering timer fired (RFC 8985 §6.3): detect losses again.
    pub fn on_reorder_timeout(&mut self, now: Instant, in_recovery: bool, srtt: Duration) -> usize {
        self.stats.rack_timeouts += 1;
        self.reorder_at = None;
        let wnd = self.rack.reo_wnd(in_recovery, srtt);
        let (lost, at) = self.rack.detect_loss(&mut self.log, now, wnd);
        self.stats.rack_losses += lost as u64;
        self.reorder_at = at;
        lost
    }

    /// Segment `[start, end)` (SYN/FIN included) went out at `now`; `rtx` whether it had been
    /// sent before, `tsval` our timestamp on it.
    pub fn on_transmit(
        &mut self,
        start: SeqNumber,
        end: SeqNumber,
        now: Instant,
        rtx: bool,
        tsval: Option<u32>,
    ) {
        self.log.on_transmit(start, end, now);
        if rtx {
            self.undo.on_retransmit(tsval);
        }
        if let Some(p) = self.prr.as_mut() {
            p.on_sent(end.distance(start) as usize);
        }
    }

    /// A reduction begins: `prior` is the congestion state before it, `una`/`max` the range
    /// it covers. With PRR on and a fast-recovery episode, PRR starts from `flight` and the
    /// reduced `ssthresh`.
    pub(crate) fn start_episode(
        &mut self,
        kind: Episode,
        prior: Box<dyn CongestionControl>,
        una: SeqNumber,
        max: SeqNumber,
        flight: usize,
        ssthresh: usize,
    ) {
        if kind == Episode::Timeout && self.undo.episode() == Some(Episode::Timeout) {
            // A repeated timeout: the first one's state is what an undo would restore.
            return;
        }
        self.undo.start(una, max, kind);
        self.prior = self.cfg.undo.then_some(prior);
        self.tlp.reset();
        self.probe = None;
        if kind == Episode::Recovery {
            self.stats.recovery_episodes += 1;
            self.prr = self.cfg.prr.then(|| Prr::start(flight, ssthresh));
        } else {
            self.prr = None;
            self.log.mark_all_lost();
        }
    }

    /// Fast recovery ended with a full ACK echoing `tsecr`: true if timestamps show it was
    /// spurious (RFC 3522 §3.2, as Linux's `tcp_try_undo_recovery`).
    pub fn end_recovery(&mut self, tsecr: Option<u32>) -> bool {
        self.prr = None;
        self.rack.on_recovery_exit();
        self.cfg.undo
            && self.undo.episode() == Some(Episode::Recovery)
            && (self.undo.nothing_unexplained() || tsecr.is_some_and(|e| self.undo.eifel(e)))
    }

    /// The congestion state to restore for an undo, counting it; None if there is none.
    pub(crate) fn take_undo(&mut self) -> Option<(Box<dyn CongestionControl>, Episode)> {
        let kind = self.undo.episode()?;
        let prior = self.prior.take()?;
        self.stats.undos += 1;
        if kind == Episode::Timeout {
            self.stats.spurious_rtos += 1;
        }
        self.undo.clear();
        Some((prior, kind))
    }

    /// PRR: an ACK during recovery delivered `delivered` bytes with `pipe` in the network.
    pub fn prr_ack(&mut self, delivered: usize, pipe: usize, mss: usize) {
        if let Some(p) = self.prr.as_mut() {
            p.on_ack(delivered, pipe, mss);
        }
    }

    /// Whether PRR lets a segment out now (true without PRR: the classic rules apply).
    pub fn prr_allows(&self) -> bool {
        self.prr.is_none_or(|p| p.may_send())
    }

    /// Picks the loss timer after a send or an ACK (RFC 8985 §7.2, §6.3): the reordering timer
    /// if RACK wants it, else a probe timeout when a probe is allowed (`probe_ok`: SACK, TLP on,
    /// not in recovery, data outstanding), else the RTO. Returns when it fires.
    pub fn arm(
        &mut self,
        now: Instant,
        probe_ok: bool,
        srtt: Option<Duration>,
        one_segment: bool,
        rto: Duration,
    ) -> Instant {
        let rto_at = now + rto;
        if let Some(at) = self.reorder_at.filter(|&at| at < rto_at) {
            self.timer = LossTimer::Reorder;
            return at;
        }
        let pto = tlp::pto(srtt, one_segment, rto);
        // RFC 8985 §7.2 caps the PTO at the RTO; a probe due no earlier than the RTO would only
        // duplicate it, so then the RTO (with its backoff) is armed instead.
        if probe_ok && self.cfg.tlp && self.tlp.can_probe() && pto < rto {
            self.timer = LossTimer::Probe;
            self.probe_armed_at = Some(now);
            return now + pto;
        }
        self.timer = LossTimer::Rto;
        rto_at
    }

    /// The probe timeout fired (RFC 8985 §7.3): new data if `new_data_ok`, else the highest
    /// segment sent. None if nothing is in flight.
    pub fn on_probe_timeout(&mut self, new_data_ok: bool) -> Option<Probe> {
        let probe = if new_data_ok {
            Probe::NewData
        } else {
            let last = self.log.last()?;
            Probe::Retransmit(last.start, last.end)
        };
        self.stats.tlp_probes += 1;
        self.probe = Some(probe);
        Some(probe)
    }

    /// The probe went out; SND.NXT after it.
    pub fn on_probe_sent(&mut self, snd_nxt: SeqNumber, rtx: bool) {
        self.probe = None;
        self.tlp.on_probe_sent(snd_nxt, rtx);
    }

    /// The connection forgot its flight (e.g. a retransmission timeout rewinds, or it closed).
    pub fn on_rto(&mut self) {
        self.tlp.reset();
        self.probe = None;
        self.reorder_at = None;
        self.prr = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::congestion::{new_controller, Algorithm};

    const MSS: usize = 1000;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(100_000 + n)
    }
    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Ten 1000-byte segments sent 1 ms apart from t = 0; SND.UNA = s(0).
    fn sent_ten() -> LossRecovery {
        let mut r = LossRecovery::new(RecoveryConfig::default());
        for i in 0..10u32 {
            r.on_transmit(
                s(i * 1000),
                s(i * 1000 + 1000),
                t(u64::from(i)),
                false,
                None,
            );
        }
        r
    }

    /// Starts an episode over the ten segments (flight 10 000, ssthresh 5000); returns the
    /// controller state it saved.
    fn episode(r: &mut LossRecovery, kind: Episode) -> Box<dyn CongestionControl> {
        let cc = new_controller(Algorithm::NewReno, MSS);
        r.start_episode(kind, cc.boxed_clone(), s(0), s(10_000), 10_000, 5000);
        cc
    }

    /// One SACK block.
    fn one(l: SeqNumber, r: SeqNumber) -> Blocks {
        [Some((l, r)), None, None, None]
    }

    fn view(ack: u32, una: u32) -> AckView {
        AckView {
            ack: s(ack),
            snd_una: s(una),
            snd_nxt: s(10_000),
            snd_max: s(10_000),
            oldest: s(0).sub(65535),
            echo_sent_at: None,
            tsecr: None,
            srtt: Duration::from_millis(20),
            in_recovery: false,
        }
    }

    fn ack(
        r: &mut LossRecovery,
        v: &AckView,
        blocks: [Option<(SeqNumber, SeqNumber)>; 4],
        now: Instant,
    ) -> AckOutcome {
        let (d, sacks) = r.classify(&blocks, v);
        r.on_ack(v, d, &sacks, true, now)
    }

    #[test]
    fn forged_blocks_are_ignored_and_counted() {
        let mut r = sent_ten();
        let v = view(1000, 0);
        let blocks = [
            Some((s(20_000), s(21_000))),  // beyond SND.MAX
            Some((s(5000), s(4000))),      // inverted
            Some((s(0).sub(500), s(500))), // straddles SND.UNA, not a D-SACK (not first)
            Some((s(3000), s(4000))),      // fine
        ];
        let (d, sacks) = r.classify(&blocks, &v);
        assert_eq!(d, None);
        assert_eq!(sacks, [None, None, None, Some((s(3000), s(4000)))]);
        assert_eq!(r.stats.sack_blocks_ignored, 3);
        // A D-SACK far below anything sent is ignored too.
        let (d, _) = r.classify(
            &[
                Some((s(0).sub(1 << 20), s(0).sub((1 << 20) - 10))),
                None,
                None,
                None,
            ],
            &v,
        );
        assert_eq!(d, None);
        assert_eq!(r.stats.sack_blocks_ignored, 4);
        assert_eq!(r.stats.dsacks_received, 0);
    }

    #[test]
    fn rack_marks_the_hole_lost_after_rtt_and_window() {
        let mut r = sent_ten();
        // Segment 0 lost; SACK for 1..4 arrives at 24 ms (RTT 20 ms for segment 3).
        let out = ack(&mut r, &view(0, 0), one(s(1000), s(4000)), t(24));
        assert_eq!(out.delivered, 3000);
        // Three segments SACKed and no reordering seen: reo_wnd = 0 (RFC 8985 §6.2 step 4).
        assert_eq!(out.lost, 1, "segment 0: 0 + 20 + 0 <= 24");
        assert_eq!(r.log.next_lost(s(0)), Some((s(0), s(1000))));
        assert_eq!(r.stats.rack_losses, 1);
    }

    #[test]
    fn reordered_segment_only_waits_for_the_window() {
        let mut r = sent_ten();
        // One SACKed segment (below DupThresh): a 5 ms window applies.
        let out = ack(&mut r, &view(0, 0), one(s(1000), s(2000)), t(21));
        assert_eq!(out.lost, 0);
        assert_eq!(out.reorder_at, Some(t(25)));
        // It arrives before the timer: nothing was ever lost.
        let out = ack(&mut r, &view(2000, 0), [None; 4], t(23));
        assert_eq!(out.lost, 0);
        assert!(r.rack.reordering_seen() || r.log.next_lost(s(0)).is_none());
    }

    #[test]
    fn dsack_for_every_retransmission_undoes() {
        let mut r = sent_ten();
        let cc = episode(&mut r, Episode::Recovery);
        assert_eq!(r.stats.recovery_episodes, 1);
        r.on_transmit(s(0), s(1000), t(30), true, Some(30));
        // The original arrives, then the retransmission: D-SACK below SEG.ACK.
        let out = ack(&mut r, &view(10_000, 0), one(s(0), s(1000)), t(50));
        assert!(out.undo);
        assert_eq!(r.stats.spurious_retransmits, 1);
        assert_eq!(r.stats.dsacks_received, 1);
        let (prior, kind) = r.take_undo().unwrap();
        assert_eq!(kind, Episode::Recovery);
        assert_eq!(prior.cwnd(), cc.cwnd());
        assert_eq!(r.stats.undos, 1);
        assert!(r.take_undo().is_none());
    }

    #[test]
    fn forged_dsacks_cannot_undo_more_than_was_retransmitted() {
        let mut r = sent_ten();
        episode(&mut r, Episode::Recovery);
        // No retransmission yet: D-SACKs explain nothing.
        for _ in 0..100 {
            let out = ack(&mut r, &view(1000, 0), one(s(0), s(0).add(10)), t(50));
            assert!(!out.undo);
        }
        assert_eq!(r.stats.spurious_retransmits, 0);
        assert_eq!(r.stats.dsacks_received, 100);
    }

    #[test]
    fn eifel_after_timeout() {
        let mut r = sent_ten();
        episode(&mut r, Episode::Timeout);
        r.on_transmit(s(0), s(1000), t(300), true, Some(300));
        let mut v = view(1000, 0);
        v.tsecr = Some(5);
        let out = ack(&mut r, &v, [None; 4], t(301));
        assert!(out.undo);
        assert_eq!(r.take_undo().map(|u| u.1), Some(Episode::Timeout));
        assert_eq!(r.stats.spurious_rtos, 1);
        // A genuine timeout: the echo is of the retransmission.
        let mut r = sent_ten();
        episode(&mut r, Episode::Timeout);
        r.on_transmit(s(0), s(1000), t(300), true, Some(300));
        v.tsecr = Some(300);
        assert!(!ack(&mut r, &v, [None; 4], t(320)).undo);
        assert!(r.take_undo().is_none());
    }

    #[test]
    fn timer_prefers_reorder_then_probe_then_rto() {
        let mut r = sent_ten();
        let srtt = Some(Duration::from_millis(10));
        let rto = Duration::from_millis(200);
        assert_eq!(r.arm(t(100), true, srtt, false, rto), t(120));
        assert_eq!(r.timer, LossTimer::Probe);
        assert_eq!(r.arm(t(100), false, srtt, false, rto), t(300));
        assert_eq!(r.timer, LossTimer::Rto);
        assert_eq!(
            r.on_probe_timeout(false),
            Some(Probe::Retransmit(s(9000), s(10_000)))
        );
        r.on_probe_sent(s(10_000), true);
        // One probe at a time.
        assert_eq!(r.arm(t(120), true, srtt, false, rto), t(320));
        assert_eq!(r.stats.tlp_probes, 1);
        let mut r = sent_ten();
        ack(&mut r, &view(0, 0), one(s(1000), s(2000)), t(21));
        assert_eq!(r.arm(t(21), true, srtt, false, rto), t(25));
        assert_eq!(r.timer, LossTimer::Reorder);
        assert_eq!(
            r.on_reorder_timeout(t(25), false, Duration::from_millis(20)),
            1
        );
    }

    #[test]
    fn prr_gates_sending_during_recovery() {
        let mut r = sent_ten();
        assert!(r.prr_allows());
        r.start_episode(
            Episode::Recovery,
            new_controller(Algorithm::NewReno, MSS),
            s(0),
            s(10_000),
            10_000,
            5000,
        );
        assert!(!r.prr_allows());
        r.prr_ack(1000, 8000, MSS);
        assert!(r.prr_allows());
        r.on_transmit(s(0), s(1000), t(30), true, None);
        assert!(!r.prr_allows());
        let mut off = LossRecovery::new(RecoveryConfig {
            prr: false,
            ..RecoveryConfig::default()
        });
        off.start_episode(
            Episode::Recovery,
            new_controller(Algorithm::NewReno, MSS),
            s(0),
            s(10),
            10,
            5,
        );
        assert!(off.prr_allows());
    }
}
