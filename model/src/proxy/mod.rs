//! The `proxy` fuzz target, and the reference model it shares with the proptest suite
//! `tests/proxy_model.rs`.
//!
//! The Interaction Server Proxy alone (core, no sim) under client requests (good and
//! malformed), node answers, node disconnects and reconnects, client disconnects and time
//! passing. [`Harness`] plays the clients and the nodes, so it knows every answer each node
//! gave, and checks every reply the proxy sends against the rule of SPEC.md that allows it
//! [S-PX-2000]..[S-PX-2006], [S-PX-disabled], [S-LIC-revoke]; that the codes decidable from the
//! request alone are produced; that every request gets exactly one answer, within the proxy's
//! request timeout (plus the pull hold); and that node answers reach the client unchanged.
//!
//! The proptest suite generates [`Transition`]s with its own strategies; the fuzz target
//! [`proxy`] decodes compact [`Op`]s (small indices into the same pools) from libFuzzer's bytes
//! and maps them onto the same transitions. Both drive one [`Harness`] and run the same checks.

use arbitrary::{Arbitrary, Unstructured};
use ixsim_core::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use ixsim_core::is_node::{MediaConfig, TenantConfig};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::machine::{Input, Machine, Output, Peer};
use ixsim_core::protocol::{ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request};
pub use ixsim_core::proxy::ProxyBug;
use ixsim_core::proxy::{Proxy, ProxyConfig, ProxyNode, PullMode};
use std::collections::{BTreeMap, BTreeSet};

pub mod corpus;

/// Nodes behind the proxy (see [`config`]).
pub const NODES: usize = 3;
/// Clients the harness plays (`client0`..).
pub const CLIENTS: u32 = 3;
/// The proxy's request timeout.
pub const TIMEOUT_MS: u64 = 1000;
/// The proxy's pull hold timeout.
pub const HOLD_MS: u64 = 400;
/// The interaction ids requests and node answers use.
pub const IDS: [u64; 3] = [
    0xC0_0000_0000_0001,
    0xC0_0000_0000_0002,
    0xC0_0000_0000_0003,
];
/// The most steps one fuzz input runs.
pub const MAX_STEPS: usize = 200;

/// The proxy under test: node 0 serves tenant 1 (every media type), node 1 tenant 1's email,
/// node 2 tenants 1 and 2's chat; tenant 1's sms is disabled, tenant 9 does not exist.
pub fn config(pull_mode: PullMode) -> ProxyConfig {
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
        planted_bug: None,
    }
}

/// One step of the harness.
#[derive(Clone, Debug)]
pub enum Transition {
    /// Client `n` connects (unless connected) and registers.
    Register(u32),
    /// Client `n`'s connection closes.
    ClientGone(u32),
    /// Client `n` sends this request (ignored when it is not connected).
    Request(u32, Request),
    /// Node `n` connects (ignored when it is up).
    NodeUp(usize),
    /// Node `n`'s connection closes (ignored when it is down).
    NodeDown(usize),
    /// Answer the outstanding node request with this index (modulo), in this flavour.
    Answer(usize, u8),
    /// Time passes by this many milliseconds, firing the proxy's timer on the way.
    Advance(u64),
}

/// One request from a client, as the harness tracks it.
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

/// The system-under-test driver and reference model in one: the proxy, the nodes' and clients'
/// side of every connection, and what each request was asked and answered.
pub struct Harness {
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

/// The agent of an agent operation the harness sends (login, logout, ready; it sends no
/// not-ready), for [S-PX-2004]: one at a time per agent.
fn agent_of(request: &Request) -> Option<AgentId> {
    match request {
        Request::AgentLogin { agent, .. }
        | Request::AgentLogout { agent }
        | Request::AgentReady { agent } => Some(*agent),
        Request::RegisterClient { .. }
        | Request::Ping
        | Request::Submit { .. }
        | Request::Pull { .. }
        | Request::PlaceInQueue { .. }
        | Request::UpdateUserData { .. }
        | Request::StopProcessing { .. }
        | Request::Deliver { .. }
        | Request::Accept { .. }
        | Request::Reject { .. }
        | Request::AgentNotReady { .. }
        | Request::Find { .. }
        | Request::Snapshot { .. }
        | Request::Unregister
        | Request::Promote { .. }
        | Request::Demote
        | Request::CheckOutSeats { .. }
        | Request::SetSeats { .. }
        | Request::FindInteractions { .. }
        | Request::ReserveAgent { .. }
        | Request::SelectTarget { .. }
        | Request::Transfer { .. }
        | Request::Lease { .. }
        | Request::StrategiesLoaded { .. } => None,
    }
}

/// What the node answers tell about a request, and the rule of each error code the proxy may
/// answer it with.
impl Asked {
    /// The nodes that answered "found".
    fn found_on(&self) -> BTreeSet<usize> {
        self.answers
            .iter()
            .filter(|(_, e)| matches!(e, Event::Found { .. }))
            .map(|(node, _)| *node)
            .collect()
    }

    /// A node that answered a lookup with neither "found" nor "not found" could not tell.
    fn unsure(&self) -> bool {
        self.answers.iter().any(|(_, e)| {
            !matches!(
                e,
                Event::Found { .. }
                    | Event::Error {
                        code: ErrorCode::InteractionNotFound
                    }
            )
        })
    }

    /// The items of the nodes' find answers, all together.
    fn items_from_nodes(&self) -> usize {
        self.answers
            .iter()
            .map(|(_, e)| match e {
                Event::InteractionsFound { items } => items.len(),
                Event::Ack { .. }
                | Event::Error { .. }
                | Event::TakenFromQueue { .. }
                | Event::Invite { .. }
                | Event::Revoked { .. }
                | Event::Accepted { .. }
                | Event::Rejected { .. }
                | Event::AgentState { .. }
                | Event::Found { .. }
                | Event::SnapshotContent { .. }
                | Event::Seats { .. }
                | Event::LoggedOut { .. }
                | Event::TargetSelected { .. }
                | Event::RouteRequest { .. } => 0,
            })
            .sum()
    }

    /// The request's routing attributes are bad: an unknown or malformed tenant, media the
    /// tenant does not have, or a malformed interaction id.
    fn routing_bad(&self) -> bool {
        match &self.request {
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
            Request::RegisterClient { .. }
            | Request::Ping
            | Request::PlaceInQueue { .. }
            | Request::UpdateUserData { .. }
            | Request::Accept { .. }
            | Request::Reject { .. }
            | Request::AgentLogout { .. }
            | Request::AgentReady { .. }
            | Request::AgentNotReady { .. }
            | Request::Unregister
            | Request::Promote { .. }
            | Request::Demote
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. }
            | Request::ReserveAgent { .. }
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => false,
        }
    }

    /// An error answer is one the rule of its code allows [S-PX-2000]..[S-PX-2006].
    fn check_error(&self, code: ErrorCode) {
        let request = &self.request;
        match code {
            ErrorCode::UnsupportedOperation => assert!(
                matches!(request, Request::Ping | Request::Demote),
                "[S-PX-2000] 2000 for a supported request {request:?}"
            ),
            ErrorCode::NoNodeForMedia => assert!(
                matches!(request, Request::Submit { media: Field::Value(m), .. } if m == "sms"),
                "[S-PX-2001] 2001 for {request:?}: every other tenant/media here has a node"
            ),
            ErrorCode::ConnectionLost => assert!(
                self.lost || self.up_at_send.len() < NODES,
                "[S-PX-2002] 2002 for {request:?} though no node was down or lost"
            ),
            ErrorCode::NotAccessible => assert!(
                self.routing_bad()
                    || self.saw_node_down
                    || (self.found_on().is_empty()
                        && (self.lost || self.up_at_send.len() < NODES || self.unsure())),
                "[S-PX-2003] 2003 for {request:?}: routing fine and every node reachable (answers {:?})",
                self.answers
            ),
            ErrorCode::InProgress => assert!(
                self.agent_busy,
                "[S-PX-2004] 2004 for {request:?} with no other operation for the agent in progress"
            ),
            ErrorCode::DuplicateAcrossNodes => {
                let found = self.found_on();
                assert!(
                    found.len() >= 2,
                    "[S-PX-2005] 2005 for {request:?} but only nodes {found:?} have it"
                );
            }
            ErrorCode::SnapshotNotAccessible => assert!(
                matches!(request, Request::Snapshot { .. })
                    && (self.lost || self.up_at_send.len() < NODES),
                "[S-PX-2006] 2006 for {request:?} with every node answering"
            ),
            ErrorCode::InteractionNotFound => self.check_not_found(),
            ErrorCode::InvalidAttribute
            | ErrorCode::UnknownObject
            | ErrorCode::NotOwner
            | ErrorCode::DuplicateId
            | ErrorCode::AgentUnavailable
            | ErrorCode::InvalidState
            | ErrorCode::NotRegistered
            | ErrorCode::NoSeat
            | ErrorCode::NotPrimary => self.check_passed_through(code),
        }
    }

    /// "Not found": a node said so (the cached owner, the node a lookup found it on, which
    /// lost it meanwhile, or every node of a broadcast). A broadcast in which some node did not
    /// answer, or could not tell, and none found it is 2003 instead.
    fn check_not_found(&self) {
        let request = &self.request;
        assert!(
            self.answers.iter().any(|(_, e)| matches!(
                e,
                Event::Error {
                    code: ErrorCode::InteractionNotFound
                }
            )),
            "[S-PX-2003] InteractionNotFound for {request:?} though no node said so"
        );
        let unanswered = self.answers.len() < self.node_requests;
        assert!(
            !self.found_on().is_empty() || !(unanswered || self.unsure()),
            "[S-PX-2003] InteractionNotFound for {request:?} though {} of its {} node \
             requests went unanswered (answers {:?}): some node could not tell",
            self.node_requests - self.answers.len().min(self.node_requests),
            self.node_requests,
            self.answers
        );
    }

    /// Node codes are passed through: a node must have said it (or it is a revoked login's
    /// reason, or the proxy's own agent table).
    fn check_passed_through(&self, code: ErrorCode) {
        assert!(
            self.answers
                .iter()
                .any(|(_, e)| e == &Event::Error { code })
                || (code == ErrorCode::AgentUnavailable)
                || (code == ErrorCode::NotRegistered),
            "[S-PX-route] {code:?} for {:?} that no node gave (answers {:?})",
            self.request,
            self.answers
        );
    }
}

impl Harness {
    /// A started proxy with no node and no client connected.
    pub fn new(mode: PullMode) -> Self {
        Self::planted(mode, None)
    }

    /// [`Harness::new`] with `bug` planted in the proxy (harness self-test).
    pub fn planted(mode: PullMode, bug: Option<ProxyBug>) -> Self {
        let mut sut = Harness {
            proxy: Proxy::new(ProxyConfig {
                planted_bug: bug,
                ..config(mode)
            }),
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
                    self.on_node_request(node, message, cause);
                }
                Output::Send(Peer::Client(conn), message) => {
                    let Message::Event { ref_id, event } = message else {
                        panic!("[S-PX-route] proxy sent a request to client c{conn}");
                    };
                    assert!(
                        self.client_of(conn).is_some(),
                        "[S-PX-route] reply on a closed client connection"
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
                        "[S-PX-2002] proxy closed node {node}, which is not connected"
                    );
                }
                Output::Close(peer @ Peer::Client(_)) => {
                    panic!("[S-PX-route] proxy closed {peer:?}")
                }
                Output::Persist(..) => panic!("[S-PX-cache] the proxy has no database"),
                Output::Trace(_) | Output::Mark(_) => {}
            }
        }
    }

    /// The proxy sent `message` to node `node`: it must be up, and the request is filed as
    /// outstanding under the client request it serves (none for a registration's
    /// housekeeping).
    fn on_node_request(&mut self, node: u16, message: Message, cause: Option<u32>) {
        let node = node as usize;
        assert!(
            self.up.contains(&node),
            "[S-PX-route] sent to node {node} while it is down: {message:?} up {:?}",
            self.up
        );
        let (client, ref_id, request) = match message {
            Message::ProxiedRequest {
                client,
                ref_id,
                request,
            } => (Some(client), ref_id, request),
            Message::Request { ref_id, request } => (None, ref_id, request),
            other @ (Message::Event { .. } | Message::ProxiedEvent { .. }) => {
                panic!("[S-PX-route] proxy sent {other:?} to a node")
            }
        };
        assert!(
            !matches!(request, Request::Ping),
            "[S-PX-route] the proxy never pings nodes on a client's behalf"
        );
        let housekeeping = matches!(
            request,
            Request::RegisterClient { .. } | Request::Unregister
        );
        let for_request = if housekeeping {
            None
        } else {
            self.served(ref_id, client.as_deref(), &request, cause)
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

    /// The client request the node request `ref_id` serves. Sent in that request's own step
    /// (`cause`), it is that one. Sent while the proxy handled a node loss or a timeout (a
    /// lookup's forward or an ordered pull's second phase) it can serve any request in flight,
    /// and among identical requests of one client the proxy's reference ids are the only
    /// record of which: the harness asks the proxy ([`Proxy::serves`]) and checks that the
    /// request it names is one of that client's, unanswered, asking the same thing. (Guessing
    /// by timing instead misfiled node answers between such twins five times: the
    /// `proxy/lookup-twin-2003`, `twin-forwards-after-node-loss`, `twin-answered-in-same-step`
    /// and `lookup-twin-timeout-between-ticks` regressions, and PROPTEST_RNG_SEED=199.)
    fn served(
        &self,
        ref_id: RefId,
        name: Option<&str>,
        request: &Request,
        cause: Option<u32>,
    ) -> Option<u32> {
        let Some((peer, RefId(index))) = self.proxy.serves(ref_id) else {
            // Its operation ended in this very step: no answer to it can count.
            return cause;
        };
        if let Some(cause) = cause {
            assert_eq!(
                index, cause,
                "[S-PX-route] a node request sent for r{cause} is filed under r{index}: {request:?}"
            );
            return Some(cause);
        }
        let asked = self
            .asked
            .get(&index)
            .unwrap_or_else(|| panic!("[S-PX-route] {request:?} serves r{index}, never asked"));
        let Peer::Client(conn) = peer else {
            panic!("[S-PX-route] {request:?} serves a request of {peer:?}, not a client");
        };
        let client_name = format!("client{}", asked.client);
        assert!(
            asked.conn == conn
                && asked.answered.is_none()
                && name == Some(client_name.as_str())
                && (asked.request == *request
                    || matches!(
                        (&asked.request, request),
                        // An ordered pull peeks at the heads (again each tick while idle),
                        // then takes.
                        (
                            Request::Pull { .. },
                            Request::Pull { .. } | Request::Snapshot { .. }
                        )
                    )),
            "[S-PX-route] {request:?} for {name:?} sent on behalf of r{index} {:?} of \
             {client_name} (answered {:?})",
            asked.request,
            asked.answered
        );
        Some(index)
    }

    /// Checks one reply against the rules: the request's only answer, a merged find that holds
    /// what the nodes returned, an error code that a rule allows.
    fn on_reply(&mut self, ref_id: u32, event: Event) {
        let asked = self.record_reply(ref_id, &event);
        // [S-PX-merge]: a merged find holds what every node returned, each within its own
        // limit (so up to limit x nodes).
        if let Event::InteractionsFound { items } = &event {
            assert_eq!(
                items.len(),
                asked.items_from_nodes(),
                "[S-PX-merge] merged find lost or invented items"
            );
        }
        if let Event::Error { code } = event {
            asked.check_error(code);
        }
    }

    /// Files `event` as the answer to `ref_id`, which must have none yet, and returns a copy of
    /// what was asked in which a node that went down meanwhile counts as a lost node request.
    fn record_reply(&mut self, ref_id: u32, event: &Event) -> Asked {
        let asked = self
            .asked
            .get_mut(&ref_id)
            .expect("[S-PX-route] reply to a request sent");
        assert!(
            asked.answered.is_none(),
            "[S-PX-route] r{ref_id} answered twice: {:?} then {event:?}",
            asked.answered
        );
        asked.answered = Some(event.clone());
        let mut asked = asked.clone();
        asked.lost |= asked.saw_node_down;
        asked
    }

    /// Client `client` sends `request` (if it is connected); the codes decidable from the
    /// request alone, and 2004 for a second operation on a busy agent, must come at once.
    fn request(&mut self, client: u32, request: Request) {
        self.next_ref += 1;
        let ref_id = self.next_ref;
        let Some(conn) = self.clients.get(&client).copied() else {
            return;
        };
        let agent_busy = agent_of(&request).is_some_and(|agent| self.agent_in_progress(agent));
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
        let expect_now = self.decided_at_once(&request);
        let registered = self.clients.contains_key(&client);
        if let (Some(code), true) = (expect_now, registered) {
            assert_eq!(
                answered,
                Some(Event::Error { code }),
                "[S-PX-2000]..[S-PX-2006] [S-PX-disabled] {request:?} must be answered {code:?} at once"
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
                "[S-PX-2004] {request:?} while another operation for the agent is in progress: {answered:?}"
            );
        }
    }

    /// Another operation for `agent` of a connected client is unanswered.
    fn agent_in_progress(&self, agent: AgentId) -> bool {
        self.asked.values().any(|other| {
            other.answered.is_none()
                && self.clients.get(&other.client) == Some(&other.conn)
                && agent_of(&other.request) == Some(agent)
        })
    }

    /// The error the proxy answers `request` with at once, if the request alone (or which nodes
    /// are up) decides it: unsupported kinds, malformed interactions, bad tenants, disabled
    /// media, snapshots with a node of the tenant down [S-PX-2000]..[S-PX-2006]
    /// [S-PX-disabled].
    fn decided_at_once(&self, request: &Request) -> Option<ErrorCode> {
        match request {
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
            // Every kind, when the arms above do not decide it.
            Request::RegisterClient { .. }
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
            | Request::Promote { .. }
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. }
            | Request::FindInteractions { .. }
            | Request::ReserveAgent { .. }
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => None,
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

    /// Node requests the proxy sent that no node has answered yet (and whose node is up).
    pub fn pending_node_requests(&self) -> usize {
        self.outstanding.len()
    }

    /// The same requests: which node each went to, and its name.
    pub fn pending_node_request_names(&self) -> Vec<(usize, &'static str)> {
        self.outstanding
            .iter()
            .map(|pending| (pending.node, pending.request.name()))
            .collect()
    }

    /// Applies one transition to the proxy and the model, checking every reply it causes
    /// (panics on a reply no rule allows).
    pub fn apply(&mut self, transition: Transition) {
        match transition {
            Transition::Register(client) => {
                if !self.clients.contains_key(&client) {
                    self.next_conn += 1;
                    self.clients.insert(client, self.next_conn);
                    let conn = self.next_conn;
                    self.feed(Input::Connected(Peer::Client(conn)), None);
                }
                self.request(
                    client,
                    Request::RegisterClient {
                        name: format!("client{client}"),
                        kind: ClientKind::AgentDesktop,
                    },
                );
            }
            Transition::ClientGone(client) => {
                if let Some(conn) = self.clients.remove(&client) {
                    self.feed(Input::Disconnected(Peer::Client(conn)), None);
                }
            }
            Transition::Request(client, request) => self.request(client, request),
            Transition::NodeUp(node) => {
                if self.up.insert(node) {
                    self.feed(Input::Connected(Peer::Server(node as u16)), None);
                }
            }
            Transition::NodeDown(node) => self.node_down(node),
            Transition::Answer(index, flavour) => self.answer(index, flavour),
            Transition::Advance(by) => self.advance(by),
        }
    }

    /// Liveness: a request of a connected client is answered within the timeout (plus the
    /// pull hold and one proxy tick, and a second round for a lookup that forwards).
    pub fn check_invariants(&self) {
        if let Err(problem) = self.proxy.check_invariants() {
            panic!("[S-INV-machine] the proxy's own invariants: {problem}");
        }
        for (ref_id, asked) in &self.asked {
            let connected = self.clients.get(&asked.client) == Some(&asked.conn);
            let bound = asked.at + 2 * (TIMEOUT_MS + HOLD_MS) + 100;
            if connected && asked.answered.is_none() {
                assert!(
                    self.now < bound,
                    "[S-PX-2002] liveness: r{ref_id} {:?} unanswered at {} (sent at {})",
                    asked.request,
                    self.now,
                    asked.at
                );
            }
        }
    }
}

/// A routing attribute as a fuzz input picks it: `n % 10` is 8 for missing, 9 for the wrong
/// type, otherwise an index into the attribute's pool (so mostly valid, as the proptest
/// suite's 8:1:1).
fn pick<T: Clone>(n: u8, pool: &[T]) -> Field<T> {
    match n % 10 {
        8 => Field::Missing,
        9 => Field::WrongType(KvValue::Int(7)),
        k => Field::Value(pool[usize::from(k) % pool.len()].clone()),
    }
}

/// Tenants a request names: 1 (twice as likely), 2, and the unknown 9.
const TENANTS: [TenantId; 4] = [TenantId(1), TenantId(1), TenantId(2), TenantId(9)];
/// Media types a submit names: two enabled, one disabled (sms), one unknown (fax).
const MEDIA: [&str; 4] = ["email", "chat", "sms", "fax"];

fn tenant(n: u8) -> Field<TenantId> {
    pick(n, &TENANTS)
}

fn ixn(n: u8) -> Field<IxnId> {
    pick(n, &IDS.map(IxnId))
}

/// Agents 1 and 2.
fn agent(n: u8) -> AgentId {
    AgentId(1 + u32::from(n % 2))
}

/// A client request as a fuzz input encodes it: the same kinds and pools as the proptest
/// suite's generator, each attribute a small index (see [`pick`]).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    /// Unsupported: 2000 [S-PX-2000].
    Ping,
    /// Unsupported: 2000 [S-PX-2000].
    Demote,
    /// A submit to queue q1, with or without a client-supplied id.
    Submit {
        /// Tenant pick.
        tenant: u8,
        /// Media pick.
        media: u8,
        /// Client-supplied id (index into [`IDS`]).
        client_ixn: Option<u8>,
    },
    /// A pull of `count % 3` from q1.
    Pull {
        /// Tenant pick.
        tenant: u8,
        /// Items asked (modulo 3).
        count: u8,
    },
    /// A find by user data, fanned out [S-PX-merge].
    FindInteractions {
        /// Tenant pick.
        tenant: u8,
    },
    /// A snapshot of q1 [S-PX-2006].
    Snapshot {
        /// Tenant pick.
        tenant: u8,
    },
    /// Stop processing an interaction.
    StopProcessing {
        /// Interaction pick.
        ixn: u8,
    },
    /// Deliver an interaction to an agent.
    Deliver {
        /// Interaction pick.
        ixn: u8,
        /// Agent (1 or 2).
        agent: u8,
    },
    /// Look an interaction up.
    Find {
        /// Interaction pick.
        ixn: u8,
    },
    /// An agent login for email [S-PX-agent].
    AgentLogin {
        /// Tenant pick.
        tenant: u8,
        /// Agent (1 or 2).
        agent: u8,
    },
    /// An agent becomes ready.
    AgentReady {
        /// Agent (1 or 2).
        agent: u8,
    },
    /// An agent logs out.
    AgentLogout {
        /// Agent (1 or 2).
        agent: u8,
    },
}

impl Req {
    /// The protocol request this encodes.
    pub fn request(self) -> Request {
        match self {
            Req::Ping => Request::Ping,
            Req::Demote => Request::Demote,
            Req::Submit {
                tenant: t,
                media,
                client_ixn,
            } => Request::Submit {
                tenant: tenant(t),
                media: pick(media, &MEDIA.map(str::to_string)),
                queue: "q1".to_string(),
                priority: 0,
                user_data: KvList::new(),
                client_ixn: client_ixn.map(|i| IxnId(IDS[usize::from(i) % IDS.len()])),
            },
            Req::Pull { tenant: t, count } => Request::Pull {
                tenant: tenant(t),
                queue: "q1".to_string(),
                view: "all".to_string(),
                count: u32::from(count % 3),
                hold_ms: None,
            },
            Req::FindInteractions { tenant: t } => Request::FindInteractions {
                tenant: tenant(t),
                key: "VIP".to_string(),
                equals: KvValue::Str("yes".to_string()),
                max: 3,
            },
            Req::Snapshot { tenant: t } => Request::Snapshot {
                tenant: tenant(t),
                queue: "q1".to_string(),
                view: "all".to_string(),
                max: 5,
            },
            Req::StopProcessing { ixn: i } => Request::StopProcessing { ixn: ixn(i) },
            Req::Deliver { ixn: i, agent: a } => Request::Deliver {
                ixn: ixn(i),
                agent: agent(a),
            },
            Req::Find { ixn: i } => Request::Find { ixn: ixn(i) },
            Req::AgentLogin {
                tenant: t,
                agent: a,
            } => Request::AgentLogin {
                tenant: tenant(t),
                agent: agent(a),
                media: vec!["email".to_string()],
            },
            Req::AgentReady { agent: a } => Request::AgentReady { agent: agent(a) },
            Req::AgentLogout { agent: a } => Request::AgentLogout { agent: agent(a) },
        }
    }
}

/// One step as a fuzz input encodes it: clients and nodes by index modulo their count, node
/// answers by index into the outstanding node requests, time in small steps.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Client `n % CLIENTS` connects and registers.
    Register(u8),
    /// Client `n % CLIENTS` disconnects.
    ClientGone(u8),
    /// Client `n % CLIENTS` sends a request.
    Request(u8, Req),
    /// Node `n % NODES` connects.
    NodeUp(u8),
    /// Node `n % NODES` disconnects.
    NodeDown(u8),
    /// A node answers outstanding request `index` (modulo) in flavour `flavour`.
    Answer(u8, u8),
    /// Time passes: 1 + 4 n milliseconds (up to 1021).
    Advance(u8),
}

impl Op {
    /// The transition this step is.
    pub fn transition(self) -> Transition {
        let client = |n: u8| u32::from(n) % CLIENTS;
        let node = |n: u8| usize::from(n) % NODES;
        match self {
            Op::Register(n) => Transition::Register(client(n)),
            Op::ClientGone(n) => Transition::ClientGone(client(n)),
            Op::Request(n, req) => Transition::Request(client(n), req.request()),
            Op::NodeUp(n) => Transition::NodeUp(node(n)),
            Op::NodeDown(n) => Transition::NodeDown(node(n)),
            Op::Answer(index, flavour) => Transition::Answer(usize::from(index), flavour),
            Op::Advance(n) => Transition::Advance(1 + 4 * u64::from(n)),
        }
    }
}

/// `proxy`: the first byte picks the pull mode (odd: ordered [S-PX-fifo], even: round-robin),
/// then up to [`MAX_STEPS`] [`Op`]s run until the bytes run out, each applied to the proxy and
/// the model with every reply checked and the liveness invariant checked after each step.
/// Every op is meaningful in every state (one the state ignores, such as a request from a
/// client that is not connected, changes nothing), so no input is rejected.
pub fn proxy(bytes: &[u8]) {
    proxy_planted(bytes, None);
}

/// [`proxy`] against a proxy with `bug` planted (harness self-test).
pub fn proxy_planted(bytes: &[u8], bug: Option<ProxyBug>) {
    let mut u = Unstructured::new(bytes);
    let Ok(mode) = u8::arbitrary(&mut u) else {
        return;
    };
    let mode = if mode % 2 == 1 {
        PullMode::Ordered
    } else {
        PullMode::RoundRobin
    };
    let mut harness = Harness::planted(mode, bug);
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        harness.apply(op.transition());
        harness.check_invariants();
    }
}

/// The planted proxy bug a name stands for (`IXSIM_PLANTED_BUG` of the `proxy` fuzz target).
pub fn proxy_bug_named(name: &str) -> Result<ProxyBug, String> {
    match name {
        "unreachable-lookup-not-found" => Ok(ProxyBug::UnreachableLookupNotFound),
        _ => Err(format!(
            "unknown planted proxy bug `{name}` (unreachable-lookup-not-found)"
        )),
    }
}
