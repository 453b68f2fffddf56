//! The `proxy` fuzz target's byte encoding, written the other way ([`encode`]: the bytes
//! `arbitrary`'s derive decodes into given ops; an enum variant is a little-endian u32 scaled
//! onto the variant count, a u8 one byte, an option a flag byte), and its seed corpus and
//! regression inputs as scripted sessions ([`files`]). `tests/fuzz_corpus.rs` checks the
//! checked-in files against them.

use super::{Op, Req};
use crate::arbitrary_variant as variant;
use arbitrary::{Arbitrary, Unstructured};

fn req(out: &mut Vec<u8>, req: Req) {
    let n = 12;
    match req {
        Req::Ping => variant(out, 0, n),
        Req::Demote => variant(out, 1, n),
        Req::Submit {
            tenant,
            media,
            client_ixn,
        } => {
            variant(out, 2, n);
            out.extend([tenant, media]);
            match client_ixn {
                Some(ixn) => out.extend([1, ixn]),
                None => out.push(0),
            }
        }
        Req::Pull { tenant, count } => {
            variant(out, 3, n);
            out.extend([tenant, count]);
        }
        Req::FindInteractions { tenant } => {
            variant(out, 4, n);
            out.push(tenant);
        }
        Req::Snapshot { tenant } => {
            variant(out, 5, n);
            out.push(tenant);
        }
        Req::StopProcessing { ixn } => {
            variant(out, 6, n);
            out.push(ixn);
        }
        Req::Deliver { ixn, agent } => {
            variant(out, 7, n);
            out.extend([ixn, agent]);
        }
        Req::Find { ixn } => {
            variant(out, 8, n);
            out.push(ixn);
        }
        Req::AgentLogin { tenant, agent } => {
            variant(out, 9, n);
            out.extend([tenant, agent]);
        }
        Req::AgentReady { agent } => {
            variant(out, 10, n);
            out.push(agent);
        }
        Req::AgentLogout { agent } => {
            variant(out, 11, n);
            out.push(agent);
        }
    }
}

/// The bytes `ixsim_model::proxy` reads as pull mode `ordered` and then `ops`.
pub fn encode(ordered: bool, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![u8::from(ordered)];
    for op in ops {
        let (index, bytes): (u64, &[u8]) = match op {
            Op::Register(c) => (0, &[*c]),
            Op::ClientGone(c) => (1, &[*c]),
            Op::Request(c, _) => (2, &[*c]),
            Op::NodeUp(node) => (3, &[*node]),
            Op::NodeDown(node) => (4, &[*node]),
            Op::Answer(index, flavour) => (5, &[*index, *flavour]),
            Op::Advance(by) => (6, &[*by]),
        };
        variant(&mut out, index, 7);
        out.extend(bytes);
        if let Op::Request(_, r) = op {
            req(&mut out, *r);
        }
    }
    let mut u = Unstructured::new(&out[1..]);
    for op in ops {
        assert_eq!(Op::arbitrary(&mut u).ok(), Some(*op), "encoding of {op:?}");
    }
    assert!(u.is_empty(), "trailing bytes");
    out
}

/// The input of finding `lookup-twin-2003` (PROPTEST_RNG_SEED=199 of `tests/proxy_model.rs`):
/// nodes 0 and 2 up, client 0 sends Find twice for one interaction; the first lookup's forward,
/// sent when node 2 let it time out, was attributed by the harness to the second Find, whose
/// own lookup then timed out on both nodes and rightly failed 2003 [S-PX-2003].
fn lookup_twin_2003() -> Vec<super::Op> {
    use super::{Op::*, Req};
    let pull = Request(
        0,
        Req::Pull {
            tenant: 0,
            count: 0,
        },
    );
    let find = Request(0, Req::Find { ixn: 0 });
    vec![
        NodeUp(2),
        Answer(0, 0),
        NodeUp(0),
        Answer(0, 0),
        Register(2),
        Answer(0, 0),
        Answer(0, 0),
        Register(1),
        Register(0),
        Answer(0, 0),
        Answer(0, 0),
        pull,
        Register(0),
        find,
        Request(0, Req::StopProcessing { ixn: 0 }),
        Answer(5, 3),
        Request(
            0,
            Req::AgentLogin {
                tenant: 0,
                agent: 0,
            },
        ),
        Answer(8, 21),
        Advance(90),
        Register(0),
        Answer(8, 9),
        Answer(6, 4),
        Answer(0, 0),
        Answer(5, 1),
        Answer(5, 0),
        pull,
        find,
        Answer(5, 0),
        Advance(160),
        Register(0),
        Answer(8, 9),
        Advance(100),
    ]
}

/// The seed corpus of `proxy` (scripted sessions, each reaching one rule: routed
/// replies, every error code, lookups, merges, pulls in both modes, agent fan-out and revoke,
/// timeouts, node loss and client loss) and the regression inputs found by hand: (folder, file
/// name, bytes) for `fuzz/corpus/proxy/` and `fuzz/regressions/proxy/`. After changing the
/// `Op` encoding, write them anew with `cargo test --test fuzz_corpus -- --ignored` and commit
/// them.
pub fn files() -> Vec<(&'static str, String, Vec<u8>)> {
    use super::{Op::*, Req};
    // Every node up and acknowledged, client 0 registered on each.
    let up = vec![
        NodeUp(0),
        NodeUp(1),
        NodeUp(2),
        Answer(0, 0),
        Answer(0, 0),
        Answer(0, 0),
        Register(0),
        Answer(0, 0),
        Answer(0, 0),
        Answer(0, 0),
    ];
    let with = |more: &[super::Op]| [up.clone(), more.to_vec()].concat();
    let req = |r: Req| Request(0, r);
    let sessions: Vec<(&str, bool, Vec<super::Op>)> = vec![
        (
            "submit-routed",
            false,
            with(&[
                req(Req::Submit {
                    tenant: 0,
                    media: 0,
                    client_ixn: None,
                }),
                Answer(0, 0),
                req(Req::Submit {
                    tenant: 2,
                    media: 1,
                    client_ixn: Some(1),
                }),
                Answer(0, 1),
            ]),
        ),
        (
            "submit-rejected",
            false,
            with(&[
                req(Req::Submit {
                    tenant: 0,
                    media: 2,
                    client_ixn: None,
                }),
                req(Req::Submit {
                    tenant: 0,
                    media: 3,
                    client_ixn: None,
                }),
                req(Req::Submit {
                    tenant: 3,
                    media: 0,
                    client_ixn: None,
                }),
                req(Req::Submit {
                    tenant: 8,
                    media: 9,
                    client_ixn: Some(2),
                }),
                req(Req::Submit {
                    tenant: 2,
                    media: 0,
                    client_ixn: None,
                }),
            ]),
        ),
        (
            "unsupported",
            false,
            with(&[req(Req::Ping), req(Req::Demote)]),
        ),
        (
            "pull-round-robin",
            false,
            with(&[
                req(Req::Pull {
                    tenant: 0,
                    count: 2,
                }),
                Answer(0, 2),
                req(Req::Pull {
                    tenant: 0,
                    count: 1,
                }),
                Advance(150),
            ]),
        ),
        (
            "pull-ordered",
            true,
            with(&[
                req(Req::Pull {
                    tenant: 0,
                    count: 2,
                }),
                Answer(0, 1),
                Answer(0, 2),
                Answer(0, 0),
                Answer(0, 2),
                Answer(0, 1),
            ]),
        ),
        (
            "find-forwarded",
            false,
            with(&[
                req(Req::Find { ixn: 0 }),
                Answer(0, 0),
                Answer(0, 1),
                Answer(0, 1),
                Answer(0, 0),
                req(Req::StopProcessing { ixn: 0 }),
                Answer(0, 0),
            ]),
        ),
        (
            "find-duplicate",
            false,
            with(&[
                req(Req::Find { ixn: 1 }),
                Answer(0, 0),
                Answer(0, 0),
                Answer(0, 1),
            ]),
        ),
        (
            "find-node-down",
            false,
            with(&[
                NodeDown(1),
                req(Req::Find { ixn: 2 }),
                Answer(0, 1),
                Answer(0, 1),
                req(Req::Deliver { ixn: 2, agent: 1 }),
                NodeDown(0),
                Answer(0, 2),
            ]),
        ),
        (
            "bad-ixn",
            false,
            with(&[
                req(Req::StopProcessing { ixn: 8 }),
                req(Req::Deliver { ixn: 9, agent: 0 }),
                req(Req::Find { ixn: 8 }),
            ]),
        ),
        (
            "snapshot",
            false,
            with(&[
                req(Req::Snapshot { tenant: 0 }),
                Answer(0, 0),
                Answer(0, 0),
                Answer(0, 2),
                NodeDown(2),
                req(Req::Snapshot { tenant: 2 }),
                req(Req::Snapshot { tenant: 0 }),
            ]),
        ),
        (
            "find-interactions",
            false,
            with(&[
                req(Req::FindInteractions { tenant: 0 }),
                Answer(0, 0),
                Answer(0, 1),
                Answer(0, 0),
                req(Req::FindInteractions { tenant: 9 }),
            ]),
        ),
        (
            "agent-fan-out",
            false,
            with(&[
                req(Req::AgentLogin {
                    tenant: 0,
                    agent: 0,
                }),
                req(Req::AgentLogin {
                    tenant: 0,
                    agent: 0,
                }),
                Answer(0, 0),
                Answer(0, 0),
                Answer(0, 0),
                req(Req::AgentReady { agent: 0 }),
                Answer(0, 0),
                Answer(0, 0),
                Answer(0, 0),
                NodeDown(1),
                NodeUp(1),
                Answer(0, 0),
                req(Req::AgentLogout { agent: 0 }),
                req(Req::AgentReady { agent: 1 }),
            ]),
        ),
        (
            "agent-no-seat",
            false,
            with(&[
                req(Req::AgentLogin {
                    tenant: 0,
                    agent: 1,
                }),
                Answer(0, 0),
                Answer(0, 2),
                Answer(0, 0),
                Answer(0, 0),
                Answer(0, 0),
            ]),
        ),
        (
            "timeouts",
            false,
            with(&[
                req(Req::Find { ixn: 0 }),
                req(Req::Pull {
                    tenant: 0,
                    count: 1,
                }),
                req(Req::Submit {
                    tenant: 0,
                    media: 0,
                    client_ixn: Some(0),
                }),
                Advance(255),
                Advance(255),
                Advance(255),
                req(Req::Submit {
                    tenant: 0,
                    media: 0,
                    client_ixn: Some(0),
                }),
                Answer(0, 0),
            ]),
        ),
        (
            "client-gone",
            true,
            with(&[
                Register(1),
                Answer(0, 0),
                Request(
                    1,
                    Req::Pull {
                        tenant: 0,
                        count: 2,
                    },
                ),
                Request(
                    1,
                    Req::AgentLogin {
                        tenant: 0,
                        agent: 0,
                    },
                ),
                ClientGone(1),
                Answer(0, 0),
                Answer(0, 1),
                Register(1),
                Request(
                    1,
                    Req::AgentLogin {
                        tenant: 0,
                        agent: 0,
                    },
                ),
                Advance(255),
            ]),
        ),
        (
            "no-nodes",
            false,
            vec![
                Register(2),
                Request(
                    2,
                    Req::Submit {
                        tenant: 0,
                        media: 0,
                        client_ixn: None,
                    },
                ),
                Request(2, Req::Find { ixn: 1 }),
                Request(2, Req::Snapshot { tenant: 0 }),
                Request(
                    2,
                    Req::AgentLogin {
                        tenant: 0,
                        agent: 0,
                    },
                ),
                Request(
                    2,
                    Req::Pull {
                        tenant: 1,
                        count: 1,
                    },
                ),
                NodeUp(2),
                Advance(255),
            ],
        ),
    ];
    let mut files: Vec<(&'static str, String, Vec<u8>)> = sessions
        .iter()
        .map(|(name, ordered, ops)| ("corpus", name.to_string(), encode(*ordered, ops)))
        .collect();
    files.push((
        "regressions",
        "lookup-twin-2003".to_string(),
        encode(false, &lookup_twin_2003()),
    ));
    files
}
