//! The pullable interactions of each queue, in view order (priority descending, then submit
//! order) and filtered by a view's condition [S-IS-pull] [S-INV-order], and the planted bugs that
//! break that order or ownership.

use super::{view_key, IsNode, PlantedBug, ViewConfig, ViewKey};
use crate::db::IxnRecord;
use crate::ids::IxnId;
use crate::protocol::IxnInfo;

impl IsNode {
    /// Puts a stored, unowned interaction into its queue's pullable set; returns the queue.
    pub(super) fn make_available(&mut self, ixn: IxnId) -> Option<String> {
        let record = self.db.interactions.get(&ixn)?;
        if self.owners.contains_key(&ixn) || self.in_flight.contains(&ixn) {
            return None;
        }
        self.available
            .entry(record.queue.clone())
            .or_default()
            .insert(view_key(record));
        Some(record.queue.clone())
    }

    pub(super) fn take_available(&mut self, ixn: IxnId) {
        if let Some(record) = self.db.interactions.get(&ixn) {
            if let Some(set) = self.available.get_mut(&record.queue) {
                set.remove(&view_key(record));
            }
        }
    }

    pub(super) fn info(node: u16, record: &IxnRecord) -> IxnInfo {
        IxnInfo {
            node,
            id: record.id,
            tenant: record.tenant,
            media: record.media.clone(),
            queue: record.queue.clone(),
            priority: record.priority,
            submitted_at: record.submitted_at,
            user_data: record.user_data.clone(),
        }
    }

    /// Up to `count` pullable interactions of `queue` that `view` shows, in view order.
    pub(super) fn select(&self, queue: &str, view: &ViewConfig, count: u32) -> Vec<IxnId> {
        match self.cfg.planted_bug {
            Some(PlantedBug::PullIgnoresOwnership) => {
                return self.select_planted_any_owner(queue, view, count)
            }
            Some(PlantedBug::ViewIgnoresPriority) => {
                return self.select_planted_fifo(queue, view, count)
            }
            Some(
                PlantedBug::AckBeforeWrite
                | PlantedBug::LoginIgnoresSeats
                | PlantedBug::ShrinkKeepsLogins
                | PlantedBug::DeliverIgnoresCapacity
                | PlantedBug::StopKeepsLoad
                | PlantedBug::HoldIgnoresAsked
                | PlantedBug::UrsGoneWaitsGrace
                | PlantedBug::SnapshotIgnoresLimit
                | PlantedBug::GraceHalved
                | PlantedBug::GraceDoubled,
            )
            | None => {}
        }
        let Some(set) = self.available.get(queue) else {
            return Vec::new();
        };
        set.iter()
            .map(|(_, _, ixn)| *ixn)
            .filter(|ixn| {
                self.db
                    .interactions
                    .get(ixn)
                    .is_some_and(|record| view.matches(&record.user_data))
            })
            .take(count as usize)
            .collect()
    }

    /// [`PlantedBug::PullIgnoresOwnership`]: every stored interaction of the queue is a candidate.
    pub(super) fn select_planted_any_owner(
        &self,
        queue: &str,
        view: &ViewConfig,
        count: u32,
    ) -> Vec<IxnId> {
        let mut keys: Vec<ViewKey> = self
            .db
            .interactions
            .values()
            .filter(|record| record.queue == queue && !self.in_flight.contains(&record.id))
            .filter(|record| view.matches(&record.user_data))
            .map(view_key)
            .collect();
        keys.sort();
        keys.into_iter()
            .take(count as usize)
            .map(|(_, _, ixn)| ixn)
            .collect()
    }

    /// [`PlantedBug::ViewIgnoresPriority`]: pullable interactions in submit order only.
    pub(super) fn select_planted_fifo(
        &self,
        queue: &str,
        view: &ViewConfig,
        count: u32,
    ) -> Vec<IxnId> {
        let Some(set) = self.available.get(queue) else {
            return Vec::new();
        };
        let mut keys: Vec<(u64, IxnId)> = set
            .iter()
            .filter(|(_, _, ixn)| {
                self.db
                    .interactions
                    .get(ixn)
                    .is_some_and(|r| view.matches(&r.user_data))
            })
            .map(|(_, seq, ixn)| (*seq, *ixn))
            .collect();
        keys.sort();
        keys.into_iter()
            .take(count as usize)
            .map(|(_, ixn)| ixn)
            .collect()
    }

    pub(super) fn view(&self, queue: &str, view: &str) -> Option<ViewConfig> {
        self.cfg
            .queue(queue)?
            .views
            .iter()
            .find(|candidate| candidate.name == view)
            .cloned()
    }
}
