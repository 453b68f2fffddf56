//! What the proxy's unit tests share: a proxy in front of two connected nodes with one
//! registered client, and the requests and readings the tests use. No SPEC tag of its own.

use super::{Proxy, ProxyConfig, ProxyNode, PullMode};
use crate::ids::{RefId, TenantId};
use crate::is_node::TenantConfig;
use crate::machine::{Input, Machine, Output, Peer};
use crate::protocol::{ClientKind, Field, Message, Request};

/// A proxy in front of two nodes of tenant 1, both connected, with client 0 registered as
/// `desk` (its registration answered).
pub(super) fn proxy() -> Proxy {
    let node = ProxyNode {
        tenants: vec![TenantId(1)],
        media: None,
    };
    let mut proxy = Proxy::new(ProxyConfig {
        name: "proxy1".into(),
        nodes: vec![node.clone(), node],
        tenants: vec![TenantConfig {
            id: TenantId(1),
            media: Vec::new(),
        }],
        pull_hold_timeout_ms: 1000,
        pull_mode: PullMode::RoundRobin,
        request_timeout_ms: 1500,
        client_idle_timeout_ms: 0,
        tick_ms: 10,
        planted_bug: None,
    });
    let mut out = Vec::new();
    proxy.handle(0, Input::Connected(Peer::Server(0)), &mut out);
    proxy.handle(0, Input::Connected(Peer::Server(1)), &mut out);
    proxy.handle(0, Input::Connected(Peer::Client(0)), &mut out);
    let register = Message::Request {
        ref_id: RefId(1),
        request: Request::RegisterClient {
            name: "desk".into(),
            kind: ClientKind::AgentDesktop,
        },
    };
    proxy.handle(0, Input::Frame(Peer::Client(0), register), &mut out);
    proxy.asked.clear();
    proxy
}

/// Client 0's pull of `count` from tenant 1's `inbound` queue.
pub(super) fn pull_message(count: u32) -> Message {
    Message::Request {
        ref_id: RefId(7),
        request: Request::Pull {
            tenant: Field::Value(TenantId(1)),
            queue: "inbound".into(),
            view: "all".into(),
            count,
            hold_ms: None,
        },
    }
}

/// What the proxy asked each node, by request name.
pub(super) fn asked_nodes(out: &[Output]) -> Vec<(Peer, &'static str)> {
    out.iter()
        .filter_map(|output| match output {
            Output::Send(peer @ Peer::Server(_), Message::ProxiedRequest { request, .. }) => {
                Some((*peer, request.name()))
            }
            _ => None,
        })
        .collect()
}
