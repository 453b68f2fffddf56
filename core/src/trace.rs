//! What machines report happened. The sim stamps each event with time and host and keeps one
//! ordered trace per run; oracles read it, insta snapshots render it.
//!
//! Events state facts (what was submitted, pulled, accepted), not conclusions, so that oracles
//! can rebuild what should have happened independently of the machine under test.
//!
//! Must not: format anything when an event is created; rendering happens once, at the end.

use crate::ids::{AgentId, IxnId, SimTime, TenantId};
use crate::kv::{KvList, KvValue};
use crate::protocol::{ErrorCode, Request};
use serde::Serialize;
use std::fmt;

/// Interaction ids in serialized traces: the trace's hex text.
mod hex {
    use crate::ids::IxnId;
    use serde::ser::{SerializeSeq, Serializer};

    pub fn ixn<S: Serializer>(ixn: &IxnId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(ixn)
    }

    pub fn opt_ixn<S: Serializer>(ixn: &Option<IxnId>, serializer: S) -> Result<S::Ok, S::Error> {
        match ixn {
            Some(ixn) => serializer.collect_str(ixn),
            None => serializer.serialize_none(),
        }
    }

    pub fn ixns<S: Serializer>(ixns: &[IxnId], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(ixns.len()))?;
        for ixn in ixns {
            seq.serialize_element(&ixn.to_string())?;
        }
        seq.end()
    }
}

/// Why an interaction went back to its queue without a RequestPlaceInQueue.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseReason {
    /// The owning client stayed disconnected past the grace period [S-IS-owner].
    OwnerGone,
}

/// Why an agent desktop stopped holding an interaction without completing it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    Disconnected,
    Refused,
}

/// Serializes (for `ixsim run --trace --json`) as `{"event": "kebab-name", ...fields}`, with
/// interaction ids as the hex text the trace shows (a JSON number cannot hold 64 bits exactly).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum TraceEvent {
    // Interaction Server node.
    NodeStarted {
        node: u16,
        interactions: usize,
    },
    Submitted {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        tenant: TenantId,
        queue: String,
        priority: i32,
        seq: u64,
        user_data: KvList,
    },
    /// A durable write reached the database and the node may now acknowledge it.
    Persisted {
        writes: u64,
    },
    Pulled {
        client: String,
        queue: String,
        view: String,
        #[serde(serialize_with = "hex::ixns")]
        ixns: Vec<IxnId>,
    },
    /// An ORS session's step that concerns control of an interaction [S-ORS].
    OrsSession {
        session: u64,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        what: String,
    },
    /// A prober's scripted request got its answer (`code` for an error).
    ProbeAnswered {
        step: u32,
        request: &'static str,
        answer: &'static str,
        code: Option<ErrorCode>,
    },
    /// A prober's snapshot step (asked at `asked_at_ms` at the earliest) was answered with these
    /// interactions [S-IS-snapshot] [S-PX-merge].
    SnapshotSeen {
        queue: String,
        view: String,
        max: u32,
        asked_at_ms: SimTime,
        #[serde(serialize_with = "hex::ixns")]
        ixns: Vec<IxnId>,
    },
    /// A prober's find step (RequestFindInteractions of `tenant`'s interactions whose user
    /// data has `key` = `equals`, at most `max` from each node, asked at `asked_at_ms` at the
    /// earliest) was answered with these interactions [S-PX-merge].
    FoundSeen {
        tenant: TenantId,
        key: String,
        equals: KvValue,
        max: u32,
        asked_at_ms: SimTime,
        #[serde(serialize_with = "hex::ixns")]
        ixns: Vec<IxnId>,
    },
    /// A proxy sent a client's pull to node `node` (index, 0-based) by its round-robin turn
    /// [S-PX-pull].
    ProxyPullSent {
        client: String,
        tenant: TenantId,
        queue: String,
        view: String,
        node: u16,
    },
    /// A proxy sent a client's submit of `media` for `tenant` to node `node` (index, 0-based)
    /// [S-PX-route]; `ixn` is the client-supplied id, if any.
    ProxySubmitSent {
        client: String,
        tenant: TenantId,
        media: String,
        #[serde(serialize_with = "hex::opt_ixn")]
        ixn: Option<IxnId>,
        node: u16,
    },
    /// A proxy refused a client's submit of `media` for `tenant` with `code` without sending
    /// it to any node [S-PX-2001] [S-PX-2002].
    ProxySubmitRefused {
        client: String,
        tenant: TenantId,
        media: String,
        code: ErrorCode,
    },
    /// A proxy acknowledged an agent's login, logout, ready or not-ready (`request`) to its
    /// desktop; the desktop's request reached the proxy at `asked_at_ms` [S-PX-agent].
    ProxyAgentAcked {
        agent: AgentId,
        request: &'static str,
        tenant: TenantId,
        asked_at_ms: SimTime,
    },
    /// A proxy refused an agent's login, logout, ready or not-ready (`request`) with `code`;
    /// the desktop's request reached the proxy at `asked_at_ms`, and the nodes in `acked`
    /// (indexes, 0-based) had carried it out. A refused login is revoked on every node that
    /// took it or did not answer [S-LIC-revoke].
    ProxyAgentRefused {
        agent: AgentId,
        request: &'static str,
        code: ErrorCode,
        asked_at_ms: SimTime,
        acked: Vec<u16>,
    },
    /// A proxy answered a client's `request` about `ixn` "not found" (error 3) after a
    /// broadcast lookup, the request having reached it at `asked_at_ms`: every node it asked
    /// said "not found". Right only if every node was asked and answered [S-PX-2003].
    ProxyLookupNotFound {
        client: String,
        request: &'static str,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        asked_at_ms: SimTime,
    },
    ProxyPulled {
        client: String,
        queue: String,
        view: String,
        #[serde(serialize_with = "hex::ixns")]
        ixns: Vec<IxnId>,
    },
    /// A pull found nothing and is held; `asked_ms` is the hold the pull asked for (`None`:
    /// the node's own `pull-hold-timeout`) [S-IS-hold].
    PullHeld {
        client: String,
        queue: String,
        view: String,
        asked_ms: Option<u64>,
    },
    /// A held pull's hold ran out: it was answered empty [S-IS-hold].
    PullExpired {
        client: String,
        queue: String,
        view: String,
    },
    /// A held pull's connection went away; the node dropped it unanswered.
    PullDropped {
        client: String,
        queue: String,
        view: String,
    },
    Placed {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        queue: String,
    },
    /// A submitted or placed interaction is durable and now pullable in `queue`.
    Queued {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        queue: String,
    },
    Released {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        queue: String,
        reason: ReleaseReason,
        /// The client that owned it.
        owner: String,
    },
    /// The (re)started node loaded this interaction from the database, owned or pullable.
    Loaded {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        queue: String,
        owner: Option<String>,
        /// The agent handling it, when the stored owner is an agent's desktop (it counts
        /// against the agent's capacity again) [S-URS-select].
        agent: Option<AgentId>,
    },
    UserDataChanged {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        changes: KvList,
    },
    Invited {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        agent: AgentId,
    },
    InviteTimedOut {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        agent: AgentId,
    },
    Accepted {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        agent: AgentId,
    },
    Rejected {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        agent: AgentId,
    },
    Stopped {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    AgentLoggedIn {
        agent: AgentId,
    },
    /// The license server granted `granted` of `requested` seats to a license group.
    SeatsGranted {
        group: String,
        requested: u32,
        granted: u32,
    },
    /// A node's seat limit (configured, and granted by the license server) [S-LIC].
    SeatLimit {
        seats: u32,
    },
    AgentLoggedOut {
        agent: AgentId,
    },
    AgentReady {
        agent: AgentId,
    },
    ClientRegistered {
        client: String,
    },
    ClientGone {
        client: String,
    },
    RequestFailed {
        request: &'static str,
        code: ErrorCode,
    },
    // Clients.
    SubmitAcked {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    SubmitGaveUp {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    AgentTook {
        agent: AgentId,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    AgentCompleted {
        agent: AgentId,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    AgentDropped {
        agent: AgentId,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        reason: DropReason,
    },
    RequestTimedOut {
        request: &'static str,
    },
    // HA: pair members and the supervisor [S-OPS-switchover].
    /// A pair member took the database lock for `epoch` and now serves as primary (its node's
    /// NodeStarted and Loaded follow).
    Promoted {
        pair: u16,
        epoch: u64,
    },
    /// A primary dropped its node on the supervisor's order and is a backup now.
    Demoted {
        pair: u16,
    },
    /// The store refused this member's write: a newer epoch holds the lock. It dropped its node
    /// without acknowledging anything more and is a backup now.
    Fenced {
        pair: u16,
    },
    /// The supervisor declared a pair's primary gone (silent past the heartbeat timeout, or its
    /// connection closed).
    PrimaryLost {
        pair: u16,
        host: String,
    },
    PromoteOrdered {
        pair: u16,
        host: String,
        epoch: u64,
    },
    DemoteOrdered {
        pair: u16,
        host: String,
    },
    SwitchoverOrdered {
        pair: u16,
    },
    SwitchoverRefused {
        pair: u16,
        reason: &'static str,
    },
    // Shell and runner.
    Connected {
        peer: String,
    },
    Disconnected {
        peer: String,
    },
    /// A proxy took node `node` (its index) for dead: a request timed out and nothing came from
    /// it for a whole request timeout; it closes the connection and connects again.
    NodeDeclaredDead {
        node: u16,
    },
    /// A proxy gave up waiting for node `node` (its index) on a request: no answer within the
    /// proxy's request timeout [S-PX-2002].
    NodeSilent {
        node: u16,
    },
    Fault {
        what: String,
    },
    /// The runner killed this host's process (crash or bounce): whatever it held in memory is
    /// gone, including an agent's interactions.
    ProcessKilled,
    /// The shell found the machine's own invariants broken after an input [S-INV-machine]
    /// (reported once per host and run: a broken index tends to stay broken).
    InvariantBroken {
        problem: String,
    },
    /// A URS selected (and, with `agent_reservation`, reserved) `agent` for `ixn` [S-URS-select].
    UrsSelected {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        agent: AgentId,
    },
    /// Direct mode: a URS sent the delivery of `ixn` to node `node` (index, 0-based)
    /// [S-URS-scope].
    UrsDeliverSent {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        node: u16,
    },
    /// A URS found no available agent for `ixn` within the submit's timeout.
    UrsNoTarget {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    /// A node answered a pull after the proxy gave up on it; the proxy puts the interaction
    /// back in its queue on the client's behalf.
    LatePullReturned {
        client: String,
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
    },
    /// An owner handed an interaction to another client (RequestTransfer).
    Transferred {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        from: String,
        to: String,
    },
    /// Direct mode: the node submitted `ixn` to URS client `urs` for `strategy` [S-URS-rr].
    RouteRequested {
        #[serde(serialize_with = "hex::ixn")]
        ixn: IxnId,
        urs: String,
        strategy: String,
    },
    /// A promoted ORS could not read its pair's persisted sessions (written by a release with
    /// another persistence format) [S-OPS-rolling].
    OrsPersistenceLost {
        sessions: u32,
    },
    /// An ORS primary flushed its sync buffer (traced by the shell from the write it issued):
    /// the sessions the write holds and the interactions with an association in it [S-ORS-ha].
    OrsFlushed {
        sessions: Vec<u64>,
        #[serde(serialize_with = "hex::ixns")]
        linked: Vec<IxnId>,
    },
    /// The pair's store answered this host's oldest outstanding flush (traced by the shell at
    /// commit time): stored, or refused because a newer promotion holds the store [S-ORS-ha].
    OrsStored {
        fenced: bool,
    },
    /// A promoted ORS read its pair's store under promotion `epoch` (traced by the shell from
    /// what the store returned): the sessions and the interactions with an association (held
    /// or detached) that it must recover [S-ORS-ha].
    OrsLoaded {
        epoch: u64,
        sessions: Vec<u64>,
        #[serde(serialize_with = "hex::ixns")]
        linked: Vec<IxnId>,
    },
    /// The pair's store refused a promotion's read: it holds `epoch` or a newer one [S-ORS-ha].
    OrsLoadFenced {
        epoch: u64,
    },
    /// An ORS pair member became primary (promoted) or backup (demoted, fenced) [S-ORS-ha].
    OrsRole {
        primary: bool,
    },
    /// An ORS asks for `count` more interactions while it holds `holding` [S-ORS-pull].
    OrsPullAsked {
        count: u32,
        holding: u32,
    },
    /// An ORS took interactions (pulled, forwarded to it, or told again after a reconnect) and
    /// now holds `holding` in all [S-ORS-pull].
    OrsTook {
        #[serde(serialize_with = "hex::ixns")]
        ixns: Vec<IxnId>,
        holding: u32,
        /// Taken by its own pull (not handed over or listed again).
        pulled: bool,
    },
    /// A fault point fired: the machine took this rare but legal path ([`crate::buggify`]).
    Buggify {
        site: &'static str,
    },
}

impl TraceEvent {
    pub fn request_failed(request: &Request, code: ErrorCode) -> Self {
        TraceEvent::RequestFailed {
            request: request.name(),
            code,
        }
    }
}

/// `[a b c]`: interaction ids, session numbers.
fn ids<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    f.write_str("[")?;
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str("]")
}

impl fmt::Display for TraceEvent {
    /// Sends each event to the function of its group, which writes its text. The text is what a
    /// run's trace hash is taken over and what the snapshots hold: changing it changes them all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::NodeStarted { .. }
            | E::Submitted { .. }
            | E::Persisted { .. }
            | E::Placed { .. }
            | E::Queued { .. }
            | E::Loaded { .. }
            | E::Released { .. }
            | E::UserDataChanged { .. }
            | E::Invited { .. }
            | E::InviteTimedOut { .. }
            | E::Accepted { .. }
            | E::Rejected { .. }
            | E::Stopped { .. }
            | E::Transferred { .. }
            | E::RouteRequested { .. } => self.fmt_node(f),
            E::Pulled { .. }
            | E::PullHeld { .. }
            | E::PullExpired { .. }
            | E::PullDropped { .. } => self.fmt_pull(f),
            E::AgentLoggedIn { .. }
            | E::AgentLoggedOut { .. }
            | E::AgentReady { .. }
            | E::SeatsGranted { .. }
            | E::SeatLimit { .. }
            | E::AgentTook { .. }
            | E::AgentCompleted { .. }
            | E::AgentDropped { .. }
            | E::ProxyAgentAcked { .. }
            | E::ProxyAgentRefused { .. } => self.fmt_agent(f),
            E::ProxyPullSent { .. }
            | E::ProxySubmitSent { .. }
            | E::ProxySubmitRefused { .. }
            | E::ProxyPulled { .. }
            | E::ProxyLookupNotFound { .. }
            | E::LatePullReturned { .. }
            | E::NodeDeclaredDead { .. }
            | E::NodeSilent { .. } => self.fmt_proxy(f),
            E::ClientRegistered { .. }
            | E::ClientGone { .. }
            | E::RequestFailed { .. }
            | E::SubmitAcked { .. }
            | E::SubmitGaveUp { .. }
            | E::RequestTimedOut { .. }
            | E::ProbeAnswered { .. }
            | E::SnapshotSeen { .. }
            | E::FoundSeen { .. } => self.fmt_client(f),
            E::Promoted { .. }
            | E::Demoted { .. }
            | E::Fenced { .. }
            | E::PrimaryLost { .. }
            | E::PromoteOrdered { .. }
            | E::DemoteOrdered { .. }
            | E::SwitchoverOrdered { .. }
            | E::SwitchoverRefused { .. } => self.fmt_ha(f),
            E::Connected { .. }
            | E::Disconnected { .. }
            | E::Fault { .. }
            | E::InvariantBroken { .. }
            | E::ProcessKilled
            | E::Buggify { .. } => self.fmt_shell(f),
            E::UrsSelected { .. }
            | E::UrsDeliverSent { .. }
            | E::UrsNoTarget { .. }
            | E::OrsSession { .. }
            | E::OrsPersistenceLost { .. }
            | E::OrsFlushed { .. }
            | E::OrsStored { .. }
            | E::OrsLoaded { .. }
            | E::OrsLoadFenced { .. }
            | E::OrsRole { .. }
            | E::OrsPullAsked { .. }
            | E::OrsTook { .. } => self.fmt_routing(f),
        }
    }
}

/// The text of each group of events, for [`TraceEvent`]'s `Display`. `fmt`'s exhaustive match
/// sends each event to the one function of its group, so their catch-all arms are never taken:
/// a new event gets its group there (the compiler asks for it), then its text here.
impl TraceEvent {
    /// What an IS node did with interactions, from its start on.
    fn fmt_node(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::NodeStarted { node, interactions } => {
                write!(f, "node-started node={node} interactions={interactions}")
            }
            E::Submitted {
                ixn,
                tenant,
                queue,
                priority,
                seq,
                user_data,
            } => write!(
                f,
                "submitted {ixn} tenant={tenant} queue={queue} prio={priority} seq={seq} ud={user_data}"
            ),
            E::Persisted { writes } => write!(f, "persisted writes<={writes}"),
            E::Placed { ixn, queue } => write!(f, "placed {ixn} queue={queue}"),
            E::Queued { ixn, queue } => write!(f, "queued {ixn} queue={queue}"),
            E::Loaded {
                ixn,
                queue,
                owner,
                agent,
            } => {
                write!(f, "loaded {ixn} queue={queue}")?;
                if let Some(owner) = owner {
                    write!(f, " owner={owner}")?;
                }
                match agent {
                    Some(agent) => write!(f, " {agent}"),
                    None => Ok(()),
                }
            }
            E::Released {
                ixn,
                queue,
                reason,
                owner,
            } => {
                write!(f, "released {ixn} queue={queue} reason={reason:?} owner={owner}")
            }
            E::UserDataChanged { ixn, changes } => write!(f, "user-data {ixn} {changes}"),
            E::Invited { ixn, agent } => write!(f, "invited {ixn} {agent}"),
            E::InviteTimedOut { ixn, agent } => write!(f, "invite-timeout {ixn} {agent}"),
            E::Accepted { ixn, agent } => write!(f, "accepted {ixn} {agent}"),
            E::Rejected { ixn, agent } => write!(f, "rejected {ixn} {agent}"),
            E::Stopped { ixn } => write!(f, "stopped {ixn}"),
            E::Transferred { ixn, from, to } => write!(f, "transferred {ixn} {from} -> {to}"),
            E::RouteRequested { ixn, urs, strategy } => {
                write!(f, "route-request {ixn} to={urs} strategy={strategy}")
            }
            _ => unreachable!("not a node event: {self:?}"),
        }
    }

    /// A node's pulls: answered, held, expired, dropped.
    fn fmt_pull(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::Pulled {
                client,
                queue,
                view,
                ixns,
            } => {
                write!(f, "pulled by={client} {queue}/{view} ")?;
                self::ids(f, ixns)
            }
            E::PullHeld {
                client,
                queue,
                view,
                asked_ms,
            } => {
                write!(f, "pull-held by={client} {queue}/{view}")?;
                match asked_ms {
                    Some(ms) => write!(f, " hold={ms}ms"),
                    None => Ok(()),
                }
            }
            E::PullExpired {
                client,
                queue,
                view,
            } => write!(f, "pull-expired by={client} {queue}/{view}"),
            E::PullDropped {
                client,
                queue,
                view,
            } => write!(f, "pull-dropped by={client} {queue}/{view}"),
            _ => unreachable!("not a pull event: {self:?}"),
        }
    }

    /// Agents: logins and seats at the nodes, what desktops hold, what a proxy answered them.
    fn fmt_agent(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::AgentLoggedIn { agent } => write!(f, "login {agent}"),
            E::AgentLoggedOut { agent } => write!(f, "logout {agent}"),
            E::AgentReady { agent } => write!(f, "ready {agent}"),
            E::SeatsGranted {
                group,
                requested,
                granted,
            } => write!(f, "seats {group} granted {granted} of {requested}"),
            E::SeatLimit { seats } => write!(f, "seat-limit {seats}"),
            E::AgentTook { agent, ixn } => write!(f, "agent-took {agent} {ixn}"),
            E::AgentCompleted { agent, ixn } => write!(f, "agent-completed {agent} {ixn}"),
            E::AgentDropped { agent, ixn, reason } => {
                write!(f, "agent-dropped {agent} {ixn} reason={reason:?}")
            }
            E::ProxyAgentAcked {
                agent,
                request,
                tenant,
                asked_at_ms,
            } => write!(
                f,
                "proxy-agent-acked {agent} {request} tenant={} asked={asked_at_ms}ms",
                tenant.0
            ),
            E::ProxyAgentRefused {
                agent,
                request,
                code,
                asked_at_ms,
                acked,
            } => {
                write!(
                    f,
                    "proxy-agent-refused {agent} {request} {code} asked={asked_at_ms}ms acked="
                )?;
                if acked.is_empty() {
                    write!(f, "-")?;
                }
                for (i, node) in acked.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep}srv{node}")?;
                }
                Ok(())
            }
            _ => unreachable!("not an agent event: {self:?}"),
        }
    }

    /// Where a proxy sent clients' requests, and what it made of its nodes.
    fn fmt_proxy(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::ProxyPullSent {
                client,
                tenant,
                queue,
                view,
                node,
            } => write!(
                f,
                "proxy-pull-to srv{node} for={client} tenant={} {queue}/{view}",
                tenant.0
            ),
            E::ProxySubmitSent {
                client,
                tenant,
                media,
                ixn,
                node,
            } => {
                write!(
                    f,
                    "proxy-submit-to srv{node} for={client} tenant={} media={media}",
                    tenant.0
                )?;
                match ixn {
                    Some(ixn) => write!(f, " id={ixn}"),
                    None => Ok(()),
                }
            }
            E::ProxySubmitRefused {
                client,
                tenant,
                media,
                code,
            } => write!(
                f,
                "proxy-submit-refused for={client} tenant={} media={media} {code}",
                tenant.0
            ),
            E::ProxyPulled {
                client,
                queue,
                view,
                ixns,
            } => {
                write!(f, "proxy-pulled for={client} {queue}/{view} ")?;
                self::ids(f, ixns)
            }
            E::ProxyLookupNotFound {
                client,
                request,
                ixn,
                asked_at_ms,
            } => write!(
                f,
                "proxy-lookup-not-found {ixn} for={client} {request} asked={asked_at_ms}ms"
            ),
            E::LatePullReturned { client, ixn } => {
                write!(f, "late-pull-returned {ixn} for={client}")
            }
            E::NodeDeclaredDead { node } => write!(f, "node-declared-dead srv{node}"),
            E::NodeSilent { node } => write!(f, "node-silent srv{node}"),
            _ => unreachable!("not a proxy event: {self:?}"),
        }
    }

    /// What a client saw: its registration, answers, and a prober's steps.
    fn fmt_client(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::ClientRegistered { client } => write!(f, "registered {client}"),
            E::ClientGone { client } => write!(f, "client-gone {client}"),
            E::RequestFailed { request, code } => write!(f, "error {request} {code}"),
            E::SubmitAcked { ixn } => write!(f, "submit-acked {ixn}"),
            E::SubmitGaveUp { ixn } => write!(f, "submit-gave-up {ixn}"),
            E::RequestTimedOut { request } => write!(f, "request-timeout {request}"),
            E::ProbeAnswered {
                step,
                request,
                answer,
                code,
            } => {
                write!(f, "probe #{step} {request} -> {answer}")?;
                match code {
                    Some(code) => write!(f, " {}", code.number()),
                    None => Ok(()),
                }
            }
            E::SnapshotSeen {
                queue,
                view,
                max,
                asked_at_ms,
                ixns,
            } => {
                write!(
                    f,
                    "snapshot-seen {queue}/{view} max={max} asked={asked_at_ms}ms "
                )?;
                ids(f, ixns)
            }
            E::FoundSeen {
                tenant,
                key,
                equals,
                max,
                asked_at_ms,
                ixns,
            } => {
                write!(
                    f,
                    "found-seen tenant={} {key}={equals} max={max} asked={asked_at_ms}ms ",
                    tenant.0
                )?;
                ids(f, ixns)
            }
            _ => unreachable!("not a client event: {self:?}"),
        }
    }

    /// IS pairs and their supervisor.
    fn fmt_ha(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::Promoted { pair, epoch } => write!(f, "promoted pair={pair} epoch={epoch}"),
            E::Demoted { pair } => write!(f, "demoted pair={pair}"),
            E::Fenced { pair } => write!(f, "fenced pair={pair}"),
            E::PrimaryLost { pair, host } => write!(f, "primary-lost pair={pair} {host}"),
            E::PromoteOrdered { pair, host, epoch } => {
                write!(f, "promote pair={pair} {host} epoch={epoch}")
            }
            E::DemoteOrdered { pair, host } => write!(f, "demote pair={pair} {host}"),
            E::SwitchoverOrdered { pair } => write!(f, "switchover pair={pair}"),
            E::SwitchoverRefused { pair, reason } => {
                write!(f, "switchover-refused pair={pair} ({reason})")
            }
            _ => unreachable!("not an HA event: {self:?}"),
        }
    }

    /// What the shells and the runner did to a host: connections, faults, checks.
    fn fmt_shell(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::Connected { peer } => write!(f, "connected {peer}"),
            E::Disconnected { peer } => write!(f, "disconnected {peer}"),
            E::Fault { what } => write!(f, "FAULT {what}"),
            E::InvariantBroken { problem } => write!(f, "invariant-broken {problem}"),
            E::ProcessKilled => f.write_str("process-killed"),
            E::Buggify { site } => write!(f, "buggify {site}"),
            _ => unreachable!("not a shell event: {self:?}"),
        }
    }

    /// The URS and the ORS: selections, deliveries, sessions and their persistence.
    fn fmt_routing(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TraceEvent as E;
        match self {
            E::UrsSelected { ixn, agent } => write!(f, "urs-selected {ixn} {agent}"),
            E::UrsDeliverSent { ixn, node } => write!(f, "urs-deliver {ixn} srv{node}"),
            E::UrsNoTarget { ixn } => write!(f, "urs-no-target {ixn}"),
            E::OrsSession { session, ixn, what } => write!(f, "ors s{session} {ixn} {what}"),
            E::OrsPersistenceLost { sessions } => {
                write!(f, "ors-persistence-lost sessions={sessions}")
            }
            E::OrsFlushed { sessions, linked } => {
                f.write_str("ors-flushed sessions=")?;
                ids(f, sessions)?;
                f.write_str(" linked=")?;
                ids(f, linked)
            }
            E::OrsStored { fenced } => f.write_str(if *fenced {
                "ors-store-fenced"
            } else {
                "ors-stored"
            }),
            E::OrsLoaded {
                epoch,
                sessions,
                linked,
            } => {
                write!(f, "ors-loaded epoch={epoch} sessions=")?;
                ids(f, sessions)?;
                f.write_str(" linked=")?;
                ids(f, linked)
            }
            E::OrsLoadFenced { epoch } => write!(f, "ors-load-fenced epoch={epoch}"),
            E::OrsRole { primary } => f.write_str(if *primary {
                "ors-primary"
            } else {
                "ors-backup"
            }),
            E::OrsPullAsked { count, holding } => {
                write!(f, "ors-pull-asked count={count} holding={holding}")
            }
            E::OrsTook {
                ixns,
                holding,
                pulled,
            } => {
                f.write_str("ors-took ")?;
                ids(f, ixns)?;
                write!(f, " holding={holding}")?;
                if !pulled {
                    f.write_str(" (handed over)")?;
                }
                Ok(())
            }
            _ => unreachable!("not a routing event: {self:?}"),
        }
    }
}

/// Trace time rendering: seconds with millisecond precision, fixed width, written straight
/// into a formatter (the trace hash renders every entry: no string per entry).
#[derive(Clone, Copy, Debug)]
pub struct TraceTime(pub SimTime);

impl fmt::Display for TraceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>4}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}
