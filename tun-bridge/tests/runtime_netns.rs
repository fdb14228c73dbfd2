//! The event-loop runtime against the real kernel through a TUN, inside a namespace per test:
//! async sockets used by ecosystem crates unchanged (`tokio::io::copy`, `tokio_util::codec`),
//! connects out of the stack, the blocking handles from other threads, UDP, ping, per-socket
//! wakeups (no broadcast), and a prompt stop that releases blocked threads.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use futures_util::{SinkExt, StreamExt};
use std::cell::Cell;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};
use tun_bridge::{aio, Bridge, BridgeConfig};
use ustack_tests::e2e::pseudo_random;
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const STACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const T: Duration = Duration::from_secs(10);

fn bridge() -> Bridge {
    let mut c = BridgeConfig {
        tun_name: "urt0".into(),
        ..BridgeConfig::default()
    };
    c.stack.addr = STACK;
    Bridge::start(c, Vec::new()).expect("bridge starts")
}

fn connect_kernel(port: u16) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect_timeout(&SocketAddrV4::new(STACK, port).into(), T)
        .expect("kernel connects to the stack");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

/// Sends `data` on a thread, half-closes, and returns everything read back.
fn round_trip(mut s: std::net::TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read back");
    writer.join().unwrap();
    got
}

#[test]
fn tokio_io_copy_echoes_over_the_async_stream() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-copy");
    ns.run(|| {
        let b = bridge();
        let (ready, bound) = std::sync::mpsc::channel();
        b.spawn(move |net| async move {
            let l = aio::TcpListener::bind(&net, 7, 16).unwrap();
            ready.send(()).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::task::spawn_local(async move {
                    let (mut r, mut w) = tokio::io::split(s);
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                });
            }
        })
        .unwrap();
        bound
            .recv_timeout(T)
            .expect("the server task bound its socket");
        let data = pseudo_random(4 << 20, 7);
        let want = sha256_hex(&data);
        let got = round_trip(connect_kernel(7), data);
        assert_eq!(got.len(), 4 << 20);
        assert_eq!(sha256_hex(&got), want);
    });
}

#[test]
fn tokio_util_codec_frames_lines_over_the_async_stream() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-codec");
    ns.run(|| {
        let b = bridge();
        let (ready, bound) = std::sync::mpsc::channel();
        b.spawn(move |net| async move {
            let l = aio::TcpListener::bind(&net, 7, 16).unwrap();
            ready.send(()).unwrap();
            let (s, _) = l.accept().await.unwrap();
            let mut lines = Framed::new(s, LinesCodec::new_with_max_length(1024));
            while let Some(Ok(line)) = lines.next().await {
                lines.send(line.to_uppercase()).await.unwrap();
            }
        })
        .unwrap();
        bound
            .recv_timeout(T)
            .expect("the server task bound its socket");
        let got = round_trip(connect_kernel(7), b"hello\nustack codec\n".to_vec());
        assert_eq!(got, b"HELLO\nUSTACK CODEC\n");
    });
}

#[test]
fn async_connect_out_of_the_stack_to_a_kernel_listener() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-conn");
    ns.run(|| {
        let b = bridge();
        let l = std::net::TcpListener::bind((HOST, 5000)).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, peer) = l.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(b"pong").unwrap();
            (buf, peer)
        });
        let (reply, local) = b
            .handle()
            .block_on(|net| async move {
                let mut s = aio::TcpStream::connect(&net, SocketAddrV4::new(HOST, 5000))
                    .await
                    .unwrap();
                s.write_all(b"ping").await.unwrap();
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).await.unwrap();
                (buf, s.local_addr().unwrap())
            })
            .unwrap();
        let (sent, peer) = server.join().unwrap();
        assert_eq!(&sent, b"ping");
        assert_eq!(&reply, b"pong");
        assert_eq!(peer, local);
        // Nobody listens on 5001: the kernel's RST is a refusal, reported as such.
        let refused = b
            .handle()
            .block_on(|net| async move {
                aio::TcpStream::connect(&net, SocketAddrV4::new(HOST, 5001))
                    .await
                    .map(|_| ())
            })
            .unwrap();
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn blocking_handles_work_from_other_threads_with_timeouts() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-block");
    ns.run(|| {
        let b = bridge();
        let l = tun_bridge::TcpListener::bind(&b, 9000, 8).unwrap();
        let none = l.accept_timeout(Some(Duration::from_millis(100)));
        assert_eq!(none.unwrap_err().kind(), ErrorKind::TimedOut);
        let mut client = connect_kernel(9000);
        let (mut s, peer) = l.accept_timeout(Some(T)).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 16];
        let start = Instant::now();
        assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= Duration::from_millis(100));
        client.write_all(b"abc").unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        s.write_all(b"xyz").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"xyz");
    });
}

#[test]
fn udp_and_ping_on_the_loop() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-udp");
    ns.run(|| {
        let b = bridge();
        let (ready, bound) = std::sync::mpsc::channel();
        b.spawn(move |net| async move {
            let u = aio::UdpSocket::bind(&net, 7).unwrap();
            ready.send(()).unwrap();
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = u.recv_from(&mut buf).await.unwrap();
                u.send_to(&buf[..n], from).await.unwrap();
            }
        })
        .unwrap();
        bound
            .recv_timeout(T)
            .expect("the server task bound its socket");
        let k = std::net::UdpSocket::bind((HOST, 0)).unwrap();
        k.set_read_timeout(Some(T)).unwrap();
        k.send_to(b"datagram", (STACK, 7)).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = k.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"datagram");
        assert_eq!(from, std::net::SocketAddr::V4(SocketAddrV4::new(STACK, 7)));
        // A blocking UDP socket times out as asked.
        let mut u = tun_bridge::UdpSocket::bind(&b, 0).unwrap();
        u.set_read_timeout(Some(Duration::from_millis(50)));
        assert_eq!(
            u.recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        // Ping the kernel side from inside the stack.
        let ev = b
            .handle()
            .block_on(|net| async move {
                let p = aio::PingSocket::open(&net, None).unwrap();
                p.send(HOST, 1, b"are you there").await.unwrap();
                let mut buf = [0u8; 64];
                tokio::time::timeout(T, p.recv(&mut buf)).await
            })
            .unwrap();
        assert!(
            matches!(
                ev,
                Ok(Ok(ustack::EchoEvent::Reply {
                    seq: 1,
                    from,
                    ..
                })) if from == HOST
            ),
            "{ev:?}"
        );
    });
}

/// Counts how often the inner future is polled.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Rc<Cell<u32>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn only_the_task_whose_socket_changed_is_woken() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-wake");
    ns.run(|| {
        let b = bridge();
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let (ready, bound) = std::sync::mpsc::channel();
        b.spawn(move |net| async move {
            let l = aio::TcpListener::bind(&net, 7, 16).unwrap();
            ready.send(()).unwrap();
            let (mut busy, _) = l.accept().await.unwrap();
            let (mut idle, _) = l.accept().await.unwrap();
            let polls = Rc::new(Cell::new(0));
            let idle_reader = Counted {
                inner: Box::pin(async move {
                    let mut buf = [0u8; 8];
                    idle.read(&mut buf).await
                }),
                polls: polls.clone(),
            };
            let idle_task = tokio::task::spawn_local(idle_reader);
            // Stream 1 MiB through the busy connection: hundreds of events and wakeups.
            let mut buf = vec![0u8; 65536];
            let mut total = 0;
            while total < 1 << 20 {
                let n = busy.read(&mut buf).await.unwrap();
                assert!(n > 0);
                total += n;
            }
            tx.send(polls.get()).unwrap();
            idle_task.abort();
        })
        .unwrap();
        bound
            .recv_timeout(T)
            .expect("the server task bound its socket");
        let mut busy = connect_kernel(7);
        let _idle = connect_kernel(7);
        busy.write_all(&vec![1u8; 1 << 20]).unwrap();
        let polls = rx
            .recv_timeout(T)
            .expect("the busy connection delivered 1 MiB");
        assert_eq!(
            polls, 1,
            "the idle reader was polled once (to wait), never woken"
        );
    });
}

#[test]
fn stop_releases_blocked_threads_at_once() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-stop");
    ns.run(|| {
        let b = bridge();
        let l = tun_bridge::TcpListener::bind(&b, 9000, 8).unwrap();
        let _client = connect_kernel(9000);
        let (mut s, _) = l.accept_timeout(Some(T)).unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16];
            s.read(&mut buf) // no timeout: only the stop can end it
        });
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        b.shutdown().unwrap();
        let r = reader.join().unwrap();
        assert_eq!(r.unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            l.accept_timeout(None).unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    });
}
