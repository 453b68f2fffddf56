//! What runs where: `[topology]` (IS pairs, backups, proxies, agents) and `[[nodes]]`, the host
//! names a topology has, tenants, media, queues and views (and their IS configurations), the
//! router, and the `[ors]` and `[urs]` sections (instances, queues, targets, strategies).

use super::defaults;
use super::Scenario;
use ixsim_core::ids::TenantId;
use ixsim_core::is_node::{MediaConfig, QueueConfig, TenantConfig, ViewCondition, ViewConfig};
use ixsim_core::kv::KvValue;
use serde::{Deserialize, Serialize};

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

impl Scenario {
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
