//! One ORS server's sessions against a model of their environment and of the association rules
//! [S-ORS-session] [S-ORS-assoc] [S-ORS-detach] [S-ORS-pull], as a proptest state-machine test.
//!
//! The test plays the cluster (the node behind the proxy): it answers the server's pulls with
//! fresh interactions and with interactions the server parked earlier (carrying the
//! association in their user data), acknowledges or refuses user-data updates and placements,
//! lets time pass (timers, request timeouts), and cuts and restores the connection. Generated
//! interleavings run four strategies: one that detaches too early, one that detaches after its
//! own update, one that parks the interaction keeping the association and routes it when it
//! comes back, and one that attaches again after a failed routing.
//!
//! After every step it checks what the server did against the model:
//! - it sends requests only about interactions it owns, and never asks for more than
//!   `mcr-pull-limit` minus what it owns;
//! - a detach succeeds only once the node acknowledged that session's association update, and
//!   the session routes only an interaction it detached;
//! - at most one live session holds an interaction; one pulled again while its session lives
//!   goes back to that session (or, with `new-session-on-reroute`, to a new one after the old
//!   one let go);
//! - a session that ends while the server owns its interaction puts it back in its queue.

use ixsim_core::clients::TICK_TIMER;
use ixsim_core::ids::{IxnId, RefId, SimTime, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer, TimerId};
use ixsim_core::ors::server::{OrsConfig, OrsQueue, OrsServer, OrsVersion, SESSION_KEY};
use ixsim_core::ors::strategy::Strategy as OrsStrategy;
use ixsim_core::protocol::{ErrorCode, Event, IxnInfo, Message, Request};
use ixsim_core::trace::TraceEvent;
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::collections::{BTreeMap, BTreeSet};

const SERVER: Peer = Peer::Server(0);
const PULL_LIMIT: u32 = 3;
const REQUEST_TIMEOUT_MS: u64 = 400;
const TICK_MS: u64 = 20;

/// The strategies under test, one per run (seed 000's patterns).
const STRATEGIES: [&str; 4] = [
    // Detaches at once: error.interaction.detach until the association is confirmed.
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
    // Detaches after its own update is confirmed.
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
    // Parks the interaction keeping the association; routes it when it comes back.
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
    // Attaches again when routing fails, and routes once more.
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
];

#[derive(Clone, Debug)]
struct Setup {
    strategy: usize,
    new_session_on_reroute: bool,
}

#[derive(Clone, Debug)]
enum Step {
    /// Answer the pull in flight with up to `fresh` new interactions and, if `back`, one the
    /// server parked.
    AnswerPull {
        fresh: u32,
        back: bool,
    },
    /// Answer the `index`-th outstanding user-data update (ack or refuse).
    AnswerUpdate {
        index: usize,
        ok: bool,
    },
    /// Answer the `index`-th outstanding placement (ack or refuse).
    AnswerPlace {
        index: usize,
        ok: bool,
    },
    /// Acknowledge pings (registrations are answered at once).
    AnswerHousekeeping,
    /// Let time pass: ticks, strategy timers, request timeouts.
    Wait {
        ms: u64,
    },
    Disconnect,
    Reconnect,
}

#[derive(Clone, Debug)]
struct Model {
    setup: Setup,
}

impl ReferenceStateMachine for Model {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Self::State> {
        (0..STRATEGIES.len(), any::<bool>())
            .prop_map(|(strategy, new_session_on_reroute)| Model {
                setup: Setup {
                    strategy,
                    new_session_on_reroute,
                },
            })
            .boxed()
    }

    fn transitions(_state: &Self::State) -> BoxedStrategy<Self::Transition> {
        prop_oneof![
            6 => (0u32..3, any::<bool>()).prop_map(|(fresh, back)| Step::AnswerPull { fresh, back }),
            5 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerUpdate { index, ok }),
            4 => (0usize..4, prop::bool::weighted(0.85))
                .prop_map(|(index, ok)| Step::AnswerPlace { index, ok }),
            2 => Just(Step::AnswerHousekeeping),
            5 => (10u64..600).prop_map(|ms| Step::Wait { ms }),
            1 => Just(Step::Disconnect),
            1 => Just(Step::Reconnect),
        ]
        .boxed()
    }

    fn apply(state: Self::State, _transition: &Self::Transition) -> Self::State {
        state
    }
}

/// The cluster side as the test plays it, and what the server's traces told so far.
struct Harness {
    ors: OrsServer,
    setup: Setup,
    now: SimTime,
    connected: bool,
    timers: BTreeMap<TimerId, SimTime>,
    /// Requests the server sent and the node has not answered, in order.
    outstanding: Vec<(RefId, Request)>,
    next_ixn: u64,
    /// What the node says the server owns.
    owned: BTreeSet<IxnId>,
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
    fn new(setup: Setup) -> Self {
        let strategy: OrsStrategy =
            toml::from_str(STRATEGIES[setup.strategy]).expect("test strategy parses");
        strategy.validate(&[]).expect("test strategy is valid");
        let cfg = OrsConfig {
            name: "ors1.1".into(),
            tenant: TenantId(1),
            queues: vec![OrsQueue {
                queue: "q".into(),
                view: "v".into(),
                strategy: 0,
            }],
            strategies: vec![strategy],
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
            delivery_timeout_ms: 1000,
            tick_ms: TICK_MS,
            planted_bug: None,
        };
        let mut harness = Harness {
            ors: OrsServer::new(cfg),
            setup,
            now: 0,
            connected: false,
            timers: BTreeMap::new(),
            outstanding: Vec::new(),
            next_ixn: 1,
            owned: BTreeSet::new(),
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
        harness.connected = true;
        harness.input(Input::Connected(SERVER));
        harness
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
                    assert!(self.connected, "sent {request:?} while disconnected");
                    let about = match &request {
                        Request::UpdateUserData { ixn, .. }
                        | Request::PlaceInQueue { ixn, .. }
                        | Request::Deliver { ixn, .. }
                        | Request::Transfer { ixn, .. } => ixn.value().copied(),
                        Request::Pull { count, .. } => {
                            let asked = *count + self.owned.len() as u32;
                            assert!(
                                asked <= PULL_LIMIT,
                                "[S-ORS-pull] asked for {count} owning {}",
                                self.owned.len()
                            );
                            None
                        }
                        _ => None,
                    };
                    if let Some(ixn) = about {
                        assert!(
                            self.owned.contains(&ixn),
                            "request about {ixn}, which the server does not own: {request:?}"
                        );
                        if matches!(request, Request::PlaceInQueue { .. }) {
                            self.must_return.remove(&ixn);
                        }
                    }
                    self.outstanding.push((ref_id, request));
                }
                Output::Send(..) => {}
                Output::Close(SERVER) => self.drop_connection(),
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
                Output::Trace(_) => {}
            }
        }
    }

    fn on_trace(&mut self, session: u64, ixn: IxnId, what: &str) {
        self.log.push((session, ixn, what.to_string()));
        match what {
            "session-started" => {
                if let Some(other) = self.holder.get(&ixn) {
                    assert!(
                        !self.live.contains(other),
                        "[S-ORS-assoc] session {session} started for {ixn}, held by live session {other}"
                    );
                }
                self.holder.insert(ixn, session);
                self.live.insert(session);
            }
            "re-pulled" => {
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
            "associated-away" => {
                assert_eq!(self.holder.get(&ixn), Some(&session));
                self.holder.remove(&ixn);
            }
            "interaction.detach.done" => {
                assert!(
                    self.confirmed.contains(&(session, ixn)),
                    "[S-ORS-detach] session {session} detached {ixn} before the node confirmed its association"
                );
                assert_eq!(self.holder.get(&ixn), Some(&session));
                self.holder.remove(&ixn);
                self.detached.insert((session, ixn));
            }
            "error.interaction.detach" => {}
            "route-redirect" | "route-deliver" => {
                assert!(
                    self.detached.contains(&(session, ixn)),
                    "[S-ORS-detach] session {session} routed {ixn} without interaction.detach.done"
                );
            }
            "interaction.attach.done" => {
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
            "session-ended" => {
                self.live.remove(&session);
                let held: Vec<IxnId> = self
                    .holder
                    .iter()
                    .filter(|(_, s)| **s == session)
                    .map(|(ixn, _)| *ixn)
                    .collect();
                for ixn in held {
                    self.holder.remove(&ixn);
                    if self.owned.contains(&ixn) && self.connected {
                        self.must_return.insert(ixn);
                    }
                }
                let detached: Vec<IxnId> = self
                    .detached
                    .iter()
                    .filter(|(s, _)| *s == session)
                    .map(|(_, ixn)| *ixn)
                    .collect();
                for ixn in detached {
                    self.detached.remove(&(session, ixn));
                    if self.owned.contains(&ixn) && self.connected {
                        self.must_return.insert(ixn);
                    }
                }
            }
            _ => {}
        }
    }

    fn drop_connection(&mut self) {
        if self.connected {
            self.connected = false;
            self.outstanding.clear();
            self.input(Input::Disconnected(SERVER));
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

    fn take(&mut self, kind: fn(&Request) -> bool, index: usize) -> Option<(RefId, Request)> {
        let positions: Vec<usize> = (0..self.outstanding.len())
            .filter(|i| kind(&self.outstanding[*i].1))
            .collect();
        if positions.is_empty() {
            return None;
        }
        Some(self.outstanding.remove(positions[index % positions.len()]))
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::AnswerPull { fresh, back } => {
                let Some((ref_id, Request::Pull { count, .. })) =
                    self.take(|r| matches!(r, Request::Pull { .. }), 0)
                else {
                    return;
                };
                let mut items = Vec::new();
                if *back {
                    if let Some(ixn) = self.queued.keys().next().copied() {
                        self.queued.remove(&ixn);
                        items.push(ixn);
                    }
                }
                for _ in 0..*fresh {
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
            Step::AnswerUpdate { index, ok } => {
                let Some((ref_id, Request::UpdateUserData { ixn, changes })) =
                    self.take(|r| matches!(r, Request::UpdateUserData { .. }), *index)
                else {
                    return;
                };
                let ixn = *ixn.value().expect("the server names the interaction");
                let event = match (*ok, self.owned.contains(&ixn)) {
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
            Step::AnswerPlace { index, ok } => {
                let Some((ref_id, Request::PlaceInQueue { ixn, queue })) =
                    self.take(|r| matches!(r, Request::PlaceInQueue { .. }), *index)
                else {
                    return;
                };
                let ixn = *ixn.value().expect("the server names the interaction");
                let event = if *ok && self.owned.remove(&ixn) {
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
            Step::AnswerHousekeeping => {
                while let Some((ref_id, _)) = self.take(|r| matches!(r, Request::Ping), 0) {
                    self.reply(ref_id, Event::Ack { ixn: None });
                }
            }
            Step::Wait { ms } => {
                let until = self.now + ms;
                loop {
                    let due = self
                        .timers
                        .iter()
                        .filter(|(_, at)| **at <= until)
                        .min_by_key(|(id, at)| (**at, **id))
                        .map(|(id, at)| (*id, *at));
                    let Some((id, at)) = due else { break };
                    self.timers.remove(&id);
                    self.now = self.now.max(at);
                    self.input(Input::Timer(id));
                }
                self.now = until;
                if !self.timers.contains_key(&TICK_TIMER) {
                    self.input(Input::Timer(TICK_TIMER));
                }
            }
            Step::Disconnect => self.drop_connection(),
            Step::Reconnect => {
                if !self.connected {
                    self.connected = true;
                    self.input(Input::Connected(SERVER));
                }
            }
        }
    }

    /// Invariants that hold between steps: a session that ended while the server was
    /// connected and owned its interaction put it back in its queue in the same step.
    fn check(&self) {
        assert!(
            self.must_return.is_empty(),
            "sessions ended holding {:?} and nothing was placed back",
            self.must_return
        );
        for ixn in self.holder.keys() {
            assert!(
                self.holder.get(ixn).is_some_and(|s| self.live.contains(s)),
                "{ixn} held by a session that ended"
            );
        }
    }
}

struct OrsSessionTest;

impl StateMachineTest for OrsSessionTest {
    type SystemUnderTest = Harness;
    type Reference = Model;

    fn init_test(ref_state: &Model) -> Self::SystemUnderTest {
        Harness::new(ref_state.setup.clone())
    }

    fn apply(mut harness: Harness, _ref_state: &Model, step: Step) -> Self::SystemUnderTest {
        harness.step(&step);
        harness
    }

    fn check_invariants(harness: &Harness, _ref_state: &Model) {
        harness.check();
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ors_sessions_follow_the_association_rules(sequential 1..60 => OrsSessionTest);
}

/// The parking pattern by hand: the interaction comes back to the session that parked it.
#[test]
fn parked_interaction_comes_back_to_its_session() {
    for new_session_on_reroute in [false, true] {
        let mut harness = Harness::new(Setup {
            strategy: 2,
            new_session_on_reroute,
        });
        let steps = [
            Step::AnswerPull {
                fresh: 1,
                back: false,
            },
            Step::AnswerUpdate { index: 0, ok: true },
            Step::AnswerPlace { index: 0, ok: true },
            Step::Wait { ms: 50 },
            Step::AnswerPull {
                fresh: 0,
                back: true,
            },
        ];
        for step in &steps {
            harness.step(step);
            harness.check();
        }
        let whats: Vec<(u64, &str)> = harness
            .log
            .iter()
            .map(|(session, _, what)| (*session, what.as_str()))
            .collect();
        if new_session_on_reroute {
            assert!(
                whats.contains(&(1, "associated-away")) && whats.contains(&(2, "session-started")),
                "a new session takes it over: {whats:?}"
            );
        } else {
            assert!(
                whats.contains(&(1, "re-pulled")),
                "the parking session gets it back: {whats:?}"
            );
            // ... and routes it once detached.
            assert!(whats.contains(&(1, "route-redirect")), "{whats:?}");
        }
    }
}
