//! Kernel-side client helpers for end-to-end tests of `ustack up`: sockets with options std does
//! not expose (a receive buffer set before connecting, an abortive close), the file-descriptor
//! limit, crafted SYNs for raw sockets, signals, and what `/proc` says about the daemon.
//!
//! Use them on a thread inside the test's namespace (`NetNs::run`), like the sockets of
//! `std::net`.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

/// Raises this process's soft RLIMIT_NOFILE to `want` (at most the hard limit); returns the soft
/// limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur < target {
        lim.rlim_cur = target;
        // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    }
    lim.rlim_cur.max(target)
}

fn setsockopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size given, for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

/// Connects to `addr` with SO_RCVBUF set to `rcvbuf` bytes *before* the handshake (so the
/// window the kernel offers is small from the start), giving up after `timeout`.
pub fn connect_with_rcvbuf(
    addr: SocketAddrV4,
    rcvbuf: usize,
    timeout: Duration,
) -> io::Result<TcpStream> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)?;
    // On Linux SO_SNDTIMEO also bounds a blocking connect(2).
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &timeval(timeout))?;
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes(addr.ip().octets());
    // SAFETY: `sa` is a valid sockaddr_in of the length given.
    let rc = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EINPROGRESS) {
            io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
        } else {
            e
        });
    }
    // SAFETY: the descriptor is a connected TCP socket that we own and hand over.
    let stream = unsafe { TcpStream::from_raw_fd(owned.into_raw_fd()) };
    stream.set_write_timeout(None)?;
    Ok(stream)
}

/// Makes closing `s` abortive: SO_LINGER with a zero timeout, so close(2) sends an RST and
/// leaves no TIME-WAIT behind.
pub fn set_linger_zero(s: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &lg)
}

/// An IPv4 packet carrying a bare TCP SYN (MSS 1460) from `src` to `dst`.
pub fn syn_packet(src: SocketAddrV4, dst: SocketAddrV4, seq: u32, ident: u16) -> Vec<u8> {
    use ustack::wire::tcp::{Control, SeqNumber, TcpOptions, TcpRepr};
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNumber(seq),
        ack: None,
        control: Control::Syn,
        psh: false,
        window: 64240,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
    };
    let mut pkt = vec![0u8; 60];
    let tcp_len = repr.emit(&mut pkt[20..], *src.ip(), *dst.ip(), 0);
    ustack::wire::ipv4::Ipv4Repr {
        src: *src.ip(),
        dst: *dst.ip(),
        protocol: 6,
        ttl: 64,
        ident,
        dont_fragment: true,
        more_fragments: false,
        frag_offset: 0,
        payload_len: tcp_len,
    }
    .emit(&mut pkt);
    pkt.truncate(20 + tcp_len);
    pkt
}

/// Sends signal `sig` to `pid` (a child of this test that has not been reaped).
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill takes no pointers; the caller guarantees `pid` is its unreaped child.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

fn proc_status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The number of threads of process `pid` (`Threads:` in /proc/PID/status; 0 if unreadable).
pub fn thread_count(pid: u32) -> u64 {
    proc_status_field(pid, "Threads:").unwrap_or(0)
}

/// CPU time (user + system) process `pid` has used so far (zero if unreadable).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// The address `198.18.0.<host>`: spoofed sources on the test link that no one owns, so
/// answers to them go nowhere.
pub fn link_addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, host)
}

/// Sends one whole IPv4 packet on a raw socket (see `e2e::raw_socket`) to `dst`; unlike
/// `e2e::raw_send` a failure (e.g. ENOBUFS while the device queue is full) is returned.
pub fn try_raw_send(fd: &OwnedFd, dst: Ipv4Addr, packet: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
    // SAFETY: `packet` and `sa` are valid for the lengths given for the duration of the call.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc == packet.len() as isize {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
