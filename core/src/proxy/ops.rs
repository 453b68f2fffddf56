//! Client requests in progress: the operation table ([`ClientOp`], one per client request the
//! proxy has not answered yet), the proxy's own reference ids for what it asked the nodes
//! ([`Asked`]), and the dispatch of a node's answer ([`Answer`]) to the operation it belongs
//! to. No SPEC rule of its own: each kind of operation lives with its rule (`lookup`, `merge`,
//! `pull`, `ordered`, `agents`).
//!
//! Must not: answer a client twice. An operation leaves the table when it answers (or its
//! client leaves), and an answer for a reference id no longer outstanding is a late one.

use super::agents::AgentOp;
use super::lookup::Lookup;
use super::merge::Merge;
use super::ordered::Peek;
use super::Proxy;
use crate::ids::{IxnId, RefId, SimTime};
use crate::machine::{Output, Peer};
use crate::protocol::{ErrorCode, Event, IxnInfo, Message, Request};
use std::collections::BTreeSet;

/// A client request in progress.
#[derive(Clone, Debug)]
pub(super) struct ClientOp {
    pub(super) client: Peer,
    pub(super) name: String,
    pub(super) ref_id: RefId,
    pub(super) request: Request,
    pub(super) deadline: SimTime,
    /// Nodes asked and not answered yet.
    pub(super) waiting: BTreeSet<usize>,
    pub(super) kind: OpKind,
}

#[derive(Clone, Debug)]
pub(super) enum OpKind {
    /// Forwarded to one node; its answer is the answer. A "not found" answer clears the
    /// cached owner of `forget_on_not_found`.
    Forward { forget_on_not_found: Option<IxnId> },
    /// Looking for the node that holds an interaction.
    Lookup(Lookup),
    /// A snapshot or a find, fanned out to every node of the tenant and merged [S-PX-merge].
    Merge(Merge),
    /// Ordered pull, first phase: the head of the view on every node.
    Peek(Peek),
    /// Ordered pull, second phase: the items taken from each node.
    Gather { items: Vec<IxnInfo> },
    /// Ordered pull with nothing waiting anywhere: asks again every tick until `until`, then
    /// answers empty (holding on one node instead would hand out that node's next item while an
    /// older one arrived elsewhere).
    Idle { count: u32, until: SimTime },
    /// An agent request, sent to every connected node of the agent's tenant [S-PX-agent].
    Agent(AgentOp),
}

/// What a node's reference id stands for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Asked {
    /// Part of a client operation.
    Op(u64),
    /// Housekeeping (registration, replayed logins, revocations): the answer is not needed.
    Quiet,
}

/// A node's answer as an operation reads it. The one place that sorts every event a node can
/// send, so that a new kind of event is decided here once.
#[derive(Clone, Copy, Debug)]
pub(super) enum Answer<'a> {
    /// None will come: the connection closed or the request timed out.
    Silent,
    Ack(Option<IxnId>),
    Error(ErrorCode),
    Taken(&'a [IxnInfo]),
    Found,
    Snapshot(&'a [IxnInfo]),
    Matches(&'a [IxnInfo]),
    /// An event that answers no request the proxy sends.
    Unrelated,
}

impl<'a> Answer<'a> {
    pub(super) fn of(event: Option<&'a Event>) -> Self {
        match event {
            None => Answer::Silent,
            Some(Event::Ack { ixn }) => Answer::Ack(*ixn),
            Some(Event::Error { code }) => Answer::Error(*code),
            Some(Event::TakenFromQueue { items }) => Answer::Taken(items),
            Some(Event::Found { .. }) => Answer::Found,
            Some(Event::SnapshotContent { items }) => Answer::Snapshot(items),
            Some(Event::InteractionsFound { items }) => Answer::Matches(items),
            Some(
                Event::Invite { .. }
                | Event::Revoked { .. }
                | Event::Accepted { .. }
                | Event::Rejected { .. }
                | Event::AgentState { .. }
                | Event::Seats { .. }
                | Event::LoggedOut { .. }
                | Event::TargetSelected { .. }
                | Event::RouteRequest { .. },
            ) => Answer::Unrelated,
        }
    }
}

/// What ends an operation once every node it asked has answered.
type Finish = fn(&mut Proxy, SimTime, u64, &mut Vec<Output>);

impl Proxy {
    pub(super) fn reply(&self, client: Peer, ref_id: RefId, event: Event, out: &mut Vec<Output>) {
        if self.clients.contains_key(&client) {
            out.push(Output::Send(client, Message::reply(ref_id, event)));
        }
    }

    /// Sends `request` to node `node` on behalf of `client` (the proxy itself when `None`).
    pub(super) fn ask(
        &mut self,
        node: usize,
        asked: Asked,
        client: Option<&str>,
        request: Request,
        out: &mut Vec<Output>,
    ) -> RefId {
        self.next_ref = self.next_ref.wrapping_add(1);
        let ref_id = RefId(self.next_ref);
        self.asked.insert(ref_id, (asked, node));
        if let Asked::Op(op) = asked {
            if let Some(op) = self.ops.get_mut(&op) {
                let fresh = op.waiting.insert(node);
                debug_assert!(fresh, "an operation asks each node once per phase");
            }
        }
        let message = match client {
            Some(client) => Message::ProxiedRequest {
                client: client.to_string(),
                ref_id,
                request,
            },
            None => Message::Request { ref_id, request },
        };
        out.push(Output::Send(Peer::Server(node as u16), message));
        ref_id
    }

    pub(super) fn start_op(
        &mut self,
        now: SimTime,
        (client, name, ref_id): (Peer, &str, RefId),
        request: &Request,
        kind: OpKind,
        extra_ms: u64,
    ) -> u64 {
        let id = self.next_op;
        self.next_op += 1;
        let previous = self.ops.insert(
            id,
            ClientOp {
                client,
                name: name.to_string(),
                ref_id,
                request: request.clone(),
                deadline: now + self.cfg.request_timeout_ms + extra_ms,
                waiting: BTreeSet::new(),
                kind,
            },
        );
        assert!(previous.is_none(), "operation ids are never reused");
        id
    }

    /// Forwards the client's request to `node` as a new operation.
    pub(super) fn forward(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        node: usize,
        request: Request,
        forget_on_not_found: Option<IxnId>,
        out: &mut Vec<Output>,
    ) {
        let kind = OpKind::Forward {
            forget_on_not_found,
        };
        let op = self.start_op(now, who, &request, kind, 0);
        self.ask(node, Asked::Op(op), Some(who.1), request, out);
    }

    /// A node answered `ref_id` (or will never answer: `event` is `None`).
    pub(super) fn on_node_answer(
        &mut self,
        now: SimTime,
        ref_id: RefId,
        event: Option<Event>,
        out: &mut Vec<Output>,
    ) {
        let Some((asked, node)) = self.asked.remove(&ref_id) else {
            return self.late_answer(ref_id, event, out);
        };
        self.returning.remove(&ref_id);
        let Asked::Op(op_id) = asked else {
            return;
        };
        if event.is_none() {
            self.abandon_pull(ref_id, op_id, node);
        }
        let bug = self.cfg.planted_bug;
        let Some(op) = self.ops.get_mut(&op_id) else {
            return;
        };
        let was_waiting = op.waiting.remove(&node);
        debug_assert!(
            was_waiting,
            "an operation waits for every node it has a request at"
        );
        let answer = Answer::of(event.as_ref());
        let finish: Finish = match &mut op.kind {
            OpKind::Forward {
                forget_on_not_found,
            } => {
                let forget = *forget_on_not_found;
                let op = self.ops.remove(&op_id).expect("op exists");
                return self.finish_forward(op, node, event, forget, out);
            }
            OpKind::Lookup(lookup) => {
                lookup.record(node, answer);
                Proxy::finish_lookup
            }
            OpKind::Merge(merge) => {
                merge.record(answer, bug);
                Proxy::finish_merge
            }
            OpKind::Peek(peek) => {
                peek.record(node, answer);
                Proxy::finish_peek
            }
            OpKind::Gather { items } => {
                if let Answer::Taken(taken) = answer {
                    for item in taken {
                        self.cache.insert(item.id, node);
                    }
                    items.extend_from_slice(taken);
                }
                Proxy::finish_gather
            }
            OpKind::Idle { .. } => return,
            OpKind::Agent(agent) => {
                agent.record(node, answer);
                Proxy::finish_agent
            }
        };
        if op.waiting.is_empty() {
            finish(self, now, op_id, out);
        }
    }
}
