//! Held pulls [S-IS-hold] (with [S-PX-pull]'s "the proxy's `pull-hold-timeout` overrides the
//! nodes'"): a pull that finds nothing is held for the hold it asked for (`pull-held ...
//! hold=Nms`; without one, the node's `is.pull_hold_timeout_ms`), then answered empty. Judged on
//! every run, per node, from the node's facts: each held pull ends by being served (`pulled` for
//! the same client, queue and view), by expiring (`pull-expired`), or by its connection going
//! away (`pull-dropped`), and
//!
//! - it expires no earlier than its hold: a node that answers empty early makes its clients
//!   spin;
//! - it ends no later than its hold plus one tick (timers fire on the sim's tick): a node that
//!   waits out its own, longer timeout, or forgets a held pull, starves the client, and
//!   [S-INV-live]'s `settle_ms` is far too loose to notice.
//!
//! Held pulls die with the node's process (a crash, a demotion, a fence) and a restarted node
//! starts with none. Only the host that started node `p` last speaks for it.

use super::nodes::NodeStates;
use super::{OracleInput, Violation};
use crate::trace::TraceEntry;
use ixsim_core::ids::SimTime;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, VecDeque};

pub const HOLD: &str = "S-IS-hold";

/// (client, queue, view) -> the pulls held for it, oldest first: (held at, hold).
type Held = BTreeMap<(String, String, String), VecDeque<(SimTime, SimTime)>>;

pub fn held_pulls(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut violations = Vec::new();
    let mut nodes: NodeStates<Held> = NodeStates::new();
    for entry in &trace.entries {
        overdue(&mut nodes, entry.at, input, &mut violations);
        nodes.follow(entry, Held::new, |_, held| {
            observe(held, entry, input, &mut violations)
        });
    }
    overdue(&mut nodes, input.end_ms, input, &mut violations);
    violations
}

/// Every held pull still unanswered at `now` more than one tick past its hold is overdue: a
/// violation, and no longer held.
fn overdue(
    nodes: &mut NodeStates<Held>,
    now: SimTime,
    input: &OracleInput<'_>,
    out: &mut Vec<Violation>,
) {
    let tick = input.tick_ms;
    for (host, held) in nodes.iter_mut() {
        for ((client, queue, view), list) in held.iter_mut() {
            while let Some(&(at, hold)) = list.front() {
                if now <= at + hold + tick {
                    break;
                }
                list.pop_front();
                out.push(Violation {
                    oracle: HOLD,
                    at_ms: at + hold + tick,
                    detail: format!(
                        "{} held {client}'s pull of {queue}/{view} from {at} ms past its hold of {hold} ms, still unanswered at {now} ms",
                        input.trace.host_name(host)
                    ),
                });
            }
        }
    }
}

/// Follows one entry of the host speaking for a node, whose held pulls are `held`.
fn observe(held: &mut Held, entry: &TraceEntry, input: &OracleInput<'_>, out: &mut Vec<Violation>) {
    let key = |client: &str, queue: &str, view: &str| {
        (client.to_string(), queue.to_string(), view.to_string())
    };
    match &entry.event {
        TraceEvent::PullHeld {
            client,
            queue,
            view,
            asked_ms,
        } => {
            let hold = asked_ms.unwrap_or(input.pull_hold_timeout_ms);
            held.entry(key(client, queue, view))
                .or_default()
                .push_back((entry.at, hold));
        }
        TraceEvent::Pulled {
            client,
            queue,
            view,
            ..
        }
        | TraceEvent::PullDropped {
            client,
            queue,
            view,
        } => {
            if let Some(list) = held.get_mut(&key(client, queue, view)) {
                list.pop_front();
            }
        }
        TraceEvent::PullExpired {
            client,
            queue,
            view,
        } => {
            let popped = held
                .get_mut(&key(client, queue, view))
                .and_then(VecDeque::pop_front);
            out.extend(expired(popped, entry, input, (client, queue, view)));
        }
        _ => {}
    }
}

/// A pull of (client, queue, view) expired at `entry`; `popped` is the oldest one held for it
/// (held at, hold): a violation if it expired before its hold, or was never held.
fn expired(
    popped: Option<(SimTime, SimTime)>,
    entry: &TraceEntry,
    input: &OracleInput<'_>,
    (client, queue, view): (&str, &str, &str),
) -> Option<Violation> {
    let host = input.trace.host_name(entry.host);
    let detail = match popped {
        Some((at, hold)) if entry.at < at + hold => format!(
            "{host} answered {client}'s pull of {queue}/{view} empty after {} ms, before its hold of {hold} ms",
            entry.at - at
        ),
        Some(_) => return None,
        None => format!("{host} expired a pull of {queue}/{view} by {client} that it never held"),
    };
    Some(Violation {
        oracle: HOLD,
        at_ms: entry.at,
        detail,
    })
}
