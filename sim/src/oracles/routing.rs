//! Where proxies send submits [S-PX-route], judged on every run with proxies against the
//! proxy's connections as its shell traced them (`connected srvN`, `disconnected srvN`):
//!
//! - every submit a proxy sends on (`proxy-submit-to srvN`) goes to a node that serves the
//!   submit's tenant and accepts its media type (the node's `media-types`; all media when it
//!   has none), and that is connected to the proxy at that moment;
//! - the proxy sends on only media types its tenant has enabled ([S-PX-disabled]: the node alone
//!   would accept a disabled one);
//! - [S-PX-2001]: a submit the proxy refused (`proxy-submit-refused`) is refused with 2001
//!   exactly when its media type is one the tenant has and has disabled, or one no configured
//!   node of the tenant accepts. (A media type the tenant does not have at all is a wrong-valued
//!   routing attribute, 2003 [S-PX-2003]; the model's reading, as the SPEC names both.)
//!
//! Not judged here: which of several accepting nodes a submit goes to. The model balances
//! submits without an id over the connected accepting nodes with one turn for all of them and
//! places a client-supplied id by its value; the SPEC asks only for load balancing, which a
//! single trace cannot tell from chance. The proxy model test pins the model's choice.

use super::refusals::{Links, ProxyRules};
use super::{OracleInput, Violation};
use ixsim_core::ids::TenantId;
use ixsim_core::protocol::ErrorCode;
use ixsim_core::trace::TraceEvent;
use std::collections::BTreeMap;

pub const PX_ROUTE: &str = "S-PX-route";
pub const PX_DISABLED: &str = "S-PX-disabled";
pub const PX_2001: &str = "S-PX-2001";

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
        if let TraceEvent::ProxySubmitRefused {
            client,
            tenant,
            media,
            code,
        } = &entry.event
        {
            let has =
                |list: &[(TenantId, String)]| list.iter().any(|(t, m)| t == tenant && m == media);
            let accepting = (0..nodes).any(|n| accepts(rules, n, *tenant, media));
            let disabled = has(&rules.disabled_media);
            let must = has(&rules.tenant_media) && (disabled || !accepting);
            let said = *code == ErrorCode::NoNodeForMedia;
            if must != said {
                let why = match (disabled, accepting) {
                    (true, _) => "its tenant has disabled it",
                    (false, false) => "no node of its tenant takes it",
                    (false, true) => "it is enabled and a node of its tenant takes it",
                };
                violations.push(Violation {
                    oracle: PX_2001,
                    at_ms: entry.at,
                    detail: format!(
                        "{} refused {client}'s submit of {media} for tenant {} with {code}; {why}, \
                         so the answer {} 2001",
                        trace.host_name(entry.host),
                        tenant.0,
                        if must { "must be" } else { "is not" }
                    ),
                });
            }
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
        let accepts = |n: usize| accepts(rules, n, *tenant, media);
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

/// Node `n` serves `tenant` and takes `media` (its `media-types`; every type when it has none).
fn accepts(rules: &ProxyRules, n: usize, tenant: TenantId, media: &String) -> bool {
    rules
        .node_tenants
        .get(n)
        .is_some_and(|tenants| tenants.contains(&tenant))
        && rules
            .node_media
            .get(n)
            .is_some_and(|list| list.as_ref().is_none_or(|l| l.contains(media)))
}
