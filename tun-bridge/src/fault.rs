//! Fault injection on the stack's outgoing packets (stack → kernel): seeded loss, duplication
//! and reordering, so loss recovery can be exercised in the direction `tc netem` on the TUN
//! cannot reach (netem shapes what the kernel sends into the TUN).

/// What to inject, as probabilities in 0.0..=1.0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Chance a packet is dropped.
    pub loss: f64,
    /// Chance a packet is held back and sent after the next one.
    pub reorder: f64,
    /// Chance a packet is sent twice.
    pub duplicate: f64,
    /// Seed, so a run can be reproduced.
    pub seed: u64,
}

impl FaultConfig {
    /// Whether anything is injected at all.
    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || self.reorder > 0.0 || self.duplicate > 0.0
    }
}

/// Counters of what was injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Packets seen.
    pub packets: u64,
    /// Dropped.
    pub dropped: u64,
    /// Sent out of order.
    pub reordered: u64,
    /// Sent twice.
    pub duplicated: u64,
}

/// Applies a [`FaultConfig`] to a packet stream.
#[derive(Debug)]
pub struct FaultInjector {
    cfg: FaultConfig,
    state: u64,
    held: Option<Vec<u8>>,
    stats: FaultStats,
}

impl FaultInjector {
    /// An injector with its own seeded generator.
    pub fn new(cfg: FaultConfig) -> Self {
        FaultInjector {
            cfg,
            state: cfg.seed | 1,
            held: None,
            stats: FaultStats::default(),
        }
    }

    fn roll(&mut self) -> f64 {
        // xorshift64*: plenty for test traffic decisions.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Passes `packet` through, calling `send` for whatever should go out now.
    pub fn process(&mut self, packet: &[u8], send: &mut dyn FnMut(&[u8])) {
        self.stats.packets += 1;
        if self.roll() < self.cfg.loss {
            self.stats.dropped += 1;
            return;
        }
        if self.held.is_none() && self.roll() < self.cfg.reorder {
            self.stats.reordered += 1;
            self.held = Some(packet.to_vec());
            return;
        }
        send(packet);
        if self.roll() < self.cfg.duplicate {
            self.stats.duplicated += 1;
            send(packet);
        }
        if let Some(h) = self.held.take() {
            send(&h);
        }
    }

    /// Sends a held-back packet, if any (call when the output goes idle).
    pub fn flush(&mut self, send: &mut dyn FnMut(&[u8])) {
        if let Some(h) = self.held.take() {
            send(&h);
        }
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: FaultConfig, n: u32) -> (Vec<u32>, FaultStats) {
        let mut f = FaultInjector::new(cfg);
        let mut out = Vec::new();
        for i in 0..n {
            f.process(&i.to_be_bytes(), &mut |p| {
                out.push(u32::from_be_bytes(p.try_into().unwrap()))
            });
        }
        f.flush(&mut |p| out.push(u32::from_be_bytes(p.try_into().unwrap())));
        (out, f.stats())
    }

    #[test]
    fn passthrough_when_inactive() {
        let (out, s) = run(FaultConfig::default(), 100);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        assert_eq!(s.dropped + s.reordered + s.duplicated, 0);
    }

    #[test]
    fn rates_are_roughly_honoured_and_reproducible() {
        let cfg = FaultConfig {
            loss: 0.05,
            reorder: 0.05,
            duplicate: 0.01,
            seed: 42,
        };
        let (out, s) = run(cfg, 20_000);
        assert!((800..1200).contains(&s.dropped), "{s:?}");
        assert!((700..1100).contains(&s.reordered), "{s:?}");
        assert_eq!(out.len() as u64, 20_000 - s.dropped + s.duplicated);
        assert!(
            out.windows(2).any(|w| w[0] > w[1]),
            "something was reordered"
        );
        assert_eq!(run(cfg, 20_000).0, out, "same seed, same run");
    }
}
