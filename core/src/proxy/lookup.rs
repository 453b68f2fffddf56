//! Requests about one existing interaction [S-PX-route]: the owner cache, the broadcast lookup
//! on a miss, and what a forwarded request's answer teaches the cache.
//!
//! A request about an interaction goes to the node the cache names; a cached owner answers
//! definitively even while other nodes are down, and an unreachable cached owner is 2003. On a
//! miss every connected node is asked (RequestGetInteractionProperties): one holder gets the
//! request; none, while some node did not answer, is 2003 [S-PX-2003]; several is 2005
//! [S-PX-2005]. The cache starts empty on every (re)start [S-PX-cache] and is only a hint:
//! a "not found" answer to a forwarded request clears the entry (except for RequestReserveAgent
//! and RequestTransfer, which have always left it in place). A lookup answered "not found" is
//! traced (`proxy-lookup-not-found`, with when the request came) so that sweeps can judge it
//! against the node connections the shell traced (`sim/src/oracles/lookups.rs`).
//!
//! Must not: answer "not found" for an interaction a silent node may hold.

use super::ops::{Answer, Asked, ClientOp, OpKind};
use super::{Proxy, ProxyBug};
use crate::buggify::Site;
use crate::ids::{IxnId, RefId, SimTime};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Request};
use crate::trace::TraceEvent;

/// A broadcast lookup in progress: which nodes hold `ixn`.
#[derive(Clone, Debug)]
pub(super) struct Lookup {
    ixn: IxnId,
    /// Whether the forward, once the holder is found, clears the cached owner on "not found".
    forget_on_not_found: bool,
    found: Vec<usize>,
    /// Some node was not asked or did not answer.
    unreachable: bool,
    /// When the client's request reached the proxy (traced with a "not found" answer).
    asked_at: SimTime,
}

impl Lookup {
    pub(super) fn record(&mut self, node: usize, answer: Answer) {
        match answer {
            Answer::Found => self.found.push(node),
            Answer::Error(ErrorCode::InteractionNotFound) => {}
            Answer::Silent
            | Answer::Ack(_)
            | Answer::Error(_)
            | Answer::Taken(_)
            | Answer::Snapshot(_)
            | Answer::Matches(_)
            | Answer::Unrelated => self.unreachable = true,
        }
    }
}

impl Proxy {
    /// A request about `ixn`, whose "not found" answer clears the cached owner when
    /// `forget_on_not_found` is set.
    pub(super) fn about_interaction(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        (ixn, forget_on_not_found): (&Field<IxnId>, bool),
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::NotAccessible)?;
        let forget = forget_on_not_found.then_some(id);
        if self.cache.contains_key(&id) && self.buggify.fires(Site::ProxyForgetOwner, now, out) {
            self.cache.remove(&id);
        }
        if let Some(node) = self.cache.get(&id).copied() {
            if !self.connected[node] {
                return Err(ErrorCode::NotAccessible);
            }
            if self.connected.iter().any(|up| !up) {
                mark(Mark::ProxyCachedOwnerNodeDown, out);
            }
            self.forward(now, who, node, request.clone(), forget, out);
            return Ok(());
        }
        mark(Mark::ProxyCacheMissLookup, out);
        let lookup = Lookup {
            ixn: id,
            forget_on_not_found,
            found: Vec::new(),
            unreachable: self.connected.iter().any(|up| !up),
            asked_at: now,
        };
        self.broadcast_lookup(now, who, lookup, request, out);
        Ok(())
    }

    /// Asks every connected node whether it holds `id`; a node not connected counts as one
    /// that did not answer.
    fn broadcast_lookup(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        lookup: Lookup,
        request: &Request,
        out: &mut Vec<Output>,
    ) {
        let id = lookup.ixn;
        let op = self.start_op(now, who, request, OpKind::Lookup(lookup), 0);
        let live = self.connected_nodes();
        let asked_none = live.is_empty();
        for node in live {
            let find = Request::Find {
                ixn: Field::Value(id),
            };
            self.ask(node, Asked::Op(op), Some(who.1), find, out);
        }
        if asked_none {
            self.finish_lookup(now, op, out);
        }
    }

    pub(super) fn finish_lookup(&mut self, now: SimTime, op_id: u64, out: &mut Vec<Output>) {
        let Some(op) = self.ops.remove(&op_id) else {
            return;
        };
        let OpKind::Lookup(Lookup {
            ixn,
            forget_on_not_found,
            found,
            unreachable,
            asked_at,
        }) = &op.kind
        else {
            return;
        };
        let (client, ref_id, request) = (op.client, op.ref_id, &op.request);
        match (found.as_slice(), unreachable) {
            // It went away while the others answered.
            ([node], _) if !self.connected[*node] => {
                self.fail(client, ref_id, request, ErrorCode::NotAccessible, out)
            }
            ([node], _) => {
                self.cache.insert(*ixn, *node);
                let who = (client, op.name.as_str(), ref_id);
                let forget = forget_on_not_found.then_some(*ixn);
                self.forward(now, who, *node, request.clone(), forget, out);
            }
            ([], true) if !self.cfg.planted(ProxyBug::UnreachableLookupNotFound) => {
                mark(Mark::ProxyLookupUnanswered, out);
                self.fail(client, ref_id, request, ErrorCode::NotAccessible, out)
            }
            ([], _) => {
                out.push(Output::Trace(TraceEvent::ProxyLookupNotFound {
                    client: op.name.clone(),
                    request: request.name(),
                    ixn: *ixn,
                    asked_at_ms: *asked_at,
                }));
                let code = ErrorCode::InteractionNotFound;
                self.reply(client, ref_id, Event::Error { code }, out)
            }
            (_, _) => {
                mark(Mark::ProxyDuplicateAcrossNodes, out);
                self.fail(
                    client,
                    ref_id,
                    request,
                    ErrorCode::DuplicateAcrossNodes,
                    out,
                )
            }
        }
    }

    /// The answer to a forwarded request goes to the client as it is; on the way, the cache
    /// learns (or forgets) the node of the interactions it names.
    pub(super) fn finish_forward(
        &mut self,
        op: ClientOp,
        node: usize,
        event: Option<Event>,
        forget_on_not_found: Option<IxnId>,
        out: &mut Vec<Output>,
    ) {
        let Some(event) = event else {
            let code = ErrorCode::ConnectionLost;
            return self.fail(op.client, op.ref_id, &op.request, code, out);
        };
        if let (Request::Pull { .. }, Event::TakenFromQueue { items }) = (&op.request, &event) {
            for item in items {
                self.cache.insert(item.id, node);
            }
            return self.reply_pull(&op, items.clone(), out);
        }
        match Answer::of(Some(&event)) {
            Answer::Ack(Some(ixn)) => {
                if matches!(op.request, Request::StopProcessing { .. }) {
                    self.cache.remove(&ixn);
                } else {
                    self.cache.insert(ixn, node);
                }
            }
            Answer::Taken(items) => {
                for item in items {
                    self.cache.insert(item.id, node);
                }
            }
            Answer::Error(ErrorCode::InteractionNotFound) => {
                if let Some(id) = forget_on_not_found {
                    self.cache.remove(&id);
                }
            }
            Answer::Silent
            | Answer::Ack(None)
            | Answer::Error(_)
            | Answer::Found
            | Answer::Snapshot(_)
            | Answer::Matches(_)
            | Answer::Unrelated => {}
        }
        self.reply(op.client, op.ref_id, event, out);
    }
}
