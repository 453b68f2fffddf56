//! Routing strategies as a small state-chart IR (the product runs SCXML; this keeps the parts
//! the seeds talk about) [S-ORS-session].
//!
//! A strategy is a set of named states. Each state has actions run on entry and transitions on
//! events; a transition may run actions and move to another state. Events are matched in
//! document order, first match wins, as in SCXML: a pattern is an exact event name
//! (`queue.submit.done`), a prefix ending in `.*` (`error.*` matches `error.interaction.detach`),
//! or `*`. A `final` state ends the session once its entry actions ran. There are no eventless
//! transitions, so a step always terminates.
//!
//! Actions are what an ORS session asks of the world: update user data, `queue:submit` (with
//! `route` true: route to the selected target; false: just report it in `queue.submit.done`),
//! `detach`, `attach`, `associate` with another session, `redirect` (place in a queue),
//! `deliver` to the last selected target, timers, and `exit`. The session machine carries them
//! out and feeds their results back as events (`interaction.detach.done`,
//! `error.interaction.detach`, `queue.submit.done`, `interaction.notcontrolled`, timer names).
//!
//! Must not: do anything itself. [`Run`] only decides which actions come next.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub name: String,
    pub initial: String,
    pub states: Vec<StateDef>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDef {
    pub name: String,
    #[serde(default)]
    pub on_entry: Vec<Action>,
    #[serde(default)]
    pub transitions: Vec<TransitionDef>,
    /// Reaching this state ends the session (after its entry actions).
    #[serde(default, rename = "final")]
    pub is_final: bool,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionDef {
    /// Event pattern: exact name, `prefix.*`, or `*`.
    pub event: String,
    /// The state to enter; none = stay (the actions still run).
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Set one user-data key on the interaction.
    UpdateUserData {
        key: String,
        value: String,
    },
    /// `queue:submit`: select a target from the named target list.
    QueueSubmit {
        targets: String,
        route: bool,
        timeout_ms: u64,
    },
    /// `<detach>`: end this session's association with the interaction [S-ORS-detach].
    Detach,
    /// `<attach>`: associate the interaction with this session again (only if no session has
    /// it).
    Attach,
    /// `<associate>`: hand the interaction to a new session running `strategy`.
    Associate {
        strategy: String,
    },
    /// Place the interaction in `queue` (the session keeps the association: when ORS pulls it
    /// again, the event goes to this session [S-ORS-session]).
    Redirect {
        queue: String,
    },
    /// RequestDeliver to the target the last `queue.submit.done` named.
    Deliver,
    StartTimer {
        name: String,
        ms: u64,
    },
    Exit,
}

impl Strategy {
    fn state(&self, name: &str) -> Option<&StateDef> {
        self.states.iter().find(|state| state.name == name)
    }

    /// Problems a scenario author should hear about: unknown states, duplicate names, bad
    /// patterns, strategies that can never end.
    pub fn validate(&self, target_lists: &[String]) -> Result<(), String> {
        let fail = |problem: String| Err(format!("strategy `{}`: {problem}", self.name));
        let mut names = BTreeSet::new();
        for state in &self.states {
            if !names.insert(state.name.as_str()) {
                return fail(format!("state `{}` defined twice", state.name));
            }
        }
        if self.state(&self.initial).is_none() {
            return fail(format!("initial state `{}` is not defined", self.initial));
        }
        let mut can_end = false;
        for state in &self.states {
            let actions = state
                .on_entry
                .iter()
                .chain(state.transitions.iter().flat_map(|t| t.actions.iter()));
            for action in actions {
                can_end |= matches!(action, Action::Exit);
                if let Action::QueueSubmit { targets, .. } = action {
                    if !target_lists.contains(targets) {
                        return fail(format!("unknown target list `{targets}`"));
                    }
                }
            }
            can_end |= state.is_final;
            for transition in &state.transitions {
                let pattern = &transition.event;
                let wildcard = pattern.find('*');
                let well_formed = match wildcard {
                    None => !pattern.is_empty(),
                    Some(_) => pattern == "*" || (pattern.ends_with(".*") && pattern.len() > 2),
                };
                if !well_formed || pattern.matches('*').count() > 1 {
                    return fail(format!("bad event pattern `{pattern}`"));
                }
                if let Some(target) = &transition.target {
                    if self.state(target).is_none() {
                        return fail(format!(
                            "state `{}` goes to undefined state `{target}`",
                            state.name
                        ));
                    }
                }
            }
        }
        if !can_end {
            return fail("no final state and no exit: sessions would never end".to_string());
        }
        Ok(())
    }
}

/// Whether `pattern` matches `event`.
pub fn matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        None => pattern == event,
        Some("") => true,
        Some(prefix) => event.starts_with(prefix),
    }
}

/// What one step of a session decided.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Step {
    pub actions: Vec<Action>,
    /// The session ended (a final state or an `exit` action).
    pub finished: bool,
}

/// One running session's position in its strategy.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Run {
    state: String,
    finished: bool,
}

impl Run {
    /// Enters the initial state. The strategy must have passed [`Strategy::validate`].
    pub fn start(strategy: &Strategy) -> (Run, Step) {
        let mut run = Run {
            state: strategy.initial.clone(),
            finished: false,
        };
        let mut step = Step::default();
        run.enter(strategy, &strategy.initial.clone(), &mut step);
        (run, step)
    }

    pub fn state(&self) -> &str {
        &self.state
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    fn enter(&mut self, strategy: &Strategy, name: &str, step: &mut Step) {
        self.state = name.to_string();
        if let Some(state) = strategy.state(name) {
            self.run_actions(&state.on_entry, step);
            if state.is_final {
                self.finished = true;
            }
        }
        step.finished = self.finished;
    }

    fn run_actions(&mut self, actions: &[Action], step: &mut Step) {
        for action in actions {
            if self.finished {
                return;
            }
            step.actions.push(action.clone());
            if matches!(action, Action::Exit) {
                self.finished = true;
            }
        }
    }

    /// Handles one event: the first transition of the current state whose pattern matches runs
    /// its actions and moves. An event nothing matches is ignored (SCXML drops it too).
    pub fn on_event(&mut self, strategy: &Strategy, event: &str) -> Step {
        let mut step = Step::default();
        if self.finished {
            step.finished = true;
            return step;
        }
        let Some(transition) = strategy
            .state(&self.state)
            .and_then(|state| state.transitions.iter().find(|t| matches(&t.event, event)))
            .cloned()
        else {
            return step;
        };
        self.run_actions(&transition.actions, &mut step);
        if let (Some(target), false) = (&transition.target, self.finished) {
            self.enter(strategy, target, &mut step);
        }
        step.finished = self.finished;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(event: &str, target: Option<&str>, actions: Vec<Action>) -> TransitionDef {
        TransitionDef {
            event: event.to_string(),
            target: target.map(str::to_string),
            actions,
        }
    }

    fn state(name: &str, on_entry: Vec<Action>, transitions: Vec<TransitionDef>) -> StateDef {
        StateDef {
            name: name.to_string(),
            on_entry,
            transitions,
            is_final: false,
        }
    }

    /// Seed 000's use case: select a target without routing, detach, route only after
    /// interaction.detach.done, attach again if routing fails [S-ORS-detach] [S-ORS-submit].
    fn submit_detach_redirect() -> Strategy {
        Strategy {
            name: "submit-detach-redirect".into(),
            initial: "select".into(),
            states: vec![
                state(
                    "select",
                    vec![Action::QueueSubmit {
                        targets: "sales".into(),
                        route: false,
                        timeout_ms: 5000,
                    }],
                    vec![
                        transition("queue.submit.done", Some("detaching"), vec![Action::Detach]),
                        transition("error.*", Some("fallback"), vec![]),
                    ],
                ),
                state(
                    "detaching",
                    vec![],
                    vec![
                        transition(
                            "interaction.detach.done",
                            Some("routing"),
                            vec![Action::Deliver],
                        ),
                        transition("error.interaction.detach", Some("select"), vec![]),
                    ],
                ),
                state(
                    "routing",
                    vec![],
                    vec![
                        transition("interaction.notcontrolled", None, vec![Action::Exit]),
                        transition("error.*", Some("fallback"), vec![Action::Attach]),
                    ],
                ),
                StateDef {
                    name: "fallback".into(),
                    on_entry: vec![Action::Redirect {
                        queue: "overflow".into(),
                    }],
                    transitions: vec![],
                    is_final: true,
                },
            ],
        }
    }

    #[test]
    fn patterns() {
        assert!(matches("error.*", "error.interaction.detach"));
        assert!(!matches("error.*", "errors"));
        assert!(matches("*", "anything"));
        assert!(matches("queue.submit.done", "queue.submit.done"));
        assert!(!matches("queue.submit.done", "queue.submit.done.x"));
    }

    #[test]
    fn seed_use_case_runs_in_order() {
        let strategy = submit_detach_redirect();
        strategy.validate(&["sales".into()]).expect("valid");
        let (mut run, step) = Run::start(&strategy);
        assert!(matches!(
            step.actions.as_slice(),
            [Action::QueueSubmit { route: false, .. }]
        ));
        // A detach refused (the association's user data not yet confirmed): select again.
        assert_eq!(
            run.on_event(&strategy, "queue.submit.done").actions,
            vec![Action::Detach]
        );
        let again = run.on_event(&strategy, "error.interaction.detach");
        assert!(matches!(
            again.actions.as_slice(),
            [Action::QueueSubmit { .. }]
        ));
        run.on_event(&strategy, "queue.submit.done");
        // Routing only after detach.done.
        assert_eq!(
            run.on_event(&strategy, "interaction.detach.done").actions,
            vec![Action::Deliver]
        );
        // Routing failed: attach and fall back, which ends the session.
        let failed = run.on_event(&strategy, "error.deliver");
        assert_eq!(
            failed.actions,
            vec![
                Action::Attach,
                Action::Redirect {
                    queue: "overflow".into()
                }
            ]
        );
        assert!(failed.finished && run.finished());
        assert_eq!(
            run.on_event(&strategy, "queue.submit.done"),
            Step {
                actions: vec![],
                finished: true
            }
        );
    }

    #[test]
    fn unmatched_events_are_dropped_and_exit_stops_actions() {
        let strategy = Strategy {
            name: "s".into(),
            initial: "a".into(),
            states: vec![state(
                "a",
                vec![],
                vec![transition(
                    "go",
                    Some("a"),
                    vec![Action::Exit, Action::Deliver],
                )],
            )],
        };
        strategy.validate(&[]).expect("valid");
        let (mut run, _) = Run::start(&strategy);
        assert_eq!(run.on_event(&strategy, "other"), Step::default());
        let step = run.on_event(&strategy, "go");
        assert_eq!(step.actions, vec![Action::Exit]);
        assert!(step.finished);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut strategy = submit_detach_redirect();
        assert!(strategy
            .validate(&[])
            .is_err_and(|e| e.contains("unknown target list `sales`")));
        strategy.states[0].transitions[0].target = Some("nowhere".into());
        assert!(strategy
            .validate(&["sales".into()])
            .is_err_and(|e| e.contains("undefined state `nowhere`")));
        let mut strategy = submit_detach_redirect();
        strategy.states[0].transitions[0].event = "queue.*.done".into();
        assert!(strategy
            .validate(&["sales".into()])
            .is_err_and(|e| e.contains("bad event pattern")));
        let endless = Strategy {
            name: "endless".into(),
            initial: "a".into(),
            states: vec![state("a", vec![], vec![transition("x", Some("a"), vec![])])],
        };
        assert!(endless
            .validate(&[])
            .is_err_and(|e| e.contains("never end")));
    }
}
