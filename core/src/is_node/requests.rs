//! The request dispatcher: registration first, then each request to the part of the node that
//! answers it; a refused request is answered with its documented code.

use super::{Conn, IsNode};
use crate::db::IxnRecord;
use crate::ids::{IxnId, RefId, SimTime};
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Message, Request};

impl IsNode {
    pub(super) fn on_request(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        let client = match (&request, self.clients.get(&peer)) {
            (Request::RegisterClient { name, kind }, _) => {
                self.register(now, peer, name.clone(), *kind, out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            // A configuration change from the operator's side needs no registration.
            (Request::SetSeats { seats }, _) => {
                self.cfg.seats = Some(*seats);
                self.check_out_seats(out);
                self.enforce_seats(out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            (Request::Ping, _) => {
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                return;
            }
            (_, None) => return self.fail(peer, ref_id, &request, ErrorCode::NotRegistered, out),
            (_, Some(client)) => client.name.clone(),
        };
        let result = match &request {
            Request::RegisterClient { .. } | Request::Ping => Ok(()),
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
                self.pull(now, peer, ref_id, &client, pull, out)
            }
            Request::PlaceInQueue { ixn, queue } => {
                self.place(peer, ref_id, &client, ixn, queue, out)
            }
            Request::UpdateUserData { ixn, changes } => {
                self.update_user_data(peer, ref_id, &client, ixn, changes, out)
            }
            Request::StopProcessing { ixn } => self.stop(peer, ref_id, &client, ixn, out),
            Request::Deliver { ixn, agent } => {
                self.deliver(now, peer, ref_id, &client, ixn, *agent, out)
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
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
            }),
            Request::AgentReady { agent } => self.set_ready(peer, ref_id, *agent, true, out),
            Request::AgentNotReady { agent } => self.set_ready(peer, ref_id, *agent, false, out),
            Request::Find { ixn } => self.find(peer, ref_id, ixn, out),
            Request::ReserveAgent { agent, ixn, ms } => {
                self.reserve(now, peer, ref_id, &client, *agent, ixn, *ms, out)
            }
            // A URS request; a node has no routing strategies of its own.
            Request::SelectTarget { .. } | Request::Lease { .. } => {
                Err(ErrorCode::UnsupportedOperation)
            }
            Request::StrategiesLoaded { names } => {
                self.urs_strategies.insert(client.clone(), names.clone());
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                // A URS back within the grace period (or after this node restarted) gets its
                // pending work again: it may have lost it with the connection.
                let pending: Vec<(IxnId, String)> = self
                    .owners
                    .iter()
                    .filter(|(_, owner)| {
                        owner.client == client && owner.agent.is_none() && owner.invite.is_none()
                    })
                    .filter_map(|(ixn, _)| {
                        let queue = &self.db.interactions.get(ixn)?.queue;
                        let strategy = self.cfg.queue_strategies.get(queue)?;
                        Some((*ixn, strategy.clone()))
                    })
                    .collect();
                for (ixn, strategy) in pending {
                    if let Some(record) = self.db.interactions.get(&ixn) {
                        let event = Event::RouteRequest {
                            ixn: Self::info(self.cfg.node, record),
                            strategy,
                        };
                        self.send(peer, Message::unsolicited(event), out);
                    }
                }
                Ok(())
            }
            Request::Transfer { ixn, to } => {
                self.transfer(now, peer, ref_id, &client, ixn, to, out)
            }
            Request::FindInteractions {
                tenant,
                key,
                equals,
                max,
            } => self.tenant_of(tenant).map(|tenant| {
                let mut found: Vec<&IxnRecord> = self
                    .db
                    .interactions
                    .values()
                    .filter(|record| record.tenant == tenant)
                    .filter(|record| record.user_data.get(key) == Some(equals))
                    .collect();
                found.sort_by_key(|record| record.seq);
                if found.len() > *max as usize {
                    mark(Mark::IsFindCapped, out);
                }
                let items = found
                    .into_iter()
                    .take(*max as usize)
                    .map(|record| Self::info(self.cfg.node, record))
                    .collect();
                let reply = Event::InteractionsFound { items };
                self.send(peer, Message::reply(ref_id, reply), out);
            }),
            Request::Snapshot {
                tenant,
                queue,
                view,
                max,
            } => self.snapshot(peer, ref_id, tenant, queue, view, *max, out),
            Request::Unregister => {
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                self.conn_gone(now, peer, out);
                Ok(())
            }
            // HA commands are the pair's business (`ha::PairMember`), seats the license
            // server's: a bare node refuses them.
            Request::Promote { .. } | Request::Demote | Request::CheckOutSeats { .. } => {
                Err(ErrorCode::InvalidState)
            }
            Request::SetSeats { seats } => {
                self.cfg.seats = Some(*seats);
                self.check_out_seats(out);
                self.enforce_seats(out);
                self.send(peer, Message::reply(ref_id, Event::Ack { ixn: None }), out);
                Ok(())
            }
        };
        if let Err(code) = result {
            self.fail(peer, ref_id, &request, code, out);
        }
    }
}
