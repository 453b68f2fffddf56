//! [S-ORS-pull] (and [S-ORS-session] across the cluster): ORS instances pull only with
//! `mcr-pull-by-this-node`, only from their associated queue/views, never asking for more than
//! `mcr-pull-limit` minus what they hold; and no interaction is held by two ORS sessions at
//! once: one associated with a live session of one instance, pulled by another, is handed over
//! to the first, not given a session of its own. An association ends when its session ends,
//! moves it away (`associated-away`), detaches it, or the interaction leaves (delivered, control
//! lost); it dies with its process, and with the ORS's ownership at the node (released to its
//! queue after the owner grace period).
//!
//! An instance whose registration ended at the nodes (its own unregistration, or the proxy it
//! was registered through went away) controls nothing until it registers again: another
//! instance that pulls its parked interactions gets NotRegistered for a transfer and starts
//! over, writing its own session into the user data, which the instance finds when it comes
//! back (lost-control) [S-ORS-assoc]. Its holds end with its registration.

use super::{id_list, OracleInput, OrsPullRules, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::IxnId;
use ixsim_core::trace::{ReleaseReason, TraceEvent};
use std::collections::{BTreeMap, BTreeSet};

pub const ORS_PULL: &str = "S-ORS-pull";

pub fn ors_pull(input: &OracleInput<'_>) -> Vec<Violation> {
    let Some(rules) = &input.ors else {
        return Vec::new();
    };
    let mut pulls = OrsPulls {
        trace: input.trace,
        rules,
        holder: BTreeMap::new(),
        behind: BTreeMap::new(),
        violations: Vec::new(),
    };
    for entry in &input.trace.entries {
        pulls.observe(entry);
    }
    pulls.violations
}

/// The oracle's state over the trace.
struct OrsPulls<'a> {
    trace: &'a Trace,
    rules: &'a OrsPullRules,
    /// Interaction -> (ORS host, session) associated with it.
    holder: BTreeMap<IxnId, (u16, u64)>,
    /// ORS instances (client name prefixes) registered at each proxy host.
    behind: BTreeMap<u16, BTreeSet<String>>,
    violations: Vec<Violation>,
}

/// The ORS instance a client name belongs to (`ors1.2` is instance `ors1`'s).
fn instance_of(client: &str) -> &str {
    client.split('.').next().unwrap_or_default()
}

impl OrsPulls<'_> {
    fn observe(&mut self, entry: &TraceEntry) {
        let host = self.trace.host_name(entry.host);
        match &entry.event {
            TraceEvent::Pulled {
                client,
                queue,
                view,
                ixns,
            } => self.pulled(entry, client, (queue, view), ixns),
            // What a node lists again after a reconnect, or another instance hands over, may
            // add to what an ORS holds; what it asks for never does.
            TraceEvent::OrsPullAsked { count, holding }
                if count + holding > self.rules.pull_limit =>
            {
                let detail = format!(
                    "{host} asked for {count} more interactions holding {holding}; mcr-pull-limit is {}",
                    self.rules.pull_limit
                );
                self.fail(entry, detail);
            }
            TraceEvent::ClientRegistered { client } if host.starts_with("proxy") => {
                let instance = instance_of(client);
                if self.rules.hosts.contains_key(instance) {
                    let behind = self.behind.entry(entry.host).or_default();
                    behind.insert(instance.to_string());
                }
            }
            TraceEvent::ClientGone { client } => self.client_gone(client),
            TraceEvent::ProcessKilled => {
                self.holder.retain(|_, (h, _)| *h != entry.host);
                self.proxy_gone(entry.host);
            }
            TraceEvent::Released {
                ixn,
                reason: ReleaseReason::OwnerGone,
                ..
            } => {
                self.holder.remove(ixn);
            }
            TraceEvent::OrsSession { session, ixn, what } => {
                self.session(entry, *session, *ixn, what);
            }
            _ => {}
        }
    }

    fn fail(&mut self, entry: &TraceEntry, detail: String) {
        self.violations.push(Violation {
            oracle: ORS_PULL,
            at_ms: entry.at,
            detail,
        });
    }

    /// `client` pulled `ixns` from `(queue, view)`: if it is an ORS's, by the ORS's rules.
    fn pulled(
        &mut self,
        entry: &TraceEntry,
        client: &str,
        (queue, view): (&String, &String),
        ixns: &[IxnId],
    ) {
        let Some(pulls) = self.rules.hosts.get(instance_of(client)) else {
            return;
        };
        if !pulls {
            let detail = format!(
                "{client} pulled {} without mcr-pull-by-this-node",
                id_list(ixns)
            );
            self.fail(entry, detail);
        }
        if !self.rules.queues.contains(&(queue.clone(), view.clone())) {
            let detail =
                format!("{client} pulled from {queue}/{view}, which is not associated with ORS");
            self.fail(entry, detail);
        }
    }

    /// A node saw `client` go: an ORS instance's registration ended, or a proxy's (and with
    /// it, the registrations of the instances behind it).
    fn client_gone(&mut self, client: &str) {
        let instance = instance_of(client);
        if self.rules.hosts.contains_key(instance) {
            self.drop_instance(instance);
        } else if let Some(proxy) = self.trace.hosts.iter().position(|name| name == client) {
            self.proxy_gone(proxy as u16);
        }
    }

    /// The instances registered through `proxy` are registered no more.
    fn proxy_gone(&mut self, proxy: u16) {
        for instance in self.behind.remove(&proxy).unwrap_or_default() {
            self.drop_instance(&instance);
        }
    }

    /// `instance` (or its pair member `<instance>b`) controls nothing any more.
    fn drop_instance(&mut self, instance: &str) {
        let pair = format!("{instance}b");
        let trace = self.trace;
        self.holder.retain(|_, (h, _)| {
            let name = trace.host_name(*h);
            name != instance && name != pair
        });
    }

    /// Session `session` of the entry's ORS host did `what` about `ixn`.
    fn session(&mut self, entry: &TraceEntry, session: u64, ixn: IxnId, what: &str) {
        let here = (entry.host, session);
        match what {
            "session-started" | "interaction.attach.done" => {
                if let Some((other_host, other)) = self.holder.insert(ixn, here) {
                    if (other_host, other) != here {
                        let detail = format!(
                            "{} session {session} took {ixn}, which session {other} of {} holds",
                            self.trace.host_name(entry.host),
                            self.trace.host_name(other_host)
                        );
                        self.fail(entry, detail);
                    }
                }
            }
            "associated-away" | "interaction.detach.done" | "delivered" | "lost-control"
                if self.holder.get(&ixn) == Some(&here) =>
            {
                self.holder.remove(&ixn);
            }
            // A promoted backup's recovered associations may be stale (the last flush is
            // older than what happened since); one counts once the node confirms the
            // interaction is still this name's [S-ORS-ha].
            "recovered-owned" | "reloaded" => {
                self.holder.insert(ixn, here);
            }
            "session-ended" | "session-dropped" => self.holder.retain(|_, held| *held != here),
            _ => {}
        }
    }
}
