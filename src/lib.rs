//! `ixsim`: the command-line front of the harness, and a thin facade over `ixsim-core` and
//! `ixsim-sim` for the integration tests.
//!
//! Sweeps are the one place that uses threads: each thread runs whole simulations, one at a
//! time (a `turmoil::Sim` is not `Send`), so determinism per seed is unaffected.

pub use ixsim_core as core;
pub use ixsim_sim as sim;

use ixsim_core::marks::{Mark, MarkCounts};
use ixsim_sim::oracles::Violation;
use ixsim_sim::{Scenario, Stats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// `ixsim --version`: the seeds of a bug report are tied to these.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (turmoil 0.7.2, ",
    env!("IXSIM_RUSTC_VERSION"),
    ")"
);

/// What `ixsim run --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub scenario: String,
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

impl RunSummary {
    /// Runs one seed. A run that does not finish (a panic, a host failure, a broken budget) is
    /// the `Err`, described exactly as a sweep describes that seed ([`Failure::crash`]), so
    /// that the repro line of a sweep shows what the sweep saw.
    pub fn run(scenario: &Scenario, seed: u64) -> Result<Self, String> {
        Self::run_variant(scenario, seed, false)
    }

    /// [`RunSummary::run`], under swarm testing when `swarm`.
    pub fn run_variant(scenario: &Scenario, seed: u64, swarm: bool) -> Result<Self, String> {
        let (scenario, said) = scenario_for_seed(scenario, seed, swarm);
        let outcome = run_caught(&scenario, seed)?;
        Ok(RunSummary {
            swarm: said,
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
            "scenario {} seed {} trace {} sim {} ms",
            self.scenario, self.seed, self.trace_hash, self.sim_ms
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

/// A bug-report token: everything `ixsim repro` needs to rerun one failing seed, in one word:
/// `ixsim:SCENARIO[+PULLMODE][+swarm][+buggify]:SEED:HASH:VERSION`, where SCENARIO is a
/// built-in name or a file path, the `+` parts the command line's variations (`--pull-mode`,
/// `--swarm`, `--buggify`), HASH the scenario text's content hash, and VERSION the ixsim
/// version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReproToken {
    pub scenario: String,
    pub pull_mode: Option<String>,
    pub swarm: bool,
    pub buggify: bool,
    pub seed: u64,
    pub hash: String,
    pub version: String,
}

impl ReproToken {
    /// The token of `seed` of the scenario named `scenario` (built-in or path), whose text is
    /// `text`.
    pub fn new(scenario: &str, pull_mode: Option<&str>, seed: u64, text: &str) -> Self {
        ReproToken {
            scenario: scenario.to_string(),
            pull_mode: pull_mode.map(str::to_string),
            swarm: false,
            buggify: false,
            seed,
            hash: Scenario::content_hash(text),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The same token with the `--swarm` / `--buggify` variations.
    pub fn with(mut self, swarm: bool, buggify: bool) -> Self {
        self.swarm = swarm;
        self.buggify = buggify;
        self
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a repro token (ixsim:SCENARIO:SEED:HASH:VERSION)");
        let rest = text.strip_prefix("ixsim:").ok_or_else(bad)?;
        let mut parts = rest.rsplitn(4, ':');
        let version = parts.next().ok_or_else(bad)?.to_string();
        let hash = parts.next().ok_or_else(bad)?.to_string();
        let seed = parts
            .next()
            .and_then(|seed| seed.parse().ok())
            .ok_or_else(bad)?;
        let mut named = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
        let (mut pull_mode, mut swarm, mut buggify) = (None, false, false);
        while let Some((rest, variation)) = named.rsplit_once('+') {
            match variation {
                "ordered" | "round-robin" if pull_mode.is_none() => {
                    pull_mode = Some(variation.to_string());
                }
                "swarm" if !swarm => swarm = true,
                "buggify" if !buggify => buggify = true,
                // A `+` that belongs to a file's name.
                _ if Scenario::source(named).is_ok() => break,
                _ => {
                    return Err(format!(
                        "`{text}`: unknown or repeated variation `+{variation}` (known: +ordered or +round-robin, +swarm, +buggify, each once)"
                    ))
                }
            }
            named = rest;
        }
        if named.is_empty() {
            return Err(bad());
        }
        Ok(ReproToken {
            scenario: named.to_string(),
            pull_mode,
            swarm,
            buggify,
            seed,
            hash,
            version,
        })
    }
}

impl std::fmt::Display for ReproToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ixsim:{}", self.scenario)?;
        if let Some(mode) = &self.pull_mode {
            write!(f, "+{mode}")?;
        }
        if self.swarm {
            f.write_str("+swarm")?;
        }
        if self.buggify {
            f.write_str("+buggify")?;
        }
        write!(f, ":{}:{}:{}", self.seed, self.hash, self.version)
    }
}

/// The repository this binary was built from (where its built-in scenarios came from).
pub const BUILT_FROM: &str = env!("CARGO_MANIFEST_DIR");

/// Where `ixsim repro` looks for a token's scenario by content: `./scenarios`, then the
/// `scenarios/` of the repository the binary was built from (so a token replays from any
/// directory of a machine that has that checkout).
pub fn scenario_search_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs = vec![std::path::PathBuf::from("scenarios")];
    let built = std::path::Path::new(BUILT_FROM).join("scenarios");
    if built.canonicalize().ok() != dirs[0].canonicalize().ok() {
        dirs.push(built);
    }
    dirs
}

/// Most files `locate_scenario` reads while searching for a content hash.
const SEARCH_FILES_MAX: usize = 10_000;

/// Where the scenario of a token is: its name or path if that still has the same content (a
/// relative path is tried from here, then from the repository the binary was built from);
/// else a `.toml` file under one of `search` (recursively) with the token's content hash.
/// `Err` says why not and where it looked.
pub fn locate_scenario(
    token: &ReproToken,
    search: &[std::path::PathBuf],
) -> Result<String, String> {
    // Each candidate path with its text, each read once.
    let named = std::path::Path::new(&token.scenario);
    let mut candidates = vec![(
        token.scenario.clone(),
        Scenario::source(&token.scenario).ok(),
    )];
    if named.is_relative() && candidates[0].1.is_none() {
        let built = std::path::Path::new(BUILT_FROM)
            .join(named)
            .to_string_lossy()
            .to_string();
        let text = Scenario::source(&built).ok();
        candidates.push((built, text));
    }
    let same = candidates.iter().find(|(_, text)| {
        text.as_deref()
            .is_some_and(|text| Scenario::content_hash(text) == token.hash)
    });
    if let Some((path, _)) = same {
        return Ok(path.clone());
    }
    let mut read = 0;
    for root in search {
        if let Some(found) = find_by_hash(root, &token.hash, &mut read) {
            return Ok(found);
        }
    }
    let looked: Vec<String> = search.iter().map(|dir| dir.display().to_string()).collect();
    let existing = candidates
        .iter()
        .find(|(_, text)| text.is_some())
        .map(|(path, _)| path);
    let tried: Vec<&str> = candidates.iter().map(|(path, _)| path.as_str()).collect();
    match existing {
        Some(found) => Err(format!(
            "scenario `{found}` has changed since the report (content hash {} expected) and no .toml file under {} has that content",
            token.hash,
            looked.join(" or ")
        )),
        None => Err(format!(
            "no scenario `{}` (looked for it as {}) and no .toml file under {} has content hash {}",
            token.scenario,
            tried.join(" and "),
            looked.join(" or "),
            token.hash
        )),
    }
}

/// A `.toml` file under `root` (recursively, in name order) whose text has content hash `hash`.
fn find_by_hash(root: &std::path::Path, hash: &str, read: &mut usize) -> Option<String> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                *read += 1;
                if *read > SEARCH_FILES_MAX {
                    return None;
                }
                let shown = path.to_string_lossy().to_string();
                let same = ixsim_sim::scenario::read_bounded(
                    &shown,
                    ixsim_sim::scenario::MAX_SCENARIO_BYTES,
                )
                .is_ok_and(|text| Scenario::content_hash(&text) == hash);
                if same {
                    return Some(shown);
                }
            }
        }
    }
    None
}

/// Runs one regression file (`scenarios/regressions/`): its `[regression]` seed must violate
/// no oracle now, and produce the pinned trace hash when the file pins one.
pub fn check_regression(path: &std::path::Path) -> Result<(), String> {
    let shown = path.display().to_string();
    let scenario = Scenario::load(&shown).map_err(|error| error.to_string())?;
    let Some(regression) = scenario.regression.clone() else {
        return Err(format!("{shown}: no [regression] section"));
    };
    let outcome = ixsim_sim::run(&scenario, regression.seed)
        .map_err(|error| format!("{shown}: run failed: {error}"))?;
    if let Some(first) = outcome.violations.first() {
        return Err(format!(
            "{shown} seed {}: [{}] at {} ms: {} (it was: {})",
            regression.seed, first.oracle, first.at_ms, first.detail, regression.found
        ));
    }
    match regression.trace_hash {
        Some(pinned) if pinned != outcome.trace_hash => Err(format!(
            "{shown} seed {}: trace hash {} but the file pins {pinned}",
            regression.seed, outcome.trace_hash
        )),
        _ => Ok(()),
    }
}

/// Writes a shrunk failing case as a regression file under `out`
/// (`NAME-seed-SEED.toml`, NAME the scenario's name): a header saying where it came from and
/// how much it shrank, the scenario with its explicit fault plan and workload, and a
/// `[regression]` section with the seed and what fails. Returns the file's path.
pub fn write_regression(
    shrunk: &ixsim_sim::shrink::Shrunk,
    origin: &str,
    seed: u64,
    out: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    let base = file_stem(&shrunk.scenario.name);
    let mut scenario = shrunk.scenario.clone();
    scenario.name = format!("{base}-seed-{seed}");
    scenario.description = format!("shrunk from {origin}: fails {}", shrunk.oracle);
    let violation = &shrunk.violation;
    scenario.regression = Some(ixsim_sim::scenario::Regression {
        seed,
        found: format!(
            "[{}] at {} ms: {}",
            violation.oracle, violation.at_ms, violation.detail
        ),
        trace_hash: None,
    });
    let body = toml::to_string(&scenario).map_err(|e| format!("cannot write the scenario: {e}"))?;
    let text = format!(
        "# Shrunk by `ixsim shrink` from {origin} ({} -> {}, {} runs).\n\
         # Fails [{}] with seed {seed} (trace {}) until the bug is fixed; then `cargo test` keeps it fixed.\n\
         # Replays with: ixsim run --scenario PATH --seed {seed} --trace\n{body}",
        shrunk.before, shrunk.after, shrunk.runs, shrunk.oracle, shrunk.trace_hash
    );
    // The file must load back as the scenario that failed.
    Scenario::parse("the shrunk scenario", &text).map_err(|e| format!("internal: {e}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let path = out.join(format!("{}.toml", scenario.name));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// A name fit for a file: a scenario named by a path keeps only its stem.
fn file_stem(name: &str) -> String {
    let stem = std::path::Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().to_string());
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// What `ixsim shrink` prints: how much it shrank, where the file is, how to replay it.
pub fn shrink_report(
    shrunk: &ixsim_sim::shrink::Shrunk,
    origin: &str,
    seed: u64,
    path: &std::path::Path,
) -> String {
    let (before, after) = (shrunk.before, shrunk.after);
    let shown = path.display().to_string();
    let text = Scenario::source(&shown).unwrap_or_default();
    let token = ReproToken::new(&shown, None, seed, &text);
    let violation = &shrunk.violation;
    format!(
        "shrunk {origin}: [{}] at {} ms: {}\n  \
         faults {} -> {}, interactions {} -> {}, hosts {} -> {}, duration {} -> {} ms ({} runs)\n  \
         wrote {shown} (trace {})\n  \
         {}\n  \
         ixsim repro {token}\n",
        shrunk.oracle,
        violation.at_ms,
        violation.detail,
        before.faults,
        after.faults,
        before.interactions,
        after.interactions,
        before.hosts,
        after.hosts,
        before.duration_ms,
        after.duration_ms,
        shrunk.runs,
        shrunk.trace_hash,
        repro_command(&shown, seed),
    )
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
    /// The trace hash of every seed that ran to the end, by seed (`sweep --hashes`: a
    /// refactor that changes no behaviour leaves this table unchanged).
    pub hashes: BTreeMap<u64, String>,
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
                EXIT_MARKS_MISSED
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

/// Exit code of a sweep whose seeds all passed but missed a mark the scenario declares.
pub const EXIT_MARKS_MISSED: u8 = 3;

/// Runs one seed, turning panics and host failures into a [`Failure`].
pub fn check_seed(scenario: &Scenario, seed: u64) -> (u64, Option<Failure>) {
    let checked = check_seed_hashed(scenario, seed);
    (checked.sim_ms, checked.failure)
}

/// Runs one seed; a run that does not finish is the `Err`, described in one line: `run
/// crashed: MESSAGE` for a panic (a bug in ixsim), else the [`ixsim_sim::RunError`]. `run` and
/// `sweep` both go through here, so a seed reads the same in both. The panic hook stays as the
/// caller set it (a sweep silences it for all its threads; `run` with [`quiet_panics`]).
pub fn run_caught(scenario: &Scenario, seed: u64) -> Result<ixsim_sim::Outcome, String> {
    match std::panic::catch_unwind(|| ixsim_sim::run(scenario, seed)) {
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
    /// The trace hash and the marks reached (none when the run did not finish).
    hash: Option<String>,
    marks: Option<MarkCounts>,
    failure: Option<Failure>,
}

/// [`check_seed`], with the run's trace hash and marks.
fn check_seed_hashed(scenario: &Scenario, seed: u64) -> Checked {
    match run_caught(scenario, seed) {
        Ok(outcome) => Checked {
            sim_ms: outcome.sim_ms,
            hash: Some(outcome.trace_hash),
            marks: Some(outcome.trace.marks),
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

/// Runs every seed of `seeds` on `jobs` threads; failures are sorted by seed.
pub fn sweep(scenario: &Scenario, seeds: Range<u64>, jobs: usize, progress: bool) -> SweepReport {
    let options = SweepOptions {
        progress,
        ..SweepOptions::jobs(jobs)
    };
    sweep_with(scenario, seeds, &options)
}

/// [`sweep`] with every option.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub fn sweep_with(scenario: &Scenario, seeds: Range<u64>, options: &SweepOptions) -> SweepReport {
    let jobs = options.jobs.max(1);
    let progress = options.progress;
    let ran = AtomicU64::new(0);
    let rechecked = AtomicU64::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    // Wall-clock time is measured here, in the CLI, only to report speed; it never reaches a sim.
    let started = std::time::Instant::now();
    // The next seed to take; never advanced past `seeds.end`, so a range at the top of u64
    // cannot wrap around to seed 0.
    let next = AtomicU64::new(seeds.start);
    let sim_ms = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let hashes = Mutex::new(BTreeMap::new());
    let finished = AtomicU64::new(0);
    let reached: Mutex<BTreeMap<Mark, u64>> =
        Mutex::new(Mark::ALL.iter().map(|mark| (*mark, 0)).collect());
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(seeds.end - seeds.start);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {msg}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // Caught panics are failures of their seed, reported once by the sweep.
    quiet_panics(|| {
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    let taken = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seed| {
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
                        stopped.store(true, Ordering::Relaxed);
                        break;
                    }
                    let (scenario, _) = scenario_for_seed(scenario, seed, options.swarm);
                    let checked = check_seed_hashed(&scenario, seed);
                    let (ran_ms, hash, mut failure) =
                        (checked.sim_ms, checked.hash, checked.failure);
                    ran.fetch_add(1, Ordering::Relaxed);
                    if let (Some(counts), Ok(mut seen)) = (checked.marks, reached.lock()) {
                        finished.fetch_add(1, Ordering::Relaxed);
                        for (mark, _) in counts.reached() {
                            *seen.entry(mark).or_insert(0) += 1;
                        }
                    }
                    if options.checks_determinism(seed) && failure.is_none() {
                        rechecked.fetch_add(1, Ordering::Relaxed);
                        let again = check_seed_hashed(&scenario, seed).hash;
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
                    sim_ms.fetch_add(ran_ms, Ordering::Relaxed);
                    if let (Some(hash), Ok(mut table)) = (hash, hashes.lock()) {
                        table.insert(seed, hash);
                    }
                    if let Ok(mut list) = failures.lock() {
                        if let Some(failure) = failure {
                            list.push(failure);
                        }
                        if let Some(bar) = &bar {
                            bar.set_message(format!(
                                "{:.0} seeds/s  {} failed",
                                bar.per_sec(),
                                list.len()
                            ));
                        }
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                });
            }
        })
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort_by_key(|failure| failure.seed);
    let (declared, min_seeds) = scenario.declared_marks();
    SweepReport {
        scenario: scenario.name.clone(),
        seeds: ran.into_inner(),
        rechecked: rechecked.into_inner(),
        stopped_early: stopped.into_inner(),
        failures,
        wall_ms: started.elapsed().as_millis() as u64,
        sim_ms: sim_ms.into_inner(),
        marks: reached.into_inner().unwrap_or_default(),
        declared,
        min_seeds,
        finished: finished.into_inner(),
        hashes: hashes.into_inner().unwrap_or_default(),
    }
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
