//! Replays every checked-in fuzz input (seed corpora and minimized crashes) through the same
//! library functions the cargo-fuzz targets call, on stable, as part of `cargo test`.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(folder)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            run(&bytes);
            count += 1;
        }
    }
    count
}

#[test]
fn codec_decode_corpus_replays() {
    let count = replay("codec_decode", ixsim::sim::fuzz::codec_decode);
    assert!(count > 0, "fuzz/corpus/codec_decode is empty");
}

#[test]
fn ors_session_corpus_replays() {
    let count = replay("ors_session", ixsim::sim::fuzz::ors_session);
    assert!(count > 0, "fuzz/corpus/ors_session is empty");
}

/// The planted `OrsBug::RouteWithoutDetach` (a `<deliver>` goes ahead although the detach was
/// refused) is caught by the `ors_session` target on its minimized finding, naming
/// [S-ORS-detach]; the same input passes on the real server.
#[test]
fn ors_session_catches_route_without_detach() {
    use ixsim::sim::fuzz::ors_session::{ors_session_planted, OrsBug};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/ors_session-planted/route-without-detach");
    let bytes = std::fs::read(&path).expect("the planted finding is checked in");
    ors_session_planted(&bytes, None);
    let caught = std::panic::catch_unwind(|| {
        ors_session_planted(&bytes, Some(OrsBug::RouteWithoutDetach));
    });
    let Err(panic) = caught else {
        panic!("the planted bug went unnoticed");
    };
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("[S-ORS-detach]") && message.contains("without interaction.detach.done"),
        "caught for another reason: {message}"
    );
}

/// Writes the seed corpus of `codec_decode`: one frame of each request and event kind, as the
/// machines send them. Run with `cargo test --test fuzz_corpus -- --ignored` after a protocol
/// change, then commit `fuzz/corpus/codec_decode/`.
#[test]
#[ignore = "regenerates checked-in files"]
fn regenerate_codec_decode_corpus() {
    use ixsim::core::codec;
    use ixsim::core::ids::{AgentId, IxnId, RefId, TenantId};
    use ixsim::core::kv::{KvList, KvValue};
    use ixsim::core::protocol::{
        AgentState, ClientKind, ErrorCode, Event, Field, IxnInfo, Message, Request,
    };
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
    let requests = vec![
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
            user_data: user_data.clone(),
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
        Request::PlaceInQueue {
            ixn: Field::Value(ixn),
            queue: "other".into(),
        },
        Request::UpdateUserData {
            ixn: Field::Value(ixn),
            changes: user_data.clone(),
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
    ];
    let events = vec![
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
    ];
    let mut messages: Vec<Message> = requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| Message::Request {
            ref_id: RefId(index as u32),
            request,
        })
        .collect();
    messages.extend(events.into_iter().map(|event| Message::Event {
        ref_id: Some(RefId(9)),
        event,
    }));
    messages.push(Message::ProxiedRequest {
        client: "agent3.1.1".into(),
        ref_id: RefId(10),
        request: Request::Accept {
            ixn: Field::Value(ixn),
        },
    });
    messages.push(Message::ProxiedEvent {
        client: "router1.1".into(),
        ref_id: None,
        event: Event::Rejected {
            agent: AgentId(3),
            ixn,
        },
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/codec_decode");
    std::fs::create_dir_all(&dir).unwrap();
    for (index, message) in messages.iter().enumerate() {
        let mut bytes = Vec::new();
        codec::encode(message, &mut bytes).unwrap();
        std::fs::write(dir.join(format!("frame-{index:02}")), bytes).unwrap();
    }
}

#[test]
fn scenario_corpus_replays() {
    let count = replay("scenario", ixsim::sim::fuzz::scenario::scenario);
    assert!(count > 0, "fuzz/corpus/scenario is empty");
}

/// Writes the `scenario` seed corpus: each built-in scenario as it is (seed 1, its own random
/// faults kept) and with swarm draws (seed 2), and for each one input with an explicit workload
/// and fault plan (the first of a fixed pseudo-random byte sequence that makes one with at least
/// four submits and two faults), so that the fuzzer starts from inputs long enough to carry
/// both. The short bytes follow the field order of `ScenarioInput` (base, seed, swarm, buggify,
/// random_faults; the rest empty).
#[test]
#[ignore = "regenerates checked-in files"]
fn regenerate_scenario_corpus() {
    use ixsim::sim::fuzz::scenario::ScenarioInput;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/scenario");
    std::fs::create_dir_all(&dir).unwrap();
    let mut state: u64 = 0x2026_1201;
    let mut next_byte = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    for (base, name) in ixsim::sim::scenario::built_in_names().iter().enumerate() {
        for (variant, swarm) in [("", 0u8), ("-swarm", 1)] {
            let bytes = [base as u8, 1 + swarm, 0, swarm, 0, 1];
            let (scenario, _) = ScenarioInput::decode(&bytes).unwrap().build().unwrap();
            assert_eq!(scenario.name, format!("fuzz-{name}"));
            std::fs::write(dir.join(format!("{name}{variant}")), bytes).unwrap();
        }
        let planned = (0..100_000)
            .find_map(|_| {
                let mut bytes: Vec<u8> = (0..96).map(|_| next_byte()).collect();
                bytes[0] = base as u8;
                let (scenario, _) = ScenarioInput::decode(&bytes)?.build()?;
                let rich = scenario.faults.len() >= 2 && scenario.workload.submits.len() >= 4;
                rich.then_some(bytes)
            })
            .expect("some bytes make a planned input");
        std::fs::write(dir.join(format!("{name}-planned")), planned).unwrap();
    }
}
