//! [S-IS-durable]: a (re)started or promoted node loads every acknowledged interaction of its
//! database that nobody has stopped, keeps owned what an agent holds, and loads none whose
//! completion an agent saw acknowledged. (One whose stop was still on its way to the database
//! may come back or not: both are correct.) Judged at every `node-started`, against the
//! `loaded` facts that follow it in the same step.

use super::completion::Lives;
use super::nodes::Serving;
use super::{OracleInput, Violation};
use crate::trace::TraceEntry;
use ixsim_core::ids::IxnId;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const DURABLE: &str = "S-IS-durable";

pub fn durable(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut durable = Durable::default();
    let entries = &input.trace.entries;
    for (index, entry) in entries.iter().enumerate() {
        durable.observe(entry, &entries[index + 1..]);
    }
    durable.violations
}

/// The oracle's state over the trace.
#[derive(Default)]
struct Durable {
    acked: BTreeSet<IxnId>,
    completed: BTreeSet<IxnId>,
    stopping: BTreeSet<IxnId>,
    /// Interactions in an agent's hands, with the host of the desktop holding them.
    held: BTreeMap<IxnId, u16>,
    /// The node (database) each interaction was last submitted to.
    node_of: BTreeMap<IxnId, u16>,
    serving: Serving,
    lives: Lives,
    violations: Vec<Violation>,
}

impl Durable {
    /// Follows `entry`; `after` are the entries that follow it.
    fn observe(&mut self, entry: &TraceEntry, after: &[TraceEntry]) {
        let speaks = self.serving.observe(entry.host, &entry.event);
        self.lives.observe(&entry.event);
        match &entry.event {
            TraceEvent::SubmitAcked { ixn } => {
                self.acked.insert(*ixn);
            }
            TraceEvent::AgentTook { ixn, .. } => {
                self.held.insert(*ixn, entry.host);
            }
            TraceEvent::AgentCompleted { ixn, .. } => {
                if self.lives.completes_current(*ixn) {
                    self.completed.insert(*ixn);
                }
                self.held.remove(ixn);
            }
            TraceEvent::AgentDropped { ixn, .. } => {
                self.held.remove(ixn);
            }
            TraceEvent::ProcessKilled => self.held.retain(|_, host| *host != entry.host),
            TraceEvent::Stopped { ixn } => {
                self.stopping.insert(*ixn);
            }
            // A media server resubmitted an id after it was completed (its mailbox removal was
            // cut off by a crash): a new life of the interaction, held to the rules afresh.
            TraceEvent::Submitted { ixn, .. } => {
                self.completed.remove(ixn);
                self.stopping.remove(ixn);
                if let Some(node) = speaks {
                    self.node_of.insert(*ixn, node);
                }
            }
            TraceEvent::NodeStarted { node, .. } => self.node_started(entry, *node, after),
            _ => {}
        }
    }

    /// Node `node` started on the entry's host; what it loaded are the `loaded` facts of the
    /// same host and time right `after` it.
    fn node_started(&mut self, entry: &TraceEntry, node: u16, after: &[TraceEntry]) {
        // Interaction -> loaded owned?
        let loaded: BTreeMap<IxnId, bool> = after
            .iter()
            .take_while(|next| next.host == entry.host && next.at == entry.at)
            .filter_map(|next| match &next.event {
                TraceEvent::Loaded { ixn, owner, .. } => Some((*ixn, owner.is_some())),
                _ => None,
            })
            .collect();
        let mut problems = Vec::new();
        for ixn in self.acked.difference(&self.completed) {
            let here = self.node_of.get(ixn) == Some(&node);
            if here && !loaded.contains_key(ixn) && !self.stopping.contains(ixn) {
                problems.push(format!(
                    "{ixn} was acknowledged but the restarted node did not load it"
                ));
            }
        }
        for ixn in self.held.keys() {
            if loaded.get(ixn) == Some(&false) {
                problems.push(format!(
                    "{ixn} is in an agent's hands but the restarted node loaded it unowned"
                ));
            }
        }
        self.stopping.retain(|ixn| !loaded.contains_key(ixn));
        for ixn in loaded.keys().filter(|ixn| self.completed.contains(ixn)) {
            problems.push(format!(
                "{ixn} was completed but the restarted node loaded it again"
            ));
        }
        let at_ms = entry.at;
        self.violations
            .extend(problems.into_iter().map(|detail| Violation {
                oracle: DURABLE,
                at_ms,
                detail,
            }));
    }
}
