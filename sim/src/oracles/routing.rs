//! Where proxies send submits [S-PX-route], judged on every run with proxies against the
//! proxy's connections as its shell traced them (`connected srvN`, `disconnected srvN`):
//!
//! - every submit a proxy sends on (`proxy-submit-to srvN`) goes to a node that serves the
//!   submit's tenant and accepts its media type (the node's `media-types`; all media when it
//!   has none), and that is connected to the proxy at that moment;
//! - the proxy sends on only media types its tenant has enabled ([S-PX-disabled]: the node alone
//!   would accept a disabled one).
//!
//! Not judged here: which of several accepting nodes a submit goes to. The model balances
//! submits without an id over the connected accepting nodes with one turn for all of them and
//! places a client-supplied id by its value; the SPEC asks only for load balancing, which a
//! single trace cannot tell from chance. The proxy model test pins the model's choice.

use super::refusals::{Links, ProxyRules};
use super::{OracleInput, Violation};
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const PX_ROUTE: &str = "S-PX-route";
pub const PX_DISABLED: &str = "S-PX-disabled";

pub fn proxy_routing(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut violations = Vec::new();
    let mut links: BTreeMap<u16, Links> = rules
        .hosts
        .iter()
        .map(|host| (*host, Links::new(nodes, 0)))
        .collect();
    for entry in &trace.entries {
        let Some(state) = links.get_mut(&entry.host) else {
            continue;
        };
        if state.observe(&entry.event, entry.at) {
            continue;
        }
        let TraceEvent::ProxySubmitSent {
            client,
            tenant,
            media,
            node,
            ..
        } = &entry.event
        else {
            continue;
        };
        let accepts = |n: usize| {
            rules
                .node_tenants
                .get(n)
                .is_some_and(|tenants| tenants.contains(tenant))
                && rules
                    .node_media
                    .get(n)
                    .is_some_and(|list| list.as_ref().is_none_or(|l| l.contains(media)))
        };
        let mut fail = |detail: String| {
            violations.push(Violation {
                oracle: PX_ROUTE,
                at_ms: entry.at,
                detail: format!(
                    "{} sent {client}'s submit of {media} for tenant {} to srv{node}: {detail}",
                    trace.host_name(entry.host),
                    tenant.0
                ),
            })
        };
        let index = usize::from(*node);
        if !accepts(index) {
            let accepting: Vec<String> = (0..nodes)
                .filter(|n| accepts(*n))
                .map(|n| format!("srv{n}"))
                .collect();
            fail(format!(
                "that node does not take it (the nodes that do: [{}])",
                accepting.join(" ")
            ));
        } else if !state.up.get(index).copied().unwrap_or(false) {
            fail("that node is not connected".to_string());
        }
        if rules
            .disabled_media
            .iter()
            .any(|(t, m)| t == tenant && m == media)
        {
            violations.push(Violation {
                oracle: PX_DISABLED,
                at_ms: entry.at,
                detail: format!(
                    "{} sent {client}'s submit of {media}, disabled for tenant {}, to srv{node}",
                    trace.host_name(entry.host),
                    tenant.0
                ),
            });
        }
    }
    violations
}
