//! [S-INV-owner], the agents' side: no interaction is in two agents' hands at once, as the
//! agents saw it. A desktop holds from `agent-took` until it completes, drops, or its process
//! is killed. (The pull side, "an owned interaction is never returned to another puller", is
//! judged with the pull order: `order.rs`.)

use super::{OracleInput, Violation};
use ixsim_core::ids::{AgentId, IxnId};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const OWNER: &str = "S-INV-owner";

pub fn agent_owner(input: &OracleInput<'_>) -> Vec<Violation> {
    // Holder of each interaction: the agent and the trace host of its desktop.
    let mut holder: BTreeMap<IxnId, (AgentId, u16)> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        match &entry.event {
            TraceEvent::ProcessKilled => holder.retain(|_, (_, host)| *host != entry.host),
            TraceEvent::AgentTook { agent, ixn } => {
                if let Some((other, _)) = holder.insert(*ixn, (*agent, entry.host)) {
                    violations.push(Violation {
                        oracle: OWNER,
                        at_ms: entry.at,
                        detail: format!("{ixn} delivered to {agent} while {other} still holds it"),
                    });
                }
            }
            TraceEvent::AgentCompleted { agent, ixn }
            | TraceEvent::AgentDropped { agent, ixn, .. }
                if holder.get(ixn).is_some_and(|(holding, _)| holding == agent) =>
            {
                holder.remove(ixn);
            }
            _ => {}
        }
    }
    violations
}
