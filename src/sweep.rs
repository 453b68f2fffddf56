//! Sweeps: many seeds, one simulation per thread (the one place that uses threads: each thread
//! runs whole simulations, one at a time, since a `turmoil::Sim` is not `Send`, so determinism
//! per seed is unaffected), with shards, a time limit, determinism rechecks, mark counts and
//! the trace hash table.

use crate::report::Failure;
use ixsim_core::marks::{Mark, MarkCounts};
use ixsim_sim::{Runner, Scenario};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The scenario seed `seed` runs: `scenario` itself, or under swarm testing what the seed drew
/// from it, with the account of the draws.
pub fn scenario_for_seed(
    scenario: &Scenario,
    seed: u64,
    swarm: bool,
) -> (std::borrow::Cow<'_, Scenario>, Option<String>) {
    if swarm {
        let (swarmed, said) = ixsim_sim::swarm::swarm(scenario, seed);
        (std::borrow::Cow::Owned(swarmed), Some(said))
    } else {
        // No copy per seed of a sweep that does not swarm.
        (std::borrow::Cow::Borrowed(scenario), None)
    }
}

#[derive(Clone, Debug)]
pub struct SweepReport {
    pub scenario: String,
    /// Seeds run (fewer than the range with a shard or a time limit).
    pub seeds: u64,
    /// Seeds run twice for the determinism check.
    pub rechecked: u64,
    /// The time limit stopped the sweep before the end of its range.
    pub stopped_early: bool,
    pub failures: Vec<Failure>,
    pub wall_ms: u64,
    pub sim_ms: u64,
    /// For every mark ([`Mark::ALL`]), how many of the finished seeds reached it.
    pub marks: BTreeMap<Mark, u64>,
    /// The marks the scenario says its sweeps must reach (`[coverage] marks`), judged only
    /// in a sweep of at least `min_seeds` finished seeds.
    pub declared: Vec<Mark>,
    pub min_seeds: u64,
    /// Seeds that ran to the end, violations or not.
    pub finished: u64,
    /// The trace hash of every seed that ran to the end, by seed, when the sweep was asked
    /// to keep them ([`SweepOptions::hashes`], `sweep --hashes`: a refactor that changes no
    /// behaviour leaves this table unchanged); else empty.
    pub hashes: BTreeMap<u64, String>,
    /// The main stats summed over the seeds that ran to the end.
    pub totals: Totals,
}

/// The main stats of a sweep, summed over its finished seeds (what `sweep --cross-check`
/// compares between the runners).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub submitted: u64,
    pub completed: u64,
    pub lost: u64,
    pub request_errors: u64,
    /// Error answers by code number.
    pub error_codes: BTreeMap<u16, u64>,
}

impl Totals {
    fn add(&mut self, stats: &ixsim_sim::Stats) {
        self.submitted += stats.submitted;
        self.completed += stats.completed;
        self.lost += stats.lost;
        self.request_errors += stats.request_errors;
        for (code, count) in &stats.error_codes {
            *self.error_codes.entry(*code).or_default() += count;
        }
    }
}

impl SweepReport {
    pub fn summary(&self) -> String {
        let seconds = self.wall_ms.max(1) as f64 / 1000.0;
        let mut text = format!(
            "sweep {}: {} seeds, {} failed, {:.1} s wall, {:.0} seeds/s, {:.0}x simulated/wall time",
            self.scenario,
            self.seeds,
            self.failures.len(),
            seconds,
            self.seeds as f64 / seconds,
            self.sim_ms as f64 / self.wall_ms.max(1) as f64
        );
        if self.rechecked > 0 {
            let _ = write!(text, ", {} seeds run twice for determinism", self.rechecked);
        }
        if self.stopped_early {
            text.push_str(" (stopped at the time limit)");
        }
        text
    }

    /// The scenario's declared marks that no seed reached (none in a sweep too small to judge).
    pub fn missing_marks(&self) -> Vec<Mark> {
        if self.finished() < self.min_seeds {
            return Vec::new();
        }
        self.declared
            .iter()
            .copied()
            .filter(|mark| self.marks.get(mark).copied().unwrap_or(0) == 0)
            .collect()
    }

    /// The marks report, one line each: which marks the seeds reached (by how many seeds, in
    /// declaration order), which none did, and the declared ones missed.
    pub fn marks_text(&self) -> String {
        let reached: Vec<String> = Mark::ALL
            .iter()
            .filter_map(|mark| {
                let seeds = self.marks.get(mark).copied().unwrap_or(0);
                (seeds > 0).then(|| format!("{} {seeds}", mark.name()))
            })
            .collect();
        let never: Vec<&str> = Mark::ALL
            .iter()
            .filter(|mark| self.marks.get(mark).copied().unwrap_or(0) == 0)
            .map(|mark| mark.name())
            .collect();
        let mut text = format!(
            "marks reached: {} of {} (seeds reaching each): {}",
            reached.len(),
            Mark::ALL.len(),
            if reached.is_empty() {
                "none".to_string()
            } else {
                reached.join(", ")
            }
        );
        if !never.is_empty() {
            let _ = write!(text, "\nmarks not reached: {}", never.join(", "));
        }
        if !self.declared.is_empty() && self.finished() < self.min_seeds {
            let _ = write!(
                text,
                "\ndeclared marks not judged: {} finished seeds, fewer than coverage.min_seeds = {}",
                self.finished(),
                self.min_seeds
            );
        }
        let missing = self.missing_marks();
        if !self.declared.is_empty() && self.finished() >= self.min_seeds && missing.is_empty() {
            let _ = write!(
                text,
                "\ndeclared marks: all {} reached",
                self.declared.len()
            );
        }
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|mark| mark.name()).collect();
            let _ = write!(
                text,
                "\nMARKS MISSED: scenario {} declares marks none of its {} finished seeds reached: {} (exit {})",
                self.scenario,
                self.finished(),
                names.join(", "),
                crate::Exit::MarksMissed.code()
            );
        }
        text
    }

    /// Seeds that ran to the end (a crashed seed reports no marks).
    pub fn finished(&self) -> u64 {
        self.finished
    }

    /// One JSON object for `sweep --json`, after the failures: the counts, the marks and the
    /// declared marks missed.
    pub fn to_json(&self) -> String {
        let marks: BTreeMap<&str, u64> = self
            .marks
            .iter()
            .map(|(mark, seeds)| (mark.name(), *seeds))
            .collect();
        let missing: Vec<&str> = self.missing_marks().iter().map(|m| m.name()).collect();
        serde_json::json!({
            "summary": self.scenario,
            "seeds": self.seeds,
            "failed": self.failures.len(),
            "rechecked": self.rechecked,
            "stopped_early": self.stopped_early,
            "marks": marks,
            "declared_marks": self.declared.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "marks_missed": missing,
        })
        .to_string()
    }
}

/// Runs one seed, turning panics and host failures into a [`Failure`].
pub fn check_seed(runner: Runner, scenario: &Scenario, seed: u64) -> (u64, Option<Failure>) {
    let checked = check_seed_hashed(runner, scenario, seed, false);
    (checked.sim_ms, checked.failure)
}

/// Runs one seed; a run that does not finish is the `Err`, described in one line: `run
/// crashed: MESSAGE` for a panic (a bug in ixsim), else the [`ixsim_sim::RunError`]. `run` and
/// `sweep` both go through here, so a seed reads the same in both. The panic hook stays as the
/// caller set it (a sweep silences it for all its threads; `run` with [`quiet_panics`]).
pub fn run_caught(
    runner: Runner,
    scenario: &Scenario,
    seed: u64,
) -> Result<ixsim_sim::Outcome, String> {
    run_caught_with(runner, scenario, seed, ixsim_sim::RunOptions::default())
}

/// [`run_caught`] with [`ixsim_sim::RunOptions`].
pub fn run_caught_with(
    runner: Runner,
    scenario: &Scenario,
    seed: u64,
    options: ixsim_sim::RunOptions,
) -> Result<ixsim_sim::Outcome, String> {
    match std::panic::catch_unwind(|| ixsim_sim::run_with(runner, scenario, seed, options)) {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(format!(
            "run crashed: {}",
            ixsim_sim::shell::panic_message(payload.as_ref())
        )),
    }
}

/// Runs `work` with the panic hook silenced (a caught panic is reported by its caller, once,
/// as one line), then restores the hook.
pub fn quiet_panics<T>(work: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = work();
    std::panic::set_hook(hook);
    result
}

/// One seed as a sweep sees it.
struct Checked {
    sim_ms: u64,
    /// The trace hash (when asked for), the marks reached and the stats (none when the run
    /// did not finish).
    hash: Option<String>,
    marks: Option<MarkCounts>,
    stats: Option<ixsim_sim::Stats>,
    failure: Option<Failure>,
}

/// [`check_seed`], with the run's marks, and its trace hash if `hash`.
fn check_seed_hashed(runner: Runner, scenario: &Scenario, seed: u64, hash: bool) -> Checked {
    let options = ixsim_sim::RunOptions {
        trace_hash: hash,
        ..ixsim_sim::RunOptions::default()
    };
    match run_caught_with(runner, scenario, seed, options) {
        Ok(outcome) => Checked {
            sim_ms: outcome.sim_ms,
            hash: hash.then_some(outcome.trace_hash),
            marks: Some(outcome.trace.marks),
            stats: Some(outcome.stats),
            failure: (!outcome.violations.is_empty()).then_some(Failure {
                seed,
                violations: outcome.violations,
                crash: None,
            }),
        },
        Err(crash) => Checked {
            sim_ms: 0,
            hash: None,
            marks: None,
            stats: None,
            failure: Some(Failure {
                seed,
                violations: Vec::new(),
                crash: Some(crash),
            }),
        },
    }
}

/// How a sweep runs: threads, which seeds, checks, budget.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub jobs: usize,
    pub progress: bool,
    /// `(i, n)`: run only every n-th seed of the range, starting with its i-th (1-based), so
    /// that n machines can split one sweep.
    pub shard: Option<(u64, u64)>,
    /// Run this fraction of the seeds twice in the same process and fail the seed if the two
    /// trace hashes differ (state leaking between runs, a hasher, a clock).
    pub check_determinism: f64,
    /// Stop taking new seeds once this much wall time has passed.
    pub time_limit: Option<std::time::Duration>,
    /// Swarm testing: each seed runs the scenario its draws make of this one.
    pub swarm: bool,
    /// Which simulator runs the seeds.
    pub runner: Runner,
    /// Keep every finished seed's trace hash ([`SweepReport::hashes`]); otherwise seeds are
    /// hashed only to check determinism (hashing is about a tenth of a short direct run).
    pub hashes: bool,
}

impl SweepOptions {
    pub fn jobs(jobs: usize) -> Self {
        SweepOptions {
            jobs,
            progress: false,
            shard: None,
            check_determinism: 0.0,
            time_limit: None,
            swarm: false,
            runner: Runner::Turmoil,
            hashes: false,
        }
    }

    /// Is `seed` (of a range starting at `start`) in this sweep's shard?
    pub fn in_shard(&self, start: u64, seed: u64) -> bool {
        self.shard.is_none_or(|(i, n)| (seed - start) % n == i - 1)
    }

    /// Is `seed` one of those run twice? A fixed choice per seed (its low digits), so that
    /// reruns of a sweep check the same seeds.
    pub fn checks_determinism(&self, seed: u64) -> bool {
        let per_mille = (self.check_determinism.clamp(0.0, 1.0) * 1000.0).round() as u64;
        (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 1000 < per_mille
    }
}

/// Runs every seed of `seeds` on `runner` with `jobs` threads; failures are sorted by seed.
pub fn sweep(
    runner: Runner,
    scenario: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    progress: bool,
) -> SweepReport {
    let options = SweepOptions {
        progress,
        runner,
        ..SweepOptions::jobs(jobs)
    };
    sweep_with(scenario, seeds, &options)
}

/// What the sweep's threads share: the next seed to take and the tallies of those run.
#[derive(Default)]
struct Tally {
    /// The next seed to take; never advanced past the range's end, so a range at the top of
    /// u64 cannot wrap around to seed 0.
    next: AtomicU64,
    ran: AtomicU64,
    rechecked: AtomicU64,
    finished: AtomicU64,
    sim_ms: AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
    failures: Mutex<Vec<Failure>>,
    hashes: Mutex<BTreeMap<u64, String>>,
    reached: Mutex<BTreeMap<Mark, u64>>,
    totals: Mutex<Totals>,
}

impl Tally {
    /// Runs one seed (twice when the determinism check picks it) and counts what it did;
    /// returns how many seeds have failed so far.
    fn run_seed(&self, scenario: &Scenario, seed: u64, options: &SweepOptions) -> usize {
        let (scenario, _) = scenario_for_seed(scenario, seed, options.swarm);
        let rerun = options.checks_determinism(seed);
        let checked = check_seed_hashed(options.runner, &scenario, seed, options.hashes || rerun);
        let (ran_ms, hash, mut failure) = (checked.sim_ms, checked.hash, checked.failure);
        self.ran.fetch_add(1, Ordering::Relaxed);
        if let (Some(counts), Ok(mut seen)) = (checked.marks, self.reached.lock()) {
            self.finished.fetch_add(1, Ordering::Relaxed);
            for (mark, _) in counts.reached() {
                *seen.entry(mark).or_insert(0) += 1;
            }
        }
        if rerun && failure.is_none() {
            self.rechecked.fetch_add(1, Ordering::Relaxed);
            let again = check_seed_hashed(options.runner, &scenario, seed, true).hash;
            if again != hash {
                failure = Some(Failure {
                    seed,
                    violations: Vec::new(),
                    crash: Some(format!(
                        "run nondeterministic: trace hash {} then {} in the same process",
                        hash.clone().unwrap_or_default(),
                        again.unwrap_or_default()
                    )),
                });
            }
        }
        self.sim_ms.fetch_add(ran_ms, Ordering::Relaxed);
        if let (Some(stats), Ok(mut totals)) = (&checked.stats, self.totals.lock()) {
            totals.add(stats);
        }
        if let (Some(hash), true, Ok(mut table)) = (hash, options.hashes, self.hashes.lock()) {
            table.insert(seed, hash);
        }
        let Ok(mut list) = self.failures.lock() else {
            return 0;
        };
        if let Some(failure) = failure {
            list.push(failure);
        }
        list.len()
    }
}

/// [`sweep`] with every option.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub fn sweep_with(scenario: &Scenario, seeds: Range<u64>, options: &SweepOptions) -> SweepReport {
    let tally = Tally {
        next: AtomicU64::new(seeds.start),
        reached: Mutex::new(Mark::ALL.iter().map(|mark| (*mark, 0)).collect()),
        ..Tally::default()
    };
    // Wall-clock time is measured here, in the CLI, only to report speed; it never reaches a sim.
    let started = std::time::Instant::now();
    let bar = options
        .progress
        .then(|| progress_bar(seeds.end - seeds.start));
    // Caught panics are failures of their seed, reported once by the sweep.
    quiet_panics(|| {
        std::thread::scope(|scope| {
            for _ in 0..options.jobs.max(1) {
                scope.spawn(|| loop {
                    let taken =
                        tally
                            .next
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seed| {
                                (seed < seeds.end).then(|| seed + 1)
                            });
                    let Ok(seed) = taken else {
                        break;
                    };
                    if !options.in_shard(seeds.start, seed) {
                        continue;
                    }
                    if options
                        .time_limit
                        .is_some_and(|limit| started.elapsed() >= limit)
                    {
                        tally.stopped.store(true, Ordering::Relaxed);
                        break;
                    }
                    let failed = tally.run_seed(scenario, seed, options);
                    if let Some(bar) = &bar {
                        bar.set_message(format!("{:.0} seeds/s  {failed} failed", bar.per_sec()));
                        bar.inc(1);
                    }
                });
            }
        })
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut failures = tally.failures.into_inner().unwrap_or_default();
    failures.sort_by_key(|failure| failure.seed);
    let (declared, min_seeds) = scenario.declared_marks();
    SweepReport {
        scenario: scenario.name.clone(),
        seeds: tally.ran.into_inner(),
        rechecked: tally.rechecked.into_inner(),
        stopped_early: tally.stopped.into_inner(),
        failures,
        wall_ms: started.elapsed().as_millis() as u64,
        sim_ms: tally.sim_ms.into_inner(),
        marks: tally.reached.into_inner().unwrap_or_default(),
        declared,
        min_seeds,
        finished: tally.finished.into_inner(),
        hashes: tally.hashes.into_inner().unwrap_or_default(),
        totals: tally.totals.into_inner().unwrap_or_default(),
    }
}

fn progress_bar(seeds: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(seeds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {msg}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::SweepOptions;

    /// `--check-determinism P` reruns a fraction P of the seeds (it once reran 7% for 5%: the
    /// choice took ten bits modulo 1000).
    #[test]
    fn determinism_check_reruns_the_fraction_asked() {
        for fraction in [0.05, 0.5] {
            let options = SweepOptions {
                check_determinism: fraction,
                ..SweepOptions::jobs(1)
            };
            let chosen = (0..20_000u64)
                .filter(|seed| options.checks_determinism(*seed))
                .count() as f64;
            let share = chosen / 20_000.0;
            assert!(
                (share - fraction).abs() < fraction * 0.1,
                "{share} of the seeds rerun for {fraction}"
            );
        }
        let none = SweepOptions::jobs(1);
        assert!((0..1000).all(|seed| !none.checks_determinism(seed)));
    }
}
