//! A connection's timers as a table of deadlines (quinn-proto's shape): each is an
//! `Option<Instant>`, the earliest one is when the connection next needs `on_timeout`.

use crate::time::Instant;

/// The timers of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission timeout (RFC 6298), also drives SYN and FIN retransmission.
    Retransmit,
    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2).
    DelayedAck,
    /// Zero-window probe (RFC 9293 §3.8.6.1).
    Persist,
    /// Keepalive probe (RFC 1122 §4.2.3.6), off unless enabled.
    Keepalive,
    /// End of TIME-WAIT (2×MSL, RFC 9293 §3.6.1).
    TimeWait,
    /// An orphan (closed by the app) waiting in FIN-WAIT-2 for the peer's FIN gives up
    /// (`Config::tcp_fin_timeout`, Linux's `tcp_fin_timeout`).
    FinWait2,
}

const ALL: [Timer; 6] = [
    Timer::Retransmit,
    Timer::DelayedAck,
    Timer::Persist,
    Timer::Keepalive,
    Timer::TimeWait,
    Timer::FinWait2,
];

/// Deadlines by timer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timers {
    deadlines: [Option<Instant>; 6],
}

impl Timers {
    /// Arms `t` to fire at `at` (replacing any previous deadline).
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.deadlines[t as usize] = Some(at);
    }

    /// Disarms `t`.
    pub fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = None;
    }

    /// The deadline of `t`, if armed.
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.deadlines[t as usize]
    }

    /// Whether `t` is armed.
    pub fn is_set(&self, t: Timer) -> bool {
        self.get(t).is_some()
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.deadlines = [None; 6];
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().copied().min()
    }

    /// Disarms and returns the timers due at `now`, in table order.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> {
        let mut due = [None; 6];
        for (i, t) in ALL.iter().enumerate() {
            if self.deadlines[i].is_some_and(|d| d <= now) {
                self.deadlines[i] = None;
                due[i] = Some(*t);
            }
        }
        due.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_and_expiry() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Persist, Instant::from_millis(50));
        t.set(Timer::Retransmit, Instant::from_millis(20));
        t.set(Timer::TimeWait, Instant::from_millis(90));
        assert_eq!(t.next(), Some(Instant::from_millis(20)));
        let due: Vec<_> = t.expired(Instant::from_millis(60)).collect();
        assert_eq!(due, vec![Timer::Retransmit, Timer::Persist]);
        assert_eq!(t.next(), Some(Instant::from_millis(90)));
        t.stop(Timer::TimeWait);
        assert_eq!(t.next(), None);
    }
}
