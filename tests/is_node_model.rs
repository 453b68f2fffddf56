//! The Interaction Server node against a small reference model [S-IS-*], as a proptest
//! state-machine test: generated sequences of connects, registrations, requests (valid and bad:
//! missing or wrongly typed attributes, unknown objects, other clients' interactions), agent
//! logins, disconnects, time passing (pull holds, invite timeouts, owner grace), restarts from
//! the durable database, and crashes that cut a request off before its write.
//!
//! After every step the test compares every answer the node sent (by reference id) with the
//! model's, every interaction's queue, owner, handling agent and availability, the durable
//! database, and the node's own invariants.
//!
//! The model and the driver live in `ixsim_model::is_node`, shared with the `is_node` fuzz
//! target; this file holds the proptest generators and the state-machine glue.

use ixsim_core::ids::{AgentId, IxnId, TenantId};
use ixsim_core::kv::KvValue;
use ixsim_core::protocol::{Field, Request};
use ixsim_model::is_node::{
    register, vip_data, Driver, Model, Transition, CLIENT_IDS, NAMES, PEERS, UNKNOWN_IXN,
};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

// ---------------------------------------------------------------------------------------------
// Generation.

fn field<T: Clone + std::fmt::Debug + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Field<T>> {
    prop_oneof![
        16 => value.prop_map(Field::Value),
        1 => Just(Field::Missing),
        1 => Just(Field::WrongType(KvValue::Str("x".to_string()))),
    ]
    .boxed()
}

fn request_strategy(known: Vec<IxnId>) -> BoxedStrategy<Request> {
    let ixn = if known.is_empty() {
        field(Just(UNKNOWN_IXN))
    } else {
        field(prop_oneof![9 => proptest::sample::select(known), 1 => Just(UNKNOWN_IXN)])
    };
    let tenant = || {
        field(prop_oneof![12 => Just(TenantId(1)), 1 => Just(TenantId(2)), 1 => Just(TenantId(9))])
    };
    let queue = || {
        prop_oneof![8 => Just("q1"), 3 => Just("q2"), 1 => Just("q3"), 1 => Just("nope")]
            .prop_map(str::to_string)
    };
    let agent = || (1u32..=3).prop_map(AgentId);
    let name = proptest::sample::select(NAMES.to_vec());
    prop_oneof![
        1 => name.prop_map(register),
        1 => Just(Request::Ping),
        6 => (
            tenant(),
            field(prop_oneof![10 => Just("email"), 1 => Just("sms"), 1 => Just("chat"), 1 => Just("fax")].prop_map(str::to_string)),
            queue(),
            0i32..3,
            any::<bool>(),
            proptest::option::weighted(0.3, proptest::sample::select(CLIENT_IDS.to_vec()).prop_map(IxnId)),
        )
            .prop_map(|(tenant, media, queue, priority, vip, client_ixn)| Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data: vip_data(vip),
                client_ixn,
            }),
        4 => (
            tenant(),
            queue(),
            prop_oneof![4 => Just("all"), 1 => Just("vip"), 1 => Just("nope")].prop_map(str::to_string),
            0u32..4,
        )
            .prop_map(|(tenant, queue, view, count)| Request::Pull { tenant, queue, view, count, hold_ms: None }),
        2 => (ixn.clone(), queue()).prop_map(|(ixn, queue)| Request::PlaceInQueue { ixn, queue }),
        1 => (ixn.clone(), any::<bool>()).prop_map(|(ixn, vip)| Request::UpdateUserData {
            ixn,
            changes: vip_data(vip),
        }),
        2 => ixn.clone().prop_map(|ixn| Request::StopProcessing { ixn }),
        3 => (ixn.clone(), agent()).prop_map(|(ixn, agent)| Request::Deliver { ixn, agent }),
        3 => ixn.clone().prop_map(|ixn| Request::Accept { ixn }),
        1 => ixn.clone().prop_map(|ixn| Request::Reject { ixn }),
        2 => (tenant(), agent()).prop_map(|(tenant, agent)| Request::AgentLogin {
            tenant,
            agent,
            media: vec!["email".to_string()],
        }),
        1 => agent().prop_map(|agent| Request::AgentLogout { agent }),
        2 => agent().prop_map(|agent| Request::AgentReady { agent }),
        1 => agent().prop_map(|agent| Request::AgentNotReady { agent }),
        1 => ixn.prop_map(|ixn| Request::Find { ixn }),
        1 => (tenant(), queue(), prop_oneof![3 => Just("all"), 1 => Just("vip")].prop_map(str::to_string), 0u32..4)
            .prop_map(|(tenant, queue, view, max)| Request::Snapshot { tenant, queue, view, max }),
        1 => Just(Request::Unregister),
        1 => (tenant(), prop_oneof![4 => Just("VIP"), 1 => Just("Other")], any::<bool>(), 0u32..4)
            .prop_map(|(tenant, key, vip, max)| Request::FindInteractions {
                tenant,
                key: key.to_string(),
                equals: KvValue::Str(if vip { "yes" } else { "no" }.to_string()),
                max,
            }),
        1 => Just(Request::Demote),
    ]
    .boxed()
}

struct NodeModel;

impl ReferenceStateMachine for NodeModel {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let peer = || 0..PEERS;
        let request = request_strategy(state.known().to_vec());
        prop_oneof![
            4 => (peer(), proptest::option::weighted(0.9, proptest::sample::select(NAMES.to_vec())))
                .prop_map(|(peer, name)| Transition::Connect(peer, name)),
            1 => peer().prop_map(Transition::Disconnect),
            20 => (peer(), request.clone()).prop_map(|(p, r)| Transition::Request(p, r)),
            1 => (peer(), request).prop_map(|(p, r)| Transition::CrashDuring(p, r)),
            1 => Just(Transition::Restart),
            3 => (1u64..1200).prop_map(Transition::Advance),
        ]
        .boxed()
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        state.apply(transition);
        state
    }
}

struct NodeTest;

impl StateMachineTest for NodeTest {
    type SystemUnderTest = Driver;
    type Reference = NodeModel;

    fn init_test(_: &Model) -> Driver {
        Driver::new()
    }

    fn apply(mut driver: Driver, model: &Model, transition: Transition) -> Driver {
        driver.apply(model, &transition);
        driver
    }

    fn check_invariants(driver: &Driver, model: &Model) {
        driver.check(model);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_shrink_iters: 4096,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// [S-IS-submit] [S-IS-pull] [S-IS-hold] [S-IS-place] [S-IS-stop] [S-IS-deliver]
    /// [S-IS-owner] [S-IS-durable]: the node answers and stores exactly what the model says.
    #[test]
    fn is_node_matches_reference_model(sequential 1..160 => NodeTest);
}
