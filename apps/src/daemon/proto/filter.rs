//! `filter`: the firewall of the running stack — list, counters, add, insert, delete, flush,
//! replace (atomically) and check (docs/FIREWALL.md).

use serde::{Deserialize, Serialize};

/// Parameters of `filter`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterRequest {
    /// `list` (default), `add`, `insert`, `delete`, `flush`, `replace` or `check`.
    #[serde(default)]
    pub op: Option<String>,
    /// `add`/`insert`: the chain (`input`, `output`, `fragments`).
    #[serde(default)]
    pub chain: Option<String>,
    /// `add`/`insert`: the rule, one line of the language.
    #[serde(default)]
    pub rule: Option<String>,
    /// `insert`: the position in the chain (0 = first; default 0).
    #[serde(default)]
    pub position: Option<usize>,
    /// `delete`: the rule's handle (not `id`: that is the request's own).
    #[serde(default)]
    pub handle: Option<u32>,
    /// `replace`/`check`: a whole rule set.
    #[serde(default)]
    pub ruleset: Option<String>,
}

/// One rule with its counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterRule {
    /// Its handle.
    pub id: u32,
    /// Its chain.
    pub chain: String,
    /// Its text.
    pub text: String,
    /// Packets that matched it.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The answer to `filter`: the rule set after the operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterReply {
    /// Every rule, chain by chain, in order.
    pub rules: Vec<FilterRule>,
    /// Each chain's policy (`accept`/`drop`) and the packets its drop policy dropped.
    pub policies: Vec<(String, String, u64)>,
    /// Flows tracked now.
    pub conntrack_flows: u64,
    /// Flows evicted from a full tracker.
    pub conntrack_evicted: u64,
    /// The handle of a rule `add`/`insert` made.
    #[serde(default)]
    pub added: Option<u32>,
    /// The whole rule set as text (what `replace` reads back).
    pub text: String,
}
