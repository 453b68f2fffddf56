//! [S-OPS-switchover]: one writer per database. Once node `p` started on a host (a promotion
//! or a restart), no other host that ran node `p` commits a write until it starts the node
//! again: a deposed primary is fenced out. Two writers on one database duplicate and lose
//! interactions, whatever the clients happened to see.

use super::nodes::Serving;
use super::{OracleInput, Violation};
use ixsim_core::trace::TraceEvent;

pub const SWITCHOVER: &str = "S-OPS-switchover";

pub fn one_writer(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut serving = Serving::default();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let speaks = serving.observe(entry.host, &entry.event);
        let Some(node) = serving.node_of.get(&entry.host).copied() else {
            continue;
        };
        if let TraceEvent::Persisted { writes } = &entry.event {
            if speaks.is_none() {
                let host = &input.trace.hosts[entry.host as usize];
                violations.push(Violation {
                    oracle: SWITCHOVER,
                    at_ms: entry.at,
                    detail: format!(
                        "{host} committed write {writes} to node {node}'s database after another host took it over"
                    ),
                });
            }
        }
    }
    violations
}
