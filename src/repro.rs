//! Repro tokens (`ixsim repro TOKEN`): what a bug report's token names (scenario, variations,
//! seed, content hash, version), and finding the scenario it came from by name, path or content
//! hash.

use ixsim_sim::{Runner, Scenario};

/// A bug-report token: everything `ixsim repro` needs to rerun one failing seed, in one word:
/// `ixsim:SCENARIO[+PULLMODE][+swarm][+buggify][+direct]:SEED:HASH:VERSION`, where SCENARIO
/// is a built-in name or a file path, the `+` parts the command line's variations
/// (`--pull-mode`, `--swarm`, `--buggify`, `--runner direct`), HASH the scenario text's content
/// hash, and VERSION the ixsim version. A token without `+direct` names turmoil, the reference
/// runner (every token written before the direct runner existed does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReproToken {
    pub scenario: String,
    pub pull_mode: Option<String>,
    pub swarm: bool,
    pub buggify: bool,
    pub runner: Runner,
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
            runner: Runner::Turmoil,
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

    /// The same token naming `runner`.
    pub fn on(mut self, runner: Runner) -> Self {
        self.runner = runner;
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
        let mut runner = Runner::Turmoil;
        while let Some((rest, variation)) = named.rsplit_once('+') {
            match variation {
                "ordered" | "round-robin" if pull_mode.is_none() => {
                    pull_mode = Some(variation.to_string());
                }
                "swarm" if !swarm => swarm = true,
                "buggify" if !buggify => buggify = true,
                "direct" if runner == Runner::Turmoil => runner = Runner::Direct,
                // A `+` that belongs to a file's name.
                _ if Scenario::source(named).is_ok() => break,
                _ => {
                    return Err(format!(
                        "`{text}`: unknown or repeated variation `+{variation}` (known: +ordered or +round-robin, +swarm, +buggify, +direct, each once)"
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
            runner,
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
        if self.runner == Runner::Direct {
            f.write_str("+direct")?;
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
