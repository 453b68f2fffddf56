//! [S-LIC-revoke] "a login refused by one node (no seat) revokes that agent's logins on all
//! others", judged on every run with proxies.
//!
//! A proxy that refuses a login (`proxy-agent-refused <agent> login`, whatever the code: the
//! product revokes on any refusal) must log the agent out of every node that has it logged in
//! at that moment. No time bound holds for the logout under held links, so the rule is judged
//! where order makes it exact: the proxy sends the logout on its connection to the node before
//! anything it sends later, so once that node answered a later request of the same agent (the
//! proxy's next `proxy-agent-acked`, or a later refusal listing the node in `acked=`) over the
//! same connection, the node must have logged the agent out since the refusal.
//!
//! Judged, for a refusal at `t` and the agent's next proxy answer at `t2` (its request reached
//! the proxy after `t`): each node `srvN` that the proxy was connected to at `t` without a
//! break until `t2` and that answered the later request, through its host that started node
//! `N` last (a deposed primary answers nothing once fenced) before the connection was made and
//! still runs. If that host had the agent logged in at `t` and has not logged it out since, the
//! rule is broken. Not judged: a refusal that is the agent's last (the run ends first), and
//! nodes whose connection broke in between (the node logs out a departed client's agents by
//! itself).

use super::nodes::srv_index;
use super::refusals::{node_index, ProxyRules};
use super::{OracleInput, Violation};
use ixsim_core::ids::{AgentId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const LIC_REVOKE: &str = "S-LIC-revoke";

/// One IS host's node process and its logged-in agents.
#[derive(Default)]
struct Host {
    node: Option<u16>,
    started_at: SimTime,
    alive: bool,
    logged_in: BTreeSet<AgentId>,
    /// When each agent was last logged out here.
    logged_out: BTreeMap<AgentId, SimTime>,
}

/// One proxy's connection to a node: up or not, and a number that changes on every connect,
/// disconnect and crash of the proxy.
#[derive(Clone, Copy, Default)]
struct Link {
    up: bool,
    generation: u64,
    connected_at: SimTime,
}

/// A refused login whose revocation is still to be judged on `host` (serving `node`).
struct Pending {
    at: SimTime,
    host: u16,
    /// The host's node process then.
    started_at: SimTime,
    node: usize,
    generation: u64,
}

pub fn proxy_revoke(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut violations = Vec::new();
    let mut hosts: BTreeMap<u16, Host> = BTreeMap::new();
    // The host that started each node last, by the proxy's index of it (srvN).
    let mut serving: BTreeMap<u16, u16> = BTreeMap::new();
    let mut links: BTreeMap<u16, Vec<Link>> = rules
        .hosts
        .iter()
        .map(|host| (*host, vec![Link::default(); nodes]))
        .collect();
    let mut pending: BTreeMap<(u16, AgentId), Vec<Pending>> = BTreeMap::new();
    for entry in &trace.entries {
        let at = entry.at;
        if let Some(proxy_links) = links.get_mut(&entry.host) {
            let proxy = entry.host;
            match &entry.event {
                TraceEvent::Connected { peer } | TraceEvent::Disconnected { peer } => {
                    if let Some(link) = node_index(peer).and_then(|n| proxy_links.get_mut(n)) {
                        link.up = matches!(entry.event, TraceEvent::Connected { .. });
                        link.generation += 1;
                        link.connected_at = at;
                    }
                }
                TraceEvent::ProcessKilled => {
                    for link in proxy_links.iter_mut() {
                        link.up = false;
                        link.generation += 1;
                    }
                    pending.retain(|(p, _), _| *p != proxy);
                }
                TraceEvent::ProxyAgentAcked {
                    agent, asked_at_ms, ..
                }
                | TraceEvent::ProxyAgentRefused {
                    agent, asked_at_ms, ..
                } => {
                    // Which nodes answered this request: all it asked, for an ack.
                    let answered = |node: usize| match &entry.event {
                        TraceEvent::ProxyAgentRefused { acked, .. } => {
                            acked.iter().any(|n| usize::from(*n) == node)
                        }
                        _ => true,
                    };
                    let judged = pending.remove(&(proxy, *agent)).unwrap_or_default();
                    for p in judged.iter().filter(|p| p.at < *asked_at_ms) {
                        let link = proxy_links[p.node];
                        let host = &hosts[&p.host];
                        let same = link.up
                            && link.generation == p.generation
                            && host.alive
                            && host.started_at == p.started_at
                            && serving.get(&(p.node as u16)) == Some(&p.host)
                            && answered(p.node);
                        let logged_out = host.logged_out.get(agent).is_some_and(|t| *t >= p.at);
                        if same && !logged_out {
                            violations.push(Violation {
                                oracle: LIC_REVOKE,
                                at_ms: at,
                                detail: format!(
                                    "{} refused {agent}'s login at {} ms, yet {} (srv{}) still has \
                                     it logged in after answering its next request (asked at {asked_at_ms} ms) \
                                     on the same connection",
                                    trace.host_name(proxy),
                                    p.at,
                                    trace.host_name(p.host),
                                    p.node
                                ),
                            });
                        }
                    }
                    if let TraceEvent::ProxyAgentRefused { request, .. } = &entry.event {
                        if *request == "RequestAgentLogin" {
                            let revoke = (0..nodes).filter_map(|node| {
                                let link = proxy_links[node];
                                let host = *serving.get(&(node as u16))?;
                                let state = &hosts[&host];
                                let judged = link.up
                                    && state.alive
                                    && state.started_at < link.connected_at
                                    && state.logged_in.contains(agent);
                                judged.then_some(Pending {
                                    at,
                                    host,
                                    started_at: state.started_at,
                                    node,
                                    generation: link.generation,
                                })
                            });
                            pending.insert((proxy, *agent), revoke.collect());
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                if let Some(index) = srv_index(*node) {
                    serving.insert(index, entry.host);
                }
                hosts.insert(
                    entry.host,
                    Host {
                        node: Some(*node),
                        started_at: at,
                        alive: true,
                        logged_in: BTreeSet::new(),
                        logged_out: BTreeMap::new(),
                    },
                );
            }
            TraceEvent::ProcessKilled => {
                if let Some(host) = hosts.get_mut(&entry.host) {
                    host.alive = false;
                    host.logged_in.clear();
                }
            }
            TraceEvent::AgentLoggedIn { agent } => {
                if let Some(host) = hosts.get_mut(&entry.host).filter(|h| h.node.is_some()) {
                    host.logged_in.insert(*agent);
                }
            }
            TraceEvent::AgentLoggedOut { agent } => {
                if let Some(host) = hosts.get_mut(&entry.host) {
                    host.logged_in.remove(agent);
                    host.logged_out.insert(*agent, at);
                }
            }
            _ => {}
        }
    }
    violations
}
