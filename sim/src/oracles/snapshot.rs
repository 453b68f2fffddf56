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
use crate::trace::TraceEntry;
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

/// Which hosts answer for which node: a deposed primary serves its connections until it hears
/// of its successor, so a node may have two primaries for a while (a split brain).
#[derive(Default)]
struct Pairs {
    node_of_host: BTreeMap<u16, u16>,
    /// Node -> the last process start or end on its pair.
    changed: BTreeMap<u16, SimTime>,
    /// Node -> the hosts serving it as primary, latest last (two while a deposed one has not
    /// fenced itself).
    serving_hosts: BTreeMap<u16, Vec<u16>>,
    /// Node -> when it last stopped having two primaries.
    split_ended: BTreeMap<u16, SimTime>,
}

impl Pairs {
    fn started(&mut self, host: u16, node: u16, at: SimTime) {
        self.node_of_host.insert(host, node);
        self.changed.insert(node, at);
        let hosts = self.serving_hosts.entry(node).or_default();
        hosts.retain(|serving| *serving != host);
        hosts.push(host);
    }

    /// The process of `host` ended (crashed, demoted, fenced).
    fn ended(&mut self, host: u16, at: SimTime) {
        let Some(node) = self.node_of_host.get(&host) else {
            return;
        };
        self.changed.insert(*node, at);
        let hosts = self.serving_hosts.entry(*node).or_default();
        if hosts.len() >= 2 && hosts.contains(&host) {
            self.split_ended.insert(*node, at);
        }
        hosts.retain(|serving| *serving != host);
    }

    /// Has a later primary taken over the node `host` serves?
    fn deposed(&self, host: u16) -> bool {
        self.node_of_host.get(&host).is_some_and(|node| {
            self.serving_hosts
                .get(node)
                .and_then(|hosts| hosts.last())
                .is_some_and(|latest| *latest != host)
        })
    }

    /// Might a deposed primary of `node` have answered a step due at `asked` and answered now?
    fn split_during(&self, node: u16, asked: SimTime) -> bool {
        self.serving_hosts
            .get(&node)
            .is_some_and(|hosts| hosts.len() >= 2)
            || self
                .split_ended
                .get(&node)
                .is_some_and(|ended| *ended >= asked)
    }

    /// When `record` was stopped before `asked`, if it was for sure: no split brain of a node
    /// holding it could have answered from before the stop.
    fn stopped_before(&self, record: &Known, asked: SimTime) -> Option<SimTime> {
        let stopped_at = record.stopped_at.filter(|at| *at < asked)?;
        let split = record
            .nodes
            .iter()
            .any(|node| self.split_during(*node, asked));
        (!split).then_some(stopped_at)
    }
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
    /// The one node that holds it, if only one does (its share of an answer counts it).
    fn only_node(&self) -> Option<u16> {
        match (self.nodes.first(), self.nodes.len()) {
            (Some(node), 1) => Some(*node),
            _ => None,
        }
    }

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

/// A prober's snapshot step, as `snapshot-seen` traced it.
struct SnapshotStep<'a> {
    queue: &'a str,
    view: &'a str,
    max: u32,
    asked_at_ms: SimTime,
}

/// A prober's find step, as `found-seen` traced it.
struct FindStep<'a> {
    tenant: TenantId,
    key: &'a str,
    equals: &'a KvValue,
    max: u32,
    asked_at_ms: SimTime,
    /// How it is named in a violation.
    what: String,
}

pub fn snapshots(input: &OracleInput<'_>, rules: &SnapshotRules) -> Vec<Violation> {
    let mut snapshots = Snapshots {
        rules,
        pairs: Pairs::default(),
        known: BTreeMap::new(),
        violations: Vec::new(),
    };
    for entry in &input.trace.entries {
        snapshots.observe(entry);
    }
    snapshots.violations
}

/// The oracles' state over the trace.
struct Snapshots<'a> {
    rules: &'a SnapshotRules,
    pairs: Pairs,
    known: BTreeMap<IxnId, Known>,
    violations: Vec<Violation>,
}

impl Snapshots<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                self.pairs.started(entry.host, *node, entry.at);
            }
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                self.pairs.ended(entry.host, entry.at);
            }
            TraceEvent::SnapshotSeen {
                queue,
                view,
                max,
                asked_at_ms,
                ixns,
            } => {
                let step = SnapshotStep {
                    queue,
                    view,
                    max: *max,
                    asked_at_ms: *asked_at_ms,
                };
                self.judge_snapshot(entry.at, &step, ixns);
            }
            TraceEvent::FoundSeen {
                tenant,
                key,
                equals,
                max,
                asked_at_ms,
                ixns,
            } => {
                let step = FindStep {
                    tenant: *tenant,
                    key,
                    equals,
                    max: *max,
                    asked_at_ms: *asked_at_ms,
                    what: format!("a find of {key}={equals} (max {max}, due at {asked_at_ms} ms)"),
                };
                self.judge_find(entry.at, &step, ixns);
            }
            _ => self.record(entry),
        }
    }

    /// Follows what became of the interactions: submits, acknowledgements, user data,
    /// placements, stops, loads.
    fn record(&mut self, entry: &TraceEntry) {
        match &entry.event {
            TraceEvent::Submitted {
                ixn,
                queue,
                tenant,
                user_data,
                ..
            } => {
                let record = self.known.entry(*ixn).or_default();
                let node = self.pairs.node_of_host.get(&entry.host).copied();
                record.nodes.extend(node);
                record.queues.push((entry.at, queue.clone()));
                record.stopped_at = None;
                record.tenant = Some(*tenant);
                record.submitted = Some((entry.at, user_data.clone()));
            }
            TraceEvent::SubmitAcked { ixn } => {
                if let Some(record) = self.known.get_mut(ixn) {
                    record.acked_at.get_or_insert(entry.at);
                }
            }
            TraceEvent::UserDataChanged { ixn, changes } => {
                if let Some(record) = self.known.get_mut(ixn) {
                    record.changes.push(changes.clone());
                }
            }
            TraceEvent::Placed { ixn, queue } => {
                let record = self.known.entry(*ixn).or_default();
                record.queues.push((entry.at, queue.clone()));
            }
            TraceEvent::Stopped { ixn } => {
                // A deposed primary's stop: the successor still holds the interaction.
                let deposed = self.pairs.deposed(entry.host);
                if let Some(record) = self.known.get_mut(ixn) {
                    if !deposed {
                        record.stopped_at = Some(entry.at);
                    }
                    record.ever_stopped = true;
                }
            }
            TraceEvent::Loaded { ixn, .. } => {
                if let Some(record) = self.known.get_mut(ixn) {
                    record.stopped_at = None;
                }
            }
            _ => {}
        }
    }

    /// [S-IS-snapshot] and [S-PX-merge] on a snapshot's answer `ixns`, seen at `at`.
    fn judge_snapshot(&mut self, at: SimTime, step: &SnapshotStep<'_>, ixns: &[IxnId]) {
        let SnapshotStep {
            queue, view, max, ..
        } = step;
        let rules = self.rules;
        let each = (*max).min(rules.per_node);
        let most = u64::from(each) * u64::from(rules.nodes);
        if ixns.len() as u64 > most {
            let detail = format!(
                "a snapshot of {queue}/{view} asking {max} returned {} items, more than {each} from each of {} nodes",
                ixns.len(),
                rules.nodes
            );
            self.violations.push(Violation::new(PX_MERGE, at, detail));
        }
        for (ixn, count) in times(ixns) {
            let holders = self
                .known
                .get(ixn)
                .map_or(1, |record| record.nodes.len().max(1));
            if count > holders {
                let detail = format!(
                    "a snapshot of {queue}/{view} returned {ixn} {count} times ({holders} node(s) hold it)"
                );
                self.violations.push(Violation::new(PX_MERGE, at, detail));
            }
        }
        let mut per_node: BTreeMap<u16, u32> = BTreeMap::new();
        for ixn in ixns {
            if let Some(node) = self.judge_snapshot_item(at, step, *ixn) {
                *per_node.entry(node).or_default() += 1;
            }
        }
        for (node, count) in per_node.into_iter().filter(|(_, count)| *count > each) {
            let detail = format!(
                "node {node} put {count} items into a snapshot of {queue}/{view}, more than its {each} (max {max}, max-interactions-per-snapshot {})",
                rules.per_node
            );
            self.violations
                .push(Violation::new(IS_SNAPSHOT, at, detail));
        }
    }

    /// [S-IS-snapshot] on one item of a snapshot's answer; returns the one node that holds it,
    /// whose share of the answer it counts in.
    fn judge_snapshot_item(
        &mut self,
        at: SimTime,
        step: &SnapshotStep<'_>,
        ixn: IxnId,
    ) -> Option<u16> {
        let SnapshotStep {
            queue,
            view,
            asked_at_ms,
            ..
        } = step;
        let mut fail = |detail: String| {
            self.violations
                .push(Violation::new(IS_SNAPSHOT, at, detail))
        };
        let Some(record) = self.known.get(&ixn) else {
            fail(format!(
                "a snapshot of {queue}/{view} returned {ixn}, never submitted"
            ));
            return None;
        };
        if let Some((_, last)) = record.queues.last().filter(|(_, last)| last != queue) {
            fail(format!(
                "a snapshot of {queue}/{view} returned {ixn}, which is in {last}"
            ));
        }
        if let Some(stopped_at) = self.pairs.stopped_before(record, *asked_at_ms) {
            fail(format!(
                "a snapshot of {queue}/{view} due at {asked_at_ms} ms returned {ixn}, stopped at {stopped_at} ms"
            ));
        }
        record.only_node()
    }

    /// [S-PX-merge] on a find's answer `ixns`, seen at `at`.
    fn judge_find(&mut self, at: SimTime, step: &FindStep<'_>, ixns: &[IxnId]) {
        let FindStep {
            tenant, max, what, ..
        } = step;
        let serving: Vec<u16> = (1..=self.rules.nodes)
            .filter(|node| {
                self.rules
                    .node_tenants
                    .get(usize::from(*node) - 1)
                    .is_some_and(|tenants| tenants.contains(tenant))
            })
            .collect();
        let most = u64::from(*max) * serving.len() as u64;
        if ixns.len() as u64 > most {
            let detail = format!(
                "{what} returned {} items, more than {max} from each of {} nodes",
                ixns.len(),
                serving.len()
            );
            self.violations.push(Violation::new(PX_MERGE, at, detail));
        }
        let times = times(ixns);
        let mut per_node: BTreeMap<u16, u32> = BTreeMap::new();
        for (ixn, count) in &times {
            if let Some(node) = self.judge_find_item(at, step, **ixn, *count) {
                *per_node.entry(node).or_default() += *count as u32;
            }
        }
        for node in &serving {
            let count = per_node.get(node).copied().unwrap_or(0);
            self.judge_find_share(at, step, *node, count, &times);
        }
    }

    /// [S-PX-merge] on one interaction of a find's answer, there `count` times; returns the one
    /// node that holds it, whose share of the answer it counts in.
    fn judge_find_item(
        &mut self,
        at: SimTime,
        step: &FindStep<'_>,
        ixn: IxnId,
        count: usize,
    ) -> Option<u16> {
        let FindStep {
            tenant,
            key,
            equals,
            asked_at_ms,
            what,
            ..
        } = step;
        let mut fail = |detail: String| self.violations.push(Violation::new(PX_MERGE, at, detail));
        let Some(record) = self.known.get(&ixn) else {
            fail(format!("{what} returned {ixn}, never submitted"));
            return None;
        };
        let holders = record.nodes.len().max(1);
        if count > holders {
            fail(format!(
                "{what} returned {ixn} {count} times ({holders} node(s) hold it)"
            ));
        }
        if record.tenant != Some(*tenant) {
            fail(format!(
                "{what} of tenant {} returned {ixn} of another tenant",
                tenant.0
            ));
        }
        if !record.ever_matched(key, equals) {
            fail(format!(
                "{what} returned {ixn}, whose user data never had it"
            ));
        }
        if let Some(stopped_at) = self.pairs.stopped_before(record, *asked_at_ms) {
            fail(format!("{what} returned {ixn}, stopped at {stopped_at} ms"));
        }
        record.only_node()
    }

    /// [S-PX-merge] on what `node` contributed to a find's answer (`count` items of `times`):
    /// at most `max`, and with fewer, every interaction it surely held that matched.
    fn judge_find_share(
        &mut self,
        at: SimTime,
        step: &FindStep<'_>,
        node: u16,
        count: u32,
        times: &BTreeMap<&IxnId, usize>,
    ) {
        let FindStep {
            tenant,
            key,
            equals,
            max,
            asked_at_ms,
            what,
        } = step;
        if count > *max {
            let detail = format!("node {node} put {count} items into {what}");
            self.violations.push(Violation::new(PX_MERGE, at, detail));
            return;
        }
        if count == *max {
            return;
        }
        let since = self.pairs.changed.get(&node).copied().unwrap_or(0);
        let missing: Vec<String> = self
            .known
            .iter()
            .filter(|(ixn, record)| {
                record.nodes.len() == 1
                    && record.nodes.first() == Some(&node)
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
            let detail = format!(
                "{what} got {count} items from node {node}, fewer than {max}, without its matching {}",
                missing.join(" ")
            );
            self.violations.push(Violation::new(PX_MERGE, at, detail));
        }
    }
}
