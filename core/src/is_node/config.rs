//! A node's static configuration (the product's configuration layer: tenants, media types,
//! queues and their views, timeouts, seats) and the bugs a scenario can plant in it.

use crate::ids::TenantId;
use crate::kv::{KvList, KvValue};
use std::collections::BTreeMap;

/// A view's filter: interactions whose user data has `key` equal to `equals`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ViewCondition {
    pub key: String,
    pub equals: KvValue,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ViewConfig {
    pub name: String,
    pub condition: Option<ViewCondition>,
}

impl ViewConfig {
    pub fn matches(&self, user_data: &KvList) -> bool {
        match &self.condition {
            None => true,
            Some(condition) => user_data.get(&condition.key) == Some(&condition.equals),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueueConfig {
    pub name: String,
    pub tenant: TenantId,
    pub views: Vec<ViewConfig>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MediaConfig {
    pub name: String,
    pub enabled: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TenantConfig {
    pub id: TenantId,
    pub media: Vec<MediaConfig>,
}

/// Static configuration of a node (the product's configuration layer).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IsConfig {
    /// Node index: the top bits of generated interaction ids.
    pub node: u16,
    pub tenants: Vec<TenantConfig>,
    pub queues: Vec<QueueConfig>,
    pub pull_hold_timeout_ms: u64,
    pub owner_grace_ms: u64,
    pub invite_timeout_ms: u64,
    /// Interactions an agent may hold at once (invited or accepted).
    pub agent_capacity: u32,
    /// Seats this node is configured to check out (`ics_multi_media_agent_seat`); `None` =
    /// unlimited.
    pub seats: Option<u32>,
    /// The license group to check seats out under from the license server (`Peer::Server(0)`
    /// of the node's host); `None` = no license server, `seats` alone limits logins [S-LIC].
    pub license_group: Option<String>,
    /// Most held pulls at once; further empty pulls are answered empty at once.
    pub held_pulls_max: usize,
    /// `max-interactions-per-snapshot`: most items one snapshot answer holds [S-IS-snapshot].
    pub max_interactions_per_snapshot: u32,
    /// Close a client connection silent for this long (the product's ADDP): a partitioned client
    /// never closes its connection, and must not keep agents logged in or pulls held forever.
    /// Clients send RequestPing when idle. 0 = never.
    pub client_idle_timeout_ms: u64,
    /// A deliberately planted bug, for checking that the oracles catch it. `None` in every real
    /// scenario.
    pub planted_bug: Option<PlantedBug>,
    /// Direct mode [S-URS-rr]: queues whose interactions the node submits to a URS that has
    /// the named routing strategy loaded (queue -> strategy).
    pub queue_strategies: BTreeMap<String, String>,
}

/// Bugs the harness can plant in the node to prove its oracles find them (mutation testing of
/// the harness itself). Each names the oracle expected to catch it. A scenario names them in
/// kebab case (`[is] planted_bug = "ack-before-write"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlantedBug {
    /// Pulls also return interactions other clients own: caught by [S-INV-owner].
    PullIgnoresOwnership,
    /// Submits are acknowledged before the database write: with a crash, caught by
    /// [S-IS-durable] and [S-INV-lost].
    AckBeforeWrite,
    /// Views ignore priority (FIFO only): caught by [S-INV-order].
    ViewIgnoresPriority,
    /// Logins do not check the seat limit: caught by [S-LIC-checkout].
    LoginIgnoresSeats,
    /// Lowered seats log nobody out: caught by [S-LIC-shrink].
    ShrinkKeepsLogins,
    /// RequestDeliver checks that the agent is ready but not that it has capacity left (the
    /// node trusts the router's selection): caught by [S-URS-select].
    DeliverIgnoresCapacity,
    /// RequestStopProcessing forgets the handling agent's load: the agent looks busy forever
    /// on this node. Caught by the node's own invariants [S-INV-machine].
    StopKeepsLoad,
    /// A held pull lasts the node's own `pull-hold-timeout`, not the one the pull asked for
    /// (the proxy's): caught by [S-IS-hold].
    HoldIgnoresAsked,
    /// A URS that went away is treated like any owner: what it held waits out the grace
    /// period instead of going to another URS at once: caught by [S-URS-rr].
    UrsGoneWaitsGrace,
    /// Snapshots return everything the view holds, past `max-interactions-per-snapshot`:
    /// caught by [S-IS-snapshot].
    SnapshotIgnoresLimit,
    /// An owner that leaves gets half the owner grace period to come back: what it owns goes
    /// back to its queue early, while it may still be on its way back. Caught by [S-IS-owner].
    GraceHalved,
    /// An owner that leaves keeps what it owns for twice the owner grace period: a dead
    /// client's work waits past the grace period before it goes back to its queue. Caught by
    /// [S-IS-owner]'s late bound (most runs pass [S-INV-live]'s `settle_ms` with it).
    GraceDoubled,
}

impl IsConfig {
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|queue| queue.name == name)
    }

    pub(super) fn tenant(&self, id: TenantId) -> Option<&TenantConfig> {
        self.tenants.iter().find(|tenant| tenant.id == id)
    }
}
