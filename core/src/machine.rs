//! The sans-IO boundary: every participant is a [`Machine`] fed one [`Input`] at a time.
//!
//! The host shell (in `ixsim-sim`) owns sockets, timers and the durable store; a machine owns its
//! state and answers with [`Output`]s. Durable writes are explicit outputs (as in raft-rs's
//! `ready()`): the shell commits them after the store's latency and reports back with
//! [`Input::Persisted`], so a test can crash a node between "decided" and "persisted".
//!
//! Must not: do I/O, read a clock or draw unseeded randomness.

use crate::db::{DbOp, IsDatabase};
use crate::ids::SimTime;
use crate::protocol::Message;
use crate::trace::TraceEvent;
use std::fmt;

/// The other end of a connection, as the shell names it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Peer {
    /// The `n`-th server this machine was configured to connect to (the shell reconnects it and
    /// keeps the same name across reconnects).
    Server(u16),
    /// A connection accepted by this machine's listener; never reused.
    Client(u32),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Server(index) => write!(f, "srv{index}"),
            Peer::Client(index) => write!(f, "c{index}"),
        }
    }
}

/// A timer a machine asked for; the machine decides what the number means.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimerId(pub u64);

/// A durable write, numbered in the order the machine issued it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct WriteId(pub u64);

#[derive(Clone, PartialEq, Debug)]
pub enum Input {
    /// The process started (first boot or restart).
    Start,
    Connected(Peer),
    Disconnected(Peer),
    Frame(Peer, Message),
    Timer(TimerId),
    /// Every write up to and including this one is in the durable store.
    Persisted(WriteId),
}

#[derive(Clone, PartialEq, Debug)]
pub enum Output {
    Send(Peer, Message),
    Close(Peer),
    /// Sets (or moves) a timer.
    SetTimer(TimerId, SimTime),
    CancelTimer(TimerId),
    /// Write to the durable store; acknowledge only after [`Input::Persisted`].
    Persist(WriteId, DbOp),
    Trace(TraceEvent),
    /// The machine reached a coverage mark ([`crate::marks`]): counted for the run, not traced.
    Mark(crate::marks::Mark),
}

/// Inputs that do not come from the network: the durable store's answers beyond "persisted",
/// and operator commands. Only a few machines take them (an IS pair member, the supervisor), so
/// they arrive through their own entry point, [`Machine::control`], which every other machine
/// leaves at its default (ignore): adding one here does not touch every machine's `match`.
#[derive(Clone, PartialEq, Debug)]
pub enum Control {
    /// The store answered this [`DbOp::Fence`] (or [`DbOp::Load`]): the database as of that write,
    /// every earlier write included. For a fence, this process's database session now holds the
    /// lock for the fence's epoch.
    Loaded(WriteId, Box<IsDatabase>),
    /// The store refused this write: another process fenced the database with a newer epoch (or
    /// this fence was not newer than the database's). Nothing from the refused write on was
    /// committed; the writer must acknowledge none of it [S-OPS-switchover].
    Fenced(WriteId),
    /// An operator command, delivered by the runner's fault plan.
    Command(Command),
    /// The ORS store answered this [`DbOp::OrsLoad`]: the last state the pair's primary flushed.
    OrsLoaded(WriteId, Box<crate::db::OrsSnapshot>),
}

/// What an operator can tell the supervisor (the product's Solution Control Interface).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    /// Manual switchover of IS pair `pair` (1-based): demote the primary, promote the backup.
    Switchover { pair: u16 },
    /// Change pair `pair`'s configured seats (`ics_multi_media_agent_seat`) at run time: the
    /// supervisor passes it to both members [S-LIC-shrink].
    SetSeats { pair: u16, seats: u32 },
}

pub trait Machine {
    /// Reacts to one input, appending what it wants done to `out`.
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>);

    /// Reacts to one [`Control`] input. Machines that never fence a database nor take operator
    /// commands ignore them.
    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        let _ = (now, control, out);
    }

    /// The machine's own invariants [S-INV-machine]: consistent indexes, counts within bounds,
    /// no state the protocol cannot reach. The host shell checks them after every input of
    /// every run, and the model suites after every step; `Err` says what broke.
    fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }
}
