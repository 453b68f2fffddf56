//! A pull through the proxy asks nodes round-robin [S-PX-pull], checked on every run against
//! the proxy's connections as its shell traced them (`connected srvN`, `disconnected srvN`),
//! not against the proxy's own idea of which nodes are up.
//!
//! For each proxy, client and queue/view (the product keeps one turn per puller of a queue, so
//! that each puller visits every node: one turn per client can fall into step with its
//! rotation over its queues and starve a node, the `ors` scenario's seed 11):
//!
//! - every pull (`proxy-pull-to srvN`) goes to a node that serves the pull's tenant and is
//!   connected to the proxy at that moment;
//! - while the set of such nodes stays the same, each pull goes to the node after the previous
//!   pull's in that set (in node order, wrapping): with two live nodes, never twice in a row
//!   to one node. After a node connects or disconnects, the next pull may start anywhere.
//!
//! Pulls of the ordered pull mode that ask several nodes at once are snapshots, not pulls, and
//! are not judged here ([S-PX-fifo] is their rule).

use super::refusals::{Links, ProxyRules};
use super::{OracleInput, Violation};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const PX_PULL: &str = "S-PX-pull";

/// The last pull of one client's queue/view through one proxy: its node, and which version of
/// the proxy's connections it saw.
struct LastPull {
    node: u16,
    links_version: u64,
}

pub fn proxy_rotation(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut violations = Vec::new();
    let mut links: BTreeMap<u16, (Links, u64)> = rules
        .hosts
        .iter()
        .map(|host| (*host, (Links::new(nodes, 0), 0)))
        .collect();
    let mut last: BTreeMap<(u16, &str, &str, &str), LastPull> = BTreeMap::new();
    for entry in &trace.entries {
        let Some((state, version)) = links.get_mut(&entry.host) else {
            continue;
        };
        if state.observe(&entry.event, entry.at) {
            *version += 1;
            if matches!(entry.event, TraceEvent::ProcessKilled) {
                last.retain(|(host, ..), _| *host != entry.host);
            }
            continue;
        }
        let TraceEvent::ProxyPullSent {
            client,
            tenant,
            queue,
            view,
            node,
        } = &entry.event
        else {
            continue;
        };
        let live: Vec<u16> = (0..rules.nodes)
            .filter(|n| state.up[usize::from(*n)])
            .filter(|n| {
                rules
                    .node_tenants
                    .get(usize::from(*n))
                    .is_some_and(|tenants| tenants.contains(tenant))
            })
            .collect();
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: PX_PULL,
                at_ms: entry.at,
                detail: format!(
                    "{} pull for {client} of {queue}/{view}: {detail}",
                    trace.host_name(entry.host)
                ),
            })
        };
        if !live.contains(node) {
            fail(format!(
                "sent to srv{node}, which is not among the connected nodes of tenant {} {}",
                tenant.0,
                srv_list(&live)
            ));
        }
        let key = (entry.host, client.as_str(), queue.as_str(), view.as_str());
        if let Some(previous) = last.get(&key) {
            if previous.links_version == *version && live.len() > 1 {
                let after = live
                    .iter()
                    .position(|n| *n == previous.node)
                    .map(|at| live[(at + 1) % live.len()]);
                if let Some(expected) = after.filter(|expected| expected != node) {
                    fail(format!(
                        "sent to srv{node} after srv{}, where round-robin over {} asks srv{expected}",
                        previous.node,
                        srv_list(&live)
                    ));
                }
            }
        }
        last.insert(
            key,
            LastPull {
                node: *node,
                links_version: *version,
            },
        );
    }
    violations
}

fn srv_list(nodes: &[u16]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| format!("srv{n}")).collect();
    format!("[{}]", names.join(" "))
}
