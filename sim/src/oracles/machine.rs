//! [S-INV-machine]: the host shells check each machine's own invariants
//! ([`ixsim_core::machine::Machine::check_invariants`]) after every input; a broken one is in
//! the trace (`invariant-broken`, once per host) and fails the run here.

use super::{OracleInput, Violation};
use ixsim_core::trace::TraceEvent;

pub const MACHINE: &str = "S-INV-machine";

pub(super) fn machine_invariants(input: &OracleInput<'_>) -> Vec<Violation> {
    input
        .trace
        .entries
        .iter()
        .filter_map(|entry| match &entry.event {
            TraceEvent::InvariantBroken { problem } => Some(Violation {
                oracle: MACHINE,
                at_ms: entry.at,
                detail: format!("{}: {problem}", input.trace.host_name(entry.host)),
            }),
            _ => None,
        })
        .collect()
}
