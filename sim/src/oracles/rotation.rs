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

use super::links::Links;
use super::refusals::ProxyRules;
use super::{OracleInput, Violation};
use ixsim_core::ids::TenantId;
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
    let mut violations = Vec::new();
    let mut links: BTreeMap<u16, (Links, u64)> = Links::of_proxies(rules)
        .into_iter()
        .map(|(host, links)| (host, (links, 0)))
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
        let live = live_nodes(rules, state, *tenant);
        let key = (entry.host, client.as_str(), queue.as_str(), view.as_str());
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
        let turn = last
            .get(&key)
            .filter(|previous| previous.links_version == *version);
        if let Some(problem) = turn.and_then(|previous| out_of_turn(previous.node, *node, &live)) {
            fail(problem);
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

/// The nodes a pull of `tenant` may go to: connected (`links`) and serving the tenant.
fn live_nodes(rules: &ProxyRules, links: &Links, tenant: TenantId) -> Vec<u16> {
    (0..rules.nodes)
        .filter(|n| links.up(usize::from(*n)))
        .filter(|n| {
            rules
                .node_tenants
                .get(usize::from(*n))
                .is_some_and(|tenants| tenants.contains(&tenant))
        })
        .collect()
}

/// What is wrong with a pull sent to `node` after one to `previous`, over the same `live`
/// nodes, if anything: round-robin asks for the node after `previous` (with two or more).
fn out_of_turn(previous: u16, node: u16, live: &[u16]) -> Option<String> {
    if live.len() <= 1 {
        return None;
    }
    let after = live
        .iter()
        .position(|n| *n == previous)
        .map(|at| live[(at + 1) % live.len()]);
    let expected = after.filter(|expected| *expected != node)?;
    Some(format!(
        "sent to srv{node} after srv{previous}, where round-robin over {} asks srv{expected}",
        srv_list(live)
    ))
}

fn srv_list(nodes: &[u16]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| format!("srv{n}")).collect();
    format!("[{}]", names.join(" "))
}
