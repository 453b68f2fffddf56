//! IS pairs and the supervisor [S-OPS-switchover] [S-IS-durable]: the `switchover` scenario under
//! generated fault plans violates nothing, and the planted HA bug (a promotion that does not
//! take the database lock) and the node's `ack-before-write` are caught by the oracles that
//! name them.

use ixsim::sim::faults::{Fault, FaultAction, HostSet};
use ixsim::sim::oracles::{DURABLE, LOST, SWITCHOVER};
use ixsim::sim::Scenario;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn built_in_text() -> &'static str {
    ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "switchover")
        .map(|(_, text)| *text)
        .expect("built-in switchover scenario")
}

/// The oracles that fired on the first failing seed of `seeds`, and that seed.
fn first_failure(text: &str, seeds: std::ops::Range<u64>) -> Option<(u64, BTreeSet<&'static str>)> {
    let scenario = Scenario::parse("switchover", text).expect("planted scenario parses");
    for seed in seeds {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        if !outcome.violations.is_empty() {
            return Some((seed, outcome.violations.iter().map(|v| v.oracle).collect()));
        }
    }
    None
}

#[test]
fn s_ops_switchover_catches_promotion_without_fence() {
    let text = built_in_text().replace("[ha]\n", "[ha]\nplanted_bug = \"promote-without-fence\"\n");
    let (seed, oracles) = first_failure(&text, 0..5).expect("not caught in 5 seeds");
    assert!(
        oracles.contains(SWITCHOVER),
        "seed {seed} caught by {oracles:?}, not {SWITCHOVER}"
    );
}

#[test]
fn s_is_durable_catches_ack_before_write_under_switchovers() {
    let text = built_in_text().replace("[is]\n", "[is]\nplanted_bug = \"ack-before-write\"\n");
    // Seeds 21, 30, 45 ... catch it (see the README); 0..40 keeps the test short.
    let (seed, oracles) = first_failure(&text, 0..40).expect("not caught in 40 seeds");
    assert!(
        oracles.contains(DURABLE) || oracles.contains(LOST),
        "seed {seed} caught by {oracles:?}, not {DURABLE}/{LOST}"
    );
}

#[test]
fn switchover_without_bugs_is_clean_on_first_seeds() {
    assert_eq!(first_failure(built_in_text(), 0..5), None);
}

const IS_HOSTS: [&str; 4] = ["is1", "is1b", "is2", "is2b"];

/// One generated fault and its heal.
#[derive(Clone, Debug)]
enum Generated {
    Crash {
        host: usize,
        down_ms: u64,
    },
    Switchover {
        pair: u16,
    },
    /// The supervisor loses a member while the clients keep it.
    CutSupervisor {
        host: usize,
        down_ms: u64,
    },
    /// A client loses a member.
    CutClient {
        host: usize,
        down_ms: u64,
    },
}

fn generated() -> impl Strategy<Value = (u64, Generated)> {
    let at = 1000u64..12000;
    let fault = prop_oneof![
        (0..4usize, 300u64..3000).prop_map(|(host, down_ms)| Generated::Crash { host, down_ms }),
        (1..=2u16).prop_map(|pair| Generated::Switchover { pair }),
        (0..4usize, 300u64..3000)
            .prop_map(|(host, down_ms)| Generated::CutSupervisor { host, down_ms }),
        (0..2usize, 300u64..3000)
            .prop_map(|(host, down_ms)| Generated::CutClient { host, down_ms }),
    ];
    (at, fault)
}

fn plan(faults: &[(u64, Generated)]) -> Vec<Fault> {
    let cut = |a: &str, b: &str, at_ms: u64, down_ms: u64| {
        let (a, b) = (HostSet::One(a.to_string()), HostSet::One(b.to_string()));
        vec![
            Fault {
                at_ms,
                action: FaultAction::Partition {
                    a: a.clone(),
                    b: b.clone(),
                },
            },
            Fault {
                at_ms: at_ms + down_ms,
                action: FaultAction::Repair { a, b },
            },
        ]
    };
    let mut plan: Vec<Fault> = Vec::new();
    for (at_ms, fault) in faults {
        let at_ms = *at_ms;
        match fault {
            Generated::Crash { host, down_ms } => {
                let host = IS_HOSTS[*host].to_string();
                plan.push(Fault {
                    at_ms,
                    action: FaultAction::Crash { host: host.clone() },
                });
                plan.push(Fault {
                    at_ms: at_ms + down_ms,
                    action: FaultAction::Start { host },
                });
            }
            Generated::Switchover { pair } => plan.push(Fault {
                at_ms,
                action: FaultAction::Switchover { pair: *pair },
            }),
            Generated::CutSupervisor { host, down_ms } => {
                plan.extend(cut("supervisor", IS_HOSTS[*host], at_ms, *down_ms))
            }
            Generated::CutClient { host, down_ms } => {
                plan.extend(cut("router1", IS_HOSTS[*host], at_ms, *down_ms))
            }
        }
    }
    plan.sort_by_key(|fault| fault.at_ms);
    plan
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// [S-OPS-switchover]: whatever crashes, switchovers and supervisor/client partitions hit
    /// the pairs, no oracle is violated.
    #[test]
    fn s_ops_switchover_no_violation_under_generated_faults(
        seed in 0u64..1_000_000,
        faults in proptest::collection::vec(generated(), 1..5),
    ) {
        let mut scenario = Scenario::load("switchover").expect("built-in scenario");
        scenario.random_faults = None;
        scenario.faults = plan(&faults);
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        prop_assert!(
            outcome.violations.is_empty(),
            "seed {seed}, faults {:?}: {:?}",
            scenario.faults.iter().map(|f| format!("{} {}", f.at_ms, f.action)).collect::<Vec<_>>(),
            outcome.violations
        );
    }
}
