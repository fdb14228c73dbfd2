//! End to end against the Linux kernel, issue 16 findings 3 and 4: memory a remote client can
//! pin, and clients that hang at the table limit.
//!
//! - 1,000 chargen clients that never read used to hold ≈ 287 KB each (RSS 6 → 293 MB), stayed
//!   open for good, and RSS stayed high after they closed. Now the TCP buffers together stay
//!   under `--tcp-mem`, the service aborts a client that takes nothing for `--stall-timeout`,
//!   and the memory is given back.
//! - With the table full a SYN got a SYN cookie whose ACK was then dropped: the client believed
//!   it was connected and hung. Now it is refused at once (RST → ECONNREFUSED), one source
//!   cannot hold every slot, and idle connections leave the table after `--idle-timeout` (plus
//!   `--fin-timeout` when the client never closes its side).
//!
//! Bounds asserted are functional (a leak or a hang is the bug); figures are printed. Needs root
//! and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};
use ustack_tests::e2e::{counter, rss_anon_kib, rss_kib, Up, STACK_ADDR};
use ustack_tests::kclient::raise_nofile;
use ustack_tests::netns::{tun_available, NetNs};

const CHARGEN: u16 = 19;
const DISCARD: u16 = 9;
const ECHO: u16 = 7;

fn addr(port: u16) -> std::net::SocketAddr {
    SocketAddrV4::new(STACK_ADDR, port).into()
}

/// A connection with a small receive buffer that never reads (so chargen's data piles up in
/// the stack's send buffer once the kernel's window closes).
fn non_reader(port: u16) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.set_recv_buffer_size(4096)?;
    sock.connect_timeout(&addr(port).into(), Duration::from_secs(5))?;
    Ok(sock.into())
}

/// Whether the stack has reset (or closed) `c`, from the kernel socket's TCP state — without
/// reading, which would open the window and count as progress.
fn reset_or_closed(c: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes; the fd is open.
    let r = unsafe {
        libc::getsockopt(
            c.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    // `tcpi_state`, the first byte: 1 is ESTABLISHED.
    info[0] != 1
}

/// Polls `f` every 100 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

#[test]
fn chargen_clients_that_never_read_cannot_pin_memory() {
    if !tun_available() {
        return;
    }
    const N: usize = 1000;
    const CAP_MIB: u64 = 32;
    let ns = NetNs::new("pin");
    let cap = (CAP_MIB << 20).to_string();
    let args = ["--tcp-mem", &cap, "--stall-timeout", "3"];
    let up = Up::start(&ns, &[&args[..], &["--services", "chargen,echo"]].concat());
    let pid = up.child.pid();
    raise_nofile(N as u64 + 200);
    std::thread::sleep(Duration::from_millis(300));
    let base = rss_kib(pid);
    let base_anon = rss_anon_kib(pid);
    let (conns, peak, held, cut_at, still_open) = ns.run(move || {
        let conns: Vec<TcpStream> = (0..N).map(|_| non_reader(CHARGEN).unwrap()).collect();
        // Let every send buffer fill (or hit the budget), sampling RSS.
        let mut peak = 0;
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(100));
            peak = peak.max(rss_kib(pid));
        }
        let held = rss_kib(pid);
        // The stall bound cuts them: each reads an RST (ECONNRESET) once its window is read.
        let t0 = Instant::now();
        let mut open = N;
        eventually(Duration::from_secs(30), || {
            open = conns.iter().filter(|c| !reset_or_closed(c)).count();
            open == 0
        });
        (conns, peak, held, t0.elapsed(), open)
    });
    drop(conns);
    let after = eventually(Duration::from_secs(5), || {
        rss_anon_kib(pid) < base_anon + 8 * 1024
    });
    let end = rss_anon_kib(pid);
    let out = up.stop();
    println!(
        "{N} chargen clients that never read, --tcp-mem {CAP_MIB} MiB: ustack RSS {base} KiB \
         before, {held} KiB held (peak {peak}); anonymous {base_anon} KiB before, {end} KiB after they \
         were cut ({cut_at:.1?} after the peak); tcp_mem_denied {}",
        counter(&out, "tcp_mem_denied")
    );
    // The budget, plus the page each connection keeps on both sides, plus per-connection task
    // and table overhead (a few KiB each): far below the 287 KB each held before.
    let bound = CAP_MIB * 1024 + (N as u64) * 24;
    assert!(
        peak.saturating_sub(base) <= bound,
        "RSS grew by {} KiB for {N} non-reading clients (bound {bound} KiB)",
        peak - base
    );
    assert!(counter(&out, "tcp_mem_denied") > 0, "{out}");
    assert!(
        out.contains("aborted (client took nothing)"),
        "no stalled client was counted:\n{out}"
    );
    assert_eq!(
        still_open, 0,
        "clients still connected 30 s after the stall bound:\n{out}"
    );
    assert!(
        after,
        "anonymous RSS stayed at {end} KiB after the clients were cut (baseline {base_anon} KiB)"
    );
}

/// Old main: the 51st client got a SYN cookie, "connected", and hung when its data met a
/// table that had dropped its ACK.
#[test]
fn a_full_table_refuses_at_once_and_idle_connections_leave_it() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fulltab");
    let args = [
        "--max-connections",
        "50",
        "--idle-timeout",
        "2",
        "--fin-timeout",
        "2",
    ];
    let up = Up::start(&ns, &args);
    let (refused_in, fresh) = ns.run(|| {
        let held: Vec<TcpStream> = (0..50)
            .map(|i| {
                TcpStream::connect_timeout(&addr(DISCARD), Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"))
            })
            .collect();
        let t0 = Instant::now();
        let e = TcpStream::connect_timeout(&addr(ECHO), Duration::from_secs(5))
            .expect_err("a 51st connection into a table of 50");
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        let refused_in = t0.elapsed();
        // The idle ones are closed (FIN) after the idle time, and freed once the FIN-WAIT-2
        // bound has passed too (the clients never close); then a new client gets in and is
        // served.
        let fresh = eventually(Duration::from_secs(10), || {
            let Ok(mut s) = TcpStream::connect_timeout(&addr(ECHO), Duration::from_secs(2)) else {
                return false;
            };
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 2];
            s.write_all(b"hi").is_ok() && s.read_exact(&mut b).is_ok() && &b == b"hi"
        });
        drop(held);
        (refused_in, fresh)
    });
    let out = up.stop();
    println!("table of 50 full: the 51st refused in {refused_in:?}");
    assert!(
        fresh,
        "no fresh client got in after the idle timeout:\n{out}"
    );
    assert!(counter(&out, "TcpTooManyConnections") >= 1, "{out}");
    assert_eq!(counter(&out, "tcp_syncookies_sent"), 0, "{out}");
    assert!(out.contains("closed (idle)"), "{out}");
}

/// One address holding its share does not lock out another.
#[test]
fn one_source_holding_its_share_leaves_room_for_others() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("persrc");
    let up = Up::start(&ns, &["--max-connections", "50", "--max-per-source", "20"]);
    // A second kernel-side address on the link, for the other client.
    let other = Ipv4Addr::new(198, 18, 0, 3);
    let st = ns
        .command("ip")
        .args(["addr", "add", "198.18.0.3/32", "dev", "ustack0"])
        .status()
        .unwrap();
    assert!(st.success());
    let (held, refused, served) = ns.run(move || {
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..40 {
            match TcpStream::connect_timeout(&addr(DISCARD), Duration::from_secs(5)) {
                Ok(s) => held.push(s),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddrV4::new(other, 0).into()).unwrap();
        sock.connect_timeout(&addr(ECHO).into(), Duration::from_secs(5))
            .unwrap();
        let mut s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 2];
        s.write_all(b"ok").unwrap();
        s.read_exact(&mut b).unwrap();
        (held.len(), refused, &b == b"ok")
    });
    let out = up.stop();
    assert_eq!((held, refused), (20, 20), "{out}");
    assert!(served);
    assert_eq!(counter(&out, "TcpSourceLimit"), 20, "{out}");
}

/// The audit's other half of finding 3: 500 echo clients that send but never read held 259 MB.
/// Echo's replies pile up until the client's window closes; then echo stops reading, the stack's
/// receive buffer fills, and the stall bound cuts the client.
#[test]
fn echo_clients_that_send_but_never_read_are_cut() {
    if !tun_available() {
        return;
    }
    const N: usize = 300;
    let ns = NetNs::new("pinecho");
    let up = Up::start(&ns, &["--tcp-mem", "16777216", "--stall-timeout", "2"]);
    let pid = up.child.pid();
    raise_nofile(N as u64 + 200);
    let base = rss_kib(pid);
    let (peak, still_open) = ns.run(move || {
        let chunk = vec![b'e'; 64 << 10];
        let conns: Vec<TcpStream> = (0..N)
            .map(|_| {
                let s = non_reader(ECHO).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        // Each sends until its own send buffer is full (the stack stopped taking).
        for _ in 0..40 {
            for mut c in &conns {
                let _ = c.write(&chunk);
            }
        }
        let peak = rss_kib(pid);
        let mut open = N;
        eventually(Duration::from_secs(30), || {
            open = conns.iter().filter(|c| !reset_or_closed(c)).count();
            open == 0
        });
        (peak, open)
    });
    let out = up.stop();
    println!("{N} echo clients that never read: ustack RSS {base} KiB before, {peak} KiB with all");
    assert_eq!(still_open, 0, "echo clients still connected:\n{out}");
    assert!(
        peak.saturating_sub(base) <= 16 * 1024 + (N as u64) * 48,
        "RSS grew by {} KiB",
        peak - base
    );
    assert!(out.contains("aborted (client took nothing)"), "{out}");
}
