//! What a run is made of, whichever runner drives it: its hosts ([`HostSpec`]: name, context,
//! machine factory), what the run keeps of them ([`Hosts`]: the trace, the databases, the
//! operator's desk, installed releases), its fault points and input budget ([`FaultPoints`]),
//! how it ends early ([`RunError`]) and how a fault is written into the trace.
//!
//! `runner` builds these and hands them to a runner (`shell` for turmoil, `direct`); neither
//! runner imports `runner`.

use crate::faults::{self, FaultAction};
use crate::host::{HostCtx, OperatorDesk, RunBudget};
use crate::scenario::Scenario;
use crate::seeds::{sub_seed, STREAM_BUGGIFY_ACTIVATION};
use crate::trace::Trace;
use ixsim_core::buggify::{Activation, Buggify};
use ixsim_core::db::IsDatabase;
use ixsim_core::ids::SimTime;
use ixsim_core::machine::Machine;
use ixsim_core::trace::TraceEvent;
use std::cell::RefCell;
use std::rc::Rc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("host software failed: {0}")]
    Host(String),
    /// The run broke its budget (a zero-delay loop, or far more work than any workload): it
    /// was stopped there.
    #[error("run stopped: {0}")]
    Budget(String),
}

/// Trace host id of the runner itself (fault records).
pub(crate) fn runner_host(scenario: &Scenario) -> u16 {
    scenario.hosts().len() as u16
}

pub(crate) struct Hosts {
    pub(crate) trace: Rc<RefCell<Trace>>,
    /// Each pair's (or lone node's) database, with its node index.
    pub(crate) databases: Vec<(u16, Rc<RefCell<IsDatabase>>)>,
    /// The supervisor's desk for operator commands (with backups).
    pub(crate) operator: Option<OperatorDesk>,
    /// Releases installed by `upgrade` faults.
    pub(crate) versions: faults::Versions,
}

/// One host of the run: its name, its context, and how to build its machine afresh at every
/// (re)start from its incarnation (1, 2, ...). Every runner starts hosts from these.
pub(crate) struct HostSpec {
    pub name: String,
    pub ctx: HostCtx,
    pub make: Box<dyn Fn(u32) -> Box<dyn Machine>>,
}

/// The run's fault points, worked out once per run: which sites the seed activates (the same on
/// every host), how often they fire, and when they fall silent.
pub(crate) struct FaultPoints {
    seed: u64,
    active: Option<(Activation, u32)>,
    quiet_from_ms: Option<SimTime>,
    /// The run's input budget, handed to every host (it travels with the fault points because
    /// every host context is built from them).
    pub(crate) budget: Rc<RunBudget>,
}

impl FaultPoints {
    /// Off without a `[buggify]` section. In a run that judges liveness [S-INV-live] the sites
    /// fall silent at the last fault of `plan` (its last heal), so that the heal period is free
    /// of every fault; with no faults at all, `settle_ms` before the end.
    pub(crate) fn new(scenario: &Scenario, seed: u64, plan: &[faults::Fault]) -> Self {
        let active = scenario.buggify.as_ref().map(|options| {
            let active = Buggify::activation(
                sub_seed(seed, STREAM_BUGGIFY_ACTIVATION),
                options.activate_per_mille,
                &options.allowed_sites(),
            );
            (active, options.fire_per_mille)
        });
        let quiet_from_ms = scenario
            .liveness
            .as_ref()
            .map(|liveness| match plan.last() {
                Some(last) => last.at_ms,
                None => scenario.duration_ms.saturating_sub(liveness.settle_ms),
            });
        FaultPoints {
            seed,
            active,
            quiet_from_ms,
            budget: Rc::new(RunBudget::for_run(
                scenario.hosts().len() as u64,
                scenario.duration_ms,
                u64::from(scenario.workload.interactions),
            )),
        }
    }

    /// The fault points of host `host`'s shell (`STREAM_BUGGIFY_SHELL`) or machine
    /// (`STREAM_BUGGIFY_MACHINE`).
    pub(crate) fn for_host(&self, host: u16, stream: u64) -> Buggify {
        match self.active {
            Some((active, fire_per_mille)) => Buggify::new(
                active,
                fire_per_mille,
                sub_seed(self.seed, stream + u64::from(host)),
            )
            .quiet_from(self.quiet_from_ms),
            None => Buggify::off(),
        }
    }
}

/// Writes a fault the runner carried out into the trace (`what` says how it went), and the
/// end of the process it killed, if it killed one.
pub(crate) fn record_fault(
    trace: &mut Trace,
    scenario: &Scenario,
    now: SimTime,
    action: &FaultAction,
    what: String,
) {
    trace.push(now, runner_host(scenario), TraceEvent::Fault { what });
    if let FaultAction::Crash { host }
    | FaultAction::Bounce { host }
    | FaultAction::Upgrade { host, .. } = action
    {
        if let Some(index) = trace.hosts.iter().position(|name| name == host) {
            trace.push(now, index as u16, TraceEvent::ProcessKilled);
        }
    }
}
