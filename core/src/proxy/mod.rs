//! Interaction Server Proxy [S-PX]: a router in front of the primary IS nodes of a cluster.
//!
//! Clients connect to the proxy as they would to a node. The proxy connects to every node
//! (`Peer::Server(i)` is node `i` of [`ProxyConfig::nodes`], each a primary/backup pair whose
//! two addresses the shell cycles through), registers there as a `Proxy` client, and passes
//! each client's requests on with [`Message::ProxiedRequest`], so a node keeps ownership,
//! agents and held pulls per client and learns of each client's departure individually.
//!
//! This file holds the [`Proxy`] itself and its [`Machine`] entry points, which only dispatch.
//! Each concept has its own file, and each SPEC tag one home:
//! - `config`: the configuration and the bugs a harness can plant ([`ProxyBug`]).
//! - `clients`: registration, routing a request by kind [S-PX-route], 2000 [S-PX-2000], a
//!   client's departure.
//! - `submit`: where a submit goes [S-PX-route], 2001 [S-PX-2001], [S-PX-disabled].
//! - `lookup`: requests about one interaction, the owner cache [S-PX-cache], broadcast
//!   lookups, 2003 [S-PX-2003] and 2005 [S-PX-2005].
//! - `pull`: round-robin pulls and the proxy's hold [S-PX-pull], late pull answers undone.
//! - `ordered`: the ordered pull mode [S-PX-fifo].
//! - `merge`: snapshots and finds fanned out and merged [S-PX-merge], 2006 [S-PX-2006].
//! - `agents`: agent login/logout/ready on all nodes [S-PX-agent], 2004 [S-PX-2004],
//!   [S-LIC-revoke].
//! - `nodes`: node connections, lost and silent nodes, 2002 [S-PX-2002].
//! - `ops`: the requests in progress and the dispatch of node answers to them.
//! - `errors`: the table of codes 2000-2006 and how a refusal reaches a client.
//! - `invariants`: the proxy's consistency checks [S-INV-machine].
//!
//! Must not: hold interactions. Everything durable is on the nodes; a proxy restart loses only
//! its cache, its agent table and its requests in progress (their clients time out).

mod agents;
mod cache;
mod clients;
mod config;
mod errors;
#[cfg(test)]
mod fixture;
mod invariants;
mod lookup;
mod merge;
mod nodes;
mod ops;
mod ordered;
mod pull;
mod submit;

pub use config::{ProxyBug, ProxyConfig, ProxyNode, PullMode};

use crate::buggify::Buggify;
use crate::clients::TICK_TIMER;
use crate::ids::{AgentId, IxnId, RefId, SimTime};
use crate::machine::{fixed_polls, Input, Machine, Output, Peer, TimerId};
use crate::protocol::Message;
use agents::AgentEntry;
use cache::OwnerCache;
use clients::Client;
use ops::{Asked, ClientOp, OpKind};
use std::collections::{BTreeMap, BTreeSet};

pub struct Proxy {
    cfg: ProxyConfig,
    connected: Vec<bool>,
    /// Nodes connected at least once ([`ProxyBug::ForgetsReconnect`] only).
    ever_connected: BTreeSet<usize>,
    clients: BTreeMap<Peer, Client>,
    agents: BTreeMap<AgentId, AgentEntry>,
    /// Agents with an operation in progress [S-PX-2004].
    busy_agents: BTreeSet<AgentId>,
    cache: OwnerCache,
    ops: BTreeMap<u64, ClientOp>,
    next_op: u64,
    asked: BTreeMap<RefId, (Asked, usize)>,
    next_ref: u32,
    rr_submit: usize,
    /// Round-robin position per (client, queue, view).
    rr_pull: BTreeMap<(String, String, String), usize>,
    /// Pulls given up on (timed out) with the client and node asked: a late answer is undone.
    abandoned_pulls: BTreeMap<RefId, (String, usize)>,
    /// What the proxy is putting back in a queue on a client's behalf after a late pull answer,
    /// by the place request's reference: (node, client, interaction), until the node answers.
    returning: BTreeMap<RefId, (usize, String, IxnId)>,
    /// When each client was last heard from.
    last_heard: BTreeMap<Peer, SimTime>,
    /// When each node was last heard from (any frame), to tell a dead connection.
    node_heard: Vec<SimTime>,
    /// Fault points [`Site::ProxyForgetOwner`](crate::buggify::Site::ProxyForgetOwner) and
    /// [`Site::ProxyMergeReversed`](crate::buggify::Site::ProxyMergeReversed).
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
            cache: OwnerCache::new(nodes),
            ops: BTreeMap::new(),
            next_op: 0,
            asked: BTreeMap::new(),
            next_ref: 0,
            rr_submit: 0,
            rr_pull: BTreeMap::new(),
            abandoned_pulls: BTreeMap::new(),
            returning: BTreeMap::new(),
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

    /// [`Machine::skip_idle_polls`]: a poll does something at once if an ordered pull is idle
    /// (it asks the nodes again) or a node request's operation is gone, else from the first
    /// operation deadline of a request in flight or the first client silent for the idle
    /// timeout. Polls are a tick apart.
    fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        if self
            .ops
            .values()
            .any(|op| matches!(op.kind, OpKind::Idle { .. }))
        {
            return at;
        }
        let timeout = self.cfg.client_idle_timeout_ms;
        let mut busy_from = (timeout > 0)
            .then(|| self.last_heard.values().min().map(|heard| heard + timeout))
            .flatten();
        for (asked, _) in self.asked.values() {
            if let Asked::Op(op) = asked {
                let Some(op) = self.ops.get(op) else {
                    return at;
                };
                if busy_from.is_none_or(|busy| op.deadline < busy) {
                    busy_from = Some(op.deadline);
                }
                if op.deadline <= at {
                    return at;
                }
            }
        }
        fixed_polls(at, before, busy_from, self.cfg.tick_ms)
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.poll_idle_pulls(now, out);
        let silent_nodes = self.expire_requests(now, out);
        for node in silent_nodes {
            self.drop_if_dead(now, node, out);
        }
        self.drop_idle_clients(now, out);
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
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
                Peer::Server(node),
                Message::ProxiedEvent {
                    client,
                    ref_id: None,
                    event,
                },
            ) => self.relay_unsolicited(node as usize, &client, event, out),
            // Nothing else is meaningful: clients send requests, nodes send events.
            Input::Frame(_, _) | Input::Persisted(_) => {}
            Input::Timer(_) => self.on_tick(now, out),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.invariants()
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        if timer == TICK_TIMER {
            self.skip_polls(at, before)
        } else {
            at
        }
    }
}
