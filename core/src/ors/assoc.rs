//! Which ORS session controls which interaction [S-ORS-assoc] [S-ORS-detach].
//!
//! An association is created when a session starts for an interaction, by `<attach>`, or by
//! `<associate>` from another session. It is recorded in the interaction's user data too, and
//! until that update is confirmed the association is *pending*: a `<detach>` then fails with
//! error.interaction.detach (seed 000: "there is a small window of time required to allow this
//! information to be successfully propagated by the user data update"). A confirmed detach ends
//! the association and allows that session, and only it, to route the interaction. `<attach>`
//! succeeds only on an interaction no session holds. The association ends when the session
//! exits, `<associate>` moves it, or the interaction is deleted.
//!
//! Must not: let two sessions hold one interaction, or let a session route an interaction it
//! has not detached.

use crate::ids::IxnId;
use std::collections::BTreeMap;

pub type SessionId = u64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// The association's user-data update is not confirmed yet.
    Pending,
    Confirmed,
}

/// Why an association operation was refused (each is an error event to the session).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refused {
    /// error.interaction.detach: the association's user data is not confirmed yet.
    NotConfirmed,
    /// The session does not hold the interaction.
    NotAssociated,
    /// `<attach>` on an interaction another session holds.
    HeldBy(SessionId),
    /// Routing an interaction the session has not detached (or detached long ago and attached
    /// again).
    NotDetached,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Associations {
    links: BTreeMap<IxnId, (SessionId, Link)>,
    /// Interactions a session detached and may route.
    detached: BTreeMap<IxnId, SessionId>,
}

impl Associations {
    pub fn session_of(&self, ixn: IxnId) -> Option<SessionId> {
        self.links.get(&ixn).map(|(session, _)| *session)
    }

    pub fn link(&self, ixn: IxnId) -> Option<(SessionId, Link)> {
        self.links.get(&ixn).copied()
    }

    /// Associations whose user-data update is not confirmed yet.
    pub fn pending_links(&self) -> Vec<(IxnId, SessionId)> {
        self.pending().collect()
    }

    /// [`Self::pending_links`], as they are walked.
    pub fn pending(&self) -> impl Iterator<Item = (IxnId, SessionId)> + '_ {
        self.links
            .iter()
            .filter(|(_, (_, link))| *link == Link::Pending)
            .map(|(ixn, (session, _))| (*ixn, *session))
    }

    /// Every session that holds or detached an interaction (once per interaction).
    pub fn holders(&self) -> impl Iterator<Item = SessionId> + '_ {
        let holding = self.links.values().map(|(session, _)| *session);
        holding.chain(self.detached.values().copied())
    }

    /// Every association, with whether it is confirmed.
    pub fn links(&self) -> Vec<(IxnId, SessionId, bool)> {
        self.links
            .iter()
            .map(|(ixn, (session, link))| (*ixn, *session, *link == Link::Confirmed))
            .collect()
    }

    /// Every detached interaction and the session that may route it.
    pub fn detached(&self) -> Vec<(IxnId, SessionId)> {
        self.detached.iter().map(|(ixn, s)| (*ixn, *s)).collect()
    }

    /// The session that holds `ixn`, or else the one that detached it and may route it.
    pub fn holder_or_detacher(&self, ixn: IxnId) -> Option<SessionId> {
        self.session_of(ixn)
            .or_else(|| self.detached.get(&ixn).copied())
    }

    /// Every interaction `session` holds.
    pub fn held_by(&self, session: SessionId) -> Vec<IxnId> {
        self.links
            .iter()
            .filter(|(_, (owner, _))| *owner == session)
            .map(|(ixn, _)| *ixn)
            .collect()
    }

    /// Interactions `session` detached and has not routed.
    pub fn detached_by(&self, session: SessionId) -> Vec<IxnId> {
        self.detached
            .iter()
            .filter(|(_, owner)| **owner == session)
            .map(|(ixn, _)| *ixn)
            .collect()
    }

    fn bind(&mut self, ixn: IxnId, session: SessionId) {
        self.detached.remove(&ixn);
        self.links.insert(ixn, (session, Link::Pending));
    }

    /// A new session started for `ixn` (interaction.present without a session, or with
    /// `new-session-on-reroute`): it holds it, pending its user-data update.
    pub fn start(&mut self, ixn: IxnId, session: SessionId) {
        self.bind(ixn, session);
    }

    /// The user-data update of `session`'s association with `ixn` was confirmed. A confirmation
    /// for an association that has since moved or ended changes nothing.
    pub fn confirm(&mut self, ixn: IxnId, session: SessionId) -> bool {
        match self.links.get_mut(&ixn) {
            Some((owner, link)) if *owner == session => {
                *link = Link::Confirmed;
                true
            }
            _ => false,
        }
    }

    /// `<detach>`: on success the session may route the interaction (interaction.detach.done).
    pub fn detach(&mut self, ixn: IxnId, session: SessionId) -> Result<(), Refused> {
        match self.links.get(&ixn) {
            Some((owner, Link::Confirmed)) if *owner == session => {
                self.links.remove(&ixn);
                self.detached.insert(ixn, session);
                Ok(())
            }
            Some((owner, Link::Pending)) if *owner == session => Err(Refused::NotConfirmed),
            Some((_, Link::Confirmed | Link::Pending)) | None => Err(Refused::NotAssociated),
        }
    }

    /// The race bug the seed warns about, for planting: detach without waiting for the
    /// association's confirmation.
    pub fn detach_unconfirmed(&mut self, ixn: IxnId, session: SessionId) -> Result<(), Refused> {
        match self.links.get(&ixn) {
            Some((owner, _)) if *owner == session => {
                self.links.remove(&ixn);
                self.detached.insert(ixn, session);
                Ok(())
            }
            _ => Err(Refused::NotAssociated),
        }
    }

    /// May `session` route (deliver, redirect elsewhere) `ixn` now?
    pub fn may_route(&self, ixn: IxnId, session: SessionId) -> Result<(), Refused> {
        if self.detached.get(&ixn) == Some(&session) {
            Ok(())
        } else {
            Err(Refused::NotDetached)
        }
    }

    /// `<attach>`: only an interaction no session holds.
    pub fn attach(&mut self, ixn: IxnId, session: SessionId) -> Result<(), Refused> {
        if let Some((owner, _)) = self.links.get(&ixn) {
            return Err(Refused::HeldBy(*owner));
        }
        self.bind(ixn, session);
        Ok(())
    }

    /// `<associate>`: `from` hands an interaction it holds to `to` (pending again).
    pub fn associate(&mut self, ixn: IxnId, from: SessionId, to: SessionId) -> Result<(), Refused> {
        match self.links.get(&ixn) {
            Some((owner, _)) if *owner == from => {
                self.bind(ixn, to);
                Ok(())
            }
            _ => Err(Refused::NotAssociated),
        }
    }

    /// The session exited: its associations and detach marks end.
    pub fn exit(&mut self, session: SessionId) {
        self.links.retain(|_, (owner, _)| *owner != session);
        self.detached.retain(|_, owner| *owner != session);
    }

    /// Forgets the association of `ixn` (memory optimization: a passive interaction evicted
    /// from memory). Its record lives on in the interaction's user data.
    pub fn forget(&mut self, ixn: IxnId) -> Option<SessionId> {
        self.links.remove(&ixn).map(|(session, _)| session)
    }

    /// Takes back an association read from the interaction's user data (reloading an evicted
    /// interaction): it was confirmed when it was written.
    pub fn restore(&mut self, ixn: IxnId, session: SessionId) {
        self.detached.remove(&ixn);
        self.links.insert(ixn, (session, Link::Confirmed));
    }

    /// The interaction was deleted (stopped) or left ORS's control (delivered).
    pub fn gone(&mut self, ixn: IxnId) {
        self.links.remove(&ixn);
        self.detached.remove(&ixn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IXN: IxnId = IxnId(7);

    /// [S-ORS-detach]: detach before the user-data update is confirmed fails; after, it
    /// succeeds and only then may the session route.
    #[test]
    fn detach_needs_the_confirmed_update_and_routing_needs_the_detach() {
        let mut assoc = Associations::default();
        assoc.start(IXN, 1);
        assert_eq!(assoc.may_route(IXN, 1), Err(Refused::NotDetached));
        assert_eq!(assoc.detach(IXN, 1), Err(Refused::NotConfirmed));
        assert!(assoc.confirm(IXN, 1));
        assert_eq!(assoc.detach(IXN, 2), Err(Refused::NotAssociated));
        assert_eq!(assoc.detach(IXN, 1), Ok(()));
        assert_eq!(assoc.session_of(IXN), None);
        assert_eq!(assoc.may_route(IXN, 1), Ok(()));
        assert_eq!(assoc.may_route(IXN, 2), Err(Refused::NotDetached));
    }

    /// [S-ORS-assoc]: attach only when free; associate moves it (pending again); exit and
    /// deletion end it; a stale confirmation changes nothing.
    #[test]
    fn attach_associate_exit() {
        let mut assoc = Associations::default();
        assoc.start(IXN, 1);
        assert_eq!(assoc.attach(IXN, 2), Err(Refused::HeldBy(1)));
        assoc.confirm(IXN, 1);
        assert_eq!(assoc.associate(IXN, 2, 3), Err(Refused::NotAssociated));
        assert_eq!(assoc.associate(IXN, 1, 3), Ok(()));
        assert_eq!(assoc.link(IXN), Some((3, Link::Pending)));
        assert!(!assoc.confirm(IXN, 1), "session 1's late confirmation");
        assert_eq!(assoc.detach(IXN, 3), Err(Refused::NotConfirmed));
        assoc.exit(3);
        assert_eq!(assoc.session_of(IXN), None);
        assert_eq!(assoc.attach(IXN, 2), Ok(()));
        assert_eq!(assoc.held_by(2), vec![IXN]);
        assoc.gone(IXN);
        assert!(assoc.held_by(2).is_empty());
    }

    /// Routing failed after a detach: attach again, and the right to route is gone.
    #[test]
    fn attach_after_failed_route_ends_the_right_to_route() {
        let mut assoc = Associations::default();
        assoc.start(IXN, 1);
        assoc.confirm(IXN, 1);
        assoc.detach(IXN, 1).expect("confirmed");
        assert_eq!(assoc.attach(IXN, 1), Ok(()));
        assert_eq!(assoc.may_route(IXN, 1), Err(Refused::NotDetached));
        assert_eq!(assoc.link(IXN), Some((1, Link::Pending)));
    }

    /// The planted race (detach without the confirmation) skips only the confirmation: a
    /// session that does not hold the interaction still cannot detach it.
    #[test]
    fn planted_unconfirmed_detach_still_needs_the_holder() {
        let mut assoc = Associations::default();
        assoc.start(IXN, 1);
        assert_eq!(
            assoc.detach_unconfirmed(IXN, 2),
            Err(Refused::NotAssociated)
        );
        assert_eq!(assoc.link(IXN), Some((1, Link::Pending)));
        assert_eq!(assoc.detach_unconfirmed(IXN, 1), Ok(()));
        assert_eq!(assoc.may_route(IXN, 1), Ok(()));
    }
}
