//! Interaction Server high availability: primary/backup pairs sharing one database, and the
//! supervisor (the Solution Control Server role) that promotes a backup when its primary dies
//! and carries out an operator's manual switchover [S-OPS-switchover] [S-IS-durable].
//!
//! - [`PairMember`] is the software of one host of a pair. As backup it holds no [`IsNode`]: it
//!   answers the supervisor and pings, and turns every other client away with `NotPrimary`,
//!   closing the connection so the client moves on to the pair's other address. Promoted, it
//!   takes the database lock ([`DbOp::Fence`], see [`IsDatabase`] for the lock model) and builds
//!   its node from the database the store hands back with the fence ([`Control::Loaded`]): the
//!   database reaches the machine as an input, never by reading a shared store, so the member
//!   stays sans-IO and a test can feed any database it likes. A primary whose write the store
//!   refuses ([`Control::Fenced`]: someone newer holds the lock) drops its node without
//!   acknowledging anything more and becomes a backup.
//! - [`Supervisor`] connects to every member, heartbeats them, promotes the backup (epoch + 1)
//!   when the primary misses heartbeats or its connection closes, demotes any other member
//!   that shows up, and executes operator commands ([`Control::Command`]). A partition between
//!   the supervisor and a primary therefore looks like a death; the fence keeps the deposed
//!   primary from committing anything after the promotion.
//!
//! Must not: do I/O or read a clock (the database arrives as [`Control::Loaded`]); acknowledge a
//! request of a node that was dropped.

use crate::buggify::Buggify;
use crate::db::{DbOp, IsDatabase};
use crate::ids::{RefId, SimTime};
use crate::is_node::{IsConfig, IsNode};
use crate::machine::{Command, Control, Input, Machine, Output, Peer, TimerId, WriteId};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Message, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeSet;

/// Bits of a wrapped timer or write id that the node's own id keeps; the bits above hold the
/// node's incarnation, so a late timer or commit of a dropped node never reaches its successor.
const GENERATION_SHIFT: u32 = 40;
const LOW_MASK: u64 = (1 << GENERATION_SHIFT) - 1;

/// Bugs the harness can plant in the HA layer to prove its oracles find them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HaBug {
    /// Promotion reads the database without taking the lock: a deposed primary that clients
    /// still reach keeps committing next to the new one (split brain). Caught by
    /// [S-OPS-switchover].
    PromoteWithoutFence,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PairConfig {
    /// Pair number, 1-based; equal to `node.node` (the pair's node index).
    pub pair: u16,
    pub node: IsConfig,
    pub planted_bug: Option<HaBug>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Primary,
    Backup,
}

/// A promotion waiting for its fence to commit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Promotion {
    supervisor: Peer,
    ref_id: RefId,
    epoch: u64,
    fence: WriteId,
}

/// One host of an IS pair. Starts (and restarts) as backup: only the supervisor makes a primary.
pub struct PairMember {
    cfg: PairConfig,
    node: Option<IsNode>,
    /// Incarnation of `node`, bumped at every promotion attempt.
    generation: u64,
    /// The epoch this member was promoted with (0 before its first promotion).
    epoch: u64,
    supervisor: Option<Peer>,
    promoting: Option<Promotion>,
    /// Open client connections: a promoted node learns of them, a demoted one closes them.
    conns: BTreeSet<Peer>,
    /// The fault points each promoted node starts with.
    buggify: Buggify,
}

impl PairMember {
    pub fn new(cfg: PairConfig) -> Self {
        assert_eq!(
            cfg.pair, cfg.node.node,
            "a pair's node index is its pair number"
        );
        PairMember {
            cfg,
            node: None,
            generation: 0,
            epoch: 0,
            supervisor: None,
            promoting: None,
            conns: BTreeSet::new(),
            buggify: Buggify::off(),
        }
    }

    /// The member whose promoted nodes have these fault points ([`crate::buggify`]).
    pub fn with_buggify(mut self, buggify: Buggify) -> Self {
        self.buggify = buggify;
        self
    }

    pub fn role(&self) -> Role {
        match self.node {
            Some(_) => Role::Primary,
            None => Role::Backup,
        }
    }

    pub fn node(&self) -> Option<&IsNode> {
        self.node.as_ref()
    }

    fn wrap(&self, low: u64) -> u64 {
        debug_assert!(low < LOW_MASK, "node id space exhausted");
        (self.generation << GENERATION_SHIFT) | low
    }

    /// The node's id if `id` belongs to the current node's incarnation.
    fn unwrap_current(&self, id: u64) -> Option<u64> {
        (id >> GENERATION_SHIFT == self.generation && self.node.is_some()).then_some(id & LOW_MASK)
    }

    /// Feeds the node one input and carries its outputs out, renaming its timers and writes.
    fn forward(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let mut inner = Vec::new();
        node.handle(now, input, &mut inner);
        for output in inner {
            let output = match output {
                Output::SetTimer(TimerId(id), at) => Output::SetTimer(TimerId(self.wrap(id)), at),
                Output::CancelTimer(TimerId(id)) => Output::CancelTimer(TimerId(self.wrap(id))),
                // Write 0 of an incarnation is its fence; the node's writes follow it.
                Output::Persist(WriteId(id), op) => Output::Persist(WriteId(self.wrap(id + 1)), op),
                output @ (Output::Send(..)
                | Output::Close(_)
                | Output::Trace(_)
                | Output::Mark(_)) => output,
            };
            out.push(output);
        }
    }

    fn reply(peer: Peer, ref_id: RefId, event: Event, out: &mut Vec<Output>) {
        out.push(Output::Send(peer, Message::reply(ref_id, event)));
    }

    /// A backup turns client work away; the client tries the pair's other address.
    fn refuse(&self, peer: Peer, message: Message, out: &mut Vec<Output>) {
        let code = ErrorCode::NotPrimary;
        match message {
            Message::Request { ref_id, request } => {
                out.push(Output::Trace(TraceEvent::request_failed(&request, code)));
                out.push(Output::Send(peer, Message::error(ref_id, code)));
            }
            Message::ProxiedRequest {
                client,
                ref_id,
                request,
            } => {
                out.push(Output::Trace(TraceEvent::request_failed(&request, code)));
                out.push(Output::Send(
                    peer,
                    Message::ProxiedEvent {
                        client,
                        ref_id: Some(ref_id),
                        event: Event::Error { code },
                    },
                ));
            }
            Message::Event { .. } | Message::ProxiedEvent { .. } => {}
        }
        out.push(Output::Close(peer));
    }

    fn on_request(
        &mut self,
        now: SimTime,
        peer: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let from_supervisor = self.supervisor == Some(peer);
        match &request {
            Request::RegisterClient {
                kind: ClientKind::Supervisor,
                ..
            } => {
                self.supervisor = Some(peer);
                return Self::reply(peer, ref_id, Event::Ack { ixn: None }, out);
            }
            Request::Ping if from_supervisor || self.node.is_none() => {
                return Self::reply(peer, ref_id, Event::Ack { ixn: None }, out);
            }
            Request::Promote { epoch } if from_supervisor => {
                return self.promote(peer, ref_id, *epoch, out);
            }
            // A configuration change: the member keeps it for the node it may build later.
            Request::SetSeats { seats } if from_supervisor => {
                self.cfg.node.seats = Some(*seats);
                if self.node.is_none() {
                    return Self::reply(peer, ref_id, Event::Ack { ixn: None }, out);
                }
            }
            Request::Demote if from_supervisor => {
                if self.node.is_some() {
                    self.step_down(
                        TraceEvent::Demoted {
                            pair: self.cfg.pair,
                        },
                        out,
                    );
                }
                return Self::reply(peer, ref_id, Event::Ack { ixn: None }, out);
            }
            // The node's to answer, or to refuse while there is none; the control requests
            // above land here too when they do not come from the supervisor.
            Request::RegisterClient { .. }
            | Request::Ping
            | Request::Promote { .. }
            | Request::SetSeats { .. }
            | Request::Demote
            | Request::Submit { .. }
            | Request::Pull { .. }
            | Request::PlaceInQueue { .. }
            | Request::UpdateUserData { .. }
            | Request::StopProcessing { .. }
            | Request::Deliver { .. }
            | Request::Accept { .. }
            | Request::Reject { .. }
            | Request::AgentLogin { .. }
            | Request::AgentLogout { .. }
            | Request::AgentReady { .. }
            | Request::AgentNotReady { .. }
            | Request::Find { .. }
            | Request::Snapshot { .. }
            | Request::Unregister
            | Request::CheckOutSeats { .. }
            | Request::FindInteractions { .. }
            | Request::ReserveAgent { .. }
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => {}
        }
        let message = Message::Request { ref_id, request };
        if self.node.is_some() {
            self.forward(now, Input::Frame(peer, message), out);
        } else {
            self.refuse(peer, message, out);
        }
    }

    fn promote(&mut self, supervisor: Peer, ref_id: RefId, epoch: u64, out: &mut Vec<Output>) {
        if self.node.is_some() && epoch <= self.epoch {
            // Already primary under this epoch (the supervisor lost our answer).
            return Self::reply(supervisor, ref_id, Event::Ack { ixn: None }, out);
        }
        if self.node.is_some() {
            // Already primary, but the supervisor hands out a newer epoch: it believes the lock
            // is ours at that epoch, so the database must be fenced with it. Otherwise an older
            // promotion still on its way to the other member (held on a link, say) fences the
            // database after this one and the pair ends with no primary while the supervisor
            // believes this member serves (cluster-faults --swarm --buggify seed 632). Start
            // over under the new epoch: step down, fence, serve again.
            self.step_down(
                TraceEvent::Demoted {
                    pair: self.cfg.pair,
                },
                out,
            );
        }
        if self.promoting.is_some() {
            // One fence at a time; the supervisor asks again after its timeout.
            return;
        }
        self.generation += 1;
        let fence = WriteId(self.wrap(0));
        self.promoting = Some(Promotion {
            supervisor,
            ref_id,
            epoch,
            fence,
        });
        let op = match self.cfg.planted_bug {
            Some(HaBug::PromoteWithoutFence) => DbOp::Load,
            None => DbOp::Fence { epoch },
        };
        out.push(Output::Persist(fence, op));
    }

    /// The fence committed: become primary on the database as of the fence.
    fn promoted(
        &mut self,
        now: SimTime,
        promotion: Promotion,
        db: IsDatabase,
        out: &mut Vec<Output>,
    ) {
        debug_assert!(self.node.is_none(), "a primary does not fence again");
        self.epoch = promotion.epoch;
        self.node = Some(IsNode::new(self.cfg.node.clone(), db).with_buggify(self.buggify.clone()));
        out.push(Output::Trace(TraceEvent::Promoted {
            pair: self.cfg.pair,
            epoch: self.epoch,
        }));
        self.forward(now, Input::Start, out);
        let clients: Vec<Peer> = self
            .conns
            .iter()
            .copied()
            .filter(|peer| Some(*peer) != self.supervisor)
            .collect();
        for peer in clients {
            self.forward(now, Input::Connected(peer), out);
        }
        Self::reply(
            promotion.supervisor,
            promotion.ref_id,
            Event::Ack { ixn: None },
            out,
        );
    }

    /// Drops the node (nothing it still meant to acknowledge goes out) and closes every client.
    fn step_down(&mut self, why: TraceEvent, out: &mut Vec<Output>) {
        debug_assert!(self.node.is_some(), "only a primary steps down");
        self.node = None;
        out.push(Output::Trace(why));
        for peer in &self.conns {
            if Some(*peer) != self.supervisor {
                out.push(Output::Close(*peer));
            }
        }
    }
}

impl Machine for PairMember {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            // A member boots as backup; the supervisor decides who serves.
            Input::Start => {}
            Input::Connected(peer) => {
                self.conns.insert(peer);
                self.forward(now, Input::Connected(peer), out);
            }
            Input::Disconnected(peer) => {
                self.conns.remove(&peer);
                if self.supervisor == Some(peer) {
                    self.supervisor = None;
                } else {
                    self.forward(now, Input::Disconnected(peer), out);
                }
            }
            Input::Frame(peer, Message::Request { ref_id, request }) => {
                self.on_request(now, peer, ref_id, request, out)
            }
            Input::Frame(peer, message) => {
                if self.node.is_some() {
                    self.forward(now, Input::Frame(peer, message), out);
                } else {
                    self.refuse(peer, message, out);
                }
            }
            Input::Timer(TimerId(id)) => {
                if let Some(low) = self.unwrap_current(id) {
                    self.forward(now, Input::Timer(TimerId(low)), out);
                }
            }
            Input::Persisted(WriteId(id)) => {
                // Low 0 is the fence, answered by Control::Loaded.
                if let Some(low) = self.unwrap_current(id).filter(|low| *low > 0) {
                    self.forward(now, Input::Persisted(WriteId(low - 1)), out);
                }
            }
        }
    }

    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        match control {
            Control::Loaded(write, db) => {
                let Some(promotion) = self.promoting.filter(|p| p.fence == write) else {
                    return;
                };
                self.promoting = None;
                self.promoted(now, promotion, *db, out);
            }
            Control::Fenced(write) => {
                if let Some(promotion) = self.promoting.filter(|p| p.fence == write) {
                    // Our epoch is not newer than the database's: the supervisor retries with
                    // a newer one.
                    self.promoting = None;
                    let code = ErrorCode::InvalidState;
                    let request = Request::Promote {
                        epoch: promotion.epoch,
                    };
                    out.push(Output::Trace(TraceEvent::request_failed(&request, code)));
                    out.push(Output::Send(
                        promotion.supervisor,
                        Message::error(promotion.ref_id, code),
                    ));
                } else if self.unwrap_current(write.0).is_some() {
                    mark(Mark::HaWriteFenced, out);
                    self.step_down(
                        TraceEvent::Fenced {
                            pair: self.cfg.pair,
                        },
                        out,
                    );
                }
            }
            // Operator commands go to the supervisor.
            Control::Command(_) | Control::OrsLoaded(..) => {}
        }
    }

    /// [S-INV-machine]: a member fences only as a backup, and the fence it waits for belongs
    /// to its current incarnation; a serving node's own invariants hold.
    fn check_invariants(&self) -> Result<(), String> {
        if let Some(promotion) = &self.promoting {
            if self.node.is_some() {
                return Err(format!(
                    "pair {}: fencing for epoch {} while serving",
                    self.cfg.pair, promotion.epoch
                ));
            }
            if promotion.fence.0 >> GENERATION_SHIFT != self.generation {
                return Err(format!(
                    "pair {}: waiting for fence {:?} of another incarnation than {}",
                    self.cfg.pair, promotion.fence, self.generation
                ));
            }
        }
        self.node.as_ref().map_or(Ok(()), Machine::check_invariants)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SupervisorConfig {
    pub name: String,
    /// Host names of each pair's two members, pair 1 first; member 0 is the preferred primary.
    /// Pair `p` (1-based) member `m` is this machine's server `Peer::Server(2 * (p - 1) + m)`.
    pub pairs: Vec<[String; 2]>,
    pub heartbeat_ms: u64,
    /// A member silent this long is dead (and its connection is closed to be reopened).
    pub heartbeat_timeout_ms: u64,
    /// Pairs whose members hold leases (ORS pairs): their heartbeat is [`Request::Lease`],
    /// and a new primary is promoted only once the old one's lease has run out. Missing
    /// entries: false (IS pairs are fenced by their database instead).
    pub leased: Vec<bool>,
    /// How long one lease lasts.
    pub lease_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Link {
    connected: bool,
    last_heard: SimTime,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Operation {
    Promote {
        member: usize,
    },
    /// Manual switchover, first half: then promote the other member.
    Demote {
        member: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Pending {
    ref_id: RefId,
    operation: Operation,
    since: SimTime,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct PairState {
    links: [Link; 2],
    primary: Option<usize>,
    /// The last epoch this supervisor handed out for the pair.
    epoch: u64,
    pending: Option<Pending>,
    /// Leased pairs: until when each member may act as primary, as granted.
    granted: [SimTime; 2],
}

const HEARTBEAT: TimerId = TimerId(0);

/// The supervisor: one per cluster, host `supervisor`.
///
/// It keeps what it believes in memory only: a restarted supervisor starts again at epoch 0,
/// and a promotion the store refuses for a stale epoch comes back as an error, upon which the
/// next attempt uses the following epoch.
pub struct Supervisor {
    cfg: SupervisorConfig,
    pairs: Vec<PairState>,
    next_ref: u32,
}

impl Supervisor {
    pub fn new(cfg: SupervisorConfig) -> Self {
        assert!(cfg.heartbeat_ms > 0, "heartbeat_ms must be > 0");
        let pairs = vec![PairState::default(); cfg.pairs.len()];
        Supervisor {
            cfg,
            pairs,
            next_ref: 0,
        }
    }

    fn peer(pair: usize, member: usize) -> Peer {
        Peer::Server((2 * pair + member) as u16)
    }

    fn host(&self, pair: usize, member: usize) -> String {
        self.cfg.pairs[pair][member].clone()
    }

    fn send(
        &mut self,
        pair: usize,
        member: usize,
        request: Request,
        out: &mut Vec<Output>,
    ) -> RefId {
        self.next_ref = self.next_ref.wrapping_add(1);
        let ref_id = RefId(self.next_ref);
        out.push(Output::Send(
            Self::peer(pair, member),
            Message::Request { ref_id, request },
        ));
        ref_id
    }

    fn alive(&self, now: SimTime, pair: usize, member: usize) -> bool {
        let link = self.pairs[pair].links[member];
        link.connected && now.saturating_sub(link.last_heard) <= self.cfg.heartbeat_timeout_ms
    }

    fn pair_number(pair: usize) -> u16 {
        (pair + 1) as u16
    }

    fn leased(&self, pair: usize) -> bool {
        self.cfg.leased.get(pair).copied().unwrap_or(false)
    }

    fn promote(&mut self, now: SimTime, pair: usize, member: usize, out: &mut Vec<Output>) {
        if self.leased(pair) {
            // The new primary's first lease travels just ahead of its promotion.
            let until = now + self.cfg.lease_ms;
            self.pairs[pair].granted[member] = until;
            self.send(pair, member, Request::Lease { until }, out);
        }
        self.pairs[pair].epoch += 1;
        let epoch = self.pairs[pair].epoch;
        out.push(Output::Trace(TraceEvent::PromoteOrdered {
            pair: Self::pair_number(pair),
            host: self.host(pair, member),
            epoch,
        }));
        let ref_id = self.send(pair, member, Request::Promote { epoch }, out);
        self.pairs[pair].pending = Some(Pending {
            ref_id,
            operation: Operation::Promote { member },
            since: now,
        });
    }

    /// Makes sure the pair has a live primary, promoting a live member if it has none.
    fn decide(&mut self, now: SimTime, pair: usize, out: &mut Vec<Output>) {
        if self.pairs[pair].pending.is_some() {
            return;
        }
        if let Some(primary) = self.pairs[pair].primary {
            if self.alive(now, pair, primary) {
                return;
            }
            mark(Mark::SupervisorFailover, out);
            out.push(Output::Trace(TraceEvent::PrimaryLost {
                pair: Self::pair_number(pair),
                host: self.host(pair, primary),
            }));
            self.pairs[pair].primary = None;
        }
        if self.leased(pair)
            && (0..2).any(|member| self.pairs[pair].granted[member] > now)
            && self.pairs[pair].primary.is_none()
        {
            // Someone may still act on a lease: wait until it runs out.
            return;
        }
        if let Some(member) = (0..2).find(|member| self.alive(now, pair, *member)) {
            self.promote(now, pair, member, out);
        }
    }

    fn switchover(&mut self, now: SimTime, pair_number: u16, out: &mut Vec<Output>) {
        out.push(Output::Trace(TraceEvent::SwitchoverOrdered {
            pair: pair_number,
        }));
        let refuse = |reason: &'static str, out: &mut Vec<Output>| {
            out.push(Output::Trace(TraceEvent::SwitchoverRefused {
                pair: pair_number,
                reason,
            }));
        };
        let Some(pair) = (pair_number as usize)
            .checked_sub(1)
            .filter(|pair| *pair < self.pairs.len())
        else {
            return refuse("no such pair", out);
        };
        if self.pairs[pair].pending.is_some() {
            return refuse("an HA operation is in progress", out);
        }
        let Some(primary) = self.pairs[pair]
            .primary
            .filter(|primary| self.alive(now, pair, *primary))
        else {
            return refuse("no live primary", out);
        };
        if !self.alive(now, pair, 1 - primary) {
            return refuse("backup not available", out);
        }
        self.demote(now, pair, primary, out);
    }

    fn demote(&mut self, now: SimTime, pair: usize, member: usize, out: &mut Vec<Output>) {
        out.push(Output::Trace(TraceEvent::DemoteOrdered {
            pair: Self::pair_number(pair),
            host: self.host(pair, member),
        }));
        let ref_id = self.send(pair, member, Request::Demote, out);
        self.pairs[pair].pending = Some(Pending {
            ref_id,
            operation: Operation::Demote { member },
            since: now,
        });
    }

    /// A manual switchover's demotion got no answer in time: the old primary may have stepped
    /// down (and its answer was lost with the connection) or not. Believing it still primary
    /// would leave a pair whose members are both backups without a primary for good
    /// (cluster-faults seed 212 under [S-INV-live]: a demotion acked into a connection the
    /// supervisor had just closed during a latency spike). Promoting the other member with a
    /// new epoch is safe either way: the promotion fences the database, so a primary that did
    /// not step down commits nothing more [S-OPS-switchover].
    fn demote_unanswered(
        &mut self,
        now: SimTime,
        pair: usize,
        member: usize,
        out: &mut Vec<Output>,
    ) {
        self.pairs[pair].primary = None;
        if self.alive(now, pair, 1 - member) {
            self.promote(now, pair, 1 - member, out);
        }
    }

    fn on_answer(
        &mut self,
        now: SimTime,
        pair: usize,
        ref_id: RefId,
        event: &Event,
        out: &mut Vec<Output>,
    ) {
        let Some(pending) = self.pairs[pair].pending.filter(|p| p.ref_id == ref_id) else {
            return;
        };
        self.pairs[pair].pending = None;
        let ok = matches!(event, Event::Ack { .. });
        match pending.operation {
            Operation::Promote { member } if ok => {
                self.pairs[pair].primary = Some(member);
                let other = 1 - member;
                if self.pairs[pair].links[other].connected {
                    // Whoever else believes it is primary (a deposed one back from a partition)
                    // steps down.
                    self.send(pair, other, Request::Demote, out);
                }
            }
            Operation::Demote { member } if ok => {
                mark(Mark::SupervisorSwitchover, out);
                self.pairs[pair].primary = None;
                self.promote(now, pair, 1 - member, out);
            }
            Operation::Promote { .. } | Operation::Demote { .. } => {}
        }
        self.decide(now, pair, out);
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for pair in 0..self.pairs.len() {
            for member in 0..2 {
                let link = self.pairs[pair].links[member];
                if !link.connected {
                    continue;
                }
                if now.saturating_sub(link.last_heard) > self.cfg.heartbeat_timeout_ms {
                    // Silent: close it so the shell dials again (and a partition heals into
                    // a fresh connection).
                    self.pairs[pair].links[member].connected = false;
                    out.push(Output::Close(Self::peer(pair, member)));
                } else if self.leased(pair) && self.pairs[pair].primary == Some(member) {
                    let until = now + self.cfg.lease_ms;
                    self.pairs[pair].granted[member] = until;
                    self.send(pair, member, Request::Lease { until }, out);
                } else {
                    self.send(pair, member, Request::Ping, out);
                }
            }
            let expired = self.pairs[pair]
                .pending
                .filter(|p| now.saturating_sub(p.since) > self.cfg.heartbeat_timeout_ms);
            if let Some(expired) = expired {
                self.pairs[pair].pending = None;
                if let Operation::Demote { member } = expired.operation {
                    self.demote_unanswered(now, pair, member, out);
                }
            }
            self.decide(now, pair, out);
        }
        out.push(Output::SetTimer(HEARTBEAT, now + self.cfg.heartbeat_ms));
    }

    fn member_of(&self, peer: Peer) -> Option<(usize, usize)> {
        let Peer::Server(index) = peer else {
            return None;
        };
        let (pair, member) = (index as usize / 2, index as usize % 2);
        (pair < self.pairs.len()).then_some((pair, member))
    }
}

impl Machine for Supervisor {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => out.push(Output::SetTimer(HEARTBEAT, now + self.cfg.heartbeat_ms)),
            Input::Timer(_) => self.on_tick(now, out),
            Input::Connected(peer) => {
                let Some((pair, member)) = self.member_of(peer) else {
                    return;
                };
                self.pairs[pair].links[member] = Link {
                    connected: true,
                    last_heard: now,
                };
                let name = self.cfg.name.clone();
                let kind = ClientKind::Supervisor;
                self.send(pair, member, Request::RegisterClient { name, kind }, out);
                if self.pairs[pair].primary == Some(1 - member) {
                    self.send(pair, member, Request::Demote, out);
                }
            }
            Input::Disconnected(peer) => {
                let Some((pair, member)) = self.member_of(peer) else {
                    return;
                };
                self.pairs[pair].links[member].connected = false;
                self.decide(now, pair, out);
            }
            Input::Frame(peer, message) => {
                let Some((pair, member)) = self.member_of(peer) else {
                    return;
                };
                self.pairs[pair].links[member].last_heard = now;
                if let Message::Event {
                    ref_id: Some(ref_id),
                    event,
                } = &message
                {
                    // A leased primary that let its lease run out says so: it is primary no
                    // more, and the pair needs one.
                    if matches!(
                        event,
                        Event::Error {
                            code: ErrorCode::NotPrimary
                        }
                    ) && self.pairs[pair].primary == Some(member)
                        && self.leased(pair)
                    {
                        self.pairs[pair].primary = None;
                    }
                    self.on_answer(now, pair, *ref_id, event, out);
                }
            }
            Input::Persisted(_) => {}
        }
    }

    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        match control {
            Control::Command(Command::Switchover { pair }) => self.switchover(now, pair, out),
            Control::Command(Command::SetSeats { pair, seats }) => {
                let Some(index) = (pair as usize)
                    .checked_sub(1)
                    .filter(|index| *index < self.pairs.len())
                else {
                    return;
                };
                for member in 0..2 {
                    if self.pairs[index].links[member].connected {
                        self.send(index, member, Request::SetSeats { seats }, out);
                    }
                }
            }
            Control::Loaded(..) | Control::Fenced(_) | Control::OrsLoaded(..) => {}
        }
    }

    /// [S-INV-machine]: one state per configured pair; a pair's primary and the member of its
    /// pending operation are one of its two members; a promotion is under way only for a pair
    /// with no primary (every path clears the old one first), and while a demotion is, the
    /// primary is the demoted member or none; a pair with a primary has had an epoch handed
    /// out; only leased pairs hold lease grants.
    fn check_invariants(&self) -> Result<(), String> {
        if self.pairs.len() != self.cfg.pairs.len() {
            return Err(format!(
                "{} pair states for {} configured pairs",
                self.pairs.len(),
                self.cfg.pairs.len()
            ));
        }
        for (pair, state) in self.pairs.iter().enumerate() {
            let number = Self::pair_number(pair);
            if state.primary.is_some_and(|member| member > 1) {
                return Err(format!("pair {number}: primary {:?}", state.primary));
            }
            if state.primary.is_some() && state.epoch == 0 {
                return Err(format!("pair {number}: a primary without an epoch"));
            }
            match state.pending.map(|pending| pending.operation) {
                Some(Operation::Promote { member } | Operation::Demote { member })
                    if member > 1 =>
                {
                    return Err(format!("pair {number}: operation on member {member}"));
                }
                Some(Operation::Promote { member }) if state.primary.is_some() => {
                    return Err(format!(
                        "pair {number}: promoting member {member} while member {:?} is primary",
                        state.primary
                    ));
                }
                Some(Operation::Demote { member }) if state.primary == Some(1 - member) => {
                    return Err(format!(
                        "pair {number}: demoting member {member} while the other is primary"
                    ));
                }
                Some(Operation::Promote { .. } | Operation::Demote { .. }) | None => {}
            }
            if !self.leased(pair) && state.granted != [0, 0] {
                return Err(format!(
                    "pair {number} is not leased but holds grants {:?}",
                    state.granted
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! A pair member's answers to the supervisor's orders: who may order a promotion, and that
    //! an acknowledged promotion is one the member performed (the supervisor takes the ack for
    //! "this member serves").
    use super::*;

    const SUPERVISOR: Peer = Peer::Client(1);
    const CLIENT: Peer = Peer::Client(2);

    fn member() -> (PairMember, Vec<Output>) {
        let mut member = PairMember::new(PairConfig {
            pair: 1,
            node: crate::is_node::tests::config(),
            planted_bug: None,
        });
        let mut out = Vec::new();
        member.handle(0, Input::Start, &mut out);
        for peer in [SUPERVISOR, CLIENT] {
            member.handle(0, Input::Connected(peer), &mut out);
        }
        let register = Request::RegisterClient {
            name: "scs".into(),
            kind: ClientKind::Supervisor,
        };
        member.handle(0, request(RefId(1), register), &mut out);
        (member, out)
    }

    fn request(ref_id: RefId, request: Request) -> Input {
        Input::Frame(SUPERVISOR, Message::Request { ref_id, request })
    }

    fn promote(epoch: u64) -> Request {
        Request::Promote { epoch }
    }

    fn fences(out: &[Output]) -> Vec<u64> {
        out.iter()
            .filter_map(|output| match output {
                Output::Persist(_, DbOp::Fence { epoch }) => Some(*epoch),
                _ => None,
            })
            .collect()
    }

    /// Commits the fence the member just asked for.
    fn commit_fence(member: &mut PairMember, out: &mut Vec<Output>) {
        let write = out
            .iter()
            .find_map(|output| match output {
                Output::Persist(write, DbOp::Fence { .. }) => Some(*write),
                _ => None,
            })
            .expect("a fence");
        out.clear();
        member.control(0, Control::Loaded(write, Box::default()), out);
    }

    fn acked(out: &[Output], ref_id: RefId) -> bool {
        out.contains(&Output::Send(
            SUPERVISOR,
            Message::reply(ref_id, Event::Ack { ixn: None }),
        ))
    }

    /// Only the supervisor promotes: a client's Promote is turned away like any request to a
    /// backup (NotPrimary), and nothing is fenced.
    #[test]
    fn a_promotion_from_anyone_but_the_supervisor_is_refused() {
        let (mut member, _) = member();
        let mut out = Vec::new();
        let message = Message::Request {
            ref_id: RefId(7),
            request: promote(1),
        };
        member.handle(0, Input::Frame(CLIENT, message), &mut out);
        assert!(fences(&out).is_empty(), "{out:?}");
        assert!(out.contains(&Output::Send(
            CLIENT,
            Message::error(RefId(7), ErrorCode::NotPrimary)
        )));
        assert_eq!(member.role(), Role::Backup);
    }

    /// The ack comes after the fence commits; a primary handed a newer epoch fences again under
    /// it (cluster-faults --swarm --buggify seed 632) instead of acking at once; a repeated
    /// order under its own epoch is acked as it stands.
    #[test]
    fn a_promotion_is_acked_only_once_performed_under_its_epoch() {
        let (mut member, _) = member();
        let mut out = Vec::new();
        member.handle(0, request(RefId(2), promote(1)), &mut out);
        assert_eq!(fences(&out), vec![1]);
        assert!(!acked(&out, RefId(2)), "acked before the fence committed");
        commit_fence(&mut member, &mut out);
        assert!(acked(&out, RefId(2)));
        assert_eq!(member.role(), Role::Primary);

        out.clear();
        member.handle(0, request(RefId(3), promote(1)), &mut out);
        assert!(acked(&out, RefId(3)) && fences(&out).is_empty(), "{out:?}");

        out.clear();
        member.handle(0, request(RefId(4), promote(2)), &mut out);
        assert_eq!(fences(&out), vec![2], "{out:?}");
        assert!(!acked(&out, RefId(4)));
        assert_eq!(member.role(), Role::Backup, "stepped down to fence again");
    }

    fn supervisor() -> Supervisor {
        Supervisor::new(SupervisorConfig {
            name: "scs".into(),
            pairs: vec![["is1a".into(), "is1b".into()]],
            heartbeat_ms: 100,
            heartbeat_timeout_ms: 300,
            leased: vec![false],
            lease_ms: 0,
        })
    }

    /// Both members say something (they are alive), then the heartbeat fires at `now`.
    fn tick(scs: &mut Supervisor, now: SimTime, out: &mut Vec<Output>) {
        for member in 0..2 {
            let alive = Message::unsolicited(Event::Ack { ixn: None });
            scs.handle(now, Input::Frame(Peer::Server(member), alive), out);
        }
        scs.handle(now, Input::Timer(HEARTBEAT), out);
    }

    /// The request of this kind the supervisor sent to `member` in `out`.
    fn sent_to(out: &[Output], member: u16, name: &str) -> Option<RefId> {
        out.iter().find_map(|output| match output {
            Output::Send(Peer::Server(to), Message::Request { ref_id, request })
                if *to == member && request.name() == name =>
            {
                Some(*ref_id)
            }
            _ => None,
        })
    }

    /// A manual switchover whose demotion goes unanswered: once the heartbeat timeout has
    /// passed since the order (measured at a tick that is not a multiple of it), the other member
    /// is promoted anyway (cluster-faults seed 212): the promotion fences the database, so the
    /// silent one commits nothing more.
    #[test]
    fn an_unanswered_demotion_promotes_the_other_member_after_the_timeout() {
        let mut scs = supervisor();
        let mut out = Vec::new();
        scs.handle(0, Input::Start, &mut out);
        for member in 0..2 {
            scs.handle(0, Input::Connected(Peer::Server(member)), &mut out);
        }
        out.clear();
        tick(&mut scs, 100, &mut out);
        let promote = sent_to(&out, 0, "RequestPromote").expect("member 0 promoted first");
        let ack = Message::reply(promote, Event::Ack { ixn: None });
        scs.handle(110, Input::Frame(Peer::Server(0), ack), &mut out);
        out.clear();
        scs.control(
            150,
            Control::Command(Command::Switchover { pair: 1 }),
            &mut out,
        );
        assert!(sent_to(&out, 0, "RequestDemote").is_some(), "{out:?}");
        for now in [200, 300, 400] {
            out.clear();
            tick(&mut scs, now, &mut out);
            assert_eq!(
                sent_to(&out, 1, "RequestPromote"),
                None,
                "at {now}: {out:?}"
            );
        }
        out.clear();
        tick(&mut scs, 500, &mut out);
        assert!(sent_to(&out, 1, "RequestPromote").is_some(), "{out:?}");
    }

    /// [S-INV-machine]: the member's and the supervisor's invariants hold along a promotion
    /// and a manual switchover, and each one reports the state it guards against.
    #[test]
    fn ha_invariants_hold_along_a_switchover_and_catch_broken_states() {
        let (mut member, _) = member();
        let mut out = Vec::new();
        member.handle(0, request(RefId(2), promote(1)), &mut out);
        assert_eq!(member.check_invariants(), Ok(()));
        member.generation += 1;
        let stale = member
            .check_invariants()
            .expect_err("fence of an old incarnation");
        assert!(stale.contains("another incarnation"), "{stale}");
        member.generation -= 1;
        commit_fence(&mut member, &mut out);
        assert_eq!(member.check_invariants(), Ok(()));
        member.promoting = Some(Promotion {
            supervisor: SUPERVISOR,
            ref_id: RefId(9),
            epoch: 2,
            fence: WriteId(member.wrap(0)),
        });
        let serving = member
            .check_invariants()
            .expect_err("fencing while serving");
        assert!(serving.contains("while serving"), "{serving}");

        let mut scs = supervisor();
        scs.handle(0, Input::Start, &mut out);
        for member in 0..2 {
            scs.handle(0, Input::Connected(Peer::Server(member)), &mut out);
        }
        tick(&mut scs, 100, &mut out);
        assert_eq!(scs.check_invariants(), Ok(()), "promoting");
        let promote = sent_to(&out, 0, "RequestPromote").expect("member 0 promoted");
        let ack = Message::reply(promote, Event::Ack { ixn: None });
        scs.handle(110, Input::Frame(Peer::Server(0), ack), &mut out);
        assert_eq!(scs.pairs[0].primary, Some(0));
        scs.control(
            150,
            Control::Command(Command::Switchover { pair: 1 }),
            &mut out,
        );
        assert_eq!(scs.check_invariants(), Ok(()), "demoting");
        for (broken, expect) in [
            (Operation::Promote { member: 1 }, "promoting member 1 while"),
            (Operation::Demote { member: 2 }, "operation on member 2"),
        ] {
            let mut copy = scs.pairs[0].clone();
            copy.pending = Some(Pending {
                ref_id: RefId(99),
                operation: broken,
                since: 150,
            });
            let saved = std::mem::replace(&mut scs.pairs[0], copy);
            let problem = scs.check_invariants().expect_err(expect);
            assert!(problem.contains(expect), "{problem}");
            scs.pairs[0] = saved;
        }
        scs.pairs[0].granted = [200, 0];
        let grants = scs
            .check_invariants()
            .expect_err("grants on an unleased pair");
        assert!(grants.contains("not leased"), "{grants}");
    }

    /// A connection or frame from a server index past the configured pairs is not a member:
    /// ignored.
    #[test]
    fn servers_past_the_pairs_are_ignored() {
        let mut scs = supervisor();
        let mut out = Vec::new();
        scs.handle(0, Input::Connected(Peer::Server(2)), &mut out);
        let frame = Message::unsolicited(Event::Ack { ixn: None });
        scs.handle(0, Input::Frame(Peer::Server(3), frame), &mut out);
        scs.handle(0, Input::Disconnected(Peer::Server(2)), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    /// A primary gone silent is reported lost under its own pair's number (pair 2 here: the
    /// second pair's members are servers 2 and 3).
    #[test]
    fn a_silent_primary_is_lost_under_its_pair_number() {
        let mut scs = Supervisor::new(SupervisorConfig {
            pairs: vec![
                ["is1a".into(), "is1b".into()],
                ["is2a".into(), "is2b".into()],
            ],
            ..supervisor().cfg
        });
        let mut out = Vec::new();
        scs.handle(0, Input::Start, &mut out);
        scs.handle(0, Input::Connected(Peer::Server(2)), &mut out);
        out.clear();
        scs.handle(100, Input::Timer(HEARTBEAT), &mut out);
        let promote = sent_to(&out, 2, "RequestPromote").expect("pair 2's member a promoted");
        let ack = Message::reply(promote, Event::Ack { ixn: None });
        scs.handle(110, Input::Frame(Peer::Server(2), ack), &mut out);
        out.clear();
        scs.handle(500, Input::Timer(HEARTBEAT), &mut out);
        scs.handle(600, Input::Timer(HEARTBEAT), &mut out);
        let lost = TraceEvent::PrimaryLost {
            pair: 2,
            host: "is2a".into(),
        };
        assert!(out.contains(&Output::Trace(lost)), "{out:?}");
    }
}
