//! The `is_node` fuzz target, and the reference model and driver it shares with the proptest
//! suite `tests/is_node_model.rs` [S-IS-*].
//!
//! One Interaction Server node runs against a small reference model: sequences of connects,
//! registrations, requests (valid and bad: missing or wrongly typed attributes, unknown objects,
//! other clients' interactions), agent logins, disconnects, time passing (pull holds, invite
//! timeouts, owner grace), restarts from the durable database, and crashes that cut a request off
//! before its write. After every step [`Driver::apply`] compares every answer the node sent (by
//! reference id) with the model's, and [`Driver::check`] compares every interaction's queue,
//! owner, handling agent and availability, the durable database, and the node's own invariants.
//!
//! The proptest suite generates [`Transition`]s with proptest strategies; the fuzz target
//! [`is_node`] decodes them from bytes through [`Op`], a compact `arbitrary` encoding with small
//! indices, so that libFuzzer's mutations stay meaningful.
//!
//! The driver commits durable writes at once (a zero-latency database), so a step is atomic
//! unless the transition is a crash; the sim suites cover write latency.

use arbitrary::{Arbitrary, Unstructured};
use ixsim_core::db::{DbOp, Durable, IsDatabase};
use ixsim_core::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use ixsim_core::is_node::{
    IsConfig, IsNode, MediaConfig, QueueConfig, TenantConfig, ViewCondition, ViewConfig,
};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer, TimerId, WriteId};
use ixsim_core::protocol::{ClientKind, ErrorCode, Event, Field, Message, Request};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

pub mod corpus;

/// The node id of the node under test.
pub const NODE: u16 = 1;
/// How long the node holds a pull that found nothing [S-IS-hold].
pub const HOLD_MS: u64 = 500;
/// How long a disconnected owner keeps its interactions [S-IS-owner].
pub const GRACE_MS: u64 = 1000;
/// How long an agent has to accept or reject an invite [S-IS-deliver].
pub const INVITE_MS: u64 = 300;
/// Interactions one agent handles at once.
pub const CAPACITY: u32 = 2;
/// Agent seats of the node (logins beyond this get `NoSeat`).
pub const SEATS: u32 = 2;
/// Pulls the node holds at once; beyond this an empty pull is answered at once.
pub const HELD_MAX: usize = 3;
/// `max-interactions-per-snapshot` of the node [S-IS-snapshot].
pub const SNAPSHOT_MAX: u32 = 2;
/// Test peers (client connections) the transitions pick from.
pub const PEERS: u8 = 3;
/// Client names the peers register under: `r*` are routers, `d*` agent desktops.
pub const NAMES: [&str; 4] = ["r1", "r2", "d1", "d2"];
/// Client-chosen interaction ids a submit may carry (they collide on purpose).
pub const CLIENT_IDS: [u64; 3] = [
    0xC0_0000_0000_0001,
    0xC0_0000_0000_0002,
    0xC0_0000_0000_0003,
];
/// An interaction id that is never submitted.
pub const UNKNOWN_IXN: IxnId = IxnId(0xDEAD);

/// The client kind a name registers as: `r*` routers, everything else agent desktops.
pub fn kind_of(name: &str) -> ClientKind {
    if name.starts_with('r') {
        ClientKind::Router
    } else {
        ClientKind::AgentDesktop
    }
}

/// The registration request for `name`.
pub fn register(name: &str) -> Request {
    Request::RegisterClient {
        name: name.to_string(),
        kind: kind_of(name),
    }
}

/// The node configuration the model is written for: two tenants, three queues (one with a
/// `vip` view), short timers and small limits so that sequences reach them.
pub fn config() -> IsConfig {
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

/// User data with `VIP` set to `yes` or `no`.
pub fn vip_data(vip: bool) -> KvList {
    KvList::new().with(
        "VIP",
        KvValue::Str(if vip { "yes" } else { "no" }.to_string()),
    )
}

/// The answer to one request, as far as the model predicts it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Reply {
    /// `EventAck`, naming the interaction if the request was about one.
    Ack(Option<IxnId>),
    /// `EventError` with this code.
    Error(ErrorCode),
    /// `EventTakenFromQueue` with these interactions, in order (empty when a hold times out).
    Taken(Vec<IxnId>),
    /// `EventFound` for this interaction.
    Found(IxnId),
    /// `EventSnapshotContent` with these interactions, in order.
    Snapshot(Vec<IxnId>),
    /// `EventInteractionsFound` with these interactions, in order.
    FoundMany(Vec<IxnId>),
}

/// One step of a test sequence.
#[derive(Clone, Debug)]
pub enum Transition {
    /// Connects the peer (if it is not) and registers it under the name, if one is given.
    Connect(u8, Option<&'static str>),
    /// Closes the peer's connection, if it has one.
    Disconnect(u8),
    /// Sends the request on the peer's connection, if it has one.
    Request(u8, Request),
    /// The request is handled but the node crashes before any of its writes is durable.
    CrashDuring(u8, Request),
    /// The node restarts from the durable database.
    Restart,
    /// Time passes by this many milliseconds, firing due timers in order.
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

/// The reference model of one node: what it stores and what it answers.
#[derive(Clone, Debug, Default)]
pub struct Model {
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

/// The model's answer to one request: `Ok(Some(reply))` sent now, `Ok(None)` when it is sent
/// later (a held pull) or already among the step's answers, `Err(code)` an error.
type Answer = Result<Option<Reply>, ErrorCode>;

enum Fired {
    Hold(u64),
    Invite(IxnId),
    Grace(u64),
}

impl Model {
    /// Every interaction id ever submitted, for picking requests about them.
    pub fn known(&self) -> &[IxnId] {
        &self.known
    }

    /// The answers the node must send in the last step, by reference id.
    pub fn replies(&self) -> &BTreeMap<u32, Reply> {
        &self.replies
    }

    /// Applies one transition: what the node must store afterwards, and the answers it must send
    /// in the step (the previous step's answers are forgotten).
    pub fn apply(&mut self, transition: &Transition) {
        self.replies.clear();
        match transition {
            Transition::Connect(peer, name) => {
                self.peers.entry(*peer).or_insert(None);
                if let Some(name) = name {
                    self.apply(&Transition::Request(*peer, register(name)));
                }
            }
            Transition::Disconnect(peer) => self.disconnect(*peer),
            Transition::Request(peer, request) => {
                self.next_ref += 1;
                let ref_id = self.next_ref;
                if self.peers.contains_key(peer) {
                    match self.request(*peer, ref_id, request) {
                        Ok(Some(reply)) => {
                            self.replies.insert(ref_id, reply);
                        }
                        Ok(None) => {}
                        Err(code) => {
                            self.replies.insert(ref_id, Reply::Error(code));
                        }
                    }
                }
            }
            Transition::CrashDuring(_, _) | Transition::Restart => {
                self.next_ref += u32::from(matches!(transition, Transition::CrashDuring(..)));
                self.restart();
            }
            Transition::Advance(by) => self.advance(*by),
        }
    }

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

    /// A pull's or snapshot's routing: the tenant exists, the queue is the tenant's, and the
    /// view is defined on it (`all` everywhere, `vip` on q1).
    fn view(tenant: &Field<TenantId>, queue: &str, view: &str) -> Result<(), ErrorCode> {
        let tenant = Self::tenant(tenant)?;
        if Self::queue_tenant(queue) != Some(tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        if view != "all" && !(view == "vip" && queue == "q1") {
            return Err(ErrorCode::UnknownObject);
        }
        Ok(())
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

    /// Handles one request. A registration and a ping are answered on any connection;
    /// everything else needs the client registered.
    fn request(&mut self, peer: u8, ref_id: u32, request: &Request) -> Answer {
        match request {
            Request::RegisterClient { name, .. } => Ok(Some(self.register_client(peer, name))),
            Request::Ping => Ok(Some(Reply::Ack(None))),
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
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => {
                let name = self.name_of(peer).ok_or(ErrorCode::NotRegistered)?;
                self.dispatch(peer, ref_id, name, request)
            }
        }
    }

    /// `peer` registers under `name` (again, or instead of another name).
    fn register_client(&mut self, peer: u8, name: &str) -> Reply {
        if let Some(previous) = self.name_of(peer) {
            if previous != name {
                self.leave(&previous);
            }
        }
        // Back under its name: the pending releases of what it owns are off, as the node
        // cancels its grace timers. A grace left running would release them early, the
        // next time the name is away, counted from the wrong departure [S-IS-owner].
        self.graces.retain(|(_, graced)| graced != name);
        if let Some(other) = self.peer_of_name(name) {
            if other != peer {
                // The node closes the older connection under this name.
                if let Some(registered) = self.peers.get_mut(&other) {
                    *registered = None;
                }
                self.disconnect(other);
            }
        }
        self.peers.insert(peer, Some(name.to_string()));
        Reply::Ack(None)
    }

    /// A request of the client registered on `peer` under `name`, by kind.
    fn dispatch(&mut self, peer: u8, ref_id: u32, name: String, request: &Request) -> Answer {
        match request {
            Request::RegisterClient { .. } | Request::Ping => unreachable!("answered in request"),
            Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data,
                client_ixn,
            } => {
                let id = self.new_ixn_id(tenant, media, queue, *client_ixn)?;
                self.submit(ref_id, id, queue, *priority, user_data)
            }
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                hold_ms: _,
            } => {
                Self::view(tenant, queue, view)?;
                self.pull(peer, ref_id, name, queue, view, *count)
            }
            Request::PlaceInQueue { ixn, queue } => self.place_in_queue(ref_id, &name, ixn, queue),
            Request::UpdateUserData { ixn, changes } => self.update_user_data(&name, ixn, changes),
            Request::StopProcessing { ixn } => self.stop_processing(&name, ixn),
            Request::Deliver { ixn, agent } => self.deliver(&name, ixn, *agent),
            Request::Accept { ixn } => self.answer_invite(peer, name, ixn, true),
            Request::Reject { ixn } => self.answer_invite(peer, name, ixn, false),
            Request::AgentLogin { tenant, agent, .. } => self.agent_login(peer, tenant, *agent),
            Request::AgentLogout { agent } => self.agent_logout(peer, *agent),
            Request::AgentReady { agent } => self.set_ready(peer, *agent, true),
            Request::AgentNotReady { agent } => self.set_ready(peer, *agent, false),
            Request::Find { ixn } => self.find(ixn),
            Request::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => self.snapshot(tenant, queue, view, *max),
            Request::FindInteractions {
                tenant,
                key,
                equals,
                max,
            } => self.find_interactions(tenant, key, equals, *max),
            Request::Unregister => self.unregister(peer, ref_id, name),
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

    /// The id a submit gets, once its tenant, media and queue check out: the client's own, or
    /// the next generated one; an id already stored is refused.
    fn new_ixn_id(
        &self,
        tenant: &Field<TenantId>,
        media: &Field<String>,
        queue: &str,
        client_ixn: Option<IxnId>,
    ) -> Result<IxnId, ErrorCode> {
        let tenant = Self::tenant(tenant)?;
        let media = media.value().ok_or(ErrorCode::InvalidAttribute)?;
        let known_media = match tenant.0 {
            1 => media == "email" || media == "sms",
            _ => media == "chat",
        };
        if !known_media || Self::queue_tenant(queue) != Some(tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let id = client_ixn.unwrap_or(IxnId::generated(NODE, self.next_seq));
        if self.ixns.contains_key(&id) {
            return Err(ErrorCode::DuplicateId);
        }
        Ok(id)
    }

    /// Stores the submitted interaction `id` in `queue`, acknowledges it, and hands it to a
    /// pull held on that queue if one wants it.
    fn submit(
        &mut self,
        ref_id: u32,
        id: IxnId,
        queue: &str,
        priority: i32,
        user_data: &KvList,
    ) -> Answer {
        let seq = self.next_seq;
        self.next_seq += 1;
        let vip = user_data.get("VIP") == Some(&KvValue::Str("yes".to_string()));
        self.ixns.insert(
            id,
            MIxn {
                queue: queue.to_string(),
                priority,
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

    /// A pull: what is available goes out at once; an empty pull for something is held
    /// (unless the node holds all it may) [S-IS-hold].
    fn pull(
        &mut self,
        peer: u8,
        ref_id: u32,
        name: String,
        queue: &str,
        view: &str,
        count: u32,
    ) -> Answer {
        let picked = self.select(queue, view, count);
        if !picked.is_empty() || count == 0 || self.held.len() >= HELD_MAX {
            self.hand_out(ref_id, &name, picked);
            return Ok(None);
        }
        let timer = self.timer(self.now + HOLD_MS);
        self.held.push(Held {
            peer,
            name,
            ref_id,
            queue: queue.to_string(),
            view: view.to_string(),
            count,
            timer,
        });
        Ok(None)
    }

    fn place_in_queue(
        &mut self,
        ref_id: u32,
        name: &str,
        ixn: &Field<IxnId>,
        queue: &str,
    ) -> Answer {
        let id = self.owned(name, ixn)?;
        let tenant = Self::queue_tenant(&self.ixns[&id].queue);
        if Self::queue_tenant(queue).is_none() || Self::queue_tenant(queue) != tenant {
            return Err(ErrorCode::UnknownObject);
        }
        self.disown(id);
        if let Some(stored) = self.ixns.get_mut(&id) {
            stored.queue = queue.to_string();
        }
        self.replies.insert(ref_id, Reply::Ack(Some(id)));
        self.serve_held(queue);
        Ok(None)
    }

    fn update_user_data(&mut self, name: &str, ixn: &Field<IxnId>, changes: &KvList) -> Answer {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        let stored = self
            .ixns
            .get_mut(&id)
            .ok_or(ErrorCode::InteractionNotFound)?;
        if stored.owner.as_deref() != Some(name) {
            return Err(ErrorCode::NotOwner);
        }
        match changes.get("VIP") {
            Some(KvValue::Str(value)) => stored.vip = value == "yes",
            Some(_) => stored.vip = false,
            None => {}
        }
        Ok(Some(Reply::Ack(Some(id))))
    }

    fn stop_processing(&mut self, name: &str, ixn: &Field<IxnId>) -> Answer {
        let id = self.owned(name, ixn)?;
        self.disown(id);
        self.ixns.remove(&id);
        Ok(Some(Reply::Ack(Some(id))))
    }

    /// Invites a ready agent with room to an owned interaction no agent handles yet.
    fn deliver(&mut self, name: &str, ixn: &Field<IxnId>, agent: AgentId) -> Answer {
        let id = self.owned(name, ixn)?;
        // Already handled by an agent: not offered twice [S-URS-select].
        if self
            .ixns
            .get(&id)
            .is_some_and(|stored| stored.agent.is_some())
        {
            return Err(ErrorCode::InvalidState);
        }
        let state = self.agents.get(&agent).ok_or(ErrorCode::AgentUnavailable)?;
        if !state.ready || state.load >= CAPACITY {
            return Err(ErrorCode::AgentUnavailable);
        }
        let timer = self.timer(self.now + INVITE_MS);
        if let Some(stored) = self.ixns.get_mut(&id) {
            stored.invite = Some(Invite { agent, timer });
        }
        self.change_load(agent, 1);
        Ok(Some(Reply::Ack(Some(id))))
    }

    /// The invited agent's desktop accepts (the interaction becomes its name's, handled by the
    /// agent) or rejects an invite.
    fn answer_invite(
        &mut self,
        peer: u8,
        name: String,
        ixn: &Field<IxnId>,
        accept: bool,
    ) -> Answer {
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
                stored.owner = Some(name);
                stored.agent = Some(agent);
            }
            self.change_load(agent, 1);
        }
        Ok(Some(Reply::Ack(Some(id))))
    }

    /// Logs `agent` in on `peer` (again, there: a no-op), taking a seat; its load is what it
    /// still handles.
    fn agent_login(&mut self, peer: u8, tenant: &Field<TenantId>, agent: AgentId) -> Answer {
        Self::tenant(tenant)?;
        match self.agents.get(&agent) {
            Some(state) if state.peer == peer => {}
            Some(_) => return Err(ErrorCode::InvalidState),
            None => {
                if self.agents.len() as u32 >= SEATS {
                    return Err(ErrorCode::NoSeat);
                }
                let load = self
                    .ixns
                    .values()
                    .filter(|ixn| ixn.agent == Some(agent))
                    .count() as u32;
                self.agents.insert(
                    agent,
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

    fn agent_logout(&mut self, peer: u8, agent: AgentId) -> Answer {
        self.own_agent(peer, agent)?;
        self.logout(agent);
        Ok(Some(Reply::Ack(None)))
    }

    fn set_ready(&mut self, peer: u8, agent: AgentId, ready: bool) -> Answer {
        self.own_agent(peer, agent)?;
        if let Some(state) = self.agents.get_mut(&agent) {
            state.ready = ready;
        }
        Ok(Some(Reply::Ack(None)))
    }

    fn find(&self, ixn: &Field<IxnId>) -> Answer {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        if !self.ixns.contains_key(&id) {
            return Err(ErrorCode::InteractionNotFound);
        }
        Ok(Some(Reply::Found(id)))
    }

    /// A snapshot lists what a pull would take, up to the node's own limit [S-IS-snapshot].
    fn snapshot(&self, tenant: &Field<TenantId>, queue: &str, view: &str, max: u32) -> Answer {
        Self::view(tenant, queue, view)?;
        let ids = self.select(queue, view, max.min(SNAPSHOT_MAX));
        Ok(Some(Reply::Snapshot(ids)))
    }

    /// The tenant's interactions whose `VIP` is `equals`, in submission order (only `VIP` is
    /// ever set, so another key finds nothing).
    fn find_interactions(
        &self,
        tenant: &Field<TenantId>,
        key: &str,
        equals: &KvValue,
        max: u32,
    ) -> Answer {
        let tenant = Self::tenant(tenant)?;
        let mut found: Vec<(u64, IxnId)> = self
            .ixns
            .iter()
            .filter(|(_, ixn)| Self::queue_tenant(&ixn.queue) == Some(tenant))
            .filter(|(_, ixn)| {
                key == "VIP" && *equals == KvValue::Str(if ixn.vip { "yes" } else { "no" }.into())
            })
            .map(|(id, ixn)| (ixn.seq, *id))
            .collect();
        found.sort();
        let ids = found.into_iter().take(max as usize).map(|(_, id)| id);
        Ok(Some(Reply::FoundMany(ids.collect())))
    }

    /// The client unregisters: acknowledged, then gone as if its connection closed (which
    /// stays open, unregistered).
    fn unregister(&mut self, peer: u8, ref_id: u32, name: String) -> Answer {
        self.replies.insert(ref_id, Reply::Ack(None));
        if let Some(registered) = self.peers.get_mut(&peer) {
            *registered = None;
        }
        self.gone(peer, Some(name));
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test: one node, driven like the shell drives it, with an instant database.

/// The system under test: one [`IsNode`] driven like the shell drives it, with an instant
/// database.
pub struct Driver {
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
    /// A started node on an empty database.
    pub fn new() -> Self {
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
            if let Err(problem) = self.node.check_invariants() {
                panic!("node invariant broken by an input [S-INV-owner]: {problem}");
            }
            for output in out {
                match output {
                    Output::Send(Peer::Client(conn), message) => self.record_answer(conn, message),
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
                    Output::Trace(_) | Output::Mark(_) => {}
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

    /// Records what the node sent on connection `conn`, if it answers a request: once per
    /// reference id, and only on a connection that is open.
    fn record_answer(&mut self, conn: u32, message: Message) {
        let Message::Event {
            ref_id: Some(RefId(ref_id)),
            event,
        } = message
        else {
            return;
        };
        let reply = reply_of(ref_id, event);
        assert!(
            self.peer_of(conn).is_some(),
            "answer r{ref_id} sent on closed connection c{conn}"
        );
        let previous = self.replies.insert(ref_id, reply);
        assert!(previous.is_none(), "r{ref_id} answered twice");
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
            let due = crate::next_timer(&self.timers, until);
            let Some((id, at)) = due else { break };
            self.timers.remove(&id);
            self.now = at;
            self.feed(Input::Timer(id), true);
        }
        self.now = until;
    }

    /// Applies one transition to the node, then asserts that the node sent exactly the answers
    /// `model` (already advanced by the same transition) predicts [S-IS-submit] [S-IS-pull]
    /// [S-IS-hold] [S-IS-place] [S-IS-deliver] [S-IS-stop] [S-IS-snapshot].
    pub fn apply(&mut self, model: &Model, transition: &Transition) {
        self.replies.clear();
        match transition {
            Transition::Connect(peer, name) => {
                if !self.conns.contains_key(peer) {
                    self.next_conn += 1;
                    self.conns.insert(*peer, self.next_conn);
                    self.feed(Input::Connected(Peer::Client(self.next_conn)), true);
                }
                if let Some(name) = name {
                    self.request(*peer, register(name), true);
                }
            }
            Transition::Disconnect(peer) => {
                if let Some(conn) = self.conns.remove(peer) {
                    self.feed(Input::Disconnected(Peer::Client(conn)), true);
                }
            }
            Transition::Request(peer, request) => self.request(*peer, request.clone(), true),
            Transition::CrashDuring(peer, request) => {
                self.request(*peer, request.clone(), false);
                self.replies.clear();
                self.restart();
            }
            Transition::Restart => self.restart(),
            Transition::Advance(by) => self.advance(*by),
        }
        assert_eq!(
            self.replies, model.replies,
            "answers differ from the model after {transition:?} [S-IS-submit] [S-IS-pull] \
             [S-IS-hold] [S-IS-place] [S-IS-deliver] [S-IS-stop] [S-IS-snapshot]"
        );
    }

    /// Asserts the node's own invariants, and that its stored interactions (queue, sequence,
    /// owner in memory and in the database, handling agent, availability), its held pulls and
    /// its durable database are what `model` says.
    pub fn check(&self, model: &Model) {
        self.node
            .check_invariants()
            .unwrap_or_else(|problem| panic!("node invariant [S-INV-owner]: {problem}"));
        let db = self.node.database();
        let stored: Vec<IxnId> = db.interactions.keys().copied().collect();
        let expected: Vec<IxnId> = model.ixns.keys().copied().collect();
        assert_eq!(
            stored, expected,
            "stored interactions differ from the model [S-IS-submit] [S-IS-stop] [S-INV-lost]"
        );
        assert_eq!(
            self.durable, *db,
            "the durable database differs from the node's working copy after a commit \
             [S-IS-durable]"
        );
        for (id, ixn) in &model.ixns {
            let record = &db.interactions[id];
            assert_eq!(record.queue, ixn.queue, "{id} queue [S-IS-place]");
            assert_eq!(record.seq, ixn.seq, "{id} seq [S-IS-submit]");
            assert_eq!(
                self.node.owner(*id),
                ixn.owner.as_deref(),
                "{id} owner in memory [S-IS-owner]"
            );
            assert_eq!(
                record.owner, ixn.owner,
                "{id} owner in the database [S-IS-owner] [S-IS-durable]"
            );
            assert_eq!(
                record.agent, ixn.agent,
                "{id} handling agent in the database [S-IS-deliver]"
            );
            assert_eq!(
                self.node.is_available(*id),
                ixn.available(),
                "{id} availability [S-IS-pull]"
            );
        }
        assert_eq!(
            self.node.held_pulls(),
            model.held.len(),
            "held pulls differ from the model [S-IS-hold]"
        );
    }
}

/// The [`Reply`] an event sent as the answer to request `ref_id` stands for; an event that is
/// no answer is a finding.
fn reply_of(ref_id: u32, event: Event) -> Reply {
    match event {
        Event::Ack { ixn } => Reply::Ack(ixn),
        Event::Error { code } => Reply::Error(code),
        Event::TakenFromQueue { items } => Reply::Taken(items.iter().map(|item| item.id).collect()),
        Event::Found { ixn } => Reply::Found(ixn.id),
        Event::InteractionsFound { items } => {
            Reply::FoundMany(items.iter().map(|item| item.id).collect())
        }
        Event::SnapshotContent { items } => {
            Reply::Snapshot(items.iter().map(|item| item.id).collect())
        }
        other @ (Event::Invite { .. }
        | Event::Revoked { .. }
        | Event::Accepted { .. }
        | Event::Rejected { .. }
        | Event::AgentState { .. }
        | Event::Seats { .. }
        | Event::LoggedOut { .. }
        | Event::TargetSelected { .. }
        | Event::RouteRequest { .. }) => panic!("{other:?} sent as an answer to r{ref_id}"),
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------------------------
// The fuzz target: transitions decoded from bytes.

/// The most steps one fuzz input runs; the rest of the bytes is ignored.
pub const MAX_STEPS: usize = 200;

/// One step of a fuzz input, as small numbers that [`Op::transition`] maps onto a
/// [`Transition`] (peers, names, queues and interactions by index modulo the pool, time in 5 ms
/// steps), so that a mutated byte changes one choice and keeps the rest of the sequence.
///
/// `Arbitrary` draws the kind with the proptest suite's weights (connect 4, disconnect 1, request
/// 20, crash during a request 1, restart 1, advance 3 out of 30), so that restarts do not cut
/// every sequence short.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Op {
    /// Connects the peer; `name` 0 connects without registering, anything else registers under
    /// a name from [`NAMES`].
    Connect { peer: u8, name: u8 },
    /// Closes the peer's connection.
    Disconnect { peer: u8 },
    /// Sends the request on the peer's connection.
    Request { peer: u8, request: RequestOp },
    /// Sends the request and crashes the node before its writes are durable.
    CrashDuring { peer: u8, request: RequestOp },
    /// Restarts the node from the durable database.
    Restart,
    /// Time passes by `5 * step + 1` ms.
    Advance { step: u8 },
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0u8..=29)? {
            0..=3 => Op::Connect {
                peer: u.arbitrary()?,
                name: u.arbitrary()?,
            },
            4 => Op::Disconnect {
                peer: u.arbitrary()?,
            },
            5..=24 => Op::Request {
                peer: u.arbitrary()?,
                request: u.arbitrary()?,
            },
            25 => Op::CrashDuring {
                peer: u.arbitrary()?,
                request: u.arbitrary()?,
            },
            26 => Op::Restart,
            _ => Op::Advance {
                step: u.arbitrary()?,
            },
        })
    }
}

/// A request as small numbers; [`RequestOp::request`] maps it onto the same requests, good and
/// bad, that the proptest suite generates. Interaction selectors (`ixn`) pick a submitted
/// interaction by index, or a missing, wrongly typed or unknown attribute; tenant, media, queue
/// and view selectors mostly pick a valid value and sometimes a missing, wrongly typed or unknown
/// one.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub enum RequestOp {
    Register {
        name: u8,
    },
    Ping,
    Submit {
        tenant: u8,
        media: u8,
        queue: u8,
        priority: u8,
        vip: bool,
        client_ixn: u8,
    },
    Pull {
        tenant: u8,
        queue: u8,
        view: u8,
        count: u8,
    },
    PlaceInQueue {
        ixn: u8,
        queue: u8,
    },
    UpdateUserData {
        ixn: u8,
        vip: bool,
    },
    StopProcessing {
        ixn: u8,
    },
    Deliver {
        ixn: u8,
        agent: u8,
    },
    Accept {
        ixn: u8,
    },
    Reject {
        ixn: u8,
    },
    AgentLogin {
        tenant: u8,
        agent: u8,
    },
    AgentLogout {
        agent: u8,
    },
    AgentReady {
        agent: u8,
    },
    AgentNotReady {
        agent: u8,
    },
    Find {
        ixn: u8,
    },
    Snapshot {
        tenant: u8,
        queue: u8,
        view: u8,
        max: u8,
    },
    Unregister,
    FindInteractions {
        tenant: u8,
        key: u8,
        vip: bool,
        max: u8,
    },
    Demote,
}

fn wrong_type<T>() -> Field<T> {
    Field::WrongType(KvValue::Str("x".to_string()))
}

/// Tenant 1 mostly; sometimes tenant 2, the unknown tenant 9, or a missing or wrongly typed
/// attribute.
fn pick_tenant(selector: u8) -> Field<TenantId> {
    match selector % 16 {
        0 => Field::Missing,
        1 => wrong_type(),
        2 => Field::Value(TenantId(2)),
        3 => Field::Value(TenantId(9)),
        _ => Field::Value(TenantId(1)),
    }
}

/// `email` mostly; sometimes the disabled `sms`, tenant 2's `chat`, the unknown `fax`, or a
/// missing or wrongly typed attribute.
fn pick_media(selector: u8) -> Field<String> {
    let name = match selector % 16 {
        0 => return Field::Missing,
        1 => return wrong_type(),
        2 => "sms",
        3 => "chat",
        4 => "fax",
        _ => "email",
    };
    Field::Value(name.to_string())
}

/// `q1` mostly, then `q2`, sometimes tenant 2's `q3` or the unknown `nope`.
fn pick_queue(selector: u8) -> String {
    match selector % 8 {
        0 => "nope",
        1 => "q3",
        2 | 3 => "q2",
        _ => "q1",
    }
    .to_string()
}

/// `all` mostly; sometimes `vip` (only `q1` has it) or the unknown `nope`.
fn pick_view(selector: u8, unknown: bool) -> String {
    match selector % 6 {
        0 => "vip",
        1 if unknown => "nope",
        _ => "all",
    }
    .to_string()
}

/// Agents 1 to 3 (one more than the node has seats).
fn pick_agent(selector: u8) -> AgentId {
    AgentId(u32::from(selector % 3) + 1)
}

/// A submitted interaction by index mostly; sometimes [`UNKNOWN_IXN`] or a missing or wrongly
/// typed attribute.
fn pick_ixn(selector: u8, known: &[IxnId]) -> Field<IxnId> {
    match selector {
        0..=13 => Field::Missing,
        14..=27 => wrong_type(),
        _ if selector < 52 || known.is_empty() => Field::Value(UNKNOWN_IXN),
        _ => Field::Value(known[usize::from(selector - 52) % known.len()]),
    }
}

/// [`RequestOp::Submit`]'s request: priorities 0 to 2, and a client-chosen id from
/// [`CLIENT_IDS`] three times in eight (otherwise the node picks one).
fn submit_request(
    tenant: u8,
    media: u8,
    queue: u8,
    priority: u8,
    vip: bool,
    client_ixn: u8,
) -> Request {
    Request::Submit {
        tenant: pick_tenant(tenant),
        media: pick_media(media),
        queue: pick_queue(queue),
        priority: i32::from(priority % 3),
        user_data: vip_data(vip),
        client_ixn: CLIENT_IDS
            .get(usize::from(client_ixn % 8))
            .map(|id| IxnId(*id)),
    }
}

/// [`RequestOp::Pull`]'s request: 0 to 3 interactions, the node's own hold time.
fn pull_request(tenant: u8, queue: u8, view: u8, count: u8) -> Request {
    Request::Pull {
        tenant: pick_tenant(tenant),
        queue: pick_queue(queue),
        view: pick_view(view, true),
        count: u32::from(count % 4),
        hold_ms: None,
    }
}

/// [`RequestOp::Snapshot`]'s request: at most 0 to 3 interactions, of a known view.
fn snapshot_request(tenant: u8, queue: u8, view: u8, max: u8) -> Request {
    Request::Snapshot {
        tenant: pick_tenant(tenant),
        queue: pick_queue(queue),
        view: pick_view(view, false),
        max: u32::from(max % 4),
    }
}

/// [`RequestOp::FindInteractions`]'s request: `VIP` (or, one in five, the unset `Other`) is
/// `yes` or `no`, at most 0 to 3 interactions.
fn find_interactions_request(tenant: u8, key: u8, vip: bool, max: u8) -> Request {
    Request::FindInteractions {
        tenant: pick_tenant(tenant),
        key: if key % 5 == 0 { "Other" } else { "VIP" }.to_string(),
        equals: KvValue::Str(if vip { "yes" } else { "no" }.to_string()),
        max: u32::from(max % 4),
    }
}

impl RequestOp {
    /// The request this stands for, given the interactions submitted so far.
    pub fn request(&self, known: &[IxnId]) -> Request {
        let ixn = |selector: u8| pick_ixn(selector, known);
        match *self {
            RequestOp::Register { name } => register(NAMES[usize::from(name) % NAMES.len()]),
            RequestOp::Ping => Request::Ping,
            RequestOp::Submit {
                tenant,
                media,
                queue,
                priority,
                vip,
                client_ixn,
            } => submit_request(tenant, media, queue, priority, vip, client_ixn),
            RequestOp::Pull {
                tenant,
                queue,
                view,
                count,
            } => pull_request(tenant, queue, view, count),
            RequestOp::PlaceInQueue { ixn: id, queue } => Request::PlaceInQueue {
                ixn: ixn(id),
                queue: pick_queue(queue),
            },
            RequestOp::UpdateUserData { ixn: id, vip } => Request::UpdateUserData {
                ixn: ixn(id),
                changes: vip_data(vip),
            },
            RequestOp::StopProcessing { ixn: id } => Request::StopProcessing { ixn: ixn(id) },
            RequestOp::Deliver { ixn: id, agent } => Request::Deliver {
                ixn: ixn(id),
                agent: pick_agent(agent),
            },
            RequestOp::Accept { ixn: id } => Request::Accept { ixn: ixn(id) },
            RequestOp::Reject { ixn: id } => Request::Reject { ixn: ixn(id) },
            RequestOp::AgentLogin { tenant, agent } => Request::AgentLogin {
                tenant: pick_tenant(tenant),
                agent: pick_agent(agent),
                media: vec!["email".to_string()],
            },
            RequestOp::AgentLogout { agent } => Request::AgentLogout {
                agent: pick_agent(agent),
            },
            RequestOp::AgentReady { agent } => Request::AgentReady {
                agent: pick_agent(agent),
            },
            RequestOp::AgentNotReady { agent } => Request::AgentNotReady {
                agent: pick_agent(agent),
            },
            RequestOp::Find { ixn: id } => Request::Find { ixn: ixn(id) },
            RequestOp::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => snapshot_request(tenant, queue, view, max),
            RequestOp::Unregister => Request::Unregister,
            RequestOp::FindInteractions {
                tenant,
                key,
                vip,
                max,
            } => find_interactions_request(tenant, key, vip, max),
            RequestOp::Demote => Request::Demote,
        }
    }
}

impl Op {
    /// The transition this stands for, given the interactions submitted so far.
    pub fn transition(&self, known: &[IxnId]) -> Transition {
        match self {
            Op::Connect { peer, name } => Transition::Connect(
                peer % PEERS,
                (*name != 0).then(|| NAMES[usize::from(*name) % NAMES.len()]),
            ),
            Op::Disconnect { peer } => Transition::Disconnect(peer % PEERS),
            Op::Request { peer, request } => {
                Transition::Request(peer % PEERS, request.request(known))
            }
            Op::CrashDuring { peer, request } => {
                Transition::CrashDuring(peer % PEERS, request.request(known))
            }
            Op::Restart => Transition::Restart,
            Op::Advance { step } => Transition::Advance(u64::from(*step) * 5 + 1),
        }
    }
}

/// Applies `transition` to the model and the node and runs every check of the proptest suite:
/// the answers of the step, the node's invariants, and its state against the model's.
pub fn step(model: &mut Model, driver: &mut Driver, transition: &Transition) {
    model.apply(transition);
    driver.apply(model, transition);
    driver.check(model);
}

/// `is_node`: decodes up to [`MAX_STEPS`] [`Op`]s from `bytes` and runs each against the node and
/// the reference model with every check of `tests/is_node_model.rs` after every step (see
/// [`step`]); panics with the rule's tag on the first difference. Bytes that end in the middle
/// of an op end the sequence.
pub fn is_node(bytes: &[u8]) {
    let mut u = Unstructured::new(bytes);
    let mut model = Model::default();
    let mut driver = Driver::new();
    driver.check(&model);
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let transition = op.transition(model.known());
        step(&mut model, &mut driver, &transition);
    }
}
