//! A prober: a scripted client that sends chosen requests, good and malformed, at chosen times,
//! to a proxy or straight to a node, and traces every answer. The `proxy-errors` scenario uses
//! it to drive each proxy error code [S-PX-2000]..[S-PX-2006] in the situation SPEC.md names.
//!
//! Each server of the prober (`Peer::Server(i)`) is a proxy or a node; a step names which. The
//! prober registers on every connection and sends each step once, when its time has come and
//! its server is connected (a step whose server is down waits).

use super::TICK_TIMER;
use crate::ids::{AgentId, IxnId, RefId, SimTime, TenantId};
use crate::kv::{KvList, KvValue};
use crate::machine::{Input, Machine, Output, Peer};
use crate::protocol::{ClientKind, Event, Field, Message, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProbeStep {
    pub at_ms: SimTime,
    /// Index of the server to send to.
    pub server: u16,
    pub request: Request,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProberConfig {
    pub name: String,
    pub steps: Vec<ProbeStep>,
    pub tick_ms: u64,
}

pub struct Prober {
    cfg: ProberConfig,
    connected: Vec<bool>,
    sent: Vec<bool>,
    next_ref: u32,
    asked: BTreeMap<RefId, usize>,
}

impl Prober {
    pub fn new(cfg: ProberConfig) -> Self {
        let steps = cfg.steps.len();
        let servers = cfg
            .steps
            .iter()
            .map(|step| usize::from(step.server) + 1)
            .max()
            .unwrap_or(0);
        Prober {
            cfg,
            connected: vec![false; servers],
            sent: vec![false; steps],
            next_ref: 0,
            asked: BTreeMap::new(),
        }
    }

    fn send(&mut self, server: u16, request: Request, step: Option<usize>, out: &mut Vec<Output>) {
        self.next_ref = self.next_ref.wrapping_add(1);
        let ref_id = RefId(self.next_ref);
        if let Some(step) = step {
            self.asked.insert(ref_id, step);
        }
        out.push(Output::Send(
            Peer::Server(server),
            Message::Request { ref_id, request },
        ));
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for index in 0..self.cfg.steps.len() {
            let step = &self.cfg.steps[index];
            let up = self
                .connected
                .get(usize::from(step.server))
                .copied()
                .unwrap_or(false);
            if !self.sent[index] && step.at_ms <= now && up {
                self.sent[index] = true;
                let (server, request) = (step.server, step.request.clone());
                self.send(server, request, Some(index), out);
            }
        }
        out.push(Output::SetTimer(TICK_TIMER, now + self.cfg.tick_ms));
    }
}

impl Machine for Prober {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start | Input::Timer(_) => self.on_tick(now, out),
            Input::Connected(Peer::Server(server)) => {
                if let Some(up) = self.connected.get_mut(usize::from(server)) {
                    *up = true;
                }
                // One name per connection: a node sees the prober both directly and behind the
                // proxy, and a second registration under one name would take the first over.
                let register = Request::RegisterClient {
                    name: format!("{}.{server}", self.cfg.name),
                    kind: ClientKind::MediaServer,
                };
                self.send(server, register, None, out);
                self.on_tick(now, out);
            }
            Input::Disconnected(Peer::Server(server)) => {
                if let Some(up) = self.connected.get_mut(usize::from(server)) {
                    *up = false;
                }
            }
            Input::Frame(
                _,
                Message::Event {
                    ref_id: Some(ref_id),
                    event,
                },
            ) => {
                let Some(step) = self.asked.remove(&ref_id) else {
                    return;
                };
                let code = match &event {
                    Event::Error { code } => Some(*code),
                    _ => None,
                };
                let asked = &self.cfg.steps[step];
                if let (
                    Event::SnapshotContent { items },
                    Request::Snapshot {
                        queue, view, max, ..
                    },
                ) = (&event, &asked.request)
                {
                    out.push(Output::Trace(TraceEvent::SnapshotSeen {
                        queue: queue.clone(),
                        view: view.clone(),
                        max: *max,
                        asked_at_ms: asked.at_ms,
                        ixns: items.iter().map(|item| item.id).collect(),
                    }));
                }
                if let (
                    Event::InteractionsFound { items },
                    Request::FindInteractions {
                        tenant: Field::Value(tenant),
                        key,
                        equals,
                        max,
                    },
                ) = (&event, &asked.request)
                {
                    out.push(Output::Trace(TraceEvent::FoundSeen {
                        tenant: *tenant,
                        key: key.clone(),
                        equals: equals.clone(),
                        max: *max,
                        asked_at_ms: asked.at_ms,
                        ixns: items.iter().map(|item| item.id).collect(),
                    }));
                }
                out.push(Output::Trace(TraceEvent::ProbeAnswered {
                    step: step as u32,
                    request: self.cfg.steps[step].request.name(),
                    answer: event.name(),
                    code,
                }));
            }
            Input::Connected(Peer::Client(_))
            | Input::Disconnected(Peer::Client(_))
            | Input::Frame(..)
            | Input::Persisted(_) => {}
        }
    }
}

/// The `reporting` script: a reporting client's snapshots of `queue`'s view `all` (at most
/// `max` items asked) through the proxy (server 0), every `every_ms` from `start_ms` to
/// `until_ms`, during the load and faults of the scenario [S-IS-snapshot] [S-PX-merge]; and
/// half-way between two snapshots, a find of tenant 1's VIP interactions (user data `VIP` =
/// "yes", at most `find_max` from each node) [S-PX-merge].
pub fn reporting_script(
    queue: &str,
    (start_ms, every_ms, until_ms): (SimTime, SimTime, SimTime),
    max: u32,
    find_max: u32,
) -> Vec<ProbeStep> {
    let every = every_ms.max(1);
    (0..)
        .map(|index: u64| start_ms.saturating_add(index.saturating_mul(every)))
        .take_while(|at| *at <= until_ms)
        .flat_map(|at_ms| {
            let snapshot = ProbeStep {
                at_ms,
                server: 0,
                request: Request::Snapshot {
                    tenant: Field::Value(TenantId(1)),
                    queue: queue.to_string(),
                    view: "all".into(),
                    max,
                },
            };
            let find = ProbeStep {
                at_ms: at_ms.saturating_add(every / 2),
                server: 0,
                request: Request::FindInteractions {
                    tenant: Field::Value(TenantId(1)),
                    key: "VIP".into(),
                    equals: KvValue::Str("yes".into()),
                    max: find_max,
                },
            };
            [snapshot, find]
        })
        .filter(|step| step.at_ms <= until_ms)
        .collect()
}

/// The `error-codes` script: server 0 is a proxy in front of two nodes that serve tenant 1 with
/// media `email` (enabled) and `sms` (disabled); servers 1 and 2 are those nodes, directly.
/// Node 2 (the proxy's second node) must be down from `down_ms` for a while (the scenario's
/// fault plan crashes it). Every proxy code 2000-2006 comes out once:
/// - 2000: RequestPing through the proxy.
/// - 2001: a submit of the disabled media type.
/// - 2003: a submit without a tenant; a lookup with a wrongly typed interaction id; a lookup of
///   an unknown id while node 2 is down (node 1 says "not found", node 2 cannot answer).
/// - 2004: an agent's ready while its login is still in progress.
/// - 2005: the same client-supplied id submitted straight to both nodes, then looked up.
/// - 2006: a snapshot while node 2 is down.
/// - 2002: a submit whose client id belongs to node 2 while it is down.
pub fn error_codes_script(queue: &str, start_ms: SimTime, down_ms: SimTime) -> Vec<ProbeStep> {
    let tenant = TenantId(1);
    let submit = |media: &str, tenant: Field<TenantId>, id: Option<IxnId>| Request::Submit {
        tenant,
        media: Field::Value(media.to_string()),
        queue: queue.to_string(),
        priority: 0,
        user_data: KvList::new().with("Probe", KvValue::Int(1)),
        client_ixn: id,
    };
    let twin = IxnId(0xB0_0000_0000_0002);
    let unknown = IxnId(0xB0_0000_0000_0004);
    // Odd ids go to the proxy's second node (id mod 2 among two accepting nodes).
    let on_node_2 = IxnId(0xB0_0000_0000_0005);
    let step = |at_ms, server, request| ProbeStep {
        at_ms,
        server,
        request,
    };
    vec![
        step(start_ms, 0, Request::Ping),
        step(start_ms, 0, submit("sms", Field::Value(tenant), None)),
        step(start_ms, 0, submit("email", Field::Missing, None)),
        step(
            start_ms,
            0,
            Request::Find {
                ixn: Field::WrongType(KvValue::Str("not-an-id".into())),
            },
        ),
        step(
            start_ms,
            0,
            Request::AgentLogin {
                tenant: Field::Value(tenant),
                agent: AgentId(900),
                media: vec!["email".into()],
            },
        ),
        step(
            start_ms,
            0,
            Request::AgentReady {
                agent: AgentId(900),
            },
        ),
        step(
            start_ms,
            1,
            submit("email", Field::Value(tenant), Some(twin)),
        ),
        step(
            start_ms,
            2,
            submit("email", Field::Value(tenant), Some(twin)),
        ),
        step(
            start_ms + 500,
            0,
            Request::Find {
                ixn: Field::Value(twin),
            },
        ),
        step(
            down_ms,
            0,
            Request::Snapshot {
                tenant: Field::Value(tenant),
                queue: queue.to_string(),
                view: "all".into(),
                max: 10,
            },
        ),
        step(
            down_ms,
            0,
            Request::Find {
                ixn: Field::Value(unknown),
            },
        ),
        step(
            down_ms,
            0,
            submit("email", Field::Value(tenant), Some(on_node_2)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::outputs::requests;
    use super::*;

    /// A scripted step goes out once, at its time, to its server.
    #[test]
    fn a_step_is_sent_once_at_its_time() {
        let mut prober = Prober::new(ProberConfig {
            name: "prober".into(),
            steps: vec![ProbeStep {
                at_ms: 100,
                server: 1,
                request: Request::Ping,
            }],
            tick_ms: 20,
        });
        let mut out = Vec::new();
        prober.handle(0, Input::Connected(Peer::Server(1)), &mut out);
        prober.handle(50, Input::Timer(TICK_TIMER), &mut out);
        let pings = |out: &[Output]| {
            requests(out)
                .into_iter()
                .filter(|(_, _, request)| *request == Request::Ping)
                .map(|(peer, _, _)| peer)
                .collect::<Vec<_>>()
        };
        assert_eq!(pings(&out), Vec::<Peer>::new(), "sent early");
        prober.handle(100, Input::Timer(TICK_TIMER), &mut out);
        prober.handle(120, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(pings(&out), vec![Peer::Server(1)]);
    }
}
