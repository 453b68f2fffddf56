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
