//! Strategy sessions [S-ORS-session]: starting one for an interaction no live session holds
//! (`interaction.present`), presenting an interaction again to the session that holds it (or,
//! with `new-session-on-reroute`, handing it to a new one), handing the queued events to the
//! sessions, and ending them: an interaction an ended session held goes back to its queue
//! [S-ORS-fail], and so does `ixnfm-idle-session-ttl` end a session left without one.
//!
//! Must not: hand an event to a session that ended, or let one input run strategies without
//! bound (a strategy that retries every error at once while nothing can succeed).

use super::OrsServer;
use super::Session;
use crate::ids::{IxnId, SimTime};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::ors::assoc::SessionId;
use crate::ors::strategy::Run;
use crate::trace::TraceEvent;
use std::collections::BTreeSet;

/// The events a session hears that the trace records (`heard <event>`): the outcomes of
/// routing, which [S-ORS-submit] is about.
pub const HEARD: &[&str] = &[
    "queue.submit.done",
    "interaction.deliver.done",
    "interaction.notcontrolled",
];

impl OrsServer {
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
    pub(super) fn start_for(
        &mut self,
        now: SimTime,
        queue: &str,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) {
        if self
            .cfg
            .max_sessions
            .is_some_and(|max| self.sessions.len() as u32 >= max)
        {
            self.place_on_fail(now, queue, ixn, out);
            return;
        }
        let strategy = self.strategy_of(queue);
        let next = self.next_session;
        self.assoc.start(ixn, next);
        let session = self.start_session(now, strategy, ixn, out);
        debug_assert_eq!(
            session, next,
            "a new session is the one its interaction names"
        );
        self.events
            .push_back((session, "interaction.present".into()));
    }

    /// `ixn` came back to the server whose `session` holds it.
    pub(super) fn present_again(
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
        self.hand_over(now, ixn, session, strategy, out);
    }

    /// `from` lets go of `ixn`, which a new session of `strategy` takes over
    /// (`interaction.present`); nothing happens unless `from` holds it.
    pub(super) fn hand_over(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        from: SessionId,
        strategy: usize,
        out: &mut Vec<Output>,
    ) {
        let next = self.next_session;
        if self.assoc.associate(ixn, from, next).is_ok() {
            self.trace(from, ixn, "associated-away", out);
            let started = self.start_session(now, strategy, ixn, out);
            debug_assert_eq!(
                started, next,
                "a new session is the one its interaction names"
            );
            self.events
                .push_back((started, "interaction.present".into()));
        }
    }

    /// The live session that holds or detached `ixn`, if any.
    pub(super) fn live_holder_or_detacher(&self, ixn: IxnId) -> Option<SessionId> {
        self.assoc
            .holder_or_detacher(ixn)
            .filter(|session| self.sessions.contains_key(session))
    }

    /// A strategy that answers every error by retrying at once, while nothing can succeed
    /// (disconnected), would spin forever: past this many events in one go the rest are
    /// dropped and the sessions concerned end (what they hold goes back to its queue).
    const MAX_EVENTS_PER_STEP: usize = 10_000;

    /// Hands queued events to their sessions until none is left.
    pub(super) fn drain_events(&mut self, now: SimTime, out: &mut Vec<Output>) {
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
    pub(super) fn end_session(&mut self, now: SimTime, session: SessionId, out: &mut Vec<Output>) {
        let Some(state) = self.sessions.remove(&session) else {
            return;
        };
        self.dirty += 1;
        let mut held = self.assoc.held_by(session);
        held.extend(self.assoc.detached_by(session));
        self.assoc.exit(session);
        self.unpark_unassociated();
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
        self.timers.retain(|(owner, _)| *owner != session);
    }

    /// The sessions that hold an interaction: one being delivered, evicted (evicted passive
    /// interactions are still associated, in their user data), associated or detached.
    pub(super) fn sessions_holding(&self) -> BTreeSet<SessionId> {
        let delivering = self.delivering.values().map(|d| d.session);
        delivering
            .chain(self.evicted.values().copied())
            .chain(self.assoc.holders())
            .collect()
    }

    /// `ixnfm-idle-session-ttl` [S-ORS-fail]: a session that holds no interaction (none
    /// associated, evicted, detached, or being delivered) for the ttl ends.
    pub(super) fn idle_sessions(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let Some(ttl) = self.cfg.idle_session_ttl_ms else {
            return;
        };
        let busy = self.sessions_holding();
        let mut expired = Vec::new();
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            let idle = !busy.contains(&id);
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
}
