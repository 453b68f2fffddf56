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

/// Every event an ORS session can be sent besides its own timers' names (which are events
/// too): the results of its actions, an interaction arriving or taken away, and recovery after
/// a switchover. A transition on anything else is a typo: no server ever sends it.
pub const SERVER_EVENTS: &[&str] = &[
    "interaction.present",
    "interaction.notcontrolled",
    "interaction.update.done",
    "error.interaction.update",
    "interaction.detach.done",
    "error.interaction.detach",
    "interaction.attach.done",
    "error.interaction.attach",
    "error.interaction.associate",
    "interaction.redirect.done",
    "error.interaction.redirect",
    "interaction.deliver.done",
    "error.interaction.deliver",
    "queue.submit.done",
    "error.queue.submit",
    "_sendSessionRecovered",
];

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
        for action in self.actions() {
            can_end |= matches!(action, Action::Exit);
            if let Action::QueueSubmit { targets, .. } = action {
                if !target_lists.contains(targets) {
                    return fail(format!("unknown target list `{targets}`"));
                }
            }
        }
        for state in &self.states {
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
        self.check_events().or_else(fail)?;
        self.check_zero_delay_cycles().or_else(fail)
    }

    /// Every action of the strategy, wherever it is written (entry actions and transitions').
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.states.iter().flat_map(|state| {
            state
                .on_entry
                .iter()
                .chain(state.transitions.iter().flat_map(|t| t.actions.iter()))
        })
    }

    /// The names of the timers the strategy starts, with `ms = 0` only when `zero`.
    fn timer_names(&self, zero: bool) -> BTreeSet<&str> {
        self.actions()
            .filter_map(|action| match action {
                Action::StartTimer { name, ms } if !zero || *ms == 0 => Some(name.as_str()),
                Action::StartTimer { .. }
                | Action::UpdateUserData { .. }
                | Action::QueueSubmit { .. }
                | Action::Detach
                | Action::Attach
                | Action::Associate { .. }
                | Action::Redirect { .. }
                | Action::Deliver
                | Action::Exit => None,
            })
            .collect()
    }

    /// Every transition waits for an event something can send: a server event or one of the
    /// strategy's timers (a `prefix.*` pattern must match at least one of them).
    fn check_events(&self) -> Result<(), String> {
        let timers = self.timer_names(false);
        let known: Vec<&str> = SERVER_EVENTS.iter().copied().chain(timers).collect();
        for state in &self.states {
            for transition in &state.transitions {
                let pattern = &transition.event;
                if !known.iter().any(|event| matches(pattern, event)) {
                    return Err(format!(
                        "state `{}` waits for event `{pattern}`, which no server sends and no timer of this strategy is named (events: {})",
                        state.name,
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// No cycle of transitions taken on zero-delay timers that each start a zero-delay timer
    /// again: such a session would step forever without simulated time passing. An edge goes
    /// from a state to where a transition on a zero-delay timer's event leads (itself when it
    /// has no target), when that transition's actions, or the entry actions of the state it
    /// enters, start a zero-delay timer.
    fn check_zero_delay_cycles(&self) -> Result<(), String> {
        let zero = self.timer_names(true);
        if zero.is_empty() {
            return Ok(());
        }
        let starts_zero = |actions: &[Action]| {
            actions
                .iter()
                .any(|action| matches!(action, Action::StartTimer { ms: 0, .. }))
        };
        let index = |name: &str| self.states.iter().position(|state| state.name == name);
        let edges: Vec<Vec<usize>> = self
            .states
            .iter()
            .enumerate()
            .map(|(from, state)| {
                state
                    .transitions
                    .iter()
                    .filter(|t| zero.iter().any(|event| matches(&t.event, event)))
                    .filter_map(|t| {
                        let to = match &t.target {
                            Some(target) => index(target)?,
                            None => from,
                        };
                        let entered = t.target.is_some() && starts_zero(&self.states[to].on_entry);
                        (starts_zero(&t.actions) || entered).then_some(to)
                    })
                    .collect()
            })
            .collect();
        match find_cycle(&edges) {
            Some(cycle) => {
                let names: Vec<&str> = cycle
                    .iter()
                    .map(|&state| self.states[state].name.as_str())
                    .collect();
                Err(format!(
                    "zero-delay timers loop through states {} without time passing (give a timer ms > 0)",
                    names.join(" -> ")
                ))
            }
            None => Ok(()),
        }
    }
}

/// A cycle in the directed graph `edges` (node -> successors), as the nodes along it with the
/// first repeated at the end, if there is one.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    let mut color = vec![0u8; edges.len()];
    for start in 0..edges.len() {
        if color[start] != 0 {
            continue;
        }
        // Depth-first without recursion: (node, next successor to look at).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        color[start] = 1;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&succ) = edges[node].get(*next) else {
                color[node] = 2;
                path.pop();
                continue;
            };
            *next += 1;
            match color[succ] {
                0 => {
                    color[succ] = 1;
                    path.push((succ, 0));
                }
                1 => {
                    let from = path.iter().position(|(n, _)| *n == succ).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                    cycle.push(succ);
                    return Some(cycle);
                }
                _ => {}
            }
        }
    }
    None
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

    /// [`SERVER_EVENTS`] is what the session machine sends: every event name written in
    /// `server/` is listed (else validation would refuse a strategy that waits for it).
    #[test]
    fn server_events_lists_every_event_the_server_sends() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ors/server");
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(folder).expect("the server's folder") {
            let path = entry.expect("a file of the server's folder").path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                sources.push(std::fs::read_to_string(&path).expect("a source file"));
            }
        }
        assert!(
            sources.len() >= 2,
            "found only {} files in {folder}",
            sources.len()
        );
        let mut written = BTreeSet::new();
        for piece in sources
            .iter()
            .flat_map(|source| source.split('"').skip(1).step_by(2))
        {
            let event_like = ["interaction.", "error.", "queue.", "_send"]
                .iter()
                .any(|prefix| piece.starts_with(prefix))
                && !piece.contains(' ');
            if event_like {
                written.insert(piece);
            }
        }
        assert!(written.len() >= 10, "found only {written:?}");
        for event in &written {
            assert!(
                SERVER_EVENTS.contains(event),
                "server/ sends `{event}`, missing from SERVER_EVENTS"
            );
        }
        for event in SERVER_EVENTS {
            assert!(
                written.contains(event),
                "SERVER_EVENTS lists `{event}`, never sent"
            );
        }
    }

    fn timer_strategy(ms: u64, back_to_itself: bool) -> Strategy {
        let target = if back_to_itself { "wait" } else { "done" };
        Strategy {
            name: "t".into(),
            initial: "wait".into(),
            states: vec![
                state(
                    "wait",
                    vec![Action::StartTimer {
                        name: "again".into(),
                        ms,
                    }],
                    vec![
                        transition("again", Some(target), vec![]),
                        transition("interaction.notcontrolled", Some("done"), vec![]),
                    ],
                ),
                StateDef {
                    is_final: true,
                    ..state("done", vec![], vec![])
                },
            ],
        }
    }

    /// A zero-delay timer that leads back to the state starting it loops without time
    /// passing: refused, naming the states. With a delay, or leading elsewhere, it is fine.
    #[test]
    fn zero_delay_timer_cycles_are_refused() {
        let problem = timer_strategy(0, true).validate(&[]).unwrap_err();
        assert!(
            problem.contains("zero-delay") && problem.contains("wait -> wait"),
            "{problem}"
        );
        timer_strategy(10, true)
            .validate(&[])
            .expect("a delay lets time pass");
        timer_strategy(0, false).validate(&[]).expect("no cycle");
        // A targetless transition that starts the zero timer again loops too.
        let mut stay = timer_strategy(10, true);
        stay.states[0].transitions[0] = transition(
            "again",
            None,
            vec![Action::StartTimer {
                name: "again".into(),
                ms: 0,
            }],
        );
        assert!(stay.validate(&[]).is_err());
    }

    /// Entering a state counts only when the transition has a target and that state's entry
    /// starts a zero-delay timer: `wait` (zero timer on entry) moves on it to `slow`, whose
    /// entry starts a 10 ms timer, and `slow` comes back on the zero timer's name. Time passes
    /// in `slow`: no loop, and the diamond of successors the search walks ends.
    #[test]
    fn entering_a_state_without_a_zero_timer_breaks_the_loop() {
        let timer = |name: &str, ms| Action::StartTimer {
            name: name.into(),
            ms,
        };
        let strategy = Strategy {
            name: "t".into(),
            initial: "wait".into(),
            states: vec![
                state(
                    "wait",
                    vec![timer("again", 0)],
                    vec![transition("again", Some("slow"), vec![])],
                ),
                state(
                    "slow",
                    vec![timer("later", 10)],
                    vec![
                        transition("again", Some("wait"), vec![]),
                        transition("later", Some("done"), vec![]),
                    ],
                ),
                StateDef {
                    is_final: true,
                    ..state("done", vec![], vec![])
                },
            ],
        };
        strategy.validate(&[]).expect("time passes in `slow`");
    }

    /// The cycle search visits each node once and names the loop it finds, first repeated.
    #[test]
    fn find_cycle_walks_shared_successors_once() {
        // 0 -> {1, 2}, 1 -> 3, 2 -> 3: a diamond, no cycle.
        let diamond = vec![vec![1, 2], vec![3], vec![3], vec![]];
        assert_eq!(find_cycle(&diamond), None);
        // 0 -> 1 -> 2 -> 1.
        let looping = vec![vec![1], vec![2], vec![1]];
        assert_eq!(find_cycle(&looping), Some(vec![1, 2, 1]));
    }

    /// A transition on an event no server sends and no timer is named is a typo.
    #[test]
    fn transitions_on_unknown_events_are_refused() {
        let mut typo = timer_strategy(10, false);
        typo.states[0].transitions[1].event = "interaction.notcontroled".into();
        let problem = typo.validate(&[]).unwrap_err();
        assert!(problem.contains("`interaction.notcontroled`"), "{problem}");
        typo.states[0].transitions[1].event = "interaction.*".into();
        typo.validate(&[]).expect("a prefix matching server events");
        typo.states[0].transitions[1].event = "interactoin.*".into();
        assert!(typo.validate(&[]).is_err());
    }

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
                    "interaction.present",
                    Some("a"),
                    vec![Action::Exit, Action::Deliver],
                )],
            )],
        };
        strategy.validate(&[]).expect("valid");
        let (mut run, _) = Run::start(&strategy);
        assert_eq!(run.on_event(&strategy, "other"), Step::default());
        let step = run.on_event(&strategy, "interaction.present");
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
