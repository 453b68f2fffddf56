//! [`Scenario::validate`]: every problem the runner could not honour, as one message naming
//! the field, checked in a fixed order (bounds, marks, swarm, buggify, cluster, connect timing,
//! routing, run, workload, agents, client timeouts, queues, submits, router, HA, faults): the
//! per-section validators, and each options struct's `validate()`. The routing sections'
//! checks are in `routing_validation`.

use super::bounds::{MAX_CONNECT_ATTEMPTS, MAX_INTERACTIONS};
use super::{
    AgentOptions, BuggifyOptions, ClientOptions, ProberOptions, Scenario, SwarmOptions, Tenant,
    Workload,
};
use crate::faults::plan::{FaultAction, RandomKind};
use ixsim_core::buggify::Site;
use ixsim_core::marks::Mark;
use ixsim_core::ors::server::OrsVersion;
use std::collections::BTreeSet;

impl Scenario {
    /// Every problem the runner could not honour, as one message naming the field.
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
        self.validate_routing()?;
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
}

impl BuggifyOptions {
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
