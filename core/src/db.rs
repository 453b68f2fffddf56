//! The durable database of an Interaction Server pair [S-IS-durable].
//!
//! Holds exactly what the product persists: interactions (queue, priority, user data, submit
//! order, owner) and the id sequence. Invitations to agents are not here: they die with the
//! process, and the owner simply delivers again.
//!
//! Must not: hold anything that is lost on a crash in the product.

use crate::ids::{AgentId, IxnId, SimTime, TenantId};
use crate::kv::KvList;
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
}

/// A durable store the shell commits writes to and the runner keeps across crashes.
pub trait Durable {
    fn apply(&mut self, op: &DbOp);
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

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IsDatabase {
    pub interactions: BTreeMap<IxnId, IxnRecord>,
    /// Next submit sequence number; never reused, even after deletes.
    pub next_seq: u64,
}

impl Durable for IsDatabase {
    fn apply(&mut self, op: &DbOp) {
        match op {
            DbOp::Put(record) => {
                self.next_seq = self.next_seq.max(record.seq + 1);
                self.interactions.insert(record.id, record.clone());
            }
            DbOp::Delete(id) => {
                self.interactions.remove(id);
            }
            DbOp::Handed(_) => {}
        }
    }
}
