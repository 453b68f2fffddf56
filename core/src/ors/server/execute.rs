//! The strategy's actions, carried out for the session that ran them: user-data updates,
//! `<detach>` (only once the association is confirmed) and `<attach>` [S-ORS-detach],
//! `<associate>` [S-ORS-assoc], `<redirect>` (of an interaction the session controls, which it
//! gets back, or one it detached, which leaves), and session timers. `queue:submit` and
//! `<deliver>` are `delivery` [S-ORS-submit].
//!
//! Must not: act on an interaction for a session that does not control it, or route one the
//! session has not detached.

use super::delivery::Submit;
use super::node::Sent;
use super::{OrsBug, OrsServer};
use crate::ids::{IxnId, SimTime};
use crate::kv::{KvList, KvValue};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::ors::assoc::{Refused, SessionId};
use crate::ors::strategy::Action;
use crate::protocol::{Field, Request};

impl OrsServer {
    /// Carries out `actions` in order, as long as `session` runs.
    pub(super) fn execute(
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
                    self.update_user_data(now, session, ixn, &key, value, out);
                }
                Action::Detach => self.detach(session, ixn, out),
                Action::Attach => self.attach(now, session, ixn, out),
                Action::Associate { strategy } => self.associate(now, session, ixn, &strategy, out),
                Action::Redirect { queue } => self.redirect(now, session, ixn, queue, out),
                Action::StartTimer { name, ms } => {
                    self.timers.set((session, name), now + ms, out);
                }
                Action::Exit => {}
                Action::QueueSubmit {
                    targets,
                    route,
                    timeout_ms,
                } => {
                    let submit = Submit {
                        session,
                        ixn,
                        route,
                    };
                    self.queue_submit(now, submit, targets, timeout_ms, out);
                }
                Action::Deliver => self.deliver_to_target(now, session, ixn, out),
            }
        }
    }

    /// A strategy's user-data update, of an interaction the session controls and the server
    /// owns.
    fn update_user_data(
        &mut self,
        now: SimTime,
        session: SessionId,
        ixn: IxnId,
        key: &str,
        value: String,
        out: &mut Vec<Output>,
    ) {
        if self.assoc.session_of(ixn) == Some(session) && self.owned.contains_key(&ixn) {
            let changes = KvList::new().with(key, KvValue::Str(value));
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

    /// The node's answer to a strategy's user-data update.
    pub(super) fn on_updated(&mut self, session: SessionId, ok: bool) {
        let event = if ok {
            "interaction.update.done"
        } else {
            "error.interaction.update"
        };
        self.events.push_back((session, event.into()));
    }

    /// `<detach>`: refused until the association's user data is confirmed [S-ORS-detach].
    fn detach(&mut self, session: SessionId, ixn: IxnId, out: &mut Vec<Output>) {
        let result = match self.cfg.planted_bug {
            Some(OrsBug::DetachBeforeConfirm) => self.assoc.detach_unconfirmed(ixn, session),
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

    /// `<attach>`: only an interaction this server controls at the node (a session cannot
    /// take one another instance holds, or one parked in a queue), and only one whose user
    /// data names no other session.
    fn attach(&mut self, now: SimTime, session: SessionId, ixn: IxnId, out: &mut Vec<Output>) {
        let mine = self.owned.get(&ixn).is_some_and(|owned| {
            owned
                .tag
                .as_ref()
                .is_none_or(|(instance, s)| *instance == self.client_name && *s == session)
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

    /// `<associate>`: the session hands the interaction it holds to a new session of
    /// `strategy` [S-ORS-assoc].
    fn associate(
        &mut self,
        now: SimTime,
        session: SessionId,
        ixn: IxnId,
        strategy: &str,
        out: &mut Vec<Output>,
    ) {
        let index = self
            .cfg
            .strategies
            .iter()
            .position(|candidate| candidate.name == strategy);
        match (index, self.assoc.session_of(ixn) == Some(session)) {
            (Some(index), true) => self.hand_over(now, ixn, session, index, out),
            _ => self
                .events
                .push_back((session, "error.interaction.associate".into())),
        }
    }

    /// `<redirect>`: a session may move an interaction it controls (and get it back when it is
    /// pulled again) or one it detached (routing it away) [S-ORS-detach].
    fn redirect(
        &mut self,
        now: SimTime,
        session: SessionId,
        ixn: IxnId,
        queue: String,
        out: &mut Vec<Output>,
    ) {
        let controls = self.assoc.session_of(ixn) == Some(session);
        let detached = self.assoc.may_route(ixn, session).is_ok();
        if (controls || detached) && self.owned.contains_key(&ixn) {
            let request = Request::PlaceInQueue {
                ixn: Field::Value(ixn),
                queue,
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

    /// The node's answer to a `<redirect>`: a routed interaction leaves this server's control,
    /// one still associated waits in its queue (parked).
    pub(super) fn on_redirected(
        &mut self,
        ixn: IxnId,
        session: SessionId,
        ok: bool,
        out: &mut Vec<Output>,
    ) {
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
}
