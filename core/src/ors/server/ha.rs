//! The member of a primary/backup ORS pair [S-ORS-ha]: its role, the supervisor's requests
//! (ping, lease, promote, demote), and stepping down. What a primary persists and how a promoted
//! backup recovers it is `persist`.
//!
//! Must not: act as primary past the supervisor's last lease, or let a backup hold or send
//! anything (only the pair's primary talks to the nodes).

use super::{OrsServer, SERVER, URS};
use crate::ids::IxnId;
use crate::ids::{RefId, SimTime};
use crate::machine::{Output, Peer};
use crate::ors::assoc::Associations;
use crate::ors::assoc::SessionId;
use crate::protocol::{ErrorCode, Event, Message, Request};
use crate::trace::TraceEvent;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Role {
    Primary,
    Backup,
}

impl OrsServer {
    /// The supervisor's requests to an HA pair member [S-ORS-ha].
    pub(super) fn on_supervisor(
        &mut self,
        now: SimTime,
        peer: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let reply = match request {
            Request::Ping | Request::RegisterClient { .. } => Some(Event::Ack { ixn: None }),
            Request::Lease { until } => Some(self.on_lease(now, until, out)),
            Request::Promote { epoch } => self.on_promote(now, epoch, peer, ref_id, out),
            Request::Demote => {
                self.become_backup(now, out);
                Some(Event::Ack { ixn: None })
            }
            Request::Submit { .. }
            | Request::Pull { .. }
            | Request::PlaceInQueue { .. }
            | Request::UpdateUserData { .. }
            | Request::StopProcessing { .. }
            | Request::Deliver { .. }
            | Request::Accept { .. }
            | Request::Reject { .. }
            | Request::AgentLogin { .. }
            | Request::AgentLogout { .. }
            | Request::AgentReady { .. }
            | Request::AgentNotReady { .. }
            | Request::Find { .. }
            | Request::Snapshot { .. }
            | Request::Unregister
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. }
            | Request::FindInteractions { .. }
            | Request::ReserveAgent { .. }
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::StrategiesLoaded { .. } => Some(Event::Error {
                code: ErrorCode::UnsupportedOperation,
            }),
        };
        if let Some(event) = reply {
            out.push(Output::Send(peer, Message::reply(ref_id, event)));
        }
    }

    /// The supervisor's lease: a primary acts until `until`; the answer says whether this
    /// member is the primary.
    fn on_lease(&mut self, now: SimTime, until: SimTime, out: &mut Vec<Output>) -> Event {
        if self.role == Role::Primary && now >= self.lease_until {
            // It ran out before this one came: stepped down already (on_tick).
            self.become_backup(now, out);
        }
        self.lease_until = self.lease_until.max(until);
        match self.role {
            Role::Primary => Event::Ack { ixn: None },
            Role::Backup => Event::Error {
                code: ErrorCode::NotPrimary,
            },
        }
    }

    /// The answer to a promotion, or `None` while the store is read first (the answer comes
    /// with what it read: `on_loaded`), or while an earlier promotion reads it.
    fn on_promote(
        &mut self,
        now: SimTime,
        epoch: u64,
        peer: Peer,
        ref_id: RefId,
        out: &mut Vec<Output>,
    ) -> Option<Event> {
        if self.role == Role::Primary {
            return Some(Event::Ack { ixn: None });
        }
        if self.promotion.is_some() {
            return None;
        }
        if self.cfg.ha.as_ref().is_some_and(|ha| ha.persistence) {
            self.load_for_promotion(epoch, peer, ref_id, out);
            return None;
        }
        self.become_primary(now, out);
        Some(Event::Ack { ixn: None })
    }

    pub(super) fn become_primary(&mut self, now: SimTime, out: &mut Vec<Output>) {
        debug_assert_eq!(self.role, Role::Backup, "only a backup is promoted");
        self.role = Role::Primary;
        self.last_flush = now;
        out.push(Output::Trace(TraceEvent::OrsRole { primary: true }));
        self.register(now, out);
    }

    /// Drops everything this process held as primary (a demoted or fenced primary): its
    /// sessions end without running anything more, and its connections close so the nodes
    /// see its name go (what it owned gets the owner grace period, and goes to the new
    /// primary with persistence, back to the queues without).
    pub(super) fn become_backup(&mut self, _now: SimTime, out: &mut Vec<Output>) {
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
        debug_assert_eq!(self.backup_holds_nothing(), Ok(()));
    }

    /// When a primary of a pair loses its lease (and steps down).
    pub(super) fn lease_ends_at(&self) -> Option<SimTime> {
        (self.cfg.ha.is_some() && self.role == Role::Primary).then_some(self.lease_until)
    }

    /// A primary whose lease ran out steps down on its own: the supervisor may promote the
    /// other member from then on.
    pub(super) fn step_down_if_lease_ran_out(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.lease_ends_at().is_some_and(|end| now >= end) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut {
                request: "RequestHeartbeat (lease ran out)",
            }));
            self.become_backup(now, out);
        }
    }

    /// What a backup must not hold: sessions, interactions, timers, parked interactions, a
    /// registration or a pull.
    pub(super) fn backup_holds_nothing(&self) -> Result<(), String> {
        if !(self.sessions.is_empty()
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
        if self.registered || self.pulling {
            return Err(format!(
                "a backup is registered ({}) or pulling ({})",
                self.registered, self.pulling
            ));
        }
        Ok(())
    }
}
