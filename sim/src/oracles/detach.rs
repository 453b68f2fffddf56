//! [S-ORS-detach]: an ORS session routes an interaction away only after it got
//! interaction.detach.done for it (and has not attached it again since); and a session's
//! detach succeeds only once its association was confirmed.

use super::{OracleInput, Violation};
use ixsim_core::ids::IxnId;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const ORS_DETACH: &str = "S-ORS-detach";

pub fn ors_detach(input: &OracleInput<'_>) -> Vec<Violation> {
    // (ORS host, session, interaction) -> (association confirmed, detached)
    let mut state: BTreeMap<(u16, u64, IxnId), (bool, bool)> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let TraceEvent::OrsSession { session, ixn, what } = &entry.event else {
            if matches!(entry.event, TraceEvent::ProcessKilled) {
                state.retain(|(host, _, _), _| *host != entry.host);
            }
            continue;
        };
        let key = (entry.host, *session, *ixn);
        let (confirmed, detached) = state.entry(key).or_insert((false, false));
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: ORS_DETACH,
                at_ms: entry.at,
                detail,
            })
        };
        match what.split(' ').next().unwrap_or_default() {
            // A reloaded (evicted) association comes from user data: confirmed when written.
            "association-confirmed" | "recovered-confirmed" | "reloaded" => *confirmed = true,
            // A promoted backup took over a detached interaction from the last flush.
            "recovered-detached" => (*confirmed, *detached) = (true, true),
            "interaction.detach.done" => {
                if !*confirmed {
                    fail(format!(
                        "session {session} detached {ixn} before its association was confirmed"
                    ));
                }
                *detached = true;
            }
            "interaction.attach.done" => (*confirmed, *detached) = (false, false),
            "route-redirect" | "route-deliver" if !*detached => fail(format!(
                "session {session} routed {ixn} without interaction.detach.done"
            )),
            _ => {}
        }
    }
    violations
}
