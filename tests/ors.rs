//! Orchestration and routing [S-ORS] [S-URS]: the built-in `ors` scenario (two ORS, two URS,
//! random faults) holds every oracle including liveness; `detach-race` shows early detaches
//! refused and holds [S-ORS-detach], also under generated faults; and without
//! `agent_reservation` two URS race for the same agents, which the nodes refuse. The planted
//! ORS bugs are caught in `tests/planted_bugs.rs` (which the mutation gate runs).

use ixsim::sim::faults::{Fault, FaultAction, HostSet};
use ixsim::sim::Scenario;
use proptest::prelude::*;

const HOSTS: [&str; 5] = ["ors1", "ors2", "proxy1", "is1", "is2"];
const ORS_HOSTS: [&str; 6] = ["ors1", "ors2", "urs1", "urs2", "proxy1", "is2"];

fn built_in(name: &str) -> String {
    ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, text)| text.to_string())
        .expect("built-in scenario")
}

/// [S-ORS-submit] [S-URS-select] [S-INV-live]: with faults drawn per seed, everything is routed
/// to agents through queue:submit, detach and deliver (or submit with route), and completed.
#[test]
fn ors_routes_everything_on_first_seeds() {
    let scenario = Scenario::load("ors").expect("built-in scenario");
    for seed in 0..4 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        assert!(outcome.stats.submitted >= 30, "seed {seed}: work submitted");
        assert_eq!(
            outcome.stats.completed, outcome.stats.submitted,
            "seed {seed}: every acknowledged interaction completed"
        );
    }
}

/// Both strategies of `ors` run: submit-then-deliver for `inbound`, submit with route for `vip`.
#[test]
fn ors_uses_both_routing_styles() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    scenario.random_faults = None;
    let outcome = ixsim::sim::run(&scenario, 3).expect("run completes");
    let text = outcome.trace.render();
    assert!(text.contains("route-deliver"), "no detach-then-deliver");
    assert!(text.contains("submit-deliver"), "no submit with route");
    assert!(text.contains("urs-selected"), "no URS selection");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
}

/// [S-URS-select]: with agents scarce (capacity 1, a busy workload), two URS without
/// agent_reservation pick the same agent and the node refuses deliveries; with it, the race is
/// settled by the reservation (refused there, before the ORS hears of a target) and no delivery
/// is refused.
#[test]
fn agent_reservation_prevents_refused_deliveries() {
    let refused = |reservation: bool| -> (usize, usize) {
        let text = built_in("ors")
            .replace(
                "agent_reservation = true",
                &format!("agent_reservation = {reservation}"),
            )
            .replace("agent_capacity = 2", "agent_capacity = 1")
            .replace("interactions = 40", "interactions = 80")
            .replace("mean_gap_ms = 150", "mean_gap_ms = 40")
            // Only ORS routes here: no overflow to the router's queue.
            .replace("max_sessions = 6\n", "");
        let mut scenario = Scenario::parse("ors", &text).expect("parses");
        scenario.random_faults = None;
        let mut counts = (0, 0);
        for seed in 0..2 {
            let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
            assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
            assert_eq!(outcome.stats.completed, 80, "seed {seed}: all routed");
            let text = outcome.trace.render();
            counts.0 += text.matches("error RequestDeliver 6 ").count();
            counts.1 += text.matches("error RequestReserveAgent 6 ").count();
        }
        counts
    };
    let (deliveries, reservations) = refused(false);
    assert!(deliveries > 0, "racing URS must collide");
    assert_eq!(reservations, 0);
    let (deliveries, reservations) = refused(true);
    assert_eq!(deliveries, 0, "reservations leave no delivery to refuse");
    assert!(reservations > 0, "the race moved to the reservations");
}

#[test]
fn detach_race_is_clean_on_first_seeds() {
    let scenario = Scenario::load("detach-race").expect("built-in scenario");
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

/// The robustness options of `ors` all act: evictions and reloads (om-max-in-memory 3),
/// sessions that could not be created overflowing to `sales` (mcr-queue-on-fails), and idle
/// sessions ended by ixnfm-idle-session-ttl; with nothing lost.
#[test]
fn ors_robustness_options_act() {
    let scenario = Scenario::load("ors").expect("built-in scenario");
    let mut seen = [0usize; 4];
    for seed in 0..6 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        let text = outcome.trace.render();
        for (index, what) in [
            " evicted",
            " reloaded",
            "session-failed to=sales",
            " idle-ttl",
        ]
        .iter()
        .enumerate()
        {
            seen[index] += text.matches(what).count();
        }
    }
    assert!(
        seen.iter().all(|count| *count > 0),
        "evicted, reloaded, failed, idle: {seen:?}"
    );
}

/// Parked interactions pulled by the other instance are handed back (RequestTransfer).
#[test]
fn parked_interactions_are_handed_back_across_instances() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    scenario.random_faults = None;
    let handed = (0..4)
        .map(|seed| {
            let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
            assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
            outcome.trace.render().matches(" forwarded").count()
        })
        .sum::<usize>();
    assert!(handed > 0, "no interaction was handed over in four seeds");
}

/// All three detach styles of `detach-race` happen: early (refused, then retried), late
/// (after the strategy's own update), and hasty (detach and deliver together).
#[test]
fn detach_race_runs_all_three_styles() {
    let scenario = Scenario::load("detach-race").expect("built-in scenario");
    let outcome = ixsim::sim::run(&scenario, 1).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    let text = outcome.trace.render();
    assert!(
        text.contains("error.interaction.detach"),
        "no early detach refused"
    );
    assert!(
        text.contains("queue=review"),
        "nothing reached the late detach"
    );
    assert!(text.contains("route-deliver"), "no hasty delivery");
}

fn fault() -> impl Strategy<Value = (u64, usize, u64, bool)> {
    (1000u64..8000, 0..HOSTS.len(), 300u64..2500, any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// [S-INV-lost] [S-INV-owner] [S-ORS-detach] under crashes and ORS/proxy partitions.
    #[test]
    fn detach_race_no_violation_under_generated_faults(
        seed in 0u64..1_000_000,
        faults in proptest::collection::vec(fault(), 0..4),
    ) {
        let mut scenario = Scenario::load("detach-race").expect("built-in scenario");
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

    /// [S-INV-lost] [S-INV-owner] [S-ORS-detach] [S-ORS-pull] [S-INV-live] on `ors` under
    /// generated crashes of ORS, URS, proxy and node hosts (instead of the drawn faults).
    #[test]
    fn ors_no_violation_under_generated_crashes(
        seed in 0u64..1_000_000,
        crashes in proptest::collection::vec((1000u64..10_000, 0..ORS_HOSTS.len(), 300u64..3000), 1..4),
    ) {
        let mut scenario = Scenario::load("ors").expect("built-in scenario");
        scenario.random_faults = None;
        let mut plan = Vec::new();
        for (at_ms, host, down_ms) in crashes {
            let name = ORS_HOSTS[host].to_string();
            plan.push(Fault { at_ms, action: FaultAction::Crash { host: name.clone() } });
            plan.push(Fault { at_ms: at_ms + down_ms, action: FaultAction::Start { host: name } });
        }
        plan.sort_by_key(|fault| fault.at_ms);
        scenario.faults = plan;
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        prop_assert!(outcome.violations.is_empty(), "seed {seed}: {:?}", outcome.violations);
    }
}
