//! The direct runner skips a client's polls that would do nothing ([`Machine::idle_tick`],
//! `HostDriver::skipping_idle_ticks`). That must change nothing but speed: every seed of every
//! built-in scenario and regression file, plain and under `--swarm --buggify`, gives the same
//! trace hash, verdict and input-free stats with the polls skipped as with every poll fired.
//! A machine whose `idle_tick` calls a poll idle that would have done something (or names
//! the wrong next poll) shows here as a differing hash.
//!
//! `IXSIM_IDLE_SEEDS=N` runs N seeds per scenario and mode instead of the default 12.
//!
//! [`Machine::idle_tick`]: ixsim::core::machine::Machine::idle_tick

use ixsim::sim::{RunOptions, Runner, Scenario};
use std::path::Path;

fn seeds() -> u64 {
    std::env::var("IXSIM_IDLE_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12)
}

/// The differences between the two ways of running `scenario`'s first seeds, one line each.
fn differences(name: &str, scenario: &Scenario, swarm: bool) -> Vec<String> {
    let mut found = Vec::new();
    for seed in 0..seeds() {
        let scenario = if swarm {
            let mut swarmed = ixsim::sim::swarm::swarm(scenario, seed).0;
            swarmed.enable_buggify();
            swarmed
        } else {
            scenario.clone()
        };
        let run = |skip_idle_polls| {
            let options = RunOptions {
                skip_idle_polls,
                trace_hash: true,
            };
            ixsim::sim::run_with(Runner::Direct, &scenario, seed, options)
                .map(|o| (o.trace_hash, o.violations.len(), o.stats.submitted))
                .map_err(|e| e.to_string())
        };
        let (skipped, fired) = (run(true), run(false));
        if skipped != fired {
            let mode = if swarm { " --swarm --buggify" } else { "" };
            found.push(format!(
                "{name}{mode} seed {seed}: polls skipped {skipped:?}, every poll fired {fired:?}"
            ));
        }
    }
    found
}

#[test]
fn skipping_idle_polls_changes_no_trace_of_any_built_in_scenario() {
    let mut found = Vec::new();
    for name in ixsim::sim::scenario::built_in_names() {
        let scenario = Scenario::load(name).expect("built-in scenario");
        found.extend(differences(name, &scenario, false));
        found.extend(differences(name, &scenario, true));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn skipping_idle_polls_changes_no_trace_of_any_regression_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/regressions");
    let mut found = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("regressions")
        .flatten()
        .collect();
    files.sort_by_key(|entry| entry.path());
    for entry in files {
        let path = entry.path().display().to_string();
        let scenario = Scenario::load(&path).expect("regression file loads");
        found.extend(differences(&path, &scenario, false));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
