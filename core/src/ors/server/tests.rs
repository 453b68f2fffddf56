//! Unit tests of the ORS machine: HA roles and recovery [S-ORS-ha], pulls [S-ORS-pull], losing
//! control [S-ORS-assoc], and sessions acting on their interaction [S-ORS-detach].

use super::*;
use crate::buggify::Site;
use crate::clients::outputs::{self, timed_out};
use crate::clients::TICK_TIMER;
use crate::db::DbOp;
use crate::ids::{RefId, TenantId};
use crate::kv::{KvList, KvValue};
use crate::ors::strategy::{Action, StateDef, Strategy, TransitionDef};
use crate::protocol::{ErrorCode, Event, Field, Message, Request};

const REQUEST_TIMEOUT_MS: u64 = 400;
const HOLD_MS: u64 = 200;
const TICK_MS: u64 = 20;
const SUPERVISOR: Peer = Peer::Client(9);

/// A strategy that writes one user-data key as soon as its interaction arrives.
fn marking() -> Strategy {
    let state = |name: &str, transitions| StateDef {
        name: name.into(),
        on_entry: Vec::new(),
        transitions,
        is_final: false,
    };
    Strategy {
        name: "mark".into(),
        initial: "new".into(),
        states: vec![
            state(
                "new",
                vec![TransitionDef {
                    event: "interaction.present".into(),
                    target: Some("wait".into()),
                    actions: vec![Action::UpdateUserData {
                        key: "Stage".into(),
                        value: "seen".into(),
                    }],
                }],
            ),
            state("wait", Vec::new()),
        ],
    }
}

fn server(ha: Option<OrsHa>) -> OrsServer {
    OrsServer::new(OrsConfig {
        name: "ors1.1".into(),
        tenant: TenantId(1),
        queues: vec![OrsQueue {
            queue: "q".into(),
            view: "v".into(),
            strategy: 0,
        }],
        strategies: vec![marking()],
        pull_by_this_node: true,
        pull_limit: 3,
        new_session_on_reroute: false,
        pull_hold_timeout_ms: HOLD_MS,
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        max_sessions: None,
        queue_on_fails: None,
        idle_session_ttl_ms: None,
        om_memory_optimization: false,
        om_max_in_memory: 1000,
        om_delete_from_memory: false,
        ha,
        version: OrsVersion::V814,
        delivery_timeout_ms: 2000,
        tick_ms: TICK_MS,
        planted_bug: None,
    })
}

fn ha() -> Option<OrsHa> {
    Some(OrsHa {
        persistence: false,
        sync_max_age_ms: 100,
        sync_max_buffer: 10,
    })
}

/// The requests `out` sends to the node.
fn requests(out: &[Output]) -> Vec<(RefId, Request)> {
    outputs::requests(out)
        .into_iter()
        .filter(|(peer, _, _)| *peer == SERVER)
        .map(|(_, ref_id, request)| (ref_id, request))
        .collect()
}

/// Whether a session of `out` heard that it lost control of its interaction.
fn lost_control(out: &[Output]) -> bool {
    out.iter().any(|o| {
        matches!(o, Output::Trace(TraceEvent::OrsSession { what, .. })
            if what == "lost-control")
    })
}

/// A registered lone server that the node gave interaction 5 at one tick; what it did.
fn holding_five() -> (OrsServer, Vec<Output>) {
    let mut ors = registered();
    let taken = Message::unsolicited(Event::TakenFromQueue {
        items: vec![item(IxnId(5))],
    });
    let mut out = Vec::new();
    ors.handle(TICK_MS, Input::Frame(SERVER, taken), &mut out);
    (ors, out)
}

/// Connects a lone server to the node at 0 and answers its registration.
fn registered() -> OrsServer {
    registered_with(Buggify::off())
}

fn registered_with(buggify: Buggify) -> OrsServer {
    register(server(None).with_buggify(buggify))
}

fn register(mut ors: OrsServer) -> OrsServer {
    let mut out = Vec::new();
    ors.handle(0, Input::Start, &mut out);
    ors.handle(0, Input::Connected(URS), &mut out);
    ors.handle(0, Input::Connected(SERVER), &mut out);
    let sent = requests(&out);
    let (ref_id, _) = sent
        .iter()
        .find(|(_, r)| matches!(r, Request::RegisterClient { .. }))
        .expect("registers on connect");
    let ack = Message::reply(*ref_id, Event::Ack { ixn: None });
    ors.handle(0, Input::Frame(SERVER, ack), &mut Vec::new());
    ors
}

fn supervisor(ors: &mut OrsServer, now: SimTime, request: Request) -> Vec<Output> {
    let mut out = Vec::new();
    let message = Message::Request {
        ref_id: RefId(77),
        request,
    };
    ors.handle(now, Input::Frame(SUPERVISOR, message), &mut out);
    out
}

/// [S-ORS-ha]: a pair member answers the supervisor's liveness ping, in either role.
#[test]
fn a_pair_member_answers_the_supervisors_ping() {
    let mut ors = server(ha());
    let out = supervisor(&mut ors, 5, Request::Ping);
    let ack = Output::Send(
        SUPERVISOR,
        Message::reply(RefId(77), Event::Ack { ixn: None }),
    );
    assert_eq!(out, vec![ack]);
}

/// [S-ORS-ha]: a primary whose lease ran out steps down at its next tick, on its own; a
/// backup has nothing to step down from.
#[test]
fn a_primary_steps_down_when_its_lease_runs_out() {
    let mut ors = server(ha());
    let mut out = Vec::new();
    ors.handle(0, Input::Start, &mut out);
    ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
    assert_eq!(timed_out(&out), Vec::<&str>::new(), "a backup stepped down");
    // The supervisor grants the lease first (a backup holds it for when it is promoted).
    supervisor(&mut ors, 40, Request::Lease { until: 1000 });
    supervisor(&mut ors, 40, Request::Promote { epoch: 1 });
    let mut out = Vec::new();
    ors.handle(980, Input::Timer(TICK_TIMER), &mut out);
    assert_eq!(
        timed_out(&out),
        Vec::<&str>::new(),
        "stepped down inside its lease"
    );
    ors.handle(1000, Input::Timer(TICK_TIMER), &mut out);
    assert_eq!(timed_out(&out), vec!["RequestHeartbeat (lease ran out)"]);
    assert!(out.contains(&Output::Trace(TraceEvent::OrsRole { primary: false })));
}

/// A backup connected to the node stays silent there, neither registering nor pinging:
/// only its pair's primary talks to the node.
#[test]
fn a_backup_sends_nothing_to_the_node() {
    let mut ors = server(ha());
    let mut out = Vec::new();
    ors.handle(0, Input::Start, &mut out);
    ors.handle(0, Input::Connected(SERVER), &mut out);
    for now in (TICK_MS..=2 * REQUEST_TIMEOUT_MS).step_by(TICK_MS as usize) {
        ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
    }
    assert_eq!(requests(&out), Vec::new());
}

/// [S-ORS-ha]: a promoted backup gives the nodes two request timeouts and a pull hold to
/// list what its predecessor owned; a recovered session whose interaction no node listed
/// by then hears that it lost control, and not before.
#[test]
fn recovery_waits_for_the_nodes_listing() {
    let mut ors = server(Some(OrsHa {
        persistence: true,
        sync_max_age_ms: 100,
        sync_max_buffer: 10,
    }));
    let mut out = Vec::new();
    ors.handle(0, Input::Start, &mut out);
    supervisor(&mut ors, 0, Request::Lease { until: 100_000 });
    let out = supervisor(&mut ors, 0, Request::Promote { epoch: 1 });
    let write = out
        .iter()
        .find_map(|o| match o {
            Output::Persist(write, DbOp::OrsLoad { .. }) => Some(*write),
            _ => None,
        })
        .expect("reads the store");
    let ixn = IxnId(5);
    let mut assoc = Associations::default();
    assoc.start(ixn, 1);
    assoc.confirm(ixn, 1);
    let snapshot = OrsSnapshot {
        format: OrsVersion::V814.store_format(),
        client_name: Some("ors1.1".into()),
        next_session: 2,
        sessions: vec![SessionSnapshot {
            id: 1,
            strategy: 0,
            run: Run::start(&marking()).0,
            ixn,
            target: None,
        }],
        assoc,
        evicted: BTreeMap::new(),
        owned: BTreeMap::from([(ixn, ("q".to_string(), 1))]),
    };
    let mut out = Vec::new();
    ors.control(0, Control::OrsLoaded(write, Box::new(snapshot)), &mut out);
    let deadline = 2 * REQUEST_TIMEOUT_MS + HOLD_MS;
    let mut out = Vec::new();
    for now in (TICK_MS..deadline).step_by(TICK_MS as usize) {
        ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
    }
    assert!(!lost_control(&out), "gave up before the deadline: {out:?}");
    ors.handle(deadline, Input::Timer(TICK_TIMER), &mut out);
    assert!(lost_control(&out), "{out:?}");
}

/// A pull's answer may take the hold it asked for on top of the request timeout: only past
/// both does the server give up on the node.
#[test]
fn a_pull_times_out_only_past_its_hold() {
    let mut ors = registered();
    let mut out = Vec::new();
    ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
    assert!(
        requests(&out)
            .iter()
            .any(|(_, r)| matches!(r, Request::Pull { count: 3, .. })),
        "no pull: {out:?}"
    );
    let deadline = TICK_MS + REQUEST_TIMEOUT_MS + HOLD_MS;
    let mut out = Vec::new();
    for now in (2 * TICK_MS..deadline).step_by(TICK_MS as usize) {
        ors.handle(now, Input::Timer(TICK_TIMER), &mut out);
    }
    assert_eq!(timed_out(&out), Vec::<&str>::new());
    ors.handle(deadline, Input::Timer(TICK_TIMER), &mut out);
    assert_eq!(timed_out(&out), vec!["RequestPull"]);
}

/// Buggify's `ors-pull-one` makes a server with room for several ask for one.
#[test]
fn buggify_pulls_one_at_a_time() {
    let active = Buggify::activation(1, 1000, &[Site::OrsPullOne]);
    let mut ors = registered_with(Buggify::new(active, 1000, 1));
    let mut out = Vec::new();
    ors.handle(TICK_MS, Input::Timer(TICK_TIMER), &mut out);
    let counts: Vec<u32> = requests(&out)
        .iter()
        .filter_map(|(_, r)| match r {
            Request::Pull { count, .. } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, vec![1]);
}

/// The node answering NotOwner about an interaction (its owner grace ran out while this
/// server was away) ends the server's hold on it: the session hears that it lost control.
#[test]
fn not_owner_takes_the_interaction_away() {
    let (mut ors, out) = holding_five();
    let mut answers = Vec::new();
    for (ref_id, _) in requests(&out) {
        let refusal = Event::Error {
            code: ErrorCode::NotOwner,
        };
        let frame = Message::reply(ref_id, refusal);
        ors.handle(2 * TICK_MS, Input::Frame(SERVER, frame), &mut answers);
    }
    assert!(lost_control(&answers), "{answers:?}");
}

fn item(id: IxnId) -> IxnInfo {
    IxnInfo {
        id,
        tenant: TenantId(1),
        media: "email".into(),
        queue: "q".into(),
        priority: 0,
        submitted_at: 0,
        user_data: KvList::new(),
        node: 1,
    }
}

/// [S-ORS-assoc]: once a session has handed its interaction to another (`<associate>`), it
/// may not redirect it: only the session that holds (or detached) an interaction moves it.
#[test]
fn a_session_that_handed_its_interaction_away_cannot_redirect_it() {
    let handoff = Strategy {
        name: "handoff".into(),
        initial: "new".into(),
        states: vec![StateDef {
            name: "new".into(),
            on_entry: Vec::new(),
            transitions: vec![TransitionDef {
                event: "interaction.present".into(),
                target: None,
                actions: vec![
                    Action::Associate {
                        strategy: "mark".into(),
                    },
                    Action::Redirect { queue: "q2".into() },
                ],
            }],
            is_final: false,
        }],
    };
    let mut ors = server(None);
    ors.cfg.strategies = vec![handoff, marking()];
    let mut ors = register(ors);
    let taken = Message::unsolicited(Event::TakenFromQueue {
        items: vec![item(IxnId(5))],
    });
    let mut out = Vec::new();
    ors.handle(TICK_MS, Input::Frame(SERVER, taken), &mut out);
    assert!(
        out.iter().any(
            |o| matches!(o, Output::Trace(TraceEvent::OrsSession { what, .. })
            if what == "associated-away")
        ),
        "{out:?}"
    );
    let placed = requests(&out)
        .into_iter()
        .any(|(_, r)| matches!(r, Request::PlaceInQueue { .. }));
    assert!(!placed, "{out:?}");
}

/// A session writes the user data of the interaction it controls.
#[test]
fn a_session_writes_user_data_of_its_interaction() {
    let (_, out) = holding_five();
    let writes: Vec<Option<KvValue>> = requests(&out)
        .into_iter()
        .filter_map(|(_, r)| match r {
            Request::UpdateUserData {
                ixn: Field::Value(IxnId(5)),
                changes,
            } if changes.get(SESSION_KEY).is_none() => Some(changes.get("Stage").cloned()),
            _ => None,
        })
        .collect();
    assert_eq!(writes, vec![Some(KvValue::Str("seen".into()))], "{out:?}");
}
