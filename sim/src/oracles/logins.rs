//! Which agents each IS host's node process has logged in, as its facts tell: `login`,
//! `logout` and `ready`, starting empty with every `node-started` (nodes keep agents in memory
//! only). Shared by the oracles that judge what a proxy made the nodes do with an agent:
//! [S-PX-agent] (`agents.rs`) and [S-LIC-revoke] (`revoke.rs`). Which facts end a process is
//! each oracle's to say (a crash, or also a demotion and a fence); this module judges nothing.

use crate::trace::TraceEntry;
use ixsim_core::ids::{AgentId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

/// One node process's agents.
pub(super) struct NodeAgents {
    pub(super) node: u16,
    pub(super) started_at: SimTime,
    /// Logged-in agents, with when they logged in.
    pub(super) logged_in: BTreeMap<AgentId, SimTime>,
    pub(super) ready: BTreeSet<AgentId>,
    /// When each agent last logged out.
    pub(super) logged_out: BTreeMap<AgentId, SimTime>,
}

/// Node host -> its running node process's agents.
#[derive(Default)]
pub(super) struct AgentTables {
    pub(super) hosts: BTreeMap<u16, NodeAgents>,
}

impl AgentTables {
    /// Follows a host's `node-started` (a fresh table) and its `login`, `logout` and `ready`.
    pub(super) fn observe(&mut self, entry: &TraceEntry) {
        let at = entry.at;
        if let TraceEvent::NodeStarted { node, .. } = &entry.event {
            let table = NodeAgents {
                node: *node,
                started_at: at,
                logged_in: BTreeMap::new(),
                ready: BTreeSet::new(),
                logged_out: BTreeMap::new(),
            };
            self.hosts.insert(entry.host, table);
            return;
        }
        let Some(agents) = self.hosts.get_mut(&entry.host) else {
            return;
        };
        match &entry.event {
            TraceEvent::AgentLoggedIn { agent } => {
                agents.logged_in.insert(*agent, at);
            }
            TraceEvent::AgentLoggedOut { agent } => {
                agents.logged_in.remove(agent);
                agents.ready.remove(agent);
                agents.logged_out.insert(*agent, at);
            }
            TraceEvent::AgentReady { agent } => {
                agents.ready.insert(*agent);
            }
            _ => {}
        }
    }

    /// The host's node process ended: its agents are gone with it.
    pub(super) fn end(&mut self, host: u16) {
        self.hosts.remove(&host);
    }
}
