//! The control protocol's messages (docs/CONTROL.md): one JSON object per line, both ways.
//!
//! A request is `{"v":1,"id":N,"req":"NAME", ...parameters}`; every reply line is
//! `{"v":1,"id":N,"reply":"KIND", ...fields}` with the request's `id`. The server and the CLI
//! client both use these types, so the two cannot drift apart. This file holds the envelope
//! (request, reply, errors, the line format); each request's parameters and replies have a file
//! of their own.

use serde::{Deserialize, Serialize};

mod capture;
mod connect;
mod events;
mod filter;
mod fuzz;
mod hello;
mod ping;
mod raw;
mod scan;
mod send;
mod sockets;
mod stats;
mod trace;

pub use capture::{CaptureRequest, Captured, Capturing, Packet};
pub use connect::{
    error_frame, frame, unframe, ConnectRequest, Connected, Framed, Listening, Transport,
    ICMP_ERROR_MARK,
};
pub use events::{Event, EventsRequest};
pub use filter::{FilterReply, FilterRequest, FilterRule};
pub use fuzz::{
    FuzzEvent, FuzzMemory, FuzzRequest, MAX_CHECK_TIMEOUT_MS, MAX_COUNT, MAX_RATE, MAX_ROUND,
};
pub use hello::Hello;
pub use ping::{parse_pattern, PingEvent, PingRequest, PingSummary, PmtuDisc, MAX_PATTERN};
pub use raw::{from_hex, to_hex, RawClaim, RawDone, RawOpen, RawRequest};
pub use scan::{
    ExtraPorts, PortResult, PortState, Proto, Reason, ScanEvent, ScanRequest, ScanType, TimingLevel,
};
pub use send::{
    Fragmenting, PortStep, ReplyKind, SendEvent, SendIcmpError, SendMode, SendReply, SendRequest,
    SendStart, SendSummary,
};
pub use sockets::{ListenSocket, SocketsReply, TcpSocket, UdpSocket};
pub use stats::{ControlStats, DropCount, StatsReply};
pub use trace::{TraceEvent, TraceMethod, TraceRequest};

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
    /// A raw socket: `raw_open`, then a `packet` reply per copy received, `raw_done`, `end`.
    Raw(RawRequest),
    /// The firewall: list, counters, add, insert, delete, flush, replace, check (`filter`).
    Filter(FilterRequest),
    /// A port scan (or host discovery) from inside the stack, nmap's scan types: `scan`
    /// replies (start, one per host, done), then `end`.
    Scan(ScanRequest),
    /// hping3's crafted probes from inside the stack, one `send` reply per event, then `end`.
    Send(SendRequest),
    /// Fuzzed packets from a template: `fuzz` events (start, a round each, hang, summary),
    /// then `end`.
    Fuzz(FuzzRequest),
}

impl Request {
    /// Every request name, for `hello` and error messages.
    pub const NAMES: &'static [&'static str] = &[
        "hello", "stats", "sockets", "events", "ping", "connect", "capture", "trace", "raw",
        "filter", "scan", "send", "fuzz",
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
                | Request::Raw(_)
                | Request::Scan(_)
                | Request::Send(_)
                | Request::Fuzz(_)
        )
    }
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
    /// One event of a `send` job.
    Send(SendEvent),
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
    /// Answer to `filter`: the rule set with its counters.
    Filter(FilterReply),
    /// `raw`: the socket is open and its packets sent.
    RawOpen(RawOpen),
    /// `raw`: its counters, before `end`.
    RawDone(RawDone),
    /// One event of a `scan` job.
    Scan(ScanEvent),
    /// One event of a `fuzz` job.
    Fuzz(FuzzEvent),
    /// A stream lost this many messages because the client read too slowly.
    Lost(Lost),
    /// A stream ended; nothing more for this id.
    End(End),
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
        let failed = Reply {
            v: VERSION,
            id,
            body: Body::Error(ErrorReply {
                code: ErrorCode::Failed,
                message: format!("cannot encode the reply: {e}"),
            }),
        };
        serde_json::to_vec(&failed).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn frames_round_trip() {
        let mut wire = frame(b"hello");
        wire.extend(frame(b""));
        wire.extend_from_slice(&frame(b"partial")[..4]);
        let (a, rest) = unframe(&wire).unwrap();
        assert_eq!(a, Framed::Datagram(b"hello"));
        let (b, rest) = unframe(rest).unwrap();
        assert_eq!(b, Framed::Datagram(b""));
        assert!(unframe(rest).is_none(), "an incomplete frame waits");
        // An ICMP error report between datagrams; a datagram never takes its length.
        let mut wire = error_frame(3, 3);
        wire.extend(frame(b"x"));
        let (e, rest) = unframe(&wire).unwrap();
        assert_eq!(
            e,
            Framed::IcmpError {
                icmp_type: 3,
                code: 3
            }
        );
        assert_eq!(unframe(rest).unwrap().0, Framed::Datagram(b"x"));
        assert!(unframe(&error_frame(3, 3)[..3]).is_none());
        let big = vec![0u8; 70_000];
        assert_eq!(frame(&big).len(), 2 + 65_534);
    }

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Hello,
            Request::Stats,
            Request::Sockets,
            Request::Events(EventsRequest::default()),
            Request::Ping(PingRequest {
                dst: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
                count: Some(3),
                size: 56,
                interval_ms: 200,
                timeout_ms: 1000,
                deadline_ms: None,
                ttl: Some(9),
                flood: false,
                preload: Some(3),
                pattern: Some("ab0c".into()),
                pmtudisc: Some(PmtuDisc::Want),
                source: None,
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
            from: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
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
