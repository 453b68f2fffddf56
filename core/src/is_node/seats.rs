//! Seats [S-LIC]: checking seats out from the license server under the node's license group,
//! refusing logins past the limit [S-LIC-checkout], and logging the latest logins out when the
//! seats shrink [S-LIC-shrink].

use super::{IsNode, PlantedBug, LICENSE_SERVER};
use crate::ids::RefId;
use crate::machine::Output;
use crate::marks::{mark, Mark};
use crate::protocol::{Event, Message, Request};
use crate::trace::TraceEvent;

impl IsNode {
    /// How many agents may be logged in here now [S-LIC-checkout].
    pub(super) fn seat_limit(&self) -> Option<u32> {
        match &self.cfg.license_group {
            None => self.cfg.seats,
            Some(_) => Some(
                self.granted
                    .unwrap_or(0)
                    .min(self.cfg.seats.unwrap_or(u32::MAX)),
            ),
        }
    }

    pub(super) fn check_out_seats(&mut self, out: &mut Vec<Output>) {
        let Some(group) = self.cfg.license_group.clone() else {
            return;
        };
        if !self.license_connected {
            return;
        }
        self.next_license_ref += 1;
        let request = Request::CheckOutSeats {
            group,
            seats: self.cfg.seats.unwrap_or(u32::MAX),
        };
        out.push(Output::Send(
            LICENSE_SERVER,
            Message::Request {
                ref_id: RefId(self.next_license_ref),
                request,
            },
        ));
    }

    /// [S-LIC-shrink]: fewer seats than logged-in agents logs the latest logins out.
    pub(super) fn enforce_seats(&mut self, out: &mut Vec<Output>) {
        let Some(limit) = self.seat_limit() else {
            return;
        };
        out.push(Output::Trace(TraceEvent::SeatLimit { seats: limit }));
        if self.cfg.planted_bug == Some(PlantedBug::ShrinkKeepsLogins) {
            return;
        }
        while self.agents.len() as u32 > limit {
            let Some((agent, conn)) = self
                .agents
                .iter()
                .max_by_key(|(_, agent)| agent.since)
                .map(|(id, agent)| (*id, agent.peer))
            else {
                break;
            };
            mark(Mark::IsSeatsShrunk, out);
            self.send(conn, Message::unsolicited(Event::LoggedOut { agent }), out);
            self.logout(agent, out);
        }
    }
}
