//! The owner grace period [S-IS-owner]: "when the owning client disconnects, its interactions
//! return to their queues (after a grace period)". Judged on every run, per node, from its
//! facts: `registered NAME` and `client-gone NAME` say when a client name is here; `released
//! ... reason=OwnerGone owner=NAME` says what the node took back from whom.
//!
//! A node takes an interaction back from its owner only
//!
//! - when the owner is not registered here (it left and has not come back), and
//! - once the owner has been away for the whole `owner_grace_ms`: since its last
//!   `client-gone` here, or since the node started when the owner has not been here since (an
//!   owner loaded from the database gets the grace period from the start).
//!
//! The exception is a URS (a client of a URS host, `urs1.1`): what it owned goes back at once
//! when it leaves, [S-URS-rr]'s rule (`resubmit.rs`).
//!
//! And a release is never late: it comes within one tick (`tick_ms`, the step timers fire on)
//! of the end of the grace period, counted from the owner's last departure here, from the
//! node's start, or from the last transfer to the owner while it was away (an interaction
//! handed to an absent client gets the grace period from the hand-over), whichever is last.
//! That a release comes at all ("nothing stays owned by a dead client") is [S-INV-live]'s,
//! within `settle_ms`: the node does not trace what a client owns, so a release that never
//! comes has no exact bound here.

use super::nodes::NodeStates;
use super::{OracleInput, Violation};
use ixsim_core::ids::SimTime;
use ixsim_core::trace::{ReleaseReason, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};

pub const IS_OWNER: &str = "S-IS-owner";

struct NodeClients {
    started: SimTime,
    /// Registered here now.
    present: BTreeSet<String>,
    /// When each name last left.
    left: BTreeMap<String, SimTime>,
    /// When an interaction was last handed to each name while it was not here.
    handed: BTreeMap<String, SimTime>,
}

pub fn owner_grace(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut violations = Vec::new();
    let mut nodes: NodeStates<NodeClients> = NodeStates::new();
    for entry in &trace.entries {
        let start = || NodeClients {
            started: entry.at,
            present: BTreeSet::new(),
            left: BTreeMap::new(),
            handed: BTreeMap::new(),
        };
        nodes.follow(entry, start, |_, clients| match &entry.event {
            TraceEvent::ClientRegistered { client } => {
                clients.present.insert(client.clone());
            }
            TraceEvent::ClientGone { client } => {
                clients.present.remove(client);
                clients.left.insert(client.clone(), entry.at);
            }
            TraceEvent::Transferred { to, .. } if !clients.present.contains(to) => {
                clients.handed.insert(to.clone(), entry.at);
            }
            TraceEvent::Released {
                ixn,
                reason: ReleaseReason::OwnerGone,
                owner,
                ..
            } => {
                let host = trace.host_name(entry.host);
                let problems = clients.release_problems(input, entry.at, owner);
                violations.extend(problems.into_iter().map(|detail| Violation {
                    oracle: IS_OWNER,
                    at_ms: entry.at,
                    detail: format!("{host} took {ixn} back from {owner}: {detail}"),
                }));
            }
            _ => {}
        });
    }
    violations
}

/// Is `client` a URS's (`<host>.<n>` of a URS host)?
fn is_urs(input: &OracleInput<'_>, client: &str) -> bool {
    let host = client.split('.').next().unwrap_or_default();
    input.urs_hosts.iter().any(|urs| urs == host)
}

impl NodeClients {
    /// What is wrong with taking an interaction back from `owner` at `at`, if anything.
    fn release_problems(&self, input: &OracleInput<'_>, at: SimTime, owner: &str) -> Vec<String> {
        let grace_ms = input.owner_grace_ms;
        if self.present.contains(owner) {
            return vec![format!("{owner} is registered here")];
        }
        let mut problems = Vec::new();
        let left = self.left.get(owner).copied();
        let away = left.unwrap_or(self.started);
        let urs_left_now = is_urs(input, owner) && left == Some(at);
        if !urs_left_now && at < away.saturating_add(grace_ms) {
            let since = match left {
                Some(_) => "it left",
                None => "the node started",
            };
            problems.push(format!(
                "{} ms after {since} at {away} ms, within the owner grace period of {grace_ms} ms",
                at - away
            ));
        }
        let due = away.max(self.handed.get(owner).copied().unwrap_or(0));
        let late = due.saturating_add(grace_ms).saturating_add(input.tick_ms);
        if !is_urs(input, owner) && at > late {
            problems.push(format!(
                "{} ms after its grace period of {grace_ms} ms began at {due} ms: late \
                 by more than one tick ({} ms)",
                at - due,
                input.tick_ms
            ));
        }
        problems
    }
}
