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
        self.after_write.write(op, then, out);
    }

    pub(super) fn on_persisted(&mut self, now: SimTime, upto: WriteId, out: &mut Vec<Output>) {
        let done = self.after_write.durable(upto);
        if done.is_empty() {
            return;
        }
        out.push(Output::Trace(TraceEvent::Persisted { writes: upto.0 + 1 }));
        let mut touched = BTreeSet::new();
        for (_, actions) in done {
            for action in actions {
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
