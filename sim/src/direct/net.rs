//! The direct runner's network: links between hosts, connections and the segments in flight on
//! them. Data only; [`super`] moves the segments and tells the hosts.
//!
//! See the module doc of [`super`] for the model this implements.

use crate::seeds::{sub_seed, STREAM_DIRECT_NET};
use ixsim_core::machine::Peer;
use ixsim_core::protocol::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Microseconds since the start of the run.
pub(super) type Micros = u64;

/// What one direction of a link does with what is sent on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum LinkState {
    #[default]
    Healthy,
    /// Dropped as sent, and what was in flight is gone.
    Partitioned,
    /// Kept, in order, until released.
    Held,
}

/// What travels on a connection.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Segment {
    /// One frame: the message itself, checked to encode within the frame limit when sent
    /// (decoding what was encoded gives the message back: the codec's own property, which the
    /// `codec_decode` fuzz target and the codec tests hold it to).
    Data(Box<Message>),
    /// The sender closed its end: after everything it sent before.
    Fin,
    /// The receiving end is gone: the other end closes at once.
    Rst,
}

/// One end of a connection: a host incarnation's view of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct End {
    pub host: usize,
    pub incarnation: u32,
    /// The other end, as this end's machine names it.
    pub peer: Peer,
    /// The connection's generation at this end's host.
    pub generation: u64,
    pub open: bool,
}

/// A connection: side 0 dialed, side 1 accepted.
#[derive(Clone, Debug)]
pub(super) struct Conn {
    pub ends: [End; 2],
    /// Per direction (by sending side): when the last segment sent that way arrives (in-order
    /// delivery), and whether a segment was lost that way (then nothing after it arrives:
    /// there is no retransmission, as under turmoil).
    pub last_arrival: [Micros; 2],
    pub gap: [bool; 2],
}

/// A segment on its way, or a connection request.
#[derive(Clone, Debug)]
pub(super) enum Cargo {
    Segment {
        conn: u64,
        /// The side it goes to.
        to: usize,
        segment: Segment,
    },
    /// A connection request from dialer `dialer` of `from`'s incarnation `incarnation`,
    /// attempt `attempt`.
    Syn {
        incarnation: u32,
        dialer: usize,
        attempt: u64,
    },
}

/// One thing in flight from host `from` to host `to`.
#[derive(Clone, Debug)]
pub(super) struct Flight {
    pub from: usize,
    pub to: usize,
    pub cargo: Cargo,
    /// Held on its link (it arrives only once the link is released).
    pub held: bool,
}

/// The links between hosts, the connections and what is in flight.
pub(super) struct Net {
    /// Per directed pair of hosts; healthy when absent.
    links: BTreeMap<(usize, usize), LinkState>,
    pub conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    /// Everything sent and not yet arrived or dropped, by send order.
    pub flights: BTreeMap<u64, Flight>,
    next_flight: u64,
    min_us: Micros,
    max_us: Micros,
    rng: ChaCha8Rng,
}

impl Net {
    pub fn new(seed: u64, min_ms: u64, max_ms: u64) -> Self {
        Net {
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            flights: BTreeMap::new(),
            next_flight: 0,
            min_us: min_ms.saturating_mul(1000),
            max_us: max_ms.saturating_mul(1000),
            rng: ChaCha8Rng::seed_from_u64(sub_seed(seed, STREAM_DIRECT_NET)),
        }
    }

    pub fn state(&self, from: usize, to: usize) -> LinkState {
        self.links.get(&(from, to)).copied().unwrap_or_default()
    }

    pub fn set_state(&mut self, from: usize, to: usize, state: LinkState) {
        if state == LinkState::Healthy {
            self.links.remove(&(from, to));
        } else {
            self.links.insert((from, to), state);
        }
    }

    /// The `[network]` maximum from now on (a `latency` fault); what is in flight keeps its
    /// time, as under turmoil.
    pub fn set_max_ms(&mut self, max_ms: u64) {
        self.max_us = max_ms.saturating_mul(1000).max(self.min_us);
    }

    /// One message's one-way latency: `min + (max - min) * u1 * u2` for two uniform draws,
    /// which leans towards the minimum (mean a quarter of the range) as turmoil's exponential
    /// curve does, in integer arithmetic (the same on every machine).
    pub fn latency(&mut self) -> Micros {
        let range = self.max_us.saturating_sub(self.min_us);
        let u1 = u128::from(self.rng.random::<u32>());
        let u2 = u128::from(self.rng.random::<u32>());
        let scaled = (u128::from(range) * u1 * u2) >> 64;
        self.min_us + scaled as Micros
    }

    pub fn open(&mut self, ends: [End; 2]) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                ends,
                last_arrival: [0, 0],
                gap: [false, false],
            },
        );
        id
    }

    /// Puts `cargo` in flight from `from` to `to`; the flight's id, or `None` if the link
    /// dropped it.
    pub fn launch(&mut self, from: usize, to: usize, cargo: Cargo) -> Option<u64> {
        let held = match self.state(from, to) {
            LinkState::Partitioned => return None,
            LinkState::Held => true,
            LinkState::Healthy => false,
        };
        let id = self.next_flight;
        self.next_flight += 1;
        self.flights.insert(
            id,
            Flight {
                from,
                to,
                cargo,
                held,
            },
        );
        Some(id)
    }

    /// Drops what is in flight (held or not) from `from` to `to`; the dropped flights.
    pub fn drop_flights(&mut self, from: usize, to: usize) -> Vec<Flight> {
        let ids: Vec<u64> = self
            .flights
            .iter()
            .filter(|(_, flight)| flight.from == from && flight.to == to)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.flights.remove(&id))
            .collect()
    }

    /// Holds what is in flight from `from` to `to` (its arrival time is forgotten).
    pub fn hold_flights(&mut self, from: usize, to: usize) {
        for flight in self.flights.values_mut() {
            if flight.from == from && flight.to == to {
                flight.held = true;
            }
        }
    }

    /// Releases what is held from `from` to `to`; their ids, in send order.
    pub fn release_flights(&mut self, from: usize, to: usize) -> Vec<u64> {
        let mut released = Vec::new();
        for (id, flight) in self.flights.iter_mut() {
            if flight.from == from && flight.to == to && flight.held {
                flight.held = false;
                released.push(*id);
            }
        }
        released
    }
}
