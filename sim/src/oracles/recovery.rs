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
use crate::trace::{Trace, TraceEntry};
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
    let mut recoveries = Recoveries {
        trace: input.trace,
        pairs: input.ors.as_ref().map(|ors| &ors.pairs),
        live: BTreeMap::new(),
        recovering: BTreeMap::new(),
        stores: BTreeMap::new(),
        held: BTreeMap::new(),
        unanswered: BTreeMap::new(),
        used: BTreeMap::new(),
        violations: Vec::new(),
    };
    for entry in &input.trace.entries {
        recoveries.observe(entry);
    }
    recoveries.violations
}

/// The oracle's state over the trace.
struct Recoveries<'a> {
    trace: &'a Trace,
    /// ORS host name -> its pair.
    pairs: Option<&'a BTreeMap<String, usize>>,
    /// Per host: the sessions it runs.
    live: BTreeMap<u16, BTreeSet<u64>>,
    recovering: BTreeMap<u16, Recovery>,
    stores: BTreeMap<usize, Store>,
    /// Per host: the epoch its last read took, and its flushes not yet answered.
    held: BTreeMap<u16, u64>,
    unanswered: BTreeMap<u16, VecDeque<Contents>>,
    /// Per pair: every session id started or recovered in it so far, and where first.
    used: BTreeMap<usize, BTreeMap<u64, u16>>,
    violations: Vec<Violation>,
}

impl Recoveries<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        let host = entry.host;
        match &entry.event {
            TraceEvent::ProcessKilled => {
                self.live.remove(&host);
                self.recovering.remove(&host);
                self.held.remove(&host);
                self.unanswered.remove(&host);
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                self.session(entry, *session, *ixn, what);
            }
            TraceEvent::OrsFlushed { sessions, linked } => self.flushed(entry, sessions, linked),
            TraceEvent::OrsStored { fenced } => self.stored(entry, *fenced),
            TraceEvent::OrsLoadFenced { epoch } => {
                let Some(store) = self.store(host) else {
                    return;
                };
                if *epoch > store.epoch {
                    let detail = format!(
                        "the store refused promotion epoch {epoch} though it holds only {}",
                        store.epoch
                    );
                    self.fail(entry, detail);
                }
            }
            TraceEvent::OrsLoaded {
                epoch,
                sessions,
                linked,
            } => self.loaded(entry, *epoch, sessions, linked),
            TraceEvent::OrsPersistenceLost { .. } => {
                if let Some(recovery) = self.recovering.get_mut(&host) {
                    recovery.lost = true;
                }
            }
            TraceEvent::OrsRole { primary: true } => self.promoted(entry),
            _ => {}
        }
    }

    fn fail(&mut self, entry: &TraceEntry, detail: String) {
        self.violations.push(Violation {
            oracle: ORS_HA,
            at_ms: entry.at,
            detail: format!("{}: {detail}", self.trace.host_name(entry.host)),
        });
    }

    /// The pair of ORS host `host`, if it has one.
    fn pair(&self, host: u16) -> Option<usize> {
        self.pairs
            .and_then(|pairs| pairs.get(self.trace.host_name(host)))
            .copied()
    }

    /// The model of the store of `host`'s pair, if it has one.
    fn store(&mut self, host: u16) -> Option<&mut Store> {
        let pair = self.pair(host)?;
        Some(self.stores.entry(pair).or_default())
    }

    /// **Session ids** and the sessions a host runs and recovers.
    fn session(&mut self, entry: &TraceEntry, session: u64, ixn: IxnId, what: &str) {
        let host = entry.host;
        if let Some(pair) = self.pair(host) {
            let ids = self.used.entry(pair).or_default();
            if let Some(first) = ids.get(&session).copied() {
                if what == "session-started" && self.held.contains_key(&host) {
                    let detail = format!(
                        "started session s{session}, an id its pair already used on {}",
                        self.trace.host_name(first)
                    );
                    self.fail(entry, detail);
                }
            } else {
                ids.insert(session, host);
            }
        }
        let sessions = self.live.entry(host).or_default();
        let recovery = self.recovering.get_mut(&host);
        match what {
            "session-started" => {
                sessions.insert(session);
            }
            "session-recovered" => {
                sessions.insert(session);
                if let Some(recovery) = recovery {
                    recovery.recovered.insert(session);
                }
            }
            "session-ended" | "session-dropped" => {
                sessions.remove(&session);
            }
            "recovered-confirmed" | "recovered-pending" | "recovered-detached" => {
                if let Some(recovery) = recovery {
                    recovery.relinked.insert(ixn);
                }
            }
            _ => {}
        }
    }

    /// **Flush**: a flush holds exactly the sessions running.
    fn flushed(&mut self, entry: &TraceEntry, sessions: &[u64], linked: &[IxnId]) {
        let host = entry.host;
        self.unanswered
            .entry(host)
            .or_default()
            .push_back((sessions.to_vec(), linked.to_vec()));
        let flushed: BTreeSet<u64> = sessions.iter().copied().collect();
        let running = self.live.get(&host).cloned().unwrap_or_default();
        if flushed != running {
            let detail = format!(
                "flushed sessions {} while running {}: missing {}, not running {}",
                id_list(&flushed),
                id_list(&running),
                id_list(running.difference(&flushed)),
                id_list(flushed.difference(&running)),
            );
            self.fail(entry, detail);
        }
    }

    /// **Store**: the store answered the host's oldest flush; it takes it exactly when the
    /// host holds the store's epoch.
    fn stored(&mut self, entry: &TraceEntry, fenced: bool) {
        let host = entry.host;
        let Some(flush) = self.unanswered.get_mut(&host).and_then(VecDeque::pop_front) else {
            self.fail(
                entry,
                "the store answered a flush this process never issued".into(),
            );
            return;
        };
        let holds = self.held.get(&host).copied().unwrap_or(0);
        let Some(store) = self.store(host) else {
            return;
        };
        let epoch = store.epoch;
        if !fenced {
            store.contents = flush;
        }
        if fenced != (holds < epoch) {
            let detail = format!(
                "the store {} a flush from a process holding epoch {holds} while the store holds {epoch}",
                if fenced { "refused" } else { "took" },
            );
            self.fail(entry, detail);
        }
    }

    /// **Store** and **Recovery**: a promotion read the store under `epoch`; it must be newer
    /// than the store's and get the last stored flush, and recover what it read.
    fn loaded(&mut self, entry: &TraceEntry, epoch: u64, sessions: &[u64], linked: &[IxnId]) {
        let host = entry.host;
        if let Some(store) = self.store(host) {
            let held_epoch = store.epoch;
            let (stored_sessions, stored_linked) = store.contents.clone();
            store.epoch = store.epoch.max(epoch);
            if epoch <= held_epoch {
                let detail = format!(
                    "the store gave promotion epoch {epoch} its contents though it holds epoch {held_epoch}"
                );
                self.fail(entry, detail);
            }
            if sessions != stored_sessions || linked != stored_linked {
                let detail = format!(
                    "read sessions {} linked {} but the last stored flush wrote sessions {} linked {}",
                    id_list(sessions),
                    id_list(linked),
                    id_list(&stored_sessions),
                    id_list(&stored_linked),
                );
                self.fail(entry, detail);
            }
            self.held.insert(host, epoch);
        }
        let recovery = Recovery {
            sessions: sessions.iter().copied().collect(),
            linked: linked.iter().copied().collect(),
            ..Recovery::default()
        };
        self.recovering.insert(host, recovery);
    }

    /// **Recovery**: the host reports itself primary; it recovered all it read, and nothing
    /// else (nothing, when persistence was lost).
    fn promoted(&mut self, entry: &TraceEntry) {
        let Some(recovery) = self.recovering.remove(&entry.host) else {
            return;
        };
        let (sessions, linked) = if recovery.lost {
            (BTreeSet::new(), BTreeSet::new())
        } else {
            (recovery.sessions, recovery.linked)
        };
        if recovery.recovered != sessions {
            let detail = format!(
                "promoted with sessions {} of the {} it read: missing {}",
                id_list(&recovery.recovered),
                id_list(&sessions),
                id_list(sessions.difference(&recovery.recovered)),
            );
            self.fail(entry, detail);
        }
        if recovery.relinked != linked {
            let detail = format!(
                "promoted without the associations of {} it read, with {} it did not",
                id_list(linked.difference(&recovery.relinked)),
                id_list(recovery.relinked.difference(&linked)),
            );
            self.fail(entry, detail);
        }
    }
}
