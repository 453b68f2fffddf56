//! Writes before answers [S-IS-durable]: every state change a client is told about goes to the
//! database first, and what depends on it waits for [`Input::Persisted`].

use super::{AfterWrite, IsNode};
use crate::db::{DbOp, Durable};
use crate::ids::SimTime;
use crate::machine::{Output, WriteId};
use crate::trace::TraceEvent;
use std::collections::BTreeSet;

impl IsNode {
    pub(super) fn persist(&mut self, op: DbOp, then: Vec<AfterWrite>, out: &mut Vec<Output>) {
        self.db.apply(&op);
        let write = WriteId(self.next_write);
        self.next_write += 1;
        out.push(Output::Persist(write, op));
        self.after_write.insert(write, then);
    }

    pub(super) fn on_persisted(&mut self, now: SimTime, upto: WriteId, out: &mut Vec<Output>) {
        let done: Vec<WriteId> = self.after_write.range(..=upto).map(|(id, _)| *id).collect();
        if done.is_empty() {
            return;
        }
        out.push(Output::Trace(TraceEvent::Persisted { writes: upto.0 + 1 }));
        let mut touched = BTreeSet::new();
        for write in done {
            for action in self.after_write.remove(&write).unwrap_or_default() {
                match action {
                    AfterWrite::Reply(peer, message) => self.send(peer, message, out),
                    AfterWrite::Notify(client, message) => {
                        self.send_to_client(&client, message, out)
                    }
                    AfterWrite::MakeAvailable(ixn) => {
                        self.in_flight.remove(&ixn);
                        if let Some(queue) = self.make_available(ixn) {
                            out.push(Output::Trace(TraceEvent::Queued {
                                ixn,
                                queue: queue.clone(),
                            }));
                            touched.insert(queue);
                        }
                    }
                }
            }
        }
        for queue in touched {
            self.serve_held(now, &queue, out);
        }
    }
}
