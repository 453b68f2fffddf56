//! Agents on this node: login, ready/not ready, logout, the load and reservations that bound
//! their capacity [S-URS-select] [S-URS-scope], and the agent-state events every client hears.

use super::{Agent, Conn, IsNode, PlantedBug, TimerPurpose};
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{AgentState, ClientKind, ErrorCode, Event, Field, Message};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

impl IsNode {
    pub(super) fn login(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        tenant: &Field<TenantId>,
        agent_id: AgentId,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        self.tenant_of(tenant)?;
        match self.agents.get(&agent_id) {
            Some(agent) if agent.peer == peer => {}
            Some(_) => return Err(ErrorCode::InvalidState),
            None => {
                let seats_used = self.agents.len() as u32;
                let checks_seats = self.cfg.planted_bug != Some(PlantedBug::LoginIgnoresSeats);
                if checks_seats && self.seat_limit().is_some_and(|seats| seats_used >= seats) {
                    mark(Mark::IsLoginNoSeat, out);
                    return Err(ErrorCode::NoSeat);
                }
                self.logins += 1;
                let load = self
                    .owners
                    .values()
                    .filter(|owner| owner.agent == Some(agent_id))
                    .count() as u32;
                self.agents.insert(
                    agent_id,
                    Agent {
                        peer,
                        since: self.logins,
                        ready: false,
                        load,
                        reserved: BTreeMap::new(),
                    },
                );
                out.push(Output::Trace(TraceEvent::AgentLoggedIn { agent: agent_id }));
                self.broadcast_agent(agent_id, out);
            }
        }
        self.ack(peer, ref_id, out);
        Ok(())
    }

    pub(super) fn logout(&mut self, agent_id: AgentId, out: &mut Vec<Output>) {
        let invited: Vec<IxnId> = self
            .owners
            .iter()
            .filter(|(_, owner)| owner.invite.as_ref().is_some_and(|i| i.agent == agent_id))
            .map(|(ixn, _)| *ixn)
            .collect();
        for ixn in invited {
            if let Some((agent, client)) = self.end_invite(ixn, out) {
                self.send_to_client(
                    &client,
                    Message::unsolicited(Event::Rejected { agent, ixn }),
                    out,
                );
            }
        }
        if self.agents.remove(&agent_id).is_some() {
            out.push(Output::Trace(TraceEvent::AgentLoggedOut {
                agent: agent_id,
            }));
            self.broadcast_agent(agent_id, out);
        }
    }

    pub(super) fn own_agent(&self, peer: Conn, agent_id: AgentId) -> Result<(), ErrorCode> {
        match self.agents.get(&agent_id) {
            Some(agent) if agent.peer == peer => Ok(()),
            Some(_) | None => Err(ErrorCode::AgentUnavailable),
        }
    }

    pub(super) fn set_ready(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        agent_id: AgentId,
        ready: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        self.own_agent(peer, agent_id)?;
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.ready = ready;
        }
        if ready {
            out.push(Output::Trace(TraceEvent::AgentReady { agent: agent_id }));
        }
        self.broadcast_agent(agent_id, out);
        self.ack(peer, ref_id, out);
        Ok(())
    }

    /// RequestReserveAgent [S-URS-select]: holds one unit of the agent's capacity for `ixn`
    /// for `ms`. Granted when the agent is ready and has capacity left that is neither loaded
    /// nor reserved for another interaction; a second reservation for the same interaction
    /// (by anyone) renews it. The interaction must be on this node [S-URS-scope].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reserve(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        agent_id: AgentId,
        ixn: &Field<IxnId>,
        ms: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        if !self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::InteractionNotFound);
        }
        let agent = self
            .agents
            .get(&agent_id)
            .ok_or(ErrorCode::AgentUnavailable)?;
        if !agent.ready || agent.free_for(self.cfg.agent_capacity, Some(id)) == 0 {
            if agent.ready {
                mark(Mark::IsReserveRefused, out);
            }
            return Err(ErrorCode::AgentUnavailable);
        }
        let timer = self
            .timers
            .set(TimerPurpose::Reservation(agent_id, id), now + ms, out);
        let previous = self
            .agents
            .get_mut(&agent_id)
            .and_then(|agent| agent.reserved.insert(id, (client.to_string(), timer)));
        if let Some((_, old_timer)) = previous {
            self.timers.cancel(old_timer, out);
        }
        self.broadcast_agent(agent_id, out);
        self.ack_ixn(peer, ref_id, id, out);
        Ok(())
    }

    pub(super) fn change_load(&mut self, agent_id: AgentId, delta: i32, out: &mut Vec<Output>) {
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.load = agent.load.saturating_add_signed(delta);
            self.broadcast_agent(agent_id, out);
        }
    }

    pub(super) fn broadcast_agent(&self, agent_id: AgentId, out: &mut Vec<Output>) {
        let state = match self.agents.get(&agent_id) {
            None => AgentState::LoggedOut,
            Some(agent) if !agent.ready => AgentState::NotReady,
            Some(agent) => AgentState::Ready {
                free: agent.free_for(self.cfg.agent_capacity, None),
            },
        };
        for (peer, client) in &self.clients {
            if client.kind == ClientKind::Router {
                self.send(
                    *peer,
                    Message::unsolicited(Event::AgentState {
                        agent: agent_id,
                        state,
                    }),
                    out,
                );
            }
        }
    }

    /// Sends the current state of every agent to a router that just registered.
    pub(super) fn agent_snapshot(&self, peer: Conn, out: &mut Vec<Output>) {
        for (agent_id, agent) in &self.agents {
            let state = if agent.ready {
                AgentState::Ready {
                    free: agent.free_for(self.cfg.agent_capacity, None),
                }
            } else {
                AgentState::NotReady
            };
            self.send(
                peer,
                Message::unsolicited(Event::AgentState {
                    agent: *agent_id,
                    state,
                }),
                out,
            );
        }
    }

    /// A router's reservation of the agent's capacity for `ixn` ran out unused.
    pub(super) fn reservation_expired(
        &mut self,
        agent_id: AgentId,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) {
        let expired = self
            .agents
            .get_mut(&agent_id)
            .and_then(|agent| agent.reserved.remove(&ixn));
        if expired.is_some() {
            self.broadcast_agent(agent_id, out);
        }
    }
}
