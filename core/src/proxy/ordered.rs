//! Ordered pulls ([`PullMode::Ordered`](super::PullMode::Ordered)), the improvement over the
//! product that [S-PX-fifo] asks for: round-robin pulls break cross-node FIFO/priority order,
//! so in this mode the proxy first asks every node for the head of the view (a snapshot of at
//! most the pull's count), then pulls from each node exactly the items that come first across
//! the cluster (priority descending, then submit time), and answers them in that order.
//!
//! With nothing waiting anywhere, the pull does not hold on one node (that would hand out that
//! node's next item while an older one arrived elsewhere): it asks for the heads again every
//! tick until the client's hold ends, then answers empty.
//!
//! Must not: pull from a node more than its share of the cluster-wide first items.

use super::ops::{Answer, Asked, OpKind};
use super::pull::pull_request;
use super::Proxy;
use crate::ids::{RefId, SimTime, TenantId};
use crate::machine::{Output, Peer};
use crate::protocol::{Field, IxnInfo, Request};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The first phase of an ordered pull: the heads of the view the nodes told.
#[derive(Clone, Debug)]
pub(super) struct Peek {
    count: u32,
    heads: Vec<(usize, IxnInfo)>,
    /// Set when asking again after an idle wait: the end of the client's hold.
    until: Option<SimTime>,
}

impl Peek {
    pub(super) fn record(&mut self, node: usize, answer: Answer) {
        if let Answer::Snapshot(items) = answer {
            let heads = items.iter().map(|item| (node, item.clone()));
            self.heads.extend(heads);
        }
    }

    /// How many items to take from each node: its share of the cluster-wide first `count`.
    fn shares(mut self) -> BTreeMap<usize, u32> {
        self.heads.sort_by_key(|(node, item)| {
            (Reverse(item.priority), item.submitted_at, *node, item.id)
        });
        let mut share: BTreeMap<usize, u32> = BTreeMap::new();
        for (node, _) in self.heads.iter().take(self.count as usize) {
            *share.entry(*node).or_default() += 1;
        }
        debug_assert!(
            share.values().sum::<u32>() <= self.count,
            "[S-PX-fifo] an ordered pull takes at most its count across the nodes"
        );
        share
    }
}

/// The tenant, queue, view and hold of the client's pull, which an ordered pull's operation
/// carries.
fn pulled_view(request: &Request) -> Option<(TenantId, String, String, u64)> {
    let Request::Pull {
        tenant: Field::Value(tenant),
        queue,
        view,
        hold_ms,
        ..
    } = request
    else {
        return None;
    };
    Some((*tenant, queue.clone(), view.clone(), hold_ms.unwrap_or(0)))
}

/// The snapshot that asks a node for the head of the pulled view.
fn head_request(tenant: TenantId, queue: &str, view: &str, count: u32) -> Request {
    Request::Snapshot {
        tenant: Field::Value(tenant),
        queue: queue.to_string(),
        view: view.to_string(),
        max: count,
    }
}

impl Proxy {
    /// Starts an ordered pull of `count` from the `live` nodes of `tenant`.
    pub(super) fn start_ordered_pull(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        (tenant, queue, view, count): (TenantId, &str, &str, u32),
        live: Vec<usize>,
        out: &mut Vec<Output>,
    ) {
        let hold = self.cfg.pull_hold_timeout_ms;
        let request = pull_request(Field::Value(tenant), queue, view, count, hold);
        let peek = Peek {
            count,
            heads: Vec::new(),
            until: None,
        };
        let op = self.start_op(now, who, &request, OpKind::Peek(peek), hold);
        for node in live {
            let head = head_request(tenant, queue, view, count);
            self.ask(node, Asked::Op(op), Some(who.1), head, out);
        }
    }

    /// Ordered pull: every node told its head of the view; pull from each exactly its share of
    /// the cluster-wide first `count`.
    pub(super) fn finish_peek(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(mut op) = self.ops.remove(&op_id) else {
            return;
        };
        let OpKind::Peek(peek) = op.kind.clone() else {
            return;
        };
        let (count, until) = (peek.count, peek.until);
        let mut share = peek.shares();
        // A node that answered and then went away cannot be pulled from.
        share.retain(|node, _| self.connected[*node]);
        let Some((tenant, queue, view, hold_ms)) = pulled_view(&op.request) else {
            return;
        };
        let name = op.name.clone();
        if share.is_empty() {
            let until = until.unwrap_or(now + hold_ms);
            if now >= until {
                return self.reply_pull(&op, Vec::new(), out);
            }
            op.kind = OpKind::Idle { count, until };
            op.deadline = until + self.cfg.request_timeout_ms;
            op.waiting.clear();
            self.ops.insert(op_id, op);
            return;
        }
        op.kind = OpKind::Gather { items: Vec::new() };
        op.waiting.clear();
        self.ops.insert(op_id, op);
        for (node, count) in share {
            let pull = pull_request(Field::Value(tenant), &queue, &view, count, 0);
            self.ask(node, Asked::Op(op_id), Some(&name), pull, out);
        }
    }

    /// Ordered pull, second phase: every node asked answered; the items go to the client in
    /// cluster-wide view order.
    pub(super) fn finish_gather(&mut self, _now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let op = self.ops.remove(&op_id).expect("op exists");
        let OpKind::Gather { mut items } = op.kind.clone() else {
            unreachable!("finish_gather ends gathering operations only");
        };
        items.sort_by_key(|item| (Reverse(item.priority), item.submitted_at, item.id));
        self.reply_pull(&op, items, out);
    }

    /// Every tick: the idle ordered pulls ask for the heads again.
    pub(super) fn poll_idle_pulls(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let idle: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| matches!(op.kind, OpKind::Idle { .. }))
            .map(|(id, _)| *id)
            .collect();
        for op_id in idle {
            self.poll_idle(now, op_id, out);
        }
    }

    /// Asks the nodes for the view's heads again for an idle ordered pull.
    fn poll_idle(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(op) = self.ops.get_mut(&op_id) else {
            return;
        };
        let OpKind::Idle { count, until } = op.kind else {
            return;
        };
        let Some((tenant, queue, view, _)) = pulled_view(&op.request) else {
            return;
        };
        let name = op.name.clone();
        op.kind = OpKind::Peek(Peek {
            count,
            heads: Vec::new(),
            until: Some(until),
        });
        debug_assert!(op.waiting.is_empty(), "an idle pull waits for no node");
        let live = self.live(self.cfg.tenant_nodes(tenant));
        for node in &live {
            let head = head_request(tenant, &queue, &view, count);
            self.ask(*node, Asked::Op(op_id), Some(&name), head, out);
        }
        if live.is_empty() {
            self.finish_peek(now, op_id, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{asked_nodes, proxy, pull_message};
    use super::super::PullMode;
    use crate::machine::{Input, Machine, Peer};

    /// [S-PX-fifo]'s ordered mode peeks the heads of every node only when there is a choice:
    /// with one connected node, or a pull that asks for nothing, the pull goes straight on.
    #[test]
    fn ordered_pulls_peek_only_with_a_choice() {
        let ordered = || {
            let mut proxy = proxy();
            proxy.cfg.pull_mode = PullMode::Ordered;
            proxy
        };
        let mut both = ordered();
        let mut out = Vec::new();
        both.handle(20, Input::Frame(Peer::Client(0), pull_message(2)), &mut out);
        assert_eq!(
            asked_nodes(&out),
            vec![
                (Peer::Server(0), "RequestGetSnapshot"),
                (Peer::Server(1), "RequestGetSnapshot")
            ]
        );

        let mut one = ordered();
        one.handle(10, Input::Disconnected(Peer::Server(1)), &mut Vec::new());
        let mut out = Vec::new();
        one.handle(20, Input::Frame(Peer::Client(0), pull_message(2)), &mut out);
        assert_eq!(asked_nodes(&out), vec![(Peer::Server(0), "RequestPull")]);

        let mut nothing = ordered();
        let mut out = Vec::new();
        nothing.handle(20, Input::Frame(Peer::Client(0), pull_message(0)), &mut out);
        let asked = asked_nodes(&out);
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked[0].1, "RequestPull");
    }
}
