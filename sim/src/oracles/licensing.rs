//! Licensing oracles [S-LIC-checkout] [S-LIC-shrink], judged on every run with a license
//! server or configured seats, from the facts in the trace: what the license server granted
//! (`seats-granted`), the seat limit each node reports acting on (`seat-limit`), and the logins
//! and logouts it traced.
//!
//! - [S-LIC-checkout] at the license server: no grant exceeds its request, and the latest
//!   grants of all license groups never add up to more than the pool (nodes do not share seats).
//!   A restarted license server starts empty (`ixsim_core::license`): the grants of the one
//!   before its crash no longer count there. (The nodes act on their old grants until they
//!   have checked out again, so for that moment the cluster may use more than the pool: the
//!   product's behaviour, not judged.)
//! - [S-LIC-checkout] at a node: a licensed node never reports a limit above the largest grant
//!   the server issued to its group (it is the grant, or less when an operator lowered the
//!   configured seats), has no seats before it reports one, and never has more agents logged in
//!   than its limit. An unlicensed node is judged from its first reported limit on (its
//!   configured seats: a pair member keeps a `set-seats` change only if it was connected when it
//!   came, so the scenario alone does not say what a promoted member was told).
//! - [S-LIC-shrink]: once a node reports a lower limit, it logs the extra agents out at once:
//!   by its next trace event at a later time (the logouts come in the same input, with the
//!   same time; shell events such as a `buggify` line may come between them).
//!
//! A node's logins end with its process (a crash, a demotion, a fence) and start empty with
//! every `NodeStarted`: logins are not durable.
//!
//! Not checked here: [S-LIC-revoke] (a login refused anywhere revoked everywhere) is the proxy's
//! rule and shows only as the cluster-wide count (`max_agents_logged_in`).

use super::nodes::NodeStates;
use super::{OracleInput, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::{AgentId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const LIC_CHECKOUT: &str = "S-LIC-checkout";
pub const LIC_SHRINK: &str = "S-LIC-shrink";

/// What the licensing oracles need of the scenario.
#[derive(Clone, Debug, Default)]
pub struct SeatRules {
    /// The license server's pool, when there is one (every node is then licensed, its group
    /// `pair{node}`).
    pub pool: Option<u32>,
}

/// One running node as the trace shows it.
struct NodeSeats {
    /// The limit it acts on: `None` is unlimited.
    limit: Option<u32>,
    agents: BTreeSet<AgentId>,
    /// A limit was just reported (the limit, when): the extra logins must be gone by the
    /// node's next event at a later time.
    shrinking: Option<(u32, u64)>,
}

pub fn licensing(input: &OracleInput<'_>, rules: &SeatRules) -> Vec<Violation> {
    let trace = input.trace;
    let mut licensing = Licensing {
        trace,
        rules,
        grants: BTreeMap::new(),
        held: BTreeMap::new(),
        license_host: trace.hosts.iter().position(|host| host == "license"),
        nodes: NodeStates::new(),
        violations: Vec::new(),
    };
    for entry in &trace.entries {
        licensing.observe(entry);
    }
    licensing.verdict(input.end_ms)
}

/// The oracles' state over the trace.
struct Licensing<'a> {
    trace: &'a Trace,
    rules: &'a SeatRules,
    /// License group -> every grant issued to it, the latest last.
    grants: BTreeMap<String, Vec<u32>>,
    /// License group -> its grant from the running license server.
    held: BTreeMap<String, u32>,
    license_host: Option<usize>,
    nodes: NodeStates<NodeSeats>,
    violations: Vec<Violation>,
}

impl Licensing<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        // At the license server, which speaks for no node.
        if let TraceEvent::SeatsGranted {
            group,
            requested,
            granted,
        } = &entry.event
        {
            self.granted(entry.at, group, *requested, *granted);
            return;
        }
        if matches!(entry.event, TraceEvent::ProcessKilled)
            && self.license_host == Some(usize::from(entry.host))
        {
            self.held.clear();
            return;
        }
        let start = || NodeSeats {
            limit: self.rules.pool.map(|_| 0),
            agents: BTreeSet::new(),
            shrinking: None,
        };
        let judge = Judge {
            trace: self.trace,
            rules: self.rules,
            grants: &self.grants,
            entry,
        };
        let out = &mut self.violations;
        self.nodes
            .follow(entry, start, |node, seats| seats.observe(&judge, node, out));
    }

    /// [S-LIC-checkout] at the license server: it granted `granted` of `requested` seats to
    /// `group`.
    fn granted(&mut self, at_ms: SimTime, group: &str, requested: u32, granted: u32) {
        if granted > requested {
            self.violations.push(Violation {
                oracle: LIC_CHECKOUT,
                at_ms,
                detail: format!(
                    "license group {group} was granted {granted} seats for {requested} asked"
                ),
            });
        }
        self.grants
            .entry(group.to_string())
            .or_default()
            .push(granted);
        self.held.insert(group.to_string(), granted);
        let total: u64 = self.held.values().map(|seats| u64::from(*seats)).sum();
        if let Some(pool) = self.rules.pool.filter(|pool| total > u64::from(*pool)) {
            self.violations.push(Violation {
                oracle: LIC_CHECKOUT,
                at_ms,
                detail: format!(
                    "the license server has {total} seats checked out of a pool of {pool}"
                ),
            });
        }
    }

    /// [S-LIC-shrink] at the end of the run: a node whose seats just fell must have logged the
    /// extra agents out.
    fn verdict(mut self, end_ms: SimTime) -> Vec<Violation> {
        for (host, state) in self.nodes.iter_mut() {
            let over = state
                .shrinking
                .filter(|(limit, _)| state.agents.len() as u32 > *limit);
            if let Some((limit, _)) = over {
                self.violations.push(Violation {
                    oracle: LIC_SHRINK,
                    at_ms: end_ms,
                    detail: format!(
                        "{} ended with {} agents logged in after its seats fell to {limit}",
                        self.trace.host_name(host),
                        state.agents.len()
                    ),
                });
            }
        }
        self.violations
    }
}

/// What judging one node's entry needs.
struct Judge<'a> {
    trace: &'a Trace,
    rules: &'a SeatRules,
    grants: &'a BTreeMap<String, Vec<u32>>,
    entry: &'a TraceEntry,
}

impl Judge<'_> {
    fn fail(&self, oracle: &'static str, detail: String, out: &mut Vec<Violation>) {
        out.push(Violation {
            oracle,
            at_ms: self.entry.at,
            detail,
        });
    }
}

impl NodeSeats {
    /// Follows one entry of the host speaking for node `node`.
    fn observe(&mut self, judge: &Judge<'_>, node: u16, out: &mut Vec<Violation>) {
        let entry = judge.entry;
        let host = judge.trace.host_name(entry.host);
        let later = self.shrinking.filter(|(_, since)| entry.at > *since);
        if let Some((limit, _)) = later {
            self.shrinking = None;
            if self.agents.len() as u32 > limit {
                let detail = format!(
                    "{host} went on with {} agents logged in after its seats fell to {limit}",
                    self.agents.len()
                );
                judge.fail(LIC_SHRINK, detail, out);
            }
        }
        match &entry.event {
            TraceEvent::SeatLimit { seats: limit } => {
                let group = format!("pair{node}");
                let granted = judge.grants.get(&group);
                let most = granted
                    .and_then(|list| list.iter().max())
                    .copied()
                    .unwrap_or(0);
                if judge.rules.pool.is_some() && *limit > most {
                    let detail = format!(
                        "{host} acts on {limit} seats, more than the license server ever granted to {group} (granted: {:?})",
                        granted.cloned().unwrap_or_default()
                    );
                    judge.fail(LIC_CHECKOUT, detail, out);
                }
                self.limit = Some(*limit);
                self.shrinking = Some((*limit, entry.at));
            }
            TraceEvent::AgentLoggedIn { agent } => {
                self.agents.insert(*agent);
                if let Some(limit) = self.limit.filter(|l| self.agents.len() as u32 > *l) {
                    let detail = format!(
                        "{host} logged {agent} in as its agent number {} with {limit} seats",
                        self.agents.len()
                    );
                    judge.fail(LIC_CHECKOUT, detail, out);
                }
            }
            TraceEvent::AgentLoggedOut { agent } => {
                self.agents.remove(agent);
            }
            _ => {}
        }
    }
}
