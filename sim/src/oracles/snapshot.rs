//! What fan-outs return [S-IS-snapshot] [S-PX-merge]: a reporting client's snapshots through
//! the proxy (`snapshot-seen`, traced by the prober), judged on every run that has them:
//!
//! - [S-IS-snapshot]: each node contributes at most `max-interactions-per-snapshot` (and at
//!   most what was asked); an item's node is the node that traced its `submitted`.
//! - [S-PX-merge]: the merged answer holds at most that times the number of nodes, and no
//!   interaction twice, unless two nodes hold one client-supplied id (the [S-PX-2005] hazard;
//!   merged order is not guaranteed, so none is asked for).
//! - Both: every item is an interaction of the asked queue that exists: submitted before the
//!   answer, last submitted or placed into that queue before it, and not stopped before the
//!   step was due (a stop the node then lost to a crash, `loaded` again after it, counts as
//!   undone).

use super::{OracleInput, Violation};
use ixsim_core::ids::{IxnId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const IS_SNAPSHOT: &str = "S-IS-snapshot";
pub const PX_MERGE: &str = "S-PX-merge";

/// What the snapshot oracle needs of the scenario.
#[derive(Clone, Debug, Default)]
pub struct SnapshotRules {
    /// `max-interactions-per-snapshot` of every node.
    pub per_node: u32,
    pub nodes: u16,
}

#[derive(Default)]
struct Known {
    /// Node indexes that took a submit of it: two with one client-supplied id, the documented
    /// hazard of [S-PX-2005] (each node then holds its own interaction under that id).
    nodes: BTreeSet<u16>,
    /// Queues it was submitted or placed into, with when.
    queues: Vec<(SimTime, String)>,
    stopped_at: Option<SimTime>,
}

pub fn snapshots(input: &OracleInput<'_>, rules: &SnapshotRules) -> Vec<Violation> {
    let trace = input.trace;
    let mut violations = Vec::new();
    let mut node_of_host: BTreeMap<u16, u16> = BTreeMap::new();
    let mut known: BTreeMap<IxnId, Known> = BTreeMap::new();
    for entry in &trace.entries {
        let mut fail = |oracle: &'static str, detail: String| {
            violations.push(Violation {
                oracle,
                at_ms: entry.at,
                detail,
            })
        };
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                node_of_host.insert(entry.host, *node);
            }
            TraceEvent::Submitted { ixn, queue, .. } => {
                let record = known.entry(*ixn).or_default();
                record.nodes.extend(node_of_host.get(&entry.host).copied());
                record.queues.push((entry.at, queue.clone()));
                record.stopped_at = None;
            }
            TraceEvent::Placed { ixn, queue } => {
                known
                    .entry(*ixn)
                    .or_default()
                    .queues
                    .push((entry.at, queue.clone()));
            }
            TraceEvent::Stopped { ixn } => {
                if let Some(record) = known.get_mut(ixn) {
                    record.stopped_at = Some(entry.at);
                }
            }
            TraceEvent::Loaded { ixn, .. } => {
                if let Some(record) = known.get_mut(ixn) {
                    record.stopped_at = None;
                }
            }
            TraceEvent::SnapshotSeen {
                queue,
                view,
                max,
                asked_at_ms,
                ixns,
            } => {
                let each = (*max).min(rules.per_node);
                let most = u64::from(each) * u64::from(rules.nodes);
                if ixns.len() as u64 > most {
                    fail(
                        PX_MERGE,
                        format!(
                            "a snapshot of {queue}/{view} asking {max} returned {} items, more than {each} from each of {} nodes",
                            ixns.len(),
                            rules.nodes
                        ),
                    );
                }
                let mut times: BTreeMap<&IxnId, usize> = BTreeMap::new();
                for ixn in ixns {
                    *times.entry(ixn).or_default() += 1;
                }
                for (ixn, count) in times {
                    let holders = known.get(ixn).map_or(1, |record| record.nodes.len().max(1));
                    if count > holders {
                        fail(
                            PX_MERGE,
                            format!(
                                "a snapshot of {queue}/{view} returned {ixn} {count} times ({holders} node(s) hold it)"
                            ),
                        );
                    }
                }
                let mut per_node: BTreeMap<u16, u32> = BTreeMap::new();
                for ixn in ixns {
                    let Some(record) = known.get(ixn) else {
                        fail(
                            IS_SNAPSHOT,
                            format!("a snapshot of {queue}/{view} returned {ixn}, never submitted"),
                        );
                        continue;
                    };
                    if let (Some(node), 1) = (record.nodes.first(), record.nodes.len()) {
                        *per_node.entry(*node).or_default() += 1;
                    }
                    if record.queues.last().is_some_and(|(_, last)| last != queue) {
                        fail(
                            IS_SNAPSHOT,
                            format!(
                                "a snapshot of {queue}/{view} returned {ixn}, which is in {}",
                                record.queues.last().map(|(_, q)| q.as_str()).unwrap_or("?")
                            ),
                        );
                    }
                    if record.stopped_at.is_some_and(|at| at < *asked_at_ms) {
                        fail(
                            IS_SNAPSHOT,
                            format!(
                                "a snapshot of {queue}/{view} due at {asked_at_ms} ms returned {ixn}, stopped at {} ms",
                                record.stopped_at.unwrap_or(0)
                            ),
                        );
                    }
                }
                for (node, count) in per_node {
                    if count > each {
                        fail(
                            IS_SNAPSHOT,
                            format!(
                                "node {node} put {count} items into a snapshot of {queue}/{view}, more than its {each} (max {max}, max-interactions-per-snapshot {})",
                                rules.per_node
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    violations
}
