//! One ORS server's sessions against a model of their environment and of the association rules
//! [S-ORS-session] [S-ORS-assoc] [S-ORS-detach] [S-ORS-pull] [S-INV-owner], as a proptest
//! state-machine test.
//!
//! The model and the cluster side it plays live in `ixsim_model::ors_session` (shared with
//! the `ors_session` fuzz target); see there for what the harness does and checks after every
//! step. This file generates the runs: a setup (strategy, `new-session-on-reroute`) and
//! interleavings of pulls, user-data and placement answers, target selections, deliveries,
//! agents' answers, waits, and lost and restored connections.

use ixsim_model::ors_session::{Harness, Setup, Step, STRATEGIES};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

#[derive(Clone, Debug)]
struct Model {
    setup: Setup,
}

impl ReferenceStateMachine for Model {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Self::State> {
        (0..STRATEGIES.len(), any::<bool>())
            .prop_map(|(strategy, new_session_on_reroute)| Model {
                setup: Setup {
                    strategy,
                    new_session_on_reroute,
                },
            })
            .boxed()
    }

    fn transitions(_state: &Self::State) -> BoxedStrategy<Self::Transition> {
        prop_oneof![
            6 => (0u32..3, any::<bool>()).prop_map(|(fresh, back)| Step::AnswerPull { fresh, back }),
            5 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerUpdate { index, ok }),
            4 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerPlace { index, ok }),
            3 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerSelect { index, ok }),
            3 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerDeliver { index, ok }),
            2 => (0usize..4, any::<bool>())
                .prop_map(|(index, accept)| Step::AgentAnswer { index, accept }),
            2 => Just(Step::AnswerHousekeeping),
            5 => (10u64..600).prop_map(|ms| Step::Wait { ms }),
            1 => Just(Step::Disconnect),
            1 => Just(Step::DisconnectUrs),
            1 => Just(Step::Reconnect),
        ]
        .boxed()
    }

    fn apply(state: Self::State, _transition: &Self::Transition) -> Self::State {
        state
    }
}

struct OrsSessionTest;

impl StateMachineTest for OrsSessionTest {
    type SystemUnderTest = Harness;
    type Reference = Model;

    fn init_test(ref_state: &Model) -> Self::SystemUnderTest {
        Harness::new(ref_state.setup.clone(), None)
    }

    fn apply(mut harness: Harness, _ref_state: &Model, step: Step) -> Self::SystemUnderTest {
        harness.step(&step);
        harness
    }

    fn check_invariants(harness: &Harness, _ref_state: &Model) {
        harness.check();
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ors_sessions_follow_the_association_rules(sequential 1..60 => OrsSessionTest);
}

/// The parking pattern by hand: the interaction comes back to the session that parked it.
#[test]
fn parked_interaction_comes_back_to_its_session() {
    for new_session_on_reroute in [false, true] {
        let mut harness = Harness::new(
            Setup {
                strategy: 2,
                new_session_on_reroute,
            },
            None,
        );
        let steps = [
            Step::AnswerPull {
                fresh: 1,
                back: false,
            },
            Step::AnswerUpdate { index: 0, ok: true },
            Step::AnswerPlace { index: 0, ok: true },
            Step::Wait { ms: 50 },
            Step::AnswerPull {
                fresh: 0,
                back: true,
            },
        ];
        for step in &steps {
            harness.step(step);
            harness.check();
        }
        let whats: Vec<(u64, &str)> = harness
            .log()
            .iter()
            .map(|(session, _, what)| (*session, what.as_str()))
            .collect();
        if new_session_on_reroute {
            assert!(
                whats.contains(&(1, "associated-away")) && whats.contains(&(2, "session-started")),
                "a new session takes it over: {whats:?}"
            );
        } else {
            assert!(
                whats.contains(&(1, "re-pulled")),
                "the parking session gets it back: {whats:?}"
            );
            // ... and routes it once detached.
            assert!(whats.contains(&(1, "route-redirect")), "{whats:?}");
        }
    }
}
