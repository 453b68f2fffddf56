//! The direct runner: drives the `ixsim-core` machines through the same host driver as the
//! turmoil shell ([`crate::host`]), over one event queue ordered by (time, sequence), with
//! microsecond time and the clock jumping to the next event: no idle ticks, and nothing rounded
//! to a tick (a 2 ms write and a 10 ms message stay 2 and 10 ms apart). turmoil stays the
//! reference that cross-checks it (`ixsim sweep --cross-check`).
//!
//! # The network model
//!
//! Machines see milliseconds (`now` is the event's time in µs, divided by 1,000); timers and
//! commits fall due at whole milliseconds; messages arrive at any microsecond.
//!
//! - **Latency.** Each segment's one-way latency is drawn from the seed (its own stream) within
//!   `[network] latency-min-ms..latency-max-ms`, leaning towards the minimum
//!   ([`net::Net::latency`]). Per connection and direction, delivery is in order: a segment
//!   never arrives before one sent earlier the same way. A `latency` fault changes the maximum
//!   for what is sent from then on; what is in flight keeps its time.
//! - **Connections.** A client host keeps each configured server connected by the same
//!   [`Dialer`] as the turmoil shell (`crate::dial`: addresses in turn, `[client]
//!   connect-timeout-ms`, `reconnect-backoff-ms` after a failure, a timeout or an end); the
//!   runner carries out its decisions as events (`DialTimeout`, `Refused`, `Redial`) and tells
//!   it what became of each attempt and connection. A connection request takes one
//!   one-way latency; it is refused at once when the link from the client is partitioned,
//!   after the latency when the server host does not listen, at the server's restart when it
//!   reached a crashed server; it is held with a held link and otherwise lost to the timeout.
//!   Both ends open when the request arrives (the acceptor first).
//! - **Partitions** (both ways, or one way) drop what is in flight on the link, held or not,
//!   and everything sent on it until repaired. There is no retransmission, as under turmoil
//!   and unlike real TCP: once a segment of a connection is lost, nothing sent after it that
//!   way arrives, even after the repair; the ends learn nothing (no error, no end of stream),
//!   so only the machines' request timeouts and keepalives notice. We follow turmoil here
//!   because the scenarios, oracles and regressions were written against it and the cross-check
//!   compares the two; a real stack would retransmit and then reset the connection, which the
//!   machines survive the same way (they reconnect).
//! - **Hold / release.** A hold keeps what is in flight on the link and what is sent on it,
//!   in order; a release delivers all of it at once (no further latency), in send order.
//!   A repair leaves held segments held until the release.
//! - **Closing.** An end that its machine closes, or whose host crashes, sends an end of
//!   stream after what it sent before; the other end closes when it arrives. A segment that
//!   reaches an end that is gone is answered with a reset, which closes the other end at once
//!   on arrival; one that reaches a crashed host waits for its restart and is answered then
//!   (the restarted process has no such connection).
//! - **Frames.** Each message sent is measured as the shell's codec would encode it
//!   ([`codec::check_frame`]), so that one past the frame limit closes the sender's
//!   connection as it does under turmoil; the
//!   receiver is handed the message itself (what decodes from an encoding is the message:
//!   the codec's own property). A corrupt frame cannot arise here: machines send messages,
//!   not bytes (the codec's decoding of hostile bytes is the `codec_decode` fuzz target's).
//! - **Crash / start / bounce / upgrade.** A crash drops the host's machine and its driver's
//!   state (timers, pending commits, connections); the durable stores stay. A start builds the
//!   next incarnation from the host's factory, at once. A bounce is a crash and a start at the
//!   same instant; an upgrade is a crash that installs a release for the next start.
//! - **Switchover, set-seats** are operator commands to the supervisor's driver, at once (or
//!   "supervisor not running").
//! - **Buggify.** The host driver's sites (slow writes, slow sends) and the machines' are the
//!   same as under turmoil; the runner adds none.
//! - **One instant.** Events at one microsecond run in a fixed order: the plan's faults (in
//!   plan order), then hosts' wakes (their due timers, then their due writes) by host, then
//!   arrivals and connection events in the order they were queued ([`queue`]).
//! - **Idle polls.** Client machines poll (every `[client] tick_ms`, or their own tick). A
//!   poll that would do nothing is not fed to the machine: its host driver moves the timer on
//!   and asks to be woken at the first poll that does something
//!   ([`HostDriver::skipping_idle_ticks`], [`Machine::skip_idle_polls`]). The machines see
//!   the same inputs at the same times, so the trace is the one every poll fired would give
//!   (`tests/idle_polls.rs` runs both ways and compares; [`crate::runner::RunOptions`] turns it
//!   off).
//!
//! What differs from turmoil on purpose: time is exact (no tick), so races inside what
//! turmoil rounds to one tick are explored; the latency curve is a product of uniforms rather
//! than turmoil's exponential (integer arithmetic, identical on every machine); a connection
//! request whose dialer gave up before it arrived opens nothing.
//!
//! Must not: contain protocol logic (that is `ixsim-core`), read a clock, or use a thread.

mod net;
mod queue;

use crate::dial::{Backoff, DialNow, Dialer};
use crate::faults::{Fault, FaultAction, HostSet};
use crate::host::{HostDriver, Wire};
use crate::hosts::{record_fault, FaultPoints, HostSpec, Hosts, RunError};
use crate::scenario::Scenario;
use ixsim_core::codec;
use ixsim_core::ids::SimTime;
use ixsim_core::machine::{Command, Machine, Peer};
use net::{Cargo, End, LinkState, Micros, Net, Segment};
use queue::{EventQueue, Tie};
use std::collections::BTreeMap;

/// What happens at one instant.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// Fault `index` of the plan.
    Fault(usize),
    /// Host `host`'s driver has something due (a timer, a commit, a held send).
    Wake { host: usize, incarnation: u32 },
    /// Flight `id` arrives.
    Arrive(u64),
    /// A connection attempt's time is up.
    DialTimeout {
        host: usize,
        incarnation: u32,
        dialer: usize,
        attempt: u64,
    },
    /// A connection attempt was refused.
    Refused {
        host: usize,
        incarnation: u32,
        dialer: usize,
        attempt: u64,
    },
    /// The backoff after a failed attempt or an ended connection is over.
    Redial {
        host: usize,
        incarnation: u32,
        dialer: usize,
    },
}

/// One host: its factory, and the running incarnation's driver and connections.
struct Host {
    spec: HostSpec,
    incarnation: u32,
    driver: Option<HostDriver<Box<dyn Machine>>>,
    /// When a wake is queued for the running driver.
    wake_at: Option<Micros>,
    /// Connections numbered by generation in this incarnation, and the next number.
    generations: u64,
    next_client: u32,
    /// Open connection ends of this incarnation, by generation: (connection, side).
    ends: BTreeMap<u64, (u64, usize)>,
    /// The dial policy of each configured server, for this incarnation.
    dials: Vec<Dialer>,
    /// Servers' host ids, per configured server, per address.
    servers: Vec<Vec<usize>>,
    /// What reached this host while it was down: answered at its next start.
    parked: Vec<u64>,
}

/// The run on the direct runner.
struct Direct<'a> {
    scenario: &'a Scenario,
    hosts: Vec<Host>,
    by_name: BTreeMap<String, usize>,
    net: Net,
    queue: EventQueue<Event>,
    now: Micros,
    run: &'a Hosts,
    /// The wires being carried out (reused: one allocation per run).
    wire_buffer: Vec<Wire>,
    /// Hosts' drivers skip idle polls ([`HostDriver::skipping_idle_ticks`]).
    skip_idle: bool,
}

/// Runs the hosts of `specs` to the scenario's end on the direct runner, applying `faults`;
/// the simulated end time in ms.
pub(crate) fn drive(
    scenario: &Scenario,
    seed: u64,
    specs: Vec<HostSpec>,
    faults: &[Fault],
    run: &Hosts,
    points: &FaultPoints,
    skip_idle_polls: bool,
) -> Result<SimTime, RunError> {
    let by_name: BTreeMap<String, usize> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| (spec.name.clone(), index))
        .collect();
    let hosts = specs
        .into_iter()
        .map(|spec| {
            let servers = spec
                .ctx
                .servers
                .iter()
                .map(|addresses| {
                    addresses
                        .iter()
                        .filter_map(|name| by_name.get(name).copied())
                        .collect()
                })
                .collect();
            Host {
                spec,
                incarnation: 0,
                driver: None,
                wake_at: None,
                generations: 0,
                next_client: 0,
                ends: BTreeMap::new(),
                dials: Vec::new(),
                servers,
                parked: Vec::new(),
            }
        })
        .collect();
    let network = &scenario.network;
    let mut direct = Direct {
        scenario,
        hosts,
        by_name,
        net: Net::new(seed, network.latency_min_ms, network.latency_max_ms),
        queue: EventQueue::new(),
        now: 0,
        run,
        wire_buffer: Vec::new(),
        skip_idle: skip_idle_polls,
    };
    for (index, fault) in faults.iter().enumerate() {
        direct.at(fault.at_ms.saturating_mul(1000), Event::Fault(index));
    }
    for host in 0..direct.hosts.len() {
        direct.start(host)?;
    }
    let end = scenario.duration_ms.saturating_mul(1000);
    while let Some((at, event)) = direct.queue.pop() {
        if at > end {
            break;
        }
        direct.now = at;
        direct.on_event(event, faults)?;
        if let Some(problem) = points.budget.exceeded() {
            return Err(RunError::Budget(problem));
        }
    }
    Ok(scenario.duration_ms)
}

impl Direct<'_> {
    fn now_ms(&self) -> SimTime {
        self.now / 1000
    }

    /// Queues `event` at `at`. At one microsecond the plan's faults go first (in plan order),
    /// then hosts' wakes by host (and incarnation), then everything else in the order queued:
    /// see [`queue`] for why wakes are not ordered by when they were asked for.
    fn at(&mut self, at: Micros, event: Event) {
        let tie = match event {
            Event::Fault(_) => Tie {
                class: 0,
                key: None,
            },
            Event::Wake { host, incarnation } => Tie {
                class: 1,
                key: Some(((host as u64) << 32) | u64::from(incarnation)),
            },
            Event::Arrive(_)
            | Event::DialTimeout { .. }
            | Event::Refused { .. }
            | Event::Redial { .. } => Tie {
                class: 2,
                key: None,
            },
        };
        self.queue.push(at, tie, event);
    }

    fn on_event(&mut self, event: Event, faults: &[Fault]) -> Result<(), RunError> {
        match event {
            Event::Fault(index) => self.fault(&faults[index].action)?,
            Event::Wake { host, incarnation } => {
                let h = &mut self.hosts[host];
                if h.incarnation != incarnation || h.wake_at != Some(self.now) {
                    return Ok(());
                }
                h.wake_at = None;
                let now = self.now_ms();
                self.with_driver(host, |driver| driver.wake(now))?;
            }
            Event::Arrive(id) => self.arrive(id)?,
            Event::DialTimeout {
                host,
                incarnation,
                dialer,
                attempt,
            }
            | Event::Refused {
                host,
                incarnation,
                dialer,
                attempt,
            } => {
                let h = &mut self.hosts[host];
                if h.incarnation != incarnation {
                    return Ok(());
                }
                if let Some(backoff) = h.dials.get_mut(dialer).and_then(|d| d.failed(attempt)) {
                    self.backoff(host, dialer, backoff);
                }
            }
            Event::Redial {
                host,
                incarnation,
                dialer,
            } => {
                let h = &mut self.hosts[host];
                if h.incarnation != incarnation || h.driver.is_none() {
                    return Ok(());
                }
                if let Some(next) = h.dials.get_mut(dialer).and_then(Dialer::backoff_over) {
                    self.dial(host, dialer, next);
                }
            }
        }
        Ok(())
    }

    /// Calls the host's running driver, then carries out what it left and queues its next wake.
    fn with_driver(
        &mut self,
        host: usize,
        call: impl FnOnce(&mut HostDriver<Box<dyn Machine>>),
    ) -> Result<(), RunError> {
        let Some(driver) = self.hosts[host].driver.as_mut() else {
            return Ok(());
        };
        call(driver);
        self.settle(host)
    }

    /// Carries out the driver's wires until it leaves none, then queues its next wake; a
    /// broken budget ends the run.
    fn settle(&mut self, host: usize) -> Result<(), RunError> {
        loop {
            let Some(driver) = self.hosts[host].driver.as_mut() else {
                return Ok(());
            };
            if let Some(problem) = driver.take_halt() {
                return Err(RunError::Budget(problem));
            }
            // The driver's wires and this buffer change places: no allocation per settle.
            let mut wires = std::mem::take(&mut self.wire_buffer);
            driver.swap_wires(&mut wires);
            if wires.is_empty() {
                self.wire_buffer = wires;
                break;
            }
            for wire in wires.drain(..) {
                self.carry_out(host, wire)?;
            }
            self.wire_buffer = wires;
        }
        let h = &mut self.hosts[host];
        let Some(deadline) = h.driver.as_ref().and_then(|driver| driver.next_deadline()) else {
            return Ok(());
        };
        let at = deadline.saturating_mul(1000).max(self.now);
        if h.wake_at
            .is_none_or(|queued| at < queued || queued < self.now)
        {
            h.wake_at = Some(at);
            let incarnation = h.incarnation;
            self.at(at, Event::Wake { host, incarnation });
        }
        Ok(())
    }

    fn carry_out(&mut self, host: usize, wire: Wire) -> Result<(), RunError> {
        match wire {
            Wire::Send {
                generation,
                message,
                ..
            } => {
                let Some(&(conn, side)) = self.hosts[host].ends.get(&generation) else {
                    return Ok(());
                };
                if codec::check_frame(&message).is_err() {
                    // The shell's connection task stops on a frame it cannot write.
                    let peer = self.net.conns[&conn].ends[side].peer;
                    self.close_end(conn, side, true);
                    let now = self.now_ms();
                    let driver = self.hosts[host].driver.as_mut();
                    if let Some(driver) = driver {
                        driver.closed(now, peer, generation, false);
                    }
                    return Ok(());
                }
                self.send(conn, side, Segment::Data(Box::new(message)));
            }
            Wire::Close { generation, .. } => {
                if let Some(&(conn, side)) = self.hosts[host].ends.get(&generation) {
                    self.close_end(conn, side, true);
                }
            }
        }
        Ok(())
    }

    /// Sends `segment` from side `side` of `conn` to the other side.
    fn send(&mut self, conn: u64, side: usize, segment: Segment) {
        let Some(c) = self.net.conns.get(&conn) else {
            return;
        };
        let (from, to) = (c.ends[side].host, c.ends[1 - side].host);
        let reset = matches!(segment, Segment::Rst);
        if c.gap[side] && !reset {
            return;
        }
        let cargo = Cargo::Segment {
            conn,
            to: 1 - side,
            segment,
        };
        let Some(id) = self.net.launch(from, to, cargo) else {
            if !reset {
                self.lose(conn, side);
            }
            return;
        };
        if self.net.flights[&id].held {
            return;
        }
        let latency = self.net.latency();
        let c = self.net.conns.get_mut(&conn).expect("checked above");
        let arrival = (self.now + latency).max(c.last_arrival[side]);
        c.last_arrival[side] = arrival;
        self.at(arrival, Event::Arrive(id));
    }

    /// A segment sent from `side` of `conn` was lost: nothing more arrives that way.
    fn lose(&mut self, conn: u64, side: usize) {
        if let Some(c) = self.net.conns.get_mut(&conn) {
            c.gap[side] = true;
        }
    }

    /// Closes side `side` of `conn` at its host; with `tell_peer`, the other end hears of it
    /// after what was sent before.
    fn close_end(&mut self, conn: u64, side: usize, tell_peer: bool) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = c.ends[side];
        if !end.open {
            return;
        }
        c.ends[side].open = false;
        let other_open = c.ends[1 - side].open;
        let h = &mut self.hosts[end.host];
        if h.incarnation == end.incarnation {
            h.ends.remove(&end.generation);
            let dialer = h.dials.get_mut(dialer_of(end.peer));
            if let Some(backoff) = dialer.and_then(|d| d.closed(end.generation)) {
                self.backoff(end.host, dialer_of(end.peer), backoff);
            }
        }
        if tell_peer && other_open {
            self.send(conn, side, Segment::Fin);
        }
        self.forget_if_closed(conn);
    }

    fn forget_if_closed(&mut self, conn: u64) {
        if self
            .net
            .conns
            .get(&conn)
            .is_some_and(|c| !c.ends[0].open && !c.ends[1].open)
        {
            self.net.conns.remove(&conn);
        }
    }

    /// Waits out dialer `dialer`'s backoff, then tells it.
    fn backoff(&mut self, host: usize, dialer: usize, Backoff { backoff_ms }: Backoff) {
        let incarnation = self.hosts[host].incarnation;
        let at = self.now + backoff_ms.saturating_mul(1000);
        self.at(
            at,
            Event::Redial {
                host,
                incarnation,
                dialer,
            },
        );
    }

    /// Connection attempt `attempt` of dialer `dialer` of `host`'s incarnation `incarnation`
    /// is refused, now.
    fn refuse(&mut self, host: usize, (incarnation, dialer, attempt): (u32, usize, u64)) {
        let refused = Event::Refused {
            host,
            incarnation,
            dialer,
            attempt,
        };
        self.at(self.now, refused);
    }

    /// Carries out dialer `dialer`'s decision to dial: the request to the address, and the
    /// timeout that gives it up.
    fn dial(&mut self, host: usize, dialer: usize, dial: DialNow) {
        let DialNow {
            address,
            attempt,
            timeout_ms,
        } = dial;
        let incarnation = self.hosts[host].incarnation;
        let timeout = self.now + timeout_ms.saturating_mul(1000);
        self.at(
            timeout,
            Event::DialTimeout {
                host,
                incarnation,
                dialer,
                attempt,
            },
        );
        let Some(&server) = self.hosts[host].servers[dialer].get(address) else {
            return;
        };
        let syn = Cargo::Syn {
            incarnation,
            dialer,
            attempt,
        };
        let Some(id) = self.net.launch(host, server, syn) else {
            return self.refuse(host, (incarnation, dialer, attempt));
        };
        if !self.net.flights[&id].held {
            let latency = self.net.latency();
            self.at(self.now + latency, Event::Arrive(id));
        }
    }

    fn arrive(&mut self, id: u64) -> Result<(), RunError> {
        let Some(flight) = self.net.flights.get(&id) else {
            return Ok(());
        };
        if flight.held {
            return Ok(());
        }
        let flight = self.net.flights.remove(&id).expect("checked above");
        if self.hosts[flight.to].driver.is_none() {
            self.hosts[flight.to].parked.push(id);
            self.net.flights.insert(id, flight);
            return Ok(());
        }
        match flight.cargo {
            Cargo::Syn {
                incarnation,
                dialer,
                attempt,
            } => self.accept(flight.from, flight.to, (incarnation, dialer, attempt)),
            Cargo::Segment { conn, to, segment } => self.receive(conn, to, segment),
        }
    }

    /// A connection request reached `server`, running.
    fn accept(
        &mut self,
        client: usize,
        server: usize,
        (incarnation, dialer, attempt): (u32, usize, u64),
    ) -> Result<(), RunError> {
        let c = &self.hosts[client];
        let waiting =
            c.incarnation == incarnation && c.dials.get(dialer).is_some_and(|d| d.awaits(attempt));
        if !waiting {
            return Ok(());
        }
        if !self.hosts[server].spec.ctx.listen {
            self.refuse(client, (incarnation, dialer, attempt));
            return Ok(());
        }
        let s = &mut self.hosts[server];
        s.generations += 1;
        let server_peer = Peer::Client(s.next_client);
        s.next_client += 1;
        let server_end = End {
            host: server,
            incarnation: s.incarnation,
            peer: server_peer,
            generation: s.generations,
            open: true,
        };
        let c = &mut self.hosts[client];
        c.generations += 1;
        let client_end = End {
            host: client,
            incarnation,
            peer: Peer::Server(dialer as u16),
            generation: c.generations,
            open: true,
        };
        let conn = self.net.open([client_end, server_end]);
        self.hosts[client].dials[dialer].connected(attempt, client_end.generation);
        self.hosts[server]
            .ends
            .insert(server_end.generation, (conn, 1));
        self.hosts[client]
            .ends
            .insert(client_end.generation, (conn, 0));
        let now = self.now_ms();
        self.with_driver(server, |driver| {
            driver.opened(now, server_peer, server_end.generation)
        })?;
        self.with_driver(client, |driver| {
            driver.opened(now, client_end.peer, client_end.generation)
        })
    }

    /// A segment reached side `to` of `conn`, whose host runs.
    fn receive(&mut self, conn: u64, to: usize, segment: Segment) -> Result<(), RunError> {
        let Some(c) = self.net.conns.get(&conn) else {
            return Ok(());
        };
        let end = c.ends[to];
        let here = &self.hosts[end.host];
        if !end.open || here.incarnation != end.incarnation {
            if segment != Segment::Rst {
                self.send(conn, to, Segment::Rst);
            }
            return Ok(());
        }
        let now = self.now_ms();
        match segment {
            Segment::Data(message) => self.with_driver(end.host, |driver| {
                driver.frame(now, end.peer, end.generation, *message)
            }),
            Segment::Fin | Segment::Rst => {
                self.close_end(conn, to, false);
                self.with_driver(end.host, |driver| {
                    driver.closed(now, end.peer, end.generation, false)
                })
            }
        }
    }

    /// Starts host `host`'s next incarnation.
    fn start(&mut self, host: usize) -> Result<(), RunError> {
        let h = &mut self.hosts[host];
        h.incarnation += 1;
        let machine = (h.spec.make)(h.incarnation);
        let driver = HostDriver::new(h.spec.ctx.clone(), machine);
        h.driver = Some(if self.skip_idle {
            driver.skipping_idle_ticks()
        } else {
            driver
        });
        h.wake_at = None;
        h.generations = 0;
        h.next_client = 0;
        h.ends.clear();
        let ctx = &h.spec.ctx;
        let dialer = |addresses: &Vec<usize>| {
            Dialer::new(
                addresses.len(),
                ctx.connect_timeout_ms,
                ctx.reconnect_backoff_ms,
            )
        };
        h.dials = h.servers.iter().map(dialer).collect();
        let now = self.now_ms();
        self.with_driver(host, |driver| driver.start(now))?;
        for dialer in 0..self.hosts[host].dials.len() {
            let first = self.hosts[host].dials[dialer].start();
            self.dial(host, dialer, first);
        }
        // What reached the host while it was down finds no connection of this process.
        for id in std::mem::take(&mut self.hosts[host].parked) {
            let Some(flight) = self.net.flights.remove(&id) else {
                continue;
            };
            match flight.cargo {
                Cargo::Syn {
                    incarnation,
                    dialer,
                    attempt,
                } => {
                    self.refuse(flight.from, (incarnation, dialer, attempt));
                }
                Cargo::Segment { conn, to, segment } => {
                    if segment != Segment::Rst {
                        self.send(conn, to, Segment::Rst);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends host `host`'s running incarnation: its machine and driver state are gone, and each
    /// of its connections' other ends hears the end of stream.
    fn crash(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        h.driver = None;
        h.wake_at = None;
        h.dials.clear();
        let ends: Vec<(u64, usize)> = h.ends.values().copied().collect();
        for (conn, side) in ends {
            self.close_end(conn, side, true);
        }
        self.hosts[host].ends.clear();
    }

    fn running(&self, host: usize) -> bool {
        self.hosts[host].driver.is_some()
    }

    fn host_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Carries out one fault of the plan and writes it into the trace.
    fn fault(&mut self, action: &FaultAction) -> Result<(), RunError> {
        let what = self.apply(action)?;
        let now = self.now_ms();
        record_fault(
            &mut self.run.trace.borrow_mut(),
            self.scenario,
            now,
            action,
            what,
        );
        Ok(())
    }

    fn apply(&mut self, action: &FaultAction) -> Result<String, RunError> {
        let host = |direct: &Self, name: &str| direct.host_index(name);
        match action {
            FaultAction::Crash { host: name } => {
                if let Some(index) = host(self, name) {
                    self.crash(index);
                }
            }
            FaultAction::Upgrade {
                host: name,
                version,
            } => {
                if let Some(index) = host(self, name) {
                    self.crash(index);
                }
                self.run
                    .versions
                    .borrow_mut()
                    .insert(name.clone(), version.clone());
            }
            FaultAction::Start { host: name } => {
                let Some(index) = host(self, name) else {
                    return Ok(action.to_string());
                };
                if self.running(index) {
                    return Ok(format!("{action} (already running)"));
                }
                self.start(index)?;
            }
            FaultAction::Bounce { host: name } => {
                if let Some(index) = host(self, name) {
                    self.crash(index);
                    self.start(index)?;
                }
            }
            FaultAction::Partition { a, b } => self.links(a, b, true, Link::Partition),
            FaultAction::Repair { a, b } => self.links(a, b, true, Link::Repair),
            FaultAction::PartitionOneway { from, to } => {
                self.links(from, to, false, Link::Partition)
            }
            FaultAction::RepairOneway { from, to } => self.links(from, to, false, Link::Repair),
            FaultAction::Hold { a, b } => self.links(a, b, true, Link::Hold),
            FaultAction::Release { a, b } => self.links(a, b, true, Link::Release),
            FaultAction::Latency { max_ms } => self.net.set_max_ms(*max_ms),
            FaultAction::Switchover { pair } => {
                return self.operate(action, Command::Switchover { pair: *pair })
            }
            FaultAction::SetSeats { pair, seats } => {
                let command = Command::SetSeats {
                    pair: *pair,
                    seats: *seats,
                };
                return self.operate(action, command);
            }
        }
        Ok(action.to_string())
    }

    /// Hands an operator command to the supervisor's driver.
    fn operate(&mut self, action: &FaultAction, command: Command) -> Result<String, RunError> {
        let supervisor = self
            .hosts
            .iter()
            .position(|h| h.spec.ctx.operator.is_some() && h.driver.is_some());
        let Some(host) = supervisor else {
            return Ok(format!("{action} (supervisor not running)"));
        };
        let now = self.now_ms();
        self.with_driver(host, |driver| driver.command(now, command))?;
        Ok(action.to_string())
    }

    /// Applies `change` to the links from every host of `a` to every host of `b` (and back,
    /// with `both`).
    fn links(&mut self, a: &HostSet, b: &HostSet, both: bool, change: Link) {
        let ids = |set: &HostSet| -> Vec<usize> {
            set.names()
                .into_iter()
                .filter_map(|name| self.host_index(name))
                .collect()
        };
        let (a, b) = (ids(a), ids(b));
        for &x in &a {
            for &y in &b {
                self.link(x, y, change);
                if both {
                    self.link(y, x, change);
                }
            }
        }
    }

    fn link(&mut self, from: usize, to: usize, change: Link) {
        match change {
            Link::Partition => {
                self.net.set_state(from, to, LinkState::Partitioned);
                for flight in self.net.drop_flights(from, to) {
                    match flight.cargo {
                        Cargo::Segment { conn, to: side, .. } => self.lose(conn, 1 - side),
                        Cargo::Syn {
                            incarnation,
                            dialer,
                            attempt,
                        } => {
                            self.refuse(from, (incarnation, dialer, attempt));
                        }
                    }
                }
            }
            // As under turmoil: healthy again, but what a hold kept stays held until released.
            Link::Repair => self.net.set_state(from, to, LinkState::Healthy),
            Link::Hold => {
                self.net.set_state(from, to, LinkState::Held);
                self.net.hold_flights(from, to);
            }
            Link::Release => {
                self.net.set_state(from, to, LinkState::Healthy);
                for id in self.net.release_flights(from, to) {
                    if let Some(Cargo::Segment { conn, to: side, .. }) =
                        self.net.flights.get(&id).map(|f| f.cargo.clone())
                    {
                        if let Some(c) = self.net.conns.get_mut(&conn) {
                            let arrival = self.now.max(c.last_arrival[1 - side]);
                            c.last_arrival[1 - side] = arrival;
                        }
                    }
                    self.at(self.now, Event::Arrive(id));
                }
            }
        }
    }
}

/// What a fault does to one directed link.
#[derive(Clone, Copy, Debug)]
enum Link {
    Partition,
    Repair,
    Hold,
    Release,
}

/// The dialer behind a client end's peer (`Peer::Server(index)`).
fn dialer_of(peer: Peer) -> usize {
    match peer {
        Peer::Server(index) => usize::from(index),
        Peer::Client(_) => usize::MAX,
    }
}
