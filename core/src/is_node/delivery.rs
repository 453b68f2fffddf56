//! Delivery to agents [S-IS-deliver]: RequestDeliver invites a ready agent with capacity left;
//! the invite is accepted, rejected or times out; RequestTransfer hands an interaction to another
//! client.

use super::{AfterWrite, Conn, Invite, IsNode, Owner, PlantedBug, TimerPurpose};
use crate::ids::{AgentId, IxnId, RefId, SimTime};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Message};
use crate::trace::TraceEvent;

impl IsNode {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        agent_id: AgentId,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let (id, agent_peer) = self.deliverable(client, ixn, agent_id, out)?;
        // The delivery uses up a reservation held for this interaction.
        let reservation = self
            .agents
            .get_mut(&agent_id)
            .and_then(|agent| agent.reserved.remove(&id));
        if let Some((_, timer)) = reservation {
            self.timers.cancel(timer, out);
        }
        let timer = self.timers.set(
            TimerPurpose::Invite(id),
            now + self.cfg.invite_timeout_ms,
            out,
        );
        if let Some(owner) = self.owners.get_mut(&id) {
            owner.invite = Some(Invite {
                agent: agent_id,
                timer,
            });
        }
        self.change_load(agent_id, 1, out);
        out.push(Output::Trace(TraceEvent::Invited {
            ixn: id,
            agent: agent_id,
        }));
        let record = self
            .db
            .interactions
            .get(&id)
            .ok_or(ErrorCode::InteractionNotFound)?;
        self.send(
            agent_peer,
            Message::unsolicited(Event::Invite {
                agent: agent_id,
                ixn: Self::info(self.cfg.node, record),
            }),
            out,
        );
        self.ack_ixn(peer, ref_id, id, out);
        Ok(())
    }

    /// RequestDeliver's checks: `client` owns `ixn`, no agent handles it yet, and the agent is
    /// logged in, ready and has capacity left. The interaction and the agent's connection.
    fn deliverable(
        &self,
        client: &str,
        ixn: &Field<IxnId>,
        agent_id: AgentId,
        out: &mut Vec<Output>,
    ) -> Result<(IxnId, Conn), ErrorCode> {
        let id = self.owned(client, ixn)?;
        // An interaction an agent already handles (its desktop owns it after accepting) is not
        // offered again: a second offer would count it twice against the agent's capacity
        // (found by `cargo fuzz run is_node`: a desktop that took over the deliverer's name
        // delivered its own accepted interaction; regression `deliver-accepted`).
        if self
            .owners
            .get(&id)
            .is_some_and(|owner| owner.agent.is_some())
        {
            return Err(ErrorCode::InvalidState);
        }
        let agent = self
            .agents
            .get(&agent_id)
            .ok_or(ErrorCode::AgentUnavailable)?;
        let checks_capacity = self.cfg.planted_bug != Some(PlantedBug::DeliverIgnoresCapacity);
        let full = checks_capacity && agent.free_for(self.cfg.agent_capacity, Some(id)) == 0;
        if !agent.ready || full {
            if agent.ready {
                mark(Mark::IsDeliverAgentFull, out);
            }
            return Err(ErrorCode::AgentUnavailable);
        }
        Ok((id, agent.peer))
    }

    pub(super) fn answer_invite(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        ixn: &Field<IxnId>,
        accept: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        let owner = self.owners.get(&id).ok_or(ErrorCode::InteractionNotFound)?;
        let invite = owner.invite.as_ref().ok_or(ErrorCode::InvalidState)?;
        let agent_id = invite.agent;
        if self
            .agents
            .get(&agent_id)
            .is_none_or(|agent| agent.peer != peer)
        {
            return Err(ErrorCode::InvalidState);
        }
        let accepter = self
            .clients
            .get(&peer)
            .map(|client| client.name.clone())
            .ok_or(ErrorCode::NotRegistered)?;
        let (agent, deliverer) = self.end_invite(id, out).ok_or(ErrorCode::InvalidState)?;
        if accept {
            self.owners.insert(
                id,
                Owner {
                    client: accepter,
                    agent: Some(agent),
                    invite: None,
                },
            );
            self.change_load(agent, 1, out);
            out.push(Output::Trace(TraceEvent::Accepted { ixn: id, agent }));
            let then = vec![
                AfterWrite::Notify(
                    deliverer,
                    Message::unsolicited(Event::Accepted { agent, ixn: id }),
                ),
                AfterWrite::Reply(peer, Message::ack(ref_id, Some(id))),
            ];
            self.persist_owner(id, then, out);
            return Ok(());
        } else {
            out.push(Output::Trace(TraceEvent::Rejected { ixn: id, agent }));
            self.send_to_client(
                &deliverer,
                Message::unsolicited(Event::Rejected { agent, ixn: id }),
                out,
            );
        }
        self.ack_ixn(peer, ref_id, id, out);
        Ok(())
    }

    /// Withdraws a pending invite of `ixn` (timeout, reject, agent gone); the owner keeps it.
    pub(super) fn end_invite(
        &mut self,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) -> Option<(AgentId, String)> {
        let owner = self.owners.get_mut(&ixn)?;
        let invite = owner.invite.take()?;
        let client = owner.client.clone();
        self.timers.cancel(invite.timer, out);
        self.change_load(invite.agent, -1, out);
        Some((invite.agent, client))
    }

    /// RequestTransfer: the owner hands `ixn` to the client named `to`, which must be connected
    /// or still within its owner grace period (it owns something here). A new owner that is
    /// away gets the grace period; it hears of the interaction when it registers again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transfer(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        to: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = self.owned(client, ixn)?;
        if to == client {
            return Err(ErrorCode::InvalidState);
        }
        let connected = self.client_peers.contains_key(to);
        let known = connected || self.owners.values().any(|owner| owner.client == to);
        if !known {
            return Err(ErrorCode::NotRegistered);
        }
        if let Some(owner) = self.owners.get_mut(&id) {
            owner.client = to.to_string();
        }
        if !connected {
            let at = now + self.cfg.owner_grace_ms;
            self.timers
                .set(TimerPurpose::OwnerGrace(to.to_string()), at, out);
        }
        out.push(Output::Trace(TraceEvent::Transferred {
            ixn: id,
            from: client.to_string(),
            to: to.to_string(),
        }));
        let mut then = vec![AfterWrite::Reply(peer, Message::ack(ref_id, Some(id)))];
        if let Some(record) = self.db.interactions.get(&id) {
            let items = vec![Self::info(self.cfg.node, record)];
            then.push(AfterWrite::Notify(
                to.to_string(),
                Message::unsolicited(Event::TakenFromQueue { items }),
            ));
        }
        self.persist_owner(id, then, out);
        Ok(())
    }

    /// An invite nobody answered in `invite_timeout_ms` counts as a reject: the agent hears it
    /// revoked, the owner hears it rejected.
    pub(super) fn invite_timed_out(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if let Some((agent, client)) = self.end_invite(ixn, out) {
            mark(Mark::IsInviteTimedOut, out);
            out.push(Output::Trace(TraceEvent::InviteTimedOut { ixn, agent }));
            if let Some(agent_state) = self.agents.get(&agent) {
                self.send(
                    agent_state.peer,
                    Message::unsolicited(Event::Revoked { agent, ixn }),
                    out,
                );
            }
            self.send_to_client(
                &client,
                Message::unsolicited(Event::Rejected { agent, ixn }),
                out,
            );
        }
    }
}
