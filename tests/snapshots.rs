//! insta snapshots of whole traces. A change to any machine's behaviour, the shell, or the
//! workload draw shows up here as a reviewable diff (`cargo insta review`), never silently.
//! Snapshots live in `snapshots/` at the repository root.

use ixsim::sim::Scenario;

fn trace_text(scenario: &str, seed: u64) -> String {
    let scenario = Scenario::load(scenario).expect("built-in scenario");
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
