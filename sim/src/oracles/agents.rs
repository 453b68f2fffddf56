//! Agent requests through a proxy [S-PX-agent] "agent login/logout go to all nodes at once":
//! judged on every run with proxies, at each `proxy-agent-acked` (the proxy told the desktop
//! its login, logout or ready succeeded). At that moment every node of the agent's tenant that
//! the proxy had been connected to since before the request reached it, and whose process
//! has run since before that connection, has carried the request out:
//!
//! - a login: the agent is logged in there (`login`);
//! - a ready: the agent is logged in and ready there (`ready`);
//! - a logout: the agent is logged out there.
//!
//! Not judged: a node that logged the agent out (for a logout: in) itself since the request
//! (seats lowered [S-LIC-shrink], its connection gone); a node the proxy connected to while
//! the request ran (the proxy logs the agent in there after its ack, with the replay of its
//! agent table, and no time bound on that holds under held or partitioned links); not-ready,
//! which nodes do not trace. The replay itself (a node that reconnects gets the proxy's
//! agents again) is judged by the proxy model test.
//!
//! A proxy's node connections are its own `connected srvN` / `disconnected srvN` facts; a
//! proxy's crash drops them all. Which host of pair N+1 a connection reached is the host that
//! traced the proxy's own `registered <proxy>` after it (a backup refuses the registration);
//! that host is judged, for as long as the process that took the registration runs: a deposed
//! primary that has not heard of its successor yet serves its connections until it is fenced
//! or demoted, and a node that answered and died before the proxy's ack is not judged. A
//! host's agents are its `login`, `logout` and `ready` facts, and start empty with its
//! `node-started` (nodes keep agents in memory only).

use super::nodes::srv_index;
use super::refusals::{node_index, ProxyRules};
use super::{OracleInput, Violation};
use ixsim_core::ids::{AgentId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const PX_AGENT: &str = "S-PX-agent";

/// One node process's agents, as its facts tell.
struct Agents {
    node: u16,
    started_at: SimTime,
    /// Logged-in agents, with when they logged in.
    logged_in: BTreeMap<AgentId, SimTime>,
    ready: BTreeSet<AgentId>,
    /// When each agent last logged out.
    logged_out: BTreeMap<AgentId, SimTime>,
}

/// Where one of a proxy's node connections goes.
#[derive(Clone, Copy)]
enum Reached {
    /// Up, the proxy's registration not yet taken.
    Unknown,
    /// This host took the registration; its node process started at the second field.
    Host(u16, SimTime),
    /// Two hosts took a registration on it (a late one through an old connection): not judged.
    Unclear,
}

pub fn proxy_agents(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut violations = Vec::new();
    // Proxy host -> per node connection: since when it is up, and where it goes.
    let mut links: BTreeMap<u16, Vec<Option<(SimTime, Reached)>>> = rules
        .hosts
        .iter()
        .map(|host| (*host, vec![None; nodes]))
        .collect();
    // Node host -> its running node process.
    let mut hosts: BTreeMap<u16, Agents> = BTreeMap::new();
    for entry in &trace.entries {
        let at = entry.at;
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                hosts.insert(
                    entry.host,
                    Agents {
                        node: *node,
                        started_at: at,
                        logged_in: BTreeMap::new(),
                        ready: BTreeSet::new(),
                        logged_out: BTreeMap::new(),
                    },
                );
            }
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                hosts.remove(&entry.host);
            }
            TraceEvent::AgentLoggedIn { agent } => {
                if let Some(agents) = hosts.get_mut(&entry.host) {
                    agents.logged_in.insert(*agent, at);
                }
            }
            TraceEvent::AgentLoggedOut { agent } => {
                if let Some(agents) = hosts.get_mut(&entry.host) {
                    agents.logged_in.remove(agent);
                    agents.ready.remove(agent);
                    agents.logged_out.insert(*agent, at);
                }
            }
            TraceEvent::AgentReady { agent } => {
                if let Some(agents) = hosts.get_mut(&entry.host) {
                    agents.ready.insert(*agent);
                }
            }
            TraceEvent::ClientRegistered { client } => {
                let Some(agents) = hosts.get(&entry.host) else {
                    continue;
                };
                let proxy = trace.hosts.iter().position(|name| name == client);
                let link = proxy
                    .and_then(|proxy| links.get_mut(&(proxy as u16)))
                    .and_then(|links| {
                        let index = usize::from(srv_index(agents.node)?);
                        links.get_mut(index)
                    });
                if let Some(Some((_, reached))) = link {
                    *reached = match reached {
                        Reached::Unknown => Reached::Host(entry.host, agents.started_at),
                        Reached::Host(host, _) if *host == entry.host => *reached,
                        Reached::Host(..) | Reached::Unclear => Reached::Unclear,
                    };
                }
            }
            _ => {}
        }
        let Some(links) = links.get_mut(&entry.host) else {
            continue;
        };
        match &entry.event {
            TraceEvent::Connected { peer } => {
                if let Some(link) = node_index(peer).and_then(|node| links.get_mut(node)) {
                    *link = Some((at, Reached::Unknown));
                }
            }
            TraceEvent::Disconnected { peer } => {
                if let Some(link) = node_index(peer).and_then(|node| links.get_mut(node)) {
                    *link = None;
                }
            }
            TraceEvent::ProcessKilled => links.iter_mut().for_each(|link| *link = None),
            TraceEvent::ProxyAgentAcked {
                agent,
                request,
                tenant,
                asked_at_ms,
            } => {
                for (node, link) in links.iter().enumerate() {
                    let serves = rules
                        .node_tenants
                        .get(node)
                        .is_some_and(|tenants| tenants.contains(tenant));
                    let Some((since, Reached::Host(host, started_at))) = link else {
                        continue;
                    };
                    if !serves || since > asked_at_ms {
                        continue;
                    }
                    let Some(agents) = hosts
                        .get(host)
                        .filter(|agents| agents.started_at == *started_at)
                    else {
                        continue;
                    };
                    let in_since = agents.logged_in.get(agent).copied();
                    let out_since = agents.logged_out.get(agent).copied();
                    let problem = match *request {
                        "RequestAgentLogin" | "RequestAgentReady"
                            if out_since.is_some_and(|out| out >= *asked_at_ms) =>
                        {
                            None
                        }
                        "RequestAgentLogin" if in_since.is_none() => Some("not logged in"),
                        "RequestAgentReady" if in_since.is_none() => Some("not logged in"),
                        "RequestAgentReady" if !agents.ready.contains(agent) => {
                            Some("logged in but not ready")
                        }
                        "RequestAgentLogout"
                            if in_since.is_some_and(|since| since < *asked_at_ms) =>
                        {
                            Some("still logged in")
                        }
                        _ => None,
                    };
                    if let Some(problem) = problem {
                        violations.push(Violation {
                            oracle: PX_AGENT,
                            at_ms: at,
                            detail: format!(
                                "{} acknowledged {request} of {agent} (asked at {asked_at_ms} ms), but {} (node {}, its srv{node} since {since} ms) has {agent} {problem}",
                                trace.host_name(entry.host),
                                trace.host_name(*host),
                                agents.node
                            ),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    violations
}
