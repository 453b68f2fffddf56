//! The node's own checks, clause by clause: [`IsNode::invariants`] must name each way its
//! bookkeeping can go wrong (the sweeps run it after every input, so a check that never
//! fires would pass every run), and the `is-snapshot-capped` mark must fire exactly when
//! the node's limit cut a snapshot.
use super::*;
use crate::ids::TenantId;
use crate::kv::KvList;
use crate::protocol::Field;

const CAP: u32 = 3;

pub(crate) fn config() -> IsConfig {
    IsConfig {
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
        pull_hold_timeout_ms: 1_000,
        owner_grace_ms: 1_000,
        invite_timeout_ms: 1_000,
        agent_capacity: 2,
        seats: None,
        license_group: None,
        held_pulls_max: 4,
        max_interactions_per_snapshot: CAP,
        client_idle_timeout_ms: 0,
        planted_bug: None,
        queue_strategies: BTreeMap::new(),
    }
}

fn record(id: u64, owner: Option<&str>) -> IxnRecord {
    IxnRecord {
        id: IxnId(id),
        tenant: TenantId(1),
        media: "email".into(),
        queue: "q".into(),
        priority: 0,
        seq: id,
        submitted_at: 0,
        user_data: KvList::default(),
        owner: owner.map(str::to_string),
        agent: None,
    }
}

/// A node restarted from a database of `available` unowned and `owned` owned interactions.
fn node(available: u64, owned: u64) -> IsNode {
    let mut db = IsDatabase::default();
    for id in 1..=available + owned {
        let owner = (id > available).then_some("ors");
        db.interactions.insert(IxnId(id), record(id, owner));
    }
    IsNode::new(config(), db)
}

fn broken(node: &IsNode) -> String {
    node.invariants().expect_err("the invariants must see this")
}

/// A node with `client_idle_timeout_ms` = 0 never sweeps for idle clients (0 = never);
/// with a timeout it sweeps every half timeout from its start.
#[test]
fn idle_sweep_only_with_a_timeout() {
    let timers = |timeout: u64| {
        let mut node = IsNode::new(
            IsConfig {
                client_idle_timeout_ms: timeout,
                ..config()
            },
            IsDatabase::default(),
        );
        let mut out = Vec::new();
        node.handle(100, Input::Start, &mut out);
        out.iter()
            .filter_map(|output| match output {
                Output::SetTimer(_, at) => Some(*at),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(timers(0), Vec::<SimTime>::new());
    assert_eq!(timers(300), vec![250]);
}

/// [S-LIC-shrink]: lowering the seats below the logged-in agents logs the latest logins
/// out first (the agents' ids run the other way, so an order by id would differ).
#[test]
fn a_seat_shrink_logs_the_latest_logins_out() {
    let mut node = IsNode::new(
        IsConfig {
            seats: Some(3),
            ..config()
        },
        IsDatabase::default(),
    );
    let mut out = Vec::new();
    for (conn, agent) in [(1, 9), (2, 5), (3, 2)] {
        let peer = Peer::Client(conn);
        node.handle(0, Input::Connected(peer), &mut out);
        for (ref_id, request) in [
            Request::RegisterClient {
                name: format!("desk{conn}"),
                kind: ClientKind::AgentDesktop,
            },
            Request::AgentLogin {
                tenant: Field::Value(TenantId(1)),
                agent: AgentId(agent),
                media: vec!["email".into()],
            },
        ]
        .into_iter()
        .enumerate()
        {
            let message = Message::Request {
                ref_id: RefId(ref_id as u32),
                request,
            };
            node.handle(0, Input::Frame(peer, message), &mut out);
        }
    }
    assert_eq!(node.agents.len(), 3);
    let shrink = Message::Request {
        ref_id: RefId(9),
        request: Request::SetSeats { seats: 1 },
    };
    node.handle(10, Input::Frame(Peer::Client(1), shrink), &mut out);
    let left: Vec<AgentId> = node.agents.keys().copied().collect();
    assert_eq!(left, vec![AgentId(9)], "the first login stays");
}

#[test]
fn a_consistent_node_passes() {
    let mut node = node(3, 2);
    assert_eq!(node.invariants(), Ok(()));
    // An owner's write on its way: owned and in flight at once is legal, counted once.
    node.in_flight.insert(IxnId(4));
    assert_eq!(node.invariants(), Ok(()));
    // Taken out of the view while its write is on the way: in flight only.
    let key = view_key(&node.db.interactions[&IxnId(1)]);
    node.available.get_mut("q").map(|set| set.remove(&key));
    node.in_flight.insert(IxnId(1));
    assert_eq!(node.invariants(), Ok(()));
}

#[test]
fn available_and_owned_or_in_flight_is_broken() {
    let mut owned = node(2, 0);
    owned.owners.insert(
        IxnId(1),
        Owner {
            client: "ors".into(),
            agent: None,
            invite: None,
        },
    );
    assert!(broken(&owned).contains("both available and owned/in flight"));
    let mut in_flight = node(2, 0);
    in_flight.in_flight.insert(IxnId(2));
    assert!(broken(&in_flight).contains("both available and owned/in flight"));
}

#[test]
fn stored_but_unaccounted_or_unstored_is_broken() {
    let mut lost = node(2, 1);
    let key = view_key(&lost.db.interactions[&IxnId(1)]);
    lost.available.get_mut("q").map(|set| set.remove(&key));
    assert!(broken(&lost).contains("3 interactions stored but 2 accounted for"));
    let mut ghost = node(1, 1);
    ghost.db.interactions.remove(&IxnId(2));
    let problem = broken(&ghost);
    assert!(
        problem.starts_with("owned ") && problem.ends_with("not in database"),
        "{problem}"
    );
    let mut elsewhere = node(1, 0);
    if let Some(record) = elsewhere.db.interactions.get_mut(&IxnId(1)) {
        record.queue = "other".into();
    }
    assert!(broken(&elsewhere).contains("available in q but stored in other"));
    let mut extra = node(1, 1);
    extra.db.interactions.insert(IxnId(9), record(9, None));
    extra.in_flight.insert(IxnId(9));
    extra.in_flight.insert(IxnId(10));
    assert!(broken(&extra).contains("3 interactions stored but 4 accounted for"));
}

/// An agent's load is what it is invited to plus what it accepted, each counted once.
#[test]
fn agent_load_is_invites_plus_accepted() {
    let mut node = node(0, 3);
    let agent = |load| Agent {
        peer: Conn::Direct(Peer::Client(1)),
        since: 0,
        ready: true,
        load,
        reserved: BTreeMap::new(),
    };
    node.agents.insert(AgentId(7), agent(2));
    node.agents.insert(AgentId(8), agent(0));
    if let Some(owner) = node.owners.get_mut(&IxnId(1)) {
        owner.invite = Some(Invite {
            agent: AgentId(7),
            timer: TimerId(1),
        });
    }
    if let Some(owner) = node.owners.get_mut(&IxnId(2)) {
        owner.agent = Some(AgentId(7));
    }
    assert_eq!(node.invariants(), Ok(()));
    node.agents.insert(AgentId(8), agent(1));
    assert!(broken(&node).contains("agent8 load 1 but 0 invited + 0 accepted"));
    node.agents.insert(AgentId(8), agent(0));
    node.agents.insert(AgentId(7), agent(1));
    assert!(broken(&node).contains("load 1 but 1 invited + 1 accepted"));
}

/// Marks reached by one snapshot of queue `q` asking for `max`.
fn snapshot_marks(node: &IsNode, max: u32) -> Vec<Mark> {
    let mut out = Vec::new();
    let asked = node.snapshot(
        Conn::Direct(Peer::Client(1)),
        RefId(1),
        &Field::Value(TenantId(1)),
        "q",
        "all",
        max,
        &mut out,
    );
    assert_eq!(asked, Ok(()));
    out.iter()
        .filter_map(|output| match output {
            Output::Mark(mark) => Some(*mark),
            _ => None,
        })
        .collect()
}

/// `is-snapshot-capped`: the node's own limit cut the answer, and only then: not when the
/// client asked for no more than the limit, not when everything fit.
#[test]
fn snapshot_capped_mark_fires_only_when_the_limit_cuts() {
    let capped = vec![Mark::IsSnapshotCapped];
    let full = node(CAP as u64 + 2, 0);
    assert_eq!(snapshot_marks(&full, CAP + 1), capped);
    assert_eq!(snapshot_marks(&full, CAP + 5), capped);
    assert_eq!(
        snapshot_marks(&full, CAP),
        vec![],
        "asked for no more than the limit"
    );
    assert_eq!(snapshot_marks(&full, 1), vec![]);
    let exact = node(CAP as u64, 0);
    assert_eq!(snapshot_marks(&exact, CAP + 5), vec![], "everything fit");
    let one_over = node(CAP as u64 + 1, 0);
    assert_eq!(snapshot_marks(&one_over, CAP + 1), capped);
}
