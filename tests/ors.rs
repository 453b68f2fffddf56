//! Orchestration Servers [S-ORS]: the built-in `ors` scenario holds every oracle, also under
//! generated faults (ORS, proxy and node crashes, ORS/proxy partitions), and a planted ORS bug
//! (detach before the association is confirmed) is caught by [S-ORS-detach].

use ixsim::sim::faults::{Fault, FaultAction, HostSet};
use ixsim::sim::oracles::ORS_DETACH;
use ixsim::sim::Scenario;
use proptest::prelude::*;

const HOSTS: [&str; 5] = ["ors1", "ors2", "proxy1", "is1", "is2"];

#[test]
fn ors_is_clean_on_first_seeds() {
    let scenario = Scenario::load("ors").expect("built-in scenario");
    for seed in 0..4 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        assert_eq!(
            outcome.stats.completed, 30,
            "seed {seed}: the work gets done"
        );
    }
}

#[test]
fn s_ors_detach_catches_detach_before_confirm() {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "ors")
        .map(|(_, text)| {
            text.replace(
                "pull_limit = 6\n",
                "pull_limit = 6\nplanted_bug = \"detach-before-confirm\"\n",
            )
        })
        .expect("built-in ors");
    let scenario = Scenario::parse("ors", &text).expect("planted scenario parses");
    let outcome = ixsim::sim::run(&scenario, 0).expect("run completes");
    assert!(
        outcome.violations.iter().any(|v| v.oracle == ORS_DETACH),
        "not caught: {:?}",
        outcome.violations
    );
}

fn fault() -> impl Strategy<Value = (u64, usize, u64, bool)> {
    (1000u64..8000, 0..HOSTS.len(), 300u64..2500, any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// [S-INV-lost] [S-INV-owner] [S-ORS-detach] under crashes and ORS/proxy partitions.
    #[test]
    fn ors_no_violation_under_generated_faults(
        seed in 0u64..1_000_000,
        faults in proptest::collection::vec(fault(), 0..4),
    ) {
        let mut scenario = Scenario::load("ors").expect("built-in scenario");
        scenario.duration_ms = 22000;
        let mut plan = Vec::new();
        for (at_ms, host, down_ms, crash) in faults {
            let name = HOSTS[host].to_string();
            if crash || host >= 2 {
                plan.push(Fault { at_ms, action: FaultAction::Crash { host: name.clone() } });
                plan.push(Fault { at_ms: at_ms + down_ms, action: FaultAction::Start { host: name } });
            } else {
                let (a, b) = (HostSet::One(name), HostSet::One("proxy1".to_string()));
                plan.push(Fault { at_ms, action: FaultAction::Partition { a: a.clone(), b: b.clone() } });
                plan.push(Fault { at_ms: at_ms + down_ms, action: FaultAction::Repair { a, b } });
            }
        }
        plan.sort_by_key(|fault| fault.at_ms);
        scenario.faults = plan;
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        prop_assert!(
            outcome.violations.is_empty(),
            "seed {seed}, faults {:?}: {:?}",
            scenario.faults.iter().map(|f| format!("{} {}", f.at_ms, f.action)).collect::<Vec<_>>(),
            outcome.violations
        );
    }
}
