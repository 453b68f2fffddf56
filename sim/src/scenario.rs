//! Scenarios: topology, configuration, workload shape, fault plan and duration of a run, as
//! serde types read from TOML. Everything that does not depend on the seed lives here; the seed
//! only draws the workload's details and the network's latencies.
//!
//! Built-in scenarios are the files under `scenarios/`, embedded in the binary by name.
//! Validation rejects anything the runner could not honour with a message naming the field.

use crate::faults::plan::{Fault, FaultAction, RandomFaults, RandomKind};
use ixsim_core::buggify::Site;
use ixsim_core::ha::HaBug;
use ixsim_core::ids::TenantId;
use ixsim_core::is_node::{MediaConfig, QueueConfig, TenantConfig, ViewCondition, ViewConfig};
use ixsim_core::kv::KvValue;
use ixsim_core::marks::Mark;
use ixsim_core::ors::server::OrsVersion;
use ixsim_core::ors::strategy::{Action, Strategy};
use ixsim_core::proxy::PullMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("unknown scenario `{0}` (built-in: {1}); or give a path to a .toml file")]
    Unknown(String, String),
    #[error("cannot read scenario file {0}: {1}")]
    Read(String, String),
    #[error("malformed scenario {0}: {1}")]
    Parse(String, String),
    #[error("invalid scenario {0}: {1}")]
    Invalid(String, String),
}

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

/// `[coverage]`: coverage marks ([`ixsim_core::marks`]) every sweep of the scenario must reach.
/// A sweep of at least `min_seeds` finished seeds in which no seed reached one of `marks` fails
/// with exit code 3 and names the marks; a smaller sweep reports them without judging (one
/// seed need not reach every path).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub marks: Vec<String>,
    #[serde(default = "defaults::coverage_min_seeds")]
    pub min_seeds: u64,
}

/// `[buggify]`: which fault points a run may take, and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuggifyOptions {
    /// Chance (per mille) that the seed activates each site for the run.
    #[serde(default = "defaults::activate_per_mille")]
    pub activate_per_mille: u32,
    /// Chance (per mille) that an activated site fires each time a machine reaches it.
    #[serde(default = "defaults::fire_per_mille")]
    pub fire_per_mille: u32,
    /// Only these sites (by name, see `ixsim_core::buggify::Site`); absent: every site.
    #[serde(default)]
    pub sites: Option<Vec<String>>,
}

impl Default for BuggifyOptions {
    fn default() -> Self {
        BuggifyOptions {
            activate_per_mille: defaults::activate_per_mille(),
            fire_per_mille: defaults::fire_per_mille(),
            sites: None,
        }
    }
}

impl BuggifyOptions {
    /// The sites a run may activate (unknown names are rejected by validation).
    pub fn allowed_sites(&self) -> Vec<Site> {
        match &self.sites {
            None => Site::ALL.to_vec(),
            Some(names) => names.iter().filter_map(|name| Site::parse(name)).collect(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.activate_per_mille > 1000 {
            return Err(format!(
                "buggify.activate_per_mille must be in 0..=1000, not {}",
                self.activate_per_mille
            ));
        }
        if self.fire_per_mille > 1000 {
            return Err(format!(
                "buggify.fire_per_mille must be in 0..=1000, not {}",
                self.fire_per_mille
            ));
        }
        let Some(names) = &self.sites else {
            return Ok(());
        };
        if names.is_empty() {
            return Err("buggify.sites is empty; omit it to allow every site".to_string());
        }
        for name in names {
            if Site::parse(name).is_none() {
                let known: Vec<&str> = Site::ALL.iter().map(|site| site.name()).collect();
                return Err(format!(
                    "buggify.sites: unknown site `{name}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    pub seed: u64,
    /// What failed, and what fixed it.
    pub found: String,
    /// When set, the run must produce exactly this trace.
    #[serde(default)]
    pub trace_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// An interaction acknowledged at `t` must be completed by the end of the run when the run
    /// lasts at least this long past both `t` and the last fault (its heal included).
    pub settle_ms: u64,
}

mod defaults {
    pub fn tick_ms() -> u64 {
        5
    }
    pub fn coverage_min_seeds() -> u64 {
        20
    }
    pub fn prober_every_ms() -> u64 {
        500
    }
    pub fn prober_max() -> u32 {
        20
    }
    pub fn prober_find_max() -> u32 {
        3
    }
    pub fn activate_per_mille() -> u32 {
        250
    }
    pub fn fire_per_mille() -> u32 {
        50
    }
    pub fn one() -> u32 {
        1
    }
    pub fn yes() -> bool {
        true
    }
    pub fn reservation_ms() -> u64 {
        3000
    }
    pub fn om_max_in_memory() -> u32 {
        1000
    }
    pub fn sync_max_age_ms() -> u64 {
        1000
    }
    pub fn sync_max_buffer() -> u32 {
        20
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency_min_ms: 1,
            latency_max_ms: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    pub agents: u32,
    /// Interaction Server pairs (or lone nodes without `backup`): `is1`, `is2`, ...; clients
    /// use pair 1.
    pub pairs: u16,
    /// Give every pair a backup `is{i}b` sharing its database, and run a `supervisor`.
    pub backup: bool,
    /// Interaction Server Proxies `proxy1`, `proxy2`, ...; each client picks one from the seed
    /// and stays with it. 0 = no proxy: clients connect to pair 1 directly.
    pub proxies: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            agents: 4,
            pairs: 1,
            backup: false,
            proxies: 0,
        }
    }
}

/// HA options: the supervisor's heartbeat, and planted HA bugs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaOptions {
    pub heartbeat_ms: u64,
    /// A member silent this long is dead to the supervisor.
    pub heartbeat_timeout_ms: u64,
    /// Plant a known bug in every pair member (harness self-test): `promote-without-fence`.
    pub planted_bug: Option<HaBugName>,
}

impl Default for HaOptions {
    fn default() -> Self {
        HaOptions {
            heartbeat_ms: 100,
            heartbeat_timeout_ms: 500,
            planted_bug: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaBugName {
    PromoteWithoutFence,
}

impl From<HaBugName> for HaBug {
    fn from(name: HaBugName) -> Self {
        match name {
            HaBugName::PromoteWithoutFence => HaBug::PromoteWithoutFence,
        }
    }
}

/// Options of one pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeOptions {
    /// Tenants the node serves; absent = every tenant.
    pub tenants: Option<Vec<u32>>,
    /// The node's `media-types` option as the proxy knows it; absent = all media.
    pub media: Option<Vec<String>>,
    /// Seats this node checks out (`ics_multi_media_agent_seat`); absent = `[is] seats`.
    pub seats: Option<u32>,
}

/// Interaction Server Proxy options [S-PX].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyOptions {
    /// The proxy's `pull-hold-timeout`, overriding the nodes' [S-PX-pull].
    pub pull_hold_timeout_ms: u64,
    /// `round-robin` (the product) or `ordered` (cluster-wide view order, [S-PX-fifo]).
    pub pull_mode: PullModeName,
    /// How long the proxy waits for a node's answer.
    pub request_timeout_ms: u64,
    /// A bug planted in every proxy, to prove the oracles catch it; `None` in every real
    /// scenario.
    pub planted_bug: Option<ProxyPlantedBug>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            pull_hold_timeout_ms: 1000,
            pull_mode: PullModeName::RoundRobin,
            request_timeout_ms: 1500,
            planted_bug: None,
        }
    }
}

/// `[proxy] planted_bug`: the proxy's planted bugs, by their kebab-case names.
pub use ixsim_core::proxy::ProxyBug as ProxyPlantedBug;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullModeName {
    RoundRobin,
    Ordered,
}

impl From<PullModeName> for PullMode {
    fn from(name: PullModeName) -> Self {
        match name {
            PullModeName::RoundRobin => PullMode::RoundRobin,
            PullModeName::Ordered => PullMode::Ordered,
        }
    }
}

/// Orchestration Server options [S-ORS].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrsOptions {
    #[serde(default = "defaults::one")]
    pub instances: u32,
    /// `mcr-pull-by-this-node` per instance (missing entries: true).
    #[serde(default)]
    pub pull_by_this_node: Vec<bool>,
    /// `mcr-pull-limit`.
    pub pull_limit: u32,
    /// `new-session-on-reroute`.
    #[serde(default)]
    pub new_session_on_reroute: bool,
    /// The release each instance runs at start ("8.1.2", "8.1.3", "8.1.4"; missing entries:
    /// "8.1.4"); `upgrade` faults change it [S-OPS-rolling].
    #[serde(default)]
    pub versions: Vec<String>,
    /// Each instance is a primary/backup pair (`ors{i}`, `ors{i}b`) under the supervisor
    /// [S-ORS-ha].
    #[serde(default)]
    pub backup: bool,
    /// Persist sessions so that a promoted backup recovers them (needs `backup`).
    #[serde(default)]
    pub persistence: bool,
    /// `backup-synch-max-age` (ms): the sync buffer is flushed at least this often.
    #[serde(default = "defaults::sync_max_age_ms")]
    pub backup_synch_max_age_ms: u64,
    /// `backup-synch-max-buffer`: ... or once it holds this many session changes.
    #[serde(default = "defaults::sync_max_buffer")]
    pub backup_synch_max_buffer: u32,
    /// Sessions one instance can run at once (unlimited when absent).
    #[serde(default)]
    pub max_sessions: Option<u32>,
    /// `mcr-queue-on-fails`: where an interaction goes when its session cannot be created.
    #[serde(default)]
    pub queue_on_fails: Option<String>,
    /// `ixnfm-idle-session-ttl` (ms): a session with no interaction ends after this long.
    #[serde(default)]
    pub idle_session_ttl_ms: Option<u64>,
    /// `om-memory-optimization`: evict passive interactions beyond `om_max_in_memory`.
    #[serde(default)]
    pub om_memory_optimization: bool,
    /// `om-max-in-memory`.
    #[serde(default = "defaults::om_max_in_memory")]
    pub om_max_in_memory: u32,
    /// `om-delete-from-memory`: evict each passive interaction at once.
    #[serde(default)]
    pub om_delete_from_memory: bool,
    /// Queue/view combinations associated with ORS, each with the strategy its new sessions run.
    pub queues: Vec<OrsQueueOptions>,
    /// Plant a known bug in every ORS (harness self-test): `detach-before-confirm`,
    /// `route-without-detach`, `no-forwarding`, `eviction-loses-interaction`,
    /// `recovery-drops-first-session` or `reused-session-ids`.
    #[serde(default)]
    pub planted_bug: Option<OrsBugName>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrsOptions {
    #[serde(default = "defaults::one")]
    pub instances: u32,
    /// `agent_reservation`: reserve the agent through IS before answering [S-URS-select].
    #[serde(default = "defaults::yes")]
    pub agent_reservation: bool,
    /// How long a reservation holds the agent.
    #[serde(default = "defaults::reservation_ms")]
    pub reservation_ms: u64,
    /// Target lists `queue:submit` names: agents by number.
    pub targets: Vec<TargetOptions>,
    /// Direct mode: routing strategies (a name and the target list it routes to), and which
    /// URS instances have each loaded (1-based; empty = all).
    #[serde(default)]
    pub strategies: Vec<UrsStrategyOptions>,
    /// A bug planted in every URS, to prove the oracles catch it; `None` in every real
    /// scenario.
    #[serde(default)]
    pub planted_bug: Option<UrsPlantedBug>,
}

/// `[urs] planted_bug`: the URS's planted bugs, by their kebab-case names.
pub use ixsim_core::urs::UrsBug as UrsPlantedBug;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrsStrategyOptions {
    pub name: String,
    pub targets: String,
    #[serde(default)]
    pub instances: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    pub name: String,
    pub agents: Vec<u32>,
}

pub use ixsim_core::ors::server::OrsBug as OrsBugName;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrsQueueOptions {
    pub queue: String,
    pub view: String,
    pub strategy: String,
}

/// The prober: `script = "error-codes"` drives every proxy error code (see
/// `ixsim_core::clients::prober::error_codes_script`); it talks to proxy 1 and to pairs 1 and 2
/// directly, and needs pair 2 down from `down_ms` (crash it in the fault plan).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProberOptions {
    pub script: ProberScript,
    /// The queue its submissions go to (keep it out of the router's way).
    pub queue: String,
    pub start_ms: u64,
    /// `error-codes`: when pair 2 is down.
    #[serde(default)]
    pub down_ms: u64,
    /// `reporting`: a snapshot every this long, until `until_ms`, asking for at most `max`.
    #[serde(default = "defaults::prober_every_ms")]
    pub every_ms: u64,
    #[serde(default)]
    pub until_ms: u64,
    #[serde(default = "defaults::prober_max")]
    pub max: u32,
    /// `reporting`: each find asks every node for at most this many VIP interactions.
    #[serde(default = "defaults::prober_find_max")]
    pub find_max: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProberScript {
    ErrorCodes,
    /// Snapshots of `queue` through the proxy during the load (`reporting_script`).
    Reporting,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseOptions {
    /// Agent seats in the pool.
    pub pool: u32,
}

/// Interaction Server options (the product's option names, in snake case, with units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsOptions {
    pub pull_hold_timeout_ms: u64,
    pub owner_grace_ms: u64,
    pub invite_timeout_ms: u64,
    pub agent_capacity: u32,
    pub seats: Option<u32>,
    /// Latency of a database write (commit) in the durable store.
    pub db_write_ms: u64,
    pub held_pulls_max: usize,
    /// `max-interactions-per-snapshot` [S-IS-snapshot].
    pub max_interactions_per_snapshot: u32,
    /// Close client connections silent this long (ADDP); clients ping when idle.
    pub client_idle_timeout_ms: u64,
    /// Plant a known bug in every node (harness self-test): one of [`PlantedBugName`]'s names,
    /// `ack-before-write` say (an unknown name is refused with the list).
    pub planted_bug: Option<PlantedBugName>,
}

/// `[is] planted_bug`: the node's planted bugs, by their kebab-case names.
pub use ixsim_core::is_node::PlantedBug as PlantedBugName;

impl Default for IsOptions {
    fn default() -> Self {
        IsOptions {
            pull_hold_timeout_ms: 1000,
            owner_grace_ms: 5000,
            invite_timeout_ms: 3000,
            agent_capacity: 1,
            seats: None,
            db_write_ms: 2,
            held_pulls_max: 256,
            max_interactions_per_snapshot: 100,
            client_idle_timeout_ms: 4000,
            planted_bug: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: u32,
    pub media: Vec<Media>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    pub name: String,
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: String,
    #[serde(default = "defaults::one")]
    pub tenant: u32,
    pub views: Vec<View>,
    /// Direct mode [S-URS-rr]: the routing strategy interactions reach in this queue; the
    /// nodes submit them to a URS that has it loaded.
    #[serde(default)]
    pub strategy: Option<String>,
}

/// A view; with `key` and `equals` it shows only interactions whose user data has that value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    pub name: String,
    pub key: Option<String>,
    pub equals: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterOptions {
    pub queue: String,
    pub view: String,
    #[serde(default = "RouterOptions::batch")]
    pub pull_batch_max: u32,
}

impl RouterOptions {
    fn batch() -> u32 {
        4
    }
}

/// The seeded workload: how many interactions, when, and of what kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub interactions: u32,
    #[serde(default)]
    pub start_ms: u64,
    /// Mean gap between submits (gaps are drawn uniformly from 0 to twice this).
    pub mean_gap_ms: u64,
    #[serde(default = "defaults::one")]
    pub tenant: u32,
    pub queue: String,
    pub media: Vec<String>,
    /// Priorities drawn uniformly from this list.
    #[serde(default = "Workload::priorities")]
    pub priorities: Vec<i32>,
    /// Share of interactions marked VIP=yes in user data, per mille.
    #[serde(default)]
    pub vip_per_mille: u32,
    /// VIP interactions are submitted to this queue instead of `queue`.
    #[serde(default)]
    pub vip_queue: Option<String>,
    /// An explicit workload (`[[workload.submits]]`), used instead of the seed's draws: what
    /// `ixsim shrink` writes, so that a regression file no longer depends on the draws.
    /// `interactions` must then be its length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub submits: Vec<ExplicitSubmit>,
}

/// One submit of an explicit workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitSubmit {
    pub at_ms: u64,
    /// Its number in the drawn workload: the interaction's id and `Subject` ("case N").
    pub case: u32,
    pub media: String,
    pub queue: String,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub vip: bool,
}

impl Workload {
    fn priorities() -> Vec<i32> {
        vec![0]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentOptions {
    pub accept_per_mille: u32,
    pub handle_ms_min: u64,
    pub handle_ms_max: u64,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            accept_per_mille: 900,
            handle_ms_min: 500,
            handle_ms_max: 3000,
        }
    }
}

/// Timeouts every client (and shell) uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientOptions {
    pub request_timeout_ms: u64,
    pub tick_ms: u64,
    pub connect_timeout_ms: u64,
    pub reconnect_backoff_ms: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout_ms: 3000,
            tick_ms: 50,
            connect_timeout_ms: 500,
            reconnect_backoff_ms: 200,
        }
    }
}

/// (name, TOML text) of every built-in scenario.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../scenarios/smoke.toml")),
    (
        "detach-race",
        include_str!("../../scenarios/detach-race.toml"),
    ),
    (
        "is-restart",
        include_str!("../../scenarios/is-restart.toml"),
    ),
    ("faults", include_str!("../../scenarios/faults.toml")),
    (
        "switchover",
        include_str!("../../scenarios/switchover.toml"),
    ),
    ("cluster", include_str!("../../scenarios/cluster.toml")),
    (
        "cluster-faults",
        include_str!("../../scenarios/cluster-faults.toml"),
    ),
    (
        "pull-order",
        include_str!("../../scenarios/pull-order.toml"),
    ),
    ("licensing", include_str!("../../scenarios/licensing.toml")),
    (
        "licensing-changes",
        include_str!("../../scenarios/licensing-changes.toml"),
    ),
    ("reporting", include_str!("../../scenarios/reporting.toml")),
    (
        "proxy-errors",
        include_str!("../../scenarios/proxy-errors.toml"),
    ),
    ("ors", include_str!("../../scenarios/ors.toml")),
    (
        "ors-failover",
        include_str!("../../scenarios/ors-failover.toml"),
    ),
    (
        "urs-direct",
        include_str!("../../scenarios/urs-direct.toml"),
    ),
    (
        "rolling-upgrade",
        include_str!("../../scenarios/rolling-upgrade.toml"),
    ),
];

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

/// Reads the text file at `path`, at most `limit` bytes of it: a longer file is an error that
/// says so, and nothing past the limit is read.
pub fn read_bounded(path: &str, limit: u64) -> Result<String, ScenarioError> {
    let bytes = read_bounded_bytes(path, limit)?;
    let fail = |problem: String| ScenarioError::Read(path.to_string(), problem);
    String::from_utf8(bytes).map_err(|error| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// The bytes of the file at `path`, at most `limit` of them: a longer file is an error that
/// says so, and nothing past the limit is read.
pub fn read_bounded_bytes(path: &str, limit: u64) -> Result<Vec<u8>, ScenarioError> {
    use std::io::Read as _;
    let fail = |problem: String| ScenarioError::Read(path.to_string(), problem);
    let file = std::fs::File::open(path).map_err(|error| fail(error.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| fail(error.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!("longer than {limit} bytes (the most read)")));
    }
    Ok(bytes)
}

pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _)| *name).collect()
}

impl Scenario {
    /// A built-in scenario by name, or a TOML file by path.
    /// The TOML text a name or path stands for (a built-in's embedded text, or the file).
    pub fn source(name_or_path: &str) -> Result<String, ScenarioError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Ok((*text).to_string());
        }
        read_bounded(name_or_path, MAX_SCENARIO_BYTES)
    }

    /// A short content hash of a scenario's text (SHA-256, 12 hex digits): bug-report tokens
    /// carry it, so a replay can tell whether it runs the same scenario.
    pub fn content_hash(text: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(text.as_bytes());
        digest
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Scenario::parse(name, text);
        }
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if !looks_like_path {
            return Err(ScenarioError::Unknown(
                name_or_path.to_string(),
                built_in_names().join(", "),
            ));
        }
        let text = read_bounded(name_or_path, MAX_SCENARIO_BYTES)?;
        Scenario::parse(name_or_path, &text)
    }

    pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| {
            ScenarioError::Parse(
                origin.to_string(),
                error.to_string().trim().replace('\n', " "),
            )
        })?;
        scenario
            .validate()
            .map_err(|problem| ScenarioError::Invalid(origin.to_string(), problem))?;
        Ok(scenario)
    }

    /// Turns the fault points on with the default rates when the scenario has no `[buggify]`
    /// section (the CLI's `--buggify`); a section the scenario has is kept as written.
    pub fn enable_buggify(&mut self) {
        if self.buggify.is_none() {
            self.buggify = Some(BuggifyOptions::default());
        }
    }

    /// Is there a supervisor (host `supervisor`): IS pairs with backups, or ORS pairs.
    pub fn has_supervisor(&self) -> bool {
        self.topology.backup || self.ors.as_ref().is_some_and(|ors| ors.backup)
    }

    /// The pairs the supervisor watches, numbered from 1 in this order: the IS pairs (with
    /// `topology.backup`), then the ORS pairs (with `ors.backup`). A `switchover` fault names
    /// one by that number.
    pub fn supervised_pairs(&self) -> Vec<[String; 2]> {
        let mut pairs = Vec::new();
        if self.topology.backup {
            pairs.extend(
                self.is_hosts()
                    .into_iter()
                    .map(|members| [members[0].clone(), members[1].clone()]),
            );
        }
        pairs.extend(
            self.ors_pairs()
                .into_iter()
                .filter(|members| members.len() == 2)
                .map(|members| [members[0].clone(), members[1].clone()]),
        );
        pairs
    }

    /// Host names of each ORS instance: `[ors{i}, ors{i}b]` with `ors.backup`, else `[ors{i}]`.
    pub fn ors_pairs(&self) -> Vec<Vec<String>> {
        let Some(ors) = &self.ors else {
            return Vec::new();
        };
        (1..=ors.instances)
            .map(|n| {
                let primary = format!("ors{n}");
                if ors.backup {
                    vec![primary.clone(), format!("{primary}b")]
                } else {
                    vec![primary]
                }
            })
            .collect()
    }

    /// Host names of each IS pair, pair 1 first: `[is{i}, is{i}b]` with backups, `[is{i}]`
    /// without.
    pub fn is_hosts(&self) -> Vec<Vec<String>> {
        (1..=self.topology.pairs)
            .map(|pair| {
                let primary = format!("is{pair}");
                if self.topology.backup {
                    vec![primary.clone(), format!("{primary}b")]
                } else {
                    vec![primary]
                }
            })
            .collect()
    }

    /// Host names of this topology, in the order hosts are registered (trace host ids): IS
    /// hosts, media, router, agents, then the supervisor (with backups).
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.is_hosts().into_iter().flatten().collect();
        hosts.push("media".to_string());
        hosts.push("router1".to_string());
        hosts.extend((1..=self.topology.agents).map(|agent| format!("agent{agent}")));
        if self.has_supervisor() {
            hosts.push("supervisor".to_string());
        }
        hosts.extend(self.proxy_hosts());
        if self.license.is_some() {
            hosts.push("license".to_string());
        }
        if self.prober.is_some() {
            hosts.push("prober".to_string());
        }
        hosts.extend(self.ors_hosts());
        hosts.extend(self.urs_hosts());
        hosts
    }

    pub fn urs_hosts(&self) -> Vec<String> {
        let instances = self.urs.as_ref().map_or(0, |urs| urs.instances);
        (1..=instances).map(|n| format!("urs{n}")).collect()
    }

    pub fn ors_hosts(&self) -> Vec<String> {
        self.ors_pairs().into_iter().flatten().collect()
    }

    fn validate_ors(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for strategy in &self.strategies {
            if !names.insert(strategy.name.as_str()) {
                return Err(format!("strategy `{}` defined twice", strategy.name));
            }
            let target_lists: Vec<String> = self
                .urs
                .iter()
                .flat_map(|urs| urs.targets.iter().map(|t| t.name.clone()))
                .collect();
            strategy.validate(&target_lists)?;
            let needs_urs = strategy
                .actions()
                .any(|action| matches!(action, Action::QueueSubmit { .. } | Action::Deliver));
            if needs_urs && self.urs.is_none() {
                return Err(format!(
                    "strategy `{}`: queue-submit and deliver need a [urs] section",
                    strategy.name
                ));
            }
            for action in strategy.actions() {
                let queue = match action {
                    Action::Redirect { queue } => queue,
                    Action::Associate { strategy: other } => {
                        if !self.strategies.iter().any(|s| &s.name == other) {
                            return Err(format!(
                                "strategy `{}` associates with unknown strategy `{other}`",
                                strategy.name
                            ));
                        }
                        continue;
                    }
                    _ => continue,
                };
                if !self.queues.iter().any(|q| &q.name == queue) {
                    return Err(format!(
                        "strategy `{}` redirects to unknown queue `{queue}`",
                        strategy.name
                    ));
                }
            }
        }
        if let Some(urs) = &self.urs {
            if !(1..=8).contains(&urs.instances) || urs.reservation_ms == 0 {
                return Err("urs.instances must be in 1..=8 and urs.reservation_ms > 0".into());
            }
            for target in &urs.targets {
                if let Some(agent) = target
                    .agents
                    .iter()
                    .find(|agent| !(1..=self.topology.agents).contains(*agent))
                {
                    return Err(format!(
                        "urs.targets `{}`: agent {agent} is not in 1..={}",
                        target.name, self.topology.agents
                    ));
                }
            }
            let direct = self.queues.iter().any(|q| q.strategy.is_some());
            if self.ors.is_none() && !direct {
                return Err(
                    "[urs] needs an [ors] section or queues with a strategy (direct mode)".into(),
                );
            }
            for strategy in &urs.strategies {
                if !urs.targets.iter().any(|t| t.name == strategy.targets) {
                    return Err(format!(
                        "urs.strategies `{}`: unknown target list `{}`",
                        strategy.name, strategy.targets
                    ));
                }
                if let Some(n) = strategy
                    .instances
                    .iter()
                    .find(|n| !(1..=urs.instances).contains(*n))
                {
                    return Err(format!(
                        "urs.strategies `{}`: no URS instance {n}",
                        strategy.name
                    ));
                }
            }
        }
        for queue in &self.queues {
            let Some(strategy) = &queue.strategy else {
                continue;
            };
            let loaded = self
                .urs
                .as_ref()
                .is_some_and(|urs| urs.strategies.iter().any(|s| &s.name == strategy));
            if !loaded {
                return Err(format!(
                    "queue `{}`: strategy `{strategy}` is not loaded by any URS ([urs] strategies)",
                    queue.name
                ));
            }
        }
        let Some(ors) = &self.ors else {
            return Ok(());
        };
        if !(1..=16).contains(&ors.instances) || ors.pull_limit == 0 {
            return Err("ors.instances must be in 1..=16 and ors.pull_limit > 0".into());
        }
        if let Some(queue) = &ors.queue_on_fails {
            if !self.queues.iter().any(|q| &q.name == queue) {
                return Err(format!("ors.queue_on_fails: unknown queue `{queue}`"));
            }
        }
        if let Some(version) = ors
            .versions
            .iter()
            .find(|version| OrsVersion::parse(version).is_none())
        {
            return Err(format!(
                "ors.versions: unknown release `{version}` (8.1.2, 8.1.3 or 8.1.4)"
            ));
        }
        if ors.persistence && !ors.backup {
            return Err("ors.persistence needs ors.backup = true".into());
        }
        if ors.backup_synch_max_age_ms == 0 || ors.backup_synch_max_buffer == 0 {
            return Err(
                "ors.backup_synch_max_age_ms and ors.backup_synch_max_buffer must be > 0".into(),
            );
        }
        if ors.max_sessions == Some(0) || ors.idle_session_ttl_ms == Some(0) {
            return Err("ors.max_sessions and ors.idle_session_ttl_ms must be > 0".into());
        }
        for queue in &ors.queues {
            let known = self.queues.iter().find(|q| q.name == queue.queue);
            if !known.is_some_and(|q| q.views.iter().any(|v| v.name == queue.view)) {
                return Err(format!(
                    "ors.queues: unknown queue/view {}/{}",
                    queue.queue, queue.view
                ));
            }
            if !self.strategies.iter().any(|s| s.name == queue.strategy) {
                return Err(format!("ors.queues: unknown strategy `{}`", queue.strategy));
            }
        }
        // Seed 000: no other routing client may process ORS queues.
        if ors.queues.iter().any(|q| q.queue == self.router.queue) {
            return Err(format!(
                "router.queue `{}` is associated with ORS; routers may not pull ORS queues",
                self.router.queue
            ));
        }
        Ok(())
    }

    pub fn proxy_hosts(&self) -> Vec<String> {
        (1..=self.topology.proxies)
            .map(|proxy| format!("proxy{proxy}"))
            .collect()
    }

    /// The options of pair `pair` (1-based).
    pub fn node_options(&self, pair: u16) -> NodeOptions {
        self.nodes
            .get(usize::from(pair).saturating_sub(1))
            .cloned()
            .unwrap_or_default()
    }

    /// The most servers one host keeps connections to (each a reconnect loop of its own): the
    /// supervisor two per pair, proxies and URS one per IS pair, the prober three, ORS its IS
    /// side and its URS, every other client one.
    fn most_server_loops(&self) -> u64 {
        let pairs = u64::from(self.topology.pairs);
        let supervisor = 2 * self.supervised_pairs().len() as u64;
        let fan_out = if self.topology.proxies > 0 || self.urs.is_some() {
            pairs
        } else {
            1
        };
        let prober = if self.prober.is_some() { 3 } else { 1 };
        let ors = if self.ors.is_some() && self.urs.is_some() {
            2
        } else {
            1
        };
        [supervisor, fan_out, prober, ors]
            .into_iter()
            .max()
            .unwrap_or(1)
    }

    /// Client connection timing the simulated network can honour. Every connect attempt takes
    /// an ephemeral port of its host, and turmoil keeps the port of an attempt that timed out
    /// (a server down or cut off) for the rest of the run: a host that could try more often
    /// than its ports allow would die of "ports exhausted" mid-run. Zero timeouts retry
    /// without time passing, which exhausts them at once.
    fn validate_client(&self) -> Result<(), String> {
        let client = &self.client;
        if client.connect_timeout_ms == 0 || client.reconnect_backoff_ms == 0 {
            return Err(
                "client.connect_timeout_ms and client.reconnect_backoff_ms must be > 0".to_string(),
            );
        }
        let period_ms = client.connect_timeout_ms + client.reconnect_backoff_ms;
        let attempts = self.duration_ms / period_ms * self.most_server_loops();
        if attempts > MAX_CONNECT_ATTEMPTS {
            return Err(format!(
                "client.connect_timeout_ms + client.reconnect_backoff_ms = {period_ms} ms lets a host try to connect up to {attempts} times in a {} ms run, more than the {MAX_CONNECT_ATTEMPTS} its simulated ports allow: make them longer or the run shorter",
                self.duration_ms
            ));
        }
        Ok(())
    }

    /// What is certainly not meant but can run: a run where nothing can happen. Printed as
    /// warnings by the CLI; the run goes ahead.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let duration = self.duration_ms;
        let mut warn = |cond: bool, text: String| {
            if cond {
                warnings.push(text);
            }
        };
        warn(
            self.tick_ms >= duration,
            format!(
                "tick_ms = {} is not shorter than the run ({duration} ms)",
                self.tick_ms
            ),
        );
        warn(
            self.network.latency_min_ms >= duration,
            format!(
                "network.latency_min_ms = {} ms: no message arrives before the end of the run ({duration} ms)",
                self.network.latency_min_ms
            ),
        );
        warn(
            self.client.tick_ms >= duration,
            format!(
                "client.tick_ms = {} ms: clients never tick before the end of the run ({duration} ms)",
                self.client.tick_ms
            ),
        );
        warn(
            self.client.connect_timeout_ms < 2 * self.network.latency_min_ms,
            format!(
                "client.connect_timeout_ms = {} ms is shorter than the quickest round trip (2 x network.latency_min_ms = {} ms): no connection is ever made",
                self.client.connect_timeout_ms,
                2 * self.network.latency_min_ms
            ),
        );
        warn(
            self.client.request_timeout_ms < 2 * self.network.latency_min_ms,
            format!(
                "client.request_timeout_ms = {} ms is shorter than the quickest round trip ({} ms): every request times out",
                self.client.request_timeout_ms,
                2 * self.network.latency_min_ms
            ),
        );
        warn(
            self.is.invite_timeout_ms < 2 * self.network.latency_max_ms,
            format!(
                "is.invite_timeout_ms = {} ms is shorter than a slow round trip (2 x network.latency_max_ms = {} ms): agents' answers to invites can come too late",
                self.is.invite_timeout_ms,
                2 * self.network.latency_max_ms
            ),
        );
        let first_submit = match self.workload.submits.iter().map(|s| s.at_ms).min() {
            Some(at_ms) => at_ms,
            None => self.workload.start_ms,
        };
        warn(
            self.workload.interactions > 0 && first_submit >= duration,
            format!(
                "the workload starts at {first_submit} ms, after the end of the run ({duration} ms): nothing is submitted"
            ),
        );
        warnings
    }

    fn validate_cluster(&self) -> Result<(), String> {
        if self.topology.proxies > 16 {
            return Err("topology.proxies must be <= 16".to_string());
        }
        if self.nodes.len() > usize::from(self.topology.pairs) {
            return Err(format!(
                "{} [[nodes]] entries but topology.pairs = {}",
                self.nodes.len(),
                self.topology.pairs
            ));
        }
        let tenants: BTreeSet<u32> = self.tenants.iter().map(|tenant| tenant.id).collect();
        for (index, node) in self.nodes.iter().enumerate() {
            for tenant in node.tenants.iter().flatten() {
                if !tenants.contains(tenant) {
                    return Err(format!("nodes[{index}]: unknown tenant {tenant}"));
                }
            }
        }
        if let Some(prober) = &self.prober {
            if self.topology.proxies == 0 || self.topology.pairs < 2 {
                return Err("prober needs topology.proxies >= 1 and topology.pairs >= 2".into());
            }
            if !self.queues.iter().any(|queue| queue.name == prober.queue) {
                return Err(format!("prober.queue: unknown queue `{}`", prober.queue));
            }
        }
        if self.proxy.request_timeout_ms == 0 {
            return Err("proxy.request_timeout_ms must be > 0".to_string());
        }
        Ok(())
    }

    fn validate_ha(&self) -> Result<(), String> {
        let pairs = self.topology.pairs;
        if !(1..=64).contains(&pairs) {
            return Err("topology.pairs must be in 1..=64".to_string());
        }
        if self.ha.heartbeat_ms == 0 || self.ha.heartbeat_timeout_ms < self.ha.heartbeat_ms {
            return Err("ha.heartbeat_ms must be > 0 and <= ha.heartbeat_timeout_ms".to_string());
        }
        let supervised = self.supervised_pairs().len() as u16;
        for fault in &self.faults {
            match fault.action {
                FaultAction::SetSeats { pair, .. }
                    if !self.topology.backup || !(1..=pairs).contains(&pair) =>
                {
                    return Err(format!(
                        "fault at {} ms: set-seats of pair {pair} needs topology.backup = true and 1 <= pair <= topology.pairs",
                        fault.at_ms
                    ));
                }
                FaultAction::Upgrade {
                    ref host,
                    ref version,
                } if !self.ors_hosts().contains(host) || OrsVersion::parse(version).is_none() => {
                    return Err(format!(
                        "fault at {} ms: upgrade needs an ORS host and a release (8.1.2, 8.1.3, 8.1.4)",
                        fault.at_ms
                    ));
                }
                FaultAction::Switchover { pair } if !(1..=supervised).contains(&pair) => {
                    return Err(format!(
                        "fault at {} ms: switchover of pair {pair}: the supervisor has {supervised} pair(s) (IS pairs with topology.backup, then ORS pairs with ors.backup)",
                        fault.at_ms
                    ));
                }
                _ => {}
            }
        }
        let random_switchover = self
            .random_faults
            .as_ref()
            .is_some_and(|random| random.kinds.contains(&RandomKind::Switchover));
        if random_switchover && supervised == 0 {
            return Err(
                "random_faults: switchover needs pairs (topology.backup or ors.backup)".to_string(),
            );
        }
        if self.ha.planted_bug.is_some() && !self.topology.backup {
            return Err("ha.planted_bug needs topology.backup = true".to_string());
        }
        Ok(())
    }

    /// Every time value at most [`MAX_TIME_MS`] and every list at most [`MAX_LIST_LEN`] long,
    /// each checked by its key's path (`client.tick_ms`, `faults[3].at_ms`), so that a new
    /// field is bounded as soon as it is written. Runs before every other check, whose
    /// arithmetic on these values then cannot overflow.
    fn check_bounds(&self) -> Result<(), String> {
        let value = serde_json::to_value(self).map_err(|error| format!("internal: {error}"))?;
        check_value_bounds(&value, "")
    }

    /// Every problem the runner could not honour, as one message naming the field.
    /// The declared marks, known and each once.
    fn validate_marks(&self) -> Result<(), String> {
        let Some(coverage) = &self.coverage else {
            return Ok(());
        };
        if coverage.min_seeds == 0 {
            return Err("coverage.min_seeds must be >= 1".to_string());
        }
        let mut seen = BTreeSet::new();
        for name in &coverage.marks {
            if Mark::from_name(name).is_none() {
                let known: Vec<&str> = Mark::ALL.iter().map(|mark| mark.name()).collect();
                return Err(format!(
                    "coverage.marks: unknown mark `{name}` (known: {})",
                    known.join(", ")
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("coverage.marks: `{name}` is listed twice"));
            }
        }
        Ok(())
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

    pub fn validate(&self) -> Result<(), String> {
        self.check_bounds()?;
        self.validate_marks()?;
        if let Some(swarm) = &self.swarm {
            swarm.validate()?;
        }
        if let Some(buggify) = &self.buggify {
            buggify.validate()?;
        }
        self.validate_cluster()?;
        self.validate_client()?;
        self.validate_ors()?;
        self.validate_run()?;
        self.workload.validate()?;
        self.agents.validate()?;
        self.client.validate()?;
        let tenant = self.validate_queues()?;
        self.validate_submits(tenant)?;
        self.validate_router()?;
        self.validate_ha()?;
        self.validate_faults()
    }

    /// The run's length, tick, latencies, liveness, prober and sizes.
    fn validate_run(&self) -> Result<(), String> {
        if let Some(liveness) = &self.liveness {
            check(
                liveness.settle_ms > 0 && liveness.settle_ms < self.duration_ms,
                "liveness.settle_ms must be in 1..duration_ms",
            )?;
        }
        check(self.duration_ms > 0, "duration_ms must be > 0")?;
        if let Some(prober) = &self.prober {
            prober.validate()?;
        }
        check(
            self.duration_ms <= 3_600_000,
            "duration_ms must be <= 3600000 (one simulated hour)",
        )?;
        check(
            (1..=1000).contains(&self.tick_ms),
            "tick_ms must be in 1..=1000",
        )?;
        check(
            self.network.latency_min_ms <= self.network.latency_max_ms,
            "network.latency_min_ms must be <= latency_max_ms",
        )?;
        check(
            u64::from(self.topology.agents) <= crate::seeds::MAX_AGENTS,
            &format!("topology.agents must be <= {}", crate::seeds::MAX_AGENTS),
        )?;
        check(
            self.is.agent_capacity >= 1,
            "is.agent_capacity must be >= 1",
        )
    }

    /// Tenants and queues, the workload's queue, VIP queue and media; the workload's tenant.
    fn validate_queues(&self) -> Result<&Tenant, String> {
        let tenant_ids: BTreeSet<u32> = self.tenants.iter().map(|tenant| tenant.id).collect();
        check(
            tenant_ids.len() == self.tenants.len(),
            "tenant ids must be unique",
        )?;
        for queue in &self.queues {
            check(
                tenant_ids.contains(&queue.tenant),
                &format!("queue `{}` names an unknown tenant", queue.name),
            )?;
            check(
                !queue.views.is_empty(),
                &format!("queue `{}` has no views", queue.name),
            )?;
            for view in &queue.views {
                check(
                    view.key.is_some() == view.equals.is_some(),
                    &format!("view `{}` needs both key and equals, or neither", view.name),
                )?;
            }
        }
        let queue = self
            .queues
            .iter()
            .find(|queue| queue.name == self.workload.queue);
        check(
            queue.is_some(),
            &format!("workload.queue `{}` is not a queue", self.workload.queue),
        )?;
        if let Some(vip_queue) = &self.workload.vip_queue {
            check(
                self.queues.iter().any(|queue| &queue.name == vip_queue),
                &format!("workload.vip_queue `{vip_queue}` is not a queue"),
            )?;
        }
        let tenant = self
            .tenants
            .iter()
            .find(|tenant| tenant.id == self.workload.tenant);
        let Some(tenant) = tenant else {
            return Err(format!(
                "workload.tenant {} is not a tenant",
                self.workload.tenant
            ));
        };
        for media in &self.workload.media {
            check(
                tenant.media.iter().any(|known| &known.name == media),
                &format!(
                    "workload media `{media}` is not a media type of tenant {}",
                    tenant.id
                ),
            )?;
        }
        Ok(tenant)
    }

    /// The router pulls a view of a queue that exists.
    fn validate_router(&self) -> Result<(), String> {
        let router_queue = self
            .queues
            .iter()
            .find(|queue| queue.name == self.router.queue);
        let Some(router_queue) = router_queue else {
            return Err(format!(
                "router.queue `{}` is not a queue",
                self.router.queue
            ));
        };
        check(
            router_queue
                .views
                .iter()
                .any(|view| view.name == self.router.view),
            &format!(
                "router.view `{}` is not a view of `{}`",
                self.router.view, router_queue.name
            ),
        )
    }

    /// Every fault names hosts of the topology and comes before the end of the run.
    fn validate_faults(&self) -> Result<(), String> {
        let hosts = self.hosts();
        // The per-host seed streams are MAX_HOSTS wide (`seeds`); today's bounds on pairs,
        // agents and instances keep a topology far below it.
        check(
            hosts.len() as u64 <= crate::seeds::MAX_HOSTS,
            &format!(
                "a topology may have at most {} hosts",
                crate::seeds::MAX_HOSTS
            ),
        )?;
        for fault in &self.faults {
            fault
                .action
                .check_hosts(&hosts)
                .map_err(|problem| format!("fault at {} ms: {problem}", fault.at_ms))?;
            check(
                fault.at_ms < self.duration_ms,
                &format!("fault at {} ms is after the end of the run", fault.at_ms),
            )?;
        }
        if let Some(random) = &self.random_faults {
            random.check(&hosts, self.duration_ms)?;
        }
        Ok(())
    }

    fn validate_submits(&self, tenant: &Tenant) -> Result<(), String> {
        let submits = &self.workload.submits;
        if submits.is_empty() {
            return Ok(());
        }
        if submits.len() != self.workload.interactions as usize {
            return Err(format!(
                "workload.interactions is {} but [[workload.submits]] lists {}",
                self.workload.interactions,
                submits.len()
            ));
        }
        let mut cases = BTreeSet::new();
        for pair in submits.windows(2) {
            if pair[1].at_ms < pair[0].at_ms {
                return Err(format!(
                    "[[workload.submits]] must be in time order: case {} at {} ms comes after case {} at {} ms",
                    pair[1].case, pair[1].at_ms, pair[0].case, pair[0].at_ms
                ));
            }
        }
        for submit in submits {
            let which = format!("workload.submits case {}", submit.case);
            if !cases.insert(submit.case) {
                return Err(format!("{which} is listed twice"));
            }
            if !tenant.media.iter().any(|known| known.name == submit.media) {
                return Err(format!(
                    "{which}: media `{}` is not a media type of tenant {}",
                    submit.media, tenant.id
                ));
            }
            if !self.queues.iter().any(|queue| queue.name == submit.queue) {
                return Err(format!("{which}: `{}` is not a queue", submit.queue));
            }
            if submit.at_ms >= self.duration_ms {
                return Err(format!("{which} at {} ms is after the run", submit.at_ms));
            }
        }
        Ok(())
    }

    pub fn tenant_configs(&self) -> Vec<TenantConfig> {
        self.tenants
            .iter()
            .map(|tenant| TenantConfig {
                id: TenantId(tenant.id),
                media: tenant
                    .media
                    .iter()
                    .map(|media| MediaConfig {
                        name: media.name.clone(),
                        enabled: media.enabled,
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn queue_configs(&self) -> Vec<QueueConfig> {
        self.queues
            .iter()
            .map(|queue| QueueConfig {
                name: queue.name.clone(),
                tenant: TenantId(queue.tenant),
                views: queue
                    .views
                    .iter()
                    .map(|view| ViewConfig {
                        name: view.name.clone(),
                        condition: match (&view.key, &view.equals) {
                            (Some(key), Some(equals)) => Some(ViewCondition {
                                key: key.clone(),
                                equals: KvValue::Str(equals.clone()),
                            }),
                            _ => None,
                        },
                    })
                    .collect(),
            })
            .collect()
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

/// An inclusive range `[low, high]` a dimension is drawn from.
pub type Span = [u64; 2];

/// Which dimensions of a scenario a swarm run may vary, and within what bounds. Every field
/// is optional: an absent one stays as the scenario has it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmOptions {
    /// Run with a random non-empty subset of `random_faults.kinds`.
    pub fault_kinds: bool,
    /// `random_faults.count`.
    pub fault_count: Option<Span>,
    /// `topology.agents`.
    pub agents: Option<Span>,
    /// `topology.pairs`.
    pub pairs: Option<Span>,
    /// `topology.proxies`.
    pub proxies: Option<Span>,
    /// `workload.interactions`.
    pub interactions: Option<Span>,
    /// `workload.mean_gap_ms`.
    pub mean_gap_ms: Option<Span>,
    /// A random non-empty subset of `workload.media`.
    pub media: bool,
    /// A random non-empty subset of `workload.priorities`.
    pub priorities: bool,
    /// `workload.vip_per_mille`.
    pub vip_per_mille: Option<Span>,
    /// `agents.accept_per_mille`.
    pub accept_per_mille: Option<Span>,
    /// `is.agent_capacity`.
    pub agent_capacity: Option<Span>,
    /// Round-robin or ordered proxy pulls.
    pub pull_mode: bool,
    /// `ors.new_session_on_reroute` on or off.
    pub new_session_on_reroute: bool,
    /// `ors.om_memory_optimization` on or off.
    pub om_memory_optimization: bool,
    /// `urs.agent_reservation` on or off.
    pub agent_reservation: bool,
}

impl SwarmOptions {
    /// The dimensions `--swarm` varies for a scenario without a `[swarm]` section: fault kinds
    /// and counts (up to twice the scenario's), fewer agents, half to one and a half times the
    /// interactions, gaps from half to twice the scenario's, media, priority and VIP mix, how
    /// often agents accept, and the options that have two documented behaviours (pull mode,
    /// ORS memory optimization, URS reservation). Topology is only shrunk, never grown, so
    /// that what the scenario names still exists.
    ///
    /// `new_session_on_reroute` is left to the scenario's `[swarm]` section: a strategy written
    /// for re-pulls to reach the session that redirected (its default, `false`) redirects again
    /// from a fresh session when it is `true`, and the interaction loops between queues for
    /// good, as it would in the product (found by this swarm: `ors` seed 273 shrinks to one
    /// interaction redirected to `triaged` by session after session).
    pub fn default_for(scenario: &Scenario) -> SwarmOptions {
        let random = scenario.random_faults.as_ref();
        let workload = &scenario.workload;
        let agents = u64::from(scenario.topology.agents);
        let interactions = u64::from(workload.interactions);
        let gap = workload.mean_gap_ms;
        let pairs = u64::from(scenario.topology.pairs);
        let proxies = u64::from(scenario.topology.proxies);
        SwarmOptions {
            fault_kinds: random.is_some_and(|r| r.kinds.len() > 1),
            fault_count: random.map(|r| [0, u64::from(r.count) * 2]),
            agents: (agents > 1).then(|| [agents.div_ceil(2), agents]),
            pairs: (pairs > 1).then_some([1, pairs]),
            proxies: (proxies > 1).then_some([1, proxies]),
            interactions: (interactions > 1)
                .then(|| [interactions.div_ceil(2), interactions * 3 / 2]),
            mean_gap_ms: (gap > 1).then(|| [gap / 2, gap * 2]),
            media: workload.media.len() > 1,
            priorities: workload.priorities.len() > 1,
            vip_per_mille: (workload.vip_per_mille > 0).then_some([0, 500]),
            accept_per_mille: Some([500, 1000]),
            agent_capacity: None,
            pull_mode: proxies > 0,
            new_session_on_reroute: false,
            om_memory_optimization: scenario.ors.is_some(),
            agent_reservation: scenario.urs.is_some(),
        }
    }
}

impl SwarmOptions {
    /// Every range written `[low, high]` with `low <= high`: an inverted one is a mistake the
    /// draws would otherwise quietly turn around.
    pub fn validate(&self) -> Result<(), String> {
        let spans = [
            ("fault_count", self.fault_count),
            ("agents", self.agents),
            ("pairs", self.pairs),
            ("proxies", self.proxies),
            ("interactions", self.interactions),
            ("mean_gap_ms", self.mean_gap_ms),
            ("vip_per_mille", self.vip_per_mille),
            ("accept_per_mille", self.accept_per_mille),
            ("agent_capacity", self.agent_capacity),
        ];
        for (name, span) in spans {
            if let Some([low, high]) = span {
                if low > high {
                    return Err(format!(
                        "swarm.{name} = [{low}, {high}] is inverted: write [low, high] with low <= high"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `Ok` when `ok`, else `problem`: one validation rule.
fn check(ok: bool, problem: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(problem.to_string())
    }
}

impl ProberOptions {
    fn validate(&self) -> Result<(), String> {
        // A step per `every_ms`: bounded by the run's length over at least 10 ms.
        check(self.every_ms >= 10, "prober.every_ms must be >= 10")?;
        check(
            (1..=10_000).contains(&self.max) && (1..=10_000).contains(&self.find_max),
            "prober.max and prober.find_max must be in 1..=10000",
        )
    }
}

impl Workload {
    fn validate(&self) -> Result<(), String> {
        check(
            self.interactions <= MAX_INTERACTIONS,
            &format!("workload.interactions must be <= {MAX_INTERACTIONS}"),
        )?;
        check(!self.media.is_empty(), "workload.media must not be empty")?;
        check(
            !self.priorities.is_empty(),
            "workload.priorities must not be empty",
        )?;
        check(
            self.vip_per_mille <= 1000,
            "workload.vip_per_mille must be <= 1000",
        )
    }
}

impl AgentOptions {
    fn validate(&self) -> Result<(), String> {
        check(
            self.accept_per_mille <= 1000,
            "agents.accept_per_mille must be <= 1000",
        )?;
        check(
            self.handle_ms_min <= self.handle_ms_max,
            "agents.handle_ms_min must be <= handle_ms_max",
        )
    }
}

impl ClientOptions {
    fn validate(&self) -> Result<(), String> {
        check(
            self.request_timeout_ms > 0,
            "client.request_timeout_ms must be > 0",
        )?;
        check(self.tick_ms > 0, "client.tick_ms must be > 0")
    }
}
