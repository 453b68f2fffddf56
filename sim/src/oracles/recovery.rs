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

use super::{OracleInput, Violation};
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
                let running = live.get(&host).cloned().unwrap_or_default();
                if flushed != running {
                    fail(format!(
                        "flushed sessions {} while running {}: missing {}, not running {}",
                        list(&flushed),
                        list(&running),
                        list(&running.difference(&flushed).copied().collect()),
                        list(&flushed.difference(&running).copied().collect()),
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
                        list(&recovery.recovered),
                        list(&sessions),
                        list(&sessions.difference(&recovery.recovered).copied().collect()),
                    ));
                }
                if recovery.relinked != linked {
                    let missing: Vec<String> = linked
                        .difference(&recovery.relinked)
                        .map(|ixn| ixn.to_string())
                        .collect();
                    let extra: Vec<String> = recovery
                        .relinked
                        .difference(&linked)
                        .map(|ixn| ixn.to_string())
                        .collect();
                    fail(format!(
                        "promoted without the associations of [{}] it read, with [{}] it did not",
                        missing.join(" "),
                        extra.join(" ")
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}

fn list(sessions: &BTreeSet<u64>) -> String {
    let items: Vec<String> = sessions.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(" "))
}
