//! Ownership [S-IS-owner]: who owns an interaction, and returning what an absent owner held to
//! its queue once the grace period is over.

use super::{IsNode, Owner};
use crate::ids::{IxnId, SimTime};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Message};
use crate::trace::{ReleaseReason, TraceEvent};
use std::collections::BTreeSet;

impl IsNode {
    /// The interaction `ixn` names, if `client` owns it and no invite is pending.
    pub(super) fn owned(&self, client: &str, ixn: &Field<IxnId>) -> Result<IxnId, ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        if !self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::InteractionNotFound);
        }
        match self.owners.get(&id) {
            Some(owner) if owner.client == client && owner.invite.is_none() => Ok(id),
            Some(owner) if owner.client == client => Err(ErrorCode::InvalidState),
            Some(_) | None => Err(ErrorCode::NotOwner),
        }
    }

    /// Clears the owner of `ixn`, freeing the handling agent's capacity.
    pub(super) fn disown(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if let Some(Owner {
            agent: Some(agent), ..
        }) = self.owners.remove(&ixn)
        {
            self.change_load(agent, -1, out);
        }
    }

    /// Returns every interaction `client` owns to its queue [S-IS-owner].
    pub(super) fn release_owned_by(&mut self, now: SimTime, client: &str, out: &mut Vec<Output>) {
        let owned: Vec<IxnId> = self
            .owners
            .iter()
            .filter(|(_, owner)| owner.client == client)
            .map(|(ixn, _)| *ixn)
            .collect();
        let mut touched = BTreeSet::new();
        for ixn in owned {
            if let Some((agent, _)) = self.end_invite(ixn, out) {
                if let Some(agent_state) = self.agents.get(&agent) {
                    self.send(
                        agent_state.peer,
                        Message::unsolicited(Event::Revoked { agent, ixn }),
                        out,
                    );
                }
            }
            self.disown(ixn, out);
            self.persist_owner(ixn, Vec::new(), out);
            if let Some(queue) = self.make_available(ixn) {
                out.push(Output::Trace(TraceEvent::Released {
                    ixn,
                    queue: queue.clone(),
                    reason: ReleaseReason::OwnerGone,
                    owner: client.to_string(),
                }));
                touched.insert(queue);
            }
        }
        for queue in touched {
            self.serve_held(now, &queue, out);
        }
    }

    /// The grace period of an absent owner is over [S-IS-owner]: unless it came back under its
    /// name, what it owns goes back to its queues.
    pub(super) fn owner_grace_over(&mut self, now: SimTime, client: String, out: &mut Vec<Output>) {
        if !self.client_peers.contains_key(&client) {
            if self.owners.values().any(|owner| owner.client == client) {
                mark(Mark::IsOwnerGraceReleased, out);
            }
            self.release_owned_by(now, &client, out);
        }
    }
}
