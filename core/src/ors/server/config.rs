//! The configuration of an ORS instance [S-ORS]: its queues and strategies, the options of
//! [S-ORS-pull], [S-ORS-session], [S-ORS-fail] and [S-ORS-ha], the release it runs
//! [S-OPS-rolling], and the bugs the harness can plant in it.
//!
//! Plain data: nothing here acts.

use crate::ids::TenantId;
use crate::ors::strategy::Strategy;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsQueue {
    pub queue: String,
    pub view: String,
    /// Index into [`OrsConfig::strategies`].
    pub strategy: usize,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsConfig {
    pub name: String,
    pub tenant: TenantId,
    pub queues: Vec<OrsQueue>,
    pub strategies: Vec<Strategy>,
    /// `mcr-pull-by-this-node`.
    pub pull_by_this_node: bool,
    /// `mcr-pull-limit`.
    pub pull_limit: u32,
    /// `new-session-on-reroute`.
    pub new_session_on_reroute: bool,
    pub pull_hold_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Sessions this server can run at once; creating one more fails.
    pub max_sessions: Option<u32>,
    /// `mcr-queue-on-fails`: where an interaction goes when its session cannot be created
    /// (default: back to the queue it came from).
    pub queue_on_fails: Option<String>,
    /// `ixnfm-idle-session-ttl`: a session left with no interaction (after routing it away)
    /// ends after this long.
    pub idle_session_ttl_ms: Option<u64>,
    /// `om-memory-optimization`: keep at most `om_max_in_memory` passive interactions (parked
    /// in a queue with their association) in memory, evicting the oldest first.
    pub om_memory_optimization: bool,
    /// `om-max-in-memory`.
    pub om_max_in_memory: u32,
    /// `om-delete-from-memory`: evict a passive interaction as soon as it is parked.
    pub om_delete_from_memory: bool,
    /// Primary/backup operation under the supervisor [S-ORS-ha]; `None`: a lone instance,
    /// primary from the start.
    pub ha: Option<OrsHa>,
    /// The release this process runs.
    pub version: OrsVersion,
    /// How long a delivery may go without the agent's answer before the session hears that it
    /// failed (the node's invite timeout plus a round trip: past it, the answer was lost).
    pub delivery_timeout_ms: u64,
    pub tick_ms: u64,
    /// A deliberately planted bug (harness self-test); `None` in every real scenario.
    pub planted_bug: Option<OrsBug>,
}

/// ORS releases, for rolling upgrades [S-OPS-rolling]. Seed 001: persistence (sessions and
/// session-to-server information) does not survive a migration from 8.1.2; from 8.1.3 on, HA
/// pairs upgrade one member at a time and keep their sessions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum OrsVersion {
    V812,
    V813,
    V814,
}

impl OrsVersion {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "8.1.2" => Some(OrsVersion::V812),
            "8.1.3" => Some(OrsVersion::V813),
            "8.1.4" => Some(OrsVersion::V814),
            _ => None,
        }
    }

    /// The persistence format it writes and reads: 8.1.2's is not readable by later releases.
    pub fn store_format(self) -> u32 {
        match self {
            OrsVersion::V812 => 1,
            OrsVersion::V813 | OrsVersion::V814 => 2,
        }
    }
}

/// [S-ORS-ha] options of an ORS pair.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OrsHa {
    /// Persist sessions so that the backup recovers them (`_sendSessionRecovered`).
    pub persistence: bool,
    /// `backup-synch-max-age`: the sync buffer is flushed at least this often (ms).
    pub sync_max_age_ms: u64,
    /// `backup-synch-max-buffer`: ... or as soon as it holds this many session changes (the
    /// product counts KB; a change is the unit here).
    pub sync_max_buffer: u32,
}

/// Bugs the harness can plant in ORS to prove its oracles find them. A scenario names them in
/// kebab case (`[ors] planted_bug = "no-forwarding"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrsBug {
    /// `<detach>` succeeds before the association's user data is confirmed, so the session
    /// routes too early: caught by [S-ORS-detach].
    DetachBeforeConfirm,
    /// `<deliver>` goes ahead for a session that still holds the interaction (no
    /// interaction.detach.done): routing before the detach, caught by [S-ORS-detach].
    RouteWithoutDetach,
    /// An evicted passive interaction is not reloaded when it is pulled again: the server takes
    /// it and does nothing with it, so it is never routed: caught by [S-INV-live].
    EvictionLosesInteraction,
    /// An instance that pulls an interaction associated with another instance's session starts
    /// its own session instead of handing it over: two sessions control one interaction,
    /// caught by [S-ORS-pull].
    NoForwarding,
    /// A promoted backup skips the first session of the state it read (an off-by-one in the
    /// recovery loop): its interaction stays associated with a session nobody runs, caught by
    /// [S-ORS-ha]'s recovery completeness.
    RecoveryDropsFirstSession,
    /// A promoted backup numbers its new sessions on from the state it read only, not past
    /// its term's epoch: it reuses the ids of sessions its predecessor started after its last
    /// flush, caught by [S-ORS-ha]'s session-id check.
    ReusedSessionIds,
    /// A session keeps the first agent a `queue:submit` returned: after a refused or rejected
    /// delivery it selects again but routes to that first agent, not to the one the URS
    /// returned this time. Caught by [S-ORS-submit].
    KeepsFirstTarget,
    /// An interaction whose session cannot be created goes back to the queue it came from,
    /// ignoring `mcr-queue-on-fails`. Caught by [S-ORS-fail].
    FailsToOriginQueue,
    /// When the node says an interaction is not this server's any more, the session hears
    /// interaction.notcontrolled but keeps its association: it goes on detaching, and gets the
    /// interaction back when it is pulled again. Caught by [S-ORS-assoc].
    LostControlKeepsAssociation,
    /// A `queue:submit` with route=true whose agent accepted tells the session nothing (no
    /// queue.submit.done, no interaction.notcontrolled): it waits on, until the idle ttl ends
    /// it. Caught by [S-ORS-submit].
    SubmitRouteUnheard,
}
