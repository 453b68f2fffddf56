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
//! Not yet: `queue:submit` and `deliver` need a URS (the scenario check refuses strategies that
//! use them); HA and session persistence.
//!
//! Must not: act on an interaction for a session that does not control it.

use super::assoc::{Associations, SessionId};
use super::strategy::{Action, Run, Strategy};
use crate::clients::{Pending, TICK_TIMER};
use crate::ids::{IxnId, SimTime, TenantId};
use crate::kv::{KvList, KvValue};
use crate::machine::{Input, Machine, Output, Peer, TimerId};
use crate::protocol::{ClientKind, Event, Field, Message, Request};
use crate::trace::TraceEvent;
use std::collections::{BTreeMap, VecDeque};

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
    pub tick_ms: u64,
    /// A deliberately planted bug (harness self-test); `None` in every real scenario.
    pub planted_bug: Option<OrsBug>,
}

/// Bugs the harness can plant in ORS to prove its oracles find them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrsBug {
    /// `<detach>` succeeds before the association's user data is confirmed, so the session
    /// routes too early: caught by [S-ORS-detach].
    DetachBeforeConfirm,
}

const SERVER: Peer = Peer::Server(0);

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
}

struct Session {
    strategy: usize,
    run: Run,
    /// The interaction it was started for (or last attached/associated).
    ixn: IxnId,
}

/// An interaction this server owns at the node.
struct Owned {
    queue: String,
}

pub struct OrsServer {
    cfg: OrsConfig,
    connected: bool,
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
}

impl OrsServer {
    pub fn new(cfg: OrsConfig) -> Self {
        OrsServer {
            cfg,
            connected: false,
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
        }
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
        self.last_sent_at = now;
        let deadline = now + self.cfg.request_timeout_ms + extra_ms;
        self.pending.send(SERVER, request, deadline, what, out);
    }

    fn trace(&self, session: SessionId, ixn: IxnId, what: &str, out: &mut Vec<Output>) {
        out.push(Output::Trace(TraceEvent::OrsSession {
            session,
            ixn,
            what: what.to_string(),
        }));
    }

    fn session_tag(&self, session: SessionId) -> String {
        format!("{}:{session}", self.cfg.name)
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
        let (run, step) = Run::start(&self.cfg.strategies[strategy]);
        self.sessions
            .insert(session, Session { strategy, run, ixn });
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
                        None => self.assoc.detach(ixn, session),
                    };
                    let event = match result {
                        Ok(()) => "interaction.detach.done",
                        Err(_) => "error.interaction.detach",
                    };
                    self.trace(session, ixn, event, out);
                    self.events.push_back((session, event.into()));
                }
                Action::Attach => {
                    let event = match self.assoc.attach(ixn, session) {
                        Ok(()) => {
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
                // Refused when the scenario is checked: they need a URS.
                Action::QueueSubmit { .. } | Action::Deliver => {
                    self.events
                        .push_back((session, "error.queue.submit".into()));
                }
            }
        }
    }

    /// Hands queued events to their sessions until none is left.
    fn drain_events(&mut self, now: SimTime, out: &mut Vec<Output>) {
        while let Some((session, event)) = self.events.pop_front() {
            let Some(state) = self.sessions.get_mut(&session) else {
                continue;
            };
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
        let mut held = self.assoc.held_by(session);
        held.extend(self.assoc.detached_by(session));
        self.assoc.exit(session);
        self.trace(session, state.ixn, "session-ended", out);
        for ixn in held {
            if let Some(owned) = self.owned.get(&ixn) {
                let request = Request::PlaceInQueue {
                    ixn: Field::Value(ixn),
                    queue: owned.queue.clone(),
                };
                self.trace(session, ixn, "returned-to-queue", out);
                self.send(now, request, Sent::Redirect(ixn, 0), 0, out);
            }
        }
        self.timers.retain(|_, (owner, _)| *owner != session);
    }

    fn on_taken(&mut self, now: SimTime, queue: &str, ixns: Vec<IxnId>, out: &mut Vec<Output>) {
        let strategy = self
            .cfg
            .queues
            .iter()
            .find(|q| q.queue == queue)
            .map_or(0, |q| q.strategy);
        for ixn in ixns {
            self.owned.insert(
                ixn,
                Owned {
                    queue: queue.to_string(),
                },
            );
            let holder = self
                .assoc
                .session_of(ixn)
                .filter(|session| self.sessions.contains_key(session));
            match holder {
                Some(session) if !self.cfg.new_session_on_reroute => {
                    self.trace(session, ixn, "re-pulled", out);
                    self.events
                        .push_back((session, "interaction.present".into()));
                }
                Some(session) => {
                    // new-session-on-reroute: the old session lets go.
                    let next = self.next_session;
                    if self.assoc.associate(ixn, session, next).is_ok() {
                        let started = self.start_session(now, strategy, ixn, out);
                        self.events
                            .push_back((started, "interaction.present".into()));
                    }
                }
                None => {
                    self.assoc.start(ixn, self.next_session);
                    let session = self.start_session(now, strategy, ixn, out);
                    self.events
                        .push_back((session, "interaction.present".into()));
                }
            }
        }
        self.drain_events(now, out);
    }

    fn on_answer(&mut self, now: SimTime, what: Sent, event: Event, out: &mut Vec<Output>) {
        let ok = matches!(event, Event::Ack { .. });
        match what {
            Sent::Register | Sent::Ping => {}
            Sent::Pull => {
                self.pulling = false;
                if let Event::TakenFromQueue { items } = event {
                    let queue = items.first().map(|item| item.queue.clone());
                    if let Some(queue) = queue {
                        let ixns = items.into_iter().map(|item| item.id).collect();
                        self.on_taken(now, &queue, ixns, out);
                    }
                }
            }
            Sent::Association(ixn, session) => {
                if ok && self.assoc.confirm(ixn, session) {
                    self.trace(session, ixn, "association-confirmed", out);
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
                    }
                }
                let event = if ok {
                    "interaction.redirect.done"
                } else {
                    "error.interaction.redirect"
                };
                self.events.push_back((session, event.into()));
            }
        }
        self.drain_events(now, out);
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if let Some(request) = self.pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(SERVER));
        }
        let room = self.cfg.pull_limit.saturating_sub(self.owned.len() as u32);
        if self.connected && self.cfg.pull_by_this_node && !self.pulling && room > 0 {
            if let Some(queue) = self
                .cfg
                .queues
                .get(self.next_queue % self.cfg.queues.len().max(1))
            {
                let request = Request::Pull {
                    tenant: Field::Value(self.cfg.tenant),
                    queue: queue.queue.clone(),
                    view: queue.view.clone(),
                    count: room,
                    hold_ms: None,
                };
                self.next_queue += 1;
                self.pulling = true;
                let hold = self.cfg.pull_hold_timeout_ms;
                self.send(now, request, Sent::Pull, hold, out);
            }
        }
        if self.connected
            && self.pending.is_empty()
            && now >= self.last_sent_at + self.cfg.request_timeout_ms / 2
        {
            self.send(now, Request::Ping, Sent::Ping, 0, out);
        }
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}

impl Machine for OrsServer {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(_) => {
                self.connected = true;
                let register = Request::RegisterClient {
                    name: self.cfg.name.clone(),
                    kind: ClientKind::Router,
                };
                self.send(now, register, Sent::Register, 0, out);
                self.on_tick(now, out);
            }
            Input::Disconnected(_) => {
                self.connected = false;
                self.pulling = false;
                // What the node still owes an answer for is unknown now; the interactions stay
                // owned by this name at the node within its grace period.
                for what in self.pending.drain() {
                    match what {
                        Sent::Update(session) => self
                            .events
                            .push_back((session, "error.interaction.update".into())),
                        Sent::Redirect(_, session) => self
                            .events
                            .push_back((session, "error.interaction.redirect".into())),
                        Sent::Register | Sent::Ping | Sent::Pull | Sent::Association(..) => {}
                    }
                }
                self.drain_events(now, out);
            }
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
