//! What `run` and `sweep` report of a seed: the run summary (`run --json`), a failing seed
//! with its violations, and the repro command line.

use crate::repro::ReproToken;
use crate::sweep::{run_caught, scenario_for_seed};
use ixsim_sim::oracles::Violation;
use ixsim_sim::{Runner, Scenario, Stats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What `ixsim run --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub scenario: String,
    /// The simulator that ran it.
    pub runner: Runner,
    pub trace_hash: String,
    pub sim_ms: u64,
    pub stats: Stats,
    pub violations: Vec<Violation>,
    /// Under `--swarm`: what the seed drew (`swarm: agents=3 fault_count=2 ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    /// The bug-report token of this run (`ixsim repro TOKEN`), when the scenario's text is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The coverage marks the run reached, by name, with how often ([`ixsim_core::marks`]).
    pub marks: BTreeMap<&'static str, u64>,
    /// The whole trace (rendered to text only when asked: [`RunSummary::trace_text`]).
    #[serde(skip)]
    pub trace: ixsim_sim::trace::Trace,
}

impl RunSummary {
    /// Runs one seed. A run that does not finish (a panic, a host failure, a broken budget) is
    /// the `Err`, described exactly as a sweep describes that seed ([`Failure::crash`]), so
    /// that the repro line of a sweep shows what the sweep saw.
    pub fn run(scenario: &Scenario, seed: u64) -> Result<Self, String> {
        Self::run_variant(Runner::Turmoil, scenario, seed, false)
    }

    /// [`RunSummary::run`] on `runner`, under swarm testing when `swarm`.
    pub fn run_variant(
        runner: Runner,
        scenario: &Scenario,
        seed: u64,
        swarm: bool,
    ) -> Result<Self, String> {
        let (scenario, said) = scenario_for_seed(scenario, seed, swarm);
        let outcome = run_caught(runner, &scenario, seed)?;
        Ok(RunSummary {
            swarm: said,
            runner,
            seed,
            scenario: outcome.scenario,
            trace_hash: outcome.trace_hash,
            sim_ms: outcome.sim_ms,
            stats: outcome.stats,
            violations: outcome.violations,
            token: None,
            marks: outcome
                .trace
                .marks
                .reached()
                .map(|(mark, count)| (mark.name(), count))
                .collect(),
            trace: outcome.trace,
        })
    }

    /// The trace as `ixsim run --trace` prints it.
    pub fn trace_text(&self) -> String {
        self.trace.render()
    }

    /// One JSON object (`ixsim run --json`); with `trace`, the whole trace as its `trace`
    /// field, an array of events ([`ixsim_sim::trace::Trace::to_json`]).
    pub fn to_json_with(&self, trace: bool) -> String {
        let mut value = match serde_json::to_value(self) {
            Ok(value) => value,
            Err(error) => return serde_json::json!({ "error": error.to_string() }).to_string(),
        };
        if let (true, Some(fields)) = (trace, value.as_object_mut()) {
            fields.insert("trace".to_string(), self.trace.to_json());
        }
        value.to_string()
    }

    pub fn to_json(&self) -> String {
        self.to_json_with(false)
    }

    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let stats = &self.stats;
        let _ = writeln!(
            text,
            "scenario {} seed {} runner {} trace {} sim {} ms",
            self.scenario, self.seed, self.runner, self.trace_hash, self.sim_ms
        );
        if let Some(said) = &self.swarm {
            let _ = writeln!(text, "{said}");
        }
        let _ = writeln!(
            text,
            "submitted {} delivered {} completed {} queued {} lost {} (pulls {}, errors {}, timeouts {}, faults {})",
            stats.submitted,
            stats.delivered,
            stats.completed,
            stats.queued,
            stats.lost,
            stats.pulls,
            stats.request_errors,
            stats.request_timeouts,
            stats.faults
        );
        let codes: Vec<String> = stats
            .error_codes
            .iter()
            .map(|(code, count)| format!("{code}:{count}"))
            .collect();
        let _ = writeln!(
            text,
            "error codes [{}] pull-order inversions {} max agents logged in {}",
            codes.join(" "),
            stats.pull_order_inversions,
            stats.max_agents_logged_in
        );
        if self.violations.is_empty() {
            let _ = writeln!(text, "ok: no oracle violated");
        }
        for violation in &self.violations {
            let _ = writeln!(
                text,
                "VIOLATION [{}] at {} ms: {}",
                violation.oracle, violation.at_ms, violation.detail
            );
        }
        text
    }
}

/// The command that reruns one seed; `scenario` as the user named it (built-in name or path).
pub fn repro_command(scenario: &str, seed: u64) -> String {
    format!("ixsim run --scenario {scenario} --seed {seed} --trace")
}

/// One failing seed of a sweep.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// The run did not finish: what stopped it (a panic, a host failure, a broken budget),
    /// as [`run_caught`] describes it.
    pub crash: Option<String>,
}

impl Failure {
    /// One JSON object for `sweep --json`: the seed, the first problem, and the repro command.
    pub fn to_json(&self, scenario: &str, token: &ReproToken) -> String {
        let first = self.violations.first();
        serde_json::json!({
            "seed": self.seed,
            "scenario": scenario,
            "oracle": first.map(|v| v.oracle),
            "at_ms": first.map(|v| v.at_ms),
            "detail": first.map(|v| v.detail.clone()),
            "violations": self.violations.len(),
            "crash": self.crash,
            "repro": repro_command(scenario, self.seed),
            "token": token.to_string(),
        })
        .to_string()
    }

    pub fn first_problem(&self) -> String {
        if let Some(crash) = &self.crash {
            return crash.clone();
        }
        match self.violations.first() {
            Some(v) => format!(
                "[{}] at {} ms: {} ({} violation(s))",
                v.oracle,
                v.at_ms,
                v.detail,
                self.violations.len()
            ),
            None => "no violation".to_string(),
        }
    }
}
