//! The smoltcp peer of the simulator: a smoltcp 0.14 [`Interface`] on `Medium::Ip` over an
//! in-memory device, with the app for every [`Role`], implementing [`Node`].
//!
//! How it is configured (see `tests/Cargo.toml` for the smoltcp features):
//! - one address, IPv4 or IPv6 (`proto-ipv6`; on `Medium::Ip` smoltcp 0.14 neither fragments
//!   nor reassembles IPv6 — `proto-ipv6-fragmentation` serves 6LoWPAN only), IP MTU as given
//!   (the device's `max_transmission_unit`), checksums computed on send and verified on receive (smoltcp's default capabilities);
//! - IPv4 fragmentation both ways: 64 KiB fragmentation buffer, 16 reassembly slots (each a
//!   growable buffer, since `std` implies `alloc`), 32 contiguous ranges per assembler;
//! - TCP: 256 KiB receive and send buffers (as ustack's defaults), Reno congestion control
//!   (ustack's default is NewReno), timestamps on, Nagle on, smoltcp's 10 ms delayed ACK;
//! - UDP and ICMP: 256 KiB of payload and 64 datagrams each way;
//! - ICMP echo requests are answered by the `Interface` itself (`auto-icmp-echo-reply`).
//!
//! Two smoltcp limits the node works around:
//! - the interface holds one outgoing fragmented datagram at a time and sends one fragment per
//!   `poll_egress`; a second datagram needing fragmentation overwrites the first mid-way. The
//!   device therefore hands out one transmit token per `poll_egress` call (the pending fragment
//!   always wins) and the node drains pending fragments before it feeds the next packet in;
//! - `poll_at` needs `&mut Interface`; the node computes the next wakeup at the end of `poll`.
//!
//! smoltcp exposes no retransmission counter: [`Progress::retransmits`] stays 0 here (the
//! comparison tables count retransmissions on the wire instead). A socket carries one TCP
//! connection: the server role serves exactly one connection, as the role asks.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, CongestionControl, State};
use smoltcp::socket::{icmp, udp};
use smoltcp::wire::{
    HardwareAddress, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpCidr,
    Ipv4Address,
};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use ustack_tests::sim::{fill_stream, stream_byte, Duration, Instant, Node, Progress, Role};

/// Socket buffer sizes (bytes) for TCP each way, and the payload space of UDP/ICMP buffers.
pub const TCP_BUFFER: usize = 256 << 10;
/// Payload bytes of each UDP / ICMP socket buffer (room for several 64 KiB datagrams).
pub const DATAGRAM_BUFFER: usize = 256 << 10;
/// Datagrams each UDP / ICMP socket buffer holds.
pub const DATAGRAM_SLOTS: usize = 64;
/// How long the Ping and UdpClient roles wait for replies after their last send.
pub const REPLY_WAIT: Duration = Duration::from_secs(5);
/// The ICMP identifier of the Ping role.
pub const PING_IDENT: u16 = 0x534d;

/// Bounds the internal poll loop (a livelock in smoltcp becomes an error, not a hang).
const MAX_ROUNDS: usize = 100_000;

thread_local! {
    /// Virtual milliseconds for TCP timestamps: smoltcp's generator is a bare `fn() -> u32`,
    /// so the node sets this before every call into the interface. The simulator is
    /// single-threaded, so this stays deterministic.
    static TS_CLOCK_MS: Cell<u32> = const { Cell::new(0) };
}

fn tsval() -> u32 {
    TS_CLOCK_MS.with(Cell::get)
}

fn smol_time(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.total_micros() as i64)
}

fn sim_time(t: smoltcp::time::Instant) -> Instant {
    Instant::from_micros(t.total_micros().max(0) as u64)
}

/// The in-memory device: `rx` is filled by [`Node::receive`], `tx` drained by [`Node::poll`].
struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    mtu: usize,
    /// Transmit tokens `transmit()` may still hand out (the reply token paired with a received
    /// packet is not counted).
    budget: usize,
    /// The last packet sent was a fragment with more to come: the interface's fragmenter is busy.
    more_frags_pending: bool,
}

impl QueueDevice {
    fn push_tx(&mut self, packet: Vec<u8>) {
        // IPv4 flags byte: MF is 0x20 of byte 6 (smoltcp does not fragment IPv6 on Medium::Ip).
        self.more_frags_pending =
            packet.len() >= 20 && packet[0] >> 4 == 4 && packet[6] & 0x20 != 0;
        self.tx.push(packet);
    }
}

struct SimRxToken(Vec<u8>);

struct SimTxToken<'a>(&'a mut QueueDevice);

impl phy::RxToken for SimRxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for SimTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push_tx(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = SimRxToken;
    type TxToken<'a> = SimTxToken<'a>;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((SimRxToken(packet), SimTxToken(self)))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        Some(SimTxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

/// Running state of the received stream (TCP) or datagrams (UDP/ICMP).
struct Receipt {
    bytes: u64,
    hasher: Sha256,
    ok: bool,
}

impl Receipt {
    fn new() -> Self {
        Receipt {
            bytes: 0,
            hasher: Sha256::new(),
            ok: true,
        }
    }

    fn hex(&self) -> String {
        let digest = self.hasher.clone().finalize();
        let mut hex = String::with_capacity(2 * digest.len());
        for byte in digest.iter() {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }
}

struct TcpApp {
    handle: SocketHandle,
    send_len: u64,
    send_seed: u64,
    expect_len: u64,
    expect_seed: u64,
    sent: u64,
    /// We called `close()` (our FIN is queued).
    closed: bool,
    /// The peer's FIN was seen (state went to CloseWait/LastAck/Closing/TimeWait).
    fin_seen: bool,
    /// The socket reached Established at least once.
    established: bool,
    eof: bool,
    done: bool,
}

/// Ping or UdpClient: `count` probes, one every `interval`, each answered at most once.
struct ProbeApp {
    handle: SocketHandle,
    udp: bool,
    remote: IpAddr,
    port: u16,
    count: u32,
    size: usize,
    interval: Duration,
    start: Instant,
    next: u32,
    last_send: Option<Instant>,
    answered: Vec<bool>,
    answers: u64,
    sent_bytes: u64,
    done: bool,
}

/// One thing a probe socket handed the app.
enum Reply {
    /// Payload of `.0` bytes in the scratch buffer; ICMP sequence number if any.
    Data(usize, Option<u32>),
    /// Not for the app (an echo request with our ident).
    Ignore,
    /// A datagram that should not have come.
    Bad(String),
}

enum App {
    Tcp(TcpApp),
    Echo { udp: SocketHandle },
    Probe(ProbeApp),
}

/// A smoltcp `Interface` plus the app of its [`Role`]; see the module docs.
pub struct SmolNode {
    name: String,
    device: QueueDevice,
    iface: Interface,
    sockets: SocketSet<'static>,
    app: App,
    receipt: Receipt,
    sent: u64,
    datagrams: u64,
    error: Option<String>,
    next_poll: Option<Instant>,
    scratch: Vec<u8>,
}

impl fmt::Debug for SmolNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolNode")
            .field("name", &self.name)
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

fn datagram_buffers<M: Clone>(empty: M) -> (Vec<M>, Vec<u8>) {
    (vec![empty; DATAGRAM_SLOTS], vec![0u8; DATAGRAM_BUFFER])
}

fn udp_socket() -> udp::Socket<'static> {
    let (m1, p1) = datagram_buffers(udp::PacketMetadata::EMPTY);
    let (m2, p2) = datagram_buffers(udp::PacketMetadata::EMPTY);
    udp::Socket::new(
        udp::PacketBuffer::new(m1, p1),
        udp::PacketBuffer::new(m2, p2),
    )
}

impl SmolNode {
    /// A node with address `addr/prefix_len` (IPv4 or IPv6), IP MTU `mtu`, doing `role`,
    /// created at `now`. `seed` feeds smoltcp's `Config::random_seed` (ISNs, IP ids) and picks
    /// the ephemeral port of client roles.
    pub fn new(
        name: &str,
        addr: impl Into<IpAddr>,
        prefix_len: u8,
        mtu: usize,
        role: Role,
        now: Instant,
        seed: u64,
    ) -> SmolNode {
        let addr = addr.into();
        let mut device = QueueDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
            budget: 0,
            more_frags_pending: false,
        };
        // smoltcp's own randomness (ISNs) and the client's ephemeral port, from `rand`'s
        // portable xoshiro256++ so that a seed reproduces the run.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = rng.next_u64();
        let mut iface = Interface::new(config, &mut device, smol_time(now));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::from(addr), prefix_len))
                .expect("one address fits");
        });
        add_default_route(&mut iface, addr, prefix_len);

        let mut sockets = SocketSet::new(Vec::new());
        let ephemeral: u16 = rng.random_range(49152..=65535);
        let app = match role {
            Role::TcpServer {
                port,
                send_len,
                send_seed,
                expect_len,
                expect_seed,
            } => {
                let mut socket = tcp_socket();
                socket.listen(port).expect("listen on a fresh socket");
                App::Tcp(TcpApp::new(
                    sockets.add(socket),
                    send_len,
                    send_seed,
                    expect_len,
                    expect_seed,
                ))
            }
            Role::TcpClient {
                remote,
                port,
                send_len,
                send_seed,
                expect_len,
                expect_seed,
            } => {
                let mut socket = tcp_socket();
                socket
                    .connect(iface.context(), (IpAddress::from(remote), port), ephemeral)
                    .expect("connect on a fresh socket");
                App::Tcp(TcpApp::new(
                    sockets.add(socket),
                    send_len,
                    send_seed,
                    expect_len,
                    expect_seed,
                ))
            }
            Role::Echo { udp_port } => {
                let mut socket = udp_socket();
                socket.bind(udp_port).expect("bind on a fresh socket");
                App::Echo {
                    udp: sockets.add(socket),
                }
            }
            Role::Ping {
                remote,
                count,
                size,
                interval,
            } => {
                let (m1, p1) = datagram_buffers(icmp::PacketMetadata::EMPTY);
                let (m2, p2) = datagram_buffers(icmp::PacketMetadata::EMPTY);
                let mut socket = icmp::Socket::new(
                    icmp::PacketBuffer::new(m1, p1),
                    icmp::PacketBuffer::new(m2, p2),
                );
                socket
                    .bind(icmp::Endpoint::Ident(PING_IDENT))
                    .expect("bind on a fresh socket");
                App::Probe(ProbeApp::new(
                    sockets.add(socket),
                    false,
                    remote,
                    0,
                    count,
                    size,
                    interval,
                    now,
                ))
            }
            Role::UdpClient {
                remote,
                port,
                count,
                size,
                interval,
            } => {
                let mut socket = udp_socket();
                socket.bind(ephemeral).expect("bind on a fresh socket");
                App::Probe(ProbeApp::new(
                    sockets.add(socket),
                    true,
                    remote,
                    port,
                    count,
                    size,
                    interval,
                    now,
                ))
            }
        };
        SmolNode {
            name: name.to_string(),
            device,
            iface,
            sockets,
            app,
            receipt: Receipt::new(),
            sent: 0,
            datagrams: 0,
            error: None,
            next_poll: Some(now),
            scratch: vec![0u8; 65536],
        }
    }

    /// Switches the TCP socket's congestion control (Reno by default). No-op for other roles.
    pub fn set_congestion_control(&mut self, cc: CongestionControl) {
        if let App::Tcp(app) = &self.app {
            self.sockets
                .get_mut::<tcp::Socket>(app.handle)
                .set_congestion_control(cc);
        }
    }

    /// The TCP socket's state, for suites that want to look (None for other roles).
    pub fn tcp_state(&self) -> Option<State> {
        match &self.app {
            App::Tcp(app) => Some(self.sockets.get::<tcp::Socket>(app.handle).state()),
            _ => None,
        }
    }

    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    /// Runs `poll_egress` with one transmit token at a time until nothing more goes out, so a
    /// pending fragment is always sent before any socket may start another datagram.
    fn egress_all(&mut self, ts: smoltcp::time::Instant) {
        for _ in 0..MAX_ROUNDS {
            self.device.budget = 1;
            let before = self.device.tx.len();
            self.iface
                .poll_egress(ts, &mut self.device, &mut self.sockets);
            if self.device.tx.len() == before {
                self.device.budget = 0;
                return;
            }
        }
        self.device.budget = 0;
        self.fail("smoltcp egress did not settle".into());
    }

    /// Runs the app once; true if it did something the interface must act on.
    fn pump(&mut self, now: Instant) -> bool {
        let mut errors = Vec::new();
        let acted = match &mut self.app {
            App::Tcp(app) => app.pump(&mut self.sockets, &mut self.receipt, &mut errors),
            App::Echo { udp } => {
                let socket = self.sockets.get_mut::<udp::Socket>(*udp);
                let mut acted = false;
                while let Ok((n, meta)) = socket.recv_slice(&mut self.scratch) {
                    acted = true;
                    self.receipt.bytes += n as u64;
                    self.datagrams += 1;
                    if socket.send_slice(&self.scratch[..n], meta.endpoint).is_ok() {
                        self.sent += n as u64;
                    }
                }
                acted
            }
            App::Probe(app) => app.pump(
                now,
                &mut self.sockets,
                &mut self.receipt,
                &mut self.scratch,
                &mut errors,
            ),
        };
        if let App::Tcp(app) = &self.app {
            self.sent = app.sent;
        }
        if let App::Probe(app) = &self.app {
            self.sent = app.sent_bytes;
            self.datagrams = app.answers;
        }
        for e in errors {
            self.fail(e);
        }
        acted
    }

    fn app_deadline(&self) -> Option<Instant> {
        match &self.app {
            App::Probe(app) => app.deadline(),
            _ => None,
        }
    }
}

/// Medium::Ip has no neighbours; a default route only lets off-subnet peers be reached. The
/// gateway is host 2 of the subnet, or host 1 for host 2 itself.
fn add_default_route(iface: &mut Interface, addr: IpAddr, prefix_len: u8) {
    let (bits, host) = match addr {
        IpAddr::V4(a) => (32, u128::from(u32::from(a))),
        IpAddr::V6(a) => (128, u128::from(a)),
    };
    let host_bits = bits - u32::from(prefix_len);
    let net = host & !1u128.checked_shl(host_bits).map_or(u128::MAX, |b| b - 1);
    let gw = if net | 1 == host { net | 2 } else { net | 1 };
    let _ = match addr {
        IpAddr::V4(_) => iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::from(gw as u32)),
        IpAddr::V6(_) => iface
            .routes_mut()
            .add_default_ipv6_route(Ipv6Addr::from(gw)),
    };
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]),
    );
    socket.set_congestion_control(CongestionControl::Reno);
    socket.set_tsval_generator(Some(tsval));
    socket.set_nagle_enabled(true);
    socket
}

impl TcpApp {
    fn new(
        handle: SocketHandle,
        send_len: u64,
        send_seed: u64,
        expect_len: u64,
        expect_seed: u64,
    ) -> Self {
        TcpApp {
            handle,
            send_len,
            send_seed,
            expect_len,
            expect_seed,
            sent: 0,
            closed: false,
            fin_seen: false,
            established: false,
            eof: false,
            done: false,
        }
    }

    fn pump(
        &mut self,
        sockets: &mut SocketSet<'static>,
        receipt: &mut Receipt,
        errors: &mut Vec<String>,
    ) -> bool {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        let mut acted = false;
        let state = socket.state();
        match state {
            State::Established => self.established = true,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait => {
                self.established = true;
                self.fin_seen = true;
            }
            State::FinWait1 | State::FinWait2 => self.established = true,
            _ => {}
        }

        // Read everything buffered, checking it against the expected stream.
        while socket.can_recv() {
            let (expect_len, expect_seed) = (self.expect_len, self.expect_seed);
            let got = socket
                .recv(|buf| {
                    let check = !ustack_tests::sim::bench_mode();
                    for (i, &b) in buf.iter().enumerate().filter(|_| check) {
                        let pos = receipt.bytes + i as u64;
                        if pos >= expect_len {
                            if errors.is_empty() {
                                errors.push(format!(
                                    "received more than the expected {expect_len} bytes"
                                ));
                            }
                            break;
                        }
                        if b != stream_byte(expect_seed, pos) && receipt.ok {
                            receipt.ok = false;
                            errors.push(format!("received byte {pos} differs from the stream"));
                        }
                    }
                    if check {
                        receipt.hasher.update(&*buf);
                    }
                    receipt.bytes += buf.len() as u64;
                    (buf.len(), buf.len())
                })
                .unwrap_or(0);
            if got == 0 {
                break;
            }
            acted = true;
        }

        // Send as much of our stream as fits, then close.
        if socket.may_send() {
            while self.sent < self.send_len {
                let (sent, seed, len) = (self.sent, self.send_seed, self.send_len);
                let n = socket
                    .send(|buf| {
                        let n = buf.len().min((len - sent) as usize);
                        if !ustack_tests::sim::bench_mode() {
                            fill_stream(seed, sent, &mut buf[..n]);
                        }
                        (n, n)
                    })
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                self.sent += n as u64;
                acted = true;
            }
            if self.sent == self.send_len && !self.closed {
                socket.close();
                self.closed = true;
                acted = true;
            }
        }

        // The peer's FIN, once everything before it has been read.
        if self.fin_seen && !socket.can_recv() && !self.eof {
            if receipt.bytes == self.expect_len {
                self.eof = true;
            } else if receipt.bytes < self.expect_len {
                errors.push(format!(
                    "end of stream after {} of {} bytes",
                    receipt.bytes, self.expect_len
                ));
            }
        }

        let state = socket.state();
        if state == State::Closed && !self.done {
            if self.fin_seen && self.closed {
                // LastAck → Closed (our FIN acknowledged) or TimeWait expired.
            } else if self.established {
                errors.push(format!("connection reset or aborted (was {state})"));
            } else if !socket.is_listening() {
                errors.push("connection refused or timed out".into());
            }
        }
        if !self.done
            && self.sent == self.send_len
            && self.closed
            && self.eof
            && matches!(state, State::TimeWait | State::Closed)
        {
            self.done = true;
        }
        acted
    }
}

impl Node for SmolNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn receive(&mut self, _now: Instant, packet: &[u8]) {
        self.device.rx.push_back(packet.to_vec());
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        TS_CLOCK_MS.with(|c| c.set(now.total_millis() as u32));
        let ts = smol_time(now);
        self.iface.poll_maintenance(ts);
        let mut settled = false;
        for _ in 0..MAX_ROUNDS {
            // Ingress, one packet at a time; a reply that left fragments pending (an echo
            // reply larger than the MTU) is drained before the next packet can clobber it.
            while !self.device.rx.is_empty() {
                if self.device.more_frags_pending {
                    self.egress_all(ts);
                }
                self.iface
                    .poll_ingress_single(ts, &mut self.device, &mut self.sockets);
            }
            self.egress_all(ts);
            if !self.pump(now) && self.device.rx.is_empty() {
                settled = true;
                break;
            }
        }
        if !settled {
            self.fail("smoltcp poll loop did not settle".into());
        }
        out.append(&mut self.device.tx);
        let iface_at = self
            .iface
            .poll_at(ts, &self.sockets)
            .map(|t| sim_time(t).max(now));
        self.next_poll = match (iface_at, self.app_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn poll_at(&self, now: Instant) -> Option<Instant> {
        if !self.device.rx.is_empty() {
            return Some(now);
        }
        self.next_poll
    }

    fn progress(&self) -> Progress {
        let (eof, done) = match &self.app {
            App::Tcp(app) => (app.eof, app.done),
            App::Echo { .. } => (false, true),
            App::Probe(app) => (false, app.done),
        };
        Progress {
            sent: self.sent,
            received: self.receipt.bytes,
            received_sha256: self.receipt.hex(),
            received_ok: self.receipt.ok,
            eof,
            // As for ustack's node: never done with an error.
            done: done && self.error.is_none(),
            error: self.error.clone(),
            retransmits: 0,
            datagrams: self.datagrams,
        }
    }
}

#[path = "smol_node/probe.rs"]
mod probe;
