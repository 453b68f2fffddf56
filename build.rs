//! Records the compiler version for `ixsim --version`: a seed's trace is tied to the toolchain
//! and the dependency versions in Cargo.lock.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|| "rustc unknown".to_string());
    println!("cargo:rustc-env=IXSIM_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
