//! Seed streams: every independent sequence of draws a run makes is seeded from the run's seed
//! and a stream number ([`sub_seed`]), so adding draws to one stream never shifts another. The
//! per-host and per-agent streams are a base plus the host id or agent index; the compile-time
//! check below keeps every stream's range apart from the others', and scenario validation keeps
//! host and agent counts inside the widths it assumes ([`MAX_HOSTS`], [`MAX_AGENTS`]).
//!
//! A leaf module: it imports nothing from the crate.

/// A seed for one independent stream of draws (splitmix64 of seed and stream).
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Most hosts a scenario may have (host ids `0..MAX_HOSTS`).
pub const MAX_HOSTS: u64 = 1000;
/// Most agents a scenario may have (agents `1..=MAX_AGENTS`).
pub const MAX_AGENTS: u64 = 200;

/// The workload's draws (submit times, media, priorities, user data).
pub const STREAM_WORKLOAD: u64 = 1;
/// The random faults' draws.
pub const STREAM_FAULTS: u64 = 2;
/// Swarm testing's draws of fault kinds, sizes and options.
pub const STREAM_SWARM: u64 = 7;
/// Each agent's behaviour (plus the agent's index).
pub const STREAM_AGENT: u64 = 1000;
/// Which proxy each client picks (plus the client's host id).
pub const STREAM_PROXY_CHOICE: u64 = 5000;
/// Which fault points a run activates (`[buggify]`).
pub const STREAM_BUGGIFY_ACTIVATION: u64 = 7000;
/// Each machine's fault-point draws (plus the host id).
pub const STREAM_BUGGIFY_MACHINE: u64 = 8000;
/// Each host shell's fault-point draws (plus the host id).
pub const STREAM_BUGGIFY_SHELL: u64 = 9000;

/// The direct runner's network draws (message and connection latencies).
pub const STREAM_DIRECT_NET: u64 = 3;

/// Every stream as (first number, how many numbers it uses).
const STREAMS: [(u64, u64); 9] = [
    (STREAM_WORKLOAD, 1),
    (STREAM_FAULTS, 1),
    (STREAM_DIRECT_NET, 1),
    (STREAM_SWARM, 1),
    // Agents are numbered from 1.
    (STREAM_AGENT + 1, MAX_AGENTS),
    (STREAM_PROXY_CHOICE, MAX_HOSTS),
    (STREAM_BUGGIFY_ACTIVATION, 1),
    (STREAM_BUGGIFY_MACHINE, MAX_HOSTS),
    (STREAM_BUGGIFY_SHELL, MAX_HOSTS),
];

/// No two streams' ranges share a number.
const fn disjoint(streams: &[(u64, u64)]) -> bool {
    let mut i = 0;
    while i < streams.len() {
        let mut j = i + 1;
        while j < streams.len() {
            let (a, a_len) = streams[i];
            let (b, b_len) = streams[j];
            if a < b + b_len && b < a + a_len {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const _: () = assert!(disjoint(&STREAMS), "two seed streams overlap");

#[cfg(test)]
mod tests {
    use super::*;

    /// The check is not vacuous: overlapping ranges are found, touching ones are not.
    #[test]
    fn overlapping_streams_are_found() {
        assert!(!disjoint(&[(10, 5), (14, 1)]));
        assert!(!disjoint(&[(14, 1), (10, 5)]));
        assert!(disjoint(&[(10, 5), (15, 1)]));
        assert!(disjoint(&STREAMS));
    }
}
