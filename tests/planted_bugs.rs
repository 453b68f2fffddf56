//! The harness tests itself: each planted bug in the IS node must be caught by the oracle that
//! names its SPEC tag, within a small range of seeds. A harness whose oracles miss these would
//! pass every sweep while finding nothing.

use ixsim::sim::faults::{Fault, FaultAction};
use ixsim::sim::oracles::{
    AGENT_CAPACITY, DURABLE, HOLD, IS_OWNER, IS_SNAPSHOT, LIC_CHECKOUT, LIC_REVOKE, LIC_SHRINK,
    LIVE, LOST, MACHINE, ORDER, ORS_ASSOC, ORS_DETACH, ORS_FAIL, ORS_HA, ORS_PULL, ORS_SUBMIT,
    OWNER, PX_2000, PX_2001, PX_2002, PX_2006, PX_AGENT, PX_DISABLED, PX_MERGE, PX_PULL, PX_ROUTE,
    URS_RR, URS_SCOPE,
};
use ixsim::sim::scenario::{OrsBugName, PlantedBugName, ProxyPlantedBug, UrsPlantedBug};
use ixsim::sim::Scenario;
use std::collections::BTreeSet;

/// The oracles that fired on the first failing seed of `seeds`, and that seed.
fn first_failure(
    scenario: &str,
    bug: &str,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, BTreeSet<&'static str>)> {
    let text = ixsim::sim::scenario::BUILT_IN
        .iter()
        .find(|(name, _)| *name == scenario)
        .map(|(_, text)| text.replace("[is]\n", &format!("[is]\nplanted_bug = \"{bug}\"\n")))
        .expect("built-in scenario");
    let scenario = Scenario::parse(scenario, &text).expect("planted scenario parses");
    for seed in seeds {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        if !outcome.violations.is_empty() {
            return Some((seed, outcome.violations.iter().map(|v| v.oracle).collect()));
        }
    }
    None
}

#[test]
fn s_inv_owner_catches_pull_that_ignores_ownership() {
    let (_, oracles) =
        first_failure("smoke", "pull-ignores-ownership", 0..3).expect("not caught in 3 seeds");
    assert!(
        oracles.contains(OWNER),
        "caught by {oracles:?}, not {OWNER}"
    );
}

#[test]
fn s_inv_order_catches_view_that_ignores_priority() {
    let (_, oracles) =
        first_failure("smoke", "view-ignores-priority", 0..5).expect("not caught in 5 seeds");
    assert!(
        oracles.contains(ORDER),
        "caught by {oracles:?}, not {ORDER}"
    );
}

#[test]
fn s_is_durable_catches_ack_before_write_under_restarts() {
    let (seed, oracles) =
        first_failure("is-restart", "ack-before-write", 0..100).expect("not caught in 100 seeds");
    assert!(
        oracles.contains(DURABLE) || oracles.contains(LOST),
        "seed {seed} caught by {oracles:?}, not {DURABLE}/{LOST}"
    );
}

#[test]
fn ack_before_write_is_invisible_without_crashes() {
    // Without a crash the early ack is harmless; an oracle firing here would be a false alarm.
    assert_eq!(first_failure("smoke", "ack-before-write", 0..5), None);
}

/// Seeds of `scenario` (with `bug` planted, `change` applied) whose run `oracle` fails, of
/// `seeds`.
fn caught_by(
    scenario: &str,
    bug: PlantedBugName,
    oracle: &str,
    seeds: std::ops::Range<u64>,
    change: impl Fn(&mut Scenario),
) -> Vec<u64> {
    let mut scenario = Scenario::load(scenario).expect("built-in scenario");
    scenario.is.planted_bug = Some(bug);
    change(&mut scenario);
    failing_seeds(&scenario, oracle, seeds)
}

/// Seeds of `seeds` whose run of `scenario` (a planted one, validated here) `oracle` fails.
fn failing_seeds(scenario: &Scenario, oracle: &str, seeds: std::ops::Range<u64>) -> Vec<u64> {
    scenario.validate().expect("planted scenario is valid");
    seeds
        .filter(|seed| {
            let outcome = ixsim::sim::run(scenario, *seed).expect("run completes");
            outcome.violations.iter().any(|v| v.oracle == oracle)
        })
        .collect()
}

/// [S-LIC-checkout]: a node that logs agents in without checking its seats (before its grant
/// came, or past it) fails every `licensing` seed tried (100 of 100 in a sweep, first seed 0).
#[test]
fn s_lic_checkout_catches_login_that_ignores_seats() {
    let caught = caught_by(
        "licensing",
        PlantedBugName::LoginIgnoresSeats,
        LIC_CHECKOUT,
        0..5,
        |_| {},
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// [S-LIC-shrink]: lowering pair 1's seats to 4 while ten agents are logged in must log six out;
/// a node that keeps them is caught.
#[test]
fn s_lic_shrink_catches_lowered_seats_that_keep_logins() {
    let lower = |scenario: &mut Scenario| {
        scenario.topology.backup = true;
        scenario.faults = vec![Fault {
            at_ms: 7000,
            action: FaultAction::SetSeats { pair: 1, seats: 4 },
        }];
    };
    let caught = caught_by(
        "licensing",
        PlantedBugName::ShrinkKeepsLogins,
        LIC_SHRINK,
        0..5,
        lower,
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// [S-URS-select]: a node that delivers to a ready agent without checking its capacity offers a
/// second interaction to an agent of capacity 1 while routers race for agents (99 of 100
/// `switchover` seeds in a sweep, first seed 0).
#[test]
fn s_urs_select_catches_deliver_that_ignores_capacity() {
    let caught = caught_by(
        "switchover",
        PlantedBugName::DeliverIgnoresCapacity,
        AGENT_CAPACITY,
        0..5,
        |_| {},
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// The capacity oracle is no false alarm: the correct node passes the same seeds.
#[test]
fn s_urs_select_passes_the_correct_node() {
    let scenario = Scenario::load("switchover").expect("built-in scenario");
    for seed in 0..5 {
        let outcome = ixsim::sim::run(&scenario, seed).expect("run completes");
        let capacity: Vec<_> = outcome
            .violations
            .iter()
            .filter(|v| v.oracle == AGENT_CAPACITY)
            .collect();
        assert!(capacity.is_empty(), "seed {seed}: {capacity:?}");
    }
}

/// [S-INV-machine]: the shells check each machine's own invariants after every input; a node
/// whose stop forgets the agent's load breaks them at the first stop (100 of 100 `smoke` seeds,
/// first seed 0), long before the stalled agent would show as a liveness failure.
#[test]
fn s_inv_machine_catches_stop_that_keeps_the_agent_load() {
    let caught = caught_by(
        "smoke",
        PlantedBugName::StopKeepsLoad,
        MACHINE,
        0..5,
        |_| {},
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// [S-IS-hold]: a node that holds a pull for its own `pull-hold-timeout` (1000 ms) instead of
/// the proxy's (800 ms) answers late, which [S-INV-live]'s settle time never notices (100 of 100
/// `cluster`, `ors` and `licensing` seeds, first seed 0).
#[test]
fn s_is_hold_catches_hold_that_ignores_the_asked_timeout() {
    let caught = caught_by(
        "cluster",
        PlantedBugName::HoldIgnoresAsked,
        HOLD,
        0..5,
        |_| {},
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// [S-URS-rr]: a node that makes a dead URS's work wait out the owner grace period instead of
/// resubmitting it at once (51 of 100 `urs-direct` seeds, first seed 1: those where urs2 held
/// work when it crashed at 3 s).
#[test]
fn s_urs_rr_catches_a_dead_urs_work_waiting_for_grace() {
    let caught = caught_by(
        "urs-direct",
        PlantedBugName::UrsGoneWaitsGrace,
        URS_RR,
        0..10,
        |_| {},
    );
    assert!(
        caught.len() >= 3 && caught.first() == Some(&1),
        "caught on {caught:?}"
    );
}

/// [S-IS-owner]: a node that gives a departed owner half the grace period takes its work back
/// while it may still be on its way back: caught on 50 of 100 `cluster-faults` seeds (34 with
/// `--swarm --buggify`), 88 of 100 `licensing-changes`, 39 of 100 `faults` and 18 of 100
/// `switchover`; first seed 0 on `cluster-faults`. The correct node passes the same seeds.
#[test]
fn s_is_owner_catches_a_grace_period_cut_short() {
    let clean = Scenario::load("cluster-faults").expect("built-in scenario");
    assert_eq!(failing_seeds(&clean, IS_OWNER, 0..4), Vec::<u64>::new());
    let caught = caught_by(
        "cluster-faults",
        PlantedBugName::GraceHalved,
        IS_OWNER,
        0..4,
        |_| {},
    );
    assert_eq!(caught.first(), Some(&0), "caught on {caught:?}");
    assert!(caught.len() >= 2, "caught on {caught:?}");
}

/// [S-IS-owner]'s late bound: a node that keeps a departed owner's work for twice the grace
/// period releases it late; caught on 39 of 100 `faults` seeds (23 with `--swarm --buggify`),
/// 34 of 100 `urs-direct`, 42 of 100 `cluster-faults`, 15 of 100 `switchover`; first seed 0
/// on `faults`. The correct node passes the same seeds.
#[test]
fn s_is_owner_catches_a_release_after_the_grace_period() {
    let clean = Scenario::load("faults").expect("built-in scenario");
    assert_eq!(failing_seeds(&clean, IS_OWNER, 0..2), Vec::<u64>::new());
    let caught = caught_by(
        "faults",
        PlantedBugName::GraceDoubled,
        IS_OWNER,
        0..1,
        |_| {},
    );
    assert_eq!(caught, vec![0]);
}

/// The time-bound oracles are no false alarms on the correct node, also under swarm.
#[test]
fn time_bounds_pass_the_correct_node() {
    for name in ["cluster", "urs-direct", "licensing-changes"] {
        let scenario = Scenario::load(name).expect("built-in scenario");
        for seed in 0..3 {
            let (swarmed, _) = ixsim::scenario_for_seed(&scenario, seed, true);
            let outcome = ixsim::sim::run(&swarmed, seed).expect("run completes");
            let timed: Vec<_> = outcome
                .violations
                .iter()
                .filter(|v| v.oracle == HOLD || v.oracle == URS_RR)
                .collect();
            assert!(timed.is_empty(), "{name} seed {seed}: {timed:?}");
        }
    }
}

/// [S-PX-2002] in whole-cluster runs: a proxy that never marks a reconnected node connected
/// refuses its work with 2002 while the connection is up (100 of 100 `licensing-changes`
/// seeds, 94 of 100 `cluster-faults` by S-PX-2002 first; first seed 0).
#[test]
fn s_px_2002_catches_a_proxy_that_forgets_a_reconnect() {
    let mut scenario = Scenario::load("licensing-changes").expect("built-in scenario");
    scenario.proxy.planted_bug = Some(ProxyPlantedBug::ForgetsReconnect);
    assert_eq!(failing_seeds(&scenario, PX_2002, 0..3), vec![0, 1, 2]);
}

/// [S-IS-snapshot] / [S-PX-merge]: a node that ignores `max-interactions-per-snapshot` puts more
/// than its 4 into the `reporting` client's snapshots (100 of 100 seeds, first seed 0).
#[test]
fn s_is_snapshot_catches_a_snapshot_past_the_node_limit() {
    let caught = caught_by(
        "reporting",
        PlantedBugName::SnapshotIgnoresLimit,
        IS_SNAPSHOT,
        0..5,
        |_| {},
    );
    assert_eq!(caught, vec![0, 1, 2, 3, 4]);
}

/// [S-ORS-ha] recovery completeness: a promoted ORS backup that skips the first session of the
/// state it read (an off-by-one) is caught on `rolling-upgrade` (100 of 100 seeds, first 0) and
/// `ors-failover` (75 of 100, first 0; those without a switchover after a flush recover nothing).
#[test]
fn s_ors_ha_catches_a_recovery_that_drops_a_session() {
    let mut scenario = Scenario::load("rolling-upgrade").expect("built-in scenario");
    scenario.ors.as_mut().expect("ORS scenario").planted_bug =
        Some(OrsBugName::RecoveryDropsFirstSession);
    assert_eq!(failing_seeds(&scenario, ORS_HA, 0..3), vec![0, 1, 2]);
}

/// [S-ORS-ha] session ids: a promoted backup that numbers its sessions on from the state it
/// read, not past its epoch, reuses the ids of its predecessor's unflushed sessions; caught on
/// `rolling-upgrade` (99 of 100 seeds, first 0) and `ors-failover` (22 of 100, first 1). The
/// correct ORS passes the same seeds.
#[test]
fn s_ors_ha_catches_reused_session_ids() {
    let mut scenario = Scenario::load("rolling-upgrade").expect("built-in scenario");
    assert_eq!(failing_seeds(&scenario, ORS_HA, 0..3), Vec::<u64>::new());
    scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(OrsBugName::ReusedSessionIds);
    assert_eq!(failing_seeds(&scenario, ORS_HA, 0..3), vec![0, 1, 2]);
}

/// [S-ORS-submit]: a session that keeps the first agent a `queue:submit` returned routes to it
/// again after a rejected delivery, not to the agent the URS selected this time; caught on
/// `ors` (88 of 100 seeds, 93 with `--swarm --buggify`, first seed 0) and `ors-failover` (92
/// of 100). The correct ORS passes the same seeds.
#[test]
fn s_ors_submit_catches_a_route_to_a_stale_target() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    assert_eq!(
        failing_seeds(&scenario, ORS_SUBMIT, 0..3),
        Vec::<u64>::new()
    );
    scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(OrsBugName::KeepsFirstTarget);
    assert_eq!(failing_seeds(&scenario, ORS_SUBMIT, 0..1), vec![0]);
}

/// [S-ORS-submit]: a delivery by `queue:submit` with route=true that tells the session
/// nothing; caught on `ors` and `ors-failover` (100 of 100 seeds each, 91 with `--swarm
/// --buggify`, first seed 0).
#[test]
fn s_ors_submit_catches_a_routed_submit_the_session_never_hears_of() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(OrsBugName::SubmitRouteUnheard);
    assert_eq!(failing_seeds(&scenario, ORS_SUBMIT, 0..2), vec![0, 1]);
}

/// [S-ORS-fail]: an interaction whose session could not be created, sent back to the queue it
/// came from instead of `mcr-queue-on-fails`; caught on `ors` (92 of 100 seeds, 77 with
/// `--swarm --buggify`, first seed 0) and `ors-failover` (91 of 100). The correct ORS passes
/// the same seeds.
#[test]
fn s_ors_fail_catches_a_failed_session_sent_back_to_its_queue() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    assert_eq!(failing_seeds(&scenario, ORS_FAIL, 0..3), Vec::<u64>::new());
    scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(OrsBugName::FailsToOriginQueue);
    assert_eq!(failing_seeds(&scenario, ORS_FAIL, 0..2), vec![0, 1]);
}

/// [S-ORS-assoc]: a server that keeps a session's association when the node says the
/// interaction is no longer its own hands the interaction back to that session when it pulls
/// it again. Rarely reached: the session must outlive its lost control and its instance pull
/// the interaction again (`ors` 4 of 500 seeds, first seed 17). The correct ORS passes it.
#[test]
fn s_ors_assoc_catches_an_association_kept_after_lost_control() {
    let mut scenario = Scenario::load("ors").expect("built-in scenario");
    assert_eq!(
        failing_seeds(&scenario, ORS_ASSOC, 17..18),
        Vec::<u64>::new()
    );
    scenario.ors.as_mut().expect("ORS scenario").planted_bug =
        Some(OrsBugName::LostControlKeepsAssociation);
    assert_eq!(failing_seeds(&scenario, ORS_ASSOC, 17..18), vec![17]);
}

/// Built-in `scenario` passes `oracle` on seeds 0..3 with the correct proxy, and fails it on
/// each of them with `[proxy] planted_bug = bug`.
fn proxy_bug_caught_on_seeds_0_to_2(scenario: &str, bug: ProxyPlantedBug, oracle: &str) {
    let mut scenario = Scenario::load(scenario).expect("built-in scenario");
    assert_eq!(failing_seeds(&scenario, oracle, 0..3), Vec::<u64>::new());
    scenario.proxy.planted_bug = Some(bug);
    assert_eq!(failing_seeds(&scenario, oracle, 0..3), vec![0, 1, 2]);
}

/// [S-PX-pull] round-robin: a proxy with one turn for all its pulls (instead of one per puller
/// and queue/view) sends a puller's pulls wherever the other pullers left the turn; the `ors`
/// scenario's two ORS servers and router pull three queues through one proxy (see the README
/// for the catch rates). The correct proxy passes the same seeds.
#[test]
fn s_px_pull_catches_a_proxy_with_one_turn_for_all_pulls() {
    proxy_bug_caught_on_seeds_0_to_2("ors", ProxyPlantedBug::PullTurnShared, PX_PULL);
}

/// [S-PX-agent]: a proxy that sends agent requests to one node of the tenant (and acks on
/// its answer) leaves the agent unknown to the other nodes; caught on `cluster`,
/// `cluster-faults`, `licensing-changes` and `reporting` (100 of 100 seeds each, first seed 0;
/// `cluster-faults` with `--swarm --buggify` 54 of 100, the rest drawing one node). The correct
/// proxy passes the same seeds.
#[test]
fn s_px_agent_catches_agent_requests_sent_to_one_node() {
    proxy_bug_caught_on_seeds_0_to_2("cluster-faults", ProxyPlantedBug::AgentOpsOneNode, PX_AGENT);
}

/// [S-PX-merge] for finds: a proxy whose merge keeps only the last node's answer to a find
/// leaves out the other node's VIP interactions, though that node gave fewer than it was
/// asked for; caught on `reporting` (100 of 100 seeds, 96 with `--swarm --buggify`, first
/// seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_merge_catches_a_find_that_keeps_one_answer() {
    proxy_bug_caught_on_seeds_0_to_2("reporting", ProxyPlantedBug::FindKeepsLastAnswer, PX_MERGE);
}

/// [S-PX-route]: a proxy that routes submits by tenant alone sends chats to the node that
/// takes only e-mail; caught on `proxy-errors` (97 of 100 seeds, 66 with `--swarm
/// --buggify`, first seed 0; the seeds it misses sent no chat to that node). The correct proxy
/// passes the same seeds.
#[test]
fn s_px_route_catches_submits_routed_by_tenant_alone() {
    proxy_bug_caught_on_seeds_0_to_2(
        "proxy-errors",
        ProxyPlantedBug::SubmitIgnoresMedia,
        PX_ROUTE,
    );
}

/// [S-PX-disabled]: a proxy that passes a submit of a disabled media type on to a node;
/// caught on `proxy-errors`, whose prober submits one (100 of 100 seeds, first seed 0). The
/// correct proxy passes the same seeds.
#[test]
fn s_px_disabled_catches_a_disabled_media_type_passed_on() {
    proxy_bug_caught_on_seeds_0_to_2(
        "proxy-errors",
        ProxyPlantedBug::ForwardsDisabledMedia,
        PX_DISABLED,
    );
}

/// [S-PX-2001]: a proxy that refuses a submit of a disabled media type with 2003 instead of
/// 2001; caught on `proxy-errors`, whose prober submits one (100 of 100 seeds, and 100 with
/// `--swarm --buggify`, first seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_2001_catches_a_disabled_media_type_refused_with_another_code() {
    proxy_bug_caught_on_seeds_0_to_2(
        "proxy-errors",
        ProxyPlantedBug::DisabledMediaNotAccessible,
        PX_2001,
    );
}

/// [S-LIC-revoke]: a proxy that keeps the logins other nodes took when one node refused it
/// for want of a seat; caught on `licensing` (100 of 100 seeds, 61 with `--swarm --buggify`,
/// first seed 0) when the agent tries again on the same connection. The correct proxy passes
/// the same seeds.
#[test]
fn s_lic_revoke_catches_a_refused_login_kept_on_other_nodes() {
    proxy_bug_caught_on_seeds_0_to_2("licensing", ProxyPlantedBug::KeepsRefusedLogins, LIC_REVOKE);
}

/// [S-PX-2006]: a proxy that takes a node's empty snapshot answer for no answer refuses the
/// snapshot with 2006 while every node answered; caught on `reporting` (92 of 100 seeds, 55
/// with `--swarm --buggify`, first seed 0). The correct proxy passes the same seeds.
#[test]
fn s_px_2006_catches_a_snapshot_refused_while_every_node_answered() {
    proxy_bug_caught_on_seeds_0_to_2(
        "reporting",
        ProxyPlantedBug::EmptySnapshotNotAccessible,
        PX_2006,
    );
}

/// [S-PX-2000]: a proxy that refuses finds by user data as unsupported; caught on
/// `reporting` (100 of 100 seeds, and 100 with `--swarm --buggify`, first seed 0). The
/// correct proxy passes the same seeds.
#[test]
fn s_px_2000_catches_a_served_request_refused_as_unsupported() {
    proxy_bug_caught_on_seeds_0_to_2("reporting", ProxyPlantedBug::FindUnsupported, PX_2000);
}

/// [S-URS-scope]: a URS in direct mode that sends each delivery to the first connected node
/// instead of the node that raised the request; caught on `urs-direct` (100 of 100 seeds, and
/// 100 with `--swarm --buggify`, first seed 0). The correct URS passes the same seeds.
#[test]
fn s_urs_scope_catches_a_delivery_sent_to_another_node() {
    let mut scenario = Scenario::load("urs-direct").expect("built-in scenario");
    assert_eq!(failing_seeds(&scenario, URS_SCOPE, 0..3), Vec::<u64>::new());
    scenario.urs.as_mut().expect("URS scenario").planted_bug =
        Some(UrsPlantedBug::DeliverToFirstNode);
    assert_eq!(failing_seeds(&scenario, URS_SCOPE, 0..3), vec![0, 1, 2]);
}

/// Seed 0 of built-in `scenario` with `[ors] planted_bug = bug`: the oracles that fired, with
/// what they said.
fn ors_planted(scenario: &str, bug: OrsBugName) -> Vec<(&'static str, String)> {
    let mut scenario = Scenario::load(scenario).expect("built-in scenario");
    scenario.ors.as_mut().expect("ORS scenario").planted_bug = Some(bug);
    let outcome = ixsim::sim::run(&scenario, 0).expect("run completes");
    outcome
        .violations
        .into_iter()
        .map(|v| (v.oracle, v.detail))
        .collect()
}

/// [S-ORS-detach]: a server that detaches before the node confirmed the association.
#[test]
fn s_ors_detach_catches_detach_before_confirm() {
    let found = ors_planted("detach-race", OrsBugName::DetachBeforeConfirm);
    assert!(found.iter().any(|(o, _)| *o == ORS_DETACH), "{found:?}");
}

/// [S-ORS-pull] [S-ORS-session]: an instance that pulls an interaction parked (with its
/// association) by another instance's session must hand it over; one that starts its own
/// session instead is caught.
#[test]
fn s_ors_pull_catches_a_second_ors_taking_an_owned_interaction() {
    let found = ors_planted("ors", OrsBugName::NoForwarding);
    assert!(found.iter().any(|(o, _)| *o == ORS_PULL), "{found:?}");
}

/// [S-ORS-fail] [S-INV-live]: with om-memory-optimization, an evicted passive interaction must
/// be reloaded when it is pulled again; a server that loses it leaves it unrouted for good.
#[test]
fn s_inv_live_catches_an_interaction_lost_by_eviction() {
    let found = ors_planted("ors", OrsBugName::EvictionLosesInteraction);
    assert!(found.iter().any(|(o, _)| *o == LIVE), "{found:?}");
}

/// [S-ORS-detach]: `hasty` asks for detach and deliver in one go; a server that delivers
/// although the detach was refused routes before interaction.detach.done, and is caught.
#[test]
fn s_ors_detach_catches_route_without_detach() {
    let found = ors_planted("detach-race", OrsBugName::RouteWithoutDetach);
    assert!(
        found
            .iter()
            .any(|(o, d)| *o == ORS_DETACH && d.contains("without interaction.detach.done")),
        "{found:?}"
    );
}
