//! `ixsim sweep --cross-check`: the same seeds on the direct runner and on turmoil, the
//! reference, and what they say of each.
//!
//! Per seed the verdicts are compared: the set of oracles that failed (or that the run did not
//! finish). The two runners schedule differently (exact time against ticks, different latency
//! draws), so per-seed counts differ by design; the main stats are compared summed over the
//! sweep instead: interactions submitted and completed, acknowledged ones lost (which must be
//! equal: none), request errors and the error codes seen. A code that only one runner
//! produced is listed: it is a path the other does not reach.

use crate::sweep::{sweep_with, SweepOptions, SweepReport, Totals};
use ixsim_sim::{Runner, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

/// Both runners' sweeps of one seed range.
pub struct CrossCheck {
    pub direct: SweepReport,
    pub turmoil: SweepReport,
}

/// A seed the runners judged differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    pub seed: u64,
    pub direct: Vec<String>,
    pub turmoil: Vec<String>,
}

/// What one sweep said of each seed it ran: the oracles that failed, sorted (empty: passed;
/// `run did not finish`: crashed or stopped).
fn verdicts(report: &SweepReport) -> BTreeMap<u64, Vec<String>> {
    let mut verdicts: BTreeMap<u64, Vec<String>> = report
        .hashes
        .keys()
        .map(|seed| (*seed, Vec::new()))
        .collect();
    for failure in &report.failures {
        let oracles: BTreeSet<String> = match &failure.crash {
            Some(_) => BTreeSet::from(["run did not finish".to_string()]),
            None => failure
                .violations
                .iter()
                .map(|v| v.oracle.to_string())
                .collect(),
        };
        verdicts.insert(failure.seed, oracles.into_iter().collect());
    }
    verdicts
}

impl CrossCheck {
    /// Sweeps `seeds` on each runner with `options` (its runner is ignored).
    pub fn run(scenario: &Scenario, seeds: Range<u64>, options: &SweepOptions) -> Self {
        // The hash table's seeds are the seeds each runner finished.
        let on = |runner| SweepOptions {
            runner,
            hashes: true,
            ..options.clone()
        };
        CrossCheck {
            direct: sweep_with(scenario, seeds.clone(), &on(Runner::Direct)),
            turmoil: sweep_with(scenario, seeds, &on(Runner::Turmoil)),
        }
    }

    /// The seeds both ran whose verdicts differ.
    pub fn disagreements(&self) -> Vec<Disagreement> {
        let turmoil = verdicts(&self.turmoil);
        verdicts(&self.direct)
            .into_iter()
            .filter_map(|(seed, direct)| {
                let other = turmoil.get(&seed)?;
                (*other != direct).then(|| Disagreement {
                    seed,
                    direct,
                    turmoil: other.clone(),
                })
            })
            .collect()
    }

    /// The runners agree: the same verdict on every seed, and the same number of
    /// acknowledged interactions lost.
    pub fn agrees(&self) -> bool {
        self.agree_given(&self.disagreements())
    }

    fn agree_given(&self, disagreements: &[Disagreement]) -> bool {
        disagreements.is_empty() && self.direct.totals.lost == self.turmoil.totals.lost
    }

    /// The report: each runner's sweep and totals, their ratios, the codes only one saw, and
    /// every disagreement.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let (d, t) = (&self.direct, &self.turmoil);
        let _ = writeln!(
            text,
            "{:<8} {:>7} {:>7} {:>10} {:>10} {:>6} {:>8} {:>9}",
            "runner", "seeds", "failed", "submitted", "completed", "lost", "errors", "seeds/s"
        );
        for (runner, report) in [(Runner::Direct, d), (Runner::Turmoil, t)] {
            let totals = &report.totals;
            let per_second = report.seeds as f64 * 1000.0 / report.wall_ms.max(1) as f64;
            let _ = writeln!(
                text,
                "{:<8} {:>7} {:>7} {:>10} {:>10} {:>6} {:>8} {:>9.1}",
                runner.name(),
                report.seeds,
                report.failures.len(),
                totals.submitted,
                totals.completed,
                totals.lost,
                totals.request_errors,
                per_second
            );
        }
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        let _ = writeln!(
            text,
            "direct/turmoil: submitted {:.3}, completed {:.3}, errors {:.3}, speed {:.1}x",
            ratio(d.totals.submitted, t.totals.submitted),
            ratio(d.totals.completed, t.totals.completed),
            ratio(d.totals.request_errors, t.totals.request_errors),
            (d.seeds as f64 / d.wall_ms.max(1) as f64) / (t.seeds as f64 / t.wall_ms.max(1) as f64)
        );
        let _ = writeln!(
            text,
            "error codes: direct {}; turmoil {}",
            codes(&d.totals),
            codes(&t.totals)
        );
        for (runner, only) in [
            (Runner::Direct, only_in(&d.totals, &t.totals)),
            (Runner::Turmoil, only_in(&t.totals, &d.totals)),
        ] {
            if !only.is_empty() {
                let _ = writeln!(text, "codes only {runner} produced: {only:?}");
            }
        }
        let disagreements = self.disagreements();
        let judged = verdicts(d).len();
        for seen in &disagreements {
            let _ = writeln!(
                text,
                "DIFFER seed {}: direct {:?}, turmoil {:?}",
                seen.seed, seen.direct, seen.turmoil
            );
        }
        let _ = write!(
            text,
            "cross-check {}: {} of {} seeds judged alike{}",
            d.scenario,
            judged - disagreements.len(),
            judged,
            if self.agree_given(&disagreements) {
                ""
            } else {
                ": DIFFER"
            }
        );
        text
    }
}

fn codes(totals: &Totals) -> String {
    let list: Vec<String> = totals
        .error_codes
        .iter()
        .map(|(code, count)| format!("{code}:{count}"))
        .collect();
    format!("[{}]", list.join(" "))
}

/// Error codes `a` saw and `b` never did.
fn only_in(a: &Totals, b: &Totals) -> Vec<u16> {
    a.error_codes
        .keys()
        .filter(|code| !b.error_codes.contains_key(code))
        .copied()
        .collect()
}
