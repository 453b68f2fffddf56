//! The proxy's connections to the nodes: (re)connecting (register, then tell the node every
//! client and agent it must know), losing one, and telling a silent one. Whatever was asked of
//! a node that is lost, or that does not answer within the request timeout, fails at once:
//! 2002 [S-PX-2002] (or what the operation makes of a missing answer).
//!
//! Must not: keep anything outstanding at a node that is not connected.

use super::ops::Asked;
use super::{Proxy, ProxyBug};
use crate::ids::{RefId, SimTime};
use crate::machine::{Output, Peer};
use crate::protocol::{ClientKind, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeSet;

impl Proxy {
    pub(super) fn connected_nodes(&self) -> Vec<usize> {
        (0..self.connected.len())
            .filter(|node| self.connected[*node])
            .collect()
    }

    /// The connected ones of `nodes`, in their order.
    pub(super) fn live(&self, nodes: Vec<usize>) -> Vec<usize> {
        nodes
            .into_iter()
            .filter(|node| self.connected[*node])
            .collect()
    }

    /// Node `node` (re)connected: register, then tell it every client and agent it must know.
    pub(super) fn node_connected(&mut self, node: usize, out: &mut Vec<Output>) {
        let first = self.ever_connected.insert(node);
        if first || !self.cfg.planted(ProxyBug::ForgetsReconnect) {
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
        self.replay_agents(node, out);
    }

    pub(super) fn node_lost(&mut self, now: SimTime, node: usize, out: &mut Vec<Output>) {
        self.connected[node] = false;
        self.abandoned_pulls.retain(|_, (_, asked)| *asked != node);
        self.returning.retain(|_, (asked, _, _)| *asked != node);
        let lost: Vec<RefId> = self
            .asked
            .iter()
            .filter(|(_, (_, asked_node))| *asked_node == node)
            .map(|(ref_id, _)| *ref_id)
            .collect();
        for ref_id in lost {
            self.on_node_answer(now, ref_id, None, out);
        }
        debug_assert!(
            self.asked.values().all(|(_, asked)| *asked != node),
            "nothing stays outstanding at a lost node"
        );
    }

    /// Every tick: the requests whose operation ran out of time (or ended) fail as unanswered.
    /// Returns the nodes they were asked of, each traced as silent before the answers it
    /// causes.
    pub(super) fn expire_requests(
        &mut self,
        now: SimTime,
        out: &mut Vec<Output>,
    ) -> BTreeSet<usize> {
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
        silent_nodes
    }

    /// A node a request to it timed out on, and that has sent nothing for a whole request
    /// timeout, is taken for dead: the connection is closed (the shell connects again) and
    /// everything asked of it fails at once. A TCP stream that lost a segment (a partition
    /// that has healed since) stays silent for good, and the product's proxy finds such a
    /// connection dead with its keepalive (ADDP) rather than wait on it forever; without this,
    /// the interactions a node hands out on that connection never reach their clients
    /// (cluster-faults seed 51 under [S-INV-live]: a pull answer lost on a stalled stream kept
    /// an interaction owned by a router that never got it).
    pub(super) fn drop_if_dead(&mut self, now: SimTime, node: usize, out: &mut Vec<Output>) {
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
}
