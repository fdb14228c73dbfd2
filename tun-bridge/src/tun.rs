//! The TUN device and the small pieces of `poll(2)` plumbing the event loop needs.
//!
//! [`Tun`] wraps a `tun_tap::Iface` opened in TUN mode without packet info, so every read
//! yields exactly one raw IP packet and every write takes one. The descriptor is put in
//! non-blocking mode: readiness comes from [`wait_readable`], and a [`Waker`] (an eventfd)
//! lets another thread interrupt that wait.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

/// Longest interface name the kernel accepts (`IFNAMSIZ` minus the terminating NUL).
const MAX_IFNAME_LEN: usize = 15;

/// A TUN device (layer 3, no packet-info prefix) in non-blocking mode.
#[derive(Debug)]
pub struct Tun {
    iface: tun_tap::Iface,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name` (IFF_TUN, no packet info) in the calling
    /// thread's network namespace, non-blocking.
    ///
    /// The device is created down and without an address; see [`crate::host::configure`].
    pub fn open(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() > MAX_IFNAME_LEN {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("TUN device name '{name}' must be 1 to {MAX_IFNAME_LEN} bytes long"),
            ));
        }
        if name.contains(['/', ' ', '\0']) || name == "." || name == ".." {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("'{name}' is not a valid interface name"),
            ));
        }
        let iface = tun_tap::Iface::without_packet_info(name, tun_tap::Mode::Tun)
            .map_err(|e| open_error(name, e))?;
        set_non_blocking(iface.as_raw_fd()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("making TUN device '{name}' non-blocking: {e}"),
            )
        })?;
        log::info!("opened TUN device {}", iface.name());
        Ok(Tun { iface })
    }

    /// The device's name as the kernel reports it.
    pub fn name(&self) -> &str {
        self.iface.name()
    }

    /// Reads one packet; `Ok(None)` when nothing is ready (EAGAIN/EWOULDBLOCK).
    ///
    /// A packet longer than `buf` is truncated by the kernel; size `buf` for the MTU.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.iface.recv(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes one packet; `Ok(false)` if the device queue is full (EAGAIN) and the packet was
    /// dropped.
    pub fn send(&self, packet: &[u8]) -> io::Result<bool> {
        loop {
            match self.iface.send(packet) {
                Ok(n) if n == packet.len() => return Ok(true),
                Ok(n) => {
                    return Err(io::Error::new(
                        ErrorKind::WriteZero,
                        format!(
                            "short write to TUN device {}: {n} of {} bytes",
                            self.name(),
                            packet.len()
                        ),
                    ))
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.iface.as_raw_fd()
    }
}

/// Turns an error from creating the device into one that says what to do about it.
fn open_error(name: &str, e: io::Error) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("creating TUN device '{name}' needs root or CAP_NET_ADMIN")
        }
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => format!(
            "creating TUN device '{name}': /dev/net/tun is missing (load the `tun` kernel module)"
        ),
        Some(libc::EBUSY) => format!(
            "creating TUN device '{name}': the device is busy (another process holds it open, \
             or a non-TUN interface has that name)"
        ),
        Some(libc::EINVAL) => format!(
            "creating TUN device '{name}': the kernel refused it (an existing interface with \
             that name is not a TUN device?)"
        ),
        _ => format!("creating TUN device '{name}'"),
    };
    io::Error::new(e.kind(), format!("{hint}: {e}"))
}

/// Sets `O_NONBLOCK` on `fd` (tun-tap's own helper needs a feature we do not enable).
fn set_non_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(F_GETFL) only reads the flags of `fd`, which the caller keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: fcntl(F_SETFL) with an integer argument changes only the status flags of `fd`.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until at least one of `fds` is readable or `timeout` passes (`None`: wait forever).
///
/// Returns one flag per descriptor, in order; all `false` means the timeout expired. A
/// descriptor in an error or hang-up state counts as readable, so that the caller's next read
/// reports the condition instead of the loop spinning. `EINTR` is retried with the time left.
/// A descriptor that is not open is an error (`EBADF`).
pub fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let deadline = timeout.map(|t| Instant::now().checked_add(t));
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None | Some(None) => -1,
            Some(Some(deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so that a sub-millisecond wait does not become a busy loop.
                let ms = left.as_micros().div_ceil(1000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        let nfds = pollfds.len() as libc::nfds_t;
        // SAFETY: `pollfds` is a live, exclusively borrowed array of exactly `nfds` entries;
        // poll only writes their `revents` fields.
        let rc = unsafe { libc::poll(pollfds.as_mut_ptr(), nfds, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if let Some(bad) = pollfds.iter().find(|p| p.revents & libc::POLLNVAL != 0) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("poll: file descriptor {} is not open", bad.fd),
            ));
        }
        let ready = libc::POLLIN | libc::POLLERR | libc::POLLHUP;
        return Ok(pollfds.iter().map(|p| p.revents & ready != 0).collect());
    }
}

/// Wakes a thread blocked in [`wait_readable`] from elsewhere: include its fd in the poll set.
///
/// Built on a non-blocking eventfd. Wakes coalesce: any number of [`Waker::wake`] calls before a
/// [`Waker::drain`] make the fd readable once.
#[derive(Debug)]
pub struct Waker {
    eventfd: File,
}

impl Waker {
    /// Creates the eventfd (`EFD_NONBLOCK | EFD_CLOEXEC`).
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd, is open, and nothing else owns it.
        let eventfd = unsafe { File::from_raw_fd(fd) };
        Ok(Waker { eventfd })
    }

    /// Makes the waker's fd readable. Never blocks; a saturated counter (EAGAIN) already means
    /// "readable", so it is ignored.
    pub fn wake(&self) {
        match (&self.eventfd).write(&1u64.to_ne_bytes()) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => log::warn!("waker: writing to eventfd failed: {e}"),
        }
    }

    /// Resets the waker so its fd is no longer readable (until the next [`Waker::wake`]).
    pub fn drain(&self) {
        let mut counter = [0u8; 8];
        loop {
            match (&self.eventfd).read(&mut counter) {
                Ok(_) => return,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("waker: reading from eventfd failed: {e}");
                    return;
                }
            }
        }
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waker_makes_fd_readable_until_drained() {
        let waker = Waker::new().unwrap();
        let fd = waker.as_raw_fd();
        assert_eq!(wait_readable(&[fd], Some(Duration::ZERO)).unwrap(), [false]);
        waker.wake();
        waker.wake();
        assert_eq!(wait_readable(&[fd], Some(Duration::ZERO)).unwrap(), [true]);
        waker.drain();
        assert_eq!(wait_readable(&[fd], Some(Duration::ZERO)).unwrap(), [false]);
        // Draining an empty waker is harmless.
        waker.drain();
    }

    #[test]
    fn wait_readable_reports_each_fd_and_times_out() {
        let a = Waker::new().unwrap();
        let b = Waker::new().unwrap();
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        let start = Instant::now();
        let ready = wait_readable(&fds, Some(Duration::from_millis(30))).unwrap();
        assert_eq!(ready, [false, false]);
        assert!(start.elapsed() >= Duration::from_millis(30));
        b.wake();
        assert_eq!(wait_readable(&fds, None).unwrap(), [false, true]);
    }

    #[test]
    fn wake_from_another_thread_ends_an_unbounded_wait() {
        let waker = Arc::new(Waker::new().unwrap());
        let remote = Arc::clone(&waker);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.wake();
        });
        assert_eq!(wait_readable(&[waker.as_raw_fd()], None).unwrap(), [true]);
        t.join().unwrap();
    }

    #[test]
    fn wait_readable_rejects_closed_fd() {
        let waker = Waker::new().unwrap();
        let fd = waker.as_raw_fd();
        drop(waker);
        // Nothing else in this test opens files between the drop and the poll, but other tests
        // run in parallel; only assert when the number was not reused.
        if let Err(e) = wait_readable(&[fd], Some(Duration::ZERO)) {
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn open_rejects_bad_names_before_touching_the_kernel() {
        let long = "x".repeat(16);
        for name in ["", long.as_str(), "a/b", "a b"] {
            let err = Tun::open(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}: {err}");
        }
    }

    #[test]
    fn permission_error_names_the_capability() {
        let err = open_error("tun9", io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err
            .to_string()
            .contains("creating TUN device 'tun9' needs root or CAP_NET_ADMIN"));
    }
}
