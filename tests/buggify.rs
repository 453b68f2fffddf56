//! Fault points inside the servers (issue 6 buggify, `ixsim_core::buggify`): off, they change
//! nothing (same trace hashes, no events); on, every site is reachable and fires, runs stay
//! deterministic, and no oracle breaks, because every site is a behaviour SPEC.md allows.

use ixsim::core::buggify::{Buggify, Site};
use ixsim::core::ids::{IxnId, RefId, TenantId};
use ixsim::core::is_node::{MediaConfig, TenantConfig};
use ixsim::core::kv::KvList;
use ixsim::core::machine::{Input, Machine, Output, Peer};
use ixsim::core::protocol::{ClientKind, Event, Field, IxnInfo, Message, Request};
use ixsim::core::proxy::{Proxy, ProxyConfig, ProxyNode, PullMode};
use ixsim::core::trace::TraceEvent;
use ixsim::sim::scenario::BuggifyOptions;
use ixsim::sim::{Outcome, Scenario};
use std::collections::BTreeSet;

fn with_buggify(name: &str, options: Option<BuggifyOptions>) -> Scenario {
    let mut scenario = Scenario::load(name).expect("built-in scenario");
    scenario.buggify = options;
    scenario
}

fn always() -> BuggifyOptions {
    BuggifyOptions {
        activate_per_mille: 1000,
        fire_per_mille: 1000,
        sites: None,
    }
}

fn run(scenario: &Scenario, seed: u64) -> Outcome {
    ixsim::sim::run(scenario, seed).expect("run completes")
}

fn fired(outcome: &Outcome) -> BTreeSet<&'static str> {
    outcome
        .trace
        .entries
        .iter()
        .filter_map(|entry| match entry.event {
            TraceEvent::Buggify { site } => Some(site),
            _ => None,
        })
        .collect()
}

#[test]
fn buggify_off_keeps_the_trace() {
    for name in ["smoke", "cluster"] {
        let plain = run(&with_buggify(name, None), 1);
        assert!(
            fired(&plain).is_empty(),
            "{name}: buggify event without [buggify]"
        );
        assert_eq!(plain.stats.buggify_fired, 0);
        for options in [
            BuggifyOptions {
                activate_per_mille: 0,
                ..always()
            },
            BuggifyOptions {
                fire_per_mille: 0,
                ..always()
            },
        ] {
            let off = run(&with_buggify(name, Some(options.clone())), 1);
            assert_eq!(
                off.trace_hash, plain.trace_hash,
                "{name}: {options:?} changed the trace"
            );
        }
    }
}

/// Every site but the proxy's merge (no built-in scenario merges a snapshot of several nodes;
/// see `s_px_merge_reversed_by_buggify`) fires on a built-in scenario where it is reachable.
#[test]
fn buggify_every_site_fires_somewhere() {
    let mut seen = BTreeSet::new();
    for name in ["smoke", "faults", "cluster", "ors"] {
        let outcome = run(&with_buggify(name, Some(always())), 1);
        let events = outcome
            .trace
            .entries
            .iter()
            .filter(|entry| matches!(entry.event, TraceEvent::Buggify { .. }))
            .count();
        assert_eq!(
            outcome.stats.buggify_fired as usize, events,
            "{name}: stats.buggify_fired is not the number of buggify events"
        );
        seen.extend(fired(&outcome));
    }
    for site in Site::ALL {
        if site == Site::ProxyMergeReversed {
            continue;
        }
        assert!(seen.contains(site.name()), "{} never fired", site.name());
    }
}

#[test]
fn buggify_sites_restrict_what_fires() {
    let options = BuggifyOptions {
        sites: Some(vec!["agent-decline-invite".to_string()]),
        ..always()
    };
    let outcome = run(&with_buggify("smoke", Some(options)), 1);
    let sites = fired(&outcome);
    assert!(!sites.is_empty(), "the allowed site never fired");
    assert_eq!(
        sites,
        BTreeSet::from(["agent-decline-invite"]),
        "a site outside `sites` fired"
    );
}

#[test]
fn buggify_same_seed_same_trace() {
    let options = BuggifyOptions {
        activate_per_mille: 1000,
        ..BuggifyOptions::default()
    };
    for name in ["cluster", "ors"] {
        let scenario = with_buggify(name, Some(options.clone()));
        let first = run(&scenario, 3);
        let second = run(&scenario, 3);
        assert!(first.stats.buggify_fired > 0, "{name}: nothing fired");
        assert_eq!(
            first.trace_hash, second.trace_hash,
            "{name}: buggify run not deterministic"
        );
    }
}

/// [S-INV-lost], [S-INV-owner], [S-INV-order], [S-IS-durable], [S-ORS-pull], [S-INV-live]: the
/// oracles hold with the fault points on (defaults of `--buggify`).
#[test]
fn buggify_sweep_violates_no_oracle() {
    for name in ["smoke", "cluster", "ors"] {
        let mut scenario = Scenario::load(name).expect("built-in scenario");
        scenario.enable_buggify();
        let report = ixsim::sweep(ixsim::sim::Runner::Turmoil, &scenario, 0..20, 2, false);
        assert!(
            report.failures.is_empty(),
            "{name} with buggify: {}",
            report
                .failures
                .iter()
                .map(|failure| format!("seed {}: {}", failure.seed, failure.first_problem()))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

#[test]
fn buggify_section_is_validated() {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == "smoke")
        .map(|(_, text)| *text)
        .expect("smoke");
    let cases = [
        ("sites = [\"no-such-site\"]", "unknown site `no-such-site`"),
        ("sites = []", "buggify.sites is empty"),
        ("activate_per_mille = 1001", "buggify.activate_per_mille"),
        ("fire_per_mille = 5000", "buggify.fire_per_mille"),
        ("fire_rate = 5", "unknown field"),
    ];
    for (line, expected) in cases {
        let with = format!("{text}\n[buggify]\n{line}\n");
        let error = Scenario::parse("smoke", &with).expect_err(line).to_string();
        assert!(error.contains(expected), "{line}: {error}");
    }
    let defaults = Scenario::parse("smoke", &format!("{text}\n[buggify]\n")).expect("parses");
    assert_eq!(defaults.buggify, Some(BuggifyOptions::default()));
    let mut enabled = Scenario::parse("smoke", text).expect("parses");
    enabled.enable_buggify();
    assert_eq!(enabled.buggify, Some(BuggifyOptions::default()));
}

fn proxy_config() -> ProxyConfig {
    ProxyConfig {
        name: "proxy1".to_string(),
        nodes: vec![
            ProxyNode {
                tenants: vec![TenantId(1)],
                media: None,
            };
            2
        ],
        tenants: vec![TenantConfig {
            id: TenantId(1),
            media: vec![MediaConfig {
                name: "email".to_string(),
                enabled: true,
            }],
        }],
        pull_hold_timeout_ms: 400,
        pull_mode: PullMode::RoundRobin,
        request_timeout_ms: 1000,
        client_idle_timeout_ms: 0,
        tick_ms: 50,
        planted_bug: None,
    }
}

fn item(node: u16) -> IxnInfo {
    IxnInfo {
        id: IxnId(0xC0_0000_0000_0000 + u64::from(node)),
        tenant: TenantId(1),
        media: "email".to_string(),
        queue: "inbound".to_string(),
        priority: 0,
        submitted_at: 0,
        user_data: KvList::new(),
        node,
    }
}

/// Drives a proxy over two nodes through one snapshot; the merged items' ids.
fn merged_snapshot(mut proxy: Proxy) -> (Vec<IxnId>, bool) {
    let mut out = Vec::new();
    let client = Peer::Client(0);
    let inputs = [
        Input::Connected(Peer::Server(0)),
        Input::Connected(Peer::Server(1)),
        Input::Connected(client),
        Input::Frame(
            client,
            Message::Request {
                ref_id: RefId(1),
                request: Request::RegisterClient {
                    name: "probe".to_string(),
                    kind: ClientKind::Router,
                },
            },
        ),
    ];
    for input in inputs {
        proxy.handle(0, input, &mut out);
    }
    out.clear();
    let snapshot = Request::Snapshot {
        tenant: Field::Value(TenantId(1)),
        queue: "inbound".to_string(),
        view: "all".to_string(),
        max: 10,
    };
    let request = Message::Request {
        ref_id: RefId(2),
        request: snapshot,
    };
    proxy.handle(1, Input::Frame(client, request), &mut out);
    let asked: Vec<(Peer, _)> = out
        .drain(..)
        .filter_map(|output| match output {
            Output::Send(node, Message::ProxiedRequest { ref_id, .. }) => Some((node, ref_id)),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "the snapshot fans out to both nodes");
    for (node, ref_id) in asked {
        let Peer::Server(index) = node else {
            panic!("asked a client")
        };
        let items = vec![item(index + 1)];
        let answer = Message::reply(ref_id, Event::SnapshotContent { items });
        proxy.handle(2, Input::Frame(node, answer), &mut out);
    }
    let mut reversed = false;
    let mut ids = Vec::new();
    for output in out {
        match output {
            Output::Trace(TraceEvent::Buggify { site }) => {
                reversed |= site == Site::ProxyMergeReversed.name()
            }
            Output::Send(
                peer,
                Message::Event {
                    event: Event::SnapshotContent { items },
                    ..
                },
            ) if peer == client => ids = items.iter().map(|item| item.id).collect(),
            _ => {}
        }
    }
    (ids, reversed)
}

/// [S-PX-merge]: merged order is not guaranteed; the fault point reverses it.
#[test]
fn s_px_merge_reversed_by_buggify() {
    let (plain, fired) = merged_snapshot(Proxy::new(proxy_config()));
    assert!(!fired);
    assert_eq!(plain.len(), 2, "both nodes' items merged: {plain:?}");
    let active = Buggify::activation(1, 1000, &[Site::ProxyMergeReversed]);
    let buggified = Proxy::new(proxy_config()).with_buggify(Buggify::new(active, 1000, 2));
    let (reversed, fired) = merged_snapshot(buggified);
    assert!(fired, "the site did not fire");
    let mut expected = plain.clone();
    expected.reverse();
    assert_eq!(reversed, expected);
}
