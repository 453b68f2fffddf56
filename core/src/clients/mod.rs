//! The clients of the cluster: a media server that submits a workload, a simple router that
//! pulls and delivers, and agent desktops. They are machines like the servers, so the same
//! shells run them and the same oracles judge what they saw.
//!
//! Every client keeps request timeouts: turmoil never retransmits, so a partitioned connection
//! stalls for good, and a client that waits forever on it would hide faults instead of
//! surviving them. A timed-out request closes the connection; the shell reconnects.

pub mod agent;
pub mod media;
pub mod prober;
pub mod router;

use crate::ids::{RefId, SimTime};
use crate::machine::{Output, Peer, TimerId};
use crate::protocol::{Event, Message, Request};
use std::collections::BTreeMap;

/// Outstanding requests of one connection, with deadlines.
#[derive(Debug)]
pub struct Pending<T> {
    next_ref: u32,
    requests: BTreeMap<RefId, (SimTime, &'static str, T)>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            next_ref: 0,
            requests: BTreeMap::new(),
        }
    }
}

impl<T> Pending<T> {
    /// Sends `request` on `peer`, remembering `what` until the answer or `deadline`.
    pub fn send(
        &mut self,
        peer: Peer,
        request: Request,
        deadline: SimTime,
        what: T,
        out: &mut Vec<Output>,
    ) -> RefId {
        let ref_id = RefId(self.next_ref);
        self.next_ref = self.next_ref.wrapping_add(1);
        self.requests
            .insert(ref_id, (deadline, request.name(), what));
        out.push(Output::Send(peer, Message::Request { ref_id, request }));
        ref_id
    }

    pub fn answer(&mut self, ref_id: RefId) -> Option<T> {
        self.requests.remove(&ref_id).map(|(_, _, what)| what)
    }

    /// Reads a frame from the server: the answer to one of these requests (which it takes
    /// off the table), an event of the server's own, or nothing a client acts on.
    pub fn read(&mut self, message: Message) -> Reading<T> {
        match message {
            Message::Event {
                ref_id: Some(ref_id),
                event,
            } => match self.answer(ref_id) {
                Some(what) => Reading::Answer(what, event),
                None => Reading::Nothing,
            },
            Message::Event {
                ref_id: None,
                event,
            } => Reading::Unsolicited(event),
            Message::Request { .. }
            | Message::ProxiedRequest { .. }
            | Message::ProxiedEvent { .. } => Reading::Nothing,
        }
    }

    /// The earliest deadline of the outstanding requests: from then on [`Self::expired`] names
    /// one.
    pub fn earliest_deadline(&self) -> Option<SimTime> {
        self.requests
            .values()
            .map(|(deadline, _, _)| *deadline)
            .min()
    }

    /// The name of the first request past its deadline, if any.
    pub fn expired(&self, now: SimTime) -> Option<&'static str> {
        self.requests
            .values()
            .find(|(deadline, _, _)| *deadline <= now)
            .map(|(_, name, _)| *name)
    }

    /// Forgets every outstanding request (the connection is gone), returning what they were.
    pub fn drain(&mut self) -> Vec<T> {
        std::mem::take(&mut self.requests)
            .into_values()
            .map(|(_, _, what)| what)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// A frame from the server, as a client reads it ([`Pending::read`]).
#[derive(Debug)]
pub enum Reading<T> {
    /// The answer to an outstanding request, with what that request was.
    Answer(T, Event),
    /// An event the server sent of its own accord (an invitation, a taken interaction).
    Unsolicited(Event),
    /// An answer to a request no longer waited for (timed out, or sent before a reconnect),
    /// or a request or proxied frame, which no server sends a client.
    Nothing,
}

/// The timer every client uses to look at its deadlines and retries.
pub const TICK_TIMER: TimerId = TimerId(0);

/// What the clients' unit tests read from a step's outputs.
#[cfg(test)]
pub(crate) mod outputs {
    use super::*;
    use crate::trace::TraceEvent;

    /// The requests sent, with their peer and reference.
    pub(crate) fn requests(out: &[Output]) -> Vec<(Peer, RefId, Request)> {
        out.iter()
            .filter_map(|output| match output {
                Output::Send(peer, Message::Request { ref_id, request }) => {
                    Some((*peer, *ref_id, request.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The names of the requests given up on.
    pub(crate) fn timed_out(out: &[Output]) -> Vec<&'static str> {
        out.iter()
            .filter_map(|output| match output {
                Output::Trace(TraceEvent::RequestTimedOut { request }) => Some(*request),
                _ => None,
            })
            .collect()
    }

    /// The names of the requests sent.
    pub(crate) fn names(out: &[Output]) -> Vec<&'static str> {
        requests(out).iter().map(|(_, _, r)| r.name()).collect()
    }
}
