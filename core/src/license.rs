//! The license server [S-LIC]: a pool of agent seats that nodes check out.
//!
//! Each IS pair checks out its configured number of seats under its own license group (the
//! DBID of the primary in the product), so the two members of a pair share one allocation and
//! nodes of a cluster do not share seats [S-LIC-checkout]. Requests are served in arrival order
//! from what the other groups left: with a pool of 100 and four nodes asking 30 each, the nodes
//! get 30, 30, 30 and 10 (which node gets 10 depends on who asks last).
//!
//! A group asking again (a restarted or promoted node, or a changed configuration) replaces
//! its allocation: asking for fewer seats returns the rest to the pool [S-LIC-shrink]. Where
//! the seeds are silent: allocations are kept while the license server runs, even when a node's
//! connection closes (the pair's other member takes them over); a restarted license server
//! starts empty and the nodes check out again when they reconnect.
//!
//! Must not: grant more seats in total than the pool holds.

use crate::ids::SimTime;
use crate::machine::{Input, Machine, Output};
use crate::marks::{mark, Mark};
use crate::protocol::{ErrorCode, Event, Message, Request};
use crate::trace::TraceEvent;
use std::collections::BTreeMap;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LicenseConfig {
    /// Agent seats in the pool.
    pub pool: u32,
}

pub struct LicenseServer {
    cfg: LicenseConfig,
    allocations: BTreeMap<String, u32>,
}

impl LicenseServer {
    pub fn new(cfg: LicenseConfig) -> Self {
        LicenseServer {
            cfg,
            allocations: BTreeMap::new(),
        }
    }

    pub fn allocations(&self) -> &BTreeMap<String, u32> {
        &self.allocations
    }

    /// Grants `group` what it asks for, up to what the other groups left.
    pub fn check_out(&mut self, group: &str, seats: u32) -> u32 {
        let others: u32 = self
            .allocations
            .iter()
            .filter(|(name, _)| name.as_str() != group)
            .map(|(_, seats)| *seats)
            .sum();
        let granted = seats.min(self.cfg.pool.saturating_sub(others));
        self.allocations.insert(group.to_string(), granted);
        granted
    }
}

impl Machine for LicenseServer {
    fn handle(&mut self, _now: SimTime, input: Input, out: &mut Vec<Output>) {
        let Input::Frame(peer, Message::Request { ref_id, request }) = input else {
            return;
        };
        let event = match request {
            Request::CheckOutSeats { group, seats } => {
                let granted = self.check_out(&group, seats);
                if granted < seats {
                    mark(Mark::LicenseShortGrant, out);
                }
                out.push(Output::Trace(TraceEvent::SeatsGranted {
                    group,
                    requested: seats,
                    granted,
                }));
                Event::Seats { seats: granted }
            }
            Request::RegisterClient { .. } | Request::Ping => Event::Ack { ixn: None },
            _ => Event::Error {
                code: ErrorCode::UnsupportedOperation,
            },
        };
        out.push(Output::Send(peer, Message::reply(ref_id, event)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [S-LIC-checkout]: the seed's example, pool 100, four nodes asking 30.
    #[test]
    fn seed_example_thirty_thirty_thirty_ten() {
        let mut server = LicenseServer::new(LicenseConfig { pool: 100 });
        let granted: Vec<u32> = ["is1", "is2", "is3", "is4"]
            .iter()
            .map(|group| server.check_out(group, 30))
            .collect();
        assert_eq!(granted, vec![30, 30, 30, 10]);
        // The pair's other member (same group) gets the same allocation back, not more.
        assert_eq!(server.check_out("is4", 30), 10);
        // [S-LIC-shrink]: asking for fewer returns seats to the pool.
        assert_eq!(server.check_out("is1", 5), 5);
        assert_eq!(server.check_out("is4", 30), 30);
        let expected: BTreeMap<String, u32> = [("is1", 5), ("is2", 30), ("is3", 30), ("is4", 30)]
            .into_iter()
            .map(|(group, seats)| (group.to_string(), seats))
            .collect();
        assert_eq!(server.allocations(), &expected);
    }
}
