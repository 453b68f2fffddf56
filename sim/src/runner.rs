//! Runs one scenario with one seed inside turmoil and judges it.
//!
//! The runner builds one host per process (IS nodes or pair members, media server, router, agent
//! desktops, the supervisor of the pairs), hands operator commands to the supervisor, keeps
//! the durable stores across crashes, applies the fault plan between `sim.step()` calls, and at
//! the end hands the trace and final state to the oracles. Same binary + scenario + seed gives
//! the same trace, byte for byte: the sim is seeded, its epoch fixed, hosts are stepped in
//! registration order, and every machine draws only from RNGs derived from the seed.

use crate::faults;
pub use crate::hosts::RunError;
use crate::hosts::{record_fault, FaultPoints, HostSpec, Hosts};
use crate::oracles::{self, OracleInput, Violation};
use crate::scenario::{Media, Scenario};
use crate::seeds::{
    sub_seed, STREAM_AGENT, STREAM_BUGGIFY_MACHINE, STREAM_BUGGIFY_SHELL, STREAM_PROXY_CHOICE,
};
use crate::shell::{run_host, HostCtx, OperatorDesk};
use crate::trace::Trace;
use crate::workload;
use ixsim_core::clients::agent::{AgentConfig, AgentDesktop};
use ixsim_core::clients::media::{MediaServer, MediaServerConfig};
use ixsim_core::clients::prober::{self, Prober, ProberConfig};
use ixsim_core::clients::router::{Router, RouterConfig};
use ixsim_core::db::{Durable, IsDatabase, Mailbox, OrsStore};
use ixsim_core::ha::{PairConfig, PairMember, Supervisor, SupervisorConfig};
use ixsim_core::ids::{AgentId, SimTime, TenantId};
use ixsim_core::is_node::{IsConfig, IsNode};
use ixsim_core::license::{LicenseConfig, LicenseServer};
use ixsim_core::machine::Machine;
use ixsim_core::ors::server::{OrsConfig, OrsHa, OrsQueue, OrsServer, OrsVersion};
use ixsim_core::proxy::{Proxy, ProxyConfig, ProxyNode};
use ixsim_core::trace::TraceEvent;
use ixsim_core::urs::{LoadedStrategy, TargetList, UrsConfig, UrsServer};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// Counts a user reads first: did the work get done, and did anything go missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Interactions the media server got acknowledged.
    pub submitted: u64,
    /// Interactions agents took (accepted and acknowledged).
    pub delivered: u64,
    /// Interactions agents completed.
    pub completed: u64,
    /// Interactions still in a database at the end.
    pub queued: u64,
    /// Acknowledged interactions that are neither completed nor in a database.
    pub lost: u64,
    pub pulls: u64,
    pub request_errors: u64,
    pub request_timeouts: u64,
    pub faults: u64,
    /// Error answers by code number, from nodes and proxies.
    pub error_codes: BTreeMap<u16, u64>,
    /// Items pulled while an older or higher-priority one of the same view waited on another
    /// node [S-PX-fifo].
    pub pull_order_inversions: u64,
    /// Most agents logged in to the whole cluster (on every running node) at once [S-LIC].
    pub max_agents_logged_in: u64,
    /// Agents logged in to the whole cluster at the end.
    pub agents_logged_in_at_end: u64,
    /// Fault points that fired (`[buggify]`, trace events `buggify SITE`).
    pub buggify_fired: u64,
    /// Interactions submitted again after their first life was stopped: the media server's
    /// submit answer was lost and it retried the same client-supplied id once the node had
    /// forgotten it, so the item was handled twice. The product's documented hazard of
    /// client-supplied ids (seeds 002 and 004, "Duplicate Interaction IDs"), reported here.
    pub resubmitted_after_stop: u64,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub scenario: String,
    /// The trace's hash; empty when the run was asked not to hash it
    /// ([`RunOptions::trace_hash`]).
    pub trace_hash: String,
    pub sim_ms: SimTime,
    pub stats: Stats,
    pub violations: Vec<Violation>,
    /// The trace, with the coverage marks the run reached (`trace.marks`).
    pub trace: Trace,
}

fn is_config(scenario: &Scenario, node: u16) -> IsConfig {
    let options = &scenario.is;
    IsConfig {
        node,
        tenants: scenario.tenant_configs(),
        queues: scenario.queue_configs(),
        pull_hold_timeout_ms: options.pull_hold_timeout_ms,
        owner_grace_ms: options.owner_grace_ms,
        invite_timeout_ms: options.invite_timeout_ms,
        agent_capacity: options.agent_capacity,
        seats: scenario.node_options(node).seats.or(options.seats),
        license_group: scenario.license.as_ref().map(|_| format!("pair{node}")),
        held_pulls_max: options.held_pulls_max,
        max_interactions_per_snapshot: options.max_interactions_per_snapshot,
        client_idle_timeout_ms: options.client_idle_timeout_ms,
        planted_bug: options.planted_bug,
        queue_strategies: scenario
            .queues
            .iter()
            .filter_map(|q| q.strategy.clone().map(|s| (q.name.clone(), s)))
            .collect(),
    }
}

fn ctx(
    scenario: &Scenario,
    points: &FaultPoints,
    trace: &Rc<RefCell<Trace>>,
    host: u16,
    servers: Vec<Vec<String>>,
) -> HostCtx {
    HostCtx {
        host,
        trace: trace.clone(),
        listen: false,
        servers,
        durable: None,
        db_write_ms: scenario.is.db_write_ms,
        connect_timeout_ms: scenario.client.connect_timeout_ms,
        reconnect_backoff_ms: scenario.client.reconnect_backoff_ms,
        operator: None,
        buggify: points.for_host(host, STREAM_BUGGIFY_SHELL),
        budget: points.budget.clone(),
    }
}

/// The run's fault plan: the scenario's faults and the seed's random ones, in time order.
pub fn expand_plan(scenario: &Scenario, seed: u64) -> Vec<faults::Fault> {
    faults::expand(
        &scenario.faults,
        scenario.random_faults.as_ref(),
        &scenario.hosts(),
        scenario.network.latency_max_ms,
        (scenario.supervised_pairs().len() as u16).max(scenario.topology.pairs),
        seed,
    )
}

/// Trace host id of `name` (its registration order).
fn host_id(names: &[String], name: &str) -> u16 {
    let index = names.iter().position(|known| known == name);
    debug_assert!(index.is_some(), "host {name} is not in the topology");
    index.unwrap_or(0) as u16
}

/// Registers the IS hosts: a lone node per pair, or both members of each pair sharing one
/// database; returns the databases.
fn build_is_hosts(
    hosts: &mut Vec<HostSpec>,
    scenario: &Scenario,
    points: &FaultPoints,
    trace: &Rc<RefCell<Trace>>,
    names: &[String],
) -> Vec<(u16, Rc<RefCell<IsDatabase>>)> {
    let mut databases = Vec::new();
    for (index, members) in scenario.is_hosts().into_iter().enumerate() {
        let node = index as u16 + 1;
        let db = Rc::new(RefCell::new(IsDatabase::default()));
        for host in members {
            let license = match scenario.license {
                Some(_) => vec![vec!["license".to_string()]],
                None => Vec::new(),
            };
            let host_index = host_id(names, &host);
            let mut is_ctx = ctx(scenario, points, trace, host_index, license);
            let faults = points.for_host(host_index, STREAM_BUGGIFY_MACHINE);
            is_ctx.listen = true;
            is_ctx.durable = Some(db.clone());
            let cfg = is_config(scenario, node);
            if scenario.topology.backup {
                let pair_cfg = PairConfig {
                    pair: node,
                    node: cfg,
                    planted_bug: scenario.ha.planted_bug.map(Into::into),
                };
                spawn(hosts, host, is_ctx, move |_| {
                    PairMember::new(pair_cfg.clone()).with_buggify(faults.clone())
                });
            } else {
                let store = db.clone();
                spawn(hosts, host, is_ctx, move |_| {
                    IsNode::new(cfg.clone(), store.borrow().clone()).with_buggify(faults.clone())
                });
            }
        }
        databases.push((node, db));
    }
    databases
}

/// Registers the supervisor of the pairs; returns its operator desk.
fn build_supervisor(
    hosts: &mut Vec<HostSpec>,
    scenario: &Scenario,
    points: &FaultPoints,
    trace: &Rc<RefCell<Trace>>,
    names: &[String],
) -> OperatorDesk {
    let pairs = scenario.supervised_pairs();
    let servers = pairs
        .iter()
        .flat_map(|[primary, backup]| [vec![primary.clone()], vec![backup.clone()]])
        .collect();
    let cfg = SupervisorConfig {
        name: "supervisor".to_string(),
        pairs,
        heartbeat_ms: scenario.ha.heartbeat_ms,
        heartbeat_timeout_ms: scenario.ha.heartbeat_timeout_ms,
        leased: scenario
            .supervised_pairs()
            .iter()
            .map(|[primary, _]| primary.starts_with("ors"))
            .collect(),
        lease_ms: scenario.ha.heartbeat_timeout_ms,
    };
    let desk: OperatorDesk = Rc::new(RefCell::new(None));
    let mut sup_ctx = ctx(
        scenario,
        points,
        trace,
        host_id(names, "supervisor"),
        servers,
    );
    sup_ctx.operator = Some(desk.clone());
    spawn(hosts, "supervisor".to_string(), sup_ctx, move |_| {
        Supervisor::new(cfg.clone())
    });
    desk
}

/// The (tenant, media type) pairs of the scenario's tenants that `keep` keeps.
fn tenant_media(scenario: &Scenario, keep: impl Fn(&Media) -> bool) -> Vec<(TenantId, String)> {
    scenario
        .tenants
        .iter()
        .flat_map(|tenant| {
            tenant
                .media
                .iter()
                .filter(|media| keep(media))
                .map(|media| (TenantId(tenant.id), media.name.clone()))
        })
        .collect()
}

/// What a proxy knows of each node: its tenants and media types (pair 1 first).
fn proxy_nodes(scenario: &Scenario) -> Vec<ProxyNode> {
    let all_tenants: Vec<TenantId> = scenario.tenants.iter().map(|t| TenantId(t.id)).collect();
    (1..=scenario.topology.pairs)
        .map(|pair| {
            let options = scenario.node_options(pair);
            ProxyNode {
                tenants: options
                    .tenants
                    .map(|list| list.into_iter().map(TenantId).collect())
                    .unwrap_or_else(|| all_tenants.clone()),
                media: options.media,
            }
        })
        .collect()
}

/// Registers the proxies, each connected to every pair (both addresses).
fn build_proxies(
    hosts: &mut Vec<HostSpec>,
    scenario: &Scenario,
    points: &FaultPoints,
    trace: &Rc<RefCell<Trace>>,
    names: &[String],
) {
    let nodes = proxy_nodes(scenario);
    for name in scenario.proxy_hosts() {
        let cfg = ProxyConfig {
            name: name.clone(),
            nodes: nodes.clone(),
            tenants: scenario.tenant_configs(),
            pull_hold_timeout_ms: scenario.proxy.pull_hold_timeout_ms,
            pull_mode: scenario.proxy.pull_mode.into(),
            request_timeout_ms: scenario.proxy.request_timeout_ms,
            client_idle_timeout_ms: scenario.is.client_idle_timeout_ms,
            tick_ms: scenario.client.tick_ms,
            planted_bug: scenario.proxy.planted_bug,
        };
        let host_index = host_id(names, &name);
        let mut proxy_ctx = ctx(scenario, points, trace, host_index, scenario.is_hosts());
        proxy_ctx.listen = true;
        let faults = points.for_host(host_index, STREAM_BUGGIFY_MACHINE);
        spawn(hosts, name, proxy_ctx, move |_| {
            Proxy::new(cfg.clone()).with_buggify(faults.clone())
        });
    }
}

/// Adds host `name`, whose machine `make` builds at every (re)start.
fn spawn<M: Machine + 'static>(
    hosts: &mut Vec<HostSpec>,
    name: String,
    ctx: HostCtx,
    make: impl Fn(u32) -> M + 'static,
) {
    hosts.push(HostSpec {
        name,
        ctx,
        make: Box::new(move |incarnation| Box::new(make(incarnation))),
    });
}

/// Registers the hosts with turmoil in their order (the trace's host ids): the one place a
/// host's restarts are counted.
fn register(sim: &mut turmoil::Sim<'_>, hosts: Vec<HostSpec>) {
    for HostSpec { name, ctx, make } in hosts {
        let incarnations = Rc::new(Cell::new(0u32));
        sim.host(name, move || {
            incarnations.set(incarnations.get() + 1);
            run_host(ctx.clone(), make(incarnations.get()))
        });
    }
}

/// What every host builder needs: the scenario, the seed, the fault points, the shared trace
/// and the host names (trace host ids).
struct Build<'a> {
    scenario: &'a Scenario,
    seed: u64,
    points: &'a FaultPoints,
    trace: &'a Rc<RefCell<Trace>>,
    names: &'a [String],
}

impl Build<'_> {
    fn host_id(&self, name: &str) -> u16 {
        host_id(self.names, name)
    }

    fn ctx(&self, name: &str, servers: Vec<Vec<String>>) -> HostCtx {
        ctx(
            self.scenario,
            self.points,
            self.trace,
            self.host_id(name),
            servers,
        )
    }

    /// The servers a client host connects to: one proxy, drawn from the seed; without proxies,
    /// pair 1 (both addresses).
    fn client_servers(&self, host: &str) -> Vec<Vec<String>> {
        let proxies = self.scenario.proxy_hosts();
        if proxies.is_empty() {
            return self.scenario.is_hosts().into_iter().take(1).collect();
        }
        let draw = sub_seed(
            self.seed,
            STREAM_PROXY_CHOICE + u64::from(self.host_id(host)),
        );
        vec![vec![proxies[(draw % proxies.len() as u64) as usize].clone()]]
    }
}

/// Every host of the scenario, in trace host id order, and what the run keeps of them.
fn build_hosts(scenario: &Scenario, seed: u64, points: &FaultPoints) -> (Hosts, Vec<HostSpec>) {
    let mut specs = Vec::new();
    let hosts = &mut specs;
    let versions = faults::Versions::default();
    let mut names = scenario.hosts();
    names.push("runner".to_string());
    let trace = Rc::new(RefCell::new(Trace::new(names.clone())));
    let build = Build {
        scenario,
        seed,
        points,
        trace: &trace,
        names: &names,
    };
    let databases = build_is_hosts(hosts, scenario, points, &trace, &names);
    build_media(hosts, &build);
    build_router(hosts, &build);
    build_agents(hosts, &build);
    let operator = scenario
        .has_supervisor()
        .then(|| build_supervisor(hosts, scenario, points, &trace, &names));
    build_proxies(hosts, scenario, points, &trace, &names);
    build_prober(hosts, &build);
    build_ors(hosts, &build, &versions);
    build_urs(hosts, &build);
    build_license(hosts, &build);
    let hosts = Hosts {
        versions,
        trace,
        databases,
        operator,
    };
    (hosts, specs)
}

/// The media server: the seed's workload, and a mailbox that survives its crashes.
fn build_media(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let (scenario, client) = (build.scenario, &build.scenario.client);
    let media_cfg = MediaServerConfig {
        name: "media".to_string(),
        submits: workload::draw(scenario, build.seed),
        request_timeout_ms: client.request_timeout_ms,
        tick_ms: client.tick_ms,
    };
    let mailbox = Rc::new(RefCell::new(Mailbox::default()));
    let mut media_ctx = build.ctx("media", build.client_servers("media"));
    media_ctx.durable = Some(mailbox.clone());
    spawn(hosts, "media".to_string(), media_ctx, move |incarnation| {
        let mut cfg = media_cfg.clone();
        cfg.name = format!("media.{incarnation}");
        MediaServer::new(cfg, mailbox.borrow().clone())
    });
}

fn build_router(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let (scenario, client) = (build.scenario, &build.scenario.client);
    let router_cfg = RouterConfig {
        name: "router1".to_string(),
        tenant: TenantId(scenario.workload.tenant),
        queue: scenario.router.queue.clone(),
        view: scenario.router.view.clone(),
        pull_batch_max: scenario.router.pull_batch_max,
        pull_hold_timeout_ms: scenario.is.pull_hold_timeout_ms,
        request_timeout_ms: client.request_timeout_ms,
        delivery_timeout_ms: scenario.is.invite_timeout_ms + client.request_timeout_ms,
        tick_ms: client.tick_ms,
    };
    let router_ctx = build.ctx("router1", build.client_servers("router1"));
    spawn(
        hosts,
        "router1".to_string(),
        router_ctx,
        move |incarnation| {
            let mut cfg = router_cfg.clone();
            cfg.name = format!("router1.{incarnation}");
            Router::new(cfg)
        },
    );
}

/// The agent desktops; each incarnation draws from its own stream of the agent's seed.
fn build_agents(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let (scenario, client) = (build.scenario, &build.scenario.client);
    for index in 1..=scenario.topology.agents {
        let agent_cfg = AgentConfig {
            agent: AgentId(index),
            tenant: TenantId(scenario.workload.tenant),
            media: scenario.workload.media.clone(),
            accept_per_mille: scenario.agents.accept_per_mille,
            handle_ms_min: scenario.agents.handle_ms_min,
            handle_ms_max: scenario.agents.handle_ms_max,
            request_timeout_ms: client.request_timeout_ms,
            tick_ms: client.tick_ms,
        };
        let name = format!("agent{index}");
        let agent_ctx = build.ctx(&name, build.client_servers(&name));
        let faults = build
            .points
            .for_host(build.host_id(&name), STREAM_BUGGIFY_MACHINE);
        let agent_seed = sub_seed(build.seed, STREAM_AGENT + u64::from(index));
        spawn(hosts, name, agent_ctx, move |incarnation| {
            AgentDesktop::new(
                agent_cfg.clone(),
                sub_seed(agent_seed, u64::from(incarnation)),
                incarnation,
            )
            .with_buggify(faults.clone())
        });
    }
}

/// The scripted prober, when the scenario has one: it talks to proxy 1 and pair 1.
fn build_prober(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let scenario = build.scenario;
    let Some(options) = &scenario.prober else {
        return;
    };
    let mut servers = vec![vec!["proxy1".to_string()]];
    servers.extend(scenario.is_hosts().into_iter().take(2));
    let prober_ctx = build.ctx("prober", servers);
    let cfg = ProberConfig {
        name: "prober".to_string(),
        steps: match options.script {
            crate::scenario::ProberScript::ErrorCodes => {
                prober::error_codes_script(&options.queue, options.start_ms, options.down_ms)
            }
            crate::scenario::ProberScript::Reporting => prober::reporting_script(
                &options.queue,
                (
                    options.start_ms,
                    options.every_ms,
                    options.until_ms.min(scenario.duration_ms),
                ),
                options.max,
                options.find_max,
            ),
        },
        tick_ms: scenario.client.tick_ms,
    };
    spawn(hosts, "prober".to_string(), prober_ctx, move |_| {
        Prober::new(cfg.clone())
    });
}

/// The ORS instances, pair by pair, each pair with one persistence store kept across crashes
/// [S-ORS-ha]; a restarted instance runs the version installed on its host by then.
fn build_ors(hosts: &mut Vec<HostSpec>, build: &Build<'_>, versions: &faults::Versions) {
    let Some(ors) = &build.scenario.ors else {
        return;
    };
    for (index, members) in build.scenario.ors_pairs().into_iter().enumerate() {
        let store: Rc<RefCell<dyn Durable>> = Rc::new(RefCell::new(OrsStore::default()));
        for name in members {
            let cfg = ors_config(build.scenario, ors, index, &name);
            let mut servers = build.client_servers(&name);
            // Server 1: the URS hosts, starting with a different one per instance so that
            // load spreads; the shell moves to the next when one is gone.
            let mut urs = build.scenario.urs_hosts();
            if !urs.is_empty() {
                let count = urs.len();
                urs.rotate_left(index % count);
                servers.push(urs);
            }
            let mut ors_ctx = build.ctx(&name, servers);
            if ors.backup {
                // The supervisor connects to pair members.
                ors_ctx.listen = true;
                if ors.persistence {
                    ors_ctx.durable = Some(store.clone());
                }
            }
            let installed = versions.clone();
            let host = name.clone();
            let faults = build
                .points
                .for_host(build.host_id(&name), STREAM_BUGGIFY_MACHINE);
            spawn(hosts, name, ors_ctx, move |incarnation| {
                let mut cfg = cfg.clone();
                cfg.name = format!("{}.{incarnation}", cfg.name);
                if let Some(version) = installed
                    .borrow()
                    .get(&host)
                    .and_then(|v| OrsVersion::parse(v))
                {
                    cfg.version = version;
                }
                OrsServer::new(cfg).with_buggify(faults.clone())
            });
        }
    }
}

/// The configuration of ORS instance `name`, member of pair `index`.
fn ors_config(
    scenario: &Scenario,
    ors: &crate::scenario::OrsOptions,
    index: usize,
    name: &str,
) -> OrsConfig {
    let client = &scenario.client;
    let queues = ors
        .queues
        .iter()
        .map(|q| OrsQueue {
            queue: q.queue.clone(),
            view: q.view.clone(),
            strategy: scenario
                .strategies
                .iter()
                .position(|s| s.name == q.strategy)
                .unwrap_or(0),
        })
        .collect();
    OrsConfig {
        name: name.to_string(),
        tenant: TenantId(scenario.workload.tenant),
        queues,
        strategies: scenario.strategies.clone(),
        pull_by_this_node: ors.pull_by_this_node.get(index).copied().unwrap_or(true),
        pull_limit: ors.pull_limit,
        new_session_on_reroute: ors.new_session_on_reroute,
        pull_hold_timeout_ms: scenario.is.pull_hold_timeout_ms,
        request_timeout_ms: client.request_timeout_ms,
        delivery_timeout_ms: scenario.is.invite_timeout_ms + client.request_timeout_ms,
        version: ors
            .versions
            .get(index)
            .and_then(|v| OrsVersion::parse(v))
            .unwrap_or(OrsVersion::V814),
        ha: ors.backup.then_some(OrsHa {
            persistence: ors.persistence,
            sync_max_age_ms: ors.backup_synch_max_age_ms,
            sync_max_buffer: ors.backup_synch_max_buffer,
        }),
        max_sessions: ors.max_sessions,
        queue_on_fails: ors.queue_on_fails.clone(),
        idle_session_ttl_ms: ors.idle_session_ttl_ms,
        om_memory_optimization: ors.om_memory_optimization,
        om_max_in_memory: ors.om_max_in_memory,
        om_delete_from_memory: ors.om_delete_from_memory,
        tick_ms: client.tick_ms,
        planted_bug: ors.planted_bug,
    }
}

/// The URS instances: each loads the strategies meant for it and connects to every node.
fn build_urs(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let scenario = build.scenario;
    let Some(urs) = &scenario.urs else {
        return;
    };
    let targets: Vec<TargetList> = urs
        .targets
        .iter()
        .map(|target| TargetList {
            name: target.name.clone(),
            agents: target.agents.iter().map(|agent| AgentId(*agent)).collect(),
        })
        .collect();
    for (index, name) in scenario.urs_hosts().into_iter().enumerate() {
        let instance = index as u32 + 1;
        let strategies = urs
            .strategies
            .iter()
            .filter(|s| s.instances.is_empty() || s.instances.contains(&instance))
            .map(|s| LoadedStrategy {
                name: s.name.clone(),
                targets: s.targets.clone(),
            })
            .collect();
        let cfg = UrsConfig {
            strategies,
            name: name.clone(),
            tenant: TenantId(scenario.workload.tenant),
            nodes: scenario.is_hosts().len() as u16,
            targets: targets.clone(),
            agent_reservation: urs.agent_reservation,
            reservation_ms: urs.reservation_ms,
            request_timeout_ms: scenario.client.request_timeout_ms,
            tick_ms: scenario.client.tick_ms,
            planted_bug: urs.planted_bug,
        };
        let mut urs_ctx = build.ctx(&name, scenario.is_hosts());
        urs_ctx.listen = true;
        spawn(hosts, name, urs_ctx, move |incarnation| {
            let mut cfg = cfg.clone();
            cfg.name = format!("{}.{incarnation}", cfg.name);
            UrsServer::new(cfg)
        });
    }
}

fn build_license(hosts: &mut Vec<HostSpec>, build: &Build<'_>) {
    let Some(license) = &build.scenario.license else {
        return;
    };
    let mut license_ctx = build.ctx("license", Vec::new());
    license_ctx.listen = true;
    let cfg = LicenseConfig { pool: license.pool };
    spawn(hosts, "license".to_string(), license_ctx, move |_| {
        LicenseServer::new(cfg.clone())
    });
}

/// The turmoil configuration of a run: seeded, fixed epoch, the scenario's tick and latencies.
fn builder(scenario: &Scenario, seed: u64) -> turmoil::Builder {
    // A fixed epoch (2026-01-01T00:00:00Z), never the wall clock (determinism rule 1).
    #[allow(clippy::disallowed_types)]
    let epoch = std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let mut builder = turmoil::Builder::new();
    builder
        .epoch(epoch)
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(scenario.tick_ms))
        .min_message_latency(Duration::from_millis(scenario.network.latency_min_ms))
        .max_message_latency(Duration::from_millis(scenario.network.latency_max_ms))
        .simulation_duration(Duration::from_millis(scenario.duration_ms + 3_600_000))
        .tcp_capacity(1 << 16);
    builder
}

fn stats(trace: &Trace, databases: &[(u16, IsDatabase)], lost: usize) -> Stats {
    let mut stats = Stats::default();
    let mut acked = BTreeSet::new();
    let mut completed = BTreeSet::new();
    let mut stopped = BTreeSet::new();
    for entry in &trace.entries {
        match &entry.event {
            TraceEvent::SubmitAcked { ixn } => {
                acked.insert(*ixn);
            }
            TraceEvent::AgentTook { .. } => stats.delivered += 1,
            TraceEvent::AgentCompleted { ixn, .. } => {
                completed.insert(*ixn);
            }
            TraceEvent::Pulled { .. } => stats.pulls += 1,
            TraceEvent::RequestFailed { code, .. } => {
                stats.request_errors += 1;
                *stats.error_codes.entry(code.number()).or_default() += 1;
            }
            TraceEvent::RequestTimedOut { .. } => stats.request_timeouts += 1,
            TraceEvent::Fault { .. } => stats.faults += 1,
            TraceEvent::Buggify { .. } => stats.buggify_fired += 1,
            TraceEvent::Stopped { ixn } => {
                stopped.insert(*ixn);
            }
            TraceEvent::Submitted { ixn, .. } if stopped.remove(ixn) => {
                stats.resubmitted_after_stop += 1;
            }
            _ => {}
        }
    }
    stats.submitted = acked.len() as u64;
    stats.completed = completed.len() as u64;
    stats.queued = databases
        .iter()
        .map(|(_, db)| db.interactions.len() as u64)
        .sum();
    stats.lost = lost as u64;
    (stats.max_agents_logged_in, stats.agents_logged_in_at_end) = cluster_logins(trace);
    stats
}

/// The most agents logged in on every running node at once: an agent counts for the cluster
/// only where all nodes have it (the proxy logs agents in on all nodes, and a refusal anywhere
/// revokes the rest) [S-LIC-checkout]. A node's logins end when its process dies, steps down or
/// restarts.
fn cluster_logins(trace: &Trace) -> (u64, u64) {
    let mut node_of_host: BTreeMap<u16, u16> = BTreeMap::new();
    // Node -> (host serving it, agents logged in there).
    let mut nodes: BTreeMap<u16, (u16, BTreeSet<AgentId>)> = BTreeMap::new();
    let (mut max, mut last) = (0, 0);
    for entry in &trace.entries {
        let node = node_of_host.get(&entry.host).copied();
        match &entry.event {
            TraceEvent::NodeStarted { node, .. } => {
                node_of_host.insert(entry.host, *node);
                nodes.insert(*node, (entry.host, BTreeSet::new()));
            }
            TraceEvent::AgentLoggedIn { agent } => {
                if let Some((_, agents)) = node.and_then(|node| nodes.get_mut(&node)) {
                    agents.insert(*agent);
                }
            }
            TraceEvent::AgentLoggedOut { agent } => {
                if let Some((_, agents)) = node.and_then(|node| nodes.get_mut(&node)) {
                    agents.remove(agent);
                }
            }
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                if let Some(node) = node {
                    if nodes
                        .get(&node)
                        .is_some_and(|(host, _)| *host == entry.host)
                    {
                        nodes.remove(&node);
                    }
                }
            }
            _ => continue,
        }
        let mut sets = nodes.values().map(|(_, agents)| agents);
        if let Some(first) = sets.next() {
            let common = sets.fold(first.clone(), |acc, set| &acc & set);
            last = common.len() as u64;
            max = max.max(last);
        }
    }
    (max, last)
}

/// Which simulator runs a scenario's hosts: the direct event-driven runner ([`crate::direct`])
/// or turmoil, the reference. Both drive the same machines through the same host driver
/// ([`crate::host`]) and judge the trace with the same oracles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    Direct,
    Turmoil,
}

impl Runner {
    pub const ALL: [Runner; 2] = [Runner::Direct, Runner::Turmoil];

    pub fn name(self) -> &'static str {
        match self {
            Runner::Direct => "direct",
            Runner::Turmoil => "turmoil",
        }
    }
}

impl std::fmt::Display for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Runner {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Runner::ALL
            .into_iter()
            .find(|runner| runner.name() == text)
            .ok_or_else(|| format!("unknown runner `{text}` (direct or turmoil)"))
    }
}

/// Runs `scenario` with `seed` on turmoil, the reference runner, and checks the oracles.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Outcome, RunError> {
    run_on(Runner::Turmoil, scenario, seed)
}

/// Runs `scenario` with `seed` on `runner` and checks the oracles.
pub fn run_on(runner: Runner, scenario: &Scenario, seed: u64) -> Result<Outcome, RunError> {
    run_with(runner, scenario, seed, RunOptions::default())
}

/// What a run does besides running: both on by default.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The direct runner skips the polls a machine says would do nothing
    /// ([`crate::host::HostDriver::skipping_idle_ticks`]): the same trace, fewer inputs. Off
    /// to show that it changes nothing (`tests/idle_polls.rs` runs both ways and compares
    /// their trace hashes); turmoil fires every poll either way.
    pub skip_idle_polls: bool,
    /// Hash the trace ([`Outcome::trace_hash`]). A sweep that keeps no hash table and checks
    /// no determinism, and the `scenario` fuzz target, do without: hashing is a tenth of a
    /// short run on the direct runner. Off, `trace_hash` is empty (`outcome.trace.hash()`
    /// computes it when wanted).
    pub trace_hash: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            skip_idle_polls: true,
            trace_hash: true,
        }
    }
}

/// [`run_on`], with [`RunOptions`].
pub fn run_with(
    runner: Runner,
    scenario: &Scenario,
    seed: u64,
    options: RunOptions,
) -> Result<Outcome, RunError> {
    let faults = expand_plan(scenario, seed);
    let points = FaultPoints::new(scenario, seed, &faults);
    let (hosts, specs) = build_hosts(scenario, seed, &points);
    let end_ms = match runner {
        Runner::Turmoil => {
            let mut sim = builder(scenario, seed).build();
            register(&mut sim, specs);
            drive(&mut sim, scenario, &faults, &hosts, &points)?;
            sim.elapsed().as_millis() as SimTime
        }
        Runner::Direct => {
            let skip = options.skip_idle_polls;
            crate::direct::drive(scenario, seed, specs, &faults, &hosts, &points, skip)?
        }
    };
    judge(scenario, seed, &faults, &hosts, end_ms, options.trace_hash)
}

/// The oracles' verdict on a finished run, and its stats.
fn judge(
    scenario: &Scenario,
    seed: u64,
    faults: &[faults::Fault],
    hosts: &Hosts,
    end_ms: SimTime,
    hash: bool,
) -> Result<Outcome, RunError> {
    let trace = std::mem::take(&mut *hosts.trace.borrow_mut());
    let databases: Vec<(u16, IsDatabase)> = hosts
        .databases
        .iter()
        .map(|(host, db)| (*host, db.borrow().clone()))
        .collect();
    let views: BTreeMap<_, _> = scenario
        .queue_configs()
        .into_iter()
        .map(|queue| (queue.name, queue.views))
        .collect();
    let input = OracleInput {
        trace: &trace,
        databases: databases.iter().map(|(host, db)| (*host, db)).collect(),
        views,
        end_ms,
        // A plan that leaves something broken (a shrunk plan that lost a heal) asks nothing of
        // liveness: only a healed cluster must converge.
        settle_ms: scenario
            .liveness
            .as_ref()
            .filter(|_| faults::unhealed(faults, scenario.network.latency_max_ms).is_empty())
            .map(|l| l.settle_ms),
        agent_capacity: scenario.is.agent_capacity,
        pull_hold_timeout_ms: scenario.is.pull_hold_timeout_ms,
        owner_grace_ms: scenario.is.owner_grace_ms,
        urs_hosts: scenario.urs_hosts(),
        tick_ms: scenario.tick_ms,
        proxies: proxy_rules(scenario, &trace),
        snapshots: oracles::SnapshotRules {
            per_node: scenario.is.max_interactions_per_snapshot,
            nodes: scenario.topology.pairs,
            node_tenants: proxy_nodes(scenario)
                .into_iter()
                .map(|node| node.tenants)
                .collect(),
        },
        seats: oracles::SeatRules {
            pool: scenario.license.as_ref().map(|license| license.pool),
        },
        ors: scenario.ors.as_ref().map(|ors| ors_rules(scenario, ors)),
    };
    let violations = oracles::check_all(&input);
    let lost = violations
        .iter()
        .filter(|v| v.oracle == oracles::LOST)
        .count();
    Ok(Outcome {
        seed,
        scenario: scenario.name.clone(),
        trace_hash: if hash { trace.hash() } else { String::new() },
        sim_ms: end_ms,
        stats: Stats {
            pull_order_inversions: crate::pull_order::inversions(&trace, &input.views),
            ..stats(&trace, &databases, lost)
        },
        violations,
        trace,
    })
}

/// Steps the sim to the scenario's end, applying each fault of the plan when its time comes;
/// a broken budget or a panicked host task ends the run early with its error.
fn drive(
    sim: &mut turmoil::Sim<'_>,
    scenario: &Scenario,
    faults: &[faults::Fault],
    hosts: &Hosts,
    points: &FaultPoints,
) -> Result<(), RunError> {
    let mut next_fault = 0;
    let duration = Duration::from_millis(scenario.duration_ms);
    while sim.elapsed() < duration {
        let now = sim.elapsed().as_millis() as SimTime;
        while let Some(fault) = faults.get(next_fault).filter(|fault| fault.at_ms <= now) {
            let what = faults::apply(sim, &fault.action, hosts.operator.as_ref(), &hosts.versions);
            record_fault(
                &mut hosts.trace.borrow_mut(),
                scenario,
                now,
                &fault.action,
                what,
            );
            next_fault += 1;
        }
        sim.step().map_err(|error| match points.budget.exceeded() {
            Some(problem) => RunError::Budget(problem),
            None => RunError::Host(error.to_string()),
        })?;
        if let Some(panic) = points.budget.panicked() {
            return Err(RunError::Host(panic));
        }
    }
    Ok(())
}

/// What the proxy oracles need to know of the scenario.
fn proxy_rules(scenario: &Scenario, trace: &Trace) -> oracles::ProxyRules {
    let (node_tenants, node_media) = proxy_nodes(scenario)
        .into_iter()
        .map(|node| (node.tenants, node.media))
        .unzip();
    oracles::ProxyRules {
        hosts: scenario
            .proxy_hosts()
            .iter()
            .filter_map(|name| trace.hosts.iter().position(|host| host == name))
            .map(|index| index as u16)
            .collect(),
        nodes: scenario.topology.pairs,
        node_tenants,
        node_media,
        disabled_media: tenant_media(scenario, |media| !media.enabled),
        tenant_media: tenant_media(scenario, |_| true),
        window_ms: scenario.proxy.request_timeout_ms + scenario.client.tick_ms,
        request_timeout_ms: scenario.proxy.request_timeout_ms,
        malformed: scenario.prober.is_some(),
    }
}

/// What the ORS pull oracles need to know of the scenario.
fn ors_rules(scenario: &Scenario, ors: &crate::scenario::OrsOptions) -> oracles::OrsPullRules {
    oracles::OrsPullRules {
        hosts: scenario
            .ors_pairs()
            .into_iter()
            .enumerate()
            .flat_map(|(index, members)| {
                let pulls = ors.pull_by_this_node.get(index).copied().unwrap_or(true);
                members.into_iter().map(move |host| (host, pulls))
            })
            .collect(),
        pairs: scenario
            .ors_pairs()
            .into_iter()
            .enumerate()
            .flat_map(|(index, members)| members.into_iter().map(move |host| (host, index)))
            .collect(),
        queues: ors
            .queues
            .iter()
            .map(|q| (q.queue.clone(), q.view.clone()))
            .collect(),
        pull_limit: ors.pull_limit,
        queue_on_fails: ors.queue_on_fails.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both runners run the same hosts to the end and the oracles pass them: work is
    /// submitted and completed, and nothing acknowledged is lost.
    #[test]
    fn smoke_runs_clean_on_both_runners() {
        let scenario = Scenario::load("smoke").expect("built in");
        for runner in Runner::ALL {
            for seed in 0..3 {
                let outcome = run_on(runner, &scenario, seed).expect("run completes");
                assert!(
                    outcome.violations.is_empty(),
                    "{runner} seed {seed}: {:?}",
                    outcome.violations
                );
                assert!(
                    outcome.stats.completed > 0,
                    "{runner} seed {seed}: {:?}",
                    outcome.stats
                );
                assert_eq!(outcome.stats.lost, 0);
                assert_eq!(outcome.sim_ms, scenario.duration_ms);
            }
        }
    }
}
