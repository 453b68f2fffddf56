//! ORS high availability [S-ORS-ha]: primary/backup ORS pairs under the supervisor, with and
//! without session persistence, under ORS crashes and switchovers. Nothing is lost, nothing is
//! handled by two sessions, and everything is completed once the faults end.

use ixsim::sim::faults::{Fault, FaultAction};
use ixsim::sim::Scenario;
use proptest::prelude::*;

fn with_persistence(persistence: bool) -> Scenario {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "ors-failover")
        .map(|(_, text)| {
            text.replace(
                "persistence = true",
                &format!("persistence = {persistence}"),
            )
        })
        .expect("built-in ors-failover");
    Scenario::parse("ors-failover", &text).expect("parses")
}

/// A switchover of ORS pair 1 mid-run: with persistence the backup recovers the sessions
/// (`session-recovered`) under the pair's name; without, it starts afresh and what the old
/// primary owned goes back to the queues after the owner grace period. Both complete the work.
#[test]
fn switchover_with_and_without_persistence() {
    for persistence in [true, false] {
        let mut scenario = with_persistence(persistence);
        scenario.random_faults = None;
        scenario.faults = vec![Fault {
            at_ms: 3000,
            action: FaultAction::Switchover { pair: 1 },
        }];
        let outcome = ixsim::sim::run(&scenario, 1).expect("run completes");
        assert!(
            outcome.violations.is_empty(),
            "persistence {persistence}: {:?}",
            outcome.violations
        );
        assert_eq!(outcome.stats.completed, outcome.stats.submitted);
        let text = outcome.trace.render();
        assert!(
            text.contains("ors1b    ors-primary"),
            "ors1b never took over"
        );
        assert_eq!(
            text.contains("session-recovered"),
            persistence,
            "sessions recover exactly when persisted"
        );
    }
}

/// The built-in scenario's first seeds (random crashes, bounces, switchovers of ORS pairs).
#[test]
fn ors_failover_is_clean_on_first_seeds() {
    let scenario = Scenario::load("ors-failover").expect("built-in scenario");
    for seed in 0..4 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Crashes of either member of either ORS pair at generated times, with and without
    /// persistence: every oracle holds, liveness included.
    #[test]
    fn ors_pairs_survive_generated_crashes(
        seed in 0u64..1_000_000,
        persistence in any::<bool>(),
        crashes in proptest::collection::vec((1000u64..9000, 0usize..4, 300u64..3000), 1..4),
    ) {
        let mut scenario = with_persistence(persistence);
        scenario.random_faults = None;
        let hosts = ["ors1", "ors1b", "ors2", "ors2b"];
        let mut plan = Vec::new();
        for (at_ms, host, down_ms) in crashes {
            let host = hosts[host].to_string();
            plan.push(Fault { at_ms, action: FaultAction::Crash { host: host.clone() } });
            plan.push(Fault { at_ms: at_ms + down_ms, action: FaultAction::Start { host } });
        }
        plan.sort_by_key(|fault| fault.at_ms);
        scenario.faults = plan;
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        prop_assert!(outcome.violations.is_empty(), "seed {seed}: {:?}", outcome.violations);
    }
}

/// [S-OPS-rolling]: seed 001's rolling upgrade under load. Pair 1 (8.1.3 -> 8.1.4) keeps its
/// sessions through both switchovers; pair 2 (8.1.2 -> 8.1.4) loses its persisted sessions at
/// the switchover to the first upgraded member, as documented, and nothing is lost with them.
#[test]
fn rolling_upgrade_keeps_the_service_up() {
    let scenario = Scenario::load("rolling-upgrade").expect("built-in scenario");
    for seed in 0..3 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        assert_eq!(outcome.stats.completed, outcome.stats.submitted);
        let text = outcome.trace.render();
        let lines: Vec<&str> = text.lines().collect();
        let on = |host: &str, what: &str| {
            lines
                .iter()
                .any(|line| line.contains(&format!(" {host} ")) && line.contains(what))
        };
        assert!(
            on("ors1b", "session-recovered"),
            "pair 1 recovered on ors1b"
        );
        assert!(
            on("ors1", "session-recovered"),
            "pair 1 recovered on upgraded ors1"
        );
        assert!(
            on("ors2", "ors-persistence-lost"),
            "8.1.2 persistence is lost"
        );
        assert!(
            !on("ors1", "ors-persistence-lost"),
            "8.1.3 persistence is kept"
        );
    }
}

/// An upgrade fault must name an ORS host and a known release.
#[test]
fn upgrade_faults_are_checked() {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "rolling-upgrade")
        .map(|(_, text)| text.replace("version = \"8.1.4\"", "version = \"9.0\""))
        .expect("built-in");
    let error = Scenario::parse("rolling-upgrade", &text).expect_err("9.0 is no release");
    assert!(error.to_string().contains("upgrade needs"), "{error}");
}
