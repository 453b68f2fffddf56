//! Orchestration Server building blocks [S-ORS]: the strategy IR and its interpreter
//! (`strategy`), and the table of which session controls which interaction (`assoc`). The ORS
//! machine that pulls, runs sessions and talks to the cluster builds on these.

pub mod assoc;
pub mod server;
pub mod strategy;
