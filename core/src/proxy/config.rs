//! What the proxy is configured with: its nodes and their `media-types` (the routing table of
//! [S-PX-route]), the tenants and their media types, the pull hold and pull mode, timeouts, and
//! the bugs a harness can plant to prove its checks find them ([`ProxyBug`]).
//!
//! Also the lookups over that configuration that every request uses: a request's tenant
//! attribute names a configured tenant or the request is refused with 2003 [S-PX-2003].
//!
//! Must not: hold state. Everything here is fixed for the proxy's life.

use crate::ids::TenantId;
use crate::is_node::TenantConfig;
use crate::protocol::{ErrorCode, Field};

/// How a pull through the proxy picks nodes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PullMode {
    /// The product's behaviour: one node per pull, in turn [S-PX-pull].
    RoundRobin,
    /// Ask every node for the head of the view, then pull the cluster-wide first items.
    Ordered,
}

/// What the proxy knows of one node (its configuration).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProxyNode {
    pub tenants: Vec<TenantId>,
    /// The node's `media-types` option; `None` = every media type of its tenants.
    pub media: Option<Vec<String>>,
}

impl ProxyNode {
    pub(super) fn accepts(&self, tenant: TenantId, media: &str) -> bool {
        self.tenants.contains(&tenant)
            && self
                .media
                .as_ref()
                .is_none_or(|list| list.iter().any(|m| m == media))
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProxyConfig {
    pub name: String,
    pub nodes: Vec<ProxyNode>,
    pub tenants: Vec<TenantConfig>,
    pub pull_hold_timeout_ms: u64,
    pub pull_mode: PullMode,
    /// How long the proxy waits for a node's answer (beyond a pull's hold).
    pub request_timeout_ms: u64,
    /// A client silent this long is dropped, as the nodes do (0 = never): a client cut off by
    /// a partition would otherwise stay registered, and its agent logged in, for good.
    pub client_idle_timeout_ms: u64,
    pub tick_ms: u64,
    /// A bug planted to prove that a harness finds it (never set in a real run).
    pub planted_bug: Option<ProxyBug>,
}

/// Bugs the harness can plant in the proxy to prove its checks find them (`[proxy] planted_bug`
/// in a scenario, by their kebab-case names).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyBug {
    /// A broadcast lookup that found the interaction nowhere, while some node did not answer,
    /// answers "not found" instead of 2003: the client takes an interaction that may well be on
    /// the silent node for gone. Caught by [S-PX-2003].
    UnreachableLookupNotFound,
    /// A node that comes back after a lost connection is never marked connected again: the
    /// proxy refuses its work with 2002 and 2003 while the connection is up. Caught by
    /// [S-PX-2002] (the whole-cluster oracle).
    ForgetsReconnect,
    /// One round-robin turn for every pull through the proxy, not one per puller and
    /// queue/view: a puller's next pull goes wherever the other pullers left the turn, so it
    /// can ask one node again and again while the other node's share of its queue waits (the
    /// `ors` scenario's seed-11 bug, planted again). Caught by [S-PX-pull].
    PullTurnShared,
    /// Agent login, logout, ready and not-ready go to one node of the tenant (the first
    /// connected one), as a desktop connected to one node would send them, and are acked on
    /// its answer: the other nodes never hear of the agent and never offer it work. Caught by
    /// [S-PX-agent].
    AgentOpsOneNode,
    /// A find's merged answer keeps only the last node's items (an assignment where the merge
    /// should extend): the other nodes' matches are missing. Caught by [S-PX-merge].
    FindKeepsLastAnswer,
    /// Submits are routed by tenant alone, as if no node had a `media-types` option: a chat
    /// may go to a node that takes only e-mail. Caught by [S-PX-route].
    SubmitIgnoresMedia,
    /// A submit of a media type its tenant has disabled goes on to a node, which takes it
    /// (the node alone would). Caught by [S-PX-disabled].
    ForwardsDisabledMedia,
    /// A login one node refused is not revoked on the nodes that took it: the agent stays
    /// logged in there, holding their seats. Caught by [S-LIC-revoke].
    KeepsRefusedLogins,
    /// A node's empty snapshot answer counts as no answer: the snapshot is refused with 2006
    /// while every node answered. Caught by [S-PX-2006].
    EmptySnapshotNotAccessible,
    /// RequestFindInteractions is refused as an unsupported operation (2000), as a proxy built
    /// before finds by user data existed would. Caught by [S-PX-2000].
    FindUnsupported,
    /// A submit of a media type its tenant has disabled is refused with 2003 (not accessible)
    /// instead of 2001, as if the media type were unknown. Caught by [S-PX-2001].
    DisabledMediaNotAccessible,
}

impl ProxyConfig {
    /// Whether `bug` is the one planted in this proxy.
    pub(super) fn planted(&self, bug: ProxyBug) -> bool {
        self.planted_bug == Some(bug)
    }

    pub(super) fn tenant(&self, id: TenantId) -> Option<&TenantConfig> {
        self.tenants.iter().find(|tenant| tenant.id == id)
    }

    /// The nodes configured for `tenant`, in node order.
    pub(super) fn tenant_nodes(&self, tenant: TenantId) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|node| self.nodes[*node].tenants.contains(&tenant))
            .collect()
    }

    /// The tenant a routing attribute names and the nodes configured for it: 2003 for an
    /// unknown tenant, 2001 for one no node serves.
    pub(super) fn tenant_and_nodes(
        &self,
        tenant: &Field<TenantId>,
    ) -> Result<(TenantId, Vec<usize>), ErrorCode> {
        let tenant = self.route_tenant(tenant)?;
        let nodes = self.tenant_nodes(tenant);
        if nodes.is_empty() {
            return Err(ErrorCode::NoNodeForMedia);
        }
        Ok((tenant, nodes))
    }

    /// The tenant a routing attribute names, or 2003 [S-PX-2003].
    pub(super) fn route_tenant(&self, tenant: &Field<TenantId>) -> Result<TenantId, ErrorCode> {
        match tenant {
            Field::Value(id) if self.tenant(*id).is_some() => Ok(*id),
            Field::Value(_) | Field::Missing | Field::WrongType(_) => Err(ErrorCode::NotAccessible),
        }
    }
}
