//! The generic host shell: runs one [`Machine`] inside a turmoil host.
//!
//! It accepts connections (servers) and keeps connections to configured servers (clients),
//! reconnecting with backoff and trying each address of a server in turn. It turns frames into
//! [`Input`]s, carries out [`Output`]s, drives the machine's timers with tokio's (simulated)
//! clock, and commits durable writes to the store the runner keeps across crashes, after the
//! store's latency, before telling the machine they are persisted. Each process has its own
//! database session ([`DbSession`]): the store decides, not the shell, whether a fenced-out
//! session's write is refused; the shell only reports it ([`Control::Fenced`]), as it reports
//! what a fence read ([`Control::Loaded`]). Operator commands from the runner arrive through
//! the host's [`OperatorDesk`] and go to the machine as [`Control::Command`].
//!
//! Connections of one peer are numbered by generation so that a late event of a closed
//! connection is never taken for the new one. Every `select!` is `biased;` (determinism rule 2).
//!
//! Must not: contain protocol logic. If a decision depends on a message's content, it belongs in
//! a machine in `ixsim-core`.

use crate::codec::FrameCodec;
use crate::trace::Trace;
use futures::{SinkExt, StreamExt};
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
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use turmoil::net::{TcpListener, TcpStream};

/// The port every modelled server listens on.
pub const PORT: u16 = 7000;

/// What a host shell needs besides its machine.
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

    fn record_panic(&self, problem: &str) {
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

/// The runner's line to a host's machine for operator commands: the running shell puts its
/// sender here at every start; a crashed host's sender is closed, so a command to it fails.
pub type OperatorDesk = Rc<RefCell<Option<mpsc::UnboundedSender<Command>>>>;

/// Hands `command` to the host behind `desk`; false if its process is not running.
pub fn send_command(desk: &OperatorDesk, command: Command) -> bool {
    desk.borrow()
        .as_ref()
        .is_some_and(|tx| tx.send(command).is_ok())
}

/// One input to the machine, from the network side or the control side.
enum Feed {
    Input(Input),
    Control(Control),
}

enum ShellEvent {
    Opened {
        peer: Peer,
        generation: u64,
        tx: mpsc::UnboundedSender<Message>,
    },
    Frame {
        peer: Peer,
        generation: u64,
        message: Message,
    },
    Closed {
        peer: Peer,
        generation: u64,
        corrupt: bool,
    },
}

fn now_ms() -> SimTime {
    turmoil::sim_elapsed().map_or(0, |elapsed| elapsed.as_millis() as SimTime)
}

/// Shuttles frames between one TCP connection and the main loop until either side ends it.
async fn run_connection(
    stream: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Message>,
    events: mpsc::UnboundedSender<ShellEvent>,
    peer: Peer,
    generation: u64,
) {
    let mut framed = Framed::new(stream, FrameCodec);
    let mut corrupt = false;
    loop {
        tokio::select! {
            biased;
            outgoing = rx.recv() => {
                let Some(message) = outgoing else { break };
                if framed.feed(message).await.is_err() {
                    break;
                }
                // Coalesce whatever else is queued into one flush.
                while let Ok(message) = rx.try_recv() {
                    if framed.feed(message).await.is_err() {
                        break;
                    }
                }
                if framed.flush().await.is_err() {
                    break;
                }
            }
            incoming = framed.next() => match incoming {
                Some(Ok(message)) => {
                    if events.send(ShellEvent::Frame { peer, generation, message }).is_err() {
                        break;
                    }
                }
                Some(Err(crate::codec::FrameError::Codec(_))) => {
                    corrupt = true;
                    break;
                }
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = events.send(ShellEvent::Closed {
        peer,
        generation,
        corrupt,
    });
}

/// Keeps server `index` connected, cycling through its addresses.
async fn keep_connected(
    index: u16,
    addresses: Vec<String>,
    events: mpsc::UnboundedSender<ShellEvent>,
    generations: Rc<RefCell<u64>>,
    connect_timeout_ms: u64,
    backoff_ms: u64,
) {
    let peer = Peer::Server(index);
    for address in addresses.iter().cycle() {
        let connect = TcpStream::connect((address.as_str(), PORT));
        let attempt =
            tokio::time::timeout(Duration::from_millis(connect_timeout_ms), connect).await;
        if let Ok(Ok(stream)) = attempt {
            let Some((generation, rx)) = announce(peer, &events, &generations) else {
                return;
            };
            run_connection(stream, rx, events.clone(), peer, generation).await;
        }
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
    }
}

/// A task of the shell's own (a connection loop) that records its panic instead of dying
/// alone: tokio would swallow the panic and the host would go on without that connection, a
/// different system from the one the scenario describes. The run ends on it instead
/// ([`RunBudget::panicked`]).
fn spawn_guarded(guard: &TaskGuard, task: impl std::future::Future<Output = ()> + 'static) {
    use futures::FutureExt as _;
    let guard = guard.clone();
    tokio::task::spawn_local(async move {
        if let Err(payload) = std::panic::AssertUnwindSafe(task).catch_unwind().await {
            guard.budget.record_panic(&format!(
                "a connection task of host {} panicked: {}",
                guard.host,
                panic_message(payload.as_ref())
            ));
        }
    });
}

/// The text of a panic's payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        return (*text).to_string();
    }
    if let Some(text) = payload.downcast_ref::<String>() {
        return text.clone();
    }
    "panic".to_string()
}

/// What a guarded task needs: where to record its panic, and its host's name.
#[derive(Clone)]
struct TaskGuard {
    budget: Rc<RunBudget>,
    host: String,
}

async fn accept_clients(
    listener: TcpListener,
    events: mpsc::UnboundedSender<ShellEvent>,
    generations: Rc<RefCell<u64>>,
    guard: TaskGuard,
) {
    let mut next_client = 0u32;
    while let Ok((stream, _)) = listener.accept().await {
        let peer = Peer::Client(next_client);
        next_client += 1;
        let Some((generation, rx)) = announce(peer, &events, &generations) else {
            return;
        };
        spawn_guarded(
            &guard,
            run_connection(stream, rx, events.clone(), peer, generation),
        );
    }
}

/// Tells the host's driver of a new connection to `peer` under the next generation number,
/// returning that number and the receiver of what the driver sends on it; `None` when the
/// driver is gone (the host crashed or the run ended).
fn announce(
    peer: Peer,
    events: &mpsc::UnboundedSender<ShellEvent>,
    generations: &Rc<RefCell<u64>>,
) -> Option<(u64, mpsc::UnboundedReceiver<Message>)> {
    let generation = {
        let mut counter = generations.borrow_mut();
        *counter += 1;
        *counter
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let opened = ShellEvent::Opened {
        peer,
        generation,
        tx,
    };
    events.send(opened).ok()?;
    Some((generation, rx))
}

/// The shell's side of one machine: connections, timers and durable writes.
struct Driver<M> {
    ctx: HostCtx,
    machine: M,
    conns: BTreeMap<Peer, (u64, mpsc::UnboundedSender<Message>)>,
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
}

impl<M: Machine> Driver<M> {
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
                if self.conns.remove(&peer).is_some() {
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
        let Some((generation, tx)) = self.conns.get(&peer) else {
            return;
        };
        if let Some((held, _, queue)) = self.slow.get_mut(&peer) {
            if held == generation {
                queue.push_back(message);
                return;
            }
        }
        if self.buggify.fire(Site::SendSlow, now) {
            let generation = *generation;
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
        let _ = tx.send(message);
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
            if let Some((generation, tx)) = self.conns.get(&peer) {
                if *generation == held {
                    for message in queue {
                        let _ = tx.send(message);
                    }
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

    fn next_deadline(&self) -> Option<SimTime> {
        let timer = self.deadlines.first().map(|(at, _)| *at);
        let commit = self.commits.front().map(|(due, _, _)| *due);
        let slow = self.slow.values().map(|(_, at, _)| *at).min();
        [timer, commit, slow].into_iter().flatten().min()
    }

    fn on_event(&mut self, now: SimTime, event: ShellEvent) {
        match event {
            ShellEvent::Opened {
                peer,
                generation,
                tx,
            } => {
                self.conns.insert(peer, (generation, tx));
                self.trace(
                    now,
                    TraceEvent::Connected {
                        peer: peer.to_string(),
                    },
                );
                self.inputs.push_back(Feed::Input(Input::Connected(peer)));
            }
            ShellEvent::Frame {
                peer,
                generation,
                message,
            } => {
                if self
                    .conns
                    .get(&peer)
                    .is_some_and(|(current, _)| *current == generation)
                {
                    self.inputs
                        .push_back(Feed::Input(Input::Frame(peer, message)));
                }
            }
            ShellEvent::Closed {
                peer,
                generation,
                corrupt,
            } => {
                if self
                    .conns
                    .get(&peer)
                    .is_some_and(|(current, _)| *current == generation)
                {
                    self.conns.remove(&peer);
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
            }
        }
        self.pump(now);
    }
}

/// The next operator command, or never if the host takes none.
async fn next_command(commands: &mut Option<mpsc::UnboundedReceiver<Command>>) -> Command {
    match commands {
        Some(rx) => match rx.recv().await {
            Some(command) => command,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Runs `machine` as this host's software until the host is crashed.
pub async fn run_host<M: Machine + 'static>(ctx: HostCtx, machine: M) -> turmoil::Result {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let generations = Rc::new(RefCell::new(0u64));
    let guard = TaskGuard {
        budget: ctx.budget.clone(),
        host: ctx.trace.borrow().host_name(ctx.host).to_string(),
    };
    if ctx.listen {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        spawn_guarded(
            &guard,
            accept_clients(
                listener,
                events_tx.clone(),
                generations.clone(),
                guard.clone(),
            ),
        );
    }
    for (index, addresses) in ctx.servers.iter().enumerate() {
        spawn_guarded(
            &guard,
            keep_connected(
                index as u16,
                addresses.clone(),
                events_tx.clone(),
                generations.clone(),
                ctx.connect_timeout_ms,
                ctx.reconnect_backoff_ms,
            ),
        );
    }
    drop(events_tx);
    let mut commands = ctx.operator.as_ref().map(|desk| {
        let (tx, rx) = mpsc::unbounded_channel();
        *desk.borrow_mut() = Some(tx);
        rx
    });
    let buggify = ctx.buggify.clone();
    let mut driver = Driver {
        buggify,
        slow: BTreeMap::new(),
        ctx,
        machine,
        conns: BTreeMap::new(),
        timers: BTreeMap::new(),
        deadlines: BTreeSet::new(),
        commits: VecDeque::new(),
        session: DbSession::default(),
        inputs: VecDeque::from([Feed::Input(Input::Start)]),
        outputs: Vec::new(),
        instant: (0, 0),
        halted: None,
        invariant_broken: false,
    };
    driver.pump(now_ms());
    loop {
        if let Some(problem) = driver.halted.take() {
            return Err(problem.into());
        }
        let now = now_ms();
        let sleep_ms = driver.next_deadline().map(|at| at.saturating_sub(now));
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Some(event) => driver.on_event(now_ms(), event),
                None => std::future::pending::<()>().await,
            },
            command = next_command(&mut commands) => {
                let now = now_ms();
                driver.inputs.push_back(Feed::Control(Control::Command(command)));
                driver.pump(now);
            }
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms.unwrap_or(0))), if sleep_ms.is_some() => {
                let now = now_ms();
                driver.flush_slow(now);
                driver.fire_due_timers(now);
                driver.commit_due(now);
            }
        }
    }
}
