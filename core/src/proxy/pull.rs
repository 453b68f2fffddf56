//! Pulls through the proxy [S-PX-pull]: the proxy's `pull-hold-timeout` overrides the nodes',
//! and in the product's mode each pull goes to one node of the tenant, round-robin per client
//! and queue/view ([`PullMode::RoundRobin`](super::PullMode::RoundRobin); the ordered mode is
//! in `ordered`). Every pull's answer is traced with what it got, for the pull-order statistic
//! of [S-PX-fifo].
//!
//! A pull the proxy gave up on (timed out, or its node's connection closed) may still be
//! answered: the node marked those interactions as the client's, and the client will never
//! know, so the proxy places them back in their queues on the client's behalf.
//!
//! Must not: leave an interaction owned by a client that does not know it owns it.

use super::ops::{Asked, ClientOp, OpKind};
use super::{Proxy, ProxyBug, PullMode};
use crate::ids::{RefId, SimTime, TenantId};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, IxnInfo, Request};
use crate::trace::TraceEvent;

/// The pull the proxy sends a node: `count` items of the view, held at most `hold_ms`.
pub(super) fn pull_request(
    tenant: Field<TenantId>,
    queue: &str,
    view: &str,
    count: u32,
    hold_ms: u64,
) -> Request {
    Request::Pull {
        tenant,
        queue: queue.to_string(),
        view: view.to_string(),
        count,
        hold_ms: Some(hold_ms),
    }
}

impl Proxy {
    pub(super) fn pull(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        tenant: &Field<TenantId>,
        (queue, view, count): (&str, &str, u32),
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let (tenant, nodes) = self.cfg.tenant_and_nodes(tenant)?;
        let live = self.live(nodes);
        if live.is_empty() {
            return Err(ErrorCode::ConnectionLost);
        }
        let pulled = (tenant, queue, view, count);
        if self.cfg.pull_mode == PullMode::Ordered && live.len() > 1 && count > 0 {
            self.start_ordered_pull(now, who, pulled, live, out);
        } else {
            self.pull_round_robin(now, who, pulled, &live, out);
        }
        Ok(())
    }

    /// Round-robin per client and queue/view: each puller of a queue visits every node in
    /// turn. (One counter for all pulls can fall into step with a client's own rotation over
    /// its queues, so that its pulls of one queue always land on the same node and the other
    /// node's share starves: the `ors` scenario found that, seed 11.)
    fn pull_round_robin(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        (tenant, queue, view, count): (TenantId, &str, &str, u32),
        live: &[usize],
        out: &mut Vec<Output>,
    ) {
        let key = if self.cfg.planted(ProxyBug::PullTurnShared) {
            Default::default()
        } else {
            (who.1.to_string(), queue.to_string(), view.to_string())
        };
        let turn = self.rr_pull.entry(key).or_insert(0);
        *turn = turn.wrapping_add(1);
        let node = live[*turn % live.len()];
        out.push(Output::Trace(TraceEvent::ProxyPullSent {
            client: who.1.to_string(),
            tenant,
            queue: queue.to_string(),
            view: view.to_string(),
            node: node as u16,
        }));
        let hold = self.cfg.pull_hold_timeout_ms;
        let pull = pull_request(Field::Value(tenant), queue, view, count, hold);
        let kind = OpKind::Forward {
            forget_on_not_found: None,
        };
        let op = self.start_op(now, who, &pull, kind, hold);
        self.ask(node, Asked::Op(op), Some(who.1), pull, out);
    }

    /// Answers a client's pull, tracing what it got (the pull-order statistic reads this).
    pub(super) fn reply_pull(&self, op: &ClientOp, items: Vec<IxnInfo>, out: &mut Vec<Output>) {
        if let Request::Pull { queue, view, .. } = &op.request {
            out.push(Output::Trace(TraceEvent::ProxyPulled {
                client: op.name.clone(),
                queue: queue.clone(),
                view: view.clone(),
                ixns: items.iter().map(|item| item.id).collect(),
            }));
        }
        self.reply(op.client, op.ref_id, Event::TakenFromQueue { items }, out);
    }

    /// `ref_id`, asked of `node` for operation `op_id`, will not be answered in time: if it is
    /// a pull, a late answer must be undone.
    pub(super) fn abandon_pull(&mut self, ref_id: RefId, op_id: u64, node: usize) {
        let pull = self
            .ops
            .get(&op_id)
            .filter(|op| matches!(op.request, Request::Pull { .. }));
        if let Some(op) = pull {
            self.abandoned_pulls.insert(ref_id, (op.name.clone(), node));
        }
    }

    /// A node answered a pull the proxy had given up on (its client already heard of a timeout
    /// or a lost connection): the node marked those interactions as the client's, and the
    /// client will never know. The proxy puts them back in their queues on the client's behalf,
    /// so they are not owned for good by a client that does not know it owns them.
    pub(super) fn late_answer(
        &mut self,
        ref_id: RefId,
        event: Option<Event>,
        out: &mut Vec<Output>,
    ) {
        let Some((client, node)) = self.abandoned_pulls.remove(&ref_id) else {
            return;
        };
        let Some(Event::TakenFromQueue { items }) = event else {
            return;
        };
        for item in items {
            mark(Mark::ProxyLatePullReturned, out);
            out.push(Output::Trace(TraceEvent::LatePullReturned {
                client: client.clone(),
                ixn: item.id,
            }));
            let place = Request::PlaceInQueue {
                ixn: Field::Value(item.id),
                queue: item.queue,
            };
            let ref_id = self.ask(node, Asked::Quiet, Some(&client), place, out);
            self.returning
                .insert(ref_id, (node, client.clone(), item.id));
        }
    }
}
