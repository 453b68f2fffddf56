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
use ixsim_core::ids::AgentId;
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
    let mut violations = Vec::new();
    let trace = input.trace;
    // License group -> every grant issued to it, the latest last.
    let mut grants: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    // License group -> its grant from the running license server.
    let mut held: BTreeMap<String, u32> = BTreeMap::new();
    let license_host = trace.hosts.iter().position(|host| host == "license");
    let mut nodes: NodeStates<NodeSeats> = NodeStates::new();
    for entry in &trace.entries {
        let at_ms = entry.at;
        let mut fail = |oracle: &'static str, detail: String| {
            violations.push(Violation {
                oracle,
                at_ms,
                detail,
            })
        };
        // At the license server, which speaks for no node.
        if let TraceEvent::SeatsGranted {
            group,
            requested,
            granted,
        } = &entry.event
        {
            if granted > requested {
                fail(
                    LIC_CHECKOUT,
                    format!(
                        "license group {group} was granted {granted} seats for {requested} asked"
                    ),
                );
            }
            grants.entry(group.clone()).or_default().push(*granted);
            held.insert(group.clone(), *granted);
            let total: u64 = held.values().map(|seats| u64::from(*seats)).sum();
            if let Some(pool) = rules.pool.filter(|pool| total > u64::from(*pool)) {
                fail(
                    LIC_CHECKOUT,
                    format!("the license server has {total} seats checked out of a pool of {pool}"),
                );
            }
            continue;
        }
        if matches!(entry.event, TraceEvent::ProcessKilled)
            && license_host == Some(usize::from(entry.host))
        {
            held.clear();
            continue;
        }
        let start = || NodeSeats {
            limit: rules.pool.map(|_| 0),
            agents: BTreeSet::new(),
            shrinking: None,
        };
        nodes.follow(entry, start, |node, seats| {
            let later = seats.shrinking.filter(|(_, since)| entry.at > *since);
            if let Some((limit, _)) = later {
                seats.shrinking = None;
                if seats.agents.len() as u32 > limit {
                    fail(
                        LIC_SHRINK,
                        format!(
                            "{} went on with {} agents logged in after its seats fell to {limit}",
                            trace.host_name(entry.host),
                            seats.agents.len()
                        ),
                    );
                }
            }
            match &entry.event {
                TraceEvent::SeatLimit { seats: limit } => {
                    let group = format!("pair{node}");
                    let most = grants
                        .get(&group)
                        .and_then(|list| list.iter().max())
                        .copied()
                        .unwrap_or(0);
                    if rules.pool.is_some() && *limit > most {
                        fail(
                            LIC_CHECKOUT,
                            format!(
                                "{} acts on {limit} seats, more than the license server ever granted to {group} (granted: {:?})",
                                trace.host_name(entry.host),
                                grants.get(&group).cloned().unwrap_or_default()
                            ),
                        );
                    }
                    seats.limit = Some(*limit);
                    seats.shrinking = Some((*limit, entry.at));
                }
                TraceEvent::AgentLoggedIn { agent } => {
                    seats.agents.insert(*agent);
                    if let Some(limit) = seats.limit.filter(|l| seats.agents.len() as u32 > *l) {
                        fail(
                            LIC_CHECKOUT,
                            format!(
                                "{} logged {agent} in as its agent number {} with {limit} seats",
                                trace.host_name(entry.host),
                                seats.agents.len()
                            ),
                        );
                    }
                }
                TraceEvent::AgentLoggedOut { agent } => {
                    seats.agents.remove(agent);
                }
                _ => {}
            }
        });
    }
    for (host, state) in nodes.iter_mut() {
        let over = state
            .shrinking
            .filter(|(limit, _)| state.agents.len() as u32 > *limit);
        if let Some((limit, _)) = over {
            violations.push(Violation {
                oracle: LIC_SHRINK,
                at_ms: input.end_ms,
                detail: format!(
                    "{} ended with {} agents logged in after its seats fell to {limit}",
                    trace.host_name(host),
                    state.agents.len()
                ),
            });
        }
    }
    violations
}
