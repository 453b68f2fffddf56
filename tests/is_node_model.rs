//! The Interaction Server node against a small reference model [S-IS-*], as a proptest
//! state-machine test: generated sequences of connects, registrations, requests (valid and bad:
//! missing or wrongly typed attributes, unknown objects, other clients' interactions), agent
//! logins, disconnects, time passing (pull holds, invite timeouts, owner grace), restarts from
//! the durable database, and crashes that cut a request off before its write.
//!
//! After every step the test compares every answer the node sent (by reference id) with the
//! model's, every interaction's queue, owner, handling agent and availability, the durable
//! database, and the node's own invariants.
//!
//! The driver commits durable writes at once (a zero-latency database), so a step is atomic
//! unless the transition is a crash; the sim suites cover write latency.

use ixsim_core::db::{DbOp, Durable, IsDatabase};
use ixsim_core::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use ixsim_core::is_node::{
    IsConfig, IsNode, MediaConfig, QueueConfig, TenantConfig, ViewCondition, ViewConfig,
};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer, TimerId, WriteId};
use ixsim_core::protocol::{ClientKind, ErrorCode, Event, Field, Message, Request};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

const NODE: u16 = 1;
const HOLD_MS: u64 = 500;
const GRACE_MS: u64 = 1000;
const INVITE_MS: u64 = 300;
const CAPACITY: u32 = 2;
const SEATS: u32 = 2;
const HELD_MAX: usize = 3;
const SNAPSHOT_MAX: u32 = 2;
const PEERS: u8 = 3;
const NAMES: [&str; 4] = ["r1", "r2", "d1", "d2"];
const CLIENT_IDS: [u64; 3] = [
    0xC0_0000_0000_0001,
    0xC0_0000_0000_0002,
    0xC0_0000_0000_0003,
];
const UNKNOWN_IXN: IxnId = IxnId(0xDEAD);

fn kind_of(name: &str) -> ClientKind {
    if name.starts_with('r') {
        ClientKind::Router
    } else {
        ClientKind::AgentDesktop
    }
}

fn register(name: &str) -> Request {
    Request::RegisterClient {
        name: name.to_string(),
        kind: kind_of(name),
    }
}

fn config() -> IsConfig {
    let all = || ViewConfig {
        name: "all".to_string(),
        condition: None,
    };
    let media = |name: &str, enabled: bool| MediaConfig {
        name: name.to_string(),
        enabled,
    };
    IsConfig {
        node: NODE,
        tenants: vec![
            TenantConfig {
                id: TenantId(1),
                media: vec![media("email", true), media("sms", false)],
            },
            TenantConfig {
                id: TenantId(2),
                media: vec![media("chat", true)],
            },
        ],
        queues: vec![
            QueueConfig {
                name: "q1".to_string(),
                tenant: TenantId(1),
                views: vec![
                    all(),
                    ViewConfig {
                        name: "vip".to_string(),
                        condition: Some(ViewCondition {
                            key: "VIP".to_string(),
                            equals: KvValue::Str("yes".to_string()),
                        }),
                    },
                ],
            },
            QueueConfig {
                name: "q2".to_string(),
                tenant: TenantId(1),
                views: vec![all()],
            },
            QueueConfig {
                name: "q3".to_string(),
                tenant: TenantId(2),
                views: vec![all()],
            },
        ],
        pull_hold_timeout_ms: HOLD_MS,
        owner_grace_ms: GRACE_MS,
        invite_timeout_ms: INVITE_MS,
        agent_capacity: CAPACITY,
        seats: Some(SEATS),
        license_group: None,
        held_pulls_max: HELD_MAX,
        max_interactions_per_snapshot: SNAPSHOT_MAX,
        client_idle_timeout_ms: 0,
        planted_bug: None,
        queue_strategies: Default::default(),
    }
}

fn vip_data(vip: bool) -> KvList {
    KvList::new().with(
        "VIP",
        KvValue::Str(if vip { "yes" } else { "no" }.to_string()),
    )
}

/// The answer to one request, as far as the model predicts it.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Reply {
    Ack(Option<IxnId>),
    Error(ErrorCode),
    Taken(Vec<IxnId>),
    Found(IxnId),
    Snapshot(Vec<IxnId>),
    FoundMany(Vec<IxnId>),
}

#[derive(Clone, Debug)]
enum Transition {
    /// Connects the peer (if it is not) and registers it under the name, if one is given.
    Connect(u8, Option<&'static str>),
    Disconnect(u8),
    Request(u8, Request),
    /// The request is handled but the node crashes before any of its writes is durable.
    CrashDuring(u8, Request),
    Restart,
    Advance(u64),
}

// ---------------------------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Debug)]
struct Invite {
    agent: AgentId,
    timer: (SimTime, u64),
}

#[derive(Clone, Debug)]
struct MIxn {
    queue: String,
    priority: i32,
    seq: u64,
    vip: bool,
    owner: Option<String>,
    agent: Option<AgentId>,
    invite: Option<Invite>,
}

impl MIxn {
    fn available(&self) -> bool {
        self.owner.is_none()
    }
}

#[derive(Clone, Debug)]
struct MAgent {
    peer: u8,
    ready: bool,
    load: u32,
}

#[derive(Clone, Debug)]
struct Held {
    peer: u8,
    /// The name the puller had when it pulled.
    name: String,
    ref_id: u32,
    queue: String,
    view: String,
    count: u32,
    timer: (SimTime, u64),
}

#[derive(Clone, Debug, Default)]
struct Model {
    now: SimTime,
    next_timer: u64,
    next_ref: u32,
    next_seq: u64,
    ixns: BTreeMap<IxnId, MIxn>,
    /// Connected test peers and the name each registered under.
    peers: BTreeMap<u8, Option<String>>,
    agents: BTreeMap<AgentId, MAgent>,
    held: Vec<Held>,
    graces: Vec<((SimTime, u64), String)>,
    /// Answers of the last step, by reference id.
    replies: BTreeMap<u32, Reply>,
    /// Every interaction id ever submitted, for generating requests about them.
    known: Vec<IxnId>,
}

enum Fired {
    Hold(u64),
    Invite(IxnId),
    Grace(u64),
}

impl Model {
    fn timer(&mut self, at: SimTime) -> (SimTime, u64) {
        self.next_timer += 1;
        (at, self.next_timer)
    }

    fn name_of(&self, peer: u8) -> Option<String> {
        self.peers.get(&peer).cloned().flatten()
    }

    fn peer_of_name(&self, name: &str) -> Option<u8> {
        self.peers
            .iter()
            .find(|(_, registered)| registered.as_deref() == Some(name))
            .map(|(peer, _)| *peer)
    }

    fn select(&self, queue: &str, view: &str, count: u32) -> Vec<IxnId> {
        let mut candidates: Vec<(Reverse<i32>, u64, IxnId)> = self
            .ixns
            .iter()
            .filter(|(_, ixn)| ixn.available() && ixn.queue == queue)
            .filter(|(_, ixn)| view == "all" || ixn.vip)
            .map(|(id, ixn)| (Reverse(ixn.priority), ixn.seq, *id))
            .collect();
        candidates.sort();
        candidates
            .into_iter()
            .take(count as usize)
            .map(|(_, _, id)| id)
            .collect()
    }

    fn hand_out(&mut self, ref_id: u32, name: &str, ids: Vec<IxnId>) {
        for id in &ids {
            if let Some(ixn) = self.ixns.get_mut(id) {
                ixn.owner = Some(name.to_string());
                ixn.agent = None;
            }
        }
        self.replies.insert(ref_id, Reply::Taken(ids));
    }

    fn serve_held(&mut self, queue: &str) {
        let mut index = 0;
        while index < self.held.len() {
            let held = &self.held[index];
            if held.queue != queue {
                index += 1;
                continue;
            }
            let picked = self.select(queue, &held.view, held.count);
            if picked.is_empty() {
                index += 1;
                continue;
            }
            let held = self.held.remove(index);
            self.hand_out(held.ref_id, &held.name, picked);
        }
    }

    fn change_load(&mut self, agent: AgentId, delta: i32) {
        if let Some(state) = self.agents.get_mut(&agent) {
            state.load = state.load.saturating_add_signed(delta);
        }
    }

    fn end_invite(&mut self, id: IxnId) -> bool {
        let Some(invite) = self.ixns.get_mut(&id).and_then(|ixn| ixn.invite.take()) else {
            return false;
        };
        self.change_load(invite.agent, -1);
        true
    }

    fn disown(&mut self, id: IxnId) {
        let Some(ixn) = self.ixns.get_mut(&id) else {
            return;
        };
        ixn.owner = None;
        if let Some(agent) = ixn.agent.take() {
            self.change_load(agent, -1);
        }
    }

    fn logout(&mut self, agent: AgentId) {
        let invited: Vec<IxnId> = self
            .ixns
            .iter()
            .filter(|(_, ixn)| ixn.invite.as_ref().is_some_and(|i| i.agent == agent))
            .map(|(id, _)| *id)
            .collect();
        for id in invited {
            self.end_invite(id);
        }
        self.agents.remove(&agent);
    }

    /// Name `name` lost its connection: start its grace timer if it owns anything.
    fn leave(&mut self, name: &str) {
        if self
            .ixns
            .values()
            .any(|ixn| ixn.owner.as_deref() == Some(name))
        {
            let timer = self.timer(self.now + GRACE_MS);
            self.graces.push((timer, name.to_string()));
        }
    }

    fn disconnect(&mut self, peer: u8) {
        let Some(registered) = self.peers.remove(&peer) else {
            return;
        };
        self.gone(peer, registered);
    }

    /// The client on `peer` is gone (its connection closed, or it unregistered).
    fn gone(&mut self, peer: u8, registered: Option<String>) {
        self.held.retain(|held| held.peer != peer);
        let agents: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, agent)| agent.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for agent in agents {
            self.logout(agent);
        }
        if let Some(name) = registered {
            self.leave(&name);
        }
    }

    fn release_owned_by(&mut self, name: &str) {
        let owned: Vec<IxnId> = self
            .ixns
            .iter()
            .filter(|(_, ixn)| ixn.owner.as_deref() == Some(name))
            .map(|(id, _)| *id)
            .collect();
        let mut touched = BTreeSet::new();
        for id in owned {
            self.end_invite(id);
            self.disown(id);
            touched.insert(self.ixns[&id].queue.clone());
        }
        for queue in touched {
            self.serve_held(&queue);
        }
    }

    fn restart(&mut self) {
        self.peers.clear();
        self.agents.clear();
        self.held.clear();
        self.graces.clear();
        let mut owners = BTreeSet::new();
        for ixn in self.ixns.values_mut() {
            ixn.invite = None;
            if let Some(owner) = &ixn.owner {
                owners.insert(owner.clone());
            }
        }
        for name in owners {
            let timer = self.timer(self.now + GRACE_MS);
            self.graces.push((timer, name));
        }
    }

    fn next_due(&self, until: SimTime) -> Option<((SimTime, u64), Fired)> {
        let holds = self.held.iter().map(|h| (h.timer, Fired::Hold(h.timer.1)));
        let invites = self.ixns.iter().filter_map(|(id, ixn)| {
            ixn.invite
                .as_ref()
                .map(|invite| (invite.timer, Fired::Invite(*id)))
        });
        let graces = self.graces.iter().map(|(t, _)| (*t, Fired::Grace(t.1)));
        holds
            .chain(invites)
            .chain(graces)
            .filter(|(timer, _)| timer.0 <= until)
            .min_by_key(|(timer, _)| *timer)
    }

    fn advance(&mut self, by: u64) {
        let until = self.now + by;
        while let Some((timer, fired)) = self.next_due(until) {
            self.now = timer.0;
            match fired {
                Fired::Hold(seq) => {
                    if let Some(index) = self.held.iter().position(|h| h.timer.1 == seq) {
                        let held = self.held.remove(index);
                        self.replies.insert(held.ref_id, Reply::Taken(Vec::new()));
                    }
                }
                Fired::Invite(id) => {
                    self.end_invite(id);
                }
                Fired::Grace(seq) => {
                    let index = self
                        .graces
                        .iter()
                        .position(|(t, _)| t.1 == seq)
                        .expect("fired grace timer exists");
                    let (_, name) = self.graces.remove(index);
                    if self.peer_of_name(&name).is_none() {
                        self.release_owned_by(&name);
                    }
                }
            }
        }
        self.now = until;
    }

    fn tenant(tenant: &Field<TenantId>) -> Result<TenantId, ErrorCode> {
        match tenant {
            Field::Value(id) if id.0 == 1 || id.0 == 2 => Ok(*id),
            Field::Value(_) => Err(ErrorCode::UnknownObject),
            Field::Missing | Field::WrongType(_) => Err(ErrorCode::InvalidAttribute),
        }
    }

    fn queue_tenant(queue: &str) -> Option<TenantId> {
        match queue {
            "q1" | "q2" => Some(TenantId(1)),
            "q3" => Some(TenantId(2)),
            _ => None,
        }
    }

    fn owned(&self, name: &str, ixn: &Field<IxnId>) -> Result<IxnId, ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        let stored = self.ixns.get(&id).ok_or(ErrorCode::InteractionNotFound)?;
        match &stored.owner {
            Some(owner) if owner == name && stored.invite.is_none() => Ok(id),
            Some(owner) if owner == name => Err(ErrorCode::InvalidState),
            Some(_) | None => Err(ErrorCode::NotOwner),
        }
    }

    fn own_agent(&self, peer: u8, agent: AgentId) -> Result<(), ErrorCode> {
        match self.agents.get(&agent) {
            Some(state) if state.peer == peer => Ok(()),
            Some(_) | None => Err(ErrorCode::AgentUnavailable),
        }
    }

    /// Handles one request; `Ok(None)` when the answer is sent later (held pull).
    fn request(
        &mut self,
        peer: u8,
        ref_id: u32,
        request: &Request,
    ) -> Result<Option<Reply>, ErrorCode> {
        let name = match (request, self.name_of(peer)) {
            (Request::RegisterClient { name, .. }, _) => {
                if let Some(previous) = self.name_of(peer) {
                    if &previous != name {
                        self.leave(&previous);
                    }
                }
                if let Some(other) = self.peer_of_name(name) {
                    if other != peer {
                        // The node closes the older connection under this name.
                        if let Some(registered) = self.peers.get_mut(&other) {
                            *registered = None;
                        }
                        self.disconnect(other);
                    }
                }
                self.peers.insert(peer, Some(name.clone()));
                return Ok(Some(Reply::Ack(None)));
            }
            (Request::Ping, _) => return Ok(Some(Reply::Ack(None))),
            (_, None) => return Err(ErrorCode::NotRegistered),
            (_, Some(name)) => name,
        };
        match request {
            Request::RegisterClient { .. } | Request::Ping => unreachable!("answered above"),
            Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data,
                client_ixn,
            } => {
                let tenant = Self::tenant(tenant)?;
                let media = media.value().ok_or(ErrorCode::InvalidAttribute)?;
                let known_media = match tenant.0 {
                    1 => media == "email" || media == "sms",
                    _ => media == "chat",
                };
                if !known_media || Self::queue_tenant(queue) != Some(tenant) {
                    return Err(ErrorCode::UnknownObject);
                }
                let seq = self.next_seq;
                let id = client_ixn.unwrap_or(IxnId::generated(NODE, seq));
                if self.ixns.contains_key(&id) {
                    return Err(ErrorCode::DuplicateId);
                }
                self.next_seq += 1;
                let vip = user_data.get("VIP") == Some(&KvValue::Str("yes".to_string()));
                self.ixns.insert(
                    id,
                    MIxn {
                        queue: queue.clone(),
                        priority: *priority,
                        seq,
                        vip,
                        owner: None,
                        agent: None,
                        invite: None,
                    },
                );
                if !self.known.contains(&id) {
                    self.known.push(id);
                }
                self.replies.insert(ref_id, Reply::Ack(Some(id)));
                self.serve_held(queue);
                Ok(None)
            }
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                hold_ms: _,
            } => {
                let tenant = Self::tenant(tenant)?;
                if Self::queue_tenant(queue) != Some(tenant) {
                    return Err(ErrorCode::UnknownObject);
                }
                if view != "all" && !(view == "vip" && queue == "q1") {
                    return Err(ErrorCode::UnknownObject);
                }
                let picked = self.select(queue, view, *count);
                if !picked.is_empty() || *count == 0 || self.held.len() >= HELD_MAX {
                    self.hand_out(ref_id, &name, picked);
                    return Ok(None);
                }
                let timer = self.timer(self.now + HOLD_MS);
                self.held.push(Held {
                    peer,
                    name: name.clone(),
                    ref_id,
                    queue: queue.clone(),
                    view: view.clone(),
                    count: *count,
                    timer,
                });
                Ok(None)
            }
            Request::PlaceInQueue { ixn, queue } => {
                let id = self.owned(&name, ixn)?;
                let tenant = Self::queue_tenant(&self.ixns[&id].queue);
                if Self::queue_tenant(queue).is_none() || Self::queue_tenant(queue) != tenant {
                    return Err(ErrorCode::UnknownObject);
                }
                self.disown(id);
                if let Some(stored) = self.ixns.get_mut(&id) {
                    stored.queue = queue.clone();
                }
                self.replies.insert(ref_id, Reply::Ack(Some(id)));
                self.serve_held(queue);
                Ok(None)
            }
            Request::UpdateUserData { ixn, changes } => {
                let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
                let stored = self
                    .ixns
                    .get_mut(&id)
                    .ok_or(ErrorCode::InteractionNotFound)?;
                if stored.owner.as_deref() != Some(name.as_str()) {
                    return Err(ErrorCode::NotOwner);
                }
                match changes.get("VIP") {
                    Some(KvValue::Str(value)) => stored.vip = value == "yes",
                    Some(_) => stored.vip = false,
                    None => {}
                }
                Ok(Some(Reply::Ack(Some(id))))
            }
            Request::StopProcessing { ixn } => {
                let id = self.owned(&name, ixn)?;
                self.disown(id);
                self.ixns.remove(&id);
                Ok(Some(Reply::Ack(Some(id))))
            }
            Request::Deliver { ixn, agent } => {
                let id = self.owned(&name, ixn)?;
                let state = self.agents.get(agent).ok_or(ErrorCode::AgentUnavailable)?;
                if !state.ready || state.load >= CAPACITY {
                    return Err(ErrorCode::AgentUnavailable);
                }
                let timer = self.timer(self.now + INVITE_MS);
                if let Some(stored) = self.ixns.get_mut(&id) {
                    stored.invite = Some(Invite {
                        agent: *agent,
                        timer,
                    });
                }
                self.change_load(*agent, 1);
                Ok(Some(Reply::Ack(Some(id))))
            }
            Request::Accept { ixn } | Request::Reject { ixn } => {
                let accept = matches!(request, Request::Accept { .. });
                let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
                let stored = self
                    .ixns
                    .get(&id)
                    .filter(|stored| stored.owner.is_some())
                    .ok_or(ErrorCode::InteractionNotFound)?;
                let invite = stored.invite.as_ref().ok_or(ErrorCode::InvalidState)?;
                let agent = invite.agent;
                if self.agents.get(&agent).is_none_or(|a| a.peer != peer) {
                    return Err(ErrorCode::InvalidState);
                }
                self.end_invite(id);
                if accept {
                    if let Some(stored) = self.ixns.get_mut(&id) {
                        stored.owner = Some(name.clone());
                        stored.agent = Some(agent);
                    }
                    self.change_load(agent, 1);
                }
                Ok(Some(Reply::Ack(Some(id))))
            }
            Request::AgentLogin { tenant, agent, .. } => {
                Self::tenant(tenant)?;
                match self.agents.get(agent) {
                    Some(state) if state.peer == peer => {}
                    Some(_) => return Err(ErrorCode::InvalidState),
                    None => {
                        if self.agents.len() as u32 >= SEATS {
                            return Err(ErrorCode::NoSeat);
                        }
                        let load = self
                            .ixns
                            .values()
                            .filter(|ixn| ixn.agent == Some(*agent))
                            .count() as u32;
                        self.agents.insert(
                            *agent,
                            MAgent {
                                peer,
                                ready: false,
                                load,
                            },
                        );
                    }
                }
                Ok(Some(Reply::Ack(None)))
            }
            Request::AgentLogout { agent } => {
                self.own_agent(peer, *agent)?;
                self.logout(*agent);
                Ok(Some(Reply::Ack(None)))
            }
            Request::AgentReady { agent } | Request::AgentNotReady { agent } => {
                self.own_agent(peer, *agent)?;
                if let Some(state) = self.agents.get_mut(agent) {
                    state.ready = matches!(request, Request::AgentReady { .. });
                }
                Ok(Some(Reply::Ack(None)))
            }
            Request::Find { ixn } => {
                let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
                if !self.ixns.contains_key(&id) {
                    return Err(ErrorCode::InteractionNotFound);
                }
                Ok(Some(Reply::Found(id)))
            }
            Request::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => {
                let tenant = Self::tenant(tenant)?;
                if Self::queue_tenant(queue) != Some(tenant) {
                    return Err(ErrorCode::UnknownObject);
                }
                if view != "all" && !(view == "vip" && queue == "q1") {
                    return Err(ErrorCode::UnknownObject);
                }
                let mut items: Vec<(Reverse<i32>, u64, IxnId)> = self
                    .ixns
                    .iter()
                    .filter(|(_, ixn)| ixn.available() && &ixn.queue == queue)
                    .filter(|(_, ixn)| view == "all" || ixn.vip)
                    .map(|(id, ixn)| (Reverse(ixn.priority), ixn.seq, *id))
                    .collect();
                items.sort();
                let limit = (*max).min(SNAPSHOT_MAX) as usize;
                let ids = items.into_iter().take(limit).map(|(_, _, id)| id).collect();
                Ok(Some(Reply::Snapshot(ids)))
            }
            Request::FindInteractions {
                tenant,
                key,
                equals,
                max,
            } => {
                let tenant = Self::tenant(tenant)?;
                let mut found: Vec<(u64, IxnId)> = self
                    .ixns
                    .iter()
                    .filter(|(_, ixn)| Self::queue_tenant(&ixn.queue) == Some(tenant))
                    .filter(|(_, ixn)| {
                        key == "VIP"
                            && *equals == KvValue::Str(if ixn.vip { "yes" } else { "no" }.into())
                    })
                    .map(|(id, ixn)| (ixn.seq, *id))
                    .collect();
                found.sort();
                let ids = found.into_iter().take(*max as usize).map(|(_, id)| id);
                Ok(Some(Reply::FoundMany(ids.collect())))
            }
            Request::Unregister => {
                self.replies.insert(ref_id, Reply::Ack(None));
                if let Some(registered) = self.peers.get_mut(&peer) {
                    *registered = None;
                }
                self.gone(peer, Some(name));
                Ok(None)
            }
            Request::Promote { .. }
            | Request::Demote
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. } => Err(ErrorCode::InvalidState),
            Request::SelectTarget { .. } | Request::Lease { .. } => {
                Err(ErrorCode::UnsupportedOperation)
            }
            Request::StrategiesLoaded { .. } => {
                unreachable!("not generated: direct mode is judged by the sim suites")
            }
            Request::ReserveAgent { .. } | Request::Transfer { .. } => {
                unreachable!(
                    "not generated: reservations and transfers are judged by the sim suites"
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation.

fn field<T: Clone + std::fmt::Debug + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Field<T>> {
    prop_oneof![
        16 => value.prop_map(Field::Value),
        1 => Just(Field::Missing),
        1 => Just(Field::WrongType(KvValue::Str("x".to_string()))),
    ]
    .boxed()
}

fn request_strategy(known: Vec<IxnId>) -> BoxedStrategy<Request> {
    let ixn = if known.is_empty() {
        field(Just(UNKNOWN_IXN))
    } else {
        field(prop_oneof![9 => proptest::sample::select(known), 1 => Just(UNKNOWN_IXN)])
    };
    let tenant = || {
        field(prop_oneof![12 => Just(TenantId(1)), 1 => Just(TenantId(2)), 1 => Just(TenantId(9))])
    };
    let queue = || {
        prop_oneof![8 => Just("q1"), 3 => Just("q2"), 1 => Just("q3"), 1 => Just("nope")]
            .prop_map(str::to_string)
    };
    let agent = || (1u32..=3).prop_map(AgentId);
    let name = proptest::sample::select(NAMES.to_vec());
    prop_oneof![
        1 => name.prop_map(register),
        1 => Just(Request::Ping),
        6 => (
            tenant(),
            field(prop_oneof![10 => Just("email"), 1 => Just("sms"), 1 => Just("chat"), 1 => Just("fax")].prop_map(str::to_string)),
            queue(),
            0i32..3,
            any::<bool>(),
            proptest::option::weighted(0.3, proptest::sample::select(CLIENT_IDS.to_vec()).prop_map(IxnId)),
        )
            .prop_map(|(tenant, media, queue, priority, vip, client_ixn)| Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data: vip_data(vip),
                client_ixn,
            }),
        4 => (
            tenant(),
            queue(),
            prop_oneof![4 => Just("all"), 1 => Just("vip"), 1 => Just("nope")].prop_map(str::to_string),
            0u32..4,
        )
            .prop_map(|(tenant, queue, view, count)| Request::Pull { tenant, queue, view, count, hold_ms: None }),
        2 => (ixn.clone(), queue()).prop_map(|(ixn, queue)| Request::PlaceInQueue { ixn, queue }),
        1 => (ixn.clone(), any::<bool>()).prop_map(|(ixn, vip)| Request::UpdateUserData {
            ixn,
            changes: vip_data(vip),
        }),
        2 => ixn.clone().prop_map(|ixn| Request::StopProcessing { ixn }),
        3 => (ixn.clone(), agent()).prop_map(|(ixn, agent)| Request::Deliver { ixn, agent }),
        3 => ixn.clone().prop_map(|ixn| Request::Accept { ixn }),
        1 => ixn.clone().prop_map(|ixn| Request::Reject { ixn }),
        2 => (tenant(), agent()).prop_map(|(tenant, agent)| Request::AgentLogin {
            tenant,
            agent,
            media: vec!["email".to_string()],
        }),
        1 => agent().prop_map(|agent| Request::AgentLogout { agent }),
        2 => agent().prop_map(|agent| Request::AgentReady { agent }),
        1 => agent().prop_map(|agent| Request::AgentNotReady { agent }),
        1 => ixn.prop_map(|ixn| Request::Find { ixn }),
        1 => (tenant(), queue(), prop_oneof![3 => Just("all"), 1 => Just("vip")].prop_map(str::to_string), 0u32..4)
            .prop_map(|(tenant, queue, view, max)| Request::Snapshot { tenant, queue, view, max }),
        1 => Just(Request::Unregister),
        1 => (tenant(), prop_oneof![4 => Just("VIP"), 1 => Just("Other")], any::<bool>(), 0u32..4)
            .prop_map(|(tenant, key, vip, max)| Request::FindInteractions {
                tenant,
                key: key.to_string(),
                equals: KvValue::Str(if vip { "yes" } else { "no" }.to_string()),
                max,
            }),
        1 => Just(Request::Demote),
    ]
    .boxed()
}

struct NodeModel;

impl ReferenceStateMachine for NodeModel {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let peer = || 0..PEERS;
        let request = request_strategy(state.known.clone());
        prop_oneof![
            4 => (peer(), proptest::option::weighted(0.9, proptest::sample::select(NAMES.to_vec())))
                .prop_map(|(peer, name)| Transition::Connect(peer, name)),
            1 => peer().prop_map(Transition::Disconnect),
            20 => (peer(), request.clone()).prop_map(|(p, r)| Transition::Request(p, r)),
            1 => (peer(), request).prop_map(|(p, r)| Transition::CrashDuring(p, r)),
            1 => Just(Transition::Restart),
            3 => (1u64..1200).prop_map(Transition::Advance),
        ]
        .boxed()
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        state.replies.clear();
        match transition {
            Transition::Connect(peer, name) => {
                state.peers.entry(*peer).or_insert(None);
                if let Some(name) = name {
                    let register = register(name);
                    return Self::apply(state, &Transition::Request(*peer, register));
                }
            }
            Transition::Disconnect(peer) => state.disconnect(*peer),
            Transition::Request(peer, request) => {
                state.next_ref += 1;
                let ref_id = state.next_ref;
                if state.peers.contains_key(peer) {
                    match state.request(*peer, ref_id, request) {
                        Ok(Some(reply)) => {
                            state.replies.insert(ref_id, reply);
                        }
                        Ok(None) => {}
                        Err(code) => {
                            state.replies.insert(ref_id, Reply::Error(code));
                        }
                    }
                }
            }
            Transition::CrashDuring(_, _) | Transition::Restart => {
                state.next_ref += u32::from(matches!(transition, Transition::CrashDuring(..)));
                state.restart();
            }
            Transition::Advance(by) => state.advance(*by),
        }
        state
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test: one node, driven like the shell drives it, with an instant database.

struct Driver {
    node: IsNode,
    now: SimTime,
    durable: IsDatabase,
    pending: Vec<(WriteId, DbOp)>,
    timers: BTreeMap<TimerId, SimTime>,
    /// Test peer -> the node's connection for it (never reused, as in the shell).
    conns: BTreeMap<u8, u32>,
    next_conn: u32,
    next_ref: u32,
    replies: BTreeMap<u32, Reply>,
}

impl Driver {
    fn new() -> Self {
        let mut driver = Driver {
            node: IsNode::new(config(), IsDatabase::default()),
            now: 0,
            durable: IsDatabase::default(),
            pending: Vec::new(),
            timers: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            next_ref: 0,
            replies: BTreeMap::new(),
        };
        driver.feed(Input::Start, true);
        driver
    }

    fn peer_of(&self, conn: u32) -> Option<u8> {
        self.conns
            .iter()
            .find(|(_, c)| **c == conn)
            .map(|(peer, _)| *peer)
    }

    /// Feeds `input` and everything it causes (closes, commits) to the node.
    fn feed(&mut self, input: Input, commit: bool) {
        let mut inputs = vec![input];
        while !inputs.is_empty() {
            let input = inputs.remove(0);
            let mut out = Vec::new();
            self.node.handle(self.now, input, &mut out);
            assert!(
                self.node.check_invariants().is_ok(),
                "{:?}",
                self.node.check_invariants()
            );
            for output in out {
                match output {
                    Output::Send(Peer::Client(conn), message) => {
                        let Message::Event {
                            ref_id: Some(RefId(ref_id)),
                            event,
                        } = message
                        else {
                            continue;
                        };
                        let reply = match event {
                            Event::Ack { ixn } => Reply::Ack(ixn),
                            Event::Error { code } => Reply::Error(code),
                            Event::TakenFromQueue { items } => {
                                Reply::Taken(items.iter().map(|item| item.id).collect())
                            }
                            Event::Found { ixn } => Reply::Found(ixn.id),
                            Event::InteractionsFound { items } => {
                                Reply::FoundMany(items.iter().map(|item| item.id).collect())
                            }
                            Event::SnapshotContent { items } => {
                                Reply::Snapshot(items.iter().map(|item| item.id).collect())
                            }
                            other => panic!("{other:?} sent as an answer to r{ref_id}"),
                        };
                        assert!(
                            self.peer_of(conn).is_some(),
                            "answer r{ref_id} sent on closed connection c{conn}"
                        );
                        let previous = self.replies.insert(ref_id, reply);
                        assert!(previous.is_none(), "r{ref_id} answered twice");
                    }
                    Output::Send(Peer::Server(_), _) => panic!("a node has no servers"),
                    Output::Close(Peer::Client(conn)) => {
                        if let Some(peer) = self.peer_of(conn) {
                            self.conns.remove(&peer);
                            inputs.push(Input::Disconnected(Peer::Client(conn)));
                        }
                    }
                    Output::Close(Peer::Server(_)) => panic!("a node has no servers"),
                    Output::SetTimer(id, at) => {
                        assert!(at >= self.now, "timer set in the past");
                        self.timers.insert(id, at);
                    }
                    Output::CancelTimer(id) => {
                        self.timers.remove(&id);
                    }
                    Output::Persist(write, op) => self.pending.push((write, op)),
                    Output::Trace(_) => {}
                }
            }
            if commit && inputs.is_empty() {
                if let Some((last, _)) = self.pending.last() {
                    let last = *last;
                    for (_, op) in self.pending.drain(..) {
                        self.durable.apply(&op);
                    }
                    inputs.push(Input::Persisted(last));
                }
            }
        }
    }

    fn request(&mut self, peer: u8, request: Request, commit: bool) {
        self.next_ref += 1;
        let Some(conn) = self.conns.get(&peer) else {
            return;
        };
        let message = Message::Request {
            ref_id: RefId(self.next_ref),
            request,
        };
        self.feed(Input::Frame(Peer::Client(*conn), message), commit);
    }

    fn restart(&mut self) {
        self.pending.clear();
        self.timers.clear();
        self.conns.clear();
        self.node = IsNode::new(config(), self.durable.clone());
        self.feed(Input::Start, true);
    }

    fn advance(&mut self, by: u64) {
        let until = self.now + by;
        loop {
            let due = self
                .timers
                .iter()
                .filter(|(_, at)| **at <= until)
                .min_by_key(|(id, at)| (**at, **id))
                .map(|(id, at)| (*id, *at));
            let Some((id, at)) = due else { break };
            self.timers.remove(&id);
            self.now = at;
            self.feed(Input::Timer(id), true);
        }
        self.now = until;
    }
}

struct NodeTest;

impl StateMachineTest for NodeTest {
    type SystemUnderTest = Driver;
    type Reference = NodeModel;

    fn init_test(_: &Model) -> Driver {
        Driver::new()
    }

    fn apply(mut driver: Driver, model: &Model, transition: Transition) -> Driver {
        driver.replies.clear();
        match transition {
            Transition::Connect(peer, name) => {
                if !driver.conns.contains_key(&peer) {
                    driver.next_conn += 1;
                    driver.conns.insert(peer, driver.next_conn);
                    driver.feed(Input::Connected(Peer::Client(driver.next_conn)), true);
                }
                if let Some(name) = name {
                    driver.request(peer, register(name), true);
                }
            }
            Transition::Disconnect(peer) => {
                if let Some(conn) = driver.conns.remove(&peer) {
                    driver.feed(Input::Disconnected(Peer::Client(conn)), true);
                }
            }
            Transition::Request(peer, request) => driver.request(peer, request, true),
            Transition::CrashDuring(peer, request) => {
                driver.request(peer, request, false);
                driver.replies.clear();
                driver.restart();
            }
            Transition::Restart => driver.restart(),
            Transition::Advance(by) => driver.advance(by),
        }
        assert_eq!(
            driver.replies, model.replies,
            "answers differ from the model"
        );
        driver
    }

    fn check_invariants(driver: &Driver, model: &Model) {
        driver
            .node
            .check_invariants()
            .unwrap_or_else(|problem| panic!("node invariant: {problem}"));
        let db = driver.node.database();
        let stored: Vec<IxnId> = db.interactions.keys().copied().collect();
        let expected: Vec<IxnId> = model.ixns.keys().copied().collect();
        assert_eq!(
            stored, expected,
            "stored interactions differ from the model"
        );
        assert_eq!(
            driver.durable, *db,
            "the durable database differs from the node's working copy after a commit"
        );
        for (id, ixn) in &model.ixns {
            let record = &db.interactions[id];
            assert_eq!(record.queue, ixn.queue, "{id} queue");
            assert_eq!(record.seq, ixn.seq, "{id} seq");
            assert_eq!(
                driver.node.owner(*id),
                ixn.owner.as_deref(),
                "{id} owner in memory"
            );
            assert_eq!(record.owner, ixn.owner, "{id} owner in the database");
            assert_eq!(
                record.agent, ixn.agent,
                "{id} handling agent in the database"
            );
            assert_eq!(
                driver.node.is_available(*id),
                ixn.available(),
                "{id} availability"
            );
        }
        assert_eq!(
            driver.node.held_pulls(),
            model.held.len(),
            "held pulls differ from the model"
        );
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_shrink_iters: 4096,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// [S-IS-submit] [S-IS-pull] [S-IS-hold] [S-IS-place] [S-IS-stop] [S-IS-deliver]
    /// [S-IS-owner] [S-IS-durable]: the node answers and stores exactly what the model says.
    #[test]
    fn is_node_matches_reference_model(sequential 1..160 => NodeTest);
}
