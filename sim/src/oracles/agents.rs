//! Agent requests through a proxy [S-PX-agent] "agent login/logout go to all nodes at once":
//! judged on every run with proxies, at each `proxy-agent-acked` (the proxy told the desktop
//! its login, logout or ready succeeded). At that moment every node of the agent's tenant that
//! the proxy had been connected to since before the millisecond the request reached it, and whose process
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

use super::links::Links;
use super::logins::{AgentTables, NodeAgents};
use super::nodes::srv_index;
use super::refusals::ProxyRules;
use super::{OracleInput, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::{AgentId, SimTime, TenantId};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const PX_AGENT: &str = "S-PX-agent";

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
    let mut acks = AgentAcks {
        trace: input.trace,
        rules,
        links: Links::of_proxies(rules),
        reached: BTreeMap::new(),
        tables: AgentTables::default(),
        violations: Vec::new(),
    };
    for entry in &input.trace.entries {
        acks.observe(entry);
    }
    acks.violations
}

/// The oracle's state over the trace.
struct AgentAcks<'a> {
    trace: &'a Trace,
    rules: &'a ProxyRules,
    /// Proxy host -> its node connections.
    links: BTreeMap<u16, Links>,
    /// (proxy host, node index) -> where that connection goes, for the link generation it was
    /// learnt in (a new connection starts `Unknown`).
    reached: BTreeMap<(u16, usize), (u64, Reached)>,
    /// Node host -> its running node process's agents.
    tables: AgentTables,
    violations: Vec<Violation>,
}

impl AgentAcks<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        self.tables.observe(entry);
        match &entry.event {
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                self.tables.end(entry.host);
            }
            TraceEvent::ClientRegistered { client } => self.registered(entry.host, client),
            _ => {}
        }
        let Some(links) = self.links.get_mut(&entry.host) else {
            return;
        };
        if links.observe(&entry.event, entry.at) {
            return;
        }
        if let TraceEvent::ProxyAgentAcked {
            agent,
            request,
            tenant,
            asked_at_ms,
        } = &entry.event
        {
            self.judge_ack(entry, *agent, request, *tenant, *asked_at_ms);
        }
    }

    /// Where the connection of proxy host `key.0` to node `key.1` goes, in link `generation`.
    fn reached(&self, key: (u16, usize), generation: u64) -> Reached {
        match self.reached.get(&key) {
            Some((learnt, reached)) if *learnt == generation => *reached,
            _ => Reached::Unknown,
        }
    }

    /// Node host `host` took the registration of `client`: if that is a proxy whose link to
    /// the host's node is up, the link goes to this host.
    fn registered(&mut self, host: u16, client: &str) {
        let Some(agents) = self.tables.hosts.get(&host) else {
            return;
        };
        let Some(proxy) = self.trace.hosts.iter().position(|name| name == client) else {
            return;
        };
        let Some(node) = srv_index(agents.node).map(usize::from) else {
            return;
        };
        let key = (proxy as u16, node);
        let link = self
            .links
            .get(&key.0)
            .and_then(|links| links.nodes.get(node));
        let Some(link) = link.filter(|link| link.up) else {
            return;
        };
        let reached = match self.reached(key, link.generation) {
            Reached::Unknown => Reached::Host(host, agents.started_at),
            Reached::Host(known, started_at) if known == host => Reached::Host(known, started_at),
            Reached::Host(..) | Reached::Unclear => Reached::Unclear,
        };
        self.reached.insert(key, (link.generation, reached));
    }

    /// The proxy host of `entry` acknowledged `request` of `agent`: every node of the tenant
    /// judged (the module doc) has carried it out.
    fn judge_ack(
        &mut self,
        entry: &TraceEntry,
        agent: AgentId,
        request: &str,
        tenant: TenantId,
        asked_at_ms: SimTime,
    ) {
        let Some(links) = self.links.get(&entry.host) else {
            return;
        };
        for (node, link) in links.nodes.iter().enumerate() {
            let serves = self
                .rules
                .node_tenants
                .get(node)
                .is_some_and(|tenants| tenants.contains(&tenant));
            // A node connected in the same millisecond as the request is not judged: the
            // trace does not say which came first (the direct runner orders them within it).
            if !link.up || !serves || link.connected_at >= asked_at_ms {
                continue;
            }
            let Reached::Host(host, started_at) = self.reached((entry.host, node), link.generation)
            else {
                continue;
            };
            let Some(agents) = self
                .tables
                .hosts
                .get(&host)
                .filter(|agents| agents.started_at == started_at)
            else {
                continue;
            };
            if let Some(problem) = problem(request, agents, agent, asked_at_ms) {
                self.violations.push(Violation {
                    oracle: PX_AGENT,
                    at_ms: entry.at,
                    detail: format!(
                        "{} acknowledged {request} of {agent} (asked at {asked_at_ms} ms), but {} (node {}, its srv{node} since {} ms) has {agent} {problem}",
                        self.trace.host_name(entry.host),
                        self.trace.host_name(host),
                        agents.node,
                        link.connected_at
                    ),
                });
            }
        }
    }
}

/// What is wrong with `agents` (a node's) after it was asked `request` of `agent` at
/// `asked_at_ms`, if anything.
fn problem(
    request: &str,
    agents: &NodeAgents,
    agent: AgentId,
    asked_at_ms: SimTime,
) -> Option<&'static str> {
    let in_since = agents.logged_in.get(&agent).copied();
    let out_since = agents.logged_out.get(&agent).copied();
    match request {
        "RequestAgentLogin" | "RequestAgentReady"
            if out_since.is_some_and(|out| out >= asked_at_ms) =>
        {
            None
        }
        "RequestAgentLogin" if in_since.is_none() => Some("not logged in"),
        "RequestAgentReady" if in_since.is_none() => Some("not logged in"),
        "RequestAgentReady" if !agents.ready.contains(&agent) => Some("logged in but not ready"),
        "RequestAgentLogout" if in_since.is_some_and(|since| since < asked_at_ms) => {
            Some("still logged in")
        }
        _ => None,
    }
}
