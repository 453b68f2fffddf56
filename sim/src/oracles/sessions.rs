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

use super::{OracleInput, Violation};
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
    let mut hosts: BTreeMap<u16, Host> = trace
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, name)| rules.pairs.contains_key(*name))
        .map(|(index, _)| (index as u16, Host::default()))
        .collect();
    // Agents a URS selected for an interaction since an ORS last delivered it.
    let mut selected: BTreeMap<IxnId, BTreeSet<AgentId>> = BTreeMap::new();
    // The queue an ORS last pulled an interaction from.
    let mut origin: BTreeMap<IxnId, String> = BTreeMap::new();
    // Interaction -> (ORS host, the queue it must be placed in, when its session failed).
    let mut failed: BTreeMap<IxnId, (u16, String, SimTime)> = BTreeMap::new();
    let mut violations = Vec::new();
    let unheard = |host: u16, session: u64, ixn: IxnId, at: SimTime| Violation {
        oracle: ORS_SUBMIT,
        at_ms: at,
        detail: format!(
            "{} delivered {ixn} from under live session {session}, which never heard of it \
             (no queue.submit.done, interaction.deliver.done or interaction.notcontrolled)",
            trace.host_name(host)
        ),
    };
    for entry in &trace.entries {
        if let Some(state) = hosts.get_mut(&entry.host) {
            state.owed.retain(|session, (ixn, at)| {
                let due = *at < entry.at;
                if due {
                    violations.push(unheard(entry.host, *session, *ixn, *at));
                }
                !due
            });
        }
        match &entry.event {
            TraceEvent::UrsSelected { ixn, agent } => {
                selected.entry(*ixn).or_default().insert(*agent);
            }
            TraceEvent::Pulled {
                client,
                queue,
                ixns,
                ..
            } if rules
                .hosts
                .contains_key(client.split('.').next().unwrap_or_default()) =>
            {
                for ixn in ixns {
                    origin.insert(*ixn, queue.clone());
                }
            }
            TraceEvent::Placed { ixn, queue } => {
                if let Some((host, expected, at)) = failed.remove(ixn) {
                    if *queue != expected {
                        violations.push(Violation {
                            oracle: ORS_FAIL,
                            at_ms: entry.at,
                            detail: format!(
                                "{ixn}, whose session {} could not create at {at} ms, was \
                                 placed in {queue}, not in {expected}",
                                trace.host_name(host)
                            ),
                        });
                    }
                }
            }
            TraceEvent::Released { ixn, .. } => {
                failed.remove(ixn);
            }
            TraceEvent::ProcessKilled | TraceEvent::OrsRole { primary: false } => {
                if let Some(state) = hosts.get_mut(&entry.host) {
                    *state = Host::default();
                    failed.retain(|_, (host, _, _)| *host != entry.host);
                }
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                let Some(state) = hosts.get_mut(&entry.host) else {
                    continue;
                };
                let mut words = what.split(' ');
                let word = words.next().unwrap_or_default();
                let mut fail = |oracle: &'static str, detail: String| {
                    violations.push(Violation {
                        oracle,
                        at_ms: entry.at,
                        detail: format!(
                            "{} session {session}: {detail}",
                            trace.host_name(entry.host)
                        ),
                    })
                };
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
                if acts && state.links.get(ixn) != Some(session) {
                    let holder = match state.links.get(ixn) {
                        Some(other) => format!("session {other} holds it"),
                        None => "no session holds it".to_string(),
                    };
                    fail(
                        ORS_ASSOC,
                        format!("{word} of {ixn}, which it does not hold ({holder})"),
                    );
                }
                match word {
                    "session-started"
                    | "interaction.attach.done"
                    | "recovered-confirmed"
                    | "recovered-pending"
                    | "recovered-detached"
                    | "reloaded" => {
                        state.links.insert(*ixn, *session);
                        if word == "session-started" {
                            state.live.insert(*session);
                        }
                    }
                    "session-recovered" => {
                        state.live.insert(*session);
                    }
                    "route-deliver" | "submit-deliver" => {
                        let agent = words.next().unwrap_or_default();
                        let choices = selected.remove(ixn).unwrap_or_default();
                        if !choices.iter().any(|a| a.to_string() == agent) {
                            let list: Vec<String> = choices.iter().map(|a| a.to_string()).collect();
                            fail(
                                ORS_SUBMIT,
                                format!(
                                    "routed {ixn} to {agent}, which no URS selected for it since \
                                     its last delivery (selected: [{}])",
                                    list.join(" ")
                                ),
                            );
                        }
                    }
                    "delivered" => {
                        if let Some(holder) = state.links.remove(ixn) {
                            if state.live.contains(&holder) {
                                state.owed.insert(holder, (*ixn, entry.at));
                            }
                        }
                    }
                    "heard" => {
                        let event = words.next().unwrap_or_default();
                        if HEARD.contains(&event) {
                            state.owed.remove(session);
                        }
                    }
                    "returned-to-queue" => {
                        state.links.remove(ixn);
                    }
                    "associated-away" | "lost-control" if state.links.get(ixn) == Some(session) => {
                        state.links.remove(ixn);
                    }
                    "session-ended" | "session-dropped" | "strategy-livelock" => {
                        state.live.remove(session);
                        state.links.retain(|_, holder| holder != session);
                        state.owed.remove(session);
                    }
                    "session-failed" => {
                        let expected = rules
                            .queue_on_fails
                            .clone()
                            .or_else(|| origin.get(ixn).cloned());
                        if let Some(expected) = expected {
                            failed.insert(*ixn, (entry.host, expected, entry.at));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (host, state) in &hosts {
        for (session, (ixn, at)) in &state.owed {
            violations.push(unheard(*host, *session, *ixn, *at));
        }
    }
    violations
}
