//! The fast test command of mutation testing (README: Mutation testing): every built-in
//! scenario on a few seeds, plainly and with `--swarm --buggify`, judged by every oracle. A
//! mutant of `core/` that no oracle, no model test and no planted-bug test notices survives.
//! Ignored in `cargo test` (the sweeps in CI cover more seeds); `cargo mutants` runs it with
//! `-- --include-ignored` (see the README for the whole command).
//!
//! It also holds each built-in to the coverage marks it declares (`[coverage] marks`): every
//! declared mark must be reached by at least one of the gate's runs of that scenario. A mutant
//! that breaks the condition of a mark, or the path to it, is caught here: the marks are how a
//! sweep shows that it reaches a rule, so a mark that stops firing is a lie about coverage.

use ixsim::sim::scenario::BUILT_IN;
use ixsim::sim::Scenario;
use ixsim_core::marks::Mark;
use std::collections::BTreeSet;

/// Seeds per scenario and variant: enough that each built-in takes its faulted paths.
const SEEDS: u64 = 4;

#[test]
#[ignore = "mutation gate: run by cargo mutants (README: Mutation testing)"]
fn every_built_in_passes_its_oracles() {
    let mut failures = Vec::new();
    for (name, _) in BUILT_IN {
        let mut scenario = Scenario::load(name).expect("built-in scenario");
        let (declared, _) = scenario.declared_marks();
        let mut reached: BTreeSet<Mark> = BTreeSet::new();
        for swarm in [false, true] {
            if swarm {
                scenario.enable_buggify();
            }
            for seed in 0..SEEDS {
                let (run, _) = ixsim::scenario_for_seed(&scenario, seed, swarm);
                match ixsim::run_caught(ixsim::sim::Runner::Turmoil, &run, seed) {
                    Ok(outcome) => {
                        reached.extend(outcome.trace.marks.reached().map(|(mark, _)| mark));
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
        let missed: Vec<&str> = declared
            .iter()
            .filter(|mark| !reached.contains(mark))
            .map(|mark| mark.name())
            .collect();
        if !missed.is_empty() {
            failures.push(format!(
                "{name}: declared marks reached by none of its {} gate runs: {}",
                2 * SEEDS,
                missed.join(", ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
