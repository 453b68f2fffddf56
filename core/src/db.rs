//! The durable database of an Interaction Server pair [S-IS-durable].
//!
//! Holds exactly what the product persists: interactions (queue, priority, user data, submit
//! order, owner) and the id sequence. Invitations to agents are not here: they die with the
//! process, and the owner simply delivers again.
//!
//! Must not: hold anything that is lost on a crash in the product.

use crate::ids::{AgentId, IxnId, SimTime, TenantId};
use crate::kv::KvList;
pub use crate::ors::server::OrsSnapshot;
use std::collections::{BTreeMap, BTreeSet};

/// One persisted interaction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IxnRecord {
    pub id: IxnId,
    pub tenant: TenantId,
    pub media: String,
    pub queue: String,
    pub priority: i32,
    /// Submit order on this node: the FIFO key of views.
    pub seq: u64,
    pub submitted_at: SimTime,
    pub user_data: KvList,
    /// The registered client that owns it (a puller, or the desktop of the agent who accepted
    /// it). Acknowledged ownership is state like any other [S-IS-durable]: a restarted or
    /// promoted node keeps it and releases it only after the owner's grace period.
    pub owner: Option<String>,
    /// The agent handling it, once accepted.
    pub agent: Option<AgentId>,
}

/// A write to a durable store. `Put`/`Delete` are Interaction Server database writes;
/// `Handed` is a media server's: the item left its mailbox because the node acknowledged it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DbOp {
    Put(IxnRecord),
    Delete(IxnId),
    Handed(IxnId),
    /// Take the database lock for `epoch` and read the whole database (a backup being promoted,
    /// [S-OPS-switchover]). See [`IsDatabase`] for the lock model.
    Fence {
        epoch: u64,
    },
    /// Read the whole database without taking the lock. Only the planted bug
    /// `promote-without-fence` does this.
    Load,
    /// An ORS primary's session state, flushed from its sync buffer [S-ORS-ha].
    OrsSync(Box<OrsSnapshot>),
    /// An ORS backup being promoted: take the store's lock for `epoch` and read the last
    /// flushed state.
    OrsLoad {
        epoch: u64,
    },
}

/// What the store says about one committed operation.
#[derive(Clone, PartialEq, Debug)]
pub enum Commit {
    Done,
    /// A fence or load: the database as of this operation.
    Loaded(Box<IsDatabase>),
    /// Refused by the lock: nothing changed.
    Fenced,
    /// An ORS load: the last flushed state.
    OrsLoaded(Box<OrsSnapshot>),
}

/// One process's connection to a durable store. It lives as long as the process (the shell
/// makes a new one on every start): a lock taken by a session dies with it, and a restarted
/// process holds no lock until it fences again.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DbSession {
    /// The epoch this session fenced the database with; 0 = never fenced.
    pub epoch: u64,
}

/// A durable store the shell commits writes to and the runner keeps across crashes.
pub trait Durable {
    fn apply(&mut self, op: &DbOp);

    /// Commits `op` for `session`. Stores without a lock (a media server's mailbox) apply
    /// everything.
    fn commit(&mut self, session: &mut DbSession, op: &DbOp) -> Commit {
        let _ = session;
        self.apply(op);
        Commit::Done
    }
}

/// A media server's source of work (an e-mail server's mailbox): items handed to the
/// Interaction Server are removed from it, so a restarted media server does not submit them
/// again. The product has the same window: a crash between the node's acknowledgement and
/// the removal resubmits the item (at-least-once); the node answers DuplicateId while it still
/// holds the interaction, and starts a new life for it otherwise.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Mailbox {
    pub handed: BTreeSet<IxnId>,
}

impl Durable for Mailbox {
    fn apply(&mut self, op: &DbOp) {
        if let DbOp::Handed(id) = op {
            self.handed.insert(*id);
        }
    }
}

/// The database one IS pair shares (or one lone node owns).
///
/// **The harness's model of the database lock** [S-OPS-switchover]: the database keeps the
/// highest `epoch` any process fenced it with. A backup being promoted commits
/// [`DbOp::Fence`] with the supervisor's new epoch; the fence succeeds only if that epoch is
/// newer than the database's, and then the promoting process's [`DbSession`] holds it. From then
/// on the store refuses every write of a session holding an older epoch ([`Commit::Fenced`]):
/// a deposed primary that the supervisor can no longer reach, but clients still can, cannot
/// commit, hence cannot acknowledge, anything after the promotion. Writes are serialized, so
/// "before the fence" (in the promoted node's snapshot) and "refused" cover every write.
/// A lone node (no pair) never fences: epoch 0 throughout.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IsDatabase {
    pub interactions: BTreeMap<IxnId, IxnRecord>,
    /// Next submit sequence number; never reused, even after deletes.
    pub next_seq: u64,
    /// The lock: the newest epoch a process fenced the database with.
    pub epoch: u64,
}

impl Durable for IsDatabase {
    fn commit(&mut self, session: &mut DbSession, op: &DbOp) -> Commit {
        match op {
            DbOp::Fence { epoch } if *epoch > self.epoch => {
                self.epoch = *epoch;
                session.epoch = *epoch;
                Commit::Loaded(Box::new(self.clone()))
            }
            DbOp::Fence { .. } => Commit::Fenced,
            DbOp::Load => Commit::Loaded(Box::new(self.clone())),
            DbOp::Put(_) | DbOp::Delete(_) | DbOp::Handed(_) if session.epoch < self.epoch => {
                Commit::Fenced
            }
            DbOp::Put(_) | DbOp::Delete(_) | DbOp::Handed(_) => {
                self.apply(op);
                Commit::Done
            }
            DbOp::OrsSync(_) | DbOp::OrsLoad { .. } => Commit::Fenced,
        }
    }

    fn apply(&mut self, op: &DbOp) {
        match op {
            DbOp::Put(record) => {
                self.next_seq = self.next_seq.max(record.seq + 1);
                self.interactions.insert(record.id, record.clone());
            }
            DbOp::Delete(id) => {
                self.interactions.remove(id);
            }
            DbOp::Handed(_)
            | DbOp::Fence { .. }
            | DbOp::Load
            | DbOp::OrsSync(_)
            | DbOp::OrsLoad { .. } => {}
        }
    }
}

/// The persistence store of one ORS pair [S-ORS-ha]: the last state the primary flushed, and
/// the same epoch lock as the IS database, so a deposed primary's flush is refused.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct OrsStore {
    pub epoch: u64,
    pub snapshot: OrsSnapshot,
}

impl Durable for OrsStore {
    fn commit(&mut self, session: &mut DbSession, op: &DbOp) -> Commit {
        match op {
            DbOp::OrsLoad { epoch } if *epoch > self.epoch => {
                self.epoch = *epoch;
                session.epoch = *epoch;
                Commit::OrsLoaded(Box::new(self.snapshot.clone()))
            }
            DbOp::OrsSync(_) if session.epoch < self.epoch => Commit::Fenced,
            DbOp::OrsSync(_) => {
                self.apply(op);
                Commit::Done
            }
            // A stale load, or an IS node's write sent to an ORS store: refused like a
            // deposed primary's.
            DbOp::OrsLoad { .. }
            | DbOp::Put(_)
            | DbOp::Delete(_)
            | DbOp::Handed(_)
            | DbOp::Fence { .. }
            | DbOp::Load => Commit::Fenced,
        }
    }

    fn apply(&mut self, op: &DbOp) {
        if let DbOp::OrsSync(snapshot) = op {
            self.snapshot = (**snapshot).clone();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The two locks, rule by rule: what a sweep reaches rarely (a deposed primary's write
    //! racing a promotion needs a slow write at the end of a lease) is pinned here.
    use super::*;

    fn record(id: u64) -> IxnRecord {
        IxnRecord {
            id: IxnId(id),
            tenant: TenantId(1),
            media: "email".into(),
            queue: "q".into(),
            priority: 0,
            seq: id,
            submitted_at: 0,
            user_data: KvList::default(),
            owner: None,
            agent: None,
        }
    }

    /// [S-OPS-switchover]: a fence takes the lock only with a newer epoch; from then on the
    /// deposed session's writes are refused and change nothing, the holder's are stored.
    #[test]
    fn is_database_lock_refuses_the_deposed_primary() {
        let mut db = IsDatabase::default();
        let (mut old, mut new) = (DbSession::default(), DbSession::default());
        assert_eq!(
            db.commit(&mut old, &DbOp::Put(record(1))),
            Commit::Done,
            "lone node"
        );
        assert!(matches!(
            db.commit(&mut old, &DbOp::Fence { epoch: 1 }),
            Commit::Loaded(_)
        ));
        assert!(matches!(
            db.commit(&mut new, &DbOp::Fence { epoch: 2 }),
            Commit::Loaded(_)
        ));
        assert_eq!(
            db.commit(&mut new, &DbOp::Fence { epoch: 2 }),
            Commit::Fenced
        );
        assert_eq!(
            db.commit(&mut old, &DbOp::Fence { epoch: 1 }),
            Commit::Fenced
        );
        assert_eq!((old.epoch, new.epoch, db.epoch), (1, 2, 2));
        assert_eq!(db.commit(&mut old, &DbOp::Put(record(2))), Commit::Fenced);
        assert_eq!(db.commit(&mut old, &DbOp::Delete(IxnId(1))), Commit::Fenced);
        let mut restarted = DbSession::default();
        assert_eq!(
            db.commit(&mut restarted, &DbOp::Put(record(3))),
            Commit::Fenced
        );
        assert_eq!(db.commit(&mut new, &DbOp::Put(record(4))), Commit::Done);
        let stored: Vec<u64> = db.interactions.keys().map(|id| id.0).collect();
        assert_eq!(stored, vec![1, 4]);
        assert_eq!(db.next_seq, 5);
    }

    /// A flush, told apart from the others by its session counter.
    fn flush(next_session: u64) -> DbOp {
        DbOp::OrsSync(Box::new(OrsSnapshot {
            next_session,
            ..OrsSnapshot::default()
        }))
    }

    /// What a promotion with `epoch` read (the flush's session counter), or None if refused.
    fn read(store: &mut OrsStore, session: &mut DbSession, epoch: u64) -> Option<u64> {
        match store.commit(session, &DbOp::OrsLoad { epoch }) {
            Commit::OrsLoaded(snapshot) => Some(snapshot.next_session),
            Commit::Fenced => None,
            other => panic!("an ORS load answered {other:?}"),
        }
    }

    /// [S-ORS-ha]: a promotion reads what the last stored flush wrote and takes the lock only
    /// with a newer epoch; a deposed primary's flush is refused and changes nothing.
    #[test]
    fn ors_store_lock_refuses_the_deposed_primary() {
        let mut store = OrsStore::default();
        let (mut old, mut new) = (DbSession::default(), DbSession::default());
        assert_eq!(read(&mut store, &mut old, 1), Some(0));
        assert_eq!(store.commit(&mut old, &flush(7)), Commit::Done);
        assert_eq!(store.commit(&mut old, &flush(8)), Commit::Done);
        assert_eq!(read(&mut store, &mut new, 1), None, "same epoch again");
        assert_eq!(read(&mut store, &mut new, 2), Some(8));
        assert_eq!(read(&mut store, &mut old, 2), None);
        assert_eq!(store.commit(&mut old, &flush(9)), Commit::Fenced);
        assert_eq!(store.commit(&mut new, &flush(10)), Commit::Done);
        let mut later = DbSession::default();
        assert_eq!(read(&mut store, &mut later, 3), Some(10));
        assert_eq!(
            store.commit(&mut later, &DbOp::Put(record(1))),
            Commit::Fenced
        );
        assert_eq!(store.epoch, 3);
    }
}
