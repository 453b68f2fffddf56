//! The `ors_session` fuzz target, and the model it shares with the proptest suite
//! `tests/ors_session_model.rs`: one ORS server's sessions against a model of their environment
//! and of the association rules [S-ORS-session] [S-ORS-assoc] [S-ORS-detach] [S-ORS-pull]
//! [S-INV-owner].
//!
//! The [`Harness`] plays the cluster (the node behind the proxy, and a URS): it answers the
//! server's pulls with fresh interactions and with interactions the server parked earlier
//! (carrying the association in their user data), acknowledges or refuses user-data updates,
//! placements, target selections and deliveries, lets agents accept or reject what was
//! delivered to them, lets time pass (timers, request timeouts, the node's invite timeout), and
//! cuts and restores the connections. Each run uses one of [`STRATEGIES`]: one that detaches
//! too early, one that detaches after its own update, one that parks the interaction keeping
//! the association and routes it when it comes back, one that attaches again after a failed
//! routing, one that selects an agent and asks for detach and deliver in one go (routing when
//! the detach was refused is the planted `OrsBug::RouteWithoutDetach`), and one that hands the
//! interaction to another session with `<associate>` (first to a strategy that does not exist).
//!
//! After every step it checks what the server did against the model:
//! - it sends requests only about interactions it owns, never about one an agent is being
//!   offered, never delivers one twice, and never asks for more than `mcr-pull-limit` minus
//!   what it owns [S-INV-owner] [S-ORS-pull];
//! - a detach succeeds only once the node acknowledged that session's association update, and
//!   the session routes only an interaction it detached [S-ORS-detach];
//! - at most one live session holds an interaction; one pulled again while its session lives
//!   goes back to that session (or, with `new-session-on-reroute`, to a new one after the old
//!   one let go) [S-ORS-assoc] [S-ORS-session] [S-INV-owner];
//! - a session that ends while the server owns its interaction puts it back in its queue.
//!
//! [`ors_session`] drives the same harness from fuzz bytes: a [`FuzzSetup`] and then up to
//! [`MAX_FUZZ_STEPS`] [`FuzzStep`]s, each mapped onto one [`Step`].

use arbitrary::{Arbitrary, Unstructured};
use ixsim_core::clients::TICK_TIMER;
use ixsim_core::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer, TimerId};
pub use ixsim_core::ors::server::OrsBug;
use ixsim_core::ors::server::{OrsConfig, OrsQueue, OrsServer, OrsVersion, SESSION_KEY};
use ixsim_core::ors::strategy::Strategy as OrsStrategy;
use ixsim_core::protocol::{ErrorCode, Event, IxnInfo, Message, Request};
use ixsim_core::trace::TraceEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const SERVER: Peer = Peer::Server(0);
const URS: Peer = Peer::Server(1);
/// `mcr-pull-limit` of the server under test.
pub const PULL_LIMIT: u32 = 3;
const REQUEST_TIMEOUT_MS: u64 = 400;
const TICK_MS: u64 = 20;
/// How long the server waits for an agent's answer to a delivery.
const DELIVERY_TIMEOUT_MS: u64 = 1000;
/// The node's invite timeout: an agent that did not answer by then rejected the delivery
/// (shorter than the server's delivery timeout, as in the real cluster).
const INVITE_TIMEOUT_MS: u64 = 600;
/// The agent the URS selects.
const AGENT: AgentId = AgentId(1);
/// The target list the strategies' `queue:submit` names.
const TARGETS: &str = "all";

/// The strategies under test, one per run (seed 000's patterns, and the detach-race and
/// associate patterns).
pub const STRATEGIES: [&str; 6] = [
    // 0: detaches at once: error.interaction.detach until the association is confirmed.
    r#"
name = "early"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "detaching", actions = [{ action = "detach" }] }]
[[states]]
name = "detaching"
transitions = [
  { event = "interaction.detach.done", target = "routing", actions = [{ action = "redirect", queue = "out" }] },
  { event = "error.interaction.detach", target = "later", actions = [{ action = "start-timer", name = "again", ms = 50 }] },
]
[[states]]
name = "later"
transitions = [{ event = "again", target = "detaching", actions = [{ action = "detach" }] }]
[[states]]
name = "routing"
transitions = [{ event = "interaction.redirect.*", target = "done" }, { event = "error.*", target = "done" }]
[[states]]
name = "done"
final = true
"#,
    // 1: detaches after its own update is confirmed.
    r#"
name = "late"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "marking", actions = [{ action = "update-user-data", key = "Stage", value = "seen" }] }]
[[states]]
name = "marking"
transitions = [
  { event = "interaction.update.done", target = "detaching", actions = [{ action = "detach" }] },
  { event = "error.*", target = "done" },
]
[[states]]
name = "detaching"
transitions = [
  { event = "interaction.detach.done", target = "routing", actions = [{ action = "redirect", queue = "out" }] },
  { event = "error.interaction.detach", target = "marking", actions = [{ action = "update-user-data", key = "Stage", value = "again" }] },
]
[[states]]
name = "routing"
transitions = [{ event = "*", target = "done" }]
[[states]]
name = "done"
final = true
"#,
    // 2: parks the interaction keeping the association; routes it when it comes back.
    r#"
name = "park"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "parked", actions = [{ action = "redirect", queue = "q" }] }]
[[states]]
name = "parked"
transitions = [
  { event = "interaction.redirect.done" },
  { event = "interaction.present", target = "detaching", actions = [{ action = "detach" }] },
  { event = "error.*", target = "done" },
]
[[states]]
name = "detaching"
transitions = [
  { event = "interaction.detach.done", target = "routing", actions = [{ action = "redirect", queue = "out" }] },
  { event = "error.interaction.detach", target = "later", actions = [{ action = "start-timer", name = "again", ms = 50 }] },
]
[[states]]
name = "later"
transitions = [{ event = "again", target = "detaching", actions = [{ action = "detach" }] }]
[[states]]
name = "routing"
transitions = [{ event = "*", target = "done" }]
[[states]]
name = "done"
final = true
"#,
    // 3: attaches again when routing fails, and routes once more.
    r#"
name = "reattach"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "waiting", actions = [{ action = "start-timer", name = "go", ms = 60 }] }]
[[states]]
name = "waiting"
transitions = [{ event = "go", target = "detaching", actions = [{ action = "detach" }] }]
[[states]]
name = "detaching"
transitions = [
  { event = "interaction.detach.done", target = "routing", actions = [{ action = "redirect", queue = "out" }] },
  { event = "error.interaction.detach", target = "waiting", actions = [{ action = "start-timer", name = "go", ms = 60 }] },
]
[[states]]
name = "routing"
transitions = [
  { event = "interaction.redirect.done", target = "done" },
  { event = "error.interaction.redirect", target = "attaching", actions = [{ action = "attach" }] },
]
[[states]]
name = "attaching"
transitions = [
  { event = "interaction.attach.done", target = "waiting", actions = [{ action = "start-timer", name = "go", ms = 60 }] },
  { event = "error.interaction.attach", target = "done" },
]
[[states]]
name = "done"
final = true
"#,
    // 4: selects an agent, then asks for detach and deliver in one go (detach-race's
    // `hasty`): the deliver must be refused whenever the detach was; after a failed routing it
    // attaches again and starts over.
    r#"
name = "hasty"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "selecting" }]
[[states]]
name = "selecting"
on_entry = [{ action = "queue-submit", targets = "all", route = false, timeout_ms = 300 }]
transitions = [
  { event = "queue.submit.done", target = "delivering", actions = [{ action = "detach" }, { action = "deliver" }] },
  { event = "error.queue.submit", target = "pause" },
]
[[states]]
name = "pause"
on_entry = [{ action = "start-timer", name = "again", ms = 50 }]
transitions = [{ event = "again", target = "selecting" }]
[[states]]
name = "delivering"
transitions = [
  { event = "interaction.detach.done" },
  { event = "error.interaction.detach" },
  { event = "interaction.deliver.done", target = "done" },
  { event = "error.interaction.deliver", target = "reattach", actions = [{ action = "attach" }] },
]
[[states]]
name = "reattach"
transitions = [
  { event = "interaction.attach.done", target = "pause" },
  { event = "error.interaction.attach", target = "pause" },
]
[[states]]
name = "done"
final = true
"#,
    // 5: hands the interaction to a new session with `<associate>`: first to a strategy that
    // does not exist (error.interaction.associate), then to `late`, and ends.
    r#"
name = "handover"
initial = "new"
[[states]]
name = "new"
transitions = [{ event = "interaction.present", target = "handing", actions = [{ action = "associate", strategy = "nowhere" }] }]
[[states]]
name = "handing"
transitions = [
  { event = "error.interaction.associate", target = "done", actions = [{ action = "associate", strategy = "late" }] },
]
[[states]]
name = "done"
final = true
"#,
];

/// [`STRATEGIES`], parsed and validated once (every fuzz execution would parse them again).
fn parsed_strategies() -> &'static [OrsStrategy] {
    static PARSED: OnceLock<Vec<OrsStrategy>> = OnceLock::new();
    PARSED.get_or_init(|| {
        STRATEGIES
            .iter()
            .map(|text| {
                let strategy: OrsStrategy = toml::from_str(text).expect("harness strategy parses");
                strategy
                    .validate(&[TARGETS.to_string()])
                    .expect("harness strategy is valid");
                strategy
            })
            .collect()
    })
}

/// What one run is: the strategy of the server's queue (an index into [`STRATEGIES`]) and
/// `new-session-on-reroute`.
#[derive(Clone, Debug)]
pub struct Setup {
    pub strategy: usize,
    pub new_session_on_reroute: bool,
}

/// One move of the cluster side. A step with nothing to answer does nothing.
#[derive(Clone, Debug)]
pub enum Step {
    /// Answer the pull in flight with up to `fresh` new interactions and, if `back`, one the
    /// server parked.
    AnswerPull { fresh: u32, back: bool },
    /// Answer the `index`-th outstanding user-data update (ack or refuse).
    AnswerUpdate { index: usize, ok: bool },
    /// Answer the `index`-th outstanding placement (ack or refuse).
    AnswerPlace { index: usize, ok: bool },
    /// The URS answers the `index`-th outstanding target selection (an agent, or an error).
    AnswerSelect { index: usize, ok: bool },
    /// The node answers the `index`-th outstanding delivery (invites the agent, or refuses).
    AnswerDeliver { index: usize, ok: bool },
    /// The agent invited for the `index`-th delivered interaction accepts or rejects it.
    AgentAnswer { index: usize, accept: bool },
    /// Acknowledge pings (registrations are answered at once).
    AnswerHousekeeping,
    /// Let time pass: ticks, strategy timers, request timeouts, invite timeouts.
    Wait { ms: u64 },
    /// The connection to the cluster drops.
    Disconnect,
    /// The connection to the URS drops.
    DisconnectUrs,
    /// The dropped connections come back.
    Reconnect,
}

/// The cluster side as the harness plays it, and what the server's traces told so far.
pub struct Harness {
    ors: OrsServer,
    setup: Setup,
    now: SimTime,
    connected: bool,
    urs_connected: bool,
    timers: BTreeMap<TimerId, SimTime>,
    /// Requests the server sent and the node has not answered, in order.
    outstanding: Vec<(RefId, Request)>,
    /// Target selections the server sent to the URS, unanswered, in order.
    urs_outstanding: Vec<RefId>,
    next_ixn: u64,
    /// What the node says the server owns.
    owned: BTreeSet<IxnId>,
    /// Interactions the node offers to an agent for the server, since when.
    at_agent: BTreeMap<IxnId, SimTime>,
    /// Interactions an agent accepted.
    accepted: BTreeSet<IxnId>,
    /// Interactions in a queue, with their user data.
    queued: BTreeMap<IxnId, KvList>,
    user_data: BTreeMap<IxnId, KvList>,
    /// Association updates the node acknowledged: (session, interaction).
    confirmed: BTreeSet<(u64, IxnId)>,
    /// What the traces say: who holds what, who detached what, which sessions live.
    holder: BTreeMap<IxnId, u64>,
    detached: BTreeSet<(u64, IxnId)>,
    live: BTreeSet<u64>,
    /// Sessions that ended while the server owned their interaction: a placement must follow
    /// in the same step when the server is connected.
    must_return: BTreeSet<IxnId>,
    /// Every session step the server traced, in order.
    log: Vec<(u64, IxnId, String)>,
}

impl Harness {
    /// A server running `setup`'s strategy (with `bug` planted), started and connected to the
    /// node and the URS; its registration is answered.
    pub fn new(setup: Setup, bug: Option<OrsBug>) -> Self {
        let strategies = parsed_strategies().to_vec();
        let cfg = OrsConfig {
            name: "ors1.1".into(),
            tenant: TenantId(1),
            queues: vec![OrsQueue {
                queue: "q".into(),
                view: "v".into(),
                strategy: setup.strategy % STRATEGIES.len(),
            }],
            strategies,
            pull_by_this_node: true,
            pull_limit: PULL_LIMIT,
            new_session_on_reroute: setup.new_session_on_reroute,
            pull_hold_timeout_ms: 200,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            max_sessions: None,
            queue_on_fails: None,
            idle_session_ttl_ms: None,
            om_memory_optimization: false,
            om_max_in_memory: 1000,
            om_delete_from_memory: false,
            ha: None,
            version: OrsVersion::V814,
            delivery_timeout_ms: DELIVERY_TIMEOUT_MS,
            tick_ms: TICK_MS,
            planted_bug: bug,
        };
        let mut harness = Harness {
            ors: OrsServer::new(cfg),
            setup,
            now: 0,
            connected: false,
            urs_connected: false,
            timers: BTreeMap::new(),
            outstanding: Vec::new(),
            urs_outstanding: Vec::new(),
            next_ixn: 1,
            owned: BTreeSet::new(),
            at_agent: BTreeMap::new(),
            accepted: BTreeSet::new(),
            queued: BTreeMap::new(),
            user_data: BTreeMap::new(),
            confirmed: BTreeSet::new(),
            holder: BTreeMap::new(),
            detached: BTreeSet::new(),
            live: BTreeSet::new(),
            must_return: BTreeSet::new(),
            log: Vec::new(),
        };
        harness.input(Input::Start);
        harness.urs_connected = true;
        harness.input(Input::Connected(URS));
        harness.connected = true;
        harness.input(Input::Connected(SERVER));
        harness
    }

    /// Every session step the server traced so far: (session, interaction, what).
    pub fn log(&self) -> &[(u64, IxnId, String)] {
        &self.log
    }

    fn input(&mut self, input: Input) {
        let mut out = Vec::new();
        self.ors.handle(self.now, input, &mut out);
        self.observe(out);
        self.answer_registration();
    }

    /// The node answers a registration at once, lists what the name still owns, and the
    /// server's next tick pulls.
    fn answer_registration(&mut self) {
        let Some(position) = self
            .outstanding
            .iter()
            .position(|(_, r)| matches!(r, Request::RegisterClient { .. }))
        else {
            return;
        };
        let (ref_id, _) = self.outstanding.remove(position);
        self.reply(ref_id, Event::Ack { ixn: None });
        if !self.owned.is_empty() && self.connected {
            let items = self.owned.iter().map(|ixn| self.info(*ixn)).collect();
            let event = Event::TakenFromQueue { items };
            self.input(Input::Frame(SERVER, Message::unsolicited(event)));
        }
        self.timers.remove(&TICK_TIMER);
        self.input(Input::Timer(TICK_TIMER));
    }

    fn tag_session(data: &KvList) -> Option<u64> {
        match data.get(SESSION_KEY) {
            Some(KvValue::Str(tag)) => tag.rsplit_once(':')?.1.parse().ok(),
            _ => None,
        }
    }

    /// Checks everything the server did in one step.
    fn observe(&mut self, out: Vec<Output>) {
        for output in out {
            match output {
                Output::Send(SERVER, Message::Request { ref_id, request }) => {
                    self.on_request(ref_id, request);
                }
                Output::Send(
                    URS,
                    Message::Request {
                        ref_id,
                        request: Request::SelectTarget { ixn, .. },
                    },
                ) => {
                    assert!(self.urs_connected, "asked the URS while disconnected");
                    assert!(
                        self.owned.contains(&ixn),
                        "[S-INV-owner] target selection for {ixn}, which the server does not own"
                    );
                    self.urs_outstanding.push(ref_id);
                }
                Output::Send(..) => {}
                Output::Close(SERVER) => self.drop_connection(),
                Output::Close(URS) => self.drop_urs(),
                Output::Close(_) => {}
                Output::SetTimer(id, at) => {
                    self.timers.insert(id, at);
                }
                Output::CancelTimer(id) => {
                    self.timers.remove(&id);
                }
                Output::Persist(..) => {}
                Output::Trace(TraceEvent::OrsSession { session, ixn, what }) => {
                    self.on_trace(session, ixn, &what);
                }
                Output::Trace(_) | Output::Mark(_) => {}
            }
        }
    }

    /// A request to the node: only about interactions the server owns and no agent is being
    /// offered [S-INV-owner], pulls within the limit [S-ORS-pull].
    fn on_request(&mut self, ref_id: RefId, request: Request) {
        assert!(self.connected, "sent {request:?} while disconnected");
        if let Request::Pull { count, .. } = &request {
            let asked = *count + self.owned.len() as u32;
            assert!(
                asked <= PULL_LIMIT,
                "[S-ORS-pull] asked for {count} owning {}",
                self.owned.len()
            );
        }
        if let Some(ixn) = about(&request) {
            assert!(
                self.owned.contains(&ixn),
                "[S-INV-owner] request about {ixn}, which the server does not own: {request:?}"
            );
            assert!(
                !self.at_agent.contains_key(&ixn),
                "[S-INV-owner] request about {ixn} while an agent is offered it: {request:?}"
            );
            if matches!(request, Request::Deliver { .. }) {
                let twice = self.outstanding.iter().any(|(_, r)| {
                    matches!(r, Request::Deliver { ixn: other, .. } if other.value() == Some(&ixn))
                });
                assert!(
                    !twice,
                    "[S-INV-owner] {ixn} delivered again before the node answered the first delivery"
                );
            }
            if matches!(request, Request::PlaceInQueue { .. }) {
                self.must_return.remove(&ixn);
            }
        }
        self.outstanding.push((ref_id, request));
    }

    /// Follows one session step the server traced (by its first word) and checks it against
    /// the association rules.
    fn on_trace(&mut self, session: u64, ixn: IxnId, what: &str) {
        self.log.push((session, ixn, what.to_string()));
        match what.split(' ').next().unwrap_or_default() {
            "session-started" => self.session_started(session, ixn),
            "re-pulled" => self.re_pulled(session, ixn),
            "associated-away" => {
                assert_eq!(
                    self.holder.get(&ixn),
                    Some(&session),
                    "[S-ORS-assoc] session {session} handed over {ixn}, which it does not hold"
                );
                self.holder.remove(&ixn);
            }
            "interaction.detach.done" => self.detach_done(session, ixn),
            "error.interaction.detach" => {}
            "returned-to-queue" => self.returned_to_queue(ixn),
            "route-redirect" | "route-deliver" => {
                assert!(
                    self.detached.contains(&(session, ixn)),
                    "[S-ORS-detach] session {session} routed {ixn} without interaction.detach.done"
                );
            }
            "delivered" => {
                assert!(
                    self.accepted.contains(&ixn),
                    "[S-INV-owner] the server counts {ixn} delivered, which no agent accepted"
                );
            }
            "interaction.attach.done" => self.attach_done(session, ixn),
            "session-ended" => self.session_ended(session),
            _ => {}
        }
    }

    /// A new session for `ixn`: no live session may hold it [S-ORS-assoc] [S-INV-owner].
    fn session_started(&mut self, session: u64, ixn: IxnId) {
        if let Some(other) = self.holder.get(&ixn) {
            assert!(
                !self.live.contains(other),
                "[S-ORS-assoc] [S-INV-owner] session {session} started for {ixn}, held by live session {other}"
            );
        }
        self.holder.insert(ixn, session);
        self.live.insert(session);
    }

    /// `ixn`, pulled again, went back to `session`: only without `new-session-on-reroute`, and
    /// only to the session that holds it [S-ORS-session].
    fn re_pulled(&mut self, session: u64, ixn: IxnId) {
        assert!(
            !self.setup.new_session_on_reroute,
            "[S-ORS-session] with new-session-on-reroute a re-pull starts a new session"
        );
        assert_eq!(
            self.holder.get(&ixn),
            Some(&session),
            "[S-ORS-session] {ixn} went back to a session that does not hold it"
        );
    }

    /// `session` detached `ixn`: only once the node confirmed its association, and only what it
    /// holds [S-ORS-detach].
    fn detach_done(&mut self, session: u64, ixn: IxnId) {
        assert!(
            self.confirmed.contains(&(session, ixn)),
            "[S-ORS-detach] session {session} detached {ixn} before the node confirmed its association"
        );
        assert_eq!(
            self.holder.get(&ixn),
            Some(&session),
            "[S-ORS-detach] session {session} detached {ixn}, which it does not hold"
        );
        self.holder.remove(&ixn);
        self.detached.insert((session, ixn));
    }

    /// Only what no live session holds or detached goes back to its queue: placing it pulls it
    /// from under that session, which may route it again [S-INV-owner].
    fn returned_to_queue(&self, ixn: IxnId) {
        let holder = self.holder.get(&ixn).filter(|s| self.live.contains(s));
        let detacher = self
            .detached
            .iter()
            .find(|(s, other)| *other == ixn && self.live.contains(s));
        assert!(
            holder.is_none() && detacher.is_none(),
            "[S-INV-owner] {ixn} returned to its queue while live session {:?} holds it",
            holder.or(detacher.map(|(s, _)| s))
        );
    }

    /// `session` attached `ixn` again: no live session may hold it, and the new association
    /// needs a new confirmation [S-ORS-detach].
    fn attach_done(&mut self, session: u64, ixn: IxnId) {
        assert!(
            self.holder
                .get(&ixn)
                .is_none_or(|other| !self.live.contains(other)),
            "[S-ORS-detach] attach of {ixn}, which a live session holds"
        );
        self.holder.insert(ixn, session);
        self.detached.remove(&(session, ixn));
        // A new association: it needs a new confirmation.
        self.confirmed.remove(&(session, ixn));
    }

    /// `session` ended: what it held or detached is no one's, and goes back to its queue (see
    /// `returns`).
    fn session_ended(&mut self, session: u64) {
        self.live.remove(&session);
        let held: Vec<IxnId> = self
            .holder
            .iter()
            .filter(|(_, s)| **s == session)
            .map(|(ixn, _)| *ixn)
            .collect();
        for ixn in held {
            self.holder.remove(&ixn);
            self.returns(ixn);
        }
        let detached: Vec<IxnId> = self
            .detached
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, ixn)| *ixn)
            .collect();
        for ixn in detached {
            self.detached.remove(&(session, ixn));
            self.returns(ixn);
        }
    }

    /// The session that held or detached `ixn` ended: the server must put it back in its
    /// queue now, unless it is offered to an agent (whose answer settles it) or no longer the
    /// server's.
    fn returns(&mut self, ixn: IxnId) {
        if self.owned.contains(&ixn) && self.connected && !self.at_agent.contains_key(&ixn) {
            let delivering = self.outstanding.iter().any(|(_, r)| {
                matches!(r, Request::Deliver { ixn: other, .. } if other.value() == Some(&ixn))
            });
            if !delivering {
                self.must_return.insert(ixn);
            }
        }
    }

    fn drop_connection(&mut self) {
        if self.connected {
            self.connected = false;
            self.outstanding.clear();
            // The node's invites run out while the server is away: their outcomes are lost,
            // and the interactions stay the server's.
            self.at_agent.clear();
            self.input(Input::Disconnected(SERVER));
        }
    }

    fn drop_urs(&mut self) {
        if self.urs_connected {
            self.urs_connected = false;
            self.urs_outstanding.clear();
            self.input(Input::Disconnected(URS));
        }
    }

    fn reply(&mut self, ref_id: RefId, event: Event) {
        if self.connected {
            self.input(Input::Frame(SERVER, Message::reply(ref_id, event)));
        }
    }

    fn info(&self, ixn: IxnId) -> IxnInfo {
        IxnInfo {
            id: ixn,
            tenant: TenantId(1),
            media: "email".into(),
            queue: "q".into(),
            priority: 0,
            submitted_at: 0,
            user_data: self.user_data.get(&ixn).cloned().unwrap_or_default(),
            node: 1,
        }
    }

    /// Takes the `index`-th (modulo) outstanding request of `kind` that the node can answer
    /// now. Requests are answered in any order, as several nodes or a slow one could, but
    /// never one about an interaction before an earlier one about the same interaction: the
    /// node handles a connection's requests in arrival order, so an older user-data write
    /// cannot land after a newer one. (Answering them out of order let a dead session's
    /// `ORS_Session` tag overwrite its successor's, and the server rightly took the
    /// interaction for someone else's: a false [S-INV-owner] finding of the fuzz target.)
    fn take(&mut self, kind: fn(&Request) -> bool, index: usize) -> Option<(RefId, Request)> {
        let positions: Vec<usize> = (0..self.outstanding.len())
            .filter(|i| kind(&self.outstanding[*i].1))
            .filter(|i| {
                let ixn = about(&self.outstanding[*i].1);
                ixn.is_none() || !self.outstanding[..*i].iter().any(|(_, r)| about(r) == ixn)
            })
            .collect();
        if positions.is_empty() {
            return None;
        }
        Some(self.outstanding.remove(positions[index % positions.len()]))
    }

    /// The agent offered `ixn` answers (the node tells the server).
    fn agent_answers(&mut self, ixn: IxnId, accept: bool) {
        self.at_agent.remove(&ixn);
        let event = if accept {
            self.owned.remove(&ixn);
            self.accepted.insert(ixn);
            Event::Accepted { agent: AGENT, ixn }
        } else {
            Event::Rejected { agent: AGENT, ixn }
        };
        self.input(Input::Frame(SERVER, Message::unsolicited(event)));
    }

    /// Plays one step of the cluster side and checks what the server did meanwhile.
    pub fn step(&mut self, step: &Step) {
        match step {
            Step::AnswerPull { fresh, back } => self.answer_pull(*fresh, *back),
            Step::AnswerUpdate { index, ok } => self.answer_update(*index, *ok),
            Step::AnswerPlace { index, ok } => self.answer_place(*index, *ok),
            Step::AnswerSelect { index, ok } => self.answer_select(*index, *ok),
            Step::AnswerDeliver { index, ok } => self.answer_deliver(*index, *ok),
            Step::AgentAnswer { index, accept } => {
                if self.at_agent.is_empty() || !self.connected {
                    return;
                }
                let Some(ixn) = self
                    .at_agent
                    .keys()
                    .nth(index % self.at_agent.len())
                    .copied()
                else {
                    return;
                };
                self.agent_answers(ixn, *accept);
            }
            Step::AnswerHousekeeping => {
                while let Some((ref_id, _)) = self.take(|r| matches!(r, Request::Ping), 0) {
                    self.reply(ref_id, Event::Ack { ixn: None });
                }
            }
            Step::Wait { ms } => self.wait(*ms),
            Step::Disconnect => self.drop_connection(),
            Step::DisconnectUrs => self.drop_urs(),
            Step::Reconnect => self.reconnect(),
        }
    }

    /// Answers the pull in flight (if any) with one interaction the server parked (if `back`;
    /// the lowest id) and `fresh` new ones, cut to the count it asked for.
    fn answer_pull(&mut self, fresh: u32, back: bool) {
        let Some((ref_id, Request::Pull { count, .. })) =
            self.take(|r| matches!(r, Request::Pull { .. }), 0)
        else {
            return;
        };
        let mut items = Vec::new();
        if back {
            if let Some(ixn) = self.queued.keys().next().copied() {
                self.queued.remove(&ixn);
                items.push(ixn);
            }
        }
        for _ in 0..fresh {
            let ixn = IxnId(self.next_ixn);
            self.next_ixn += 1;
            items.push(ixn);
        }
        items.truncate(count as usize);
        for ixn in &items {
            self.owned.insert(*ixn);
        }
        let infos = items.iter().map(|ixn| self.info(*ixn)).collect();
        self.reply(ref_id, Event::TakenFromQueue { items: infos });
    }

    /// Answers the `index`-th user-data update: when acknowledged (only for an interaction the
    /// server owns) the data is stored, and an `ORS_Session` tag confirms that session's
    /// association.
    fn answer_update(&mut self, index: usize, ok: bool) {
        let Some((ref_id, Request::UpdateUserData { ixn, changes })) =
            self.take(|r| matches!(r, Request::UpdateUserData { .. }), index)
        else {
            return;
        };
        let ixn = *ixn.value().expect("the server names the interaction");
        let event = match (ok, self.owned.contains(&ixn)) {
            (true, true) => {
                self.user_data.entry(ixn).or_default().merge(&changes);
                if let Some(session) = Self::tag_session(&changes) {
                    self.confirmed.insert((session, ixn));
                }
                Event::Ack { ixn: Some(ixn) }
            }
            (true, false) => Event::Error {
                code: ErrorCode::NotOwner,
            },
            (false, _) => Event::Error {
                code: ErrorCode::InvalidState,
            },
        };
        self.reply(ref_id, event);
    }

    /// Answers the `index`-th placement: when acknowledged the server no longer owns the
    /// interaction, and one placed in the server's own queue `q` can be pulled back.
    fn answer_place(&mut self, index: usize, ok: bool) {
        let Some((ref_id, Request::PlaceInQueue { ixn, queue })) =
            self.take(|r| matches!(r, Request::PlaceInQueue { .. }), index)
        else {
            return;
        };
        let ixn = *ixn.value().expect("the server names the interaction");
        let event = if ok && self.owned.remove(&ixn) {
            if queue == "q" {
                let data = self.user_data.get(&ixn).cloned().unwrap_or_default();
                self.queued.insert(ixn, data);
            }
            Event::Ack { ixn: Some(ixn) }
        } else {
            Event::Error {
                code: ErrorCode::InvalidState,
            }
        };
        self.reply(ref_id, event);
    }

    /// The URS answers the `index`-th target selection: [`AGENT`], or no agent available.
    fn answer_select(&mut self, index: usize, ok: bool) {
        if self.urs_outstanding.is_empty() {
            return;
        }
        let ref_id = self
            .urs_outstanding
            .remove(index % self.urs_outstanding.len());
        let event = if ok {
            Event::TargetSelected { agent: AGENT }
        } else {
            Event::Error {
                code: ErrorCode::AgentUnavailable,
            }
        };
        self.input(Input::Frame(URS, Message::reply(ref_id, event)));
    }

    /// The node answers the `index`-th delivery: when acknowledged (only for an interaction
    /// the server owns) the agent is offered it from now on.
    fn answer_deliver(&mut self, index: usize, ok: bool) {
        let Some((ref_id, Request::Deliver { ixn, .. })) =
            self.take(|r| matches!(r, Request::Deliver { .. }), index)
        else {
            return;
        };
        let ixn = *ixn.value().expect("the server names the interaction");
        let event = if ok && self.owned.contains(&ixn) {
            self.at_agent.insert(ixn, self.now);
            Event::Ack { ixn: Some(ixn) }
        } else {
            Event::Error {
                code: ErrorCode::InvalidState,
            }
        };
        self.reply(ref_id, event);
    }

    /// The dropped connections come back: the URS first, then the cluster.
    fn reconnect(&mut self) {
        if !self.urs_connected {
            self.urs_connected = true;
            self.input(Input::Connected(URS));
        }
        if !self.connected {
            self.connected = true;
            self.input(Input::Connected(SERVER));
        }
    }

    /// Lets `ms` pass: the server's timers and the node's invite timeouts fire in time order.
    fn wait(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let timer = crate::next_timer(&self.timers, until);
            let invite = self
                .at_agent
                .iter()
                .map(|(ixn, since)| (*ixn, since + INVITE_TIMEOUT_MS))
                .filter(|(_, at)| *at <= until)
                .min_by_key(|(ixn, at)| (*at, *ixn));
            match (timer, invite) {
                (Some((_, timer_at)), Some((ixn, at))) if at <= timer_at => {
                    self.now = self.now.max(at);
                    self.agent_answers(ixn, false);
                }
                (None, Some((ixn, at))) => {
                    self.now = self.now.max(at);
                    self.agent_answers(ixn, false);
                }
                (Some((id, at)), _) => {
                    self.timers.remove(&id);
                    self.now = self.now.max(at);
                    self.input(Input::Timer(id));
                }
                (None, None) => break,
            }
        }
        self.now = until;
        if !self.timers.contains_key(&TICK_TIMER) {
            self.input(Input::Timer(TICK_TIMER));
        }
    }

    /// Invariants that hold between steps: a session that ended while the server was
    /// connected and owned its interaction put it back in its queue in the same step, and only
    /// live sessions hold interactions [S-INV-owner].
    pub fn check(&self) {
        assert!(
            self.must_return.is_empty(),
            "sessions ended holding {:?} and nothing was placed back",
            self.must_return
        );
        for ixn in self.holder.keys() {
            assert!(
                self.holder.get(ixn).is_some_and(|s| self.live.contains(s)),
                "[S-INV-owner] {ixn} held by a session that ended"
            );
        }
    }
}

/// The interaction a request to the node is about, if any.
fn about(request: &Request) -> Option<IxnId> {
    match request {
        Request::UpdateUserData { ixn, .. }
        | Request::PlaceInQueue { ixn, .. }
        | Request::Deliver { ixn, .. }
        | Request::Transfer { ixn, .. } => ixn.value().copied(),
        _ => None,
    }
}

/// The most steps one fuzz input plays.
pub const MAX_FUZZ_STEPS: usize = 200;

/// A fuzz input's setup: the strategy by index modulo [`STRATEGIES`].
#[derive(Arbitrary, Debug)]
pub struct FuzzSetup {
    pub strategy: u8,
    pub new_session_on_reroute: bool,
}

impl FuzzSetup {
    pub fn setup(&self) -> Setup {
        Setup {
            strategy: usize::from(self.strategy) % STRATEGIES.len(),
            new_session_on_reroute: self.new_session_on_reroute,
        }
    }
}

/// A compact [`Step`]: small indices (taken modulo the pools the proptest draws from), and
/// time in 10 ms units, so that one mutated byte changes one choice.
#[derive(Arbitrary, Debug)]
pub enum FuzzStep {
    AnswerPull { fresh: u8, back: bool },
    AnswerUpdate { index: u8, ok: bool },
    AnswerPlace { index: u8, ok: bool },
    AnswerSelect { index: u8, ok: bool },
    AnswerDeliver { index: u8, ok: bool },
    AgentAnswer { index: u8, accept: bool },
    AnswerHousekeeping,
    Wait { tens_of_ms: u8 },
    Disconnect,
    DisconnectUrs,
    Reconnect,
}

impl FuzzStep {
    /// The [`Step`] it stands for, within the proptest's ranges: at most 2 fresh
    /// interactions, indices below 4, waits of 10 to 600 ms.
    pub fn step(&self) -> Step {
        let index = |i: &u8| usize::from(*i % 4);
        match self {
            FuzzStep::AnswerPull { fresh, back } => Step::AnswerPull {
                fresh: u32::from(*fresh % 3),
                back: *back,
            },
            FuzzStep::AnswerUpdate { index: i, ok } => Step::AnswerUpdate {
                index: index(i),
                ok: *ok,
            },
            FuzzStep::AnswerPlace { index: i, ok } => Step::AnswerPlace {
                index: index(i),
                ok: *ok,
            },
            FuzzStep::AnswerSelect { index: i, ok } => Step::AnswerSelect {
                index: index(i),
                ok: *ok,
            },
            FuzzStep::AnswerDeliver { index: i, ok } => Step::AnswerDeliver {
                index: index(i),
                ok: *ok,
            },
            FuzzStep::AgentAnswer { index: i, accept } => Step::AgentAnswer {
                index: index(i),
                accept: *accept,
            },
            FuzzStep::AnswerHousekeeping => Step::AnswerHousekeeping,
            FuzzStep::Wait { tens_of_ms } => Step::Wait {
                ms: 10 * (1 + u64::from(*tens_of_ms % 60)),
            },
            FuzzStep::Disconnect => Step::Disconnect,
            FuzzStep::DisconnectUrs => Step::DisconnectUrs,
            FuzzStep::Reconnect => Step::Reconnect,
        }
    }
}

/// `ors_session`: fuzz bytes as a setup and a run of cluster steps against one ORS server;
/// panics (naming the [S-...] rule) when the server breaks one of the checks above.
pub fn ors_session(bytes: &[u8]) {
    ors_session_planted(bytes, None);
}

/// [`ors_session`] against a server with `bug` planted (harness self-test).
pub fn ors_session_planted(bytes: &[u8], bug: Option<OrsBug>) {
    let mut input = Unstructured::new(bytes);
    let Ok(setup) = FuzzSetup::arbitrary(&mut input) else {
        return;
    };
    let mut harness = Harness::new(setup.setup(), bug);
    harness.check();
    for _ in 0..MAX_FUZZ_STEPS {
        if input.is_empty() {
            break;
        }
        let Ok(step) = FuzzStep::arbitrary(&mut input) else {
            break;
        };
        harness.step(&step.step());
        harness.check();
    }
}

/// The planted bug a name (as scenarios spell it: `route-without-detach`, ...) stands for.
pub fn planted_bug_named(name: &str) -> Result<OrsBug, String> {
    match name {
        "detach-before-confirm" => Ok(OrsBug::DetachBeforeConfirm),
        "route-without-detach" => Ok(OrsBug::RouteWithoutDetach),
        "no-forwarding" => Ok(OrsBug::NoForwarding),
        "eviction-loses-interaction" => Ok(OrsBug::EvictionLosesInteraction),
        _ => Err(format!(
            "unknown planted bug `{name}` (detach-before-confirm, route-without-detach, \
             no-forwarding, eviction-loses-interaction)"
        )),
    }
}
