//! The bounds on a scenario: the largest file, time, workload and list it may have, and the
//! walk over its serialized form that holds every time and list field to them by its key's path.

use super::Scenario;

/// The largest scenario file read: 4 MiB. A longer file (or an endless one such as
/// `/dev/zero`) is refused after reading this much, never read whole.
pub const MAX_SCENARIO_BYTES: u64 = 4 << 20;

/// The largest time anywhere in a scenario (every key ending in `_ms`, the `_ms_min`/`_ms_max`
/// pairs, a strategy timer's `ms`): 24 simulated hours. Runs last at most an hour; what is
/// longer is a typo or a value meant to wrap, and sums of such values stay far from `u64::MAX`.
pub const MAX_TIME_MS: u64 = 86_400_000;

/// The most connect attempts a host may be able to make in one run: turmoil gives each host
/// 16384 ephemeral ports and keeps one per timed-out attempt (see `Scenario::validate_client`).
pub const MAX_CONNECT_ATTEMPTS: u64 = 12_000;

/// The most interactions a workload may have (`workload.interactions`, and so the length of
/// `[[workload.submits]]`).
pub const MAX_INTERACTIONS: u32 = 1_000_000;

/// The most entries any list in a scenario may have (faults, strategies, states, queues, ...);
/// `[[workload.submits]]` may have as many as `workload.interactions` allows.
pub const MAX_LIST_LEN: usize = 10_000;

impl Scenario {
    /// Every time value at most [`MAX_TIME_MS`] and every list at most [`MAX_LIST_LEN`] long,
    /// each checked by its key's path (`client.tick_ms`, `faults[3].at_ms`), so that a new
    /// field is bounded as soon as it is written. Runs before every other check, whose
    /// arithmetic on these values then cannot overflow.
    pub(super) fn check_bounds(&self) -> Result<(), String> {
        let value = serde_json::to_value(self).map_err(|error| format!("internal: {error}"))?;
        check_value_bounds(&value, "")
    }
}

/// Is `key` a time in milliseconds: `..._ms`, `..._ms_min`/`..._ms_max`, or a timer's `ms`?
fn is_time_key(key: &str) -> bool {
    key == "ms" || key.split('_').any(|word| word == "ms")
}

fn check_value_bounds(value: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if is_time_key(key) {
                    check_time(field, &here)?;
                }
                check_value_bounds(field, &here)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let most = if path == "workload.submits" {
                MAX_INTERACTIONS as usize
            } else {
                MAX_LIST_LEN
            };
            if items.len() > most {
                return Err(format!(
                    "{path} has {} entries; at most {most} are allowed",
                    items.len()
                ));
            }
            for (index, item) in items.iter().enumerate() {
                check_value_bounds(item, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
    }
}

/// A time value (or a list of them, as a `[swarm]` range) must be at most [`MAX_TIME_MS`].
fn check_time(value: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_u64() {
            Some(ms) if ms <= MAX_TIME_MS => Ok(()),
            _ => Err(format!(
                "{path} = {number} is out of range: times must be in 0..={MAX_TIME_MS} ms (24 h)"
            )),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| check_time(item, &format!("{path}[{index}]"))),
        Value::Null | Value::Bool(_) | Value::String(_) | Value::Object(_) => Ok(()),
    }
}
