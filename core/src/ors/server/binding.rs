//! The association as the cluster records it [S-ORS-assoc]: the `ORS_Session` user-data tag
//! (`<instance>:<session>`) a session's association writes, written again until the node
//! confirms it (only then may the session detach [S-ORS-detach]); what a tag says about an
//! interaction taken from the node (this instance's session, another's, or one this server's
//! memory has fallen behind); and losing control, when the node says an interaction is not
//! this server's any more. The table itself is `crate::ors::assoc`.
//!
//! Must not: let a session keep an interaction whose confirmed tag names another session.

use super::node::Sent;
use super::{OrsBug, OrsServer};
use crate::ids::{IxnId, SimTime};
use crate::kv::{KvList, KvValue};
use crate::machine::Output;
use crate::ors::assoc::{Link, SessionId};
use crate::protocol::{Field, IxnInfo, Request};

/// The user-data key that records the association.
pub const SESSION_KEY: &str = "ORS_Session";

impl OrsServer {
    fn session_tag(&self, session: SessionId) -> String {
        format!("{}:{session}", self.client_name)
    }

    /// The instance and session a session tag (`<instance>:<session>`) names, if any.
    pub(super) fn tag_of(info: &IxnInfo) -> Option<(String, SessionId)> {
        let Some(KvValue::Str(tag)) = info.user_data.get(SESSION_KEY) else {
            return None;
        };
        let (instance, session) = tag.rsplit_once(':')?;
        Some((instance.to_string(), session.parse().ok()?))
    }

    /// The instance a session tag names, if it is not this one.
    pub(super) fn other_instance(&self, info: &IxnInfo) -> Option<String> {
        let Some(KvValue::Str(tag)) = info.user_data.get(SESSION_KEY) else {
            return None;
        };
        let (instance, _) = tag.rsplit_once(':')?;
        (instance != self.client_name).then(|| instance.to_string())
    }

    /// The session an interaction's user data names, if it is a live session of this server.
    pub(super) fn recorded_session(&self, info: &IxnInfo) -> Option<SessionId> {
        let (instance, session) = Self::tag_of(info)?;
        (instance == self.client_name && self.sessions.contains_key(&session)).then_some(session)
    }

    /// Records `session`'s association with `ixn` in the interaction's user data.
    pub(super) fn bind(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        session: SessionId,
        out: &mut Vec<Output>,
    ) {
        let changes = KvList::new().with(SESSION_KEY, KvValue::Str(self.session_tag(session)));
        let request = Request::UpdateUserData {
            ixn: Field::Value(ixn),
            changes,
        };
        self.send(now, request, Sent::Association(ixn, session), 0, out);
    }

    /// The node's answer to an association's user-data update: confirmed, the session may
    /// detach, and the interaction's tag names it.
    pub(super) fn on_bound(
        &mut self,
        ixn: IxnId,
        session: SessionId,
        ok: bool,
        out: &mut Vec<Output>,
    ) {
        self.binding.remove(&ixn);
        if ok && self.assoc.confirm(ixn, session) {
            self.trace(session, ixn, "association-confirmed", out);
            let tag = (self.client_name.clone(), session);
            if let Some(owned) = self.owned.get_mut(&ixn) {
                owned.tag = Some(tag);
            }
        }
    }

    /// An association whose write failed or was cut off is written again (connected): until
    /// it is confirmed its session cannot detach.
    pub(super) fn rebind_unwritten(&mut self, now: SimTime, out: &mut Vec<Output>) {
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

    /// The live session of this server that holds `item` now that the node gave it again. A
    /// session of this server's memory whose confirmed association the interaction's user data
    /// no longer names (it was taken over elsewhere: a recovered session from an old flush)
    /// holds it no more; the session the tag names takes it back if it is one of this
    /// server's. (A pending association may simply not be written yet.)
    pub(super) fn holder_by_tag(
        &mut self,
        item: &IxnInfo,
        out: &mut Vec<Output>,
    ) -> Option<SessionId> {
        let ixn = item.id;
        let holder = self
            .assoc
            .session_of(ixn)
            .filter(|session| self.sessions.contains_key(session));
        let confirmed = matches!(self.assoc.link(ixn), Some((_, Link::Confirmed)));
        let (Some(session), Some(tag), true) = (holder, Self::tag_of(item), confirmed) else {
            return holder;
        };
        if tag == (self.client_name.clone(), session) {
            return holder;
        }
        self.control_lost(ixn);
        self.tell_not_controlled(session, ixn, out);
        if tag.0 == self.client_name && self.sessions.contains_key(&tag.1) {
            self.assoc.restore(ixn, tag.1);
            self.trace(tag.1, ixn, "reloaded", out);
            return Some(tag.1);
        }
        None
    }

    /// `ixn` is not this server's to control any more: its association ends [S-ORS-assoc].
    pub(super) fn control_lost(&mut self, ixn: IxnId) {
        if self.cfg.planted_bug != Some(OrsBug::LostControlKeepsAssociation) {
            self.assoc.gone(ixn);
        }
    }

    /// `session` lost control of `ixn`: it hears `interaction.notcontrolled`.
    pub(super) fn tell_not_controlled(
        &mut self,
        session: SessionId,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) {
        self.trace(session, ixn, "lost-control", out);
        self.events
            .push_back((session, "interaction.notcontrolled".into()));
    }

    /// The node says the interaction is not this server's any more (the owner grace period
    /// ran out while it was away, and the node put it back in its queue): forget it, and its
    /// session hears `interaction.notcontrolled`.
    pub(super) fn lost_control(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
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
            self.tell_not_controlled(session, ixn, out);
        }
    }
}
