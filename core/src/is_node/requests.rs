//! The request dispatcher: registration first, then each request to the part of the node that
//! answers it; a refused request is answered with its documented code.

use super::{Conn, IsNode};
use crate::ids::{RefId, SimTime};
use crate::machine::Output;
use crate::protocol::{ErrorCode, Request};

impl IsNode {
    pub(super) fn on_request(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let Some(client) = self.admit(now, peer, ref_id, &request, out) else {
            return;
        };
        if let Err(code) = self.dispatch(now, peer, ref_id, &client, &request, out) {
            self.fail(peer, ref_id, &request, code, out);
        }
    }

    /// The requests a connection may send before it registers are answered here (`None`); any
    /// other is refused until it does. `Some`: the registered client's name.
    fn admit(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Option<String> {
        match (request, self.clients.get(&peer)) {
            (Request::RegisterClient { name, kind }, _) => {
                self.register(now, peer, name.clone(), *kind, out);
                self.ack(peer, ref_id, out);
                None
            }
            // A configuration change from the operator's side needs no registration.
            (Request::SetSeats { seats }, _) => {
                self.cfg.seats = Some(*seats);
                self.check_out_seats(out);
                self.enforce_seats(out);
                self.ack(peer, ref_id, out);
                None
            }
            (Request::Ping, _) => {
                self.ack(peer, ref_id, out);
                None
            }
            (_, None) => {
                self.fail(peer, ref_id, request, ErrorCode::NotRegistered, out);
                None
            }
            (_, Some(client)) => Some(client.name.clone()),
        }
    }

    /// Each request of a registered `client` to the part of the node that answers it.
    fn dispatch(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        match request {
            // Answered by `admit`.
            Request::RegisterClient { .. } | Request::Ping | Request::SetSeats { .. } => Ok(()),
            Request::Submit {
                tenant,
                media,
                queue,
                priority,
                user_data,
                client_ixn,
            } => self.submit(
                now,
                peer,
                ref_id,
                (tenant, media, queue),
                *priority,
                user_data,
                *client_ixn,
                out,
            ),
            Request::Pull {
                tenant,
                queue,
                view,
                count,
                hold_ms,
            } => {
                let pull = (tenant, queue.as_str(), view.as_str(), *count, *hold_ms);
                self.pull(now, peer, ref_id, client, pull, out)
            }
            Request::PlaceInQueue { ixn, queue } => {
                self.place(peer, ref_id, client, ixn, queue, out)
            }
            Request::UpdateUserData { ixn, changes } => {
                self.update_user_data(peer, ref_id, client, ixn, changes, out)
            }
            Request::StopProcessing { ixn } => self.stop(peer, ref_id, client, ixn, out),
            Request::Deliver { ixn, agent } => {
                self.deliver(now, peer, ref_id, client, ixn, *agent, out)
            }
            Request::Accept { ixn } => self.answer_invite(peer, ref_id, ixn, true, out),
            Request::Reject { ixn } => self.answer_invite(peer, ref_id, ixn, false, out),
            Request::AgentLogin {
                tenant,
                agent,
                media: _,
            } => self.login(peer, ref_id, tenant, *agent, out),
            Request::AgentLogout { agent } => self.own_agent(peer, *agent).map(|()| {
                self.logout(*agent, out);
                self.ack(peer, ref_id, out);
            }),
            Request::AgentReady { agent } => self.set_ready(peer, ref_id, *agent, true, out),
            Request::AgentNotReady { agent } => self.set_ready(peer, ref_id, *agent, false, out),
            Request::Find { ixn } => self.find(peer, ref_id, ixn, out),
            Request::ReserveAgent { agent, ixn, ms } => {
                self.reserve(now, peer, ref_id, client, *agent, ixn, *ms, out)
            }
            // A URS request; a node has no routing strategies of its own.
            Request::SelectTarget { .. } | Request::Lease { .. } => {
                Err(ErrorCode::UnsupportedOperation)
            }
            Request::StrategiesLoaded { names } => {
                self.strategies_loaded(peer, ref_id, client, names, out);
                Ok(())
            }
            Request::Transfer { ixn, to } => self.transfer(now, peer, ref_id, client, ixn, to, out),
            Request::FindInteractions {
                tenant,
                key,
                equals,
                max,
            } => self.find_interactions(peer, ref_id, tenant, (key, equals), *max, out),
            Request::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => self.snapshot(peer, ref_id, tenant, queue, view, *max, out),
            Request::Unregister => {
                self.ack(peer, ref_id, out);
                self.conn_gone(now, peer, out);
                Ok(())
            }
            // HA commands are the pair's business (`ha::PairMember`), seats the license
            // server's: a bare node refuses them.
            Request::Promote { .. } | Request::Demote | Request::CheckOutSeats { .. } => {
                Err(ErrorCode::InvalidState)
            }
        }
    }
}
