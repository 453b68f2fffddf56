//! The run-wide sections of a scenario and their defaults: `[network]`, `[is]`, `[ha]`,
//! `[proxy]`, `[license]`, `[prober]`, `[workload]` (and its explicit submits), `[agents]`,
//! `[client]`, `[buggify]`, `[coverage]`, `[regression]`, `[liveness]` and `[swarm]`.
//! Their `validate()` rules are in `validation`.

use super::defaults;
use super::Scenario;
use ixsim_core::buggify::Site;
use ixsim_core::ha::HaBug;
use ixsim_core::proxy::PullMode;
use serde::{Deserialize, Serialize};

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseOptions {
    /// Agent seats in the pool.
    pub pool: u32,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    pub seed: u64,
    /// What failed, and what fixed it.
    pub found: String,
    /// When set, the run on the turmoil runner (the reference) must produce exactly this trace.
    #[serde(default)]
    pub trace_hash: Option<String>,
    /// When set, the run on the direct runner must produce exactly this trace: pin it when the
    /// bug was found there, so the file keeps reaching the race it reproduced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_trace_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// An interaction acknowledged at `t` must be completed by the end of the run when the run
    /// lasts at least this long past both `t` and the last fault (its heal included).
    pub settle_ms: u64,
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
