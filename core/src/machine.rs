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
use std::collections::BTreeMap;
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

/// The timers a machine has set, each with what it is for (`P`, the machine's own enum): ids
/// are handed out in order, so the same inputs give the same ids. Replaces a `BTreeMap` and a
/// counter in every machine that sets timers of more than one kind.
#[derive(Clone, Debug)]
pub struct TimerTable<P> {
    set: BTreeMap<TimerId, P>,
    next: u64,
}

impl<P> TimerTable<P> {
    /// An empty table whose first timer is `TimerId(first)` (ids below it stay free for the
    /// machine's fixed timers).
    pub fn starting_at(first: u64) -> Self {
        TimerTable {
            set: BTreeMap::new(),
            next: first,
        }
    }

    /// Sets a timer for `purpose` at `at`.
    pub fn set(&mut self, purpose: P, at: SimTime, out: &mut Vec<Output>) -> TimerId {
        let id = TimerId(self.next);
        self.next += 1;
        let earlier = self.set.insert(id, purpose);
        debug_assert!(earlier.is_none(), "timer id {} issued twice", id.0);
        out.push(Output::SetTimer(id, at));
        id
    }

    /// Cancels timer `id` if it is still set.
    pub fn cancel(&mut self, id: TimerId, out: &mut Vec<Output>) {
        if self.set.remove(&id).is_some() {
            out.push(Output::CancelTimer(id));
        }
    }

    /// Timer `id` fired: what it was for, unless it was cancelled meanwhile.
    pub fn fired(&mut self, id: TimerId) -> Option<P> {
        self.set.remove(&id)
    }

    /// The timers set, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (TimerId, &P)> {
        self.set.iter().map(|(id, purpose)| (*id, purpose))
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Forgets the timers `keep` says no to, without cancelling them: their firing is ignored.
    pub fn retain(&mut self, mut keep: impl FnMut(&P) -> bool) {
        self.set.retain(|_, purpose| keep(purpose));
    }

    /// Forgets every timer, without cancelling them: their firing is ignored.
    pub fn clear(&mut self) {
        self.set.clear();
    }
}

/// Ids of durable writes, issued in order: a late acknowledgement is never taken for a newer
/// write.
#[derive(Clone, Debug)]
pub struct WriteIds {
    next: u64,
}

impl WriteIds {
    /// Ids from `WriteId(first)` up.
    pub fn starting_at(first: u64) -> Self {
        WriteIds { next: first }
    }

    pub fn issue(&mut self) -> WriteId {
        let id = WriteId(self.next);
        self.next += 1;
        id
    }
}

/// Durable writes waiting for [`Input::Persisted`], each with what to do once it is durable
/// (`T`): numbered in the order issued, so [`WriteLog::durable`] hands them back in that order.
#[derive(Clone, Debug)]
pub struct WriteLog<T> {
    waiting: BTreeMap<WriteId, T>,
    ids: WriteIds,
}

impl<T> WriteLog<T> {
    /// An empty log whose first write is `WriteId(first)`.
    pub fn starting_at(first: u64) -> Self {
        WriteLog {
            waiting: BTreeMap::new(),
            ids: WriteIds::starting_at(first),
        }
    }

    /// Issues `op` as the next write, to do `then` once it is durable.
    pub fn write(&mut self, op: DbOp, then: T, out: &mut Vec<Output>) -> WriteId {
        let id = self.ids.issue();
        out.push(Output::Persist(id, op));
        self.waiting.insert(id, then);
        id
    }

    /// Every write up to `upto` is durable: what waited on them, in write order.
    pub fn durable(&mut self, upto: WriteId) -> Vec<(WriteId, T)> {
        let rest = self.waiting.split_off(&WriteId(upto.0.saturating_add(1)));
        std::mem::replace(&mut self.waiting, rest)
            .into_iter()
            .collect()
    }

    /// Writes not yet durable.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

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

    /// Polls that would do nothing, for a runner that skips them (the direct runner: most of
    /// a run's inputs were client polls that found nothing to do). From timer `timer` due at
    /// `at`, following the chain of times each poll would set the timer to, the first poll
    /// that would do something, or the first at or after `before`, whichever comes first;
    /// every poll judged on the machine's state as it is now (the runner skips polls only up
    /// to its next input). A promise: each poll passed over, handled as `Input::Timer(timer)`
    /// at its time, would change no state and output exactly `SetTimer(timer, next)`, `next`
    /// the next poll of the chain, later than it. A machine may stop early at an idle poll
    /// (the runner asks again from there). The default, `at`: every poll is fired.
    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        let _ = (timer, before);
        at
    }
}

/// Most polls one [`walk_polls`] call passes: a machine idle for longer is asked again.
pub const POLL_WALK: usize = 1024;

/// For [`Machine::skip_idle_polls`]: from the poll at `at`, each setting the next with
/// `step`, the first at or after `busy_from` (when the machine's polls start doing something,
/// if ever) or at or after `before`; or the one reached after [`POLL_WALK`] polls.
pub fn walk_polls(
    mut at: SimTime,
    before: SimTime,
    busy_from: Option<SimTime>,
    step: impl Fn(SimTime) -> SimTime,
) -> SimTime {
    let stop = busy_from.map_or(before, |busy| busy.min(before));
    for _ in 0..POLL_WALK {
        if at >= stop {
            break;
        }
        let next = step(at);
        if next <= at {
            break;
        }
        at = next;
    }
    at
}

/// [`walk_polls`] for polls every `every` ms, without walking: the first poll at or after
/// `busy_from` or `before` (saturating at the end of time for a machine idle for ever).
pub fn fixed_polls(
    at: SimTime,
    before: SimTime,
    busy_from: Option<SimTime>,
    every: u64,
) -> SimTime {
    let stop = busy_from.map_or(before, |busy| busy.min(before));
    if at >= stop || every == 0 {
        return at;
    }
    let polls = (stop - at).div_ceil(every);
    at.saturating_add(polls.saturating_mul(every))
}

/// A machine behind a box is the machine: runners keep hosts of every kind in one list.
impl<M: Machine + ?Sized> Machine for Box<M> {
    fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Output>) {
        (**self).handle(now, input, out);
    }

    fn control(&mut self, now: SimTime, control: Control, out: &mut Vec<Output>) {
        (**self).control(now, control, out);
    }

    fn check_invariants(&self) -> Result<(), String> {
        (**self).check_invariants()
    }

    fn skip_idle_polls(&self, timer: TimerId, at: SimTime, before: SimTime) -> SimTime {
        (**self).skip_idle_polls(timer, at, before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls every 20 ms from 100: the first at or after the busy time, or at or after
    /// `before`; one already due stays; a machine idle for ever is not woken.
    #[test]
    fn fixed_polls_land_on_the_poll_chain() {
        assert_eq!(fixed_polls(100, 1000, Some(150), 20), 160);
        assert_eq!(fixed_polls(100, 1000, Some(160), 20), 160);
        assert_eq!(fixed_polls(100, 130, Some(150), 20), 140);
        assert_eq!(fixed_polls(100, 1000, Some(90), 20), 100);
        assert_eq!(fixed_polls(100, 100, None, 20), 100);
        assert_eq!(fixed_polls(100, SimTime::MAX, None, 20), SimTime::MAX);
        assert_eq!(fixed_polls(100, 1000, Some(150), 0), 100);
    }

    /// The walk follows the step, stops at the busy time or `before`, and never loops on a
    /// step that does not move.
    #[test]
    fn walk_polls_follows_the_step() {
        let step = |now: SimTime| (now + 20).min(if now < 130 { 130 } else { SimTime::MAX });
        assert_eq!(walk_polls(100, 1000, Some(135), step), 150);
        assert_eq!(walk_polls(100, 1000, Some(130), step), 130);
        assert_eq!(walk_polls(100, 121, None, step), 130);
        assert_eq!(walk_polls(100, 1000, None, |now| now), 100);
        let far = walk_polls(0, SimTime::MAX, None, |now| now + 1);
        assert_eq!(
            far, POLL_WALK as SimTime,
            "a walk stops after POLL_WALK polls"
        );
    }

    #[test]
    fn timers_fire_once_and_cancelled_ones_never() {
        let mut out = Vec::new();
        let mut timers = TimerTable::starting_at(1);
        let first = timers.set("a", 10, &mut out);
        let second = timers.set("b", 20, &mut out);
        assert_eq!((first, second), (TimerId(1), TimerId(2)));
        timers.cancel(second, &mut out);
        timers.cancel(second, &mut out);
        assert_eq!(
            out,
            vec![
                Output::SetTimer(TimerId(1), 10),
                Output::SetTimer(TimerId(2), 20),
                Output::CancelTimer(TimerId(2)),
            ]
        );
        assert_eq!(timers.fired(second), None);
        assert_eq!(timers.fired(first), Some("a"));
        assert_eq!(timers.fired(first), None);
        assert!(timers.is_empty());
    }

    #[test]
    fn writes_come_back_durable_in_order_up_to_the_one_reported() {
        let mut out = Vec::new();
        let mut log = WriteLog::starting_at(0);
        for then in ["x", "y", "z"] {
            log.write(DbOp::Fence { epoch: 1 }, then, &mut out);
        }
        assert_eq!(out.len(), 3);
        assert_eq!(
            log.durable(WriteId(1)),
            vec![(WriteId(0), "x"), (WriteId(1), "y")]
        );
        assert_eq!(log.durable(WriteId(1)), vec![]);
        assert_eq!(log.len(), 1);
        assert_eq!(log.durable(WriteId(u64::MAX)), vec![(WriteId(2), "z")]);
    }
}
