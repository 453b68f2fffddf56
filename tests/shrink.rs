//! Issue 6, the bug-search workflow end to end: a sweep finds a planted bug, `ixsim shrink`
//! cuts the failing seed down to a self-contained regression file with a handful of faults and
//! interactions that still fails the same oracle, and the printed token replays it with the
//! same trace hash. Also swarm testing from the command line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ixsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ixsim"))
        .args(args)
        .output()
        .expect("the ixsim binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A fresh folder for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("shrink-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `switchover` with the HA layer's planted bug: a promotion that does not fence the database,
/// so the deposed primary keeps writing [S-OPS-switchover].
fn planted_switchover(dir: &std::path::Path) -> String {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "switchover")
        .map(|(_, text)| text.replace("[ha]\n", "[ha]\nplanted_bug = \"promote-without-fence\"\n"))
        .expect("built-in");
    let path = dir.join("planted.toml");
    std::fs::write(&path, text).expect("write scenario");
    path.to_string_lossy().to_string()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON object")
}

#[test]
fn s_ops_switchover_planted_bug_is_found_shrunk_and_replayed() {
    let dir = scratch("planted");
    let scenario = planted_switchover(&dir);
    let sweep = ixsim(&[
        "sweep",
        "--scenario",
        &scenario,
        "--seeds",
        "0..10",
        "--json",
    ]);
    assert_eq!(sweep.status.code(), Some(1), "the planted bug is not found");
    let first: serde_json::Value = stdout(&sweep)
        .lines()
        .next()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .expect("a failing seed");
    assert_eq!(first["oracle"], "S-OPS-switchover");
    let seed = first["seed"].as_u64().expect("seed").to_string();

    let out = dir.join("regressions");
    let out_text = out.to_string_lossy().to_string();
    let shrink = ixsim(&[
        "shrink",
        "--scenario",
        &scenario,
        "--seed",
        &seed,
        "--out",
        &out_text,
    ]);
    let report = stdout(&shrink);
    assert!(shrink.status.success(), "shrink failed: {report}");
    assert!(report.contains("[S-OPS-switchover]"), "{report}");
    let counts = |what: &str| -> (u64, u64) {
        let after = report
            .split(&format!("{what} "))
            .nth(1)
            .unwrap_or_else(|| panic!("no `{what}` in {report}"));
        let mut numbers = after
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse::<u64>().expect("a count"));
        (
            numbers.next().expect("before"),
            numbers.next().expect("after"),
        )
    };
    let (faults_before, faults_after) = counts("faults");
    let (ixns_before, ixns_after) = counts("interactions");
    let (hosts_before, hosts_after) = counts("hosts");
    assert!(
        faults_after <= 3 && faults_after < faults_before,
        "{report}"
    );
    assert!(ixns_after <= 5 && ixns_after < ixns_before, "{report}");
    assert!(hosts_after < hosts_before, "{report}");

    // The file is self-contained: explicit faults and submits, no random draws, no swarm.
    let file = out.join(format!("switchover-seed-{seed}.toml"));
    let text = std::fs::read_to_string(&file).expect("the regression file is written");
    let shrunk = ixsim::sim::Scenario::parse("shrunk", &text).expect("it loads");
    assert!(shrunk.random_faults.is_none());
    assert_eq!(shrunk.workload.submits.len() as u64, ixns_after);
    assert_eq!(
        shrunk.regression.as_ref().map(|r| r.seed.to_string()),
        Some(seed.clone())
    );

    // `ixsim run` of the file and `ixsim repro` of the printed token give the reported trace.
    let hash = report
        .split("(trace ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the report names the trace hash")
        .to_string();
    let file_text = file.to_string_lossy().to_string();
    let run = ixsim(&["run", "--scenario", &file_text, "--seed", &seed, "--json"]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "the shrunk file no longer fails"
    );
    let run = json(&run);
    assert_eq!(run["trace_hash"], hash.as_str());
    assert_eq!(run["violations"][0]["oracle"], "S-OPS-switchover");
    let token = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("ixsim repro "))
        .expect("a token line");
    let replay = json(&ixsim(&["repro", token, "--json"]));
    assert_eq!(replay["trace_hash"], hash.as_str());
}

#[test]
fn shrinking_a_passing_seed_is_bad_input() {
    let dir = scratch("passing");
    let out = dir.to_string_lossy().to_string();
    let output = ixsim(&["shrink", "--seed", "0", "--out", &out]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("violates no oracle"), "{stderr}");
}

/// `--swarm`: each seed says what it drew, the token carries the variation, and the repro of
/// the token runs the same swarmed scenario.
#[test]
fn swarm_runs_say_what_they_drew_and_replay() {
    let a = json(&ixsim(&[
        "run",
        "--scenario",
        "cluster-faults",
        "--seed",
        "4",
        "--swarm",
        "--json",
    ]));
    let said = a["swarm"].as_str().expect("a swarm account").to_string();
    assert!(said.starts_with("swarm:"), "{said}");
    let plain = json(&ixsim(&[
        "run",
        "--scenario",
        "cluster-faults",
        "--seed",
        "4",
        "--json",
    ]));
    assert!(plain.get("swarm").is_none());
    let differ = (0..6).any(|seed| {
        let seed = seed.to_string();
        let b = json(&ixsim(&[
            "run",
            "--scenario",
            "cluster-faults",
            "--seed",
            &seed,
            "--swarm",
            "--json",
        ]));
        b["swarm"] != a["swarm"]
    });
    assert!(differ, "every seed swarmed alike: {said}");
    let source = ixsim::sim::Scenario::source("cluster-faults").expect("built-in");
    // `run` used the direct runner, its default: the token names it.
    let token = ixsim::ReproToken::new("cluster-faults", None, 4, &source)
        .with(true, false)
        .on(ixsim::sim::Runner::Direct);
    assert!(token.to_string().contains("+swarm+direct:4:"), "{token}");
    assert_eq!(
        ixsim::ReproToken::parse(&token.to_string()),
        Ok(token.clone())
    );
    let replay = json(&ixsim(&["repro", &token.to_string(), "--json"]));
    assert_eq!(replay["trace_hash"], a["trace_hash"]);
    assert_eq!(replay["swarm"], a["swarm"]);
}
