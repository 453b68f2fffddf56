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
//! - [S-ORS-ha]: with `OrsConfig::ha` the instance is one member of a primary/backup pair under
//!   a supervisor. It starts as backup, which keeps its connections but says nothing to the
//!   nodes and holds nothing; it acts as primary from its promotion until its demotion, a
//!   refused flush (fenced: another member was promoted) or the end of the supervisor's last
//!   lease, whichever comes first, and then drops everything it held and closes its
//!   connections. With persistence the primary flushes its sessions, their associations and
//!   what it owns to the pair's store (the sync buffer bounded by `backup-synch-max-age` and
//!   `backup-synch-max-buffer`); a promoted backup reads the last flushed state and continues
//!   those sessions (`_sendSessionRecovered`) under the name that owns their interactions at
//!   the nodes, which list them again when it registers. Without persistence it starts afresh,
//!   and what its predecessor owned returns to the queues after the nodes' owner grace period.
//!   A store written by 8.1.2 cannot be read by later releases [S-OPS-rolling].
//!
//! One concept per file: `config` (the options and planted bugs), `input` (what each input
//! does, and the tick's work in order), `node` (requests to the node, their answers and
//! failures), `pull` [S-ORS-pull], `sessions` [S-ORS-session], `execute` (the strategy's
//! actions, [S-ORS-detach]), `binding` (the association in user data, [S-ORS-assoc]),
//! `delivery` [S-ORS-submit], `placement` and `parking` [S-ORS-fail], `ha` and `persist`
//! [S-ORS-ha], `ids` (timer and write ids).
//!
//! Must not: act on an interaction for a session that does not control it.

mod binding;
mod config;
mod delivery;
mod execute;
mod ha;
mod input;
mod node;
mod parking;
mod persist;
mod placement;
mod pull;
mod sessions;
#[cfg(test)]
mod tests;

pub use binding::SESSION_KEY;
pub use config::{OrsBug, OrsConfig, OrsHa, OrsQueue, OrsVersion};
pub use persist::{OrsSnapshot, SessionSnapshot};
pub use sessions::HEARD;

use super::assoc::{Associations, SessionId};
use super::strategy::Run;
use crate::buggify::Buggify;
use crate::clients::Pending;
use crate::clients::TICK_TIMER;
use crate::ids::{AgentId, IxnId, SimTime};
use crate::machine::{Control, Input, Machine, Output, Peer, TimerId};
use crate::machine::{TimerTable, WriteIds};
use crate::protocol::IxnInfo;
use crate::trace::TraceEvent;
use delivery::{Delivering, Submit};
use ha::Role;
use node::Sent;
use persist::Promotion;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const SERVER: Peer = Peer::Server(0);
const URS: Peer = Peer::Server(1);

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
    writes: WriteIds,
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
    /// Session timers: the session and the event (the timer's name) each is for.
    timers: TimerTable<(SessionId, String)>,
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
    /// Fault point [`crate::buggify::Site::OrsPullOne`]; off by default.
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
            writes: WriteIds::starting_at(1),
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
            // Timer 0 is the tick (`TICK_TIMER`).
            timers: TimerTable::starting_at(1),
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

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn trace(&self, session: SessionId, ixn: IxnId, what: &str, out: &mut Vec<Output>) {
        out.push(Output::Trace(TraceEvent::OrsSession {
            session,
            ixn,
            what: what.to_string(),
        }));
    }

    /// The first interaction of `ixns` that this server owns at the node, if any.
    fn first_owned<'a>(&self, mut ixns: impl Iterator<Item = &'a IxnId>) -> Option<IxnId> {
        ixns.find(|ixn| self.owned.contains_key(ixn)).copied()
    }
}

impl Machine for OrsServer {
    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        match control {
            Control::OrsLoaded(write, snapshot) => self.on_loaded(now, write, *snapshot, out),
            Control::Fenced(write) => self.on_fenced(now, write, out),
            Control::Loaded(..) | Control::Command(_) => {}
        }
    }

    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        self.on_input(now, input, out);
        self.maybe_flush(now, out);
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        if timer == TICK_TIMER {
            self.skip_polls(at, before)
        } else {
            at
        }
    }

    /// A backup holds nothing (it dropped all when it stepped down, and takes nothing before
    /// its promotion completes), is not registered and reads the store only for a promotion
    /// [S-ORS-ha]; recovered interactions are awaited only until the recovery deadline, and
    /// none of them is owned yet; every event reached its session before the input's handling
    /// ended; every session runs a configured strategy, and every session timer belongs to a
    /// running session; every session id was issued (below the next one) [S-ORS-assoc]; a
    /// parked or evicted interaction waits in a queue, not owned by this server, and no more
    /// of them stay in memory than `om-max-in-memory` allows [S-ORS-fail].
    fn check_invariants(&self) -> Result<(), String> {
        if self.role == Role::Backup {
            self.backup_holds_nothing()?;
        }
        if self.promotion.is_some() && self.role == Role::Primary {
            return Err("a primary waits for the store to promote it".into());
        }
        if !self.recovering.is_empty() && self.recover_deadline.is_none() {
            return Err(format!(
                "{} recovered interactions awaited with no deadline",
                self.recovering.len()
            ));
        }
        if let Some((session, event)) = self.events.front() {
            return Err(format!(
                "{} events wait for a later input, the first {event} for session {session}",
                self.events.len()
            ));
        }
        if let Some((id, session)) = self
            .sessions
            .iter()
            .find(|(_, session)| session.strategy >= self.cfg.strategies.len())
        {
            return Err(format!(
                "session {id} runs strategy {} of {}",
                session.strategy,
                self.cfg.strategies.len()
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
        self.check_not_owned()?;
        self.check_parked_limit()
    }
}

impl OrsServer {
    /// Parked, evicted and still awaited recovered interactions are not owned at the node:
    /// taking one (`on_taken`) ends its wait.
    fn check_not_owned(&self) -> Result<(), String> {
        let waiting = [
            ("parked", self.first_owned(self.parked.keys())),
            ("evicted", self.first_owned(self.evicted.keys())),
            (
                "awaited for recovery",
                self.first_owned(self.recovering.iter()),
            ),
        ];
        for (what, owned) in waiting {
            if let Some(ixn) = owned {
                return Err(format!("interaction {ixn} is {what} and owned"));
            }
        }
        Ok(())
    }
}
