//! A deterministic network simulator: stacks joined by in-memory links in virtual time.
//!
//! Two [`Node`]s (a ustack [`Stack`](ustack::Stack) or, in the interop suites, a smoltcp
//! `Interface` — `tests/tests/common/smol_node.rs`, smoltcp being a dev-dependency — each with the
//! app that drives it) exchange raw IP packets (IPv4, or IPv6 — [`Family`]) over two one-way
//! [`link::Link`]s, each seeded with its own misbehaviour ([`link::Profile`]: loss, bursty loss, duplication, reordering,
//! corruption, delay and jitter, rate limit with a bounded queue, MTU). [`world::World`] jumps
//! the virtual clock to the next wakeup of any node or link, so a 16 MiB transfer over a lossy
//! link takes virtual seconds and real milliseconds, and a seed reproduces a run exactly.

pub mod link;
pub mod tail;
pub mod ustack_node;
pub mod world;

use std::net::IpAddr;
pub use ustack::{Duration, Instant};

/// An endpoint on the simulated network: a whole stack plus the app that drives it.
pub trait Node {
    /// A short name for logs ("ustack-client", "smoltcp-server").
    fn name(&self) -> &str;
    /// A packet arrived from the link.
    fn receive(&mut self, now: Instant, packet: &[u8]);
    /// Runs timers and the app; appends every packet the node wants to send to `out`.
    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);
    /// When `poll` must next run even if no packet arrives (None: only on packets).
    fn poll_at(&self, now: Instant) -> Option<Instant>;
    /// What the app has achieved so far.
    fn progress(&self) -> Progress;
}

/// What a node's app has done so far, compared across stacks by the suites.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Payload bytes the app handed to its stack (TCP: accepted by send; UDP/ICMP: sent).
    pub sent: u64,
    /// Payload bytes the app received.
    pub received: u64,
    /// SHA-256 (hex) of everything received so far, in order.
    pub received_sha256: String,
    /// Whether received bytes matched the expected stream so far (position by position).
    pub received_ok: bool,
    /// TCP: the peer's FIN was seen (end of stream) after exactly the expected bytes.
    pub eof: bool,
    /// The app's work is complete (all sent, all received, closed as the role requires).
    pub done: bool,
    /// Something went wrong (unexpected RST, error from the stack, wrong data), as text.
    pub error: Option<String>,
    /// Retransmitted segments, if the stack reports them.
    pub retransmits: u64,
    /// Echo replies / UDP datagrams received (for ICMP and UDP roles).
    pub datagrams: u64,
}

/// The client's address in the simulator suites (RFC 2544 benchmarking range).
pub const CLIENT_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 1);
/// The server's address in the simulator suites.
pub const SERVER_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 2);
/// Prefix length of the simulated subnet.
pub const PREFIX_LEN: u8 = 24;
/// The client's IPv6 address (a /64 of the IPv6 benchmarking prefix 2001:2::/48, RFC 5180).
pub const CLIENT_ADDR6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
/// The server's IPv6 address.
pub const SERVER_ADDR6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
/// Prefix length of the simulated IPv6 subnet.
pub const PREFIX_LEN6: u8 = 64;

/// The IP version a simulated run speaks: the suites run their scenarios once per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4, 198.18.0.0/24.
    V4,
    /// IPv6, 2001:2::/64 (ustack nodes keep their IPv4 address too).
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The client's address in this family.
    pub fn client(self) -> IpAddr {
        match self {
            Family::V4 => CLIENT_ADDR.into(),
            Family::V6 => CLIENT_ADDR6.into(),
        }
    }

    /// The server's address in this family.
    pub fn server(self) -> IpAddr {
        match self {
            Family::V4 => SERVER_ADDR.into(),
            Family::V6 => SERVER_ADDR6.into(),
        }
    }

    /// Prefix length of the simulated subnet in this family.
    pub fn prefix_len(self) -> u8 {
        match self {
            Family::V4 => PREFIX_LEN,
            Family::V6 => PREFIX_LEN6,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Bytes of IP and TCP header in a full-sized segment without options: MSS = MTU − this
    /// (RFC 9293 §3.7.1; RFC 8200 §8.3 for IPv6's 40-byte header).
    pub fn tcp_overhead(self) -> usize {
        match self {
            Family::V4 => 40,
            Family::V6 => 60,
        }
    }

    /// "v4" or "v6", for labels.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }
}

/// A whole IP datagram's (source, destination, protocol, transport bytes), IPv4 or IPv6
/// (behind any extension headers; an atomic fragment counts as whole); None for a fragment, or
/// what does not parse.
pub fn transport(packet: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    use ustack::wire::{ipv4::Ipv4Packet, ipv6};
    match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::parse(packet).ok()?;
            let whole = !ip.is_fragment();
            whole.then(|| {
                (
                    ip.src().into(),
                    ip.dst().into(),
                    ip.protocol(),
                    ip.payload(),
                )
            })
        }
        6 => {
            let ip = ipv6::Ipv6Packet::parse(packet).ok()?;
            match ipv6::walk(&ip).ok()? {
                ipv6::Walk::Upper {
                    protocol,
                    at,
                    fragment,
                    ..
                } if fragment.is_none_or(|f| f.is_atomic()) => {
                    let end = ipv6::HEADER_LEN + ip.payload().len();
                    Some((
                        ip.src().into(),
                        ip.dst().into(),
                        protocol,
                        packet.get(at..end)?,
                    ))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// SHA-256 (lowercase hex, as in [`Progress::received_sha256`]) of the first `len` bytes of
/// stream `seed`.
pub fn stream_sha256(seed: u64, len: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = 0;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        fill_stream(seed, pos, &mut buf[..n]);
        h.update(&buf[..n]);
        pos += n as u64;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Progress {
    /// Checks a finished TCP role: done, no error, `sent` bytes handed over, exactly
    /// `received` correct bytes then end of stream, with the SHA-256 of stream
    /// `received_seed`. Returns what differs.
    pub fn check_tcp(&self, sent: u64, received: u64, received_seed: u64) -> Result<(), String> {
        let mut bad = Vec::new();
        if let Some(e) = &self.error {
            bad.push(format!("error: {e}"));
        }
        if !self.done {
            bad.push("not done".to_string());
        }
        if self.sent != sent {
            bad.push(format!("sent {} of {sent}", self.sent));
        }
        if self.received != received {
            bad.push(format!("received {} of {received}", self.received));
        }
        if !self.received_ok {
            bad.push("received bytes differ from the stream".to_string());
        }
        if !self.eof {
            bad.push("no end of stream".to_string());
        }
        if self.received == received
            && self.received_sha256 != stream_sha256(received_seed, received)
        {
            bad.push("SHA-256 of received bytes differs".to_string());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

static BENCH_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Benchmark mode: the TCP roles skip generating the test stream and checking/hashing what they
/// receive (counts are still checked), so a wall-clock benchmark measures the stacks rather than
/// the test apps. Never on in tests.
pub fn set_bench_mode(on: bool) {
    BENCH_MODE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether benchmark mode is on.
pub fn bench_mode() -> bool {
    BENCH_MODE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The byte at `pos` of the pseudorandom test stream `seed`: position-dependent (a hash of the
/// position), so a lost, duplicated or misplaced byte is always noticed — never constant fill.
pub fn stream_byte(seed: u64, pos: u64) -> u8 {
    let mut z = seed ^ pos.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u8
}

/// Transfer sizes that exercise segmentation for a link of `mtu` bytes in `family`: nothing, one
/// byte, both sides of the MSS (MTU − 40, or − 60 over IPv6), both sides of 64 KiB, and 1 MiB.
pub fn transfer_sizes(mtu: usize, family: Family) -> Vec<u64> {
    let mss = (mtu - family.tcp_overhead()) as u64;
    vec![
        0,
        1,
        mss - 1,
        mss,
        mss + 1,
        (64 << 10) - 1,
        (64 << 10) + 1,
        1 << 20,
    ]
}

/// Fills `buf` with the stream `seed` starting at `pos`.
pub fn fill_stream(seed: u64, pos: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(seed, pos + i as u64);
    }
}

/// The work a node's app does. Every stack's node implements every role with its own API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Listen on `port` and serve one connection: send `send_len` bytes of stream
    /// `send_seed`, expect exactly `expect_len` bytes of stream `expect_seed`, then close.
    TcpServer {
        /// Port to listen on.
        port: u16,
        /// Bytes to send.
        send_len: u64,
        /// Stream seed of what is sent.
        send_seed: u64,
        /// Bytes expected from the peer before its FIN.
        expect_len: u64,
        /// Stream seed of what is expected.
        expect_seed: u64,
    },
    /// Connect to `remote:port`, then the same as the server.
    TcpClient {
        /// The server's address.
        remote: IpAddr,
        /// The server's port.
        port: u16,
        /// Bytes to send.
        send_len: u64,
        /// Stream seed of what is sent.
        send_seed: u64,
        /// Bytes expected.
        expect_len: u64,
        /// Stream seed of what is expected.
        expect_seed: u64,
    },
    /// Answer pings and echo UDP on `udp_port` (the stack's own ICMP echo for ustack).
    Echo {
        /// UDP port to echo on.
        udp_port: u16,
    },
    /// Send `count` echo requests of `size` data bytes to `remote`, one every `interval`.
    Ping {
        /// Target.
        remote: IpAddr,
        /// Requests to send.
        count: u32,
        /// Data bytes per request.
        size: usize,
        /// Spacing.
        interval: Duration,
    },
    /// Send `count` UDP datagrams of `size` bytes (stream seed = datagram index) to
    /// `remote:port`, one every `interval`, and count intact echoes.
    UdpClient {
        /// Target.
        remote: IpAddr,
        /// Target port.
        port: u16,
        /// Datagrams to send.
        count: u32,
        /// Bytes per datagram.
        size: usize,
        /// Spacing.
        interval: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_position_dependent() {
        let a: Vec<u8> = (0..64).map(|i| stream_byte(1, i)).collect();
        let b: Vec<u8> = (0..64).map(|i| stream_byte(2, i)).collect();
        assert_ne!(a, b);
        assert!(a.windows(2).any(|w| w[0] != w[1]));
        let mut buf = [0u8; 10];
        fill_stream(1, 5, &mut buf);
        assert_eq!(&buf[..], &a[5..15]);
    }
}
