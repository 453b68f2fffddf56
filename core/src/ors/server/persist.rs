//! Session persistence of an ORS pair [S-ORS-ha]: what a primary flushes to the pair's store
//! and when (the sync buffer), the store's read and fencing at a promotion, and how the promoted
//! backup recovers the sessions (`_sendSessionRecovered`) and waits for the nodes to list what
//! its predecessor owned. A store written by 8.1.2 is unreadable to later releases
//! [S-OPS-rolling].
//!
//! Must not: promote before the store is read and locked, or keep awaiting a recovered
//! interaction past the recovery deadline.

use super::ha::Role;
use super::{OrsBug, OrsServer, Session};
use crate::db::DbOp;
use crate::ids::{AgentId, IxnId, RefId, SimTime};
use crate::machine::{Output, Peer, WriteId};
use crate::marks::{mark, Mark};
use crate::ors::assoc::{Associations, SessionId};
use crate::ors::strategy::Run;
use crate::protocol::{ErrorCode, Event, Message};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

/// What an ORS primary persists [S-ORS-ha]: the name it is registered under (the owner of its
/// interactions at the nodes), its sessions and their associations.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OrsSnapshot {
    /// The persistence format of the release that wrote it (0: nothing written yet).
    pub format: u32,
    pub client_name: Option<String>,
    pub next_session: SessionId,
    pub sessions: Vec<SessionSnapshot>,
    pub assoc: Associations,
    pub evicted: BTreeMap<IxnId, SessionId>,
    /// What the primary owned at the nodes: (queue, node) per interaction.
    pub owned: BTreeMap<IxnId, (String, u16)>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionSnapshot {
    pub id: SessionId,
    pub strategy: usize,
    pub run: Run,
    pub ixn: IxnId,
    pub target: Option<AgentId>,
}

/// A promotion waiting for the store (persistence: the last flushed state).
#[derive(Clone, Copy, Debug)]
pub(super) struct Promotion {
    write: WriteId,
    supervisor: Peer,
    ref_id: RefId,
}

impl OrsServer {
    /// A promotion with persistence takes the store's lock and reads the last flushed state
    /// first; the supervisor's answer waits for it (`on_loaded`, `on_fenced`).
    pub(super) fn load_for_promotion(
        &mut self,
        epoch: u64,
        supervisor: Peer,
        ref_id: RefId,
        out: &mut Vec<Output>,
    ) {
        // Session ids of this term never collide with the predecessor's, whose last ones may
        // not have reached the store.
        if self.cfg.planted_bug != Some(OrsBug::ReusedSessionIds) {
            self.next_session = self.next_session.max((epoch << 32) + 1);
        }
        let write = self.writes.issue();
        self.promotion = Some(Promotion {
            write,
            supervisor,
            ref_id,
        });
        out.push(Output::Persist(write, DbOp::OrsLoad { epoch }));
    }

    /// The store's state for the promotion waiting on `write`: recover it, then answer.
    pub(super) fn on_loaded(
        &mut self,
        now: SimTime,
        write: WriteId,
        snapshot: OrsSnapshot,
        out: &mut Vec<Output>,
    ) {
        let Some(promotion) = self.promotion.filter(|p| p.write == write) else {
            return;
        };
        self.promotion = None;
        self.recover(now, snapshot, out);
        let ack = Message::reply(promotion.ref_id, Event::Ack { ixn: None });
        out.push(Output::Send(promotion.supervisor, ack));
    }

    /// The store refused `write`: a newer promotion holds its lock.
    pub(super) fn on_fenced(&mut self, now: SimTime, write: WriteId, out: &mut Vec<Output>) {
        if let Some(promotion) = self.promotion.filter(|p| p.write == write) {
            // A newer promotion holds the store: this one failed.
            self.promotion = None;
            let error = Event::Error {
                code: ErrorCode::InvalidState,
            };
            let reply = Message::reply(promotion.ref_id, error);
            out.push(Output::Send(promotion.supervisor, reply));
        } else {
            // A flush refused: another member was promoted since. Step down.
            self.become_backup(now, out);
        }
    }

    /// What a primary with persistence flushes.
    fn snapshot(&self) -> OrsSnapshot {
        OrsSnapshot {
            format: self.cfg.version.store_format(),
            client_name: Some(self.client_name.clone()),
            next_session: self.next_session,
            sessions: self
                .sessions
                .iter()
                .map(|(id, s)| SessionSnapshot {
                    id: *id,
                    strategy: s.strategy,
                    run: s.run.clone(),
                    ixn: s.ixn,
                    target: s.target,
                })
                .collect(),
            assoc: self.assoc.clone(),
            evicted: self.evicted.clone(),
            owned: self
                .owned
                .iter()
                .map(|(ixn, owned)| (*ixn, (owned.queue.clone(), owned.node)))
                .collect(),
        }
    }

    /// From when a flush is due: a persisting primary with changes flushes once its buffer is
    /// full (at once) or its oldest change is `sync_max_age_ms` old.
    pub(super) fn flush_due_at(&self) -> Option<SimTime> {
        let ha = self.cfg.ha.as_ref()?;
        if !ha.persistence || self.role != Role::Primary || self.dirty == 0 {
            return None;
        }
        if self.dirty >= ha.sync_max_buffer {
            return Some(0);
        }
        Some(self.last_flush + ha.sync_max_age_ms)
    }

    /// Flushes the sync buffer when it is full or old enough [S-ORS-ha].
    pub(super) fn maybe_flush(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.flush_due_at().is_none_or(|due| now < due) {
            return;
        }
        let write = self.writes.issue();
        out.push(Output::Persist(
            write,
            DbOp::OrsSync(Box::new(self.snapshot())),
        ));
        self.dirty = 0;
        self.last_flush = now;
    }

    /// A promoted backup takes over the last flushed state: the sessions continue (each gets
    /// `_sendSessionRecovered`) under the name that owns their interactions at the nodes, which
    /// list them again when this process registers. Changes after the last flush are lost, as
    /// the sync buffer options say; the nodes' answers then correct the sessions (NotOwner,
    /// interaction.notcontrolled).
    fn recover(&mut self, now: SimTime, snapshot: OrsSnapshot, out: &mut Vec<Output>) {
        let snapshot = self.readable(snapshot, out);
        if let Some(name) = snapshot.client_name {
            self.client_name = name;
        }
        self.next_session = self.next_session.max(snapshot.next_session);
        self.assoc = snapshot.assoc;
        self.evicted = snapshot.evicted;
        self.trace_recovered_associations(out);
        // What the predecessor owned comes back when the nodes list what this name owns;
        // what they do not list by the deadline is gone (delivered meanwhile, or released).
        self.recovering = snapshot.owned.into_keys().collect();
        self.recover_deadline =
            Some(now + 2 * self.cfg.request_timeout_ms + self.cfg.pull_hold_timeout_ms);
        self.recover_sessions(snapshot.sessions, out);
        self.become_primary(now, out);
        self.drain_events(now, out);
    }

    /// `snapshot`, or a fresh start if a release whose persistence this one cannot read wrote
    /// it (seed 001: lost in a migration from 8.1.2). A fresh start is under this process's own
    /// name: what the old name owned returns to the queues after the owner grace period.
    fn readable(&self, snapshot: OrsSnapshot, out: &mut Vec<Output>) -> OrsSnapshot {
        if snapshot.format == 0 || snapshot.format == self.cfg.version.store_format() {
            return snapshot;
        }
        out.push(Output::Trace(TraceEvent::OrsPersistenceLost {
            sessions: snapshot.sessions.len() as u32,
        }));
        OrsSnapshot::default()
    }

    fn trace_recovered_associations(&self, out: &mut Vec<Output>) {
        for (ixn, session, confirmed) in self.assoc.links() {
            let what = if confirmed {
                "recovered-confirmed"
            } else {
                "recovered-pending"
            };
            self.trace(session, ixn, what, out);
        }
        for (ixn, session) in self.assoc.detached() {
            self.trace(session, ixn, "recovered-detached", out);
        }
    }

    /// The sessions of the store run on here, each told `_sendSessionRecovered` (once the
    /// caller drains the events); one of a strategy this process does not have is left out.
    fn recover_sessions(&mut self, saved: Vec<SessionSnapshot>, out: &mut Vec<Output>) {
        let skip = usize::from(self.cfg.planted_bug == Some(OrsBug::RecoveryDropsFirstSession));
        for saved in saved.into_iter().skip(skip) {
            if saved.strategy >= self.cfg.strategies.len() {
                continue;
            }
            self.sessions.insert(
                saved.id,
                Session {
                    strategy: saved.strategy,
                    run: saved.run,
                    ixn: saved.ixn,
                    target: saved.target,
                    idle_since: None,
                    recovered: true,
                },
            );
            mark(Mark::OrsSessionRecovered, out);
            self.trace(saved.id, saved.ixn, "session-recovered", out);
            self.events
                .push_back((saved.id, "_sendSessionRecovered".into()));
        }
    }

    /// Past the recovery deadline, a recovered interaction no node listed is not this
    /// server's: the session that held or detached it hears `interaction.notcontrolled`.
    pub(super) fn end_recovery_if_due(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let Some(deadline) = self.recover_deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.recover_deadline = None;
        for ixn in std::mem::take(&mut self.recovering) {
            let session = self.assoc.holder_or_detacher(ixn);
            self.control_lost(ixn);
            if let Some(session) = session {
                self.tell_not_controlled(session, ixn, out);
            }
        }
        self.drain_events(now, out);
    }
}
