//! The `scenario_toml` fuzz target: arbitrary scenario *text*, as a user or a tool might write
//! it, through parsing, validation and (when it is valid) a short run (issue 15).
//!
//! A finding is a panic anywhere: in the TOML reader, in validation, in the warnings, in the
//! runner; an error message that is not one line; or a scenario that validation accepted but
//! that does not run to its end (a host failure, a broken input budget: a loop validation let
//! through). Oracle verdicts are not findings here: hostile scenarios can legitimately make a
//! correct cluster fail one (an owner grace shorter than a desktop needs to notice a dead
//! connection, say), and the `scenario` target judges the cluster on scenarios that make sense.
//!
//! Runs are kept short, so that the fuzzer mostly explores the text: a valid scenario is cut to
//! [`MAX_RUN_MS`] of simulated time and at most [`MAX_STEPS`] steps (faults and submits past
//! the cut dropped, random faults and liveness dropped when they no longer fit), and one with
//! more than [`MAX_HOSTS`] hosts is only validated.

use crate::scenario::{Scenario, MAX_SCENARIO_BYTES};

/// Longest simulated run of one input.
pub const MAX_RUN_MS: u64 = 3_000;
/// Most turmoil steps of one input's run.
pub const MAX_STEPS: u64 = 1_000;
/// Scenarios with more hosts are validated, not run.
pub const MAX_HOSTS: usize = 40;

pub fn scenario_toml(data: &[u8]) {
    if data.len() as u64 > MAX_SCENARIO_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scenario = match Scenario::parse("fuzz.toml", text) {
        Ok(scenario) => scenario,
        Err(error) => {
            let message = error.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "a scenario error must be one line: {message:?}"
            );
            return;
        }
    };
    let _ = scenario.warnings();
    let Some(short) = shortened(&scenario) else {
        return;
    };
    if let Err(error) = crate::run_on(crate::fuzz::scenario::FUZZ_RUNNER, &short, 1) {
        panic!("a valid scenario did not run to its end: {error}");
    }
}

/// `scenario` cut to a short run, if it still validates and is small enough to run.
pub fn shortened(scenario: &Scenario) -> Option<Scenario> {
    if scenario.hosts().len() > MAX_HOSTS {
        return None;
    }
    let mut short = scenario.clone();
    let end_ms = short
        .duration_ms
        .min(MAX_RUN_MS)
        .min(short.tick_ms.saturating_mul(MAX_STEPS));
    short.duration_ms = end_ms;
    short.faults.retain(|fault| fault.at_ms < end_ms);
    let random_fits = short
        .random_faults
        .as_ref()
        .is_some_and(|random| random.end_ms.saturating_add(random.heal_ms_max) <= end_ms);
    if !random_fits {
        short.random_faults = None;
    }
    if short
        .liveness
        .as_ref()
        .is_some_and(|liveness| liveness.settle_ms >= end_ms)
    {
        short.liveness = None;
    }
    if !short.workload.submits.is_empty() {
        short
            .workload
            .submits
            .retain(|submit| submit.at_ms < end_ms);
        short.workload.interactions = short.workload.submits.len() as u32;
    }
    if let Some(prober) = short.prober.as_mut() {
        prober.start_ms = prober.start_ms.min(end_ms);
    }
    short.validate().ok()?;
    Some(short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::BUILT_IN;

    /// Every built-in scenario's text goes through the target, and each is cut to a run that
    /// still validates (the seed corpus is these files, so the fuzzer starts from runs).
    #[test]
    fn built_in_texts_run_through_the_target() {
        for (name, text) in BUILT_IN {
            let scenario = Scenario::parse(name, text).expect("built-in");
            let short = shortened(&scenario).unwrap_or_else(|| panic!("{name} is not runnable"));
            assert!(short.duration_ms <= MAX_RUN_MS, "{name}");
            scenario_toml(text.as_bytes());
        }
    }

    /// Bytes that are not UTF-8, not TOML, or not a valid scenario end quietly.
    #[test]
    fn garbage_is_ignored() {
        scenario_toml(&[0xff, 0xfe, 0x00]);
        scenario_toml(b"[[[");
        scenario_toml(b"name = 3");
        scenario_toml(b"");
    }
}
