//! The ids this machine issues for its own timers and durable writes, and what each armed timer
//! is for. Kept on its own, free of ORS concepts, so that the clients (which keep the same
//! counters by hand) can share it later.
//!
//! Must not: issue an id twice: a late timer or write acknowledgement must never be taken for
//! a newer one.

use crate::ids::SimTime;
use crate::machine::{Output, TimerId, WriteId};
use std::collections::BTreeMap;

/// Timers a machine arms on behalf of its parts, each with what it is for (`T`).
pub(crate) struct Timers<T> {
    next: u64,
    armed: BTreeMap<TimerId, T>,
}

impl<T> Timers<T> {
    /// Ids from `first` up: those below are the machine's fixed timers (`TICK_TIMER`).
    pub(crate) fn starting_at(first: u64) -> Self {
        Timers {
            next: first,
            armed: BTreeMap::new(),
        }
    }

    /// Arms a new timer for `what`, due at `at`.
    pub(crate) fn set(&mut self, at: SimTime, what: T, out: &mut Vec<Output>) -> TimerId {
        let id = TimerId(self.next);
        self.next += 1;
        let earlier = self.armed.insert(id, what);
        debug_assert!(earlier.is_none(), "timer id {} issued twice", id.0);
        out.push(Output::SetTimer(id, at));
        id
    }

    /// Timer `id` fired: what it was for, unless it was forgotten meanwhile.
    pub(crate) fn fired(&mut self, id: TimerId) -> Option<T> {
        self.armed.remove(&id)
    }

    /// Forgets the timers whose purpose `keep` rejects; when one fires it finds nothing.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.armed.retain(|_, what| keep(what));
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (TimerId, &T)> {
        self.armed.iter().map(|(id, what)| (*id, what))
    }

    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

/// Ids of durable writes, issued in order.
pub(crate) struct WriteIds {
    next: u64,
}

impl WriteIds {
    /// Ids from `first` up.
    pub(crate) fn starting_at(first: u64) -> Self {
        WriteIds { next: first }
    }

    pub(crate) fn issue(&mut self) -> WriteId {
        let id = WriteId(self.next);
        self.next += 1;
        id
    }
}
