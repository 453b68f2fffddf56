//! The proxy's clients: registration (a name, passed on to every node, so that a node keeps
//! ownership, agents and held pulls per client), a client's requests routed by kind
//! [S-PX-route], what the proxy refuses outright (RequestPing and the HA and licensing
//! requests: 2000 [S-PX-2000]), and a client's departure (closed, unregistered, or silent
//! beyond `client_idle_timeout_ms`), which every node hears of individually.
//!
//! Must not: act for a client that has not registered (it gets NotRegistered).

use super::agents::AgentChange;
use super::merge::FanOut;
use super::ops::{Asked, OpKind};
use super::Proxy;
use crate::ids::{IxnId, RefId, SimTime};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Message, Request};
use crate::trace::TraceEvent;

#[derive(Clone, Debug)]
pub(super) struct Client {
    /// `None` once unregistered (the connection stays open).
    pub(super) name: Option<String>,
    pub(super) kind: ClientKind,
}

/// Whether the client must have registered for the proxy to take `request`: all but
/// registration itself and what the proxy refuses from anyone [S-PX-2000].
fn needs_registration(request: &Request) -> bool {
    match request {
        Request::RegisterClient { .. }
        | Request::Ping
        | Request::Promote { .. }
        | Request::Demote
        | Request::CheckOutSeats { .. }
        | Request::SetSeats { .. } => false,
        Request::Submit { .. }
        | Request::Pull { .. }
        | Request::PlaceInQueue { .. }
        | Request::UpdateUserData { .. }
        | Request::StopProcessing { .. }
        | Request::Deliver { .. }
        | Request::Accept { .. }
        | Request::Reject { .. }
        | Request::AgentLogin { .. }
        | Request::AgentLogout { .. }
        | Request::AgentReady { .. }
        | Request::AgentNotReady { .. }
        | Request::Find { .. }
        | Request::Snapshot { .. }
        | Request::Unregister
        | Request::FindInteractions { .. }
        | Request::ReserveAgent { .. }
        | Request::SelectTarget { .. }
        | Request::Transfer { .. }
        | Request::Lease { .. }
        | Request::StrategiesLoaded { .. } => true,
    }
}

impl Proxy {
    pub(super) fn on_client_request(
        &mut self,
        now: SimTime,
        client: Peer,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let registered = self.clients.get(&client).and_then(|c| c.name.clone());
        if registered.is_none() && needs_registration(&request) {
            return self.fail(client, ref_id, &request, ErrorCode::NotRegistered, out);
        }
        let name = registered.unwrap_or_default();
        let who = (client, name.as_str(), ref_id);
        if let Err(code) = self.route_request(now, who, &request, out) {
            self.fail(client, ref_id, &request, code, out);
        }
    }

    /// Hands the request to what serves its kind [S-PX-route]. A client that is not
    /// registered gets here only with a request that needs no registration, and `who` then
    /// carries an empty name, which none of those uses.
    fn route_request(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        match request {
            Request::RegisterClient { name, kind } => {
                self.register_client(who.0, who.2, (name, *kind), request, out);
                Ok(())
            }
            // Keepalive, HA and licensing are not the proxy's [S-PX-2000], target selection is
            // the URS's (refused only once the client registered: `needs_registration`).
            Request::Ping
            | Request::Promote { .. }
            | Request::Demote
            | Request::CheckOutSeats { .. }
            | Request::SetSeats { .. }
            | Request::SelectTarget { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => Err(ErrorCode::UnsupportedOperation),
            Request::Unregister => {
                self.unregister(who.0, who.2, out);
                Ok(())
            }
            Request::Submit {
                tenant,
                media,
                client_ixn,
                ..
            } => self.submit(now, who, tenant, media, *client_ixn, request, out),
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                ..
            } => self.pull(now, who, tenant, (queue, view, *count), out),
            Request::Snapshot { tenant, .. } => {
                self.fan_out(now, who, (tenant, FanOut::Snapshot), request, out)
            }
            Request::FindInteractions { tenant, .. } => {
                self.fan_out(now, who, (tenant, FanOut::Find), request, out)
            }
            Request::PlaceInQueue { ixn, .. }
            | Request::UpdateUserData { ixn, .. }
            | Request::StopProcessing { ixn }
            | Request::Deliver { ixn, .. }
            | Request::Accept { ixn }
            | Request::Reject { ixn }
            | Request::Find { ixn } => self.about_interaction(now, who, (ixn, true), request, out),
            // A "not found" answer to these leaves the cached owner in place (as it always has).
            Request::ReserveAgent { ixn, .. } | Request::Transfer { ixn, .. } => {
                self.about_interaction(now, who, (ixn, false), request, out)
            }
            Request::AgentLogin {
                tenant,
                agent,
                media,
            } => self.agent_login(now, who, (tenant, *agent, media), request, out),
            Request::AgentLogout { agent } => {
                self.agent_op(now, who, *agent, AgentChange::Logout, request, out)
            }
            Request::AgentReady { agent } => {
                self.agent_op(now, who, *agent, AgentChange::Ready, request, out)
            }
            Request::AgentNotReady { agent } => {
                self.agent_op(now, who, *agent, AgentChange::NotReady, request, out)
            }
        }
    }

    /// A name registered again on another connection moves to it (a restarted client, a
    /// promoted ORS backup): the old connection is dropped without unregistering the name at
    /// the nodes, which would take it from the new one.
    fn register_client(
        &mut self,
        client: Peer,
        ref_id: RefId,
        (name, kind): (&String, ClientKind),
        request: &Request,
        out: &mut Vec<Output>,
    ) {
        let stale: Vec<Peer> = self
            .clients
            .iter()
            .filter(|(peer, c)| **peer != client && c.name.as_deref() == Some(name))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in stale {
            self.clients.remove(&peer);
            self.last_heard.remove(&peer);
            // The name stays registered at the nodes, so they never release what a pull of
            // the old connection takes: such a pull is undone when its answer comes.
            self.drop_ops_of(peer, true);
            out.push(Output::Close(peer));
        }
        let registered = Client {
            name: Some(name.clone()),
            kind,
        };
        self.clients.insert(client, registered);
        for node in self.connected_nodes() {
            self.ask(node, Asked::Quiet, Some(name), request.clone(), out);
        }
        out.push(Output::Trace(TraceEvent::ClientRegistered {
            client: name.clone(),
        }));
        self.reply(client, ref_id, Event::Ack { ixn: None }, out);
    }

    /// RequestUnregister: the client leaves, but its connection stays, unregistered.
    fn unregister(&mut self, client: Peer, ref_id: RefId, out: &mut Vec<Output>) {
        self.client_left(client, out);
        let unregistered = Client {
            name: None,
            kind: ClientKind::MediaServer,
        };
        self.clients.insert(client, unregistered);
        self.reply(client, ref_id, Event::Ack { ixn: None }, out);
    }

    /// A client connection closed or unregistered: the nodes hear of it individually.
    pub(super) fn client_left(&mut self, client: Peer, out: &mut Vec<Output>) {
        self.last_heard.remove(&client);
        let Some(Client {
            name: Some(name), ..
        }) = self.clients.remove(&client)
        else {
            return;
        };
        for node in self.connected_nodes() {
            self.ask(node, Asked::Quiet, Some(&name), Request::Unregister, out);
        }
        self.agents.retain(|_, entry| entry.client != name);
        self.drop_ops_of(client, false);
    }

    /// Forgets the operations of connection `client`. With `abandon`, each request one of them
    /// still has outstanding at a node is given up: a pull's late answer then puts what it
    /// took back in its queue ([`Proxy::late_answer`]). Without, the nodes heard the client
    /// leave and release what it holds after the owner grace period.
    fn drop_ops_of(&mut self, client: Peer, abandon: bool) {
        let ops: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| op.client == client)
            .map(|(id, _)| *id)
            .collect();
        if abandon {
            let outstanding: Vec<(RefId, u64, usize)> = self
                .asked
                .iter()
                .filter_map(|(ref_id, (asked, node))| match asked {
                    Asked::Op(id) if ops.contains(id) => Some((*ref_id, *id, *node)),
                    Asked::Op(_) | Asked::Quiet => None,
                })
                .collect();
            for (ref_id, op_id, node) in outstanding {
                self.asked.remove(&ref_id);
                self.abandon_pull(ref_id, op_id, node);
            }
        }
        for id in ops {
            if let Some(op) = self.ops.remove(&id) {
                if let OpKind::Agent(agent_op) = op.kind {
                    self.busy_agents.remove(&agent_op.agent);
                }
            }
        }
    }

    /// Every tick: a client not heard from for `client_idle_timeout_ms` is closed and leaves.
    pub(super) fn drop_idle_clients(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let timeout = self.cfg.client_idle_timeout_ms;
        if timeout == 0 {
            return;
        }
        let silent: Vec<Peer> = self
            .last_heard
            .iter()
            .filter(|(_, heard)| **heard + timeout <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in silent {
            self.last_heard.remove(&peer);
            out.push(Output::Close(peer));
            self.client_left(peer, out);
        }
    }

    /// An event a node sends a client unasked (an invite, an agent's state) goes to the
    /// client's connection as it is, except the interactions the proxy is putting back in
    /// their queues for that client: a node that hears the client register again lists what
    /// it owns there, and a place the proxy sent after the registration (a late pull answer
    /// undone, [`Proxy::late_answer`]) takes them from it right after. Relayed, they would be
    /// handled by the client and by whoever pulls them next ([S-ORS-pull], `ors-failover`
    /// seed 77 on turmoil: a new ORS primary registered under the demoted one's name).
    pub(super) fn relay_unsolicited(
        &self,
        node: usize,
        client: &str,
        mut event: Event,
        out: &mut Vec<Output>,
    ) {
        if let Event::TakenFromQueue { items } = &mut event {
            let before = items.len();
            items.retain(|item| !self.is_returning(node, client, item.id));
            if items.len() < before {
                mark(Mark::ProxyRelistReturned, out);
            }
            if items.is_empty() {
                return;
            }
        }
        let target = self
            .clients
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(client))
            .map(|(peer, _)| *peer);
        if let Some(peer) = target {
            out.push(Output::Send(peer, Message::unsolicited(event)));
        }
    }

    /// Is the proxy putting `ixn` back in its queue at `node` on `client`'s behalf?
    fn is_returning(&self, node: usize, client: &str, ixn: IxnId) -> bool {
        self.returning
            .values()
            .any(|(at, owner, returned)| *at == node && owner == client && *returned == ixn)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::proxy;
    use crate::clients::TICK_TIMER;
    use crate::ids::RefId;
    use crate::machine::{Input, Machine, Output, Peer};
    use crate::protocol::{Message, Request};

    /// A client the proxy has not heard from for `client_idle_timeout_ms` is closed at the
    /// first tick at or after that time, not before; one that spoke meanwhile stays.
    #[test]
    fn an_idle_client_is_closed_after_its_timeout() {
        let closed = |out: &[Output]| out.contains(&Output::Close(Peer::Client(0)));
        let mut quiet = proxy();
        quiet.cfg.client_idle_timeout_ms = 4000;
        // Registered at 0 ms.
        let mut out = Vec::new();
        quiet.handle(3990, Input::Timer(TICK_TIMER), &mut out);
        assert!(!closed(&out), "closed before its timeout: {out:?}");
        let mut out = Vec::new();
        quiet.handle(4000, Input::Timer(TICK_TIMER), &mut out);
        assert!(closed(&out), "not closed at its timeout: {out:?}");

        let mut spoke = proxy();
        spoke.cfg.client_idle_timeout_ms = 4000;
        let ping = Message::Request {
            ref_id: RefId(6),
            request: Request::Ping,
        };
        spoke.handle(3000, Input::Frame(Peer::Client(0), ping), &mut Vec::new());
        let mut out = Vec::new();
        spoke.handle(4000, Input::Timer(TICK_TIMER), &mut out);
        assert!(!closed(&out), "closed though it spoke at 3000 ms: {out:?}");
    }

    /// [S-ORS-pull] through the proxy: an interaction the proxy is putting back in its queue
    /// for a client (its pull answer came after the proxy gave the pull up) is not relayed to
    /// that client when the node lists it as the client's on a registration the node took
    /// before the place; the rest of the list is, and once the node answered the place, a
    /// listing of that interaction is relayed again.
    #[test]
    fn a_returned_interaction_is_kept_from_the_clients_listing() {
        use crate::ids::{IxnId, TenantId};
        use crate::protocol::{Event, IxnInfo};
        let info = |id: u64| IxnInfo {
            id: IxnId(id),
            tenant: TenantId(1),
            media: "chat".into(),
            queue: "inbound".into(),
            priority: 0,
            submitted_at: 0,
            user_data: Default::default(),
            node: 0,
        };
        let from_node = |ref_id: Option<RefId>, ids: &[u64]| {
            let items = ids.iter().map(|id| info(*id)).collect();
            let event = Event::TakenFromQueue { items };
            Message::ProxiedEvent {
                client: "desk".into(),
                ref_id,
                event,
            }
        };
        let relayed = |out: &[Output]| -> Vec<Vec<IxnId>> {
            out.iter()
                .filter_map(|output| match output {
                    Output::Send(
                        Peer::Client(0),
                        Message::Event {
                            event: Event::TakenFromQueue { items },
                            ..
                        },
                    ) => Some(items.iter().map(|item| item.id).collect()),
                    _ => None,
                })
                .collect()
        };
        // What the proxy does with a message from node `node` at `at`.
        let node_says = |proxy: &mut super::Proxy, node: usize, at: u64, message: Message| {
            let mut out = Vec::new();
            proxy.handle(
                at,
                Input::Frame(Peer::Server(node as u16), message),
                &mut out,
            );
            out
        };
        let mut proxy = proxy();
        let pull = super::super::fixture::pull_message(2);
        proxy.handle(10, Input::Frame(Peer::Client(0), pull), &mut Vec::new());
        let (node, pull_ref) = proxy
            .asked
            .iter()
            .map(|(ref_id, (_, node))| (*node, *ref_id))
            .next()
            .expect("the pull went to a node");
        // The node is alive (it spoke just before), but the pull times out: the proxy gives it
        // up and tells the client.
        let alive = Message::ProxiedEvent {
            client: "other".into(),
            ref_id: None,
            event: Event::Ack { ixn: None },
        };
        node_says(&mut proxy, node, 4990, alive);
        proxy.handle(5000, Input::Timer(TICK_TIMER), &mut Vec::new());
        assert!(proxy.asked.is_empty(), "the pull was given up");
        // Its answer comes late: interaction 5 goes back to its queue on desk's behalf.
        let late = from_node(Some(pull_ref), &[5]);
        node_says(&mut proxy, node, 5100, late);
        let place_ref = proxy
            .returning
            .iter()
            .find(|(_, (at, client, ixn))| *at == node && client == "desk" && *ixn == IxnId(5))
            .map(|(ref_id, _)| *ref_id)
            .expect("interaction 5 is being put back");
        // The node lists 5 and 6 as desk's (it took a registration before the place): only 6
        // reaches desk, and a listing of 5 alone reaches it not at all.
        let listing = from_node(None, &[5, 6]);
        let out = node_says(&mut proxy, node, 5110, listing);
        assert_eq!(relayed(&out), vec![vec![IxnId(6)]]);
        let listing = from_node(None, &[5]);
        let out = node_says(&mut proxy, node, 5111, listing);
        assert!(
            relayed(&out).is_empty(),
            "5 relayed while being put back: {out:?}"
        );
        // The place is answered: 5 is no longer being put back.
        let ack = Message::ProxiedEvent {
            client: "desk".into(),
            ref_id: Some(place_ref),
            event: Event::Ack {
                ixn: Some(IxnId(5)),
            },
        };
        node_says(&mut proxy, node, 5120, ack);
        assert!(proxy.returning.is_empty());
        let listing = from_node(None, &[5]);
        let out = node_says(&mut proxy, node, 5130, listing);
        assert_eq!(relayed(&out), vec![vec![IxnId(5)]]);
    }
}
