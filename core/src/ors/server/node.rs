//! The connection to the cluster (the node, through the proxy, `Peer::Server(0)`): the
//! registration, keep-alive pings, the requests in flight and what each answer or failure means
//! to the concept that sent it. A request's timeout closes the connection; everything in
//! flight then fails as "maybe sent".
//!
//! Must not: send anything as a backup (only the pair's primary registers [S-ORS-ha]), or
//! forget a request that got no answer: its sender always hears of it.

use super::delivery::delivery_error;
use super::delivery::Delivering;
use super::ha::Role;
use super::{OrsServer, SERVER, URS};
use crate::ids::{IxnId, SimTime};
use crate::machine::Output;
use crate::ors::assoc::SessionId;
use crate::protocol::{ClientKind, ErrorCode, Event, IxnInfo, Request};
use crate::trace::TraceEvent;

/// What a request to the node was for.
#[derive(Debug)]
pub(super) enum Sent {
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

impl OrsServer {
    /// Registers with the nodes, as primary only: a backup keeps its connections but takes no
    /// work.
    pub(super) fn register(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.role != Role::Primary || !self.connected {
            return;
        }
        let register = Request::RegisterClient {
            name: self.client_name.clone(),
            kind: ClientKind::Router,
        };
        self.send(now, register, Sent::Register, 0, out);
    }

    /// When the keep-alive ping falls due: registered, nothing outstanding, half a request
    /// timeout after the last send.
    pub(super) fn ping_due_at(&self) -> Option<SimTime> {
        (self.registered && self.pending.is_empty())
            .then_some(self.last_sent_at + self.cfg.request_timeout_ms / 2)
    }

    /// A registered server that has sent nothing for half a request timeout pings the node.
    pub(super) fn keep_alive(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.ping_due_at().is_some_and(|due| now >= due) {
            self.send(now, Request::Ping, Sent::Ping, 0, out);
        }
    }

    /// Sends `request` to the node, or fails it at once when disconnected; its answer may take
    /// `extra_ms` on top of the request timeout.
    pub(super) fn send(
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

    /// The node answered the request sent for `what`.
    pub(super) fn on_answer(
        &mut self,
        now: SimTime,
        what: Sent,
        event: Event,
        out: &mut Vec<Output>,
    ) {
        let ok = matches!(event, Event::Ack { .. });
        if let Event::Error {
            code: ErrorCode::NotOwner | ErrorCode::InteractionNotFound,
        } = event
        {
            if let Some(ixn) = self.about(&what) {
                self.lost_control(ixn, out);
            }
        }
        match what {
            Sent::Register => self.registered = ok,
            Sent::Ping => {}
            Sent::Pull => self.on_pulled(now, event, out),
            Sent::Placement(ixn, queue) => self.on_placed(ixn, queue, ok),
            Sent::Transfer(info) => self.on_transferred(now, info, &event, out),
            Sent::Association(ixn, session) => self.on_bound(ixn, session, ok, out),
            Sent::Update(session) => self.on_updated(session, ok),
            Sent::Redirect(ixn, session) => self.on_redirected(ixn, session, ok, out),
            Sent::Deliver {
                ixn,
                session,
                submit,
            } => self.on_deliver_answer(now, ixn, session, submit, ok),
        }
        self.drain_events(now, out);
    }

    /// The interaction a request was about, if any.
    fn about(&self, what: &Sent) -> Option<IxnId> {
        match what {
            Sent::Association(ixn, _) | Sent::Redirect(ixn, _) => Some(*ixn),
            Sent::Transfer(info) => Some(info.id),
            Sent::Placement(ixn, _) => Some(*ixn),
            Sent::Deliver { ixn, .. } => Some(*ixn),
            Sent::Update(session) => self.sessions.get(session).map(|s| s.ixn),
            Sent::Register | Sent::Ping | Sent::Pull => None,
        }
    }

    /// A request past its deadline closes its connection: the node's, whose requests then all
    /// fail, or the URS's (whose shell reports the disconnection).
    pub(super) fn expire_requests(&mut self, now: SimTime, out: &mut Vec<Output>) {
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
    }

    /// The connection to the cluster closed (or this server closed it): what the node still
    /// owes an answer for is unknown now; the interactions stay owned by this name at the node
    /// within its grace period, and the node lists them again at the next registration.
    pub(super) fn server_lost(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.connected = false;
        self.registered = false;
        self.pulling = false;
        for what in self.pending.drain() {
            self.failed(now, what, true);
        }
        self.drain_events(now, out);
    }
}
