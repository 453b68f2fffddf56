//! ORS recovery completeness [S-ORS-ha]: "with persistence, sessions recover". Three checks on
//! every run, from facts the shells read outside the machines (`ors-flushed` from the write an
//! ORS issued, `ors-stored` / `ors-store-fenced` and `ors-loaded` / `ors-load-fenced` from what
//! its pair's store answered) against the sessions the trace shows alive and against the
//! oracle's own model of the store:
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
//! - **Store**: the oracle keeps its own model of each pair's store, the lock of the IS
//!   database [S-HA-fence] applied to ORS persistence: a promotion's read takes the store
//!   when its epoch is newer than the store's (else it is refused), a flush is stored when its
//!   host holds the store's epoch (else it is refused: a deposed primary writes nothing), a
//!   host's flushes are answered in the order it issued them, and a read returns what the
//!   last stored flush wrote (sessions and associations). A crashed host's unanswered flushes
//!   never happened, and its restart holds no epoch until it reads again.
//!
//! - **Session ids**: a session id names one session in its pair for the whole run: a term
//!   that read the store starts its new sessions past every id the pair used before (the
//!   predecessor's last sessions may not have reached the store; the interactions of a dead
//!   session still carry its id in `ORS_Session`). A `session-started` in such a term with an
//!   id the pair already used is a violation.
//!
//! Changes after the last flush are lost by design (the sync buffer's age and size bound them);
//! what becomes of the recovered sessions' interactions afterwards is [S-INV-lost] and
//! [S-INV-live]'s, and of those without persistence too (they go back to the queues).

use super::{id_list, OracleInput, Violation};
use ixsim_core::ids::IxnId;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

/// What a flush wrote, or a read returned: sessions, and interactions with an association.
type Contents = (Vec<u64>, Vec<IxnId>);

/// The oracle's model of one pair's store: the newest promotion that read it, and what the
/// last stored flush wrote.
#[derive(Default)]
struct Store {
    epoch: u64,
    contents: Contents,
}

pub fn ors_recovery(input: &OracleInput<'_>) -> Vec<Violation> {
    let trace = input.trace;
    let mut live: BTreeMap<u16, BTreeSet<u64>> = BTreeMap::new();
    let mut recovering: BTreeMap<u16, Recovery> = BTreeMap::new();
    let pairs = input.ors.as_ref().map(|ors| &ors.pairs);
    let mut stores: BTreeMap<usize, Store> = BTreeMap::new();
    // Per host: the epoch its last read took, and its flushes not yet answered.
    let mut held: BTreeMap<u16, u64> = BTreeMap::new();
    let mut unanswered: BTreeMap<u16, VecDeque<Contents>> = BTreeMap::new();
    // Per pair: every session id started or recovered in it so far, and where first.
    let mut used: BTreeMap<usize, BTreeMap<u64, u16>> = BTreeMap::new();
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
                held.remove(&host);
                unanswered.remove(&host);
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                let pair = pairs.and_then(|p| p.get(trace.host_name(host)));
                if let Some(pair) = pair {
                    let ids = used.entry(*pair).or_default();
                    if let Some(first) = ids.get(session) {
                        if what == "session-started" && held.contains_key(&host) {
                            fail(format!(
                                "started session s{session}, an id its pair already used on {}",
                                trace.host_name(*first)
                            ));
                        }
                    } else {
                        ids.insert(*session, host);
                    }
                }
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
            TraceEvent::OrsFlushed { sessions, linked } => {
                unanswered
                    .entry(host)
                    .or_default()
                    .push_back((sessions.clone(), linked.clone()));
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
            TraceEvent::OrsStored { fenced } => {
                let Some(flush) = unanswered.get_mut(&host).and_then(VecDeque::pop_front) else {
                    fail("the store answered a flush this process never issued".into());
                    continue;
                };
                let Some(pair) = pairs.and_then(|p| p.get(trace.host_name(host))) else {
                    continue;
                };
                let store = stores.entry(*pair).or_default();
                let holds = held.get(&host).copied().unwrap_or(0);
                let deposed = holds < store.epoch;
                if *fenced != deposed {
                    fail(format!(
                        "the store {} a flush from a process holding epoch {holds} while the store holds {}",
                        if *fenced { "refused" } else { "took" },
                        store.epoch,
                    ));
                }
                if !fenced {
                    store.contents = flush;
                }
            }
            TraceEvent::OrsLoadFenced { epoch } => {
                let Some(pair) = pairs.and_then(|p| p.get(trace.host_name(host))) else {
                    continue;
                };
                let store = stores.entry(*pair).or_default();
                if *epoch > store.epoch {
                    fail(format!(
                        "the store refused promotion epoch {epoch} though it holds only {}",
                        store.epoch
                    ));
                }
            }
            TraceEvent::OrsLoaded {
                epoch,
                sessions,
                linked,
            } => {
                if let Some(pair) = pairs.and_then(|p| p.get(trace.host_name(host))) {
                    let store = stores.entry(*pair).or_default();
                    if *epoch <= store.epoch {
                        fail(format!(
                            "the store gave promotion epoch {epoch} its contents though it holds epoch {}",
                            store.epoch
                        ));
                    }
                    let (stored_sessions, stored_linked) = &store.contents;
                    if sessions != stored_sessions || linked != stored_linked {
                        fail(format!(
                            "read sessions {} linked {} but the last stored flush wrote sessions {} linked {}",
                            id_list(sessions),
                            id_list(linked),
                            id_list(stored_sessions),
                            id_list(stored_linked),
                        ));
                    }
                    store.epoch = store.epoch.max(*epoch);
                    held.insert(host, *epoch);
                }
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
