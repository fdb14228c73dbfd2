//! `filter`: reads and changes the running stack's firewall between two packets (the loop
//! owns the stack, so every change is atomic). A rule set or rule that does not parse changes
//! nothing and is refused with its line and column.

use crate::daemon::proto::{Body, ErrorCode, ErrorReply, FilterReply, FilterRequest, FilterRule};
use crate::daemon::server::Ctx;
use ustack::filter::fw::{Firewall, Hook, Verdict, DEFAULT_CONNTRACK_MAX};
use ustack::Stack;

pub(crate) fn handle(ctx: &Ctx, req: FilterRequest) -> Body {
    match ctx.net.with_stack(|s| apply(s, &req)) {
        Ok(reply) => Body::Filter(reply),
        Err(message) => Body::Error(ErrorReply {
            code: ErrorCode::BadRequest,
            message,
        }),
    }
}

/// The hook a chain name names.
pub fn hook_named(name: &str) -> Result<Hook, String> {
    Hook::ALL
        .into_iter()
        .find(|h| h.name() == name)
        .ok_or_else(|| format!("unknown chain `{name}` (input, output or fragments)"))
}

fn apply(s: &mut Stack, req: &FilterRequest) -> Result<FilterReply, String> {
    let mut added = None;
    let rule = || req.rule.as_deref().ok_or("`rule` is missing");
    let chain = || hook_named(req.chain.as_deref().unwrap_or("input"));
    match req.op.as_deref().unwrap_or("list") {
        "list" | "counters" => {}
        "add" => {
            let (hook, text) = (chain()?, rule()?);
            added = Some(
                s.firewall_mut()
                    .add_rule(hook, text, None)
                    .map_err(|e| e.to_string())?,
            );
        }
        "insert" => {
            let (hook, text) = (chain()?, rule()?);
            let at = Some(req.position.unwrap_or(0));
            added = Some(
                s.firewall_mut()
                    .add_rule(hook, text, at)
                    .map_err(|e| e.to_string())?,
            );
        }
        "delete" => {
            let id = req.handle.ok_or("`handle` is missing")?;
            if !s.firewall_mut().delete_rule(id) {
                return Err(format!("no rule with handle {id}"));
            }
        }
        "flush" => s.firewall_mut().flush(),
        "replace" | "check" => {
            let text = req.ruleset.as_deref().ok_or("`ruleset` is missing")?;
            let fw = Firewall::parse(text, DEFAULT_CONNTRACK_MAX).map_err(|e| e.to_string())?;
            if req.op.as_deref() == Some("replace") {
                s.set_firewall(Some(fw));
            }
        }
        other => return Err(format!("unknown op `{other}`")),
    }
    Ok(reply(s.firewall(), added))
}

/// The rule set `fw` (none: empty) as a reply.
pub fn reply(fw: Option<&Firewall>, added: Option<u32>) -> FilterReply {
    let Some(fw) = fw else {
        let policies = Hook::ALL
            .iter()
            .map(|h| (h.name().to_string(), "accept".to_string(), 0))
            .collect();
        return FilterReply {
            policies,
            added,
            ..FilterReply::default()
        };
    };
    let rules = fw
        .rules()
        .map(|(h, r)| FilterRule {
            id: r.id,
            chain: h.name().to_string(),
            text: r.text.clone(),
            packets: r.packets,
            bytes: r.bytes,
        })
        .collect();
    let policies = Hook::ALL
        .iter()
        .map(|&h| {
            let c = fw.chain(h);
            let p = if c.policy == Verdict::Drop {
                "drop"
            } else {
                "accept"
            };
            (h.name().to_string(), p.to_string(), c.policy_drops)
        })
        .collect();
    FilterReply {
        rules,
        policies,
        conntrack_flows: fw.conntrack().len() as u64,
        conntrack_evicted: fw.conntrack().evicted,
        added,
        text: fw.to_text(),
    }
}
