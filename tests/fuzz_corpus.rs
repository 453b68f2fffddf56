//! Replays every checked-in fuzz input (seed corpora and minimized crashes) through the same
//! library functions the cargo-fuzz targets call, on stable, as part of `cargo test`, and
//! checks that the generated part of each corpus is what its generator (next to its model, in
//! `ixsim-model` or `ixsim_sim::fuzz`) makes today.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(folder)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            run(&bytes);
            count += 1;
        }
    }
    count
}

#[test]
fn codec_decode_corpus_replays() {
    let count = replay("codec_decode", ixsim_model::codec_decode);
    assert!(count > 0, "fuzz/corpus/codec_decode is empty");
}

#[test]
fn ors_session_corpus_replays() {
    let count = replay("ors_session", ixsim_model::ors_session);
    assert!(count > 0, "fuzz/corpus/ors_session is empty");
}

/// The planted finding `fuzz/regressions/<name>` passes through `clean` and makes `planted`
/// panic with a message holding every one of `expected`.
fn planted_finding_is_caught(
    name: &str,
    clean: impl Fn(&[u8]),
    planted: impl Fn(&[u8]) + std::panic::RefUnwindSafe,
    expected: &[&str],
) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(name);
    let bytes = std::fs::read(&path).expect("the planted finding is checked in");
    clean(&bytes);
    let Err(panic) = std::panic::catch_unwind(|| planted(&bytes)) else {
        panic!("the planted bug went unnoticed");
    };
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        expected.iter().all(|part| message.contains(part)),
        "caught for another reason: {message}"
    );
}

/// The planted `OrsBug::RouteWithoutDetach` (a `<deliver>` goes ahead although the detach was
/// refused) is caught by the `ors_session` target on its minimized finding, naming
/// [S-ORS-detach]; the same input passes on the real server.
#[test]
fn ors_session_catches_route_without_detach() {
    use ixsim_model::ors_session::{ors_session_planted, OrsBug};
    planted_finding_is_caught(
        "ors_session-planted/route-without-detach",
        |bytes| ors_session_planted(bytes, None),
        |bytes| ors_session_planted(bytes, Some(OrsBug::RouteWithoutDetach)),
        &["[S-ORS-detach]", "without interaction.detach.done"],
    );
}

/// The planted `ProxyBug::UnreachableLookupNotFound` (a broadcast lookup that some node did not
/// answer says "not found" instead of 2003) is caught by the `proxy` target on its minimized
/// finding, naming [S-PX-2003]; the same input passes on the real proxy.
#[test]
fn proxy_catches_unreachable_lookup_not_found() {
    use ixsim_model::proxy::{proxy_planted, ProxyBug};
    planted_finding_is_caught(
        "proxy-planted/unreachable-lookup-not-found",
        |bytes| proxy_planted(bytes, None),
        |bytes| proxy_planted(bytes, Some(ProxyBug::UnreachableLookupNotFound)),
        &["[S-PX-2003]", "InteractionNotFound"],
    );
}

#[test]
fn scenario_corpus_replays() {
    let count = replay("scenario", ixsim::sim::fuzz::scenario::scenario);
    assert!(count > 0, "fuzz/corpus/scenario is empty");
}

/// The `scenario_toml` corpus starts as the built-in scenario files and the regression files
/// (`cp scenarios/*.toml scenarios/regressions/*.toml fuzz/corpus/scenario_toml/`).
#[test]
fn scenario_toml_corpus_replays() {
    let count = replay("scenario_toml", ixsim::sim::fuzz::scenario_toml);
    assert!(count > 0, "fuzz/corpus/scenario_toml is empty");
}

#[test]
fn is_node_corpus_replays() {
    let count = replay("is_node", ixsim_model::is_node);
    assert!(count > 0, "fuzz/corpus/is_node is empty");
}

#[test]
fn proxy_corpus_replays() {
    let count = replay("proxy", ixsim_model::proxy);
    assert!(count > 0, "fuzz/corpus/proxy is empty");
}

/// Every input a generator makes, as (target, folder under `fuzz/`, file name, bytes).
fn generated() -> Vec<(&'static str, &'static str, String, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, bytes) in ixsim_model::codec::seed_corpus() {
        files.push(("codec_decode", "corpus", name, bytes));
    }
    for (folder, name, bytes) in ixsim_model::is_node::corpus::files() {
        files.push(("is_node", folder, name, bytes));
    }
    for (folder, name, bytes) in ixsim_model::proxy::corpus::files() {
        files.push(("proxy", folder, name, bytes));
    }
    for (name, bytes) in ixsim::sim::fuzz::scenario::seed_corpus() {
        files.push(("scenario", "corpus", name, bytes));
    }
    files
}

/// The checked-in seed corpora and hand-made regression inputs are what the generators make:
/// a change to an encoding, a protocol message or a built-in scenario that leaves them stale
/// fails here, with the command that writes them anew.
#[test]
fn checked_in_corpora_are_what_the_generators_make() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut stale = Vec::new();
    let files = generated();
    for (target, folder, name, bytes) in &files {
        let path = root.join(folder).join(target).join(name);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            stale.push(path.display().to_string());
        }
    }
    assert!(files.len() > 100, "only {} generated inputs", files.len());
    assert!(
        stale.is_empty(),
        "stale or missing (write them with `cargo test --test fuzz_corpus -- --ignored`, then commit): {stale:?}"
    );
}

/// Writes every generated corpus file (after a protocol, encoding or built-in scenario change),
/// then commit `fuzz/corpus/` and `fuzz/regressions/`.
#[test]
#[ignore = "regenerates checked-in files"]
fn regenerate_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, folder, name, bytes) in generated() {
        let dir = root.join(folder).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
