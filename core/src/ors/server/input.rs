//! What each input does: the connections coming and going, the frames (the node's answers and
//! unsolicited events, the URS's answers, the supervisor's requests [S-ORS-ha]), session timers,
//! and the tick, whose work runs in a fixed order.
//!
//! Must not: decide anything itself: each input goes to the concept it concerns.

use super::{OrsServer, SERVER, URS};
use crate::clients::TICK_TIMER;
use crate::ids::{RefId, SimTime};
use crate::machine::{fixed_polls, Input, Output, Peer, TimerId};
use crate::protocol::{Event, Message};

impl OrsServer {
    pub(super) fn on_input(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start | Input::Timer(TICK_TIMER) => self.on_tick(now, out),
            Input::Timer(id) => self.on_session_timer(now, id, out),
            Input::Connected(peer) => self.on_connected(now, peer, out),
            Input::Disconnected(peer) => self.on_disconnected(now, peer, out),
            Input::Frame(peer, message) => self.on_frame(now, peer, message, out),
            Input::Persisted(_) => {}
        }
    }

    fn on_connected(&mut self, now: SimTime, peer: Peer, out: &mut Vec<Output>) {
        match peer {
            URS => self.urs_connected = true,
            SERVER => {
                self.connected = true;
                self.register(now, out);
                self.on_tick(now, out);
            }
            // The supervisor (an HA pair member listens for it).
            Peer::Server(_) | Peer::Client(_) => {}
        }
    }

    fn on_disconnected(&mut self, now: SimTime, peer: Peer, out: &mut Vec<Output>) {
        match peer {
            URS => self.urs_lost(now, out),
            Peer::Client(_) => {}
            Peer::Server(_) => self.server_lost(now, out),
        }
    }

    fn on_frame(&mut self, now: SimTime, peer: Peer, message: Message, out: &mut Vec<Output>) {
        match message {
            Message::Event {
                ref_id: Some(ref_id),
                event,
            } => self.on_reply(now, peer, ref_id, event, out),
            Message::Event {
                ref_id: None,
                event,
            } => self.on_unsolicited(now, peer, event, out),
            Message::Request { ref_id, request } => match peer {
                Peer::Client(_) => self.on_supervisor(now, peer, ref_id, request, out),
                Peer::Server(_) => {}
            },
            Message::ProxiedRequest { .. } | Message::ProxiedEvent { .. } => {}
        }
    }

    /// The answer to request `ref_id` sent to `peer`.
    fn on_reply(
        &mut self,
        now: SimTime,
        peer: Peer,
        ref_id: RefId,
        event: Event,
        out: &mut Vec<Output>,
    ) {
        if peer == URS {
            self.on_urs_reply(now, ref_id, event, out);
        } else if let Some(what) = self.pending.answer(ref_id) {
            self.on_answer(now, what, event, out);
        }
    }

    fn on_unsolicited(&mut self, now: SimTime, peer: Peer, event: Event, out: &mut Vec<Output>) {
        match event {
            Event::TakenFromQueue { items } => {
                if peer == SERVER {
                    self.on_taken(now, items, true, out);
                }
            }
            Event::Accepted { ixn, .. } => {
                self.on_delivery_outcome(now, ixn, true, out);
                self.drain_events(now, out);
            }
            Event::Rejected { ixn, .. } => {
                self.on_delivery_outcome(now, ixn, false, out);
                self.drain_events(now, out);
            }
            Event::Ack { .. }
            | Event::Error { .. }
            | Event::Invite { .. }
            | Event::Revoked { .. }
            | Event::AgentState { .. }
            | Event::Found { .. }
            | Event::SnapshotContent { .. }
            | Event::Seats { .. }
            | Event::LoggedOut { .. }
            | Event::InteractionsFound { .. }
            | Event::TargetSelected { .. }
            | Event::RouteRequest { .. } => {}
        }
    }

    /// A session timer fired: its session hears the timer's name.
    fn on_session_timer(&mut self, now: SimTime, id: TimerId, out: &mut Vec<Output>) {
        if let Some((session, name)) = self.timers.fired(id) {
            self.events.push_back((session, name));
            self.drain_events(now, out);
        }
    }

    /// [`crate::machine::Machine::skip_idle_polls`] for the tick: each part of `on_tick` (and
    /// the flush after every input) says when it would next do something. At once: events or
    /// hand-overs or placements waiting, a session whose idle clock would start or stop, an
    /// association to write again, a pull to ask for, a flush due by its buffer. From a time
    /// on: request deadlines, idle sessions' ttl, the lease, the recovery deadline,
    /// unanswered deliveries, the keep-alive ping, a flush due by its age. Polls are a tick
    /// apart.
    pub(super) fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        let registered_work =
            self.registered && (!self.to_place.is_empty() || !self.taken_back.is_empty());
        let rebind = self.connected
            && self
                .assoc
                .pending()
                .any(|(ixn, _)| self.owned.contains_key(&ixn) && !self.binding.contains(&ixn));
        if registered_work || self.may_pull() || rebind || !self.events.is_empty() {
            return at;
        }
        let mut busy_from: Option<SimTime> = None;
        let mut due = |at: SimTime| {
            busy_from = Some(busy_from.map_or(at, |busy| busy.min(at)));
        };
        let deadlines = [
            self.pending.earliest_deadline(),
            self.urs_pending.earliest_deadline(),
            self.recover_deadline,
            self.ping_due_at(),
            self.lease_ends_at(),
            self.flush_due_at(),
        ];
        deadlines.into_iter().flatten().for_each(&mut due);
        if let Some(ttl) = self.cfg.idle_session_ttl_ms {
            let busy = self.sessions_holding();
            for (id, session) in &self.sessions {
                match (!busy.contains(id), session.idle_since) {
                    (false, None) => {}
                    (true, Some(since)) => due(since + ttl),
                    (false, Some(_)) | (true, None) => return at,
                }
            }
        }
        for delivery in self.delivering.values() {
            due(delivery.since + self.cfg.delivery_timeout_ms);
        }
        fixed_polls(at, before, busy_from, self.cfg.tick_ms)
    }

    /// The periodic work, in this order: timeouts, idle sessions, the lease and the recovery
    /// deadline [S-ORS-ha], retries, unanswered deliveries, association writes, the next pull
    /// and the keep-alive ping.
    pub(super) fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.expire_requests(now, out);
        self.idle_sessions(now, out);
        self.step_down_if_lease_ran_out(now, out);
        self.end_recovery_if_due(now, out);
        // Hand-overs and placements that did not get through are tried again.
        if self.registered {
            self.retry_placements(now, out);
            self.retry_forwarding(now, out);
        }
        self.end_unanswered_deliveries(now, out);
        self.drain_events(now, out);
        if self.connected {
            self.rebind_unwritten(now, out);
        }
        self.maybe_pull(now, out);
        self.keep_alive(now, out);
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}
