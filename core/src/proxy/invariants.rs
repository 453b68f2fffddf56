//! The proxy's own bookkeeping agrees with itself [S-INV-machine]: what
//! [`Machine::check_invariants`](crate::machine::Machine::check_invariants) checks after every
//! input, in every run.
//!
//! Must not: change anything, or cost more than a walk over the proxy's tables.

use super::ops::{Asked, OpKind};
use super::Proxy;
use crate::protocol::{Field, Request};

impl Proxy {
    /// - an agent is busy exactly while an agent operation for it is in progress [S-PX-2004];
    /// - an operation waits exactly for the nodes it asked something and that have not
    ///   answered, and an idle ordered pull waits for none;
    /// - an ordered pull's operation carries the client's pull (with its tenant);
    /// - nothing is outstanding at a node that is not connected (a lost node fails what it
    ///   was asked at once);
    /// - the cache names configured nodes, and every agent the proxy keeps belongs to a
    ///   registered client (a client that leaves takes its agents with it) and a configured
    ///   tenant [S-PX-agent].
    pub(super) fn invariants(&self) -> Result<(), String> {
        self.busy_agents_invariant()?;
        self.waiting_invariant()?;
        self.ordered_pulls_invariant()?;
        if let Some((ref_id, (_, node))) = self
            .asked
            .iter()
            .find(|(_, (_, node))| !self.connected.get(*node).copied().unwrap_or(false))
        {
            return Err(format!(
                "request {} outstanding at node {node}, which is not connected",
                ref_id.0
            ));
        }
        if let Some((ixn, node)) = self.cache.misplaced() {
            return Err(format!("cache names node {node} for {ixn}, not configured"));
        }
        self.agents_invariant()
    }

    /// Counted against the busy set, not collected into a second set: the shell runs this
    /// after every input. An agent never has two operations at once (a second is refused with
    /// 2004), so one operation per busy agent and no other means the two agree.
    fn busy_agents_invariant(&self) -> Result<(), String> {
        let mut in_progress = 0usize;
        for (id, op) in &self.ops {
            let agent = match &op.kind {
                OpKind::Agent(agent_op) => agent_op.agent,
                OpKind::Forward { .. }
                | OpKind::Lookup(_)
                | OpKind::Merge(_)
                | OpKind::Peek(_)
                | OpKind::Gather { .. }
                | OpKind::Idle { .. } => continue,
            };
            if !self.busy_agents.contains(&agent) {
                return Err(format!(
                    "[S-PX-2004] agent operation {id} for {agent} in progress, but {agent} is not busy"
                ));
            }
            in_progress += 1;
        }
        if in_progress != self.busy_agents.len() {
            return Err(format!(
                "[S-PX-2004] busy agents {:?}, {in_progress} agent operation(s) in progress",
                self.busy_agents
            ));
        }
        Ok(())
    }

    fn waiting_invariant(&self) -> Result<(), String> {
        // A sorted list, not a set: one allocation per check, searched by halves.
        let mut outstanding: Vec<(u64, usize)> = self
            .asked
            .values()
            .filter_map(|(asked, node)| match asked {
                Asked::Op(op) => Some((*op, *node)),
                Asked::Quiet => None,
            })
            .collect();
        outstanding.sort_unstable();
        for (id, op) in &self.ops {
            for node in &op.waiting {
                if outstanding.binary_search(&(*id, *node)).is_err() {
                    return Err(format!(
                        "operation {id} waits for node {node}, which has nothing outstanding for it"
                    ));
                }
            }
        }
        for (ref_id, (asked, node)) in &self.asked {
            let Asked::Op(id) = asked else {
                continue;
            };
            if self
                .ops
                .get(id)
                .is_some_and(|op| !op.waiting.contains(node))
            {
                return Err(format!(
                    "request {} outstanding at node {node} for operation {id}, which does not wait for it",
                    ref_id.0
                ));
            }
        }
        Ok(())
    }

    fn ordered_pulls_invariant(&self) -> Result<(), String> {
        for (id, op) in &self.ops {
            let ordered = match op.kind {
                OpKind::Peek(_) | OpKind::Gather { .. } => true,
                OpKind::Idle { .. } if !op.waiting.is_empty() => {
                    return Err(format!("idle ordered pull {id} waits for {:?}", op.waiting));
                }
                OpKind::Idle { .. } => true,
                OpKind::Forward { .. }
                | OpKind::Lookup(_)
                | OpKind::Merge(_)
                | OpKind::Agent(_) => false,
            };
            let pull = matches!(
                op.request,
                Request::Pull {
                    tenant: Field::Value(_),
                    ..
                }
            );
            if ordered && !pull {
                return Err(format!(
                    "ordered pull {id} carries {}, not a pull with a tenant",
                    op.request.name()
                ));
            }
        }
        Ok(())
    }

    fn agents_invariant(&self) -> Result<(), String> {
        if self.agents.is_empty() {
            return Ok(());
        }
        // Searched by a fingerprint of the name, the name itself compared only where the
        // fingerprints agree: string comparisons in the search were a fifth of `licensing`
        // on the direct runner (forty agents, checked after every input).
        let mut registered: Vec<(u64, &str)> = self
            .clients
            .values()
            .filter_map(|client| client.name.as_deref())
            .map(|name| (fingerprint(name), name))
            .collect();
        registered.sort_unstable();
        for (agent, entry) in &self.agents {
            let print = fingerprint(&entry.client);
            let from = registered.partition_point(|(other, _)| *other < print);
            let mut same = registered[from..]
                .iter()
                .take_while(|(other, _)| *other == print);
            if !same.any(|(_, name)| *name == entry.client) {
                return Err(format!(
                    "{agent} kept for client {}, which is not registered",
                    entry.client
                ));
            }
            if self.cfg.tenant(entry.tenant).is_none() {
                return Err(format!(
                    "{agent} kept for tenant {}, which is not configured",
                    entry.tenant
                ));
            }
        }
        Ok(())
    }
}

/// FNV-1a of `name`: the same on every machine and run (no hasher state), for searching.
fn fingerprint(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::super::agents::AgentEntry;
    use super::super::fixture::proxy;
    use super::*;
    use crate::ids::{AgentId, IxnId, RefId, TenantId};
    use crate::machine::{Input, Machine, Peer};
    use crate::protocol::Message;

    /// [S-INV-machine]: each piece of the proxy's bookkeeping that disagrees with the rest is
    /// reported, and a consistent proxy passes (including one with an agent operation out).
    #[test]
    fn invariants_report_each_inconsistency() {
        let mut clean = proxy();
        assert_eq!(clean.invariants(), Ok(()));
        let login = Message::Request {
            ref_id: RefId(2),
            request: Request::AgentLogin {
                tenant: Field::Value(TenantId(1)),
                agent: AgentId(3),
                media: vec!["email".into()],
            },
        };
        clean.handle(10, Input::Frame(Peer::Client(0), login), &mut Vec::new());
        assert_eq!(clean.busy_agents.len(), 1, "the login is in progress");
        assert_eq!(clean.invariants(), Ok(()));

        let mut busy = proxy();
        busy.busy_agents.insert(AgentId(3));
        assert!(busy.invariants().unwrap_err().contains("busy agents"));

        let mut waiting = clean.ops.clone();
        let mut unasked = proxy();
        unasked.ops.append(&mut waiting);
        unasked.busy_agents = clean.busy_agents.clone();
        assert!(unasked
            .invariants()
            .unwrap_err()
            .contains("nothing outstanding"));

        let mut answered = proxy();
        answered.ops = clean.ops.clone();
        answered.asked = clean.asked.clone();
        answered.busy_agents = clean.busy_agents.clone();
        answered.ops.values_mut().for_each(|op| op.waiting.clear());
        assert!(answered
            .invariants()
            .unwrap_err()
            .contains("does not wait for it"));

        let mut lost = clean;
        lost.connected[1] = false;
        assert!(lost.invariants().unwrap_err().contains("not connected"));

        let mut cached = proxy();
        cached.cache.insert(IxnId(5), 2);
        assert!(cached.invariants().unwrap_err().contains("not configured"));

        let entry = |client: &str, tenant: u32| AgentEntry {
            client: client.into(),
            tenant: TenantId(tenant),
            media: Vec::new(),
            ready: false,
        };
        let mut orphan = proxy();
        orphan.agents.insert(AgentId(4), entry("gone", 1));
        assert!(orphan.invariants().unwrap_err().contains("not registered"));

        let mut foreign = proxy();
        foreign.agents.insert(AgentId(4), entry("desk", 9));
        let error = foreign.invariants().unwrap_err();
        assert!(
            error.contains("tenant t9, which is not configured"),
            "{error}"
        );
    }

    /// [S-INV-machine]: an ordered pull's operation carries a pull, and waits for nothing while
    /// idle.
    #[test]
    fn invariants_report_inconsistent_ordered_pulls() {
        let ordered = || {
            let mut proxy = proxy();
            proxy.cfg.pull_mode = crate::proxy::PullMode::Ordered;
            let pull = super::super::fixture::pull_message(2);
            proxy.handle(20, Input::Frame(Peer::Client(0), pull), &mut Vec::new());
            assert_eq!(proxy.invariants(), Ok(()));
            proxy
        };
        let mut not_a_pull = ordered();
        not_a_pull
            .ops
            .values_mut()
            .for_each(|op| op.request = Request::Ping);
        let error = not_a_pull.invariants().unwrap_err();
        assert!(error.contains("carries RequestPing"), "{error}");

        let mut idle = ordered();
        idle.ops.values_mut().for_each(|op| {
            op.kind = OpKind::Idle {
                count: 2,
                until: 1000,
            }
        });
        let error = idle.invariants().unwrap_err();
        assert!(error.contains("idle ordered pull"), "{error}");
    }
}
