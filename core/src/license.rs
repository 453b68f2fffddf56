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
            // A node's, a router's and the supervisor's work, not the license server's.
            Request::Submit { .. }
            | Request::Pull { .. }
            | Request::PlaceInQueue { .. }
            | Request::UpdateUserData { .. }
            | Request::StopProcessing { .. }
            | Request::Deliver { .. }
            | Request::Accept { .. }
            | Request::Reject { .. }
            | Request::AgentLogin { .. }
            | Request::AgentLogout { .. }
            | Request::AgentReady { .. }
            | Request::AgentNotReady { .. }
            | Request::Find { .. }
            | Request::Snapshot { .. }
            | Request::Unregister
            | Request::Promote { .. }
            | Request::Demote
            | Request::SetSeats { .. }
            | Request::FindInteractions { .. }
            | Request::ReserveAgent { .. }
            | Request::SelectTarget { .. }
            | Request::Transfer { .. }
            | Request::Lease { .. }
            | Request::StrategiesLoaded { .. } => Event::Error {
                code: ErrorCode::UnsupportedOperation,
            },
        };
        out.push(Output::Send(peer, Message::reply(ref_id, event)));
    }

    /// [S-INV-machine]: the allocations never add up to more than the pool.
    fn check_invariants(&self) -> Result<(), String> {
        let total: u64 = self
            .allocations
            .values()
            .map(|seats| u64::from(*seats))
            .sum();
        if total > u64::from(self.cfg.pool) {
            return Err(format!(
                "{total} seats allocated from a pool of {}: {:?}",
                self.cfg.pool, self.allocations
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, RefId};
    use crate::machine::Peer;
    use crate::protocol::ClientKind;

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

    fn ask(server: &mut LicenseServer, ref_id: u32, request: Request) -> Vec<Output> {
        let mut out = Vec::new();
        let frame = Message::Request {
            ref_id: RefId(ref_id),
            request,
        };
        server.handle(0, Input::Frame(Peer::Client(0), frame), &mut out);
        out
    }

    fn answer(out: &[Output]) -> Option<&Event> {
        out.iter().find_map(|output| match output {
            Output::Send(_, Message::Event { event, .. }) => Some(event),
            _ => None,
        })
    }

    /// The mark `license-short-grant` comes with a grant below the request, and only then.
    #[test]
    fn short_grants_and_only_they_are_marked() {
        let mut server = LicenseServer::new(LicenseConfig { pool: 40 });
        let short = |out: &[Output]| out.contains(&Output::Mark(Mark::LicenseShortGrant));
        for (ref_id, (group, seats, granted, marked)) in [
            ("pair1", 30, 30, false),
            ("pair2", 10, 10, false),
            ("pair3", 30, 0, true),
            ("pair2", 20, 10, true),
        ]
        .into_iter()
        .enumerate()
        {
            let request = Request::CheckOutSeats {
                group: group.to_string(),
                seats,
            };
            let out = ask(&mut server, ref_id as u32, request);
            assert_eq!(answer(&out), Some(&Event::Seats { seats: granted }));
            assert_eq!(short(&out), marked, "{group} asking {seats}");
        }
    }

    /// [S-INV-machine]: a server that gave out more than its pool says so.
    #[test]
    fn over_allocation_breaks_the_invariants() {
        let mut server = LicenseServer::new(LicenseConfig { pool: 40 });
        server.check_out("pair1", 30);
        server.check_out("pair2", 30);
        assert_eq!(server.check_invariants(), Ok(()));
        server.allocations.insert("pair3".into(), 1);
        assert!(server
            .check_invariants()
            .unwrap_err()
            .contains("pool of 40"));
    }

    /// A node's registration and pings are acknowledged; anything else is unsupported.
    #[test]
    fn registration_and_pings_are_acked() {
        let mut server = LicenseServer::new(LicenseConfig { pool: 10 });
        let register = Request::RegisterClient {
            name: "is1".to_string(),
            kind: ClientKind::MediaServer,
        };
        let ack = Some(&Event::Ack { ixn: None });
        assert_eq!(answer(&ask(&mut server, 1, register)), ack);
        assert_eq!(answer(&ask(&mut server, 2, Request::Ping)), ack);
        let other = ask(&mut server, 3, Request::AgentLogout { agent: AgentId(1) });
        assert_eq!(
            answer(&other),
            Some(&Event::Error {
                code: ErrorCode::UnsupportedOperation
            })
        );
    }
}
