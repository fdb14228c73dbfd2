//! A finished scan's per-host reports, grouped as nmap groups them: every state but `open`
//! with more than 25 ports is left out of the list and summed up ("Not shown: 997 closed tcp
//! ports (reset)"; nmap's `PortList::isIgnoredState`).

use super::engine::Engine;
use crate::daemon::proto::{ExtraPorts, PortResult, PortState, Proto, Reason, ScanEvent, ScanType};
use std::collections::BTreeMap;

/// More ports than this in one state (other than open) are not listed one by one.
pub const MAX_SHOWN_PER_STATE: usize = 25;

/// The report of host `i` of a finished (or stopped) scan. A port still undecided (the scan
/// was stopped) counts as having had no response.
pub fn host_report(e: &Engine, i: usize) -> Option<ScanEvent> {
    let cfg = e.config();
    let addr = *cfg.hosts.get(i)?;
    let proto = cfg.scan.proto();
    let up = e.host_up(i);
    let latency_s = e.host_latency(i).map(|d| d.as_secs_f64());
    if cfg.scan == ScanType::Ping {
        return Some(ScanEvent::Host {
            addr,
            up: up.is_some(),
            reason: up,
            latency_s,
            ports: Vec::new(),
            extra: Vec::new(),
        });
    }
    let all: Vec<PortResult> = e
        .host_ports(i)
        .map(|(port, d)| {
            let (state, reason, reason_ttl) = match d {
                Some(d) => (d.state, d.reason, d.ttl),
                None => (super::state::silent(cfg.scan), Reason::NoResponse, None),
            };
            PortResult {
                port,
                proto,
                state,
                reason,
                reason_ttl,
            }
        })
        .collect();
    let (ports, extra) = group(all);
    Some(ScanEvent::Host {
        addr,
        up: up.is_some(),
        reason: up,
        latency_s,
        ports,
        extra,
    })
}

/// Splits ports into those listed (by port number) and the states summed up.
pub fn group(mut all: Vec<PortResult>) -> (Vec<PortResult>, Vec<ExtraPorts>) {
    let proto = all.first().map_or(Proto::Tcp, |p| p.proto);
    let mut counts: BTreeMap<PortState, BTreeMap<Reason, usize>> = BTreeMap::new();
    for p in &all {
        *counts
            .entry(p.state)
            .or_default()
            .entry(p.reason)
            .or_default() += 1;
    }
    let hidden: Vec<PortState> = counts
        .iter()
        .filter(|(s, r)| **s != PortState::Open && r.values().sum::<usize>() > MAX_SHOWN_PER_STATE)
        .map(|(s, _)| *s)
        .collect();
    let mut extra: Vec<ExtraPorts> = hidden
        .iter()
        .map(|s| {
            let mut reasons: Vec<(Reason, usize)> =
                counts[s].iter().map(|(r, n)| (*r, *n)).collect();
            reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ExtraPorts {
                proto,
                state: *s,
                count: reasons.iter().map(|r| r.1).sum(),
                reasons,
            }
        })
        .collect();
    extra.sort_by_key(|e| std::cmp::Reverse(e.count));
    all.retain(|p| !hidden.contains(&p.state));
    all.sort_by_key(|p| p.port);
    (all, extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(port: u16, state: PortState, reason: Reason) -> PortResult {
        PortResult {
            port,
            proto: Proto::Tcp,
            state,
            reason,
            reason_ttl: None,
        }
    }

    #[test]
    fn big_states_are_summed_up_and_open_never_is() {
        let mut all: Vec<PortResult> = (1..=997)
            .map(|p| port(p, PortState::Closed, Reason::Reset))
            .collect();
        all.push(port(2000, PortState::Open, Reason::SynAck));
        for p in 3000..3030 {
            let reason = if p < 3002 {
                Reason::AdminProhibited
            } else {
                Reason::NoResponse
            };
            all.push(port(p, PortState::Filtered, reason));
        }
        for p in 4000..4040 {
            all.push(port(p, PortState::Open, Reason::SynAck));
        }
        let (shown, extra) = group(all);
        assert_eq!(shown.len(), 41);
        assert!(shown.iter().all(|p| p.state == PortState::Open));
        assert_eq!(extra.len(), 2);
        assert_eq!((extra[0].state, extra[0].count), (PortState::Closed, 997));
        assert_eq!(extra[0].reasons, vec![(Reason::Reset, 997)]);
        assert_eq!(
            extra[1].reasons,
            vec![(Reason::NoResponse, 28), (Reason::AdminProhibited, 2)]
        );
    }

    #[test]
    fn small_states_are_listed() {
        let all = vec![
            port(23, PortState::Closed, Reason::Reset),
            port(22, PortState::Open, Reason::SynAck),
            port(24, PortState::Filtered, Reason::NoResponse),
        ];
        let (shown, extra) = group(all);
        assert!(extra.is_empty());
        let order: Vec<u16> = shown.iter().map(|p| p.port).collect();
        assert_eq!(order, vec![22, 23, 24]);
    }
}
