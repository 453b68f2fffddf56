//! Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): instead of running every seed
//! with every feature on, each seed first draws which fault kinds, how many faults, how big a
//! topology, which workload mix and which options it runs with. A run that has only crashes
//! and holds, or two agents and a flood of chats, reaches states that the full mix almost never
//! does, because the other features keep interrupting it.
//!
//! A scenario says which dimensions may vary in its `[swarm]` section; without one, `--swarm`
//! varies the dimensions that [`SwarmOptions::default_for`] derives from the scenario itself.
//! Every drawn dimension is checked against the scenario's validation: a value the scenario
//! cannot honour (an agent a fault names, a pair a node option needs) is put back, and the
//! draw says so. The draws come from their own stream of the seed, so the same seed always
//! swarms the same way.
//!
//! Must not: change the scenario when swarm is off; draw from anything but the seed.

use crate::faults::plan::RandomKind;
use crate::scenario::{PullModeName, Scenario};
pub use crate::scenario::{Span, SwarmOptions};
use crate::seeds::{sub_seed, STREAM_SWARM};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;

/// One drawn dimension: what it became, or that the scenario could not take it.
struct Draws {
    rng: ChaCha8Rng,
    said: String,
}

impl Draws {
    fn span(&mut self, span: Span) -> u64 {
        let (low, high) = (span[0].min(span[1]), span[0].max(span[1]));
        self.rng.random_range(low..=high)
    }

    fn coin(&mut self) -> bool {
        self.rng.random_bool(0.5)
    }

    /// A random non-empty subset of `items`, in their order.
    fn subset<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mut keep: Vec<bool> = items.iter().map(|_| self.rng.random_bool(0.5)).collect();
        if !keep.iter().any(|k| *k) && !keep.is_empty() {
            let index = self.rng.random_range(0..keep.len());
            keep[index] = true;
        }
        items
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(item, _)| item.clone())
            .collect()
    }

    /// Applies `change` to `scenario` and keeps it if the scenario still validates.
    fn try_apply(
        &mut self,
        scenario: &mut Scenario,
        name: &str,
        shown: String,
        change: impl FnOnce(&mut Scenario),
    ) {
        let mut candidate = scenario.clone();
        change(&mut candidate);
        if candidate == *scenario {
            return;
        }
        if candidate.validate().is_ok() {
            *scenario = candidate;
            let _ = write!(self.said, " {name}={shown}");
        } else {
            let _ = write!(self.said, " {name}=({shown}: kept)");
        }
    }
}

impl Draws {
    /// A dimension drawn from `span` when it varies, kept within `low..=high`.
    fn number(
        &mut self,
        out: &mut Scenario,
        name: &str,
        span: Option<Span>,
        (low, high): (u64, u64),
        set: impl FnOnce(&mut Scenario, u64),
    ) {
        if let Some(span) = span {
            let value = self.span(span).clamp(low, high);
            self.try_apply(out, name, value.to_string(), |s| set(s, value));
        }
    }

    /// An option on or off, when it varies.
    fn toggle(
        &mut self,
        out: &mut Scenario,
        name: &str,
        varies: bool,
        set: impl FnOnce(&mut Scenario, bool),
    ) {
        if varies {
            let on = self.coin();
            self.try_apply(out, name, on.to_string(), |s| set(s, on));
        }
    }
}

/// The scenario seed `seed` runs under swarm testing, and a one-line account of what it drew
/// (e.g. `swarm: agents=3 fault_kinds=[crash,hold] fault_count=2`).
pub fn swarm(scenario: &Scenario, seed: u64) -> (Scenario, String) {
    let options = scenario
        .swarm
        .clone()
        .unwrap_or_else(|| SwarmOptions::default_for(scenario));
    let mut draws = Draws {
        rng: ChaCha8Rng::seed_from_u64(sub_seed(seed, STREAM_SWARM)),
        said: "swarm:".to_string(),
    };
    let mut out = scenario.clone();
    draw_faults(&options, &mut draws, &mut out);
    draw_topology(&options, &mut draws, &mut out);
    draw_workload(&options, &mut draws, &mut out);
    draw_options(&options, &mut draws, &mut out);
    (out, draws.said)
}

fn draw_faults(options: &SwarmOptions, draws: &mut Draws, out: &mut Scenario) {
    let Some(random) = out.random_faults.clone() else {
        return;
    };
    if options.fault_kinds {
        let kinds = draws.subset(&random.kinds);
        let shown = kind_names(&kinds);
        draws.try_apply(out, "fault_kinds", shown, |s| {
            if let Some(r) = s.random_faults.as_mut() {
                r.kinds = kinds;
            }
        });
    }
    draws.number(
        out,
        "fault_count",
        options.fault_count,
        (0, 1000),
        |s, n| {
            if let Some(r) = s.random_faults.as_mut() {
                r.count = n as u32;
            }
        },
    );
}

fn kind_names(kinds: &[RandomKind]) -> String {
    let names: Vec<String> = kinds
        .iter()
        .map(|kind| {
            toml::Value::try_from(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{kind:?}"))
        })
        .collect();
    format!("[{}]", names.join(","))
}

fn draw_topology(options: &SwarmOptions, draws: &mut Draws, out: &mut Scenario) {
    let (agents, pairs, proxies) = (options.agents, options.pairs, options.proxies);
    draws.number(out, "agents", agents, (1, u64::from(u32::MAX)), |s, n| {
        s.topology.agents = n as u32;
    });
    draws.number(out, "pairs", pairs, (1, 64), |s, n| {
        s.topology.pairs = n as u16
    });
    draws.number(out, "proxies", proxies, (0, 16), |s, n| {
        s.topology.proxies = n as u32;
    });
}

fn draw_workload(options: &SwarmOptions, draws: &mut Draws, out: &mut Scenario) {
    let interactions = options.interactions;
    draws.number(out, "interactions", interactions, (0, 1_000_000), |s, n| {
        s.workload.interactions = n as u32;
    });
    draws.number(
        out,
        "mean_gap_ms",
        options.mean_gap_ms,
        (0, u64::MAX),
        |s, n| {
            s.workload.mean_gap_ms = n;
        },
    );
    if options.media {
        let media = draws.subset(&out.workload.media);
        let shown = format!("[{}]", media.join(","));
        draws.try_apply(out, "media", shown, |s| s.workload.media = media);
    }
    if options.priorities {
        let mut priorities = draws.subset(&out.workload.priorities);
        priorities.shuffle(&mut draws.rng);
        let shown = format!("{priorities:?}").replace(' ', "");
        draws.try_apply(out, "priorities", shown, |s| {
            s.workload.priorities = priorities;
        });
    }
    draws.number(
        out,
        "vip_per_mille",
        options.vip_per_mille,
        (0, 1000),
        |s, n| {
            s.workload.vip_per_mille = n as u32;
        },
    );
}

fn draw_options(options: &SwarmOptions, draws: &mut Draws, out: &mut Scenario) {
    let accept = options.accept_per_mille;
    draws.number(out, "accept_per_mille", accept, (0, 1000), |s, n| {
        s.agents.accept_per_mille = n as u32;
    });
    let capacity = options.agent_capacity;
    draws.number(
        out,
        "agent_capacity",
        capacity,
        (1, u64::from(u32::MAX)),
        |s, n| {
            s.is.agent_capacity = n as u32;
        },
    );
    if options.pull_mode {
        let (mode, shown) = if draws.coin() {
            (PullModeName::Ordered, "ordered")
        } else {
            (PullModeName::RoundRobin, "round-robin")
        };
        draws.try_apply(out, "pull_mode", shown.to_string(), |s| {
            s.proxy.pull_mode = mode;
        });
    }
    let reroute = options.new_session_on_reroute;
    draws.toggle(out, "new_session_on_reroute", reroute, |s, on| {
        if let Some(ors) = s.ors.as_mut() {
            ors.new_session_on_reroute = on;
        }
    });
    let memory = options.om_memory_optimization;
    draws.toggle(out, "om_memory_optimization", memory, |s, on| {
        if let Some(ors) = s.ors.as_mut() {
            ors.om_memory_optimization = on;
        }
    });
    draws.toggle(
        out,
        "agent_reservation",
        options.agent_reservation,
        |s, on| {
            if let Some(urs) = s.urs.as_mut() {
                urs.agent_reservation = on;
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_is_a_function_of_the_seed() {
        let scenario = Scenario::load("cluster-faults").expect("built-in");
        let (a, said_a) = swarm(&scenario, 5);
        let (b, said_b) = swarm(&scenario, 5);
        assert_eq!(a, b);
        assert_eq!(said_a, said_b);
        let differ = (0..20).any(|seed| swarm(&scenario, seed).0 != a);
        assert!(differ, "twenty seeds all swarmed like seed 5");
    }

    #[test]
    fn swarmed_scenarios_stay_valid_and_within_bounds() {
        for (name, _) in crate::scenario::BUILT_IN {
            let scenario = Scenario::load(name).expect("built-in");
            for seed in 0..30 {
                let (out, said) = swarm(&scenario, seed);
                out.validate()
                    .unwrap_or_else(|e| panic!("{name} seed {seed} ({said}): {e}"));
                assert!(out.topology.agents <= scenario.topology.agents, "{said}");
                if let (Some(before), Some(after)) = (&scenario.random_faults, &out.random_faults) {
                    assert!(after.kinds.iter().all(|k| before.kinds.contains(k)));
                    assert!(after.count <= before.count * 2, "{said}");
                }
            }
        }
    }

    #[test]
    fn a_swarm_section_limits_what_varies() {
        let mut scenario = Scenario::load("cluster-faults").expect("built-in");
        scenario.swarm = Some(SwarmOptions {
            agents: Some([2, 2]),
            ..SwarmOptions::default()
        });
        for seed in 0..10 {
            let (out, said) = swarm(&scenario, seed);
            assert_eq!(out.topology.agents, 2, "{said}");
            let mut same = out.clone();
            same.topology.agents = scenario.topology.agents;
            assert_eq!(same, scenario, "only agents may vary: {said}");
        }
    }
}
