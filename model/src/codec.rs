//! The `codec_decode` fuzz target.

use ixsim_core::codec;
use ixsim_core::ids::{AgentId, IxnId, RefId, TenantId};
use ixsim_core::kv::{KvList, KvValue};
use ixsim_core::protocol::{
    AgentState, ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request,
};

/// `codec_decode`: arbitrary bytes never panic the decoder, and anything that decodes
/// re-encodes to exactly the bytes it came from.
pub fn codec_decode(bytes: &[u8]) {
    let Ok(Some((message, used))) = codec::decode(bytes) else {
        return;
    };
    let mut encoded = Vec::new();
    codec::encode(&message, &mut encoded).expect("a decoded message must encode");
    assert_eq!(
        encoded,
        bytes[..used],
        "decoded frame re-encodes to different bytes"
    );
}

/// The seed corpus of `codec_decode` (`fuzz/corpus/codec_decode/`): one frame of each request
/// and event kind, as the machines send them, by file name. `tests/fuzz_corpus.rs` checks the
/// checked-in files against it, and writes them anew when asked (after a protocol change).
///
/// The frames, in file order: the requests (`frame-00` to `frame-22`, each with its index as
/// reference id), the events (`frame-23` to `frame-36`, answering r9), then one proxied request
/// and one proxied unsolicited event.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    let sample = Sample::new();
    let requests = [
        session_and_queue_requests(&sample),
        owner_requests(&sample),
        agent_and_cluster_requests(&sample),
    ]
    .concat();
    let mut messages: Vec<Message> = requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| Message::Request {
            ref_id: RefId(index as u32),
            request,
        })
        .collect();
    messages.extend(events(&sample).into_iter().map(|event| Message::Event {
        ref_id: Some(RefId(9)),
        event,
    }));
    messages.push(Message::ProxiedRequest {
        client: "agent3.1.1".into(),
        ref_id: RefId(10),
        request: Request::Accept {
            ixn: Field::Value(sample.ixn),
        },
    });
    messages.push(Message::ProxiedEvent {
        client: "router1.1".into(),
        ref_id: None,
        event: Event::Rejected {
            agent: AgentId(3),
            ixn: sample.ixn,
        },
    });
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let mut bytes = Vec::new();
            codec::encode(message, &mut bytes).expect("every corpus frame encodes");
            (format!("frame-{index:02}"), bytes)
        })
        .collect()
}

/// The interaction the corpus frames are about: its id, its user data (a string and a nested
/// list) and its description as events carry it.
struct Sample {
    ixn: IxnId,
    user_data: KvList,
    info: IxnInfo,
}

impl Sample {
    fn new() -> Self {
        let ixn = IxnId(0xC000_0000_0000_0001);
        let user_data = KvList::new()
            .with("Subject", KvValue::Str("case 1".into()))
            .with(
                "Nested",
                KvValue::List(KvList::new().with("n", KvValue::Int(-3))),
            );
        let info = IxnInfo {
            id: ixn,
            tenant: TenantId(1),
            media: "email".into(),
            queue: "inbound".into(),
            priority: 5,
            submitted_at: 1234,
            user_data: user_data.clone(),
            node: 2,
        };
        Sample {
            ixn,
            user_data,
            info,
        }
    }
}

/// Frames 00 to 07: registration, ping, a submit (with a wrongly typed media), a pull (with a
/// missing tenant), the lookups (by id, snapshot, by user data) and a seat change.
fn session_and_queue_requests(sample: &Sample) -> Vec<Request> {
    let ixn = sample.ixn;
    vec![
        Request::RegisterClient {
            name: "router1.1".into(),
            kind: ClientKind::Router,
        },
        Request::Ping,
        Request::Submit {
            tenant: Field::Value(TenantId(1)),
            media: Field::WrongType(KvValue::Int(7)),
            queue: "inbound".into(),
            priority: 5,
            user_data: sample.user_data.clone(),
            client_ixn: Some(ixn),
        },
        Request::Pull {
            tenant: Field::Missing,
            queue: "inbound".into(),
            view: "vip".into(),
            count: 4,
            hold_ms: Some(1500),
        },
        Request::Find {
            ixn: Field::Value(ixn),
        },
        Request::Snapshot {
            tenant: Field::Value(TenantId(1)),
            queue: "inbound".into(),
            view: "all".into(),
            max: 10,
        },
        Request::FindInteractions {
            tenant: Field::Value(TenantId(1)),
            key: "VIP".into(),
            equals: KvValue::Str("yes".into()),
            max: 5,
        },
        Request::SetSeats { seats: 10 },
    ]
}

/// Frames 08 to 13: what an owner asks about its interaction (place, update, stop, deliver)
/// and an agent's answer to an invite (accept, reject).
fn owner_requests(sample: &Sample) -> Vec<Request> {
    let ixn = sample.ixn;
    vec![
        Request::PlaceInQueue {
            ixn: Field::Value(ixn),
            queue: "other".into(),
        },
        Request::UpdateUserData {
            ixn: Field::Value(ixn),
            changes: sample.user_data.clone(),
        },
        Request::StopProcessing {
            ixn: Field::Value(ixn),
        },
        Request::Deliver {
            ixn: Field::Value(ixn),
            agent: AgentId(3),
        },
        Request::Accept {
            ixn: Field::Value(ixn),
        },
        Request::Reject {
            ixn: Field::Value(ixn),
        },
    ]
}

/// Frames 14 to 22: agent login, logout and readiness, a reservation, and the cluster's own
/// requests (lease, strategies loaded, transfer, target selection).
fn agent_and_cluster_requests(sample: &Sample) -> Vec<Request> {
    let ixn = sample.ixn;
    vec![
        Request::AgentLogin {
            tenant: Field::Value(TenantId(1)),
            agent: AgentId(3),
            media: vec!["chat".into()],
        },
        Request::AgentLogout { agent: AgentId(3) },
        Request::AgentReady { agent: AgentId(3) },
        Request::AgentNotReady { agent: AgentId(3) },
        Request::ReserveAgent {
            agent: AgentId(3),
            ixn: Field::Value(ixn),
            ms: 3000,
        },
        Request::Lease { until: 12_000 },
        Request::StrategiesLoaded {
            names: vec!["A".into(), "C".into()],
        },
        Request::Transfer {
            ixn: Field::Value(ixn),
            to: "ors1.1".into(),
        },
        Request::SelectTarget {
            ixn,
            node: 2,
            targets: "sales".into(),
            timeout_ms: 5000,
        },
    ]
}

/// Frames 23 to 36: one event of each kind.
fn events(sample: &Sample) -> Vec<Event> {
    let (ixn, info) = (sample.ixn, &sample.info);
    vec![
        Event::Ack { ixn: Some(ixn) },
        Event::TargetSelected { agent: AgentId(3) },
        Event::RouteRequest {
            ixn: info.clone(),
            strategy: "C".into(),
        },
        Event::Error {
            code: ErrorCode::NotAccessible,
        },
        Event::TakenFromQueue {
            items: vec![info.clone(), info.clone()],
        },
        Event::Invite {
            agent: AgentId(3),
            ixn: info.clone(),
        },
        Event::Revoked {
            agent: AgentId(3),
            ixn,
        },
        Event::Accepted {
            agent: AgentId(3),
            ixn,
        },
        Event::Rejected {
            agent: AgentId(3),
            ixn,
        },
        Event::AgentState {
            agent: AgentId(3),
            state: AgentState::Ready { free: 1 },
        },
        Event::Found { ixn: info.clone() },
        Event::SnapshotContent {
            items: vec![info.clone()],
        },
        Event::InteractionsFound {
            items: vec![info.clone()],
        },
        Event::LoggedOut { agent: AgentId(3) },
    ]
}
