//! The Interaction Server Proxy alone (core, no sim) under generated client requests (good and
//! malformed), generated node answers, node disconnects and reconnects, client disconnects and
//! time passing, checked by the reference model in `ixsim_model::proxy` (shared with the
//! `proxy` fuzz target): every reply the proxy sends against the rule of SPEC.md that allows it
//! [S-PX-2000]..[S-PX-2006], [S-PX-disabled], [S-LIC-revoke]; that the codes decidable from the
//! request alone are produced; that every request gets exactly one answer, within the proxy's
//! request timeout (plus the pull hold); and that node answers reach the client unchanged.
//! This file holds only the proptest generators.

use ixsim_core::ids::{AgentId, IxnId, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::protocol::{Field, Request};
use ixsim_core::proxy::PullMode;
use ixsim_model::proxy::{Harness, Transition, CLIENTS, IDS, NODES};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

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

struct ProxyTest<const ORDERED: bool>;

impl<const ORDERED: bool> StateMachineTest for ProxyTest<ORDERED> {
    type SystemUnderTest = Harness;
    type Reference = Gen;

    fn init_test(_: &()) -> Harness {
        Harness::new(if ORDERED {
            PullMode::Ordered
        } else {
            PullMode::RoundRobin
        })
    }

    fn apply(mut sut: Harness, _: &(), transition: Transition) -> Harness {
        sut.apply(transition);
        sut
    }

    fn check_invariants(sut: &Harness, _: &()) {
        sut.check_invariants();
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

/// The planted `ProxyBug::UnreachableLookupNotFound` is caught by the model when one node
/// says "not found" and another never answers: that is 2003 [S-PX-2003], and the same steps
/// pass on the real proxy.
#[test]
fn model_catches_not_found_from_a_partial_broadcast() {
    use ixsim_model::proxy::ProxyBug;
    let run = |bug: Option<ProxyBug>| {
        let mut harness = Harness::planted(PullMode::RoundRobin, bug);
        harness.apply(Transition::Register(0));
        all_nodes_up(&mut harness);
        harness.apply(find_first());
        assert_eq!(
            harness.pending_node_requests(),
            NODES,
            "a broadcast to every node"
        );
        // Node 0 loses the connection; the others say "not found" (flavour 1).
        harness.apply(Transition::NodeDown(0));
        while harness.pending_node_requests() > 0 {
            harness.apply(Transition::Answer(0, 1));
        }
    };
    run(None);
    let caught = std::panic::catch_unwind(|| run(Some(ProxyBug::UnreachableLookupNotFound)));
    let Err(panic) = caught else {
        panic!("the planted bug went unnoticed");
    };
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("[S-PX-2003]") && message.contains("went unanswered"),
        "caught for another reason: {message}"
    );
}

/// [S-PX-fifo] [S-PX-pull]: an ordered pull that found every view empty waits out its hold
/// asking the nodes for the heads again on each tick, so an interaction that arrives meanwhile
/// is served before the hold ends.
#[test]
fn an_idle_ordered_pull_asks_again_each_tick() {
    let mut harness = Harness::new(PullMode::Ordered);
    harness.apply(Transition::Register(0));
    all_nodes_up(&mut harness);
    harness.apply(Transition::Request(
        0,
        Request::Pull {
            tenant: Field::Value(TenantId(1)),
            queue: "q1".to_string(),
            view: "all".to_string(),
            count: 1,
            hold_ms: None,
        },
    ));
    let peeks = harness.pending_node_requests();
    assert!(peeks > 0, "no peek at the heads");
    // Every node answers with an error: no heads anywhere, the pull waits.
    while harness.pending_node_requests() > 0 {
        harness.apply(Transition::Answer(0, 2));
    }
    harness.apply(Transition::Advance(60));
    assert_eq!(harness.pending_node_requests(), peeks, "asked nobody again");
}

/// [S-PX-route]: a node's "not found" about an interaction the proxy had cached there drops
/// the cache entry, so the next request about it is looked up on every node again instead of
/// going to a node known not to have it.
#[test]
fn not_found_forgets_the_cached_owner() {
    let mut harness = Harness::new(PullMode::RoundRobin);
    harness.apply(Transition::Register(0));
    all_nodes_up(&mut harness);
    harness.apply(find_first());
    assert_eq!(harness.pending_node_requests(), NODES, "a broadcast lookup");
    // One node has it (flavour 0), the others do not; the request goes on to that node.
    harness.apply(Transition::Answer(0, 0));
    for _ in 1..NODES {
        harness.apply(Transition::Answer(0, 1));
    }
    assert_eq!(harness.pending_node_requests(), 1, "forwarded to the owner");
    harness.apply(Transition::Answer(0, 0));
    harness.apply(find_first());
    assert_eq!(harness.pending_node_requests(), 1, "the cached owner only");
    harness.apply(Transition::Answer(0, 1));
    harness.apply(find_first());
    assert_eq!(harness.pending_node_requests(), NODES, "looked up again");
}

/// [S-PX-2002]: a node that let a request time out and sent nothing for a whole request
/// timeout is taken for dead (a stalled stream): the proxy closes it, and the next request
/// finds no node to ask.
#[test]
fn a_silent_node_is_closed() {
    let mut harness = Harness::new(PullMode::RoundRobin);
    harness.apply(Transition::Register(0));
    // Last heard at 500 ms, not at 0: a silence measured from 0 would hide a wrong sum.
    harness.apply(Transition::Advance(500));
    all_nodes_up(&mut harness);
    harness.apply(find_first());
    assert_eq!(harness.pending_node_requests(), NODES);
    harness.apply(Transition::Advance(1200));
    harness.apply(find_first());
    assert_eq!(harness.pending_node_requests(), 0, "asked a dead node");
}

/// [S-PX-agent]: an agent logged in and ready through the proxy is logged in and made ready
/// again on a node that reconnects (nodes keep agents in memory only, and a node that lost the
/// proxy's connection logged the proxy's agents out), right after the registrations.
#[test]
fn a_reconnecting_node_gets_the_agents_again() {
    let mut harness = Harness::new(PullMode::RoundRobin);
    harness.apply(Transition::Register(0));
    all_nodes_up(&mut harness);
    let agent = AgentId(7);
    for request in [
        Request::AgentLogin {
            tenant: Field::Value(TenantId(1)),
            agent,
            media: vec!["email".to_string()],
        },
        Request::AgentReady { agent },
    ] {
        harness.apply(Transition::Request(0, request));
        assert!(harness.pending_node_requests() > 1, "asked one node only");
        while harness.pending_node_requests() > 0 {
            harness.apply(Transition::Answer(0, 1));
        }
    }
    harness.apply(Transition::NodeDown(0));
    harness.apply(Transition::NodeUp(0));
    let names: Vec<&str> = harness
        .pending_node_request_names()
        .into_iter()
        .map(|(node, name)| {
            assert_eq!(node, 0, "only the reconnected node is asked");
            name
        })
        .collect();
    assert_eq!(
        names,
        [
            "RequestRegisterClient",
            "RequestRegisterClient",
            "RequestAgentLogin",
            "RequestAgentReady"
        ]
    );
}

/// Every node connects, and its registration is acknowledged (flavour 1).
fn all_nodes_up(harness: &mut Harness) {
    for node in 0..NODES {
        harness.apply(Transition::NodeUp(node));
    }
    while harness.pending_node_requests() > 0 {
        harness.apply(Transition::Answer(0, 1));
    }
}

/// Client 0 asks for the properties of the first interaction id.
fn find_first() -> Transition {
    Transition::Request(
        0,
        Request::Find {
            ixn: Field::Value(IxnId(IDS[0])),
        },
    )
}
