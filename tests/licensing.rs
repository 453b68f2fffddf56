//! Licensing on one node and at the license server [S-LIC-checkout] [S-LIC-shrink]: the node
//! checks its configured seats out under its license group, refuses logins beyond what it was
//! granted, and logs the latest logins out when its seats are lowered.

use ixsim_core::ids::{AgentId, RefId, TenantId};
use ixsim_core::is_node::{IsConfig, IsNode, MediaConfig, QueueConfig, TenantConfig, ViewConfig};
use ixsim_core::license::{LicenseConfig, LicenseServer};
use ixsim_core::machine::{Input, Machine, Output, Peer};
use ixsim_core::protocol::{ClientKind, ErrorCode, Event, Field, Message, Request};

const LICENSE: Peer = Peer::Server(0);

fn node(seats: u32) -> IsNode {
    let cfg = IsConfig {
        node: 1,
        tenants: vec![TenantConfig {
            id: TenantId(1),
            media: vec![MediaConfig {
                name: "email".into(),
                enabled: true,
            }],
        }],
        queues: vec![QueueConfig {
            name: "q".into(),
            tenant: TenantId(1),
            views: vec![ViewConfig {
                name: "all".into(),
                condition: None,
            }],
        }],
        pull_hold_timeout_ms: 1000,
        owner_grace_ms: 1000,
        invite_timeout_ms: 1000,
        agent_capacity: 1,
        seats: Some(seats),
        license_group: Some("pair1".into()),
        held_pulls_max: 8,
        max_interactions_per_snapshot: 10,
        client_idle_timeout_ms: 0,
        planted_bug: None,
        queue_strategies: Default::default(),
    };
    IsNode::new(cfg, Default::default())
}

fn step(node: &mut IsNode, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    node.handle(0, input, &mut out);
    out
}

/// Passes the node's license requests to `server` and its answers back.
fn relay(node: &mut IsNode, server: &mut LicenseServer, out: Vec<Output>) -> Vec<Output> {
    let mut rest = Vec::new();
    for output in out {
        match output {
            Output::Send(LICENSE, message) => {
                let mut answers = Vec::new();
                server.handle(0, Input::Frame(Peer::Client(99), message), &mut answers);
                for answer in answers {
                    if let Output::Send(_, message) = answer {
                        let more = step(node, Input::Frame(LICENSE, message));
                        rest.extend(relay(node, server, more));
                    }
                }
            }
            other => rest.push(other),
        }
    }
    rest
}

fn request(node: &mut IsNode, peer: u32, ref_id: u32, request: Request) -> Vec<Output> {
    step(
        node,
        Input::Frame(
            Peer::Client(peer),
            Message::Request {
                ref_id: RefId(ref_id),
                request,
            },
        ),
    )
}

fn answer(out: &[Output], ref_id: u32) -> Option<Event> {
    out.iter().find_map(|output| match output {
        Output::Send(
            _,
            Message::Event {
                ref_id: Some(RefId(r)),
                event,
            },
        ) if *r == ref_id => Some(event.clone()),
        _ => None,
    })
}

fn login(node: &mut IsNode, agent: u32) -> Option<Event> {
    let peer = agent;
    step(node, Input::Connected(Peer::Client(peer)));
    request(
        node,
        peer,
        1,
        Request::RegisterClient {
            name: format!("desk{agent}"),
            kind: ClientKind::AgentDesktop,
        },
    );
    let out = request(
        node,
        peer,
        2,
        Request::AgentLogin {
            tenant: Field::Value(TenantId(1)),
            agent: AgentId(agent),
            media: vec!["email".into()],
        },
    );
    answer(&out, 2)
}

#[test]
fn node_logs_in_only_what_it_was_granted_and_shrinks() {
    // Another group holds 97 of 100: this node asks 30 and gets 3.
    let mut server = LicenseServer::new(LicenseConfig { pool: 100 });
    assert_eq!(server.check_out("other", 97), 97);
    let mut node = node(30);
    step(&mut node, Input::Start);
    // Before the license server answers, nobody can log in.
    assert_eq!(
        login(&mut node, 1),
        Some(Event::Error {
            code: ErrorCode::NoSeat
        })
    );
    let out = step(&mut node, Input::Connected(LICENSE));
    relay(&mut node, &mut server, out);
    assert_eq!(server.allocations().get("pair1"), Some(&3));
    for agent in 1..=3 {
        assert_eq!(login(&mut node, agent), Some(Event::Ack { ixn: None }));
    }
    assert_eq!(
        login(&mut node, 4),
        Some(Event::Error {
            code: ErrorCode::NoSeat
        })
    );
    // The operator lowers the node's seats to 1: two agents (the latest) are logged out.
    let out = request(&mut node, 1, 3, Request::SetSeats { seats: 1 });
    let out = relay(&mut node, &mut server, out);
    assert_eq!(server.allocations().get("pair1"), Some(&1));
    let logged_out: Vec<(Peer, AgentId)> = out
        .iter()
        .filter_map(|output| match output {
            Output::Send(
                peer,
                Message::Event {
                    event: Event::LoggedOut { agent },
                    ..
                },
            ) => Some((*peer, *agent)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logged_out,
        vec![(Peer::Client(3), AgentId(3)), (Peer::Client(2), AgentId(2))]
    );
    assert_eq!(answer(&out, 3), Some(Event::Ack { ixn: None }));
}
