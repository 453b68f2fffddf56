//! A simple router: pulls from one queue view as many interactions as it has free agent
//! capacity for, and delivers each to a ready agent. It stands in for URS/ORS until those exist
//! and exercises [S-IS-pull], [S-IS-hold] and [S-IS-deliver].
//!
//! It learns agent states from the node's EventAgentState and reserves capacity locally for
//! deliveries in flight. Interactions it owns survive a reconnect within the node's grace period
//! (it registers under the same name for its whole process life); a process restart gets a new
//! name, so what the old process owned returns to the queue [S-IS-owner].

use super::{Pending, Reading, TICK_TIMER};
use crate::ids::{AgentId, IxnId, SimTime, TenantId};
use crate::machine::{fixed_polls, Input, Machine, Output, Peer, TimerId};
use crate::protocol::{AgentState, ClientKind, ErrorCode, Event, Field, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RouterConfig {
    pub name: String,
    pub tenant: TenantId,
    pub queue: String,
    pub view: String,
    pub pull_batch_max: u32,
    /// The node's pull hold: a pull may legitimately wait this long before its answer.
    pub pull_hold_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// How long to wait for an agent's answer to an invite before asking again.
    pub delivery_timeout_ms: u64,
    pub tick_ms: u64,
}

const SERVER: Peer = Peer::Server(0);

#[derive(Debug)]
enum Sent {
    Register,
    Pull,
    Deliver(IxnId, AgentId),
    Ping,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    /// Owned, waiting for a free agent.
    Idle,
    /// Offered to an agent since the given time; waiting for EventAccepted/EventRejected.
    Offered(SimTime),
}

pub struct Router {
    cfg: RouterConfig,
    connected: bool,
    pulling: bool,
    /// Free capacity per ready agent, as the node last reported it.
    agents: BTreeMap<AgentId, u32>,
    /// Deliveries sent and not yet answered, per agent.
    reserved: BTreeMap<AgentId, u32>,
    holding: BTreeMap<IxnId, Holding>,
    pending: Pending<Sent>,
    last_sent_at: SimTime,
}

impl Router {
    pub fn new(cfg: RouterConfig) -> Self {
        Router {
            cfg,
            connected: false,
            pulling: false,
            agents: BTreeMap::new(),
            reserved: BTreeMap::new(),
            holding: BTreeMap::new(),
            pending: Pending::default(),
            last_sent_at: 0,
        }
    }

    fn send(&mut self, now: SimTime, request: Request, what: Sent, out: &mut Vec<Output>) {
        self.last_sent_at = now;
        let pull_hold = if matches!(what, Sent::Pull) {
            self.cfg.pull_hold_timeout_ms
        } else {
            0
        };
        let deadline = now + self.cfg.request_timeout_ms + pull_hold;
        self.pending.send(SERVER, request, deadline, what, out);
    }

    fn free(&self, agent: AgentId) -> u32 {
        let free = self.agents.get(&agent).copied().unwrap_or(0);
        free.saturating_sub(self.reserved.get(&agent).copied().unwrap_or(0))
    }

    /// The ready agent with the most free capacity (lowest id on ties).
    fn pick_agent(&self) -> Option<AgentId> {
        self.agents
            .keys()
            .map(|agent| (self.free(*agent), *agent))
            .filter(|(free, _)| *free > 0)
            .max_by_key(|(free, agent)| (*free, std::cmp::Reverse(*agent)))
            .map(|(_, agent)| agent)
    }

    fn unreserve(&mut self, agent: AgentId) {
        if let Some(count) = self.reserved.get_mut(&agent) {
            *count = count.saturating_sub(1);
        }
    }

    /// Interactions held and not offered yet.
    fn waiting(&self) -> u32 {
        self.holding
            .values()
            .filter(|h| **h == Holding::Idle)
            .count() as u32
    }

    /// How many interactions to pull: the agents' free capacity beyond what it holds, at
    /// most a batch.
    fn pull_count(&self) -> u32 {
        let capacity: u32 = self.agents.keys().map(|agent| self.free(*agent)).sum();
        capacity
            .saturating_sub(self.waiting())
            .min(self.cfg.pull_batch_max)
    }

    /// When the keep-alive ping falls due: connected, nothing outstanding, half a request
    /// timeout after the last send.
    fn ping_due_at(&self) -> Option<SimTime> {
        (self.connected && self.pending.is_empty())
            .then_some(self.last_sent_at + self.cfg.request_timeout_ms / 2)
    }

    /// Whether [`Self::drive`] would do anything: offer an interaction it holds to a free
    /// agent, or pull for free capacity.
    fn would_drive(&self) -> bool {
        if !self.connected {
            return false;
        }
        if self.waiting() > 0 && self.pick_agent().is_some() {
            return true;
        }
        !self.pulling && self.pull_count() > 0
    }

    /// Delivers what it holds, then pulls for the capacity left.
    fn drive(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if !self.connected {
            return;
        }
        let idle: Vec<IxnId> = self
            .holding
            .iter()
            .filter(|(_, holding)| **holding == Holding::Idle)
            .map(|(ixn, _)| *ixn)
            .collect();
        for ixn in idle {
            let Some(agent) = self.pick_agent() else {
                break;
            };
            *self.reserved.entry(agent).or_default() += 1;
            self.holding.insert(ixn, Holding::Offered(now));
            let request = Request::Deliver {
                ixn: Field::Value(ixn),
                agent,
            };
            self.send(now, request, Sent::Deliver(ixn, agent), out);
        }
        if self.pulling {
            return;
        }
        let count = self.pull_count();
        if count > 0 {
            self.pulling = true;
            let request = Request::Pull {
                tenant: Field::Value(self.cfg.tenant),
                queue: self.cfg.queue.clone(),
                view: self.cfg.view.clone(),
                count,
                hold_ms: None,
            };
            self.send(now, request, Sent::Pull, out);
        }
    }

    fn on_answer(&mut self, what: Sent, event: Event) {
        match (what, event) {
            (Sent::Pull, Event::TakenFromQueue { items }) => {
                self.pulling = false;
                for item in items {
                    self.holding.insert(item.id, Holding::Idle);
                }
            }
            (Sent::Pull, _) => self.pulling = false,
            (Sent::Deliver(_, agent), Event::Ack { .. }) => self.unreserve(agent),
            (Sent::Deliver(ixn, agent), Event::Error { code }) => {
                self.unreserve(agent);
                match code {
                    ErrorCode::NotOwner | ErrorCode::InteractionNotFound => {
                        self.holding.remove(&ixn);
                    }
                    // Still invited from before a reconnect: wait for the agent's answer.
                    ErrorCode::InvalidState => {}
                    // The agent or the path failed: offer the interaction again.
                    ErrorCode::InvalidAttribute
                    | ErrorCode::UnknownObject
                    | ErrorCode::DuplicateId
                    | ErrorCode::AgentUnavailable
                    | ErrorCode::NotRegistered
                    | ErrorCode::NoSeat
                    | ErrorCode::UnsupportedOperation
                    | ErrorCode::NoNodeForMedia
                    | ErrorCode::ConnectionLost
                    | ErrorCode::NotAccessible
                    | ErrorCode::InProgress
                    | ErrorCode::DuplicateAcrossNodes
                    | ErrorCode::SnapshotNotAccessible
                    | ErrorCode::NotPrimary => {
                        self.holding.insert(ixn, Holding::Idle);
                    }
                }
            }
            (Sent::Deliver(_, agent), _) => self.unreserve(agent),
            (Sent::Register | Sent::Ping, _) => {}
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::AgentState { agent, state } => match state {
                AgentState::Ready { free } => {
                    self.agents.insert(agent, free);
                }
                AgentState::NotReady | AgentState::LoggedOut => {
                    self.agents.remove(&agent);
                }
            },
            Event::Accepted { ixn, .. } => {
                self.holding.remove(&ixn);
            }
            Event::Rejected { ixn, .. } => {
                if self.holding.contains_key(&ixn) {
                    self.holding.insert(ixn, Holding::Idle);
                }
            }
            // The node lists what this name still owns, with no agent, when it registers again:
            // a pull answer may have been lost with the old connection, and an offer the
            // router still waits on was lost with it, or with the old primary (a switchover
            // loads the interaction with no invite open). Both are offered again at once; an
            // invite still open on the node answers InvalidState and the router waits for it.
            // (Waiting out the delivery timeout instead left a failed-over interaction idle
            // beside free agents for 6 s: cluster-faults --swarm --buggify seed 755.)
            Event::TakenFromQueue { items } => {
                for item in items {
                    self.holding.insert(item.id, Holding::Idle);
                }
            }
            Event::Ack { .. }
            | Event::Error { .. }
            | Event::Invite { .. }
            | Event::Revoked { .. }
            | Event::Found { .. }
            | Event::SnapshotContent { .. }
            | Event::Seats { .. }
            | Event::LoggedOut { .. }
            | Event::InteractionsFound { .. }
            | Event::TargetSelected { .. }
            | Event::RouteRequest { .. } => {}
        }
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if let Some(request) = self.pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(SERVER));
        }
        for holding in self.holding.values_mut() {
            if let Holding::Offered(since) = *holding {
                if now >= since + self.cfg.delivery_timeout_ms {
                    *holding = Holding::Idle;
                }
            }
        }
        self.drive(now, out);
        if self.ping_due_at().is_some_and(|due| now >= due) {
            self.send(now, Request::Ping, Sent::Ping, out);
        }
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}

impl Router {
    /// [`Machine::skip_idle_polls`]: a poll does something at once if it would deliver or
    /// pull, else from the first request deadline, offer timeout or (connected, nothing
    /// outstanding) ping due. Polls are a tick apart.
    fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        if self.would_drive() {
            return at;
        }
        let offers = self.holding.values().filter_map(|holding| match *holding {
            Holding::Offered(since) => Some(since + self.cfg.delivery_timeout_ms),
            _ => None,
        });
        let busy_from = offers
            .chain(self.pending.earliest_deadline())
            .chain(self.ping_due_at())
            .min();
        fixed_polls(at, before, busy_from, self.cfg.tick_ms)
    }
}

impl Machine for Router {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start | Input::Timer(_) => self.on_tick(now, out),
            Input::Connected(_) => {
                self.connected = true;
                let register = Request::RegisterClient {
                    name: self.cfg.name.clone(),
                    kind: ClientKind::Router,
                };
                self.send(now, register, Sent::Register, out);
                self.drive(now, out);
            }
            Input::Disconnected(_) => {
                self.connected = false;
                self.pulling = false;
                self.pending.drain();
                self.reserved.clear();
                self.agents.clear();
            }
            Input::Frame(_, message) => match self.pending.read(message) {
                Reading::Answer(what, event) => {
                    self.on_answer(what, event);
                    self.drive(now, out);
                }
                Reading::Unsolicited(event) => {
                    self.on_event(event);
                    self.drive(now, out);
                }
                Reading::Nothing => {}
            },
            Input::Persisted(_) => {}
        }
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        if timer == TICK_TIMER {
            self.skip_polls(at, before)
        } else {
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::outputs::{names, requests, timed_out};
    use super::*;
    use crate::protocol::Message;

    const TIMEOUT_MS: u64 = 400;
    const TICK_MS: u64 = 20;

    fn router() -> Router {
        Router::new(RouterConfig {
            name: "router1".into(),
            tenant: TenantId(1),
            queue: "q".into(),
            view: "v".into(),
            pull_batch_max: 2,
            pull_hold_timeout_ms: 200,
            request_timeout_ms: TIMEOUT_MS,
            delivery_timeout_ms: 2000,
            tick_ms: TICK_MS,
        })
    }

    /// A request the node never answers is given up on after the request timeout, counted
    /// from when it was sent.
    #[test]
    fn an_unanswered_request_times_out_after_the_request_timeout() {
        let mut router = router();
        let mut out = Vec::new();
        router.handle(1000, Input::Connected(SERVER), &mut out);
        assert_eq!(names(&out), vec!["RequestRegisterClient"]);
        let mut out = Vec::new();
        router.handle(1000 + TIMEOUT_MS - 1, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(timed_out(&out), Vec::<&str>::new());
        router.handle(1000 + TIMEOUT_MS, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(timed_out(&out), vec!["RequestRegisterClient"]);
    }

    /// An idle router pings once half its request timeout passed without a request, so that
    /// a dead connection is noticed before work waits on it.
    #[test]
    fn an_idle_router_pings_after_half_its_timeout() {
        let mut router = router();
        let mut out = Vec::new();
        router.handle(0, Input::Connected(SERVER), &mut out);
        let (_, ref_id, _) = requests(&out)[0].clone();
        let mut out = Vec::new();
        let ack = Message::reply(ref_id, Event::Ack { ixn: None });
        router.handle(0, Input::Frame(SERVER, ack), &mut out);
        assert_eq!(names(&out), Vec::<&str>::new(), "not idle");
        router.handle(TIMEOUT_MS / 2 - TICK_MS, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(names(&out), Vec::<&str>::new());
        router.handle(TIMEOUT_MS / 2, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(names(&out), vec!["RequestPing"]);
    }
}
