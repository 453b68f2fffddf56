//! The direct runner's event queue: events pop in time order; events at one microsecond pop
//! by class, then within a class by a fixed key or in the order they were queued.
//!
//! Why not simply (time, order queued): a host's wake carries no news of its own (the host
//! asks to be woken when its next timer or commit is due), so when it was queued says nothing
//! about the run. Keying wakes by host instead makes the order of what happens at one instant
//! independent of when each host asked to be woken, which lets a host skip polls that would
//! do nothing ([`crate::host::HostDriver`]'s idle ticks) without moving anything else: the
//! same run, polls skipped or not, gives the same trace.
//!
//! A binary heap rather than a `BTreeMap`: the queue only ever pushes and pops the earliest,
//! which a heap does without rebalancing a tree (the map's `pop_first` was 4-5% of a run).

use super::net::Micros;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Where an event goes among those at its microsecond: by `class` first, then by `key` when
/// one is given, else in the order queued.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tie {
    pub class: u8,
    pub key: Option<u64>,
}

/// One queued event, ordered by its key alone.
struct Due<E> {
    key: Reverse<(Micros, u8, u64)>,
    event: E,
}

impl<E> PartialEq for Due<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Due<E> {}

impl<E> PartialOrd for Due<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Due<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

pub(super) struct EventQueue<E> {
    heap: BinaryHeap<Due<E>>,
    seq: u64,
}

impl<E> EventQueue<E> {
    pub(super) fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Queues `event` at `at`, placed among the events of that microsecond by `tie`. Two
    /// events with the same time, class and fixed key must be interchangeable: which pops
    /// first is then up to the heap.
    pub(super) fn push(&mut self, at: Micros, tie: Tie, event: E) {
        let key = tie.key.unwrap_or_else(|| {
            self.seq += 1;
            self.seq
        });
        self.heap.push(Due {
            key: Reverse((at, tie.class, key)),
            event,
        });
    }

    /// The earliest event and its time.
    pub(super) fn pop(&mut self) -> Option<(Micros, E)> {
        self.heap.pop().map(|due| (due.key.0 .0, due.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUED: Tie = Tie {
        class: 1,
        key: None,
    };

    /// Earliest first; at one time, in the order queued.
    #[test]
    fn pops_by_time_then_by_order_queued() {
        let mut queue = EventQueue::new();
        for (at, name) in [(5, "a"), (1, "b"), (5, "c"), (0, "d"), (1, "e"), (5, "f")] {
            queue.push(at, QUEUED, name);
        }
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            [(0, "d"), (1, "b"), (1, "e"), (5, "a"), (5, "c"), (5, "f")]
        );
    }

    /// At one time: a lower class first, whenever queued; in a class, a fixed key orders
    /// whatever the order queued.
    #[test]
    fn pops_by_class_then_by_fixed_key() {
        let mut queue = EventQueue::new();
        let fixed = |key| Tie {
            class: 0,
            key: Some(key),
        };
        queue.push(7, QUEUED, "late class");
        queue.push(7, fixed(9), "key 9");
        queue.push(7, fixed(2), "key 2");
        queue.push(3, QUEUED, "earlier");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["earlier", "key 2", "key 9", "late class"]);
    }
}
