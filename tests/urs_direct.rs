//! URS direct mode [S-URS-rr] [S-URS-scope] (seed 003): the nodes hand strategy work to the URS
//! that have the strategy loaded, round-robin, and resubmit what a dead URS had pending.

use ixsim::sim::faults::{Fault, FaultAction};
use ixsim::sim::Scenario;
use std::collections::BTreeMap;

/// (interaction, URS client, strategy) of every route request, in trace order.
fn route_requests(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.split(" route-request ").nth(1)?;
            let mut parts = rest.split_whitespace();
            let ixn = parts.next()?.to_string();
            let urs = parts.next()?.strip_prefix("to=")?.to_string();
            let strategy = parts.next()?.strip_prefix("strategy=")?.to_string();
            Some((ixn, urs, strategy))
        })
        .collect()
}

/// [S-URS-rr]: strategy A (loaded by urs1 only) always goes to urs1; strategy C (both) is
/// balanced between them.
#[test]
fn strategies_go_round_robin_to_the_urs_that_have_them() {
    let mut scenario = Scenario::load("urs-direct").expect("built-in scenario");
    // Balance without faults (the scenario's own crash of urs2 moves its share to urs1).
    scenario.random_faults = None;
    scenario.faults.clear();
    for seed in 0..3 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        assert_eq!(outcome.stats.completed, outcome.stats.submitted);
        let mut per_urs: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (_, urs, strategy) in route_requests(&outcome.trace.render()) {
            *per_urs.entry((strategy, urs)).or_default() += 1;
        }
        let count = |strategy: &str, urs: &str| {
            per_urs
                .get(&(strategy.to_string(), urs.to_string()))
                .copied()
                .unwrap_or(0)
        };
        assert!(count("A", "urs1.1") > 0, "seed {seed}: {per_urs:?}");
        assert_eq!(count("A", "urs2.1"), 0, "urs2 has no strategy A");
        let (one, two) = (count("C", "urs1.1"), count("C", "urs2.1"));
        // Each node alternates on its own: at most one apart per node.
        assert!((one - two).abs() <= 2, "seed {seed}: C split {one}/{two}");
        assert!(one + two >= 30, "seed {seed}: {per_urs:?}");
    }
}

/// Seed 003: "If any interactions were pending in the unavailable URS, Interaction Server
/// resubmits them to an available URS that has the required strategies loaded."
#[test]
fn work_pending_in_a_dead_urs_is_resubmitted() {
    let mut scenario = Scenario::load("urs-direct").expect("built-in scenario");
    scenario.random_faults = None;
    // Agents busy: work piles up in the URS, then urs1 dies.
    scenario.agents.handle_ms_min = 3000;
    scenario.agents.handle_ms_max = 4500;
    scenario.faults = vec![
        Fault {
            at_ms: 5000,
            action: FaultAction::Crash {
                host: "urs1".to_string(),
            },
        },
        Fault {
            at_ms: 9000,
            action: FaultAction::Start {
                host: "urs1".to_string(),
            },
        },
    ];
    let outcome = ixsim::sim::run(&scenario, 4).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert_eq!(outcome.stats.completed, outcome.stats.submitted);
    let requests = route_requests(&outcome.trace.render());
    let resubmitted = requests.iter().any(|(ixn, urs, strategy)| {
        strategy == "C"
            && urs == "urs2.1"
            && requests
                .iter()
                .any(|(other, first, _)| other == ixn && first == "urs1.1")
    });
    assert!(
        resubmitted,
        "nothing pending in urs1 went to urs2: {requests:?}"
    );
}

/// A queue's strategy must be loaded by some URS.
#[test]
fn unknown_strategy_is_refused() {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "urs-direct")
        .map(|(_, text)| text.replace("strategy = \"B\"", "strategy = \"Z\""))
        .expect("built-in");
    let error = Scenario::parse("urs-direct", &text).expect_err("Z is not loaded");
    assert!(error.to_string().contains("not loaded"), "{error}");
}
