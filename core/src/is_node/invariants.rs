//! The node's own invariants [S-INV-machine]: every stored interaction is available, owned or
//! in flight, exactly once, and each agent's load is its invites plus its accepted interactions.
//! The shell checks them after every input of every run.

use super::IsNode;
use crate::ids::AgentId;
use std::collections::BTreeMap;

impl IsNode {
    /// [`Machine::check_invariants`]: every stored interaction is pullable in its own queue,
    /// owned, or in flight (exactly one of them), and each agent's load is its invites plus
    /// what it accepted.
    pub(super) fn invariants(&self) -> Result<(), String> {
        // Counted, not collected: the shell runs this after every input of every run.
        let mut accounted = 0usize;
        for (queue, set) in &self.available {
            for (_, _, ixn) in set {
                let record = self
                    .db
                    .interactions
                    .get(ixn)
                    .ok_or_else(|| format!("available {ixn} not in database"))?;
                if &record.queue != queue {
                    return Err(format!(
                        "{ixn} available in {queue} but stored in {}",
                        record.queue
                    ));
                }
                if self.owners.contains_key(ixn) || self.in_flight.contains(ixn) {
                    return Err(format!("{ixn} both available and owned/in flight"));
                }
                accounted += 1;
            }
        }
        for ixn in self.owners.keys() {
            if !self.db.interactions.contains_key(ixn) {
                return Err(format!("owned {ixn} not in database"));
            }
        }
        // Owned and in flight at once is legal (an owner's write on its way): count it once.
        let both = self
            .in_flight
            .iter()
            .filter(|ixn| self.owners.contains_key(ixn))
            .count();
        accounted += self.owners.len() + self.in_flight.len() - both;
        if accounted != self.db.interactions.len() {
            return Err(format!(
                "{} interactions stored but {accounted} accounted for (available, owned or in flight; an available one counted twice?)",
                self.db.interactions.len(),
            ));
        }
        // (invited, accepted) per agent, in one pass: the shell runs this after every input.
        let mut loads: BTreeMap<AgentId, (usize, usize)> = BTreeMap::new();
        for owner in self.owners.values() {
            if let Some(invite) = &owner.invite {
                loads.entry(invite.agent).or_default().0 += 1;
            }
            if let Some(agent) = owner.agent {
                loads.entry(agent).or_default().1 += 1;
            }
        }
        for (agent_id, agent) in &self.agents {
            let (invited, accepted) = loads.get(agent_id).copied().unwrap_or_default();
            if agent.load as usize != invited + accepted {
                return Err(format!(
                    "{agent_id} load {} but {invited} invited + {accepted} accepted",
                    agent.load
                ));
            }
        }
        Ok(())
    }
}
