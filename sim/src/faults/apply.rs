//! Carrying a fault action out on the turmoil sim: links partitioned, held, released or
//! slowed, hosts crashed and started, operator commands sent through the supervisor's desk.

use super::plan::{FaultAction, HostSet, Versions};
use crate::host::{send_command, OperatorDesk};
use ixsim_core::machine::Command;
use std::time::Duration;

/// Carries out one action on the sim (operator commands through `operator`, the supervisor's
/// desk); returns what the trace should say.
pub fn apply(
    sim: &mut turmoil::Sim<'_>,
    action: &FaultAction,
    operator: Option<&OperatorDesk>,
    versions: &Versions,
) -> String {
    let pairs = |a: &HostSet, b: &HostSet| -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for x in a.names() {
            for y in b.names() {
                pairs.push((x.to_string(), y.to_string()));
            }
        }
        pairs
    };
    match action {
        FaultAction::Crash { host } => sim.crash(host.as_str()),
        FaultAction::Upgrade { host, version } => {
            sim.crash(host.as_str());
            versions.borrow_mut().insert(host.clone(), version.clone());
        }
        FaultAction::Start { host } => {
            if sim.is_host_running(host.as_str()) {
                return format!("{action} (already running)");
            }
            sim.bounce(host.as_str());
        }
        FaultAction::Bounce { host } => sim.bounce(host.as_str()),
        FaultAction::Partition { a, b } => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.partition(x.as_str(), y.as_str())),
        FaultAction::Repair { a, b } => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.repair(x.as_str(), y.as_str())),
        FaultAction::PartitionOneway { from, to } => pairs(from, to)
            .iter()
            .for_each(|(x, y)| sim.partition_oneway(x.as_str(), y.as_str())),
        FaultAction::RepairOneway { from, to } => pairs(from, to)
            .iter()
            .for_each(|(x, y)| sim.repair_oneway(x.as_str(), y.as_str())),
        FaultAction::Hold { a, b } => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.hold(x.as_str(), y.as_str())),
        FaultAction::Release { a, b } => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.release(x.as_str(), y.as_str())),
        FaultAction::Latency { max_ms } => {
            sim.set_max_message_latency(Duration::from_millis(*max_ms))
        }
        FaultAction::Switchover { pair } => {
            return operate(operator, action, Command::Switchover { pair: *pair })
        }
        FaultAction::SetSeats { pair, seats } => {
            let command = Command::SetSeats {
                pair: *pair,
                seats: *seats,
            };
            return operate(operator, action, command);
        }
    }
    action.to_string()
}

/// Hands an operator command to the supervisor; the trace says when none is running.
fn operate(operator: Option<&OperatorDesk>, action: &FaultAction, command: Command) -> String {
    if operator.is_some_and(|desk| send_command(desk, command)) {
        action.to_string()
    } else {
        format!("{action} (supervisor not running)")
    }
}
