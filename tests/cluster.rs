//! The cluster behind proxies [S-PX] [S-LIC] [S-OPS-switchover]: the built-in `cluster`
//! scenario holds every oracle under generated fault plans (crashes of primaries, backups and
//! proxies, switchovers, proxy/node partitions); `proxy-errors` produces every proxy code;
//! `licensing` never has more than the smallest node allocation logged in; `pull-order` shows
//! the round-robin inversions and none in ordered mode.

use ixsim::sim::faults::{Fault, FaultAction, HostSet};
use ixsim::sim::scenario::PullModeName;
use ixsim::sim::Scenario;
use proptest::prelude::*;

const HOSTS: [&str; 6] = ["is1", "is1b", "is2", "is2b", "proxy1", "proxy2"];

#[derive(Clone, Debug)]
enum Generated {
    Crash {
        host: usize,
        down_ms: u64,
    },
    Switchover {
        pair: u16,
    },
    /// A proxy loses a member of a pair.
    CutProxy {
        proxy: usize,
        host: usize,
        down_ms: u64,
    },
}

fn generated() -> impl Strategy<Value = (u64, Generated)> {
    let fault = prop_oneof![
        (0..HOSTS.len(), 300u64..2500)
            .prop_map(|(host, down_ms)| Generated::Crash { host, down_ms }),
        (1..=2u16).prop_map(|pair| Generated::Switchover { pair }),
        (0..2usize, 0..4usize, 300u64..2500).prop_map(|(proxy, host, down_ms)| {
            Generated::CutProxy {
                proxy,
                host,
                down_ms,
            }
        }),
    ];
    (1000u64..6000, fault)
}

fn plan(faults: &[(u64, Generated)]) -> Vec<Fault> {
    let mut plan = Vec::new();
    for (at_ms, fault) in faults {
        let at_ms = *at_ms;
        match fault {
            Generated::Crash { host, down_ms } => {
                let host = HOSTS[*host].to_string();
                plan.push(Fault {
                    at_ms,
                    action: FaultAction::Crash { host: host.clone() },
                });
                plan.push(Fault {
                    at_ms: at_ms + down_ms,
                    action: FaultAction::Start { host },
                });
            }
            Generated::Switchover { pair } => plan.push(Fault {
                at_ms,
                action: FaultAction::Switchover { pair: *pair },
            }),
            Generated::CutProxy {
                proxy,
                host,
                down_ms,
            } => {
                let a = HostSet::One(HOSTS[4 + proxy].to_string());
                let b = HostSet::One(HOSTS[*host].to_string());
                plan.push(Fault {
                    at_ms,
                    action: FaultAction::Partition {
                        a: a.clone(),
                        b: b.clone(),
                    },
                });
                plan.push(Fault {
                    at_ms: at_ms + down_ms,
                    action: FaultAction::Repair { a, b },
                });
            }
        }
    }
    plan.sort_by_key(|fault| fault.at_ms);
    plan
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// [S-INV-lost] [S-INV-owner] [S-IS-durable] [S-OPS-switchover] through proxies, under
    /// generated faults, for both pull modes.
    #[test]
    fn cluster_no_violation_under_generated_faults(
        seed in 0u64..1_000_000,
        ordered in any::<bool>(),
        faults in proptest::collection::vec(generated(), 0..4),
    ) {
        let mut scenario = Scenario::load("cluster").expect("built-in scenario");
        scenario.duration_ms = 16000;
        scenario.faults = plan(&faults);
        if ordered {
            scenario.proxy.pull_mode = PullModeName::Ordered;
        }
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        prop_assert!(
            outcome.violations.is_empty(),
            "seed {seed}, ordered {ordered}, faults {:?}: {:?}",
            scenario.faults.iter().map(|f| format!("{} {}", f.at_ms, f.action)).collect::<Vec<_>>(),
            outcome.violations
        );
    }
}

/// [S-PX-2000]..[S-PX-2006]: the prober's script draws out every proxy code.
#[test]
fn proxy_errors_shows_all_seven_codes() {
    let scenario = Scenario::load("proxy-errors").expect("built-in scenario");
    for seed in 0..3 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        for code in 2000..=2006u16 {
            assert!(
                outcome.stats.error_codes.get(&code).is_some_and(|n| *n > 0),
                "seed {seed}: no {code} in {:?}",
                outcome.stats.error_codes
            );
        }
    }
}

/// [S-LIC-checkout]: pool 100, four nodes asking 30: at most (and, here, exactly) 10 agents.
#[test]
fn licensing_logs_in_at_most_the_smallest_allocation() {
    let scenario = Scenario::load("licensing").expect("built-in scenario");
    for seed in 0..3 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
        assert_eq!(outcome.stats.max_agents_logged_in, 10, "seed {seed}");
    }
}

/// [S-PX-fifo]: round-robin pulls invert the cross-node order on a backlog; ordered pulls don't.
#[test]
fn pull_order_round_robin_inverts_and_ordered_does_not() {
    let mut scenario = Scenario::load("pull-order").expect("built-in scenario");
    for seed in 0..3 {
        scenario.proxy.pull_mode = PullModeName::RoundRobin;
        let round_robin = ixsim::sim::run(&scenario, seed).expect("run completes");
        scenario.proxy.pull_mode = PullModeName::Ordered;
        let ordered = ixsim::sim::run(&scenario, seed).expect("run completes");
        assert!(round_robin.violations.is_empty() && ordered.violations.is_empty());
        assert!(
            round_robin.stats.pull_order_inversions > 0,
            "seed {seed}: no inversion in round-robin mode"
        );
        assert_eq!(ordered.stats.pull_order_inversions, 0, "seed {seed}");
        assert_eq!(ordered.stats.completed, round_robin.stats.completed);
    }
}

/// [S-LIC-shrink]: lowering a pair's seats (an operator command through the supervisor) logs
/// agents out of the cluster; the rest stay, and no more log in than the new limit.
#[test]
fn lowering_seats_logs_agents_out_of_the_cluster() {
    let mut scenario = Scenario::load("licensing").expect("built-in scenario");
    scenario.topology.backup = true;
    scenario.faults = vec![Fault {
        at_ms: 7000,
        action: FaultAction::SetSeats { pair: 1, seats: 4 },
    }];
    let outcome = ixsim::sim::run(&scenario, 3).expect("run completes");
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert_eq!(outcome.stats.max_agents_logged_in, 10);
    assert_eq!(outcome.stats.agents_logged_in_at_end, 4);
}
