//! Never dropped [S-ORS-fail]: an interaction no session holds (its session ended, or could not
//! be created: `mcr-queue-on-fails`) is placed in a queue, and a placement that did not get
//! through is tried again until the node takes it.
//!
//! Must not: place an interaction a live session holds (it would be pulled from under it).

use super::node::Sent;
use super::{OrsBug, OrsServer};
use crate::ids::{IxnId, SimTime};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{Field, Request};

impl OrsServer {
    /// Puts an interaction no session holds into `queue`; a failed placement is tried again on
    /// the next tick (an interaction owned with nobody to process it would be stuck).
    pub(super) fn place_back(
        &mut self,
        now: SimTime,
        ixn: IxnId,
        queue: String,
        out: &mut Vec<Output>,
    ) {
        let request = Request::PlaceInQueue {
            ixn: Field::Value(ixn),
            queue: queue.clone(),
        };
        self.send(now, request, Sent::Placement(ixn, queue), 0, out);
    }

    /// The node's answer to a placement: done, the interaction is not this server's any more.
    pub(super) fn on_placed(&mut self, ixn: IxnId, queue: String, ok: bool) {
        if ok {
            self.owned.remove(&ixn);
        } else if self.owned.contains_key(&ixn) {
            self.to_place.push((ixn, queue));
        }
    }

    /// Placements that did not get through are tried again (registered again). A placement is
    /// only ever of an interaction no live session holds (see `on_delivery_outcome`), so no
    /// session can have delivered it again meanwhile.
    pub(super) fn retry_placements(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for (ixn, queue) in std::mem::take(&mut self.to_place) {
            if self.owned.contains_key(&ixn) {
                self.place_back(now, ixn, queue, out);
            }
        }
    }

    /// No session could be created for `ixn` (taken from `queue`): it goes to the
    /// `mcr-queue-on-fails` queue, or back to `queue`.
    pub(super) fn place_on_fail(
        &mut self,
        now: SimTime,
        queue: &str,
        ixn: IxnId,
        out: &mut Vec<Output>,
    ) {
        let to = match (&self.cfg.queue_on_fails, self.cfg.planted_bug) {
            (Some(to), bug) if bug != Some(OrsBug::FailsToOriginQueue) => to.clone(),
            _ => queue.to_string(),
        };
        mark(Mark::OrsQueuedOnFail, out);
        self.trace(0, ixn, &format!("session-failed to={to}"), out);
        self.place_back(now, ixn, to, out);
    }
}
