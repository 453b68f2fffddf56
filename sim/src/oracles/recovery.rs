//! ORS recovery completeness [S-ORS-ha]: "with persistence, sessions recover". Two checks on
//! every run, from facts the shells read outside the machines (`ors-flushed` from the write an
//! ORS issued, `ors-loaded` from what its pair's store returned) against the sessions the trace
//! shows alive:
//!
//! - **Flush**: a primary's flush holds exactly the sessions it runs at that moment
//!   (`session-started` and `session-recovered` begin one on a host; `session-ended`,
//!   `session-dropped` and the process's end end it). A flush that leaves one out loses it
//!   at the next switchover; one that keeps an ended session brings it back from the dead.
//! - **Recovery**: a promoted backup that read the store (`ors-loaded`) recovers, before it
//!   reports itself primary (`ors-primary`), every session of that state (`session-recovered`)
//!   and every interaction with an association, held or detached (`recovered-confirmed`,
//!   `recovered-pending`, `recovered-detached`), and nothing else. The exception is the
//!   documented loss of a store written by a release this one cannot read
//!   (`ors-persistence-lost`, [S-OPS-rolling]): then it recovers nothing.
//!
//! Changes after the last flush are lost by design (the sync buffer's age and size bound them);
//! what becomes of the recovered sessions' interactions afterwards is [S-INV-lost] and
//! [S-INV-live]'s, and of those without persistence too (they go back to the queues).

use super::{id_list, OracleInput, Violation};
use ixsim_core::ids::IxnId;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const ORS_HA: &str = "S-ORS-ha";

/// A promotion between `ors-loaded` and `ors-primary`: what it must recover, what it did.
#[derive(Default)]
struct Recovery {
    sessions: BTreeSet<u64>,
    linked: BTreeSet<IxnId>,
    recovered: BTreeSet<u64>,
    relinked: BTreeSet<IxnId>,
    lost: bool,
}

pub fn ors_recovery(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut live: BTreeMap<u16, BTreeSet<u64>> = BTreeMap::new();
    let mut recovering: BTreeMap<u16, Recovery> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &trace.entries {
        let host = entry.host;
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: ORS_HA,
                at_ms: entry.at,
                detail: format!("{}: {detail}", trace.host_name(host)),
            })
        };
        match &entry.event {
            TraceEvent::ProcessKilled => {
                live.remove(&host);
                recovering.remove(&host);
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                let sessions = live.entry(host).or_default();
                match what.as_str() {
                    "session-started" => {
                        sessions.insert(*session);
                    }
                    "session-recovered" => {
                        sessions.insert(*session);
                        if let Some(recovery) = recovering.get_mut(&host) {
                            recovery.recovered.insert(*session);
                        }
                    }
                    "session-ended" | "session-dropped" => {
                        sessions.remove(session);
                    }
                    "recovered-confirmed" | "recovered-pending" | "recovered-detached" => {
                        if let Some(recovery) = recovering.get_mut(&host) {
                            recovery.relinked.insert(*ixn);
                        }
                    }
                    _ => {}
                }
            }
            TraceEvent::OrsFlushed { sessions } => {
                let flushed: BTreeSet<u64> = sessions.iter().copied().collect();
                let none = BTreeSet::new();
                let running = live.get(&host).unwrap_or(&none);
                if flushed != *running {
                    fail(format!(
                        "flushed sessions {} while running {}: missing {}, not running {}",
                        id_list(&flushed),
                        id_list(running),
                        id_list(running.difference(&flushed)),
                        id_list(flushed.difference(running)),
                    ));
                }
            }
            TraceEvent::OrsLoaded { sessions, linked } => {
                recovering.insert(
                    host,
                    Recovery {
                        sessions: sessions.iter().copied().collect(),
                        linked: linked.iter().copied().collect(),
                        ..Recovery::default()
                    },
                );
            }
            TraceEvent::OrsPersistenceLost { .. } => {
                if let Some(recovery) = recovering.get_mut(&host) {
                    recovery.lost = true;
                }
            }
            TraceEvent::OrsRole { primary: true } => {
                let Some(recovery) = recovering.remove(&host) else {
                    continue;
                };
                let (sessions, linked) = if recovery.lost {
                    (BTreeSet::new(), BTreeSet::new())
                } else {
                    (recovery.sessions, recovery.linked)
                };
                if recovery.recovered != sessions {
                    fail(format!(
                        "promoted with sessions {} of the {} it read: missing {}",
                        id_list(&recovery.recovered),
                        id_list(&sessions),
                        id_list(sessions.difference(&recovery.recovered)),
                    ));
                }
                if recovery.relinked != linked {
                    fail(format!(
                        "promoted without the associations of {} it read, with {} it did not",
                        id_list(linked.difference(&recovery.relinked)),
                        id_list(recovery.relinked.difference(&linked)),
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}
