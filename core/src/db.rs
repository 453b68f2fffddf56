//! The durable database of an Interaction Server pair [S-IS-durable].
//!
//! Holds exactly what the product persists: interactions (queue, priority, user data, submit
//! order) and the id sequence. Ownership is not here: it belongs to connections, which die with
//! the process, so a restarted or promoted node finds every interaction back in its queue.
//!
//! Must not: hold anything that is lost on a crash in the product.

use crate::ids::{IxnId, SimTime, TenantId};
use crate::kv::KvList;
use std::collections::BTreeMap;

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
}

/// A write to the database.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DbOp {
    Put(IxnRecord),
    Delete(IxnId),
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IsDatabase {
    pub interactions: BTreeMap<IxnId, IxnRecord>,
    /// Next submit sequence number; never reused, even after deletes.
    pub next_seq: u64,
}

impl IsDatabase {
    pub fn apply(&mut self, op: &DbOp) {
        match op {
            DbOp::Put(record) => {
                self.next_seq = self.next_seq.max(record.seq + 1);
                self.interactions.insert(record.id, record.clone());
            }
            DbOp::Delete(id) => {
                self.interactions.remove(id);
            }
        }
    }
}
