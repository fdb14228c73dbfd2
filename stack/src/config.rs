//! Every knob and limit of the stack, each a named field with its default and where it comes from.
//!
//! A `Config` is plain data: build one with [`Config::default`] and change the fields you care
//! about. The stack validates it in [`crate::Stack::new`].

use crate::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The smallest MSS ustack works with: RFC 791's 68-byte minimum MTU less 40 bytes of headers.
pub const MIN_MSS: u16 = 28;

/// The stack's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The stack's own IPv4 address. Default 198.18.0.2 (RFC 2544 benchmarking range, never
    /// routed). Must be a unicast host address, neither the network nor the broadcast address of
    /// its prefix (RFC 1122 §3.2.1.3).
    pub addr: Ipv4Addr,
    /// Prefix length of the link the address sits on; used only to recognise the directed
    /// broadcast address (RFC 919, RFC 1122 §3.3.6). Default 24.
    pub prefix_len: u8,
    /// The stack's own IPv6 address, if it speaks IPv6 (issue 17: so far it answers echo
    /// requests to it; everything else IPv6 is counted as not handled yet). Default none. Must
    /// be a unicast address: not multicast, unspecified, loopback or IPv4-mapped (RFC 4291 §2).
    pub addr6: Option<Ipv6Addr>,
    /// Link MTU in bytes: the largest IP packet handed to the device. Larger datagrams are
    /// fragmented (RFC 791 §3.2) unless DF is set. Default 1500. Must be at least 68 (RFC 791).
    pub mtu: u16,
    /// TTL of datagrams the stack originates. Default 64 (RFC 1700's recommendation, Linux's
    /// default). Must be positive.
    pub ttl: u8,

    /// How long a partly reassembled datagram is kept before it is freed and, if its first fragment
    /// had arrived, ICMP time exceeded (code 1) is sent. RFC 1122 §3.3.2 suggests 60–120 s; ustack
    /// uses Linux's 30 s (`ipfrag_time`). Default 30 s. Must be positive.
    pub reassembly_timeout: Duration,
    /// Upper bound on the memory held by all datagrams in reassembly, buffers and bookkeeping
    /// included. When a new fragment would exceed it the oldest datagrams are evicted first.
    /// Default 4 MiB (Linux's `ipfrag_high_thresh`).
    pub reassembly_max_bytes: usize,
    /// Upper bound on datagrams in reassembly at once; a new one evicts the oldest. Default 1024.
    pub reassembly_max_datagrams: usize,

    /// Sustained rate of ICMP error messages the stack may send, per second (token bucket,
    /// RFC 1812 §4.3.2.8 and RFC 1122 §3.2.2 ask for rate limiting). Default 1000 (Linux's
    /// `icmp_msgs_per_sec`).
    pub icmp_error_rate: u32,
    /// Burst size of that token bucket. Default 50 (Linux's `icmp_msgs_burst`).
    pub icmp_error_burst: u32,
    /// Whether ICMP timestamp requests (RFC 792 type 13) are answered. Default true, as Linux
    /// does. The times are milliseconds since midnight UT when the runtime has told the stack
    /// the wall-clock time (`Stack::set_wall_clock`); otherwise the stack's own milliseconds
    /// with the high-order bit set, RFC 792's mark for a non-standard time.
    pub icmp_timestamps: bool,

    /// Most sockets (UDP and ICMP echo together) open at once. Default 1024. At most 2^32 − 1.
    pub max_sockets: usize,
    /// Most datagrams queued on one socket's receive queue; more are dropped and counted. Default 512.
    pub socket_rx_queue_datagrams: usize,
    /// Most payload bytes queued on one socket's receive queue. Default 1 MiB.
    pub socket_rx_queue_bytes: usize,

    /// Most datagrams waiting for `poll_transmit`; more are refused with `SendError::QueueFull`.
    /// Default 4096.
    pub tx_queue_datagrams: usize,
    /// Most bytes waiting for `poll_transmit`. Default 8 MiB.
    pub tx_queue_bytes: usize,

    /// First and last port handed out when a UDP socket binds port 0 (RFC 6335 §6's dynamic range).
    /// Default 49152..=65535.
    pub ephemeral_ports: (u16, u16),
    /// Receive buffer of each TCP connection, bytes; bounds the advertised window and the
    /// out-of-order data held. Default 256 KiB (window scaling, RFC 7323, is used above 64 KiB).
    pub tcp_rx_buffer: usize,
    /// Most bytes of send and receive buffer storage all TCP connections hold together (Linux's
    /// `tcp_mem` is the model; issue 16 finding 3). Storage grows with the data a connection
    /// buffers; above half of this cap the stack is under pressure and a buffer that empties
    /// gives its storage back; at the cap no buffer grows: each keeps what it has and a new one
    /// gets one page (4 KiB, the floor every connection keeps), so the app's writes take less
    /// and the receive window offered shrinks to what is held (a window already advertised is
    /// still honoured). The total may pass the cap by those floors and one buffer's growth.
    /// Refusals are counted in `Stats::tcp_mem_denied`. Default 256 MiB; the runtime
    /// (`tun_bridge::BridgeConfig::default`) sets 1/16 of the machine's memory, Linux's
    /// `tcp_mem` pressure threshold. Must be positive.
    pub tcp_mem_max: usize,
    /// Send buffer of each TCP connection, bytes. Default 256 KiB. At most 2^30 (RFC 7323 §2.3:
    /// no more can be in flight).
    pub tcp_tx_buffer: usize,
    /// Most TCP connections with buffers (any state; connections the app closed leave this
    /// table for the TIME-WAIT one, `tcp_max_time_wait`). Default 4096.
    pub tcp_max_connections: usize,
    /// Most half-open connections (SYN-RECEIVED) across all listeners; beyond it SYN cookies
    /// (RFC 4987 §3.6) answer without keeping state. Default 256. 0 with `tcp_syncookies`
    /// answers every SYN with a cookie (Linux's `tcp_syncookies=2`); 0 without cookies could
    /// answer no SYN at all and is refused.
    pub tcp_syn_backlog: usize,
    /// Whether SYN cookies are used when the half-open table is full. Default true. A cookie is
    /// sent only while the connection table has room for the connection it would open.
    pub tcp_syncookies: bool,
    /// Most connections one remote address may hold in the table through the stack's
    /// listeners (active opens do not count), so one client cannot take every slot and starve
    /// the others. Beyond it a SYN is refused like a full table (`tcp_abort_on_overflow`) and
    /// counted as `DropReason::TcpSourceLimit`. Linux has no such limit in TCP itself (it is
    /// iptables' `connlimit`). Default 1024, a quarter of `tcp_max_connections`'s default; set
    /// it to `tcp_max_connections` to turn it off. Must be positive.
    pub tcp_max_per_source: usize,
    /// What a SYN gets when the connection table is full or its source is at
    /// `tcp_max_per_source` (and a SYN cookie's ACK that finds the table full): an RST when
    /// true, so the client fails at once; nothing when false, so it retransmits and gives up
    /// after its own retries. No SYN cookie is sent then: its ACK could not be honoured, and
    /// the client would believe it is connected. Linux's `tcp_abort_on_overflow` (default 0,
    /// silence) chooses the same for a full accept queue, which is transient; a full table is
    /// not, so ustack's default is true.
    pub tcp_abort_on_overflow: bool,
    /// Maximum segment lifetime; TIME-WAIT lasts 2×MSL (RFC 9293 §3.4.2 suggests 2 minutes;
    /// ustack uses Linux's effective 30 s). Default 30 s. Must be positive.
    pub tcp_msl: Duration,
    /// RTO before any RTT sample (RFC 6298 §2.1), clamped to the bounds below. Default 1 s. Must
    /// be positive.
    pub tcp_initial_rto: Duration,
    /// Lower bound of the RTO. RFC 6298 §2.4 says 1 s; ustack, like Linux, uses 200 ms. Must be
    /// positive (a zero RTO would fire forever at the same instant) and at most `tcp_max_rto`.
    pub tcp_min_rto: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5: at least 60 s). Default 60 s. Must be positive.
    pub tcp_max_rto: Duration,
    /// Delayed-ACK timeout (RFC 9293 §3.8.6.3 requires < 0.5 s). Default 40 ms, as Linux. Must be
    /// positive and below 500 ms.
    pub tcp_delayed_ack: Duration,
    /// A connection whose data stays unacknowledged this long is aborted with `TimedOut`
    /// (RFC 9293 §3.8.3 R2, RFC 5482). Default 100 s. Must be positive.
    pub tcp_user_timeout: Duration,
    /// SYN retransmissions before a connect fails (RFC 9293 §3.8.3 R2 for SYN: ≥ 3 min is
    /// suggested; ustack uses Linux's 6 tries, about 2 minutes with backoff). Default 6.
    pub tcp_syn_retries: u32,
    /// Keepalive idle time for new connections; None = off (RFC 1122 §4.2.3.6: off by default).
    /// `Some` must be positive.
    pub tcp_keepalive: Option<Duration>,
    /// Interval between unanswered keepalive probes. Default 75 s (RFC 1122). Must be positive.
    pub tcp_keepalive_interval: Duration,
    /// Unanswered keepalive probes before the connection is aborted. Default 9. Must be positive.
    pub tcp_keepalive_probes: u32,
    /// Challenge ACKs (RFC 5961 §7) per second, all connections together, on average: each
    /// second's allowance is drawn at random in [rate/2, 3·rate/2) as Linux's
    /// `tcp_challenge_ack_limit` does (CVE-2016-5696), on top of the per-connection budget
    /// (`tcp_challenge_ack_conn_burst`). Default 1000.
    pub tcp_challenge_ack_rate: u32,
    /// Congestion-control algorithm for new connections. Default NewReno (RFC 5681, RFC 6582).
    pub tcp_congestion: crate::tcp::congestion::Algorithm,
    /// Offer and use timestamps (RFC 7323). Default true.
    pub tcp_timestamps: bool,
    /// Offer and use selective acknowledgments (RFC 2018). Default true.
    pub tcp_sack: bool,
    /// Offer window scaling (RFC 7323 §2). Default true.
    pub tcp_window_scaling: bool,
    /// Largest MSS the stack accepts from a peer or uses itself: peers' MSS options are clamped
    /// to it and to the MTU − 40. Default 65495. Must be within [`MIN_MSS`]`..=65495`
    /// (RFC 9293 §3.7.1: the largest datagram less 40 bytes of headers).
    pub tcp_max_mss: u16,
    /// The 128-bit secret: the ISN key (RFC 6528 §3) and the root from which separate keys for
    /// SYN cookies, IPv4 ids, ephemeral ports and echo identifiers are derived (SipHash-2-4, so
    /// no observed value reveals it). Default: the published test value `ustack-test-key!` —
    /// anyone can compute ISNs and SYN cookies under it, so it is only for tests and
    /// simulations that want reproducible runs. The runtime (`tun_bridge::Bridge::start`)
    /// replaces it with one drawn from the OS (getrandom) unless told by name to keep it
    /// (`tun_bridge::Entropy::Pinned`); never from the time or the pid.
    pub secret: [u8; 16],
    /// Seed mixed into the derived keys (ephemeral ports, echo identifiers, IP ids): with a pinned
    /// secret, a different seed gives different choices. Default: a fixed test value; the
    /// runtime draws it from the OS with the secret, unless pinned.
    pub seed: u64,
    /// Counters in the IPv4 identification table (RFC 7739 §5.3): each datagram's id comes from
    /// the counter its (source, destination, protocol) hashes to under a secret key, so an
    /// observer learns nothing about traffic to other destinations (the idle scan of RFC 7739
    /// §3) except the 1 in `ip_ident_buckets` that share its counter. 2 bytes each. Default 2048
    /// (Linux's `ip_idents` minimum). Must be within 1..=65536.
    pub ip_ident_buckets: usize,
    /// The lowest path MTU ICMP fragmentation-needed may set for a TCP connection (RFC 1191 §6;
    /// a forged report of 68 would otherwise cut every segment to 28 bytes, RFC 5927 §7). Reports
    /// below it are raised to it; one with a next-hop MTU of 0 uses the RFC 1191 §7 plateau below
    /// the quoted datagram first. Default 552, Linux's `min_pmtu`. Must be within 68..=`mtu`.
    pub min_pmtu: u16,

    /// How long after the half-open queue last overflowed an ACK may still complete a SYN-cookie
    /// handshake (RFC 4987 §3.6). Outside that window an ACK to a listener is never checked as a
    /// cookie, so blind guessing (~2^24 tries) cannot open connections while no flood is going on.
    /// Default 120 s, Linux's `TCP_SYNCOOKIE_VALID`.
    pub tcp_syncookie_window: Duration,
    /// Least time between two ACKs one connection sends in reply to segments it drops as
    /// invalid: PAWS rejects (RFC 7323 §5.3 R1) and out-of-window segments without data or FIN
    /// (RFC 9293 §3.10.7.4). RFC 7323 asks for an ACK per drop; ustack rate-limits them, like
    /// Linux's `tcp_invalid_ratelimit`, so forged segments cannot turn into an ACK flood or an
    /// ACK loop. Default 500 ms.
    pub tcp_invalid_ack_interval: Duration,
    /// Challenge ACKs (RFC 5961 §7) one connection may send in a burst. Each connection has its
    /// own budget, so the challenge ACKs an attacker sees on its own connection say nothing
    /// about probes that hit another one (CVE-2016-5696). Default 5.
    pub tcp_challenge_ack_conn_burst: u32,
    /// Rate at which that per-connection budget refills, per second. Default 2 (Linux allows
    /// one per 500 ms per socket).
    pub tcp_challenge_ack_conn_rate: u32,
    /// Zero-window probes an orphaned connection (closed by the app, data or FIN still queued)
    /// sends before it is aborted with RST, however the peer answers. RFC 9293 §3.8.6.1 keeps a
    /// connection open while the peer answers probes; RFC 6429 lets a closed one go, and Linux
    /// does after `tcp_orphan_retries` (effectively 8). With the persist interval capped at 60 s,
    /// an orphan is gone within about (probes + 1) minutes. Live connections are bounded by
    /// `tcp_user_timeout` when the peer stops answering. Default 8.
    pub tcp_orphan_persist_probes: u32,
    /// Most disjoint out-of-order ranges one connection holds beyond RCV.NXT (RFC 9293 §3.10.7.4
    /// lets a receiver keep them; RFC 2018 SACK reports them). A segment that would open one
    /// more is dropped (`DropReason::TcpOooLimit`) and acknowledged, so the sender retransmits
    /// it; it never evicts data already SACKed. This bounds the per-segment cost and the range
    /// bookkeeping (24 bytes a range); the bytes themselves live in the preallocated receive
    /// buffer. Like FreeBSD's `net.inet.tcp.reass.maxqueuelen` (100 segments). Default 128.
    pub tcp_ooo_max_ranges: usize,
    /// Most out-of-order ranges held by all connections together; beyond it new ranges are
    /// dropped as above. Default 32768 (about 768 KiB of bookkeeping).
    pub tcp_ooo_max_ranges_total: usize,
    /// Most connections in TIME-WAIT (RFC 9293 §3.6.1, 2×MSL). Connections the app closed wait
    /// it out in a compact table of their own (about 100 bytes each, no buffers), which does not
    /// count towards `tcp_max_connections`; beyond this cap the oldest entry is recycled early,
    /// as Linux does past `tcp_max_tw_buckets` (counted in `Stats::tcp_time_wait_recycled`).
    /// Default 16384.
    pub tcp_max_time_wait: usize,
    /// How long a connection the app has closed waits in FIN-WAIT-2 for the peer's FIN before
    /// it is freed, silently as Linux's FIN-WAIT-2 entry expires (`tcp_fin_timeout`; RFC 9293
    /// sets no bound, and without one a peer that acknowledges our FIN but never sends its own
    /// holds the connection and its slot forever). It runs from the last segment in or out,
    /// whether the app closed before our FIN was acknowledged or after a half-close. Connections
    /// the app still holds are not affected. Default 60 s, as Linux. Must be positive.
    pub tcp_fin_timeout: Duration,
    /// How many times a retransmitted FIN may restart a connection's 2×MSL wait (RFC 9293
    /// §3.10.7.4 says each one does; unbounded, a peer could keep the entry forever). Later
    /// FINs are still acknowledged. Default 4.
    pub tcp_time_wait_max_restarts: u32,
    /// Loss-recovery mechanisms, each with its switch: RACK-TLP (RFC 8985), D-SACK (RFC 2883)
    /// and spurious-retransmission undo (RFC 3708, RFC 3522), PRR (RFC 6937), HyStart++
    /// (RFC 9406). All on by default, as in Linux;
    /// [`RecoveryConfig::classic`](crate::tcp::recovery::RecoveryConfig::classic) turns them off.
    pub tcp_recovery: crate::tcp::recovery::RecoveryConfig,
}

/// Every field at its documented default — including a published test `secret` and a fixed
/// `seed`, so that tests and simulations are reproducible. A stack on a real network needs a
/// secret nobody knows (RFC 6528 §3): `tun_bridge::Bridge::start` draws one from the OS unless
/// the caller pins it by name.
impl Default for Config {
    fn default() -> Self {
        Config {
            addr: Ipv4Addr::new(198, 18, 0, 2),
            prefix_len: 24,
            addr6: None,
            mtu: 1500,
            ttl: 64,
            reassembly_timeout: Duration::from_secs(30),
            reassembly_max_bytes: 4 << 20,
            reassembly_max_datagrams: 1024,
            icmp_error_rate: 1000,
            icmp_error_burst: 50,
            icmp_timestamps: true,
            max_sockets: 1024,
            socket_rx_queue_datagrams: 512,
            socket_rx_queue_bytes: 1 << 20,
            tx_queue_datagrams: 4096,
            tx_queue_bytes: 8 << 20,
            ephemeral_ports: (49152, 65535),
            tcp_rx_buffer: 256 << 10,
            tcp_tx_buffer: 256 << 10,
            tcp_mem_max: 256 << 20,
            tcp_max_connections: 4096,
            tcp_syn_backlog: 256,
            tcp_syncookies: true,
            tcp_max_per_source: 1024,
            tcp_abort_on_overflow: true,
            tcp_msl: Duration::from_secs(30),
            tcp_initial_rto: Duration::from_secs(1),
            tcp_min_rto: Duration::from_millis(200),
            tcp_max_rto: Duration::from_secs(60),
            tcp_delayed_ack: Duration::from_millis(40),
            tcp_user_timeout: Duration::from_secs(100),
            tcp_syn_retries: 6,
            tcp_keepalive: None,
            tcp_keepalive_interval: Duration::from_secs(75),
            tcp_keepalive_probes: 9,
            tcp_challenge_ack_rate: 1000,
            tcp_congestion: crate::tcp::congestion::Algorithm::NewReno,
            tcp_timestamps: true,
            tcp_sack: true,
            tcp_window_scaling: true,
            tcp_max_mss: 65495,
            secret: *b"ustack-test-key!",
            seed: 0x05ee_d0f0_57ac,
            ip_ident_buckets: 2048,
            min_pmtu: 552,
            tcp_syncookie_window: Duration::from_secs(120),
            tcp_invalid_ack_interval: Duration::from_millis(500),
            tcp_challenge_ack_conn_burst: 5,
            tcp_challenge_ack_conn_rate: 2,
            tcp_orphan_persist_probes: 8,
            tcp_ooo_max_ranges: 128,
            tcp_ooo_max_ranges_total: 32768,
            tcp_max_time_wait: 16384,
            tcp_time_wait_max_restarts: 4,
            tcp_fin_timeout: Duration::from_secs(60),
            tcp_recovery: crate::tcp::recovery::RecoveryConfig::default(),
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The MTU is below RFC 791's minimum of 68 bytes.
    MtuTooSmall(u16),
    /// The prefix length is above 32.
    BadPrefixLen(u8),
    /// The address is not a unicast host address.
    BadAddress(Ipv4Addr),
    /// The IPv6 address is not a unicast address.
    BadAddress6(Ipv6Addr),
    /// The ephemeral range is empty or includes port 0.
    BadEphemeralRange(u16, u16),
    /// A limit that must be positive is zero.
    ZeroLimit(&'static str),
    /// The TCP receive buffer is larger than a scaled window can advertise (2^30 bytes).
    BufferTooLarge(usize),
    /// A value outside the range the stack can work with (`min..=max`).
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The smallest value that works.
        min: u64,
        /// The largest value that works.
        max: u64,
    },
    /// Two bounds in the wrong order: `low` is above `high`.
    Misordered {
        /// The field that must not be larger.
        low: &'static str,
        /// The field that must not be smaller.
        high: &'static str,
    },
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::MtuTooSmall(m) => write!(f, "MTU {m} is below the IPv4 minimum of 68"),
            ConfigError::BadPrefixLen(p) => write!(f, "prefix length {p} is above 32"),
            ConfigError::BadAddress(a) => write!(f, "{a} is not a unicast host address"),
            ConfigError::BadAddress6(a) => write!(f, "{a} is not a unicast IPv6 address"),
            ConfigError::BadEphemeralRange(a, b) => write!(f, "bad ephemeral port range {a}..={b}"),
            ConfigError::ZeroLimit(name) => write!(f, "limit `{name}` must be positive"),
            ConfigError::BufferTooLarge(n) => {
                write!(
                    f,
                    "TCP receive buffer of {n} bytes exceeds the 2^30 a window can advertise"
                )
            }
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "`{field}` = {value} is outside {min}..={max}"),
            ConfigError::Misordered { low, high } => {
                write!(f, "`{low}` must not be larger than `{high}`")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks the configuration for values the stack cannot work with: zero sizes and timers,
    /// bounds in the wrong order, and limits beyond what the wire or the handles can carry.
    /// `Stack::new` calls it; every rule names the field it refuses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_ip()?;
        self.validate_sizes()?;
        self.validate_tcp_timers()?;
        self.validate_tcp_limits()
    }

    fn validate_ip(&self) -> Result<(), ConfigError> {
        if self.mtu < 68 {
            return Err(ConfigError::MtuTooSmall(self.mtu));
        }
        if self.prefix_len > 32 {
            return Err(ConfigError::BadPrefixLen(self.prefix_len));
        }
        let a = self.addr;
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
            return Err(ConfigError::BadAddress(a));
        }
        if let Some(a6) = self.addr6 {
            let odd = a6.is_unspecified() || a6.is_loopback() || a6.to_ipv4_mapped().is_some();
            if a6.is_multicast() || odd {
                return Err(ConfigError::BadAddress6(a6));
            }
            // RFC 8200 §5: a link that carries IPv6 has an MTU of 1280 or more.
            if self.mtu < 1280 {
                return Err(ConfigError::OutOfRange {
                    field: "mtu (with addr6: RFC 8200 §5)",
                    value: self.mtu.into(),
                    min: 1280,
                    max: u16::MAX.into(),
                });
            }
        }
        // RFC 1122 §3.2.1.3 (b), (c): a host number of all zeros or all ones names the network
        // or its broadcast, not a host (except on /31 and /32, RFC 3021).
        if let Some(bcast) = self.directed_broadcast() {
            let host_mask = u32::MAX >> self.prefix_len;
            if a == bcast || u32::from(a) & host_mask == 0 {
                return Err(ConfigError::BadAddress(a));
            }
        }
        // RFC 791 §3.2: every link carries 68 bytes; a floor above our own MTU is meaningless.
        if self.min_pmtu < 68 {
            return Err(ConfigError::OutOfRange {
                field: "min_pmtu",
                value: self.min_pmtu.into(),
                min: 68,
                max: self.mtu.into(),
            });
        }
        if self.min_pmtu > self.mtu {
            return Err(ConfigError::Misordered {
                low: "min_pmtu",
                high: "mtu",
            });
        }
        // RFC 1122 §3.2.1.7: a TTL of 0 would be discarded by the first router.
        if self.ttl == 0 {
            return Err(ConfigError::ZeroLimit("ttl"));
        }
        if self.reassembly_timeout == Duration::ZERO {
            return Err(ConfigError::ZeroLimit("reassembly_timeout"));
        }
        let (lo, hi) = self.ephemeral_ports;
        if lo == 0 || lo > hi {
            return Err(ConfigError::BadEphemeralRange(lo, hi));
        }
        // RFC 4987 §3.6: cookies are sent on overflow; a zero window would refuse every one.
        if self.tcp_syncookies && self.tcp_syncookie_window.total_micros() == 0 {
            return Err(ConfigError::ZeroLimit("tcp_syncookie_window"));
        }
        // RFC 7739 §5.3: at least one counter; more than 65536 buys nothing over 16-bit ids.
        if !(1..=65536).contains(&self.ip_ident_buckets) {
            return Err(ConfigError::OutOfRange {
                field: "ip_ident_buckets",
                value: self.ip_ident_buckets as u64,
                min: 1,
                max: 65536,
            });
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("reassembly_max_bytes", self.reassembly_max_bytes),
            ("reassembly_max_datagrams", self.reassembly_max_datagrams),
            ("max_sockets", self.max_sockets),
            ("socket_rx_queue_datagrams", self.socket_rx_queue_datagrams),
            ("socket_rx_queue_bytes", self.socket_rx_queue_bytes),
            ("tx_queue_datagrams", self.tx_queue_datagrams),
            ("tx_queue_bytes", self.tx_queue_bytes),
            ("tcp_rx_buffer", self.tcp_rx_buffer),
            ("tcp_tx_buffer", self.tcp_tx_buffer),
            ("tcp_max_connections", self.tcp_max_connections),
            ("tcp_max_per_source", self.tcp_max_per_source),
            ("tcp_mem_max", self.tcp_mem_max),
            // Without cookies a zero backlog answers no SYN; with them it means "always cookies".
            (
                "tcp_syn_backlog",
                self.tcp_syn_backlog.max(usize::from(self.tcp_syncookies)),
            ),
            ("tcp_ooo_max_ranges", self.tcp_ooo_max_ranges),
            ("tcp_ooo_max_ranges_total", self.tcp_ooo_max_ranges_total),
            ("tcp_max_time_wait", self.tcp_max_time_wait),
            // RFC 5961 §4.2: without challenge ACKs a peer that lost its state never recovers.
            (
                "tcp_challenge_ack_conn_burst",
                self.tcp_challenge_ack_conn_burst as usize,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        // RFC 7323 §2.3: with the largest shift (14) a window reaches at most 2^30 bytes.
        if self.tcp_rx_buffer > 1 << 30 {
            return Err(ConfigError::BufferTooLarge(self.tcp_rx_buffer));
        }
        // Sockets and connections are named by 32-bit slab indices.
        for (field, v, max) in [
            // RFC 7323 §2.3: no more than 2^30 bytes can ever be in flight, so a larger send
            // buffer could never be sent from; it also keeps offsets far below 2^31, where
            // sequence comparisons (RFC 9293 §3.4) stop working.
            ("tcp_tx_buffer", self.tcp_tx_buffer, 1u64 << 30),
            (
                "tcp_max_connections",
                self.tcp_max_connections,
                u32::MAX.into(),
            ),
            ("max_sockets", self.max_sockets, u32::MAX.into()),
        ] {
            let value = v as u64;
            if value > max {
                return Err(ConfigError::OutOfRange {
                    field,
                    value,
                    min: 1,
                    max,
                });
            }
        }
        Ok(())
    }

    fn validate_tcp_timers(&self) -> Result<(), ConfigError> {
        // A timer of zero is re-armed at `now` and `handle_timeout` would never return.
        for (name, v) in [
            ("tcp_msl", self.tcp_msl),
            ("tcp_initial_rto", self.tcp_initial_rto),
            ("tcp_min_rto", self.tcp_min_rto),
            ("tcp_max_rto", self.tcp_max_rto),
            ("tcp_delayed_ack", self.tcp_delayed_ack),
            ("tcp_user_timeout", self.tcp_user_timeout),
            (
                "tcp_keepalive",
                self.tcp_keepalive.unwrap_or(Duration::from_micros(1)),
            ),
            ("tcp_keepalive_interval", self.tcp_keepalive_interval),
            ("tcp_fin_timeout", self.tcp_fin_timeout),
        ] {
            if v == Duration::ZERO {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if self.tcp_min_rto > self.tcp_max_rto {
            return Err(ConfigError::Misordered {
                low: "tcp_min_rto",
                high: "tcp_max_rto",
            });
        }
        // RFC 9293 §3.8.6.3 (MUST-40): the acknowledgment delay MUST be less than 0.5 s.
        let max_delack = Duration::from_micros(499_999);
        if self.tcp_delayed_ack > max_delack {
            return Err(ConfigError::OutOfRange {
                field: "tcp_delayed_ack",
                value: self.tcp_delayed_ack.total_micros(),
                min: 1,
                max: max_delack.total_micros(),
            });
        }
        if self.tcp_keepalive_probes == 0 {
            return Err(ConfigError::ZeroLimit("tcp_keepalive_probes"));
        }
        Ok(())
    }

    fn validate_tcp_limits(&self) -> Result<(), ConfigError> {
        // RFC 9293 §3.7.1: the MSS is at most the largest datagram (65535) less the IPv4 and TCP
        // headers; at least what the smallest MTU (68, RFC 791) leaves after them.
        let (min, max) = (MIN_MSS, 65535 - 40);
        if !(min..=max).contains(&self.tcp_max_mss) {
            return Err(ConfigError::OutOfRange {
                field: "tcp_max_mss",
                value: self.tcp_max_mss.into(),
                min: min.into(),
                max: max.into(),
            });
        }
        Ok(())
    }

    /// The directed broadcast address of the configured prefix (None for /31 and /32, RFC 3021).
    pub fn directed_broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            return None;
        }
        let host_mask = u32::MAX >> self.prefix_len;
        Some(Ipv4Addr::from(u32::from(self.addr) | host_mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_values() {
        let c = Config {
            mtu: 67,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::MtuTooSmall(67)));
        let c = Config {
            addr: Ipv4Addr::BROADCAST,
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::BadAddress(_))));
        let c = Config {
            ephemeral_ports: (0, 10),
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BadEphemeralRange(..))
        ));
        let c = Config {
            tx_queue_bytes: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroLimit("tx_queue_bytes")));
    }

    #[test]
    fn rejects_zero_tcp_hardening_limits() {
        for (name, c) in [
            (
                "tcp_ooo_max_ranges",
                Config {
                    tcp_ooo_max_ranges: 0,
                    ..Config::default()
                },
            ),
            (
                "tcp_ooo_max_ranges_total",
                Config {
                    tcp_ooo_max_ranges_total: 0,
                    ..Config::default()
                },
            ),
            (
                "tcp_max_time_wait",
                Config {
                    tcp_max_time_wait: 0,
                    ..Config::default()
                },
            ),
            (
                "tcp_challenge_ack_conn_burst",
                Config {
                    tcp_challenge_ack_conn_burst: 0,
                    ..Config::default()
                },
            ),
            (
                "tcp_syncookie_window",
                Config {
                    tcp_syncookie_window: Duration::from_micros(0),
                    ..Config::default()
                },
            ),
        ] {
            assert_eq!(c.validate(), Err(ConfigError::ZeroLimit(name)));
        }
    }

    #[test]
    fn directed_broadcast() {
        assert_eq!(
            Config::default().directed_broadcast(),
            Some(Ipv4Addr::new(198, 18, 0, 255))
        );
        let c = Config {
            prefix_len: 31,
            ..Config::default()
        };
        assert_eq!(c.directed_broadcast(), None);
    }

    #[test]
    fn ipv6_needs_a_link_of_1280() {
        let v6 = Config {
            addr6: Some("2001:2::2".parse().unwrap()),
            mtu: 1279,
            ..Config::default()
        };
        assert!(matches!(
            v6.validate(),
            Err(ConfigError::OutOfRange { min: 1280, .. })
        ));
        assert!(Config {
            mtu: 1280,
            ..v6.clone()
        }
        .validate()
        .is_ok());
        assert!(Config { addr6: None, ..v6 }.validate().is_ok());
    }
}
