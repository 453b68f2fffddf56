//! Hostile input (issue 15): the built `ixsim` binary fed what a careless or hostile user
//! gives it: endless and oversized files, values meant to wrap, loops, zero timeouts, typos,
//! inverted ranges, bad flags and tokens. Every case must end on its own within seconds with
//! exit 0, 1 or 2, never a panic, under a memory limit, and a bad input must say in one line
//! what is wrong, naming the key or flag.
//!
//! Each case runs the binary under `ulimit -v` (virtual memory, 2 GiB) with its output in
//! files, and is killed after [`LIMIT_S`] seconds (that counts as a hang).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const LIMIT_S: u64 = 60;
const MEMORY_KIB: u64 = 2 * 1024 * 1024;
const U64_MAX: &str = "18446744073709551615";

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile_input");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn built_in(name: &str) -> String {
    std::fs::read_to_string(repo().join("scenarios").join(format!("{name}.toml")))
        .expect("built-in scenario file")
}

/// What one case did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ixsim args` from `dir` under the memory limit, killing it after [`LIMIT_S`].
fn ixsim_in(dir: &Path, label: &str, args: &[&str]) -> Ran {
    let out = scratch().join(format!("{label}.out"));
    let err = scratch().join(format!("{label}.err"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ixsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("ixsim starts");
    let mut waited_ms = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if waited_ms > LIMIT_S * 1000 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label}: ixsim {args:?} still running after {LIMIT_S} s (a hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        waited_ms += 20;
    };
    let ran = Ran {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    };
    assert!(
        !ran.stderr.contains("panicked") && status.code().is_some(),
        "{label}: ixsim {args:?} panicked or died of a signal ({status}): {}",
        ran.stderr
    );
    assert!(
        [0, 1, 2].contains(&ran.code),
        "{label}: exit {} is not 0, 1 or 2: {}",
        ran.code,
        ran.stderr
    );
    ran
}

fn ixsim(label: &str, args: &[&str]) -> Ran {
    ixsim_in(&repo(), label, args)
}

/// Exit 2 with one `error:` line that contains every one of `says`.
fn refused(label: &str, args: &[&str], says: &[&str]) {
    let ran = ixsim(label, args);
    assert_eq!(
        ran.code, 2,
        "{label}: ixsim {args:?} was not refused: {}{}",
        ran.stdout, ran.stderr
    );
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect();
    assert!(
        !errors.is_empty(),
        "{label}: no error line in {:?}",
        ran.stderr
    );
    for word in says {
        assert!(
            errors[0].contains(word),
            "{label}: the error does not say `{word}`: {}",
            errors[0]
        );
    }
}

/// The scenario `text` written to a file; runs it with `args` and expects a refusal saying
/// `says`.
fn scenario_refused(label: &str, text: &str, says: &[&str]) {
    let path = scratch().join(format!("{label}.toml"));
    std::fs::write(&path, text).expect("write scenario");
    let shown = path.to_string_lossy().to_string();
    refused(label, &["run", "--scenario", &shown], says);
}

/// `text` with `key = value` set in table `section` ("" for the top level; a section absent
/// from the text is appended).
fn with_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut done = false;
    for line in text.lines() {
        let header = line.trim_start_matches('[');
        if line.starts_with('[') {
            if current == section && !done {
                out.push(format!("{key} = {value}"));
                done = true;
            }
            current = header.trim_end_matches(']').to_string();
        }
        let is_key = line
            .split_once('=')
            .is_some_and(|(name, _)| name.trim() == key);
        if current == section && is_key && !done {
            out.push(format!("{key} = {value}"));
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    if !done {
        if current != section {
            out.push(format!("[{section}]"));
        }
        out.push(format!("{key} = {value}"));
    }
    out.join("\n") + "\n"
}

#[test]
fn unbounded_reads_are_refused_after_a_bounded_prefix() {
    refused(
        "dev-zero",
        &["run", "--scenario", "/dev/zero"],
        &["longer than 4194304 bytes"],
    );
    let big = scratch().join("big.toml");
    let mut text = built_in("smoke");
    text.push_str(&"# padding\n".repeat(500_000));
    std::fs::write(&big, text).expect("write");
    refused(
        "big-file",
        &["run", "--scenario", &big.to_string_lossy()],
        &["longer than"],
    );
    refused(
        "directory",
        &["run", "--scenario", "scenarios/"],
        &["cannot read", "scenarios/"],
    );
    let binary = scratch().join("binary.toml");
    std::fs::write(&binary, [b'n', b'a', 0xff, 0xfe, b'\n']).expect("write");
    refused(
        "not-utf8",
        &["run", "--scenario", &binary.to_string_lossy()],
        &["not UTF-8"],
    );
    refused(
        "missing",
        &["run", "--scenario", "no/such.toml"],
        &["no/such.toml"],
    );
    refused(
        "fuzz-input-zero",
        &["fuzz-scenario", "/dev/zero"],
        &["longer than"],
    );
}

#[test]
fn times_past_24_hours_are_refused_naming_the_key() {
    let smoke = built_in("smoke");
    let cases = [
        ("client", "tick_ms"),
        ("client", "request_timeout_ms"),
        ("client", "connect_timeout_ms"),
        ("is", "db_write_ms"),
        ("is", "owner_grace_ms"),
        ("is", "pull_hold_timeout_ms"),
        ("is", "invite_timeout_ms"),
        ("network", "latency_max_ms"),
        ("workload", "start_ms"),
        ("workload", "mean_gap_ms"),
        ("agents", "handle_ms_max"),
        ("proxy", "request_timeout_ms"),
        ("ha", "heartbeat_timeout_ms"),
    ];
    for (section, key) in cases {
        for value in [U64_MAX, "86400001"] {
            let text = with_key(&smoke, section, key, value);
            scenario_refused(
                &format!("time-{section}-{key}"),
                &text,
                &[&format!("{section}.{key} = {value}"), "24 h"],
            );
        }
    }
    let faults = built_in("faults");
    scenario_refused(
        "time-heal",
        &with_key(&faults, "random_faults", "heal_ms_max", U64_MAX),
        &["random_faults.heal_ms_max"],
    );
    let mut at = smoke.clone();
    at.push_str("\n[[faults]]\nat_ms = 18446744073709551615\naction = \"crash\"\nhost = \"is1\"\n");
    scenario_refused("time-fault-at", &at, &["faults[0].at_ms"]);
    let ors = built_in("ors");
    let timer = ors.replacen("ms = 200 }", &format!("ms = {U64_MAX} }}"), 1);
    assert_ne!(timer, ors, "the ors scenario has a 200 ms timer");
    scenario_refused("time-strategy-timer", &timer, &["strategies[", ".ms = "]);
}

#[test]
fn loops_and_zero_timeouts_are_refused_before_the_run() {
    let spin = r#"
[[strategies]]
name = "spin"
initial = "wait"

[[strategies.states]]
name = "wait"
on_entry = [{ action = "start-timer", name = "tick", ms = 0 }]
transitions = [
  { event = "tick", target = "wait" },
  { event = "interaction.notcontrolled", target = "done" },
]

[[strategies.states]]
name = "done"
final = true
"#;
    let looping = format!("{}{spin}", built_in("ors"));
    scenario_refused(
        "zero-delay-cycle",
        &looping,
        &[
            "strategy `spin`",
            "zero-delay timers loop through states wait -> wait",
        ],
    );
    let smoke = built_in("smoke");
    let zero = with_key(&smoke, "client", "connect_timeout_ms", "0");
    let zero = with_key(&zero, "client", "reconnect_backoff_ms", "0");
    scenario_refused("zero-connect", &zero, &["client.connect_timeout_ms"]);
    let fast = with_key(&smoke, "client", "connect_timeout_ms", "1");
    let fast = with_key(&fast, "client", "reconnect_backoff_ms", "1");
    let fast = with_key(&fast, "", "duration_ms", "60000");
    scenario_refused("ports-exhausted", &fast, &["ports allow", "12000"]);
}

/// Command lines refused with exit 2: (label, arguments, what the error must say).
const BAD_COMMAND_LINES: &[(&str, &[&str], &[&str])] = &[
    (
        "jobs-zero",
        &["sweep", "--seeds", "0..2", "--jobs", "0"],
        &["--jobs"],
    ),
    ("bench-seeds-zero", &["bench", "--seeds", "0"], &["--seeds"]),
    (
        "empty-range",
        &["sweep", "--seeds", "5..5"],
        &["empty seed range"],
    ),
    ("bad-range", &["sweep", "--seeds", "5-9"], &["not a range"]),
    (
        "bad-shard",
        &["sweep", "--seeds", "0..9", "--shard", "0/3"],
        &["shard"],
    ),
    (
        "bad-fraction",
        &["sweep", "--seeds", "0..9", "--check-determinism", "2"],
        &["0..=1"],
    ),
    ("unknown-flag", &["run", "--sede", "3"], &["--sede"]),
    (
        "unknown-scenario",
        &["run", "--scenario", "smok"],
        &["unknown scenario `smok`"],
    ),
    ("bad-token", &["repro", "garbage"], &["not a repro token"]),
    (
        "token-variant",
        &["repro", "ixsim:smoke+fast:0:abcdef012345:0.1.0"],
        &["unknown or repeated variation `+fast`"],
    ),
    (
        "token-repeated-variant",
        &["repro", "ixsim:smoke+swarm+swarm:0:abcdef012345:0.1.0"],
        &["`+swarm`"],
    ),
];

#[test]
fn certain_mistakes_are_refused() {
    let ors = built_in("ors");
    let typo = ors.replacen(
        "event = \"interaction.notcontrolled\"",
        "event = \"interaction.notcontroled\"",
        1,
    );
    assert_ne!(typo, ors);
    scenario_refused(
        "event-typo",
        &typo,
        &["`interaction.notcontroled`", "no server sends"],
    );
    let smoke = built_in("smoke");
    let swarm = format!("{smoke}\n[swarm]\nagents = [4, 2]\n");
    scenario_refused(
        "inverted-swarm",
        &swarm,
        &["swarm.agents = [4, 2] is inverted"],
    );
    let empty =
        format!("{smoke}\n[[faults]]\nat_ms = 1000\naction = \"partition\"\na = \"is1\"\nb = []\n");
    scenario_refused("empty-partition-side", &empty, &["a side names no host"]);
    let many = format!(
        "{smoke}\n{}",
        "[[faults]]\nat_ms = 1000\naction = \"latency\"\nmax_ms = 5\n".repeat(10_001)
    );
    scenario_refused("too-many-faults", &many, &["faults has 10001 entries"]);
    scenario_refused(
        "too-many-interactions",
        &with_key(&smoke, "workload", "interactions", "2000000"),
        &["workload.interactions"],
    );
    let unordered = format!(
        "{}\n[[workload.submits]]\nat_ms = 900\ncase = 0\nmedia = \"email\"\nqueue = \"inbound\"\n\n[[workload.submits]]\nat_ms = 100\ncase = 1\nmedia = \"email\"\nqueue = \"inbound\"\n",
        with_key(&smoke, "workload", "interactions", "2")
    );
    // Found by the scenario_toml fuzz target: the media server asserted on it (a panic).
    scenario_refused(
        "submits-out-of-order",
        &unordered,
        &["must be in time order"],
    );
    scenario_refused(
        "zero-duration",
        &with_key(&smoke, "", "duration_ms", "0"),
        &["duration_ms"],
    );
    scenario_refused(
        "negative",
        &with_key(&smoke, "", "duration_ms", "-5"),
        &["duration_ms"],
    );
    scenario_refused(
        "unknown-key",
        &with_key(&smoke, "is", "owner_grace", "5"),
        &["owner_grace"],
    );
    scenario_refused("syntax", &format!("{smoke}\n[is\n"), &["line"]);
    for (label, args, says) in BAD_COMMAND_LINES {
        refused(label, args, says);
    }
}

/// Runs where nothing can happen go ahead, with a warning on stderr.
#[test]
fn runs_where_nothing_can_happen_warn() {
    let smoke = built_in("smoke");
    let late = scratch().join("late-workload.toml");
    std::fs::write(&late, with_key(&smoke, "workload", "start_ms", "20000")).expect("write");
    let ran = ixsim(
        "late-workload",
        &["run", "--scenario", &late.to_string_lossy()],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("warning:") && ran.stderr.contains("nothing is submitted"),
        "{}",
        ran.stderr
    );
    let slow = scratch().join("slow-network.toml");
    std::fs::write(&slow, with_key(&smoke, "network", "latency_min_ms", "9000")).expect("write");
    let slow = with_key(
        &std::fs::read_to_string(&slow).expect("read"),
        "network",
        "latency_max_ms",
        "9000",
    );
    let path = scratch().join("slow-network.toml");
    std::fs::write(&path, slow).expect("write");
    let ran = ixsim(
        "slow-network",
        &["run", "--scenario", &path.to_string_lossy()],
    );
    assert!(ran.stderr.contains("no message arrives"), "{}", ran.stderr);
}

/// A range at the top of u64 runs exactly its seeds (it once wrapped around to seed 0).
#[test]
fn seed_ranges_at_the_top_of_u64_do_not_wrap() {
    let ran = ixsim(
        "top-seeds",
        &[
            "sweep",
            "--seeds",
            "18446744073709551613..18446744073709551615",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains(": 2 seeds, 0 failed"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("seed 0"), "{}", ran.stdout);
}

/// A million interactions configured for a nine-second run cost what the run submits (they
/// took 1.7 GB; the memory limit of every case here is 2 GiB of address space).
#[test]
fn a_huge_workload_in_a_short_run_stays_small() {
    let path = scratch().join("million.toml");
    std::fs::write(
        &path,
        with_key(&built_in("smoke"), "workload", "interactions", "1000000"),
    )
    .expect("write");
    let out = ixsim_in(
        &scratch(),
        "million",
        &["run", "--scenario", &path.to_string_lossy(), "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(value["stats"]["submitted"]
        .as_u64()
        .is_some_and(|n| n > 0 && n < 100));
    // Under a tighter limit still: 300 MiB.
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 307200; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ixsim"))
        .args(["run", "--scenario", &path.to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    assert!(
        status.success(),
        "the million-interaction run needs more than 300 MiB"
    );
}

#[test]
fn json_output_is_one_document() {
    let ran = ixsim(
        "json-trace",
        &[
            "run",
            "--scenario",
            "smoke",
            "--seed",
            "3",
            "--trace",
            "--json",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let value: serde_json::Value =
        serde_json::from_str(&ran.stdout).expect("--trace --json prints one JSON document");
    let trace = value["trace"].as_array().expect("a trace array");
    assert!(trace.len() > 100, "{} events", trace.len());
    for event in trace {
        assert!(
            event["t_ms"].is_u64() && event["host"].is_string() && event["event"].is_string(),
            "{event}"
        );
    }
    let submitted = trace
        .iter()
        .find(|event| event["event"] == "submitted")
        .expect("a submitted event");
    assert!(
        submitted["ixn"].as_str().is_some_and(|ixn| ixn.len() == 16),
        "{submitted}"
    );
    let token = value["token"]
        .as_str()
        .expect("run --json carries the token");
    assert!(token.starts_with("ixsim:smoke+direct:3:"), "{token}");
    let plain = ixsim("json-plain", &["run", "--seed", "3", "--json"]);
    let plain: serde_json::Value = serde_json::from_str(&plain.stdout).expect("json");
    assert!(plain.get("trace").is_none() && plain["token"] == value["token"]);
    assert_eq!(plain["trace_hash"], value["trace_hash"]);
    let bad = ixsim("json-error", &["run", "--scenario", "nope.toml", "--json"]);
    assert_eq!(bad.code, 2);
    let error: serde_json::Value =
        serde_json::from_str(&bad.stdout).expect("an error under --json is JSON too");
    assert!(error["error"]
        .as_str()
        .is_some_and(|e| e.contains("nope.toml")));
}

/// `ixsim run --trace | head -2`: the closed pipe ends ixsim quietly (it panicked).
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ixsim"))
        .args(["run", "--scenario", "ors", "--trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for _ in 0..2 {
        lines.next().expect("a line").expect("text");
    }
    drop(lines);
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A token naming a scenario by a relative path replays from another directory: the path is
/// also tried from the repository the binary was built from, as is the content-hash search.
#[test]
fn repro_works_outside_the_checkout() {
    let text = built_in("smoke");
    let token = ixsim::ReproToken::new("scenarios/smoke.toml", None, 4, &text).to_string();
    let elsewhere = scratch();
    let ran = ixsim_in(&elsewhere, "repro-elsewhere", &["repro", &token, "--json"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let moved = token.replace("scenarios/smoke.toml", "gone/smoke.toml");
    let ran = ixsim_in(&elsewhere, "repro-moved", &["repro", &moved]);
    assert_eq!(ran.code, 0, "found by content hash: {}", ran.stderr);
    let unknown = token.replace(&ixsim::sim::Scenario::content_hash(&text), "000000000000");
    let unknown = unknown.replace("scenarios/smoke.toml", "gone/smoke.toml");
    let ran = ixsim_in(&elsewhere, "repro-unknown", &["repro", &unknown]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("looked for it as") && ran.stderr.contains("scenarios"),
        "{}",
        ran.stderr
    );
}

/// Validation refuses zero-delay strategy loops; behind it, the run's input budget stops any
/// loop that gets through (here: the same loop, put into a scenario past validation), naming
/// the host and the cause instead of running forever.
#[test]
fn a_loop_past_validation_is_stopped_by_the_budget() {
    let text = built_in("ors")
        .replacen("ms = 200 }", "ms = 0 }", 1)
        .replacen(
            "{ event = \"again\", target = \"selecting\" }",
            "{ event = \"again\", target = \"pause\" }",
            1,
        )
        .replacen("initial = \"new\"", "initial = \"pause\"", 1);
    assert!(
        ixsim::sim::Scenario::parse("spin", &text)
            .is_err_and(|e| e.to_string().contains("zero-delay")),
        "validation refuses the loop"
    );
    let mut scenario: ixsim::sim::Scenario = toml::from_str(&text).expect("the loop parses");
    scenario.duration_ms = 3000;
    scenario.liveness = None;
    scenario.random_faults = None;
    let error = ixsim::RunSummary::run(&scenario, 1).expect_err("the loop is stopped");
    assert!(
        error.contains("run stopped: host ors1 took more than")
            && error.contains("zero-delay loop"),
        "{error}"
    );
}

/// A panic inside a host's connection task (here turmoil's "ports exhausted", from zero
/// connect timeouts put past validation) ends the run naming the host, where tokio swallowed
/// it and the run went on without that connection loop.
#[test]
fn a_connection_task_panic_ends_the_run() {
    let smoke = built_in("smoke");
    let zero = with_key(&smoke, "client", "connect_timeout_ms", "0");
    let zero = with_key(&zero, "client", "reconnect_backoff_ms", "0");
    let mut scenario: ixsim::sim::Scenario = toml::from_str(&zero).expect("parses");
    scenario.duration_ms = 2000;
    let error = ixsim::quiet_panics(|| ixsim::RunSummary::run(&scenario, 0))
        .expect_err("the run does not finish");
    assert!(
        error.contains("a connection task of host") && error.contains("ports exhausted"),
        "{error}"
    );
}
