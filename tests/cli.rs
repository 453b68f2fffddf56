//! The built `ixsim` binary as a user runs it: determinism across separate processes, JSON
//! output, and exit code 2 with a one-line error on bad input.

use std::process::{Command, Output};

fn ixsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ixsim"))
        .args(args)
        .output()
        .expect("the ixsim binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let output = ixsim(args);
    assert!(
        output.status.success(),
        "ixsim {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON object")
}

#[test]
fn same_seed_same_trace_hash_in_two_processes() {
    let first = json(&["run", "--seed", "7", "--json"]);
    let second = json(&["run", "--seed", "7", "--json"]);
    assert_eq!(
        first["trace_hash"], second["trace_hash"],
        "seed 7 is not deterministic"
    );
    assert_eq!(first, second, "two runs of seed 7 differ beyond the hash");
    let other = json(&["run", "--seed", "8", "--json"]);
    assert_ne!(
        first["trace_hash"], other["trace_hash"],
        "seeds 7 and 8 gave the same trace"
    );
}

/// The direct runner is as deterministic as turmoil across processes, including under swarm
/// and fault points; it is another schedule (another trace) of the same seed; its bug-report
/// token names it and replays the same trace.
#[test]
fn direct_runner_same_seed_same_trace_in_two_processes_and_its_token_replays() {
    let args = [
        "run",
        "--scenario",
        "cluster-faults",
        "--seed",
        "5",
        "--swarm",
        "--buggify",
        "--runner",
        "direct",
        "--json",
    ];
    let first = json(&args);
    let second = json(&args);
    assert_eq!(first, second, "two direct runs of seed 5 differ");
    assert_eq!(first["runner"], "direct");
    let turmoil = json(&[
        "run",
        "--scenario",
        "cluster-faults",
        "--seed",
        "5",
        "--swarm",
        "--buggify",
        "--runner",
        "turmoil",
        "--json",
    ]);
    assert_eq!(turmoil["runner"], "turmoil");
    assert_ne!(first["trace_hash"], turmoil["trace_hash"]);
    // A token without `+direct` names the reference runner, as every older token does.
    let reference = turmoil["token"].as_str().expect("a token");
    assert!(!reference.contains("+direct"), "{reference}");
    let replayed = json(&["repro", reference, "--json"]);
    assert_eq!(replayed["runner"], "turmoil");
    assert_eq!(replayed["trace_hash"], turmoil["trace_hash"]);
    let token = first["token"].as_str().expect("a token");
    assert!(token.contains("+swarm+buggify+direct:5:"), "{token}");
    let replayed = json(&["repro", token, "--json"]);
    assert_eq!(replayed["trace_hash"], first["trace_hash"]);
    assert_eq!(replayed["runner"], "direct");
}

#[test]
fn restart_scenario_is_deterministic_too() {
    let args = ["run", "--scenario", "is-restart", "--seed", "3", "--json"];
    assert_eq!(json(&args)["trace_hash"], json(&args)["trace_hash"]);
}

#[test]
fn run_json_has_the_documented_fields() {
    let value = json(&["run", "--seed", "1", "--json"]);
    for field in [
        "seed",
        "scenario",
        "trace_hash",
        "sim_ms",
        "stats",
        "violations",
    ] {
        assert!(
            value.get(field).is_some(),
            "missing field {field} in {value}"
        );
    }
    for stat in ["submitted", "completed", "delivered", "queued", "lost"] {
        assert!(value["stats"].get(stat).is_some(), "missing stat {stat}");
    }
    assert_eq!(value["scenario"], "smoke");
    assert_eq!(value["violations"], serde_json::json!([]));
    assert!(
        value["stats"]["submitted"].as_u64().unwrap() > 0,
        "nothing was submitted"
    );
}

#[test]
fn trace_flag_prints_the_trace_whose_hash_is_reported() {
    let output = ixsim(&["run", "--seed", "2", "--trace"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("submitted C000000000000000"),
        "trace missing: {text}"
    );
    assert!(text.contains("ok: no oracle violated"));
}

fn assert_bad_input(args: &[&str], needle: &str) {
    let output = ixsim(args);
    assert_eq!(
        output.status.code(),
        Some(2),
        "ixsim {args:?} should exit 2"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(needle),
        "ixsim {args:?}: error should mention `{needle}`: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "ixsim {args:?} panicked: {stderr}"
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    assert_bad_input(&["run", "--scenario", "nope"], "unknown scenario `nope`");
    assert_bad_input(&["run", "--bogus"], "--bogus");
    assert_bad_input(&["run", "--seed", "x"], "invalid value 'x'");
    assert_bad_input(&["sweep", "--seeds", "5..2"], "empty seed range");
    assert_bad_input(&["frobnicate"], "frobnicate");
    assert_bad_input(
        &["run", "--scenario", "/nonexistent/file.toml"],
        "cannot read scenario file",
    );

    let dir = std::env::temp_dir().join(format!("ixsim-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let malformed = dir.join("malformed.toml");
    std::fs::write(&malformed, "name = \"x\"\nduration_ms = [\n").unwrap();
    assert_bad_input(
        &["run", "--scenario", malformed.to_str().unwrap()],
        "malformed scenario",
    );
    let invalid = dir.join("invalid.toml");
    let smoke =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml"))
            .unwrap();
    std::fs::write(
        &invalid,
        smoke.replace("view = \"all\"\npull", "view = \"missing\"\npull"),
    )
    .unwrap();
    assert_bad_input(
        &["run", "--scenario", invalid.to_str().unwrap()],
        "router.view `missing`",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_reports_failures_with_a_repro_command_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("ixsim-sweep-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("planted.toml");
    let smoke =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml"))
            .unwrap();
    std::fs::write(
        &path,
        smoke.replace("[is]\n", "[is]\nplanted_bug = \"pull-ignores-ownership\"\n"),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let output = ixsim(&[
        "sweep",
        "--scenario",
        path,
        "--seeds",
        "0..3",
        "--jobs",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("[S-INV-owner]"), "{stdout}");
    assert!(
        stdout.contains(&format!("ixsim run --scenario {path} --seed 0 --trace")),
        "{stdout}"
    );
    assert!(stdout.contains("3 seeds, 3 failed"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();

    let clean = ixsim(&["sweep", "--seeds", "0..4", "--jobs", "2"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[test]
fn scenarios_lists_the_built_ins() {
    let output = ixsim(&["scenarios"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("smoke") && text.contains("is-restart"),
        "{text}"
    );
}

/// `sweep --shard i/n` splits a range without overlap, `--check-determinism` reruns a slice in
/// the same process, `--time-limit` stops early, and `--json` prints one object per failure.
#[test]
fn sweep_shards_checks_determinism_and_prints_json() {
    let count = |args: &[&str]| -> u64 {
        let output = ixsim(args);
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let line = text.lines().last().expect("a summary");
        line.split(": ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("seeds in the summary")
    };
    let shards: u64 = (1..=3)
        .map(|i| {
            let shard = format!("{i}/3");
            count(&[
                "sweep", "--seeds", "0..20", "--jobs", "1", "--shard", &shard,
            ])
        })
        .sum();
    assert_eq!(shards, 20, "the three shards cover the range once");
    let output = ixsim(&[
        "sweep",
        "--seeds",
        "0..40",
        "--jobs",
        "2",
        "--check-determinism",
        "1",
    ]);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{text}");
    assert!(text.contains("40 seeds run twice"), "{text}");
    let output = ixsim(&[
        "sweep",
        "--seeds",
        "0..100000000",
        "--jobs",
        "1",
        "--time-limit",
        "0",
    ]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("stopped at the time limit"));
    assert_eq!(
        ixsim(&["sweep", "--seeds", "0..5", "--shard", "4/3"])
            .status
            .code(),
        Some(2)
    );
}

/// `detach-race` with a planted bug that fails every seed.
fn failing_scenario() -> String {
    ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "detach-race")
        .map(|(_, text)| {
            text.replace(
                "pull_limit = 6\n",
                "pull_limit = 6\nplanted_bug = \"route-without-detach\"\n",
            )
        })
        .expect("built-in")
}

#[test]
fn sweep_json_lines_name_the_oracle_and_the_repro() {
    let text = failing_scenario();
    let path = std::env::temp_dir().join(format!("ixsim-json-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write scenario");
    let path_text = path.to_string_lossy().to_string();
    let output = ixsim(&[
        "sweep",
        "--scenario",
        &path_text,
        "--seeds",
        "0..2",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3, "two failures and the summary");
    assert_eq!(lines[0]["oracle"], "S-ORS-detach");
    assert_eq!(lines[2]["summary"], "detach-race");
    assert_eq!(lines[2]["failed"], 2);
    assert!(lines[0]["repro"]
        .as_str()
        .is_some_and(|repro| repro.contains("--seed 0")));
    let _ = std::fs::remove_file(path);
}

/// A failing seed prints a bug-report token; `ixsim repro TOKEN` reruns it with the same trace
/// hash, also after the scenario file moved (found by content hash under `scenarios/`).
#[test]
fn repro_token_replays_the_same_trace() {
    let text = failing_scenario();
    let dir = std::env::temp_dir().join(format!("ixsim-repro-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("scenarios/regressions")).expect("temp dir");
    let path = dir.join("report.toml");
    std::fs::write(&path, &text).expect("write scenario");
    let path_text = path.to_string_lossy().to_string();
    let output = ixsim(&["sweep", "--scenario", &path_text, "--seeds", "3..4"]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let token = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("ixsim repro "))
        .expect("a token line")
        .to_string();
    let original = json_of(&["run", "--scenario", &path_text, "--seed", "3", "--json"]);
    let replay = json_of(&["repro", &token, "--json"]);
    assert_eq!(original["trace_hash"], replay["trace_hash"]);
    // The file moves into the regression folder: found by its content.
    std::fs::rename(&path, dir.join("scenarios/regressions/moved.toml")).expect("move");
    let moved = Command::new(env!("CARGO_BIN_EXE_ixsim"))
        .args(["repro", &token, "--json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    let moved: serde_json::Value = serde_json::from_slice(&moved.stdout).expect("json");
    assert_eq!(original["trace_hash"], moved["trace_hash"]);
    assert_eq!(ixsim(&["repro", "ixsim:nothing"]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

/// Like `json`, for runs that report violations (exit 1).
fn json_of(args: &[&str]) -> serde_json::Value {
    let output = ixsim(args);
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON object")
}

/// `bench --growth` measures the cost per interaction at 1x, 10x and 100x the workload, on
/// each runner.
#[test]
fn bench_growth_prints_three_rows_per_runner() {
    let output = ixsim(&["bench", "--growth", "--seeds", "1"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    for runner in ["direct", "turmoil"] {
        for row in ["1x ", "10x ", "100x "] {
            assert!(
                text.lines().any(|line| line.starts_with(runner)
                    && line[runner.len()..].trim_start().starts_with(row)),
                "no {runner} {row} row: {text}"
            );
        }
    }
}

/// `bench` runs both runners on the same seeds and prints their ratio.
#[test]
fn bench_prints_both_runners_and_their_ratio() {
    let output = ixsim(&["bench", "--scenario", "smoke", "--seeds", "3"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    for column in ["direct seeds/s", "turmoil seeds/s", "ratio"] {
        assert!(header.contains(column), "no {column}: {header}");
    }
    let row = lines.next().expect("a row");
    assert!(
        row.starts_with("smoke") && row.trim_end().ends_with('x'),
        "{row}"
    );
}

/// `sweep --cross-check` runs every seed on both runners and passes when they agree.
#[test]
fn sweep_cross_check_compares_both_runners() {
    let output = ixsim(&["sweep", "--seeds", "0..4", "--jobs", "2", "--cross-check"]);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("cross-check smoke: 4 of 4 seeds judged alike"),
        "{text}"
    );
    for runner in ["direct ", "turmoil "] {
        assert!(text.lines().any(|line| line.starts_with(runner)), "{text}");
    }
}

/// `ixsim fuzz-scenario` turns a `scenario` fuzz input into a file that `ixsim run` replays
/// with the trace the fuzz target saw; an unreadable input exits 2.
#[test]
fn fuzz_scenario_writes_a_file_that_runs() {
    let input = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/corpus/scenario/faults-swarm"
    );
    let out = std::env::temp_dir().join(format!("ixsim-fuzz-scenario-{}.toml", std::process::id()));
    let out_text = out.to_str().unwrap();
    let written = ixsim(&["fuzz-scenario", input, "--out", out_text]);
    assert!(written.status.success(), "{written:?}");
    let said = String::from_utf8_lossy(&written.stdout);
    assert!(said.contains("--seed 2"), "{said}");
    let bytes = std::fs::read(input).unwrap();
    let (scenario, seed) = ixsim::sim::fuzz::scenario::ScenarioInput::decode(&bytes)
        .and_then(|input| input.build())
        .unwrap();
    // The fuzz target's run, on its runner, is what the file replays.
    let runner = ixsim::sim::fuzz::scenario::FUZZ_RUNNER;
    let fuzzed = ixsim::sim::run_on(runner, &scenario, seed).unwrap();
    let run = json(&[
        "run",
        "--scenario",
        out_text,
        "--seed",
        &seed.to_string(),
        "--runner",
        runner.name(),
        "--json",
    ]);
    assert_eq!(run["trace_hash"], fuzzed.trace_hash.as_str());
    assert!(said.contains(&format!("--runner {runner}")), "{said}");
    std::fs::remove_file(&out).ok();
    assert_bad_input(&["fuzz-scenario", "/nonexistent/input"], "cannot read");
}

/// Coverage marks (issue 16): `sweep` reports which marks its seeds reached; a scenario's
/// `[coverage] marks` that no seed of a large enough sweep reached fail it with exit code 3
/// (`--json`: `marks_missed`), a smaller sweep reports without judging, and an unknown mark
/// name is a scenario error (exit 2).
#[test]
fn sweep_reports_marks_and_fails_on_a_declared_mark_missed() {
    let smoke = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "smoke")
        .map(|(_, text)| text.to_string())
        .expect("built-in");
    assert!(smoke.contains("[coverage]"), "smoke declares its marks");
    let dir = std::env::temp_dir().join(format!("ixsim-marks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write scenario");
        path.to_string_lossy().to_string()
    };
    // Lowered seats never happen in smoke: no seed can reach the mark.
    let missed = write(
        "missed.toml",
        &smoke.replace("marks = [\n", "marks = [\n  \"is-seats-shrunk\",\n"),
    );
    let output = ixsim(&["sweep", "--scenario", &missed, "--seeds", "0..20"]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("MARKS MISSED") && stdout.contains("is-seats-shrunk"),
        "{stdout}"
    );
    assert!(stdout.contains("marks reached:"), "{stdout}");
    let output = ixsim(&["sweep", "--scenario", &missed, "--seeds", "0..20", "--json"]);
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("JSON summary");
    assert_eq!(
        summary["marks_missed"],
        serde_json::json!(["is-seats-shrunk"])
    );
    assert_eq!(summary["marks"]["is-pull-held"], 20, "{summary}");
    // Five seeds are fewer than coverage.min_seeds (20): reported, not judged.
    let output = ixsim(&["sweep", "--scenario", &missed, "--seeds", "0..5"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("not judged"));
    // The built-in passes its own declaration.
    let output = ixsim(&["sweep", "--scenario", "smoke", "--seeds", "0..20"]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("declared marks: all 3 reached"), "{stdout}");
    let unknown = write(
        "unknown.toml",
        &smoke.replace("marks = [\n", "marks = [\n  \"no-such-mark\",\n"),
    );
    let output = ixsim(&["sweep", "--scenario", &unknown, "--seeds", "0..2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown mark `no-such-mark`"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `ixsim run --json` names the marks its seed reached; `ixsim marks` lists every mark.
#[test]
fn run_json_counts_marks_and_marks_lists_them() {
    let value = json(&["run", "--scenario", "licensing", "--seed", "0", "--json"]);
    assert!(
        value["marks"]["is-login-no-seat"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{}",
        value["marks"]
    );
    let output = ixsim(&["marks"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(
        text.lines().count(),
        ixsim::core::marks::Mark::ALL.len(),
        "{text}"
    );
    assert!(text.contains("is-seats-shrunk") && text.contains("S-LIC-shrink"));
}

/// `sweep --hashes FILE` writes `SEED HASH` per seed, in seed order, and each line is the
/// hash `run` prints for that seed: the table a refactor is checked against.
#[test]
fn sweep_hashes_table_matches_run() {
    let dir = std::env::temp_dir().join(format!("ixsim-hashes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("table.txt");
    let path = file.to_str().expect("utf-8 path");
    let output = ixsim(&["sweep", "--seeds", "3..6", "--jobs", "2", "--hashes", path]);
    assert!(output.status.success(), "{output:?}");
    let table = std::fs::read_to_string(&file).expect("the table is written");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for (line, seed) in lines.iter().zip(3u64..) {
        let run = json(&["run", "--seed", &seed.to_string(), "--json"]);
        let hash = run["trace_hash"].as_str().expect("hash");
        assert_eq!(*line, format!("{seed} {hash}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
