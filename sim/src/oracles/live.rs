//! [S-INV-live]: a healed cluster converges: every queued interaction is delivered when agents
//! are available. Judged in scenarios with `[liveness]`. [S-IS-owner]'s release after the
//! grace period is part of it (that it comes) and of [S-INV-owner].

use super::completion::Completion;
use super::{OracleInput, Violation};
use crate::trace::TraceEntry;
use ixsim_core::ids::{AgentId, IxnId, SimTime};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};

pub const LIVE: &str = "S-INV-live";

/// [S-INV-live]: an interaction acknowledged at `t` and not completed by the end is a
/// violation when the run went on for `settle_ms` past both `t` and the last fault (the last
/// `FAULT` entry: the runner judges liveness only when the plan leaves nothing broken), and an
/// agent sat available (alive, logged in, holding less than its capacity) for half of
/// `settle_ms` at a stretch in that time. An overloaded cluster, whose agents never have a free
/// moment, is slow, not stuck; a backlog with idle agents beside it is stuck.
pub fn live(input: &OracleInput<'_>) -> Vec<Violation> {
    let Some(settle_ms) = input.settle_ms else {
        return Vec::new();
    };
    let Completion {
        acked,
        completed,
        last_fault,
        freed_at,
    } = Completion::of(input);
    let idle_ms = settle_ms / 2;
    let available = Availability::of(input);
    // The clock starts at the acknowledgement, the last fault, and the end of an owner grace
    // period the interaction waited out (the owner's own departure is a fault's doing too).
    let start = |ixn: &IxnId, at: SimTime| {
        at.max(last_fault)
            .max(freed_at.get(ixn).copied().unwrap_or(0))
    };
    acked
        .iter()
        .filter(|(ixn, at)| {
            !completed.contains(ixn) && input.end_ms >= start(ixn, **at) + settle_ms
        })
        .filter_map(|(ixn, at)| {
            let from = start(ixn, *at);
            let (agent, idle_from) = available.idle_stretch(from, input.end_ms, idle_ms)?;
            Some(Violation {
                oracle: LIVE,
                at_ms: input.end_ms,
                detail: format!(
                    "{ixn} (acknowledged at {at} ms, last fault at {last_fault} ms) was not \
                     completed within {settle_ms} ms of both, while {agent} was available \
                     from {idle_from} ms for {idle_ms} ms or more"
                ),
            })
        })
        .collect()
}

/// When each agent could take work: alive, logged in on some node, holding (as the nodes count)
/// less than its capacity. Stretches of availability per agent, as `[from, to)`.
struct Availability {
    stretches: BTreeMap<AgentId, Vec<(SimTime, SimTime)>>,
}

impl Availability {
    fn of(input: &OracleInput<'_>) -> Self {
        let mut agents = Agents::new(input);
        for entry in &input.trace.entries {
            agents.observe(entry);
        }
        let Agents {
            since,
            mut stretches,
            ..
        } = agents;
        for (agent, from) in since {
            stretches
                .entry(agent)
                .or_default()
                .push((from, SimTime::MAX));
        }
        Availability { stretches }
    }

    /// An agent available for `idle_ms` at a stretch within `[from, to]`, and when it began.
    fn idle_stretch(
        &self,
        from: SimTime,
        to: SimTime,
        idle_ms: SimTime,
    ) -> Option<(AgentId, SimTime)> {
        self.stretches.iter().find_map(|(agent, stretches)| {
            stretches.iter().find_map(|(start, end)| {
                let (start, end) = ((*start).max(from), (*end).min(to));
                (end >= start + idle_ms).then_some((*agent, start))
            })
        })
    }
}

/// The agents over the trace, for [`Availability`].
struct Agents {
    capacity: usize,
    /// The trace host of each agent's desktop.
    agent_of_host: BTreeMap<u16, AgentId>,
    holding: BTreeMap<AgentId, BTreeSet<IxnId>>,
    dead: BTreeSet<AgentId>,
    /// Node host -> the agents logged in there.
    logins: BTreeMap<u16, BTreeSet<AgentId>>,
    /// Agent -> since when it is available, while it is.
    since: BTreeMap<AgentId, SimTime>,
    stretches: BTreeMap<AgentId, Vec<(SimTime, SimTime)>>,
}

impl Agents {
    fn new(input: &OracleInput<'_>) -> Self {
        let agent_of_host = input
            .trace
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(index, name)| {
                let number = name.strip_prefix("agent")?.parse().ok()?;
                Some((index as u16, AgentId(number)))
            })
            .collect();
        Agents {
            capacity: input.agent_capacity.max(1) as usize,
            agent_of_host,
            holding: BTreeMap::new(),
            dead: BTreeSet::new(),
            logins: BTreeMap::new(),
            since: BTreeMap::new(),
            stretches: BTreeMap::new(),
        }
    }

    fn observe(&mut self, entry: &TraceEntry) {
        let own = self.agent_of_host.get(&entry.host).copied();
        if let Some(agent) = own {
            self.dead.remove(&agent);
        }
        if self.follow(entry, own) {
            self.update_stretches(entry.at);
        }
    }

    /// Follows what changes an agent's availability; says whether `entry` was such a fact.
    /// `own` is the agent whose desktop traced it, if one did.
    fn follow(&mut self, entry: &TraceEntry, own: Option<AgentId>) -> bool {
        match &entry.event {
            // What a node counts against the agent's capacity: from its acceptance until
            // the node stops it or takes it back (a desktop that lost its connection has
            // forgotten it, but the node keeps it for the agent through the owner's grace
            // [S-IS-owner], and so it is not free for other work yet).
            TraceEvent::Accepted { agent, ixn } | TraceEvent::AgentTook { agent, ixn } => {
                self.holding.entry(*agent).or_default().insert(*ixn);
            }
            // A (re)started node counts what its database says: an interaction stored as
            // an agent's counts against that agent again, whatever a deposed primary
            // traced meanwhile (a stop it could not store: the scenario fuzz target's
            // `licensing-changes` seed 6782, an agent taken for idle while the node held
            // its interaction for a desktop gone through the owner grace period).
            TraceEvent::Loaded { ixn, agent, .. } => {
                self.release(ixn);
                if let Some(agent) = agent {
                    self.holding.entry(*agent).or_default().insert(*ixn);
                }
            }
            TraceEvent::AgentCompleted { ixn, .. }
            | TraceEvent::Stopped { ixn }
            | TraceEvent::Released { ixn, .. }
            | TraceEvent::Queued { ixn, .. }
            | TraceEvent::Placed { ixn, .. } => self.release(ixn),
            TraceEvent::AgentLoggedIn { agent } => {
                self.logins.entry(entry.host).or_default().insert(*agent);
            }
            TraceEvent::AgentLoggedOut { agent } => {
                self.logins.entry(entry.host).or_default().remove(agent);
            }
            TraceEvent::ProcessKilled | TraceEvent::Demoted { .. } | TraceEvent::Fenced { .. } => {
                self.logins.remove(&entry.host);
                if let Some(agent) = own {
                    self.dead.insert(agent);
                }
            }
            _ => return false,
        }
        true
    }

    /// No agent holds `ixn` any more.
    fn release(&mut self, ixn: &IxnId) {
        for held in self.holding.values_mut() {
            held.remove(ixn);
        }
    }

    /// Opens and closes the agents' stretches of availability at `at`.
    fn update_stretches(&mut self, at: SimTime) {
        for agent in self.agent_of_host.values() {
            let free = !self.dead.contains(agent)
                && self.logins.values().any(|set| set.contains(agent))
                && self.holding.get(agent).map_or(0, BTreeSet::len) < self.capacity;
            match (free, self.since.get(agent).copied()) {
                (true, None) => {
                    self.since.insert(*agent, at);
                }
                (false, Some(from)) => {
                    self.since.remove(agent);
                    self.stretches.entry(*agent).or_default().push((from, at));
                }
                _ => {}
            }
        }
    }
}
