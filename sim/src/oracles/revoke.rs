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

use super::links::Links;
use super::logins::AgentTables;
use super::nodes::srv_index;
use super::refusals::ProxyRules;
use super::{OracleInput, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::{AgentId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const LIC_REVOKE: &str = "S-LIC-revoke";

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
    let mut revokes = Revokes {
        trace: input.trace,
        nodes: usize::from(rules.nodes),
        tables: AgentTables::default(),
        serving: BTreeMap::new(),
        links: Links::of_proxies(rules),
        pending: BTreeMap::new(),
        violations: Vec::new(),
    };
    for entry in &input.trace.entries {
        revokes.observe(entry);
    }
    revokes.violations
}

/// The oracle's state over the trace.
struct Revokes<'a> {
    trace: &'a Trace,
    nodes: usize,
    /// IS host -> its running node process's agents (a crash ends it; a deposed primary's
    /// answers are ruled out by `serving`).
    tables: AgentTables,
    /// The host that started each node last, by the proxy's index of it (srvN).
    serving: BTreeMap<u16, u16>,
    /// Proxy host -> its node connections.
    links: BTreeMap<u16, Links>,
    /// (proxy host, agent) -> the revocations its last refused login asks for.
    pending: BTreeMap<(u16, AgentId), Vec<Pending>>,
    violations: Vec<Violation>,
}

impl Revokes<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        let Some(links) = self.links.get_mut(&entry.host) else {
            self.tables.observe(entry);
            match &entry.event {
                TraceEvent::NodeStarted { node, .. } => {
                    if let Some(index) = srv_index(*node) {
                        self.serving.insert(index, entry.host);
                    }
                }
                TraceEvent::ProcessKilled => self.tables.end(entry.host),
                _ => {}
            }
            return;
        };
        if links.observe(&entry.event, entry.at) {
            if matches!(entry.event, TraceEvent::ProcessKilled) {
                self.pending.retain(|(proxy, _), _| *proxy != entry.host);
            }
            return;
        }
        match &entry.event {
            TraceEvent::ProxyAgentAcked {
                agent, asked_at_ms, ..
            }
            | TraceEvent::ProxyAgentRefused {
                agent, asked_at_ms, ..
            } => {
                self.judge_pending(entry, *agent, *asked_at_ms);
                if let TraceEvent::ProxyAgentRefused { request, .. } = &entry.event {
                    if *request == "RequestAgentLogin" {
                        let revoke = self.to_revoke(entry, *agent);
                        self.pending.insert((entry.host, *agent), revoke);
                    }
                }
            }
            _ => {}
        }
    }

    /// The proxy of `entry` answered a request of `agent` that reached it at `asked_at_ms`:
    /// the revocations its refused login before that asked for are due on every node that
    /// answered it over the same connection.
    fn judge_pending(&mut self, entry: &TraceEntry, agent: AgentId, asked_at_ms: SimTime) {
        let proxy = entry.host;
        // Which nodes answered this request: all it asked, for an ack.
        let answered = |node: usize| match &entry.event {
            TraceEvent::ProxyAgentRefused { acked, .. } => {
                acked.iter().any(|n| usize::from(*n) == node)
            }
            _ => true,
        };
        let judged = self.pending.remove(&(proxy, agent)).unwrap_or_default();
        let links = &self.links[&proxy];
        for p in judged.iter().filter(|p| p.at < asked_at_ms) {
            let link = &links.nodes[p.node];
            // A host whose process ended since has forgotten its logins.
            let Some(host) = self.tables.hosts.get(&p.host) else {
                continue;
            };
            let same = link.up
                && link.generation == p.generation
                && host.started_at == p.started_at
                && self.serving.get(&(p.node as u16)) == Some(&p.host)
                && answered(p.node);
            let logged_out = host.logged_out.get(&agent).is_some_and(|t| *t >= p.at);
            if same && !logged_out {
                self.violations.push(Violation {
                    oracle: LIC_REVOKE,
                    at_ms: entry.at,
                    detail: format!(
                        "{} refused {agent}'s login at {} ms, yet {} (srv{}) still has \
                         it logged in after answering its next request (asked at {asked_at_ms} ms) \
                         on the same connection",
                        self.trace.host_name(proxy),
                        p.at,
                        self.trace.host_name(p.host),
                        p.node
                    ),
                });
            }
        }
    }

    /// The proxy of `entry` refused a login of `agent`: the nodes that must log it out, each
    /// judged at the agent's next answer over the connection it has now.
    fn to_revoke(&self, entry: &TraceEntry, agent: AgentId) -> Vec<Pending> {
        let links = &self.links[&entry.host];
        (0..self.nodes)
            .filter_map(|node| {
                let link = &links.nodes[node];
                let host = *self.serving.get(&(node as u16))?;
                let state = self.tables.hosts.get(&host)?;
                let judged = link.up
                    && state.started_at < link.connected_at
                    && state.logged_in.contains_key(&agent);
                judged.then_some(Pending {
                    at: entry.at,
                    host,
                    started_at: state.started_at,
                    node,
                    generation: link.generation,
                })
            })
            .collect()
    }
}
