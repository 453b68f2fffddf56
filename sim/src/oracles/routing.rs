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

use super::links::Links;
use super::refusals::ProxyRules;
use super::{OracleInput, Violation};
use crate::trace::{Trace, TraceEntry};
use ixsim_core::ids::TenantId;
use ixsim_core::protocol::ErrorCode;
use ixsim_core::trace::TraceEvent;

pub const PX_ROUTE: &str = "S-PX-route";
pub const PX_DISABLED: &str = "S-PX-disabled";
pub const PX_2001: &str = "S-PX-2001";

pub fn proxy_routing(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let submits = Submits {
        trace: input.trace,
        rules,
        nodes: usize::from(rules.nodes),
    };
    let mut violations = Vec::new();
    let mut links = Links::of_proxies(rules);
    for entry in &input.trace.entries {
        let Some(state) = links.get_mut(&entry.host) else {
            continue;
        };
        if state.observe(&entry.event, entry.at) {
            continue;
        }
        match &entry.event {
            TraceEvent::ProxySubmitRefused {
                client,
                tenant,
                media,
                code,
            } => violations.extend(submits.refused(entry, client, *tenant, media, *code)),
            TraceEvent::ProxySubmitSent {
                client,
                tenant,
                media,
                node,
                ..
            } => {
                let submit = (client.as_str(), *tenant, media);
                submits.sent(entry, state, submit, *node, &mut violations);
            }
            _ => {}
        }
    }
    violations
}

/// What judging a proxy's submits needs.
struct Submits<'a> {
    trace: &'a Trace,
    rules: &'a ProxyRules,
    nodes: usize,
}

impl Submits<'_> {
    /// [S-PX-2001]: the proxy of `entry` refused `client`'s submit of `media` for `tenant`
    /// with `code`: 2001 exactly when the tenant has the media type and has disabled it, or no
    /// node of the tenant takes it.
    fn refused(
        &self,
        entry: &TraceEntry,
        client: &str,
        tenant: TenantId,
        media: &String,
        code: ErrorCode,
    ) -> Option<Violation> {
        let rules = self.rules;
        let has =
            |list: &[(TenantId, String)]| list.iter().any(|(t, m)| *t == tenant && m == media);
        let accepting = (0..self.nodes).any(|n| accepts(rules, n, tenant, media));
        let disabled = has(&rules.disabled_media);
        let must = has(&rules.tenant_media) && (disabled || !accepting);
        let said = code == ErrorCode::NoNodeForMedia;
        if must == said {
            return None;
        }
        let why = match (disabled, accepting) {
            (true, _) => "its tenant has disabled it",
            (false, false) => "no node of its tenant takes it",
            (false, true) => "it is enabled and a node of its tenant takes it",
        };
        Some(Violation {
            oracle: PX_2001,
            at_ms: entry.at,
            detail: format!(
                "{} refused {client}'s submit of {media} for tenant {} with {code}; {why}, \
                 so the answer {} 2001",
                self.trace.host_name(entry.host),
                tenant.0,
                if must { "must be" } else { "is not" }
            ),
        })
    }

    /// [S-PX-route] and [S-PX-disabled]: the proxy of `entry`, with `links`, sent `submit`
    /// (client, tenant, media) to node `node`.
    fn sent(
        &self,
        entry: &TraceEntry,
        links: &Links,
        (client, tenant, media): (&str, TenantId, &String),
        node: u16,
        out: &mut Vec<Violation>,
    ) {
        let host = self.trace.host_name(entry.host);
        let accepts = |n: usize| accepts(self.rules, n, tenant, media);
        let mut fail = |detail: String| {
            out.push(Violation {
                oracle: PX_ROUTE,
                at_ms: entry.at,
                detail: format!(
                    "{host} sent {client}'s submit of {media} for tenant {} to srv{node}: {detail}",
                    tenant.0
                ),
            })
        };
        let index = usize::from(node);
        if !accepts(index) {
            let accepting: Vec<String> = (0..self.nodes)
                .filter(|n| accepts(*n))
                .map(|n| format!("srv{n}"))
                .collect();
            fail(format!(
                "that node does not take it (the nodes that do: [{}])",
                accepting.join(" ")
            ));
        } else if !links.up(index) {
            fail("that node is not connected".to_string());
        }
        if self
            .rules
            .disabled_media
            .iter()
            .any(|(t, m)| *t == tenant && m == media)
        {
            out.push(Violation {
                oracle: PX_DISABLED,
                at_ms: entry.at,
                detail: format!(
                    "{host} sent {client}'s submit of {media}, disabled for tenant {}, to srv{node}",
                    tenant.0
                ),
            });
        }
    }
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
