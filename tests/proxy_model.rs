//! The Interaction Server Proxy alone (core, no sim) under generated client requests (good and
//! malformed), generated node answers, node disconnects and reconnects, client disconnects and
//! time passing. The test plays the nodes, so it knows every answer each node gave, and checks
//! every reply the proxy sends against the rule of SPEC.md that allows it [S-PX-2000]..
//! [S-PX-2006], [S-PX-disabled], [S-LIC-revoke]; that the codes decidable from the request
//! alone are produced; that every request gets exactly one answer, within the proxy's request
//! timeout (plus the pull hold); and that node answers reach the client unchanged.

use ixsim_core::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use ixsim_core::is_node::{MediaConfig, TenantConfig};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer};
use ixsim_core::protocol::{ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request};
use ixsim_core::proxy::{Proxy, ProxyConfig, ProxyNode, PullMode};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::collections::{BTreeMap, BTreeSet};

const NODES: usize = 3;
const CLIENTS: u32 = 3;
const TIMEOUT_MS: u64 = 1000;
const HOLD_MS: u64 = 400;
const IDS: [u64; 3] = [
    0xC0_0000_0000_0001,
    0xC0_0000_0000_0002,
    0xC0_0000_0000_0003,
];

fn config(pull_mode: PullMode) -> ProxyConfig {
    let media = |name: &str, enabled: bool| MediaConfig {
        name: name.to_string(),
        enabled,
    };
    ProxyConfig {
        name: "proxy1".to_string(),
        nodes: vec![
            ProxyNode {
                tenants: vec![TenantId(1)],
                media: None,
            },
            ProxyNode {
                tenants: vec![TenantId(1)],
                media: Some(vec!["email".to_string()]),
            },
            ProxyNode {
                tenants: vec![TenantId(1), TenantId(2)],
                media: Some(vec!["chat".to_string()]),
            },
        ],
        tenants: vec![
            TenantConfig {
                id: TenantId(1),
                media: vec![
                    media("email", true),
                    media("chat", true),
                    media("sms", false),
                ],
            },
            TenantConfig {
                id: TenantId(2),
                media: vec![media("chat", true)],
            },
        ],
        pull_hold_timeout_ms: HOLD_MS,
        pull_mode,
        request_timeout_ms: TIMEOUT_MS,
        client_idle_timeout_ms: 0,
        tick_ms: 50,
    }
}

#[derive(Clone, Debug)]
enum Transition {
    /// Client `n` connects and registers.
    Register(u32),
    ClientGone(u32),
    Request(u32, Request),
    NodeUp(usize),
    NodeDown(usize),
    /// Answer the outstanding node request with this index (modulo), in this flavour.
    Answer(usize, u8),
    Advance(u64),
}

// The reference side only generates; the checks need what the nodes answered, which the test
// (playing the nodes) knows on the system-under-test side.
struct Gen;

impl ReferenceStateMachine for Gen {
    type State = ();
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<()> {
        Just(()).boxed()
    }

    fn transitions(_: &()) -> BoxedStrategy<Transition> {
        let client = || 0..CLIENTS;
        let node = || 0..NODES;
        prop_oneof![
            2 => client().prop_map(Transition::Register),
            1 => client().prop_map(Transition::ClientGone),
            8 => (client(), request()).prop_map(|(c, r)| Transition::Request(c, r)),
            2 => node().prop_map(Transition::NodeUp),
            1 => node().prop_map(Transition::NodeDown),
            10 => (any::<usize>(), any::<u8>()).prop_map(|(i, f)| Transition::Answer(i, f)),
            2 => (1u64..800).prop_map(Transition::Advance),
        ]
        .boxed()
    }

    fn apply(state: (), _: &Transition) {
        state
    }
}

fn field<T: Clone + std::fmt::Debug + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Field<T>> {
    prop_oneof![
        8 => value.prop_map(Field::Value),
        1 => Just(Field::Missing),
        1 => Just(Field::WrongType(KvValue::Int(7))),
    ]
    .boxed()
}

fn request() -> BoxedStrategy<Request> {
    let tenant = || {
        field(prop_oneof![6 => Just(TenantId(1)), 2 => Just(TenantId(2)), 1 => Just(TenantId(9))])
    };
    let ixn = || field(proptest::sample::select(IDS.to_vec()).prop_map(IxnId));
    let agent = || (1u32..=2).prop_map(AgentId);
    prop_oneof![
        1 => Just(Request::Ping),
        1 => Just(Request::Demote),
        4 => (
            tenant(),
            field(prop_oneof![Just("email"), Just("chat"), Just("sms"), Just("fax")].prop_map(str::to_string)),
            proptest::option::of(proptest::sample::select(IDS.to_vec()).prop_map(IxnId)),
        )
            .prop_map(|(tenant, media, client_ixn)| Request::Submit {
                tenant,
                media,
                queue: "q1".to_string(),
                priority: 0,
                user_data: KvList::new(),
                client_ixn,
            }),
        3 => (tenant(), 0u32..3).prop_map(|(tenant, count)| Request::Pull {
            tenant,
            queue: "q1".to_string(),
            view: "all".to_string(),
            count,
            hold_ms: None,
        }),
        1 => tenant().prop_map(|tenant| Request::FindInteractions {
            tenant,
            key: "VIP".to_string(),
            equals: KvValue::Str("yes".to_string()),
            max: 3,
        }),
        2 => tenant().prop_map(|tenant| Request::Snapshot {
            tenant,
            queue: "q1".to_string(),
            view: "all".to_string(),
            max: 5,
        }),
        2 => ixn().prop_map(|ixn| Request::StopProcessing { ixn }),
        2 => (ixn(), agent()).prop_map(|(ixn, agent)| Request::Deliver { ixn, agent }),
        1 => ixn().prop_map(|ixn| Request::Find { ixn }),
        3 => (tenant(), agent()).prop_map(|(tenant, agent)| Request::AgentLogin {
            tenant,
            agent,
            media: vec!["email".to_string()],
        }),
        2 => agent().prop_map(|agent| Request::AgentReady { agent }),
        1 => agent().prop_map(|agent| Request::AgentLogout { agent }),
    ]
    .boxed()
}

/// One request from a client, as the test tracks it.
#[derive(Clone, Debug)]
struct Asked {
    client: u32,
    /// The client's connection when it sent the request.
    conn: u32,
    request: Request,
    at: SimTime,
    /// Nodes connected when it was sent.
    up_at_send: BTreeSet<usize>,
    /// Node requests the proxy made for it.
    node_requests: usize,
    /// Node answers it got: node -> answers.
    answers: Vec<(usize, Event)>,
    /// A node request of it was lost (node down, or no answer before the timeout).
    lost: bool,
    /// A node went down while it was unanswered.
    saw_node_down: bool,
    /// Another agent operation for the same agent was unanswered when it was sent.
    agent_busy: bool,
    answered: Option<Event>,
}

struct NodeRequest {
    node: usize,
    ref_id: RefId,
    client: Option<String>,
    request: Request,
    /// The client request it serves (None: the proxy's housekeeping).
    for_request: Option<u32>,
}

struct Sut {
    proxy: Proxy,
    now: SimTime,
    up: BTreeSet<usize>,
    /// Test client -> connection number at the proxy.
    clients: BTreeMap<u32, u32>,
    next_conn: u32,
    next_ref: u32,
    asked: BTreeMap<u32, Asked>,
    outstanding: Vec<NodeRequest>,
    timer: Option<SimTime>,
}

/// The nodes serving a tenant (see [`config`]).
fn tenant_nodes(tenant: TenantId) -> BTreeSet<usize> {
    match tenant.0 {
        2 => BTreeSet::from([2]),
        _ => BTreeSet::from([0, 1, 2]),
    }
}

fn tenant_ok(tenant: &Field<TenantId>) -> bool {
    matches!(tenant, Field::Value(TenantId(1) | TenantId(2)))
}

impl Sut {
    fn new(mode: PullMode) -> Self {
        let mut sut = Sut {
            proxy: Proxy::new(config(mode)),
            now: 0,
            up: BTreeSet::new(),
            clients: BTreeMap::new(),
            next_conn: 0,
            next_ref: 0,
            asked: BTreeMap::new(),
            outstanding: Vec::new(),
            timer: None,
        };
        sut.feed(Input::Start, None);
        sut
    }

    fn client_of(&self, conn: u32) -> Option<u32> {
        self.clients
            .iter()
            .find(|(_, c)| **c == conn)
            .map(|(client, _)| *client)
    }

    /// Feeds one input; `cause` is the client request this step works for.
    fn feed(&mut self, input: Input, cause: Option<u32>) {
        let mut out = Vec::new();
        self.proxy.handle(self.now, input, &mut out);
        for output in out {
            match output {
                Output::Send(Peer::Server(node), message) => {
                    let node = node as usize;
                    assert!(
                        self.up.contains(&node),
                        "sent to node {node} while it is down: {message:?} up {:?}",
                        self.up
                    );
                    let (client, ref_id, request) = match message {
                        Message::ProxiedRequest {
                            client,
                            ref_id,
                            request,
                        } => (Some(client), ref_id, request),
                        Message::Request { ref_id, request } => (None, ref_id, request),
                        other => panic!("proxy sent {other:?} to a node"),
                    };
                    assert!(
                        !matches!(request, Request::Ping),
                        "the proxy never pings nodes on a client's behalf"
                    );
                    let housekeeping = matches!(
                        request,
                        Request::RegisterClient { .. } | Request::Unregister
                    );
                    let for_request = match (housekeeping, cause) {
                        (true, _) => None,
                        (false, Some(cause)) => Some(cause),
                        // Sent while handling a node loss or a timeout: a lookup's or an
                        // ordered pull's second phase. Find the client request it serves.
                        (false, None) => self.attribute(client.as_deref(), &request),
                    };
                    if let Some(index) = for_request {
                        if let Some(asked) = self.asked.get_mut(&index) {
                            asked.node_requests += 1;
                        }
                    }
                    self.outstanding.push(NodeRequest {
                        node,
                        ref_id,
                        client,
                        request,
                        for_request,
                    });
                }
                Output::Send(Peer::Client(conn), message) => {
                    let Message::Event { ref_id, event } = message else {
                        panic!("proxy sent a request to client c{conn}");
                    };
                    assert!(
                        self.client_of(conn).is_some(),
                        "reply on a closed client connection"
                    );
                    if let Some(RefId(ref_id)) = ref_id {
                        self.on_reply(ref_id, event);
                    }
                }
                Output::SetTimer(_, at) => self.timer = Some(at),
                Output::CancelTimer(_) => self.timer = None,
                // A node that let a request time out and has been silent for a whole timeout
                // is taken for dead; the proxy fails what it asked there at once (in the
                // outputs that follow) and the shell would connect again.
                Output::Close(Peer::Server(node)) => {
                    assert!(
                        self.forget_node(node as usize),
                        "proxy closed node {node}, which is not connected"
                    );
                }
                Output::Close(peer) => panic!("proxy closed {peer:?}"),
                Output::Persist(..) => panic!("the proxy has no database"),
                Output::Trace(_) => {}
            }
        }
    }

    /// The unanswered request of client `name` that a node request sent outside that
    /// request's own step serves.
    fn attribute(&self, name: Option<&str>, request: &Request) -> Option<u32> {
        let name = name?;
        self.asked
            .iter()
            .rev()
            .filter(|(_, asked)| asked.answered.is_none())
            .filter(|(_, asked)| format!("client{}", asked.client) == name)
            .find(|(_, asked)| {
                asked.request == *request
                    || matches!(
                        (&asked.request, request),
                        (Request::Pull { .. }, Request::Pull { .. })
                    )
            })
            .map(|(index, _)| *index)
    }

    /// Checks one reply against the rules.
    fn on_reply(&mut self, ref_id: u32, event: Event) {
        let asked = self
            .asked
            .get_mut(&ref_id)
            .expect("reply to a request sent");
        assert!(
            asked.answered.is_none(),
            "r{ref_id} answered twice: {:?} then {event:?}",
            asked.answered
        );
        asked.answered = Some(event.clone());
        let mut asked = asked.clone();
        asked.lost |= asked.saw_node_down;
        let request = &asked.request;
        let found = asked
            .answers
            .iter()
            .filter(|(_, e)| matches!(e, Event::Found { .. }))
            .map(|(node, _)| *node)
            .collect::<BTreeSet<usize>>();
        // A node that answered a lookup with neither "found" nor "not found" could not tell.
        let unsure = asked.answers.iter().any(|(_, e)| {
            !matches!(
                e,
                Event::Found { .. }
                    | Event::Error {
                        code: ErrorCode::InteractionNotFound
                    }
            )
        });
        // [S-PX-merge]: a merged find holds what every node returned, each within its own
        // limit (so up to limit x nodes).
        if let Event::InteractionsFound { items } = &event {
            let from_nodes: usize = asked
                .answers
                .iter()
                .map(|(_, e)| match e {
                    Event::InteractionsFound { items } => items.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(
                items.len(),
                from_nodes,
                "merged find lost or invented items"
            );
        }
        let Event::Error { code } = event else {
            return;
        };
        let routing_bad = match request {
            Request::Submit { tenant, media, .. } => {
                !tenant_ok(tenant)
                    || !matches!(media, Field::Value(m) if m == "email" || m == "chat" || m == "sms")
                    || matches!((tenant, media), (Field::Value(TenantId(2)), Field::Value(m)) if m != "chat")
            }
            Request::Pull { tenant, .. }
            | Request::Snapshot { tenant, .. }
            | Request::FindInteractions { tenant, .. }
            | Request::AgentLogin { tenant, .. } => !tenant_ok(tenant),
            Request::StopProcessing { ixn }
            | Request::Deliver { ixn, .. }
            | Request::Find { ixn } => !matches!(ixn, Field::Value(_)),
            _ => false,
        };
        match code {
            ErrorCode::UnsupportedOperation => assert!(
                matches!(request, Request::Ping | Request::Demote),
                "2000 for a supported request {request:?}"
            ),
            ErrorCode::NoNodeForMedia => assert!(
                matches!(request, Request::Submit { media: Field::Value(m), .. } if m == "sms"),
                "2001 for {request:?}: every other tenant/media here has a node"
            ),
            ErrorCode::ConnectionLost => assert!(
                asked.lost || asked.up_at_send.len() < NODES,
                "2002 for {request:?} though no node was down or lost"
            ),
            ErrorCode::NotAccessible => assert!(
                routing_bad
                    || asked.saw_node_down
                    || (found.is_empty()
                        && (asked.lost || asked.up_at_send.len() < NODES || unsure)),
                "2003 for {request:?}: routing fine and every node reachable (answers {:?})",
                asked.answers
            ),
            ErrorCode::InProgress => assert!(
                asked.agent_busy,
                "2004 for {request:?} with no other operation for the agent in progress"
            ),
            ErrorCode::DuplicateAcrossNodes => assert!(
                found.len() >= 2,
                "2005 for {request:?} but only nodes {found:?} have it"
            ),
            ErrorCode::SnapshotNotAccessible => assert!(
                matches!(request, Request::Snapshot { .. })
                    && (asked.lost || asked.up_at_send.len() < NODES),
                "2006 for {request:?} with every node answering"
            ),
            ErrorCode::InteractionNotFound => {
                // Either a node said so about a cached interaction, or every node did.
                assert!(
                    asked.answers.iter().any(|(_, e)| matches!(
                        e,
                        Event::Error {
                            code: ErrorCode::InteractionNotFound
                        }
                    )),
                    "InteractionNotFound for {request:?} though no node said so"
                );
            }
            // Node codes are passed through: a node must have said it (or it is a revoked
            // login's reason, or the proxy's own agent table).
            // (Two identical requests of one client in flight cannot be told apart when a node
            // request is sent outside their own steps: accept the answer on either.)
            other => assert!(
                self.asked.values().any(|twin| {
                    twin.client == asked.client
                        && twin.request == asked.request
                        && twin
                            .answers
                            .iter()
                            .any(|(_, e)| e == &Event::Error { code: other })
                }) || (other == ErrorCode::AgentUnavailable)
                    || (other == ErrorCode::NotRegistered),
                "{other:?} for {request:?} that no node gave (answers {:?})",
                asked.answers
            ),
        }
    }

    fn request(&mut self, client: u32, request: Request) {
        self.next_ref += 1;
        let ref_id = self.next_ref;
        let Some(conn) = self.clients.get(&client).copied() else {
            return;
        };
        let agent_of = |request: &Request| match request {
            Request::AgentLogin { agent, .. }
            | Request::AgentLogout { agent }
            | Request::AgentReady { agent } => Some(*agent),
            _ => None,
        };
        let agent_busy = agent_of(&request).is_some_and(|agent| {
            self.asked.values().any(|other| {
                other.answered.is_none()
                    && self.clients.get(&other.client) == Some(&other.conn)
                    && agent_of(&other.request) == Some(agent)
            })
        });
        self.asked.insert(
            ref_id,
            Asked {
                client,
                conn,
                request: request.clone(),
                at: self.now,
                up_at_send: self.up.clone(),
                node_requests: 0,
                answers: Vec::new(),
                lost: false,
                saw_node_down: false,
                agent_busy,
                answered: None,
            },
        );
        let message = Message::Request {
            ref_id: RefId(ref_id),
            request: request.clone(),
        };
        self.feed(Input::Frame(Peer::Client(conn), message), Some(ref_id));
        // Codes decidable from the request alone come at once.
        let answered = self.asked[&ref_id].answered.clone();
        let expect_now = match &request {
            Request::Ping | Request::Demote => Some(ErrorCode::UnsupportedOperation),
            Request::StopProcessing { ixn }
            | Request::Deliver { ixn, .. }
            | Request::Find { ixn }
                if !matches!(ixn, Field::Value(_)) =>
            {
                Some(ErrorCode::NotAccessible)
            }
            Request::Submit { tenant, .. }
            | Request::Pull { tenant, .. }
            | Request::Snapshot { tenant, .. }
            | Request::FindInteractions { tenant, .. }
            | Request::AgentLogin { tenant, .. }
                if !tenant_ok(tenant) =>
            {
                Some(ErrorCode::NotAccessible)
            }
            Request::Submit {
                tenant: Field::Value(TenantId(1)),
                media: Field::Value(media),
                ..
            } if media == "sms" => Some(ErrorCode::NoNodeForMedia),
            Request::Snapshot {
                tenant: Field::Value(tenant),
                ..
            } if !tenant_nodes(*tenant).is_subset(&self.up) => {
                Some(ErrorCode::SnapshotNotAccessible)
            }
            _ => None,
        };
        let registered = self.clients.contains_key(&client);
        if let (Some(code), true) = (expect_now, registered) {
            assert_eq!(
                answered,
                Some(Event::Error { code }),
                "{request:?} must be answered {code:?} at once"
            );
        }
        if agent_busy && agent_of(&request).is_some() && answered.is_some() {
            let is_2004 = answered
                == Some(Event::Error {
                    code: ErrorCode::InProgress,
                });
            let decided_before = matches!(
                answered,
                Some(Event::Error {
                    code: ErrorCode::NotAccessible | ErrorCode::AgentUnavailable
                })
            );
            assert!(
                is_2004 || decided_before,
                "{request:?} while another operation for the agent is in progress: {answered:?}"
            );
        }
    }

    fn answer(&mut self, index: usize, flavour: u8) {
        if self.outstanding.is_empty() {
            return;
        }
        let pending = self.outstanding.remove(index % self.outstanding.len());
        let info = |id: IxnId| IxnInfo {
            id,
            tenant: TenantId(1),
            media: "email".to_string(),
            queue: "q1".to_string(),
            priority: i32::from(flavour % 2),
            submitted_at: u64::from(flavour),
            user_data: KvList::new(),
            node: u16::from(flavour % 3) + 1,
        };
        let id = IxnId(IDS[usize::from(flavour) % IDS.len()]);
        let event = match (&pending.request, flavour % 3) {
            (
                Request::Find {
                    ixn: Field::Value(ixn),
                },
                0,
            ) => Event::Found { ixn: info(*ixn) },
            (Request::Find { .. }, 1) => Event::Error {
                code: ErrorCode::InteractionNotFound,
            },
            (Request::Submit { client_ixn, .. }, 0 | 1) => Event::Ack {
                ixn: Some(client_ixn.unwrap_or(id)),
            },
            (Request::Pull { count, .. }, _) => Event::TakenFromQueue {
                items: (0..u32::from(flavour % 3).min(*count))
                    .map(|_| info(id))
                    .collect(),
            },
            (Request::Snapshot { .. }, 0 | 1) => Event::SnapshotContent {
                items: vec![info(id)],
            },
            (Request::FindInteractions { .. }, 0 | 1) => Event::InteractionsFound {
                items: vec![info(id)],
            },
            (Request::AgentLogin { .. }, 2) => Event::Error {
                code: ErrorCode::NoSeat,
            },
            (_, 2) => Event::Error {
                code: ErrorCode::NotOwner,
            },
            (_, _) => Event::Ack { ixn: None },
        };
        if let Some(index) = pending.for_request {
            if let Some(asked) = self.asked.get_mut(&index) {
                asked.answers.push((pending.node, event.clone()));
            }
        }
        let message = match pending.client {
            Some(client) => Message::ProxiedEvent {
                client,
                ref_id: Some(pending.ref_id),
                event,
            },
            None => Message::Event {
                ref_id: Some(pending.ref_id),
                event,
            },
        };
        self.feed(
            Input::Frame(Peer::Server(pending.node as u16), message),
            pending.for_request,
        );
    }

    fn node_down(&mut self, node: usize) {
        if !self.forget_node(node) {
            return;
        }
        // Each lost answer may complete a different request: attribute the step to none.
        self.feed(Input::Disconnected(Peer::Server(node as u16)), None);
    }

    /// The model's side of a node connection ending (the node went away, or the proxy closed
    /// it): what was asked of it will not be answered. False when it was not up.
    fn forget_node(&mut self, node: usize) -> bool {
        if !self.up.remove(&node) {
            return false;
        }
        let lost: Vec<Option<u32>> = self
            .outstanding
            .iter()
            .filter(|pending| pending.node == node)
            .map(|pending| pending.for_request)
            .collect();
        self.outstanding.retain(|pending| pending.node != node);
        for index in lost.into_iter().flatten() {
            if let Some(asked) = self.asked.get_mut(&index) {
                asked.lost = true;
            }
        }
        for asked in self.asked.values_mut() {
            if asked.answered.is_none() {
                asked.saw_node_down = true;
            }
        }
        true
    }

    fn advance(&mut self, by: u64) {
        let until = self.now + by;
        while let Some(at) = self.timer.filter(|at| *at <= until) {
            self.now = at;
            self.timer = None;
            // Requests whose node answers are past the timeout are lost.
            for pending in &self.outstanding {
                if let Some(asked) = pending.for_request.and_then(|i| self.asked.get_mut(&i)) {
                    let hold = if matches!(asked.request, Request::Pull { .. }) {
                        HOLD_MS
                    } else {
                        0
                    };
                    if asked.at + TIMEOUT_MS + hold <= self.now {
                        asked.lost = true;
                    }
                }
            }
            self.feed(Input::Timer(ixsim_core::machine::TimerId(0)), None);
        }
        self.now = until;
    }
}

struct ProxyTest<const ORDERED: bool>;

impl<const ORDERED: bool> StateMachineTest for ProxyTest<ORDERED> {
    type SystemUnderTest = Sut;
    type Reference = Gen;

    fn init_test(_: &()) -> Sut {
        Sut::new(if ORDERED {
            PullMode::Ordered
        } else {
            PullMode::RoundRobin
        })
    }

    fn apply(mut sut: Sut, _: &(), transition: Transition) -> Sut {
        match transition {
            Transition::Register(client) => {
                if !sut.clients.contains_key(&client) {
                    sut.next_conn += 1;
                    sut.clients.insert(client, sut.next_conn);
                    let conn = sut.next_conn;
                    sut.feed(Input::Connected(Peer::Client(conn)), None);
                }
                sut.request(
                    client,
                    Request::RegisterClient {
                        name: format!("client{client}"),
                        kind: ClientKind::AgentDesktop,
                    },
                );
            }
            Transition::ClientGone(client) => {
                if let Some(conn) = sut.clients.remove(&client) {
                    sut.feed(Input::Disconnected(Peer::Client(conn)), None);
                }
            }
            Transition::Request(client, request) => sut.request(client, request),
            Transition::NodeUp(node) => {
                if sut.up.insert(node) {
                    sut.feed(Input::Connected(Peer::Server(node as u16)), None);
                }
            }
            Transition::NodeDown(node) => sut.node_down(node),
            Transition::Answer(index, flavour) => sut.answer(index, flavour),
            Transition::Advance(by) => sut.advance(by),
        }
        sut
    }

    fn check_invariants(sut: &Sut, _: &()) {
        // Liveness: a request of a connected client is answered within the timeout (plus the
        // pull hold and one proxy tick, and a second round for a lookup that forwards).
        for (ref_id, asked) in &sut.asked {
            let connected = sut.clients.get(&asked.client) == Some(&asked.conn);
            let bound = asked.at + 2 * (TIMEOUT_MS + HOLD_MS) + 100;
            if connected && asked.answered.is_none() {
                assert!(
                    sut.now < bound,
                    "r{ref_id} {:?} unanswered at {} (sent at {})",
                    asked.request,
                    sut.now,
                    asked.at
                );
            }
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        max_shrink_iters: 4096,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// [S-PX-2000]..[S-PX-2006] [S-PX-disabled] [S-PX-route] with round-robin pulls.
    #[test]
    fn proxy_error_rules_round_robin(sequential 1..120 => ProxyTest<false>);

    /// The same rules with ordered pulls [S-PX-fifo].
    #[test]
    fn proxy_error_rules_ordered(sequential 1..120 => ProxyTest<true>);
}
