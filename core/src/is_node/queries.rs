//! Read-only requests: RequestFind, RequestFindInteractions, and queue snapshots capped by
//! `max-interactions-per-snapshot` [S-IS-snapshot].

use super::{Conn, IsNode, PlantedBug, ViewKey};
use crate::db::IxnRecord;
use crate::ids::{IxnId, RefId, TenantId};
use crate::kv::KvValue;
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Field, Message};

impl IsNode {
    pub(super) fn find(
        &self,
        peer: Conn,
        ref_id: RefId,
        ixn: &Field<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let id = ixn.value().ok_or(ErrorCode::InvalidAttribute)?;
        let record = self
            .db
            .interactions
            .get(id)
            .ok_or(ErrorCode::InteractionNotFound)?;
        let found = Event::Found {
            ixn: Self::info(self.cfg.node, record),
        };
        self.send(peer, Message::reply(ref_id, found), out);
        Ok(())
    }

    /// [S-IS-snapshot]: every interaction of the view, owned or not, in view order, at most
    /// `max` and at most `max_interactions_per_snapshot`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn snapshot(
        &self,
        peer: Conn,
        ref_id: RefId,
        tenant: &Field<TenantId>,
        queue: &str,
        view: &str,
        max: u32,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.tenant_of(tenant)?;
        if self.cfg.queue(queue).is_none_or(|q| q.tenant != tenant) {
            return Err(ErrorCode::UnknownObject);
        }
        let view_cfg = self.view(queue, view).ok_or(ErrorCode::UnknownObject)?;
        let keys: Vec<ViewKey> = self
            .available
            .get(queue)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let keys: Vec<ViewKey> = keys
            .into_iter()
            .filter(|(_, _, id)| {
                self.db
                    .interactions
                    .get(id)
                    .is_some_and(|record| view_cfg.matches(&record.user_data))
            })
            .collect();
        let limit = match self.cfg.planted_bug {
            Some(PlantedBug::SnapshotIgnoresLimit) => max as usize,
            _ => max.min(self.cfg.max_interactions_per_snapshot) as usize,
        };
        if keys.len() > limit && max > self.cfg.max_interactions_per_snapshot {
            mark(Mark::IsSnapshotCapped, out);
        }
        let items = keys
            .into_iter()
            .take(limit)
            .filter_map(|(_, _, id)| {
                self.db
                    .interactions
                    .get(&id)
                    .map(|record| Self::info(self.cfg.node, record))
            })
            .collect();
        let reply = Event::SnapshotContent { items };
        self.send(peer, Message::reply(ref_id, reply), out);
        Ok(())
    }

    /// RequestFindInteractions: the tenant's interactions whose user data has `key` equal to
    /// `equals`, in submit order, at most `max`.
    pub(super) fn find_interactions(
        &self,
        peer: Conn,
        ref_id: RefId,
        tenant: &Field<TenantId>,
        (key, equals): (&str, &KvValue),
        max: u32,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.tenant_of(tenant)?;
        let mut found: Vec<&IxnRecord> = self
            .db
            .interactions
            .values()
            .filter(|record| record.tenant == tenant)
            .filter(|record| record.user_data.get(key) == Some(equals))
            .collect();
        found.sort_by_key(|record| record.seq);
        if found.len() > max as usize {
            mark(Mark::IsFindCapped, out);
        }
        let items = found
            .into_iter()
            .take(max as usize)
            .map(|record| Self::info(self.cfg.node, record))
            .collect();
        let reply = Event::InteractionsFound { items };
        self.send(peer, Message::reply(ref_id, reply), out);
        Ok(())
    }
}
