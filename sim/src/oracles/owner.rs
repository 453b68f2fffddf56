//! [S-INV-owner], the agents' side: no interaction is in two agents' hands at once, as the
//! agents saw it. A desktop holds from `agent-took` until it completes, drops, or its process
//! is killed. (The pull side, "an owned interaction is never returned to another puller", is
//! judged with the pull order: `order.rs`.)
//!
//! Holders are kept per life of an id ([`Lives`]): a media server whose submit answer was lost
//! submits the same client-supplied id again, and a node that already stopped the first life
//! starts a second one (`db.rs`). An agent may still believe it is stopping the first life (its
//! stop was stored, the answer lost) while another agent takes the second: two lives, one
//! holder each, which the product allows (the duplicate is reported as the stat
//! `resubmitted_after_stop`). Two holders of one life, or a holder of a life the node never
//! recorded as stopped while another life is held, is the violation.

use super::completion::Lives;
use super::{OracleInput, Violation};
use ixsim_core::ids::{AgentId, IxnId};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const OWNER: &str = "S-INV-owner";

/// Who holds one life of an interaction: the agent and the trace host of its desktop.
type Holder = (AgentId, u16);

pub fn agent_owner(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut holder: BTreeMap<(IxnId, u32), Holder> = BTreeMap::new();
    let mut lives = Lives::default();
    // The lives a node recorded as stopped: their holders no longer bar another life.
    let mut stopped: BTreeSet<(IxnId, u32)> = BTreeSet::new();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        lives.observe(&entry.event);
        match &entry.event {
            TraceEvent::ProcessKilled => holder.retain(|_, (_, host)| *host != entry.host),
            TraceEvent::Stopped { ixn } => {
                stopped.insert((*ixn, lives.current(*ixn)));
            }
            TraceEvent::AgentTook { agent, ixn } => {
                let life = lives.current(*ixn);
                let other = holder
                    .range((*ixn, 0)..=(*ixn, life))
                    .find(|((_, held), _)| *held == life || !stopped.contains(&(*ixn, *held)))
                    .map(|(_, (other, _))| *other);
                holder.insert((*ixn, life), (*agent, entry.host));
                if let Some(other) = other {
                    violations.push(Violation {
                        oracle: OWNER,
                        at_ms: entry.at,
                        detail: format!("{ixn} delivered to {agent} while {other} still holds it"),
                    });
                }
            }
            // An agent ends what it holds of the id, whichever life that is.
            TraceEvent::AgentCompleted { agent, ixn }
            | TraceEvent::AgentDropped { agent, ixn, .. } => {
                holder.retain(|(held, _), (holding, _)| !(held == ixn && holding == agent));
            }
            _ => {}
        }
    }
    violations
}
