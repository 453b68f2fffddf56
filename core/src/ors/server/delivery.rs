//! Routing to an agent [S-ORS-submit]: `queue:submit` asks the URS (`Peer::Server(1)`) for an
//! agent of a target list; with `route = false` the session hears `queue.submit.done` and may
//! `<deliver>` to that agent once it detached the interaction [S-ORS-detach], with
//! `route = true` the ORS delivers at once under the session's control. The node's answer and
//! then the agent's (`Accepted`/`Rejected`, or none within the delivery timeout) settle it: a
//! delivered interaction leaves the ORS and its association ends (`interaction.notcontrolled`);
//! a failed one is the session's again (`error.queue.submit`, `error.interaction.deliver`).
//! The outcome of a delivery a predecessor sent before a failover goes to the recovered
//! session [S-ORS-ha].
//!
//! Must not: deliver an interaction the session has not detached (a `<deliver>`) or does not
//! control (a submit with route), or return to its queue one a live session still holds.

use super::node::Sent;
use super::{OrsBug, OrsServer, URS};
use crate::ids::{AgentId, IxnId, RefId, SimTime};
use crate::machine::Output;
use crate::ors::assoc::SessionId;
use crate::protocol::{Event, Field, Request};

/// A `queue:submit` waiting for the URS.
#[derive(Debug)]
pub(super) struct Submit {
    pub(super) session: SessionId,
    pub(super) ixn: IxnId,
    pub(super) route: bool,
}

/// A delivery the node accepted, waiting for the agent's answer.
#[derive(Debug)]
pub(super) struct Delivering {
    pub(super) session: SessionId,
    pub(super) submit: bool,
    /// The session already got an error (the connection closed before the node answered):
    /// a late outcome only settles ownership.
    pub(super) orphan: bool,
    /// When the node acknowledged the delivery.
    pub(super) since: SimTime,
}

/// The event a session gets when a delivery fails: for a `queue:submit` with route, the
/// submit failed; for a `<deliver>`, the routing did.
pub(super) fn delivery_error(submit: bool) -> &'static str {
    if submit {
        "error.queue.submit"
    } else {
        "error.interaction.deliver"
    }
}

impl OrsServer {
    /// `queue:submit`: asks the URS for an agent of `targets`, for an interaction the session
    /// controls and the server owns.
    pub(super) fn queue_submit(
        &mut self,
        now: SimTime,
        submit: Submit,
        targets: String,
        timeout_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let Submit { session, ixn, .. } = submit;
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
            self.urs_pending.send(URS, request, deadline, submit, out);
        } else {
            self.events
                .push_back((session, "error.queue.submit".into()));
        }
    }

    /// `<deliver>`: routes a detached interaction to the agent the last `queue.submit.done`
    /// named.
    pub(super) fn deliver_to_target(
        &mut self,
        now: SimTime,
        session: SessionId,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) {
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

    /// The URS answered request `ref_id`.
    pub(super) fn on_urs_reply(
        &mut self,
        now: SimTime,
        ref_id: RefId,
        event: Event,
        out: &mut Vec<Output>,
    ) {
        if let Some(submit) = self.urs_pending.answer(ref_id) {
            self.on_selected(now, submit, event, out);
            self.drain_events(now, out);
        }
    }

    /// The connection to the URS closed: every submit waiting for it failed.
    pub(super) fn urs_lost(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.urs_connected = false;
        for submit in self.urs_pending.drain() {
            self.events
                .push_back((submit.session, "error.queue.submit".into()));
        }
        self.drain_events(now, out);
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
        let agent = if self.cfg.planted_bug == Some(OrsBug::KeepsFirstTarget) {
            *state.target.get_or_insert(agent)
        } else {
            state.target = Some(agent);
            agent
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

    /// The node's answer to a delivery: accepted, it waits for the agent's answer.
    pub(super) fn on_deliver_answer(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        session: SessionId,
        submit: bool,
        ok: bool,
    ) {
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

    /// The agent accepted (`accepted`) or did not take an interaction this server delivered.
    pub(super) fn on_delivery_outcome(
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
        if accepted {
            self.delivered(ixn, delivering, out);
        } else {
            self.not_delivered(now, ixn, delivering, out);
        }
    }

    /// Delivered: the interaction left this server, and its association ends.
    fn delivered(&mut self, ixn: IxnId, delivering: Delivering, out: &mut Vec<Output>) {
        let session = delivering.session;
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
    }

    /// The agent did not take the interaction: its session hears that the routing failed; an
    /// orphaned delivery's interaction no live session holds goes back to its queue.
    fn not_delivered(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        delivering: Delivering,
        out: &mut Vec<Output>,
    ) {
        let session = delivering.session;
        let alive = self.sessions.contains_key(&session) && !delivering.orphan;
        if alive {
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

    /// A delivery whose outcome never came (the node's Accepted/Rejected was sent while this
    /// server was away) counts as failed; if the agent did take it, the session's next
    /// request about it finds out (NotOwner).
    pub(super) fn end_unanswered_deliveries(&mut self, now: SimTime, out: &mut Vec<Output>) {
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
    }
}
