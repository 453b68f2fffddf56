//! Regression files (`scenarios/regressions/`): checking one still passes with its pinned trace
//! hash, and writing the one `shrink` made.

use crate::report::repro_command;
use crate::repro::ReproToken;
use ixsim_sim::{Runner, Scenario};

/// Runs one regression file (`scenarios/regressions/`) on both runners: its `[regression]`
/// seed must violate no oracle on either, and produce the trace hash the file pins for that
/// runner, if any (`trace_hash`: turmoil's, `direct_trace_hash`: the direct runner's).
pub fn check_regression(path: &std::path::Path) -> Result<(), String> {
    let shown = path.display().to_string();
    let scenario = Scenario::load(&shown).map_err(|error| error.to_string())?;
    let Some(regression) = scenario.regression.clone() else {
        return Err(format!("{shown}: no [regression] section"));
    };
    for runner in Runner::ALL {
        let outcome = ixsim_sim::run_on(runner, &scenario, regression.seed)
            .map_err(|error| format!("{shown} on {runner}: run failed: {error}"))?;
        if let Some(first) = outcome.violations.first() {
            return Err(format!(
                "{shown} seed {} on {runner}: [{}] at {} ms: {} (it was: {})",
                regression.seed, first.oracle, first.at_ms, first.detail, regression.found
            ));
        }
        let pinned = match runner {
            Runner::Turmoil => &regression.trace_hash,
            Runner::Direct => &regression.direct_trace_hash,
        };
        match pinned {
            Some(pinned) if *pinned != outcome.trace_hash => {
                return Err(format!(
                    "{shown} seed {} on {runner}: trace hash {} but the file pins {pinned}",
                    regression.seed, outcome.trace_hash
                ))
            }
            _ => {}
        }
    }
    Ok(())
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
        direct_trace_hash: None,
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

/// What `ixsim shrink` prints: how much it shrank, where the file is, how to replay it on
/// `runner` (the one that shrank it: the trace hash is that runner's).
pub fn shrink_report(
    shrunk: &ixsim_sim::shrink::Shrunk,
    origin: &str,
    (seed, runner): (u64, Runner),
    path: &std::path::Path,
) -> String {
    let (before, after) = (shrunk.before, shrunk.after);
    let shown = path.display().to_string();
    let text = Scenario::source(&shown).unwrap_or_default();
    let token = ReproToken::new(&shown, None, seed, &text).on(runner);
    let replay = format!("{shown} --runner {runner}");
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
        repro_command(&replay, seed),
    )
}
