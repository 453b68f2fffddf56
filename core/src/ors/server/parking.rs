//! Passive interactions [S-ORS-fail]: one redirected while its session keeps the association
//! waits in a queue, parked. With `om-memory-optimization` the oldest parked ones beyond
//! `om-max-in-memory` (or each at once, with `om-delete-from-memory`) are evicted: the server
//! forgets the association, which the interaction's user data still records, and reloads it
//! when the interaction is pulled again.
//!
//! Must not: lose an evicted interaction (it is reloaded with its session, never left without
//! one), or keep more parked interactions in memory than the options allow.

use super::OrsServer;
use crate::ids::IxnId;
use crate::machine::Output;
use crate::protocol::IxnInfo;

impl OrsServer {
    /// How many parked interactions stay in memory.
    fn parked_limit(&self) -> usize {
        if self.cfg.om_delete_from_memory {
            0
        } else {
            self.cfg.om_max_in_memory as usize
        }
    }

    /// `ixn` waits in a queue, still associated with its session: a passive interaction.
    pub(super) fn park(&mut self, ixn: IxnId, out: &mut Vec<Output>) {
        if !self.cfg.om_memory_optimization {
            return;
        }
        self.parks += 1;
        self.parked.insert(ixn, self.parks);
        let limit = self.parked_limit();
        while self.parked.len() > limit {
            let Some((&oldest, _)) = self.parked.iter().min_by_key(|(_, at)| **at) else {
                break;
            };
            self.parked.remove(&oldest);
            if let Some(session) = self.assoc.forget(oldest) {
                self.trace(session, oldest, "evicted", out);
                self.evicted.insert(oldest, session);
            }
        }
        debug_assert!(self.parked.len() <= limit, "parked past the limit");
    }

    /// Reloads an evicted passive interaction that was taken again: its user data names its
    /// session.
    pub(super) fn reload(&mut self, item: &IxnInfo, out: &mut Vec<Output>) {
        if let Some(session) = self.recorded_session(item) {
            self.assoc.restore(item.id, session);
            self.trace(session, item.id, "reloaded", out);
        }
    }

    /// Parked interactions no session is associated with any more (it ended) are not passive:
    /// nothing reloads them.
    pub(super) fn unpark_unassociated(&mut self) {
        let gone: Vec<IxnId> = self
            .parked
            .keys()
            .filter(|ixn| self.assoc.session_of(**ixn).is_none())
            .copied()
            .collect();
        for ixn in gone {
            self.parked.remove(&ixn);
        }
    }

    /// No more parked interactions in memory than the options allow.
    pub(super) fn check_parked_limit(&self) -> Result<(), String> {
        if self.parked.len() > self.parked_limit() {
            return Err(format!(
                "{} parked interactions in memory, more than {}",
                self.parked.len(),
                self.parked_limit()
            ));
        }
        Ok(())
    }
}
