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
//! - Split brain: a primary that a successor has deposed serves its connections until it
//!   hears of it and fences itself. A stop it carries out in that time is not the node's (the
//!   successor loaded the interaction before it, and a client's stop fails over to the
//!   successor), so it is not counted; and while two hosts of a pair serve, or in the step
//!   that spans it, an answer may come from either, so a stop does not rule an item out.
//!
//! Finds (RequestFindInteractions through the proxy, `found-seen`, traced by the prober)
//! [S-PX-merge]:
//!
//! - each node contributes at most the `max` asked, the merged answer at most that times the
//!   nodes of the tenant, no interaction twice (the same exception);
//! - every item is an interaction of the tenant, submitted before the answer, not stopped
//!   before the step was due, whose user data held `key` = `equals` at some time (at its
//!   submit or through a change);
//! - nothing is missing: a node that contributed fewer than `max` items contributed every
//!   interaction it held that matched for sure: submitted to it and acknowledged before the
//!   step was due, with `key` = `equals` at submit and never changed, never stopped, and
//!   with no process start or end on the node's pair since its submit (a deposed primary
//!   that has not heard of its successor answers from what it had, and the oracle cannot
//!   tell which host of the pair answered).

use super::{OracleInput, Violation};
use ixsim_core::ids::{IxnId, SimTime, TenantId};
use ixsim_core::kv::{KvList, KvValue};
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
    /// The tenants each node serves, node 1 first (finds go to the tenant's nodes).
    pub node_tenants: Vec<Vec<TenantId>>,
}

#[derive(Default)]
struct Known {
    /// Node indexes that took a submit of it: two with one client-supplied id, the documented
    /// hazard of [S-PX-2005] (each node then holds its own interaction under that id).
    nodes: BTreeSet<u16>,
    /// Queues it was submitted or placed into, with when.
    queues: Vec<(SimTime, String)>,
    stopped_at: Option<SimTime>,
    tenant: Option<TenantId>,
    /// Its last submit, with the user data it carried.
    submitted: Option<(SimTime, KvList)>,
    /// Its user-data changes, in order.
    changes: Vec<KvList>,
    acked_at: Option<SimTime>,
    /// Ever stopped, even if a crash undid the stop.
    ever_stopped: bool,
}

/// Might a deposed primary of `node` have answered a step due at `asked` and answered now?
fn split_during(
    node: u16,
    asked: SimTime,
    serving_hosts: &BTreeMap<u16, Vec<u16>>,
    split_ended: &BTreeMap<u16, SimTime>,
) -> bool {
    serving_hosts
        .get(&node)
        .is_some_and(|hosts| hosts.len() >= 2)
        || split_ended.get(&node).is_some_and(|ended| *ended >= asked)
}

/// How many times each interaction is in an answer.
fn times(ixns: &[IxnId]) -> BTreeMap<&IxnId, usize> {
    let mut times = BTreeMap::new();
    for ixn in ixns {
        *times.entry(ixn).or_default() += 1;
    }
    times
}

impl Known {
    /// Did its user data hold `key` = `equals` at some time?
    fn ever_matched(&self, key: &str, equals: &KvValue) -> bool {
        let submitted = self.submitted.as_ref().map(|(_, data)| data);
        submitted
            .into_iter()
            .chain(&self.changes)
            .any(|data| data.get(key) == Some(equals))
    }

    /// Does its user data hold `key` = `equals` for sure (from its submit, never changed)?
    fn surely_matches(&self, key: &str, equals: &KvValue) -> bool {
        self.submitted
            .as_ref()
            .is_some_and(|(_, data)| data.get(key) == Some(equals))
            && self.changes.iter().all(|data| data.get(key).is_none())
    }
}

pub fn snapshots(input: &OracleInput<'_>, rules: &SnapshotRules) -> Vec<Violation> {
    let trace = input.trace;
    let mut violations = Vec::new();
    let mut node_of_host: BTreeMap<u16, u16> = BTreeMap::new();
    let mut known: BTreeMap<IxnId, Known> = BTreeMap::new();
    // Node -> the last process start or end on its pair.
    let mut changed: BTreeMap<u16, SimTime> = BTreeMap::new();
    // Node -> the hosts serving it as primary, latest last (two while a deposed one has not
    // fenced itself).
    let mut serving_hosts: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    // Node -> when it last stopped having two primaries.
    let mut split_ended: BTreeMap<u16, SimTime> = BTreeMap::new();
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
                changed.insert(*node, entry.at);
                let hosts = serving_hosts.entry(*node).or_default();
                hosts.retain(|host| *host != entry.host);
                hosts.push(entry.host);
            }
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                if let Some(node) = node_of_host.get(&entry.host) {
                    changed.insert(*node, entry.at);
                    let hosts = serving_hosts.entry(*node).or_default();
                    if hosts.len() >= 2 && hosts.contains(&entry.host) {
                        split_ended.insert(*node, entry.at);
                    }
                    hosts.retain(|host| *host != entry.host);
                }
            }
            TraceEvent::Submitted {
                ixn,
                queue,
                tenant,
                user_data,
                ..
            } => {
                let record = known.entry(*ixn).or_default();
                record.nodes.extend(node_of_host.get(&entry.host).copied());
                record.queues.push((entry.at, queue.clone()));
                record.stopped_at = None;
                record.tenant = Some(*tenant);
                record.submitted = Some((entry.at, user_data.clone()));
            }
            TraceEvent::SubmitAcked { ixn } => {
                if let Some(record) = known.get_mut(ixn) {
                    record.acked_at.get_or_insert(entry.at);
                }
            }
            TraceEvent::UserDataChanged { ixn, changes } => {
                if let Some(record) = known.get_mut(ixn) {
                    record.changes.push(changes.clone());
                }
            }
            TraceEvent::Placed { ixn, queue } => {
                known
                    .entry(*ixn)
                    .or_default()
                    .queues
                    .push((entry.at, queue.clone()));
            }
            TraceEvent::Stopped { ixn } => {
                // A deposed primary's stop: the successor still holds the interaction.
                let deposed = node_of_host.get(&entry.host).is_some_and(|node| {
                    serving_hosts
                        .get(node)
                        .and_then(|hosts| hosts.last())
                        .is_some_and(|latest| *latest != entry.host)
                });
                if let Some(record) = known.get_mut(ixn) {
                    if !deposed {
                        record.stopped_at = Some(entry.at);
                    }
                    record.ever_stopped = true;
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
                let times = times(ixns);
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
                    if record.stopped_at.is_some_and(|at| at < *asked_at_ms)
                        && !record.nodes.iter().any(|node| {
                            split_during(*node, *asked_at_ms, &serving_hosts, &split_ended)
                        })
                    {
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
            TraceEvent::FoundSeen {
                tenant,
                key,
                equals,
                max,
                asked_at_ms,
                ixns,
            } => {
                let what = format!("a find of {key}={equals} (max {max}, due at {asked_at_ms} ms)");
                let serving: Vec<u16> = (1..=rules.nodes)
                    .filter(|node| {
                        rules
                            .node_tenants
                            .get(usize::from(*node) - 1)
                            .is_some_and(|tenants| tenants.contains(tenant))
                    })
                    .collect();
                let most = u64::from(*max) * serving.len() as u64;
                if ixns.len() as u64 > most {
                    fail(
                        PX_MERGE,
                        format!(
                            "{what} returned {} items, more than {max} from each of {} nodes",
                            ixns.len(),
                            serving.len()
                        ),
                    );
                }
                let times = times(ixns);
                let mut per_node: BTreeMap<u16, u32> = BTreeMap::new();
                for (ixn, count) in &times {
                    let Some(record) = known.get(ixn) else {
                        fail(PX_MERGE, format!("{what} returned {ixn}, never submitted"));
                        continue;
                    };
                    let holders = record.nodes.len().max(1);
                    if *count > holders {
                        fail(
                            PX_MERGE,
                            format!(
                                "{what} returned {ixn} {count} times ({holders} node(s) hold it)"
                            ),
                        );
                    }
                    if let (Some(node), 1) = (record.nodes.first(), record.nodes.len()) {
                        *per_node.entry(*node).or_default() += *count as u32;
                    }
                    if record.tenant != Some(*tenant) {
                        fail(
                            PX_MERGE,
                            format!(
                                "{what} of tenant {} returned {ixn} of another tenant",
                                tenant.0
                            ),
                        );
                    }
                    if !record.ever_matched(key, equals) {
                        fail(
                            PX_MERGE,
                            format!("{what} returned {ixn}, whose user data never had it"),
                        );
                    }
                    if record.stopped_at.is_some_and(|at| at < *asked_at_ms)
                        && !record.nodes.iter().any(|node| {
                            split_during(*node, *asked_at_ms, &serving_hosts, &split_ended)
                        })
                    {
                        fail(
                            PX_MERGE,
                            format!(
                                "{what} returned {ixn}, stopped at {} ms",
                                record.stopped_at.unwrap_or(0)
                            ),
                        );
                    }
                }
                for node in &serving {
                    let count = per_node.get(node).copied().unwrap_or(0);
                    if count > *max {
                        fail(
                            PX_MERGE,
                            format!("node {node} put {count} items into {what}"),
                        );
                        continue;
                    }
                    if count == *max {
                        continue;
                    }
                    let since = changed.get(node).copied().unwrap_or(0);
                    let missing: Vec<String> = known
                        .iter()
                        .filter(|(ixn, record)| {
                            record.nodes.len() == 1
                                && record.nodes.first() == Some(node)
                                && record.tenant == Some(*tenant)
                                && record.acked_at.is_some_and(|at| at <= *asked_at_ms)
                                && record.submitted.as_ref().is_some_and(|(at, _)| *at > since)
                                && !record.ever_stopped
                                && record.surely_matches(key, equals)
                                && !times.contains_key(ixn)
                        })
                        .map(|(ixn, _)| ixn.to_string())
                        .collect();
                    if !missing.is_empty() {
                        fail(
                            PX_MERGE,
                            format!(
                                "{what} got {count} items from node {node}, fewer than {max}, without its matching {}",
                                missing.join(" ")
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
