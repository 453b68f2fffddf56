//! Fault points inside the servers, after FoundationDB's BUGGIFY (issue 6, item 8).
//!
//! A [`Site`] is a place in a machine (or in the host shell) where the real product may, rarely
//! but legally, take an unusual path: a slow durable write, a short pull, a dropped cache
//! entry. Running those paths often shakes out the participants that must cope with them, and
//! every oracle must still hold, because each site is behaviour the spec allows a correct
//! server (SPEC.md); each site's doc comment says why it is legal.
//!
//! Per run, each site is *activated* with probability `activate_per_mille`, drawn from the run
//! seed only ([`Buggify::activation`]), so every host of a run agrees on which sites are live.
//! An activated site then *fires* each time it is reached with probability `fire_per_mille`,
//! drawn from the machine's own ChaCha8 stream (seeded from the run seed and the host). A
//! firing machine reports it with [`TraceEvent::Buggify`], so a failing trace names the rare
//! path that ran.
//!
//! Must not: draw a random number when off. [`Buggify::off`] (the default) never fires and
//! never touches an RNG, so runs without buggify keep their trace hashes bit for bit.

use crate::ids::SimTime;
use crate::machine::Output;
use crate::trace::TraceEvent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fault point. Adding one: give it a name, put it in [`Site::ALL`], justify it below.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Site {
    /// Host shell: a durable write (IS database, ORS persistence, the media server's mailbox)
    /// takes [`SLOW_WRITE_MS`] longer than the store's latency. Legal: the seeds bound no
    /// database latency, and a node acknowledges only after [`crate::machine::Input::Persisted`]
    /// [S-IS-durable]; writes still commit in the order issued.
    DbWriteSlow,
    /// Host shell: a machine's outgoing frames to one peer wait [`SLOW_SEND_MS`] (a GC pause, a
    /// busy server thread), in order. Legal: TCP bounds no latency; every client already has
    /// request timeouts and retries for a silent server.
    SendSlow,
    /// Proxy: forgets the cached owner node of an interaction just before routing a request
    /// about it, so it broadcasts a lookup instead. Legal: a restarted proxy has an empty cache
    /// [S-PX-cache] and must route by broadcast [S-PX-route].
    ProxyForgetOwner,
    /// Proxy: reverses a merged snapshot or find answer (never a pull). Legal: merged order is
    /// not guaranteed [S-PX-merge].
    ProxyMergeReversed,
    /// IS node: a pull asking for several returns only the first half (at least one) of what
    /// it could, still in view order. Legal: a pull returns *at most* `count` [S-IS-pull], and
    /// the rest stay pullable.
    IsPullShort,
    /// IS node: the idle sweep closes a client connection quiet for a quarter of
    /// `client_idle_timeout_ms`, not the whole of it. Legal: any connection may drop; what the
    /// client owned survives its reconnect within the grace period [S-IS-owner].
    IsIdleCloseEarly,
    /// Agent desktop: rejects an invite it would have accepted. Legal: an agent may reject
    /// [S-IS-deliver]; the interaction goes back to its router.
    AgentDeclineInvite,
    /// ORS: asks for one interaction where its room under `mcr-pull-limit` allowed more.
    /// Legal: the limit bounds what an ORS holds, not what it must ask for [S-ORS-pull]; the
    /// rest waits in the queue for the next pull.
    OrsPullOne,
}

/// Extra latency of a [`Site::DbWriteSlow`] write.
pub const SLOW_WRITE_MS: u64 = 150;
/// How long a [`Site::SendSlow`] holds a peer's frames.
pub const SLOW_SEND_MS: u64 = 120;

impl Site {
    /// Every site, in activation-draw order (never reorder: it would change which sites a seed
    /// activates).
    pub const ALL: [Site; 8] = [
        Site::DbWriteSlow,
        Site::SendSlow,
        Site::ProxyForgetOwner,
        Site::ProxyMergeReversed,
        Site::IsPullShort,
        Site::IsIdleCloseEarly,
        Site::AgentDeclineInvite,
        Site::OrsPullOne,
    ];

    /// The stable name scenarios and traces use.
    pub fn name(self) -> &'static str {
        match self {
            Site::DbWriteSlow => "db-write-slow",
            Site::SendSlow => "send-slow",
            Site::ProxyForgetOwner => "proxy-forget-owner",
            Site::ProxyMergeReversed => "proxy-merge-reversed",
            Site::IsPullShort => "is-pull-short",
            Site::IsIdleCloseEarly => "is-idle-close-early",
            Site::AgentDeclineInvite => "agent-decline-invite",
            Site::OrsPullOne => "ors-pull-one",
        }
    }

    pub fn parse(name: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|site| site.name() == name)
    }

    fn bit(self) -> u16 {
        let index = Site::ALL.iter().position(|site| *site == self);
        debug_assert!(index.is_some(), "{self:?} missing from Site::ALL");
        1 << index.unwrap_or(0)
    }
}

/// Which sites are live in a run: the same on every host.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Activation {
    bits: u16,
}

impl Activation {
    pub fn contains(self, site: Site) -> bool {
        self.bits & site.bit() != 0
    }

    pub fn sites(self) -> Vec<Site> {
        Site::ALL
            .into_iter()
            .filter(|site| self.contains(*site))
            .collect()
    }
}

/// One machine's fault points: which are live, how often they fire, and its own RNG.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Buggify {
    active: Activation,
    fire_per_mille: u32,
    /// None when off: nothing is ever drawn.
    rng: Option<ChaCha8Rng>,
    /// From this time on nothing fires (and nothing is drawn): the heal period of a run that
    /// judges liveness is free of faults, those inside the servers included.
    quiet_from_ms: Option<SimTime>,
}

impl Buggify {
    /// Never fires, never draws.
    pub fn off() -> Self {
        Buggify::default()
    }

    /// Which sites a run activates: one draw per site of [`Site::ALL`] from `run_seed` (a seed
    /// derived from the run's, the same for every host), kept if it falls below
    /// `activate_per_mille` and the site is `allowed`. Every site is drawn even when not
    /// allowed, so narrowing `allowed` leaves the others' activation as it was.
    pub fn activation(run_seed: u64, activate_per_mille: u32, allowed: &[Site]) -> Activation {
        debug_assert!(activate_per_mille <= 1000, "activate_per_mille above 1000");
        let mut rng = ChaCha8Rng::seed_from_u64(run_seed);
        let mut bits = 0;
        for site in Site::ALL {
            let draw = rng.random_range(0..1000u32);
            if draw < activate_per_mille && allowed.contains(&site) {
                bits |= site.bit();
            }
        }
        Activation { bits }
    }

    /// A machine's fault points: `active` from [`Buggify::activation`], `machine_seed` derived
    /// from the run seed and the host.
    pub fn new(active: Activation, fire_per_mille: u32, machine_seed: u64) -> Self {
        debug_assert!(fire_per_mille <= 1000, "fire_per_mille above 1000");
        if active.bits == 0 || fire_per_mille == 0 {
            return Buggify::off();
        }
        Buggify {
            active,
            fire_per_mille,
            rng: Some(ChaCha8Rng::seed_from_u64(machine_seed)),
            quiet_from_ms: None,
        }
    }

    /// The same fault points, silent from `quiet_from_ms` on.
    pub fn quiet_from(mut self, quiet_from_ms: Option<SimTime>) -> Self {
        self.quiet_from_ms = quiet_from_ms;
        self
    }

    pub fn is_off(&self) -> bool {
        self.rng.is_none()
    }

    /// Whether `site` fires this time (at `now`). Draws only for an activated site before the
    /// quiet time.
    pub fn fire(&mut self, site: Site, now: SimTime) -> bool {
        if !self.active.contains(site) || self.quiet_from_ms.is_some_and(|quiet| now >= quiet) {
            return false;
        }
        let Some(rng) = self.rng.as_mut() else {
            return false;
        };
        rng.random_range(0..1000u32) < self.fire_per_mille
    }

    /// [`Buggify::fire`], tracing the firing for the machine's output.
    pub fn fires(&mut self, site: Site, now: SimTime, out: &mut Vec<Output>) -> bool {
        let fired = self.fire(site, now);
        if fired {
            out.push(Output::Trace(TraceEvent::Buggify { site: site.name() }));
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for site in Site::ALL {
            assert_eq!(Site::parse(site.name()), Some(site), "{site:?}");
        }
        let mut names: Vec<_> = Site::ALL.iter().map(|site| site.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Site::ALL.len(), "two sites share a name");
    }

    #[test]
    fn off_never_fires() {
        let mut buggify = Buggify::off();
        assert!(Site::ALL.into_iter().all(|site| !buggify.fire(site, 0)));
        assert!(buggify.is_off());
    }

    #[test]
    fn always_activated_always_fires() {
        let active = Buggify::activation(7, 1000, &Site::ALL);
        assert_eq!(active.sites(), Site::ALL.to_vec());
        let mut buggify = Buggify::new(active, 1000, 9);
        assert!(Site::ALL.into_iter().all(|site| buggify.fire(site, 0)));
    }

    #[test]
    fn narrowing_keeps_the_other_sites_activation() {
        for seed in 0..50 {
            let all = Buggify::activation(seed, 400, &Site::ALL);
            let narrowed = Buggify::activation(seed, 400, &[Site::IsPullShort]);
            assert_eq!(
                narrowed.contains(Site::IsPullShort),
                all.contains(Site::IsPullShort)
            );
            assert!(narrowed.sites().len() <= 1);
        }
    }
}
