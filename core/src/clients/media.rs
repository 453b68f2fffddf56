//! A media server (e-mail, chat gateway) that submits a seeded workload [S-IS-submit].
//!
//! Each interaction carries a client-supplied id, as an e-mail server submits with its own
//! message id: a submit whose acknowledgement was lost is sent again after reconnecting, and the
//! node's DuplicateId answer proves the first attempt was stored. So every interaction is
//! submitted at most once and acknowledged at least once: the [S-INV-lost] oracle can hold the
//! cluster to every `submit-acked` in the trace.
//!
//! Acknowledged items leave the server's durable [`Mailbox`]; a restarted media server starts
//! from what is still in it, as an e-mail server does not resubmit mail it already handed over.

use super::{Pending, Reading, TICK_TIMER};
use crate::db::{DbOp, Mailbox};
use crate::ids::{IxnId, SimTime, TenantId};
use crate::kv::KvList;
use crate::machine::{walk_polls, Input, Machine, Output, Peer, TimerId, WriteIds};
use crate::marks::{mark, Mark};
use crate::protocol::{ClientKind, ErrorCode, Event, Field, Request};
use crate::trace::TraceEvent;
use std::collections::VecDeque;

/// One interaction of the workload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SubmitSpec {
    pub at_ms: SimTime,
    pub ixn: IxnId,
    pub tenant: TenantId,
    pub media: String,
    pub queue: String,
    pub priority: i32,
    pub user_data: KvList,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MediaServerConfig {
    pub name: String,
    pub submits: Vec<SubmitSpec>,
    pub request_timeout_ms: u64,
    pub tick_ms: u64,
}

const SERVER: Peer = Peer::Server(0);

#[derive(Debug)]
enum Sent {
    Register,
    Submit(usize),
    Ping,
}

pub struct MediaServer {
    cfg: MediaServerConfig,
    connected: bool,
    /// Index of the next workload item whose time has not come yet.
    next: usize,
    /// Items due but not acknowledged and not in flight: sent on (re)connect.
    retry: VecDeque<usize>,
    pending: Pending<Sent>,
    last_sent_at: SimTime,
    /// Items handed over before this incarnation started (from the durable mailbox).
    mailbox: Mailbox,
    writes: WriteIds,
}

impl MediaServer {
    pub fn new(cfg: MediaServerConfig, mailbox: Mailbox) -> Self {
        debug_assert!(
            cfg.submits
                .windows(2)
                .all(|pair| pair[0].at_ms <= pair[1].at_ms),
            "workload must be in time order"
        );
        MediaServer {
            cfg,
            connected: false,
            next: 0,
            retry: VecDeque::new(),
            pending: Pending::default(),
            last_sent_at: 0,
            mailbox,
            writes: WriteIds::starting_at(0),
        }
    }

    fn send(&mut self, now: SimTime, request: Request, what: Sent, out: &mut Vec<Output>) {
        self.last_sent_at = now;
        self.pending.send(
            SERVER,
            request,
            now + self.cfg.request_timeout_ms,
            what,
            out,
        );
    }

    fn submit(&mut self, now: SimTime, index: usize, out: &mut Vec<Output>) {
        let spec = &self.cfg.submits[index];
        let request = Request::Submit {
            tenant: Field::Value(spec.tenant),
            media: Field::Value(spec.media.clone()),
            queue: spec.queue.clone(),
            priority: spec.priority,
            user_data: spec.user_data.clone(),
            client_ixn: Some(spec.ixn),
        };
        self.send(now, request, Sent::Submit(index), out);
    }

    /// When the keep-alive ping falls due: connected, nothing outstanding, half a request
    /// timeout after the last send.
    fn ping_due_at(&self) -> Option<SimTime> {
        (self.connected && self.pending.is_empty())
            .then_some(self.last_sent_at + self.cfg.request_timeout_ms / 2)
    }

    /// [`Machine::skip_idle_polls`]: a poll does something at once if connected with
    /// submits to send again, else from the first request deadline, the next submit's time or
    /// (connected, nothing outstanding) the ping due. Each poll sets the next a tick on, or at
    /// the next submit's time if sooner, as `on_tick` does.
    fn skip_polls(&self, at: SimTime, before: SimTime) -> SimTime {
        if self.connected && !self.retry.is_empty() {
            return at;
        }
        let upcoming = self.cfg.submits.get(self.next).map(|spec| spec.at_ms);
        let busy_from = [
            self.pending.earliest_deadline(),
            upcoming,
            self.ping_due_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        let tick = self.cfg.tick_ms;
        let step = |now: SimTime| upcoming.map_or(now + tick, |at| (now + tick).min(at));
        walk_polls(at, before, busy_from, step)
    }

    fn on_tick(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if let Some(request) = self.pending.expired(now) {
            out.push(Output::Trace(TraceEvent::RequestTimedOut { request }));
            out.push(Output::Close(SERVER));
        }
        while self.next < self.cfg.submits.len() && self.cfg.submits[self.next].at_ms <= now {
            if !self
                .mailbox
                .handed
                .contains(&self.cfg.submits[self.next].ixn)
            {
                self.retry.push_back(self.next);
            }
            self.next += 1;
        }
        if self.connected {
            while let Some(index) = self.retry.pop_front() {
                self.submit(now, index, out);
            }
            if self.ping_due_at().is_some_and(|due| now >= due) {
                self.send(now, Request::Ping, Sent::Ping, out);
            }
        }
        let mut at = now + self.cfg.tick_ms;
        // The loop above took every submit due by `now`: the next one is later.
        if let Some(spec) = self.cfg.submits.get(self.next) {
            at = at.min(spec.at_ms);
        }
        out.push(Output::SetTimer(TICK_TIMER, at));
    }

    fn on_answer(&mut self, now: SimTime, what: Sent, event: Event, out: &mut Vec<Output>) {
        let Sent::Submit(index) = what else {
            return;
        };
        let ixn = self.cfg.submits[index].ixn;
        match event {
            Event::Ack { .. }
            | Event::Error {
                code: ErrorCode::DuplicateId,
            } => {
                out.push(Output::Trace(TraceEvent::SubmitAcked { ixn }));
                let write = self.writes.issue();
                out.push(Output::Persist(write, DbOp::Handed(ixn)));
            }
            Event::Error { .. } => out.push(Output::Trace(TraceEvent::SubmitGaveUp { ixn })),
            other => {
                // Not an answer to a submit: the node misbehaves; try again later.
                let _ = other;
                self.retry.push_back(index);
                self.on_tick(now, out);
            }
        }
    }
}

impl Machine for MediaServer {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Start => self.on_tick(now, out),
            Input::Connected(_) => {
                self.connected = true;
                let register = Request::RegisterClient {
                    name: self.cfg.name.clone(),
                    kind: ClientKind::MediaServer,
                };
                self.send(now, register, Sent::Register, out);
                self.on_tick(now, out);
            }
            Input::Disconnected(_) => {
                self.connected = false;
                for what in self.pending.drain() {
                    if let Sent::Submit(index) = what {
                        mark(Mark::MediaSubmitRetried, out);
                        self.retry.push_back(index);
                    }
                }
                self.retry.make_contiguous().sort_unstable();
            }
            Input::Frame(_, message) => match self.pending.read(message) {
                Reading::Answer(what, event) => self.on_answer(now, what, event, out),
                // Submitted interactions are not the media server's to follow.
                Reading::Unsolicited(_) | Reading::Nothing => {}
            },
            Input::Persisted(_) => {}
            Input::Timer(_) => self.on_tick(now, out),
        }
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        if timer == TICK_TIMER {
            self.skip_polls(at, before)
        } else {
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::outputs::{names, requests};
    use super::*;
    use crate::protocol::Message;

    const TIMEOUT_MS: u64 = 400;
    const TICK_MS: u64 = 20;

    /// An idle media server pings once half its request timeout passed without a request,
    /// not before.
    #[test]
    fn an_idle_media_server_pings_after_half_its_timeout() {
        let cfg = MediaServerConfig {
            name: "media1".into(),
            submits: Vec::new(),
            request_timeout_ms: TIMEOUT_MS,
            tick_ms: TICK_MS,
        };
        let mut media = MediaServer::new(cfg, Mailbox::default());
        let mut out = Vec::new();
        media.handle(0, Input::Connected(SERVER), &mut out);
        let (_, ref_id, _) = requests(&out)[0].clone();
        let mut out = Vec::new();
        let ack = Message::reply(ref_id, Event::Ack { ixn: None });
        media.handle(0, Input::Frame(SERVER, ack), &mut out);
        media.handle(TIMEOUT_MS / 2 - TICK_MS, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(names(&out), Vec::<&str>::new());
        media.handle(TIMEOUT_MS / 2, Input::Timer(TICK_TIMER), &mut out);
        assert_eq!(names(&out), vec!["RequestPing"]);
    }
}
