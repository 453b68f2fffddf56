//! Scenarios: topology, configuration, workload shape, fault plan and duration of a run, as
//! serde types read from TOML. Everything that does not depend on the seed lives here; the seed
//! only draws the workload's details and the network's latencies.
//!
//! Built-in scenarios are the files under `scenarios/`, embedded in the binary by name.
//! Validation rejects anything the runner could not honour with a message naming the field.
//!
//! One concept per file: `load` reads and parses scenario text (built-ins by name, files with
//! a size bound), `bounds` the largest values and lists a scenario may hold, `options` the
//! run-wide sections (network, IS, HA, proxy, prober, workload, agents, clients, buggify,
//! coverage, swarm), `topology` the hosts, pairs, tenants, queues and the router, ORS and URS
//! sections, `validation` and `routing_validation` what [`Scenario::validate`] refuses, and
//! `warnings` what it lets run but is certainly not meant. Every item is re-exported here, so
//! paths stay `scenario::X`.

mod bounds;
mod defaults;
mod load;
mod options;
mod routing_validation;
mod topology;
mod validation;
mod warnings;

pub use bounds::{
    MAX_CONNECT_ATTEMPTS, MAX_INTERACTIONS, MAX_LIST_LEN, MAX_SCENARIO_BYTES, MAX_TIME_MS,
};
pub use load::{built_in_names, read_bounded, read_bounded_bytes, ScenarioError, BUILT_IN};
pub use options::{
    AgentOptions, BuggifyOptions, ClientOptions, Coverage, ExplicitSubmit, HaBugName, HaOptions,
    IsOptions, LicenseOptions, Liveness, Network, PlantedBugName, ProberOptions, ProberScript,
    ProxyOptions, ProxyPlantedBug, PullModeName, Regression, Span, SwarmOptions, Workload,
};
pub use topology::{
    Media, NodeOptions, OrsBugName, OrsOptions, OrsQueueOptions, Queue, RouterOptions,
    TargetOptions, Tenant, Topology, UrsOptions, UrsPlantedBug, UrsStrategyOptions, View,
};

use crate::faults::plan::{Fault, RandomFaults};
use ixsim_core::marks::Mark;
use ixsim_core::ors::strategy::Strategy;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Simulated time the run lasts.
    pub duration_ms: u64,
    /// One turmoil step; sized to the latencies being modelled.
    #[serde(default = "defaults::tick_ms")]
    pub tick_ms: u64,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub is: IsOptions,
    #[serde(default)]
    pub ha: HaOptions,
    /// Per-pair options, pair 1 first (`[[nodes]]`); pairs without an entry take the defaults.
    #[serde(default)]
    pub nodes: Vec<NodeOptions>,
    #[serde(default)]
    pub proxy: ProxyOptions,
    /// A license server (host `license`) that every node checks its seats out from [S-LIC].
    pub license: Option<LicenseOptions>,
    /// A scripted prober client (host `prober`).
    pub prober: Option<ProberOptions>,
    /// Orchestration Servers (hosts `ors1`, ...) and the queues associated with them.
    pub ors: Option<OrsOptions>,
    /// Universal Routing Servers (hosts `urs1`, ...) that select agents for `queue:submit`.
    pub urs: Option<UrsOptions>,
    /// Strategies (state charts) ORS sessions run.
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    pub tenants: Vec<Tenant>,
    pub queues: Vec<Queue>,
    pub router: RouterOptions,
    pub workload: Workload,
    #[serde(default)]
    pub agents: AgentOptions,
    #[serde(default)]
    pub client: ClientOptions,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Faults the seed draws, on top of `faults`.
    pub random_faults: Option<RandomFaults>,
    /// [S-INV-live]: how long after the last fault (and after its acknowledgement) every
    /// interaction must be completed. Absent: liveness is not judged.
    pub liveness: Option<Liveness>,
    /// Which dimensions `--swarm` may vary per seed (absent: [`SwarmOptions::default_for`]).
    pub swarm: Option<SwarmOptions>,
    /// Fault points inside the servers (issue 6 buggify, `ixsim_core::buggify`). Absent: none
    /// fires and nothing is drawn for them.
    pub buggify: Option<BuggifyOptions>,
    /// `[coverage]`: the marks the scenario's sweeps must reach.
    pub coverage: Option<Coverage>,
    /// A regression file (`scenarios/regressions/`): the seed that once failed, what it found,
    /// and optionally the trace hash it must keep. `cargo test` runs every such file.
    pub regression: Option<Regression>,
}

impl Scenario {
    /// Turns the fault points on with the default rates when the scenario has no `[buggify]`
    /// section (the CLI's `--buggify`); a section the scenario has is kept as written.
    pub fn enable_buggify(&mut self) {
        if self.buggify.is_none() {
            self.buggify = Some(BuggifyOptions::default());
        }
    }

    /// The marks every sweep of this scenario must reach (`[coverage] marks`), and from how
    /// many seeds on.
    pub fn declared_marks(&self) -> (Vec<Mark>, u64) {
        match &self.coverage {
            Some(coverage) => (
                coverage
                    .marks
                    .iter()
                    .filter_map(|name| Mark::from_name(name))
                    .collect(),
                coverage.min_seeds,
            ),
            None => (Vec::new(), defaults::coverage_min_seeds()),
        }
    }
}

#[cfg(test)]
mod strategy_toml {
    use ixsim_core::ors::strategy::{Action, Run, Strategy};

    /// Strategies are written in scenario files: the TOML shape of the IR.
    #[test]
    fn a_strategy_reads_from_toml_and_runs() {
        let text = r#"
name = "submit-detach-redirect"
initial = "select"

[[states]]
name = "select"
on_entry = [{ action = "queue-submit", targets = "sales", route = false, timeout_ms = 5000 }]
transitions = [
  { event = "queue.submit.done", target = "detaching", actions = [{ action = "detach" }] },
  { event = "error.*", target = "done" },
]

[[states]]
name = "detaching"
transitions = [
  { event = "interaction.detach.done", target = "done", actions = [{ action = "deliver" }] },
  { event = "error.interaction.detach", target = "select" },
]

[[states]]
name = "done"
final = true
on_entry = [{ action = "update-user-data", key = "Routed", value = "yes" }]
"#;
        let strategy: Strategy = toml::from_str(text).expect("strategy parses");
        strategy.validate(&["sales".to_string()]).expect("valid");
        let (mut run, first) = Run::start(&strategy);
        assert!(matches!(
            first.actions.as_slice(),
            [Action::QueueSubmit { route: false, .. }]
        ));
        run.on_event(&strategy, "queue.submit.done");
        let step = run.on_event(&strategy, "interaction.detach.done");
        assert_eq!(step.actions.len(), 2);
        assert!(step.finished);
        let bad = text.replace("action = \"detach\"", "action = \"teleport\"");
        assert!(toml::from_str::<Strategy>(&bad).is_err());
    }
}
