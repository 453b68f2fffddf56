//! ixsim-model: the reference models the property suites (`tests/*_model.rs`) and the fuzz
//! targets (`fuzz/fuzz_targets/`) share, each with its driver (what it feeds the real machine
//! and how it checks the answers) and its byte encoding (how a fuzz input decodes into steps,
//! and the seed corpus written in it).
//!
//! Each target is a plain function here, so stable `cargo test` replays the corpora through
//! exactly the code `cargo +nightly fuzz run` exercises. A target panics when it finds a bug (a
//! broken invariant, a reply the spec does not allow); input it cannot use is ignored, never a
//! finding. Nothing here depends on the simulator: the models drive one machine at a time.

pub mod codec;
pub mod is_node;
pub mod ors_session;
pub mod proxy;

pub use codec::codec_decode;
pub use is_node::is_node;
pub use ors_session::ors_session;
pub use proxy::proxy;

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

/// Appends the bytes `arbitrary`'s derive reads as variant `index` of an enum with `count`
/// variants: a little-endian `u32` scaled onto the variant count.
pub(crate) fn arbitrary_variant(out: &mut Vec<u8>, index: u64, count: u64) {
    let x = (index << 32).div_ceil(count);
    out.extend(u32::try_from(x).expect("variant fits").to_le_bytes());
}
