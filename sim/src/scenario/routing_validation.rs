//! Validation of the routing sections, in this order: the `[[strategies]]` ORS sessions run,
//! `[urs]` (instances, target lists, direct-mode strategies), the queues' direct-mode
//! strategies, and `[ors]` (instances, releases, HA and persistence, session limits, its
//! queues). Part of [`Scenario::validate`]; the first problem found is the message.

use super::{OrsOptions, Scenario, UrsOptions};
use ixsim_core::ors::server::OrsVersion;
use ixsim_core::ors::strategy::{Action, Strategy};
use std::collections::BTreeSet;

impl Scenario {
    /// Strategies, then `[urs]`, then direct-mode queues, then `[ors]`.
    pub(super) fn validate_routing(&self) -> Result<(), String> {
        self.validate_strategies()?;
        if let Some(urs) = &self.urs {
            self.validate_urs(urs)?;
        }
        self.validate_queue_strategies()?;
        let Some(ors) = &self.ors else {
            return Ok(());
        };
        self.validate_ors(ors)?;
        self.validate_ors_queues(ors)
    }

    /// Every strategy named once, valid against the URS target lists, with a `[urs]` section
    /// when it submits to queues or delivers, and naming only strategies and queues that exist.
    fn validate_strategies(&self) -> Result<(), String> {
        let target_lists: Vec<String> = self
            .urs
            .iter()
            .flat_map(|urs| urs.targets.iter().map(|t| t.name.clone()))
            .collect();
        let mut names = BTreeSet::new();
        for strategy in &self.strategies {
            if !names.insert(strategy.name.as_str()) {
                return Err(format!("strategy `{}` defined twice", strategy.name));
            }
            strategy.validate(&target_lists)?;
            let needs_urs = strategy
                .actions()
                .any(|action| matches!(action, Action::QueueSubmit { .. } | Action::Deliver));
            if needs_urs && self.urs.is_none() {
                return Err(format!(
                    "strategy `{}`: queue-submit and deliver need a [urs] section",
                    strategy.name
                ));
            }
            self.validate_strategy_references(strategy)?;
        }
        Ok(())
    }

    /// The strategies a strategy associates with, and the queues it redirects to, exist.
    fn validate_strategy_references(&self, strategy: &Strategy) -> Result<(), String> {
        for action in strategy.actions() {
            let queue = match action {
                Action::Redirect { queue } => queue,
                Action::Associate { strategy: other } => {
                    if !self.strategies.iter().any(|s| &s.name == other) {
                        return Err(format!(
                            "strategy `{}` associates with unknown strategy `{other}`",
                            strategy.name
                        ));
                    }
                    continue;
                }
                _ => continue,
            };
            if !self.queues.iter().any(|q| &q.name == queue) {
                return Err(format!(
                    "strategy `{}` redirects to unknown queue `{queue}`",
                    strategy.name
                ));
            }
        }
        Ok(())
    }

    /// `[urs]`: instances and reservation, target lists of existing agents, something to
    /// serve (ORS or direct-mode queues), and direct-mode strategies on known target lists
    /// and instances.
    fn validate_urs(&self, urs: &UrsOptions) -> Result<(), String> {
        if !(1..=8).contains(&urs.instances) || urs.reservation_ms == 0 {
            return Err("urs.instances must be in 1..=8 and urs.reservation_ms > 0".into());
        }
        for target in &urs.targets {
            if let Some(agent) = target
                .agents
                .iter()
                .find(|agent| !(1..=self.topology.agents).contains(*agent))
            {
                return Err(format!(
                    "urs.targets `{}`: agent {agent} is not in 1..={}",
                    target.name, self.topology.agents
                ));
            }
        }
        let direct = self.queues.iter().any(|q| q.strategy.is_some());
        if self.ors.is_none() && !direct {
            return Err(
                "[urs] needs an [ors] section or queues with a strategy (direct mode)".into(),
            );
        }
        for strategy in &urs.strategies {
            if !urs.targets.iter().any(|t| t.name == strategy.targets) {
                return Err(format!(
                    "urs.strategies `{}`: unknown target list `{}`",
                    strategy.name, strategy.targets
                ));
            }
            if let Some(n) = strategy
                .instances
                .iter()
                .find(|n| !(1..=urs.instances).contains(*n))
            {
                return Err(format!(
                    "urs.strategies `{}`: no URS instance {n}",
                    strategy.name
                ));
            }
        }
        Ok(())
    }

    /// Direct mode: a queue's strategy is loaded by some URS.
    fn validate_queue_strategies(&self) -> Result<(), String> {
        for queue in &self.queues {
            let Some(strategy) = &queue.strategy else {
                continue;
            };
            let loaded = self
                .urs
                .as_ref()
                .is_some_and(|urs| urs.strategies.iter().any(|s| &s.name == strategy));
            if !loaded {
                return Err(format!(
                    "queue `{}`: strategy `{strategy}` is not loaded by any URS ([urs] strategies)",
                    queue.name
                ));
            }
        }
        Ok(())
    }

    /// `[ors]` options: instances and pull limit, the fallback queue, releases, HA sync and
    /// persistence, session limits.
    fn validate_ors(&self, ors: &OrsOptions) -> Result<(), String> {
        if !(1..=16).contains(&ors.instances) || ors.pull_limit == 0 {
            return Err("ors.instances must be in 1..=16 and ors.pull_limit > 0".into());
        }
        if let Some(queue) = &ors.queue_on_fails {
            if !self.queues.iter().any(|q| &q.name == queue) {
                return Err(format!("ors.queue_on_fails: unknown queue `{queue}`"));
            }
        }
        if let Some(version) = ors
            .versions
            .iter()
            .find(|version| OrsVersion::parse(version).is_none())
        {
            return Err(format!(
                "ors.versions: unknown release `{version}` (8.1.2, 8.1.3 or 8.1.4)"
            ));
        }
        if ors.persistence && !ors.backup {
            return Err("ors.persistence needs ors.backup = true".into());
        }
        if ors.backup_synch_max_age_ms == 0 || ors.backup_synch_max_buffer == 0 {
            return Err(
                "ors.backup_synch_max_age_ms and ors.backup_synch_max_buffer must be > 0".into(),
            );
        }
        if ors.max_sessions == Some(0) || ors.idle_session_ttl_ms == Some(0) {
            return Err("ors.max_sessions and ors.idle_session_ttl_ms must be > 0".into());
        }
        Ok(())
    }

    /// `ors.queues`: known queue/view combinations and strategies, none the router pulls.
    fn validate_ors_queues(&self, ors: &OrsOptions) -> Result<(), String> {
        for queue in &ors.queues {
            let known = self.queues.iter().find(|q| q.name == queue.queue);
            if !known.is_some_and(|q| q.views.iter().any(|v| v.name == queue.view)) {
                return Err(format!(
                    "ors.queues: unknown queue/view {}/{}",
                    queue.queue, queue.view
                ));
            }
            if !self.strategies.iter().any(|s| s.name == queue.strategy) {
                return Err(format!("ors.queues: unknown strategy `{}`", queue.strategy));
            }
        }
        // Seed 000: no other routing client may process ORS queues.
        if ors.queues.iter().any(|q| q.queue == self.router.queue) {
            return Err(format!(
                "router.queue `{}` is associated with ORS; routers may not pull ORS queues",
                self.router.queue
            ));
        }
        Ok(())
    }
}
