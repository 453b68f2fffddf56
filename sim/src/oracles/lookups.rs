//! Lookups a proxy answered "not found" [S-PX-2003], judged in every run with proxies: a
//! request about an interaction the proxy had no cached owner for is broadcast to every node,
//! and "not found" is the answer only when every node was asked and said so; a node not
//! connected, or one that did not answer, makes it 2003 (the interaction may be on that node).
//! `refusals.rs` judges the 2003s a proxy gave; this oracle judges the "not found"s it gave
//! where a 2003 was due, which no other oracle sees (an agent or a prober takes a "not found"
//! as an answer).
//!
//! At each `proxy-lookup-not-found` (traced by the proxy, with when the request reached it):
//!
//! - a node the proxy's shell traced as disconnected at the moment the request arrived was
//!   never asked: a violation. Only a moment strictly inside a down stretch counts: a connect
//!   or disconnect in the very millisecond the request came may have been seen by the proxy
//!   on either side of it.
//! - a node the proxy gave up on (`node-silent srvN`) in the same millisecond, just before the
//!   answer, once the proxy's request timeout had run since the request: the proxy expires
//!   every outstanding request of an operation at once, on the first tick past its deadline,
//!   so an operation still waiting then ends in that tick, with a node that did not answer.
//!
//! Not judged: a node that disconnected while the lookup was under way, as the trace does not
//! say whether it had answered first; and a forwarded request's "not found" (a cached owner
//! answers definitively even while other nodes are down), which is not traced as a lookup.
//! Must not: judge against the proxy's own idea of its connections: only the shell's
//! `connected srvN` / `disconnected srvN` and the proxy's crash count, as in `links.rs`.

use super::links::Links;
use super::refusals::{ProxyRules, PX_2003};
use super::{OracleInput, Violation};
use ixsim_core::ids::SimTime;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

/// One proxy: its links, and the nodes it traced silent in the current millisecond.
struct ProxyState {
    links: Links,
    silent_at: SimTime,
    silent: Vec<u16>,
}

pub fn proxy_lookups(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut proxies: BTreeMap<u16, ProxyState> = rules
        .hosts
        .iter()
        .map(|host| {
            let state = ProxyState {
                links: Links::new(nodes),
                silent_at: 0,
                silent: Vec::new(),
            };
            (*host, state)
        })
        .collect();
    let mut violations = Vec::new();
    for entry in &trace.entries {
        let Some(state) = proxies.get_mut(&entry.host) else {
            continue;
        };
        if state.links.observe(&entry.event, entry.at) {
            continue;
        }
        match &entry.event {
            TraceEvent::NodeSilent { node } => {
                if state.silent_at != entry.at {
                    state.silent_at = entry.at;
                    state.silent.clear();
                }
                state.silent.push(*node);
            }
            TraceEvent::ProxyLookupNotFound {
                client,
                request,
                ixn,
                asked_at_ms,
            } => {
                let Some(why) = unreachable_node(state, entry.at, *asked_at_ms, rules) else {
                    continue;
                };
                violations.push(Violation::new(
                    PX_2003,
                    entry.at,
                    format!(
                        "{} answered {client}'s {request} about {ixn} (asked at {asked_at_ms} \
                         ms) \"not found\" (3), though {why}: a broadcast lookup some node did \
                         not answer is 2003",
                        trace.host_name(entry.host),
                    ),
                ));
            }
            _ => {}
        }
    }
    violations
}

/// Why a lookup the proxy took at `asked_at` and answered "not found" at `at` cannot have
/// heard from every node, if the trace shows it.
fn unreachable_node(
    state: &ProxyState,
    at: SimTime,
    asked_at: SimTime,
    rules: &ProxyRules,
) -> Option<String> {
    let nodes = &state.links.nodes;
    if let Some(node) = (0..nodes.len()).find(|node| nodes[*node].surely_down_at(asked_at)) {
        return Some(format!("srv{node} was not connected when the request came"));
    }
    let expired = at >= asked_at.saturating_add(rules.request_timeout_ms);
    if expired && state.silent_at == at {
        if let Some(node) = state.silent.first() {
            return Some(format!(
                "its request timeout ({} ms) had run and the proxy gave up on srv{node} just \
                 before, in the tick that ended the lookup",
                rules.request_timeout_ms
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::OracleInput;
    use super::{proxy_lookups, ProxyRules};
    use crate::trace::Trace;
    use ixsim_core::ids::{IxnId, SimTime};
    use ixsim_core::trace::TraceEvent;

    const PROXY: u16 = 0;

    fn connected(node: u16) -> TraceEvent {
        TraceEvent::Connected {
            peer: format!("srv{node}"),
        }
    }

    fn disconnected(peer: &str) -> TraceEvent {
        TraceEvent::Disconnected {
            peer: peer.to_string(),
        }
    }

    fn not_found(asked_at_ms: SimTime) -> TraceEvent {
        TraceEvent::ProxyLookupNotFound {
            client: "agent1".to_string(),
            request: "RequestAccept",
            ixn: IxnId(7),
            asked_at_ms,
        }
    }

    /// The violations of a trace of proxy host 0 in front of two nodes, request timeout
    /// 1000 ms.
    fn judge(events: &[(SimTime, TraceEvent)]) -> Vec<String> {
        let mut trace = Trace::new(vec!["proxy1".to_string()]);
        for (at, event) in events {
            trace.push(*at, PROXY, event.clone());
        }
        let rules = ProxyRules {
            hosts: vec![PROXY],
            nodes: 2,
            window_ms: 1010,
            request_timeout_ms: 1000,
            ..ProxyRules::default()
        };
        let input = OracleInput {
            trace: &trace,
            databases: Vec::new(),
            views: Default::default(),
            end_ms: 5000,
            settle_ms: None,
            agent_capacity: 1,
            ors: None,
            seats: Default::default(),
            pull_hold_timeout_ms: 1000,
            owner_grace_ms: 1000,
            urs_hosts: Vec::new(),
            tick_ms: 10,
            proxies: rules.clone(),
            snapshots: Default::default(),
        };
        proxy_lookups(&input, &rules)
            .into_iter()
            .map(|violation| violation.detail)
            .collect()
    }

    /// The oracle's findings on a proxy connected to both nodes at 5 ms, then `events`.
    fn judge_both_up(events: impl IntoIterator<Item = (SimTime, TraceEvent)>) -> Vec<String> {
        let mut all = vec![(5, connected(0)), (5, connected(1))];
        all.extend(events);
        judge(&all)
    }

    #[test]
    fn s_px_2003_a_not_found_while_a_node_was_down_is_a_violation() {
        let events = [(100, disconnected("srv1")), (300, not_found(200))];
        let found = judge_both_up(events);
        assert_eq!(
            found.len(),
            1,
            "srv1 was down from 100 ms to the end: {found:?}"
        );
        assert!(found[0].contains("srv1 was not connected"), "{found:?}");

        // The same with a corrupt frame closing the connection, and with a node down over a
        // finished stretch.
        let events = [
            (100, disconnected("srv1 (corrupt frame)")),
            (300, not_found(200)),
        ];
        assert_eq!(
            judge_both_up(events).len(),
            1,
            "a corrupt frame's disconnect counts"
        );
        let events = [
            (100, disconnected("srv0")),
            (250, connected(0)),
            (300, not_found(200)),
        ];
        assert_eq!(
            judge_both_up(events).len(),
            1,
            "srv0 was down at 200 ms, up by the answer"
        );
    }

    #[test]
    fn s_px_2003_a_not_found_from_a_restarted_proxy_before_it_reconnected_is_a_violation() {
        let events = [
            (100, TraceEvent::ProcessKilled),
            (150, connected(0)),
            (300, not_found(200)),
        ];
        let found = judge_both_up(events);
        assert_eq!(found.len(), 1, "srv1 was never reconnected: {found:?}");
    }

    #[test]
    fn s_px_2003_a_not_found_after_a_node_was_given_up_on_is_a_violation() {
        let events = [
            (1210, TraceEvent::NodeSilent { node: 1 }),
            (1210, not_found(200)),
        ];
        let found = judge_both_up(events);
        assert_eq!(
            found.len(),
            1,
            "the lookup ended in the tick that gave up on srv1"
        );
        assert!(found[0].contains("gave up on srv1"), "{found:?}");
    }

    #[test]
    fn s_px_2003_a_not_found_with_every_node_reachable_passes() {
        let events = [(300, not_found(200))];
        assert_eq!(
            judge_both_up(events),
            Vec::<String>::new(),
            "both nodes up throughout"
        );

        // A connect or disconnect in the very millisecond the request came may be on either
        // side of it.
        let events = [(200, disconnected("srv1")), (300, not_found(200))];
        assert_eq!(
            judge_both_up(events),
            Vec::<String>::new(),
            "srv1 went down as the request came"
        );

        // A node that went down during the lookup may have answered first.
        let events = [(250, disconnected("srv1")), (300, not_found(200))];
        assert_eq!(
            judge_both_up(events),
            Vec::<String>::new(),
            "srv1 went down after the request"
        );

        // A node given up on before the lookup's request timeout ran was another operation's
        // silence, whether in the answer's millisecond or an earlier one.
        let events = [
            (1100, TraceEvent::NodeSilent { node: 1 }),
            (1100, not_found(200)),
        ];
        assert_eq!(
            judge_both_up(events),
            Vec::<String>::new(),
            "the lookup's timeout had not run"
        );
        let events = [
            (900, TraceEvent::NodeSilent { node: 1 }),
            (1205, not_found(200)),
        ];
        assert_eq!(
            judge_both_up(events),
            Vec::<String>::new(),
            "given up on in an earlier tick"
        );
    }
}
