//! Agent capacity [S-URS-select]: a node never offers an agent more interactions at once than
//! `is.agent_capacity`. Judged on every run from the node's own facts in the trace, rebuilt
//! here rather than read from its counters: what it invited each agent to (`invited`), what
//! the agent accepted (`accepted`), and what ended either (`invite-timed-out`, `rejected`,
//! `placed`, `stopped`, `released`, and the agent's `agent-logged-out`, which withdraws its
//! invites but leaves what it accepted: a desktop that logs in again is still handling it).
//!
//! Where the model differs from the rule: SPEC says "an agent receives at most its capacity";
//! the model counts capacity per node (each node knows only the interactions it holds, as an
//! Interaction Server does), so an agent logged in to two nodes may hold twice its capacity in
//! the cluster. This oracle checks what the model promises: per node.
//!
//! A node's invites die with its process (they are not durable, `db.rs`); what an agent had
//! accepted comes back with the interaction's stored agent (`loaded ... agentN`) after a
//! restart or a promotion, and counts again. Only the host that started node `p` last speaks
//! for it.
//!
//! Reservations (`agent_reservation`) are how several URS avoid selecting one agent twice; a
//! reservation bug shows here as soon as it lets a node offer an agent past its capacity, and
//! as a stall ([S-INV-live]) when it refuses deliveries it should allow.

use super::nodes::NodeStates;
use super::{OracleInput, Violation};
use ixsim_core::ids::{AgentId, IxnId};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const AGENT_CAPACITY: &str = "S-URS-select";

/// One running node's offers as the trace shows them.
#[derive(Default)]
struct NodeOffers {
    invited: BTreeMap<IxnId, AgentId>,
    accepted: BTreeMap<IxnId, AgentId>,
}

impl NodeOffers {
    fn load(&self, agent: AgentId) -> usize {
        self.invited
            .values()
            .chain(self.accepted.values())
            .filter(|a| **a == agent)
            .count()
    }

    fn end(&mut self, ixn: &IxnId) {
        self.invited.remove(ixn);
        self.accepted.remove(ixn);
    }
}

pub fn agent_capacity(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let capacity = input.agent_capacity as usize;
    let mut violations = Vec::new();
    let mut nodes: NodeStates<NodeOffers> = NodeStates::new();
    for entry in &trace.entries {
        nodes.follow(entry, NodeOffers::default, |_, offers| match &entry.event {
            TraceEvent::Loaded {
                ixn,
                agent: Some(agent),
                ..
            } => {
                offers.accepted.insert(*ixn, *agent);
            }
            TraceEvent::Invited { ixn, agent } => {
                offers.invited.insert(*ixn, *agent);
                let load = offers.load(*agent);
                if load > capacity {
                    violations.push(Violation {
                        oracle: AGENT_CAPACITY,
                        at_ms: entry.at,
                        detail: format!(
                            "{} offered {ixn} to {agent}, who then had {load} interactions there (invited or accepted) with a capacity of {capacity}",
                            trace.host_name(entry.host)
                        ),
                    });
                }
            }
            TraceEvent::Accepted { ixn, agent } => {
                offers.invited.remove(ixn);
                offers.accepted.insert(*ixn, *agent);
            }
            TraceEvent::InviteTimedOut { ixn, .. } | TraceEvent::Rejected { ixn, .. } => {
                offers.invited.remove(ixn);
            }
            TraceEvent::Placed { ixn, .. }
            | TraceEvent::Stopped { ixn }
            | TraceEvent::Released { ixn, .. } => offers.end(ixn),
            TraceEvent::AgentLoggedOut { agent } => offers.invited.retain(|_, a| a != agent),
            _ => {}
        });
    }
    violations
}
