//! Shrinking a failing run: from a scenario and a seed that violate an oracle, search for a
//! smaller scenario that still violates the same oracle with the same seed: fewer faults,
//! fewer interactions, fewer hosts, a shorter run.
//!
//! First the run is made self-contained ([`materialize`]): the seed's random faults become an
//! explicit fault plan and its drawn workload an explicit list of submits, so what remains of
//! the seed is only the network's and the clients' own draws. The materialized scenario runs
//! exactly as the original did (same trace hash). Then delta debugging (Zeller's ddmin, one
//! pass per dimension, chunks halving down to single items) removes faults and submits, the
//! topology is cut host by host, and the run's end is moved as early as the failure allows;
//! the passes repeat until none makes progress or the run budget is spent. Every candidate is
//! checked against the scenario's own validation before it runs.
//!
//! Must not: accept a candidate that fails differently (another oracle only, or not at all).

use crate::oracles::Violation;
use crate::runner::Runner;
use crate::scenario::Scenario;
use crate::workload;
use serde::Serialize;
use std::fmt;

/// How big a scenario is, in the dimensions the shrinker reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    pub faults: usize,
    pub interactions: usize,
    pub hosts: usize,
    pub duration_ms: u64,
}

impl Size {
    pub fn of(scenario: &Scenario) -> Size {
        Size {
            faults: scenario.faults.len(),
            interactions: scenario.workload.interactions as usize,
            hosts: scenario.hosts().len(),
            duration_ms: scenario.duration_ms,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} faults, {} interactions, {} hosts, {} ms",
            self.faults, self.interactions, self.hosts, self.duration_ms
        )
    }
}

/// What the shrinker found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing scenario found: explicit faults and workload, no swarm.
    pub scenario: Scenario,
    /// The oracle that fails, before and after.
    pub oracle: String,
    /// The first violation of that oracle in the shrunk run.
    pub violation: Violation,
    pub trace_hash: String,
    /// The materialized original's size, and the shrunk one's.
    pub before: Size,
    pub after: Size,
    /// Candidate runs tried.
    pub runs: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("seed {0} violates no oracle: nothing to shrink")]
    Passes(u64),
    #[error("the run did not finish: {0}")]
    Run(String),
    #[error("internal: the materialized scenario does not validate: {0}")]
    Invalid(String),
}

/// `scenario` as seed `seed` runs it, with nothing left to draw but the network's and the
/// clients' choices: random faults expanded into `faults`, the workload into `submits`, swarm
/// off. Running it with `seed` gives the same trace as the original.
pub fn materialize(scenario: &Scenario, seed: u64) -> Scenario {
    let mut out = scenario.clone();
    out.faults = crate::runner::expand_plan(scenario, seed);
    out.random_faults = None;
    // Submits drawn for after the end never happen in the run: they are not written.
    out.workload.submits = workload::materialize(scenario, seed)
        .into_iter()
        .filter(|submit| submit.at_ms < scenario.duration_ms)
        .collect();
    out.workload.interactions = out.workload.submits.len() as u32;
    out.swarm = None;
    out
}

/// The first violation of `oracle` when `scenario` runs with `seed`, if any.
fn fails_with(
    runner: Runner,
    scenario: &Scenario,
    seed: u64,
    oracle: &str,
) -> Option<(Violation, String)> {
    let outcome = crate::run_on(runner, scenario, seed).ok()?;
    let violation = outcome
        .violations
        .into_iter()
        .find(|v| v.oracle == oracle)?;
    Some((violation, outcome.trace_hash))
}

struct Search<'a> {
    runner: Runner,
    seed: u64,
    oracle: &'a str,
    best: Scenario,
    found: (Violation, String),
    runs: u32,
    max_runs: u32,
}

impl Search<'_> {
    fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `candidate` if it is valid and smaller-or-equal; keeps it if it still fails.
    fn try_candidate(&mut self, candidate: Scenario) -> bool {
        if self.spent() || candidate == self.best || candidate.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match fails_with(self.runner, &candidate, self.seed, self.oracle) {
            Some(found) => {
                self.best = candidate;
                self.found = found;
                true
            }
            None => false,
        }
    }

    /// ddmin over one list of the scenario: remove chunks, halving their size down to one.
    fn reduce_list<T: Clone>(
        &mut self,
        get: impl Fn(&Scenario) -> Vec<T>,
        set: impl Fn(&mut Scenario, Vec<T>),
    ) -> bool {
        let mut progress = false;
        let mut chunk = get(&self.best).len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < get(&self.best).len() && !self.spent() {
                let items = get(&self.best);
                let end = (start + chunk).min(items.len());
                let kept: Vec<T> = items[..start]
                    .iter()
                    .chain(&items[end..])
                    .cloned()
                    .collect();
                let mut candidate = self.best.clone();
                set(&mut candidate, kept);
                if self.try_candidate(candidate) {
                    progress = true;
                } else {
                    start = end;
                }
            }
            if chunk == 1 || self.spent() {
                return progress;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn reduce_faults(&mut self) -> bool {
        self.reduce_list(|s| s.faults.clone(), |s, faults| s.faults = faults)
    }

    fn reduce_submits(&mut self) -> bool {
        self.reduce_list(
            |s| s.workload.submits.clone(),
            |s, submits| {
                s.workload.interactions = submits.len() as u32;
                s.workload.submits = submits;
            },
        )
    }

    /// Removes hosts one at a time: agents (the highest first), IS pairs, proxies, ORS and URS
    /// instances, backups.
    fn reduce_hosts(&mut self) -> bool {
        let mut progress = false;
        let cuts: [fn(&mut Scenario) -> bool; 7] = [
            cut_agent,
            cut_pair,
            cut_proxy,
            cut_ors,
            cut_urs,
            cut_is_backup,
            cut_ors_backup,
        ];
        for cut in cuts {
            loop {
                let mut candidate = self.best.clone();
                if !cut(&mut candidate) || !self.try_candidate(candidate) {
                    break;
                }
                progress = true;
            }
        }
        progress
    }

    /// Ends the run as early as the failure allows (binary search on the duration).
    fn reduce_duration(&mut self) -> bool {
        let best = &self.best;
        let last_fault = best.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
        let last_submit = best.workload.submits.iter().map(|s| s.at_ms).max();
        let mut low = last_fault.max(last_submit.unwrap_or(0)) + 1;
        let mut high = best.duration_ms;
        let step_ms = best.tick_ms.max(100);
        let mut progress = false;
        while low + step_ms < high && !self.spent() {
            let middle = low + (high - low) / 2;
            let mut candidate = self.best.clone();
            candidate.duration_ms = middle;
            if self.try_candidate(candidate) {
                high = middle;
                progress = true;
            } else {
                low = middle;
            }
        }
        progress
    }
}

fn cut_agent(s: &mut Scenario) -> bool {
    if s.topology.agents <= 1 {
        return false;
    }
    s.topology.agents -= 1;
    let agents = s.topology.agents;
    if let Some(urs) = s.urs.as_mut() {
        for target in &mut urs.targets {
            target.agents.retain(|agent| *agent <= agents);
        }
    }
    true
}

fn cut_pair(s: &mut Scenario) -> bool {
    if s.topology.pairs <= 1 {
        return false;
    }
    s.topology.pairs -= 1;
    s.nodes.truncate(usize::from(s.topology.pairs));
    true
}

fn cut_proxy(s: &mut Scenario) -> bool {
    if s.topology.proxies <= 1 || s.prober.is_some() {
        return false;
    }
    s.topology.proxies -= 1;
    true
}

fn cut_ors(s: &mut Scenario) -> bool {
    let Some(ors) = s.ors.as_mut() else {
        return false;
    };
    if ors.instances <= 1 {
        return false;
    }
    ors.instances -= 1;
    ors.pull_by_this_node.truncate(ors.instances as usize);
    ors.versions.truncate(ors.instances as usize);
    true
}

fn cut_urs(s: &mut Scenario) -> bool {
    let Some(urs) = s.urs.as_mut() else {
        return false;
    };
    if urs.instances <= 1 {
        return false;
    }
    urs.instances -= 1;
    let instances = urs.instances;
    for strategy in &mut urs.strategies {
        strategy.instances.retain(|n| *n <= instances);
    }
    true
}

fn cut_is_backup(s: &mut Scenario) -> bool {
    std::mem::replace(&mut s.topology.backup, false)
}

fn cut_ors_backup(s: &mut Scenario) -> bool {
    let Some(ors) = s.ors.as_mut() else {
        return false;
    };
    ors.persistence = false;
    std::mem::replace(&mut ors.backup, false)
}

/// Shrinks the failing run of `scenario` with `seed` on `runner` (the scenario as it ran:
/// swarm already applied) within `max_runs` candidate runs.
pub fn shrink(
    runner: Runner,
    scenario: &Scenario,
    seed: u64,
    max_runs: u32,
) -> Result<Shrunk, ShrinkError> {
    let start = materialize(scenario, seed);
    start.validate().map_err(ShrinkError::Invalid)?;
    let outcome =
        crate::run_on(runner, &start, seed).map_err(|e| ShrinkError::Run(e.to_string()))?;
    let Some(first) = outcome.violations.first() else {
        return Err(ShrinkError::Passes(seed));
    };
    let oracle = first.oracle.to_string();
    let mut search = Search {
        runner,
        seed,
        oracle: &oracle,
        best: start.clone(),
        found: (first.clone(), outcome.trace_hash.clone()),
        runs: 0,
        max_runs,
    };
    loop {
        let mut progress = search.reduce_faults();
        progress |= search.reduce_submits();
        progress |= search.reduce_hosts();
        progress |= search.reduce_duration();
        if !progress || search.spent() {
            break;
        }
    }
    let (violation, trace_hash) = search.found.clone();
    let (best, runs) = (search.best, search.runs);
    Ok(Shrunk {
        before: Size::of(&start),
        after: Size::of(&best),
        scenario: best,
        oracle,
        violation,
        trace_hash,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_materialized_scenario_runs_exactly_as_the_original() {
        for (name, seed) in [("faults", 3), ("cluster-faults", 1), ("ors", 2)] {
            let scenario = Scenario::load(name).expect("built-in");
            let fixed = materialize(&scenario, seed);
            fixed.validate().expect("valid");
            assert!(fixed.random_faults.is_none());
            assert!(fixed.workload.submits.len() <= scenario.workload.interactions as usize);
            let a = crate::run(&scenario, seed).expect("runs");
            let b = crate::run(&fixed, seed).expect("runs");
            assert_eq!(a.trace_hash, b.trace_hash, "{name} seed {seed}");
        }
    }

    /// A workload drawn past the end of the run (here: swarm's longer one) keeps only what
    /// the run submits, and still runs as the original.
    #[test]
    fn submits_after_the_end_are_left_out() {
        let mut scenario = Scenario::load("cluster-faults").expect("built-in");
        scenario.workload.interactions = 58;
        scenario.workload.mean_gap_ms = 372;
        let fixed = materialize(&scenario, 632);
        fixed.validate().expect("valid");
        assert!(
            fixed.workload.submits.len() < 58,
            "nothing drawn past the end"
        );
        let a = crate::run(&scenario, 632).expect("runs");
        let b = crate::run(&fixed, 632).expect("runs");
        assert_eq!(a.trace_hash, b.trace_hash);
    }

    #[test]
    fn a_materialized_scenario_survives_toml() {
        let scenario = Scenario::load("ors-failover").expect("built-in");
        let fixed = materialize(&scenario, 4);
        let text = toml::to_string(&fixed).expect("serializes");
        let back = Scenario::parse("round-trip", &text).expect("parses");
        assert_eq!(back, fixed);
    }

    #[test]
    fn a_passing_seed_has_nothing_to_shrink() {
        let scenario = Scenario::load("smoke").expect("built-in");
        assert!(matches!(
            shrink(Runner::Turmoil, &scenario, 0, 10),
            Err(ShrinkError::Passes(0))
        ));
    }
}
