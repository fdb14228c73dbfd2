//! The safe core of the shim: a sans-IO [`Stack`], its virtual clock, the queue of packets it
//! sent (each stamped with the virtual time it left), and a file-descriptor table.
//!
//! Nothing here touches raw memory; `lib.rs` translates C pointers into the calls below. Socket
//! calls are in `sockets.rs` and options in `options.rs`; each returns `Result<_, Errno>` with
//! Linux's errno for the failure.

use crate::flags::Settings;
use std::collections::{BTreeMap, VecDeque};
use ustack::tcp::State;
use ustack::tcp::{ConnHandle, ListenHandle};
use ustack::{Instant, Stack};

/// FreeBSD's name for a state (as `sockstat -s` prints it).
pub fn freebsd_state(s: State) -> &'static str {
    match s {
        State::Closed => "CLOSED",
        State::Listen => "LISTEN",
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RCVD",
        State::Established => "ESTABLISHED",
        State::FinWait1 => "FIN_WAIT_1",
        State::FinWait2 => "FIN_WAIT_2",
        State::CloseWait => "CLOSE_WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::TimeWait => "TIME_WAIT",
    }
}

/// A Linux errno value.
pub type Errno = i32;

/// The virtual clock starts at this wall-clock second (what `gettimeofday` reports at t=0).
pub const EPOCH_SECS: u64 = 1_000_000_000;

/// How far `netdev_receive` moves the clock, at most, when the stack has nothing to send and no
/// timer due sooner. packetdrill (patched by the runner) gives up waiting after its timeout.
const IDLE_STEP_MICROS: u64 = 10_000;

/// What a descriptor refers to.
#[derive(Debug)]
pub enum Endpoint {
    /// `socket()` done; maybe bound, not listening or connected.
    Fresh {
        /// The port from `bind`, if any.
        port: Option<u16>,
    },
    /// `listen()` done.
    Listener {
        /// The stack's listener.
        handle: ListenHandle,
        /// Its port.
        port: u16,
    },
    /// A connection (from `connect` or `accept`).
    Conn(ConnHandle),
}

/// Socket options the shim keeps per descriptor.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// SO_REUSEADDR as set.
    pub reuseaddr: bool,
    /// SO_LINGER: Some(seconds) when enabled.
    pub linger: Option<i32>,
    /// SO_KEEPALIVE as set.
    pub keepalive: bool,
    /// TCP_KEEPIDLE in seconds (Linux default 7200).
    pub keepidle: Option<i32>,
    /// TCP_NODELAY as set.
    pub nodelay: bool,
    /// TCP_USER_TIMEOUT in milliseconds (0: the stack's default).
    pub user_timeout_ms: u32,
}

/// One open descriptor.
#[derive(Debug)]
pub struct Fd {
    /// What it is.
    pub endpoint: Endpoint,
    /// O_NONBLOCK.
    pub nonblock: bool,
    /// Options.
    pub options: Options,
    /// Whether the connection's error was already reported (Linux clears `sk_err` once read).
    pub error_reported: bool,
    /// Whether a non-blocking connect is in progress (for EALREADY / EISCONN).
    pub connecting: bool,
    /// `AF_INET` or `AF_INET6`: which addresses the socket takes and reports.
    pub family: i32,
}

/// The shim's whole state.
#[derive(Debug)]
pub struct Shim {
    pub(crate) stack: Stack,
    now: Instant,
    pub(crate) fds: BTreeMap<i32, Fd>,
    out: VecDeque<(Vec<u8>, Instant)>,
    scratch: Vec<u8>,
    state_file: Option<String>,
    last_table: String,
    /// Counts inputs and clock movements, so a waiting call can tell whether anything happened.
    moves: u64,
}

impl Shim {
    /// A shim whose stack has `config`, its clock at zero.
    pub fn new(settings: Settings) -> Result<Shim, String> {
        let stack = Stack::new(settings.config, Instant::ZERO).map_err(|e| e.to_string())?;
        let mut shim = Shim {
            stack,
            now: Instant::ZERO,
            fds: BTreeMap::new(),
            out: VecDeque::new(),
            scratch: vec![0; 65536],
            state_file: settings.state_file,
            last_table: String::from("-"),
            moves: 0,
        };
        shim.write_table();
        Ok(shim)
    }

    /// The connection table as `sockstat` would show it: `STATE LOCALPORT REMOTEPORT FAMILY`
    /// lines, FAMILY as FreeBSD's `sockstat` names it: `tcp4` or `tcp6` for a connection (by
    /// its peer's address), `tcp4` or `tcp46` for a listener (an `AF_INET6` socket takes
    /// both families). Informational: the runner's checks count states (runner/shell.rs).
    pub fn table(&self) -> String {
        let mut lines: Vec<String> = self
            .stack
            .tcp_connections()
            .map(|i| {
                let family = if i.remote.is_ipv4() { "tcp4" } else { "tcp6" };
                format!(
                    "{} {} {} {family}",
                    freebsd_state(i.state),
                    i.local.port(),
                    i.remote.port()
                )
            })
            .collect();
        for f in self.fds.values() {
            if let Endpoint::Listener { port, .. } = f.endpoint {
                let family = if f.family == libc::AF_INET6 {
                    "tcp46"
                } else {
                    "tcp4"
                };
                lines.push(format!("LISTEN {port} 0 {family}"));
            }
        }
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Rewrites the state file when the table changed.
    fn write_table(&mut self) {
        let Some(path) = self.state_file.clone() else {
            return;
        };
        let t = self.table();
        if t != self.last_table {
            // Best effort: a failed write shows up as a failed sockstat check.
            let _ = std::fs::write(path, &t);
            self.last_table = t;
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The virtual time as `gettimeofday` reports it: (seconds, microseconds).
    pub fn timeval(&self) -> (u64, u64) {
        let us = self.now.total_micros();
        (EPOCH_SECS + us / 1_000_000, us % 1_000_000)
    }

    /// Moves the clock forward to `to`, running the stack's timers at each deadline on the way
    /// (so a packet a timer sends carries the deadline as its time).
    pub fn advance_to(&mut self, to: Instant) {
        self.moves += 1;
        while let Some(at) = self.stack.poll_at() {
            if at > to {
                break;
            }
            self.now = self.now.max(at);
            self.stack.handle_timeout(self.now);
            self.drain();
            if self.stack.poll_at() == Some(at) {
                // A timer that does not move on would loop forever; go on at `to`.
                break;
            }
        }
        self.now = self.now.max(to);
        self.stack.handle_timeout(self.now);
        self.drain();
    }

    /// Advances the clock by `micros`.
    pub fn advance(&mut self, micros: u64) {
        let to = Instant::from_micros(self.now.total_micros() + micros);
        self.advance_to(to);
    }

    /// Collects whatever the stack wants to send, stamped with the current time.
    pub fn drain(&mut self) {
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.scratch) {
            self.out.push_back((self.scratch[..n].to_vec(), self.now));
        }
        self.write_table();
    }

    /// packetdrill injects a packet.
    pub fn inject(&mut self, packet: &[u8]) {
        self.moves += 1;
        self.stack.receive(self.now, packet);
        self.drain();
        // USTACK_SHIM_DEBUG=1: the stack's counters after each injected packet, on stderr.
        if std::env::var_os("USTACK_SHIM_DEBUG").is_some() {
            let drops: Vec<_> = self.stack.stats().nonzero_drops().collect();
            eprintln!(
                "ustack shim: in {} drops so far {drops:?}",
                ustack::wire::PacketSummary(packet)
            );
        }
    }

    /// The next packet the stack sent, with its time. When none is queued the clock moves on
    /// (to the next timer, or by a small step) and `None` says "nothing yet": packetdrill asks
    /// again until its own timeout.
    pub fn next_outbound(&mut self) -> Option<(Vec<u8>, Instant)> {
        self.drain();
        if let Some(p) = self.out.pop_front() {
            return Some(p);
        }
        self.advance_idle();
        self.out.pop_front()
    }

    /// How many inputs and clock movements there have been.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// Moves the clock to the stack's next deadline or by `IDLE_STEP_MICROS << streak`,
    /// whichever is sooner: for a blocking call when nothing else moves the clock
    /// (packetdrill's main thread waits for the call to finish). The step grows while the
    /// wait goes on, so a long timeout takes few steps, and a mistaken guess (the main
    /// thread was only slow) costs at most one small step.
    pub fn advance_idle_by(&mut self, streak: u32) {
        let step = IDLE_STEP_MICROS << streak.min(10);
        let step = Instant::from_micros(self.now.total_micros() + step);
        let to = match self.stack.poll_at() {
            Some(at) if at < step => at.max(self.now),
            _ => step,
        };
        self.advance_to(to);
    }

    /// One small idle step (see [`Shim::advance_idle_by`]).
    pub fn advance_idle(&mut self) {
        let step = Instant::from_micros(self.now.total_micros() + IDLE_STEP_MICROS);
        let to = match self.stack.poll_at() {
            Some(at) if at < step => at.max(self.now),
            _ => step,
        };
        self.advance_to(to);
    }

    /// Allocates the lowest free descriptor number (from 3, as a fresh process would).
    pub fn alloc_fd(&mut self, endpoint: Endpoint) -> i32 {
        let mut n = 3;
        while self.fds.contains_key(&n) {
            n += 1;
        }
        self.fds.insert(
            n,
            Fd {
                endpoint,
                nonblock: false,
                options: Options::default(),
                error_reported: false,
                connecting: false,
                family: libc::AF_INET,
            },
        );
        n
    }

    /// The descriptor, or EBADF.
    pub fn fd(&self, fd: i32) -> Result<&Fd, Errno> {
        self.fds.get(&fd).ok_or(libc::EBADF)
    }

    /// The descriptor, or EBADF.
    pub fn fd_mut(&mut self, fd: i32) -> Result<&mut Fd, Errno> {
        self.fds.get_mut(&fd).ok_or(libc::EBADF)
    }

    /// Whether calls on `fd` block (no O_NONBLOCK).
    pub fn blocking(&self, fd: i32) -> bool {
        self.fds.get(&fd).is_some_and(|f| !f.nonblock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_table_names_each_listener_s_family() {
        let mut s = Shim::new(crate::flags::parse("").unwrap()).unwrap();
        let v4 = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let v6 = s.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).unwrap();
        s.bind(v4, "0.0.0.0:8080".parse().unwrap()).unwrap();
        s.bind(v6, "[::]:8081".parse().unwrap()).unwrap();
        // Another family's address on a socket is refused, as Linux's inet_bind does.
        let other = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(
            s.bind(other, "[::]:1".parse().unwrap()),
            Err(libc::EAFNOSUPPORT)
        );
        s.listen(v4, 1).unwrap();
        s.listen(v6, 1).unwrap();
        assert_eq!(s.table(), "LISTEN 8080 0 tcp4\nLISTEN 8081 0 tcp46\n");
    }

    #[test]
    fn idle_receive_moves_the_clock_and_returns_nothing() {
        let mut s = Shim::new(crate::flags::parse("").unwrap()).unwrap();
        assert!(s.next_outbound().is_none());
        assert_eq!(s.now().total_micros(), IDLE_STEP_MICROS);
        s.advance(5);
        assert_eq!(s.timeval(), (EPOCH_SECS, IDLE_STEP_MICROS + 5));
    }
}
