//! Oracles: invariants checked on a run's trace and final durable state. Each names the SPEC
//! tag it checks. They rebuild what should have happened from the facts in the trace (what was
//! submitted, acknowledged, queued, pulled, taken, completed), independently of the machines'
//! own bookkeeping, so a bug in a machine cannot also hide itself.
//!
//! Node state belongs to a database, not to a host: both hosts of an IS pair run node `p` (the
//! pair's index, from `NodeStarted`) on one shared database, so the node models are keyed by
//! node index, and only the host that started node `p` last speaks for it: what a deposed
//! primary decides after the promotion never reaches the database (the fence), and
//! [S-OPS-switchover] checks exactly that.
//!
//! # Which SPEC tag is checked where
//!
//! Checked on every run, by a named oracle (a violation carries the tag):
//!
//! - [S-INV-lost], [S-INV-owner] (with [S-IS-pull]'s "an owned interaction is never returned
//!   to another puller"), [S-INV-order], [S-IS-durable], [S-OPS-switchover], [S-ORS-detach],
//!   [S-ORS-pull] (with [S-ORS-session] across the cluster): here.
//! - [S-INV-live], in scenarios with `[liveness]`: here. [S-IS-owner]'s release after the
//!   grace period is part of it (that it comes) and of [S-INV-owner].
//! - [S-IS-owner]'s grace period itself (never a release while the owner is registered, nor
//!   before it has been away the whole `owner_grace_ms`, nor more than one tick after the
//!   grace period ended): `grace.rs`.
//! - [S-LIC-checkout], [S-LIC-shrink]: `licensing.rs`. [S-LIC-revoke] (a login a proxy
//!   refused is logged out of every node that had taken it, by the time that node answers the
//!   agent's next request on the same connection): `revoke.rs`.
//! - [S-URS-select], per node (the model's capacity is per node): `capacity.rs`.
//! - [S-IS-hold], with [S-PX-pull]'s hold override: `hold.rs` (a bound from the timeouts).
//! - [S-URS-rr]'s resubmission at once: `resubmit.rs`.
//! - [S-PX-2000], [S-PX-2002], [S-PX-2003], [S-PX-2006] refusals in whole-cluster runs:
//!   `refusals.rs`.
//! - [S-PX-agent]: each agent login, logout and ready a proxy acknowledges was carried out on
//!   every node of the tenant it was connected to: `agents.rs`.
//! - [S-PX-route] for submits (to a connected node that serves the tenant and takes the media
//!   type) and [S-PX-disabled]: `routing.rs`.
//! - [S-PX-pull]'s round-robin (each pull of a client's queue to the next connected node of
//!   its tenant): `rotation.rs`.
//! - [S-IS-snapshot], [S-PX-merge] on a reporting client's snapshots and finds (per-node and
//!   merged limits, no duplicates, every item real and matching, nothing a node surely held
//!   missing unless it gave its `max`): `snapshot.rs`.
//! - [S-ORS-ha]'s recovery completeness (a flush holds the sessions running; a promoted
//!   backup recovers every session and association it read; the pair's store, modelled from
//!   what it answered, fences deposed flushes and returns the last stored one; a host that
//!   read the store never starts a session under an id its pair already used): `recovery.rs`.
//! - [S-URS-scope]: each delivery a URS sends in direct mode goes to a node that raised a
//!   route request for that interaction to it: `scope.rs`.
//! - [S-PX-2001]: a submit a proxy refuses gets 2001 exactly when its tenant has disabled its
//!   media type or no node of the tenant takes it: `routing.rs`.
//! - [S-ORS-assoc] (a session acts on an interaction only while it holds or detached it),
//!   [S-ORS-submit] (a session routes only to an agent a URS selected for the interaction
//!   since its last delivery, and hears at once that an interaction it held was delivered),
//!   [S-ORS-fail]'s `mcr-queue-on-fails` (a failed session's interaction is placed in that
//!   queue): `sessions.rs`.
//! - [S-INV-machine]: the shells call `Machine::check_invariants` after every input (the IS
//!   node, the proxy, the URS, the license server and the ORS have invariants; the
//!   supervisor and the clients keep the default, none yet): here. [S-PX-2004] is one of the
//!   proxy's (an agent is busy, so that its next request is answered 2004, exactly while an
//!   operation for it is in progress); its violation names the tag in its text.
//!
//! Judged on every run through the invariants they serve, with no oracle of their own: the
//! trace records what a node did (`submitted`, `queued`, `placed`, `invited`, `stopped`), not
//! what each client asked with which attributes, so the request-by-request rules are the
//! reference model's, and a sweep judges what they must lead to. [S-IS-submit]: an
//! acknowledged submit is in its queue and survives ([S-INV-lost], [S-IS-durable]); its
//! "generated ids are unique" is not reached by sweeps, as every workload supplies its ids
//! (the media server's retries are exactly-once by id). [S-IS-place], [S-IS-stop]: a pull
//! returns only what waits in that queue, never a stopped interaction ([S-INV-order]); a
//! stopped one counts as completed ([S-INV-lost]). [S-IS-deliver]: offers never put an
//! interaction in two agents' hands nor an agent past capacity ([S-INV-owner],
//! [S-URS-select]).
//!
//! Checked only outside sweeps, by reference models (the proptest suites and fuzz targets):
//! the request-by-request rules above and [S-IS-owner] (`is_node`); [S-PX-route] for requests
//! about an existing interaction (cached owner or broadcast), [S-PX-2005], and again
//! [S-PX-2000], [S-PX-2001], [S-PX-2004], [S-PX-2006], [S-LIC-revoke] (`proxy`); again
//! [S-ORS-assoc] (`ors_session`). By scenario tests: [S-ORS-fail]'s idle-session ttl and
//! eviction (`tests/ors.rs`; an evicted interaction never reloaded is [S-INV-live]'s),
//! [S-ORS-ha]'s switchover and [S-OPS-rolling] (`tests/ors_failover.rs`), [S-URS-rr]'s
//! round-robin (`tests/urs_direct.rs`). [S-PX-2005] is reached only by the prober's deliberate
//! twin ids, once per run; [S-OPS-rolling]'s documented session loss is a version property the
//! sim does not vary per run; the balance of [S-URS-rr] cannot be told from chance in one
//! trace.
//!
//! Measured, not enforced, by the SPEC's own words: [S-PX-fifo] ("the harness must measure
//! the inversions"): the `pull_order_inversions` stat of every run (`pull_order.rs`); the
//! ordered mode's zero is asserted by `tests/cluster.rs`, and is no invariant under faults (a
//! node the proxy cannot reach hides its head of the view).
//!
//! Not checkable in a trace, as it holds by construction: [S-PX-cache]. A crash drops the
//! proxy's machine and the runner builds a new one from its configuration, and a proxy has no
//! durable store (the proxy model suite panics if it writes one), so a restarted proxy's cache
//! is empty. Its consequence is judged: a restarted proxy (`cluster-faults` crashes one), or
//! one whose cache entry the `proxy-forget-owner` fault point dropped, looks interactions up
//! on every node (mark `proxy-cache-miss-lookup`), and its answers are judged by
//! [S-PX-2002], [S-PX-2003] and [S-INV-live].
//!
//! Not modelled yet, so not checkable: [S-VOICE-*] and [S-SITE-*] (issue 19), [S-SCXML-load]
//! (issue 20), [S-ESP-*], [S-DB-dap], [S-OPS-dap] (issue 22).

mod agents;
mod capacity;
mod grace;
mod hold;
mod licensing;
mod nodes;
mod recovery;
mod refusals;
mod resubmit;
mod revoke;
mod rotation;
mod routing;
mod scope;
mod sessions;
mod snapshot;

pub use agents::{proxy_agents, PX_AGENT};
pub use capacity::{agent_capacity, AGENT_CAPACITY};
pub use grace::{owner_grace, IS_OWNER};
pub use hold::{held_pulls, HOLD};
pub use licensing::{licensing, SeatRules, LIC_CHECKOUT, LIC_SHRINK};
pub use recovery::{ors_recovery, ORS_HA};
pub use refusals::{proxy_refusals, ProxyRules, PX_2000, PX_2002, PX_2003, PX_2006};
pub use resubmit::{urs_resubmit, URS_RR};
pub use revoke::{proxy_revoke, LIC_REVOKE};
pub use rotation::{proxy_rotation, PX_PULL};
pub use routing::{proxy_routing, PX_2001, PX_DISABLED, PX_ROUTE};
pub use scope::{urs_scope, URS_SCOPE};
pub use sessions::{ors_sessions, ORS_ASSOC, ORS_FAIL, ORS_SUBMIT};
pub use snapshot::{snapshots, SnapshotRules, IS_SNAPSHOT, PX_MERGE};

use crate::trace::Trace;
use ixsim_core::db::IsDatabase;
use ixsim_core::ids::{AgentId, IxnId, SimTime};
use ixsim_core::is_node::ViewConfig;
use ixsim_core::kv::KvList;
use ixsim_core::trace::{ReleaseReason, TraceEvent};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

pub const LOST: &str = "S-INV-lost";
pub const OWNER: &str = "S-INV-owner";
pub const ORDER: &str = "S-INV-order";
pub const DURABLE: &str = "S-IS-durable";
pub const SWITCHOVER: &str = "S-OPS-switchover";
pub const TRACE_BOUND: &str = "trace-bound";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub oracle: &'static str,
    pub at_ms: SimTime,
    pub detail: String,
}

/// What the oracles need besides the trace.
pub struct OracleInput<'a> {
    pub trace: &'a Trace,
    /// Final durable database of each IS pair (or lone node), with its node index.
    pub databases: Vec<(u16, &'a IsDatabase)>,
    /// Views per queue name.
    pub views: BTreeMap<String, Vec<ViewConfig>>,
    pub end_ms: SimTime,
    /// [S-INV-live]'s settle time, when the scenario asks for liveness.
    pub settle_ms: Option<SimTime>,
    /// How many interactions an agent may hold at once (`is.agent_capacity`).
    pub agent_capacity: u32,
    /// The ORS configuration [S-ORS-pull] judges against, when there are ORS hosts.
    pub ors: Option<OrsPullRules>,
    /// The pool and configured seats [S-LIC-checkout] judges against.
    pub seats: SeatRules,
    /// The nodes' own `pull-hold-timeout`, for pulls that ask for no hold [S-IS-hold].
    pub pull_hold_timeout_ms: SimTime,
    /// The nodes' owner grace period [S-IS-owner].
    pub owner_grace_ms: SimTime,
    /// The URS processes' host names (a URS's work goes back at once [S-URS-rr]).
    pub urs_hosts: Vec<String>,
    /// One step of the sim: timers fire on it, so time bounds allow one tick.
    pub tick_ms: SimTime,
    /// The proxies, for [S-PX-2002] and [S-PX-2003].
    pub proxies: ProxyRules,
    /// The nodes' snapshot limit, for [S-IS-snapshot] and [S-PX-merge].
    pub snapshots: SnapshotRules,
}

/// What [S-ORS-pull] needs to know of the ORS cluster.
#[derive(Clone, Debug, Default)]
pub struct OrsPullRules {
    /// ORS host name -> `mcr-pull-by-this-node`.
    pub hosts: BTreeMap<String, bool>,
    /// ORS host name -> its pair, whose members share one persistence store [S-ORS-ha].
    pub pairs: BTreeMap<String, usize>,
    /// Associated queue/view combinations.
    pub queues: BTreeSet<(String, String)>,
    pub pull_limit: u32,
    /// `mcr-queue-on-fails`: where an interaction goes whose session could not be created
    /// (`None`: back to the queue it came from) [S-ORS-fail].
    pub queue_on_fails: Option<String>,
}

pub fn check_all(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    if input.trace.truncated {
        violations.push(Violation {
            oracle: TRACE_BOUND,
            at_ms: input.end_ms,
            detail: "trace exceeded its bound; the run cannot be replayed in full".to_string(),
        });
    }
    violations.extend(lost(input));
    violations.extend(live(input));
    violations.extend(ors_pull(input));
    violations.extend(agent_owner(input));
    violations.extend(pull_order(input));
    violations.extend(durable(input));
    violations.extend(one_writer(input));
    violations.extend(ors_detach(input));
    violations.extend(licensing(input, &input.seats));
    violations.extend(agent_capacity(input));
    violations.extend(machine_invariants(input));
    violations.extend(held_pulls(input));
    violations.extend(urs_resubmit(input));
    violations.extend(proxy_refusals(input, &input.proxies));
    violations.extend(proxy_rotation(input, &input.proxies));
    violations.extend(proxy_routing(input, &input.proxies));
    violations.extend(owner_grace(input));
    violations.extend(proxy_agents(input, &input.proxies));
    violations.extend(proxy_revoke(input, &input.proxies));
    violations.extend(urs_scope(input));
    violations.extend(snapshots(input, &input.snapshots));
    violations.extend(ors_recovery(input));
    violations.extend(ors_sessions(input));
    violations
}

pub const MACHINE: &str = "S-INV-machine";

/// [S-INV-machine]: the host shells check each machine's own invariants
/// ([`ixsim_core::machine::Machine::check_invariants`]) after every input; a broken one is in
/// the trace (`invariant-broken`, once per host) and fails the run here.
fn machine_invariants(input: &OracleInput<'_>) -> Vec<Violation> {
    input
        .trace
        .entries
        .iter()
        .filter_map(|entry| match &entry.event {
            TraceEvent::InvariantBroken { problem } => Some(Violation {
                oracle: MACHINE,
                at_ms: entry.at,
                detail: format!("{}: {problem}", input.trace.host_name(entry.host)),
            }),
            _ => None,
        })
        .collect()
}

pub const ORS_DETACH: &str = "S-ORS-detach";
pub const LIVE: &str = "S-INV-live";
pub const ORS_PULL: &str = "S-ORS-pull";

/// [S-ORS-pull] (and [S-ORS-session] across the cluster): ORS instances pull only with
/// `mcr-pull-by-this-node`, only from their associated queue/views, never asking for more than
/// `mcr-pull-limit` minus what they hold; and no interaction is held by two ORS sessions at
/// once: one associated with a live session of one instance, pulled by another, is handed over
/// to the first, not given a session of its own. An association ends when its session ends,
/// moves it away (`associated-away`), detaches it, or the interaction leaves (delivered, control
/// lost); it dies with its process, and with the ORS's ownership at the node (released to its
/// queue after the owner grace period).
pub fn ors_pull(input: &OracleInput<'_>) -> Vec<Violation> {
    let Some(rules) = &input.ors else {
        return Vec::new();
    };
    let mut violations = Vec::new();
    // Interaction -> (ORS host, session) associated with it.
    let mut holder: BTreeMap<IxnId, (u16, u64)> = BTreeMap::new();
    // ORS instances (client name prefixes) registered at each proxy host.
    let mut behind: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    let trace = input.trace;
    // An instance whose registration ended at the nodes (its own unregistration, or the proxy
    // it was registered through went away) controls nothing until it registers again: another
    // instance that pulls its parked interactions gets NotRegistered for a transfer and starts
    // over, writing its own session into the user data, which the instance finds when it comes
    // back (lost-control) [S-ORS-assoc]. Its holds end with its registration.
    let drop_instance = |holder: &mut BTreeMap<IxnId, (u16, u64)>, instance: &str| {
        let pair = format!("{instance}b");
        holder.retain(|_, (h, _)| {
            let name = trace.host_name(*h);
            name != instance && name != pair
        });
    };
    for entry in &input.trace.entries {
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: ORS_PULL,
                at_ms: entry.at,
                detail,
            })
        };
        let host = input.trace.host_name(entry.host);
        match &entry.event {
            TraceEvent::Pulled {
                client,
                queue,
                view,
                ixns,
            } => {
                let instance = client.split('.').next().unwrap_or_default();
                let Some(pulls) = rules.hosts.get(instance) else {
                    continue;
                };
                if !pulls {
                    fail(format!("{client} pulled {} without mcr-pull-by-this-node", id_list(ixns)));
                }
                if !rules.queues.contains(&(queue.clone(), view.clone())) {
                    fail(format!("{client} pulled from {queue}/{view}, which is not associated with ORS"));
                }
            }
            // What a node lists again after a reconnect, or another instance hands over, may
            // add to what an ORS holds; what it asks for never does.
            TraceEvent::OrsPullAsked { count, holding } if count + holding > rules.pull_limit => {
                fail(format!(
                    "{host} asked for {count} more interactions holding {holding}; mcr-pull-limit is {}",
                    rules.pull_limit
                ))
            }
            TraceEvent::ClientRegistered { client } if host.starts_with("proxy") => {
                let instance = client.split('.').next().unwrap_or_default();
                if rules.hosts.contains_key(instance) {
                    behind.entry(entry.host).or_default().insert(instance.to_string());
                }
            }
            TraceEvent::ClientGone { client } => {
                let instance = client.split('.').next().unwrap_or_default();
                if rules.hosts.contains_key(instance) {
                    drop_instance(&mut holder, instance);
                } else if let Some(proxy) = trace.hosts.iter().position(|name| name == client) {
                    for instance in behind.remove(&(proxy as u16)).unwrap_or_default() {
                        drop_instance(&mut holder, &instance);
                    }
                }
            }
            TraceEvent::ProcessKilled => {
                holder.retain(|_, (h, _)| *h != entry.host);
                for instance in behind.remove(&entry.host).unwrap_or_default() {
                    drop_instance(&mut holder, &instance);
                }
            }
            TraceEvent::Released {
                ixn,
                reason: ReleaseReason::OwnerGone,
                ..
            } => {
                holder.remove(ixn);
            }
            TraceEvent::OrsSession { session, ixn, what } => match what.as_str() {
                "session-started" | "interaction.attach.done" => {
                    if let Some((other_host, other)) = holder.get(ixn) {
                        if (*other_host, *other) != (entry.host, *session) {
                            fail(format!(
                                "{host} session {session} took {ixn}, which session {other} of {} holds",
                                input.trace.host_name(*other_host)
                            ));
                        }
                    }
                    holder.insert(*ixn, (entry.host, *session));
                }
                "associated-away" | "interaction.detach.done" | "delivered" | "lost-control"
                    if holder.get(ixn) == Some(&(entry.host, *session)) =>
                {
                    holder.remove(ixn);
                }
                // A promoted backup's recovered associations may be stale (the last flush is
                // older than what happened since); one counts once the node confirms the
                // interaction is still this name's [S-ORS-ha].
                "recovered-owned" | "reloaded" => {
                    holder.insert(*ixn, (entry.host, *session));
                }
                "session-ended" | "session-dropped" => {
                    holder.retain(|_, held| *held != (entry.host, *session))
                }
                _ => {}
            },
            _ => {}
        }
    }
    violations
}

/// [S-INV-live]: a healed cluster converges: every queued interaction is delivered when agents
/// are available. An interaction acknowledged at `t` and not completed by the end is a
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
        let trace = input.trace;
        let capacity = input.agent_capacity.max(1) as usize;
        let agent_of_host: BTreeMap<u16, AgentId> = trace
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(index, name)| {
                let number = name.strip_prefix("agent")?.parse().ok()?;
                Some((index as u16, AgentId(number)))
            })
            .collect();
        let mut holding: BTreeMap<AgentId, BTreeSet<IxnId>> = BTreeMap::new();
        let mut dead: BTreeSet<AgentId> = BTreeSet::new();
        let mut logins: BTreeMap<u16, BTreeSet<AgentId>> = BTreeMap::new();
        let mut since: BTreeMap<AgentId, SimTime> = BTreeMap::new();
        let mut stretches: BTreeMap<AgentId, Vec<(SimTime, SimTime)>> = BTreeMap::new();
        for entry in &trace.entries {
            let own = agent_of_host.get(&entry.host).copied();
            if let Some(agent) = own {
                dead.remove(&agent);
            }
            match &entry.event {
                // What a node counts against the agent's capacity: from its acceptance until
                // the node stops it or takes it back (a desktop that lost its connection has
                // forgotten it, but the node keeps it for the agent through the owner's grace
                // [S-IS-owner], and so it is not free for other work yet).
                TraceEvent::Accepted { agent, ixn } | TraceEvent::AgentTook { agent, ixn } => {
                    holding.entry(*agent).or_default().insert(*ixn);
                }
                // A (re)started node counts what its database says: an interaction stored as
                // an agent's counts against that agent again, whatever a deposed primary
                // traced meanwhile (a stop it could not store: the scenario fuzz target's
                // `licensing-changes` seed 6782, an agent taken for idle while the node held
                // its interaction for a desktop gone through the owner grace period).
                TraceEvent::Loaded { ixn, agent, .. } => {
                    for held in holding.values_mut() {
                        held.remove(ixn);
                    }
                    if let Some(agent) = agent {
                        holding.entry(*agent).or_default().insert(*ixn);
                    }
                }
                TraceEvent::AgentCompleted { ixn, .. }
                | TraceEvent::Stopped { ixn }
                | TraceEvent::Released { ixn, .. }
                | TraceEvent::Queued { ixn, .. }
                | TraceEvent::Placed { ixn, .. } => {
                    for held in holding.values_mut() {
                        held.remove(ixn);
                    }
                }
                TraceEvent::AgentLoggedIn { agent } => {
                    logins.entry(entry.host).or_default().insert(*agent);
                }
                TraceEvent::AgentLoggedOut { agent } => {
                    logins.entry(entry.host).or_default().remove(agent);
                }
                TraceEvent::ProcessKilled
                | TraceEvent::Demoted { .. }
                | TraceEvent::Fenced { .. } => {
                    logins.remove(&entry.host);
                    if let Some(agent) = own {
                        dead.insert(agent);
                    }
                }
                _ => continue,
            }
            for agent in agent_of_host.values() {
                let free = !dead.contains(agent)
                    && logins.values().any(|set| set.contains(agent))
                    && holding.get(agent).map_or(0, BTreeSet::len) < capacity;
                match (free, since.get(agent).copied()) {
                    (true, None) => {
                        since.insert(*agent, entry.at);
                    }
                    (false, Some(from)) => {
                        since.remove(agent);
                        stretches.entry(*agent).or_default().push((from, entry.at));
                    }
                    _ => {}
                }
            }
        }
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

/// [S-ORS-detach]: an ORS session routes an interaction away only after it got
/// interaction.detach.done for it (and has not attached it again since); and a session's
/// detach succeeds only once its association was confirmed.
pub fn ors_detach(input: &OracleInput<'_>) -> Vec<Violation> {
    // (ORS host, session, interaction) -> (association confirmed, detached)
    let mut state: BTreeMap<(u16, u64, IxnId), (bool, bool)> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let TraceEvent::OrsSession { session, ixn, what } = &entry.event else {
            if matches!(entry.event, TraceEvent::ProcessKilled) {
                state.retain(|(host, _, _), _| *host != entry.host);
            }
            continue;
        };
        let key = (entry.host, *session, *ixn);
        let (confirmed, detached) = state.entry(key).or_insert((false, false));
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: ORS_DETACH,
                at_ms: entry.at,
                detail,
            })
        };
        match what.split(' ').next().unwrap_or_default() {
            // A reloaded (evicted) association comes from user data: confirmed when written.
            "association-confirmed" | "recovered-confirmed" | "reloaded" => *confirmed = true,
            // A promoted backup took over a detached interaction from the last flush.
            "recovered-detached" => (*confirmed, *detached) = (true, true),
            "interaction.detach.done" => {
                if !*confirmed {
                    fail(format!(
                        "session {session} detached {ixn} before its association was confirmed"
                    ));
                }
                *detached = true;
            }
            "interaction.attach.done" => (*confirmed, *detached) = (false, false),
            "route-redirect" | "route-deliver" if !*detached => fail(format!(
                "session {session} routed {ixn} without interaction.detach.done"
            )),
            _ => {}
        }
    }
    violations
}

/// Which host serves which node: every host's node (from its last `NodeStarted`), and the
/// host that started each node last (the one that speaks for its database).
#[derive(Default)]
struct Serving {
    node_of: BTreeMap<u16, u16>,
    current: BTreeMap<u16, u16>,
}

impl Serving {
    /// Updates on `NodeStarted`; returns the node `entry`'s host speaks for, if it does.
    fn observe(&mut self, host: u16, event: &TraceEvent) -> Option<u16> {
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

/// [S-OPS-switchover]: one writer per database. Once node `p` started on a host (a promotion
/// or a restart), no other host that ran node `p` commits a write until it starts the node
/// again: a deposed primary is fenced out. Two writers on one database duplicate and lose
/// interactions, whatever the clients happened to see.
pub fn one_writer(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut serving = Serving::default();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let speaks = serving.observe(entry.host, &entry.event);
        let Some(node) = serving.node_of.get(&entry.host).copied() else {
            continue;
        };
        if let TraceEvent::Persisted { writes } = &entry.event {
            if speaks.is_none() {
                let host = &input.trace.hosts[entry.host as usize];
                violations.push(Violation {
                    oracle: SWITCHOVER,
                    at_ms: entry.at,
                    detail: format!(
                        "{host} committed write {writes} to node {node}'s database after another host took it over"
                    ),
                });
            }
        }
    }
    violations
}

/// What the trace says became of the acknowledged interactions ([S-INV-lost], [S-INV-live]).
/// The lives of each interaction id: a media server may submit an id again after its first
/// life was stopped (its submit answer was lost), and an agent's completion of the first life
/// can reach the trace after the second began. A completion counts for the life the agent took.
#[derive(Default)]
struct Lives {
    /// How many times each id was submitted (and taken in).
    current: BTreeMap<IxnId, u32>,
    /// The life each agent-held id was taken in.
    taken_in: BTreeMap<IxnId, u32>,
}

impl Lives {
    fn observe(&mut self, event: &TraceEvent) {
        match event {
            TraceEvent::Submitted { ixn, .. } => *self.current.entry(*ixn).or_default() += 1,
            TraceEvent::AgentTook { ixn, .. } => {
                let life = self.current.get(ixn).copied().unwrap_or(0);
                self.taken_in.insert(*ixn, life);
            }
            _ => {}
        }
    }

    /// Does an agent's completion of `ixn` end its current life (not an earlier one)?
    fn completes_current(&self, ixn: IxnId) -> bool {
        self.taken_in.get(&ixn).copied().unwrap_or(0)
            == self.current.get(&ixn).copied().unwrap_or(0)
    }
}

struct Completion {
    /// Every acknowledged interaction, with when it was first acknowledged.
    acked: BTreeMap<IxnId, SimTime>,
    /// Those completed and not brought back since.
    completed: BTreeSet<IxnId>,
    /// When the last fault (or heal, or fault point inside a server) was applied.
    last_fault: SimTime,
    /// When a node last took each interaction back from an owner that was gone for its whole
    /// grace period: until then it was legitimately held for that owner [S-IS-owner].
    freed_at: BTreeMap<IxnId, SimTime>,
}

impl Completion {
    fn of(input: &OracleInput<'_>) -> Self {
        let mut completion = Completion {
            acked: BTreeMap::new(),
            completed: BTreeSet::new(),
            last_fault: 0,
            freed_at: BTreeMap::new(),
        };
        let mut lives = Lives::default();
        for entry in &input.trace.entries {
            lives.observe(&entry.event);
            match &entry.event {
                // A fault point inside a server is a fault too (they fall silent at the last
                // heal when liveness is judged).
                TraceEvent::Fault { .. } | TraceEvent::Buggify { .. } => {
                    completion.last_fault = entry.at;
                }
                TraceEvent::SubmitAcked { ixn } => {
                    completion.acked.entry(*ixn).or_insert(entry.at);
                }
                // The agent may not have seen the acknowledgement before the run ended; the
                // node's record that the owner stopped it is the completion, unless a restart
                // brought the interaction back (the stop never reached the database).
                TraceEvent::AgentCompleted { ixn, .. } if !lives.completes_current(*ixn) => {}
                TraceEvent::AgentCompleted { ixn, .. } | TraceEvent::Stopped { ixn } => {
                    completion.completed.insert(*ixn);
                }
                TraceEvent::Released { ixn, reason, .. } => {
                    completion.completed.remove(ixn);
                    if *reason == ReleaseReason::OwnerGone {
                        completion.freed_at.insert(*ixn, entry.at);
                    }
                }
                TraceEvent::Queued { ixn, .. } => {
                    completion.completed.remove(ixn);
                }
                _ => {}
            }
        }
        completion
    }
}

/// [S-INV-lost]: every acknowledged interaction is completed (its owner stopped it) or still in
/// a database at the end.
pub fn lost(input: &OracleInput<'_>) -> Vec<Violation> {
    let Completion {
        acked, completed, ..
    } = Completion::of(input);
    acked
        .keys()
        .filter(|ixn| !completed.contains(ixn))
        .filter(|ixn| {
            !input
                .databases
                .iter()
                .any(|(_, db)| db.interactions.contains_key(ixn))
        })
        .map(|ixn| Violation {
            oracle: LOST,
            at_ms: input.end_ms,
            detail: format!("{ixn} was acknowledged but is neither completed nor in any database"),
        })
        .collect()
}

/// [S-INV-owner]: no interaction is in two agents' hands at once, as the agents saw it. A
/// desktop holds from `agent-took` until it completes, drops, or its process is killed.
pub fn agent_owner(input: &OracleInput<'_>) -> Vec<Violation> {
    // Holder of each interaction: the agent and the trace host of its desktop.
    let mut holder: BTreeMap<IxnId, (AgentId, u16)> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        match &entry.event {
            TraceEvent::ProcessKilled => holder.retain(|_, (_, host)| *host != entry.host),
            TraceEvent::AgentTook { agent, ixn } => {
                if let Some((other, _)) = holder.insert(*ixn, (*agent, entry.host)) {
                    violations.push(Violation {
                        oracle: OWNER,
                        at_ms: entry.at,
                        detail: format!("{ixn} delivered to {agent} while {other} still holds it"),
                    });
                }
            }
            TraceEvent::AgentCompleted { agent, ixn }
            | TraceEvent::AgentDropped { agent, ixn, .. }
                if holder.get(ixn).is_some_and(|(holding, _)| holding == agent) =>
            {
                holder.remove(ixn);
            }
            _ => {}
        }
    }
    violations
}

type Key = (Reverse<i32>, u64, IxnId);

/// `[a b c]`, as the trace lists interactions and sessions.
fn id_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let ids: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    format!("[{}]", ids.join(" "))
}

#[derive(Default)]
struct NodeModel {
    /// Priority, seq, user data and current queue of every interaction the node stored.
    records: BTreeMap<IxnId, (i32, u64, KvList, String)>,
    available: BTreeMap<String, BTreeSet<Key>>,
}

impl NodeModel {
    fn key(&self, ixn: IxnId) -> Option<Key> {
        self.records
            .get(&ixn)
            .map(|(priority, seq, _, _)| (Reverse(*priority), *seq, ixn))
    }

    fn make_available(&mut self, ixn: IxnId, queue: &str) -> bool {
        let Some(key) = self.key(ixn) else {
            return false;
        };
        if let Some(record) = self.records.get_mut(&ixn) {
            record.3 = queue.to_string();
        }
        self.available
            .entry(queue.to_string())
            .or_default()
            .insert(key)
    }

    fn remove_available(&mut self, ixn: IxnId) {
        let Some(key) = self.key(ixn) else { return };
        for set in self.available.values_mut() {
            set.remove(&key);
        }
    }
}

/// [S-INV-order] and the pull side of [S-INV-owner]: every pull returns interactions that were
/// pullable (not owned, durable), and exactly the first ones of the view in view order.
pub fn pull_order(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut models: BTreeMap<u16, NodeModel> = BTreeMap::new();
    let mut serving = Serving::default();
    let mut violations = Vec::new();
    for entry in &input.trace.entries {
        let Some(node) = serving.observe(entry.host, &entry.event) else {
            continue;
        };
        let model = models.entry(node).or_default();
        match &entry.event {
            TraceEvent::NodeStarted { .. } => model.available.clear(),
            TraceEvent::Submitted {
                ixn,
                queue,
                priority,
                seq,
                user_data,
                ..
            } => {
                model
                    .records
                    .insert(*ixn, (*priority, *seq, user_data.clone(), queue.clone()));
            }
            TraceEvent::UserDataChanged { ixn, changes } => {
                if let Some(record) = model.records.get_mut(ixn) {
                    record.2.merge(changes);
                }
            }
            TraceEvent::Queued { ixn, queue } | TraceEvent::Released { ixn, queue, .. }
                if !model.make_available(*ixn, queue) =>
            {
                violations.push(Violation {
                    oracle: OWNER,
                    at_ms: entry.at,
                    detail: format!("{ixn} queued in {queue} twice (or never submitted)"),
                });
            }
            TraceEvent::Loaded {
                ixn,
                queue,
                owner: None,
                ..
            } => {
                model.make_available(*ixn, queue);
            }
            TraceEvent::Placed { ixn, .. } | TraceEvent::RouteRequested { ixn, .. } => {
                model.remove_available(*ixn)
            }
            // The record stays: a stop that a crash cuts off before its write comes back.
            TraceEvent::Stopped { ixn } => model.remove_available(*ixn),
            TraceEvent::Pulled {
                client,
                queue,
                view,
                ixns,
            } => {
                let Some(view_cfg) = input
                    .views
                    .get(queue)
                    .and_then(|views| views.iter().find(|v| &v.name == view))
                else {
                    continue;
                };
                let expected: Vec<IxnId> = model
                    .available
                    .get(queue)
                    .map(|set| {
                        set.iter()
                            .map(|(_, _, ixn)| *ixn)
                            .filter(|ixn| {
                                model
                                    .records
                                    .get(ixn)
                                    .is_some_and(|r| view_cfg.matches(&r.2))
                            })
                            .take(ixns.len())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut all_pullable = true;
                for ixn in ixns {
                    let pullable = model.key(*ixn).is_some_and(|key| {
                        model
                            .available
                            .get(queue)
                            .is_some_and(|set| set.contains(&key))
                    });
                    if !pullable {
                        all_pullable = false;
                        violations.push(Violation {
                            oracle: OWNER,
                            at_ms: entry.at,
                            detail: format!("{client} pulled {ixn} from {queue}/{view} but it was owned, in flight or elsewhere"),
                        });
                    }
                }
                if all_pullable && &expected != ixns {
                    violations.push(Violation {
                        oracle: ORDER,
                        at_ms: entry.at,
                        detail: format!(
                            "{client} pulled {} from {queue}/{view}; view order says {}",
                            id_list(ixns),
                            id_list(&expected)
                        ),
                    });
                }
                for ixn in ixns {
                    model.remove_available(*ixn);
                }
            }
            _ => {}
        }
    }
    violations
}

/// [S-IS-durable]: a (re)started or promoted node loads every acknowledged interaction of its
/// database that nobody has stopped, keeps owned what an agent holds, and loads none whose
/// completion an agent saw acknowledged. (One whose stop was still on its
/// way to the database may come back or not: both are correct.)
pub fn durable(input: &OracleInput<'_>) -> Vec<Violation> {
    let mut acked = BTreeSet::new();
    let mut completed = BTreeSet::new();
    let mut stopping = BTreeSet::new();
    // Interactions in an agent's hands, with the host of the desktop holding them.
    let mut held: BTreeMap<IxnId, u16> = BTreeMap::new();
    // The node (database) each interaction was last submitted to.
    let mut node_of: BTreeMap<IxnId, u16> = BTreeMap::new();
    let mut serving = Serving::default();
    let mut lives = Lives::default();
    let mut violations = Vec::new();
    let entries = &input.trace.entries;
    for (index, entry) in entries.iter().enumerate() {
        let speaks = serving.observe(entry.host, &entry.event);
        lives.observe(&entry.event);
        match &entry.event {
            TraceEvent::SubmitAcked { ixn } => {
                acked.insert(*ixn);
            }
            TraceEvent::AgentTook { ixn, .. } => {
                held.insert(*ixn, entry.host);
            }
            TraceEvent::AgentCompleted { ixn, .. } => {
                if lives.completes_current(*ixn) {
                    completed.insert(*ixn);
                }
                held.remove(ixn);
            }
            TraceEvent::AgentDropped { ixn, .. } => {
                held.remove(ixn);
            }
            TraceEvent::ProcessKilled => held.retain(|_, host| *host != entry.host),
            TraceEvent::Stopped { ixn } => {
                stopping.insert(*ixn);
            }
            // A media server resubmitted an id after it was completed (its mailbox removal was
            // cut off by a crash): a new life of the interaction, held to the rules afresh.
            TraceEvent::Submitted { ixn, .. } => {
                completed.remove(ixn);
                stopping.remove(ixn);
                if let Some(node) = speaks {
                    node_of.insert(*ixn, node);
                }
            }
            TraceEvent::NodeStarted { node, .. } => {
                let loaded: BTreeMap<IxnId, bool> = entries[index + 1..]
                    .iter()
                    .take_while(|next| next.host == entry.host && next.at == entry.at)
                    .filter_map(|next| match &next.event {
                        TraceEvent::Loaded { ixn, owner, .. } => Some((*ixn, owner.is_some())),
                        _ => None,
                    })
                    .collect();
                let mut fail = |detail: String| {
                    violations.push(Violation {
                        oracle: DURABLE,
                        at_ms: entry.at,
                        detail,
                    })
                };
                for ixn in acked.difference(&completed) {
                    let here = node_of.get(ixn) == Some(node);
                    if here && !loaded.contains_key(ixn) && !stopping.contains(ixn) {
                        fail(format!(
                            "{ixn} was acknowledged but the restarted node did not load it"
                        ));
                    }
                }
                for ixn in held.keys() {
                    if loaded.get(ixn) == Some(&false) {
                        fail(format!(
                            "{ixn} is in an agent's hands but the restarted node loaded it unowned"
                        ));
                    }
                }
                stopping.retain(|ixn| !loaded.contains_key(ixn));
                for ixn in loaded.keys().filter(|ixn| completed.contains(ixn)) {
                    fail(format!(
                        "{ixn} was completed but the restarted node loaded it again"
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}
