//! What a client does to an interaction: submit [S-IS-submit], place in a queue [S-IS-place],
//! update its user data, and stop processing [S-IS-stop].

use super::{AfterWrite, Conn, IsNode, PlantedBug};
use crate::db::{DbOp, IxnRecord};
use crate::ids::{IxnId, RefId, SimTime, TenantId};
use crate::kv::KvList;
use crate::machine::Output;
use crate::protocol::{ErrorCode, Field, Message};
use crate::trace::TraceEvent;

impl IsNode {
    pub(super) fn tenant_of(&self, tenant: &Field<TenantId>) -> Result<TenantId, ErrorCode> {
        let id = *tenant.value().ok_or(ErrorCode::InvalidAttribute)?;
        self.cfg.tenant(id).ok_or(ErrorCode::UnknownObject)?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit(
        &mut self,
        now: SimTime,
        peer: Conn,
        ref_id: RefId,
        (tenant, media, queue): (&Field<TenantId>, &Field<String>, &String),
        priority: i32,
        user_data: &KvList,
        client_ixn: Option<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.tenant_of(tenant)?;
        let media = media.value().ok_or(ErrorCode::InvalidAttribute)?;
        let tenant_cfg = self.cfg.tenant(tenant).ok_or(ErrorCode::UnknownObject)?;
        // A disabled media type is still accepted when submitted directly [S-IS-submit].
        if !tenant_cfg.media.iter().any(|m| &m.name == media) {
            return Err(ErrorCode::UnknownObject);
        }
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let seq = self.db.next_seq;
        let id = client_ixn.unwrap_or(IxnId::generated(self.cfg.node, seq));
        if self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::DuplicateId);
        }
        let record = IxnRecord {
            id,
            tenant,
            media: media.clone(),
            queue: queue.clone(),
            priority,
            seq,
            submitted_at: now,
            user_data: user_data.clone(),
            owner: None,
            agent: None,
        };
        out.push(Output::Trace(TraceEvent::Submitted {
            ixn: id,
            tenant,
            queue: queue.clone(),
            priority,
            seq,
            user_data: user_data.clone(),
        }));
        self.in_flight.insert(id);
        let ack = Message::ack(ref_id, Some(id));
        let then = if self.cfg.planted_bug == Some(PlantedBug::AckBeforeWrite) {
            self.send(peer, ack, out);
            vec![AfterWrite::MakeAvailable(id)]
        } else {
            vec![AfterWrite::Reply(peer, ack), AfterWrite::MakeAvailable(id)]
        };
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    pub(super) fn place(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        queue: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = self.owned(client, ixn)?;
        let mut record = self
            .db
            .interactions
            .get(&id)
            .cloned()
            .ok_or(ErrorCode::InteractionNotFound)?;
        if self
            .cfg
            .queue(queue)
            .is_none_or(|q| q.tenant != record.tenant)
        {
            return Err(ErrorCode::UnknownObject);
        }
        self.disown(id, out);
        record.queue = queue.to_string();
        record.owner = None;
        record.agent = None;
        out.push(Output::Trace(TraceEvent::Placed {
            ixn: id,
            queue: queue.to_string(),
        }));
        self.in_flight.insert(id);
        let then = vec![
            AfterWrite::Reply(peer, Message::ack(ref_id, Some(id))),
            AfterWrite::MakeAvailable(id),
        ];
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    pub(super) fn update_user_data(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        changes: &KvList,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = *ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        if !self.db.interactions.contains_key(&id) {
            return Err(ErrorCode::InteractionNotFound);
        }
        if self
            .owners
            .get(&id)
            .is_none_or(|owner| owner.client != client)
        {
            return Err(ErrorCode::NotOwner);
        }
        let mut record = self
            .db
            .interactions
            .get(&id)
            .cloned()
            .ok_or(ErrorCode::InteractionNotFound)?;
        record.user_data.merge(changes);
        out.push(Output::Trace(TraceEvent::UserDataChanged {
            ixn: id,
            changes: changes.clone(),
        }));
        let then = vec![AfterWrite::Reply(peer, Message::ack(ref_id, Some(id)))];
        self.persist(DbOp::Put(record), then, out);
        Ok(())
    }

    pub(super) fn stop(
        &mut self,
        peer: Conn,
        ref_id: RefId,
        client: &str,
        ixn: &Field<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = self.owned(client, ixn)?;
        if self.cfg.planted_bug == Some(PlantedBug::StopKeepsLoad) {
            self.owners.remove(&id);
        } else {
            self.disown(id, out);
        }
        out.push(Output::Trace(TraceEvent::Stopped { ixn: id }));
        let then = vec![AfterWrite::Reply(peer, Message::ack(ref_id, Some(id)))];
        self.persist(DbOp::Delete(id), then, out);
        Ok(())
    }
}
