//! Registered clients, direct or behind a proxy: registration by name, connections closing,
//! and a client leaving (what it owns gets the owner grace period) [S-IS-owner] [S-PX].

use super::{Client, Conn, IsNode, PlantedBug, TimerPurpose};
use crate::buggify::Site;
use crate::ids::{AgentId, RefId, SimTime};
use crate::machine::{Output, Peer, TimerId};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, IxnInfo, Message, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeSet;

impl IsNode {
    /// The connection for `client` behind the proxy on `peer`.
    pub(super) fn proxied_conn(&mut self, peer: Peer, client: &str) -> Conn {
        let key = (peer, client.to_string());
        if let Some(id) = self.proxied_ids.get(&key) {
            return Conn::Proxied(peer, *id);
        }
        let id = self.next_proxied;
        self.next_proxied += 1;
        self.proxied.insert(id, key.clone());
        self.proxied_ids.insert(key, id);
        Conn::Proxied(peer, id)
    }

    pub(super) fn register(
        &mut self,
        now: SimTime,
        peer: Conn,
        name: String,
        kind: ClientKind,
        out: &mut Vec<Output>,
    ) {
        // A connection registering again under another name leaves the old name: what that name
        // owns gets the grace period, as if its connection had closed [S-IS-owner].
        if let Some(previous) = self.clients.get(&peer).map(|client| client.name.clone()) {
            if previous != name {
                self.leave(now, &previous, peer, out);
            }
        }
        // Back within its grace period: the pending release of what it owns is off. A grace
        // timer left running (one set when this node restarted, say) would otherwise release
        // the name's interactions early, counted from the wrong departure, the next time the
        // name is away, while its agent may still hold them (urs-direct --swarm --buggify seed
        // 879: released 1.6 s after the proxy went, the agent still working on it) [S-IS-owner].
        let stale: Vec<TimerId> = self
            .timers
            .iter()
            .filter(|(_, purpose)| matches!(purpose, TimerPurpose::OwnerGrace(c) if *c == name))
            .map(|(id, _)| id)
            .collect();
        if !stale.is_empty() && self.owners.values().any(|owner| owner.client == name) {
            mark(Mark::IsOwnerBackInGrace, out);
        }
        for id in stale {
            self.timers.cancel(id, out);
        }
        if let Some(old_peer) = self.client_peers.insert(name.clone(), peer) {
            if old_peer != peer {
                // A second connection under the same name takes over; the old one is dropped.
                self.clients.remove(&old_peer);
                match old_peer {
                    Conn::Direct(transport) => out.push(Output::Close(transport)),
                    Conn::Proxied(..) => self.conn_gone(now, old_peer, out),
                }
            }
        }
        self.clients.insert(
            peer,
            Client {
                name: name.clone(),
                kind,
            },
        );
        if kind == ClientKind::Router {
            self.agent_snapshot(peer, out);
            // A router that comes back within its grace period is told what it still owns
            // here: a pull answer lost with its old connection would otherwise leave it owning
            // interactions it never heard of, for good.
            let items: Vec<IxnInfo> = self
                .owners
                .iter()
                .filter(|(_, owner)| owner.client == name && owner.agent.is_none())
                .filter_map(|(ixn, _)| self.db.interactions.get(ixn))
                .map(|record| Self::info(self.cfg.node, record))
                .collect();
            if !items.is_empty() {
                let event = Event::TakenFromQueue { items };
                self.send(peer, Message::unsolicited(event), out);
            }
        }
        out.push(Output::Trace(TraceEvent::ClientRegistered { client: name }));
    }

    /// A transport connection closed: every client on it (itself and the clients of a proxy)
    /// is gone.
    pub(super) fn on_disconnected(&mut self, now: SimTime, peer: Peer, out: &mut Vec<Output>) {
        self.last_heard.remove(&peer);
        let mut conns: BTreeSet<Conn> = self
            .clients
            .keys()
            .copied()
            .chain(self.agents.values().map(|agent| agent.peer))
            .chain(self.held.iter().map(|held| held.peer))
            .filter(|conn| conn.transport() == peer)
            .collect();
        conns.insert(Conn::Direct(peer));
        for conn in conns {
            self.conn_gone(now, conn, out);
        }
        let gone: Vec<u32> = self
            .proxied
            .iter()
            .filter(|(_, (transport, _))| *transport == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(key) = self.proxied.remove(&id) {
                self.proxied_ids.remove(&key);
            }
        }
    }

    /// One client is gone: its held pulls are dropped, its agents logged out, and what it owns
    /// gets the grace period.
    pub(super) fn conn_gone(&mut self, now: SimTime, conn: Conn, out: &mut Vec<Output>) {
        for held in self.held.iter().filter(|held| held.peer == conn) {
            out.push(Output::Trace(TraceEvent::PullDropped {
                client: held.client.clone(),
                queue: held.queue.clone(),
                view: held.view.clone(),
            }));
        }
        self.held.retain(|held| held.peer != conn);
        let logged_in: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, agent)| agent.peer == conn)
            .map(|(id, _)| *id)
            .collect();
        for agent in logged_in {
            self.logout(agent, out);
        }
        let Some(client) = self.clients.remove(&conn) else {
            return;
        };
        self.leave(now, &client.name, conn, out);
    }

    /// The registered name `client` no longer has connection `peer`: what it owns gets the grace
    /// period to come back [S-IS-owner].
    pub(super) fn leave(&mut self, now: SimTime, client: &str, peer: Conn, out: &mut Vec<Output>) {
        if self.client_peers.get(client) == Some(&peer) {
            self.client_peers.remove(client);
        }
        let was_urs = self.urs_strategies.remove(client).is_some();
        if was_urs && self.cfg.planted_bug != Some(PlantedBug::UrsGoneWaitsGrace) {
            // Seed 003: what was pending in a URS that went away is resubmitted to another URS
            // with the strategy at once (no grace period: a URS holds no work of its own).
            out.push(Output::Trace(TraceEvent::ClientGone {
                client: client.to_string(),
            }));
            if self.owners.values().any(|owner| owner.client == client) {
                mark(Mark::IsUrsWorkResubmitted, out);
            }
            self.release_owned_by(now, client, out);
            return;
        }
        out.push(Output::Trace(TraceEvent::ClientGone {
            client: client.to_string(),
        }));
        if self.owners.values().any(|owner| owner.client == client) {
            let grace = match self.cfg.planted_bug {
                Some(PlantedBug::GraceHalved) => self.cfg.owner_grace_ms / 2,
                Some(PlantedBug::GraceDoubled) => self.cfg.owner_grace_ms.saturating_mul(2),
                _ => self.cfg.owner_grace_ms,
            };
            self.timers.set(
                TimerPurpose::OwnerGrace(client.to_string()),
                now + grace,
                out,
            );
        }
    }

    /// The idle sweep [`IsConfig::client_idle_timeout_ms`]: closes connections silent for the
    /// whole timeout (the product's ADDP), and sets the next sweep.
    pub(super) fn idle_sweep(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let timeout = self.cfg.client_idle_timeout_ms;
        let mut quiet = Vec::new();
        for (peer, heard) in &self.last_heard {
            if heard + timeout <= now {
                out.push(Output::Close(*peer));
            } else if heard + timeout.div_ceil(4) <= now {
                quiet.push(*peer);
            }
        }
        for peer in quiet {
            if self.buggify.fires(Site::IsIdleCloseEarly, now, out) {
                out.push(Output::Close(peer));
            }
        }
        self.timers
            .set(TimerPurpose::IdleSweep, now + timeout.div_ceil(2), out);
    }

    /// A request a proxy forwards for one of its clients; only a connection registered as a
    /// proxy may forward.
    pub(super) fn on_proxied_request(
        &mut self,
        now: SimTime,
        peer: Peer,
        client: &str,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        self.last_heard.insert(peer, now);
        let conn = self.proxied_conn(peer, client);
        let via_proxy = self
            .clients
            .get(&Conn::Direct(peer))
            .is_some_and(|proxy| proxy.kind == ClientKind::Proxy);
        if via_proxy {
            self.on_request(now, conn, ref_id, request, out);
        } else {
            self.fail(conn, ref_id, &request, ErrorCode::NotRegistered, out);
        }
    }
}
