//! The far end's server (`ustack lab serve`, started by `lab up` inside `<name>-far`): TCP and
//! UDP echo on port 7 and a one-line HTTP answer on port 80, so traces and connections from
//! the stack have something real to reach. Plain std sockets in the kernel of the far
//! namespace; bounded: at most [`MAX_CONNS`] connections at once, each closed after
//! [`IDLE`] without traffic.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Most connections served at once (more are closed at accept).
const MAX_CONNS: usize = 64;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);

/// The port of the echo services.
pub const ECHO_PORT: u16 = 7;
/// The port of the HTTP answer.
pub const HTTP_PORT: u16 = 80;

/// Serves until the process is ended (by `lab up` at exit, or `lab down`).
pub fn serve() -> io::Result<()> {
    let live = Arc::new(AtomicUsize::new(0));
    let echo = TcpListener::bind(("0.0.0.0", ECHO_PORT))?;
    let http = TcpListener::bind(("0.0.0.0", HTTP_PORT))?;
    let udp = UdpSocket::bind(("0.0.0.0", ECHO_PORT))?;
    let l = live.clone();
    thread::spawn(move || accept_loop(echo, l, echo_conn));
    let l = live.clone();
    thread::spawn(move || accept_loop(http, l, http_conn));
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = udp.recv_from(&mut buf)?;
        let _ = udp.send_to(&buf[..n], from);
    }
}

fn accept_loop(l: TcpListener, live: Arc<AtomicUsize>, serve: fn(TcpStream) -> io::Result<()>) {
    for conn in l.incoming().flatten() {
        if live.fetch_add(1, Ordering::SeqCst) >= MAX_CONNS {
            live.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closed
        }
        let live = live.clone();
        thread::spawn(move || {
            let _ = conn
                .set_read_timeout(Some(IDLE))
                .and_then(|()| conn.set_write_timeout(Some(IDLE)))
                .and_then(|()| serve(conn));
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn echo_conn(mut c: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16384];
    loop {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        c.write_all(&buf[..n])?;
    }
}

fn http_conn(mut c: TcpStream) -> io::Result<()> {
    // Read the request head (bounded), answer once, close.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        let n = c.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = "ustack lab: far end\n";
    write!(
        c,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
