//! The turmoil shell: runs one [`Machine`] inside a turmoil host, as a thin async adapter
//! around its [`HostDriver`](crate::host::HostDriver), which decides everything a host does
//! besides moving bytes.
//!
//! It accepts connections (servers) and keeps connections to configured servers (clients),
//! one task per server carrying out its [`Dialer`] (`crate::dial`: which address next, the
//! connect timeout, the backoff; the task only connects and sleeps as told); it numbers each
//! connection by generation, frames bytes with [`FrameCodec`], hands the driver what arrives
//! and the simulated time (tokio's clock under turmoil), and puts the driver's wires on the
//! connections. Operator commands from the runner arrive through the host's
//! [`OperatorDesk`]. Every `select!` is `biased;` (determinism rule 2).
//!
//! Must not: contain protocol logic. If a decision depends on a message's content, it belongs in
//! a machine in `ixsim-core`.

use crate::codec::FrameCodec;
use crate::dial::{Backoff, Dialer};
pub use crate::host::{send_command, HostCtx, OperatorDesk, RunBudget};
use crate::host::{HostDriver, Wire};
use futures::{SinkExt, StreamExt};
use ixsim_core::ids::SimTime;
use ixsim_core::machine::{Command, Machine, Peer};
use ixsim_core::protocol::Message;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use turmoil::net::{TcpListener, TcpStream};

/// The port every modelled server listens on.
pub const PORT: u16 = 7000;

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

/// Keeps server `index` connected: carries out its [`Dialer`]'s decisions (dial an address
/// with a timeout, wait out a backoff) and runs each connection it makes until it ends.
async fn keep_connected(
    index: u16,
    addresses: Vec<String>,
    events: mpsc::UnboundedSender<ShellEvent>,
    generations: Rc<RefCell<u64>>,
    mut dialer: Dialer,
) {
    let peer = Peer::Server(index);
    let mut dial = dialer.start();
    loop {
        let Some(address) = addresses.get(dial.address) else {
            return;
        };
        let connect = TcpStream::connect((address.as_str(), PORT));
        let timeout = Duration::from_millis(dial.timeout_ms);
        let backoff = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(stream)) => {
                let Some((generation, rx)) = announce(peer, &events, &generations) else {
                    return;
                };
                dialer.connected(dial.attempt, generation);
                run_connection(stream, rx, events.clone(), peer, generation).await;
                dialer.closed(generation)
            }
            Ok(Err(_)) | Err(_) => dialer.failed(dial.attempt),
        };
        let Some(Backoff { backoff_ms }) = backoff else {
            return;
        };
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        let Some(next) = dialer.backoff_over() else {
            return;
        };
        dial = next;
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

/// Runs `machine` as this host's software until the host is crashed: the turmoil adapter
/// around its [`HostDriver`], which moves the driver's [`Wire`]s onto the connections' tasks
/// and tells it of what they bring and of the time.
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
                Dialer::new(
                    addresses.len(),
                    ctx.connect_timeout_ms,
                    ctx.reconnect_backoff_ms,
                ),
            ),
        );
    }
    drop(events_tx);
    let mut commands = ctx.operator.as_ref().map(|desk| {
        let (tx, rx) = mpsc::unbounded_channel();
        *desk.borrow_mut() = Some(tx);
        rx
    });
    let mut driver = HostDriver::new(ctx, machine);
    let mut links = Links::default();
    driver.start(now_ms());
    links.carry_out(&mut driver);
    loop {
        if let Some(problem) = driver.take_halt() {
            return Err(problem.into());
        }
        let now = now_ms();
        let sleep_ms = driver.next_deadline().map(|at| at.saturating_sub(now));
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Some(event) => links.on_event(&mut driver, now_ms(), event),
                None => std::future::pending::<()>().await,
            },
            command = next_command(&mut commands) => driver.command(now_ms(), command),
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms.unwrap_or(0))), if sleep_ms.is_some() => {
                driver.wake(now_ms());
            }
        }
        links.carry_out(&mut driver);
    }
}

/// The senders to the host's connection tasks, by peer and generation.
#[derive(Default)]
struct Links {
    senders: BTreeMap<Peer, (u64, mpsc::UnboundedSender<Message>)>,
}

impl Links {
    /// Tells the driver what a connection task brought.
    fn on_event<M: Machine>(
        &mut self,
        driver: &mut HostDriver<M>,
        now: SimTime,
        event: ShellEvent,
    ) {
        match event {
            ShellEvent::Opened {
                peer,
                generation,
                tx,
            } => {
                // A newer connection of the peer replaces the older, whose task then ends.
                self.senders.insert(peer, (generation, tx));
                driver.opened(now, peer, generation);
            }
            ShellEvent::Frame {
                peer,
                generation,
                message,
            } => driver.frame(now, peer, generation, message),
            ShellEvent::Closed {
                peer,
                generation,
                corrupt,
            } => driver.closed(now, peer, generation, corrupt),
        }
    }

    /// Moves the driver's wires onto the connection tasks; dropping a sender ends its task,
    /// which closes the connection.
    fn carry_out<M: Machine>(&mut self, driver: &mut HostDriver<M>) {
        for wire in driver.wires() {
            match wire {
                Wire::Send {
                    peer,
                    generation,
                    message,
                } => {
                    if let Some((current, tx)) = self.senders.get(&peer) {
                        if *current == generation {
                            let _ = tx.send(message);
                        }
                    }
                }
                Wire::Close { peer, generation } => {
                    if self
                        .senders
                        .get(&peer)
                        .is_some_and(|(current, _)| *current == generation)
                    {
                        self.senders.remove(&peer);
                    }
                }
            }
        }
    }
}
