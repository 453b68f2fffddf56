//! Agents logged in through the proxy [S-PX-agent]: login, logout, ready and not-ready go to
//! all connected nodes of the agent's tenant at once and are acked when every one of them took
//! the request. The proxy keeps each agent's state and replays it on a node that (re)connects,
//! and on a node that connected while an operation ran.
//!
//! A login refused by one node (no seat) is revoked on the others [S-LIC-revoke]; a second
//! operation for an agent while one is in progress is refused with 2004 [S-PX-2004].
//!
//! Must not: keep an agent the nodes were told to forget, or an agent of a client that left.

use super::ops::{Answer, Asked, ClientOp, OpKind};
use super::{Proxy, ProxyBug};
use crate::ids::{AgentId, RefId, SimTime, TenantId};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Request};
use crate::trace::TraceEvent;

/// The proxy's record of an agent logged in through it.
#[derive(Clone, Debug)]
pub(super) struct AgentEntry {
    pub(super) client: String,
    pub(super) tenant: TenantId,
    pub(super) media: Vec<String>,
    pub(super) ready: bool,
}

/// What an agent request changes.
#[derive(Clone, Debug)]
pub(super) enum AgentChange {
    Login {
        tenant: TenantId,
        media: Vec<String>,
    },
    Logout,
    Ready,
    NotReady,
}

/// An agent request in progress at the nodes of the agent's tenant.
#[derive(Clone, Debug)]
pub(super) struct AgentOp {
    pub(super) agent: AgentId,
    tenant: TenantId,
    change: AgentChange,
    /// When the desktop's request reached the proxy.
    asked_at: SimTime,
    acked: Vec<usize>,
    /// Nodes that did not answer (timed out or lost): they may take the request late.
    silent: Vec<usize>,
    error: Option<ErrorCode>,
}

impl AgentOp {
    pub(super) fn record(&mut self, node: usize, answer: Answer) {
        match answer {
            Answer::Ack(_) => self.acked.push(node),
            Answer::Error(code) => {
                self.error.get_or_insert(code);
            }
            Answer::Taken(_)
            | Answer::Found
            | Answer::Snapshot(_)
            | Answer::Matches(_)
            | Answer::Unrelated => {
                self.error.get_or_insert(ErrorCode::ConnectionLost);
            }
            Answer::Silent => {
                self.silent.push(node);
                self.error.get_or_insert(ErrorCode::ConnectionLost);
            }
        }
    }
}

impl Proxy {
    /// RequestAgentLogin: to the nodes of the tenant it names (2003 for an unknown one).
    pub(super) fn agent_login(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        (tenant, agent, media): (&Field<TenantId>, AgentId, &[String]),
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.cfg.route_tenant(tenant)?;
        let login = AgentChange::Login {
            tenant,
            media: media.to_vec(),
        };
        self.agent_op(now, who, agent, login, request, out)
    }

    /// Sends the agent request to every connected node of the agent's tenant (a login's tenant
    /// is the one it names, already checked; the others' that of the agent's login).
    pub(super) fn agent_op(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        agent: AgentId,
        change: AgentChange,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        if self.busy_agents.contains(&agent) {
            return Err(ErrorCode::InProgress);
        }
        let tenant = match &change {
            AgentChange::Login { tenant, .. } => *tenant,
            AgentChange::Logout | AgentChange::Ready | AgentChange::NotReady => {
                let entry = self.agents.get(&agent);
                entry.ok_or(ErrorCode::AgentUnavailable)?.tenant
            }
        };
        let mut nodes = self.live(self.cfg.tenant_nodes(tenant));
        if nodes.is_empty() {
            return Err(ErrorCode::ConnectionLost);
        }
        if self.cfg.planted(ProxyBug::AgentOpsOneNode) {
            nodes.truncate(1);
        }
        self.busy_agents.insert(agent);
        let kind = OpKind::Agent(AgentOp {
            agent,
            tenant,
            change,
            asked_at: now,
            acked: Vec::new(),
            silent: Vec::new(),
            error: None,
        });
        let op = self.start_op(now, who, request, kind, 0);
        for node in nodes {
            self.ask(node, Asked::Op(op), Some(who.1), request.clone(), out);
        }
        Ok(())
    }

    /// Every node asked answered (or never will): ack, or refuse (and revoke a login).
    pub(super) fn finish_agent(&mut self, _now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let op = self.ops.remove(&op_id).expect("op exists");
        let OpKind::Agent(agent_op) = &op.kind else {
            unreachable!("finish_agent ends agent operations only");
        };
        let removed = self.busy_agents.remove(&agent_op.agent);
        assert!(
            removed,
            "[S-PX-2004] an agent is busy while its operation runs"
        );
        let Some(code) = agent_op.error else {
            return self.agent_acked(&op, agent_op, out);
        };
        out.push(Output::Trace(TraceEvent::ProxyAgentRefused {
            agent: agent_op.agent,
            request: op.request.name(),
            code,
            asked_at_ms: agent_op.asked_at,
            acked: agent_op.acked.iter().map(|node| *node as u16).collect(),
        }));
        match agent_op.change {
            AgentChange::Login { .. } => self.revoke_login(&op, agent_op, out),
            AgentChange::Logout | AgentChange::Ready | AgentChange::NotReady => {}
        }
        self.fail(op.client, op.ref_id, &op.request, code, out);
    }

    /// [S-LIC-revoke]: a login refused anywhere is revoked everywhere: on the nodes that took
    /// it, and on those that did not answer, which may take it late (the logout follows the
    /// login on the same connection).
    fn revoke_login(&mut self, op: &ClientOp, agent_op: &AgentOp, out: &mut Vec<Output>) {
        let keeps = self.cfg.planted(ProxyBug::KeepsRefusedLogins);
        if !keeps && !agent_op.acked.is_empty() {
            mark(Mark::ProxyLoginRevoked, out);
        }
        let agent = agent_op.agent;
        for node in agent_op.acked.iter().chain(&agent_op.silent) {
            if !keeps && self.connected[*node] {
                let logout = Request::AgentLogout { agent };
                self.ask(*node, Asked::Quiet, Some(&op.name), logout, out);
            }
        }
        self.agents.remove(&agent);
    }

    /// Every node took the request: the proxy's record follows, nodes that connected meanwhile
    /// hear of it too, and the client gets its ack.
    fn agent_acked(&mut self, op: &ClientOp, agent_op: &AgentOp, out: &mut Vec<Output>) {
        let agent = agent_op.agent;
        match &agent_op.change {
            AgentChange::Login { tenant, media } => {
                self.agents.entry(agent).or_insert(AgentEntry {
                    client: op.name.clone(),
                    tenant: *tenant,
                    media: media.clone(),
                    ready: false,
                });
            }
            AgentChange::Logout => {
                self.agents.remove(&agent);
            }
            AgentChange::Ready => self.set_ready(agent, true),
            AgentChange::NotReady => self.set_ready(agent, false),
        }
        self.tell_missed_nodes(op, agent_op, out);
        if agent_op.acked.len() > 1 {
            mark(Mark::ProxyAgentFannedOut, out);
        }
        out.push(Output::Trace(TraceEvent::ProxyAgentAcked {
            agent,
            request: op.request.name(),
            tenant: agent_op.tenant,
            asked_at_ms: agent_op.asked_at,
        }));
        self.reply(op.client, op.ref_id, Event::Ack { ixn: None }, out);
    }

    fn set_ready(&mut self, agent: AgentId, ready: bool) {
        if let Some(entry) = self.agents.get_mut(&agent) {
            entry.ready = ready;
        }
    }

    /// [S-PX-agent] A node that (re)connected while the operation ran got the agent's state as
    /// it was before it (the replay on connect): it gets this change too, or the agent stays
    /// logged out or not ready there for good.
    fn tell_missed_nodes(&mut self, op: &ClientOp, agent_op: &AgentOp, out: &mut Vec<Output>) {
        if self.cfg.planted(ProxyBug::AgentOpsOneNode) {
            return;
        }
        let missed: Vec<usize> = self
            .live(self.cfg.tenant_nodes(agent_op.tenant))
            .into_iter()
            .filter(|node| !agent_op.acked.contains(node))
            .collect();
        for node in missed {
            self.ask(node, Asked::Quiet, Some(&op.name), op.request.clone(), out);
        }
    }

    /// Node `node` (re)connected: it logs in again every agent of its tenants, ready or not
    /// as the proxy last heard.
    pub(super) fn replay_agents(&mut self, node: usize, out: &mut Vec<Output>) {
        let agents: Vec<(AgentId, AgentEntry)> = self
            .agents
            .iter()
            .filter(|(_, entry)| self.cfg.nodes[node].tenants.contains(&entry.tenant))
            .map(|(agent, entry)| (*agent, entry.clone()))
            .collect();
        if !agents.is_empty() {
            mark(Mark::ProxyAgentsReplayed, out);
        }
        for (agent, entry) in agents {
            let login = Request::AgentLogin {
                tenant: Field::Value(entry.tenant),
                agent,
                media: entry.media.clone(),
            };
            self.ask(node, Asked::Quiet, Some(&entry.client), login, out);
            if entry.ready {
                let ready = Request::AgentReady { agent };
                self.ask(node, Asked::Quiet, Some(&entry.client), ready, out);
            }
        }
    }
}
