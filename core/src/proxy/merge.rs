//! Snapshots and finds (RequestGetSnapshot, RequestFindInteractions): fanned out to every node
//! of the tenant and merged [S-PX-merge]. Each node applies its own limit, so a merged answer
//! may hold up to limit x nodes items, concatenated in node order rather than view order.
//!
//! A node of the tenant that is not connected, or does not answer, fails the whole request:
//! 2006 for a snapshot [S-PX-2006], 2002 for a find.
//!
//! Must not: answer with a partial merge as if it were whole.

use super::ops::{Answer, Asked, OpKind};
use super::{Proxy, ProxyBug};
use crate::buggify::Site;
use crate::ids::{RefId, SimTime, TenantId};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, IxnInfo, Request};
use std::collections::BTreeSet;

/// What is fanned out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum FanOut {
    Snapshot,
    Find,
}

impl FanOut {
    /// The code for a node that cannot answer.
    fn unreachable(self) -> ErrorCode {
        match self {
            FanOut::Snapshot => ErrorCode::SnapshotNotAccessible,
            FanOut::Find => ErrorCode::ConnectionLost,
        }
    }
}

/// A fan-out in progress: what the nodes answered so far.
#[derive(Clone, Debug)]
pub(super) struct Merge {
    of: FanOut,
    items: Vec<IxnInfo>,
    /// The first refusal (or missing answer), which the whole request fails with.
    error: Option<ErrorCode>,
}

impl Merge {
    pub(super) fn record(&mut self, answer: Answer, bug: Option<ProxyBug>) {
        let unreachable = self.of.unreachable();
        match answer {
            Answer::Matches(more) if bug == Some(ProxyBug::FindKeepsLastAnswer) => {
                self.items = more.to_vec()
            }
            Answer::Snapshot(more)
                if more.is_empty() && bug == Some(ProxyBug::EmptySnapshotNotAccessible) =>
            {
                self.error.get_or_insert(unreachable);
            }
            Answer::Snapshot(more) | Answer::Matches(more) => self.items.extend_from_slice(more),
            Answer::Error(code) => {
                self.error.get_or_insert(code);
            }
            Answer::Silent
            | Answer::Ack(_)
            | Answer::Taken(_)
            | Answer::Found
            | Answer::Unrelated => {
                self.error.get_or_insert(unreachable);
            }
        }
    }
}

impl Proxy {
    /// Snapshots and finds: every node of the tenant answers with its own limit; the answers
    /// are concatenated in node order [S-PX-merge].
    pub(super) fn fan_out(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        (tenant, of): (&Field<TenantId>, FanOut),
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        if of == FanOut::Find && self.cfg.planted(ProxyBug::FindUnsupported) {
            return Err(ErrorCode::UnsupportedOperation);
        }
        let (_, nodes) = self.cfg.tenant_and_nodes(tenant)?;
        if nodes.iter().any(|node| !self.connected[*node]) {
            return Err(of.unreachable());
        }
        let merge = Merge {
            of,
            items: Vec::new(),
            error: None,
        };
        let op = self.start_op(now, who, request, OpKind::Merge(merge), 0);
        for node in nodes {
            self.ask(node, Asked::Op(op), Some(who.1), request.clone(), out);
        }
        Ok(())
    }

    /// Every node answered: the merged items, or the first refusal.
    pub(super) fn finish_merge(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let op = self.ops.remove(&op_id).expect("op exists");
        let OpKind::Merge(Merge {
            of,
            mut items,
            error,
        }) = op.kind
        else {
            unreachable!("finish_merge ends merge operations only");
        };
        let nodes: BTreeSet<u16> = items.iter().map(|item| item.node).collect();
        if error.is_none() && nodes.len() > 1 && of == FanOut::Find {
            mark(Mark::ProxyFindMerged, out);
        }
        if error.is_none()
            && items.len() > 1
            && self.buggify.fires(Site::ProxyMergeReversed, now, out)
        {
            items.reverse();
        }
        let merged = match of {
            FanOut::Snapshot => Event::SnapshotContent { items },
            FanOut::Find => Event::InteractionsFound { items },
        };
        match error {
            Some(code) => self.fail(op.client, op.ref_id, &op.request, code, out),
            None => self.reply(op.client, op.ref_id, merged, out),
        }
    }
}
