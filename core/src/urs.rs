//! A Universal Routing Server [S-URS]: selects agents for ORS `queue:submit` requests.
//!
//! - It connects directly to every IS pair (`Peer::Server(i)` is pair `i + 1`, primary or
//!   backup) and registers as a router there, so each node tells it its agents' states
//!   (EventAgentState, free capacity as that node counts it).
//! - ORS instances connect to it and send [`Request::SelectTarget`]: the interaction and the
//!   name of a target list (agents from the scenario). Requests wait in arrival order until an
//!   agent of the list has capacity on the interaction's node, or until their timeout, when the
//!   answer is an error.
//! - [S-URS-select]: with `agent_reservation`, before answering it reserves the agent through IS
//!   (RequestReserveAgent) so that no other router takes that capacity meanwhile; a refused
//!   reservation means another router was faster, and the request waits for the next agent.
//!   Without it, two URS can pick the same last unit of capacity and one delivery is refused.
//! - [S-URS-scope]: every request about an interaction goes only to the node that holds it (the
//!   node index in the top bits of a generated id), never broadcast.
//!
//! Where the seeds are silent: capacity is counted per IS node (each node counts the
//! deliveries it made; the cluster shares no agent state). Among the agents with capacity the
//! URS picks the one with the most free capacity, then the one it picked least recently, so
//! load spreads over the target list.
//!
//! Must not: answer a target it did not see with free capacity, or send one node a request
//! about another node's interaction.

use crate::clients::{Pending, TICK_TIMER};
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::machine::{fixed_polls, Input, Machine, Output, Peer, TimerId};
use crate::marks::{mark, Mark};
use crate::protocol::{AgentState, ClientKind, ErrorCode, Event, Field, Message, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

/// A named list of agents a strategy can `queue:submit` to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TargetList {
    pub name: String,
    pub agents: Vec<AgentId>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UrsConfig {
    pub name: String,
    pub tenant: TenantId,
    /// Number of IS pairs; `Peer::Server(i)` is pair `i + 1`.
    pub nodes: u16,
    pub targets: Vec<TargetList>,
    /// `agent_reservation`.
    pub agent_reservation: bool,
    /// How long a reservation holds the agent's capacity.
    pub reservation_ms: u64,
    pub request_timeout_ms: u64,
    pub tick_ms: u64,
    /// Direct mode [S-URS-rr]: routing strategies this URS has loaded, each routing to a target
    /// list; the nodes submit interactions of their strategy queues to it.
    pub strategies: Vec<LoadedStrategy>,
    /// A bug planted to prove the oracles catch it (`[urs] planted_bug`); `None` in every real
    /// scenario.
    pub planted_bug: Option<UrsBug>,
}

/// Bugs the harness can plant in the URS (`[urs] planted_bug`, by their kebab-case names).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UrsBug {
    /// Direct mode: the delivery goes to the first connected node, not to the node that
    /// raised the request. Caught by [S-URS-scope].
    DeliverToFirstNode,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LoadedStrategy {
    pub name: String,
    /// The target list the strategy routes to.
    pub targets: String,
}

#[derive(Debug)]
enum Sent {
    Register,
    Ping,
    /// A reservation of `agent` for the waiting request `wait`.
    Reserve {
        wait: u64,
        agent: AgentId,
    },
    LoadStrategies,
    /// Direct mode: RequestDeliver of `ixn` to the agent selected for it.
    Deliver {
        ixn: IxnId,
    },
}

/// Who a selection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// An ORS's `queue:submit`, answered on its connection.
    Ors { peer: Peer, ref_id: RefId },
    /// Direct mode: a node's route request; the URS delivers the interaction itself.
    Direct,
}

/// A selection waiting for an agent.

#[derive(Clone, Debug)]
struct Wait {
    origin: Origin,
    ixn: IxnId,
    /// The server index of the node that holds it.
    node: usize,
    /// Index into the configured target lists.
    list: usize,
    deadline: SimTime,
    /// A reservation in flight for this request.
    reserving: bool,
}

/// What one node told about an agent.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    free: u32,
}

pub struct UrsServer {
    cfg: UrsConfig,
    connected: Vec<bool>,
    /// Per node (index of the pair), the ready agents and their free capacity.
    seen: Vec<BTreeMap<AgentId, Seen>>,
    /// One request channel per node.
    pending: Vec<Pending<Sent>>,
    last_sent_at: Vec<SimTime>,
    waits: BTreeMap<u64, Wait>,
    next_wait: u64,
    /// When each agent was last picked (a counter), for spreading load.
    last_picked: BTreeMap<AgentId, u64>,
    picks: u64,
    /// Direct mode: interactions delivered (or being delivered) by this URS, with their request
    /// so a rejected delivery selects again.
    routing: BTreeMap<IxnId, Wait>,
}

impl UrsServer {
    pub fn new(cfg: UrsConfig) -> Self {
        let nodes = usize::from(cfg.nodes);
        UrsServer {
            cfg,
            connected: vec![false; nodes],
            seen: vec![BTreeMap::new(); nodes],
            pending: (0..nodes).map(|_| Pending::default()).collect(),
            last_sent_at: vec![0; nodes],
            waits: BTreeMap::new(),
            next_wait: 1,
            last_picked: BTreeMap::new(),
            picks: 0,
            routing: BTreeMap::new(),
        }
    }

    /// The server index of node `node` (pair `node`), if there is such a pair.
    fn server_of(&self, node: u16) -> Option<usize> {
        (1..=self.cfg.nodes)
            .contains(&node)
            .then(|| usize::from(node) - 1)
    }

    fn send(
        &mut self,
        now: SimTime,
        node: usize,
        request: Request,
        what: Sent,
        out: &mut Vec<Output>,
    ) {
        self.last_sent_at[node] = now;
        let deadline = now + self.cfg.request_timeout_ms;
        self.pending[node].send(Peer::Server(node as u16), request, deadline, what, out);
    }

    fn reply(peer: Peer, ref_id: RefId, event: Event, out: &mut Vec<Output>) {
        out.push(Output::Send(peer, Message::reply(ref_id, event)));
    }

    /// Picks an agent of `list` with capacity on `node`: the most free, then the least recently
    /// picked, then the lowest id.
    fn pick(&self, node: usize, list: usize) -> Option<AgentId> {
        let seen = &self.seen[node];
        self.cfg.targets[list]
            .agents
            .iter()
            .filter_map(|agent| seen.get(agent).map(|state| (*agent, state.free)))
            .filter(|(_, free)| *free > 0)
            .min_by_key(|(agent, free)| {
                (
                    std::cmp::Reverse(*free),
                    self.last_picked.get(agent).copied().unwrap_or(0),
                    *agent,
                )
            })
            .map(|(agent, _)| agent)
    }

    /// When the keep-alive ping to `node` falls due: connected, nothing outstanding there,
    /// half a request timeout after the last send to it.
    fn ping_due_at(&self, node: usize) -> Option<SimTime> {
        (self.connected[node] && self.pending[node].is_empty())
            .then_some(self.last_sent_at[node] + self.cfg.request_timeout_ms / 2)
    }

    /// [`Machine::skip_idle_polls`]: a poll does something at once if it would serve a wait
    /// (an agent free for it on its connected node), else from the first request deadline,
    /// ping due (a connected node with nothing outstanding) or wait deadline. Polls are a
    /// tick apart.
    fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        let waiting = self.waits.values().filter(|wait| !wait.reserving);
        let servable =
            |wait: &&Wait| self.connected[wait.node] && self.pick(wait.node, wait.list).is_some();
        if waiting.clone().any(|wait| servable(&wait)) {
            return at;
        }
        let node_due = |node: usize| {
            let expiry = self.pending[node].earliest_deadline();
            expiry.into_iter().chain(self.ping_due_at(node)).min()
        };
        let busy_from = (0..self.pending.len())
            .filter_map(node_due)
            .chain(waiting.map(|wait| wait.deadline))
            .min();
        fixed_polls(at, before, busy_from, self.cfg.tick_ms)
    }

    /// Serves waiting requests in arrival order while agents are available.
    fn dispatch(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let ready: Vec<u64> = self
            .waits
            .iter()
            .filter(|(_, wait)| !wait.reserving)
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let Some(wait) = self.waits.get(&id) else {
                continue;
            };
            let node = wait.node;
            if !self.connected[node] {
                continue;
            }
            let Some(agent) = self.pick(node, wait.list) else {
                continue;
            };
            let ixn = wait.ixn;
            // Count the pick at once; the node's next state report is authoritative.
            if let Some(state) = self.seen[node].get_mut(&agent) {
                state.free = state.free.saturating_sub(1);
            }
            self.picks += 1;
            self.last_picked.insert(agent, self.picks);
            if self.cfg.agent_reservation {
                if let Some(wait) = self.waits.get_mut(&id) {
                    wait.reserving = true;
                }
                let request = Request::ReserveAgent {
                    agent,
                    ixn: Field::Value(ixn),
                    ms: self.cfg.reservation_ms,
                };
                self.send(now, node, request, Sent::Reserve { wait: id, agent }, out);
            } else {
                self.answer(now, id, agent, out);
            }
        }
    }

    fn answer(&mut self, now: SimTime, wait: u64, agent: AgentId, out: &mut Vec<Output>) {
        let Some(wait) = self.waits.remove(&wait) else {
            return;
        };
        out.push(Output::Trace(TraceEvent::UrsSelected {
            ixn: wait.ixn,
            agent,
        }));
        match wait.origin {
            Origin::Ors { peer, ref_id } => {
                Self::reply(peer, ref_id, Event::TargetSelected { agent }, out);
            }
            Origin::Direct => {
                // [S-URS-scope]: the delivery goes to the node that raised the request.
                let node = match self.cfg.planted_bug {
                    Some(UrsBug::DeliverToFirstNode) => self
                        .connected
                        .iter()
                        .position(|up| *up)
                        .unwrap_or(wait.node),
                    None => wait.node,
                };
                out.push(Output::Trace(TraceEvent::UrsDeliverSent {
                    ixn: wait.ixn,
                    node: node as u16,
                }));
                let ixn = wait.ixn;
                self.routing.insert(ixn, wait);
                let request = Request::Deliver {
                    ixn: Field::Value(ixn),
                    agent,
                };
                self.send(now, node, request, Sent::Deliver { ixn }, out);
            }
        }
    }

    /// Direct mode: a delivery failed or the agent did not take it; select again.
    fn route_again(&mut self, ixn: IxnId) {
        if let Some(wait) = self.routing.remove(&ixn) {
            let id = self.next_wait;
            self.next_wait += 1;
            self.waits.insert(
                id,
                Wait {
                    reserving: false,
                    ..wait
                },
            );
        }
    }

    fn on_request(
        &mut self,
        now: SimTime,
        peer: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        match request {
            Request::RegisterClient { .. } | Request::Ping => {
                Self::reply(peer, ref_id, Event::Ack { ixn: None }, out);
            }
            Request::SelectTarget {
                ixn,
                node,
                targets,
                timeout_ms,
            } => {
                let list = self.cfg.targets.iter().position(|t| t.name == targets);
                match (list, self.server_of(node)) {
                    (Some(list), Some(node)) => {
                        let id = self.next_wait;
                        self.next_wait += 1;
                        self.waits.insert(
                            id,
                            Wait {
                                origin: Origin::Ors { peer, ref_id },
                                ixn,
                                node,
                                list,
                                deadline: now + timeout_ms,
                                reserving: false,
                            },
                        );
                        self.dispatch(now, out);
                    }
                    (None, _) => {
                        out.push(Output::Trace(TraceEvent::request_failed(
                            &Request::SelectTarget {
                                ixn,
                                node,
                                targets,
                                timeout_ms,
                            },
                            ErrorCode::UnknownObject,
                        )));
                        let code = ErrorCode::UnknownObject;
                        Self::reply(peer, ref_id, Event::Error { code }, out);
                    }
                    (Some(_), None) => {
                        let code = ErrorCode::InteractionNotFound;
                        Self::reply(peer, ref_id, Event::Error { code }, out);
                    }
                }
            }
            // A node's and the supervisor's work, not a router's.
            Request::Submit { .. }
            | Request::Pull { .. }
            | Request::PlaceInQueue { .. }
            | Request::UpdateUserData { .. }
            | Request::StopProcessing { .. }
            | Request::Deliver { .. }
            | Request::Accept { .. }
            | Request::Reject { .. }
            | Request::AgentLogin { .. }
            | Request::AgentLogout { .. }
            | Request::AgentReady { .. }
            | Request::AgentNotReady { .. }
            | Request::Find { .. }
            | Request::Snapshot { .. }
            | Request::Unregister
            | Request::Promote { .. }
            | Request::Demote
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. }
            | Request::FindInteractions { .. }
            | Request::ReserveAgent { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => {
                let code = ErrorCode::UnsupportedOperation;
                Self::reply(peer, ref_id, Event::Error { code }, out);
            }
        }
    }

    fn on_node_event(&mut self, now: SimTime, node: usize, event: Event, out: &mut Vec<Output>) {
        match event {
            Event::RouteRequest { ixn, strategy } => {
                let known = self.routing.contains_key(&ixn.id)
                    || self.waits.values().any(|wait| wait.ixn == ixn.id);
                if known {
                    return;
                }
                let list = self
                    .cfg
                    .strategies
                    .iter()
                    .find(|loaded| loaded.name == strategy)
                    .and_then(|loaded| {
                        self.cfg
                            .targets
                            .iter()
                            .position(|t| t.name == loaded.targets)
                    });
                if let Some(list) = list {
                    let id = self.next_wait;
                    self.next_wait += 1;
                    let wait = Wait {
                        origin: Origin::Direct,
                        ixn: ixn.id,
                        node,
                        list,
                        deadline: SimTime::MAX,
                        reserving: false,
                    };
                    self.waits.insert(id, wait);
                    self.dispatch(now, out);
                }
            }
            Event::Accepted { ixn, .. } => {
                self.routing.remove(&ixn);
            }
            Event::Rejected { ixn, .. } => {
                self.route_again(ixn);
                self.dispatch(now, out);
            }
            Event::AgentState { agent, state } => {
                match state {
                    AgentState::Ready { free } => {
                        self.seen[node].insert(agent, Seen { free });
                    }
                    AgentState::NotReady | AgentState::LoggedOut => {
                        self.seen[node].remove(&agent);
                    }
                }
                self.dispatch(now, out);
            }
            // Answers come through `on_answer`; the rest is not a router's to hear.
            Event::Ack { .. }
            | Event::Error { .. }
            | Event::TakenFromQueue { .. }
            | Event::Invite { .. }
            | Event::Revoked { .. }
            | Event::Found { .. }
            | Event::SnapshotContent { .. }
            | Event::Seats { .. }
            | Event::LoggedOut { .. }
            | Event::InteractionsFound { .. }
            | Event::TargetSelected { .. } => {}
        }
    }

    fn on_answer(&mut self, now: SimTime, what: Sent, event: Event, out: &mut Vec<Output>) {
        match what {
            Sent::Register | Sent::Ping | Sent::LoadStrategies => {}
            Sent::Deliver { ixn } => {
                if !matches!(event, Event::Ack { .. }) {
                    self.route_again(ixn);
                }
            }
            Sent::Reserve { wait, agent } => {
                if matches!(event, Event::Ack { .. }) {
                    self.answer(now, wait, agent, out);
                } else if let Event::Error {
                    code: code @ (ErrorCode::InteractionNotFound | ErrorCode::InvalidAttribute),
                } = event
                {
                    // The node does not have the interaction (stopped, or not this node's):
                    // the agent's state did not change there, so no report will correct the
                    // place this pick counted off at once. Give it back and end the request;
                    // retrying it every tick counted every agent's places off one by one until
                    // the URS saw no free agent on that node at all (ors --swarm --buggify seed
                    // 1583: urs-no-target beside idle agents).
                    if let Some(done) = self.waits.remove(&wait) {
                        if let Some(state) = self.seen[done.node].get_mut(&agent) {
                            state.free += 1;
                        }
                        mark(Mark::UrsNoTarget, out);
                        out.push(Output::Trace(TraceEvent::UrsNoTarget { ixn: done.ixn }));
                        if let Origin::Ors { peer, ref_id } = done.origin {
                            Self::reply(peer, ref_id, Event::Error { code }, out);
                        }
                    }
                } else {
                    // Another router was faster. The node told every router of that
                    // reservation before it answered this one, so what this URS knows of the
                    // agent is current already; the request tries again at the next tick.
                    if let Some(wait) = self.waits.get_mut(&wait) {
                        wait.reserving = false;
                    }
                }
            }
        }
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for node in 0..self.pending.len() {
            if let Some(request) = self.pending[node].expired(now) {
                out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
                out.push(Output::Close(Peer::Server(node as u16)));
            } else if self.ping_due_at(node).is_some_and(|due| now >= due) {
                self.send(now, node, Request::Ping, Sent::Ping, out);
            }
        }
        let expired: Vec<u64> = self
            .waits
            .iter()
            .filter(|(_, wait)| !wait.reserving && now >= wait.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(wait) = self.waits.remove(&id) {
                mark(Mark::UrsNoTarget, out);
                out.push(Output::Trace(TraceEvent::UrsNoTarget { ixn: wait.ixn }));
                let code = ErrorCode::AgentUnavailable;
                if let Origin::Ors { peer, ref_id } = wait.origin {
                    Self::reply(peer, ref_id, Event::Error { code }, out);
                }
            }
        }
        self.dispatch(now, out);
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }

    /// Node `node`'s connection closed: what it told is stale, its answers will not come.
    fn node_lost(&mut self, now: SimTime, node: usize, out: &mut Vec<Output>) {
        self.connected[node] = false;
        self.seen[node].clear();
        // Direct-mode work from that node: it gives it to another URS (or back to this one).
        self.waits
            .retain(|_, wait| !(wait.origin == Origin::Direct && wait.node == node));
        self.routing.retain(|_, wait| wait.node != node);
        for what in self.pending[node].drain() {
            if let Sent::Reserve { wait, .. } = what {
                if let Some(wait) = self.waits.get_mut(&wait) {
                    wait.reserving = false;
                }
            }
        }
        self.dispatch(now, out);
    }
}

impl Machine for UrsServer {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(Peer::Server(index)) => {
                let node = usize::from(index);
                if node < self.connected.len() {
                    self.connected[node] = true;
                    let register = Request::RegisterClient {
                        name: self.cfg.name.clone(),
                        kind: ClientKind::Router,
                    };
                    self.send(now, node, register, Sent::Register, out);
                    if !self.cfg.strategies.is_empty() {
                        let names = self.cfg.strategies.iter().map(|s| s.name.clone()).collect();
                        let load = Request::StrategiesLoaded { names };
                        self.send(now, node, load, Sent::LoadStrategies, out);
                    }
                }
            }
            Input::Disconnected(Peer::Server(index)) => {
                let node = usize::from(index);
                if node < self.connected.len() {
                    self.node_lost(now, node, out);
                }
            }
            Input::Disconnected(peer @ Peer::Client(_)) => {
                // The ORS went away: nobody waits for these answers any more.
                self.waits.retain(
                    |_, wait| !matches!(wait.origin, Origin::Ors { peer: p, .. } if p == peer),
                );
            }
            Input::Frame(Peer::Server(index), Message::Event { ref_id, event }) => {
                let node = usize::from(index);
                if node >= self.connected.len() {
                    return;
                }
                match ref_id {
                    Some(ref_id) => {
                        if let Some(what) = self.pending[node].answer(ref_id) {
                            self.on_answer(now, what, event, out);
                        }
                    }
                    None => self.on_node_event(now, node, event, out),
                }
            }
            Input::Frame(peer @ Peer::Client(_), Message::Request { ref_id, request }) => {
                self.on_request(now, peer, ref_id, request, out);
            }
            Input::Timer(TICK_TIMER) => self.on_tick(now, out),
            Input::Connected(Peer::Client(_))
            | Input::Frame(..)
            | Input::Timer(_)
            | Input::Persisted(_) => {}
        }
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        if timer == TICK_TIMER {
            self.skip_polls(at, before)
        } else {
            at
        }
    }

    /// [S-INV-machine]: every wait and delivery names a configured node and target list, wait
    /// ids come from the counter, pick stamps from the pick counter, and a node that is not
    /// connected has shown no agents.
    fn check_invariants(&self) -> Result<(), String> {
        let nodes = usize::from(self.cfg.nodes);
        if self.connected.len() != nodes || self.seen.len() != nodes || self.pending.len() != nodes
        {
            return Err(format!("per-node state is not sized for {nodes} nodes"));
        }
        let lists = self.cfg.targets.len();
        for (id, wait) in &self.waits {
            if *id >= self.next_wait {
                return Err(format!(
                    "wait {id} is not below the next id {}",
                    self.next_wait
                ));
            }
            if wait.node >= nodes || wait.list >= lists {
                return Err(format!(
                    "wait {id} for {} names node {} or list {} (of {nodes} and {lists})",
                    wait.ixn, wait.node, wait.list
                ));
            }
        }
        for (ixn, wait) in &self.routing {
            if *ixn != wait.ixn || wait.node >= nodes || wait.list >= lists {
                return Err(format!("the delivery of {ixn} is inconsistent: {wait:?}"));
            }
        }
        if let Some((agent, stamp)) = self.last_picked.iter().find(|(_, s)| **s > self.picks) {
            return Err(format!(
                "{agent:?} was picked at {stamp}, after the last pick {}",
                self.picks
            ));
        }
        if let Some(node) = (0..nodes).find(|n| !self.connected[*n] && !self.seen[*n].is_empty()) {
            return Err(format!(
                "node {} is not connected but shows agents",
                node + 1
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvList;
    use crate::protocol::IxnInfo;

    fn urs(reservation: bool) -> UrsServer {
        UrsServer::new(UrsConfig {
            name: "urs1".into(),
            tenant: TenantId(1),
            nodes: 2,
            targets: vec![TargetList {
                name: "sales".into(),
                agents: vec![AgentId(1), AgentId(2)],
            }],
            agent_reservation: reservation,
            reservation_ms: 2000,
            request_timeout_ms: 3000,
            tick_ms: 100,
            strategies: Vec::new(),
            planted_bug: None,
        })
    }

    /// [S-INV-machine]: a URS that routed passes; each inconsistency is reported.
    #[test]
    fn invariants_report_each_inconsistency() {
        let mut clean = urs(false);
        let mut out = Vec::new();
        clean.handle(0, Input::Connected(Peer::Server(0)), &mut out);
        state(&mut clean, 0, 1, 1, &mut out);
        select(&mut clean, IxnId(1 << 48 | 5), &mut out);
        assert_eq!(clean.check_invariants(), Ok(()));

        let mut stamped = urs(false);
        stamped.last_picked.insert(AgentId(1), 3);
        assert!(stamped
            .check_invariants()
            .unwrap_err()
            .contains("last pick"));

        let mut lost = urs(false);
        lost.seen[1].insert(AgentId(2), Seen { free: 1 });
        assert!(lost
            .check_invariants()
            .unwrap_err()
            .contains("not connected"));

        let mut unknown = urs(false);
        let wait = Wait {
            origin: Origin::Direct,
            ixn: IxnId(9),
            node: 0,
            list: 4,
            deadline: 0,
            reserving: false,
        };
        unknown.waits.insert(0, wait);
        assert!(unknown.check_invariants().unwrap_err().contains("list 4"));
    }

    fn state(urs: &mut UrsServer, node: u16, agent: u32, free: u32, out: &mut Vec<Output>) {
        let event = Event::AgentState {
            agent: AgentId(agent),
            state: AgentState::Ready { free },
        };
        urs.handle(
            0,
            Input::Frame(Peer::Server(node), Message::unsolicited(event)),
            out,
        );
    }

    fn select(urs: &mut UrsServer, ixn: IxnId, out: &mut Vec<Output>) {
        let request = Request::SelectTarget {
            ixn,
            node: (ixn.0 >> 48) as u16,
            targets: "sales".into(),
            timeout_ms: 1000,
        };
        let frame = Message::Request {
            ref_id: RefId(7),
            request,
        };
        urs.handle(0, Input::Frame(Peer::Client(1), frame), out);
    }

    /// [S-URS-scope]: the reservation goes to the node that holds the interaction, and only
    /// agents that node reported with capacity are picked.
    #[test]
    fn reserves_on_the_raising_node_only() {
        let mut urs = urs(true);
        let mut out = Vec::new();
        for index in 0..2 {
            urs.handle(0, Input::Connected(Peer::Server(index)), &mut out);
        }
        state(&mut urs, 0, 1, 1, &mut out);
        state(&mut urs, 1, 2, 2, &mut out);
        out.clear();
        select(&mut urs, IxnId::generated(2, 5), &mut out);
        let sent: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send(peer, Message::Request { request, .. }) => Some((*peer, request)),
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), 1, "{out:?}");
        assert_eq!(sent[0].0, Peer::Server(1));
        assert!(matches!(
            sent[0].1,
            Request::ReserveAgent {
                agent: AgentId(2),
                ..
            }
        ));
    }

    /// A request with no agent available waits, and is answered once a node reports one; past
    /// its timeout it gets an error.
    #[test]
    fn waits_for_capacity_then_times_out() {
        let mut urs = urs(false);
        let mut out = Vec::new();
        urs.handle(0, Input::Connected(Peer::Server(0)), &mut out);
        select(&mut urs, IxnId::generated(1, 1), &mut out);
        select(&mut urs, IxnId::generated(1, 2), &mut out);
        out.clear();
        state(&mut urs, 0, 1, 1, &mut out);
        let answers: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send(_, Message::Event { event, .. }) => Some(event.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            answers,
            vec![Event::TargetSelected { agent: AgentId(1) }],
            "the first request gets the one unit of capacity"
        );
        out.clear();
        urs.handle(1500, Input::Timer(TICK_TIMER), &mut out);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Send(
                _,
                Message::Event {
                    event: Event::Error {
                        code: ErrorCode::AgentUnavailable
                    },
                    ..
                }
            )
        )));
    }

    /// Pings keep an idle connection
    /// alive: only to a connected node with nothing outstanding, and only once it has been
    /// quiet for half a request timeout.
    #[test]
    fn pings_only_idle_connected_nodes_after_half_a_timeout() {
        let mut urs = urs(false);
        let mut out = Vec::new();
        for index in 0..2 {
            urs.handle(0, Input::Connected(Peer::Server(index)), &mut out);
        }
        let registrations: Vec<(Peer, RefId)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send(peer, Message::Request { ref_id, .. }) => Some((*peer, *ref_id)),
                _ => None,
            })
            .collect();
        assert_eq!(registrations.len(), 2, "{out:?}");
        for (peer, ref_id) in registrations {
            let ack = Message::reply(ref_id, Event::Ack { ixn: None });
            urs.handle(10, Input::Frame(peer, ack), &mut out);
        }
        let pings = |out: &[Output]| -> Vec<Peer> {
            out.iter()
                .filter_map(|o| match o {
                    Output::Send(
                        peer,
                        Message::Request {
                            request: Request::Ping,
                            ..
                        },
                    ) => Some(*peer),
                    _ => None,
                })
                .collect()
        };
        out.clear();
        urs.handle(1000, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(pings(&out), vec![], "quiet for less than half a timeout");
        urs.handle(1200, Input::Disconnected(Peer::Server(1)), &mut out);
        out.clear();
        urs.handle(1600, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(pings(&out), vec![Peer::Server(0)], "{out:?}");
        out.clear();
        urs.handle(1700, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(pings(&out), vec![], "a ping is outstanding");
    }

    /// A connection event for a server index past the configured nodes is ignored.
    #[test]
    fn servers_past_the_nodes_are_ignored() {
        let mut urs = urs(false);
        let mut out = Vec::new();
        urs.handle(0, Input::Connected(Peer::Server(2)), &mut out);
        urs.handle(0, Input::Disconnected(Peer::Server(2)), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    fn route_request(urs: &mut UrsServer, node: u16, ixn: IxnId, out: &mut Vec<Output>) {
        let info = IxnInfo {
            id: ixn,
            tenant: TenantId(1),
            media: "email".into(),
            queue: "direct".into(),
            priority: 0,
            submitted_at: 0,
            user_data: KvList::new(),
            node: node + 1,
        };
        let event = Event::RouteRequest {
            ixn: info,
            strategy: "to-sales".into(),
        };
        let frame = Message::unsolicited(event);
        urs.handle(0, Input::Frame(Peer::Server(node), frame), out);
    }

    /// The deliveries `out` asks for: (node, interaction).
    fn deliveries(out: &[Output]) -> Vec<(Peer, IxnId)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(
                    peer,
                    Message::Request {
                        request:
                            Request::Deliver {
                                ixn: Field::Value(ixn),
                                ..
                            },
                        ..
                    },
                ) => Some((*peer, *ixn)),
                _ => None,
            })
            .collect()
    }

    /// [S-URS-rr] direct mode: losing a node forgets the deliveries to that node only. The
    /// lost node asks again for what it gave this URS (and gets it routed); a delivery on
    /// another node that its agent refuses is selected again.
    #[test]
    fn a_lost_node_forgets_only_its_own_deliveries() {
        let mut urs = urs(false);
        urs.cfg.strategies = vec![LoadedStrategy {
            name: "to-sales".into(),
            targets: "sales".into(),
        }];
        let mut out = Vec::new();
        for node in 0..2 {
            urs.handle(0, Input::Connected(Peer::Server(node)), &mut out);
        }
        state(&mut urs, 0, 1, 1, &mut out);
        state(&mut urs, 1, 2, 1, &mut out);
        let (first, second) = (IxnId::generated(1, 1), IxnId::generated(2, 1));
        out.clear();
        route_request(&mut urs, 0, first, &mut out);
        route_request(&mut urs, 1, second, &mut out);
        let expected = vec![(Peer::Server(0), first), (Peer::Server(1), second)];
        assert_eq!(deliveries(&out), expected);
        urs.handle(10, Input::Disconnected(Peer::Server(0)), &mut out);
        urs.handle(20, Input::Connected(Peer::Server(0)), &mut out);
        state(&mut urs, 0, 1, 1, &mut out);
        out.clear();
        route_request(&mut urs, 0, first, &mut out);
        assert_eq!(deliveries(&out), vec![(Peer::Server(0), first)]);
        out.clear();
        let rejected = Event::Rejected {
            agent: AgentId(2),
            ixn: second,
        };
        let frame = Message::unsolicited(rejected);
        urs.handle(30, Input::Frame(Peer::Server(1), frame), &mut out);
        state(&mut urs, 1, 2, 1, &mut out);
        assert_eq!(deliveries(&out), vec![(Peer::Server(1), second)]);
    }
}
