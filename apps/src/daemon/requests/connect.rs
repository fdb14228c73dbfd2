//! `connect`: a byte relay between the control client and a stack-side socket (netcat).
//!
//! TCP: connect (or, with `listen`, accept one peer), reply `connected`, then the Unix stream
//! carries raw bytes both ways; the client's half-close becomes our FIN, the peer's FIN becomes
//! end of stream to the client. UDP: the same, with each datagram framed as a 2-byte
//! big-endian length and its bytes (both ways). `probe` (`nc -z`) stops after `connected`.

use super::Flow;
use crate::daemon::conn::{LineReader, Outbox};
use crate::daemon::proto::{
    error_frame, frame, unframe, Body, ConnectRequest, Connected, End, ErrorCode, Framed,
    Listening, Transport,
};
use crate::daemon::server::{Conn, Ctx};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedReadHalf;
use tun_bridge::aio::{TcpListener, TcpStream, UdpSocket};
use tun_bridge::icmp_error_of;

/// Relay chunk size.
const CHUNK: usize = 16 * 1024;
/// How long a UDP probe waits for a port unreachable.
const UDP_PROBE_WAIT: Duration = Duration::from_millis(500);

pub(crate) async fn run(ctx: &Rc<Ctx>, conn: Conn, id: u64, req: ConnectRequest) -> Flow {
    let Conn { mut lines, out } = conn;
    let r = match req.transport {
        Transport::Tcp => tcp(ctx, &mut lines, &out, id, &req).await,
        Transport::Udp => udp(ctx, &mut lines, &out, id, &req).await,
    };
    match r {
        Ok(Some(relay)) => {
            relay.run(lines, out).await;
            Flow::Close
        }
        // A probe, or a connect that failed, leaves the connection to the client's next
        // request: a scan (`connect -z` over a port range) runs on one connection.
        Ok(None) => {
            out.last(id, end("probe", 0)).await;
            Flow::Continue(Conn { lines, out })
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Flow::Close,
        Err(e) => {
            out.error(id, code_of(&e), e.to_string()).await;
            Flow::Continue(Conn { lines, out })
        }
    }
}

fn end(reason: &str, lost: u64) -> Body {
    Body::End(End {
        reason: reason.into(),
        lost,
    })
}

/// The error code for a failed connect (network unreachable as such, not as a timeout).
fn code_of(e: &io::Error) -> ErrorCode {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorCode::ConnectionRefused,
        io::ErrorKind::NetworkUnreachable => ErrorCode::NetworkUnreachable,
        io::ErrorKind::HostUnreachable => ErrorCode::HostUnreachable,
        io::ErrorKind::TimedOut => ErrorCode::TimedOut,
        io::ErrorKind::InvalidInput => ErrorCode::BadRequest,
        _ => ErrorCode::Failed,
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Waits for `fut` up to `ms`, or until the client closes its side (then `Interrupted`).
async fn bounded<T>(
    lines: &mut LineReader,
    ms: u64,
    what: &str,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::select! {
        r = tokio::time::timeout(Duration::from_millis(ms), fut) => r.unwrap_or_else(|_| {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what}: timed out")))
        }),
        () = lines.until_eof() => {
            Err(io::Error::new(io::ErrorKind::Interrupted, "the client went away"))
        }
    }
}

/// A listening address must be the stack's (or 0.0.0.0) and name a port.
fn listen_port(ctx: &Ctx, addr: SocketAddr) -> io::Result<u16> {
    let ours = ctx.net.with_stack(|s| s.config().addr);
    if !(addr.ip().is_unspecified() || addr.ip() == ours) {
        return Err(bad(format!("{}: the stack's address is {ours}", addr.ip())));
    }
    if addr.port() == 0 {
        return Err(bad("listening needs a port".into()));
    }
    Ok(addr.port())
}

fn check_peer(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(bad(format!("{addr}: not a destination")));
    }
    Ok(())
}

/// A connected socket, ready to relay.
enum Relay {
    Tcp(TcpStream),
    Udp(UdpSocket, SocketAddr, Option<Vec<u8>>),
}

/// The stack's network with the job's sockets owned by `connect` (`ustack ss -p`).
fn job_net(ctx: &Ctx) -> tun_bridge::Net {
    ctx.net.owned_by("connect")
}

async fn tcp(
    ctx: &Ctx,
    lines: &mut LineReader,
    out: &Outbox,
    id: u64,
    req: &ConnectRequest,
) -> io::Result<Option<Relay>> {
    let stream = if req.listen {
        let port = listen_port(ctx, req.addr)?;
        let listener = TcpListener::bind(&job_net(ctx), port, 1)?;
        let local = SocketAddr::new(ctx.net.with_stack(|s| s.config().addr).into(), port);
        out.reply(id, Body::Listening(Listening { local })).await;
        let (s, _) = bounded(lines, req.timeout_ms, "accept", listener.accept()).await?;
        s
    } else {
        check_peer(req.addr)?;
        let net = job_net(ctx);
        let connect = TcpStream::connect(&net, req.addr);
        bounded(lines, req.timeout_ms, "connect", connect).await?
    };
    let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
    out.reply(id, Body::Connected(Connected { local, peer }))
        .await;
    if req.probe {
        // The port answered; nothing more is owed to it. An RST ends the probe at once, so a
        // peer that never closes (a listener that does not accept) cannot hold the connection
        // in FIN-WAIT-2 — nor the stack of a `connect -z` that brought up its own.
        let _ = stream.abort();
        return Ok(None);
    }
    Ok(Some(Relay::Tcp(stream)))
}

async fn udp(
    ctx: &Ctx,
    lines: &mut LineReader,
    out: &Outbox,
    id: u64,
    req: &ConnectRequest,
) -> io::Result<Option<Relay>> {
    let mut buf = vec![0u8; 65536];
    if req.listen {
        let port = listen_port(ctx, req.addr)?;
        let sock = UdpSocket::bind(&job_net(ctx), port)?;
        let local = sock.local_addr()?;
        out.reply(id, Body::Listening(Listening { local })).await;
        // Like `nc -u -l`: the first datagram's source becomes the peer.
        let (n, peer) = bounded(lines, req.timeout_ms, "receive", sock.recv_from(&mut buf)).await?;
        out.reply(id, Body::Connected(Connected { local, peer }))
            .await;
        let first = buf[..n].to_vec();
        return Ok((!req.probe).then_some(Relay::Udp(sock, peer, Some(first))));
    }
    check_peer(req.addr)?;
    let sock = UdpSocket::bind(&job_net(ctx), 0)?;
    let local = sock.local_addr()?;
    if req.probe {
        // `nc -zu`: one empty datagram; only a port unreachable says no.
        sock.send_to(&[], req.addr).await?;
        let answer = tokio::time::timeout(UDP_PROBE_WAIT, sock.recv_from(&mut buf)).await;
        if let Ok(Err(e)) = answer {
            return Err(e);
        }
    }
    let peer = req.addr;
    out.reply(id, Body::Connected(Connected { local, peer }))
        .await;
    Ok((!req.probe).then_some(Relay::Udp(sock, peer, None)))
}

impl Relay {
    async fn run(self, lines: LineReader, out: Outbox) {
        let (early, rd, gone) = lines.into_parts();
        let relay = async {
            match self {
                Relay::Tcp(s) => tcp_relay(s, early, rd, out).await,
                Relay::Udp(s, peer, first) => udp_relay(s, peer, first, early, rd, out).await,
            }
        };
        // A client its writer dropped (it took nothing for the stall timeout) ends the relay
        // at once, also the direction that would wait for it to send.
        tokio::select! {
            () = relay => {}
            () = gone.wait() => {}
        }
    }
}

async fn tcp_relay(stream: TcpStream, early: Vec<u8>, mut rd: OwnedReadHalf, out: Outbox) {
    let (mut from_peer, mut to_peer) = tokio::io::split(stream);
    let up = async move {
        if !early.is_empty() && to_peer.write_all(&early).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_peer.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        // The client's half-close: our FIN after what it sent (RFC 9293 §3.6).
        let _ = to_peer.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from_peer.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !out.raw(buf[..n].to_vec()).await {
                        break;
                    }
                }
            }
        }
        // Dropping the outbox ends the client's stream once what was queued is written.
        drop(out);
    };
    tokio::join!(up, down);
}

async fn udp_relay(
    sock: UdpSocket,
    peer: SocketAddr,
    first: Option<Vec<u8>>,
    early: Vec<u8>,
    mut rd: OwnedReadHalf,
    out: Outbox,
) {
    if let Some(d) = first {
        if !out.raw(frame(&d)).await {
            return;
        }
    }
    let up = async {
        let mut pending = early;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let mut done = 0;
            while let Some((f, rest)) = unframe(&pending[done..]) {
                // (An error report is the daemon's to send; from a client it means nothing.)
                if let Framed::Datagram(d) = f {
                    let _ = sock.send_to(d, peer).await;
                }
                done = pending.len() - rest.len();
            }
            // What is left is less than one frame: at most 2 + 65535 bytes.
            pending.drain(..done);
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 65536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, from)) if from == peer => {
                    if !out.raw(frame(&buf[..n])).await {
                        return;
                    }
                }
                Ok(_) => {} // someone else's datagram: nc ignores it too
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return,
                Err(e) => {
                    // An ICMP error about an earlier datagram: the client says it (`nc -u`
                    // sees a port unreachable as ECONNREFUSED).
                    if let Some(i) = icmp_error_of(&e) {
                        if !out.raw(error_frame(i.icmp_type, i.code)).await {
                            return;
                        }
                    }
                }
            }
        }
    };
    // UDP has no end of stream: the relay ends when the client is done sending.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
