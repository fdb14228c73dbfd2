//! The C side: `packetdrill_interface_init` and one `extern "C"` function per member of
//! `struct packetdrill_interface`. Each turns raw pointers into slices and addresses, calls the
//! safe [`Shim`] under a mutex inside `catch_unwind`, and returns Linux-style `-1` + errno.
//!
//! packetdrill runs blocking system calls on a second thread, so the shim lives behind a
//! `Mutex` with a `Condvar`: a blocking call that would block waits on the condvar, and every
//! packet or clock movement from the main thread wakes it to retry.

use crate::shim::{Errno, Shim};
use libc::{c_int, c_long, c_void, size_t, socklen_t, ssize_t};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration as RealDuration;

/// `struct packetdrill_interface`, member for member (packetdrill.h). Variadic members
/// (`fcntl`, `ioctl`) are declared with one `long` argument: on the Linux x86-64 and AArch64
/// ABIs the first variadic integer argument travels in the same register as a fixed one.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Interface {
    pub userdata: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub socket: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub bind:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub accept: Option<
        unsafe extern "C" fn(*mut c_void, c_int, *mut libc::sockaddr, *mut socklen_t) -> c_int,
    >,
    pub connect:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t) -> ssize_t>,
    pub readv:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::iovec, c_int) -> ssize_t>,
    pub recv:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut libc::sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    pub recvmsg:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut libc::msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t) -> ssize_t>,
    pub writev:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::iovec, c_int) -> ssize_t>,
    pub send:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const libc::sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    pub sendmsg:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::msghdr, c_int) -> ssize_t>,
    pub fcntl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_long) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(*mut c_void, c_int, libc::c_ulong, c_long) -> c_int>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub getsockopt: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            c_int,
            c_int,
            *mut c_void,
            *mut socklen_t,
        ) -> c_int,
    >,
    pub setsockopt: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int,
    >,
    pub poll:
        Option<unsafe extern "C" fn(*mut c_void, *mut libc::pollfd, libc::nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(*mut c_void, *const c_void, size_t) -> c_int>,
    pub netdev_receive: Option<
        unsafe extern "C" fn(*mut c_void, *mut c_void, *mut size_t, *mut libc::c_longlong) -> c_int,
    >,
    pub usleep: Option<unsafe extern "C" fn(*mut c_void, libc::useconds_t) -> c_int>,
    pub gettimeofday:
        Option<unsafe extern "C" fn(*mut c_void, *mut libc::timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub epoll_ctl: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut libc::epoll_event) -> c_int,
    >,
    pub epoll_wait: Option<
        unsafe extern "C" fn(*mut c_void, c_int, *mut libc::epoll_event, c_int, c_int) -> c_int,
    >,
    pub pipe: Option<unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int>,
    pub splice: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut libc::loff_t,
            c_int,
            *mut libc::loff_t,
            size_t,
            libc::c_uint,
        ) -> ssize_t,
    >,
}

/// Waits of 2 ms real time without any input or clock movement after which a blocking call
/// moves the virtual clock itself.
const IDLE_WAITS: u32 = 25;

/// What `userdata` points to.
#[derive(Debug)]
pub struct Instance {
    shim: Mutex<Shim>,
    moved: Condvar,
}

impl Instance {
    fn lock(&self) -> MutexGuard<'_, Shim> {
        // A panic inside a call poisons the mutex; the state is still usable for reporting.
        self.shim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op`; while it says EAGAIN on a blocking descriptor, waits for the other thread to
    /// move packets or time and tries again.
    fn blocking<T>(
        &self,
        fd: c_int,
        dontwait: bool,
        mut op: impl FnMut(&mut Shim) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let mut g = self.lock();
        let (mut idle, mut streak) = (0, 0);
        loop {
            match op(&mut g) {
                Err(libc::EAGAIN) if !dontwait && g.blocking(fd) => {
                    let before = g.moves();
                    g = self.wait(g);
                    if g.moves() == before {
                        idle += 1;
                    } else {
                        (idle, streak) = (0, 0);
                    }
                    if idle >= IDLE_WAITS {
                        // Nobody else moves the clock (packetdrill waits for this call):
                        // run the stack's timers ourselves, as the kernel would while we sleep.
                        g.advance_idle_by(streak);
                        // Our own move does not count as someone else's.
                        idle = 0;
                        streak += 1;
                    }
                }
                r => return r,
            }
        }
    }

    /// Waits (a little real time) for the other thread to do something.
    fn wait<'a>(&'a self, g: MutexGuard<'a, Shim>) -> MutexGuard<'a, Shim> {
        self.moved
            .wait_timeout(g, RealDuration::from_millis(2))
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}

fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's life.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `f` on the instance behind `ud` inside `catch_unwind`; errors and panics become
/// `-1` with errno (EIO for a panic).
fn entry<T: From<i8>>(ud: *mut c_void, f: impl FnOnce(&Instance) -> Result<T, Errno>) -> T {
    if ud.is_null() {
        set_errno(libc::EINVAL);
        return T::from(-1);
    }
    // SAFETY: `ud` is the Box<Instance> leaked by `packetdrill_interface_init`, freed only by
    // `free`, after which packetdrill makes no more calls.
    let inst = unsafe { &*(ud as *const Instance) };
    match catch_unwind(AssertUnwindSafe(|| f(inst))) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            T::from(-1)
        }
        Err(_) => {
            set_errno(libc::EIO);
            T::from(-1)
        }
    }
}

fn len_to_isize(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

/// Reads a `sockaddr_in` or `sockaddr_in6` (by its family; the socket's own family is
/// checked by the call, as Linux's `inet_bind` / `inet6_bind` do).
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
unsafe fn read_addr(addr: *const libc::sockaddr, len: socklen_t) -> Result<SocketAddr, Errno> {
    let len = len as usize;
    if addr.is_null() || len < std::mem::size_of::<libc::sa_family_t>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null with at least the family's bytes; read_unaligned tolerates any
    // alignment.
    let family = unsafe { std::ptr::read_unaligned(addr as *const libc::sa_family_t) };
    match i32::from(family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: long enough for a sockaddr_in.
            let sin = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: long enough for a sockaddr_in6.
            let sin6 = unsafe { std::ptr::read_unaligned(addr as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        libc::AF_INET | libc::AF_INET6 => Err(libc::EINVAL),
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// Writes `value` into a caller's `(buf, *len)` pair, truncating like the kernel does.
///
/// # Safety
/// `buf` must be null or point to `*len` writable bytes; `len` null or valid.
unsafe fn write_out(buf: *mut c_void, len: *mut socklen_t, value: &[u8]) {
    if len.is_null() {
        return;
    }
    // SAFETY: `len` is valid per the contract.
    let room = unsafe { *len } as usize;
    let n = room.min(value.len());
    if !buf.is_null() && n > 0 {
        // SAFETY: `buf` has `room >= n` bytes per the contract.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buf as *mut u8, n) };
    }
    // SAFETY: as above.
    unsafe { *len = n as socklen_t };
}

/// The bytes of a plain C struct.
fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: `T` is a fully initialised plain-data C struct (sockaddr_in, sockaddr_in6) of
    // `size_of::<T>()` bytes, borrowed for the slice's life.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// Writes a `sockaddr_in` (for a V4 address) or a `sockaddr_in6` (for a V6 one).
///
/// # Safety
/// As for [`write_out`].
unsafe fn write_addr(addr: *mut libc::sockaddr, len: *mut socklen_t, a: SocketAddr) {
    match a {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            // SAFETY: forwarded contract.
            unsafe { write_out(addr as *mut c_void, len, bytes_of(&sin)) };
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: forwarded contract.
            unsafe { write_out(addr as *mut c_void, len, bytes_of(&sin6)) };
        }
    }
}

/// The iovec array as (pointer, length) pairs.
///
/// # Safety
/// `iov` must be null or point to `cnt` valid iovecs.
unsafe fn iovecs<'a>(iov: *const libc::iovec, cnt: c_int) -> Result<&'a [libc::iovec], Errno> {
    let n = usize::try_from(cnt).map_err(|_| libc::EINVAL)?;
    if n == 0 {
        return Ok(&[]);
    }
    if iov.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the contract.
    Ok(unsafe { std::slice::from_raw_parts(iov, n) })
}

mod calls;
mod poll;
pub use calls::packetdrill_interface_init;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags;

    fn errno() -> Errno {
        // SAFETY: this thread's errno slot.
        unsafe { *libc::__errno_location() }
    }

    #[test]
    fn a_panic_becomes_eio_not_an_unwind() {
        let inst = Box::new(Instance {
            shim: Mutex::new(Shim::new(flags::parse("").unwrap()).unwrap()),
            moved: Condvar::new(),
        });
        let ud = Box::into_raw(inst) as *mut c_void;
        let r: c_int = entry(ud, |_| -> Result<c_int, Errno> { panic!("boom") });
        assert_eq!((r, errno()), (-1, libc::EIO));
        // The mutex was not held by the panicking closure, and the instance still works.
        let r: c_int = entry(ud, |i| i.lock().socket(libc::AF_INET, libc::SOCK_STREAM, 0));
        assert_eq!(r, 3);
        let r: c_int = entry(ud, |i| {
            i.lock().socket(libc::AF_INET6, libc::SOCK_STREAM, 0)
        });
        assert_eq!(r, 4);
        let r: c_int = entry(ud, |i| i.lock().socket(libc::AF_UNIX, libc::SOCK_STREAM, 0));
        assert_eq!((r, errno()), (-1, libc::EAFNOSUPPORT));
        // SAFETY: `ud` came from Box::into_raw above and is freed once.
        drop(unsafe { Box::from_raw(ud as *mut Instance) });
        let r: c_int = entry(std::ptr::null_mut(), |_| Ok(0));
        assert_eq!((r, errno()), (-1, libc::EINVAL));
    }

    #[test]
    fn socket_addresses_of_both_families_read_back_as_written() {
        for a in [
            SocketAddr::from(([192, 168, 0, 2], 8080)),
            SocketAddr::V6(SocketAddrV6::new(crate::flags::DEFAULT_ADDR6, 80, 7, 0)),
        ] {
            let mut buf = [0u8; 64];
            let mut len = buf.len() as socklen_t;
            // SAFETY: a 64-byte buffer and its length.
            unsafe { write_addr(buf.as_mut_ptr() as *mut libc::sockaddr, &mut len, a) };
            let want = if a.is_ipv4() { 16 } else { 28 };
            assert_eq!(len, want);
            // SAFETY: `len` bytes of `buf` were written.
            let back = unsafe { read_addr(buf.as_ptr() as *const libc::sockaddr, len) };
            assert_eq!(back, Ok(a));
            // One byte short of the family's struct is EINVAL, as Linux's bind says.
            // SAFETY: as above, fewer bytes.
            let short = unsafe { read_addr(buf.as_ptr() as *const libc::sockaddr, len - 1) };
            assert_eq!(short, Err(libc::EINVAL));
        }
        let unix = (libc::AF_UNIX as libc::sa_family_t).to_ne_bytes();
        let mut buf = [0u8; 28];
        buf[..2].copy_from_slice(&unix);
        // SAFETY: a 28-byte buffer.
        let r = unsafe { read_addr(buf.as_ptr() as *const libc::sockaddr, 28) };
        assert_eq!(r, Err(libc::EAFNOSUPPORT));
    }

    #[test]
    fn bad_flags_leave_a_table_whose_calls_fail_cleanly() {
        // SAFETY: all-zero is a valid Interface (null pointer and `None`s).
        let mut ifc: Interface = unsafe { std::mem::zeroed() };
        let flags = c"mss=notanumber";
        // SAFETY: a NUL-terminated string and a writable struct.
        unsafe { packetdrill_interface_init(flags.as_ptr(), &mut ifc) };
        assert!(ifc.userdata.is_null());
        let socket = ifc.socket.expect("filled in");
        // SAFETY: the shim's own function with its (null) userdata.
        let r = unsafe { socket(ifc.userdata, libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert_eq!((r, errno()), (-1, libc::EINVAL));
    }
}
