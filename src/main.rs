//! The `ixsim` command line: one function per subcommand (`cmd_run`, `cmd_sweep`, ...), each
//! returning an [`Exit`]: 0 no oracle violated, 1 a seed failed, 2 bad input (unknown
//! scenario, malformed file, bad arguments) with a one-line error naming the problem, 3 a sweep
//! that passed but missed a declared mark.

use anyhow::Result;
use clap::{Parser, Subcommand};
use ixsim::Exit;
use ixsim::{
    locate_scenario, repro_command, sweep, sweep_with, ReproToken, RunSummary, SweepOptions,
};
use ixsim_sim::scenario::PullModeName;
use ixsim_sim::{Runner, Scenario};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Writes to stdout. A closed pipe (`ixsim run --trace | head`) ends the program quietly with
/// exit 0, as command-line tools do, where `print!` would panic; any other write error is
/// exit 2 with a message.
fn emit(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(2);
    }
}

macro_rules! out {
    ($($arg:tt)*) => { emit(format_args!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { emit(format_args!("{}\n", format_args!($($arg)*))) };
}

#[derive(Parser)]
#[command(
    name = "ixsim",
    version = ixsim::VERSION_LONG,
    about = "Deterministic testing harness for a Genesys-style contact-center routing cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one simulation and check the oracles.
    Run(RunArgs),
    /// Run many seeds, one simulation per thread, and report the failing ones.
    Sweep(SweepArgs),
    /// Rerun the failing seed a bug report's token names (printed by `run` and `sweep`); looks
    /// for the scenario by name, path, or content hash under `scenarios/`.
    Repro(ReproArgs),
    /// Shrink a failing seed: search for a smaller scenario (fewer faults, interactions, hosts,
    /// a shorter run) that fails the same oracle, and write it as a self-contained regression
    /// file (explicit fault plan and workload).
    Shrink(ShrinkArgs),
    /// Turn an input of the `scenario` fuzz target (a crash file from `cargo fuzz run scenario`)
    /// into a scenario file that `ixsim run` replays and `ixsim shrink` makes smaller.
    FuzzScenario(FuzzScenarioArgs),
    /// List the built-in scenarios.
    Scenarios,
    /// List the coverage marks (name, SPEC tag, meaning) a scenario's `[coverage]` may declare.
    Marks,
    /// Measure speed: seeds per second on one core and simulated time per wall time, for each
    /// built-in scenario (or the one given).
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Built-in scenario name or path to a scenario TOML file.
    #[arg(long, default_value = "smoke")]
    scenario: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the whole trace.
    #[arg(long)]
    trace: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    variant: Variant,
}

#[derive(clap::Args)]
struct SweepArgs {
    #[arg(long, default_value = "smoke")]
    scenario: String,
    /// Seed range A..B (B excluded).
    #[arg(long, value_parser = parse_range)]
    seeds: std::ops::Range<u64>,
    /// Threads to use (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    #[command(flatten)]
    variant: Variant,
    /// Run only shard I of N (1-based): every N-th seed of the range, from its I-th.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Run this fraction (0..=1) of the seeds twice in the same process; a differing trace
    /// hash fails the seed.
    #[arg(long, value_parser = parse_fraction, default_value = "0")]
    check_determinism: f64,
    /// Stop taking new seeds after this many seconds of wall time.
    #[arg(long)]
    time_limit: Option<u64>,
    /// Print one JSON line per failing seed instead of text.
    #[arg(long)]
    json: bool,
    /// Write `SEED HASH` for every seed that ran to the end to this file, in seed order
    /// (compare two builds' tables to show a change left every trace as it was).
    #[arg(long)]
    hashes: Option<std::path::PathBuf>,
    /// Run every seed on both runners and compare: the verdict per seed, the main stats
    /// summed (submitted, completed, lost, errors and their codes). Exit 1 when a seed fails
    /// on either or the runners judge one differently.
    #[arg(long, conflicts_with_all = ["runner", "hashes", "json"])]
    cross_check: bool,
}

#[derive(clap::Args)]
struct ReproArgs {
    token: String,
    /// Print the whole trace.
    #[arg(long)]
    trace: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ShrinkArgs {
    #[arg(long, default_value = "smoke")]
    scenario: String,
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    variant: Variant,
    /// Folder the regression file goes to.
    #[arg(long, default_value = "scenarios/regressions")]
    out: std::path::PathBuf,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_runs: u32,
}

#[derive(clap::Args)]
struct FuzzScenarioArgs {
    /// The fuzz input (e.g. fuzz/artifacts/scenario/crash-...).
    input: std::path::PathBuf,
    /// Where to write the scenario file (default: print it).
    #[arg(long, short)]
    out: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct BenchArgs {
    #[arg(long)]
    scenario: Option<String>,
    /// Seeds to run per scenario.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    seeds: u64,
    /// Instead: the cost per interaction as the workload grows 1x, 10x and 100x (more
    /// interactions over a proportionally longer run), and the process's peak memory.
    #[arg(long)]
    growth: bool,
    /// Measure this runner only (default: both, the same seeds on each, with their ratio).
    #[arg(long, value_enum)]
    runner: Option<RunnerArg>,
}

/// Variations of a scenario the command line asks for; a bug-report token carries them.
#[derive(clap::Args, Clone, Copy, Default)]
struct Variant {
    /// Override the proxies' pull mode [S-PX-fifo].
    #[arg(long, value_enum)]
    pull_mode: Option<PullModeArg>,
    /// Swarm testing: each seed draws which fault kinds, topology sizes, workload mix and
    /// options it runs with (within the scenario's `[swarm]` section, or defaults).
    #[arg(long)]
    swarm: bool,
    /// Turn on the fault points inside the servers (the scenario's `[buggify]` section, or
    /// the defaults when it has none).
    #[arg(long)]
    buggify: bool,
    /// The simulator: `direct` (event-driven, exact time, 8-16 times turmoil's speed: the
    /// default for run, sweep and shrink) or `turmoil` (the reference the direct runner is
    /// cross-checked against). `repro` uses the runner its token names.
    #[arg(long, value_enum)]
    runner: Option<RunnerArg>,
}

/// `--runner`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RunnerArg {
    Direct,
    Turmoil,
}

impl From<RunnerArg> for Runner {
    fn from(arg: RunnerArg) -> Runner {
        match arg {
            RunnerArg::Direct => Runner::Direct,
            RunnerArg::Turmoil => Runner::Turmoil,
        }
    }
}

impl Variant {
    fn apply(self, scenario: &mut Scenario) {
        if let Some(mode) = self.pull_mode {
            mode.apply(scenario);
        }
        if self.buggify {
            scenario.enable_buggify();
        }
    }

    /// The runner asked for, or the direct one: sweeps, shrinking and single runs want its
    /// speed, and turmoil is one flag away (the cross-check keeps the two in step).
    fn runner(self) -> Runner {
        self.runner.map_or(Runner::Direct, Runner::from)
    }

    /// The command-line flags that ask for this variant (for repro commands).
    fn flags(self) -> String {
        let mut flags = self.pull_mode.map_or("", PullModeArg::flag).to_string();
        if self.swarm {
            flags.push_str(" --swarm");
        }
        if self.buggify {
            flags.push_str(" --buggify");
        }
        if self.runner() == Runner::Turmoil {
            flags.push_str(" --runner turmoil");
        }
        flags
    }

    fn token(self, named: &str, seed: u64) -> Option<ReproToken> {
        let text = Scenario::source(named).ok()?;
        let mode = self.pull_mode.map(PullModeArg::name);
        let token = ReproToken::new(named, mode, seed, &text).with(self.swarm, self.buggify);
        Some(token.on(self.runner()))
    }

    fn of_token(token: &ReproToken) -> Variant {
        Variant {
            pull_mode: match token.pull_mode.as_deref() {
                Some("ordered") => Some(PullModeArg::Ordered),
                Some(_) => Some(PullModeArg::RoundRobin),
                None => None,
            },
            swarm: token.swarm,
            buggify: token.buggify,
            runner: Some(match token.runner {
                Runner::Direct => RunnerArg::Direct,
                Runner::Turmoil => RunnerArg::Turmoil,
            }),
        }
    }
}

/// `--pull-mode`: how proxies pull (the scenario's `[proxy] pull_mode` otherwise).
#[derive(Clone, Copy, clap::ValueEnum)]
enum PullModeArg {
    RoundRobin,
    Ordered,
}

impl PullModeArg {
    fn apply(self, scenario: &mut Scenario) {
        scenario.proxy.pull_mode = match self {
            PullModeArg::RoundRobin => PullModeName::RoundRobin,
            PullModeArg::Ordered => PullModeName::Ordered,
        };
    }

    fn flag(self) -> &'static str {
        match self {
            PullModeArg::RoundRobin => " --pull-mode round-robin",
            PullModeArg::Ordered => " --pull-mode ordered",
        }
    }

    fn name(self) -> &'static str {
        match self {
            PullModeArg::RoundRobin => "round-robin",
            PullModeArg::Ordered => "ordered",
        }
    }
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard I/N"))?;
    let i: u64 = i
        .parse()
        .map_err(|_| format!("`{i}` is not a shard number"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || !(1..=n).contains(&i) {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not in 0..=1"));
    }
    Ok(value)
}

fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range A..B"))?;
    let start: u64 = start
        .parse()
        .map_err(|_| format!("`{start}` is not a seed"))?;
    let end: u64 = end.parse().map_err(|_| format!("`{end}` is not a seed"))?;
    if start >= end {
        return Err(format!("empty seed range {start}..{end}"));
    }
    Ok(start..end)
}

/// Loads a scenario; a bad one is exit 2 with its one-line error (under `--json` also as
/// `{"error": ...}` on stdout, which then still holds one JSON document). Prints the scenario's
/// warnings (runs where nothing can happen) on stderr.
fn load(scenario: &str, json: bool) -> Result<Scenario, Exit> {
    match Scenario::load(scenario) {
        Ok(loaded) => {
            for warning in loaded.warnings() {
                eprintln!("warning: {scenario}: {warning}");
            }
            Ok(loaded)
        }
        Err(error) => Err(bad_input(&error.to_string(), json)),
    }
}

/// Exit 2 for bad input, with its one-line error.
fn bad_input(error: &str, json: bool) -> Exit {
    eprintln!("error: {error}");
    if json {
        outln!("{}", serde_json::json!({ "error": error }));
    }
    Exit::BadInput
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let exit = if error.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            };
            let _ = error.print();
            return exit.into();
        }
    };
    let exit = match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Shrink(args) => cmd_shrink(args),
        Command::FuzzScenario(args) => cmd_fuzz_scenario(args),
        Command::Repro(args) => cmd_repro(args),
        Command::Sweep(args) => cmd_sweep(args),
        Command::Scenarios => {
            for (name, text) in ixsim_sim::scenario::BUILT_IN {
                let description = Scenario::parse(name, text)
                    .map(|s| s.description)
                    .unwrap_or_default();
                outln!("{name:<16} {description}");
            }
            Exit::Ok
        }
        Command::Marks => {
            for mark in ixsim::core::marks::Mark::ALL {
                let doc = mark.doc().split_whitespace().collect::<Vec<_>>().join(" ");
                outln!("{:<30} {:<17} {doc}", mark.name(), mark.tag());
            }
            Exit::Ok
        }
        Command::Bench(args) => cmd_bench(args),
    };
    exit.into()
}

fn cmd_run(args: RunArgs) -> Exit {
    let RunArgs {
        scenario: named,
        seed,
        trace,
        json,
        variant,
    } = args;
    let mut scenario = match load(&named, json) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    variant.apply(&mut scenario);
    let token = variant.token(&named, seed);
    run_one(&scenario, seed, variant, trace, json, token)
}

fn cmd_shrink(args: ShrinkArgs) -> Exit {
    let ShrinkArgs {
        scenario: named,
        seed,
        variant,
        out,
        max_runs,
    } = args;
    let mut scenario = match load(&named, false) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    variant.apply(&mut scenario);
    shrink_one(&named, &scenario, seed, variant, &out, max_runs)
}

fn cmd_fuzz_scenario(args: FuzzScenarioArgs) -> Exit {
    let FuzzScenarioArgs { input, out } = args;
    fuzz_scenario(&input, out.as_deref())
}

fn cmd_repro(args: ReproArgs) -> Exit {
    let ReproArgs { token, trace, json } = args;
    let token = match ReproToken::parse(&token) {
        Ok(token) => token,
        Err(error) => return bad_input(&error, json),
    };
    let path = match locate_scenario(&token, &ixsim::scenario_search_dirs()) {
        Ok(path) => path,
        Err(error) => return bad_input(&error, json),
    };
    if token.version != env!("CARGO_PKG_VERSION") {
        eprintln!(
            "warning: the report came from ixsim {}, this is {}: the trace may differ",
            token.version,
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut scenario = match load(&path, json) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let variant = Variant::of_token(&token);
    variant.apply(&mut scenario);
    eprintln!(
        "repro: scenario {path}{}, seed {}",
        variant.flags(),
        token.seed
    );
    run_one(&scenario, token.seed, variant, trace, json, Some(token))
}

fn cmd_sweep(args: SweepArgs) -> Exit {
    let SweepArgs {
        scenario,
        seeds,
        jobs,
        variant,
        shard,
        check_determinism,
        time_limit,
        json,
        hashes,
        cross_check,
    } = args;
    let original = scenario;
    let source = Scenario::source(&original).unwrap_or_default();
    let mode_name = variant.pull_mode.map(|mode| mode.name());
    let mut scenario = match load(&original, json) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    variant.apply(&mut scenario);
    // The repro line carries the variations.
    let named = format!("{original}{}", variant.flags());
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let options = SweepOptions {
        jobs,
        progress: std::io::stderr().is_terminal(),
        shard,
        check_determinism,
        time_limit: time_limit.map(std::time::Duration::from_secs),
        swarm: variant.swarm,
        runner: variant.runner(),
        hashes: hashes.is_some(),
    };
    if cross_check {
        let check = ixsim::CrossCheck::run(&scenario, seeds, &options);
        outln!("{}", check.text());
        let failed = !check.direct.failures.is_empty() || !check.turmoil.failures.is_empty();
        return if failed || !check.agrees() {
            Exit::Failed
        } else {
            Exit::Ok
        };
    }
    let report = sweep_with(&scenario, seeds, &options);
    if let Some(path) = hashes {
        let table: String = report
            .hashes
            .iter()
            .map(|(seed, hash)| format!("{seed} {hash}\n"))
            .collect();
        if let Err(error) = std::fs::write(&path, table) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return Exit::BadInput;
        }
    }
    for failure in &report.failures {
        let token = ReproToken::new(&original, mode_name, failure.seed, &source)
            .with(variant.swarm, variant.buggify)
            .on(variant.runner());
        if json {
            outln!("{}", failure.to_json(&named, &token));
        } else {
            outln!("FAIL seed {}: {}", failure.seed, failure.first_problem());
            outln!("  {}", repro_command(&named, failure.seed));
            outln!("  ixsim repro {token}");
        }
    }
    if json {
        outln!("{}", report.to_json());
        eprintln!("{}", report.marks_text());
        eprintln!("{}", report.summary());
    } else {
        outln!("{}", report.marks_text());
        outln!("{}", report.summary());
    }
    if !report.failures.is_empty() {
        Exit::Failed
    } else if !report.missing_marks().is_empty() {
        Exit::MarksMissed
    } else {
        Exit::Ok
    }
}

/// `ixsim bench`: seeds per second of each built-in scenario (or the one given), or with
/// `--growth` how the cost grows with the workload.
fn cmd_bench(args: BenchArgs) -> Exit {
    let runners: Vec<Runner> = match args.runner {
        Some(runner) => vec![runner.into()],
        None => Runner::ALL.to_vec(),
    };
    if args.growth {
        bench_growth(args.scenario, args.seeds, &runners)
    } else {
        bench_scenarios(args.scenario, args.seeds, &runners)
    }
}

/// `ixsim bench --growth`: wall time per seed and per interaction at 1x, 10x and 100x the
/// scenario's workload and duration.
fn bench_growth(scenario: Option<String>, seeds: u64, runners: &[Runner]) -> Exit {
    let name = scenario.unwrap_or_else(|| "smoke".to_string());
    let base = match load(&name, false) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    outln!(
        "{:<8} {:<8} {:>12} {:>8} {:>14} {:>16} {:>14}",
        "runner",
        "workload",
        "interactions",
        "seeds",
        "wall ms/seed",
        "us/interaction",
        "peak RSS MiB"
    );
    for (runner, factor) in runners
        .iter()
        .flat_map(|runner| [1u32, 10, 100].map(|factor| (*runner, factor)))
    {
        let mut scenario = base.clone();
        scenario.workload.interactions = base.workload.interactions.saturating_mul(factor);
        scenario.duration_ms = base.duration_ms.saturating_mul(u64::from(factor));
        if let Some(random) = scenario.random_faults.as_mut() {
            random.count = random.count.saturating_mul(factor);
            random.end_ms = random.end_ms.saturating_mul(u64::from(factor));
        }
        let runs = (seeds / u64::from(factor)).max(1);
        reset_peak_rss();
        let report = sweep(runner, &scenario, 0..runs, 1, false);
        let per_seed = report.wall_ms as f64 / runs as f64;
        let per_interaction = per_seed * 1000.0 / f64::from(scenario.workload.interactions.max(1));
        outln!(
            "{:<8} {:<8} {:>12} {:>8} {:>14.1} {:>16.1} {:>14}",
            runner.name(),
            format!("{factor}x"),
            scenario.workload.interactions,
            runs,
            per_seed,
            per_interaction,
            peak_rss_mib().map_or_else(|| "-".to_string(), |mib| format!("{mib:.1}"))
        );
    }
    Exit::Ok
}

/// `ixsim bench`: seeds per second on one core and simulated time per wall time, of each
/// runner on the same seeds, and with both the direct runner's speed over turmoil's.
fn bench_scenarios(scenario: Option<String>, seeds: u64, runners: &[Runner]) -> Exit {
    let names: Vec<String> = match scenario {
        Some(name) => vec![name],
        None => ixsim_sim::scenario::built_in_names()
            .iter()
            .map(|n| n.to_string())
            .collect(),
    };
    let mut header = format!("{:<16} {:>7}", "scenario", "seeds");
    for runner in runners {
        let name = runner.name();
        header.push_str(&format!(
            " {:>15} {:>15} {:>7}",
            format!("{name} seeds/s"),
            format!("{name} sim/wall"),
            "failed"
        ));
    }
    if runners.len() == 2 {
        header.push_str(&format!(" {:>8}", "ratio"));
    }
    outln!("{header}");
    for name in names {
        let scenario = match load(&name, false) {
            Ok(scenario) => scenario,
            Err(code) => return code,
        };
        let mut line = format!("{name:<16} {seeds:>7}");
        let mut speeds = Vec::new();
        for runner in runners {
            let report = sweep(*runner, &scenario, 0..seeds, 1, false);
            let wall_ms = report.wall_ms.max(1) as f64;
            let per_second = report.seeds as f64 * 1000.0 / wall_ms;
            speeds.push(per_second);
            line.push_str(&format!(
                " {:>15.1} {:>14.0}x {:>7}",
                per_second,
                report.sim_ms as f64 / wall_ms,
                report.failures.len()
            ));
        }
        if let [direct, turmoil] = speeds[..] {
            line.push_str(&format!(
                " {:>7.1}x",
                direct / turmoil.max(f64::MIN_POSITIVE)
            ));
        }
        outln!("{line}");
    }
    Exit::Ok
}

/// The process's peak resident memory so far (Linux `VmHWM`), in MiB.
/// Starts the process's high-water mark of resident memory again from what it holds now
/// (Linux: `/proc/self/clear_refs`), so that each `--growth` row shows its own peak rather than
/// the largest before it. Where that cannot be done the peak stays the process's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `ixsim shrink`: shrinks, writes the regression file, and reports how much it shrank.
fn shrink_one(
    named: &str,
    scenario: &Scenario,
    seed: u64,
    variant: Variant,
    out: &std::path::Path,
    max_runs: u32,
) -> Exit {
    let (scenario, said) = ixsim::scenario_for_seed(scenario, seed, variant.swarm);
    if let Some(said) = said {
        outln!("{said}");
    }
    let shrunk = match ixsim_sim::shrink::shrink(variant.runner(), &scenario, seed, max_runs) {
        Ok(shrunk) => shrunk,
        Err(error) => {
            eprintln!("error: {named} seed {seed}: {error}");
            return Exit::BadInput;
        }
    };
    let origin = format!("{named}{} seed {seed}", variant.flags());
    let path = match ixsim::write_regression(&shrunk, &origin, seed, out) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::BadInput;
        }
    };
    let replay = (seed, variant.runner());
    out!("{}", ixsim::shrink_report(&shrunk, &origin, replay, &path));
    Exit::Ok
}

/// `ixsim run` and `ixsim repro`: one seed, its summary (and trace), exit 1 on a violation or
/// a run that did not finish. Under `--json` stdout is one JSON document: the summary with
/// its `token` (and `trace`, an array of events, with `--trace`).
fn run_one(
    scenario: &Scenario,
    seed: u64,
    variant: Variant,
    trace: bool,
    json: bool,
    token: Option<ReproToken>,
) -> Exit {
    let (runner, swarm) = (variant.runner(), variant.swarm);
    let run = || RunSummary::run_variant(runner, scenario, seed, swarm);
    let mut summary = match ixsim::quiet_panics(run) {
        Ok(summary) => summary,
        Err(crash) => {
            // The same line a sweep prints for this seed.
            eprintln!("FAIL seed {seed}: {crash}");
            let token = token.map(|token| token.to_string());
            if json {
                let failed = serde_json::json!({
                    "seed": seed,
                    "scenario": scenario.name,
                    "crash": crash,
                    "token": token,
                });
                outln!("{failed}");
            } else if let Some(token) = token {
                outln!("bug report: ixsim repro {token}");
            }
            return Exit::Failed;
        }
    };
    summary.token = token.as_ref().map(ToString::to_string);
    if json {
        outln!("{}", summary.to_json_with(trace));
    } else {
        if trace {
            out!("{}", summary.trace_text());
        }
        out!("{}", summary.to_text());
        if let (Some(token), false) = (&token, summary.violations.is_empty()) {
            outln!("bug report: ixsim repro {token}");
        }
    }
    if summary.violations.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// `ixsim fuzz-scenario INPUT [--out FILE]`: the scenario file a `scenario` fuzz input stands
/// for, and the command that runs it.
fn fuzz_scenario(input: &std::path::Path, out: Option<&std::path::Path>) -> Exit {
    // Fuzz inputs are small (libFuzzer's -max_len); a megabyte is far past any of them.
    let shown = input.display().to_string();
    let bytes = match ixsim_sim::scenario::read_bounded_bytes(&shown, 1 << 20) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::BadInput;
        }
    };
    let (text, seed) = match ixsim_sim::fuzz::scenario::scenario_file(&bytes) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("error: {}: {error}", input.display());
            return Exit::BadInput;
        }
    };
    let Some(out) = out else {
        out!("{text}");
        eprintln!("seed {seed}");
        return Exit::Ok;
    };
    if let Err(error) = std::fs::write(out, &text) {
        eprintln!("error: cannot write {}: {error}", out.display());
        return Exit::BadInput;
    }
    let shown = out.display();
    let runner = ixsim_sim::fuzz::scenario::FUZZ_RUNNER;
    outln!("wrote {shown} (seed {seed}, run on the {runner} runner by the fuzz target)");
    outln!(
        "  {} --runner {runner}",
        ixsim::repro_command(&shown.to_string(), seed)
    );
    outln!("  ixsim shrink --scenario {shown} --seed {seed} --runner {runner}");
    Exit::Ok
}
