//! The control server: an accept task and one task per client, all on the loop thread (the
//! stack is a `RefCell` borrow away, no lock). Limits: `MAX_CLIENTS` at once, the peer must be
//! root or the daemon's user, and each client's reads, writes and queue are bounded
//! ([`super::conn`]).

use super::conn::{self, LineReader, Next, Outbox};
use super::proto::{self, ControlStats, ErrorCode};
use super::requests::{self, Flow};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use tokio::net::{UnixListener, UnixStream};
use tun_bridge::Net;

/// Most clients served at once; one more gets `too_many_clients` and is closed.
pub(crate) const MAX_CLIENTS: usize = 64;

/// What the daemon says about itself (in `hello`).
#[derive(Clone, Debug)]
pub struct DaemonInfo {
    /// The TUN device.
    pub tun: String,
    /// The kernel side's address.
    pub host_addr: Ipv4Addr,
    /// The bridge's capture hub, for `capture` (none: `capture` answers `failed`).
    pub capture: Option<crate::daemon::capture::CaptureHub>,
}

/// Why the server refused or dropped a client (or one of its requests): each has a counter,
/// shown in `stats` under `control.refused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientDrop {
    /// `MAX_CLIENTS` were connected.
    TooManyClients,
    /// The peer is neither root nor the daemon's user.
    PermissionDenied,
    /// Bytes waited for it and it took none for `writer::STALL_TIMEOUT`.
    NotReading,
    /// A request line longer than `proto::MAX_LINE`.
    LineTooLong,
    /// A request line not finished in time, or idle too long.
    Timeout,
    /// A `capture` while `capture::hub::MAX_SUBSCRIBERS` ran.
    TooManyCaptures,
}

impl ClientDrop {
    const ALL: [ClientDrop; 6] = [
        ClientDrop::TooManyClients,
        ClientDrop::PermissionDenied,
        ClientDrop::NotReading,
        ClientDrop::LineTooLong,
        ClientDrop::Timeout,
        ClientDrop::TooManyCaptures,
    ];

    /// Its name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientDrop::TooManyClients => "too_many_clients",
            ClientDrop::PermissionDenied => "permission_denied",
            ClientDrop::NotReading => "not_reading",
            ClientDrop::LineTooLong => "line_too_long",
            ClientDrop::Timeout => "timeout",
            ClientDrop::TooManyCaptures => "too_many_captures",
        }
    }
}

/// The control server's own counters (`stats` → `control`).
#[derive(Debug, Default)]
pub(crate) struct ControlCounters {
    accepted: Cell<u64>,
    refused: [Cell<u64>; ClientDrop::ALL.len()],
    /// Capture packets dropped for a client because its queue in the hub was full.
    capture_queue_full: Cell<u64>,
}

impl ControlCounters {
    pub(crate) fn count(&self, why: ClientDrop) {
        let c = &self.refused[why as usize];
        c.set(c.get() + 1);
    }

    pub(crate) fn get(&self, why: ClientDrop) -> u64 {
        self.refused[why as usize].get()
    }

    /// Adds a finished capture's hub drops.
    pub(crate) fn capture_dropped(&self, n: u64) {
        self.capture_queue_full
            .set(self.capture_queue_full.get() + n);
    }
}

/// Shared by the server's tasks.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) net: Net,
    pub(crate) info: DaemonInfo,
    pub(crate) started: std::time::Instant,
    clients: Cell<usize>,
    pub(crate) counters: Rc<ControlCounters>,
    /// Delivery-rate samples of the connection table (see `requests::sockets`).
    pub(crate) rates: RefCell<requests::sockets::Rates>,
}

impl Ctx {
    pub(crate) fn new(net: Net, info: DaemonInfo) -> Rc<Ctx> {
        Rc::new(Ctx {
            net,
            info,
            started: std::time::Instant::now(),
            clients: Cell::new(0),
            counters: Rc::new(ControlCounters::default()),
            rates: RefCell::new(requests::sockets::Rates::default()),
        })
    }

    /// The server's counters, for `stats`.
    pub(crate) fn control_stats(&self) -> ControlStats {
        let c = &self.counters;
        ControlStats {
            clients: self.clients.get() as u64,
            accepted: c.accepted.get(),
            refused: ClientDrop::ALL
                .iter()
                .map(|&r| (r.name().to_string(), c.get(r)))
                .collect(),
            capture_dropped: BTreeMap::from([(
                "queue_full".to_string(),
                c.capture_queue_full.get(),
            )]),
        }
    }
}

/// Accepts clients until the loop stops.
pub(crate) async fn accept_loop(ctx: Rc<Ctx>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => spawn_client(&ctx, stream),
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning.
                log::debug!("control socket accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        if ctx.net.is_stopped() {
            return;
        }
    }
}

/// Serves one client on its own task.
pub(crate) fn spawn_client(ctx: &Rc<Ctx>, stream: UnixStream) {
    let ctx = ctx.clone();
    tokio::task::spawn_local(async move { serve(ctx, stream).await });
}

/// Refuses a client with one error line (best effort: it is not waited for).
fn refuse(stream: &UnixStream, code: ErrorCode, message: &str) {
    let line = proto::reply_line(
        0,
        proto::Body::Error(proto::ErrorReply {
            code,
            message: message.into(),
        }),
    );
    let _ = stream.try_write(&line);
}

/// Whether the peer may talk to us: root, or the user the daemon runs as.
fn peer_allowed(stream: &UnixStream) -> bool {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    let me = unsafe { libc::geteuid() };
    stream
        .peer_cred()
        .is_ok_and(|c| c.uid() == 0 || c.uid() == me)
}

/// Counts a client for as long as it lives.
struct Slot(Rc<Ctx>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.clients.set(self.0.clients.get() - 1);
    }
}

async fn serve(ctx: Rc<Ctx>, stream: UnixStream) {
    if !peer_allowed(&stream) {
        ctx.counters.count(ClientDrop::PermissionDenied);
        refuse(&stream, ErrorCode::PermissionDenied, "root only");
        return;
    }
    if ctx.clients.get() >= MAX_CLIENTS {
        ctx.counters.count(ClientDrop::TooManyClients);
        let msg = format!("{MAX_CLIENTS} clients already connected");
        refuse(&stream, ErrorCode::TooManyClients, &msg);
        return;
    }
    ctx.clients.set(ctx.clients.get() + 1);
    ctx.counters.accepted.set(ctx.counters.accepted.get() + 1);
    let _slot = Slot(ctx.clone());
    let (lines, out) = conn::split(stream, ctx.counters.clone());
    let mut conn = Conn { lines, out };
    loop {
        let line = match conn.lines.next().await {
            Next::Line(l) => l,
            Next::Eof | Next::Gone => return,
            Next::TooLong => {
                ctx.counters.count(ClientDrop::LineTooLong);
                let msg = format!("request line longer than {} bytes", proto::MAX_LINE);
                conn.out.error(0, ErrorCode::LineTooLong, msg).await;
                conn.lines.linger().await;
                return;
            }
            Next::Timeout => {
                ctx.counters.count(ClientDrop::Timeout);
                let msg = "no complete request in time";
                conn.out.error(0, ErrorCode::Timeout, msg).await;
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let flow = match proto::parse_request(&line) {
            Ok((id, req)) => requests::dispatch(&ctx, conn, id, req).await,
            Err((id, e)) => {
                if conn.out.error(id, e.code, e.message).await {
                    Flow::Continue(conn)
                } else {
                    Flow::Close
                }
            }
        };
        conn = match flow {
            Flow::Continue(c) => c,
            Flow::Close => return,
        };
    }
}

/// A client's connection, handed to the handler of each request.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) lines: LineReader,
    pub(crate) out: Outbox,
}
