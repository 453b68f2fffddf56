//! RequestPull [S-IS-pull]: handing interactions out to their new owner, and pulls held while
//! nothing matches until something arrives or the hold times out [S-IS-hold].

use super::{AfterWrite, Conn, HeldPull, IsNode, Owner, PlantedBug, TimerPurpose};
use crate::buggify::Site;
use crate::db::DbOp;
use crate::ids::{IxnId, RefId, SimTime, TenantId};
use crate::machine::Output;
use crate::machine::TimerId;
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Message};
use crate::trace::TraceEvent;

impl IsNode {
    /// [`Site::IsPullShort`]: keeps the first half (at least one) of a pull's picks.
    pub(super) fn maybe_shorten(
        &mut self,
        now: SimTime,
        picked: &mut Vec<IxnId>,
        out: &mut Vec<Output>,
    ) {
        if picked.len() > 1 && self.buggify.fires(Site::IsPullShort, now, out) {
            picked.truncate(picked.len().div_ceil(2));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn pull(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        (tenant, queue, view, count, asked_ms): (&Field<TenantId>, &str, &str, u32, Option<u64>),
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        // The asker's hold wins over the node's own (the proxy's `pull-hold-timeout` overrides
        // the nodes' [S-PX-pull]).
        let hold_ms = match self.cfg.planted_bug {
            Some(PlantedBug::HoldIgnoresAsked) => self.cfg.pull_hold_timeout_ms,
            _ => asked_ms.unwrap_or(self.cfg.pull_hold_timeout_ms),
        };
        let tenant = self.tenant_of(tenant)?;
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let view_cfg = self.view(queue, view).ok_or(ErrorCode::UnknownObject)?;
        let mut picked = self.select(queue, &view_cfg, count);
        if !picked.is_empty() || count == 0 || self.held.len() >= self.cfg.held_pulls_max {
            self.maybe_shorten(now, &mut picked, out);
            self.hand_out(peer, ref_id, client, queue, view, picked, out);
            return Ok(());
        }
        let timer = self.timers.set(TimerPurpose::PullHold, now + hold_ms, out);
        mark(Mark::IsPullHeld, out);
        out.push(Output::Trace(TraceEvent::PullHeld {
            client: client.to_string(),
            queue: queue.to_string(),
            view: view.to_string(),
            asked_ms,
        }));
        self.held.push(HeldPull {
            peer,
            client: client.to_string(),
            ref_id,
            queue: queue.to_string(),
            view: view.to_string(),
            count,
            timer,
        });
        Ok(())
    }

    /// Marks `ixns` owned by `client` and builds the EventTakenFromQueue.
    /// Gives `ixns` to `client` and answers its pull with EventTakenFromQueue once the new
    /// ownership is in the database.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hand_out(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        queue: &str,
        view: &str,
        ixns: Vec<IxnId>,
        out: &mut Vec<Output>,
    ) {
        let mut items = Vec::with_capacity(ixns.len());
        let mut writes = Vec::with_capacity(ixns.len());
        for ixn in &ixns {
            self.take_available(*ixn);
            self.owners.insert(
                *ixn,
                Owner {
                    client: client.to_string(),
                    agent: None,
                    invite: None,
                },
            );
            if let Some(record) = self.db.interactions.get(ixn) {
                items.push(Self::info(self.cfg.node, record));
                let mut record = record.clone();
                record.owner = Some(client.to_string());
                record.agent = None;
                writes.push(record);
            }
        }
        out.push(Output::Trace(TraceEvent::Pulled {
            client: client.to_string(),
            queue: queue.to_string(),
            view: view.to_string(),
            ixns,
        }));
        let reply = Message::reply(ref_id, Event::TakenFromQueue { items });
        let Some(last) = writes.pop() else {
            self.send(peer, reply, out);
            return;
        };
        for record in writes {
            self.persist(DbOp::Put(record), Vec::new(), out);
        }
        self.persist(DbOp::Put(last), vec![AfterWrite::Reply(peer, reply)], out);
    }

    /// Persists the current owner of `ixn` (after the in-memory owner changed).
    pub(super) fn persist_owner(
        &mut self,
        ixn: IxnId,
        then: Vec<AfterWrite>,
        out: &mut Vec<Output>,
    ) {
        let Some(mut record) = self.db.interactions.get(&ixn).cloned() else {
            return;
        };
        let owner = self.owners.get(&ixn);
        record.owner = owner.map(|owner| owner.client.clone());
        record.agent = owner.and_then(|owner| owner.agent);
        self.persist(DbOp::Put(record), then, out);
    }

    pub(super) fn serve_held(&mut self, now: SimTime, queue: &str, out: &mut Vec<Output>) {
        let mut index = 0;
        while index < self.held.len() {
            if self.held[index].queue != queue {
                index += 1;
                continue;
            }
            let Some(view) = self.view(queue, &self.held[index].view) else {
                index += 1;
                continue;
            };
            let mut picked = self.select(queue, &view, self.held[index].count);
            if picked.is_empty() {
                index += 1;
                continue;
            }
            let held = self.held.remove(index);
            self.timers.cancel(held.timer, out);
            mark(Mark::IsHeldPullServed, out);
            self.maybe_shorten(now, &mut picked, out);
            self.hand_out(
                held.peer,
                held.ref_id,
                &held.client,
                &held.queue,
                &held.view,
                picked,
                out,
            );
        }
    }

    /// A held pull's timer [S-IS-hold]: nothing arrived in time, so it is answered empty.
    pub(super) fn pull_hold_expired(&mut self, id: TimerId, out: &mut Vec<Output>) {
        let Some(index) = self.held.iter().position(|held| held.timer == id) else {
            return;
        };
        let held = self.held.remove(index);
        mark(Mark::IsPullHoldExpired, out);
        out.push(Output::Trace(TraceEvent::PullExpired {
            client: held.client,
            queue: held.queue,
            view: held.view,
        }));
        self.send(
            held.peer,
            Message::reply(held.ref_id, Event::TakenFromQueue { items: Vec::new() }),
            out,
        );
    }
}
