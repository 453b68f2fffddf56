//! Direct mode [S-URS-rr]: "resubmits pending interactions to another URS when one dies", at
//! once. A URS holds no work of its own (seed 003), so unlike an agent or an ORS it gets no
//! grace period: when a node sees a URS go (`client-gone` of a client it routed to), every
//! interaction that URS still owned there is released back to its queue in the same input
//! (`released ... reason=OwnerGone`), to be routed to another URS with the strategy. Judged on
//! every run, per node, from its facts: `route-requested` makes the URS the owner; `accepted`
//! (the agent's desktop owns it now), `transferred`, `placed`, `stopped` and `released` end that.
//! Whatever the gone URS still owns when the node does anything at a later time is a violation:
//! a node that waits out the owner grace period instead looks healthy to [S-INV-live].
//!
//! Ownership from before a restart (`loaded ... owner=urs`) waits for its owner's grace period
//! like any other (the URS may come back under its name); only a URS seen leaving is judged.

use super::nodes::NodeStates;
use super::{OracleInput, Violation};
use ixsim_core::ids::{IxnId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const URS_RR: &str = "S-URS-rr";

#[derive(Default)]
struct NodeRouting {
    /// Interaction -> the URS client that owns it here.
    owner: BTreeMap<IxnId, String>,
    /// URS clients that routed here.
    urs: BTreeSet<String>,
    /// A URS left at this time: what it owned must be released before the node's next later
    /// event.
    gone: Vec<(SimTime, String)>,
}

impl NodeRouting {
    fn still_owned(&self, urs: &str) -> Vec<IxnId> {
        self.owner
            .iter()
            .filter(|(_, owner)| owner.as_str() == urs)
            .map(|(ixn, _)| *ixn)
            .collect()
    }

    /// The URS that left before `now` (all of them at the end of the run, `None`) must own
    /// nothing here any more.
    fn judge(&mut self, host: &str, now: Option<SimTime>, out: &mut Vec<Violation>) {
        self.judge_where(host, out, |at, _| now.is_none_or(|now| now > at));
    }

    /// A URS that left and is back (or is given work again) at the same moment: what it owned
    /// when it left must be released by then, and what it is given now is new work, not kept
    /// (`urs-direct` seed 378: gone, released, registered and routed to again at 12,000 ms).
    fn judge_back(&mut self, host: &str, urs: &str, out: &mut Vec<Violation>) {
        self.judge_where(host, out, |_, gone| gone == urs);
    }

    fn judge_where(
        &mut self,
        host: &str,
        out: &mut Vec<Violation>,
        due_now: impl Fn(SimTime, &str) -> bool,
    ) {
        let due: Vec<(SimTime, String)> = self
            .gone
            .iter()
            .filter(|(at, urs)| due_now(*at, urs))
            .cloned()
            .collect();
        self.gone.retain(|(at, urs)| !due_now(*at, urs));
        for (at, urs) in due {
            let kept = self.still_owned(&urs);
            if let Some(first) = kept.first() {
                out.push(Violation {
                    oracle: URS_RR,
                    at_ms: at,
                    detail: format!(
                        "{host} kept {} interaction(s) of {urs} (first {first}) after {urs} left at {at} ms instead of resubmitting them at once",
                        kept.len()
                    ),
                });
                for ixn in kept {
                    self.owner.remove(&ixn);
                }
            }
        }
    }
}

pub fn urs_resubmit(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut violations = Vec::new();
    let mut nodes: NodeStates<NodeRouting> = NodeStates::new();
    for entry in &trace.entries {
        nodes.follow(entry, NodeRouting::default, |_, routing| {
            routing.judge(trace.host_name(entry.host), Some(entry.at), &mut violations);
            match &entry.event {
                TraceEvent::ClientRegistered { client } if routing.urs.contains(client) => {
                    routing.judge_back(trace.host_name(entry.host), client, &mut violations);
                }
                TraceEvent::RouteRequested { ixn, urs, .. } => {
                    routing.judge_back(trace.host_name(entry.host), urs, &mut violations);
                    routing.urs.insert(urs.clone());
                    routing.owner.insert(*ixn, urs.clone());
                }
                TraceEvent::Accepted { ixn, .. }
                | TraceEvent::Placed { ixn, .. }
                | TraceEvent::Stopped { ixn }
                | TraceEvent::Released { ixn, .. } => {
                    routing.owner.remove(ixn);
                }
                TraceEvent::Transferred { ixn, to, .. } => {
                    if routing.urs.contains(to) {
                        routing.owner.insert(*ixn, to.clone());
                    } else {
                        routing.owner.remove(ixn);
                    }
                }
                TraceEvent::ClientGone { client } if routing.urs.contains(client) => {
                    routing.gone.push((entry.at, client.clone()));
                }
                _ => {}
            }
        });
    }
    for (host, routing) in nodes.iter_mut() {
        routing.judge(trace.host_name(host), None, &mut violations);
    }
    violations
}
