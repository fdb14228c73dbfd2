//! The control server: an accept task and one task per client, all on the loop thread (the
//! stack is a `RefCell` borrow away, no lock). Limits: `MAX_CLIENTS` at once, the peer must be
//! root or the daemon's user, and each client's reads, writes and queue are bounded
//! ([`super::conn`]).

use super::conn::{LineReader, Next, Outbox};
use super::proto::{self, ErrorCode};
use super::requests::{self, Flow};
use std::cell::{Cell, RefCell};
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

/// Shared by the server's tasks.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) net: Net,
    pub(crate) info: DaemonInfo,
    pub(crate) started: std::time::Instant,
    clients: Cell<usize>,
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
            rates: RefCell::new(requests::sockets::Rates::default()),
        })
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
        refuse(&stream, ErrorCode::PermissionDenied, "root only");
        return;
    }
    if ctx.clients.get() >= MAX_CLIENTS {
        let msg = format!("{MAX_CLIENTS} clients already connected");
        refuse(&stream, ErrorCode::TooManyClients, &msg);
        return;
    }
    ctx.clients.set(ctx.clients.get() + 1);
    let _slot = Slot(ctx.clone());
    let (rd, wr) = stream.into_split();
    let mut conn = Conn {
        lines: LineReader::new(rd),
        out: Outbox::spawn(wr),
    };
    loop {
        let line = match conn.lines.next().await {
            Next::Line(l) => l,
            Next::Eof => return,
            Next::TooLong => {
                let msg = format!("request line longer than {} bytes", proto::MAX_LINE);
                conn.out.error(0, ErrorCode::LineTooLong, msg);
                conn.lines.linger().await;
                return;
            }
            Next::Timeout => {
                conn.out
                    .error(0, ErrorCode::Timeout, "no complete request in time");
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let flow = match proto::parse_request(&line) {
            Ok((id, req)) => requests::dispatch(&ctx, conn, id, req).await,
            Err((id, e)) => {
                if conn.out.error(id, e.code, e.message) {
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
