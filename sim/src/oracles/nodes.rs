//! Per-node state an oracle rebuilds from the trace, kept for the host that speaks for each
//! node: both hosts of an IS pair run node `p`, and only the one that started it last speaks
//! for it (the module doc of `oracles`). [`Serving`] says which host that is; [`NodeStates`]
//! keeps a state per node on top of it, which starts with the node's `node-started` and ends
//! with its process: `process-killed`, `demoted`, `fenced`. No SPEC tag of its own: the
//! oracles that use these name theirs.

use crate::trace::TraceEntry;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

/// The index a node's clients (proxies, URS) know it by: node `N` of `node-started node=N` is
/// pair `N`, 1-based, and its clients reach it as `srv(N-1)`, 0-based. `None` for node 0, which
/// no pair runs.
pub(super) fn srv_index(node: u16) -> Option<u16> {
    node.checked_sub(1)
}

/// Which host serves which node: every host's node (from its last `NodeStarted`), and the
/// host that started each node last (the one that speaks for its database).
#[derive(Default)]
pub(super) struct Serving {
    pub(super) node_of: BTreeMap<u16, u16>,
    current: BTreeMap<u16, u16>,
}

impl Serving {
    /// Updates on `NodeStarted`; returns the node `entry`'s host speaks for, if it does.
    pub(super) fn observe(&mut self, host: u16, event: &TraceEvent) -> Option<u16> {
        if let TraceEvent::NodeStarted { node, .. } = event {
            self.node_of.insert(host, *node);
            self.current.insert(*node, host);
        }
        self.node_of
            .get(&host)
            .copied()
            .filter(|node| self.current.get(node) == Some(&host))
    }
}

pub(super) struct NodeStates<S> {
    serving: Serving,
    /// Node index -> its state, while the process of the host speaking for it runs.
    nodes: BTreeMap<u16, S>,
}

impl<S> NodeStates<S> {
    pub(super) fn new() -> Self {
        NodeStates {
            serving: Serving::default(),
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
        let speaks = self.serving.observe(entry.host, &entry.event);
        if let TraceEvent::NodeStarted { node, .. } = &entry.event {
            self.nodes.insert(*node, start());
            return;
        }
        let Some(node) = speaks else {
            return;
        };
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
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
        let current = &self.serving.current;
        self.nodes
            .iter_mut()
            .filter_map(|(node, state)| Some((*current.get(node)?, state)))
    }
}
