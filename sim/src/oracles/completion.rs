//! What the trace says became of the acknowledged interactions, shared by [S-INV-lost]
//! (`lost.rs`), [S-INV-live] (`live.rs`) and [S-IS-durable] (`durable.rs`): which were
//! acknowledged, which completed, and which life of an interaction id an agent's completion
//! ends. It judges nothing itself.

use super::OracleInput;
use ixsim_core::ids::{IxnId, SimTime};
use ixsim_core::trace::{ReleaseReason, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};

/// The lives of each interaction id: a media server may submit an id again after its first
/// life was stopped (its submit answer was lost), and an agent's completion of the first life
/// can reach the trace after the second began. A completion counts for the life the agent took.
#[derive(Default)]
pub(super) struct Lives {
    /// How many times each id was submitted (and taken in).
    current: BTreeMap<IxnId, u32>,
    /// The life each agent-held id was taken in.
    taken_in: BTreeMap<IxnId, u32>,
}

impl Lives {
    pub(super) fn observe(&mut self, event: &TraceEvent) {
        match event {
            TraceEvent::Submitted { ixn, .. } => *self.current.entry(*ixn).or_default() += 1,
            TraceEvent::AgentTook { ixn, .. } => {
                let life = self.current.get(ixn).copied().unwrap_or(0);
                self.taken_in.insert(*ixn, life);
            }
            _ => {}
        }
    }

    /// The life `ixn` is in now: how many times it was submitted (0 before the first).
    pub(super) fn current(&self, ixn: IxnId) -> u32 {
        self.current.get(&ixn).copied().unwrap_or(0)
    }

    /// Does an agent's completion of `ixn` end its current life (not an earlier one)?
    pub(super) fn completes_current(&self, ixn: IxnId) -> bool {
        self.taken_in.get(&ixn).copied().unwrap_or(0)
            == self.current.get(&ixn).copied().unwrap_or(0)
    }
}

/// What became of the acknowledged interactions by the end of the run ([S-INV-lost],
/// [S-INV-live]).
pub(super) struct Completion {
    /// Every acknowledged interaction, with when it was first acknowledged.
    pub(super) acked: BTreeMap<IxnId, SimTime>,
    /// Those completed and not brought back since.
    pub(super) completed: BTreeSet<IxnId>,
    /// When the last fault (or heal, or fault point inside a server) was applied.
    pub(super) last_fault: SimTime,
    /// When a node last took each interaction back from an owner that was gone for its whole
    /// grace period: until then it was legitimately held for that owner [S-IS-owner].
    pub(super) freed_at: BTreeMap<IxnId, SimTime>,
}

impl Completion {
    pub(super) fn of(input: &OracleInput<'_>) -> Self {
        let mut completion = Completion {
            acked: BTreeMap::new(),
            completed: BTreeSet::new(),
            last_fault: 0,
            freed_at: BTreeMap::new(),
        };
        let mut lives = Lives::default();
        for entry in &input.trace.entries {
            lives.observe(&entry.event);
            match &entry.event {
                // A fault point inside a server is a fault too (they fall silent at the last
                // heal when liveness is judged).
                TraceEvent::Fault { .. } | TraceEvent::Buggify { .. } => {
                    completion.last_fault = entry.at;
                }
                TraceEvent::SubmitAcked { ixn } => {
                    completion.acked.entry(*ixn).or_insert(entry.at);
                }
                // The agent may not have seen the acknowledgement before the run ended; the
                // node's record that the owner stopped it is the completion, unless a restart
                // brought the interaction back (the stop never reached the database).
                TraceEvent::AgentCompleted { ixn, .. } if !lives.completes_current(*ixn) => {}
                TraceEvent::AgentCompleted { ixn, .. } | TraceEvent::Stopped { ixn } => {
                    completion.completed.insert(*ixn);
                }
                TraceEvent::Released { ixn, reason, .. } => {
                    completion.completed.remove(ixn);
                    if *reason == ReleaseReason::OwnerGone {
                        completion.freed_at.insert(*ixn, entry.at);
                    }
                }
                TraceEvent::Queued { ixn, .. } => {
                    completion.completed.remove(ixn);
                }
                _ => {}
            }
        }
        completion
    }
}
