//! A ustack [`Stack`] plus an app that plays any [`Role`] through the stack's socket API.
//!
//! `poll` runs the stack's timers if due, then the app (which may queue data), then drains
//! `poll_transmit` — so everything the app wrote in this poll leaves in the same poll.
//!
//! When a TCP role is `done`: every byte was handed to the stack and `tcp_shutdown` called, the
//! peer's FIN (end of stream) was read after exactly `expect_len` correct bytes, and the
//! connection reached TIME-WAIT or CLOSED without an error — i.e. our FIN was acknowledged too
//! (the only ways into those states). The handle is never closed, so the connection stays
//! visible (`tcp_info`, retransmit count) and a node in TIME-WAIT still answers a retransmitted
//! FIN while the world keeps running for the peer.

use super::{fill_stream, stream_byte, Duration, Instant, Node, Progress, Role};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use ustack::tcp::{ConnHandle, ListenHandle, State, TcpError};
use ustack::{Config, EchoEvent, RecvError, SendError, SocketHandle, Stack};

/// How long a Ping/UdpClient waits after its last request before giving up on missing replies.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes handed to `tcp_send` per call (refilled from the stream as it drains).
const SEND_CHUNK: usize = 64 << 10;

/// A ustack stack driven by an app playing a [`Role`].
#[derive(Debug)]
pub struct UstackNode {
    stack: Stack,
    role: Role,
    name: String,
    app: App,
    progress: Progress,
    hasher: Sha256,
    /// Packet buffer for `poll_transmit`.
    tx: Vec<u8>,
    /// App receive buffer.
    rx: Vec<u8>,
}

#[derive(Debug)]
enum App {
    TcpServer {
        listener: ListenHandle,
        conn: Option<ConnHandle>,
        pump: Pump,
    },
    TcpClient {
        conn: ConnHandle,
        pump: Pump,
    },
    Echo {
        sock: SocketHandle,
    },
    Ping {
        sock: SocketHandle,
        dgram: Datagrams,
    },
    Udp {
        sock: SocketHandle,
        dgram: Datagrams,
    },
    /// Setup failed; the error is in `progress`.
    Broken,
}

/// The state of one TCP transfer in both directions.
#[derive(Debug)]
struct Pump {
    send_len: u64,
    send_seed: u64,
    expect_len: u64,
    expect_seed: u64,
    /// The stream bytes `chunk_pos..chunk_pos + chunk.len()`.
    chunk: Vec<u8>,
    chunk_pos: u64,
    shut: bool,
}

/// Paced request/reply bookkeeping for Ping and UdpClient.
#[derive(Debug)]
struct Datagrams {
    remote: IpAddr,
    port: u16,
    count: u32,
    size: usize,
    interval: Duration,
    /// Requests sent so far.
    next: u32,
    next_at: Instant,
    last_sent_at: Instant,
    replied: Vec<bool>,
    payload: Vec<u8>,
}

impl Datagrams {
    fn new(
        remote: IpAddr,
        port: u16,
        count: u32,
        size: usize,
        interval: Duration,
        now: Instant,
    ) -> Self {
        Datagrams {
            remote,
            port,
            count,
            size,
            interval,
            next: 0,
            next_at: now,
            last_sent_at: now,
            replied: vec![false; count as usize],
            payload: vec![0; size],
        }
    }

    fn finished(&self, replies: u64, now: Instant) -> bool {
        self.next == self.count
            && (replies == u64::from(self.count) || now >= self.last_sent_at + REPLY_TIMEOUT)
    }

    fn wakeup(&self) -> Instant {
        if self.next < self.count {
            self.next_at
        } else {
            self.last_sent_at + REPLY_TIMEOUT
        }
    }
}

impl UstackNode {
    /// A stack with `config` whose app plays `role`, starting at `now`. Listening, binding and
    /// connecting happen here; the first packets leave on the first `poll`.
    pub fn new(name: &str, config: Config, role: Role, now: Instant) -> Self {
        let mut stack = Stack::new(config, now).expect("valid ustack config");
        let mut progress = Progress {
            received_ok: true,
            ..Progress::default()
        };
        let pump = |send_len, send_seed, expect_len, expect_seed| Pump {
            send_len,
            send_seed,
            expect_len,
            expect_seed,
            chunk: Vec::new(),
            chunk_pos: 0,
            shut: false,
        };
        let app = match role.clone() {
            Role::TcpServer {
                port,
                send_len,
                send_seed,
                expect_len,
                expect_seed,
            } => match stack.tcp_listen(port, 4) {
                Ok(listener) => App::TcpServer {
                    listener,
                    conn: None,
                    pump: pump(send_len, send_seed, expect_len, expect_seed),
                },
                Err(e) => {
                    progress.error = Some(format!("listen on {port}: {e}"));
                    App::Broken
                }
            },
            Role::TcpClient {
                remote,
                port,
                send_len,
                send_seed,
                expect_len,
                expect_seed,
            } => match stack.tcp_connect(SocketAddr::new(remote, port)) {
                Ok(conn) => App::TcpClient {
                    conn,
                    pump: pump(send_len, send_seed, expect_len, expect_seed),
                },
                Err(e) => {
                    progress.error = Some(format!("connect to {remote}:{port}: {e}"));
                    App::Broken
                }
            },
            Role::Echo { udp_port } => match stack.udp_bind(udp_port) {
                Ok(sock) => {
                    progress.done = true;
                    App::Echo { sock }
                }
                Err(e) => {
                    progress.error = Some(format!("bind UDP {udp_port}: {e:?}"));
                    App::Broken
                }
            },
            Role::Ping {
                remote,
                count,
                size,
                interval,
            } => match stack.echo_open(None) {
                Ok(sock) => App::Ping {
                    sock,
                    dgram: Datagrams::new(remote, 0, count, size, interval, now),
                },
                Err(e) => {
                    progress.error = Some(format!("echo socket: {e:?}"));
                    App::Broken
                }
            },
            Role::UdpClient {
                remote,
                port,
                count,
                size,
                interval,
            } => match stack.udp_bind(0) {
                Ok(sock) => App::Udp {
                    sock,
                    dgram: Datagrams::new(remote, port, count, size, interval, now),
                },
                Err(e) => {
                    progress.error = Some(format!("bind UDP: {e:?}"));
                    App::Broken
                }
            },
        };
        let mtu = usize::from(stack.config().mtu);
        UstackNode {
            stack,
            role,
            name: name.to_string(),
            app,
            progress,
            hasher: Sha256::new(),
            tx: vec![0; mtu.max(68)],
            rx: vec![0; 64 << 10],
        }
    }

    /// The stack (for its counters, connection table, config).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The stack, mutably (for tests that poke at it between runs).
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// The role the app plays.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The TCP connection the app uses, once there is one.
    pub fn connection(&self) -> Option<ConnHandle> {
        match &self.app {
            App::TcpServer { conn, .. } => *conn,
            App::TcpClient { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    fn fail(&mut self, msg: String) {
        if self.progress.error.is_none() {
            self.progress.error = Some(msg);
        }
    }

    fn run_app(&mut self, now: Instant) {
        if self.progress.error.is_some() {
            return;
        }
        let mut app = std::mem::replace(&mut self.app, App::Broken);
        match &mut app {
            App::TcpServer {
                listener,
                conn,
                pump,
            } => {
                if conn.is_none() && self.stack.tcp_can_accept(*listener) {
                    match self.stack.tcp_accept(*listener) {
                        Ok(h) => *conn = Some(h),
                        Err(TcpError::WouldBlock) => {}
                        Err(e) => self.fail(format!("accept: {e}")),
                    }
                }
                if let Some(h) = *conn {
                    self.pump(h, pump);
                }
            }
            App::TcpClient { conn, pump } => self.pump(*conn, pump),
            App::Echo { sock } => self.echo(*sock),
            App::Ping { sock, dgram } => self.ping(now, *sock, dgram),
            App::Udp { sock, dgram } => self.udp_client(now, *sock, dgram),
            App::Broken => {}
        }
        self.app = app;
    }

    fn pump(&mut self, h: ConnHandle, p: &mut Pump) {
        let Some(state) = self.stack.tcp_state(h) else {
            return self.fail("connection handle vanished".into());
        };
        if let Some(e) = self.stack.tcp_error(h) {
            return self.fail(format!("connection error in {state:?}: {e}"));
        }
        if let Some(info) = self.stack.tcp_info(h) {
            self.progress.retransmits = info.stats.retransmits;
        }
        if matches!(state, State::SynSent | State::SynReceived) {
            return; // not connected yet: shutdown would abandon the connect
        }
        // Send as much as fits.
        while super::bench_mode() && self.progress.sent < p.send_len {
            // Benchmark: fill the send buffer in place, with whatever it holds.
            let rest = (p.send_len - self.progress.sent) as usize;
            match self.stack.tcp_send_with(h, rest, |room| room.len()) {
                Ok(n) => self.progress.sent += n as u64,
                Err(TcpError::WouldBlock) => break,
                Err(e) => return self.fail(format!("send in {state:?}: {e}")),
            }
        }
        while self.progress.sent < p.send_len {
            let pos = self.progress.sent;
            if pos < p.chunk_pos || pos >= p.chunk_pos + p.chunk.len() as u64 {
                let n = (p.send_len - pos).min(SEND_CHUNK as u64) as usize;
                p.chunk.resize(n, 0);
                if !super::bench_mode() {
                    fill_stream(p.send_seed, pos, &mut p.chunk);
                }
                p.chunk_pos = pos;
            }
            let off = (pos - p.chunk_pos) as usize;
            match self.stack.tcp_send(h, &p.chunk[off..]) {
                Ok(n) => self.progress.sent += n as u64,
                Err(TcpError::WouldBlock) => break,
                Err(e) => return self.fail(format!("send at byte {pos} in {state:?}: {e}")),
            }
        }
        if self.progress.sent == p.send_len && !p.shut {
            if let Err(e) = self.stack.tcp_shutdown(h) {
                return self.fail(format!("shutdown in {state:?}: {e}"));
            }
            p.shut = true;
        }
        // Benchmark: consume received bytes in place, counting them.
        while super::bench_mode() && !self.progress.eof {
            match self.stack.tcp_recv_with(h, |d| d.len()) {
                Ok(0) => {
                    if self.progress.received != p.expect_len {
                        return self.fail(format!(
                            "end of stream after {} of {} bytes",
                            self.progress.received, p.expect_len
                        ));
                    }
                    self.progress.eof = true;
                }
                Ok(n) => self.progress.received += n as u64,
                Err(TcpError::WouldBlock) => break,
                Err(e) => return self.fail(format!("recv in {state:?}: {e}")),
            }
        }
        // Read everything there is, checking each byte against the expected stream.
        while !self.progress.eof {
            match self.stack.tcp_recv(h, &mut self.rx) {
                Ok(0) => {
                    if self.progress.received != p.expect_len {
                        return self.fail(format!(
                            "end of stream after {} of {} bytes",
                            self.progress.received, p.expect_len
                        ));
                    }
                    self.progress.eof = true;
                }
                Ok(n) => {
                    let pos = self.progress.received;
                    if pos + n as u64 > p.expect_len {
                        return self.fail(format!(
                            "{} bytes received, only {} expected",
                            pos + n as u64,
                            p.expect_len
                        ));
                    }
                    let data = &self.rx[..n];
                    let check = !super::bench_mode();
                    if let Some(i) = (0..n)
                        .filter(|_| check)
                        .find(|&i| data[i] != stream_byte(p.expect_seed, pos + i as u64))
                    {
                        self.progress.received_ok = false;
                        return self.fail(format!(
                            "wrong byte at stream offset {}: got {:#04x}, expected {:#04x}",
                            pos + i as u64,
                            data[i],
                            stream_byte(p.expect_seed, pos + i as u64)
                        ));
                    }
                    if check {
                        self.hasher.update(data);
                    }
                    self.progress.received += n as u64;
                }
                Err(TcpError::WouldBlock) => break,
                Err(e) => {
                    return self.fail(format!(
                        "recv after {} bytes in {state:?}: {e}",
                        self.progress.received
                    ))
                }
            }
        }
        let state = self.stack.tcp_state(h).unwrap_or(State::Closed);
        self.progress.done = p.shut
            && self.progress.eof
            && matches!(state, State::TimeWait | State::Closed)
            && self.stack.tcp_error(h).is_none();
    }

    fn echo(&mut self, sock: SocketHandle) {
        loop {
            match self.stack.udp_recv_from(sock, &mut self.rx) {
                Ok((len, from)) => {
                    let n = len.min(self.rx.len());
                    self.progress.received += n as u64;
                    self.progress.datagrams += 1;
                    match self.stack.udp_send_to(sock, &self.rx[..n], from) {
                        Ok(()) => self.progress.sent += n as u64,
                        // Echo is best effort, like any UDP service.
                        Err(SendError::QueueFull) => {}
                        Err(e) => return self.fail(format!("echo to {from}: {e:?}")),
                    }
                }
                Err(RecvError::WouldBlock) => break,
                // ICMP errors about echoes we sent (the client went away): ignore.
                Err(RecvError::Icmp(_)) => {}
                Err(e) => return self.fail(format!("echo recv: {e:?}")),
            }
        }
    }

    fn ping(&mut self, now: Instant, sock: SocketHandle, d: &mut Datagrams) {
        while d.next < d.count && d.next_at <= now {
            let seq = d.next as u16;
            fill_stream(u64::from(seq), 0, &mut d.payload);
            match self.stack.echo_send(sock, d.remote, seq, &d.payload) {
                Ok(()) => {}
                Err(SendError::QueueFull) => break,
                Err(e) => return self.fail(format!("echo request {seq}: {e:?}")),
            }
            self.progress.sent += d.size as u64;
            d.last_sent_at = now;
            d.next += 1;
            d.next_at += d.interval;
        }
        loop {
            match self.stack.echo_recv(sock, &mut self.rx) {
                Ok(EchoEvent::Reply { seq, len, .. }) => {
                    let i = usize::from(seq);
                    if i >= d.next as usize {
                        return self.fail(format!("reply to seq {seq}, never sent"));
                    }
                    let data = &self.rx[..len.min(self.rx.len())];
                    fill_stream(u64::from(seq), 0, &mut d.payload);
                    if len != d.size || data != &d.payload[..] {
                        self.progress.received_ok = false;
                        return self.fail(format!("reply {seq}: wrong data ({len} bytes)"));
                    }
                    if !d.replied[i] {
                        d.replied[i] = true;
                        self.progress.datagrams += 1;
                        self.progress.received += len as u64;
                        self.hasher.update(data);
                    }
                }
                Ok(EchoEvent::Error { error, seq }) => {
                    return self.fail(format!("ICMP error for request {seq}: {error}"))
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => return self.fail(format!("echo recv: {e:?}")),
            }
        }
        self.progress.done = d.finished(self.progress.datagrams, now);
    }

    fn udp_client(&mut self, now: Instant, sock: SocketHandle, d: &mut Datagrams) {
        let dst = SocketAddr::new(d.remote, d.port);
        while d.next < d.count && d.next_at <= now {
            fill_stream(u64::from(d.next), 0, &mut d.payload);
            match self.stack.udp_send_to(sock, &d.payload, dst) {
                Ok(()) => {}
                Err(SendError::QueueFull) => break,
                Err(e) => return self.fail(format!("datagram {}: {e:?}", d.next)),
            }
            self.progress.sent += d.size as u64;
            d.last_sent_at = now;
            d.next += 1;
            d.next_at += d.interval;
        }
        loop {
            match self.stack.udp_recv_from(sock, &mut self.rx) {
                Ok((len, from)) => {
                    if from != dst {
                        return self.fail(format!("datagram from {from}, expected {dst}"));
                    }
                    let data = &self.rx[..len.min(self.rx.len())];
                    // Which request is this the echo of? The first unanswered one whose stream
                    // it matches; a match with an answered one only is a duplicate.
                    let matches = |i: u32| {
                        len == d.size
                            && data
                                .iter()
                                .enumerate()
                                .all(|(p, &b)| b == stream_byte(u64::from(i), p as u64))
                    };
                    match (0..d.next).find(|&i| !d.replied[i as usize] && matches(i)) {
                        Some(i) => {
                            d.replied[i as usize] = true;
                            self.progress.datagrams += 1;
                            self.progress.received += len as u64;
                            self.hasher.update(data);
                        }
                        None if (0..d.next).any(matches) => {} // duplicate
                        None => {
                            self.progress.received_ok = false;
                            return self
                                .fail(format!("echo of {len} bytes matches no datagram sent"));
                        }
                    }
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => return self.fail(format!("udp recv: {e:?}")),
            }
        }
        self.progress.done = d.finished(self.progress.datagrams, now);
    }
}

impl Node for UstackNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.stack.receive(now, packet);
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.stack.poll_at().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        while self.stack.poll_event().is_some() {}
        self.run_app(now);
        while let Some(n) = self.stack.poll_transmit(now, &mut self.tx) {
            out.push(self.tx[..n].to_vec());
        }
    }

    fn poll_at(&self, _now: Instant) -> Option<Instant> {
        let app = match &self.app {
            App::Ping { dgram, .. } | App::Udp { dgram, .. } if !self.progress.done => {
                Some(dgram.wakeup())
            }
            _ => None,
        };
        match (self.stack.poll_at(), app) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn progress(&self) -> Progress {
        let digest = self.hasher.clone().finalize();
        let mut hex = String::with_capacity(64);
        for b in digest.iter() {
            hex.push_str(&format!("{b:02x}"));
        }
        Progress {
            received_sha256: hex,
            ..self.progress.clone()
        }
    }
}

/// A ustack config for the simulator: `addr`/24, `mtu`, the stack's RNG seed and ISN secret
/// both derived from `seed` (so two stacks built with different seeds differ). An IPv6 `addr`
/// (2001:2::N) makes a dual-stack node: `Config::addr6` is it, and the IPv4 address 198.18.0.N
/// (from which the seed and secret are derived, as for an IPv4 node); the IPv6 suites keep
/// `mtu` at 1280 or more (RFC 8200 §5).
pub fn sim_config(addr: impl Into<IpAddr>, mtu: u16, seed: u64) -> Config {
    let (addr, addr6) = match addr.into() {
        IpAddr::V4(a) => (a, None),
        IpAddr::V6(a) => {
            let [.., n] = a.octets();
            (Ipv4Addr::new(198, 18, 0, n), Some(a))
        }
    };
    let mut secret = [0u8; 16];
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    secret[8..].copy_from_slice(&u32::from(addr).to_le_bytes().repeat(2));
    Config {
        addr,
        addr6,
        prefix_len: super::PREFIX_LEN,
        mtu,
        seed: seed ^ u64::from(u32::from(addr)).rotate_left(32),
        secret,
        ..Config::default()
    }
}
