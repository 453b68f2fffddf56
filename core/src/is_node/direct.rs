//! URS direct mode [S-URS-rr]: the node hands each pullable interaction of a strategy queue to a
//! URS that has the queue's strategy loaded, round-robin, and gives a URS back its pending work
//! when it returns.

use super::Conn;
use super::{AfterWrite, IsNode, Owner};
use crate::ids::{IxnId, RefId};
use crate::machine::Output;
use crate::protocol::{Event, Message};
use crate::trace::TraceEvent;

impl IsNode {
    /// Direct mode [S-URS-rr]: hands every pullable interaction of a strategy queue to a URS
    /// with that strategy loaded, round-robin among them; with none, it waits in its queue.
    pub(super) fn route_to_urs(&mut self, out: &mut Vec<Output>) {
        if self.cfg.queue_strategies.is_empty() || self.urs_strategies.is_empty() {
            return;
        }
        let queues: Vec<(String, String)> = self
            .cfg
            .queue_strategies
            .iter()
            .map(|(queue, strategy)| (queue.clone(), strategy.clone()))
            .collect();
        for (queue, strategy) in queues {
            let candidates: Vec<String> = self
                .urs_strategies
                .iter()
                .filter(|(name, loaded)| {
                    loaded.contains(&strategy) && self.client_peers.contains_key(*name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let waiting: Vec<IxnId> = self
                .available
                .get(&queue)
                .map(|set| set.iter().map(|(_, _, ixn)| *ixn).collect())
                .unwrap_or_default();
            for ixn in waiting {
                let turn = self.urs_turn.entry(strategy.clone()).or_insert(0);
                let urs = candidates[*turn % candidates.len()].clone();
                *turn = turn.wrapping_add(1);
                self.take_available(ixn);
                self.owners.insert(
                    ixn,
                    Owner {
                        client: urs.clone(),
                        agent: None,
                        invite: None,
                    },
                );
                out.push(Output::Trace(TraceEvent::RouteRequested {
                    ixn,
                    urs: urs.clone(),
                    strategy: strategy.clone(),
                }));
                let Some(record) = self.db.interactions.get(&ixn) else {
                    continue;
                };
                let event = Event::RouteRequest {
                    ixn: Self::info(self.cfg.node, record),
                    strategy: strategy.clone(),
                };
                let then = vec![AfterWrite::Notify(urs, Message::unsolicited(event))];
                self.persist_owner(ixn, then, out);
            }
        }
    }

    /// RequestStrategiesLoaded: a URS says which strategies it runs. A URS back within the
    /// grace period (or after this node restarted) gets its pending work again: it may have
    /// lost it with the connection.
    pub(super) fn strategies_loaded(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        names: &[String],
        out: &mut Vec<Output>,
    ) {
        self.urs_strategies
            .insert(client.to_string(), names.to_vec());
        self.ack(peer, ref_id, out);
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
    }
}
