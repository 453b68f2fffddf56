//! Draws a run's workload from its seed: submit times, media, priorities and user data.
//!
//! Interaction ids are client-supplied (see `ixsim_core::clients::media`) from a range no node
//! generates (top bits 0xC0), numbered in submit order.

use crate::scenario::Scenario;
use ixsim_core::clients::media::SubmitSpec;
use ixsim_core::ids::{IxnId, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// First id of the media server's client-supplied range.
pub const CLIENT_IXN_BASE: u64 = 0xC0 << 56;

/// A seed for one independent stream of draws (splitmix64 of seed and stream).
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub const STREAM_WORKLOAD: u64 = 1;
pub const STREAM_AGENT: u64 = 1000;
/// Which proxy each client picks (plus the client's host id).
pub const STREAM_PROXY_CHOICE: u64 = 5000;
/// Which fault points a run activates (`[buggify]`).
pub const STREAM_BUGGIFY_ACTIVATION: u64 = 7000;
/// Each machine's fault-point draws (plus the host id).
pub const STREAM_BUGGIFY_MACHINE: u64 = 8000;
/// Each host shell's fault-point draws (plus the host id).
pub const STREAM_BUGGIFY_SHELL: u64 = 9000;

pub fn draw(scenario: &Scenario, seed: u64) -> Vec<SubmitSpec> {
    let workload = &scenario.workload;
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, STREAM_WORKLOAD));
    let mut at_ms = workload.start_ms;
    let mut submits = Vec::with_capacity(workload.interactions as usize);
    for index in 0..workload.interactions {
        at_ms += rng.random_range(0..=workload.mean_gap_ms * 2);
        let media = workload.media[rng.random_range(0..workload.media.len())].clone();
        let priority = workload.priorities[rng.random_range(0..workload.priorities.len())];
        let vip = rng.random_range(0..1000) < workload.vip_per_mille;
        let mut user_data = KvList::new().with("Subject", KvValue::Str(format!("case {index}")));
        if vip {
            user_data = user_data.with("VIP", KvValue::Str("yes".to_string()));
        }
        submits.push(SubmitSpec {
            at_ms,
            ixn: IxnId(CLIENT_IXN_BASE + u64::from(index)),
            tenant: TenantId(workload.tenant),
            media,
            queue: match (&workload.vip_queue, vip) {
                (Some(queue), true) => queue.clone(),
                _ => workload.queue.clone(),
            },
            priority,
            user_data,
        });
    }
    submits
}
