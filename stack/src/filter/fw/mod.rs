//! The firewall: nftables-like rules in three chains, named sets, connection tracking.
//!
//! **Where it looks.** `fragments` sees every packet that passed IP validation, before
//! reassembly — fragments as fragments, so only IP-level matches (addresses, protocol, length,
//! TTL, `ip frag`) are meaningful there; a port or flag match never holds on a later fragment.
//! `input` sees each whole datagram after reassembly (and every packet that was never
//! fragmented), with its connection-tracking state. `output` sees each packet the stack sends
//! (fragments of a large datagram one by one, as on the wire; raw sockets' packets too).
//! A chain's rules are tried in order; the first verdict (accept, drop, reject) ends the walk;
//! if none comes, the chain's policy decides (accept unless `policy drop`).
//!
//! **Cost.** A rule is a few comparisons; a set lookup is a binary search over merged ranges
//! (addresses) or one bit (ports), so a 10,000-address set costs O(log n) per packet, never a
//! scan. Connection tracking is one hash lookup (or two) per packet, in a bounded table.
//!
//! The language is in [`parse`]; docs/FIREWALL.md has the grammar and the differences from nft.

pub mod conntrack;
mod names;
mod parse;
pub mod rule;
pub mod sets;
#[cfg(test)]
mod tests;
pub mod view;

use crate::time::Instant;
pub use conntrack::{Conntrack, CtState};
pub use parse::RuleError;
pub use rule::{RejectWith, Rule, Verdict};
use sets::{AddrSet, PortSet};
pub use view::View;

/// The three places rules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Every validated packet before reassembly.
    Fragments,
    /// Whole datagrams to the stack, with their conntrack state.
    Input,
    /// Packets the stack sends.
    Output,
}

impl Hook {
    /// Every hook, in chain order.
    pub const ALL: [Hook; 3] = [Hook::Fragments, Hook::Input, Hook::Output];

    /// The chain's name in the rule language.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Fragments => "fragments",
            Hook::Input => "input",
            Hook::Output => "output",
        }
    }
}

/// A chain: rules in order and a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// What happens when no rule gives a verdict: accept (the default) or drop.
    pub policy: Verdict,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Packets the policy dropped.
    pub policy_drops: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            policy: Verdict::Accept,
            rules: Vec::new(),
            policy_drops: 0,
        }
    }
}

/// What the firewall decided about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The rule that gave it; `None`: the chain's policy.
    pub rule: Option<u32>,
    /// The packet's connection-tracking state (`Untracked` in `fragments`).
    pub ct: CtState,
}

/// Most flows the tracker holds by default.
pub const DEFAULT_CONNTRACK_MAX: usize = 65_536;

/// A rule set with its sets and tracker.
#[derive(Debug)]
pub struct Firewall {
    chains: [Chain; 3],
    addr_sets: Vec<AddrSet>,
    port_sets: Vec<PortSet>,
    /// Set names: (name, is a port set, index, the definition as text).
    set_names: Vec<(String, bool, usize, String)>,
    conntrack: Conntrack,
    next_id: u32,
}

impl Firewall {
    /// An empty rule set (every chain accepts), tracking at most `conntrack_max` flows.
    pub fn new(conntrack_max: usize) -> Firewall {
        Firewall {
            chains: Default::default(),
            addr_sets: Vec::new(),
            port_sets: Vec::new(),
            set_names: Vec::new(),
            conntrack: Conntrack::new(conntrack_max),
            next_id: 1,
        }
    }

    /// Parses a whole rule set (sets and chains); nothing of it applies if any line is wrong.
    pub fn parse(text: &str, conntrack_max: usize) -> Result<Firewall, RuleError> {
        let mut fw = Firewall::new(conntrack_max);
        parse::parse_ruleset(&mut fw, text)?;
        Ok(fw)
    }

    /// Adds a rule (one line of the language, e.g. `tcp dport 22 drop`) to `hook`'s chain, at
    /// `position` (None: at the end); returns its id. Sets it names must exist.
    pub fn add_rule(
        &mut self,
        hook: Hook,
        text: &str,
        position: Option<usize>,
    ) -> Result<u32, RuleError> {
        let rule = parse::parse_rule(self, text, 1)?;
        let id = rule.id;
        let rules = &mut self.chain_mut(hook).rules;
        let at = position.unwrap_or(rules.len()).min(rules.len());
        rules.insert(at, rule);
        Ok(id)
    }

    /// Deletes the rule with `id` from whichever chain holds it.
    pub fn delete_rule(&mut self, id: u32) -> bool {
        for c in &mut self.chains {
            if let Some(i) = c.rules.iter().position(|r| r.id == id) {
                c.rules.remove(i);
                return true;
            }
        }
        false
    }

    /// Removes every rule (sets, policies and the tracker stay).
    pub fn flush(&mut self) {
        for c in &mut self.chains {
            c.rules.clear();
        }
    }

    /// The chain of `hook`.
    pub fn chain(&self, hook: Hook) -> &Chain {
        &self.chains[hook as usize]
    }

    pub(crate) fn chain_mut(&mut self, hook: Hook) -> &mut Chain {
        &mut self.chains[hook as usize]
    }

    pub(crate) fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The connection tracker.
    pub fn conntrack(&self) -> &Conntrack {
        &self.conntrack
    }

    /// Whether any chain has a rule or a drop policy (an empty firewall is skipped).
    pub fn is_empty(&self) -> bool {
        self.chains
            .iter()
            .all(|c| c.rules.is_empty() && c.policy == Verdict::Accept)
    }

    /// Decides about `packet` at `hook` (tracking it in `input` and `output`).
    pub fn check(&mut self, now: Instant, hook: Hook, packet: &[u8]) -> Decision {
        let Some(v) = View::parse(packet) else {
            // Not a readable packet (the stack never hands one): nothing to match on.
            return Decision {
                verdict: Verdict::Accept,
                rule: None,
                ct: CtState::Untracked,
            };
        };
        let ct = match hook {
            Hook::Fragments => CtState::Untracked,
            Hook::Input | Hook::Output => self.conntrack.track(now, &v, packet),
        };
        let ctx = rule::Ctx {
            addr_sets: &self.addr_sets,
            port_sets: &self.port_sets,
            ct,
            now,
        };
        let chain = &mut self.chains[hook as usize];
        for r in &mut chain.rules {
            if r.applies(&v, &ctx) {
                if let Some(verdict) = r.verdict {
                    return Decision {
                        verdict,
                        rule: Some(r.id),
                        ct,
                    };
                }
            }
        }
        if chain.policy != Verdict::Accept {
            chain.policy_drops += 1;
        }
        Decision {
            verdict: chain.policy,
            rule: None,
            ct,
        }
    }

    /// Rules of every chain with their counters, in chain order: (hook, rule).
    pub fn rules(&self) -> impl Iterator<Item = (Hook, &Rule)> {
        Hook::ALL
            .into_iter()
            .flat_map(move |h| self.chain(h).rules.iter().map(move |r| (h, r)))
    }

    /// The rule set as text (sets, then chains): what `parse` reads back.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (.., text) in &self.set_names {
            out.push_str(text);
            out.push('\n');
        }
        for h in Hook::ALL {
            let c = self.chain(h);
            out.push_str(&format!("chain {} {{\n", h.name()));
            if c.policy == Verdict::Drop {
                out.push_str("    policy drop\n");
            }
            for r in &c.rules {
                out.push_str(&format!("    {}  # handle {}\n", r.text, r.id));
            }
            out.push_str("}\n");
        }
        out
    }
}
