//! The host driver: what a host's shell decides, with no I/O of its own, so that every runner
//! drives machines the same way.
//!
//! It feeds one [`Machine`] its inputs in order and carries out its outputs: connections are
//! numbered by generation so that a late frame of a closed connection is never taken for the
//! new one's; timers fire in (time, id) order; durable writes commit to the store the runner
//! keeps across crashes after the store's latency, in issue order, before the machine hears
//! they are persisted, each process with its own database session ([`DbSession`]): the store
//! decides whether a fenced-out session's write is refused, the driver only reports it
//! ([`Control::Fenced`]), as it reports what a fence read ([`Control::Loaded`]); operator
//! commands go to the machine as [`Control::Command`]. It keeps the run's budgets, runs the
//! machine's invariant checks after every input [S-INV-machine], and owns the shell's fault
//! points ([`Site::DbWriteSlow`], [`Site::SendSlow`]). What goes on the network it leaves as
//! [`Wire`]s for the runner. How a client host reconnects to its servers is not here but in
//! [`crate::dial`], whose dialers the runners hold: turmoil's waits stay in each server's
//! task, and the direct runner's in microseconds.
//!
//! Must not: contain protocol logic (a decision that depends on a message's content belongs in
//! a machine in `ixsim-core`), or read a clock: the runner says what time it is.

use crate::trace::Trace;
use ixsim_core::buggify::{Buggify, Site, SLOW_SEND_MS, SLOW_WRITE_MS};
use ixsim_core::db::{Commit, DbOp, DbSession, Durable};
use ixsim_core::ids::{IxnId, SimTime};
use ixsim_core::machine::{Command, Control, Input, Machine, Output, Peer, TimerId, WriteId};
use ixsim_core::ors::server::OrsSnapshot;
use ixsim_core::protocol::Message;
use ixsim_core::trace::TraceEvent;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use tokio::sync::mpsc;

/// What a host needs besides its machine: the shared trace, store and budget, and (for the
/// turmoil shell) where to listen and which servers to keep connected.
#[derive(Clone)]
pub struct HostCtx {
    pub host: u16,
    pub trace: Rc<RefCell<Trace>>,
    /// Listen for clients.
    pub listen: bool,
    /// Servers to keep connected, each as its alternative host names (e.g. primary, backup).
    pub servers: Vec<Vec<String>>,
    pub durable: Option<Rc<RefCell<dyn Durable>>>,
    pub db_write_ms: u64,
    pub connect_timeout_ms: u64,
    pub reconnect_backoff_ms: u64,
    /// Where the runner drops operator commands for this host's machine (the supervisor's).
    pub operator: Option<OperatorDesk>,
    /// The shell's fault points ([`Site::DbWriteSlow`], [`Site::SendSlow`]); off by default.
    pub buggify: Buggify,
    /// The run's budget of machine inputs, shared by every host.
    pub budget: Rc<RunBudget>,
}

/// The runner's line to a host's machine for operator commands: the running shell puts its
/// sender here at every start; a crashed host's sender is closed, so a command to it fails.
pub type OperatorDesk = Rc<RefCell<Option<mpsc::UnboundedSender<Command>>>>;

/// Hands `command` to the host behind `desk`; false if its process is not running.
pub fn send_command(desk: &OperatorDesk, command: Command) -> bool {
    desk.borrow()
        .as_ref()
        .is_some_and(|tx| tx.send(command).is_ok())
}

/// A run's shared budget of machine inputs, and the first host that broke it.
///
/// Two limits, both sized from the scenario so that no workload it can describe reaches them:
/// inputs one host takes at one simulated instant (past it the machine is spinning without
/// time passing: a zero-delay timer re-armed forever, a write answered by a write), and inputs
/// all hosts take in the whole run (past it the run is far beyond any workload). Either ends
/// the run with [`RunBudget::exceeded`] naming the host and the cause.
#[derive(Debug)]
pub struct RunBudget {
    per_instant: u64,
    per_run: u64,
    inputs: std::cell::Cell<u64>,
    exceeded: RefCell<Option<String>>,
    panicked: RefCell<Option<String>>,
}

impl RunBudget {
    /// Per instant: 100,000 plus 64 per interaction (a million interactions submitted at one
    /// instant is a flood, not a loop). Per run: 10 million, plus two per host per simulated
    /// millisecond (more than a host ticking every millisecond takes), plus 1,000 per
    /// interaction.
    pub fn for_run(hosts: u64, duration_ms: u64, interactions: u64) -> Self {
        RunBudget {
            per_instant: 100_000 + 64 * interactions,
            per_run: 10_000_000 + 2 * hosts * duration_ms + 1_000 * interactions,
            inputs: std::cell::Cell::new(0),
            exceeded: RefCell::new(None),
            panicked: RefCell::new(None),
        }
    }

    /// Counts one input; the problem when the run's budget is spent.
    fn spend(&self) -> Result<(), String> {
        let inputs = self.inputs.get() + 1;
        self.inputs.set(inputs);
        if inputs > self.per_run {
            return Err(format!(
                "the run took more than {} machine inputs (the run's budget)",
                self.per_run
            ));
        }
        Ok(())
    }

    /// Why the run was stopped, if a host broke the budget.
    pub fn exceeded(&self) -> Option<String> {
        self.exceeded.borrow().clone()
    }

    /// The first panic of a host's connection task, if one panicked.
    pub fn panicked(&self) -> Option<String> {
        self.panicked.borrow().clone()
    }

    pub(crate) fn record_panic(&self, problem: &str) {
        keep_first(&self.panicked, problem);
    }

    fn record(&self, problem: &str) {
        keep_first(&self.exceeded, problem);
    }
}

/// What an ORS snapshot holds [S-ORS-ha]: its sessions, and every interaction with an
/// association, held or detached (read here, outside the machine, so that the oracle does not
/// take the machine's word for it). A flush writes it; a promoted backup must recover it.
fn ors_contents(snapshot: &OrsSnapshot) -> (Vec<u64>, Vec<IxnId>) {
    let mut linked: Vec<_> = snapshot.assoc.links().into_iter().map(|l| l.0).collect();
    linked.extend(snapshot.assoc.detached().into_iter().map(|d| d.0));
    linked.sort_unstable();
    let sessions = snapshot.sessions.iter().map(|saved| saved.id).collect();
    (sessions, linked)
}

/// Stores `problem` in `slot` unless an earlier one is there: the first cause is the one told.
fn keep_first(slot: &RefCell<Option<String>>, problem: &str) {
    slot.borrow_mut().get_or_insert_with(|| problem.to_string());
}

/// One input to the machine, from the network side or the control side.
enum Feed {
    Input(Input),
    Control(Control),
}

/// What the driver asks of the network: each is for the connection of `peer` numbered
/// `generation`, and the runner drops it if that connection is no longer the peer's.
#[derive(Debug, PartialEq)]
pub enum Wire {
    /// Send `message` on the connection, in order after what was sent on it before.
    Send {
        peer: Peer,
        generation: u64,
        message: Message,
    },
    /// Forget the connection: close it if it is still open (the machine closed it), or let go
    /// of it (the other end closed it).
    Close { peer: Peer, generation: u64 },
}

/// One machine's host: connections by generation, timers, durable writes, the shell's fault
/// points, budgets and invariant checks. Sans-IO: a runner tells it of connections, frames,
/// commands and the time, and carries out the [`Wire`]s it leaves.
pub struct HostDriver<M> {
    ctx: HostCtx,
    machine: M,
    /// The current connection of each peer, by generation.
    conns: BTreeMap<Peer, u64>,
    /// What the runner is to carry out, in order.
    wires: Vec<Wire>,
    timers: BTreeMap<TimerId, SimTime>,
    deadlines: BTreeSet<(SimTime, TimerId)>,
    commits: VecDeque<(SimTime, WriteId, DbOp)>,
    /// This process's database session (its lock, if it fenced); gone with the process.
    session: DbSession,
    inputs: VecDeque<Feed>,
    outputs: Vec<Output>,
    buggify: Buggify,
    /// Frames a [`Site::SendSlow`] holds back, per peer: the connection's generation, when
    /// they go, and the frames in order (later sends to the peer queue behind them).
    slow: BTreeMap<Peer, (u64, SimTime, VecDeque<Message>)>,
    /// The simulated instant inputs were last taken at, and how many at it.
    instant: (SimTime, u64),
    /// Why this host stopped taking inputs (a budget broken); the host then ends.
    halted: Option<String>,
    /// The machine's invariants broke once and were reported [S-INV-machine].
    invariant_broken: bool,
    /// Skip timers the machine says are idle polls ([`Machine::idle_tick`]) instead of
    /// feeding them: see [`Self::skipping_idle_ticks`].
    skip_idle: bool,
    /// Inputs fed so far: the machine's state can only have changed when this did.
    fed: u64,
    /// The last look past idle polls ([`Self::next_deadline`]): after `fed` inputs, timer
    /// `id`'s polls were idle up to `poll`. It holds until the next input: the polls passed
    /// meanwhile are on the way to `poll`, and a bound that has moved since only made it
    /// stop early (a wake at an idle poll passes it).
    lookahead: std::cell::Cell<Option<(u64, TimerId, SimTime)>>,
}

impl<M: Machine> HostDriver<M> {
    /// A host about to start `machine` (its first input is [`Input::Start`], at [`Self::start`]).
    pub fn new(ctx: HostCtx, machine: M) -> Self {
        HostDriver {
            buggify: ctx.buggify.clone(),
            slow: BTreeMap::new(),
            ctx,
            machine,
            conns: BTreeMap::new(),
            wires: Vec::new(),
            timers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            commits: VecDeque::new(),
            session: DbSession::default(),
            inputs: VecDeque::from([Feed::Input(Input::Start)]),
            outputs: Vec::new(),
            instant: (0, 0),
            halted: None,
            invariant_broken: false,
            skip_idle: false,
            fed: 0,
            lookahead: std::cell::Cell::new(None),
        }
    }

    /// The driver skips the machine's idle polls ([`Machine::skip_idle_polls`]): a timer
    /// that would only set itself again is moved to where it would be set, with no input, no
    /// invariant check and no wake of its own, and [`Self::next_deadline`] is the first poll
    /// that does something. The machine sees exactly the inputs it would see otherwise: a
    /// skipped poll is one that changed nothing, and before any input at `now` the driver
    /// first passes the polls due by then (judged on the state they would have met, which no
    /// input changed since). For a runner whose wakes fall due at the exact millisecond asked
    /// for and come before every other input of that instant (the direct runner); the
    /// turmoil shell fires every poll.
    pub fn skipping_idle_ticks(mut self) -> Self {
        self.skip_idle = true;
        self
    }

    /// Passes the idle polls due before `now` (and at `now` with `inclusive`: the input that
    /// follows came after the runner's wake for that instant), in the order they would have
    /// fired: only those before every other timer and durable write, which might change what
    /// a poll finds (timers due at one instant fire in id order, before the writes due then).
    fn pass_idle_ticks(&mut self, now: SimTime, inclusive: bool) {
        if !self.skip_idle {
            return;
        }
        let Some(&(at, id)) = self.deadlines.first() else {
            return;
        };
        let mut before = if inclusive { now + 1 } else { now };
        if let Some(&(then, other)) = self.deadlines.iter().nth(1) {
            before = before.min(if id < other { then + 1 } else { then });
        }
        if let Some((due, _, _)) = self.commits.front() {
            before = before.min(due + 1);
        }
        if at >= before {
            return;
        }
        let mut poll = at;
        loop {
            let next = self.machine.skip_idle_polls(id, poll, before);
            if next <= poll {
                break;
            }
            poll = next;
        }
        if poll != at {
            self.deadlines.remove(&(at, id));
            self.deadlines.insert((poll, id));
            self.timers.insert(id, poll);
        }
    }

    /// Starts the machine at `now`.
    pub fn start(&mut self, now: SimTime) {
        self.pump(now);
    }

    /// What the runner is to carry out since it last asked, in order.
    pub fn wires(&mut self) -> std::vec::Drain<'_, Wire> {
        self.wires.drain(..)
    }

    /// What the runner must put on the network, by exchange: `into` (empty) takes the wires
    /// and the driver keeps its allocation for the next ones.
    pub fn swap_wires(&mut self, into: &mut Vec<Wire>) {
        debug_assert!(
            into.is_empty(),
            "wires swapped into a buffer still holding some"
        );
        std::mem::swap(&mut self.wires, into);
    }

    /// Why the host stopped (a budget broken), once: the runner then ends the host.
    pub fn take_halt(&mut self) -> Option<String> {
        self.halted.take()
    }

    /// An operator command for the machine.
    pub fn command(&mut self, now: SimTime, command: Command) {
        // A command comes before the wakes of its instant.
        self.pass_idle_ticks(now, false);
        self.inputs
            .push_back(Feed::Control(Control::Command(command)));
        self.pump(now);
    }

    /// Time has come to `now`: held frames go, due timers fire, due writes commit.
    pub fn wake(&mut self, now: SimTime) {
        self.flush_slow(now);
        self.pass_idle_ticks(now, true);
        self.fire_due_timers(now);
        self.commit_due(now);
    }

    fn trace(&self, now: SimTime, event: TraceEvent) {
        self.ctx.trace.borrow_mut().push(now, self.ctx.host, event);
    }

    /// Counts one input at `now` against the host's and the run's budgets.
    fn spend(&mut self, now: SimTime) -> Result<(), String> {
        if self.instant.0 == now {
            self.instant.1 += 1;
        } else {
            self.instant = (now, 1);
        }
        let most = self.ctx.budget.per_instant;
        if self.instant.1 > most {
            return Err(format!(
                "host {} took more than {most} inputs at {now} ms without simulated time passing (a zero-delay loop)",
                self.ctx.trace.borrow().host_name(self.ctx.host)
            ));
        }
        self.ctx
            .budget
            .spend()
            .map_err(|problem| format!("at {now} ms {problem}"))
    }

    /// Feeds queued inputs to the machine and carries out its outputs until nothing is left,
    /// or until a budget is broken (then the host halts).
    fn pump(&mut self, now: SimTime) {
        if self.halted.is_some() {
            self.inputs.clear();
            return;
        }
        while let Some(feed) = self.inputs.pop_front() {
            if let Err(problem) = self.spend(now) {
                self.ctx.budget.record(&problem);
                self.halted = Some(problem);
                self.inputs.clear();
                return;
            }
            self.fed += 1;
            match feed {
                Feed::Input(input) => self.machine.handle(now, input, &mut self.outputs),
                Feed::Control(control) => self.machine.control(now, control, &mut self.outputs),
            }
            if !self.invariant_broken {
                if let Err(problem) = self.machine.check_invariants() {
                    self.invariant_broken = true;
                    self.trace(now, TraceEvent::InvariantBroken { problem });
                }
            }
            // The buffer goes back after use: one allocation per host, not one per input.
            let mut outputs = std::mem::take(&mut self.outputs);
            for output in outputs.drain(..) {
                self.carry_out(now, output);
            }
            if self.outputs.is_empty() {
                self.outputs = outputs;
            }
        }
        self.commit_due(now);
    }

    fn carry_out(&mut self, now: SimTime, output: Output) {
        match output {
            Output::Send(peer, message) => self.send(now, peer, message),
            Output::Close(peer) => {
                self.slow.remove(&peer);
                if let Some(generation) = self.conns.remove(&peer) {
                    self.wires.push(Wire::Close { peer, generation });
                    self.trace(
                        now,
                        TraceEvent::Disconnected {
                            peer: peer.to_string(),
                        },
                    );
                    self.inputs
                        .push_back(Feed::Input(Input::Disconnected(peer)));
                }
            }
            Output::SetTimer(id, at) => {
                if let Some(old) = self.timers.insert(id, at) {
                    self.deadlines.remove(&(old, id));
                }
                self.deadlines.insert((at, id));
            }
            Output::CancelTimer(id) => {
                if let Some(old) = self.timers.remove(&id) {
                    self.deadlines.remove(&(old, id));
                }
            }
            Output::Persist(write, op) => {
                if let DbOp::OrsSync(snapshot) = &op {
                    let (sessions, linked) = ors_contents(snapshot);
                    self.trace(now, TraceEvent::OrsFlushed { sessions, linked });
                }
                let mut due = now + self.ctx.db_write_ms;
                if self.buggify.fire(Site::DbWriteSlow, now) {
                    self.trace(
                        now,
                        TraceEvent::Buggify {
                            site: Site::DbWriteSlow.name(),
                        },
                    );
                    due += SLOW_WRITE_MS;
                }
                // The store commits in issue order: a write is never due before an earlier one.
                let due = self
                    .commits
                    .back()
                    .map_or(due, |(last, _, _)| due.max(*last));
                self.commits.push_back((due, write, op));
            }
            Output::Trace(event) => self.trace(now, event),
            Output::Mark(mark) => self.ctx.trace.borrow_mut().marks.hit(mark),
        }
    }

    /// Sends `message` to `peer` now, or behind frames a [`Site::SendSlow`] holds back.
    fn send(&mut self, now: SimTime, peer: Peer, message: Message) {
        let Some(&generation) = self.conns.get(&peer) else {
            return;
        };
        if let Some((held, _, queue)) = self.slow.get_mut(&peer) {
            if *held == generation {
                queue.push_back(message);
                return;
            }
        }
        if self.buggify.fire(Site::SendSlow, now) {
            self.trace(
                now,
                TraceEvent::Buggify {
                    site: Site::SendSlow.name(),
                },
            );
            let queue = VecDeque::from([message]);
            self.slow
                .insert(peer, (generation, now + SLOW_SEND_MS, queue));
            return;
        }
        self.wires.push(Wire::Send {
            peer,
            generation,
            message,
        });
    }

    /// Sends the frames whose [`Site::SendSlow`] delay is over, on the connection they were
    /// meant for (none if it closed meanwhile).
    fn flush_slow(&mut self, now: SimTime) {
        let due: Vec<Peer> = self
            .slow
            .iter()
            .filter(|(_, (_, at, _))| *at <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let Some((held, _, queue)) = self.slow.remove(&peer) else {
                continue;
            };
            if self.conns.get(&peer) == Some(&held) {
                for message in queue {
                    self.wires.push(Wire::Send {
                        peer,
                        generation: held,
                        message,
                    });
                }
            }
        }
    }

    /// Commits every durable write that is due, then tells the machine, in commit order: what
    /// was persisted, what a fence or load read, what the store refused.
    fn commit_due(&mut self, now: SimTime) {
        let mut last = None;
        let mut told = false;
        while self.commits.front().is_some_and(|(due, _, _)| *due <= now) {
            let Some((_, write, op)) = self.commits.pop_front() else {
                break;
            };
            let commit = match &self.ctx.durable {
                Some(store) => store.borrow_mut().commit(&mut self.session, &op),
                None => Commit::Done,
            };
            // What the ORS store answered, for [S-ORS-ha]'s model of it.
            match (&op, &commit) {
                (DbOp::OrsSync(_), _) => {
                    let fenced = matches!(commit, Commit::Fenced);
                    self.trace(now, TraceEvent::OrsStored { fenced });
                }
                (DbOp::OrsLoad { epoch }, Commit::OrsLoaded(snapshot)) => {
                    let (sessions, linked) = ors_contents(snapshot);
                    let epoch = *epoch;
                    self.trace(
                        now,
                        TraceEvent::OrsLoaded {
                            epoch,
                            sessions,
                            linked,
                        },
                    );
                }
                (DbOp::OrsLoad { epoch }, _) => {
                    let epoch = *epoch;
                    self.trace(now, TraceEvent::OrsLoadFenced { epoch });
                }
                _ => {}
            }
            let control = match commit {
                Commit::Done => {
                    last = Some(write);
                    continue;
                }
                Commit::Loaded(db) => Control::Loaded(write, db),
                Commit::OrsLoaded(snapshot) => Control::OrsLoaded(write, snapshot),
                Commit::Fenced => Control::Fenced(write),
            };
            if let Some(persisted) = last.take() {
                self.inputs
                    .push_back(Feed::Input(Input::Persisted(persisted)));
            }
            self.inputs.push_back(Feed::Control(control));
            told = true;
        }
        if let Some(persisted) = last {
            self.inputs
                .push_back(Feed::Input(Input::Persisted(persisted)));
            told = true;
        }
        if told {
            self.pump(now);
        }
    }

    fn fire_due_timers(&mut self, now: SimTime) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.timers.remove(&id);
            self.inputs.push_back(Feed::Input(Input::Timer(id)));
        }
        self.pump(now);
    }

    /// When the host next has something to do by itself (a timer, a commit, a held frame).
    /// When skipping idle polls, the first one that does something, or the next other thing
    /// due, whichever is first (a wake at an idle poll is harmless: it passes it).
    pub fn next_deadline(&self) -> Option<SimTime> {
        let timer = self.deadlines.first().map(|(at, _)| *at);
        let commit = self.commits.front().map(|(due, _, _)| *due);
        let slow = self.slow.values().map(|(_, at, _)| *at).min();
        let first = [timer, commit, slow].into_iter().flatten().min();
        let Some(&(at, id)) = self.deadlines.first().filter(|_| self.skip_idle) else {
            return first;
        };
        // Past the first timer, up to whatever else is due.
        let then = self.deadlines.iter().nth(1).map(|(at, _)| *at);
        let bound = [then, commit, slow].into_iter().flatten().min();
        let poll = match self.lookahead.get() {
            Some((fed, of, poll)) if fed == self.fed && of == id && poll >= at => poll,
            _ => {
                let before = bound.unwrap_or(SimTime::MAX);
                let poll = self.machine.skip_idle_polls(id, at, before);
                self.lookahead.set(Some((self.fed, id, poll)));
                poll
            }
        };
        [Some(poll), bound].into_iter().flatten().min()
    }

    /// A connection to `peer` opened under `generation` (a later generation replaces an
    /// earlier one).
    pub fn opened(&mut self, now: SimTime, peer: Peer, generation: u64) {
        self.pass_idle_ticks(now, true);
        self.conns.insert(peer, generation);
        self.trace(
            now,
            TraceEvent::Connected {
                peer: peer.to_string(),
            },
        );
        self.inputs.push_back(Feed::Input(Input::Connected(peer)));
        self.pump(now);
    }

    /// A frame from `peer` on connection `generation`; a late frame of a connection the host
    /// no longer has is dropped.
    pub fn frame(&mut self, now: SimTime, peer: Peer, generation: u64, message: Message) {
        self.pass_idle_ticks(now, true);
        if self.conns.get(&peer) == Some(&generation) {
            self.inputs
                .push_back(Feed::Input(Input::Frame(peer, message)));
        }
        self.pump(now);
    }

    /// The other end (or the network) closed connection `generation` of `peer`, `corrupt` if
    /// on a frame that did not decode.
    pub fn closed(&mut self, now: SimTime, peer: Peer, generation: u64, corrupt: bool) {
        self.pass_idle_ticks(now, true);
        if self.conns.get(&peer) == Some(&generation) {
            self.conns.remove(&peer);
            self.wires.push(Wire::Close { peer, generation });
            self.slow.remove(&peer);
            let what = if corrupt {
                format!("{peer} (corrupt frame)")
            } else {
                peer.to_string()
            };
            self.trace(now, TraceEvent::Disconnected { peer: what });
            self.inputs
                .push_back(Feed::Input(Input::Disconnected(peer)));
        }
        self.pump(now);
    }
}
