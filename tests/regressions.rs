//! Every file in `scenarios/regressions/` is a bug found once and fixed: its seed must keep
//! passing every oracle, and keep its trace hash where the file pins one.

use std::path::{Path, PathBuf};

fn regression_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/regressions exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn fixed_bugs_stay_fixed() {
    let files = regression_files();
    assert!(!files.is_empty(), "no regression files");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| ixsim::check_regression(path).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The runner really judges: a pinned hash that differs, and a file without a seed, fail.
#[test]
fn a_wrong_pinned_hash_and_a_missing_section_are_reported() {
    let file = &regression_files()[0];
    let text = std::fs::read_to_string(file).expect("read");
    let dir = std::env::temp_dir().join(format!("ixsim-regression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pinned = dir.join("pinned.toml");
    // The section need not be the file's last: pin the hash right under its header.
    let pinned_text = text.replacen(
        "\n[regression]\n",
        "\n[regression]\ntrace_hash = \"0000000000000000\"\n",
        1,
    );
    assert_ne!(
        pinned_text,
        text,
        "{} has no [regression] header",
        file.display()
    );
    std::fs::write(&pinned, pinned_text).expect("write");
    let error = ixsim::check_regression(&pinned).expect_err("the hash differs");
    assert!(error.contains("pins 0000000000000000"), "{error}");
    let bare = dir.join("bare.toml");
    let without = text
        .split("\n[regression]")
        .next()
        .expect("a scenario before the section");
    std::fs::write(&bare, without).expect("write");
    let error = ixsim::check_regression(&bare).expect_err("no section");
    assert!(error.contains("no [regression] section"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}
