//! Per-node state an oracle rebuilds from the trace, kept for the host that speaks for each
//! node: both hosts of an IS pair run node `p`, and only the one that started it last speaks
//! for it (the module doc of `oracles`). A node's state starts with its `node-started` and ends
//! with its process: `process-killed`, `demoted`, `fenced`.

use crate::trace::TraceEntry;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

/// The index a node's clients (proxies, URS) know it by: node `N` of `node-started node=N` is
/// pair `N`, 1-based, and its clients reach it as `srv(N-1)`, 0-based. `None` for node 0, which
/// no pair runs.
pub(super) fn srv_index(node: u16) -> Option<u16> {
    node.checked_sub(1)
}

pub(super) struct NodeStates<S> {
    node_of_host: BTreeMap<u16, u16>,
    /// Node index -> (the host speaking for it, its state).
    nodes: BTreeMap<u16, (u16, S)>,
}

impl<S> NodeStates<S> {
    pub(super) fn new() -> Self {
        NodeStates {
            node_of_host: BTreeMap::new(),
            nodes: BTreeMap::new(),
        }
    }

    /// Follows `entry`: a `node-started` gives its node `start()` on the entry's host; any
    /// other entry of a host that speaks for a node goes to `on` with the node index and its
    /// state, and a process end then drops that state.
    pub(super) fn follow(
        &mut self,
        entry: &TraceEntry,
        start: impl FnOnce() -> S,
        on: impl FnOnce(u16, &mut S),
    ) {
        if let TraceEvent::NodeStarted { node, .. } = &entry.event {
            self.node_of_host.insert(entry.host, *node);
            self.nodes.insert(*node, (entry.host, start()));
            return;
        }
        let Some(node) = self.node_of_host.get(&entry.host).copied() else {
            return;
        };
        let Some((host, state)) = self.nodes.get_mut(&node) else {
            return;
        };
        if *host != entry.host {
            return;
        }
        on(node, state);
        if matches!(
            entry.event,
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. }
        ) {
            self.nodes.remove(&node);
        }
    }

    /// Every running node's state, with the host speaking for it.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (u16, &mut S)> {
        self.nodes.values_mut().map(|(host, state)| (*host, state))
    }
}
