//! An agent desktop: logs in, goes ready, answers invites (accepting most, with a seeded
//! chance of rejecting), handles each accepted interaction for a seeded time and completes it
//! with RequestStopProcessing.
//!
//! Like the product's desktop, it forgets the interactions it holds when its connection to the
//! node drops (they are no longer under its control) and registers under a fresh name on every
//! connection, so what it owned returns to the queue after the node's grace period
//! [S-IS-owner]. What it saw is traced (`agent-took`, `agent-completed`, `agent-dropped`): the
//! [S-INV-owner] oracle checks from these that no interaction is ever in two agents' hands.

use super::{Pending, Reading, TICK_TIMER};
use crate::buggify::{Buggify, Site};
use crate::ids::{AgentId, IxnId, SimTime, TenantId};
use crate::machine::{walk_polls, Input, Machine, Output, Peer, TimerId};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Field, Request};
use crate::trace::{DropReason, TraceEvent};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgentConfig {
    pub agent: AgentId,
    pub tenant: TenantId,
    pub media: Vec<String>,
    /// Chance of accepting an invite, per mille.
    pub accept_per_mille: u32,
    pub handle_ms_min: u64,
    pub handle_ms_max: u64,
    pub request_timeout_ms: u64,
    pub tick_ms: u64,
}

const SERVER: Peer = Peer::Server(0);
/// How soon a stop the proxy could not carry out is tried again.
const STOP_RETRY_MS: u64 = 500;
/// How soon a login refused for want of a seat is tried again, on the same connection: the
/// desktop shows the error and the agent tries again (seats free up as others log out).
const LOGIN_RETRY_MS: u64 = 500;

#[derive(Debug)]
enum Sent {
    Setup,
    /// The login; on success the desktop goes ready (a desktop waits for the login to succeed,
    /// as the proxy answers an agent request while another one is in progress with 2004).
    Login,
    Accept(IxnId),
    Reject,
    Stop(IxnId),
    Ping,
}

pub struct AgentDesktop {
    cfg: AgentConfig,
    rng: ChaCha8Rng,
    incarnation: u32,
    connections: u32,
    connected: bool,
    /// Accepted interactions and when the agent will be done with each.
    handling: BTreeMap<IxnId, (SimTime, bool)>,
    /// Interactions handled whose accept got no definite answer (see `on_answer`).
    unconfirmed: BTreeSet<IxnId>,
    pending: Pending<Sent>,
    last_sent_at: SimTime,
    /// When to try a login again that found no seat.
    login_retry_at: Option<SimTime>,
    /// Fault point [`Site::AgentDeclineInvite`]; off by default.
    buggify: Buggify,
}

impl AgentDesktop {
    /// The desktop with these fault points ([`crate::buggify`]).
    pub fn with_buggify(mut self, buggify: Buggify) -> Self {
        self.buggify = buggify;
        self
    }

    /// `seed` drives handling times and accept decisions; `incarnation` counts process starts.
    pub fn new(cfg: AgentConfig, seed: u64, incarnation: u32) -> Self {
        debug_assert!(
            cfg.handle_ms_min <= cfg.handle_ms_max,
            "handle time range reversed"
        );
        AgentDesktop {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(seed),
            incarnation,
            connections: 0,
            connected: false,
            handling: BTreeMap::new(),
            unconfirmed: BTreeSet::new(),
            pending: Pending::default(),
            last_sent_at: 0,
            login_retry_at: None,
            buggify: Buggify::off(),
        }
    }

    fn send(&mut self, now: SimTime, request: Request, what: Sent, out: &mut Vec<Output>) {
        self.last_sent_at = now;
        self.pending.send(
            SERVER,
            request,
            now + self.cfg.request_timeout_ms,
            what,
            out,
        );
    }

    fn on_connected(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.connected = true;
        self.connections += 1;
        let agent = self.cfg.agent;
        let name = format!("{agent}.{}.{}", self.incarnation, self.connections);
        let setup = [Request::RegisterClient {
            name,
            kind: ClientKind::AgentDesktop,
        }];
        for request in setup {
            self.send(now, request, Sent::Setup, out);
        }
        self.login(now, out);
    }

    fn login(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.login_retry_at = None;
        let login = Request::AgentLogin {
            tenant: Field::Value(self.cfg.tenant),
            agent: self.cfg.agent,
            media: self.cfg.media.clone(),
        };
        self.send(now, login, Sent::Login, out);
    }

    fn on_disconnected(&mut self, out: &mut Vec<Output>) {
        self.connected = false;
        self.login_retry_at = None;
        self.pending.drain();
        let agent = self.cfg.agent;
        let unconfirmed = std::mem::take(&mut self.unconfirmed);
        if !self.handling.is_empty() {
            mark(Mark::AgentDisconnectedHandling, out);
        }
        for ixn in std::mem::take(&mut self.handling).into_keys() {
            if unconfirmed.contains(&ixn) {
                continue;
            }
            out.push(Output::Trace(TraceEvent::AgentDropped {
                agent,
                ixn,
                reason: DropReason::Disconnected,
            }));
        }
    }

    fn on_invite(&mut self, now: SimTime, ixn: IxnId, out: &mut Vec<Output>) {
        let accept = self.rng.random_range(0..1000) < self.cfg.accept_per_mille
            && !self.buggify.fires(Site::AgentDeclineInvite, now, out);
        if accept {
            self.send(
                now,
                Request::Accept {
                    ixn: Field::Value(ixn),
                },
                Sent::Accept(ixn),
                out,
            );
        } else {
            self.send(
                now,
                Request::Reject {
                    ixn: Field::Value(ixn),
                },
                Sent::Reject,
                out,
            );
        }
    }

    fn on_answer(&mut self, now: SimTime, what: Sent, event: Event, out: &mut Vec<Output>) {
        let agent = self.cfg.agent;
        let ok = matches!(event, Event::Ack { .. });
        match what {
            Sent::Accept(ixn) if ok => {
                let handle_ms = self
                    .rng
                    .random_range(self.cfg.handle_ms_min..=self.cfg.handle_ms_max);
                self.handling.insert(ixn, (now + handle_ms, false));
                // Definitely the agent's now, even if an earlier accept of it had no definite
                // answer (its node went down meanwhile and offered it again): a disconnect must
                // drop it like any other (urs-direct --swarm --buggify seed 1180: the desktop
                // kept treating it as unconfirmed and never said it let go).
                self.unconfirmed.remove(&ixn);
                out.push(Output::Trace(TraceEvent::AgentTook { agent, ixn }));
            }
            // The proxy lost the node before the answer (2002, 2003): the accept may have gone
            // through, and then the interaction is this agent's and nobody else will stop it.
            // Handle it as if taken; the stop tells: acknowledged, it was ours; refused, it was
            // not (the invite had timed out), and nothing is lost by trying.
            Sent::Accept(ixn)
                if matches!(
                    event,
                    Event::Error {
                        code: ErrorCode::ConnectionLost | ErrorCode::NotAccessible
                    }
                ) =>
            {
                self.handling
                    .insert(ixn, (now + self.cfg.handle_ms_min, false));
                self.unconfirmed.insert(ixn);
            }
            // The proxy could not reach the interaction's node (2002, 2003): the interaction
            // is still the agent's, so try again shortly instead of walking away from it.
            Sent::Stop(ixn)
                if matches!(
                    event,
                    Event::Error {
                        code: ErrorCode::ConnectionLost | ErrorCode::NotAccessible
                    }
                ) =>
            {
                self.handling.insert(ixn, (now + STOP_RETRY_MS, false));
            }
            Sent::Stop(ixn) if self.unconfirmed.remove(&ixn) => {
                self.handling.remove(&ixn);
                if ok {
                    out.push(Output::Trace(TraceEvent::AgentCompleted { agent, ixn }));
                }
            }
            Sent::Stop(ixn) => {
                self.handling.remove(&ixn);
                let event = if ok {
                    TraceEvent::AgentCompleted { agent, ixn }
                } else {
                    TraceEvent::AgentDropped {
                        agent,
                        ixn,
                        reason: DropReason::Refused,
                    }
                };
                out.push(Output::Trace(event));
            }
            // No seat: try again later on this connection [S-LIC-revoke].
            Sent::Login
                if matches!(
                    event,
                    Event::Error {
                        code: ErrorCode::NoSeat
                    }
                ) =>
            {
                self.login_retry_at = Some(now + LOGIN_RETRY_MS);
            }
            // Login refused otherwise (e.g. the node still holds a stale login of this agent until it
            // notices the old connection died): start over on a fresh connection.
            Sent::Setup | Sent::Login if !ok => out.push(Output::Close(SERVER)),
            Sent::Login => {
                let ready = Request::AgentReady { agent };
                self.send(now, ready, Sent::Setup, out);
            }
            Sent::Setup | Sent::Accept(_) | Sent::Reject | Sent::Ping => {}
        }
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if let Some(request) = self.pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(SERVER));
        }
        let mut next = now + self.cfg.tick_ms;
        if self.connected {
            let done: Vec<IxnId> = self
                .handling
                .iter()
                .filter(|(_, (until, stopping))| *until <= now && !stopping)
                .map(|(ixn, _)| *ixn)
                .collect();
            for ixn in done {
                self.handling.insert(ixn, (now, true));
                self.send(
                    now,
                    Request::StopProcessing {
                        ixn: Field::Value(ixn),
                    },
                    Sent::Stop(ixn),
                    out,
                );
            }
            if let Some(at) = self.login_retry_at {
                if at <= now && self.pending.is_empty() {
                    self.login(now, out);
                } else {
                    next = next.min(at.max(now + 1));
                }
            }
            if self.ping_due_at().is_some_and(|due| now >= due) {
                self.send(now, Request::Ping, Sent::Ping, out);
            }
            if let Some(until) = self.next_done() {
                next = next.min(until);
            }
        }
        out.push(Output::SetTimer(TICK_TIMER, next.max(now + 1)));
    }

    /// When the keep-alive ping falls due: connected, nothing outstanding, half a request
    /// timeout after the last send.
    fn ping_due_at(&self) -> Option<SimTime> {
        (self.connected && self.pending.is_empty())
            .then_some(self.last_sent_at + self.cfg.request_timeout_ms / 2)
    }

    /// When the agent is next done with an interaction it handles (and not stopping yet).
    fn next_done(&self) -> Option<SimTime> {
        let handling = self.handling.values().filter(|(_, stopping)| !stopping);
        handling.map(|(until, _)| *until).min()
    }

    /// [`Machine::skip_idle_polls`]: a poll does something from the first request deadline,
    /// and when connected from the first handling done, the login retry (with no request
    /// outstanding) or the ping due (likewise). Each poll sets the next a tick on, or sooner at
    /// a handling's end or the login retry (never the same millisecond), as `on_tick` does.
    fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        let mut busy_from = self.pending.earliest_deadline();
        let mut until = None;
        let retry = self.login_retry_at.filter(|_| self.connected);
        if self.connected {
            until = self.next_done();
            let retry_due = retry.filter(|_| self.pending.is_empty());
            busy_from = [busy_from, until, self.ping_due_at(), retry_due]
                .into_iter()
                .flatten()
                .min();
        }
        let tick = self.cfg.tick_ms;
        let step = |now: SimTime| {
            let retry = retry.map(|at| at.max(now + 1));
            let next = [Some(now + tick), retry, until].into_iter().flatten().min();
            next.unwrap_or(now + tick).max(now + 1)
        };
        walk_polls(at, before, busy_from, step)
    }

    /// An event of the server's own: an invitation for this agent, or its logout by the
    /// server (seats lowered, login revoked [S-LIC-shrink]), after which it starts over on a
    /// fresh connection, logging in again when a seat is free.
    fn on_event(&mut self, now: SimTime, event: Event, out: &mut Vec<Output>) {
        match event {
            Event::Invite { agent, ixn } if agent == self.cfg.agent => {
                self.on_invite(now, ixn.id, out)
            }
            Event::LoggedOut { agent } if agent == self.cfg.agent => {
                out.push(Output::Close(SERVER))
            }
            Event::Invite { .. }
            | Event::LoggedOut { .. }
            | Event::Ack { .. }
            | Event::Error { .. }
            | Event::TakenFromQueue { .. }
            | Event::Revoked { .. }
            | Event::Accepted { .. }
            | Event::Rejected { .. }
            | Event::AgentState { .. }
            | Event::Found { .. }
            | Event::SnapshotContent { .. }
            | Event::Seats { .. }
            | Event::InteractionsFound { .. }
            | Event::TargetSelected { .. }
            | Event::RouteRequest { .. } => {}
        }
    }
}

impl Machine for AgentDesktop {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(_) => self.on_connected(now, out),
            Input::Disconnected(_) => self.on_disconnected(out),
            Input::Frame(_, message) => match self.pending.read(message) {
                Reading::Answer(what, event) => {
                    self.on_answer(now, what, event, out);
                    self.on_tick(now, out);
                }
                Reading::Unsolicited(event) => self.on_event(now, event, out),
                Reading::Nothing => {}
            },
            Input::Persisted(_) => {}
            Input::Timer(_) => self.on_tick(now, out),
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
