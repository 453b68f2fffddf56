//! [S-INV-order] and the pull side of [S-INV-owner] ([S-IS-pull]'s "an owned interaction is
//! never returned to another puller"): every pull returns interactions that were pullable (not
//! owned, durable), and exactly the first ones of the view in view order. Judged per node
//! (database) from the facts of the host that speaks for it, against a model of its queues.

use super::nodes::Serving;
use super::owner::OWNER;
use super::{id_list, OracleInput, Violation};
use crate::trace::TraceEntry;
use ixsim_core::ids::IxnId;
use ixsim_core::is_node::ViewConfig;
use ixsim_core::kv::KvList;
use ixsim_core::trace::TraceEvent;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

pub const ORDER: &str = "S-INV-order";

pub fn pull_order(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut models: BTreeMap<u16, NodeModel> = BTreeMap::new();
    let mut serving = Serving::default();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let Some(node) = serving.observe(entry.host, &entry.event) else {
            continue;
        };
        let model = models.entry(node).or_default();
        model.observe(entry, &input.views, &mut violations);
    }
    violations
}

/// An interaction's place in view order: priority (highest first), then submit order.
type Key = (Reverse<i32>, u64, IxnId);

/// One node's queues as its facts tell.
#[derive(Default)]
struct NodeModel {
    /// Priority, seq, user data and current queue of every interaction the node stored.
    records: BTreeMap<IxnId, (i32, u64, KvList, String)>,
    available: BTreeMap<String, BTreeSet<Key>>,
}

impl NodeModel {
    fn key(&self, ixn: IxnId) -> Option<Key> {
        self.records
            .get(&ixn)
            .map(|(priority, seq, _, _)| (Reverse(*priority), *seq, ixn))
    }

    fn make_available(&mut self, ixn: IxnId, queue: &str) -> bool {
        let Some(key) = self.key(ixn) else {
            return false;
        };
        if let Some(record) = self.records.get_mut(&ixn) {
            record.3 = queue.to_string();
        }
        self.available
            .entry(queue.to_string())
            .or_default()
            .insert(key)
    }

    fn remove_available(&mut self, ixn: IxnId) {
        let Some(key) = self.key(ixn) else { return };
        for set in self.available.values_mut() {
            set.remove(&key);
        }
    }

    /// Follows one entry of the host speaking for the node; `views` are the views per queue.
    fn observe(
        &mut self,
        entry: &TraceEntry,
        views: &BTreeMap<String, Vec<ViewConfig>>,
        out: &mut Vec<Violation>,
    ) {
        match &entry.event {
            TraceEvent::NodeStarted { .. } => self.available.clear(),
            TraceEvent::Submitted {
                ixn,
                queue,
                priority,
                seq,
                user_data,
                ..
            } => {
                let record = (*priority, *seq, user_data.clone(), queue.clone());
                self.records.insert(*ixn, record);
            }
            TraceEvent::UserDataChanged { ixn, changes } => {
                if let Some(record) = self.records.get_mut(ixn) {
                    record.2.merge(changes);
                }
            }
            TraceEvent::Queued { ixn, queue } | TraceEvent::Released { ixn, queue, .. }
                if !self.make_available(*ixn, queue) =>
            {
                out.push(Violation {
                    oracle: OWNER,
                    at_ms: entry.at,
                    detail: format!("{ixn} queued in {queue} twice (or never submitted)"),
                });
            }
            TraceEvent::Loaded {
                ixn,
                queue,
                owner: None,
                ..
            } => {
                self.make_available(*ixn, queue);
            }
            TraceEvent::Placed { ixn, .. } | TraceEvent::RouteRequested { ixn, .. } => {
                self.remove_available(*ixn)
            }
            // The record stays: a stop that a crash cuts off before its write comes back.
            TraceEvent::Stopped { ixn } => self.remove_available(*ixn),
            TraceEvent::Pulled {
                client,
                queue,
                view,
                ixns,
            } => {
                let Some(view_cfg) = views
                    .get(queue)
                    .and_then(|views| views.iter().find(|v| &v.name == view))
                else {
                    return;
                };
                self.judge_pull(entry, view_cfg, (client, queue, view), ixns, out);
            }
            _ => {}
        }
    }

    /// `client` pulled `ixns` from `queue`/`view` (whose configuration is `view_cfg`).
    fn judge_pull(
        &mut self,
        entry: &TraceEntry,
        view_cfg: &ViewConfig,
        (client, queue, view): (&str, &str, &str),
        ixns: &[IxnId],
        out: &mut Vec<Violation>,
    ) {
        let expected = self.expected(queue, view_cfg, ixns.len());
        let mut all_pullable = true;
        for ixn in ixns {
            let pullable = self.key(*ixn).is_some_and(|key| {
                self.available
                    .get(queue)
                    .is_some_and(|set| set.contains(&key))
            });
            if !pullable {
                all_pullable = false;
                out.push(Violation {
                    oracle: OWNER,
                    at_ms: entry.at,
                    detail: format!("{client} pulled {ixn} from {queue}/{view} but it was owned, in flight or elsewhere"),
                });
            }
        }
        if all_pullable && expected != ixns {
            out.push(Violation {
                oracle: ORDER,
                at_ms: entry.at,
                detail: format!(
                    "{client} pulled {} from {queue}/{view}; view order says {}",
                    id_list(ixns),
                    id_list(&expected)
                ),
            });
        }
        for ixn in ixns {
            self.remove_available(*ixn);
        }
    }

    /// The first `count` interactions available in `queue` that `view_cfg` matches, in view
    /// order.
    fn expected(&self, queue: &str, view_cfg: &ViewConfig, count: usize) -> Vec<IxnId> {
        self.available
            .get(queue)
            .map(|set| {
                set.iter()
                    .map(|(_, _, ixn)| *ixn)
                    .filter(|ixn| {
                        self.records
                            .get(ixn)
                            .is_some_and(|r| view_cfg.matches(&r.2))
                    })
                    .take(count)
                    .collect()
            })
            .unwrap_or_default()
    }
}
