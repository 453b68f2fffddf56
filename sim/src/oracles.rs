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
//! This file is the list: [`check_all`] runs every oracle, in a fixed order (the order of the
//! violations a run reports). Each oracle lives in its own file under `oracles/`; what several
//! share lives beside them and judges nothing: `nodes.rs` (which host speaks for which node),
//! `completion.rs` (what became of the acknowledged interactions), `links.rs` (a proxy's node
//! connections) and `logins.rs` (the agents each node has logged in).
//!
//! # Which SPEC tag is checked where
//!
//! Checked on every run, by a named oracle (a violation carries the tag):
//!
//! - [S-INV-lost]: `lost.rs`. [S-INV-owner]: `owner.rs` (the agents' hands) and `order.rs`
//!   (with [S-IS-pull]'s "an owned interaction is never returned to another puller"), with
//!   [S-INV-order]. [S-IS-durable]: `durable.rs`. [S-OPS-switchover]: `switchover.rs`.
//!   [S-ORS-detach]: `detach.rs`. [S-ORS-pull] (with [S-ORS-session] across the cluster):
//!   `ors_pull.rs`.
//! - [S-INV-live], in scenarios with `[liveness]`: `live.rs`. [S-IS-owner]'s release after the
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
//!   `refusals.rs`. [S-PX-2003]'s other half, a broadcast lookup answered "not found" while a
//!   node was not connected when the request came or was given up on: `lookups.rs`.
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
//!   supervisor and the clients keep the default, none yet): `machine.rs`. [S-PX-2004] is one of the
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
mod completion;
mod detach;
mod durable;
mod grace;
mod hold;
mod licensing;
mod links;
mod live;
mod logins;
mod lookups;
mod lost;
mod machine;
mod nodes;
mod order;
mod ors_pull;
mod owner;
mod recovery;
mod refusals;
mod resubmit;
mod revoke;
mod rotation;
mod routing;
mod scope;
mod sessions;
mod snapshot;
mod switchover;

pub use agents::{proxy_agents, PX_AGENT};
pub use capacity::{agent_capacity, AGENT_CAPACITY};
pub use detach::{ors_detach, ORS_DETACH};
pub use durable::{durable, DURABLE};
pub use grace::{owner_grace, IS_OWNER};
pub use hold::{held_pulls, HOLD};
pub use licensing::{licensing, SeatRules, LIC_CHECKOUT, LIC_SHRINK};
pub use live::{live, LIVE};
pub use lookups::proxy_lookups;
pub use lost::{lost, LOST};
pub use machine::MACHINE;
pub use order::{pull_order, ORDER};
pub use ors_pull::{ors_pull, ORS_PULL};
pub use owner::{agent_owner, OWNER};
pub use recovery::{ors_recovery, ORS_HA};
pub use refusals::{proxy_refusals, ProxyRules, PX_2000, PX_2002, PX_2003, PX_2006};
pub use resubmit::{urs_resubmit, URS_RR};
pub use revoke::{proxy_revoke, LIC_REVOKE};
pub use rotation::{proxy_rotation, PX_PULL};
pub use routing::{proxy_routing, PX_2001, PX_DISABLED, PX_ROUTE};
pub use scope::{urs_scope, URS_SCOPE};
pub use sessions::{ors_sessions, ORS_ASSOC, ORS_FAIL, ORS_SUBMIT};
pub use snapshot::{snapshots, SnapshotRules, IS_SNAPSHOT, PX_MERGE};
pub use switchover::{one_writer, SWITCHOVER};

use crate::trace::Trace;
use ixsim_core::db::IsDatabase;
use ixsim_core::ids::SimTime;
use ixsim_core::is_node::ViewConfig;
use machine::machine_invariants;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const TRACE_BOUND: &str = "trace-bound";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub oracle: &'static str,
    pub at_ms: SimTime,
    pub detail: String,
}

impl Violation {
    fn new(oracle: &'static str, at_ms: SimTime, detail: String) -> Self {
        Violation {
            oracle,
            at_ms,
            detail,
        }
    }
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

/// Every oracle on one run, in this order: a run reports its violations in it, so a seed's
/// first violation (what a sweep prints) depends on it.
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
    violations.extend(proxy_lookups(input, &input.proxies));
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

/// `[a b c]`, as the trace lists interactions and sessions.
fn id_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let ids: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    format!("[{}]", ids.join(" "))
}
