//! The `pull_order_inversions` statistic [S-PX-fifo]: how often a pull returned an interaction
//! while an older (or higher-priority) one of the same queue and view waited on another node.
//!
//! Within one node, view order is an oracle ([S-INV-order]); across nodes it is the documented
//! limitation of the proxy's round-robin pulls (seed 002: "the order as seen by the client may
//! not be correct"), so it is measured, not enforced. The cluster-wide order is priority
//! descending, then submit time ascending (the nodes' submit sequences are not comparable).
//!
//! Rebuilt from the trace alone: which interactions wait on which node (queued, released,
//! loaded unowned; no longer once pulled, placed elsewhere or stopped), with their priority,
//! submit time and user data.

use crate::trace::Trace;
use ixsim_core::ids::{IxnId, SimTime};
use ixsim_core::is_node::ViewConfig;
use ixsim_core::kv::KvList;
use ixsim_core::trace::TraceEvent;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

struct Record {
    node: u16,
    queue: String,
    priority: i32,
    submitted_at: SimTime,
    user_data: KvList,
}

/// Counts inverted items over every pull in `trace`. `views` gives each queue's views.
pub fn inversions(trace: &Trace, views: &BTreeMap<String, Vec<ViewConfig>>) -> u64 {
    // Trace host -> node index (both members of a pair map to the pair's node).
    let mut node_of_host: BTreeMap<u16, u16> = BTreeMap::new();
    let mut records: BTreeMap<IxnId, Record> = BTreeMap::new();
    let mut waiting: BTreeSet<IxnId> = BTreeSet::new();
    let mut count = 0;
    for entry in &trace.entries {
        let node = node_of_host.get(&entry.host).copied();
        match &entry.event {
            TraceEvent::NodeStarted { node: index, .. } => {
                node_of_host.insert(entry.host, *index);
                // A (re)started node's waiting items are announced again by `Loaded`.
                waiting.retain(|ixn| records.get(ixn).is_some_and(|r| r.node != *index));
            }
            TraceEvent::Submitted {
                ixn,
                queue,
                priority,
                user_data,
                ..
            } => {
                records.insert(
                    *ixn,
                    Record {
                        node: node.unwrap_or(u16::MAX),
                        queue: queue.clone(),
                        priority: *priority,
                        submitted_at: entry.at,
                        user_data: user_data.clone(),
                    },
                );
            }
            TraceEvent::UserDataChanged { ixn, changes } => {
                if let Some(record) = records.get_mut(ixn) {
                    record.user_data.merge(changes);
                }
            }
            TraceEvent::Queued { ixn, queue }
            | TraceEvent::Released { ixn, queue, .. }
            | TraceEvent::Loaded {
                ixn,
                queue,
                owner: None,
                ..
            } => {
                if let Some(record) = records.get_mut(ixn) {
                    record.queue = queue.clone();
                    waiting.insert(*ixn);
                }
            }
            TraceEvent::Placed { ixn, .. } | TraceEvent::Stopped { ixn } => {
                waiting.remove(ixn);
            }
            TraceEvent::Pulled { ixns, .. } => {
                for ixn in ixns {
                    waiting.remove(ixn);
                }
            }
            // Judged on the client's answer: an ordered pull takes from several nodes, and the
            // client sees one merged answer.
            TraceEvent::ProxyPulled {
                queue, view, ixns, ..
            } => {
                let Some(view) = views
                    .get(queue)
                    .and_then(|list| list.iter().find(|v| &v.name == view))
                else {
                    continue;
                };
                let rank = |r: &Record| (Reverse(r.priority), r.submitted_at);
                for ixn in ixns {
                    let Some(record) = records.get(ixn) else {
                        continue;
                    };
                    let inverted = waiting.iter().filter(|j| !ixns.contains(j)).any(|j| {
                        records.get(j).is_some_and(|other| {
                            other.node != record.node
                                && other.queue == *queue
                                && view.matches(&other.user_data)
                                && rank(other) < rank(record)
                        })
                    });
                    if inverted {
                        count += 1;
                    }
                }
            }
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use ixsim_core::ids::TenantId;

    fn submitted(ixn: u64, priority: i32) -> TraceEvent {
        TraceEvent::Submitted {
            ixn: IxnId(ixn),
            tenant: TenantId(1),
            queue: "q".into(),
            priority,
            seq: ixn,
            user_data: KvList::new(),
        }
    }

    fn queued(ixn: u64) -> TraceEvent {
        TraceEvent::Queued {
            ixn: IxnId(ixn),
            queue: "q".into(),
        }
    }

    fn pulled(ixns: &[u64]) -> TraceEvent {
        TraceEvent::Pulled {
            client: "router".into(),
            queue: "q".into(),
            view: "all".into(),
            ixns: ixns.iter().copied().map(IxnId).collect(),
        }
    }

    fn answered(ixns: &[u64]) -> TraceEvent {
        TraceEvent::ProxyPulled {
            client: "router".into(),
            queue: "q".into(),
            view: "all".into(),
            ixns: ixns.iter().copied().map(IxnId).collect(),
        }
    }

    /// [S-PX-fifo]: node 2's newer item pulled while node 1's older one waits is one inversion;
    /// a higher priority item is not inverted by an older low-priority one.
    #[test]
    fn counts_items_returned_while_better_ones_wait_elsewhere() {
        let mut trace = Trace::new(vec!["is1".into(), "is2".into(), "proxy1".into()]);
        let started = |node| TraceEvent::NodeStarted {
            node,
            interactions: 0,
        };
        trace.push(0, 0, started(1));
        trace.push(0, 1, started(2));
        trace.push(1, 0, submitted(1, 0));
        trace.push(1, 0, queued(1));
        trace.push(2, 1, submitted(2, 0));
        trace.push(2, 1, queued(2));
        trace.push(3, 1, submitted(3, 5));
        trace.push(3, 1, queued(3));
        let views = BTreeMap::from([(
            "q".to_string(),
            vec![ViewConfig {
                name: "all".into(),
                condition: None,
            }],
        )]);
        // Node 2 returns its priority-5 item: nothing better waits on node 1.
        trace.push(4, 1, pulled(&[3]));
        trace.push(4, 2, answered(&[3]));
        assert_eq!(inversions(&trace, &views), 0);
        // Node 2 returns item 2 while older item 1 waits on node 1: one inversion.
        trace.push(5, 1, pulled(&[2]));
        trace.push(5, 2, answered(&[2]));
        assert_eq!(inversions(&trace, &views), 1);
        // Node 1 returns item 1: nothing waits elsewhere any more.
        trace.push(6, 0, pulled(&[1]));
        trace.push(6, 2, answered(&[1]));
        assert_eq!(inversions(&trace, &views), 1);
    }
}
