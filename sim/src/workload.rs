//! Draws a run's workload from its seed: submit times, media, priorities and user data.
//!
//! Interaction ids are client-supplied (see `ixsim_core::clients::media`) from a range no node
//! generates (top bits 0xC0), numbered in submit order.

use crate::scenario::{ExplicitSubmit, Scenario, Workload};
use crate::seeds::{sub_seed, STREAM_WORKLOAD};
use ixsim_core::clients::media::SubmitSpec;
use ixsim_core::ids::{IxnId, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// First id of the media server's client-supplied range.
pub const CLIENT_IXN_BASE: u64 = 0xC0 << 56;

pub fn draw(scenario: &Scenario, seed: u64) -> Vec<SubmitSpec> {
    let workload = &scenario.workload;
    if !workload.submits.is_empty() {
        return workload
            .submits
            .iter()
            .map(|s| explicit(workload, s))
            .collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, STREAM_WORKLOAD));
    let mut at_ms = workload.start_ms;
    // Only what the run can submit is drawn and kept: a million interactions configured for a
    // nine-second run cost what the run submits, not a million specs. The draws are sequential,
    // so the submits kept are the same as when all were drawn. (The run's last step may end up
    // to a tick past `duration_ms`; what is due by then is kept.)
    let last_ms = scenario.duration_ms + scenario.tick_ms;
    let mut submits = Vec::new();
    for index in 0..workload.interactions {
        at_ms += rng.random_range(0..=workload.mean_gap_ms * 2);
        if at_ms > last_ms {
            break;
        }
        let media = workload.media[rng.random_range(0..workload.media.len())].clone();
        let priority = workload.priorities[rng.random_range(0..workload.priorities.len())];
        let vip = rng.random_range(0..1000) < workload.vip_per_mille;
        let queue = match (&workload.vip_queue, vip) {
            (Some(queue), true) => queue.clone(),
            _ => workload.queue.clone(),
        };
        let submit = ExplicitSubmit {
            at_ms,
            case: index,
            media,
            queue,
            priority,
            vip,
        };
        submits.push(explicit(workload, &submit));
    }
    submits
}

/// The seed's workload written out ([`Workload::submits`]): the same submits, no draws.
pub fn materialize(scenario: &Scenario, seed: u64) -> Vec<ExplicitSubmit> {
    draw(scenario, seed)
        .into_iter()
        .map(|spec| ExplicitSubmit {
            at_ms: spec.at_ms,
            case: (spec.ixn.0 - CLIENT_IXN_BASE) as u32,
            vip: spec.user_data.get("VIP").is_some(),
            media: spec.media,
            queue: spec.queue,
            priority: spec.priority,
        })
        .collect()
}

fn explicit(workload: &Workload, submit: &ExplicitSubmit) -> SubmitSpec {
    let case = submit.case;
    let mut user_data = KvList::new().with("Subject", KvValue::Str(format!("case {case}")));
    if submit.vip {
        user_data = user_data.with("VIP", KvValue::Str("yes".to_string()));
    }
    SubmitSpec {
        at_ms: submit.at_ms,
        ixn: IxnId(CLIENT_IXN_BASE + u64::from(case)),
        tenant: TenantId(workload.tenant),
        media: submit.media.clone(),
        queue: submit.queue.clone(),
        priority: submit.priority,
        user_data,
    }
}
