//! [S-URS-scope] "a URS sends ESP requests only to the node that raised the request", judged
//! on every run with URS direct mode: each delivery a URS sends (`urs-deliver <ixn> srvN`)
//! goes to a node that raised a route request for that interaction to that URS
//! (`route-request <ixn> to=<urs>` traced by a host of node N+1, the pair srvN; the URS's client name is its
//! host name and incarnation, `urs1.2`). ESP application servers are not modelled yet (issue
//! 22); the URS's requests about interactions are its deliveries.

use super::nodes::srv_index;
use super::{OracleInput, Violation};
use ixsim_core::ids::IxnId;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const URS_SCOPE: &str = "S-URS-scope";

pub fn urs_scope(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut node_of_host: BTreeMap<u16, u16> = BTreeMap::new();
    // (URS host name, interaction) -> the nodes that raised a route request for it there.
    let mut raised: BTreeMap<(&str, IxnId), BTreeSet<u16>> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &trace.entries {
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                node_of_host.insert(entry.host, *node);
            }
            TraceEvent::RouteRequested { ixn, urs, .. } => {
                let Some(index) = node_of_host.get(&entry.host).and_then(|n| srv_index(*n)) else {
                    continue;
                };
                let host = urs.split('.').next().unwrap_or(urs);
                raised.entry((host, *ixn)).or_default().insert(index);
            }
            TraceEvent::UrsDeliverSent { ixn, node } => {
                let host = trace.host_name(entry.host);
                let nodes = raised.get(&(host, *ixn));
                if !nodes.is_some_and(|nodes| nodes.contains(node)) {
                    violations.push(Violation {
                        oracle: URS_SCOPE,
                        at_ms: entry.at,
                        detail: format!(
                            "{host} sent the delivery of {ixn} to srv{node}, but the route \
                             requests for it came from {}",
                            match nodes {
                                Some(nodes) => nodes
                                    .iter()
                                    .map(|n| format!("srv{n}"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                None => "no node".to_string(),
                            }
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    violations
}
