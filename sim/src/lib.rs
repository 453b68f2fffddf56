//! ixsim-sim: runs the machines of `ixsim-core` inside turmoil's deterministic network
//! simulation, with a seeded workload and a fault plan, records one ordered trace and checks the
//! oracles on it.
//!
//! Architecture invariant: no protocol logic here (that is `ixsim-core`), no wall clock, no
//! threads, no default-hasher maps; every `select!` is `biased;`.

pub mod codec;
pub mod dial;
pub mod direct;
pub mod faults;
pub mod fuzz;
pub mod host;
pub mod hosts;
pub mod oracles;
pub mod pull_order;
pub mod runner;
pub mod scenario;
pub mod seeds;
pub mod shell;
pub mod shrink;
pub mod swarm;
pub mod trace;
pub mod workload;

pub use runner::{run, run_on, run_with, Outcome, RunError, RunOptions, Runner, Stats};
pub use scenario::{Scenario, ScenarioError};
