//! The harness tests itself: each planted bug (a `planted_bug = "..."` value of the `[is]`,
//! `[proxy]`, `[urs]`, `[ors]` and `[ha]` sections) must be caught by the oracle that names its
//! SPEC tag, within a small range of seeds, on both runners (the direct event-driven one and
//! turmoil, the reference). A harness whose oracles miss these would pass every sweep while
//! finding nothing.
//!
//! [`TABLE`] has one entry per planted bug: the scenario it is planted in (a built-in and the
//! tweak the check applies to it), the oracles that must catch it, and for each runner the
//! seeds it must be caught on (and those the correct build must pass). The runners schedule
//! differently, so a runner's seeds and what they must show are its own; turmoil's are the
//! ones these checks always had, and the catch rates in the doc comments are turmoil's unless
//! they say otherwise. Each entry has its test, named by its SPEC tag;
//! `planted_bug_catch_rates` (ignored) prints every entry's catch rate on seeds 0..100 of
//! each runner.

use ixsim::sim::faults::{Fault, FaultAction};
use ixsim::sim::oracles::{
    AGENT_CAPACITY, DURABLE, HOLD, IS_OWNER, IS_SNAPSHOT, LIC_CHECKOUT, LIC_REVOKE, LIC_SHRINK,
    LIVE, LOST, MACHINE, ORDER, ORS_ASSOC, ORS_DETACH, ORS_FAIL, ORS_HA, ORS_PULL, ORS_SUBMIT,
    OWNER, PX_2000, PX_2001, PX_2002, PX_2003, PX_2006, PX_AGENT, PX_DISABLED, PX_MERGE, PX_PULL,
    PX_ROUTE, SWITCHOVER, URS_RR, URS_SCOPE,
};
use ixsim::sim::scenario::{HaBugName, OrsBugName, PlantedBugName, ProxyPlantedBug, UrsPlantedBug};
use ixsim::sim::{Runner, Scenario};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// A planted bug: the section of the scenario it is planted in, and its value there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    Is(PlantedBugName),
    Proxy(ProxyPlantedBug),
    Urs(UrsPlantedBug),
    Ors(OrsBugName),
    Ha(HaBugName),
}

impl Bug {
    fn section(self) -> &'static str {
        match self {
            Bug::Is(_) => "is",
            Bug::Proxy(_) => "proxy",
            Bug::Urs(_) => "urs",
            Bug::Ors(_) => "ors",
            Bug::Ha(_) => "ha",
        }
    }

    /// Its `planted_bug` value, as a scenario spells it.
    fn value(self) -> String {
        let value = match self {
            Bug::Is(bug) => serde_json::to_value(bug),
            Bug::Proxy(bug) => serde_json::to_value(bug),
            Bug::Urs(bug) => serde_json::to_value(bug),
            Bug::Ors(bug) => serde_json::to_value(bug),
            Bug::Ha(bug) => serde_json::to_value(bug),
        };
        let value = value.expect("a bug name serializes");
        value.as_str().expect("a bug name is a string").to_string()
    }

    fn plant(self, scenario: &mut Scenario) {
        match self {
            Bug::Is(bug) => scenario.is.planted_bug = Some(bug),
            Bug::Proxy(bug) => scenario.proxy.planted_bug = Some(bug),
            Bug::Urs(bug) => {
                scenario.urs.as_mut().expect("URS scenario").planted_bug = Some(bug);
            }
            Bug::Ors(bug) => {
                scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(bug);
            }
            Bug::Ha(bug) => scenario.ha.planted_bug = Some(bug),
        }
    }
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.section(), self.value())
    }
}

/// A change a check makes to its built-in scenario, with and without the bug.
struct Tweak {
    /// What it changes ("" for none).
    what: &'static str,
    apply: fn(&mut Scenario),
}

/// The built-in scenario as it is.
const AS_BUILT: Tweak = Tweak {
    what: "",
    apply: |_| {},
};

/// `licensing` with backups and a `set-seats` fault lowering pair 1 from ten seats to 4 at
/// 7 s, while ten agents are logged in.
const LOWER_PAIR_1_SEATS: Tweak = Tweak {
    what: "backups, pair 1 lowered to 4 seats at 7 s",
    apply: |scenario| {
        scenario.topology.backup = true;
        scenario.faults = vec![Fault {
            at_ms: 7000,
            action: FaultAction::SetSeats { pair: 1, seats: 4 },
        }];
    },
};

/// What a runner's seeds must show of a planted bug.
#[derive(Clone, Copy, Debug)]
enum Catch {
    /// Caught on every seed.
    Every,
    /// Caught first on seed `first`, and on at least `min` of the seeds.
    FirstAtLeast { first: u64, min: usize },
    /// The first seed on which any oracle fires is caught (the seeds after it are not run).
    FirstFailure,
}

/// One runner's check of a planted bug.
struct Check {
    /// The seeds the bug is run on.
    seeds: Range<u64>,
    catch: Catch,
    /// Seeds on which the correct build (the tweak, no bug) must pass the entry's oracles.
    clean: Range<u64>,
}

/// One planted bug and the checks that it is caught.
struct Planted {
    bug: Bug,
    scenario: &'static str,
    tweak: Tweak,
    /// A seed is caught when one of these oracles fires ...
    oracles: &'static [&'static str],
    /// ... with a violation that says this ("" for anything).
    detail: &'static str,
    direct: Check,
    turmoil: Check,
}

impl Planted {
    fn check(&self, runner: Runner) -> &Check {
        match runner {
            Runner::Direct => &self.direct,
            Runner::Turmoil => &self.turmoil,
        }
    }

    /// The entry's scenario, validated, with its bug planted or not.
    fn scenario(&self, planted: bool) -> Scenario {
        let mut scenario = Scenario::load(self.scenario).expect("built-in scenario");
        (self.tweak.apply)(&mut scenario);
        if planted {
            self.bug.plant(&mut scenario);
        }
        scenario.validate().expect("planted scenario is valid");
        scenario
    }

    fn describe_scenario(&self) -> String {
        match self.tweak.what {
            "" => self.scenario.to_string(),
            what => format!("{} ({what})", self.scenario),
        }
    }

    fn describe_oracles(&self) -> String {
        let oracles = self.oracles.join(" or ");
        match self.detail {
            "" => oracles,
            detail => format!("{oracles} (\"{detail}\")"),
        }
    }

    /// Whether a run's violations catch the bug.
    fn caught(&self, violations: &[(&'static str, String)]) -> bool {
        violations
            .iter()
            .any(|(oracle, detail)| self.oracles.contains(oracle) && detail.contains(self.detail))
    }
}

/// The violations of `seed`'s run of `scenario` on `runner`: oracle and detail.
fn violations(runner: Runner, scenario: &Scenario, seed: u64) -> Vec<(&'static str, String)> {
    let outcome = ixsim::sim::run_on(runner, scenario, seed)
        .unwrap_or_else(|error| panic!("{runner} seed {seed}: run completes: {error:?}"));
    outcome
        .violations
        .into_iter()
        .map(|v| (v.oracle, v.detail))
        .collect()
}

/// The violations of `seed`'s run of `entry`'s correct build on `runner`. Several entries
/// check the same correct build on the same seeds (three proxy bugs each on `proxy-errors`,
/// `reporting` and `ors`); each such run is made once per process and shared.
fn clean_violations(
    entry: &Planted,
    runner: Runner,
    seed: u64,
) -> Arc<Vec<(&'static str, String)>> {
    type Key = (&'static str, &'static str, Runner, u64);
    type Runs = BTreeMap<Key, Arc<OnceLock<Arc<Vec<(&'static str, String)>>>>>;
    static RUNS: Mutex<Runs> = Mutex::new(BTreeMap::new());
    let key = (entry.scenario, entry.tweak.what, runner, seed);
    let run = Arc::clone(
        RUNS.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default(),
    );
    // Outside the lock: another test waits here only for the same run.
    let found = run.get_or_init(|| Arc::new(violations(runner, &entry.scenario(false), seed)));
    Arc::clone(found)
}

/// Checks `entry` on both runners: the correct build passes its oracles on the clean seeds,
/// and the planted bug is caught as the runner's check says.
fn check(entry: &Planted) {
    for runner in Runner::ALL {
        let check = entry.check(runner);
        let what = format!("{} on {} ({runner})", entry.bug, entry.describe_scenario());
        let false_alarms: Vec<u64> = check
            .clean
            .clone()
            .filter(|seed| entry.caught(&clean_violations(entry, runner, *seed)))
            .collect();
        assert_eq!(
            false_alarms,
            Vec::<u64>::new(),
            "{what}: the correct build fails {}",
            entry.describe_oracles()
        );
        let planted = entry.scenario(true);
        let mut seeds = check.seeds.clone();
        match check.catch {
            Catch::Every | Catch::FirstAtLeast { .. } => {
                let caught: Vec<u64> = seeds
                    .filter(|seed| entry.caught(&violations(runner, &planted, *seed)))
                    .collect();
                if let Catch::FirstAtLeast { first, min } = check.catch {
                    assert!(
                        caught.first() == Some(&first) && caught.len() >= min,
                        "{what}: caught on {caught:?}, not first on seed {first} and on at least {min}"
                    );
                } else {
                    let every: Vec<u64> = check.seeds.clone().collect();
                    assert_eq!(
                        caught, every,
                        "{what}: caught on {caught:?}, not on every seed"
                    );
                }
            }
            Catch::FirstFailure => {
                let (seed, found) = seeds
                    .find_map(|seed| {
                        let found = violations(runner, &planted, seed);
                        (!found.is_empty()).then_some((seed, found))
                    })
                    .unwrap_or_else(|| panic!("{what}: not caught on seeds {:?}", check.seeds));
                assert!(
                    entry.caught(&found),
                    "{what}: seed {seed} caught by {found:?}, not {}",
                    entry.describe_oracles()
                );
            }
        }
    }
}

/// A runner's check of the planted bug alone (no seeds for the correct build).
const fn on(seeds: Range<u64>, catch: Catch) -> Check {
    Check {
        clean: 0..0,
        seeds,
        catch,
    }
}

/// A runner's check of the planted bug, whose correct build must pass `clean`.
const fn on_clean(seeds: Range<u64>, catch: Catch, clean: Range<u64>) -> Check {
    Check {
        clean,
        seeds,
        catch,
    }
}

const PULL_IGNORES_OWNERSHIP: Planted = Planted {
    bug: Bug::Is(PlantedBugName::PullIgnoresOwnership),
    scenario: "smoke",
    tweak: AS_BUILT,
    oracles: &[OWNER],
    detail: "",
    direct: on(0..3, Catch::FirstFailure),
    turmoil: on(0..3, Catch::FirstFailure),
};

/// [S-INV-owner]: pulls that also return interactions other clients own.
#[test]
fn s_inv_owner_catches_pull_that_ignores_ownership() {
    check(&PULL_IGNORES_OWNERSHIP);
}

const VIEW_IGNORES_PRIORITY: Planted = Planted {
    bug: Bug::Is(PlantedBugName::ViewIgnoresPriority),
    scenario: "smoke",
    tweak: AS_BUILT,
    oracles: &[ORDER],
    detail: "",
    direct: on(0..5, Catch::FirstFailure),
    turmoil: on(0..5, Catch::FirstFailure),
};

/// [S-INV-order]: views that ignore priority (FIFO only).
#[test]
fn s_inv_order_catches_view_that_ignores_priority() {
    check(&VIEW_IGNORES_PRIORITY);
}

const ACK_BEFORE_WRITE: Planted = Planted {
    bug: Bug::Is(PlantedBugName::AckBeforeWrite),
    scenario: "is-restart",
    tweak: AS_BUILT,
    oracles: &[DURABLE, LOST],
    detail: "",
    direct: on(0..100, Catch::FirstFailure),
    turmoil: on(0..100, Catch::FirstFailure),
};

/// [S-IS-durable] [S-INV-lost]: submits acknowledged before the database write are lost when
/// the node restarts.
#[test]
fn s_is_durable_catches_ack_before_write_under_restarts() {
    check(&ACK_BEFORE_WRITE);
}

#[test]
fn ack_before_write_is_invisible_without_crashes() {
    // Without a crash the early ack is harmless; an oracle firing here would be a false alarm.
    let mut scenario = Scenario::load("smoke").expect("built-in scenario");
    Bug::Is(PlantedBugName::AckBeforeWrite).plant(&mut scenario);
    for runner in Runner::ALL {
        for seed in 0..5 {
            let found = violations(runner, &scenario, seed);
            assert!(found.is_empty(), "{runner} seed {seed}: {found:?}");
        }
    }
}

const LOGIN_IGNORES_SEATS: Planted = Planted {
    bug: Bug::Is(PlantedBugName::LoginIgnoresSeats),
    scenario: "licensing",
    tweak: AS_BUILT,
    oracles: &[LIC_CHECKOUT],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-LIC-checkout]: a node that logs agents in without checking its seats (before its grant
/// came, or past it) fails every `licensing` seed tried (100 of 100 in a sweep, first seed 0).
#[test]
fn s_lic_checkout_catches_login_that_ignores_seats() {
    check(&LOGIN_IGNORES_SEATS);
}

const SHRINK_KEEPS_LOGINS: Planted = Planted {
    bug: Bug::Is(PlantedBugName::ShrinkKeepsLogins),
    scenario: "licensing",
    tweak: LOWER_PAIR_1_SEATS,
    oracles: &[LIC_SHRINK],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-LIC-shrink]: lowering pair 1's seats to 4 while ten agents are logged in must log six out;
/// a node that keeps them is caught.
#[test]
fn s_lic_shrink_catches_lowered_seats_that_keep_logins() {
    check(&SHRINK_KEEPS_LOGINS);
}

const DELIVER_IGNORES_CAPACITY: Planted = Planted {
    bug: Bug::Is(PlantedBugName::DeliverIgnoresCapacity),
    scenario: "switchover",
    tweak: AS_BUILT,
    oracles: &[AGENT_CAPACITY],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-URS-select]: a node that delivers to a ready agent without checking its capacity offers a
/// second interaction to an agent of capacity 1 while routers race for agents (99 of 100
/// `switchover` seeds in a sweep, first seed 0).
#[test]
fn s_urs_select_catches_deliver_that_ignores_capacity() {
    check(&DELIVER_IGNORES_CAPACITY);
}

/// The capacity oracle is no false alarm: the correct node passes the same seeds.
#[test]
fn s_urs_select_passes_the_correct_node() {
    let scenario = Scenario::load("switchover").expect("built-in scenario");
    for runner in Runner::ALL {
        for seed in 0..5 {
            let found = violations(runner, &scenario, seed);
            let capacity: Vec<_> = found.iter().filter(|(o, _)| *o == AGENT_CAPACITY).collect();
            assert!(capacity.is_empty(), "{runner} seed {seed}: {capacity:?}");
        }
    }
}

const STOP_KEEPS_LOAD: Planted = Planted {
    bug: Bug::Is(PlantedBugName::StopKeepsLoad),
    scenario: "smoke",
    tweak: AS_BUILT,
    oracles: &[MACHINE],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-INV-machine]: the shells check each machine's own invariants after every input; a node
/// whose stop forgets the agent's load breaks them at the first stop (100 of 100 `smoke` seeds,
/// first seed 0), long before the stalled agent would show as a liveness failure.
#[test]
fn s_inv_machine_catches_stop_that_keeps_the_agent_load() {
    check(&STOP_KEEPS_LOAD);
}

const HOLD_IGNORES_ASKED: Planted = Planted {
    bug: Bug::Is(PlantedBugName::HoldIgnoresAsked),
    scenario: "cluster",
    tweak: AS_BUILT,
    oracles: &[HOLD],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-IS-hold]: a node that holds a pull for its own `pull-hold-timeout` (1000 ms) instead of
/// the proxy's (800 ms) answers late, which [S-INV-live]'s settle time never notices (100 of 100
/// `cluster`, `ors` and `licensing` seeds, first seed 0).
#[test]
fn s_is_hold_catches_hold_that_ignores_the_asked_timeout() {
    check(&HOLD_IGNORES_ASKED);
}

const URS_GONE_WAITS_GRACE: Planted = Planted {
    bug: Bug::Is(PlantedBugName::UrsGoneWaitsGrace),
    scenario: "urs-direct",
    tweak: AS_BUILT,
    oracles: &[URS_RR],
    detail: "",
    direct: on(0..10, Catch::FirstAtLeast { first: 1, min: 3 }),
    turmoil: on(0..10, Catch::FirstAtLeast { first: 1, min: 3 }),
};

/// [S-URS-rr]: a node that makes a dead URS's work wait out the owner grace period instead of
/// resubmitting it at once (51 of 100 `urs-direct` seeds, first seed 1: those where urs2 held
/// work when it crashed at 3 s).
#[test]
fn s_urs_rr_catches_a_dead_urs_work_waiting_for_grace() {
    check(&URS_GONE_WAITS_GRACE);
}

const GRACE_HALVED: Planted = Planted {
    bug: Bug::Is(PlantedBugName::GraceHalved),
    scenario: "cluster-faults",
    tweak: AS_BUILT,
    oracles: &[IS_OWNER],
    detail: "",
    direct: on_clean(0..4, Catch::FirstAtLeast { first: 0, min: 2 }, 0..4),
    turmoil: on_clean(0..4, Catch::FirstAtLeast { first: 0, min: 2 }, 0..4),
};

/// [S-IS-owner]: a node that gives a departed owner half the grace period takes its work back
/// while it may still be on its way back: caught on 50 of 100 `cluster-faults` seeds (34 with
/// `--swarm --buggify`), 88 of 100 `licensing-changes`, 39 of 100 `faults` and 18 of 100
/// `switchover`; first seed 0 on `cluster-faults`. The correct node passes the same seeds.
#[test]
fn s_is_owner_catches_a_grace_period_cut_short() {
    check(&GRACE_HALVED);
}

const GRACE_DOUBLED: Planted = Planted {
    bug: Bug::Is(PlantedBugName::GraceDoubled),
    scenario: "faults",
    tweak: AS_BUILT,
    oracles: &[IS_OWNER],
    detail: "",
    direct: on_clean(0..1, Catch::Every, 0..2),
    turmoil: on_clean(0..1, Catch::Every, 0..2),
};

/// [S-IS-owner]'s late bound: a node that keeps a departed owner's work for twice the grace
/// period releases it late; caught on 39 of 100 `faults` seeds (23 with `--swarm --buggify`),
/// 34 of 100 `urs-direct`, 42 of 100 `cluster-faults`, 15 of 100 `switchover`; first seed 0
/// on `faults`. The correct node passes the same seeds.
#[test]
fn s_is_owner_catches_a_release_after_the_grace_period() {
    check(&GRACE_DOUBLED);
}

/// The time-bound oracles are no false alarms on the correct node, also under swarm.
#[test]
fn time_bounds_pass_the_correct_node() {
    for runner in Runner::ALL {
        for name in ["cluster", "urs-direct", "licensing-changes"] {
            let scenario = Scenario::load(name).expect("built-in scenario");
            for seed in 0..3 {
                let (swarmed, _) = ixsim::scenario_for_seed(&scenario, seed, true);
                let found = violations(runner, &swarmed, seed);
                let timed: Vec<_> = found
                    .iter()
                    .filter(|(o, _)| *o == HOLD || *o == URS_RR)
                    .collect();
                assert!(timed.is_empty(), "{runner} {name} seed {seed}: {timed:?}");
            }
        }
    }
}

const SNAPSHOT_IGNORES_LIMIT: Planted = Planted {
    bug: Bug::Is(PlantedBugName::SnapshotIgnoresLimit),
    scenario: "reporting",
    tweak: AS_BUILT,
    oracles: &[IS_SNAPSHOT],
    detail: "",
    direct: on(0..5, Catch::Every),
    turmoil: on(0..5, Catch::Every),
};

/// [S-IS-snapshot] / [S-PX-merge]: a node that ignores `max-interactions-per-snapshot` puts more
/// than its 4 into the `reporting` client's snapshots (100 of 100 seeds, first seed 0).
#[test]
fn s_is_snapshot_catches_a_snapshot_past_the_node_limit() {
    check(&SNAPSHOT_IGNORES_LIMIT);
}

/// A proxy bug's entry: unless it says otherwise, caught on every seed 0..3 of both runners,
/// whose correct proxy passes the same seeds.
const fn proxy_bug(
    bug: ProxyPlantedBug,
    scenario: &'static str,
    oracles: &'static [&'static str],
) -> Planted {
    Planted {
        bug: Bug::Proxy(bug),
        scenario,
        tweak: AS_BUILT,
        oracles,
        detail: "",
        direct: on_clean(0..3, Catch::Every, 0..3),
        turmoil: on_clean(0..3, Catch::Every, 0..3),
    }
}

const UNREACHABLE_LOOKUP_NOT_FOUND: Planted = Planted {
    detail: "\"not found\" (3)",
    ..proxy_bug(
        ProxyPlantedBug::UnreachableLookupNotFound,
        "proxy-errors",
        &[PX_2003],
    )
};

/// [S-PX-2003]: a proxy whose broadcast lookup found the interaction nowhere while some node
/// did not answer says "not found" instead of 2003. `proxy-errors`'s prober asks for an
/// interaction of node 2 while node 2 is down (on seed 0 probe #10 gets error 3, not found,
/// where the correct proxy answers 2003); the proxy traces the answer
/// (`proxy-lookup-not-found`, with when the request came) and `sim/src/oracles/lookups.rs`
/// finds srv1 down at that moment: 100 of 100 seeds on each runner (100 with `--swarm
/// --buggify`), first seed 0. The correct proxy passes the same seeds.
#[test]
fn s_px_2003_catches_a_lookup_not_found_while_a_node_is_down() {
    check(&UNREACHABLE_LOOKUP_NOT_FOUND);
}

const FORGETS_RECONNECT: Planted = Planted {
    direct: on(0..3, Catch::Every),
    turmoil: on(0..3, Catch::Every),
    ..proxy_bug(
        ProxyPlantedBug::ForgetsReconnect,
        "licensing-changes",
        &[PX_2002],
    )
};

/// [S-PX-2002] in whole-cluster runs: a proxy that never marks a reconnected node connected
/// refuses its work with 2002 while the connection is up (100 of 100 `licensing-changes`
/// seeds, 94 of 100 `cluster-faults` by S-PX-2002 first; first seed 0).
#[test]
fn s_px_2002_catches_a_proxy_that_forgets_a_reconnect() {
    check(&FORGETS_RECONNECT);
}

const PULL_TURN_SHARED: Planted = proxy_bug(ProxyPlantedBug::PullTurnShared, "ors", &[PX_PULL]);

/// [S-PX-pull] round-robin: a proxy with one turn for all its pulls (instead of one per puller
/// and queue/view) sends a puller's pulls wherever the other pullers left the turn; the `ors`
/// scenario's two ORS servers and router pull three queues through one proxy (see the README
/// for the catch rates). The correct proxy passes the same seeds.
#[test]
fn s_px_pull_catches_a_proxy_with_one_turn_for_all_pulls() {
    check(&PULL_TURN_SHARED);
}

const AGENT_OPS_ONE_NODE: Planted = proxy_bug(
    ProxyPlantedBug::AgentOpsOneNode,
    "cluster-faults",
    &[PX_AGENT],
);

/// [S-PX-agent]: a proxy that sends agent requests to one node of the tenant (and acks on
/// its answer) leaves the agent unknown to the other nodes; caught on `cluster`,
/// `cluster-faults`, `licensing-changes` and `reporting` (100 of 100 seeds each, first seed 0;
/// `cluster-faults` with `--swarm --buggify` 54 of 100, the rest drawing one node). The correct
/// proxy passes the same seeds.
#[test]
fn s_px_agent_catches_agent_requests_sent_to_one_node() {
    check(&AGENT_OPS_ONE_NODE);
}

const FIND_KEEPS_LAST_ANSWER: Planted = proxy_bug(
    ProxyPlantedBug::FindKeepsLastAnswer,
    "reporting",
    &[PX_MERGE],
);

/// [S-PX-merge] for finds: a proxy whose merge keeps only the last node's answer to a find
/// leaves out the other node's VIP interactions, though that node gave fewer than it was
/// asked for; caught on `reporting` (100 of 100 seeds, 96 with `--swarm --buggify`, first
/// seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_merge_catches_a_find_that_keeps_one_answer() {
    check(&FIND_KEEPS_LAST_ANSWER);
}

const SUBMIT_IGNORES_MEDIA: Planted = proxy_bug(
    ProxyPlantedBug::SubmitIgnoresMedia,
    "proxy-errors",
    &[PX_ROUTE],
);

/// [S-PX-route]: a proxy that routes submits by tenant alone sends chats to the node that
/// takes only e-mail; caught on `proxy-errors` (97 of 100 seeds, 66 with `--swarm
/// --buggify`, first seed 0; the seeds it misses sent no chat to that node). The correct proxy
/// passes the same seeds.
#[test]
fn s_px_route_catches_submits_routed_by_tenant_alone() {
    check(&SUBMIT_IGNORES_MEDIA);
}

const FORWARDS_DISABLED_MEDIA: Planted = proxy_bug(
    ProxyPlantedBug::ForwardsDisabledMedia,
    "proxy-errors",
    &[PX_DISABLED],
);

/// [S-PX-disabled]: a proxy that passes a submit of a disabled media type on to a node;
/// caught on `proxy-errors`, whose prober submits one (100 of 100 seeds, first seed 0). The
/// correct proxy passes the same seeds.
#[test]
fn s_px_disabled_catches_a_disabled_media_type_passed_on() {
    check(&FORWARDS_DISABLED_MEDIA);
}

const DISABLED_MEDIA_NOT_ACCESSIBLE: Planted = proxy_bug(
    ProxyPlantedBug::DisabledMediaNotAccessible,
    "proxy-errors",
    &[PX_2001],
);

/// [S-PX-2001]: a proxy that refuses a submit of a disabled media type with 2003 instead of
/// 2001; caught on `proxy-errors`, whose prober submits one (100 of 100 seeds, and 100 with
/// `--swarm --buggify`, first seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_2001_catches_a_disabled_media_type_refused_with_another_code() {
    check(&DISABLED_MEDIA_NOT_ACCESSIBLE);
}

const KEEPS_REFUSED_LOGINS: Planted = proxy_bug(
    ProxyPlantedBug::KeepsRefusedLogins,
    "licensing",
    &[LIC_REVOKE],
);

/// [S-LIC-revoke]: a proxy that keeps the logins other nodes took when one node refused it
/// for want of a seat; caught on `licensing` (100 of 100 seeds, 61 with `--swarm --buggify`,
/// first seed 0) when the agent tries again on the same connection. The correct proxy passes
/// the same seeds.
#[test]
fn s_lic_revoke_catches_a_refused_login_kept_on_other_nodes() {
    check(&KEEPS_REFUSED_LOGINS);
}

const EMPTY_SNAPSHOT_NOT_ACCESSIBLE: Planted = proxy_bug(
    ProxyPlantedBug::EmptySnapshotNotAccessible,
    "reporting",
    &[PX_2006],
);

/// [S-PX-2006]: a proxy that takes a node's empty snapshot answer for no answer refuses the
/// snapshot with 2006 while every node answered; caught on `reporting` (92 of 100 seeds, 55
/// with `--swarm --buggify`, first seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_2006_catches_a_snapshot_refused_while_every_node_answered() {
    check(&EMPTY_SNAPSHOT_NOT_ACCESSIBLE);
}

const FIND_UNSUPPORTED: Planted =
    proxy_bug(ProxyPlantedBug::FindUnsupported, "reporting", &[PX_2000]);

/// [S-PX-2000]: a proxy that refuses finds by user data as unsupported; caught on
/// `reporting` (100 of 100 seeds, and 100 with `--swarm --buggify`, first seed 0). The
/// correct proxy passes the same seeds.
#[test]
fn s_px_2000_catches_a_served_request_refused_as_unsupported() {
    check(&FIND_UNSUPPORTED);
}

const DELIVER_TO_FIRST_NODE: Planted = Planted {
    bug: Bug::Urs(UrsPlantedBug::DeliverToFirstNode),
    scenario: "urs-direct",
    tweak: AS_BUILT,
    oracles: &[URS_SCOPE],
    detail: "",
    direct: on_clean(0..3, Catch::Every, 0..3),
    turmoil: on_clean(0..3, Catch::Every, 0..3),
};

/// [S-URS-scope]: a URS in direct mode that sends each delivery to the first connected node
/// instead of the node that raised the request; caught on `urs-direct` (100 of 100 seeds, and
/// 100 with `--swarm --buggify`, first seed 0). The correct URS passes the same seeds.
#[test]
fn s_urs_scope_catches_a_delivery_sent_to_another_node() {
    check(&DELIVER_TO_FIRST_NODE);
}

/// An ORS bug's entry: unless it says otherwise, caught on seed 0 of both runners.
const fn ors_bug(
    bug: OrsBugName,
    scenario: &'static str,
    oracles: &'static [&'static str],
) -> Planted {
    Planted {
        bug: Bug::Ors(bug),
        scenario,
        tweak: AS_BUILT,
        oracles,
        detail: "",
        direct: on(0..1, Catch::Every),
        turmoil: on(0..1, Catch::Every),
    }
}

const RECOVERY_DROPS_FIRST_SESSION: Planted = Planted {
    direct: on(0..3, Catch::Every),
    turmoil: on(0..3, Catch::Every),
    ..ors_bug(
        OrsBugName::RecoveryDropsFirstSession,
        "rolling-upgrade",
        &[ORS_HA],
    )
};

/// [S-ORS-ha] recovery completeness: a promoted ORS backup that skips the first session of the
/// state it read (an off-by-one) is caught on `rolling-upgrade` (100 of 100 seeds, first 0) and
/// `ors-failover` (75 of 100, first 0; those without a switchover after a flush recover nothing).
#[test]
fn s_ors_ha_catches_a_recovery_that_drops_a_session() {
    check(&RECOVERY_DROPS_FIRST_SESSION);
}

const REUSED_SESSION_IDS: Planted = Planted {
    direct: on_clean(0..3, Catch::Every, 0..3),
    turmoil: on_clean(0..3, Catch::Every, 0..3),
    ..ors_bug(OrsBugName::ReusedSessionIds, "rolling-upgrade", &[ORS_HA])
};

/// [S-ORS-ha] session ids: a promoted backup that numbers its sessions on from the state it
/// read, not past its epoch, reuses the ids of its predecessor's unflushed sessions; caught on
/// `rolling-upgrade` (99 of 100 seeds, first 0) and `ors-failover` (22 of 100, first 1). The
/// correct ORS passes the same seeds.
#[test]
fn s_ors_ha_catches_reused_session_ids() {
    check(&REUSED_SESSION_IDS);
}

const KEEPS_FIRST_TARGET: Planted = Planted {
    direct: on_clean(0..1, Catch::Every, 0..3),
    turmoil: on_clean(0..1, Catch::Every, 0..3),
    ..ors_bug(OrsBugName::KeepsFirstTarget, "ors", &[ORS_SUBMIT])
};

/// [S-ORS-submit]: a session that keeps the first agent a `queue:submit` returned routes to it
/// again after a rejected delivery, not to the agent the URS selected this time; caught on
/// `ors` (88 of 100 seeds, 93 with `--swarm --buggify`, first seed 0) and `ors-failover` (92
/// of 100). The correct ORS passes the same seeds.
#[test]
fn s_ors_submit_catches_a_route_to_a_stale_target() {
    check(&KEEPS_FIRST_TARGET);
}

const SUBMIT_ROUTE_UNHEARD: Planted = Planted {
    direct: on(0..2, Catch::Every),
    turmoil: on(0..2, Catch::Every),
    ..ors_bug(OrsBugName::SubmitRouteUnheard, "ors", &[ORS_SUBMIT])
};

/// [S-ORS-submit]: a delivery by `queue:submit` with route=true that tells the session
/// nothing; caught on `ors` and `ors-failover` (100 of 100 seeds each, 91 with `--swarm
/// --buggify`, first seed 0).
#[test]
fn s_ors_submit_catches_a_routed_submit_the_session_never_hears_of() {
    check(&SUBMIT_ROUTE_UNHEARD);
}

const FAILS_TO_ORIGIN_QUEUE: Planted = Planted {
    direct: on_clean(0..2, Catch::Every, 0..3),
    turmoil: on_clean(0..2, Catch::Every, 0..3),
    ..ors_bug(OrsBugName::FailsToOriginQueue, "ors", &[ORS_FAIL])
};

/// [S-ORS-fail]: an interaction whose session could not be created, sent back to the queue it
/// came from instead of `mcr-queue-on-fails`; caught on `ors` (92 of 100 seeds, 77 with
/// `--swarm --buggify`, first seed 0) and `ors-failover` (91 of 100). The correct ORS passes
/// the same seeds.
#[test]
fn s_ors_fail_catches_a_failed_session_sent_back_to_its_queue() {
    check(&FAILS_TO_ORIGIN_QUEUE);
}

const LOST_CONTROL_KEEPS_ASSOCIATION: Planted = Planted {
    direct: on_clean(281..282, Catch::Every, 281..282),
    turmoil: on_clean(17..18, Catch::Every, 17..18),
    ..ors_bug(OrsBugName::LostControlKeepsAssociation, "ors", &[ORS_ASSOC])
};

/// [S-ORS-assoc]: a server that keeps a session's association when the node says the
/// interaction is no longer its own hands the interaction back to that session when it pulls
/// it again. Rarely reached: the session must outlive its lost control and its instance pull
/// the interaction again (`ors` 4 of 500 seeds, first seed 17; on the direct runner 3 of 500,
/// seeds 281, 352 and 373, since it orders wakes at one instant by host). The correct ORS
/// passes it.
#[test]
fn s_ors_assoc_catches_an_association_kept_after_lost_control() {
    check(&LOST_CONTROL_KEEPS_ASSOCIATION);
}

const DETACH_BEFORE_CONFIRM: Planted = ors_bug(
    OrsBugName::DetachBeforeConfirm,
    "detach-race",
    &[ORS_DETACH],
);

/// [S-ORS-detach]: a server that detaches before the node confirmed the association.
#[test]
fn s_ors_detach_catches_detach_before_confirm() {
    check(&DETACH_BEFORE_CONFIRM);
}

const NO_FORWARDING: Planted = ors_bug(OrsBugName::NoForwarding, "ors", &[ORS_PULL]);

/// [S-ORS-pull] [S-ORS-session]: an instance that pulls an interaction parked (with its
/// association) by another instance's session must hand it over; one that starts its own
/// session instead is caught.
#[test]
fn s_ors_pull_catches_a_second_ors_taking_an_owned_interaction() {
    check(&NO_FORWARDING);
}

const EVICTION_LOSES_INTERACTION: Planted =
    ors_bug(OrsBugName::EvictionLosesInteraction, "ors", &[LIVE]);

/// [S-ORS-fail] [S-INV-live]: with om-memory-optimization, an evicted passive interaction must
/// be reloaded when it is pulled again; a server that loses it leaves it unrouted for good.
#[test]
fn s_inv_live_catches_an_interaction_lost_by_eviction() {
    check(&EVICTION_LOSES_INTERACTION);
}

const ROUTE_WITHOUT_DETACH: Planted = Planted {
    detail: "without interaction.detach.done",
    ..ors_bug(OrsBugName::RouteWithoutDetach, "detach-race", &[ORS_DETACH])
};

/// [S-ORS-detach]: `hasty` asks for detach and deliver in one go; a server that delivers
/// although the detach was refused routes before interaction.detach.done, and is caught.
#[test]
fn s_ors_detach_catches_route_without_detach() {
    check(&ROUTE_WITHOUT_DETACH);
}

const PROMOTE_WITHOUT_FENCE: Planted = Planted {
    bug: Bug::Ha(HaBugName::PromoteWithoutFence),
    scenario: "switchover",
    tweak: AS_BUILT,
    oracles: &[SWITCHOVER],
    detail: "",
    direct: on(0..5, Catch::FirstFailure),
    turmoil: on(0..5, Catch::FirstFailure),
};

/// [S-OPS-switchover]: a promotion that reads the database without taking the lock leaves a
/// deposed primary that clients still reach committing next to the new one (split brain);
/// caught on `switchover` (395 of 500 seeds, first seed 0; `tests/switchover.rs` has the
/// turmoil check too).
#[test]
fn s_ops_switchover_catches_promotion_without_fence() {
    check(&PROMOTE_WITHOUT_FENCE);
}

/// Every entry, one per planted bug.
const TABLE: &[&Planted] = &[
    &PULL_IGNORES_OWNERSHIP,
    &ACK_BEFORE_WRITE,
    &VIEW_IGNORES_PRIORITY,
    &LOGIN_IGNORES_SEATS,
    &SHRINK_KEEPS_LOGINS,
    &DELIVER_IGNORES_CAPACITY,
    &STOP_KEEPS_LOAD,
    &HOLD_IGNORES_ASKED,
    &URS_GONE_WAITS_GRACE,
    &SNAPSHOT_IGNORES_LIMIT,
    &GRACE_HALVED,
    &GRACE_DOUBLED,
    &UNREACHABLE_LOOKUP_NOT_FOUND,
    &FORGETS_RECONNECT,
    &PULL_TURN_SHARED,
    &AGENT_OPS_ONE_NODE,
    &FIND_KEEPS_LAST_ANSWER,
    &SUBMIT_IGNORES_MEDIA,
    &FORWARDS_DISABLED_MEDIA,
    &KEEPS_REFUSED_LOGINS,
    &EMPTY_SNAPSHOT_NOT_ACCESSIBLE,
    &FIND_UNSUPPORTED,
    &DISABLED_MEDIA_NOT_ACCESSIBLE,
    &DELIVER_TO_FIRST_NODE,
    &DETACH_BEFORE_CONFIRM,
    &ROUTE_WITHOUT_DETACH,
    &EVICTION_LOSES_INTERACTION,
    &NO_FORWARDING,
    &RECOVERY_DROPS_FIRST_SESSION,
    &REUSED_SESSION_IDS,
    &KEEPS_FIRST_TARGET,
    &FAILS_TO_ORIGIN_QUEUE,
    &LOST_CONTROL_KEEPS_ASSOCIATION,
    &SUBMIT_ROUTE_UNHEARD,
    &PROMOTE_WITHOUT_FENCE,
];

/// Every planted bug of every section, in declaration order.
fn every_bug() -> Vec<Bug> {
    use HaBugName as H;
    use OrsBugName as O;
    use PlantedBugName as I;
    use ProxyPlantedBug as P;
    use UrsPlantedBug as U;
    let bugs = vec![
        Bug::Is(I::PullIgnoresOwnership),
        Bug::Is(I::AckBeforeWrite),
        Bug::Is(I::ViewIgnoresPriority),
        Bug::Is(I::LoginIgnoresSeats),
        Bug::Is(I::ShrinkKeepsLogins),
        Bug::Is(I::DeliverIgnoresCapacity),
        Bug::Is(I::StopKeepsLoad),
        Bug::Is(I::HoldIgnoresAsked),
        Bug::Is(I::UrsGoneWaitsGrace),
        Bug::Is(I::SnapshotIgnoresLimit),
        Bug::Is(I::GraceHalved),
        Bug::Is(I::GraceDoubled),
        Bug::Proxy(P::UnreachableLookupNotFound),
        Bug::Proxy(P::ForgetsReconnect),
        Bug::Proxy(P::PullTurnShared),
        Bug::Proxy(P::AgentOpsOneNode),
        Bug::Proxy(P::FindKeepsLastAnswer),
        Bug::Proxy(P::SubmitIgnoresMedia),
        Bug::Proxy(P::ForwardsDisabledMedia),
        Bug::Proxy(P::KeepsRefusedLogins),
        Bug::Proxy(P::EmptySnapshotNotAccessible),
        Bug::Proxy(P::FindUnsupported),
        Bug::Proxy(P::DisabledMediaNotAccessible),
        Bug::Urs(U::DeliverToFirstNode),
        Bug::Ors(O::DetachBeforeConfirm),
        Bug::Ors(O::RouteWithoutDetach),
        Bug::Ors(O::EvictionLosesInteraction),
        Bug::Ors(O::NoForwarding),
        Bug::Ors(O::RecoveryDropsFirstSession),
        Bug::Ors(O::ReusedSessionIds),
        Bug::Ors(O::KeepsFirstTarget),
        Bug::Ors(O::FailsToOriginQueue),
        Bug::Ors(O::LostControlKeepsAssociation),
        Bug::Ors(O::SubmitRouteUnheard),
        Bug::Ha(H::PromoteWithoutFence),
    ];
    // Each bug's place in the list above: a variant added to an enum fails to compile here
    // until it has a place, and the test below fails until it is listed and has an entry.
    let place = |bug: Bug| match bug {
        Bug::Is(bug) => match bug {
            I::PullIgnoresOwnership => 0,
            I::AckBeforeWrite => 1,
            I::ViewIgnoresPriority => 2,
            I::LoginIgnoresSeats => 3,
            I::ShrinkKeepsLogins => 4,
            I::DeliverIgnoresCapacity => 5,
            I::StopKeepsLoad => 6,
            I::HoldIgnoresAsked => 7,
            I::UrsGoneWaitsGrace => 8,
            I::SnapshotIgnoresLimit => 9,
            I::GraceHalved => 10,
            I::GraceDoubled => 11,
        },
        Bug::Proxy(bug) => match bug {
            P::UnreachableLookupNotFound => 12,
            P::ForgetsReconnect => 13,
            P::PullTurnShared => 14,
            P::AgentOpsOneNode => 15,
            P::FindKeepsLastAnswer => 16,
            P::SubmitIgnoresMedia => 17,
            P::ForwardsDisabledMedia => 18,
            P::KeepsRefusedLogins => 19,
            P::EmptySnapshotNotAccessible => 20,
            P::FindUnsupported => 21,
            P::DisabledMediaNotAccessible => 22,
        },
        Bug::Urs(bug) => match bug {
            U::DeliverToFirstNode => 23,
        },
        Bug::Ors(bug) => match bug {
            O::DetachBeforeConfirm => 24,
            O::RouteWithoutDetach => 25,
            O::EvictionLosesInteraction => 26,
            O::NoForwarding => 27,
            O::RecoveryDropsFirstSession => 28,
            O::ReusedSessionIds => 29,
            O::KeepsFirstTarget => 30,
            O::FailsToOriginQueue => 31,
            O::LostControlKeepsAssociation => 32,
            O::SubmitRouteUnheard => 33,
        },
        Bug::Ha(bug) => match bug {
            H::PromoteWithoutFence => 34,
        },
    };
    for (index, bug) in bugs.iter().enumerate() {
        assert_eq!(place(*bug), index, "{bug} out of place");
    }
    bugs
}

/// The table has one entry for each planted bug, and each entry's scenario builds with it.
#[test]
fn every_planted_bug_has_one_entry() {
    let bugs = every_bug();
    for bug in &bugs {
        let entries = TABLE.iter().filter(|entry| entry.bug == *bug).count();
        assert_eq!(entries, 1, "{bug} has {entries} entries");
    }
    assert_eq!(TABLE.len(), bugs.len());
    for entry in TABLE {
        entry.scenario(true);
    }
}

/// Seeds 0..100 of every entry on both runners: how many of them catch the bug, and the first
/// that does, as a markdown table. Two threads.
#[test]
#[ignore = "minutes: runs every planted bug on 100 seeds of each runner"]
fn planted_bug_catch_rates() {
    const SEEDS: Range<u64> = 0..100;
    /// What one runner's seeds showed of one entry.
    #[derive(Default)]
    struct Rate {
        caught: Vec<u64>,
        errors: Vec<u64>,
    }
    let jobs: Vec<(usize, Runner)> = (0..TABLE.len())
        .flat_map(|entry| Runner::ALL.map(|runner| (entry, runner)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rates = std::sync::Mutex::new(std::collections::BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let job = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(index, runner)) = jobs.get(job) else {
                    break;
                };
                let entry = TABLE[index];
                let scenario = entry.scenario(true);
                let mut rate = Rate::default();
                for seed in SEEDS {
                    match ixsim::sim::run_on(runner, &scenario, seed) {
                        Ok(outcome) => {
                            let found: Vec<_> = outcome
                                .violations
                                .into_iter()
                                .map(|v| (v.oracle, v.detail))
                                .collect();
                            if entry.caught(&found) {
                                rate.caught.push(seed);
                            }
                        }
                        Err(_) => rate.errors.push(seed),
                    }
                }
                rates
                    .lock()
                    .expect("no thread panicked")
                    .insert((index, runner), rate);
            });
        }
    });
    let rates = rates.into_inner().expect("no thread panicked");
    let cell = |rate: &Rate| {
        let mut cell = match rate.caught.first() {
            Some(first) => format!("{} (first {first})", rate.caught.len()),
            None => "0".to_string(),
        };
        if !rate.errors.is_empty() {
            cell += &format!(", {} runs failed", rate.errors.len());
        }
        cell
    };
    println!(
        "| bug | scenario | oracle | caught of {n} on direct (first seed) | caught of {n} on turmoil (first seed) |",
        n = SEEDS.end - SEEDS.start
    );
    println!("|---|---|---|---|---|");
    for (index, entry) in TABLE.iter().enumerate() {
        println!(
            "| `{}` | `{}` | {} | {} | {} |",
            entry.bug,
            entry.describe_scenario(),
            entry.describe_oracles(),
            cell(&rates[&(index, Runner::Direct)]),
            cell(&rates[&(index, Runner::Turmoil)]),
        );
    }
}
