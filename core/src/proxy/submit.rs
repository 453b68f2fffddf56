//! Submits [S-PX-route]: a submit goes to one node that accepts the tenant and media type
//! (its `media-types` option), load-balanced among them.
//!
//! Without a client id the connected accepting nodes take turns. With a client-supplied id the
//! node is chosen by the id, so a submit retried after a lost answer reaches the same node,
//! whose DuplicateId answer proves the first attempt was stored; a retry on another node would
//! create the duplicate that seed 002 warns about. (The product's rule is not documented; this
//! is the one that keeps the acknowledged-once guarantee.)
//!
//! Refusals: a media type the tenant has disabled is refused by the proxy [S-PX-disabled]
//! (the node alone would accept it) with 2001, as is one no node of the tenant accepts
//! [S-PX-2001]; 2002 when the accepting node(s) are not connected; 2003 for a media type the
//! tenant does not have (a wrong-valued routing attribute).
//!
//! Must not: send a submit to a node that does not take its media type.

use super::{Proxy, ProxyBug};
use crate::ids::{IxnId, RefId, SimTime, TenantId};
use crate::machine::{Output, Peer};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Field, Request};
use crate::trace::TraceEvent;

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit(
        &mut self,
        now: SimTime,
        who: (Peer, &str, RefId),
        tenant: &Field<TenantId>,
        media: &Field<String>,
        client_ixn: Option<IxnId>,
        request: &Request,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let tenant = self.cfg.route_tenant(tenant)?;
        let media = media.value().ok_or(ErrorCode::NotAccessible)?;
        let node = match self.submit_node(tenant, media, client_ixn, out) {
            Ok(node) => node,
            Err(code) => {
                out.push(Output::Trace(TraceEvent::ProxySubmitRefused {
                    client: who.1.to_string(),
                    tenant,
                    media: media.clone(),
                    code,
                }));
                return Err(code);
            }
        };
        debug_assert!(
            self.connected[node]
                && (self.cfg.nodes[node].accepts(tenant, media)
                    || self.cfg.planted(ProxyBug::SubmitIgnoresMedia)),
            "[S-PX-route] a submit goes to a connected node that takes its media type"
        );
        out.push(Output::Trace(TraceEvent::ProxySubmitSent {
            client: who.1.to_string(),
            tenant,
            media: media.clone(),
            ixn: client_ixn,
            node: node as u16,
        }));
        self.forward(now, who, node, request.clone(), None, out);
        Ok(())
    }

    /// The node a submit of `media` for `tenant` goes to, or the refusal.
    fn submit_node(
        &mut self,
        tenant: TenantId,
        media: &str,
        client_ixn: Option<IxnId>,
        out: &mut Vec<Output>,
    ) -> Result<usize, ErrorCode> {
        self.check_media_enabled(tenant, media, out)?;
        let candidates = self.submit_candidates(tenant, media);
        if candidates.is_empty() {
            return Err(ErrorCode::NoNodeForMedia);
        }
        if candidates.len() < self.cfg.tenant_nodes(tenant).len() {
            mark(Mark::ProxySubmitNarrowed, out);
        }
        if let Some(id) = client_ixn {
            let node = candidates[(id.0 % candidates.len() as u64) as usize];
            if !self.connected[node] {
                return Err(ErrorCode::ConnectionLost);
            }
            return Ok(node);
        }
        let live = self.live(candidates);
        if live.is_empty() {
            return Err(ErrorCode::ConnectionLost);
        }
        self.rr_submit = self.rr_submit.wrapping_add(1);
        Ok(live[self.rr_submit % live.len()])
    }

    /// 2003 for a media type the tenant does not have; 2001 for one it has disabled
    /// [S-PX-disabled].
    fn check_media_enabled(
        &self,
        tenant: TenantId,
        media: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ErrorCode> {
        let media_cfg = self
            .cfg
            .tenant(tenant)
            .and_then(|t| t.media.iter().find(|m| m.name == media))
            .ok_or(ErrorCode::NotAccessible)?;
        if media_cfg.enabled || self.cfg.planted(ProxyBug::ForwardsDisabledMedia) {
            return Ok(());
        }
        mark(Mark::ProxyDisabledMedia, out);
        if self.cfg.planted(ProxyBug::DisabledMediaNotAccessible) {
            return Err(ErrorCode::NotAccessible);
        }
        Err(ErrorCode::NoNodeForMedia)
    }

    /// The nodes that take `media` for `tenant`, in node order.
    fn submit_candidates(&self, tenant: TenantId, media: &str) -> Vec<usize> {
        let ignores_media = self.cfg.planted(ProxyBug::SubmitIgnoresMedia);
        (0..self.cfg.nodes.len())
            .filter(|node| {
                let config = &self.cfg.nodes[*node];
                if ignores_media {
                    config.tenants.contains(&tenant)
                } else {
                    config.accepts(tenant, media)
                }
            })
            .collect()
    }
}
