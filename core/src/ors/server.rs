//! An Orchestration Server instance [S-ORS]: pulls interactions from the queues associated with
//! it, runs one strategy session per interaction, and carries out the sessions' actions against
//! the cluster (through a proxy, `Peer::Server(0)`).
//!
//! - [S-ORS-pull]: only from its associated queue/views, only with `mcr-pull-by-this-node`, and
//!   holding at most `mcr-pull-limit` interactions at once.
//! - [S-ORS-session]: a pulled interaction no live session holds starts a session of the queue's
//!   strategy, which gets `interaction.present`. One pulled again while a session holds it (it
//!   was redirected without detaching) goes to that session, again as `interaction.present`;
//!   with `new-session-on-reroute` a new session takes it over.
//! - [S-ORS-assoc] [S-ORS-detach]: the association is written to the interaction's user data
//!   (`ORS_Session`); until the node confirms it, `<detach>` answers `error.interaction.detach`
//!   (see `assoc`). Only a session that detached an interaction may route it away.
//! - A session that ends while the server still owns its interaction puts it back into the
//!   queue it came from, so nothing is dropped ([S-ORS-fail]: never dropped).
//!
//! Events a session receives: `interaction.present`, `interaction.update.done` /
//! `error.interaction.update`, `interaction.detach.done` / `error.interaction.detach`,
//! `interaction.attach.done` / `error.interaction.attach`, `interaction.redirect.done` /
//! `error.interaction.redirect`, `error.interaction.associate`, and its timers by name.
//!
//! - [S-ORS-submit]: `queue:submit` asks a URS (`Peer::Server(1)`, one of the scenario's URS
//!   hosts) for an agent of a target list. With `route = false` the session gets
//!   `queue.submit.done` and the agent is remembered for `<deliver>`, which routes the
//!   interaction away and so needs `interaction.detach.done` first ([S-ORS-detach]); its
//!   outcome is `interaction.deliver.done` or `error.interaction.deliver` (the session may
//!   `<attach>` again). With `route = true` the ORS delivers under the session's control: when
//!   the agent accepts, the session gets `queue.submit.done` and then
//!   `interaction.notcontrolled`; a refused or rejected delivery gives `error.queue.submit`.
//!   Either way a delivered interaction leaves the ORS and its association ends.
//!
//! Not yet: HA and session persistence.
//!
//! Must not: act on an interaction for a session that does not control it.

use super::assoc::{Associations, Link, Refused, SessionId};
use super::strategy::{Action, Run, Strategy};
use crate::buggify::{Buggify, Site};
use crate::clients::{Pending, TICK_TIMER};
use crate::db::DbOp;
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::kv::{KvList, KvValue};
use crate::machine::{Control, Input, Machine, Output, Peer, TimerId, WriteId};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request};
use crate::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The user-data key that records the association.
pub const SESSION_KEY: &str = "ORS_Session";

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsQueue {
    pub queue: String,
    pub view: String,
    /// Index into [`OrsConfig::strategies`].
    pub strategy: usize,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsConfig {
    pub name: String,
    pub tenant: TenantId,
    pub queues: Vec<OrsQueue>,
    pub strategies: Vec<Strategy>,
    /// `mcr-pull-by-this-node`.
    pub pull_by_this_node: bool,
    /// `mcr-pull-limit`.
    pub pull_limit: u32,
    /// `new-session-on-reroute`.
    pub new_session_on_reroute: bool,
    pub pull_hold_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Sessions this server can run at once; creating one more fails.
    pub max_sessions: Option<u32>,
    /// `mcr-queue-on-fails`: where an interaction goes when its session cannot be created
    /// (default: back to the queue it came from).
    pub queue_on_fails: Option<String>,
    /// `ixnfm-idle-session-ttl`: a session left with no interaction (after routing it away)
    /// ends after this long.
    pub idle_session_ttl_ms: Option<u64>,
    /// `om-memory-optimization`: keep at most `om_max_in_memory` passive interactions (parked
    /// in a queue with their association) in memory, evicting the oldest first.
    pub om_memory_optimization: bool,
    /// `om-max-in-memory`.
    pub om_max_in_memory: u32,
    /// `om-delete-from-memory`: evict a passive interaction as soon as it is parked.
    pub om_delete_from_memory: bool,
    /// Primary/backup operation under the supervisor [S-ORS-ha]; `None`: a lone instance,
    /// primary from the start.
    pub ha: Option<OrsHa>,
    /// The release this process runs.
    pub version: OrsVersion,
    /// How long a delivery may go without the agent's answer before the session hears that it
    /// failed (the node's invite timeout plus a round trip: past it, the answer was lost).
    pub delivery_timeout_ms: u64,
    pub tick_ms: u64,
    /// A deliberately planted bug (harness self-test); `None` in every real scenario.
    pub planted_bug: Option<OrsBug>,
}

/// ORS releases, for rolling upgrades [S-OPS-rolling]. Seed 001: persistence (sessions and
/// session-to-server information) does not survive a migration from 8.1.2; from 8.1.3 on, HA
/// pairs upgrade one member at a time and keep their sessions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum OrsVersion {
    V812,
    V813,
    V814,
}

impl OrsVersion {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "8.1.2" => Some(OrsVersion::V812),
            "8.1.3" => Some(OrsVersion::V813),
            "8.1.4" => Some(OrsVersion::V814),
            _ => None,
        }
    }

    /// The persistence format it writes and reads: 8.1.2's is not readable by later releases.
    pub fn store_format(self) -> u32 {
        match self {
            OrsVersion::V812 => 1,
            OrsVersion::V813 | OrsVersion::V814 => 2,
        }
    }
}

/// [S-ORS-ha] options of an ORS pair.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsHa {
    /// Persist sessions so that the backup recovers them (`_sendSessionRecovered`).
    pub persistence: bool,
    /// `backup-synch-max-age`: the sync buffer is flushed at least this often (ms).
    pub sync_max_age_ms: u64,
    /// `backup-synch-max-buffer`: ... or as soon as it holds this many session changes (the
    /// product counts KB; a change is the unit here).
    pub sync_max_buffer: u32,
}

/// What an ORS primary persists [S-ORS-ha]: the name it is registered under (the owner of its
/// interactions at the nodes), its sessions and their associations.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OrsSnapshot {
    /// The persistence format of the release that wrote it (0: nothing written yet).
    pub format: u32,
    pub client_name: Option<String>,
    pub next_session: SessionId,
    pub sessions: Vec<SessionSnapshot>,
    pub assoc: Associations,
    pub evicted: BTreeMap<IxnId, SessionId>,
    /// What the primary owned at the nodes: (queue, node) per interaction.
    pub owned: BTreeMap<IxnId, (String, u16)>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionSnapshot {
    pub id: SessionId,
    pub strategy: usize,
    pub run: Run,
    pub ixn: IxnId,
    pub target: Option<AgentId>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Primary,
    Backup,
}

/// A promotion waiting for the store (persistence: the last flushed state).
#[derive(Clone, Copy, Debug)]
struct Promotion {
    write: WriteId,
    supervisor: Peer,
    ref_id: RefId,
}

/// The event a session gets when a delivery fails: for a `queue:submit` with route, the
/// submit failed; for a `<deliver>`, the routing did.
fn delivery_error(submit: bool) -> &'static str {
    if submit {
        "error.queue.submit"
    } else {
        "error.interaction.deliver"
    }
}

/// Bugs the harness can plant in ORS to prove its oracles find them. A scenario names them in
/// kebab case (`[ors] planted_bug = "no-forwarding"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrsBug {
    /// `<detach>` succeeds before the association's user data is confirmed, so the session
    /// routes too early: caught by [S-ORS-detach].
    DetachBeforeConfirm,
    /// `<deliver>` goes ahead for a session that still holds the interaction (no
    /// interaction.detach.done): routing before the detach, caught by [S-ORS-detach].
    RouteWithoutDetach,
    /// An evicted passive interaction is not reloaded when it is pulled again: the server takes
    /// it and does nothing with it, so it is never routed: caught by [S-INV-live].
    EvictionLosesInteraction,
    /// An instance that pulls an interaction associated with another instance's session starts
    /// its own session instead of handing it over: two sessions control one interaction,
    /// caught by [S-ORS-pull].
    NoForwarding,
    /// A promoted backup skips the first session of the state it read (an off-by-one in the
    /// recovery loop): its interaction stays associated with a session nobody runs, caught by
    /// [S-ORS-ha]'s recovery completeness.
    RecoveryDropsFirstSession,
    /// A promoted backup numbers its new sessions on from the state it read only, not past
    /// its term's epoch: it reuses the ids of sessions its predecessor started after its last
    /// flush, caught by [S-ORS-ha]'s session-id check.
    ReusedSessionIds,
    /// A session keeps the first agent a `queue:submit` returned: after a refused or rejected
    /// delivery it selects again but routes to that first agent, not to the one the URS
    /// returned this time. Caught by [S-ORS-submit].
    KeepsFirstTarget,
    /// An interaction whose session cannot be created goes back to the queue it came from,
    /// ignoring `mcr-queue-on-fails`. Caught by [S-ORS-fail].
    FailsToOriginQueue,
    /// When the node says an interaction is not this server's any more, the session hears
    /// interaction.notcontrolled but keeps its association: it goes on detaching, and gets the
    /// interaction back when it is pulled again. Caught by [S-ORS-assoc].
    LostControlKeepsAssociation,
    /// A `queue:submit` with route=true whose agent accepted tells the session nothing (no
    /// queue.submit.done, no interaction.notcontrolled): it waits on, until the idle ttl ends
    /// it. Caught by [S-ORS-submit].
    SubmitRouteUnheard,
}

/// The events a session hears that the trace records (`heard <event>`): the outcomes of
/// routing, which [S-ORS-submit] is about.
pub const HEARD: &[&str] = &[
    "queue.submit.done",
    "interaction.deliver.done",
    "interaction.notcontrolled",
];

const SERVER: Peer = Peer::Server(0);
const URS: Peer = Peer::Server(1);

#[derive(Debug)]
enum Sent {
    Register,
    Ping,
    Pull,
    /// The association's user-data update for `session`.
    Association(IxnId, SessionId),
    /// A strategy's user-data update.
    Update(SessionId),
    Redirect(IxnId, SessionId),
    /// RequestPlaceInQueue of an interaction no session holds (its session ended or could not
    /// be created): retried until it is done.
    Placement(IxnId, String),
    /// RequestTransfer of an interaction associated with a session of another instance.
    Transfer(IxnInfo),
    /// RequestDeliver for `session`; `submit` when it carries out a `queue:submit` with route.
    Deliver {
        ixn: IxnId,
        session: SessionId,
        submit: bool,
    },
}

/// A `queue:submit` waiting for the URS.
#[derive(Debug)]
struct Submit {
    session: SessionId,
    ixn: IxnId,
    route: bool,
}

/// A delivery the node accepted, waiting for the agent's answer.
#[derive(Debug)]
struct Delivering {
    session: SessionId,
    submit: bool,
    /// The session already got an error (the connection closed before the node answered):
    /// a late outcome only settles ownership.
    orphan: bool,
    /// When the node acknowledged the delivery.
    since: SimTime,
}

struct Session {
    strategy: usize,
    run: Run,
    /// The interaction it was started for (or last attached/associated).
    ixn: IxnId,
    /// The agent the last `queue.submit.done` named.
    target: Option<AgentId>,
    /// Since when it has had no interaction (see `idle_sessions`).
    idle_since: Option<SimTime>,
    /// Recovered from the pair's store after a switchover: it may be waiting for the outcome
    /// of a delivery its predecessor sent [S-ORS-ha].
    recovered: bool,
}

/// An interaction this server owns at the node.
struct Owned {
    queue: String,
    /// The node that holds it.
    node: u16,
    /// The session its user data names (`ORS_Session`): the cluster's record of its
    /// association, which a session of this server's memory may have fallen behind.
    tag: Option<(String, SessionId)>,
}

pub struct OrsServer {
    cfg: OrsConfig,
    role: Role,
    /// The name registered with the nodes (and in session tags): this process's own, or the
    /// one a recovered primary inherits with its sessions.
    client_name: String,
    promotion: Option<Promotion>,
    next_write: u64,
    /// Session changes since the last flush, and when that was.
    dirty: u32,
    last_flush: SimTime,
    /// Interactions of recovered sessions: the node's list of what this name owns brings them
    /// back without a new interaction.present.
    recovering: BTreeSet<IxnId>,
    recover_deadline: Option<SimTime>,
    /// Until when the supervisor's last lease lets this member act as primary: past it, it
    /// steps down by itself, and the supervisor promotes no one else before then, so two
    /// primaries never act under one name [S-ORS-ha].
    lease_until: SimTime,
    connected: bool,
    /// The node answered this connection's registration.
    registered: bool,
    pulling: bool,
    next_queue: usize,
    sessions: BTreeMap<SessionId, Session>,
    next_session: SessionId,
    assoc: Associations,
    owned: BTreeMap<IxnId, Owned>,
    pending: Pending<Sent>,
    last_sent_at: SimTime,
    /// Events waiting to be handed to sessions (actions' results), in order.
    events: VecDeque<(SessionId, String)>,
    timers: BTreeMap<TimerId, (SessionId, String)>,
    next_timer: u64,
    /// Interactions whose association write is in flight.
    binding: BTreeSet<IxnId>,
    /// Interactions to hand over once connected again (see `on_tick`).
    taken_back: Vec<IxnInfo>,
    /// Placements to try again (see `place_back`).
    to_place: Vec<(IxnId, String)>,
    /// Passive interactions in memory (parked with their association), by when they were
    /// parked [S-ORS-fail].
    parked: BTreeMap<IxnId, u64>,
    parks: u64,
    /// Evicted passive interactions and the sessions their user data names.
    evicted: BTreeMap<IxnId, SessionId>,
    urs_connected: bool,
    urs_pending: Pending<Submit>,
    delivering: BTreeMap<IxnId, Delivering>,
    /// Fault point [`Site::OrsPullOne`]; off by default.
    buggify: Buggify,
}

impl OrsServer {
    pub fn new(cfg: OrsConfig) -> Self {
        let role = if cfg.ha.is_some() {
            Role::Backup
        } else {
            Role::Primary
        };
        OrsServer {
            client_name: cfg.name.clone(),
            role,
            promotion: None,
            next_write: 0,
            dirty: 0,
            last_flush: 0,
            recovering: BTreeSet::new(),
            recover_deadline: None,
            lease_until: 0,
            cfg,
            connected: false,
            registered: false,
            pulling: false,
            next_queue: 0,
            sessions: BTreeMap::new(),
            next_session: 1,
            assoc: Associations::default(),
            owned: BTreeMap::new(),
            pending: Pending::default(),
            last_sent_at: 0,
            events: VecDeque::new(),
            timers: BTreeMap::new(),
            next_timer: 1,
            binding: BTreeSet::new(),
            taken_back: Vec::new(),
            to_place: Vec::new(),
            parked: BTreeMap::new(),
            parks: 0,
            evicted: BTreeMap::new(),
            urs_connected: false,
            urs_pending: Pending::default(),
            delivering: BTreeMap::new(),
            buggify: Buggify::off(),
        }
    }

    /// The server with these fault points ([`crate::buggify`]).
    pub fn with_buggify(mut self, buggify: Buggify) -> Self {
        self.buggify = buggify;
        self
    }

    /// Registers with the nodes, as primary only: a backup keeps its connections but takes no
    /// work.
    fn register(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.role != Role::Primary || !self.connected {
            return;
        }
        let register = Request::RegisterClient {
            name: self.client_name.clone(),
            kind: ClientKind::Router,
        };
        self.send(now, register, Sent::Register, 0, out);
    }

    /// The supervisor's requests to an HA pair member [S-ORS-ha].
    fn on_supervisor(
        &mut self,
        now: SimTime,
        peer: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let reply = |event: Event, out: &mut Vec<Output>| {
            out.push(Output::Send(peer, Message::reply(ref_id, event)));
        };
        match request {
            Request::Ping | Request::RegisterClient { .. } => reply(Event::Ack { ixn: None }, out),
            Request::Lease { until } => {
                if self.role == Role::Primary && now >= self.lease_until {
                    // It ran out before this one came: stepped down already (on_tick).
                    self.become_backup(now, out);
                }
                self.lease_until = self.lease_until.max(until);
                match self.role {
                    Role::Primary => reply(Event::Ack { ixn: None }, out),
                    Role::Backup => reply(
                        Event::Error {
                            code: ErrorCode::NotPrimary,
                        },
                        out,
                    ),
                }
            }
            Request::Promote { .. } if self.role == Role::Primary => {
                reply(Event::Ack { ixn: None }, out);
            }
            Request::Promote { epoch } => match &self.cfg.ha {
                _ if self.promotion.is_some() => {}
                Some(ha) if ha.persistence => {
                    // Session ids of this term never collide with the predecessor's, whose
                    // last ones may not have reached the store.
                    if self.cfg.planted_bug != Some(OrsBug::ReusedSessionIds) {
                        self.next_session = self.next_session.max((epoch << 32) + 1);
                    }
                    // Take the store's lock and read the last flushed state first.
                    self.next_write += 1;
                    let write = WriteId(self.next_write);
                    self.promotion = Some(Promotion {
                        write,
                        supervisor: peer,
                        ref_id,
                    });
                    out.push(Output::Persist(write, DbOp::OrsLoad { epoch }));
                }
                _ => {
                    self.become_primary(now, out);
                    reply(Event::Ack { ixn: None }, out);
                }
            },
            Request::Demote => {
                self.become_backup(now, out);
                reply(Event::Ack { ixn: None }, out);
            }
            _ => reply(
                Event::Error {
                    code: ErrorCode::UnsupportedOperation,
                },
                out,
            ),
        }
    }

    fn become_primary(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.role = Role::Primary;
        self.last_flush = now;
        out.push(Output::Trace(TraceEvent::OrsRole { primary: true }));
        self.register(now, out);
    }

    /// Drops everything this process held as primary (a demoted or fenced primary): its
    /// sessions end without running anything more, and its connections close so the nodes
    /// see its name go (what it owned gets the owner grace period, and goes to the new
    /// primary with persistence, back to the queues without).
    fn become_backup(&mut self, _now: SimTime, out: &mut Vec<Output>) {
        if self.role == Role::Backup {
            return;
        }
        self.role = Role::Backup;
        let sessions: Vec<(SessionId, IxnId)> =
            self.sessions.iter().map(|(id, s)| (*id, s.ixn)).collect();
        for (session, ixn) in sessions {
            self.trace(session, ixn, "session-dropped", out);
        }
        out.push(Output::Trace(TraceEvent::OrsRole { primary: false }));
        self.sessions.clear();
        self.assoc = Associations::default();
        self.owned.clear();
        self.delivering.clear();
        self.events.clear();
        self.timers.clear();
        self.parked.clear();
        self.evicted.clear();
        self.binding.clear();
        self.taken_back.clear();
        self.to_place.clear();
        self.recovering.clear();
        self.recover_deadline = None;
        self.pending.drain();
        self.urs_pending.drain();
        self.registered = false;
        self.pulling = false;
        self.client_name = self.cfg.name.clone();
        out.push(Output::Close(SERVER));
        out.push(Output::Close(URS));
    }

    /// What a primary with persistence flushes.
    fn snapshot(&self) -> OrsSnapshot {
        OrsSnapshot {
            format: self.cfg.version.store_format(),
            client_name: Some(self.client_name.clone()),
            next_session: self.next_session,
            sessions: self
                .sessions
                .iter()
                .map(|(id, s)| SessionSnapshot {
                    id: *id,
                    strategy: s.strategy,
                    run: s.run.clone(),
                    ixn: s.ixn,
                    target: s.target,
                })
                .collect(),
            assoc: self.assoc.clone(),
            evicted: self.evicted.clone(),
            owned: self
                .owned
                .iter()
                .map(|(ixn, owned)| (*ixn, (owned.queue.clone(), owned.node)))
                .collect(),
        }
    }

    /// A promoted backup takes over the last flushed state: the sessions continue (each gets
    /// `_sendSessionRecovered`) under the name that owns their interactions at the nodes, which
    /// list them again when this process registers. Changes after the last flush are lost, as
    /// the sync buffer options say; the nodes' answers then correct the sessions (NotOwner,
    /// interaction.notcontrolled).
    fn recover(&mut self, now: SimTime, snapshot: OrsSnapshot, out: &mut Vec<Output>) {
        let snapshot = if snapshot.format != 0 && snapshot.format != self.cfg.version.store_format()
        {
            // Written by a release whose persistence this one cannot read (seed 001: lost in
            // a migration from 8.1.2). Start afresh under this process's own name: what the
            // old name owned returns to the queues after the owner grace period.
            out.push(Output::Trace(TraceEvent::OrsPersistenceLost {
                sessions: snapshot.sessions.len() as u32,
            }));
            OrsSnapshot::default()
        } else {
            snapshot
        };
        if let Some(name) = snapshot.client_name {
            self.client_name = name;
        }
        self.next_session = self.next_session.max(snapshot.next_session);
        self.assoc = snapshot.assoc;
        self.evicted = snapshot.evicted;
        for (ixn, session, confirmed) in self.assoc.links() {
            let what = if confirmed {
                "recovered-confirmed"
            } else {
                "recovered-pending"
            };
            self.trace(session, ixn, what, out);
        }
        for (ixn, session) in self.assoc.detached() {
            self.trace(session, ixn, "recovered-detached", out);
        }
        // What the predecessor owned comes back when the nodes list what this name owns;
        // what they do not list by the deadline is gone (delivered meanwhile, or released).
        self.recovering = snapshot.owned.into_keys().collect();
        self.recover_deadline =
            Some(now + 2 * self.cfg.request_timeout_ms + self.cfg.pull_hold_timeout_ms);
        let skip = usize::from(self.cfg.planted_bug == Some(OrsBug::RecoveryDropsFirstSession));
        for saved in snapshot.sessions.into_iter().skip(skip) {
            if saved.strategy >= self.cfg.strategies.len() {
                continue;
            }
            self.sessions.insert(
                saved.id,
                Session {
                    strategy: saved.strategy,
                    run: saved.run,
                    ixn: saved.ixn,
                    target: saved.target,
                    idle_since: None,
                    recovered: true,
                },
            );
            mark(Mark::OrsSessionRecovered, out);
            self.trace(saved.id, saved.ixn, "session-recovered", out);
            self.events
                .push_back((saved.id, "_sendSessionRecovered".into()));
        }
        self.become_primary(now, out);
        self.drain_events(now, out);
    }

    /// Flushes the sync buffer when it is full or old enough [S-ORS-ha].
    fn maybe_flush(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let Some(ha) = &self.cfg.ha else {
            return;
        };
        if !ha.persistence || self.role != Role::Primary || self.dirty == 0 {
            return;
        }
        if self.dirty < ha.sync_max_buffer && now < self.last_flush + ha.sync_max_age_ms {
            return;
        }
        self.next_write += 1;
        let write = WriteId(self.next_write);
        out.push(Output::Persist(
            write,
            DbOp::OrsSync(Box::new(self.snapshot())),
        ));
        self.dirty = 0;
        self.last_flush = now;
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn send(
        &mut self,
        now: SimTime,
        request: Request,
        what: Sent,
        extra_ms: u64,
        out: &mut Vec<Output>,
    ) {
        if !self.connected {
            // Nothing can reach the node now: the request fails at once.
            self.failed(now, what, false);
            return;
        }
        if let Sent::Association(ixn, _) = what {
            self.binding.insert(ixn);
        }
        self.last_sent_at = now;
        let deadline = now + self.cfg.request_timeout_ms + extra_ms;
        self.pending.send(SERVER, request, deadline, what, out);
    }

    /// A request that got no answer: its session hears of the failure. `maybe_sent`: the
    /// node may have carried it out (the connection closed while it was in flight).
    fn failed(&mut self, now: SimTime, what: Sent, maybe_sent: bool) {
        let (session, event) = match what {
            Sent::Register | Sent::Ping | Sent::Pull => return,
            Sent::Placement(ixn, queue) => {
                self.to_place.push((ixn, queue));
                return;
            }
            Sent::Transfer(info) => {
                if maybe_sent {
                    // Perhaps handed over, perhaps not: the node lists what is still this
                    // server's when it registers again, and it is taken afresh then.
                    self.owned.remove(&info.id);
                } else {
                    self.taken_back.push(info);
                }
                return;
            }
            Sent::Association(ixn, _) => {
                // Written again once connected (see `on_tick`).
                self.binding.remove(&ixn);
                return;
            }
            Sent::Update(session) => (session, "error.interaction.update"),
            Sent::Redirect(_, session) => (session, "error.interaction.redirect"),
            Sent::Deliver {
                ixn,
                session,
                submit,
            } => {
                if maybe_sent {
                    // The node may have invited the agent: a late outcome still settles who
                    // owns the interaction.
                    let delivering = Delivering {
                        session,
                        submit,
                        orphan: true,
                        since: now,
                    };
                    self.delivering.insert(ixn, delivering);
                }
                let event = delivery_error(submit);
                (session, event)
            }
        };
        self.events.push_back((session, event.into()));
    }

    fn trace(&self, session: SessionId, ixn: IxnId, what: &str, out: &mut Vec<Output>) {
        out.push(Output::Trace(TraceEvent::OrsSession {
            session,
            ixn,
            what: what.to_string(),
        }));
    }

    fn session_tag(&self, session: SessionId) -> String {
        format!("{}:{session}", self.client_name)
    }

    /// Starts a session of `strategy` for `ixn`, which the caller has already associated with
    /// the next session id; writes the association to user data and runs the entry actions.
    fn start_session(
        &mut self,
        now: SimTime,
        strategy: usize,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) -> SessionId {
        let session = self.next_session;
        self.next_session += 1;
        self.dirty += 1;
        let (run, step) = Run::start(&self.cfg.strategies[strategy]);
        self.sessions.insert(
            session,
            Session {
                strategy,
                run,
                ixn,
                target: None,
                idle_since: None,
                recovered: false,
            },
        );
        self.trace(session, ixn, "session-started", out);
        self.bind(now, ixn, session, out);
        self.execute(now, session, step.actions, out);
        if step.finished {
            self.end_session(now, session, out);
        }
        session
    }

    /// Records `session`'s association with `ixn` in the interaction's user data.
    fn bind(&mut self, now: SimTime, ixn: IxnId, session: SessionId, out: &mut Vec<Output>) {
        let changes = KvList::new().with(SESSION_KEY, KvValue::Str(self.session_tag(session)));
        let request = Request::UpdateUserData {
            ixn: Field::Value(ixn),
            changes,
        };
        self.send(now, request, Sent::Association(ixn, session), 0, out);
    }

    fn execute(
        &mut self,
        now: SimTime,
        session: SessionId,
        actions: Vec<Action>,
        out: &mut Vec<Output>,
    ) {
        for action in actions {
            let Some(ixn) = self.sessions.get(&session).map(|s| s.ixn) else {
                return;
            };
            match action {
                Action::UpdateUserData { key, value } => {
                    if self.assoc.session_of(ixn) == Some(session) && self.owned.contains_key(&ixn)
                    {
                        let changes = KvList::new().with(&key, KvValue::Str(value));
                        let request = Request::UpdateUserData {
                            ixn: Field::Value(ixn),
                            changes,
                        };
                        self.send(now, request, Sent::Update(session), 0, out);
                    } else {
                        self.events
                            .push_back((session, "error.interaction.update".into()));
                    }
                }
                Action::Detach => {
                    let result = match self.cfg.planted_bug {
                        Some(OrsBug::DetachBeforeConfirm) => {
                            self.assoc.detach_unconfirmed(ixn, session)
                        }
                        None
                        | Some(
                            OrsBug::NoForwarding
                            | OrsBug::EvictionLosesInteraction
                            | OrsBug::RouteWithoutDetach
                            | OrsBug::RecoveryDropsFirstSession
                            | OrsBug::ReusedSessionIds
                            | OrsBug::KeepsFirstTarget
                            | OrsBug::FailsToOriginQueue
                            | OrsBug::LostControlKeepsAssociation
                            | OrsBug::SubmitRouteUnheard,
                        ) => self.assoc.detach(ixn, session),
                    };
                    let event = match result {
                        Ok(()) => "interaction.detach.done",
                        Err(_) => {
                            mark(Mark::OrsDetachRefused, out);
                            "error.interaction.detach"
                        }
                    };
                    self.trace(session, ixn, event, out);
                    self.events.push_back((session, event.into()));
                }
                Action::Attach => {
                    // Only an interaction this server controls at the node (a session cannot
                    // take one another instance holds, or one parked in a queue).
                    // ... and only one whose user data names no other session.
                    let mine = self.owned.get(&ixn).is_some_and(|owned| {
                        owned.tag.as_ref().is_none_or(|(instance, s)| {
                            *instance == self.client_name && *s == session
                        })
                    });
                    let attached = if mine {
                        self.assoc.attach(ixn, session)
                    } else {
                        Err(Refused::NotAssociated)
                    };
                    let event = match attached {
                        Ok(()) => {
                            mark(Mark::OrsReattached, out);
                            self.bind(now, ixn, session, out);
                            "interaction.attach.done"
                        }
                        Err(_) => "error.interaction.attach",
                    };
                    self.trace(session, ixn, event, out);
                    self.events.push_back((session, event.into()));
                }
                Action::Associate { strategy } => {
                    let index = self
                        .cfg
                        .strategies
                        .iter()
                        .position(|candidate| candidate.name == strategy);
                    match (index, self.assoc.session_of(ixn) == Some(session)) {
                        (Some(index), true) => {
                            let next = self.next_session;
                            if self.assoc.associate(ixn, session, next).is_ok() {
                                self.trace(session, ixn, "associated-away", out);
                                let started = self.start_session(now, index, ixn, out);
                                debug_assert_eq!(started, next);
                                self.events
                                    .push_back((started, "interaction.present".into()));
                            }
                        }
                        _ => self
                            .events
                            .push_back((session, "error.interaction.associate".into())),
                    }
                }
                Action::Redirect { queue } => {
                    // A session may move an interaction it controls (and get it back when it is
                    // pulled again) or one it detached (routing it away) [S-ORS-detach].
                    let controls = self.assoc.session_of(ixn) == Some(session);
                    let detached = self.assoc.may_route(ixn, session).is_ok();
                    if (controls || detached) && self.owned.contains_key(&ixn) {
                        let request = Request::PlaceInQueue {
                            ixn: Field::Value(ixn),
                            queue: queue.clone(),
                        };
                        let what = if detached {
                            "route-redirect"
                        } else {
                            "redirect"
                        };
                        self.trace(session, ixn, what, out);
                        self.send(now, request, Sent::Redirect(ixn, session), 0, out);
                    } else {
                        self.events
                            .push_back((session, "error.interaction.redirect".into()));
                    }
                }
                Action::StartTimer { name, ms } => {
                    let id = TimerId(self.next_timer);
                    self.next_timer += 1;
                    self.timers.insert(id, (session, name));
                    out.push(Output::SetTimer(id, now + ms));
                }
                Action::Exit => {}
                Action::QueueSubmit {
                    targets,
                    route,
                    timeout_ms,
                } => {
                    let controls = self.assoc.session_of(ixn) == Some(session);
                    let node = self.owned.get(&ixn).map(|owned| owned.node);
                    if let (true, Some(node), true) = (controls, node, self.urs_connected) {
                        let request = Request::SelectTarget {
                            ixn,
                            node,
                            targets,
                            timeout_ms,
                        };
                        let deadline = now + timeout_ms + self.cfg.request_timeout_ms;
                        let submit = Submit {
                            session,
                            ixn,
                            route,
                        };
                        self.urs_pending.send(URS, request, deadline, submit, out);
                    } else {
                        self.events
                            .push_back((session, "error.queue.submit".into()));
                    }
                }
                Action::Deliver => {
                    let target = self.sessions.get(&session).and_then(|s| s.target);
                    let detached = self.assoc.may_route(ixn, session).is_ok()
                        || (self.cfg.planted_bug == Some(OrsBug::RouteWithoutDetach)
                            && self.assoc.session_of(ixn) == Some(session));
                    match target {
                        Some(agent) if detached && self.owned.contains_key(&ixn) => {
                            self.trace(session, ixn, &format!("route-deliver {agent}"), out);
                            self.deliver(now, ixn, session, agent, false, out);
                        }
                        _ => self
                            .events
                            .push_back((session, "error.interaction.deliver".into())),
                    }
                }
            }
        }
    }

    fn deliver(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        session: SessionId,
        agent: AgentId,
        submit: bool,
        out: &mut Vec<Output>,
    ) {
        let request = Request::Deliver {
            ixn: Field::Value(ixn),
            agent,
        };
        let what = Sent::Deliver {
            ixn,
            session,
            submit,
        };
        self.send(now, request, what, 0, out);
    }

    /// The URS answered a `queue:submit`.
    fn on_selected(&mut self, now: SimTime, submit: Submit, event: Event, out: &mut Vec<Output>) {
        let Submit {
            session,
            ixn,
            route,
        } = submit;
        let Event::TargetSelected { agent } = event else {
            self.events
                .push_back((session, "error.queue.submit".into()));
            return;
        };
        let Some(state) = self.sessions.get_mut(&session) else {
            return;
        };
        let agent = match self.cfg.planted_bug {
            Some(OrsBug::KeepsFirstTarget) => *state.target.get_or_insert(agent),
            _ => {
                state.target = Some(agent);
                agent
            }
        };
        if !route {
            self.events.push_back((session, "queue.submit.done".into()));
            return;
        }
        let controls = self.assoc.session_of(ixn) == Some(session);
        if controls && self.owned.contains_key(&ixn) {
            self.trace(session, ixn, &format!("submit-deliver {agent}"), out);
            self.deliver(now, ixn, session, agent, true, out);
        } else {
            self.events
                .push_back((session, "error.queue.submit".into()));
        }
    }

    /// The agent accepted (`accepted`) or did not take an interaction this server delivered.
    fn on_delivery_outcome(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        accepted: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(delivering) = self.delivering.remove(&ixn) else {
            self.outcome_of_unknown_delivery(ixn, accepted, out);
            return;
        };
        let session = delivering.session;
        let alive = self.sessions.contains_key(&session) && !delivering.orphan;
        if accepted {
            // Delivered: the interaction left this server, and its association ends.
            let holder = self.live_holder_or_detacher(ixn);
            self.owned.remove(&ixn);
            self.assoc.gone(ixn);
            self.trace(session, ixn, "delivered", out);
            if delivering.orphan {
                // The session heard of a failure when the connection closed, and may have
                // attached the interaction again since: whoever holds it now hears that it is
                // gone [S-ORS-submit].
                if let Some(holder) = holder {
                    self.events
                        .push_back((holder, "interaction.notcontrolled".into()));
                }
                return;
            }
            if delivering.submit {
                if self.cfg.planted_bug == Some(OrsBug::SubmitRouteUnheard) {
                    return;
                }
                self.events.push_back((session, "queue.submit.done".into()));
                self.events
                    .push_back((session, "interaction.notcontrolled".into()));
            } else {
                self.events
                    .push_back((session, "interaction.deliver.done".into()));
            }
        } else if alive {
            let event = delivery_error(delivering.submit);
            self.events.push_back((session, event.into()));
        } else if self.live_holder_or_detacher(ixn).is_some() {
            // An orphaned delivery (its session heard of the failure when the connection
            // closed) whose interaction a live session still holds or detached: that session
            // decides what happens next, and may have delivered it again. Placing it now
            // would pull it from under the session (found by the ors_session fuzz target:
            // returned to its queue, then delivered again by the session that attached it
            // back) [S-INV-owner].
        } else if let Some(owned) = self.owned.get(&ixn) {
            // No live session holds it: back to its queue, never dropped.
            let queue = owned.queue.clone();
            self.trace(session, ixn, "returned-to-queue", out);
            self.place_back(now, ixn, queue, out);
        }
    }

    /// The live session that holds or detached `ixn`, if any.
    fn live_holder_or_detacher(&self, ixn: IxnId) -> Option<SessionId> {
        self.assoc
            .holder_or_detacher(ixn)
            .filter(|session| self.sessions.contains_key(session))
    }

    /// The agent's answer to a delivery this process did not send (its predecessor did, before
    /// a failover): accepted, the interaction has left, and the session that holds (or
    /// detached) it hears so; rejected, it is this server's again, and that session hears that
    /// the routing failed if it is a recovered one.
    fn outcome_of_unknown_delivery(&mut self, ixn: IxnId, accepted: bool, out: &mut Vec<Output>) {
        let linked = self.assoc.session_of(ixn);
        let Some(session) = self.assoc.holder_or_detacher(ixn) else {
            return;
        };
        if accepted {
            self.owned.remove(&ixn);
            self.recovering.remove(&ixn);
            self.assoc.gone(ixn);
            self.trace(session, ixn, "delivered", out);
            self.events
                .push_back((session, "interaction.notcontrolled".into()));
        } else if self.owned.contains_key(&ixn)
            && self.sessions.get(&session).is_some_and(|s| s.recovered)
        {
            // Only a recovered session can be waiting for it: one this process started since
            // routes on its own, and a failure it did not cause would set it routing twice
            // (two submits in flight, two deliveries: found by [S-ORS-submit],
            // `rolling-upgrade` seed 9 with --swarm --buggify).
            let event = delivery_error(linked.is_some());
            self.events.push_back((session, event.into()));
        }
    }

    /// Hands queued events to their sessions until none is left.
    /// A strategy that answers every error by retrying at once, while nothing can succeed
    /// (disconnected), would spin forever: past this many events in one go the rest are
    /// dropped and the sessions concerned end (what they hold goes back to its queue).
    const MAX_EVENTS_PER_STEP: usize = 10_000;

    fn drain_events(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let mut handled = 0;
        while let Some((session, event)) = self.events.pop_front() {
            handled += 1;
            self.dirty += 1;
            if handled > Self::MAX_EVENTS_PER_STEP {
                let spinning: BTreeSet<SessionId> = self
                    .events
                    .drain(..)
                    .map(|(session, _)| session)
                    .chain([session])
                    .collect();
                for session in spinning {
                    let ixn = self.sessions.get(&session).map_or(IxnId(0), |s| s.ixn);
                    self.trace(session, ixn, "strategy-livelock", out);
                    self.end_session(now, session, out);
                }
                self.events.clear();
                return;
            }
            let Some(state) = self.sessions.get_mut(&session) else {
                continue;
            };
            if HEARD.contains(&event.as_str()) {
                out.push(Output::Trace(TraceEvent::OrsSession {
                    session,
                    ixn: state.ixn,
                    what: format!("heard {event}"),
                }));
            }
            let strategy = &self.cfg.strategies[state.strategy];
            let step = state.run.on_event(strategy, &event);
            self.execute(now, session, step.actions, out);
            if step.finished {
                self.end_session(now, session, out);
            }
        }
    }

    /// The session ended: its associations end; an interaction it held that the server still
    /// owns goes back to the queue it came from (never dropped).
    fn end_session(&mut self, now: SimTime, session: SessionId, out: &mut Vec<Output>) {
        let Some(state) = self.sessions.remove(&session) else {
            return;
        };
        self.dirty += 1;
        let mut held = self.assoc.held_by(session);
        held.extend(self.assoc.detached_by(session));
        self.assoc.exit(session);
        let gone: Vec<IxnId> = self
            .parked
            .keys()
            .filter(|ixn| self.assoc.session_of(**ixn).is_none())
            .copied()
            .collect();
        for ixn in gone {
            self.parked.remove(&ixn);
        }
        self.trace(session, state.ixn, "session-ended", out);
        for ixn in held {
            // An interaction offered to an agent waits for the agent's answer instead.
            if self.delivering.contains_key(&ixn) {
                continue;
            }
            if let Some(owned) = self.owned.get(&ixn) {
                let queue = owned.queue.clone();
                self.trace(session, ixn, "returned-to-queue", out);
                self.place_back(now, ixn, queue, out);
            }
        }
        self.timers.retain(|_, (owner, _)| *owner != session);
    }

    /// The instance a session tag (`<instance>:<session>`) names, if it is not this one.
    fn tag_of(info: &IxnInfo) -> Option<(String, SessionId)> {
        let Some(KvValue::Str(tag)) = info.user_data.get(SESSION_KEY) else {
            return None;
        };
        let (instance, session) = tag.rsplit_once(':')?;
        Some((instance.to_string(), session.parse().ok()?))
    }

    fn other_instance(&self, info: &IxnInfo) -> Option<String> {
        let Some(KvValue::Str(tag)) = info.user_data.get(SESSION_KEY) else {
            return None;
        };
        let (instance, _) = tag.rsplit_once(':')?;
        (instance != self.client_name).then(|| instance.to_string())
    }

    /// Interactions this server now owns at the node: pulled, forwarded to it by another
    /// instance, or listed again by the node after a reconnect (those it knew are skipped).
    fn on_taken(
        &mut self,
        now: SimTime,
        items: Vec<IxnInfo>,
        forwarded: bool,
        out: &mut Vec<Output>,
    ) {
        let fresh: Vec<IxnInfo> = items
            .into_iter()
            .filter(|item| !self.owned.contains_key(&item.id))
            .collect();
        if fresh.is_empty() {
            return;
        }
        for item in &fresh {
            self.owned.insert(
                item.id,
                Owned {
                    queue: item.queue.clone(),
                    node: item.node,
                    tag: Self::tag_of(item),
                },
            );
        }
        out.push(Output::Trace(TraceEvent::OrsTook {
            ixns: fresh.iter().map(|item| item.id).collect(),
            holding: self.owned.len() as u32,
            pulled: !forwarded,
        }));
        for item in fresh {
            let ixn = item.id;
            self.parked.remove(&ixn);
            if self.recovering.remove(&ixn) {
                // Back with its recovered session, which resumes on its own.
                if let Some(session) = self.live_holder_or_detacher(ixn) {
                    self.trace(session, ixn, "recovered-owned", out);
                    continue;
                }
            }
            if self.evicted.remove(&ixn).is_some() && self.assoc.session_of(ixn).is_none() {
                if self.cfg.planted_bug == Some(OrsBug::EvictionLosesInteraction) {
                    continue;
                }
                // Reload an evicted passive interaction: its user data names its session.
                if let Some(session) = self.recorded_session(&item) {
                    self.assoc.restore(ixn, session);
                    self.trace(session, ixn, "reloaded", out);
                }
            }
            let mut holder = self
                .assoc
                .session_of(ixn)
                .filter(|session| self.sessions.contains_key(session));
            // A session of this server's memory whose confirmed association the interaction's
            // user data no longer names (it was taken over elsewhere: a recovered session from
            // an old flush) holds it no more. (A pending one may simply not be written yet.)
            let confirmed = matches!(self.assoc.link(ixn), Some((_, Link::Confirmed)));
            if let (Some(session), Some(tag), true) = (holder, Self::tag_of(&item), confirmed) {
                if tag != (self.client_name.clone(), session) {
                    self.control_lost(ixn);
                    self.trace(session, ixn, "lost-control", out);
                    self.events
                        .push_back((session, "interaction.notcontrolled".into()));
                    holder = None;
                    if tag.0 == self.client_name && self.sessions.contains_key(&tag.1) {
                        self.assoc.restore(ixn, tag.1);
                        self.trace(tag.1, ixn, "reloaded", out);
                        holder = Some(tag.1);
                    }
                }
            }
            // [S-ORS-session] across the cluster: an interaction associated with a session of
            // another instance goes to that instance (the node hands it over). One whose tag
            // names this instance but no live session starts a new one here.
            let elsewhere = if holder.is_none() {
                self.other_instance(&item)
            } else {
                None
            };
            match (holder, elsewhere) {
                (None, Some(instance)) if self.cfg.planted_bug != Some(OrsBug::NoForwarding) => {
                    let request = Request::Transfer {
                        ixn: Field::Value(ixn),
                        to: instance,
                    };
                    self.send(now, request, Sent::Transfer(item), 0, out);
                }
                (Some(session), _) => {
                    self.present_again(now, item.queue.as_str(), ixn, session, out)
                }
                (None, _) => self.start_for(now, &item.queue, ixn, out),
            }
        }
        self.drain_events(now, out);
    }

    /// The connection to the cluster closed (or this server closed it): what the node still
    /// owes an answer for is unknown now; the interactions stay owned by this name at the node
    /// within its grace period, and the node lists them again at the next registration.
    fn server_lost(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.connected = false;
        self.registered = false;
        self.pulling = false;
        for what in self.pending.drain() {
            self.failed(now, what, true);
        }
        self.drain_events(now, out);
    }

    /// Puts an interaction no session holds into `queue`; a failed placement is tried again on
    /// the next tick (an interaction owned with nobody to process it would be stuck).
    fn place_back(&mut self, now: SimTime, ixn: IxnId, queue: String, out: &mut Vec<Output>) {
        let request = Request::PlaceInQueue {
            ixn: Field::Value(ixn),
            queue: queue.clone(),
        };
        self.send(now, request, Sent::Placement(ixn, queue), 0, out);
    }

    /// `ixnfm-idle-session-ttl` [S-ORS-fail]: a session that holds no interaction (none
    /// associated, evicted, detached, or being delivered) for the ttl ends.
    fn idle_sessions(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let Some(ttl) = self.cfg.idle_session_ttl_ms else {
            return;
        };
        // Evicted passive interactions are still associated (in their user data).
        let busy: BTreeSet<SessionId> = self
            .delivering
            .values()
            .map(|d| d.session)
            .chain(self.evicted.values().copied())
            .collect();
        let mut expired = Vec::new();
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            let idle = !busy.contains(&id)
                && self.assoc.held_by(id).is_empty()
                && self.assoc.detached_by(id).is_empty();
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            match (idle, session.idle_since) {
                (false, _) => session.idle_since = None,
                (true, None) => session.idle_since = Some(now),
                (true, Some(since)) if now >= since + ttl => expired.push((id, session.ixn)),
                (true, Some(_)) => {}
            }
        }
        for (session, ixn) in expired {
            mark(Mark::OrsIdleSessionEnded, out);
            self.trace(session, ixn, "idle-ttl", out);
            self.end_session(now, session, out);
        }
    }

    /// `ixn` waits in a queue, still associated with its session: a passive interaction. With
    /// memory optimization the oldest passive ones beyond `om-max-in-memory` (or each at once,
    /// with `om-delete-from-memory`) are evicted: the server forgets the association, which
    /// the interaction's user data still records, and reloads it when the interaction is
    /// pulled again.
    fn park(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if !self.cfg.om_memory_optimization {
            return;
        }
        self.parks += 1;
        self.parked.insert(ixn, self.parks);
        let limit = if self.cfg.om_delete_from_memory {
            0
        } else {
            self.cfg.om_max_in_memory as usize
        };
        while self.parked.len() > limit {
            let Some((&oldest, _)) = self.parked.iter().min_by_key(|(_, at)| **at) else {
                break;
            };
            self.parked.remove(&oldest);
            if let Some(session) = self.assoc.forget(oldest) {
                self.trace(session, oldest, "evicted", out);
                self.evicted.insert(oldest, session);
            }
        }
    }

    /// The session an interaction's user data names, if it is a live session of this server.
    fn recorded_session(&self, info: &IxnInfo) -> Option<SessionId> {
        let (instance, session) = Self::tag_of(info)?;
        (instance == self.client_name && self.sessions.contains_key(&session)).then_some(session)
    }

    /// The strategy of the ORS queue `queue` (the first when it is not one of ours).
    fn strategy_of(&self, queue: &str) -> usize {
        self.cfg
            .queues
            .iter()
            .find(|q| q.queue == queue)
            .map_or(0, |q| q.strategy)
    }

    /// A new session for `ixn`, which no live session of this server holds. If it cannot be
    /// created (the server runs `max_sessions` already), the interaction goes to the
    /// `mcr-queue-on-fails` queue, or back to the queue it came from: never dropped
    /// [S-ORS-fail].
    fn start_for(&mut self, now: SimTime, queue: &str, ixn: IxnId, out: &mut Vec<Output>) {
        if self
            .cfg
            .max_sessions
            .is_some_and(|max| self.sessions.len() as u32 >= max)
        {
            let to = match (&self.cfg.queue_on_fails, self.cfg.planted_bug) {
                (Some(to), bug) if bug != Some(OrsBug::FailsToOriginQueue) => to.clone(),
                _ => queue.to_string(),
            };
            mark(Mark::OrsQueuedOnFail, out);
            self.trace(0, ixn, &format!("session-failed to={to}"), out);
            self.place_back(now, ixn, to, out);
            return;
        }
        let strategy = self.strategy_of(queue);
        self.assoc.start(ixn, self.next_session);
        let session = self.start_session(now, strategy, ixn, out);
        self.events
            .push_back((session, "interaction.present".into()));
    }

    /// `ixn` came back to the server whose `session` holds it.
    fn present_again(
        &mut self,
        now: SimTime,
        queue: &str,
        ixn: IxnId,
        session: SessionId,
        out: &mut Vec<Output>,
    ) {
        if !self.cfg.new_session_on_reroute {
            mark(Mark::OrsToExistingSession, out);
            self.trace(session, ixn, "re-pulled", out);
            self.events
                .push_back((session, "interaction.present".into()));
            return;
        }
        // new-session-on-reroute: the old session lets go.
        let strategy = self.strategy_of(queue);
        let next = self.next_session;
        if self.assoc.associate(ixn, session, next).is_ok() {
            self.trace(session, ixn, "associated-away", out);
            let started = self.start_session(now, strategy, ixn, out);
            self.events
                .push_back((started, "interaction.present".into()));
        }
    }

    /// `ixn` is not this server's to control any more: its association ends [S-ORS-assoc].
    fn control_lost(&mut self, ixn: IxnId) {
        if self.cfg.planted_bug != Some(OrsBug::LostControlKeepsAssociation) {
            self.assoc.gone(ixn);
        }
    }

    /// The node says the interaction is not this server's any more (the owner grace period
    /// ran out while it was away, and the node put it back in its queue): forget it, and its
    /// session hears `interaction.notcontrolled`.
    fn lost_control(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if self.owned.remove(&ixn).is_none() {
            return;
        }
        let session = self
            .assoc
            .session_of(ixn)
            .or_else(|| self.delivering.get(&ixn).map(|d| d.session));
        self.control_lost(ixn);
        self.delivering.remove(&ixn);
        if let Some(session) = session {
            self.trace(session, ixn, "lost-control", out);
            self.events
                .push_back((session, "interaction.notcontrolled".into()));
        }
    }

    fn on_answer(&mut self, now: SimTime, what: Sent, event: Event, out: &mut Vec<Output>) {
        let ok = matches!(event, Event::Ack { .. });
        if let Event::Error {
            code: ErrorCode::NotOwner | ErrorCode::InteractionNotFound,
        } = event
        {
            let about = match &what {
                Sent::Association(ixn, _) | Sent::Redirect(ixn, _) => Some(*ixn),
                Sent::Transfer(info) => Some(info.id),
                Sent::Placement(ixn, _) => Some(*ixn),
                Sent::Deliver { ixn, .. } => Some(*ixn),
                Sent::Update(session) => self.sessions.get(session).map(|s| s.ixn),
                Sent::Register | Sent::Ping | Sent::Pull => None,
            };
            if let Some(ixn) = about {
                self.lost_control(ixn, out);
            }
        }
        match what {
            Sent::Register => self.registered = ok,
            Sent::Ping => {}
            Sent::Pull => {
                self.pulling = false;
                if let Event::TakenFromQueue { items } = event {
                    self.on_taken(now, items, false, out);
                }
            }
            Sent::Placement(ixn, queue) => {
                if ok {
                    self.owned.remove(&ixn);
                } else if self.owned.contains_key(&ixn) {
                    self.to_place.push((ixn, queue));
                }
            }
            Sent::Transfer(info) => {
                if ok {
                    // The owning instance has it now.
                    self.owned.remove(&info.id);
                    self.trace(0, info.id, "forwarded", out);
                } else if !self.owned.contains_key(&info.id) {
                    // Not this server's after all (lost_control handled it).
                } else if let Event::Error {
                    code: ErrorCode::NotRegistered,
                } = event
                {
                    // That instance is gone (its sessions with it): start over here.
                    self.start_for(now, &info.queue, info.id, out);
                } else {
                    // The proxy could not tell (2002, 2003): perhaps handed over, perhaps not.
                    // Asking again settles it: NotOwner if it was.
                    self.taken_back.push(info);
                }
            }
            Sent::Association(ixn, session) => {
                self.binding.remove(&ixn);
                if ok && self.assoc.confirm(ixn, session) {
                    self.trace(session, ixn, "association-confirmed", out);
                    let tag = (self.client_name.clone(), session);
                    if let Some(owned) = self.owned.get_mut(&ixn) {
                        owned.tag = Some(tag);
                    }
                }
            }
            Sent::Update(session) => {
                let event = if ok {
                    "interaction.update.done"
                } else {
                    "error.interaction.update"
                };
                self.events.push_back((session, event.into()));
            }
            Sent::Redirect(ixn, session) => {
                if ok {
                    self.owned.remove(&ixn);
                    if self.assoc.may_route(ixn, session).is_ok() {
                        // Routed away: this server controls it no more.
                        self.assoc.gone(ixn);
                    } else if self.assoc.session_of(ixn) == Some(session) {
                        self.park(ixn, out);
                    }
                }
                let event = if ok {
                    "interaction.redirect.done"
                } else {
                    "error.interaction.redirect"
                };
                self.events.push_back((session, event.into()));
            }
            Sent::Deliver {
                ixn,
                session,
                submit,
            } => {
                if ok {
                    let delivering = Delivering {
                        session,
                        submit,
                        orphan: false,
                        since: now,
                    };
                    self.delivering.insert(ixn, delivering);
                } else {
                    let event = delivery_error(submit);
                    self.events.push_back((session, event.into()));
                }
            }
        }
        self.drain_events(now, out);
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if let Some(request) = self.pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(SERVER));
            // Nothing more goes out on the closed connection; the shell dials again.
            self.server_lost(now, out);
        }
        if let Some(request) = self.urs_pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(URS));
        }
        self.idle_sessions(now, out);
        if self.cfg.ha.is_some() && self.role == Role::Primary && now >= self.lease_until {
            out.push(Output::Trace(TraceEvent::RequestTimedOut {
                request: "RequestHeartbeat (lease ran out)",
            }));
            self.become_backup(now, out);
        }
        if self
            .recover_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            self.recover_deadline = None;
            for ixn in std::mem::take(&mut self.recovering) {
                let session = self.assoc.holder_or_detacher(ixn);
                self.control_lost(ixn);
                if let Some(session) = session {
                    self.trace(session, ixn, "lost-control", out);
                    self.events
                        .push_back((session, "interaction.notcontrolled".into()));
                }
            }
            self.drain_events(now, out);
        }
        // Hand-overs and placements that did not get through are tried again. A placement is
        // only ever of an interaction no live session holds (see `on_delivery_outcome`), so
        // no session can have delivered it again meanwhile.
        if self.registered {
            for (ixn, queue) in std::mem::take(&mut self.to_place) {
                if self.owned.contains_key(&ixn) {
                    self.place_back(now, ixn, queue, out);
                }
            }
            for info in std::mem::take(&mut self.taken_back) {
                if self.owned.contains_key(&info.id) {
                    if let Some(instance) = self.other_instance(&info) {
                        let request = Request::Transfer {
                            ixn: Field::Value(info.id),
                            to: instance,
                        };
                        self.send(now, request, Sent::Transfer(info), 0, out);
                    }
                }
            }
        }
        // A delivery whose outcome never came (the node's Accepted/Rejected was sent while this
        // server was away) counts as failed; if the agent did take it, the session's next
        // request about it finds out (NotOwner).
        let unanswered: Vec<IxnId> = self
            .delivering
            .iter()
            .filter(|(_, d)| now >= d.since + self.cfg.delivery_timeout_ms)
            .map(|(ixn, _)| *ixn)
            .collect();
        for ixn in unanswered {
            if let Some(d) = self.delivering.get(&ixn) {
                self.trace(d.session, ixn, "delivery-unanswered", out);
            }
            self.on_delivery_outcome(now, ixn, false, out);
        }
        self.drain_events(now, out);
        // An association whose write failed or was cut off is written again: until it is
        // confirmed its session cannot detach.
        if self.connected {
            let unwritten: Vec<(IxnId, SessionId)> = self
                .assoc
                .pending_links()
                .into_iter()
                .filter(|(ixn, _)| self.owned.contains_key(ixn) && !self.binding.contains(ixn))
                .collect();
            for (ixn, session) in unwritten {
                self.bind(now, ixn, session, out);
            }
        }
        let room = self.cfg.pull_limit.saturating_sub(self.owned.len() as u32);
        // Pulls wait for the registration's answer: the node first lists what this name still
        // owns, which counts against the limit.
        if self.registered && self.cfg.pull_by_this_node && !self.pulling && room > 0 {
            let count = if room > 1 && self.buggify.fires(Site::OrsPullOne, now, out) {
                1
            } else {
                room
            };
            if let Some(queue) = self
                .cfg
                .queues
                .get(self.next_queue % self.cfg.queues.len().max(1))
            {
                let request = Request::Pull {
                    tenant: Field::Value(self.cfg.tenant),
                    queue: queue.queue.clone(),
                    view: queue.view.clone(),
                    count,
                    hold_ms: None,
                };
                self.next_queue += 1;
                self.pulling = true;
                out.push(Output::Trace(TraceEvent::OrsPullAsked {
                    count,
                    holding: self.owned.len() as u32,
                }));
                let hold = self.cfg.pull_hold_timeout_ms;
                self.send(now, request, Sent::Pull, hold, out);
            }
        }
        if self.registered
            && self.pending.is_empty()
            && now >= self.last_sent_at + self.cfg.request_timeout_ms / 2
        {
            self.send(now, Request::Ping, Sent::Ping, 0, out);
        }
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}

impl Machine for OrsServer {
    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        match control {
            Control::OrsLoaded(write, snapshot) => {
                let Some(promotion) = self.promotion.filter(|p| p.write == write) else {
                    return;
                };
                self.promotion = None;
                self.recover(now, *snapshot, out);
                let ack = Message::reply(promotion.ref_id, Event::Ack { ixn: None });
                out.push(Output::Send(promotion.supervisor, ack));
            }
            Control::Fenced(write) => {
                if let Some(promotion) = self.promotion.filter(|p| p.write == write) {
                    // A newer promotion holds the store: this one failed.
                    self.promotion = None;
                    let error = Event::Error {
                        code: ErrorCode::InvalidState,
                    };
                    let reply = Message::reply(promotion.ref_id, error);
                    out.push(Output::Send(promotion.supervisor, reply));
                } else {
                    // A flush refused: another member was promoted since. Step down.
                    self.become_backup(now, out);
                }
            }
            Control::Loaded(..) | Control::Command(_) => {}
        }
    }

    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        self.on_input(now, input, out);
        self.maybe_flush(now, out);
    }

    /// A backup holds nothing (it dropped all when it stepped down, and takes nothing before
    /// its promotion completes) [S-ORS-ha]; every session timer belongs to a running session;
    /// every session id was issued (below the next one) [S-ORS-assoc].
    fn check_invariants(&self) -> Result<(), String> {
        if self.role == Role::Backup
            && !(self.sessions.is_empty()
                && self.owned.is_empty()
                && self.delivering.is_empty()
                && self.timers.is_empty()
                && self.parked.is_empty())
        {
            return Err(format!(
                "a backup holds {} sessions, {} interactions ({} being delivered), {} timers, \
                 {} parked",
                self.sessions.len(),
                self.owned.len(),
                self.delivering.len(),
                self.timers.len(),
                self.parked.len()
            ));
        }
        if let Some((timer, (session, name))) = self
            .timers
            .iter()
            .find(|(_, (session, _))| !self.sessions.contains_key(session))
        {
            return Err(format!(
                "timer {} ({name}) belongs to session {session}, which is not running",
                timer.0
            ));
        }
        if let Some(session) = self.sessions.keys().find(|id| **id >= self.next_session) {
            return Err(format!(
                "session {session} is not below the next session id {}",
                self.next_session
            ));
        }
        Ok(())
    }
}

impl OrsServer {
    fn on_input(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(URS) => self.urs_connected = true,
            Input::Disconnected(URS) => {
                self.urs_connected = false;
                for submit in self.urs_pending.drain() {
                    self.events
                        .push_back((submit.session, "error.queue.submit".into()));
                }
                self.drain_events(now, out);
            }
            Input::Frame(
                URS,
                Message::Event {
                    ref_id: Some(ref_id),
                    event,
                },
            ) => {
                if let Some(submit) = self.urs_pending.answer(ref_id) {
                    self.on_selected(now, submit, event, out);
                    self.drain_events(now, out);
                }
            }
            Input::Connected(SERVER) => {
                self.connected = true;
                self.register(now, out);
                self.on_tick(now, out);
            }
            // The supervisor (an HA pair member listens for it).
            Input::Connected(_) | Input::Disconnected(Peer::Client(_)) => {}
            Input::Frame(peer @ Peer::Client(_), Message::Request { ref_id, request }) => {
                self.on_supervisor(now, peer, ref_id, request, out);
            }
            Input::Disconnected(_) => self.server_lost(now, out),
            Input::Frame(
                _,
                Message::Event {
                    ref_id: Some(ref_id),
                    event,
                },
            ) => {
                if let Some(what) = self.pending.answer(ref_id) {
                    self.on_answer(now, what, event, out);
                }
            }
            Input::Frame(
                SERVER,
                Message::Event {
                    ref_id: None,
                    event: Event::TakenFromQueue { items },
                },
            ) => self.on_taken(now, items, true, out),
            Input::Frame(
                _,
                Message::Event {
                    ref_id: None,
                    event: Event::Accepted { ixn, .. },
                },
            ) => {
                self.on_delivery_outcome(now, ixn, true, out);
                self.drain_events(now, out);
            }
            Input::Frame(
                _,
                Message::Event {
                    ref_id: None,
                    event: Event::Rejected { ixn, .. },
                },
            ) => {
                self.on_delivery_outcome(now, ixn, false, out);
                self.drain_events(now, out);
            }
            Input::Timer(TICK_TIMER) => self.on_tick(now, out),
            Input::Timer(id) => {
                if let Some((session, name)) = self.timers.remove(&id) {
                    self.events.push_back((session, name));
                    self.drain_events(now, out);
                }
            }
            Input::Frame(..) | Input::Persisted(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::outputs::{self, timed_out};
    use crate::ors::strategy::{StateDef, TransitionDef};

    const REQUEST_TIMEOUT_MS: u64 = 400;
    const HOLD_MS: u64 = 200;
    const TICK_MS: u64 = 20;
    const SUPERVISOR: Peer = Peer::Client(9);

    /// A strategy that writes one user-data key as soon as its interaction arrives.
    fn marking() -> Strategy {
        let state = |name: &str, transitions| StateDef {
            name: name.into(),
            on_entry: Vec::new(),
            transitions,
            is_final: false,
        };
        Strategy {
            name: "mark".into(),
            initial: "new".into(),
            states: vec![
                state(
                    "new",
                    vec![TransitionDef {
                        event: "interaction.present".into(),
                        target: Some("wait".into()),
                        actions: vec![Action::UpdateUserData {
                            key: "Stage".into(),
                            value: "seen".into(),
                        }],
                    }],
                ),
                state("wait", Vec::new()),
            ],
        }
    }

    fn server(ha: Option<OrsHa>) -> OrsServer {
        OrsServer::new(OrsConfig {
            name: "ors1.1".into(),
            tenant: TenantId(1),
            queues: vec![OrsQueue {
                queue: "q".into(),
                view: "v".into(),
                strategy: 0,
            }],
            strategies: vec![marking()],
            pull_by_this_node: true,
            pull_limit: 3,
            new_session_on_reroute: false,
            pull_hold_timeout_ms: HOLD_MS,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            max_sessions: None,
            queue_on_fails: None,
            idle_session_ttl_ms: None,
            om_memory_optimization: false,
            om_max_in_memory: 1000,
            om_delete_from_memory: false,
            ha,
            version: OrsVersion::V814,
            delivery_timeout_ms: 2000,
            tick_ms: TICK_MS,
            planted_bug: None,
        })
    }

    fn ha() -> Option<OrsHa> {
        Some(OrsHa {
            persistence: false,
            sync_max_age_ms: 100,
            sync_max_buffer: 10,
        })
    }

    /// The requests `out` sends to the node.
    fn requests(out: &[Output]) -> Vec<(RefId, Request)> {
        outputs::requests(out)
            .into_iter()
            .filter(|(peer, _, _)| *peer == SERVER)
            .map(|(_, ref_id, request)| (ref_id, request))
            .collect()
    }

    /// Whether a session of `out` heard that it lost control of its interaction.
    fn lost_control(out: &[Output]) -> bool {
        out.iter().any(|o| {
            matches!(o, Output::Trace(TraceEvent::OrsSession { what, .. })
                if what == "lost-control")
        })
    }

    /// A registered lone server that the node gave interaction 5 at one tick; what it did.
    fn holding_five() -> (OrsServer, Vec<Output>) {
        let mut ors = registered();
        let taken = Message::unsolicited(Event::TakenFromQueue {
            items: vec![item(IxnId(5))],
        });
        let mut out = Vec::new();
        ors.handle(TICK_MS, Input::Frame(SERVER, taken), &mut out);
        (ors, out)
    }

    /// Connects a lone server to the node at 0 and answers its registration.
    fn registered() -> OrsServer {
        registered_with(Buggify::off())
    }

    fn registered_with(buggify: Buggify) -> OrsServer {
        register(server(None).with_buggify(buggify))
    }

    fn register(mut ors: OrsServer) -> OrsServer {
        let mut out = Vec::new();
        ors.handle(0, Input::Start, &mut out);
        ors.handle(0, Input::Connected(URS), &mut out);
        ors.handle(0, Input::Connected(SERVER), &mut out);
        let sent = requests(&out);
        let (ref_id, _) = sent
            .iter()
            .find(|(_, r)| matches!(r, Request::RegisterClient { .. }))
            .expect("registers on connect");
        let ack = Message::reply(*ref_id, Event::Ack { ixn: None });
        ors.handle(0, Input::Frame(SERVER, ack), &mut Vec::new());
        ors
    }

    fn supervisor(ors: &mut OrsServer, now: SimTime, request: Request) -> Vec<Output> {
        let mut out = Vec::new();
        let message = Message::Request {
            ref_id: RefId(77),
            request,
        };
        ors.handle(now, Input::Frame(SUPERVISOR, message), &mut out);
        out
    }

    /// [S-ORS-ha]: a pair member answers the supervisor's liveness ping, in either role.
    #[test]
    fn a_pair_member_answers_the_supervisors_ping() {
        let mut ors = server(ha());
        let out = supervisor(&mut ors, 5, Request::Ping);
        let ack = Output::Send(
            SUPERVISOR,
            Message::reply(RefId(77), Event::Ack { ixn: None }),
        );
        assert_eq!(out, vec![ack]);
    }

    /// [S-ORS-ha]: a primary whose lease ran out steps down at its next tick, on its own; a
    /// backup has nothing to step down from.
    #[test]
    fn a_primary_steps_down_when_its_lease_runs_out() {
        let mut ors = server(ha());
        let mut out = Vec::new();
        ors.handle(0, Input::Start, &mut out);
        ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(timed_out(&out), Vec::<&str>::new(), "a backup stepped down");
        // The supervisor grants the lease first (a backup holds it for when it is promoted).
        supervisor(&mut ors, 40, Request::Lease { until: 1000 });
        supervisor(&mut ors, 40, Request::Promote { epoch: 1 });
        let mut out = Vec::new();
        ors.handle(980, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(
            timed_out(&out),
            Vec::<&str>::new(),
            "stepped down inside its lease"
        );
        ors.handle(1000, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(timed_out(&out), vec!["RequestHeartbeat (lease ran out)"]);
        assert!(out.contains(&Output::Trace(TraceEvent::OrsRole { primary: false })));
    }

    /// A backup connected to the node stays silent there, neither registering nor pinging:
    /// only its pair's primary talks to the node.
    #[test]
    fn a_backup_sends_nothing_to_the_node() {
        let mut ors = server(ha());
        let mut out = Vec::new();
        ors.handle(0, Input::Start, &mut out);
        ors.handle(0, Input::Connected(SERVER), &mut out);
        for now in (TICK_MS..=2 * REQUEST_TIMEOUT_MS).step_by(TICK_MS as usize) {
            ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
        }
        assert_eq!(requests(&out), Vec::new());
    }

    /// [S-ORS-ha]: a promoted backup gives the nodes two request timeouts and a pull hold to
    /// list what its predecessor owned; a recovered session whose interaction no node listed
    /// by then hears that it lost control, and not before.
    #[test]
    fn recovery_waits_for_the_nodes_listing() {
        let mut ors = server(Some(OrsHa {
            persistence: true,
            sync_max_age_ms: 100,
            sync_max_buffer: 10,
        }));
        let mut out = Vec::new();
        ors.handle(0, Input::Start, &mut out);
        supervisor(&mut ors, 0, Request::Lease { until: 100_000 });
        let out = supervisor(&mut ors, 0, Request::Promote { epoch: 1 });
        let write = out
            .iter()
            .find_map(|o| match o {
                Output::Persist(write, DbOp::OrsLoad { .. }) => Some(*write),
                _ => None,
            })
            .expect("reads the store");
        let ixn = IxnId(5);
        let mut assoc = Associations::default();
        assoc.start(ixn, 1);
        assoc.confirm(ixn, 1);
        let snapshot = OrsSnapshot {
            format: OrsVersion::V814.store_format(),
            client_name: Some("ors1.1".into()),
            next_session: 2,
            sessions: vec![SessionSnapshot {
                id: 1,
                strategy: 0,
                run: Run::start(&marking()).0,
                ixn,
                target: None,
            }],
            assoc,
            evicted: BTreeMap::new(),
            owned: BTreeMap::from([(ixn, ("q".to_string(), 1))]),
        };
        let mut out = Vec::new();
        ors.control(0, Control::OrsLoaded(write, Box::new(snapshot)), &mut out);
        let deadline = 2 * REQUEST_TIMEOUT_MS + HOLD_MS;
        let mut out = Vec::new();
        for now in (TICK_MS..deadline).step_by(TICK_MS as usize) {
            ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
        }
        assert!(!lost_control(&out), "gave up before the deadline: {out:?}");
        ors.handle(deadline, Input::Timer(TICK_TIMER), &mut out);
        assert!(lost_control(&out), "{out:?}");
    }

    /// A pull's answer may take the hold it asked for on top of the request timeout: only past
    /// both does the server give up on the node.
    #[test]
    fn a_pull_times_out_only_past_its_hold() {
        let mut ors = registered();
        let mut out = Vec::new();
        ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
        assert!(
            requests(&out)
                .iter()
                .any(|(_, r)| matches!(r, Request::Pull { count: 3, .. })),
            "no pull: {out:?}"
        );
        let deadline = TICK_MS + REQUEST_TIMEOUT_MS + HOLD_MS;
        let mut out = Vec::new();
        for now in (2 * TICK_MS..deadline).step_by(TICK_MS as usize) {
            ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
        }
        assert_eq!(timed_out(&out), Vec::<&str>::new());
        ors.handle(deadline, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(timed_out(&out), vec!["RequestPull"]);
    }

    /// Buggify's `ors-pull-one` makes a server with room for several ask for one.
    #[test]
    fn buggify_pulls_one_at_a_time() {
        let active = Buggify::activation(1, 1000, &[Site::OrsPullOne]);
        let mut ors = registered_with(Buggify::new(active, 1000, 1));
        let mut out = Vec::new();
        ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
        let counts: Vec<u32> = requests(&out)
            .iter()
            .filter_map(|(_, r)| match r {
                Request::Pull { count, .. } => Some(*count),
                _ => None,
            })
            .collect();
        assert_eq!(counts, vec![1]);
    }

    /// The node answering NotOwner about an interaction (its owner grace ran out while this
    /// server was away) ends the server's hold on it: the session hears that it lost control.
    #[test]
    fn not_owner_takes_the_interaction_away() {
        let (mut ors, out) = holding_five();
        let mut answers = Vec::new();
        for (ref_id, _) in requests(&out) {
            let refusal = Event::Error {
                code: ErrorCode::NotOwner,
            };
            let frame = Message::reply(ref_id, refusal);
            ors.handle(2 * TICK_MS, Input::Frame(SERVER, frame), &mut answers);
        }
        assert!(lost_control(&answers), "{answers:?}");
    }

    fn item(id: IxnId) -> IxnInfo {
        IxnInfo {
            id,
            tenant: TenantId(1),
            media: "email".into(),
            queue: "q".into(),
            priority: 0,
            submitted_at: 0,
            user_data: KvList::new(),
            node: 1,
        }
    }

    /// [S-ORS-assoc]: once a session has handed its interaction to another (`<associate>`), it
    /// may not redirect it: only the session that holds (or detached) an interaction moves it.
    #[test]
    fn a_session_that_handed_its_interaction_away_cannot_redirect_it() {
        let handoff = Strategy {
            name: "handoff".into(),
            initial: "new".into(),
            states: vec![StateDef {
                name: "new".into(),
                on_entry: Vec::new(),
                transitions: vec![TransitionDef {
                    event: "interaction.present".into(),
                    target: None,
                    actions: vec![
                        Action::Associate {
                            strategy: "mark".into(),
                        },
                        Action::Redirect { queue: "q2".into() },
                    ],
                }],
                is_final: false,
            }],
        };
        let mut ors = server(None);
        ors.cfg.strategies = vec![handoff, marking()];
        let mut ors = register(ors);
        let taken = Message::unsolicited(Event::TakenFromQueue {
            items: vec![item(IxnId(5))],
        });
        let mut out = Vec::new();
        ors.handle(TICK_MS, Input::Frame(SERVER, taken), &mut out);
        assert!(
            out.iter().any(
                |o| matches!(o, Output::Trace(TraceEvent::OrsSession { what, .. })
                if what == "associated-away")
            ),
            "{out:?}"
        );
        let placed = requests(&out)
            .into_iter()
            .any(|(_, r)| matches!(r, Request::PlaceInQueue { .. }));
        assert!(!placed, "{out:?}");
    }

    /// A session writes the user data of the interaction it controls.
    #[test]
    fn a_session_writes_user_data_of_its_interaction() {
        let (_, out) = holding_five();
        let writes: Vec<Option<KvValue>> = requests(&out)
            .into_iter()
            .filter_map(|(_, r)| match r {
                Request::UpdateUserData {
                    ixn: Field::Value(IxnId(5)),
                    changes,
                } if changes.get(SESSION_KEY).is_none() => Some(changes.get("Stage").cloned()),
                _ => None,
            })
            .collect();
        assert_eq!(writes, vec![Some(KvValue::Str("seen".into()))], "{out:?}");
    }
}
