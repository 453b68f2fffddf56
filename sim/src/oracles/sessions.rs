//! What ORS sessions do with the interactions they control, judged on every run with ORS
//! hosts from their own `ors sN <ixn> <what>` facts, against an association model rebuilt per
//! ORS host (a session holds an interaction from its start, an attach, a recovery or a reload
//! until it moves it away, the interaction is delivered or its control is lost, or the session
//! ends; a detached interaction stays the detaching session's to route; a crash or demotion
//! forgets the host's sessions):
//!
//! - [S-ORS-assoc]: a session acts on an interaction (detaches it, redirects it, routes it,
//!   delivers it, hands it to another session, gets it back from a queue) only while it holds
//!   it or detached it. The association holds until the session exits, `<associate>` moves
//!   it, or the interaction leaves; a session acting on one it does not hold acts on someone
//!   else's work.
//! - [S-ORS-submit]: a session routes an interaction only to an agent a URS selected for it
//!   (`urs-selected`) since its previous delivery: the target `queue:submit` returned, not an
//!   older one; and when an interaction a live session holds or detached is delivered (an agent
//!   accepted it), that session hears so in the same step (`heard queue.submit.done`,
//!   `interaction.deliver.done` or `interaction.notcontrolled`).
//! - [S-ORS-fail]: an interaction whose session could not be created (`session-failed`) is
//!   placed in the `mcr-queue-on-fails` queue (or, without one, back in the queue it was pulled
//!   from) by the next placement the nodes carry out for it, unless it leaves the ORS first
//!   (its owner died, a node released it). That it is placed at all is [S-INV-live]'s.
//!
//! Not judged here: `ixnfm-idle-session-ttl` and the eviction of passive interactions
//! ([S-ORS-fail]'s other options): the marks `ors-idle-session-ended` and the `ors` scenario
//! test show they run, and an evicted interaction that is not reloaded is caught by
//! [S-INV-live] (planted `eviction-loses-interaction`).

use super::{OracleInput, OrsPullRules, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::{AgentId, IxnId, SimTime};
use ixsim_core::ors::server::HEARD;
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const ORS_ASSOC: &str = "S-ORS-assoc";
pub const ORS_SUBMIT: &str = "S-ORS-submit";
pub const ORS_FAIL: &str = "S-ORS-fail";

/// What the sessions of one ORS host hold.
#[derive(Default)]
struct Host {
    /// Interaction -> the session that holds or detached it.
    links: BTreeMap<IxnId, u64>,
    live: BTreeSet<u64>,
    /// Session -> the interaction delivered from under it, and when: it must hear so at once.
    owed: BTreeMap<u64, (IxnId, SimTime)>,
}

pub fn ors_sessions(input: &OracleInput<'_>) -> Vec<Violation> {
    let Some(rules) = &input.ors else {
        return Vec::new();
    };
    let trace = input.trace;
    let hosts = trace
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, name)| rules.pairs.contains_key(*name))
        .map(|(index, _)| (index as u16, Host::default()))
        .collect();
    let mut sessions = Sessions {
        trace,
        rules,
        hosts,
        selected: BTreeMap::new(),
        origin: BTreeMap::new(),
        failed: BTreeMap::new(),
        violations: Vec::new(),
    };
    for entry in &trace.entries {
        sessions.observe(entry);
    }
    sessions.verdict()
}

/// The oracles' state over the trace.
struct Sessions<'a> {
    trace: &'a Trace,
    rules: &'a OrsPullRules,
    /// ORS host -> what its sessions hold.
    hosts: BTreeMap<u16, Host>,
    /// Agents a URS selected for an interaction since an ORS last delivered it.
    selected: BTreeMap<IxnId, BTreeSet<AgentId>>,
    /// The queue an ORS last pulled an interaction from.
    origin: BTreeMap<IxnId, String>,
    /// Interaction -> (ORS host, the queue it must be placed in, when its session failed).
    failed: BTreeMap<IxnId, (u16, String, SimTime)>,
    violations: Vec<Violation>,
}

impl Sessions<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        self.settle_owed(entry);
        match &entry.event {
            TraceEvent::UrsSelected { ixn, agent } => {
                self.selected.entry(*ixn).or_default().insert(*agent);
            }
            TraceEvent::Pulled {
                client,
                queue,
                ixns,
                ..
            } if self
                .rules
                .hosts
                .contains_key(client.split('.').next().unwrap_or_default()) =>
            {
                for ixn in ixns {
                    self.origin.insert(*ixn, queue.clone());
                }
            }
            TraceEvent::Placed { ixn, queue } => self.placed(entry, *ixn, queue),
            TraceEvent::Released { ixn, .. } => {
                self.failed.remove(ixn);
            }
            TraceEvent::ProcessKilled | TraceEvent::OrsRole { primary: false } => {
                if let Some(state) = self.hosts.get_mut(&entry.host) {
                    *state = Host::default();
                    self.failed.retain(|_, (host, _, _)| *host != entry.host);
                }
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                self.session(entry, *session, *ixn, what);
            }
            _ => {}
        }
    }

    /// [S-ORS-submit]: a live session owed the news of a delivery hears it in the step of the
    /// delivery; by any later entry of its host it is too late.
    fn settle_owed(&mut self, entry: &TraceEntry) {
        let Some(state) = self.hosts.get_mut(&entry.host) else {
            return;
        };
        state.owed.retain(|session, (ixn, at)| {
            let due = *at < entry.at;
            if due {
                let violation = unheard(self.trace, entry.host, *session, *ixn, *at);
                self.violations.push(violation);
            }
            !due
        });
    }

    /// [S-ORS-fail]: the first placement of an interaction whose session failed goes to the
    /// queue it must.
    fn placed(&mut self, entry: &TraceEntry, ixn: IxnId, queue: &str) {
        let Some((host, expected, at)) = self.failed.remove(&ixn) else {
            return;
        };
        if queue != expected {
            self.violations.push(Violation {
                oracle: ORS_FAIL,
                at_ms: entry.at,
                detail: format!(
                    "{ixn}, whose session {} could not create at {at} ms, was \
                     placed in {queue}, not in {expected}",
                    self.trace.host_name(host)
                ),
            });
        }
    }

    /// Session `session` of the entry's ORS host did `what` (a word, and maybe its argument)
    /// about `ixn`.
    fn session(&mut self, entry: &TraceEntry, session: u64, ixn: IxnId, what: &str) {
        let Some(state) = self.hosts.get_mut(&entry.host) else {
            return;
        };
        let mut words = what.split(' ');
        let word = words.next().unwrap_or_default();
        let argument = words.next().unwrap_or_default();
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        if let Some(problem) = state.acts_without_holding(word, session, ixn) {
            problems.push((ORS_ASSOC, problem));
        }
        match word {
            "route-deliver" | "submit-deliver" => {
                let choices = self.selected.remove(&ixn).unwrap_or_default();
                if let Some(problem) = unselected_target(&choices, ixn, argument) {
                    problems.push((ORS_SUBMIT, problem));
                }
            }
            "session-failed" => {
                let expected = self
                    .rules
                    .queue_on_fails
                    .clone()
                    .or_else(|| self.origin.get(&ixn).cloned());
                if let Some(expected) = expected {
                    self.failed.insert(ixn, (entry.host, expected, entry.at));
                }
            }
            _ => state.observe(word, argument, session, ixn, entry.at),
        }
        let host = self.trace.host_name(entry.host);
        for (oracle, detail) in problems {
            self.violations.push(Violation {
                oracle,
                at_ms: entry.at,
                detail: format!("{host} session {session}: {detail}"),
            });
        }
    }

    /// At the end of the run: a delivery no live session heard of is unheard.
    fn verdict(mut self) -> Vec<Violation> {
        for (host, state) in &self.hosts {
            for (session, (ixn, at)) in &state.owed {
                let violation = unheard(self.trace, *host, *session, *ixn, *at);
                self.violations.push(violation);
            }
        }
        self.violations
    }
}

impl Host {
    /// [S-ORS-assoc]: what is wrong with `session` doing `word` about `ixn`, if anything.
    fn acts_without_holding(&self, word: &str, session: u64, ixn: IxnId) -> Option<String> {
        let acts = matches!(
            word,
            "interaction.detach.done"
                | "redirect"
                | "route-redirect"
                | "route-deliver"
                | "submit-deliver"
                | "associated-away"
                | "re-pulled"
        );
        if !acts || self.links.get(&ixn) == Some(&session) {
            return None;
        }
        let holder = match self.links.get(&ixn) {
            Some(other) => format!("session {other} holds it"),
            None => "no session holds it".to_string(),
        };
        Some(format!(
            "{word} of {ixn}, which it does not hold ({holder})"
        ))
    }

    /// Follows what `session` did about `ixn` at `at` (`word`, with its `argument`) to what
    /// the host's sessions hold and are owed.
    fn observe(&mut self, word: &str, argument: &str, session: u64, ixn: IxnId, at: SimTime) {
        match word {
            "session-started"
            | "interaction.attach.done"
            | "recovered-confirmed"
            | "recovered-pending"
            | "recovered-detached"
            | "reloaded" => {
                self.links.insert(ixn, session);
                if word == "session-started" {
                    self.live.insert(session);
                }
            }
            "session-recovered" => {
                self.live.insert(session);
            }
            "delivered" => {
                if let Some(holder) = self.links.remove(&ixn) {
                    if self.live.contains(&holder) {
                        self.owed.insert(holder, (ixn, at));
                    }
                }
            }
            "heard" if HEARD.contains(&argument) => {
                self.owed.remove(&session);
            }
            "returned-to-queue" => {
                self.links.remove(&ixn);
            }
            "associated-away" | "lost-control" if self.links.get(&ixn) == Some(&session) => {
                self.links.remove(&ixn);
            }
            "session-ended" | "session-dropped" | "strategy-livelock" => {
                self.live.remove(&session);
                self.links.retain(|_, holder| *holder != session);
                self.owed.remove(&session);
            }
            _ => {}
        }
    }
}

/// [S-ORS-submit]: what is wrong with routing `ixn` to `agent` when a URS selected `choices`
/// for it since its last delivery, if anything.
fn unselected_target(choices: &BTreeSet<AgentId>, ixn: IxnId, agent: &str) -> Option<String> {
    if choices.iter().any(|a| a.to_string() == agent) {
        return None;
    }
    let list: Vec<String> = choices.iter().map(|a| a.to_string()).collect();
    Some(format!(
        "routed {ixn} to {agent}, which no URS selected for it since its last delivery \
         (selected: [{}])",
        list.join(" ")
    ))
}

/// [S-ORS-submit]: `host` delivered `ixn` at `at` from under live session `session`, which
/// never heard of it.
fn unheard(trace: &Trace, host: u16, session: u64, ixn: IxnId, at: SimTime) -> Violation {
    Violation {
        oracle: ORS_SUBMIT,
        at_ms: at,
        detail: format!(
            "{} delivered {ixn} from under live session {session}, which never heard of it \
             (no queue.submit.done, interaction.deliver.done or interaction.notcontrolled)",
            trace.host_name(host)
        ),
    }
}
