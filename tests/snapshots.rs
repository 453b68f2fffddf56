//! insta snapshots of whole traces. A change to any machine's behaviour, the shell, or the
//! workload draw shows up here as a reviewable diff (`cargo insta review`), never silently.
//! Snapshots live in `snapshots/` at the repository root.

use ixsim::sim::Scenario;

fn trace_text(scenario: &str, seed: u64) -> String {
    scenario_trace_text(Scenario::load(scenario).expect("built-in scenario"), seed)
}

fn scenario_trace_text(scenario: Scenario, seed: u64) -> String {
    let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
    assert!(
        outcome.violations.is_empty(),
        "{scenario:?} seed {seed}: {:?}",
        outcome.violations
    );
    format!(
        "trace_hash {}\n{}",
        outcome.trace_hash,
        outcome.trace.render()
    )
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn smoke_trace_seed_1() {
    snapshot("smoke_seed_1", trace_text("smoke", 1));
}

#[test]
fn smoke_trace_seed_2() {
    snapshot("smoke_seed_2", trace_text("smoke", 2));
}

#[test]
fn is_restart_trace_seed_1() {
    snapshot("is_restart_seed_1", trace_text("is-restart", 1));
}

/// A short switchover run: one pair with its backup, the primary crashed and restarted, then an
/// operator's switchover back to it and a supervisor partition that fences the primary.
#[test]
fn switchover_short_trace_seed_1() {
    use ixsim::sim::faults::{Fault, FaultAction, HostSet};
    let mut scenario = Scenario::load("switchover").expect("built-in scenario");
    scenario.duration_ms = 7000;
    scenario.topology.pairs = 1;
    scenario.topology.agents = 2;
    scenario.workload.interactions = 8;
    scenario.random_faults = None;
    let supervisor = HostSet::One("supervisor".to_string());
    let is1 = HostSet::One("is1".to_string());
    let at = |at_ms: u64, action: FaultAction| Fault { at_ms, action };
    scenario.faults = vec![
        at(
            1500,
            FaultAction::Crash {
                host: "is1".to_string(),
            },
        ),
        at(
            2000,
            FaultAction::Start {
                host: "is1".to_string(),
            },
        ),
        at(3000, FaultAction::Switchover { pair: 1 }),
        at(
            4000,
            FaultAction::Partition {
                a: supervisor.clone(),
                b: is1.clone(),
            },
        ),
        at(
            5000,
            FaultAction::Repair {
                a: supervisor,
                b: is1,
            },
        ),
    ];
    snapshot("switchover_short_seed_1", scenario_trace_text(scenario, 1));
}

/// [S-PX-2000]..[S-PX-2006]: what the prober asked and which code each situation got, in order.
#[test]
fn proxy_error_codes_seed_1() {
    let scenario = Scenario::load("proxy-errors").expect("built-in scenario");
    let outcome = ixsim::sim::run(&scenario, 1).expect("run completes");
    let text = outcome.trace.render();
    let probes: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" probe #") || line.contains("FAULT"))
        .collect();
    snapshot("proxy_error_codes_seed_1", probes.join("\n"));
}

/// The ORS lines of a trace: sessions, URS selections, deliveries and hand-overs, and the
/// node events that answer them.
fn ors_lines(text: &str) -> String {
    let keep = [
        " ors s",
        "urs-selected",
        "urs-no-target",
        " invited ",
        " accepted ",
        " rejected ",
        " placed ",
        "transferred",
        "route-request",
        "FAULT",
        "ors-primary",
        "ors-backup",
    ];
    text.lines()
        .filter(|line| keep.iter().any(|k| line.contains(k)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Seed 000's use cases in one short `ors` run without faults: a session marks and parks its
/// interaction keeping the association, gets it back when either instance pulls it again
/// (hand-over), selects with queue:submit route=false, detaches too early
/// (error.interaction.detach) and again after the confirmation, delivers after
/// interaction.detach.done, and attaches again when the agent does not take it; `vip` sessions
/// submit with route=true and hear interaction.notcontrolled.
#[test]
fn ors_use_cases_seed_3() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    scenario.random_faults = None;
    scenario.duration_ms = 9000;
    scenario.liveness = None;
    scenario.workload.interactions = 10;
    scenario.agents.accept_per_mille = 700;
    let outcome = ixsim::sim::run(&scenario, 3).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    snapshot("ors_use_cases_seed_3", ors_lines(&outcome.trace.render()));
}

/// `detach-race`: the early detach refused until the association's user data is confirmed.
#[test]
fn detach_race_seed_1() {
    let mut scenario = Scenario::load("detach-race").expect("built-in scenario");
    scenario.duration_ms = 6000;
    scenario.workload.interactions = 6;
    let outcome = ixsim::sim::run(&scenario, 1).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    snapshot("detach_race_seed_1", ors_lines(&outcome.trace.render()));
}

/// [S-ORS-ha]: an ORS switchover with persistence; the backup recovers the sessions.
#[test]
fn ors_switchover_with_persistence_seed_2() {
    use ixsim::sim::faults::{Fault, FaultAction};
    let mut scenario = Scenario::load("ors-failover").expect("built-in scenario");
    scenario.random_faults = None;
    scenario.liveness = None;
    scenario.duration_ms = 9000;
    scenario.workload.interactions = 12;
    scenario.faults = vec![Fault {
        at_ms: 2500,
        action: FaultAction::Switchover { pair: 1 },
    }];
    let outcome = ixsim::sim::run(&scenario, 2).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    snapshot("ors_switchover_seed_2", ors_lines(&outcome.trace.render()));
}

/// [S-URS-rr]: direct mode, strategy work alternating between the URS that have it.
#[test]
fn urs_direct_seed_1() {
    let mut scenario = Scenario::load("urs-direct").expect("built-in scenario");
    scenario.random_faults = None;
    scenario.liveness = None;
    scenario.duration_ms = 6000;
    scenario.workload.interactions = 10;
    let outcome = ixsim::sim::run(&scenario, 1).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    snapshot("urs_direct_seed_1", ors_lines(&outcome.trace.render()));
}
