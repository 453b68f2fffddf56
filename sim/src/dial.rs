//! The dial policy: how a client host keeps one configured server connected, with no I/O
//! of its own, so that both runners reconnect the same way.
//!
//! A [`Dialer`] tries the server's addresses in turn (primary, backup, ...), numbers its
//! attempts, gives each one `[client] connect-timeout-ms`, and after an attempt that fails or
//! times out, or a connection that ends, waits `reconnect-backoff-ms` before trying the next
//! address. The runner tells it what became of an attempt ([`Dialer::connected`],
//! [`Dialer::failed`]) or of the connection ([`Dialer::closed`]), and when the wait is over
//! ([`Dialer::backoff_over`]); it answers with what to do next: a [`DialNow`] or a
//! [`Backoff`]. A process's dialers die with it: a restarted host starts over at each
//! server's first address.
//!
//! The runner holds a host's dialers beside its [`HostDriver`](crate::host::HostDriver), one
//! per configured server, and drops them with the process, rather than the driver holding
//! them: the turmoil shell must wait (tokio's `timeout` and `sleep`) inside each server's own
//! task, where its timers wake in the same order among the host's tasks as they always did;
//! turmoil draws each segment's latency in send order, so a wait moved to the host's main
//! loop would reorder its draws and change every trace. For the same reason decisions carry
//! durations, not instants: the direct runner schedules in microseconds (a backoff starts
//! at the microsecond a connection ended), while a host's clock is milliseconds.
//!
//! Must not: contain protocol logic (what a connection carries is the machine's business), or
//! read a clock.

/// Dial the server's address `address` now, as attempt `attempt`; the attempt is given up
/// (reported [`Dialer::failed`]) if not connected within `timeout_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialNow {
    pub address: usize,
    pub attempt: u64,
    pub timeout_ms: u64,
}

/// Wait `backoff_ms`, then call [`Dialer::backoff_over`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub backoff_ms: u64,
}

/// Where the server's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing asked yet: [`Dialer::start`] dials the first address.
    Idle,
    /// Attempt `attempt` to address `address` is on its way.
    Connecting { address: usize, attempt: u64 },
    /// Connected to address `address` by the connection numbered `generation`.
    Connected { address: usize, generation: u64 },
    /// Waiting out the backoff before the address after `address`.
    Waiting { address: usize },
}

/// One configured server's connection policy (see the module doc).
#[derive(Clone, Debug)]
pub struct Dialer {
    /// How many addresses the server has (0 dials address 0, which the runner cannot reach).
    addresses: usize,
    connect_timeout_ms: u64,
    backoff_ms: u64,
    state: State,
    /// The number of the next attempt (attempts are told apart per dialer and process).
    next_attempt: u64,
}

impl Dialer {
    /// The dialer of a server with `addresses` addresses.
    pub fn new(addresses: usize, connect_timeout_ms: u64, backoff_ms: u64) -> Self {
        Dialer {
            addresses,
            connect_timeout_ms,
            backoff_ms,
            state: State::Idle,
            next_attempt: 0,
        }
    }

    /// The process started: dial the server's first address.
    pub fn start(&mut self) -> DialNow {
        debug_assert_eq!(self.state, State::Idle, "a dialer starts once");
        self.dial(0)
    }

    /// Whether attempt `attempt` is the one the dialer waits for (a late answer to an attempt
    /// given up opens nothing).
    pub fn awaits(&self, attempt: u64) -> bool {
        matches!(self.state, State::Connecting { attempt: current, .. } if current == attempt)
    }

    /// Attempt `attempt` connected, as the connection numbered `generation`.
    pub fn connected(&mut self, attempt: u64, generation: u64) {
        let State::Connecting {
            address,
            attempt: current,
        } = self.state
        else {
            panic!("dial attempt {attempt} connected while the dialer waits for none");
        };
        assert_eq!(current, attempt, "a dial attempt given up connected");
        self.state = State::Connected {
            address,
            generation,
        };
    }

    /// Attempt `attempt` was refused or timed out: back off, unless it is not the current one.
    pub fn failed(&mut self, attempt: u64) -> Option<Backoff> {
        let State::Connecting { address, .. } = self.state else {
            return None;
        };
        self.awaits(attempt).then(|| self.back_off(address))
    }

    /// The connection numbered `generation` ended: back off, unless it is not the server's.
    pub fn closed(&mut self, generation: u64) -> Option<Backoff> {
        match self.state {
            State::Connected {
                address,
                generation: current,
            } if current == generation => Some(self.back_off(address)),
            State::Connected { .. }
            | State::Idle
            | State::Connecting { .. }
            | State::Waiting { .. } => None,
        }
    }

    /// The backoff is over: dial the next address (none if the dialer was not waiting).
    pub fn backoff_over(&mut self) -> Option<DialNow> {
        let State::Waiting { address } = self.state else {
            return None;
        };
        Some(self.dial((address + 1) % self.addresses.max(1)))
    }

    fn dial(&mut self, address: usize) -> DialNow {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.state = State::Connecting { address, attempt };
        DialNow {
            address,
            attempt,
            timeout_ms: self.connect_timeout_ms,
        }
    }

    fn back_off(&mut self, address: usize) -> Backoff {
        self.state = State::Waiting { address };
        Backoff {
            backoff_ms: self.backoff_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialer() -> Dialer {
        Dialer::new(2, 300, 50)
    }

    #[test]
    fn tries_each_address_in_turn_after_failures() {
        let mut d = dialer();
        let first = d.start();
        assert_eq!((first.address, first.timeout_ms), (0, 300));
        assert_eq!(d.failed(first.attempt), Some(Backoff { backoff_ms: 50 }));
        let second = d.backoff_over().expect("waiting, so it dials");
        assert_eq!(second.address, 1, "the backup after the primary");
        assert_ne!(second.attempt, first.attempt, "attempts are told apart");
        d.failed(second.attempt).expect("current attempt");
        assert_eq!(d.backoff_over().map(|n| n.address), Some(0), "wraps around");
    }

    #[test]
    fn a_stale_attempt_changes_nothing() {
        let mut d = dialer();
        let first = d.start();
        d.failed(first.attempt).expect("current attempt");
        let second = d.backoff_over().expect("waiting");
        assert!(!d.awaits(first.attempt), "the first was given up");
        assert_eq!(d.failed(first.attempt), None, "a late timeout of the first");
        assert!(d.awaits(second.attempt));
        assert_eq!(d.backoff_over(), None, "not waiting: no second dial");
    }

    #[test]
    fn a_closed_connection_backs_off_then_dials_the_next_address() {
        let mut d = dialer();
        let first = d.start();
        d.connected(first.attempt, 7);
        assert_eq!(d.closed(6), None, "not the server's connection");
        assert_eq!(d.closed(7), Some(Backoff { backoff_ms: 50 }));
        assert_eq!(d.closed(7), None, "closed once");
        assert_eq!(d.backoff_over().map(|n| n.address), Some(1));
    }

    #[test]
    fn a_server_without_addresses_keeps_dialing_address_zero() {
        let mut d = Dialer::new(0, 300, 50);
        let first = d.start();
        d.failed(first.attempt).expect("current attempt");
        assert_eq!(d.backoff_over().map(|n| n.address), Some(0));
    }
}
