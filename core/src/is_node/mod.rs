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

use crate::buggify::Buggify;
use crate::db::{IsDatabase, IxnRecord};
use crate::ids::{AgentId, IxnId, RefId, SimTime};
use crate::machine::{Input, Machine, Output, Peer, TimerId, TimerTable, WriteLog};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Message, Request};
use crate::trace::TraceEvent;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

mod agents;
mod clients;
mod config;
mod delivery;
mod direct;
mod durable;
mod interactions;
mod invariants;
mod ownership;
mod pull;
mod queries;
mod requests;
mod seats;
#[cfg(test)]
pub(crate) mod tests;
mod views;

pub use config::{
    IsConfig, MediaConfig, PlantedBug, QueueConfig, TenantConfig, ViewCondition, ViewConfig,
};

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
    after_write: WriteLog<Vec<AfterWrite>>,
    timers: TimerTable<TimerPurpose>,
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
            after_write: WriteLog::starting_at(0),
            timers: TimerTable::starting_at(0),
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

    /// Answers request `ref_id` with a plain acknowledgement.
    fn ack(&self, peer: Conn, ref_id: RefId, out: &mut Vec<Output>) {
        self.send(peer, Message::ack(ref_id, None), out);
    }

    /// Answers request `ref_id` about interaction `ixn` with an acknowledgement naming it.
    fn ack_ixn(&self, peer: Conn, ref_id: RefId, ixn: IxnId, out: &mut Vec<Output>) {
        self.send(peer, Message::ack(ref_id, Some(ixn)), out);
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

    fn send_to_client(&self, client: &str, message: Message, out: &mut Vec<Output>) {
        if let Some(peer) = self.client_peers.get(client) {
            self.send(*peer, message, out);
        }
    }

    fn on_timer(&mut self, now: SimTime, id: TimerId, out: &mut Vec<Output>) {
        let Some(purpose) = self.timers.fired(id) else {
            return;
        };
        match purpose {
            TimerPurpose::IdleSweep => self.idle_sweep(now, out),
            TimerPurpose::PullHold => self.pull_hold_expired(id, out),
            TimerPurpose::Invite(ixn) => self.invite_timed_out(ixn, out),
            TimerPurpose::OwnerGrace(client) => self.owner_grace_over(now, client, out),
            TimerPurpose::Reservation(agent_id, ixn) => {
                self.reservation_expired(agent_id, ixn, out)
            }
        }
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
            Input::Start => self.start(now, out),
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
            ) => self.on_proxied_request(now, peer, &client, ref_id, request, out),
            // Nodes take no events from clients; a peer sending one is ignored.
            Input::Frame(_, Message::Event { .. } | Message::ProxiedEvent { .. }) => {}
            Input::Timer(id) => self.on_timer(now, id, out),
            Input::Persisted(upto) => self.on_persisted(now, upto, out),
        }
    }

    /// The process started (first boot or a restart over the database it left).
    fn start(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.cfg.client_idle_timeout_ms > 0 {
            let at = now + self.cfg.client_idle_timeout_ms.div_ceil(2);
            self.timers.set(TimerPurpose::IdleSweep, at, out);
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
            self.timers.set(
                TimerPurpose::OwnerGrace(client),
                now + self.cfg.owner_grace_ms,
                out,
            );
        }
    }
}
