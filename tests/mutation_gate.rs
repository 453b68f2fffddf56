//! The fast test command of mutation testing (README: Mutation testing): every built-in
//! scenario on a few seeds, plainly and with `--swarm --buggify`, judged by every oracle. A
//! mutant of `core/` that no oracle, no model test and no planted-bug test notices survives.
//! Ignored in `cargo test` (the sweeps in CI cover more seeds); `cargo mutants` runs it with
//! `-- --include-ignored` (see the README for the whole command).

use ixsim::sim::scenario::BUILT_IN;
use ixsim::sim::Scenario;

/// Seeds per scenario and variant: enough that each built-in takes its faulted paths.
const SEEDS: u64 = 4;

#[test]
#[ignore = "mutation gate: run by cargo mutants (README: Mutation testing)"]
fn every_built_in_passes_its_oracles() {
    let mut failures = Vec::new();
    for (name, _) in BUILT_IN {
        let mut scenario = Scenario::load(name).expect("built-in scenario");
        for swarm in [false, true] {
            if swarm {
                scenario.enable_buggify();
            }
            for seed in 0..SEEDS {
                let (run, _) = ixsim::scenario_for_seed(&scenario, seed, swarm);
                match ixsim::run_caught(&run, seed) {
                    Ok(outcome) => {
                        if let Some(first) = outcome.violations.first() {
                            failures.push(format!(
                                "{name} seed {seed} swarm={swarm}: [{}] {}",
                                first.oracle, first.detail
                            ));
                        }
                    }
                    Err(crash) => {
                        failures.push(format!("{name} seed {seed} swarm={swarm}: {crash}"))
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
