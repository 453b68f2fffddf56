//! Proxy refusals in whole-cluster runs [S-PX-2000] [S-PX-2002] [S-PX-2003] [S-PX-2006]: the
//! proxy model test and its fuzz target judge every answer of a proxy driven alone; this
//! oracle judges what proxies refused in every sweep, so that a proxy that refuses where it
//! must route fails a scenario.
//!
//! - [S-PX-2000] "unsupported operation": a proxy answers 2000 only to a request it does not
//!   serve ([`SERVED`]: what an Interaction Server client sends about interactions, agents
//!   and its own registration; not pings, HA and licensing commands, routing or strategy
//!   requests).
//! - [S-PX-2002] "lost connection to one of the asked nodes": a proxy answers 2002 only if one
//!   of its node connections was down, or one of its nodes let a request time out
//!   (`node-silent`: the model answers a request no node answered with 2002), at some moment
//!   of the request's life (the window: the proxy's request timeout plus one client tick,
//!   before the answer).
//! - [S-PX-2003] "a broadcast lookup where some node did not answer": the same, for 2003, in
//!   scenarios whose clients send only well-formed requests (a prober's malformed routing
//!   attributes are 2003 too, by rule, and are judged by the proxy model test instead).
//! - [S-PX-2006] "snapshot not accessible": the same, for 2006 (a snapshot some node of the
//!   tenant could not answer).
//!
//! A proxy's node connections are read from its own `connected srvN` / `disconnected srvN`
//! facts (the shell's): down before the first connect and from a crash of the proxy until it
//! connects again. Not judged here: 2001 (`routing.rs`, with the submits), 2004 and 2005 (the
//! model test's).

use super::links::Links;
use super::{OracleInput, Violation};
use ixsim_core::ids::{SimTime, TenantId};
use ixsim_core::protocol::ErrorCode;
use ixsim_core::trace::TraceEvent;

pub const PX_2002: &str = "S-PX-2002";
pub const PX_2003: &str = "S-PX-2003";
pub const PX_2000: &str = "S-PX-2000";
pub const PX_2006: &str = "S-PX-2006";

/// The requests a proxy serves [S-PX-2000], by their protocol names.
pub const SERVED: &[&str] = &[
    "RequestRegisterClient",
    "RequestUnregisterClient",
    "RequestSubmit",
    "RequestPull",
    "RequestPlaceInQueue",
    "RequestChangeProperties",
    "RequestStopProcessing",
    "RequestDeliver",
    "RequestAccept",
    "RequestReject",
    "RequestGetInteractionProperties",
    "RequestGetSnapshot",
    "RequestFindInteractions",
    "RequestReserveAgent",
    "RequestTransfer",
    "RequestAgentLogin",
    "RequestAgentLogout",
    "RequestAgentReady",
    "RequestAgentNotReady",
];

/// What the refusal oracle needs of the scenario.
#[derive(Clone, Debug, Default)]
pub struct ProxyRules {
    /// Trace host ids of the proxies.
    pub hosts: Vec<u16>,
    pub nodes: u16,
    /// The tenants each node serves, node 0 first [S-PX-pull].
    pub node_tenants: Vec<Vec<TenantId>>,
    /// Each node's `media-types` as the proxies know it (`None`: every media type), node 0
    /// first [S-PX-route].
    pub node_media: Vec<Option<Vec<String>>>,
    /// The media types a tenant has disabled [S-PX-disabled].
    pub disabled_media: Vec<(TenantId, String)>,
    /// Every media type each tenant has, enabled or not [S-PX-2001].
    pub tenant_media: Vec<(TenantId, String)>,
    /// How long before its answer a request may have started: the proxy's request timeout and
    /// one client tick.
    pub window_ms: SimTime,
    /// The proxy's request timeout: an operation still waiting on a node then ends in the
    /// proxy's next tick [S-PX-2003].
    pub request_timeout_ms: SimTime,
    /// Some client sends malformed requests on purpose (a prober): 2003 is not judged.
    pub malformed: bool,
}

pub fn proxy_refusals(input: &OracleInput<'_>, rules: &ProxyRules) -> Vec<Violation> {
    let trace = input.trace;
    let nodes = usize::from(rules.nodes);
    let mut violations = Vec::new();
    let mut links = Links::of_proxies(rules);
    for entry in &trace.entries {
        let Some(state) = links.get_mut(&entry.host) else {
            continue;
        };
        if state.observe(&entry.event, entry.at) {
            continue;
        }
        match &entry.event {
            // A node that let a request time out counts as lost for it.
            TraceEvent::NodeSilent { node } => {
                if let Some(link) = state.nodes.get_mut(usize::from(*node)) {
                    link.last_down = entry.at;
                }
            }
            TraceEvent::RequestFailed {
                request,
                code: ErrorCode::UnsupportedOperation,
            } if SERVED.contains(request) => {
                violations.push(Violation {
                    oracle: PX_2000,
                    at_ms: entry.at,
                    detail: format!(
                        "{} refused {request} as an unsupported operation (2000), though a \
                         proxy serves it",
                        trace.host_name(entry.host),
                    ),
                });
            }
            TraceEvent::RequestFailed { request, code } => {
                let (oracle, judged) = match code {
                    ErrorCode::ConnectionLost => (PX_2002, true),
                    ErrorCode::NotAccessible => (PX_2003, !rules.malformed),
                    ErrorCode::SnapshotNotAccessible => (PX_2006, true),
                    _ => continue,
                };
                if judged && !state.any_down_since(entry.at, rules.window_ms) {
                    violations.push(Violation {
                        oracle,
                        at_ms: entry.at,
                        detail: format!(
                            "{} refused {request} with {} ({}) while connected to all {nodes} nodes for the last {} ms",
                            trace.host_name(entry.host),
                            code.number(),
                            code.text(),
                            rules.window_ms
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    violations
}
