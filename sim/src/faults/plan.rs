//! The fault plan as data: fault actions and host sets, the scenario's random faults and
//! their seeded draws with their heals, and which faults a plan leaves unhealed.

use crate::seeds::{sub_seed, STREAM_FAULTS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One host or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostSet {
    One(String),
    Many(Vec<String>),
}

impl HostSet {
    pub fn names(&self) -> Vec<&str> {
        match self {
            HostSet::One(host) => vec![host.as_str()],
            HostSet::Many(hosts) => hosts.iter().map(String::as_str).collect(),
        }
    }
}

impl fmt::Display for HostSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// One step of the fault plan. (Unknown keys are rejected by the action's own
/// `deny_unknown_fields`: serde cannot deny them on a struct with a flattened part.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: FaultAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultAction {
    /// Kill the host's process; in-memory state is gone, the durable store stays.
    Crash {
        host: String,
    },
    /// Start a crashed host's process again.
    Start {
        host: String,
    },
    /// Crash and start at once.
    Bounce {
        host: String,
    },
    /// Drop everything between the two sets, both ways.
    Partition {
        a: HostSet,
        b: HostSet,
    },
    Repair {
        a: HostSet,
        b: HostSet,
    },
    /// Drop everything from `from` to `to` only.
    PartitionOneway {
        from: HostSet,
        to: HostSet,
    },
    RepairOneway {
        from: HostSet,
        to: HostSet,
    },
    /// Hold messages between the two sets (delivered on release).
    Hold {
        a: HostSet,
        b: HostSet,
    },
    Release {
        a: HostSet,
        b: HostSet,
    },
    /// Set the maximum message latency of every link.
    Latency {
        max_ms: u64,
    },
    /// An operator orders the supervisor to switch IS pair `pair` over (demote its primary,
    /// promote its backup) [S-OPS-switchover].
    Switchover {
        pair: u16,
    },
    /// An operator changes pair `pair`'s seats; the supervisor passes it on [S-LIC-shrink].
    SetSeats {
        pair: u16,
        seats: u32,
    },
    /// An operator stops ORS host `host` and installs `version` ("8.1.2", "8.1.3", "8.1.4"):
    /// a later `start` runs it [S-OPS-rolling].
    Upgrade {
        host: String,
        version: String,
    },
}

impl FaultAction {
    /// Every host the action names.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            FaultAction::Crash { host }
            | FaultAction::Start { host }
            | FaultAction::Bounce { host }
            | FaultAction::Upgrade { host, .. } => {
                vec![host.as_str()]
            }
            FaultAction::Partition { a, b }
            | FaultAction::Repair { a, b }
            | FaultAction::Hold { a, b }
            | FaultAction::Release { a, b } => a.names().into_iter().chain(b.names()).collect(),
            FaultAction::PartitionOneway { from, to } | FaultAction::RepairOneway { from, to } => {
                from.names().into_iter().chain(to.names()).collect()
            }
            FaultAction::Latency { .. }
            | FaultAction::Switchover { .. }
            | FaultAction::SetSeats { .. } => Vec::new(),
        }
    }

    /// A problem with the action's hosts, if any: unknown names, or a set facing itself.
    pub fn check_hosts(&self, known: &[String]) -> Result<(), String> {
        for host in self.hosts() {
            if !known.iter().any(|name| name == host) {
                return Err(format!(
                    "{self} names unknown host `{host}` (hosts: {})",
                    known.join(", ")
                ));
            }
        }
        let sides = match self {
            FaultAction::Partition { a, b }
            | FaultAction::Repair { a, b }
            | FaultAction::Hold { a, b }
            | FaultAction::Release { a, b } => Some((a, b)),
            FaultAction::PartitionOneway { from, to } | FaultAction::RepairOneway { from, to } => {
                Some((from, to))
            }
            FaultAction::Crash { .. }
            | FaultAction::Start { .. }
            | FaultAction::Bounce { .. }
            | FaultAction::Upgrade { .. }
            | FaultAction::Latency { .. }
            | FaultAction::Switchover { .. }
            | FaultAction::SetSeats { .. } => None,
        };
        if let Some((a, b)) = sides {
            if a.names().is_empty() || b.names().is_empty() {
                return Err(format!("{self}: a side names no host"));
            }
            if a.names().iter().any(|host| b.names().contains(host)) {
                return Err(format!("{self}: a host cannot be on both sides"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Crash { host } => write!(f, "crash {host}"),
            FaultAction::Start { host } => write!(f, "start {host}"),
            FaultAction::Bounce { host } => write!(f, "bounce {host}"),
            FaultAction::Partition { a, b } => write!(f, "partition {a} | {b}"),
            FaultAction::Repair { a, b } => write!(f, "repair {a} | {b}"),
            FaultAction::PartitionOneway { from, to } => {
                write!(f, "partition-oneway {from} -> {to}")
            }
            FaultAction::RepairOneway { from, to } => write!(f, "repair-oneway {from} -> {to}"),
            FaultAction::Hold { a, b } => write!(f, "hold {a} | {b}"),
            FaultAction::Release { a, b } => write!(f, "release {a} | {b}"),
            FaultAction::Latency { max_ms } => write!(f, "latency max={max_ms}ms"),
            FaultAction::Switchover { pair } => write!(f, "switchover pair={pair}"),
            FaultAction::SetSeats { pair, seats } => {
                write!(f, "set-seats pair={pair} seats={seats}")
            }
            FaultAction::Upgrade { host, version } => write!(f, "upgrade {host} to {version}"),
        }
    }
}

/// The software version each host runs from its next start (hosts not named: their
/// configured one). Written by `upgrade` actions, read by the host when it starts.
pub type Versions = std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<String, String>>>;

/// Kinds of fault the seed may draw (and the `scenario` fuzz target's inputs name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, arbitrary::Arbitrary)]
#[serde(rename_all = "kebab-case")]
pub enum RandomKind {
    Crash,
    Bounce,
    Partition,
    PartitionOneway,
    Hold,
    Latency,
    /// A manual switchover of a pair drawn from the seed (needs `[topology] backup = true`).
    Switchover,
}

/// "Random faults, N per run, of these kinds": each drawn at a time in `start_ms..end_ms` on a
/// host of `hosts`, and healed (start, repair, release, latency back) `heal_ms_min..=heal_ms_max`
/// later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    pub count: u32,
    pub kinds: Vec<RandomKind>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub heal_ms_min: u64,
    pub heal_ms_max: u64,
    /// Hosts that may be hit; empty = every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Latency (maximum, ms) during a latency fault.
    #[serde(default = "RandomFaults::spike")]
    pub latency_spike_ms: u64,
}

impl RandomFaults {
    fn spike() -> u64 {
        500
    }

    pub fn check(&self, known: &[String], duration_ms: u64) -> Result<(), String> {
        let fail = |problem: &str| Err(format!("random_faults: {problem}"));
        if self.kinds.is_empty() && self.count > 0 {
            return fail("kinds must not be empty");
        }
        if self.count > 1000 {
            return fail("count must be <= 1000");
        }
        if self.start_ms >= self.end_ms {
            return fail("start_ms must be < end_ms");
        }
        if self.heal_ms_min > self.heal_ms_max {
            return fail("heal_ms_min must be <= heal_ms_max");
        }
        if self.end_ms + self.heal_ms_max > duration_ms {
            return fail(
                "end_ms + heal_ms_max must be <= duration_ms (every fault heals in the run)",
            );
        }
        if let Some(host) = self.hosts.iter().find(|host| !known.contains(host)) {
            return fail(&format!("unknown host `{host}`"));
        }
        if self.hosts.len() == 1
            && self.kinds.iter().any(|kind| {
                matches!(
                    kind,
                    RandomKind::Partition | RandomKind::PartitionOneway | RandomKind::Hold
                )
            })
            && known.len() < 2
        {
            return fail("link faults need at least two hosts");
        }
        Ok(())
    }
}

/// The scenario's explicit faults plus the seed's random ones, in time order (explicit first at
/// equal times; draws in drawing order). `pairs` is the number of IS pairs a switchover may
/// hit.
pub fn expand(
    explicit: &[Fault],
    random: Option<&RandomFaults>,
    all_hosts: &[String],
    base_latency_max_ms: u64,
    pairs: u16,
    seed: u64,
) -> Vec<Fault> {
    let mut plan: Vec<Fault> = explicit.to_vec();
    if let Some(random) = random {
        let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, STREAM_FAULTS));
        let hosts: Vec<String> = if random.hosts.is_empty() {
            all_hosts.to_vec()
        } else {
            random.hosts.clone()
        };
        for _ in 0..random.count {
            let kind = random.kinds[rng.random_range(0..random.kinds.len())];
            let at_ms = rng.random_range(random.start_ms..random.end_ms);
            let heal_ms = at_ms + rng.random_range(random.heal_ms_min..=random.heal_ms_max);
            let host = hosts[rng.random_range(0..hosts.len())].clone();
            let others: Vec<&String> = all_hosts.iter().filter(|other| **other != host).collect();
            let other = others[rng
                .random_range(0..others.len().max(1))
                .min(others.len().saturating_sub(1))]
            .clone();
            let pair = match kind {
                RandomKind::Switchover => rng.random_range(1..=pairs.max(1)),
                _ => 0,
            };
            let (fault, heal) = fault_and_heal(
                kind,
                host,
                other,
                pair,
                random.latency_spike_ms,
                base_latency_max_ms,
            );
            plan.push(Fault {
                at_ms,
                action: fault,
            });
            if let Some(heal) = heal {
                plan.push(Fault {
                    at_ms: heal_ms,
                    action: heal,
                });
            }
        }
    }
    plan.sort_by_key(|fault| fault.at_ms);
    plan
}

/// One fault of `kind` and the action that heals it (none for a bounce or a switchover, which
/// heal themselves): `host` is hit, `other` is the far side of a partition or hold, `pair` the
/// pair a switchover names, `spike_ms` the latency of a latency fault and `base_latency_max_ms`
/// the latency its heal restores. The seed's random faults and the `scenario` fuzz target's
/// faults are both made here.
pub fn fault_and_heal(
    kind: RandomKind,
    host: String,
    other: String,
    pair: u16,
    spike_ms: u64,
    base_latency_max_ms: u64,
) -> (FaultAction, Option<FaultAction>) {
    match kind {
        RandomKind::Crash => (
            FaultAction::Crash { host: host.clone() },
            Some(FaultAction::Start { host }),
        ),
        RandomKind::Bounce => (FaultAction::Bounce { host }, None),
        RandomKind::Partition => {
            let (a, b) = (HostSet::One(host), HostSet::One(other));
            (
                FaultAction::Partition {
                    a: a.clone(),
                    b: b.clone(),
                },
                Some(FaultAction::Repair { a, b }),
            )
        }
        RandomKind::PartitionOneway => {
            let (from, to) = (HostSet::One(host), HostSet::One(other));
            (
                FaultAction::PartitionOneway {
                    from: from.clone(),
                    to: to.clone(),
                },
                Some(FaultAction::RepairOneway { from, to }),
            )
        }
        RandomKind::Hold => {
            let (a, b) = (HostSet::One(host), HostSet::One(other));
            (
                FaultAction::Hold {
                    a: a.clone(),
                    b: b.clone(),
                },
                Some(FaultAction::Release { a, b }),
            )
        }
        RandomKind::Latency => (
            FaultAction::Latency { max_ms: spike_ms },
            Some(FaultAction::Latency {
                max_ms: base_latency_max_ms,
            }),
        ),
        RandomKind::Switchover => (FaultAction::Switchover { pair }, None),
    }
}

/// What the plan leaves broken at its end: hosts still down, links still cut or held, latency
/// not back to the base. Empty when every fault is healed, which is what [S-INV-live] needs
/// before it may ask the cluster to converge (a shrunk plan may have lost a heal).
pub fn unhealed(plan: &[Fault], base_latency_max_ms: u64) -> Vec<String> {
    use std::collections::BTreeSet;
    let mut down: BTreeSet<&str> = BTreeSet::new();
    let mut latency_ms = base_latency_max_ms;
    let links = |kind: &'static str, x: &HostSet, y: &HostSet| {
        let mut links: Vec<(&'static str, String, String)> = Vec::new();
        for p in x.names() {
            for q in y.names() {
                // Two-way faults are symmetric: one key per unordered pair.
                let (p, q) = if kind != "oneway" && q < p {
                    (q, p)
                } else {
                    (p, q)
                };
                links.push((kind, p.to_string(), q.to_string()));
            }
        }
        links
    };
    let mut cut: BTreeSet<(&'static str, String, String)> = BTreeSet::new();
    for fault in plan {
        match &fault.action {
            FaultAction::Crash { host } | FaultAction::Upgrade { host, .. } => {
                down.insert(host);
            }
            FaultAction::Start { host } | FaultAction::Bounce { host } => {
                down.remove(host.as_str());
            }
            FaultAction::Partition { a, b } => cut.extend(links("partition", a, b)),
            FaultAction::Repair { a, b } => {
                for link in links("partition", a, b) {
                    cut.remove(&link);
                }
            }
            FaultAction::PartitionOneway { from, to } => {
                cut.extend(links("oneway", from, to));
            }
            FaultAction::RepairOneway { from, to } => {
                for link in links("oneway", from, to) {
                    cut.remove(&link);
                }
            }
            FaultAction::Hold { a, b } => cut.extend(links("hold", a, b)),
            FaultAction::Release { a, b } => {
                for link in links("hold", a, b) {
                    cut.remove(&link);
                }
            }
            FaultAction::Latency { max_ms } => latency_ms = *max_ms,
            FaultAction::Switchover { .. } | FaultAction::SetSeats { .. } => {}
        }
    }
    let mut broken: Vec<String> = down.iter().map(|host| format!("{host} down")).collect();
    broken.extend(cut.iter().map(|(kind, p, q)| format!("{kind} {p}-{q}")));
    if latency_ms != base_latency_max_ms {
        broken.push(format!("latency {latency_ms} ms"));
    }
    broken
}
