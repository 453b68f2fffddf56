//! One Interaction Server node [S-IS]: queues and views over a durable database, pulls with
//! ownership and hold, placement, user data, delivery to agents, and ownership release when a
//! client goes away.
//!
//! Ownership is per registered client *name* (RequestRegisterClient), not per connection: a
//! client that reconnects under the same name within `owner_grace_ms` keeps what it owned
//! [S-IS-owner]; after that its interactions return to their queues. Every state change a client
//! is told about is written to the database first: the node issues [`Output::Persist`] and holds
//! the acknowledgement until [`Input::Persisted`] [S-IS-durable]. A submitted interaction becomes
//! pullable only once persisted, so nothing can be handed out that a crash would take back.
//!
//! Views order by priority descending, then submit order ascending; a view may filter on one
//! user-data key [S-IS-pull]. A pull with nothing to return is held for `pull_hold_timeout_ms`
//! and answered as soon as something arrives, or empty at the timeout [S-IS-hold].
//!
//! Where the seeds are silent (and what a real server does): RequestDeliver is refused unless the
//! agent is logged in, ready and below capacity; an unanswered invite times out after
//! `invite_timeout_ms` and counts as a reject; an agent logged in from a connection that closes
//! is logged out at once (its interactions follow the owner grace rule).
//!
//! Must not: trust a peer. Every request is validated and answered with a documented code.

use crate::buggify::{Buggify, Site};
use crate::db::{DbOp, Durable, IsDatabase, IxnRecord};
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::kv::{KvList, KvValue};
use crate::machine::{Input, Machine, Output, Peer, TimerId, WriteId};
use crate::marks::{mark, Mark};
use crate::protocol::{AgentState, ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request};
use crate::trace::{ReleaseReason, TraceEvent};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// A view's filter: interactions whose user data has `key` equal to `equals`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ViewCondition {
    pub key: String,
    pub equals: KvValue,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ViewConfig {
    pub name: String,
    pub condition: Option<ViewCondition>,
}

impl ViewConfig {
    pub fn matches(&self, user_data: &KvList) -> bool {
        match &self.condition {
            None => true,
            Some(condition) => user_data.get(&condition.key) == Some(&condition.equals),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueueConfig {
    pub name: String,
    pub tenant: TenantId,
    pub views: Vec<ViewConfig>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MediaConfig {
    pub name: String,
    pub enabled: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TenantConfig {
    pub id: TenantId,
    pub media: Vec<MediaConfig>,
}

/// Static configuration of a node (the product's configuration layer).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IsConfig {
    /// Node index: the top bits of generated interaction ids.
    pub node: u16,
    pub tenants: Vec<TenantConfig>,
    pub queues: Vec<QueueConfig>,
    pub pull_hold_timeout_ms: u64,
    pub owner_grace_ms: u64,
    pub invite_timeout_ms: u64,
    /// Interactions an agent may hold at once (invited or accepted).
    pub agent_capacity: u32,
    /// Seats this node is configured to check out (`ics_multi_media_agent_seat`); `None` =
    /// unlimited.
    pub seats: Option<u32>,
    /// The license group to check seats out under from the license server (`Peer::Server(0)`
    /// of the node's host); `None` = no license server, `seats` alone limits logins [S-LIC].
    pub license_group: Option<String>,
    /// Most held pulls at once; further empty pulls are answered empty at once.
    pub held_pulls_max: usize,
    /// `max-interactions-per-snapshot`: most items one snapshot answer holds [S-IS-snapshot].
    pub max_interactions_per_snapshot: u32,
    /// Close a client connection silent for this long (the product's ADDP): a partitioned client
    /// never closes its connection, and must not keep agents logged in or pulls held forever.
    /// Clients send RequestPing when idle. 0 = never.
    pub client_idle_timeout_ms: u64,
    /// A deliberately planted bug, for checking that the oracles catch it. `None` in every real
    /// scenario.
    pub planted_bug: Option<PlantedBug>,
    /// Direct mode [S-URS-rr]: queues whose interactions the node submits to a URS that has
    /// the named routing strategy loaded (queue -> strategy).
    pub queue_strategies: BTreeMap<String, String>,
}

/// Bugs the harness can plant in the node to prove its oracles find them (mutation testing of
/// the harness itself). Each names the oracle expected to catch it. A scenario names them in
/// kebab case (`[is] planted_bug = "ack-before-write"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlantedBug {
    /// Pulls also return interactions other clients own: caught by [S-INV-owner].
    PullIgnoresOwnership,
    /// Submits are acknowledged before the database write: with a crash, caught by
    /// [S-IS-durable] and [S-INV-lost].
    AckBeforeWrite,
    /// Views ignore priority (FIFO only): caught by [S-INV-order].
    ViewIgnoresPriority,
    /// Logins do not check the seat limit: caught by [S-LIC-checkout].
    LoginIgnoresSeats,
    /// Lowered seats log nobody out: caught by [S-LIC-shrink].
    ShrinkKeepsLogins,
    /// RequestDeliver checks that the agent is ready but not that it has capacity left (the
    /// node trusts the router's selection): caught by [S-URS-select].
    DeliverIgnoresCapacity,
    /// RequestStopProcessing forgets the handling agent's load: the agent looks busy forever
    /// on this node. Caught by the node's own invariants [S-INV-machine].
    StopKeepsLoad,
    /// A held pull lasts the node's own `pull-hold-timeout`, not the one the pull asked for
    /// (the proxy's): caught by [S-IS-hold].
    HoldIgnoresAsked,
    /// A URS that went away is treated like any owner: what it held waits out the grace
    /// period instead of going to another URS at once: caught by [S-URS-rr].
    UrsGoneWaitsGrace,
    /// Snapshots return everything the view holds, past `max-interactions-per-snapshot`:
    /// caught by [S-IS-snapshot].
    SnapshotIgnoresLimit,
    /// An owner that leaves gets half the owner grace period to come back: what it owns goes
    /// back to its queue early, while it may still be on its way back. Caught by [S-IS-owner].
    GraceHalved,
    /// An owner that leaves keeps what it owns for twice the owner grace period: a dead
    /// client's work waits past the grace period before it goes back to its queue. Caught by
    /// [S-IS-owner]'s late bound (most runs pass [S-INV-live]'s `settle_ms` with it).
    GraceDoubled,
}

impl IsConfig {
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|queue| queue.name == name)
    }

    fn tenant(&self, id: TenantId) -> Option<&TenantConfig> {
        self.tenants.iter().find(|tenant| tenant.id == id)
    }
}

/// A client as the node sees it: on its own connection, or behind a proxy connection (the
/// proxied client's number in [`IsNode::proxied`]). Ownership, agents and held pulls belong to
/// a `Conn`, so a client behind a proxy is handled exactly like a direct one, and its leaving is
/// reported individually (seed 002: "the server is only notified of individual disconnect events
/// for each client that was connected to or handled by the disconnected proxy").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Conn {
    Direct(Peer),
    Proxied(Peer, u32),
}

impl Conn {
    fn transport(self) -> Peer {
        match self {
            Conn::Direct(peer) | Conn::Proxied(peer, _) => peer,
        }
    }
}

/// The license server, the one server a node connects to.
const LICENSE_SERVER: Peer = Peer::Server(0);

/// Order of interactions in every view: priority descending, then submit order.
type ViewKey = (Reverse<i32>, u64, IxnId);

fn view_key(record: &IxnRecord) -> ViewKey {
    (Reverse(record.priority), record.seq, record.id)
}

#[derive(Clone, Debug)]
struct Invite {
    agent: AgentId,
    timer: TimerId,
}

#[derive(Clone, Debug)]
struct Owner {
    client: String,
    /// The agent handling it, once accepted.
    agent: Option<AgentId>,
    invite: Option<Invite>,
}

#[derive(Clone, Debug)]
struct Client {
    name: String,
    kind: ClientKind,
}

#[derive(Clone, Debug)]
struct Agent {
    peer: Conn,
    /// Login order, for choosing whom a seat shrink logs out (the latest first).
    since: u64,
    ready: bool,
    /// Interactions invited to or accepted by this agent.
    load: u32,
    /// Capacity held by routers (`agent_reservation`) for interactions about to be delivered:
    /// interaction -> (router, expiry timer). Volatile: a restart forgets them.
    reserved: BTreeMap<IxnId, (String, TimerId)>,
}

impl Agent {
    /// Capacity left for a delivery of `ixn`: what is not loaded nor reserved for another
    /// interaction.
    fn free_for(&self, capacity: u32, ixn: Option<IxnId>) -> u32 {
        let others = self
            .reserved
            .keys()
            .filter(|reserved| Some(**reserved) != ixn)
            .count() as u32;
        capacity.saturating_sub(self.load).saturating_sub(others)
    }
}

#[derive(Clone, Debug)]
struct HeldPull {
    peer: Conn,
    client: String,
    ref_id: RefId,
    queue: String,
    view: String,
    count: u32,
    timer: TimerId,
}

/// Something to do once a write is durable.
#[derive(Clone, Debug)]
enum AfterWrite {
    Reply(Conn, Message),
    /// Send to a registered client by name, on whatever connection it has by then.
    Notify(String, Message),
    MakeAvailable(IxnId),
}

#[derive(Clone, Debug)]
enum TimerPurpose {
    IdleSweep,
    PullHold,
    Invite(IxnId),
    OwnerGrace(String),
    Reservation(AgentId, IxnId),
}

pub struct IsNode {
    cfg: IsConfig,
    db: IsDatabase,
    /// Pullable interactions per queue, in view order.
    available: BTreeMap<String, BTreeSet<ViewKey>>,
    owners: BTreeMap<IxnId, Owner>,
    /// Interactions whose latest write is not yet durable: neither owned nor available.
    in_flight: BTreeSet<IxnId>,
    clients: BTreeMap<Conn, Client>,
    /// Live connection of each registered client name.
    client_peers: BTreeMap<String, Conn>,
    agents: BTreeMap<AgentId, Agent>,
    held: Vec<HeldPull>,
    after_write: BTreeMap<WriteId, Vec<AfterWrite>>,
    next_write: u64,
    timers: BTreeMap<TimerId, TimerPurpose>,
    next_timer: u64,
    /// When each connection last sent a frame.
    last_heard: BTreeMap<Peer, SimTime>,
    /// Direct mode: registered URS clients and the strategies they have loaded, and the
    /// round-robin position per strategy.
    urs_strategies: BTreeMap<String, Vec<String>>,
    urs_turn: BTreeMap<String, usize>,
    /// Clients behind proxies: number -> (proxy connection, client name), and back.
    proxied: BTreeMap<u32, (Peer, String)>,
    proxied_ids: BTreeMap<(Peer, String), u32>,
    next_proxied: u32,
    /// Seats the license server granted (None: not yet answered).
    granted: Option<u32>,
    license_connected: bool,
    next_license_ref: u32,
    logins: u64,
    /// Fault points [`Site::IsPullShort`] and [`Site::IsIdleCloseEarly`]; off by default.
    buggify: Buggify,
}

impl IsNode {
    /// A node starting from `db` (empty on first boot, the durable store on restart).
    pub fn new(cfg: IsConfig, db: IsDatabase) -> Self {
        let mut node = IsNode {
            cfg,
            db,
            available: BTreeMap::new(),
            owners: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            clients: BTreeMap::new(),
            client_peers: BTreeMap::new(),
            agents: BTreeMap::new(),
            held: Vec::new(),
            after_write: BTreeMap::new(),
            next_write: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            last_heard: BTreeMap::new(),
            urs_strategies: BTreeMap::new(),
            urs_turn: BTreeMap::new(),
            proxied: BTreeMap::new(),
            proxied_ids: BTreeMap::new(),
            next_proxied: 0,
            granted: None,
            license_connected: false,
            next_license_ref: 0,
            logins: 0,
            buggify: Buggify::off(),
        };
        for record in node.db.interactions.values() {
            match &record.owner {
                Some(client) => {
                    node.owners.insert(
                        record.id,
                        Owner {
                            client: client.clone(),
                            agent: record.agent,
                            invite: None,
                        },
                    );
                }
                None => {
                    node.available
                        .entry(record.queue.clone())
                        .or_default()
                        .insert(view_key(record));
                }
            }
        }
        node
    }

    /// The node with these fault points ([`crate::buggify`]).
    pub fn with_buggify(mut self, buggify: Buggify) -> Self {
        self.buggify = buggify;
        self
    }

    /// [`Site::IsPullShort`]: keeps the first half (at least one) of a pull's picks.
    fn maybe_shorten(&mut self, now: SimTime, picked: &mut Vec<IxnId>, out: &mut Vec<Output>) {
        if picked.len() > 1 && self.buggify.fires(Site::IsPullShort, now, out) {
            picked.truncate(picked.len().div_ceil(2));
        }
    }

    pub fn config(&self) -> &IsConfig {
        &self.cfg
    }

    /// The node's working copy of the database (durable state plus writes not yet persisted).
    pub fn database(&self) -> &IsDatabase {
        &self.db
    }

    /// Who owns `ixn`, if anyone (client name).
    pub fn owner(&self, ixn: IxnId) -> Option<&str> {
        self.owners.get(&ixn).map(|owner| owner.client.as_str())
    }

    /// Whether `ixn` can be pulled now.
    pub fn is_available(&self, ixn: IxnId) -> bool {
        self.db.interactions.get(&ixn).is_some_and(|record| {
            self.available
                .get(&record.queue)
                .is_some_and(|set| set.contains(&view_key(record)))
        })
    }

    pub fn held_pulls(&self) -> usize {
        self.held.len()
    }

    /// [`Machine::check_invariants`]: every stored interaction is pullable in its own queue,
    /// owned, or in flight (exactly one of them), and each agent's load is its invites plus
    /// what it accepted.
    fn invariants(&self) -> Result<(), String> {
        // Counted, not collected: the shell runs this after every input of every run.
        let mut accounted = 0usize;
        for (queue, set) in &self.available {
            for (_, _, ixn) in set {
                let record = self
                    .db
                    .interactions
                    .get(ixn)
                    .ok_or(format!("available {ixn} not in database"))?;
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

    fn timer(&mut self, purpose: TimerPurpose, at: SimTime, out: &mut Vec<Output>) -> TimerId {
        let id = TimerId(self.next_timer);
        self.next_timer += 1;
        self.timers.insert(id, purpose);
        out.push(Output::SetTimer(id, at));
        id
    }

    fn cancel_timer(&mut self, id: TimerId, out: &mut Vec<Output>) {
        if self.timers.remove(&id).is_some() {
            out.push(Output::CancelTimer(id));
        }
    }

    /// Sends `message` to a client, wrapped for the proxy when the client is behind one.
    fn send(&self, conn: Conn, message: Message, out: &mut Vec<Output>) {
        match conn {
            Conn::Direct(peer) => out.push(Output::Send(peer, message)),
            Conn::Proxied(peer, id) => {
                let Some((_, client)) = self.proxied.get(&id) else {
                    return;
                };
                if let Message::Event { ref_id, event } = message {
                    out.push(Output::Send(
                        peer,
                        Message::ProxiedEvent {
                            client: client.clone(),
                            ref_id,
                            event,
                        },
                    ));
                }
            }
        }
    }

    /// The connection for `client` behind the proxy on `peer`.
    fn proxied_conn(&mut self, peer: Peer, client: &str) -> Conn {
        let key = (peer, client.to_string());
        if let Some(id) = self.proxied_ids.get(&key) {
            return Conn::Proxied(peer, *id);
        }
        let id = self.next_proxied;
        self.next_proxied += 1;
        self.proxied.insert(id, key.clone());
        self.proxied_ids.insert(key, id);
        Conn::Proxied(peer, id)
    }

    fn persist(&mut self, op: DbOp, then: Vec<AfterWrite>, out: &mut Vec<Output>) {
        self.db.apply(&op);
        let write = WriteId(self.next_write);
        self.next_write += 1;
        out.push(Output::Persist(write, op));
        self.after_write.insert(write, then);
    }

    fn on_persisted(&mut self, now: SimTime, upto: WriteId, out: &mut Vec<Output>) {
        let done: Vec<WriteId> = self.after_write.range(..=upto).map(|(id, _)| *id).collect();
        if done.is_empty() {
            return;
        }
        out.push(Output::Trace(TraceEvent::Persisted { writes: upto.0 + 1 }));
        let mut touched = BTreeSet::new();
        for write in done {
            for action in self.after_write.remove(&write).unwrap_or_default() {
                match action {
                    AfterWrite::Reply(peer, message) => self.send(peer, message, out),
                    AfterWrite::Notify(client, message) => {
                        self.send_to_client(&client, message, out)
                    }
                    AfterWrite::MakeAvailable(ixn) => {
                        self.in_flight.remove(&ixn);
                        if let Some(queue) = self.make_available(ixn) {
                            out.push(Output::Trace(TraceEvent::Queued {
                                ixn,
                                queue: queue.clone(),
                            }));
                            touched.insert(queue);
                        }
                    }
                }
            }
        }
        for queue in touched {
            self.serve_held(now, &queue, out);
        }
    }

    /// Puts a stored, unowned interaction into its queue's pullable set; returns the queue.
    /// Direct mode [S-URS-rr]: hands every pullable interaction of a strategy queue to a URS
    /// with that strategy loaded, round-robin among them; with none, it waits in its queue.
    fn route_to_urs(&mut self, out: &mut Vec<Output>) {
        if self.cfg.queue_strategies.is_empty() || self.urs_strategies.is_empty() {
            return;
        }
        let queues: Vec<(String, String)> = self
            .cfg
            .queue_strategies
            .iter()
            .map(|(queue, strategy)| (queue.clone(), strategy.clone()))
            .collect();
        for (queue, strategy) in queues {
            let candidates: Vec<String> = self
                .urs_strategies
                .iter()
                .filter(|(name, loaded)| {
                    loaded.contains(&strategy) && self.client_peers.contains_key(*name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let waiting: Vec<IxnId> = self
                .available
                .get(&queue)
                .map(|set| set.iter().map(|(_, _, ixn)| *ixn).collect())
                .unwrap_or_default();
            for ixn in waiting {
                let turn = self.urs_turn.entry(strategy.clone()).or_insert(0);
                let urs = candidates[*turn % candidates.len()].clone();
                *turn = turn.wrapping_add(1);
                self.take_available(ixn);
                self.owners.insert(
                    ixn,
                    Owner {
                        client: urs.clone(),
                        agent: None,
                        invite: None,
                    },
                );
                out.push(Output::Trace(TraceEvent::RouteRequested {
                    ixn,
                    urs: urs.clone(),
                    strategy: strategy.clone(),
                }));
                let Some(record) = self.db.interactions.get(&ixn) else {
                    continue;
                };
                let event = Event::RouteRequest {
                    ixn: Self::info(self.cfg.node, record),
                    strategy: strategy.clone(),
                };
                let then = vec![AfterWrite::Notify(urs, Message::unsolicited(event))];
                self.persist_owner(ixn, then, out);
            }
        }
    }

    fn make_available(&mut self, ixn: IxnId) -> Option<String> {
        let record = self.db.interactions.get(&ixn)?;
        if self.owners.contains_key(&ixn) || self.in_flight.contains(&ixn) {
            return None;
        }
        self.available
            .entry(record.queue.clone())
            .or_default()
            .insert(view_key(record));
        Some(record.queue.clone())
    }

    fn take_available(&mut self, ixn: IxnId) {
        if let Some(record) = self.db.interactions.get(&ixn) {
            if let Some(set) = self.available.get_mut(&record.queue) {
                set.remove(&view_key(record));
            }
        }
    }

    fn info(node: u16, record: &IxnRecord) -> IxnInfo {
        IxnInfo {
            node,
            id: record.id,
            tenant: record.tenant,
            media: record.media.clone(),
            queue: record.queue.clone(),
            priority: record.priority,
            submitted_at: record.submitted_at,
            user_data: record.user_data.clone(),
        }
    }

    /// Up to `count` pullable interactions of `queue` that `view` shows, in view order.
    fn select(&self, queue: &str, view: &ViewConfig, count: u32) -> Vec<IxnId> {
        match self.cfg.planted_bug {
            Some(PlantedBug::PullIgnoresOwnership) => {
                return self.select_planted_any_owner(queue, view, count)
            }
            Some(PlantedBug::ViewIgnoresPriority) => {
                return self.select_planted_fifo(queue, view, count)
            }
            Some(
                PlantedBug::AckBeforeWrite
                | PlantedBug::LoginIgnoresSeats
                | PlantedBug::ShrinkKeepsLogins
                | PlantedBug::DeliverIgnoresCapacity
                | PlantedBug::StopKeepsLoad
                | PlantedBug::HoldIgnoresAsked
                | PlantedBug::UrsGoneWaitsGrace
                | PlantedBug::SnapshotIgnoresLimit
                | PlantedBug::GraceHalved
                | PlantedBug::GraceDoubled,
            )
            | None => {}
        }
        let Some(set) = self.available.get(queue) else {
            return Vec::new();
        };
        set.iter()
            .map(|(_, _, ixn)| *ixn)
            .filter(|ixn| {
                self.db
                    .interactions
                    .get(ixn)
                    .is_some_and(|record| view.matches(&record.user_data))
            })
            .take(count as usize)
            .collect()
    }

    /// [`PlantedBug::PullIgnoresOwnership`]: every stored interaction of the queue is a candidate.
    fn select_planted_any_owner(&self, queue: &str, view: &ViewConfig, count: u32) -> Vec<IxnId> {
        let mut keys: Vec<ViewKey> = self
            .db
            .interactions
            .values()
            .filter(|record| record.queue == queue && !self.in_flight.contains(&record.id))
            .filter(|record| view.matches(&record.user_data))
            .map(view_key)
            .collect();
        keys.sort();
        keys.into_iter()
            .take(count as usize)
            .map(|(_, _, ixn)| ixn)
            .collect()
    }

    /// [`PlantedBug::ViewIgnoresPriority`]: pullable interactions in submit order only.
    fn select_planted_fifo(&self, queue: &str, view: &ViewConfig, count: u32) -> Vec<IxnId> {
        let Some(set) = self.available.get(queue) else {
            return Vec::new();
        };
        let mut keys: Vec<(u64, IxnId)> = set
            .iter()
            .filter(|(_, _, ixn)| {
                self.db
                    .interactions
                    .get(ixn)
                    .is_some_and(|r| view.matches(&r.user_data))
            })
            .map(|(_, seq, ixn)| (*seq, *ixn))
            .collect();
        keys.sort();
        keys.into_iter()
            .take(count as usize)
            .map(|(_, ixn)| ixn)
            .collect()
    }

    fn view(&self, queue: &str, view: &str) -> Option<ViewConfig> {
        self.cfg
            .queue(queue)?
            .views
            .iter()
            .find(|candidate| candidate.name == view)
            .cloned()
    }

    /// Marks `ixns` owned by `client` and builds the EventTakenFromQueue.
    /// Gives `ixns` to `client` and answers its pull with EventTakenFromQueue once the new
    /// ownership is in the database.
    #[allow(clippy::too_many_arguments)]
    fn hand_out(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        queue: &str,
        view: &str,
        ixns: Vec<IxnId>,
        out: &mut Vec<Output>,
    ) {
        let mut items = Vec::with_capacity(ixns.len());
        let mut writes = Vec::with_capacity(ixns.len());
        for ixn in &ixns {
            self.take_available(*ixn);
            self.owners.insert(
                *ixn,
                Owner {
                    client: client.to_string(),
                    agent: None,
                    invite: None,
                },
            );
            if let Some(record) = self.db.interactions.get(ixn) {
                items.push(Self::info(self.cfg.node, record));
                let mut record = record.clone();
                record.owner = Some(client.to_string());
                record.agent = None;
                writes.push(record);
            }
        }
        out.push(Output::Trace(TraceEvent::Pulled {
            client: client.to_string(),
            queue: queue.to_string(),
            view: view.to_string(),
            ixns,
        }));
        let reply = Message::reply(ref_id, Event::TakenFromQueue { items });
        let Some(last) = writes.pop() else {
            self.send(peer, reply, out);
            return;
        };
        for record in writes {
            self.persist(DbOp::Put(record), Vec::new(), out);
        }
        self.persist(DbOp::Put(last), vec![AfterWrite::Reply(peer, reply)], out);
    }

    /// Persists the current owner of `ixn` (after the in-memory owner changed).
    fn persist_owner(&mut self, ixn: IxnId, then: Vec<AfterWrite>, out: &mut Vec<Output>) {
        let Some(mut record) = self.db.interactions.get(&ixn).cloned() else {
            return;
        };
        let owner = self.owners.get(&ixn);
        record.owner = owner.map(|owner| owner.client.clone());
        record.agent = owner.and_then(|owner| owner.agent);
        self.persist(DbOp::Put(record), then, out);
    }

    fn serve_held(&mut self, now: SimTime, queue: &str, out: &mut Vec<Output>) {
        let mut index = 0;
        while index < self.held.len() {
            if self.held[index].queue != queue {
                index += 1;
                continue;
            }
            let Some(view) = self.view(queue, &self.held[index].view) else {
                index += 1;
                continue;
            };
            let mut picked = self.select(queue, &view, self.held[index].count);
            if picked.is_empty() {
                index += 1;
                continue;
            }
            let held = self.held.remove(index);
            self.cancel_timer(held.timer, out);
            mark(Mark::IsHeldPullServed, out);
            self.maybe_shorten(now, &mut picked, out);
            self.hand_out(
                held.peer,
                held.ref_id,
                &held.client,
                &held.queue,
                &held.view,
                picked,
                out,
            );
        }
    }

    fn fail(
        &self,
        peer: Conn,
        ref_id: RefId,
        request: &Request,
        code: ErrorCode,
        out: &mut Vec<Output>,
    ) {
        out.push(Output::Trace(TraceEvent::request_failed(request, code)));
        self.send(peer, Message::error(ref_id, code), out);
    }

    fn broadcast_agent(&self, agent_id: AgentId, out: &mut Vec<Output>) {
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
    fn agent_snapshot(&self, peer: Conn, out: &mut Vec<Output>) {
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

    fn send_to_client(&self, client: &str, message: Message, out: &mut Vec<Output>) {
        if let Some(peer) = self.client_peers.get(client) {
            self.send(*peer, message, out);
        }
    }

    fn change_load(&mut self, agent_id: AgentId, delta: i32, out: &mut Vec<Output>) {
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.load = agent.load.saturating_add_signed(delta);
            self.broadcast_agent(agent_id, out);
        }
    }

    /// Clears the owner of `ixn`, freeing the handling agent's capacity.
    fn disown(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if let Some(Owner {
            agent: Some(agent), ..
        }) = self.owners.remove(&ixn)
        {
            self.change_load(agent, -1, out);
        }
    }

    /// Withdraws a pending invite of `ixn` (timeout, reject, agent gone); the owner keeps it.
    fn end_invite(&mut self, ixn: IxnId, out: &mut Vec<Output>) -> Option<(AgentId, String)> {
        let owner = self.owners.get_mut(&ixn)?;
        let invite = owner.invite.take()?;
        let client = owner.client.clone();
        self.cancel_timer(invite.timer, out);
        self.change_load(invite.agent, -1, out);
        Some((invite.agent, client))
    }

    /// Returns every interaction `client` owns to its queue [S-IS-owner].
    fn release_owned_by(&mut self, now: SimTime, client: &str, out: &mut Vec<Output>) {
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

    /// A transport connection closed: every client on it (itself and the clients of a proxy)
    /// is gone.
    fn on_disconnected(&mut self, now: SimTime, peer: Peer, out: &mut Vec<Output>) {
        self.last_heard.remove(&peer);
        let mut conns: BTreeSet<Conn> = self
            .clients
            .keys()
            .copied()
            .chain(self.agents.values().map(|agent| agent.peer))
            .chain(self.held.iter().map(|held| held.peer))
            .filter(|conn| conn.transport() == peer)
            .collect();
        conns.insert(Conn::Direct(peer));
        for conn in conns {
            self.conn_gone(now, conn, out);
        }
        let gone: Vec<u32> = self
            .proxied
            .iter()
            .filter(|(_, (transport, _))| *transport == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(key) = self.proxied.remove(&id) {
                self.proxied_ids.remove(&key);
            }
        }
    }

    /// One client is gone: its held pulls are dropped, its agents logged out, and what it owns
    /// gets the grace period.
    fn conn_gone(&mut self, now: SimTime, conn: Conn, out: &mut Vec<Output>) {
        for held in self.held.iter().filter(|held| held.peer == conn) {
            out.push(Output::Trace(TraceEvent::PullDropped {
                client: held.client.clone(),
                queue: held.queue.clone(),
                view: held.view.clone(),
            }));
        }
        self.held.retain(|held| held.peer != conn);
        let logged_in: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, agent)| agent.peer == conn)
            .map(|(id, _)| *id)
            .collect();
        for agent in logged_in {
            self.logout(agent, out);
        }
        let Some(client) = self.clients.remove(&conn) else {
            return;
        };
        self.leave(now, &client.name, conn, out);
    }

    /// The registered name `client` no longer has connection `peer`: what it owns gets the grace
    /// period to come back [S-IS-owner].
    fn leave(&mut self, now: SimTime, client: &str, peer: Conn, out: &mut Vec<Output>) {
        if self.client_peers.get(client) == Some(&peer) {
            self.client_peers.remove(client);
        }
        let was_urs = self.urs_strategies.remove(client).is_some();
        if was_urs && self.cfg.planted_bug != Some(PlantedBug::UrsGoneWaitsGrace) {
            // Seed 003: what was pending in a URS that went away is resubmitted to another URS
            // with the strategy at once (no grace period: a URS holds no work of its own).
            out.push(Output::Trace(TraceEvent::ClientGone {
                client: client.to_string(),
            }));
            if self.owners.values().any(|owner| owner.client == client) {
                mark(Mark::IsUrsWorkResubmitted, out);
            }
            self.release_owned_by(now, client, out);
            return;
        }
        out.push(Output::Trace(TraceEvent::ClientGone {
            client: client.to_string(),
        }));
        if self.owners.values().any(|owner| owner.client == client) {
            let grace = match self.cfg.planted_bug {
                Some(PlantedBug::GraceHalved) => self.cfg.owner_grace_ms / 2,
                Some(PlantedBug::GraceDoubled) => self.cfg.owner_grace_ms.saturating_mul(2),
                _ => self.cfg.owner_grace_ms,
            };
            self.timer(
                TimerPurpose::OwnerGrace(client.to_string()),
                now + grace,
                out,
            );
        }
    }

    fn logout(&mut self, agent_id: AgentId, out: &mut Vec<Output>) {
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

    fn on_timer(&mut self, now: SimTime, id: TimerId, out: &mut Vec<Output>) {
        let Some(purpose) = self.timers.remove(&id) else {
            return;
        };
        match purpose {
            TimerPurpose::IdleSweep => {
                let timeout = self.cfg.client_idle_timeout_ms;
                let mut quiet = Vec::new();
                for (peer, heard) in &self.last_heard {
                    if heard + timeout <= now {
                        out.push(Output::Close(*peer));
                    } else if heard + timeout.div_ceil(4) <= now {
                        quiet.push(*peer);
                    }
                }
                for peer in quiet {
                    if self.buggify.fires(Site::IsIdleCloseEarly, now, out) {
                        out.push(Output::Close(peer));
                    }
                }
                self.timer(TimerPurpose::IdleSweep, now + timeout.div_ceil(2), out);
            }
            TimerPurpose::PullHold => {
                let Some(index) = self.held.iter().position(|held| held.timer == id) else {
                    return;
                };
                let held = self.held.remove(index);
                mark(Mark::IsPullHoldExpired, out);
                out.push(Output::Trace(TraceEvent::PullExpired {
                    client: held.client,
                    queue: held.queue,
                    view: held.view,
                }));
                self.send(
                    held.peer,
                    Message::reply(held.ref_id, Event::TakenFromQueue { items: Vec::new() }),
                    out,
                );
            }
            TimerPurpose::Invite(ixn) => {
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
            TimerPurpose::OwnerGrace(client) => {
                if !self.client_peers.contains_key(&client) {
                    if self.owners.values().any(|owner| owner.client == client) {
                        mark(Mark::IsOwnerGraceReleased, out);
                    }
                    self.release_owned_by(now, &client, out);
                }
            }
            TimerPurpose::Reservation(agent_id, ixn) => {
                let expired = self
                    .agents
                    .get_mut(&agent_id)
                    .and_then(|agent| agent.reserved.remove(&ixn));
                if expired.is_some() {
                    self.broadcast_agent(agent_id, out);
                }
            }
        }
    }

    fn on_request(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let client = match (&request, self.clients.get(&peer)) {
            (Request::RegisterClient { name, kind }, _) => {
                self.register(now, peer, name.clone(), *kind, out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            // A configuration change from the operator's side needs no registration.
            (Request::SetSeats { seats }, _) => {
                self.cfg.seats = Some(*seats);
                self.check_out_seats(out);
                self.enforce_seats(out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            (Request::Ping, _) => {
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            (_, None) => return self.fail(peer, ref_id, &request, ErrorCode::NotRegistered, out),
            (_, Some(client)) => client.name.clone(),
        };
        let result = match &request {
            Request::RegisterClient { .. } | Request::Ping => Ok(()),
            Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data,
                client_ixn,
            } => self.submit(
                now,
                peer,
                ref_id,
                (tenant, media, queue),
                *priority,
                user_data,
                *client_ixn,
                out,
            ),
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                hold_ms,
            } => {
                let pull = (tenant, queue.as_str(), view.as_str(), *count, *hold_ms);
                self.pull(now, peer, ref_id, &client, pull, out)
            }
            Request::PlaceInQueue { ixn, queue } => {
                self.place(peer, ref_id, &client, ixn, queue, out)
            }
            Request::UpdateUserData { ixn, changes } => {
                self.update_user_data(peer, ref_id, &client, ixn, changes, out)
            }
            Request::StopProcessing { ixn } => self.stop(peer, ref_id, &client, ixn, out),
            Request::Deliver { ixn, agent } => {
                self.deliver(now, peer, ref_id, &client, ixn, *agent, out)
            }
            Request::Accept { ixn } => self.answer_invite(peer, ref_id, ixn, true, out),
            Request::Reject { ixn } => self.answer_invite(peer, ref_id, ixn, false, out),
            Request::AgentLogin {
                tenant,
                agent,
                media: _,
            } => self.login(peer, ref_id, tenant, *agent, out),
            Request::AgentLogout { agent } => self.own_agent(peer, *agent).map(|()| {
                self.logout(*agent, out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
            }),
            Request::AgentReady { agent } => self.set_ready(peer, ref_id, *agent, true, out),
            Request::AgentNotReady { agent } => self.set_ready(peer, ref_id, *agent, false, out),
            Request::Find { ixn } => self.find(peer, ref_id, ixn, out),
            Request::ReserveAgent { agent, ixn, ms } => {
                self.reserve(now, peer, ref_id, &client, *agent, ixn, *ms, out)
            }
            // A URS request; a node has no routing strategies of its own.
            Request::SelectTarget { .. } | Request::Lease { .. } => {
                Err(ErrorCode::UnsupportedOperation)
            }
            Request::StrategiesLoaded { names } => {
                self.urs_strategies.insert(client.clone(), names.clone());
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                // A URS back within the grace period (or after this node restarted) gets its
                // pending work again: it may have lost it with the connection.
                let pending: Vec<(IxnId, String)> = self
                    .owners
                    .iter()
                    .filter(|(_, owner)| {
                        owner.client == client && owner.agent.is_none() && owner.invite.is_none()
                    })
                    .filter_map(|(ixn, _)| {
                        let queue = &self.db.interactions.get(ixn)?.queue;
                        let strategy = self.cfg.queue_strategies.get(queue)?;
                        Some((*ixn, strategy.clone()))
                    })
                    .collect();
                for (ixn, strategy) in pending {
                    if let Some(record) = self.db.interactions.get(&ixn) {
                        let event = Event::RouteRequest {
                            ixn: Self::info(self.cfg.node, record),
                            strategy,
                        };
                        self.send(peer, Message::unsolicited(event), out);
                    }
                }
                Ok(())
            }
            Request::Transfer { ixn, to } => {
                self.transfer(now, peer, ref_id, &client, ixn, to, out)
            }
            Request::FindInteractions {
                tenant,
                key,
                equals,
                max,
            } => self.tenant_of(tenant).map(|tenant| {
                let mut found: Vec<&IxnRecord> = self
                    .db
                    .interactions
                    .values()
                    .filter(|record| record.tenant == tenant)
                    .filter(|record| record.user_data.get(key) == Some(equals))
                    .collect();
                found.sort_by_key(|record| record.seq);
                if found.len() > *max as usize {
                    mark(Mark::IsFindCapped, out);
                }
                let items = found
                    .into_iter()
                    .take(*max as usize)
                    .map(|record| Self::info(self.cfg.node, record))
                    .collect();
                let reply = Event::InteractionsFound { items };
                self.send(peer, Message::reply(ref_id, reply), out);
            }),
            Request::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => self.snapshot(peer, ref_id, tenant, queue, view, *max, out),
            Request::Unregister => {
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                self.conn_gone(now, peer, out);
                Ok(())
            }
            // HA commands are the pair's business (`ha::PairMember`), seats the license
            // server's: a bare node refuses them.
            Request::Promote { .. } | Request::Demote | Request::CheckOutSeats { .. } => {
                Err(ErrorCode::InvalidState)
            }
            Request::SetSeats { seats } => {
                self.cfg.seats = Some(*seats);
                self.check_out_seats(out);
                self.enforce_seats(out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                Ok(())
            }
        };
        if let Err(code) = result {
            self.fail(peer, ref_id, &request, code, out);
        }
    }

    fn register(
        &mut self,
        now: SimTime,
        peer: Conn,
        name: String,
        kind: ClientKind,
        out: &mut Vec<Output>,
    ) {
        // A connection registering again under another name leaves the old name: what that name
        // owns gets the grace period, as if its connection had closed [S-IS-owner].
        if let Some(previous) = self.clients.get(&peer).map(|client| client.name.clone()) {
            if previous != name {
                self.leave(now, &previous, peer, out);
            }
        }
        // Back within its grace period: the pending release of what it owns is off. A grace
        // timer left running (one set when this node restarted, say) would otherwise release
        // the name's interactions early, counted from the wrong departure, the next time the
        // name is away, while its agent may still hold them (urs-direct --swarm --buggify seed
        // 879: released 1.6 s after the proxy went, the agent still working on it) [S-IS-owner].
        let stale: Vec<TimerId> = self
            .timers
            .iter()
            .filter(|(_, purpose)| matches!(purpose, TimerPurpose::OwnerGrace(c) if *c == name))
            .map(|(id, _)| *id)
            .collect();
        if !stale.is_empty() && self.owners.values().any(|owner| owner.client == name) {
            mark(Mark::IsOwnerBackInGrace, out);
        }
        for id in stale {
            self.cancel_timer(id, out);
        }
        if let Some(old_peer) = self.client_peers.insert(name.clone(), peer) {
            if old_peer != peer {
                // A second connection under the same name takes over; the old one is dropped.
                self.clients.remove(&old_peer);
                match old_peer {
                    Conn::Direct(transport) => out.push(Output::Close(transport)),
                    Conn::Proxied(..) => self.conn_gone(now, old_peer, out),
                }
            }
        }
        self.clients.insert(
            peer,
            Client {
                name: name.clone(),
                kind,
            },
        );
        if kind == ClientKind::Router {
            self.agent_snapshot(peer, out);
            // A router that comes back within its grace period is told what it still owns
            // here: a pull answer lost with its old connection would otherwise leave it owning
            // interactions it never heard of, for good.
            let items: Vec<IxnInfo> = self
                .owners
                .iter()
                .filter(|(_, owner)| owner.client == name && owner.agent.is_none())
                .filter_map(|(ixn, _)| self.db.interactions.get(ixn))
                .map(|record| Self::info(self.cfg.node, record))
                .collect();
            if !items.is_empty() {
                let event = Event::TakenFromQueue { items };
                self.send(peer, Message::unsolicited(event), out);
            }
        }
        out.push(Output::Trace(TraceEvent::ClientRegistered { client: name }));
    }

    fn tenant_of(&self, tenant: &Field<TenantId>) -> Result<TenantId, ErrorCode> {
        let id = *tenant.value().ok_or(ErrorCode::InvalidAttribute)?;
        self.cfg.tenant(id).ok_or(ErrorCode::UnknownObject)?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        (tenant, media, queue): (&Field<TenantId>, &Field<String>, &String),
        priority: i32,
        user_data: &KvList,
        client_ixn: Option<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.tenant_of(tenant)?;
        let media = media.value().ok_or(ErrorCode::InvalidAttribute)?;
        let tenant_cfg = self.cfg.tenant(tenant).ok_or(ErrorCode::UnknownObject)?;
        // A disabled media type is still accepted when submitted directly [S-IS-submit].
        if !tenant_cfg.media.iter().any(|m| &m.name == media) {
            return Err(ErrorCode::UnknownObject);
        }
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let seq = self.db.next_seq;
        let id = client_ixn.unwrap_or(IxnId::generated(self.cfg.node, seq));
        if self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::DuplicateId);
        }
        let record = IxnRecord {
            id,
            tenant,
            media: media.clone(),
            queue: queue.clone(),
            priority,
            seq,
            submitted_at: now,
            user_data: user_data.clone(),
            owner: None,
            agent: None,
        };
        out.push(Output::Trace(TraceEvent::Submitted {
            ixn: id,
            tenant,
            queue: queue.clone(),
            priority,
            seq,
            user_data: user_data.clone(),
        }));
        self.in_flight.insert(id);
        let ack = Message::reply(ref_id, Event::Ack { ixn: Some(id) });
        let then = if self.cfg.planted_bug == Some(PlantedBug::AckBeforeWrite) {
            self.send(peer, ack, out);
            vec![AfterWrite::MakeAvailable(id)]
        } else {
            vec![AfterWrite::Reply(peer, ack), AfterWrite::MakeAvailable(id)]
        };
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn pull(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        (tenant, queue, view, count, asked_ms): (&Field<TenantId>, &str, &str, u32, Option<u64>),
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        // The asker's hold wins over the node's own (the proxy's `pull-hold-timeout` overrides
        // the nodes' [S-PX-pull]).
        let hold_ms = match self.cfg.planted_bug {
            Some(PlantedBug::HoldIgnoresAsked) => self.cfg.pull_hold_timeout_ms,
            _ => asked_ms.unwrap_or(self.cfg.pull_hold_timeout_ms),
        };
        let tenant = self.tenant_of(tenant)?;
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let view_cfg = self.view(queue, view).ok_or(ErrorCode::UnknownObject)?;
        let mut picked = self.select(queue, &view_cfg, count);
        if !picked.is_empty() || count == 0 || self.held.len() >= self.cfg.held_pulls_max {
            self.maybe_shorten(now, &mut picked, out);
            self.hand_out(peer, ref_id, client, queue, view, picked, out);
            return Ok(());
        }
        let timer = self.timer(TimerPurpose::PullHold, now + hold_ms, out);
        mark(Mark::IsPullHeld, out);
        out.push(Output::Trace(TraceEvent::PullHeld {
            client: client.to_string(),
            queue: queue.to_string(),
            view: view.to_string(),
            asked_ms,
        }));
        self.held.push(HeldPull {
            peer,
            client: client.to_string(),
            ref_id,
            queue: queue.to_string(),
            view: view.to_string(),
            count,
            timer,
        });
        Ok(())
    }

    /// The interaction `ixn` names, if `client` owns it and no invite is pending.
    fn owned(&self, client: &str, ixn: &Field<IxnId>) -> Result<IxnId, ErrorCode> {
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

    fn place(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        queue: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = self.owned(client, ixn)?;
        let mut record = self
            .db
            .interactions
            .get(&id)
            .cloned()
            .ok_or(ErrorCode::InteractionNotFound)?;
        if self
            .cfg
            .queue(queue)
            .is_none_or(|q| q.tenant != record.tenant)
        {
            return Err(ErrorCode::UnknownObject);
        }
        self.disown(id, out);
        record.queue = queue.to_string();
        record.owner = None;
        record.agent = None;
        out.push(Output::Trace(TraceEvent::Placed {
            ixn: id,
            queue: queue.to_string(),
        }));
        self.in_flight.insert(id);
        let then = vec![
            AfterWrite::Reply(peer, Message::reply(ref_id, Event::Ack { ixn: Some(id) })),
            AfterWrite::MakeAvailable(id),
        ];
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    fn update_user_data(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        changes: &KvList,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        if !self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::InteractionNotFound);
        }
        if self
            .owners
            .get(&id)
            .is_none_or(|owner| owner.client != client)
        {
            return Err(ErrorCode::NotOwner);
        }
        let mut record = self
            .db
            .interactions
            .get(&id)
            .cloned()
            .ok_or(ErrorCode::InteractionNotFound)?;
        record.user_data.merge(changes);
        out.push(Output::Trace(TraceEvent::UserDataChanged {
            ixn: id,
            changes: changes.clone(),
        }));
        let then = vec![AfterWrite::Reply(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
        )];
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    fn stop(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = self.owned(client, ixn)?;
        if self.cfg.planted_bug == Some(PlantedBug::StopKeepsLoad) {
            self.owners.remove(&id);
        } else {
            self.disown(id, out);
        }
        out.push(Output::Trace(TraceEvent::Stopped { ixn: id }));
        let then = vec![AfterWrite::Reply(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
        )];
        self.persist(DbOp::Delete(id), then, out);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        agent_id: AgentId,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
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
        let agent_peer = agent.peer;
        // The delivery uses up a reservation held for this interaction.
        let reservation = self
            .agents
            .get_mut(&agent_id)
            .and_then(|agent| agent.reserved.remove(&id));
        if let Some((_, timer)) = reservation {
            self.cancel_timer(timer, out);
        }
        let timer = self.timer(
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
        self.send(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
            out,
        );
        Ok(())
    }

    /// RequestTransfer: the owner hands `ixn` to the client named `to`, which must be connected
    /// or still within its owner grace period (it owns something here). A new owner that is
    /// away gets the grace period; it hears of the interaction when it registers again.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
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
            self.timer(TimerPurpose::OwnerGrace(to.to_string()), at, out);
        }
        out.push(Output::Trace(TraceEvent::Transferred {
            ixn: id,
            from: client.to_string(),
            to: to.to_string(),
        }));
        let mut then = vec![AfterWrite::Reply(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
        )];
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

    /// RequestReserveAgent [S-URS-select]: holds one unit of the agent's capacity for `ixn`
    /// for `ms`. Granted when the agent is ready and has capacity left that is neither loaded
    /// nor reserved for another interaction; a second reservation for the same interaction
    /// (by anyone) renews it. The interaction must be on this node [S-URS-scope].
    #[allow(clippy::too_many_arguments)]
    fn reserve(
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
        let timer = self.timer(TimerPurpose::Reservation(agent_id, id), now + ms, out);
        let previous = self
            .agents
            .get_mut(&agent_id)
            .and_then(|agent| agent.reserved.insert(id, (client.to_string(), timer)));
        if let Some((_, old_timer)) = previous {
            self.cancel_timer(old_timer, out);
        }
        self.broadcast_agent(agent_id, out);
        self.send(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
            out,
        );
        Ok(())
    }

    fn answer_invite(
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
                AfterWrite::Reply(peer, Message::reply(ref_id, Event::Ack { ixn: Some(id) })),
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
        self.send(
            peer,
            Message::reply(ref_id, Event::Ack { ixn: Some(id) }),
            out,
        );
        Ok(())
    }

    fn login(
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
        self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
        Ok(())
    }

    fn find(
        &self,
        peer: Conn,
        ref_id: RefId,
        ixn: &Field<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        let record = self
            .db
            .interactions
            .get(id)
            .ok_or(ErrorCode::InteractionNotFound)?;
        let found = Event::Found {
            ixn: Self::info(self.cfg.node, record),
        };
        self.send(peer, Message::reply(ref_id, found), out);
        Ok(())
    }

    /// [S-IS-snapshot]: every interaction of the view, owned or not, in view order, at most
    /// `max` and at most `max_interactions_per_snapshot`.
    #[allow(clippy::too_many_arguments)]
    fn snapshot(
        &self,
        peer: Conn,
        ref_id: RefId,
        tenant: &Field<TenantId>,
        queue: &str,
        view: &str,
        max: u32,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.tenant_of(tenant)?;
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let view_cfg = self.view(queue, view).ok_or(ErrorCode::UnknownObject)?;
        let keys: Vec<ViewKey> = self
            .available
            .get(queue)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let keys: Vec<ViewKey> = keys
            .into_iter()
            .filter(|(_, _, id)| {
                self.db
                    .interactions
                    .get(id)
                    .is_some_and(|record| view_cfg.matches(&record.user_data))
            })
            .collect();
        let limit = match self.cfg.planted_bug {
            Some(PlantedBug::SnapshotIgnoresLimit) => max as usize,
            _ => max.min(self.cfg.max_interactions_per_snapshot) as usize,
        };
        if keys.len() > limit && max > self.cfg.max_interactions_per_snapshot {
            mark(Mark::IsSnapshotCapped, out);
        }
        let items = keys
            .into_iter()
            .take(limit)
            .filter_map(|(_, _, id)| {
                self.db
                    .interactions
                    .get(&id)
                    .map(|record| Self::info(self.cfg.node, record))
            })
            .collect();
        let reply = Event::SnapshotContent { items };
        self.send(peer, Message::reply(ref_id, reply), out);
        Ok(())
    }

    /// How many agents may be logged in here now [S-LIC-checkout].
    fn seat_limit(&self) -> Option<u32> {
        match &self.cfg.license_group {
            None => self.cfg.seats,
            Some(_) => Some(
                self.granted
                    .unwrap_or(0)
                    .min(self.cfg.seats.unwrap_or(u32::MAX)),
            ),
        }
    }

    fn check_out_seats(&mut self, out: &mut Vec<Output>) {
        let Some(group) = self.cfg.license_group.clone() else {
            return;
        };
        if !self.license_connected {
            return;
        }
        self.next_license_ref += 1;
        let request = Request::CheckOutSeats {
            group,
            seats: self.cfg.seats.unwrap_or(u32::MAX),
        };
        out.push(Output::Send(
            LICENSE_SERVER,
            Message::Request {
                ref_id: RefId(self.next_license_ref),
                request,
            },
        ));
    }

    /// [S-LIC-shrink]: fewer seats than logged-in agents logs the latest logins out.
    fn enforce_seats(&mut self, out: &mut Vec<Output>) {
        let Some(limit) = self.seat_limit() else {
            return;
        };
        out.push(Output::Trace(TraceEvent::SeatLimit { seats: limit }));
        if self.cfg.planted_bug == Some(PlantedBug::ShrinkKeepsLogins) {
            return;
        }
        while self.agents.len() as u32 > limit {
            let Some((agent, conn)) = self
                .agents
                .iter()
                .max_by_key(|(_, agent)| agent.since)
                .map(|(id, agent)| (*id, agent.peer))
            else {
                break;
            };
            mark(Mark::IsSeatsShrunk, out);
            self.send(conn, Message::unsolicited(Event::LoggedOut { agent }), out);
            self.logout(agent, out);
        }
    }

    fn own_agent(&self, peer: Conn, agent_id: AgentId) -> Result<(), ErrorCode> {
        match self.agents.get(&agent_id) {
            Some(agent) if agent.peer == peer => Ok(()),
            Some(_) | None => Err(ErrorCode::AgentUnavailable),
        }
    }

    fn set_ready(
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
        self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
        Ok(())
    }
}

impl Machine for IsNode {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        self.on_input(now, input, out);
        self.route_to_urs(out);
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.invariants()
    }
}

impl IsNode {
    fn on_input(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => {
                if self.cfg.client_idle_timeout_ms > 0 {
                    let at = now + self.cfg.client_idle_timeout_ms.div_ceil(2);
                    self.timer(TimerPurpose::IdleSweep, at, out);
                }
                out.push(Output::Trace(TraceEvent::NodeStarted {
                    node: self.cfg.node,
                    interactions: self.db.interactions.len(),
                }));
                if self.db.interactions.values().any(|r| r.owner.is_some()) {
                    mark(Mark::IsLoadedOwned, out);
                }
                for record in self.db.interactions.values() {
                    out.push(Output::Trace(TraceEvent::Loaded {
                        ixn: record.id,
                        queue: record.queue.clone(),
                        owner: record.owner.clone(),
                        agent: record.agent,
                    }));
                }
                // Owners from before the restart have no connection yet: each gets the grace
                // period to come back under its name [S-IS-owner].
                let owners: BTreeSet<String> = self
                    .owners
                    .values()
                    .map(|owner| owner.client.clone())
                    .collect();
                for client in owners {
                    self.timer(
                        TimerPurpose::OwnerGrace(client),
                        now + self.cfg.owner_grace_ms,
                        out,
                    );
                }
            }
            Input::Connected(LICENSE_SERVER) => {
                self.license_connected = true;
                self.check_out_seats(out);
            }
            Input::Disconnected(LICENSE_SERVER) => self.license_connected = false,
            Input::Frame(
                LICENSE_SERVER,
                Message::Event {
                    event: Event::Seats { seats },
                    ..
                },
            ) => {
                self.granted = Some(seats);
                self.enforce_seats(out);
            }
            Input::Frame(LICENSE_SERVER, _) => {}
            Input::Connected(peer) => {
                self.last_heard.insert(peer, now);
            }
            Input::Disconnected(peer) => self.on_disconnected(now, peer, out),
            Input::Frame(peer, Message::Request { ref_id, request }) => {
                self.last_heard.insert(peer, now);
                self.on_request(now, Conn::Direct(peer), ref_id, request, out)
            }
            Input::Frame(
                peer,
                Message::ProxiedRequest {
                    client,
                    ref_id,
                    request,
                },
            ) => {
                self.last_heard.insert(peer, now);
                let conn = self.proxied_conn(peer, &client);
                let via_proxy = self
                    .clients
                    .get(&Conn::Direct(peer))
                    .is_some_and(|proxy| proxy.kind == ClientKind::Proxy);
                if via_proxy {
                    self.on_request(now, conn, ref_id, request, out);
                } else {
                    self.fail(conn, ref_id, &request, ErrorCode::NotRegistered, out);
                }
            }
            // Nodes take no events from clients; a peer sending one is ignored.
            Input::Frame(_, Message::Event { .. } | Message::ProxiedEvent { .. }) => {}
            Input::Timer(id) => self.on_timer(now, id, out),
            Input::Persisted(upto) => self.on_persisted(now, upto, out),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The node's own checks, clause by clause: [`IsNode::invariants`] must name each way its
    //! bookkeeping can go wrong (the sweeps run it after every input, so a check that never
    //! fires would pass every run), and the `is-snapshot-capped` mark must fire exactly when
    //! the node's limit cut a snapshot.
    use super::*;

    const CAP: u32 = 3;

    pub(crate) fn config() -> IsConfig {
        IsConfig {
            node: 1,
            tenants: vec![TenantConfig {
                id: TenantId(1),
                media: vec![MediaConfig {
                    name: "email".into(),
                    enabled: true,
                }],
            }],
            queues: vec![QueueConfig {
                name: "q".into(),
                tenant: TenantId(1),
                views: vec![ViewConfig {
                    name: "all".into(),
                    condition: None,
                }],
            }],
            pull_hold_timeout_ms: 1_000,
            owner_grace_ms: 1_000,
            invite_timeout_ms: 1_000,
            agent_capacity: 2,
            seats: None,
            license_group: None,
            held_pulls_max: 4,
            max_interactions_per_snapshot: CAP,
            client_idle_timeout_ms: 0,
            planted_bug: None,
            queue_strategies: BTreeMap::new(),
        }
    }

    fn record(id: u64, owner: Option<&str>) -> IxnRecord {
        IxnRecord {
            id: IxnId(id),
            tenant: TenantId(1),
            media: "email".into(),
            queue: "q".into(),
            priority: 0,
            seq: id,
            submitted_at: 0,
            user_data: KvList::default(),
            owner: owner.map(str::to_string),
            agent: None,
        }
    }

    /// A node restarted from a database of `available` unowned and `owned` owned interactions.
    fn node(available: u64, owned: u64) -> IsNode {
        let mut db = IsDatabase::default();
        for id in 1..=available + owned {
            let owner = (id > available).then_some("ors");
            db.interactions.insert(IxnId(id), record(id, owner));
        }
        IsNode::new(config(), db)
    }

    fn broken(node: &IsNode) -> String {
        node.invariants().expect_err("the invariants must see this")
    }

    /// A node with `client_idle_timeout_ms` = 0 never sweeps for idle clients (0 = never);
    /// with a timeout it sweeps every half timeout from its start.
    #[test]
    fn idle_sweep_only_with_a_timeout() {
        let timers = |timeout: u64| {
            let mut node = IsNode::new(
                IsConfig {
                    client_idle_timeout_ms: timeout,
                    ..config()
                },
                IsDatabase::default(),
            );
            let mut out = Vec::new();
            node.handle(100, Input::Start, &mut out);
            out.iter()
                .filter_map(|output| match output {
                    Output::SetTimer(_, at) => Some(*at),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(timers(0), Vec::<SimTime>::new());
        assert_eq!(timers(300), vec![250]);
    }

    /// [S-LIC-shrink]: lowering the seats below the logged-in agents logs the latest logins
    /// out first (the agents' ids run the other way, so an order by id would differ).
    #[test]
    fn a_seat_shrink_logs_the_latest_logins_out() {
        let mut node = IsNode::new(
            IsConfig {
                seats: Some(3),
                ..config()
            },
            IsDatabase::default(),
        );
        let mut out = Vec::new();
        for (conn, agent) in [(1, 9), (2, 5), (3, 2)] {
            let peer = Peer::Client(conn);
            node.handle(0, Input::Connected(peer), &mut out);
            for (ref_id, request) in [
                Request::RegisterClient {
                    name: format!("desk{conn}"),
                    kind: ClientKind::AgentDesktop,
                },
                Request::AgentLogin {
                    tenant: Field::Value(TenantId(1)),
                    agent: AgentId(agent),
                    media: vec!["email".into()],
                },
            ]
            .into_iter()
            .enumerate()
            {
                let message = Message::Request {
                    ref_id: RefId(ref_id as u32),
                    request,
                };
                node.handle(0, Input::Frame(peer, message), &mut out);
            }
        }
        assert_eq!(node.agents.len(), 3);
        let shrink = Message::Request {
            ref_id: RefId(9),
            request: Request::SetSeats { seats: 1 },
        };
        node.handle(10, Input::Frame(Peer::Client(1), shrink), &mut out);
        let left: Vec<AgentId> = node.agents.keys().copied().collect();
        assert_eq!(left, vec![AgentId(9)], "the first login stays");
    }

    #[test]
    fn a_consistent_node_passes() {
        let mut node = node(3, 2);
        assert_eq!(node.invariants(), Ok(()));
        // An owner's write on its way: owned and in flight at once is legal, counted once.
        node.in_flight.insert(IxnId(4));
        assert_eq!(node.invariants(), Ok(()));
        // Taken out of the view while its write is on the way: in flight only.
        let key = view_key(&node.db.interactions[&IxnId(1)]);
        node.available.get_mut("q").map(|set| set.remove(&key));
        node.in_flight.insert(IxnId(1));
        assert_eq!(node.invariants(), Ok(()));
    }

    #[test]
    fn available_and_owned_or_in_flight_is_broken() {
        let mut owned = node(2, 0);
        owned.owners.insert(
            IxnId(1),
            Owner {
                client: "ors".into(),
                agent: None,
                invite: None,
            },
        );
        assert!(broken(&owned).contains("both available and owned/in flight"));
        let mut in_flight = node(2, 0);
        in_flight.in_flight.insert(IxnId(2));
        assert!(broken(&in_flight).contains("both available and owned/in flight"));
    }

    #[test]
    fn stored_but_unaccounted_or_unstored_is_broken() {
        let mut lost = node(2, 1);
        let key = view_key(&lost.db.interactions[&IxnId(1)]);
        lost.available.get_mut("q").map(|set| set.remove(&key));
        assert!(broken(&lost).contains("3 interactions stored but 2 accounted for"));
        let mut ghost = node(1, 1);
        ghost.db.interactions.remove(&IxnId(2));
        let problem = broken(&ghost);
        assert!(
            problem.starts_with("owned ") && problem.ends_with("not in database"),
            "{problem}"
        );
        let mut elsewhere = node(1, 0);
        if let Some(record) = elsewhere.db.interactions.get_mut(&IxnId(1)) {
            record.queue = "other".into();
        }
        assert!(broken(&elsewhere).contains("available in q but stored in other"));
        let mut extra = node(1, 1);
        extra.db.interactions.insert(IxnId(9), record(9, None));
        extra.in_flight.insert(IxnId(9));
        extra.in_flight.insert(IxnId(10));
        assert!(broken(&extra).contains("3 interactions stored but 4 accounted for"));
    }

    /// An agent's load is what it is invited to plus what it accepted, each counted once.
    #[test]
    fn agent_load_is_invites_plus_accepted() {
        let mut node = node(0, 3);
        let agent = |load| Agent {
            peer: Conn::Direct(Peer::Client(1)),
            since: 0,
            ready: true,
            load,
            reserved: BTreeMap::new(),
        };
        node.agents.insert(AgentId(7), agent(2));
        node.agents.insert(AgentId(8), agent(0));
        if let Some(owner) = node.owners.get_mut(&IxnId(1)) {
            owner.invite = Some(Invite {
                agent: AgentId(7),
                timer: TimerId(1),
            });
        }
        if let Some(owner) = node.owners.get_mut(&IxnId(2)) {
            owner.agent = Some(AgentId(7));
        }
        assert_eq!(node.invariants(), Ok(()));
        node.agents.insert(AgentId(8), agent(1));
        assert!(broken(&node).contains("agent8 load 1 but 0 invited + 0 accepted"));
        node.agents.insert(AgentId(8), agent(0));
        node.agents.insert(AgentId(7), agent(1));
        assert!(broken(&node).contains("load 1 but 1 invited + 1 accepted"));
    }

    /// Marks reached by one snapshot of queue `q` asking for `max`.
    fn snapshot_marks(node: &IsNode, max: u32) -> Vec<Mark> {
        let mut out = Vec::new();
        let asked = node.snapshot(
            Conn::Direct(Peer::Client(1)),
            RefId(1),
            &Field::Value(TenantId(1)),
            "q",
            "all",
            max,
            &mut out,
        );
        assert_eq!(asked, Ok(()));
        out.iter()
            .filter_map(|output| match output {
                Output::Mark(mark) => Some(*mark),
                _ => None,
            })
            .collect()
    }

    /// `is-snapshot-capped`: the node's own limit cut the answer, and only then: not when the
    /// client asked for no more than the limit, not when everything fit.
    #[test]
    fn snapshot_capped_mark_fires_only_when_the_limit_cuts() {
        let capped = vec![Mark::IsSnapshotCapped];
        let full = node(CAP as u64 + 2, 0);
        assert_eq!(snapshot_marks(&full, CAP + 1), capped);
        assert_eq!(snapshot_marks(&full, CAP + 5), capped);
        assert_eq!(
            snapshot_marks(&full, CAP),
            vec![],
            "asked for no more than the limit"
        );
        assert_eq!(snapshot_marks(&full, 1), vec![]);
        let exact = node(CAP as u64, 0);
        assert_eq!(snapshot_marks(&exact, CAP + 5), vec![], "everything fit");
        let one_over = node(CAP as u64 + 1, 0);
        assert_eq!(snapshot_marks(&one_over, CAP + 1), capped);
    }
}
