//! Bodies of the fuzz targets, as plain library functions so that stable `cargo test` replays
//! the corpora through exactly the code that `cargo +nightly fuzz run` exercises. Each target in
//! `fuzz/fuzz_targets/` is one call into this module.
//!
//! A target panics when it finds a bug (a broken invariant, a reply the spec does not allow, a
//! violated oracle); input it cannot use is ignored, never a finding.

pub mod codec;
pub mod is_node;
pub mod ors_session;
pub mod proxy;
pub mod scenario;
pub mod scenario_toml;

pub use codec::codec_decode;
pub use is_node::is_node;
pub use ors_session::ors_session;
pub use proxy::proxy;
pub use scenario::scenario;
pub use scenario_toml::scenario_toml;

use ixsim_core::ids::SimTime;
use ixsim_core::machine::TimerId;
use std::collections::BTreeMap;

/// The timer of a harness's set that fires first at or before `until` (on a tie, the lower id).
fn next_timer(timers: &BTreeMap<TimerId, SimTime>, until: SimTime) -> Option<(TimerId, SimTime)> {
    timers
        .iter()
        .filter(|(_, at)| **at <= until)
        .min_by_key(|(id, at)| (**at, **id))
        .map(|(id, at)| (*id, *at))
}
