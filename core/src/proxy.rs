//! Interaction Server Proxy [S-PX]: a router in front of the primary IS nodes of a cluster.
//!
//! Clients connect to the proxy as they would to a node. The proxy connects to every node
//! (`Peer::Server(i)` is node `i` of [`ProxyConfig::nodes`], each a primary/backup pair whose
//! two addresses the shell cycles through), registers there as a `Proxy` client, and passes
//! each client's requests on with [`Message::ProxiedRequest`], so a node keeps ownership,
//! agents and held pulls per client and learns of each client's departure individually.
//!
//! Routing [S-PX-route]:
//! - Submit goes to one node that accepts the tenant and media type. Without a client id the
//!   nodes take turns. With a client-supplied id the node is chosen by the id, so a submit
//!   retried after a lost answer reaches the same node, whose DuplicateId answer proves the
//!   first attempt was stored; a retry on another node would create the duplicate that seed
//!   002 warns about. (The product's rule is not documented; this is the one that keeps the
//!   acknowledged-once guarantee.)
//! - Requests about an interaction go to the node the cache names; on a miss the proxy asks
//!   every node (RequestGetInteractionProperties) and then forwards to the one that has it.
//!   The cache starts empty on every (re)start [S-PX-cache].
//! - Pulls: round-robin among the nodes of the tenant (per client and queue/view), with the proxy's pull-hold-timeout
//!   [S-PX-pull]; or, in [`PullMode::Ordered`] (an improvement over the product, [S-PX-fifo]),
//!   the proxy first asks every node for the head of the view and pulls from each exactly the
//!   items that come first across the cluster.
//! - Snapshots and finds (RequestFindInteractions) fan out and merge, each node applying its
//!   own limit, so a merged answer may hold up to limit x nodes items, in node order rather
//!   than view order [S-PX-merge].
//! - Agent login, logout, ready and not-ready go to all nodes of the tenant at once; the proxy
//!   keeps each agent's state and replays it on a node that (re)connects [S-PX-agent]. A login
//!   refused by one node (no seat) is revoked on the others [S-LIC-revoke].
//!
//! Error codes, exactly where SPEC.md names them:
//! - 2000: RequestPing and the HA/licensing requests, which the proxy does not support.
//! - 2001: no node is configured for the tenant and media type, or the media type is
//!   disabled [S-PX-disabled] (the proxy accepts no submission of it).
//! - 2002: a node the request was forwarded to (or would have to go to, including every node of
//!   the tenant for a find) is not connected, or its connection closed or it did not answer
//!   before the proxy's request timeout.
//! - 2003: a routing attribute (tenant, media type, interaction id) is missing, of the wrong
//!   type or of an unknown value; or a lookup where some node did not answer and the others said
//!   "not found"; or the cached node is not reachable.
//! - 2004: an agent operation while another operation for the same agent is still in progress.
//! - 2005: more than one node holds the interaction id.
//! - 2006: a snapshot where some node of the tenant is not connected or did not answer.
//!
//! Must not: hold interactions. Everything durable is on the nodes; a proxy restart loses only
//! its cache, its agent table and its requests in progress (their clients time out).

use crate::buggify::{Buggify, Site};
use crate::clients::TICK_TIMER;
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::is_node::TenantConfig;
use crate::machine::{Input, Machine, Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request};
use crate::trace::TraceEvent;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

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
    fn accepts(&self, tenant: TenantId, media: &str) -> bool {
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

#[derive(Clone, Debug)]
struct Client {
    name: Option<String>,
    kind: ClientKind,
}

/// The proxy's record of an agent logged in through it.
#[derive(Clone, Debug)]
struct AgentEntry {
    client: String,
    tenant: TenantId,
    media: Vec<String>,
    ready: bool,
}

/// A client request in progress.
#[derive(Clone, Debug)]
struct ClientOp {
    client: Peer,
    name: String,
    ref_id: RefId,
    request: Request,
    deadline: SimTime,
    /// Nodes asked and not answered yet.
    waiting: BTreeSet<usize>,
    kind: OpKind,
}

#[derive(Clone, Debug)]
enum OpKind {
    /// Forwarded to one node; its answer is the answer.
    Forward,
    /// Looking for the node that holds `ixn`.
    Lookup {
        ixn: IxnId,
        found: Vec<usize>,
        unreachable: bool,
    },
    /// A snapshot or a find, fanned out to every node of the tenant and merged [S-PX-merge].
    Merge {
        items: Vec<IxnInfo>,
        error: Option<ErrorCode>,
        /// The code for a node that cannot answer: 2006 for snapshots, 2002 for finds.
        unreachable: ErrorCode,
    },
    /// Ordered pull, first phase: the head of the view on every node.
    Peek {
        count: u32,
        heads: Vec<(usize, IxnInfo)>,
        /// Set when asking again after an idle wait: the end of the client's hold.
        until: Option<SimTime>,
    },
    /// Ordered pull, second phase: the items taken from each node.
    Gather { items: Vec<IxnInfo> },
    /// Ordered pull with nothing waiting anywhere: asks again every tick until `until`, then
    /// answers empty (holding on one node instead would hand out that node's next item while an
    /// older one arrived elsewhere).
    Idle { count: u32, until: SimTime },
    /// An agent request, sent to every connected node of the agent's tenant [S-PX-agent].
    Agent {
        agent: AgentId,
        tenant: TenantId,
        /// When the desktop's request reached the proxy.
        asked_at: SimTime,
        acked: Vec<usize>,
        /// Nodes that did not answer (timed out or lost): they may take the request late.
        silent: Vec<usize>,
        error: Option<ErrorCode>,
    },
}

/// What a node's reference id stands for.
#[derive(Clone, Copy, Debug)]
enum Asked {
    /// Part of a client operation.
    Op(u64),
    /// Housekeeping (registration, replayed logins, revocations): the answer is not needed.
    Quiet,
}

pub struct Proxy {
    cfg: ProxyConfig,
    connected: Vec<bool>,
    /// Nodes connected at least once ([`ProxyBug::ForgetsReconnect`] only).
    ever_connected: BTreeSet<usize>,
    clients: BTreeMap<Peer, Client>,
    agents: BTreeMap<AgentId, AgentEntry>,
    /// Agents with an operation in progress [S-PX-2004].
    busy_agents: BTreeSet<AgentId>,
    cache: BTreeMap<IxnId, usize>,
    ops: BTreeMap<u64, ClientOp>,
    next_op: u64,
    asked: BTreeMap<RefId, (Asked, usize)>,
    next_ref: u32,
    rr_submit: usize,
    /// Round-robin position per (client, queue, view).
    rr_pull: BTreeMap<(String, String, String), usize>,
    /// Pulls given up on (timed out) with the client and node asked: a late answer is undone.
    abandoned_pulls: BTreeMap<RefId, (String, usize)>,
    /// When each client was last heard from.
    last_heard: BTreeMap<Peer, SimTime>,
    /// When each node was last heard from (any frame), to tell a dead connection.
    node_heard: Vec<SimTime>,
    /// Fault points [`Site::ProxyForgetOwner`] and [`Site::ProxyMergeReversed`].
    buggify: Buggify,
}

impl Proxy {
    pub fn new(cfg: ProxyConfig) -> Self {
        let nodes = cfg.nodes.len();
        Proxy {
            cfg,
            connected: vec![false; nodes],
            ever_connected: BTreeSet::new(),
            clients: BTreeMap::new(),
            agents: BTreeMap::new(),
            busy_agents: BTreeSet::new(),
            cache: BTreeMap::new(),
            ops: BTreeMap::new(),
            next_op: 0,
            asked: BTreeMap::new(),
            next_ref: 0,
            rr_submit: 0,
            rr_pull: BTreeMap::new(),
            abandoned_pulls: BTreeMap::new(),
            last_heard: BTreeMap::new(),
            node_heard: vec![0; nodes],
            buggify: Buggify::off(),
        }
    }

    /// The proxy with these fault points ([`crate::buggify`]).
    pub fn with_buggify(mut self, buggify: Buggify) -> Self {
        self.buggify = buggify;
        self
    }

    /// The client request (its connection and the client's reference id) that the node
    /// request `ref_id` is part of, while that request is in progress; `None` for housekeeping
    /// and for a request whose operation has ended. For harnesses: the proxy gives node
    /// requests its own reference ids, so among identical requests of one client only the
    /// proxy knows which one a lookup's forward or an ordered pull's second phase serves.
    pub fn serves(&self, ref_id: RefId) -> Option<(Peer, RefId)> {
        match self.asked.get(&ref_id)? {
            (Asked::Op(op), _) => self.ops.get(op).map(|op| (op.client, op.ref_id)),
            (Asked::Quiet, _) => None,
        }
    }

    fn tenant(&self, id: TenantId) -> Option<&TenantConfig> {
        self.cfg.tenants.iter().find(|tenant| tenant.id == id)
    }

    /// The tenant a routing attribute names, or 2003.
    fn route_tenant(&self, tenant: &Field<TenantId>) -> Result<TenantId, ErrorCode> {
        match tenant {
            Field::Value(id) if self.tenant(*id).is_some() => Ok(*id),
            Field::Value(_) | Field::Missing | Field::WrongType(_) => Err(ErrorCode::NotAccessible),
        }
    }

    fn tenant_nodes(&self, tenant: TenantId) -> Vec<usize> {
        (0..self.cfg.nodes.len())
            .filter(|node| self.cfg.nodes[*node].tenants.contains(&tenant))
            .collect()
    }

    /// Answers a client's pull, tracing what it got (the pull-order statistic reads this).
    fn reply_pull(&self, op: &ClientOp, items: Vec<IxnInfo>, out: &mut Vec<Output>) {
        if let Request::Pull { queue, view, .. } = &op.request {
            out.push(Output::Trace(TraceEvent::ProxyPulled {
                client: op.name.clone(),
                queue: queue.clone(),
                view: view.clone(),
                ixns: items.iter().map(|item| item.id).collect(),
            }));
        }
        self.reply(op.client, op.ref_id, Event::TakenFromQueue { items }, out);
    }

    fn reply(&self, client: Peer, ref_id: RefId, event: Event, out: &mut Vec<Output>) {
        if self.clients.contains_key(&client) {
            out.push(Output::Send(client, Message::reply(ref_id, event)));
        }
    }

    fn fail(
        &self,
        client: Peer,
        ref_id: RefId,
        request: &Request,
        code: ErrorCode,
        out: &mut Vec<Output>,
    ) {
        if code == ErrorCode::ConnectionLost {
            mark(Mark::ProxyConnectionLost, out);
        }
        out.push(Output::Trace(TraceEvent::request_failed(request, code)));
        self.reply(client, ref_id, Event::Error { code }, out);
    }

    /// Sends `request` to node `node` on behalf of `client` (the proxy itself when `None`).
    fn ask(
        &mut self,
        node: usize,
        asked: Asked,
        client: Option<&str>,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        self.next_ref = self.next_ref.wrapping_add(1);
        let ref_id = RefId(self.next_ref);
        self.asked.insert(ref_id, (asked, node));
        if let Asked::Op(op) = asked {
            if let Some(op) = self.ops.get_mut(&op) {
                op.waiting.insert(node);
            }
        }
        let message = match client {
            Some(client) => Message::ProxiedRequest {
                client: client.to_string(),
                ref_id,
                request,
            },
            None => Message::Request { ref_id, request },
        };
        out.push(Output::Send(Peer::Server(node as u16), message));
    }

    fn start_op(
        &mut self,
        now: SimTime,
        (client, name, ref_id): (Peer, &str, RefId),
        request: &Request,
        kind: OpKind,
        extra_ms: u64,
    ) -> u64 {
        let id = self.next_op;
        self.next_op += 1;
        self.ops.insert(
            id,
            ClientOp {
                client,
                name: name.to_string(),
                ref_id,
                request: request.clone(),
                deadline: now + self.cfg.request_timeout_ms + extra_ms,
                waiting: BTreeSet::new(),
                kind,
            },
        );
        id
    }

    /// Forwards the client's request to `node` as a new operation.
    fn forward(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        node: usize,
        request: Request,
        extra_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let op = self.start_op(now, who, &request, OpKind::Forward, extra_ms);
        self.ask(node, Asked::Op(op), Some(who.1), request, out);
    }

    fn on_client_request(
        &mut self,
        now: SimTime,
        client: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let registered = self.clients.get(&client).and_then(|c| c.name.clone());
        let name = match (&request, registered) {
            (Request::RegisterClient { name, kind }, _) => {
                // A name registered again on another connection moves to it (a restarted
                // client, a promoted ORS backup): the old connection is dropped without
                // unregistering the name at the nodes, which would take it from the new one.
                let stale: Vec<Peer> = self
                    .clients
                    .iter()
                    .filter(|(peer, c)| **peer != client && c.name.as_deref() == Some(name))
                    .map(|(peer, _)| *peer)
                    .collect();
                for peer in stale {
                    self.clients.remove(&peer);
                    self.last_heard.remove(&peer);
                    out.push(Output::Close(peer));
                }
                self.clients.insert(
                    client,
                    Client {
                        name: Some(name.clone()),
                        kind: *kind,
                    },
                );
                for node in self.connected_nodes() {
                    self.ask(node, Asked::Quiet, Some(name), request.clone(), out);
                }
                out.push(Output::Trace(TraceEvent::ClientRegistered {
                    client: name.clone(),
                }));
                self.reply(client, ref_id, Event::Ack { ixn: None }, out);
                return;
            }
            (
                Request::Ping
                | Request::Promote { .. }
                | Request::Demote
                | Request::CheckOutSeats { .. }
                | Request::SetSeats { .. },
                _,
            ) => {
                return self.fail(
                    client,
                    ref_id,
                    &request,
                    ErrorCode::UnsupportedOperation,
                    out,
                )
            }
            (_, None) => return self.fail(client, ref_id, &request, ErrorCode::NotRegistered, out),
            (_, Some(name)) => name,
        };
        let who = (client, name.as_str(), ref_id);
        let result = match &request {
            Request::RegisterClient { .. }
            | Request::Ping
            | Request::Promote { .. }
            | Request::Demote
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. } => Ok(()),
            Request::Unregister => {
                self.client_left(client, out);
                self.clients.insert(
                    client,
                    Client {
                        name: None,
                        kind: ClientKind::MediaServer,
                    },
                );
                self.reply(client, ref_id, Event::Ack { ixn: None }, out);
                Ok(())
            }
            Request::Submit {
                tenant,
                media,
                client_ixn,
                ..
            } => self.submit(now, who, tenant, media, *client_ixn, &request, out),
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                ..
            } => self.pull(now, who, tenant, (queue, view, *count), out),
            Request::FindInteractions { .. }
                if self.cfg.planted_bug == Some(ProxyBug::FindUnsupported) =>
            {
                Err(ErrorCode::UnsupportedOperation)
            }
            Request::Snapshot { tenant, .. } | Request::FindInteractions { tenant, .. } => {
                self.fan_out(now, who, tenant, &request, out)
            }
            Request::PlaceInQueue { ixn, .. }
            | Request::UpdateUserData { ixn, .. }
            | Request::StopProcessing { ixn }
            | Request::Deliver { ixn, .. }
            | Request::Accept { ixn }
            | Request::Reject { ixn }
            | Request::Find { ixn }
            | Request::ReserveAgent { ixn, .. }
            | Request::Transfer { ixn, .. } => self.about_interaction(now, who, ixn, &request, out),
            // Target selection is the URS's business, not the cluster's.
            Request::SelectTarget { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => Err(ErrorCode::UnsupportedOperation),
            Request::AgentLogin { tenant, agent, .. } => {
                self.agent_op(now, who, *agent, Some(tenant), &request, out)
            }
            Request::AgentLogout { agent }
            | Request::AgentReady { agent }
            | Request::AgentNotReady { agent } => {
                self.agent_op(now, who, *agent, None, &request, out)
            }
        };
        if let Err(code) = result {
            self.fail(client, ref_id, &request, code, out);
        }
    }

    fn connected_nodes(&self) -> Vec<usize> {
        (0..self.connected.len())
            .filter(|node| self.connected[*node])
            .collect()
    }

    /// The node a submit of `media` for `tenant` goes to [S-PX-route], or the refusal: 2001 for
    /// a disabled media type or one no node of the tenant accepts [S-PX-2001] [S-PX-disabled],
    /// 2002 when the accepting nodes are not connected [S-PX-2002], 2003 for a media type the
    /// tenant does not have (a wrong-valued routing attribute) [S-PX-2003].
    fn submit_node(
        &mut self,
        tenant: TenantId,
        media: &str,
        client_ixn: Option<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<usize, ErrorCode> {
        let media_cfg = self
            .tenant(tenant)
            .and_then(|t| t.media.iter().find(|m| m.name == media))
            .ok_or(ErrorCode::NotAccessible)?;
        if !media_cfg.enabled && self.cfg.planted_bug != Some(ProxyBug::ForwardsDisabledMedia) {
            mark(Mark::ProxyDisabledMedia, out);
            return Err(match self.cfg.planted_bug {
                Some(ProxyBug::DisabledMediaNotAccessible) => ErrorCode::NotAccessible,
                _ => ErrorCode::NoNodeForMedia,
            });
        }
        let candidates: Vec<usize> = (0..self.cfg.nodes.len())
            .filter(|node| {
                let config = &self.cfg.nodes[*node];
                match self.cfg.planted_bug {
                    Some(ProxyBug::SubmitIgnoresMedia) => config.tenants.contains(&tenant),
                    _ => config.accepts(tenant, media),
                }
            })
            .collect();
        if candidates.is_empty() {
            return Err(ErrorCode::NoNodeForMedia);
        }
        if candidates.len() < self.tenant_nodes(tenant).len() {
            mark(Mark::ProxySubmitNarrowed, out);
        }
        Ok(match client_ixn {
            Some(id) => {
                let node = candidates[(id.0 % candidates.len() as u64) as usize];
                if !self.connected[node] {
                    return Err(ErrorCode::ConnectionLost);
                }
                node
            }
            None => {
                let live: Vec<usize> = candidates
                    .iter()
                    .copied()
                    .filter(|node| self.connected[*node])
                    .collect();
                if live.is_empty() {
                    return Err(ErrorCode::ConnectionLost);
                }
                self.rr_submit = self.rr_submit.wrapping_add(1);
                live[self.rr_submit % live.len()]
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        tenant: &Field<TenantId>,
        media: &Field<String>,
        client_ixn: Option<IxnId>,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.route_tenant(tenant)?;
        let media = media.value().ok_or(ErrorCode::NotAccessible)?;
        let node = match self.submit_node(tenant, media, client_ixn, out) {
            Ok(node) => node,
            Err(code) => {
                out.push(Output::Trace(TraceEvent::ProxySubmitRefused {
                    client: who.1.to_string(),
                    tenant,
                    media: media.clone(),
                    code,
                }));
                return Err(code);
            }
        };
        out.push(Output::Trace(TraceEvent::ProxySubmitSent {
            client: who.1.to_string(),
            tenant,
            media: media.clone(),
            ixn: client_ixn,
            node: node as u16,
        }));
        self.forward(now, who, node, request.clone(), 0, out);
        Ok(())
    }

    fn pull(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        tenant: &Field<TenantId>,
        (queue, view, count): (&String, &String, u32),
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant_id = self.route_tenant(tenant)?;
        let nodes = self.tenant_nodes(tenant_id);
        if nodes.is_empty() {
            return Err(ErrorCode::NoNodeForMedia);
        }
        let live: Vec<usize> = nodes
            .into_iter()
            .filter(|node| self.connected[*node])
            .collect();
        if live.is_empty() {
            return Err(ErrorCode::ConnectionLost);
        }
        let hold = self.cfg.pull_hold_timeout_ms;
        let pull = |count: u32, hold_ms: u64| Request::Pull {
            tenant: Field::Value(tenant_id),
            queue: queue.clone(),
            view: view.clone(),
            count,
            hold_ms: Some(hold_ms),
        };
        if self.cfg.pull_mode == PullMode::Ordered && live.len() > 1 && count > 0 {
            let request = pull(count, hold);
            let kind = OpKind::Peek {
                count,
                heads: Vec::new(),
                until: None,
            };
            let op = self.start_op(now, who, &request, kind, hold);
            for node in live {
                let peek = Request::Snapshot {
                    tenant: Field::Value(tenant_id),
                    queue: queue.clone(),
                    view: view.clone(),
                    max: count,
                };
                self.ask(node, Asked::Op(op), Some(who.1), peek, out);
            }
            return Ok(());
        }
        // Round-robin per client and queue/view: each puller of a queue visits every node in
        // turn. (One counter for all pulls can fall into step with a client's own rotation over
        // its queues, so that its pulls of one queue always land on the same node and the other
        // node's share starves: the `ors` scenario found that, seed 11.)
        let key = match self.cfg.planted_bug {
            Some(ProxyBug::PullTurnShared) => Default::default(),
            _ => (who.1.to_string(), queue.clone(), view.clone()),
        };
        let turn = self.rr_pull.entry(key).or_insert(0);
        *turn = turn.wrapping_add(1);
        let node = live[*turn % live.len()];
        out.push(Output::Trace(TraceEvent::ProxyPullSent {
            client: who.1.to_string(),
            tenant: tenant_id,
            queue: queue.clone(),
            view: view.clone(),
            node: node as u16,
        }));
        self.forward(now, who, node, pull(count, hold), hold, out);
        Ok(())
    }

    /// Snapshots and finds: every node of the tenant answers with its own limit; the answers
    /// are concatenated in node order [S-PX-merge].
    fn fan_out(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        tenant: &Field<TenantId>,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.route_tenant(tenant)?;
        let nodes = self.tenant_nodes(tenant);
        if nodes.is_empty() {
            return Err(ErrorCode::NoNodeForMedia);
        }
        let unreachable = match request {
            Request::Snapshot { .. } => ErrorCode::SnapshotNotAccessible,
            _ => ErrorCode::ConnectionLost,
        };
        if nodes.iter().any(|node| !self.connected[*node]) {
            return Err(unreachable);
        }
        let kind = OpKind::Merge {
            items: Vec::new(),
            error: None,
            unreachable,
        };
        let op = self.start_op(now, who, request, kind, 0);
        for node in nodes {
            self.ask(node, Asked::Op(op), Some(who.1), request.clone(), out);
        }
        Ok(())
    }

    fn about_interaction(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        ixn: &Field<IxnId>,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::NotAccessible)?;
        if self.cache.contains_key(&id) && self.buggify.fires(Site::ProxyForgetOwner, now, out) {
            self.cache.remove(&id);
        }
        if let Some(node) = self.cache.get(&id).copied() {
            if !self.connected[node] {
                return Err(ErrorCode::NotAccessible);
            }
            if self.connected.iter().any(|up| !up) {
                mark(Mark::ProxyCachedOwnerNodeDown, out);
            }
            self.forward(now, who, node, request.clone(), 0, out);
            return Ok(());
        }
        mark(Mark::ProxyCacheMissLookup, out);
        let kind = OpKind::Lookup {
            ixn: id,
            found: Vec::new(),
            unreachable: false,
        };
        let op = self.start_op(now, who, request, kind, 0);
        let mut asked_any = false;
        for node in 0..self.cfg.nodes.len() {
            if self.connected[node] {
                let find = Request::Find {
                    ixn: Field::Value(id),
                };
                self.ask(node, Asked::Op(op), Some(who.1), find, out);
                asked_any = true;
            } else if let Some(OpKind::Lookup { unreachable, .. }) =
                self.ops.get_mut(&op).map(|op| &mut op.kind)
            {
                *unreachable = true;
            }
        }
        if !asked_any {
            self.finish_lookup(now, op, out);
        }
        Ok(())
    }

    fn agent_op(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        agent: AgentId,
        login_tenant: Option<&Field<TenantId>>,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        if let Some(tenant) = login_tenant {
            self.route_tenant(tenant)?;
        }
        if self.busy_agents.contains(&agent) {
            return Err(ErrorCode::InProgress);
        }
        let tenant = match login_tenant {
            Some(tenant) => self.route_tenant(tenant)?,
            None => {
                self.agents
                    .get(&agent)
                    .ok_or(ErrorCode::AgentUnavailable)?
                    .tenant
            }
        };
        let mut nodes: Vec<usize> = self
            .tenant_nodes(tenant)
            .into_iter()
            .filter(|node| self.connected[*node])
            .collect();
        if nodes.is_empty() {
            return Err(ErrorCode::ConnectionLost);
        }
        if self.cfg.planted_bug == Some(ProxyBug::AgentOpsOneNode) {
            nodes.truncate(1);
        }
        self.busy_agents.insert(agent);
        let kind = OpKind::Agent {
            agent,
            tenant,
            asked_at: now,
            acked: Vec::new(),
            silent: Vec::new(),
            error: None,
        };
        let op = self.start_op(now, who, request, kind, 0);
        for node in nodes {
            self.ask(node, Asked::Op(op), Some(who.1), request.clone(), out);
        }
        Ok(())
    }

    /// A node answered `ref_id` (or will never answer: `event` is `None`).
    /// A node answered a pull the proxy had given up on (its client already heard of a timeout
    /// or a lost connection): the node marked those interactions as the client's, and the
    /// client will never know. The proxy puts them back in their queues on the client's behalf,
    /// so they are not owned for good by a client that does not know it owns them.
    fn late_answer(&mut self, ref_id: RefId, event: Option<Event>, out: &mut Vec<Output>) {
        let Some((client, node)) = self.abandoned_pulls.remove(&ref_id) else {
            return;
        };
        let Some(Event::TakenFromQueue { items }) = event else {
            return;
        };
        for item in items {
            mark(Mark::ProxyLatePullReturned, out);
            out.push(Output::Trace(TraceEvent::LatePullReturned {
                client: client.clone(),
                ixn: item.id,
            }));
            let place = Request::PlaceInQueue {
                ixn: Field::Value(item.id),
                queue: item.queue,
            };
            self.ask(node, Asked::Quiet, Some(&client), place, out);
        }
    }

    fn on_node_answer(
        &mut self,
        now: SimTime,
        ref_id: RefId,
        event: Option<Event>,
        out: &mut Vec<Output>,
    ) {
        let asked = self.asked.remove(&ref_id);
        if let (None, Some((Asked::Op(op_id), node))) = (&event, asked) {
            let pull = self
                .ops
                .get(&op_id)
                .filter(|op| matches!(op.request, Request::Pull { .. }));
            if let Some(op) = pull {
                self.abandoned_pulls.insert(ref_id, (op.name.clone(), node));
            }
        }
        if asked.is_none() {
            self.late_answer(ref_id, event, out);
            return;
        }
        let Some((Asked::Op(op_id), node)) = asked else {
            return;
        };
        let Some(op) = self.ops.get_mut(&op_id) else {
            return;
        };
        op.waiting.remove(&node);
        match &mut op.kind {
            OpKind::Forward => {
                let op = self.ops.remove(&op_id).expect("op exists");
                self.finish_forward(op, node, event, out);
            }
            OpKind::Lookup {
                found, unreachable, ..
            } => {
                match event {
                    Some(Event::Found { .. }) => found.push(node),
                    Some(Event::Error {
                        code: ErrorCode::InteractionNotFound,
                    }) => {}
                    _ => *unreachable = true,
                }
                if op.waiting.is_empty() {
                    self.finish_lookup(now, op_id, out);
                }
            }
            OpKind::Merge {
                items,
                error,
                unreachable,
            } => {
                match event {
                    Some(Event::InteractionsFound { items: more })
                        if self.cfg.planted_bug == Some(ProxyBug::FindKeepsLastAnswer) =>
                    {
                        *items = more
                    }
                    Some(Event::SnapshotContent { items: more })
                        if more.is_empty()
                            && self.cfg.planted_bug
                                == Some(ProxyBug::EmptySnapshotNotAccessible) =>
                    {
                        error.get_or_insert(*unreachable);
                    }
                    Some(
                        Event::SnapshotContent { items: more }
                        | Event::InteractionsFound { items: more },
                    ) => items.extend(more),
                    Some(Event::Error { code }) => {
                        error.get_or_insert(code);
                    }
                    Some(_) | None => {
                        error.get_or_insert(*unreachable);
                    }
                }
                if op.waiting.is_empty() {
                    let op = self.ops.remove(&op_id).expect("op exists");
                    let OpKind::Merge {
                        mut items, error, ..
                    } = op.kind
                    else {
                        return;
                    };
                    let nodes: BTreeSet<u16> = items.iter().map(|item| item.node).collect();
                    if error.is_none()
                        && nodes.len() > 1
                        && matches!(op.request, Request::FindInteractions { .. })
                    {
                        mark(Mark::ProxyFindMerged, out);
                    }
                    if error.is_none()
                        && items.len() > 1
                        && self.buggify.fires(Site::ProxyMergeReversed, now, out)
                    {
                        items.reverse();
                    }
                    let merged = match op.request {
                        Request::Snapshot { .. } => Event::SnapshotContent { items },
                        _ => Event::InteractionsFound { items },
                    };
                    match error {
                        Some(code) => self.fail(op.client, op.ref_id, &op.request, code, out),
                        None => self.reply(op.client, op.ref_id, merged, out),
                    }
                }
            }
            OpKind::Peek { heads, .. } => {
                if let Some(Event::SnapshotContent { items }) = event {
                    heads.extend(items.into_iter().map(|item| (node, item)));
                }
                if op.waiting.is_empty() {
                    self.finish_peek(now, op_id, out);
                }
            }
            OpKind::Gather { items } => {
                if let Some(Event::TakenFromQueue { items: taken }) = event {
                    for item in &taken {
                        self.cache.insert(item.id, node);
                    }
                    items.extend(taken);
                }
                if op.waiting.is_empty() {
                    let op = self.ops.remove(&op_id).expect("op exists");
                    let OpKind::Gather { mut items } = op.kind.clone() else {
                        return;
                    };
                    items.sort_by_key(|item| (Reverse(item.priority), item.submitted_at, item.id));
                    self.reply_pull(&op, items, out);
                }
            }
            OpKind::Idle { .. } => {}
            OpKind::Agent {
                acked,
                silent,
                error,
                ..
            } => {
                match event {
                    Some(Event::Ack { .. }) => acked.push(node),
                    Some(Event::Error { code }) => {
                        error.get_or_insert(code);
                    }
                    Some(_) => {
                        error.get_or_insert(ErrorCode::ConnectionLost);
                    }
                    None => {
                        silent.push(node);
                        error.get_or_insert(ErrorCode::ConnectionLost);
                    }
                }
                if op.waiting.is_empty() {
                    let op = self.ops.remove(&op_id).expect("op exists");
                    self.finish_agent(op, out);
                }
            }
        }
    }

    fn finish_forward(
        &mut self,
        op: ClientOp,
        node: usize,
        event: Option<Event>,
        out: &mut Vec<Output>,
    ) {
        let Some(event) = event else {
            return self.fail(
                op.client,
                op.ref_id,
                &op.request,
                ErrorCode::ConnectionLost,
                out,
            );
        };
        if let (Request::Pull { .. }, Event::TakenFromQueue { items }) = (&op.request, &event) {
            for item in items {
                self.cache.insert(item.id, node);
            }
            return self.reply_pull(&op, items.clone(), out);
        }
        match (&op.request, &event) {
            (_, Event::Ack { ixn: Some(ixn) }) => {
                if matches!(op.request, Request::StopProcessing { .. }) {
                    self.cache.remove(ixn);
                } else {
                    self.cache.insert(*ixn, node);
                }
            }
            (_, Event::TakenFromQueue { items }) => {
                for item in items {
                    self.cache.insert(item.id, node);
                }
            }
            (
                Request::PlaceInQueue { ixn, .. }
                | Request::UpdateUserData { ixn, .. }
                | Request::StopProcessing { ixn }
                | Request::Deliver { ixn, .. }
                | Request::Accept { ixn }
                | Request::Reject { ixn }
                | Request::Find { ixn },
                Event::Error {
                    code: ErrorCode::InteractionNotFound,
                },
            ) => {
                if let Some(id) = ixn.value() {
                    self.cache.remove(id);
                }
            }
            _ => {}
        }
        self.reply(op.client, op.ref_id, event, out);
    }

    fn finish_lookup(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(op) = self.ops.remove(&op_id) else {
            return;
        };
        let OpKind::Lookup {
            ixn,
            found,
            unreachable,
        } = &op.kind
        else {
            return;
        };
        match (found.as_slice(), unreachable) {
            // It went away while the others answered.
            ([node], _) if !self.connected[*node] => self.fail(
                op.client,
                op.ref_id,
                &op.request,
                ErrorCode::NotAccessible,
                out,
            ),
            ([node], _) => {
                self.cache.insert(*ixn, *node);
                let who = (op.client, op.name.as_str(), op.ref_id);
                self.forward(now, who, *node, op.request.clone(), 0, out);
            }
            ([], true) if self.cfg.planted_bug != Some(ProxyBug::UnreachableLookupNotFound) => {
                mark(Mark::ProxyLookupUnanswered, out);
                self.fail(
                    op.client,
                    op.ref_id,
                    &op.request,
                    ErrorCode::NotAccessible,
                    out,
                )
            }
            ([], _) => self.reply(
                op.client,
                op.ref_id,
                Event::Error {
                    code: ErrorCode::InteractionNotFound,
                },
                out,
            ),
            (_, _) => {
                mark(Mark::ProxyDuplicateAcrossNodes, out);
                self.fail(
                    op.client,
                    op.ref_id,
                    &op.request,
                    ErrorCode::DuplicateAcrossNodes,
                    out,
                )
            }
        }
    }

    /// Ordered pull: every node told its head of the view; pull from each exactly its share of
    /// the cluster-wide first `count`.
    fn finish_peek(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(mut op) = self.ops.remove(&op_id) else {
            return;
        };
        let OpKind::Peek {
            count,
            mut heads,
            until,
        } = op.kind.clone()
        else {
            return;
        };
        heads.sort_by_key(|(node, item)| {
            (Reverse(item.priority), item.submitted_at, *node, item.id)
        });
        let mut share: BTreeMap<usize, u32> = BTreeMap::new();
        for (node, _) in heads.iter().take(count as usize) {
            *share.entry(*node).or_default() += 1;
        }
        // A node that answered and then went away cannot be pulled from.
        share.retain(|node, _| self.connected[*node]);
        let Request::Pull {
            tenant,
            queue,
            view,
            hold_ms,
            ..
        } = op.request.clone()
        else {
            return;
        };
        let name = op.name.clone();
        if share.is_empty() {
            let until = until.unwrap_or(now + hold_ms.unwrap_or(0));
            if now >= until {
                return self.reply_pull(&op, Vec::new(), out);
            }
            op.kind = OpKind::Idle { count, until };
            op.deadline = until + self.cfg.request_timeout_ms;
            op.waiting.clear();
            self.ops.insert(op_id, op);
            return;
        }
        op.kind = OpKind::Gather { items: Vec::new() };
        op.waiting.clear();
        self.ops.insert(op_id, op);
        for (node, count) in share {
            let pull = Request::Pull {
                tenant: tenant.clone(),
                queue: queue.clone(),
                view: view.clone(),
                count,
                hold_ms: Some(0),
            };
            self.ask(node, Asked::Op(op_id), Some(&name), pull, out);
        }
    }

    /// Asks the nodes for the view's heads again for an idle ordered pull.
    fn poll_idle(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(op) = self.ops.get_mut(&op_id) else {
            return;
        };
        let OpKind::Idle { count, until } = op.kind else {
            return;
        };
        let Request::Pull {
            tenant: Field::Value(tenant),
            queue,
            view,
            ..
        } = op.request.clone()
        else {
            return;
        };
        let name = op.name.clone();
        op.kind = OpKind::Peek {
            count,
            heads: Vec::new(),
            until: Some(until),
        };
        let live: Vec<usize> = self
            .tenant_nodes(tenant)
            .into_iter()
            .filter(|node| self.connected[*node])
            .collect();
        for node in &live {
            let peek = Request::Snapshot {
                tenant: Field::Value(tenant),
                queue: queue.clone(),
                view: view.clone(),
                max: count,
            };
            self.ask(*node, Asked::Op(op_id), Some(&name), peek, out);
        }
        if live.is_empty() {
            self.finish_peek(now, op_id, out);
        }
    }

    fn finish_agent(&mut self, op: ClientOp, out: &mut Vec<Output>) {
        let OpKind::Agent {
            agent,
            tenant,
            asked_at,
            acked,
            silent,
            error,
        } = &op.kind
        else {
            return;
        };
        self.busy_agents.remove(agent);
        if let Some(code) = error {
            out.push(Output::Trace(TraceEvent::ProxyAgentRefused {
                agent: *agent,
                request: op.request.name(),
                code: *code,
                asked_at_ms: *asked_at,
                acked: acked.iter().map(|node| *node as u16).collect(),
            }));
        }
        match (&op.request, error) {
            (Request::AgentLogin { .. }, Some(code)) => {
                // [S-LIC-revoke]: a login refused anywhere is revoked everywhere: on the nodes
                // that took it, and on those that did not answer, which may take it late (the
                // logout follows the login on the same connection).
                let keeps = self.cfg.planted_bug == Some(ProxyBug::KeepsRefusedLogins);
                if !keeps && !acked.is_empty() {
                    mark(Mark::ProxyLoginRevoked, out);
                }
                for node in acked.iter().chain(silent).filter(|_| !keeps) {
                    if self.connected[*node] {
                        let logout = Request::AgentLogout { agent: *agent };
                        self.ask(*node, Asked::Quiet, Some(&op.name), logout, out);
                    }
                }
                self.agents.remove(agent);
                self.fail(op.client, op.ref_id, &op.request, *code, out);
            }
            (_, Some(code)) => self.fail(op.client, op.ref_id, &op.request, *code, out),
            (request, None) => {
                match request {
                    Request::AgentLogin {
                        tenant: Field::Value(tenant),
                        media,
                        ..
                    } => {
                        self.agents.entry(*agent).or_insert(AgentEntry {
                            client: op.name.clone(),
                            tenant: *tenant,
                            media: media.clone(),
                            ready: false,
                        });
                    }
                    Request::AgentLogout { .. } => {
                        self.agents.remove(agent);
                    }
                    Request::AgentReady { .. } | Request::AgentNotReady { .. } => {
                        let ready = matches!(request, Request::AgentReady { .. });
                        if let Some(entry) = self.agents.get_mut(agent) {
                            entry.ready = ready;
                        }
                    }
                    _ => {}
                }
                // [S-PX-agent] A node that (re)connected while the operation ran got the
                // agent's state as it was before it (the replay on connect): it gets this
                // change too, or the agent stays logged out or not ready there for good.
                let missed: Vec<usize> = self
                    .tenant_nodes(*tenant)
                    .into_iter()
                    .filter(|node| self.connected[*node] && !acked.contains(node))
                    .filter(|_| self.cfg.planted_bug != Some(ProxyBug::AgentOpsOneNode))
                    .collect();
                for node in missed {
                    self.ask(node, Asked::Quiet, Some(&op.name), request.clone(), out);
                }
                if acked.len() > 1 {
                    mark(Mark::ProxyAgentFannedOut, out);
                }
                out.push(Output::Trace(TraceEvent::ProxyAgentAcked {
                    agent: *agent,
                    request: request.name(),
                    tenant: *tenant,
                    asked_at_ms: *asked_at,
                }));
                self.reply(op.client, op.ref_id, Event::Ack { ixn: None }, out);
            }
        }
    }

    /// A client connection closed or unregistered: the nodes hear of it individually.
    fn client_left(&mut self, client: Peer, out: &mut Vec<Output>) {
        self.last_heard.remove(&client);
        let Some(Client {
            name: Some(name), ..
        }) = self.clients.remove(&client)
        else {
            return;
        };
        for node in self.connected_nodes() {
            self.ask(node, Asked::Quiet, Some(&name), Request::Unregister, out);
        }
        self.agents.retain(|_, entry| entry.client != name);
        let ops: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| op.client == client)
            .map(|(id, _)| *id)
            .collect();
        for id in ops {
            if let Some(op) = self.ops.remove(&id) {
                if let OpKind::Agent { agent, .. } = op.kind {
                    self.busy_agents.remove(&agent);
                }
            }
        }
    }

    /// Node `node` (re)connected: register, then tell it every client and agent it must know.
    fn node_connected(&mut self, node: usize, out: &mut Vec<Output>) {
        let first = !self.ever_connected.contains(&node);
        self.ever_connected.insert(node);
        if first || self.cfg.planted_bug != Some(ProxyBug::ForgetsReconnect) {
            self.connected[node] = true;
        }
        let register = Request::RegisterClient {
            name: self.cfg.name.clone(),
            kind: ClientKind::Proxy,
        };
        self.ask(node, Asked::Quiet, None, register, out);
        let clients: Vec<(String, ClientKind)> = self
            .clients
            .values()
            .filter_map(|client| client.name.clone().map(|name| (name, client.kind)))
            .collect();
        for (name, kind) in clients {
            let register = Request::RegisterClient {
                name: name.clone(),
                kind,
            };
            self.ask(node, Asked::Quiet, Some(&name), register, out);
        }
        let agents: Vec<(AgentId, AgentEntry)> = self
            .agents
            .iter()
            .filter(|(_, entry)| self.cfg.nodes[node].tenants.contains(&entry.tenant))
            .map(|(agent, entry)| (*agent, entry.clone()))
            .collect();
        if !agents.is_empty() {
            mark(Mark::ProxyAgentsReplayed, out);
        }
        for (agent, entry) in agents {
            let login = Request::AgentLogin {
                tenant: Field::Value(entry.tenant),
                agent,
                media: entry.media.clone(),
            };
            self.ask(node, Asked::Quiet, Some(&entry.client), login, out);
            if entry.ready {
                let ready = Request::AgentReady { agent };
                self.ask(node, Asked::Quiet, Some(&entry.client), ready, out);
            }
        }
    }

    fn node_lost(&mut self, now: SimTime, node: usize, out: &mut Vec<Output>) {
        self.connected[node] = false;
        self.abandoned_pulls.retain(|_, (_, asked)| *asked != node);
        let lost: Vec<RefId> = self
            .asked
            .iter()
            .filter(|(_, (_, asked_node))| *asked_node == node)
            .map(|(ref_id, _)| *ref_id)
            .collect();
        for ref_id in lost {
            self.on_node_answer(now, ref_id, None, out);
        }
    }

    /// A node a request to it timed out on, and that has sent nothing for a whole request
    /// timeout, is taken for dead: the connection is closed (the shell connects again) and
    /// everything asked of it fails at once. A TCP stream that lost a segment (a partition
    /// that has healed since) stays silent for good, and the product's proxy finds such a
    /// connection dead with its keepalive (ADDP) rather than wait on it forever; without this,
    /// the interactions a node hands out on that connection never reach their clients
    /// (cluster-faults seed 51 under [S-INV-live]: a pull answer lost on a stalled stream kept
    /// an interaction owned by a router that never got it).
    fn drop_if_dead(&mut self, now: SimTime, node: usize, out: &mut Vec<Output>) {
        let heard = self.node_heard.get(node).copied().unwrap_or(now);
        if !self.connected.get(node).copied().unwrap_or(false)
            || heard + self.cfg.request_timeout_ms > now
        {
            return;
        }
        out.push(Output::Close(Peer::Server(node as u16)));
        out.push(Output::Trace(TraceEvent::NodeDeclaredDead {
            node: node as u16,
        }));
        self.node_lost(now, node, out);
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let idle: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| matches!(op.kind, OpKind::Idle { .. }))
            .map(|(id, _)| *id)
            .collect();
        for op_id in idle {
            self.poll_idle(now, op_id, out);
        }
        let expired: Vec<RefId> = self
            .asked
            .iter()
            .filter(|(_, (asked, _))| match asked {
                Asked::Op(op) => self.ops.get(op).is_none_or(|op| op.deadline <= now),
                Asked::Quiet => false,
            })
            .map(|(ref_id, _)| *ref_id)
            .collect();
        let mut silent_nodes = BTreeSet::new();
        for ref_id in expired {
            if let Some((_, node)) = self.asked.get(&ref_id) {
                if silent_nodes.insert(*node) {
                    // Before the answers it causes.
                    out.push(Output::Trace(TraceEvent::NodeSilent { node: *node as u16 }));
                }
            }
            self.on_node_answer(now, ref_id, None, out);
        }
        for node in silent_nodes {
            self.drop_if_dead(now, node, out);
        }
        let timeout = self.cfg.client_idle_timeout_ms;
        if timeout > 0 {
            let silent: Vec<Peer> = self
                .last_heard
                .iter()
                .filter(|(_, heard)| **heard + timeout <= now)
                .map(|(peer, _)| *peer)
                .collect();
            for peer in silent {
                self.last_heard.remove(&peer);
                out.push(Output::Close(peer));
                self.client_left(peer, out);
            }
        }
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}

impl Proxy {
    /// The proxy's own bookkeeping agrees with itself [S-INV-machine]:
    /// - an agent is busy exactly while an agent operation for it is in progress [S-PX-2004];
    /// - an operation waits only for nodes it asked something and that have not answered;
    /// - nothing is outstanding at a node that is not connected (a lost node fails what it
    ///   was asked at once);
    /// - the cache names configured nodes, and every agent the proxy keeps belongs to a
    ///   registered client (a client that leaves takes its agents with it) [S-PX-agent].
    fn invariants(&self) -> Result<(), String> {
        let in_progress: BTreeSet<AgentId> = self
            .ops
            .values()
            .filter_map(|op| match op.kind {
                OpKind::Agent { agent, .. } => Some(agent),
                _ => None,
            })
            .collect();
        if in_progress != self.busy_agents {
            return Err(format!(
                "[S-PX-2004] busy agents {:?}, agent operations in progress for {:?}",
                self.busy_agents, in_progress
            ));
        }
        for (id, op) in &self.ops {
            for node in &op.waiting {
                let asked = self
                    .asked
                    .values()
                    .any(|(asked, at)| matches!(asked, Asked::Op(op) if op == id) && at == node);
                if !asked {
                    return Err(format!(
                        "operation {id} waits for node {node}, which has nothing outstanding for it"
                    ));
                }
            }
        }
        if let Some((ref_id, (_, node))) = self
            .asked
            .iter()
            .find(|(_, (_, node))| !self.connected.get(*node).copied().unwrap_or(false))
        {
            return Err(format!(
                "request {} outstanding at node {node}, which is not connected",
                ref_id.0
            ));
        }
        if let Some((ixn, node)) = self
            .cache
            .iter()
            .find(|(_, node)| **node >= self.cfg.nodes.len())
        {
            return Err(format!("cache names node {node} for {ixn}, not configured"));
        }
        for (agent, entry) in &self.agents {
            let registered = self
                .clients
                .values()
                .any(|client| client.name.as_deref() == Some(entry.client.as_str()));
            if !registered {
                return Err(format!(
                    "{agent} kept for client {}, which is not registered",
                    entry.client
                ));
            }
        }
        Ok(())
    }
}

impl Machine for Proxy {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        if let Input::Frame(Peer::Server(node), _) = &input {
            if let Some(heard) = self.node_heard.get_mut(usize::from(*node)) {
                *heard = now;
            }
        }
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(Peer::Server(node)) => {
                if let Some(heard) = self.node_heard.get_mut(node as usize) {
                    *heard = now;
                }
                self.node_connected(node as usize, out)
            }
            Input::Connected(Peer::Client(_)) => {}
            Input::Disconnected(Peer::Server(node)) => self.node_lost(now, node as usize, out),
            Input::Disconnected(client @ Peer::Client(_)) => self.client_left(client, out),
            Input::Frame(client @ Peer::Client(_), Message::Request { ref_id, request }) => {
                self.last_heard.insert(client, now);
                self.on_client_request(now, client, ref_id, request, out)
            }
            Input::Frame(
                Peer::Server(_),
                Message::ProxiedEvent {
                    ref_id: Some(ref_id),
                    event,
                    ..
                }
                | Message::Event {
                    ref_id: Some(ref_id),
                    event,
                },
            ) => self.on_node_answer(now, ref_id, Some(event), out),
            Input::Frame(
                Peer::Server(_),
                Message::ProxiedEvent {
                    client,
                    ref_id: None,
                    event,
                },
            ) => {
                let target = self
                    .clients
                    .iter()
                    .find(|(_, c)| c.name.as_deref() == Some(client.as_str()))
                    .map(|(peer, _)| *peer);
                if let Some(peer) = target {
                    out.push(Output::Send(peer, Message::unsolicited(event)));
                }
            }
            // Nothing else is meaningful: clients send requests, nodes send events.
            Input::Frame(_, _) | Input::Persisted(_) => {}
            Input::Timer(_) => self.on_tick(now, out),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.invariants()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proxy in front of two nodes of tenant 1, both connected, with client 0 registered as
    /// `desk` (its registration answered).
    fn proxy() -> Proxy {
        let node = ProxyNode {
            tenants: vec![TenantId(1)],
            media: None,
        };
        let mut proxy = Proxy::new(ProxyConfig {
            name: "proxy1".into(),
            nodes: vec![node.clone(), node],
            tenants: vec![TenantConfig {
                id: TenantId(1),
                media: Vec::new(),
            }],
            pull_hold_timeout_ms: 1000,
            pull_mode: PullMode::RoundRobin,
            request_timeout_ms: 1500,
            client_idle_timeout_ms: 0,
            tick_ms: 10,
            planted_bug: None,
        });
        let mut out = Vec::new();
        proxy.handle(0, Input::Connected(Peer::Server(0)), &mut out);
        proxy.handle(0, Input::Connected(Peer::Server(1)), &mut out);
        proxy.handle(0, Input::Connected(Peer::Client(0)), &mut out);
        let register = Message::Request {
            ref_id: RefId(1),
            request: Request::RegisterClient {
                name: "desk".into(),
                kind: ClientKind::AgentDesktop,
            },
        };
        proxy.handle(0, Input::Frame(Peer::Client(0), register), &mut out);
        proxy.asked.clear();
        proxy
    }

    /// [S-INV-machine]: each piece of the proxy's bookkeeping that disagrees with the rest is
    /// reported, and a consistent proxy passes (including one with an agent operation out).
    #[test]
    fn invariants_report_each_inconsistency() {
        let mut clean = proxy();
        assert_eq!(clean.invariants(), Ok(()));
        let login = Message::Request {
            ref_id: RefId(2),
            request: Request::AgentLogin {
                tenant: Field::Value(TenantId(1)),
                agent: AgentId(3),
                media: vec!["email".into()],
            },
        };
        clean.handle(10, Input::Frame(Peer::Client(0), login), &mut Vec::new());
        assert_eq!(clean.busy_agents.len(), 1, "the login is in progress");
        assert_eq!(clean.invariants(), Ok(()));

        let mut busy = proxy();
        busy.busy_agents.insert(AgentId(3));
        assert!(busy.invariants().unwrap_err().contains("busy agents"));

        let mut waiting = clean.ops.clone();
        let mut unasked = proxy();
        unasked.ops.append(&mut waiting);
        unasked.busy_agents = clean.busy_agents.clone();
        assert!(unasked
            .invariants()
            .unwrap_err()
            .contains("nothing outstanding"));

        let mut lost = clean;
        lost.connected[1] = false;
        assert!(lost.invariants().unwrap_err().contains("not connected"));

        let mut cached = proxy();
        cached.cache.insert(IxnId(5), 2);
        assert!(cached.invariants().unwrap_err().contains("not configured"));

        let mut orphan = proxy();
        orphan.agents.insert(
            AgentId(4),
            AgentEntry {
                client: "gone".into(),
                tenant: TenantId(1),
                media: Vec::new(),
                ready: false,
            },
        );
        assert!(orphan.invariants().unwrap_err().contains("not registered"));
    }

    fn pull_request(count: u32) -> Message {
        Message::Request {
            ref_id: RefId(7),
            request: Request::Pull {
                tenant: Field::Value(TenantId(1)),
                queue: "inbound".into(),
                view: "all".into(),
                count,
                hold_ms: None,
            },
        }
    }

    /// What the proxy asked each node, by request name.
    fn asked_nodes(out: &[Output]) -> Vec<(Peer, &'static str)> {
        out.iter()
            .filter_map(|output| match output {
                Output::Send(peer @ Peer::Server(_), Message::ProxiedRequest { request, .. }) => {
                    Some((*peer, request.name()))
                }
                _ => None,
            })
            .collect()
    }

    /// [S-PX-fifo]'s ordered mode peeks the heads of every node only when there is a choice:
    /// with one connected node, or a pull that asks for nothing, the pull goes straight on.
    #[test]
    fn ordered_pulls_peek_only_with_a_choice() {
        let ordered = || {
            let mut proxy = proxy();
            proxy.cfg.pull_mode = PullMode::Ordered;
            proxy
        };
        let mut both = ordered();
        let mut out = Vec::new();
        both.handle(20, Input::Frame(Peer::Client(0), pull_request(2)), &mut out);
        assert_eq!(
            asked_nodes(&out),
            vec![
                (Peer::Server(0), "RequestGetSnapshot"),
                (Peer::Server(1), "RequestGetSnapshot")
            ]
        );

        let mut one = ordered();
        one.handle(10, Input::Disconnected(Peer::Server(1)), &mut Vec::new());
        let mut out = Vec::new();
        one.handle(20, Input::Frame(Peer::Client(0), pull_request(2)), &mut out);
        assert_eq!(asked_nodes(&out), vec![(Peer::Server(0), "RequestPull")]);

        let mut nothing = ordered();
        let mut out = Vec::new();
        nothing.handle(20, Input::Frame(Peer::Client(0), pull_request(0)), &mut out);
        let asked = asked_nodes(&out);
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked[0].1, "RequestPull");
    }

    /// A client the proxy has not heard from for `client_idle_timeout_ms` is closed at the
    /// first tick at or after that time, not before; one that spoke meanwhile stays.
    #[test]
    fn an_idle_client_is_closed_after_its_timeout() {
        let closed = |out: &[Output]| out.contains(&Output::Close(Peer::Client(0)));
        let mut quiet = proxy();
        quiet.cfg.client_idle_timeout_ms = 4000;
        // Registered at 0 ms.
        let mut out = Vec::new();
        quiet.handle(3990, Input::Timer(TICK_TIMER), &mut out);
        assert!(!closed(&out), "closed before its timeout: {out:?}");
        let mut out = Vec::new();
        quiet.handle(4000, Input::Timer(TICK_TIMER), &mut out);
        assert!(closed(&out), "not closed at its timeout: {out:?}");

        let mut spoke = proxy();
        spoke.cfg.client_idle_timeout_ms = 4000;
        let ping = Message::Request {
            ref_id: RefId(6),
            request: Request::Ping,
        };
        spoke.handle(3000, Input::Frame(Peer::Client(0), ping), &mut Vec::new());
        let mut out = Vec::new();
        spoke.handle(4000, Input::Timer(TICK_TIMER), &mut out);
        assert!(!closed(&out), "closed though it spoke at 3000 ms: {out:?}");
    }

    /// The mark `proxy-connection-lost` comes with a 2002 refusal and no other.
    #[test]
    fn only_a_lost_connection_is_marked_as_one() {
        let lost = Output::Mark(Mark::ProxyConnectionLost);
        let mut proxy = proxy();
        let mut out = Vec::new();
        let ping = Message::Request {
            ref_id: RefId(6),
            request: Request::Ping,
        };
        proxy.handle(10, Input::Frame(Peer::Client(0), ping), &mut out);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Send(
                _,
                Message::Event {
                    event: Event::Error {
                        code: ErrorCode::UnsupportedOperation
                    },
                    ..
                }
            )
        )));
        assert!(!out.contains(&lost), "{out:?}");

        proxy.handle(20, Input::Disconnected(Peer::Server(0)), &mut Vec::new());
        proxy.handle(20, Input::Disconnected(Peer::Server(1)), &mut Vec::new());
        let mut out = Vec::new();
        proxy.handle(30, Input::Frame(Peer::Client(0), pull_request(1)), &mut out);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Send(
                _,
                Message::Event {
                    event: Event::Error {
                        code: ErrorCode::ConnectionLost
                    },
                    ..
                }
            )
        )));
        assert!(out.contains(&lost), "{out:?}");
    }
}
