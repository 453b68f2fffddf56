//! `ixsim`: the command-line front of the harness, and a facade over `ixsim-core` and
//! `ixsim-sim` for the integration tests. One module per job: [`sweep`] (many seeds over
//! threads), [`report`] (what a seed's run says), [`repro`] (bug-report tokens and finding
//! their scenario), [`regression`] (regression files), [`cross`] (the same seeds on both
//! runners); `main.rs` has one function per subcommand.

pub use ixsim_core as core;
pub use ixsim_sim as sim;

pub mod cross;
pub mod regression;
pub mod report;
pub mod repro;
pub mod sweep;

pub use cross::CrossCheck;
pub use regression::{check_regression, shrink_report, write_regression};
pub use report::{repro_command, Failure, RunSummary};
pub use repro::{locate_scenario, scenario_search_dirs, ReproToken, BUILT_FROM};
pub use sweep::{
    check_seed, quiet_panics, run_caught, scenario_for_seed, sweep, sweep_with, SweepOptions,
    SweepReport,
};

/// `ixsim --version`: the seeds of a bug report are tied to these.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (turmoil 0.7.2, ",
    env!("IXSIM_RUSTC_VERSION"),
    ")"
);

/// The exit codes of every subcommand (README: Exit codes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// Done; no oracle violated.
    Ok,
    /// A seed failed: an oracle violated, a run that did not finish, a regression that no
    /// longer holds.
    Failed,
    /// Bad input: unknown scenario, malformed file, bad arguments, an unwritable output.
    BadInput,
    /// A sweep whose seeds all passed but missed a mark the scenario declares.
    MarksMissed,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::MarksMissed => 3,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
