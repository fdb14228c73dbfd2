//! The control protocol's messages (docs/CONTROL.md): one JSON object per line, both ways.
//!
//! A request is `{"v":1,"id":N,"req":"NAME", ...parameters}`; every reply line is
//! `{"v":1,"id":N,"reply":"KIND", ...fields}` with the request's `id`. The server and the CLI
//! client both use these types, so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

pub use super::proto_trace::{TraceEvent, TraceMethod, TraceRequest};

/// The protocol version this build speaks. A request with another `v` gets a `bad_version`
/// error (and the connection stays open).
pub const VERSION: u32 = 1;

/// Longest request line, newline excluded. A longer one gets `line_too_long` and the
/// connection is closed (the rest of it cannot be told from a next request).
pub const MAX_LINE: usize = 64 * 1024;

/// A request, tagged by `req`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "req", rename_all = "snake_case")]
pub enum Request {
    /// Who is serving: version, TUN, addresses, pid, the requests it knows.
    Hello,
    /// The stack's counters, drops by reason, and memory by table.
    Stats,
    /// Every TCP connection (TIME-WAIT included), TCP listener and UDP socket (`ustack ss`).
    Sockets,
    /// A stream of events (connections opening and closing, drops) until the client half-closes.
    Events(EventsRequest),
    /// Pings from inside the stack, one `ping` reply per event, then `end`.
    Ping(PingRequest),
    /// A byte relay into a stack-side TCP or UDP socket: after `connected`, raw bytes.
    Connect(ConnectRequest),
    /// The packets in and out that match a tcpdump filter, one `packet` reply each, until the
    /// client half-closes or `count`; then `captured` and `end`.
    Capture(CaptureRequest),
    /// A traceroute from inside the stack, one `trace` reply per event, then `end`.
    Trace(TraceRequest),
}

impl Request {
    /// Every request name, for `hello` and error messages.
    pub const NAMES: &'static [&'static str] = &[
        "hello", "stats", "sockets", "events", "ping", "connect", "capture", "trace",
    ];

    /// Whether the request streams (holds the connection until it ends) rather than getting
    /// exactly one reply.
    pub fn is_stream(&self) -> bool {
        matches!(
            self,
            Request::Events(_)
                | Request::Ping(_)
                | Request::Connect(_)
                | Request::Capture(_)
                | Request::Trace(_)
        )
    }
}

/// Parameters of `capture`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The filter, in tcpdump's syntax (docs/CAPTURE-FILTER.md); empty: every packet.
    #[serde(default)]
    pub filter: String,
    /// Stop after this many packets.
    #[serde(default)]
    pub count: Option<u64>,
    /// Packets the daemon queues for this client before it drops them (default 1024, at most
    /// 65536).
    #[serde(default)]
    pub queue: Option<usize>,
}

/// Parameters of `events`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsRequest {
    /// How often to look for changes, ms (default 100, at least 10).
    #[serde(default)]
    pub interval_ms: Option<u64>,
}

/// Parameters of `ping` (iputils' options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingRequest {
    /// Destination.
    pub dst: Ipv4Addr,
    /// Requests to send; none: until the client half-closes or `deadline_ms`.
    #[serde(default)]
    pub count: Option<u32>,
    /// ICMP payload bytes (`-s`), at most 65507.
    #[serde(default = "default_ping_size")]
    pub size: usize,
    /// Time between requests, ms (`-i`); 0 with `flood` sends as soon as a reply comes.
    #[serde(default = "default_ping_interval")]
    pub interval_ms: u64,
    /// How long to wait for the last replies after the last request, ms (`-W`).
    #[serde(default = "default_ping_timeout")]
    pub timeout_ms: u64,
    /// Stop after this long whatever the count, ms (`-w`).
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// IP TTL of the requests (`-t`); none: the stack's.
    #[serde(default)]
    pub ttl: Option<u8>,
    /// Flood (`-f`): the next request as soon as the reply to the previous one came, at most
    /// `interval_ms` apart (iputils: 10 ms unless `-i` is given).
    #[serde(default)]
    pub flood: bool,
}

fn default_ping_size() -> usize {
    56
}
fn default_ping_interval() -> u64 {
    1000
}
fn default_ping_timeout() -> u64 {
    2000
}

/// Transport of `connect`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP: raw bytes both ways after `connected`; the client's half-close is a FIN.
    #[default]
    Tcp,
    /// UDP: after `connected`, datagrams framed as a 2-byte big-endian length and the bytes.
    Udp,
}

/// Parameters of `connect`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// TCP or UDP.
    #[serde(default)]
    pub transport: Transport,
    /// Where to connect; with `listen`, its port is the stack-side port to listen on and its
    /// address must be 0.0.0.0 or the stack's.
    pub addr: SocketAddrV4,
    /// Listen on the stack (`nc -l`) instead of connecting: the first peer is relayed.
    #[serde(default)]
    pub listen: bool,
    /// Only see whether the port answers (`nc -z`): `connected` (or an error), then `end`.
    #[serde(default)]
    pub probe: bool,
    /// How long the handshake (or, listening, the first peer) may take, ms.
    #[serde(default = "default_connect_timeout")]
    pub timeout_ms: u64,
}

fn default_connect_timeout() -> u64 {
    10_000
}

/// One reply line: the request's id and a body tagged by `reply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Protocol version.
    pub v: u32,
    /// The id of the request it answers (0 when the request had none or could not be parsed).
    pub id: u64,
    /// What it says.
    #[serde(flatten)]
    pub body: Body,
}

/// What a reply says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Body {
    /// Answer to `hello`.
    Hello(Hello),
    /// The request failed or was refused; see `code`.
    Error(ErrorReply),
    /// Answer to `stats`.
    Stats(StatsReply),
    /// Answer to `sockets`.
    Sockets(SocketsReply),
    /// One event of an `events` stream.
    Event(Event),
    /// One event of a `ping` job.
    Ping(PingEvent),
    /// One event of a `trace` job.
    Trace(TraceEvent),
    /// `connect -l`: listening; a `connected` follows when a peer comes.
    Listening(Listening),
    /// `connect`: the socket is connected; raw bytes (or framed datagrams) follow.
    Connected(Connected),
    /// `capture`: the filter is compiled and the capture attached.
    Capturing(Capturing),
    /// `capture`: one packet.
    Packet(Packet),
    /// `capture`: the counts, just before `end`.
    Captured(Captured),
    /// A stream lost this many messages because the client read too slowly.
    Lost(Lost),
    /// A stream ended; nothing more for this id.
    End(End),
}

/// `capture` is attached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capturing {
    /// The filter, as given.
    pub filter: String,
    /// Packets queued for this client at most.
    pub queue: usize,
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// When the loop saw it, microseconds since the Unix epoch.
    pub time_us: u64,
    /// `in` (kernel → stack) or `out` (stack → kernel).
    pub dir: String,
    /// Its length in bytes.
    pub len: usize,
    /// The raw IPv4 bytes, hex.
    pub hex: String,
}

/// What a `capture` saw, sent before its `end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Captured {
    /// Packets that matched the filter.
    pub matched: u64,
    /// Packets queued to the client.
    pub sent: u64,
    /// Matching packets the client did not get: its queue in the daemon was full, or its
    /// connection's (those are also in `end`'s `lost`).
    pub dropped: u64,
}

/// Answer to `hello`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version.
    pub version: u32,
    /// The TUN device.
    pub tun: String,
    /// The stack's address.
    pub addr: Ipv4Addr,
    /// The kernel side's address.
    pub host_addr: Ipv4Addr,
    /// Prefix length of the link.
    pub prefix_len: u8,
    /// MTU.
    pub mtu: u16,
    /// Process id of the daemon.
    pub pid: u32,
    /// Milliseconds since the daemon's stack started.
    pub uptime_ms: u64,
    /// Requests this daemon knows.
    pub requests: Vec<String>,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not a JSON object.
    BadJson,
    /// `v` is missing or not this server's version.
    BadVersion,
    /// Unknown `req`, or bad parameters.
    BadRequest,
    /// The line is longer than `MAX_LINE` (the connection is closed).
    LineTooLong,
    /// A line was not completed in time, or the client was idle too long (closed).
    Timeout,
    /// Too many clients at once (closed).
    TooManyClients,
    /// The peer is neither root nor the daemon's user (closed).
    PermissionDenied,
    /// The job could not run (details in `message`).
    Failed,
    /// `connect`: the peer refused (RST).
    ConnectionRefused,
    /// `connect`: no route / network unreachable (ICMP).
    NetworkUnreachable,
    /// `connect`: host or port unreachable (ICMP).
    HostUnreachable,
    /// `connect`: no answer in time.
    TimedOut,
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Machine-readable cause.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

/// One drop reason's count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DropCount {
    /// The `DropReason` variant's name.
    pub reason: String,
    /// What it means.
    pub description: String,
    /// Packets dropped for it.
    pub count: u64,
}

/// Answer to `stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReply {
    /// Every counter by name (as in the table `ustack up` prints at exit).
    pub counters: BTreeMap<String, u64>,
    /// Total drops.
    pub drops_total: u64,
    /// Non-zero drops by reason.
    pub drops: Vec<DropCount>,
    /// What each table holds now (`Stack::memory`).
    pub memory: BTreeMap<String, u64>,
    /// TCP connections in the table (TIME-WAIT included) and half-open ones.
    pub tcp_connections: u64,
    /// Half-open (SYN-RECEIVED) connections.
    pub tcp_half_open: u64,
}

/// Answer to `sockets`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketsReply {
    /// TCP connections, any state.
    pub tcp: Vec<TcpSocket>,
    /// TCP listeners.
    pub listeners: Vec<ListenSocket>,
    /// UDP sockets.
    pub udp: Vec<UdpSocket>,
}

/// A TCP connection, with what `ss -ti` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpSocket {
    /// State in `ss`'s filter spelling: established, syn-sent, syn-recv, fin-wait-1,
    /// fin-wait-2, time-wait, close, close-wait, last-ack, closing.
    pub state: String,
    /// Local address.
    pub local: SocketAddrV4,
    /// Peer address.
    pub peer: SocketAddrV4,
    /// Bytes received and not read by the app.
    pub recv_q: u64,
    /// Bytes in the send buffer (unsent and unacknowledged).
    pub send_q: u64,
    /// Retransmission timeout, ms.
    pub rto_ms: f64,
    /// Smoothed RTT, ms (once measured).
    pub rtt_ms: Option<f64>,
    /// RTT variation, ms.
    pub rttvar_ms: Option<f64>,
    /// MSS we send with.
    pub mss: u64,
    /// MSS we announced.
    pub rcv_mss: u64,
    /// Congestion window, segments of `mss`.
    pub cwnd: u64,
    /// Slow-start threshold, segments (none while still "infinite").
    pub ssthresh: Option<u64>,
    /// Bytes in flight.
    pub unacked_bytes: u64,
    /// Peer's window, bytes.
    pub snd_wnd: u64,
    /// Our window, bytes.
    pub rcv_wnd: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments retransmitted.
    pub retrans: u64,
    /// Fast retransmits.
    pub fast_retrans: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Out-of-order segments received.
    pub out_of_order: u64,
    /// Milliseconds since a segment was last sent.
    pub lastsnd_ms: Option<u64>,
    /// Milliseconds since a segment was last received.
    pub lastrcv_ms: Option<u64>,
    /// Payload bytes acknowledged per second over the daemon's last sample interval (about a
    /// second), bits per second.
    pub delivery_rate_bps: Option<u64>,
    /// cwnd × mss / srtt, bits per second (what `ss` prints as `send`).
    pub send_rate_bps: Option<u64>,
    /// Congestion-control algorithm.
    pub congestion: String,
    /// Window-scale shifts: the peer's and ours.
    pub wscale: (u8, u8),
    /// Timestamps negotiated.
    pub ts: bool,
    /// SACK permitted.
    pub sack: bool,
    /// In fast recovery.
    pub in_recovery: bool,
}

/// A TCP listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenSocket {
    /// Local address (the stack's address, the port).
    pub local: SocketAddrV4,
    /// Connections waiting for `accept` (Recv-Q of a listener in `ss`).
    pub queued: u64,
    /// The backlog (Send-Q of a listener in `ss`).
    pub backlog: u64,
}

/// A UDP socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UdpSocket {
    /// Local address.
    pub local: SocketAddrV4,
    /// Bytes waiting to be received.
    pub recv_q: u64,
    /// Datagrams waiting to be received.
    pub recv_datagrams: u64,
}

/// One event of an `events` stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A connection appeared in the table.
    Open {
        /// Its state when first seen.
        state: String,
        /// Local address.
        local: SocketAddrV4,
        /// Peer address.
        peer: SocketAddrV4,
    },
    /// A connection changed state.
    State {
        /// Old state.
        from: String,
        /// New state.
        to: String,
        /// Local address.
        local: SocketAddrV4,
        /// Peer address.
        peer: SocketAddrV4,
    },
    /// A connection left the table.
    Close {
        /// Its last state seen.
        state: String,
        /// Local address.
        local: SocketAddrV4,
        /// Peer address.
        peer: SocketAddrV4,
    },
    /// A TCP or ICMP-error counter moved (so connections too short-lived to be seen by a
    /// look still show, as `tcp_passive_opens` +1).
    Counter {
        /// The counter's name (as in `stats`).
        name: String,
        /// How much it grew since the last look.
        delta: u64,
    },
    /// Packets were dropped for a reason since the last event of this kind.
    Drop {
        /// The `DropReason` variant's name.
        reason: String,
        /// How many since the last report.
        count: u64,
    },
}

/// One event of a `ping` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PingEvent {
    /// The job started (the `PING ...` header).
    Start {
        /// Destination.
        dst: Ipv4Addr,
        /// Payload bytes.
        size: usize,
    },
    /// A reply.
    Reply {
        /// Its sequence number.
        seq: u16,
        /// Who answered.
        from: Ipv4Addr,
        /// Its TTL.
        ttl: u8,
        /// ICMP bytes (header + data).
        bytes: usize,
        /// Round-trip time, ms.
        time_ms: f64,
        /// A second reply to the same request.
        dup: bool,
        /// Its data differs from what was sent.
        bad_data: bool,
    },
    /// An ICMP error quoting one of our requests (printed once per request).
    Error {
        /// The request's sequence number.
        seq: u16,
        /// Who sent the error.
        from: Ipv4Addr,
        /// What it says, e.g. "Destination Net Unreachable".
        message: String,
    },
    /// A request went out (flood mode only: iputils prints a dot for each).
    Sent {
        /// Its sequence number.
        seq: u16,
    },
    /// A request could not be sent.
    SendFailed {
        /// Its sequence number.
        seq: u16,
        /// Why.
        message: String,
    },
    /// The summary (the last event).
    Summary(PingSummary),
}

/// Totals of a ping job, as iputils prints them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingSummary {
    /// Destination.
    pub dst: Option<Ipv4Addr>,
    /// Requests sent.
    pub transmitted: u32,
    /// Distinct replies.
    pub received: u32,
    /// Duplicate replies.
    pub duplicates: u32,
    /// Requests answered by an ICMP error.
    pub errors: u32,
    /// From the first request to the last one (iputils' `time`, the final wait excluded), ms.
    pub time_ms: u64,
    /// RTT min/avg/max/mdev, ms, if any reply came.
    pub rtt: Option<[f64; 4]>,
}

/// `connect -l` is listening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listening {
    /// Where.
    pub local: SocketAddrV4,
}

/// `connect` is connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    /// The stack-side address.
    pub local: SocketAddrV4,
    /// The peer.
    pub peer: SocketAddrV4,
}

/// Messages a stream lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lost {
    /// How many since the last `lost`.
    pub count: u64,
}

/// A stream's end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct End {
    /// Why it ended, for people ("done", "client closed", "peer closed", ...).
    pub reason: String,
    /// Messages lost in all (slow client).
    pub lost: u64,
}

/// Parses a request line. The error carries the id, if one could be read, and the reply.
pub fn parse_request(line: &[u8]) -> Result<(u64, Request), (u64, ErrorReply)> {
    let err = |id, code, message: String| Err((id, ErrorReply { code, message }));
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return err(0, ErrorCode::BadJson, format!("not JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return err(0, ErrorCode::BadJson, "a request is a JSON object".into());
    };
    let id = obj.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
    match obj.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            let msg = format!("protocol version {v} is not spoken here (this is {VERSION})");
            return err(id, ErrorCode::BadVersion, msg);
        }
        None => {
            let msg = format!("missing \"v\" (the protocol version, {VERSION})");
            return err(id, ErrorCode::BadVersion, msg);
        }
    }
    match serde_json::from_value::<Request>(value) {
        Ok(r) => Ok((id, r)),
        Err(e) => {
            let names = Request::NAMES.join(", ");
            let msg = format!("{e} (requests: {names})");
            err(id, ErrorCode::BadRequest, msg)
        }
    }
}

/// Serializes a reply as one line (newline included).
pub fn reply_line(id: u64, body: Body) -> Vec<u8> {
    let reply = Reply {
        v: VERSION,
        id,
        body,
    };
    let mut line = serde_json::to_vec(&reply).unwrap_or_else(|e| {
        // Only non-string map keys or a failing Serialize impl can get here; neither exists in
        // these types. Say so on the wire rather than panic.
        format!("{{\"v\":{VERSION},\"id\":{id},\"reply\":\"error\",\"code\":\"failed\",\"message\":\"cannot encode the reply: {e}\"}}").into_bytes()
    });
    line.push(b'\n');
    line
}

/// A request line (newline included), as the client sends it.
pub fn request_line(id: u64, req: &Request) -> Vec<u8> {
    let mut v = serde_json::to_value(req).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("v".into(), VERSION.into());
        obj.insert("id".into(), id.into());
    }
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A datagram as the relay frames it: 2-byte big-endian length, then the bytes.
pub fn frame(d: &[u8]) -> Vec<u8> {
    let n = d.len().min(usize::from(u16::MAX));
    let mut v = Vec::with_capacity(2 + n);
    v.extend_from_slice(&(n as u16).to_be_bytes());
    v.extend_from_slice(&d[..n]);
    v
}

/// The first complete frame of `buf` and what follows it.
pub fn unframe(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    let rest = buf.get(2..)?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = frame(b"hello");
        wire.extend(frame(b""));
        wire.extend_from_slice(&frame(b"partial")[..4]);
        let (a, rest) = unframe(&wire).unwrap();
        assert_eq!(a, b"hello");
        let (b, rest) = unframe(rest).unwrap();
        assert_eq!(b, b"");
        assert!(unframe(rest).is_none(), "an incomplete frame waits");
    }

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Hello,
            Request::Stats,
            Request::Sockets,
            Request::Events(EventsRequest::default()),
            Request::Ping(PingRequest {
                dst: Ipv4Addr::new(198, 18, 0, 1),
                count: Some(3),
                size: 56,
                interval_ms: 200,
                timeout_ms: 1000,
                deadline_ms: None,
                ttl: Some(9),
                flood: false,
            }),
        ] {
            let line = request_line(7, &req);
            let (id, back) = parse_request(&line[..line.len() - 1]).unwrap();
            assert_eq!((id, back), (7, req));
        }
    }

    #[test]
    fn defaults_fill_missing_parameters() {
        let (_, r) = parse_request(br#"{"v":1,"req":"ping","dst":"198.18.0.1"}"#).unwrap();
        let Request::Ping(p) = r else { panic!("{r:?}") };
        assert_eq!((p.size, p.interval_ms, p.count), (56, 1000, None));
    }

    #[test]
    fn bad_lines_get_the_right_error() {
        let code = |l: &[u8]| parse_request(l).unwrap_err().1.code;
        assert_eq!(code(b"garbage"), ErrorCode::BadJson);
        assert_eq!(code(b"[1,2]"), ErrorCode::BadJson);
        assert_eq!(code(br#"{"req":"stats"}"#), ErrorCode::BadVersion);
        assert_eq!(code(br#"{"v":2,"req":"stats"}"#), ErrorCode::BadVersion);
        assert_eq!(code(br#"{"v":1,"req":"nonesuch"}"#), ErrorCode::BadRequest);
        assert_eq!(
            code(br#"{"v":1,"req":"ping","dst":"not an address"}"#),
            ErrorCode::BadRequest
        );
        let (id, _) = parse_request(br#"{"v":9,"id":42,"req":"stats"}"#).unwrap_err();
        assert_eq!(id, 42);
    }

    #[test]
    fn replies_round_trip() {
        let body = Body::Ping(PingEvent::Reply {
            seq: 1,
            from: Ipv4Addr::new(198, 18, 0, 1),
            ttl: 64,
            bytes: 64,
            time_ms: 0.5,
            dup: true,
            bad_data: false,
        });
        let line = reply_line(3, body.clone());
        let text = std::str::from_utf8(&line).unwrap();
        assert!(
            text.starts_with("{\"v\":1,\"id\":3,\"reply\":\"ping\""),
            "{text}"
        );
        let back: Reply = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.body, body);
    }
}
