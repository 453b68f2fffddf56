//! Reading a scenario: the built-in scenarios embedded by name, files read up to a size bound,
//! the text's content hash, and parsing (which validates); [`ScenarioError`] says what failed.

use super::bounds::MAX_SCENARIO_BYTES;
use super::Scenario;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("unknown scenario `{0}` (built-in: {1}); or give a path to a .toml file")]
    Unknown(String, String),
    #[error("cannot read scenario file {0}: {1}")]
    Read(String, String),
    #[error("malformed scenario {0}: {1}")]
    Parse(String, String),
    #[error("invalid scenario {0}: {1}")]
    Invalid(String, String),
}

/// (name, TOML text) of every built-in scenario.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../scenarios/smoke.toml")),
    (
        "detach-race",
        include_str!("../../../scenarios/detach-race.toml"),
    ),
    (
        "is-restart",
        include_str!("../../../scenarios/is-restart.toml"),
    ),
    ("faults", include_str!("../../../scenarios/faults.toml")),
    (
        "switchover",
        include_str!("../../../scenarios/switchover.toml"),
    ),
    ("cluster", include_str!("../../../scenarios/cluster.toml")),
    (
        "cluster-faults",
        include_str!("../../../scenarios/cluster-faults.toml"),
    ),
    (
        "pull-order",
        include_str!("../../../scenarios/pull-order.toml"),
    ),
    (
        "licensing",
        include_str!("../../../scenarios/licensing.toml"),
    ),
    (
        "licensing-changes",
        include_str!("../../../scenarios/licensing-changes.toml"),
    ),
    (
        "reporting",
        include_str!("../../../scenarios/reporting.toml"),
    ),
    (
        "proxy-errors",
        include_str!("../../../scenarios/proxy-errors.toml"),
    ),
    ("ors", include_str!("../../../scenarios/ors.toml")),
    (
        "ors-failover",
        include_str!("../../../scenarios/ors-failover.toml"),
    ),
    (
        "urs-direct",
        include_str!("../../../scenarios/urs-direct.toml"),
    ),
    (
        "rolling-upgrade",
        include_str!("../../../scenarios/rolling-upgrade.toml"),
    ),
];

/// Reads the text file at `path`, at most `limit` bytes of it: a longer file is an error that
/// says so, and nothing past the limit is read.
pub fn read_bounded(path: &str, limit: u64) -> Result<String, ScenarioError> {
    let bytes = read_bounded_bytes(path, limit)?;
    let fail = |problem: String| ScenarioError::Read(path.to_string(), problem);
    String::from_utf8(bytes).map_err(|error| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// The bytes of the file at `path`, at most `limit` of them: a longer file is an error that
/// says so, and nothing past the limit is read.
pub fn read_bounded_bytes(path: &str, limit: u64) -> Result<Vec<u8>, ScenarioError> {
    use std::io::Read as _;
    let fail = |problem: String| ScenarioError::Read(path.to_string(), problem);
    let file = std::fs::File::open(path).map_err(|error| fail(error.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| fail(error.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!("longer than {limit} bytes (the most read)")));
    }
    Ok(bytes)
}

pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _)| *name).collect()
}

impl Scenario {
    /// The TOML text a name or path stands for (a built-in's embedded text, or the file).
    pub fn source(name_or_path: &str) -> Result<String, ScenarioError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Ok((*text).to_string());
        }
        read_bounded(name_or_path, MAX_SCENARIO_BYTES)
    }

    /// A short content hash of a scenario's text (SHA-256, 12 hex digits): bug-report tokens
    /// carry it, so a replay can tell whether it runs the same scenario.
    pub fn content_hash(text: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(text.as_bytes());
        digest
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A built-in scenario by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Scenario::parse(name, text);
        }
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if !looks_like_path {
            return Err(ScenarioError::Unknown(
                name_or_path.to_string(),
                built_in_names().join(", "),
            ));
        }
        let text = read_bounded(name_or_path, MAX_SCENARIO_BYTES)?;
        Scenario::parse(name_or_path, &text)
    }

    pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| {
            ScenarioError::Parse(
                origin.to_string(),
                error.to_string().trim().replace('\n', " "),
            )
        })?;
        scenario
            .validate()
            .map_err(|problem| ScenarioError::Invalid(origin.to_string(), problem))?;
        Ok(scenario)
    }
}
