//! The `scenario` fuzz target: an arbitrary small scenario run on the direct runner ([`FUZZ_RUNNER`],
//! for speed: a crash replays on turmoil with `--runner turmoil`), with every oracle required
//! to hold.
//!
//! The input picks a built-in scenario as its base (so that the topology, the strategies and
//! the options it needs are consistent) and then says what differs: the seed, swarm draws and
//! fault points on or off, how many agents and proxies, an explicit workload (gaps, media,
//! priorities, VIP marks) and an explicit fault plan (crash, bounce, partition, one-way
//! partition, hold, latency, switchover, each with its heal). Every change is checked against
//! the scenario's validation as it is made; a change the scenario cannot take (an agent a fault
//! names, a switchover without a backup) is left out, so nearly every input runs.
//!
//! [`scenario_file`] writes the scenario an input stands for as a scenario file (`ixsim
//! fuzz-scenario INPUT`), which `ixsim run` replays with the same trace and `ixsim shrink` makes
//! smaller.

use crate::faults::{fault_and_heal, Fault, RandomKind};
use crate::scenario::{built_in_names, ExplicitSubmit, Scenario};
use crate::{run_with, swarm, RunOptions, Runner};
use arbitrary::{Arbitrary, Unstructured};
use std::sync::OnceLock;

/// The runner the target runs inputs on: the direct one, ten and more times turmoil's speed.
pub const FUZZ_RUNNER: Runner = Runner::Direct;

/// At most this many submits and faults are taken from an input.
pub const MAX_SUBMITS: usize = 16;
pub const MAX_FAULTS: usize = 6;

/// What one `scenario` input says, before it is applied to its base.
#[derive(Clone, Debug, Arbitrary)]
pub struct ScenarioInput {
    /// Which built-in scenario (modulo their number).
    pub base: u8,
    /// The run's seed: network jitter, client choices and any drawn part.
    pub seed: u16,
    /// Apply the seed's swarm draws to the base first (`--swarm`).
    pub swarm: bool,
    /// Turn the fault points on (`--buggify`).
    pub buggify: bool,
    /// Keep the base's random faults (drawn from the seed) besides the input's own.
    pub random_faults: bool,
    /// Agents: 1 to 6.
    pub agents: Option<u8>,
    /// Proxies: 0 to 2.
    pub proxies: Option<u8>,
    /// An explicit workload; empty keeps the base's drawn one.
    pub submits: Vec<SubmitInput>,
    pub faults: Vec<FaultInput>,
}

#[derive(Clone, Debug, Arbitrary)]
pub struct SubmitInput {
    /// Time since the previous submit, in 10 ms.
    pub gap: u8,
    /// Index into the workload's media.
    pub media: u8,
    /// Index into the workload's priorities.
    pub priority: u8,
    pub vip: bool,
}

#[derive(Clone, Debug, Arbitrary)]
pub struct FaultInput {
    pub kind: RandomKind,
    /// When, in 50 ms from the workload's start (modulo the first two thirds of the run).
    pub at: u16,
    /// How long until the heal, in 20 ms, plus 100 ms.
    pub heal_after: u8,
    /// The host hit (index into the scenario's hosts).
    pub host: u8,
    /// The far side of a partition or hold (index into the other hosts).
    pub other: u8,
    /// The pair a switchover names (index into the supervised pairs).
    pub pair: u8,
    /// Latency during a latency fault, in 4 ms, plus 100 ms.
    pub spike: u8,
}

/// The built-in scenarios, parsed once per process (a fuzzer runs millions of inputs).
fn bases() -> &'static [Scenario] {
    static BASES: OnceLock<Vec<Scenario>> = OnceLock::new();
    BASES.get_or_init(|| {
        built_in_names()
            .into_iter()
            .map(|name| Scenario::load(name).expect("built-in scenarios are valid"))
            .collect()
    })
}

/// Applies `change` to `scenario` if the result is still valid; says whether it was.
fn try_apply(scenario: &mut Scenario, change: impl FnOnce(&mut Scenario)) -> bool {
    let mut candidate = scenario.clone();
    change(&mut candidate);
    if candidate.validate().is_ok() {
        *scenario = candidate;
        true
    } else {
        false
    }
}

impl ScenarioInput {
    /// Decodes an input. Bytes that run out read as zeros and empty lists (arbitrary's rule),
    /// so the empty input is the first built-in scenario with seed 0.
    pub fn decode(bytes: &[u8]) -> Option<ScenarioInput> {
        ScenarioInput::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }

    /// The scenario and seed this input stands for; `None` when it cannot be made valid.
    pub fn build(&self) -> Option<(Scenario, u64)> {
        let bases = bases();
        let base = &bases[usize::from(self.base) % bases.len()];
        let seed = u64::from(self.seed);
        let mut scenario = if self.swarm {
            swarm::swarm(base, seed).0
        } else {
            base.clone()
        };
        scenario.name = format!("fuzz-{}", base.name);
        scenario.description = format!("built by the scenario fuzz target from `{}`", base.name);
        if self.buggify {
            scenario.enable_buggify();
        }
        if !self.random_faults {
            scenario.random_faults = None;
        }
        if let Some(agents) = self.agents {
            try_apply(&mut scenario, |s| {
                s.topology.agents = 1 + u32::from(agents % 6)
            });
        }
        if let Some(proxies) = self.proxies {
            try_apply(&mut scenario, |s| {
                s.topology.proxies = u32::from(proxies % 3)
            });
        }
        let horizon = (scenario.duration_ms * 2 / 3).max(1);
        if !self.submits.is_empty() {
            let workload = &scenario.workload;
            let mut at_ms = workload.start_ms;
            let submits: Vec<ExplicitSubmit> = self
                .submits
                .iter()
                .take(MAX_SUBMITS)
                .enumerate()
                .map(|(case, submit)| {
                    at_ms = (at_ms + u64::from(submit.gap) * 10).min(horizon);
                    let vip_queue = workload.vip_queue.as_ref().filter(|_| submit.vip);
                    ExplicitSubmit {
                        at_ms,
                        case: case as u32,
                        media: workload.media[usize::from(submit.media) % workload.media.len()]
                            .clone(),
                        queue: vip_queue.unwrap_or(&workload.queue).clone(),
                        priority: workload.priorities
                            [usize::from(submit.priority) % workload.priorities.len()],
                        vip: submit.vip,
                    }
                })
                .collect();
            try_apply(&mut scenario, |s| {
                s.workload.interactions = submits.len() as u32;
                s.workload.submits = submits;
            });
        }
        for fault in self.faults.iter().take(MAX_FAULTS) {
            let start = scenario.workload.start_ms;
            let at_ms = start + (u64::from(fault.at) * 50) % horizon.saturating_sub(start).max(1);
            let heal_ms =
                (at_ms + 100 + u64::from(fault.heal_after) * 20).min(scenario.duration_ms - 1);
            let hosts = scenario.hosts();
            let host = hosts[usize::from(fault.host) % hosts.len()].clone();
            let others: Vec<&String> = hosts.iter().filter(|other| **other != host).collect();
            let Some(other) = others
                .get(usize::from(fault.other) % others.len().max(1))
                .map(|other| (*other).clone())
            else {
                continue;
            };
            let pairs = scenario.supervised_pairs().len().max(1);
            let pair = 1 + (usize::from(fault.pair) % pairs) as u16;
            let (action, heal) = fault_and_heal(
                fault.kind,
                host,
                other,
                pair,
                100 + u64::from(fault.spike) * 4,
                scenario.network.latency_max_ms,
            );
            try_apply(&mut scenario, |s| {
                s.faults.push(Fault { at_ms, action });
                if let Some(heal) = heal {
                    s.faults.push(Fault {
                        at_ms: heal_ms,
                        action: heal,
                    });
                }
                s.faults.sort_by_key(|fault| fault.at_ms);
            });
        }
        scenario.validate().ok()?;
        Some((scenario, seed))
    }
}

/// `scenario`: the scenario an input stands for runs with every oracle holding. An input that
/// does not decode, or that makes no valid scenario, is skipped.
pub fn scenario(bytes: &[u8]) {
    let Some((scenario, seed)) = ScenarioInput::decode(bytes).and_then(|input| input.build())
    else {
        return;
    };
    // No trace hash unless it fails: hashing is a tenth of a short run.
    let options = RunOptions {
        trace_hash: false,
        ..RunOptions::default()
    };
    let outcome = match run_with(FUZZ_RUNNER, &scenario, seed, options) {
        Ok(outcome) => outcome,
        Err(error) => panic!("{} seed {seed}: {error}", scenario.name),
    };
    if let Some(first) = outcome.violations.first() {
        let all: Vec<String> = outcome
            .violations
            .iter()
            .map(|v| format!("[{}] at {} ms: {}", v.oracle, v.at_ms, v.detail))
            .collect();
        panic!(
            "{} seed {seed} fails [{}] on the {FUZZ_RUNNER} runner (trace {}); `ixsim \
             fuzz-scenario INPUT` writes it as a scenario file.\n{}",
            scenario.name,
            first.oracle,
            outcome.trace.hash(),
            all.join("\n")
        );
    }
}

/// The scenario file a `scenario` input stands for, and its seed: the text loads back as the
/// same scenario, and `ixsim run --scenario FILE --seed SEED` replays the fuzz run's trace.
pub fn scenario_file(bytes: &[u8]) -> Result<(String, u64), String> {
    let input = ScenarioInput::decode(bytes)
        .ok_or_else(|| "the input is too short to be a scenario input".to_string())?;
    let (scenario, seed) = input.build().ok_or_else(|| {
        "the input makes no valid scenario (the fuzz target skips it)".to_string()
    })?;
    let body = toml::to_string(&scenario).map_err(|e| format!("cannot write the scenario: {e}"))?;
    let text = format!(
        "# Written by `ixsim fuzz-scenario` from a `scenario` fuzz input (run on the {FUZZ_RUNNER} runner).\n\
         # Replays with: ixsim run --scenario PATH --seed {seed} --runner {FUZZ_RUNNER} --trace\n\
         # Shrinks with: ixsim shrink --scenario PATH --seed {seed} --runner {FUZZ_RUNNER}\n{body}"
    );
    Scenario::parse("the written scenario", &text).map_err(|e| format!("internal: {e}"))?;
    Ok((text, seed))
}

/// The `scenario` seed corpus: each built-in scenario as it is (seed 1, its own random
/// faults kept) and with swarm draws (seed 2), and for each one input with an explicit workload
/// and fault plan (the first of a fixed pseudo-random byte sequence that makes one with at least
/// four submits and two faults), so that the fuzzer starts from inputs long enough to carry
/// both. The short bytes follow the field order of `ScenarioInput` (base, seed, swarm, buggify,
/// random_faults; the rest empty). By file name, for `fuzz/corpus/scenario/`.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut state: u64 = 0x2026_1201;
    let mut next_byte = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    for (base, name) in crate::scenario::built_in_names().iter().enumerate() {
        for (variant, swarm) in [("", 0u8), ("-swarm", 1)] {
            let bytes = [base as u8, 1 + swarm, 0, swarm, 0, 1];
            let built = ScenarioInput::decode(&bytes).and_then(|input| input.build());
            let (scenario, _) = built.expect("every built-in scenario is a fuzz base");
            assert_eq!(scenario.name, format!("fuzz-{name}"));
            files.push((format!("{name}{variant}"), bytes.to_vec()));
        }
        let planned = (0..100_000)
            .find_map(|_| {
                let mut bytes: Vec<u8> = (0..96).map(|_| next_byte()).collect();
                bytes[0] = base as u8;
                let (scenario, _) = ScenarioInput::decode(&bytes)?.build()?;
                let rich = scenario.faults.len() >= 2 && scenario.workload.submits.len() >= 4;
                rich.then_some(bytes)
            })
            .expect("some bytes make a planned input");
        files.push((format!("{name}-planned"), planned));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_on;

    fn input(base: u8) -> ScenarioInput {
        ScenarioInput {
            base,
            seed: 7,
            swarm: false,
            buggify: false,
            random_faults: false,
            agents: Some(1),
            proxies: None,
            submits: (0..5)
                .map(|i| SubmitInput {
                    gap: 20,
                    media: i,
                    priority: i,
                    vip: i % 2 == 0,
                })
                .collect(),
            faults: vec![FaultInput {
                kind: RandomKind::Crash,
                at: 10,
                heal_after: 30,
                host: 0,
                other: 1,
                pair: 0,
                spike: 0,
            }],
        }
    }

    #[test]
    fn an_input_applies_its_workload_and_faults() {
        let (scenario, seed) = input(0).build().expect("valid");
        assert_eq!(seed, 7);
        assert_eq!(scenario.workload.submits.len(), 5);
        assert_eq!(scenario.workload.interactions, 5);
        assert_eq!(scenario.topology.agents, 2);
        // The crash and its start.
        assert_eq!(scenario.faults.len(), 2);
        assert!(scenario.random_faults.is_none());
    }

    /// Bytes that decode into inputs on several bases, with faults and submits.
    fn sample(pattern: u32) -> Vec<u8> {
        (0..96u32).map(|k| (k * 37 + pattern * 101) as u8).collect()
    }

    #[test]
    fn the_written_file_replays_the_fuzz_run() {
        let mut checked = 0;
        for pattern in 0..6 {
            let bytes = sample(pattern);
            let Some((scenario, seed)) = ScenarioInput::decode(&bytes).and_then(|i| i.build())
            else {
                continue;
            };
            let (text, file_seed) = scenario_file(&bytes).expect("a scenario file");
            assert_eq!(file_seed, seed);
            let loaded = Scenario::parse("written", &text).unwrap();
            assert_eq!(
                loaded, scenario,
                "the file loads back as the built scenario"
            );
            assert_eq!(
                run_on(FUZZ_RUNNER, &loaded, seed).unwrap().trace_hash,
                run_on(FUZZ_RUNNER, &scenario, seed).unwrap().trace_hash
            );
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} of 6 samples made a scenario");
    }

    #[test]
    fn empty_input_is_the_first_base_unchanged() {
        let (built, seed) = ScenarioInput::decode(&[]).unwrap().build().unwrap();
        let base = Scenario::load(built_in_names()[0]).unwrap();
        assert_eq!(seed, 0);
        assert_eq!(built.workload, base.workload);
        assert_eq!(built.faults, base.faults);
        scenario(&[]);
    }
}
