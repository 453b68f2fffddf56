//! Bodies of the simulator's fuzz targets (`scenario`, `scenario_toml`), as plain library
//! functions so that stable `cargo test` replays the corpora through exactly the code that
//! `cargo +nightly fuzz run` exercises. The single-machine targets and their reference models
//! live in the `ixsim-model` crate.
//!
//! A target panics when it finds a bug (a violated oracle, a crash); input it cannot use is
//! ignored, never a finding.

pub mod scenario;
pub mod scenario_toml;

pub use scenario::scenario;
pub use scenario_toml::scenario_toml;
